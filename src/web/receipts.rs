//! Receiving: the receipt form (one line for now), a receipt's page with the lots it created,
//! and the list of recent receipts.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::{FlashKind, Layout, redirect_with_flash, render, render_with};
use crate::auth::{CurrentUser, Permission};
use crate::domain::text;
use crate::error::{Error, Result};
use crate::save::line_key;
use crate::save::{FieldErrors, SaveError, parse_idempotency_key};
use crate::stock::receive::{self, LineInput, ReceiptInput};
use crate::web::AppState;

/// How many line rows the receipt form offers at once.
pub const FORM_LINES: usize = 5;

/// The receipt form as typed: the receipt's fields once, each line's fields repeated in order.
#[derive(Debug, Clone, Default)]
pub struct ReceiptForm {
    pub site_id: String,
    pub supplier_id: String,
    pub received_on: String,
    pub order_ref: String,
    pub asn_ref: String,
    pub lines: Vec<ReceiptLineForm>,
    pub idempotency_key: String,
}

#[derive(Debug, Clone, Default)]
pub struct ReceiptLineForm {
    pub material_id: String,
    pub supplier_lot: String,
    pub quantity: String,
    pub location_id: String,
    pub expires_on: String,
    pub country_of_origin: String,
}

impl ReceiptLineForm {
    fn is_blank(&self) -> bool {
        self.material_id.trim().is_empty() && self.quantity.trim().is_empty() && self.supplier_lot.trim().is_empty()
    }
}

impl ReceiptForm {
    /// Reads an urlencoded body whose line fields repeat, row by row.
    pub fn parse(body: &[u8]) -> ReceiptForm {
        let mut f = ReceiptForm::default();
        let mut columns: [Vec<String>; 6] = Default::default();
        for (k, v) in form_urlencoded::parse(body) {
            let v = v.into_owned();
            match k.as_ref() {
                "site_id" => f.site_id = v,
                "supplier_id" => f.supplier_id = v,
                "received_on" => f.received_on = v,
                "order_ref" => f.order_ref = v,
                "asn_ref" => f.asn_ref = v,
                "idempotency_key" => f.idempotency_key = v,
                "material_id" => columns[0].push(v),
                "supplier_lot" => columns[1].push(v),
                "quantity" => columns[2].push(v),
                "location_id" => columns[3].push(v),
                "expires_on" => columns[4].push(v),
                "country_of_origin" => columns[5].push(v),
                _ => {}
            }
        }
        let rows = columns.iter().map(Vec::len).max().unwrap_or(0);
        let cell = |c: usize, i: usize| columns[c].get(i).cloned().unwrap_or_default();
        f.lines = (0..rows)
            .map(|i| ReceiptLineForm {
                material_id: cell(0, i),
                supplier_lot: cell(1, i),
                quantity: cell(2, i),
                location_id: cell(3, i),
                expires_on: cell(4, i),
                country_of_origin: cell(5, i),
            })
            .collect();
        f
    }

    /// The rows the form shows: the lines typed, then empty ones up to the form's size.
    pub fn rows(&self) -> Vec<ReceiptLineForm> {
        let mut rows: Vec<ReceiptLineForm> = self.lines.iter().filter(|l| !l.is_blank()).cloned().collect();
        while rows.len() < FORM_LINES {
            rows.push(ReceiptLineForm::default());
        }
        rows
    }
}

impl TryFrom<&ReceiptForm> for ReceiptInput {
    type Error = FieldErrors;

    fn try_from(f: &ReceiptForm) -> Result<Self, FieldErrors> {
        let mut e = FieldErrors::default();
        let site_id = Uuid::parse_str(f.site_id.trim()).unwrap_or_else(|_| {
            e.add("site_id", "Choose the site that receives.");
            Uuid::nil()
        });
        let supplier_id = Uuid::parse_str(f.supplier_id.trim()).unwrap_or_else(|_| {
            e.add("supplier_id", "Choose the supplier.");
            Uuid::nil()
        });
        let received_on = e.check("received_on", crate::domain::dates::parse(&f.received_on, "The receipt date"));
        let order_ref = e.check("order_ref", text::optional(&f.order_ref, "The order number", 100));
        let asn_ref = e.check("asn_ref", text::optional(&f.asn_ref, "The delivery note (ASN)", 100));
        let mut lines = Vec::new();
        for (i, l) in f.lines.iter().enumerate() {
            if l.is_blank() {
                continue;
            }
            let n = i + 1;
            let problem = |m: String| format!("Line {n}: {m}");
            let Ok(material_id) = Uuid::parse_str(l.material_id.trim()) else {
                e.add(line_key(i), problem("choose the material received.".into()));
                continue;
            };
            let quantity = match text::positive_decimal(&l.quantity, "The quantity") {
                Ok(Some(q)) => q,
                Ok(None) => {
                    e.add(line_key(i), problem("the quantity is required.".into()));
                    continue;
                }
                Err(m) => {
                    e.add(line_key(i), problem(m));
                    continue;
                }
            };
            let Ok(location_id) = Uuid::parse_str(l.location_id.trim()) else {
                e.add(line_key(i), problem("choose where the goods are put.".into()));
                continue;
            };
            let supplier_lot = match text::optional(&l.supplier_lot, "The supplier's lot code", 60) {
                Ok(s) => s,
                Err(m) => {
                    e.add(line_key(i), problem(m));
                    continue;
                }
            };
            let expires_on = match crate::domain::dates::parse(&l.expires_on, "The expiry date") {
                Ok(d) => d,
                Err(m) => {
                    e.add(line_key(i), problem(m));
                    continue;
                }
            };
            let country_of_origin = match text::optional_country(&l.country_of_origin) {
                Ok(c) => c,
                Err(m) => {
                    e.add(line_key(i), problem(m));
                    continue;
                }
            };
            lines.push(LineInput {
                material_id,
                supplier_lot: (!supplier_lot.is_empty()).then_some(supplier_lot),
                quantity,
                location_id,
                expires_on,
                country_of_origin,
            });
        }
        if lines.is_empty() && e.is_empty() {
            e.add("line1", "Line 1: choose the material received and its quantity.");
        }
        if !e.is_empty() {
            return Err(e);
        }
        Ok(ReceiptInput { site_id, supplier_id, received_on, order_ref, asn_ref, lines })
    }
}

pub fn router() -> Router<AppState> {
    let read = Router::new().route("/receipts", get(index)).route("/receipts/{id}", get(show));
    let write = Router::new().route("/receipts", post(create)).route("/receipts/new", get(new));
    super::guarded(read, Permission::LotsRead).merge(super::guarded(write, Permission::StockReceive))
}

#[derive(Debug, sqlx::FromRow)]
struct ReceiptRow {
    id: Uuid,
    number: String,
    received_at: DateTime<Utc>,
    supplier: String,
    site: String,
    order_ref: String,
    asn_ref: String,
    lines: i64,
}

const SELECT: &str = "select r.id, r.number, r.received_at, p.name as supplier, s.code as site, r.order_ref, r.asn_ref,
        (select count(*) from receipt_lines l where l.receipt_id = r.id) as lines
   from receipts r join parties p on p.id = r.supplier_id join sites s on s.id = r.site_id";

#[derive(Template)]
#[template(path = "receipts/index.html")]
struct IndexPage {
    layout: Layout,
    receipts: Vec<ReceiptRow>,
    paging: super::Paging,
}

/// What a search of the receipts matches: the receipt's number, order and despatch advice, the
/// supplier's code or name, and the supplier's lots on it.
const RECEIPTS_MATCH: &str = "($1::text is null or r.number ilike $1 or r.order_ref ilike $1 or r.asn_ref ilike $1
        or p.code ilike $1 or p.name ilike $1
        or exists (select 1 from receipt_lines rl join lots l on l.id = rl.lot_id
                    where rl.receipt_id = r.id and (l.code ilike $1 or l.supplier_lot ilike $1)))";

/// Every receipt, newest first, a page at a time, searchable.
async fn index(
    State(state): State<AppState>,
    layout: Layout,
    Query(query): Query<super::ListQuery>,
) -> Result<Response> {
    let mut paging = super::Paging::new(&query);
    let pattern = paging.pattern();
    let receipts = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} where {RECEIPTS_MATCH} order by r.received_at desc, r.number desc limit $2 offset $3"
    )))
    .bind(&pattern)
    .bind(paging.per_page)
    .bind(paging.offset())
    .fetch_all(&state.pool)
    .await?;
    paging.total = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "select count(*) from receipts r join parties p on p.id = r.supplier_id where {RECEIPTS_MATCH}"
    )))
    .bind(&pattern)
    .fetch_one(&state.pool)
    .await?;
    render(&IndexPage { layout, receipts, paging })
}

#[derive(Debug, sqlx::FromRow)]
struct LineRow {
    line_no: i32,
    lot_id: Uuid,
    lot_code: String,
    material_code: String,
    material_name: String,
    supplier_lot: Option<String>,
    quantity: Decimal,
    uom: String,
    location: String,
    disposition: String,
    expires_on: Option<chrono::NaiveDate>,
}

#[derive(Template)]
#[template(path = "receipts/show.html")]
struct ShowPage {
    layout: Layout,
    receipt: ReceiptRow,
    lines: Vec<LineRow>,
}

async fn show(State(state): State<AppState>, layout: Layout, Path(id): Path<String>) -> Result<Response> {
    let id = super::parse_id(&id)?;
    let receipt: ReceiptRow = sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} where r.id = $1")))
        .bind(id)
        .fetch_optional(&state.pool)
        .await?
        .ok_or(Error::NotFound)?;
    let lines = sqlx::query_as(
        "select rl.line_no, l.id as lot_id, l.code as lot_code, m.code as material_code, m.name as material_name, l.supplier_lot,
                rl.quantity, m.uom, c.code as location, l.disposition, l.expires_on
           from receipt_lines rl join lots l on l.id = rl.lot_id join materials m on m.id = l.material_id
           join locations c on c.id = rl.location_id
          where rl.receipt_id = $1 order by rl.line_no",
    )
    .bind(id)
    .fetch_all(&state.pool)
    .await?;
    render(&ShowPage { layout, receipt, lines })
}

#[derive(Template)]
#[template(path = "receipts/form.html")]
struct FormPage {
    layout: Layout,
    rows: Vec<ReceiptLineForm>,
    form: ReceiptForm,
    errors: FieldErrors,
    sites: Vec<(Uuid, String)>,
    suppliers: Vec<(Uuid, String)>,
    materials: Vec<(Uuid, String)>,
    locations: Vec<(Uuid, String)>,
}

impl FormPage {
    fn line_error(&self, i: &usize) -> Option<&str> {
        self.errors.get(&crate::save::line_key(*i))
    }
}

async fn form_page(
    state: &AppState,
    status: StatusCode,
    layout: Layout,
    form: ReceiptForm,
    errors: FieldErrors,
) -> Result<Response> {
    let pool = &state.pool;
    let sites = sqlx::query_as("select id, code || ' · ' || name from sites where active order by code")
        .fetch_all(pool)
        .await?;
    let suppliers =
        sqlx::query_as("select id, code || ' · ' || name from parties where active and is_supplier order by code")
            .fetch_all(pool)
            .await?;
    let materials = sqlx::query_as(
        "select id, code || ' · ' || name || ' (' || uom || ')' from materials where active order by code",
    )
    .fetch_all(pool)
    .await?;
    let locations = sqlx::query_as(
        "select l.id, s.code || ' / ' || l.code || ' · ' || l.name from locations l join sites s on s.id = l.site_id
          where l.active and s.active order by (l.kind <> 'receiving'), s.code, l.code",
    )
    .fetch_all(pool)
    .await?;
    let rows = form.rows();
    render_with(status, &FormPage { layout, rows, form, errors, sites, suppliers, materials, locations })
}

async fn new(State(state): State<AppState>, layout: Layout) -> Result<Response> {
    // The date people see first: today at the site listed first (the form's first choice).
    let today: Option<chrono::NaiveDate> =
        sqlx::query_scalar("select site_today(id) from sites where active order by code limit 1")
            .fetch_optional(&state.pool)
            .await?;
    let form = ReceiptForm {
        received_on: today.map(|d| d.to_string()).unwrap_or_default(),
        idempotency_key: Uuid::new_v4().to_string(),
        ..Default::default()
    };
    form_page(&state, StatusCode::OK, layout, form, FieldErrors::default()).await
}

async fn create(
    State(state): State<AppState>,
    user: CurrentUser,
    layout: Layout,
    body: axum::body::Bytes,
) -> Result<Response> {
    let form = ReceiptForm::parse(&body);
    let key = parse_idempotency_key(&form.idempotency_key)?;
    let result = match ReceiptInput::try_from(&form) {
        Ok(input) => receive::receive(&state.pool, &user.actor(), &input, key).await,
        Err(errors) => Err(SaveError::Invalid(errors)),
    };
    match super::outcome(result)? {
        // The form was sent before (a double click, or the back button and send again).
        Ok(received) if received.again => Ok(redirect_with_flash(
            &format!("/receipts/{}", received.receipt_id),
            FlashKind::Success,
            "This form was sent before: here is the receipt it recorded then. Nothing new was received.",
        )),
        Ok(received) => {
            let codes: Vec<&str> = received.lots.iter().map(|(_, c)| c.as_str()).collect();
            let message = format!("Received: lot {}.", codes.join(", "));
            Ok(redirect_with_flash(&format!("/receipts/{}", received.receipt_id), FlashKind::Success, &message))
        }
        Err(errors) => form_page(&state, StatusCode::UNPROCESSABLE_ENTITY, layout, form, errors).await,
    }
}
