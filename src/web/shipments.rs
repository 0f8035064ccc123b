//! Shipping: the shipment form (with the FEFO pick suggestion), a shipment's page that prints as
//! a packing list, and the list of shipments.

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::{FlashKind, Layout, redirect_with_flash, render, render_with};
use crate::auth::{CurrentUser, Permission};
use crate::domain::text;
use crate::error::{Error, Result};
use crate::save::FieldErrors;
use crate::save::line_key;
use crate::save::{SaveError, parse_idempotency_key};
use crate::stock::returns::CustomerReturn;
use crate::stock::ship::{self, Pick, ShipLine, Shipment};
use crate::web::AppState;

/// How many line rows the shipment form offers at once.
pub const FORM_LINES: usize = 6;

/// The shipment form as typed; lines come as repeated `lot`, `quantity` and `location_id` fields.
#[derive(Debug, Clone, Default)]
pub struct ShipmentForm {
    pub site_id: String,
    pub customer_id: String,
    pub shipped_on: String,
    pub order_ref: String,
    pub bol_ref: String,
    pub asn_ref: String,
    /// Pallets it leaves on (empty: one).
    pub pallets: String,
    pub lines: Vec<LineForm>,
    pub idempotency_key: String,
}

#[derive(Debug, Clone, Default)]
pub struct LineForm {
    pub lot: String,
    pub quantity: String,
    pub location_id: String,
}

impl ShipmentForm {
    /// Reads an urlencoded body (or query) whose line fields repeat, in order.
    pub fn parse(body: &[u8]) -> ShipmentForm {
        let mut f = ShipmentForm::default();
        let (mut lots, mut quantities, mut locations) = (Vec::new(), Vec::new(), Vec::new());
        for (k, v) in form_urlencoded::parse(body) {
            let v = v.into_owned();
            match k.as_ref() {
                "site_id" => f.site_id = v,
                "customer_id" => f.customer_id = v,
                "shipped_on" => f.shipped_on = v,
                "order_ref" => f.order_ref = v,
                "bol_ref" => f.bol_ref = v,
                "asn_ref" => f.asn_ref = v,
                "pallets" => f.pallets = v,
                "idempotency_key" => f.idempotency_key = v,
                "lot" => lots.push(v),
                "quantity" => quantities.push(v),
                "location_id" => locations.push(v),
                _ => {}
            }
        }
        let n = lots.len().max(quantities.len()).max(locations.len());
        f.lines = (0..n)
            .map(|i| LineForm {
                lot: lots.get(i).cloned().unwrap_or_default(),
                quantity: quantities.get(i).cloned().unwrap_or_default(),
                location_id: locations.get(i).cloned().unwrap_or_default(),
            })
            .collect();
        f
    }

    /// The rows the form shows: the lines typed, then empty ones up to the form's size.
    pub fn rows(&self) -> Vec<LineForm> {
        let mut rows: Vec<LineForm> =
            self.lines.iter().filter(|l| !l.lot.trim().is_empty() || !l.quantity.trim().is_empty()).cloned().collect();
        while rows.len() < FORM_LINES {
            rows.push(LineForm::default());
        }
        rows
    }
}

impl TryFrom<&ShipmentForm> for Shipment {
    type Error = SaveError;

    fn try_from(f: &ShipmentForm) -> std::result::Result<Shipment, SaveError> {
        let key = parse_idempotency_key(&f.idempotency_key)?;
        let mut e = FieldErrors::default();
        let site = Uuid::parse_str(f.site_id.trim()).map_err(|_| e.add("site_id", "Choose the shipping site.")).ok();
        let customer =
            Uuid::parse_str(f.customer_id.trim()).map_err(|_| e.add("customer_id", "Choose the customer.")).ok();
        let order_ref = e.check("order_ref", text::optional(&f.order_ref, "The order", 100));
        let bol_ref = e.check("bol_ref", text::optional(&f.bol_ref, "The bill of lading", 100));
        let asn_ref = e.check("asn_ref", text::optional(&f.asn_ref, "The despatch advice", 100));
        let shipped_on = e.check("shipped_on", crate::domain::dates::parse(&f.shipped_on, "The shipping date"));
        let pallets = match f.pallets.trim() {
            "" => 1,
            n => n.parse::<u8>().ok().filter(|n| *n <= 99).unwrap_or_else(|| {
                e.add("pallets", "The pallets are a whole number from 0 to 99.");
                0
            }),
        };
        let mut lines = Vec::new();
        for (row, l) in f.lines.iter().enumerate() {
            if l.lot.trim().is_empty() && l.quantity.trim().is_empty() {
                continue;
            }
            let quantity = match text::positive_decimal(&l.quantity, "The quantity") {
                Ok(Some(q)) => q,
                Ok(None) => {
                    e.add(line_key(row), format!("Line {}: give the quantity.", row + 1));
                    continue;
                }
                Err(m) => {
                    e.add(line_key(row), format!("Line {}: {m}", row + 1));
                    continue;
                }
            };
            let location = match l.location_id.trim() {
                "" => None,
                id => match Uuid::parse_str(id) {
                    Ok(id) => Some(id),
                    Err(_) => {
                        e.add(line_key(row), format!("Line {}: choose a location from the list.", row + 1));
                        continue;
                    }
                },
            };
            if let Err(m) = text::printable(&l.lot, "The lot code") {
                e.add(line_key(row), format!("Line {}: {m}", row + 1));
                continue;
            }
            lines.push(ShipLine { row, lot: l.lot.trim().to_string(), quantity, location });
        }
        match (site, customer) {
            (Some(site), Some(customer)) if e.is_empty() => {
                Ok(Shipment { site, customer, shipped_on, order_ref, bol_ref, asn_ref, lines, pallets, key })
            }
            _ => Err(e.into()),
        }
    }
}

pub fn router() -> Router<AppState> {
    let read = Router::new().route("/shipments", get(index)).route("/shipments/{id}", get(show));
    let write = Router::new()
        .route("/shipments", post(create))
        .route("/shipments/new", get(new).post(suggest))
        .route("/shipments/{id}/returns", post(take_back));
    super::guarded(read, Permission::LotsRead).merge(super::guarded(write, Permission::StockShip))
}

#[derive(Debug, sqlx::FromRow)]
struct ShipmentRow {
    id: Uuid,
    number: String,
    shipped_at: DateTime<Utc>,
    customer: String,
    customer_address: String,
    site: String,
    site_name: String,
    site_address: String,
    order_ref: String,
    bol_ref: String,
    asn_ref: String,
    lines: i64,
}

const SELECT: &str =
    "select h.id, h.number, h.shipped_at, p.name as customer, p.address as customer_address, s.code as site,
        s.name as site_name, s.address as site_address, h.order_ref, h.bol_ref, h.asn_ref,
        (select count(*) from shipment_lines l where l.shipment_id = h.id) as lines
   from shipments h join parties p on p.id = h.customer_id join sites s on s.id = h.site_id";

#[derive(Template)]
#[template(path = "shipments/index.html")]
struct IndexPage {
    layout: Layout,
    shipments: Vec<ShipmentRow>,
    paging: super::Paging,
}

/// What a search of the shipments matches: the shipment's number and references, the customer's
/// code or name, and the lots on it.
const SHIPMENTS_MATCH: &str = "($1::text is null or h.number ilike $1 or h.order_ref ilike $1 or h.bol_ref ilike $1
        or h.asn_ref ilike $1 or p.code ilike $1 or p.name ilike $1
        or exists (select 1 from shipment_lines sl join lots l on l.id = sl.lot_id
                    where sl.shipment_id = h.id and (l.code ilike $1 or l.tlc ilike $1)))";

async fn index(
    State(state): State<AppState>,
    layout: Layout,
    Query(query): Query<super::ListQuery>,
) -> Result<Response> {
    let export = super::export::Format::parse(&query.format, true)?;
    let mut paging = super::Paging::new(&query);
    let pattern = paging.pattern();
    // An export holds every shipment the search matches; the page, one page of them.
    let (limit, offset) =
        if export.is_some() { (super::export::MAX_ROWS, 0) } else { (paging.per_page, paging.offset()) };
    let shipments: Vec<ShipmentRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} where {SHIPMENTS_MATCH} order by h.shipped_at desc, h.number desc limit $2 offset $3"
    )))
    .bind(&pattern)
    .bind(limit)
    .bind(offset)
    .fetch_all(state.reading(export.is_some()))
    .await?;
    if let Some(format) = export {
        let mut sheet = super::export::Sheet::new(
            "shipments",
            &["shipment", "shipped_at", "customer", "site", "order", "bill_of_lading", "despatch_advice", "lines"],
        );
        for h in &shipments {
            sheet.push(vec![
                h.number.as_str().into(),
                h.shipped_at.to_rfc3339().into(),
                h.customer.as_str().into(),
                h.site.as_str().into(),
                h.order_ref.as_str().into(),
                h.bol_ref.as_str().into(),
                h.asn_ref.as_str().into(),
                rust_decimal::Decimal::from(h.lines).into(),
            ]);
        }
        return super::export::respond(sheet, format);
    }
    paging.total = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "select count(*) from shipments h join parties p on p.id = h.customer_id where {SHIPMENTS_MATCH}"
    )))
    .bind(&pattern)
    .fetch_one(&state.pool)
    .await?;
    render(&IndexPage { layout, shipments, paging })
}

#[derive(Debug, sqlx::FromRow)]
struct LineRow {
    id: Uuid,
    returned: Decimal,
    line_no: i32,
    lot_id: Uuid,
    lot_code: String,
    material_code: String,
    material_name: String,
    gtin: Option<String>,
    quantity: Decimal,
    uom: String,
    location: String,
    expires_on: Option<NaiveDate>,
    /// The line was reversed on the lot's ledger: why.
    reversed: Option<String>,
}

#[derive(Template)]
#[template(path = "shipments/show.html")]
struct ShowPage {
    layout: Layout,
    shipment: ShipmentRow,
    lines: Vec<LineRow>,
    /// The SSCCs of the pallets it left on.
    pallets: Vec<String>,
    quarantine: Vec<(Uuid, String)>,
    errors: FieldErrors,
}

async fn show(State(state): State<AppState>, layout: Layout, Path(id): Path<String>) -> Result<Response> {
    let id = super::parse_id(&id)?;
    show_page(&state, StatusCode::OK, layout, id, FieldErrors::default()).await
}

async fn show_page(
    state: &AppState,
    status: StatusCode,
    layout: Layout,
    id: Uuid,
    errors: FieldErrors,
) -> Result<Response> {
    let shipment: ShipmentRow = sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} where h.id = $1")))
        .bind(id)
        .fetch_optional(&state.pool)
        .await?
        .ok_or(Error::NotFound)?;
    let lines: Vec<LineRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select sl.id, coalesce((select sum(rl.quantity) from return_lines rl where rl.shipment_line_id = sl.id), 0) as returned,
                sl.line_no, l.id as lot_id, l.code as lot_code, m.code as material_code, m.name as material_name,
                g.gtin, sl.quantity, m.uom, c.code as location, l.expires_on,
                (select coalesce(x.reason, '') from stock_movements x where x.reverses_id = sl.movement_id) as reversed
           from shipment_lines sl join lots l on l.id = sl.lot_id join materials m on m.id = l.material_id
           join locations c on c.id = sl.location_id {}
          where sl.shipment_id = $1 order by sl.line_no",
        crate::domain::lotcode::GTIN_LATERAL
    )))
    .bind(id)
    .fetch_all(&state.pool)
    .await?;
    let quarantine = sqlx::query_as(
        "select c.id, c.code || ' · ' || c.name from locations c join shipments h on h.site_id = c.site_id
          where h.id = $1 and c.kind = 'quarantine' and c.active order by c.code",
    )
    .bind(id)
    .fetch_all(&state.pool)
    .await?;
    let pallets = sqlx::query_scalar("select sscc from shipment_pallets where shipment_id = $1 order by pallet_no")
        .bind(id)
        .fetch_all(&state.pool)
        .await?;
    render_with(status, &ShowPage { layout, shipment, lines, pallets, quarantine, errors })
}

/// The return form of a shipment's page: a quantity per shipment line (repeated `line` and
/// `quantity` fields, in order), the quarantine location and the reason.
fn customer_return(body: &[u8]) -> std::result::Result<CustomerReturn, SaveError> {
    let (mut lines, mut quantities) = (Vec::new(), Vec::new());
    let (mut location, mut reason) = (String::new(), String::new());
    for (k, v) in form_urlencoded::parse(body) {
        match k.as_ref() {
            "line" => lines.push(v.into_owned()),
            "quantity" => quantities.push(v.into_owned()),
            "location_id" => location = v.into_owned(),
            "reason" => reason = v.into_owned(),
            _ => {}
        }
    }
    let location = Uuid::parse_str(location.trim())
        .map_err(|_| SaveError::field("location_id", "Choose the quarantine location the goods go to."))?;
    let mut wanted = Vec::new();
    for (line, quantity) in lines.iter().zip(&quantities) {
        let Ok(line) = Uuid::parse_str(line) else { continue };
        match text::positive_decimal(quantity, "The quantity returned") {
            Ok(Some(q)) => wanted.push((line, q)),
            Ok(None) => {}
            Err(m) => return Err(SaveError::field("lines", m)),
        }
    }
    Ok(CustomerReturn { lines: wanted, location, reason })
}

async fn take_back(
    State(state): State<AppState>,
    user: CurrentUser,
    layout: Layout,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let id = super::parse_id(&id)?;
    let taken = async {
        let back = customer_return(&body)?;
        crate::stock::returns::from_customer(&state.pool, &user.actor(), id, &back).await
    };
    match super::outcome(taken.await)? {
        Ok(_) => Ok(redirect_with_flash(
            &format!("/shipments/{id}"),
            FlashKind::Success,
            "Return recorded: the goods are in quarantine for QA.",
        )),
        Err(errors) => show_page(&state, StatusCode::UNPROCESSABLE_ENTITY, layout, id, errors).await,
    }
}

#[derive(Template)]
#[template(path = "shipments/new.html")]
struct NewPage {
    layout: Layout,
    form: ShipmentForm,
    rows: Vec<LineForm>,
    errors: FieldErrors,
    sites: Vec<(Uuid, String)>,
    customers: Vec<(Uuid, String)>,
    materials: Vec<(String, String)>,
    pick_material: String,
    pick_quantity: String,
    picks: Vec<Pick>,
    pick_problem: Option<String>,
}

impl NewPage {
    fn line_error(&self, i: &usize) -> Option<&str> {
        self.errors.get(&line_key(*i))
    }

    /// The link that fills the form with the suggested picks.
    /// The form again with the picks added as lines: lot codes as a person would scan them (the
    /// location tells apart a code two materials share), after the lines and fields already typed.
    fn use_picks_link(&self) -> String {
        let f = &self.form;
        let enc = super::percent_encode;
        let mut q = format!(
            "site_id={}&customer_id={}&order_ref={}&bol_ref={}&asn_ref={}&shipped_on={}&pallets={}",
            enc(&f.site_id),
            enc(&f.customer_id),
            enc(&f.order_ref),
            enc(&f.bol_ref),
            enc(&f.asn_ref),
            enc(&f.shipped_on),
            enc(&f.pallets)
        );
        for l in f.lines.iter().filter(|l| !l.lot.trim().is_empty() || !l.quantity.trim().is_empty()) {
            q.push_str(&format!(
                "&lot={}&quantity={}&location_id={}",
                enc(&l.lot),
                enc(&l.quantity),
                enc(&l.location_id)
            ));
        }
        for p in &self.picks {
            q.push_str(&format!(
                "&lot={}&quantity={}&location_id={}",
                enc(&p.lot_code),
                p.take.normalize(),
                p.location_id
            ));
        }
        format!("/shipments/new?{q}")
    }
}

#[allow(clippy::too_many_arguments)]
async fn new_page(
    state: &AppState,
    status: StatusCode,
    layout: Layout,
    mut form: ShipmentForm,
    errors: FieldErrors,
    pick_material: String,
    pick_quantity: String,
) -> Result<Response> {
    let pool = &state.pool;
    let sites: Vec<(Uuid, String)> =
        sqlx::query_as("select id, code || ' · ' || name from sites where active order by code")
            .fetch_all(pool)
            .await?;
    if form.site_id.is_empty() {
        // The site with stock to ship comes first.
        form.site_id = sqlx::query_scalar::<_, Uuid>(
            "select c.site_id from on_hand o join locations c on c.id = o.location_id where o.quantity > 0
              group by c.site_id order by count(*) desc limit 1",
        )
        .fetch_optional(pool)
        .await?
        .or(sites.first().map(|s| s.0))
        .map(|id| id.to_string())
        .unwrap_or_default();
    }
    if form.idempotency_key.is_empty() {
        form.idempotency_key = Uuid::new_v4().to_string();
    }
    let customers =
        sqlx::query_as("select id, code || ' · ' || name from parties where active and is_customer order by code")
            .fetch_all(pool)
            .await?;
    let materials =
        sqlx::query_as("select code, name from materials where active order by code").fetch_all(pool).await?;
    let (mut picks, mut pick_problem) = (Vec::new(), None);
    if !pick_material.trim().is_empty() {
        match (crate::domain::text::positive_decimal(&pick_quantity, "The quantity"), Uuid::parse_str(&form.site_id)) {
            (Ok(Some(q)), Ok(site)) => match crate::master::materials::named(pool, &pick_material).await? {
                Err(m) => pick_problem = Some(m),
                Ok((material, code)) => {
                    picks = ship::fefo(pool, site, material, q).await?;
                    let found: Decimal = picks.iter().map(|p| p.take).sum();
                    if picks.is_empty() {
                        pick_problem = Some(format!("No shippable lot of {code} at this site."));
                    } else if found < q {
                        pick_problem =
                            Some(format!("Only {} can be picked: that is all the shippable stock.", found.normalize()));
                    }
                }
            },
            (Err(m), _) => pick_problem = Some(m),
            _ => pick_problem = Some("Give the quantity to pick.".into()),
        }
    }
    let rows = form.rows();
    render_with(
        status,
        &NewPage {
            layout,
            form,
            rows,
            errors,
            sites,
            customers,
            materials,
            pick_material,
            pick_quantity,
            picks,
            pick_problem,
        },
    )
}

async fn new(State(state): State<AppState>, layout: Layout, RawQuery(query): RawQuery) -> Result<Response> {
    let query = query.unwrap_or_default();
    with_picks(&state, layout, query.as_bytes()).await
}

/// "Suggest" on the shipment form: the form as typed comes back with the first-expiring lots of
/// the material asked for; nothing is written.
async fn suggest(State(state): State<AppState>, layout: Layout, body: Bytes) -> Result<Response> {
    with_picks(&state, layout, &body).await
}

async fn with_picks(state: &AppState, layout: Layout, fields: &[u8]) -> Result<Response> {
    let form = ShipmentForm::parse(fields);
    let param = |name: &str| {
        form_urlencoded::parse(fields).find(|(k, _)| k == name).map(|(_, v)| v.into_owned()).unwrap_or_default()
    };
    let (material, quantity) = (param("pick_material"), param("pick_quantity"));
    new_page(state, StatusCode::OK, layout, form, FieldErrors::default(), material, quantity).await
}

async fn create(State(state): State<AppState>, user: CurrentUser, layout: Layout, body: Bytes) -> Result<Response> {
    let form = ShipmentForm::parse(&body);
    let shipped = async { ship::ship(&state.pool, &user.actor(), &Shipment::try_from(&form)?).await };
    match super::outcome(shipped.await)? {
        Ok(shipped) if shipped.warnings.is_empty() => Ok(redirect_with_flash(
            &format!("/shipments/{}", shipped.id),
            FlashKind::Success,
            "Shipped. Print the packing list from this page.",
        )),
        Ok(shipped) => Ok(redirect_with_flash(
            &format!("/shipments/{}", shipped.id),
            FlashKind::Warning,
            &format!("Shipped. {} Print the packing list from this page.", shipped.warnings.join(" ")),
        )),
        Err(errors) => {
            new_page(&state, StatusCode::UNPROCESSABLE_ENTITY, layout, form, errors, String::new(), String::new()).await
        }
    }
}
