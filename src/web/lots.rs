//! Lot pages: the list, finding a lot by its code, and a lot's page.

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Deserialize;
use sqlx::types::Json;
use uuid::Uuid;

use super::{FlashKind, Layout, ListQuery, Paging, redirect_with_flash, render, render_with, see_other};
use crate::auth::{CurrentUser, Permission};
use crate::domain::balance::MassBalance;
use crate::domain::vocab::{Disposition, MovementKind};
use crate::error::{Error, Result};
use crate::qa::{self, DecisionForm, RECORD_KINDS, RecordForm};
use crate::save::{FieldErrors, SaveError};
use crate::stock::moves;
use crate::web::AppState;

pub fn router() -> Router<AppState> {
    let read = Router::new()
        .route("/lots", get(index))
        .route("/lots/from-supplier", get(from_supplier))
        .route("/lots/{id}", get(show))
        .route("/lots/{id}/ledger.csv", get(ledger_csv))
        .route("/search", get(search));
    let decide = Router::new()
        .route("/lots/{id}/release", post(release))
        .route("/lots/{id}/reject", post(reject))
        .route("/lots/{id}/holds", post(hold))
        .route("/lots/{id}/holds/{hold}/lift", post(lift));
    let record = Router::new().route("/lots/{id}/qa-records", post(add_record));
    let ship_back = Router::new().route("/lots/{id}/return-to-supplier", post(return_to_supplier));
    let moves = Router::new()
        .route("/lots/{id}/movements/{movement}/reverse", post(reverse))
        .route("/lots/{id}/{action}", post(move_stock).get(no_such_page))
        .route("/lots/{id}/split", post(split));
    super::guarded(read, Permission::LotsRead)
        .merge(super::guarded(decide, Permission::QaDecide))
        .merge(super::guarded(record, Permission::QaRecord))
        .merge(super::guarded(moves, Permission::StockMove))
        .merge(super::guarded(ship_back, Permission::StockShip))
}

/// A lot as lists show it, with its status derived from disposition, holds, recalls and stock.
#[derive(Debug, sqlx::FromRow, serde::Deserialize)]
pub struct LotRow {
    pub id: Uuid,
    pub code: String,
    pub material_code: String,
    pub material_name: String,
    pub origin: String,
    pub made_on: NaiveDate,
    pub expires_on: Option<NaiveDate>,
    pub status: String,
    pub on_hand: Decimal,
    pub uom: String,
}

/// Lots as lists show them; the status comes from the one SQL form of the status rule.
fn lot_select() -> String {
    format!(
        "select l.id, l.code, m.code as material_code, m.name as material_name, l.origin, l.made_on, l.expires_on,
                {} as status, coalesce((select sum(quantity) from on_hand o where o.lot_id = l.id), 0) as on_hand, m.uom
           from lots l join materials m on m.id = l.material_id",
        crate::domain::status::STATUS_SQL
    )
}

#[derive(Template)]
#[template(path = "lots/index.html")]
struct IndexPage {
    layout: Layout,
    lots: Vec<LotRow>,
    paging: Paging,
}

async fn index(State(state): State<AppState>, layout: Layout, Query(query): Query<ListQuery>) -> Result<Response> {
    let export = super::export::Format::parse(&query.format, true)?;
    let mut paging = Paging::new(&query);
    if export.is_some() {
        paging.per_page = super::export::MAX_ROWS;
        paging.page = 1;
    }
    let db = state.reading(export.is_some());
    let pattern = paging.pattern();
    let sql = format!(
        "{} where $1::text is null or l.code ilike $1 or l.supplier_lot ilike $1 or m.code ilike $1
          order by l.created_at desc, l.code limit $2 offset $3",
        lot_select()
    );
    let lots = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(pattern.as_deref())
        .bind(paging.per_page)
        .bind(paging.offset())
        .fetch_all(db)
        .await?;
    paging.total = sqlx::query_scalar(
        "select count(*) from lots l join materials m on m.id = l.material_id
          where $1::text is null or l.code ilike $1 or l.supplier_lot ilike $1 or m.code ilike $1",
    )
    .bind(pattern.as_deref())
    .fetch_one(db)
    .await?;
    if let Some(format) = export {
        let mut sheet = super::export::Sheet::new(
            "lots",
            &["lot", "material", "material_name", "status", "origin", "made_on", "expires_on", "on_hand", "uom"],
        );
        for l in &lots {
            let l: &LotRow = l;
            sheet.push(vec![
                l.code.as_str().into(),
                l.material_code.as_str().into(),
                l.material_name.as_str().into(),
                l.status.as_str().into(),
                l.origin.as_str().into(),
                l.made_on.to_string().into(),
                l.expires_on.map(|d| d.to_string()).into(),
                l.on_hand.into(),
                l.uom.as_str().into(),
            ]);
        }
        sheet.note_cut(paging.total);
        return super::export::respond(sheet, format);
    }
    render(&IndexPage { layout, lots, paging })
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct SupplierLotQuery {
    supplier: String,
    supplier_lot: String,
}

#[derive(Template)]
#[template(path = "lots/from_supplier.html")]
struct FromSupplierPage {
    layout: Layout,
    query: SupplierLotQuery,
    suppliers: Vec<(String, String)>,
    lots: Vec<LotRow>,
}

/// "Which of our lots came from supplier X's lot Y?" — across every material: the first question
/// when a supplier recalls.
async fn from_supplier(
    State(state): State<AppState>,
    layout: Layout,
    Query(query): Query<SupplierLotQuery>,
) -> Result<Response> {
    let suppliers =
        sqlx::query_as("select code, name from parties where is_supplier order by code").fetch_all(&state.pool).await?;
    let lots = if query.supplier_lot.trim().is_empty() {
        Vec::new()
    } else {
        let sql = format!(
            "{} where upper(l.supplier_lot) = upper($1)
                and ($2::text = '' or l.supplier_id = (select id from parties where code = upper($2)))
              order by m.code, l.made_on, l.code",
            lot_select()
        );
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(query.supplier_lot.trim())
            .bind(query.supplier.trim())
            .fetch_all(&state.pool)
            .await?
    };
    render(&FromSupplierPage { layout, query, suppliers, lots })
}

#[derive(Template)]
#[template(path = "lots/search.html")]
struct SearchPage {
    layout: Layout,
    q: String,
    lots: Vec<LotRow>,
    /// Why a scanned GS1 string found nothing, or which part of it is wrong.
    problem: Option<String>,
    /// The GS1 data read from the scan, in human-readable form.
    read_as: Option<String>,
}

/// Finds lots by exact code (case-insensitive) across materials: one match opens it, several
/// (two materials may share a code) are listed, none says so.
async fn search(State(state): State<AppState>, layout: Layout, Query(query): Query<ListQuery>) -> Result<Response> {
    use crate::domain::gs1::syntax::{self, Scan};
    let q = query.q.trim_matches(|c: char| c.is_whitespace()).to_string();
    let shown = q.replace(syntax::GS, "␝");
    let page = |lots, problem, read_as| SearchPage { layout, q: shown, lots, problem, read_as };
    let (code, gtin, read_as) = match syntax::read(&q) {
        Ok(Scan::Plain(code)) => (code, None, None),
        Ok(scan @ Scan::Gs1(_)) => {
            let read_as = match &scan {
                Scan::Gs1(elements) => Some(syntax::human(elements)),
                Scan::Plain(_) => None,
            };
            match (scan.get("01"), scan.get("10")) {
                (Some(gtin), Some(lot)) => (lot.to_string(), Some(gtin.to_string()), read_as),
                (Some(gtin), None) => {
                    let problem = format!("The scan names GTIN {gtin} but no lot (AI 10): scan the lot's label.");
                    return render(&page(Vec::new(), Some(problem), read_as));
                }
                _ => {
                    let problem = "The scan holds no GTIN (AI 01) and lot (AI 10), so it names no lot.".to_string();
                    return render(&page(Vec::new(), Some(problem), read_as));
                }
            }
        }
        Err(message) => {
            return render(&page(Vec::new(), Some(format!("This is not valid GS1 data: {message}")), None));
        }
    };
    let lots: Vec<LotRow> = if code.is_empty() {
        Vec::new()
    } else if let Some(gtin) = &gtin {
        let sql = format!(
            "{} where upper(l.code) = upper($1) and l.material_id in (select material_id from material_gtins where gtin = $2)
              order by m.code limit 100",
            lot_select()
        );
        let lots: Vec<LotRow> =
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(&code).bind(gtin).fetch_all(&state.pool).await?;
        if lots.is_empty() {
            let known: bool = sqlx::query_scalar("select exists (select 1 from material_gtins where gtin = $1)")
                .bind(gtin)
                .fetch_one(&state.pool)
                .await?;
            let problem = if known {
                format!("The material with GTIN {gtin} has no lot “{code}”.")
            } else {
                format!("No material has GTIN {gtin}.")
            };
            return render(&page(lots, Some(problem), read_as));
        }
        lots
    } else {
        let sql = format!("{} where upper(l.code) = upper($1) order by m.code limit 100", lot_select());
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(&code).fetch_all(&state.pool).await?
    };
    if let [lot] = lots.as_slice() {
        return Ok(see_other(&format!("/lots/{}", lot.id)));
    }
    render(&page(lots, None, read_as))
}

#[derive(Debug, sqlx::FromRow, serde::Deserialize)]
pub struct LotDetail {
    pub site_code: String,
    pub site_name: String,
    pub supplier_name: Option<String>,
    pub supplier_lot: Option<String>,
    pub tlc: String,
    pub tlc_source: String,
    pub country_of_origin: Option<String>,
    pub material_id: Uuid,
    pub receipt_id: Option<Uuid>,
    pub receipt_number: Option<String>,
    pub run_id: Option<Uuid>,
    pub run_number: Option<String>,
    pub disposition: String,
}

#[derive(Debug, sqlx::FromRow, serde::Deserialize)]
pub struct StockRow {
    pub location_id: Uuid,
    pub location_code: String,
    pub location_name: String,
    pub quantity: Decimal,
}

#[derive(Debug, sqlx::FromRow, serde::Deserialize)]
pub struct DispositionRow {
    pub from_status: Option<String>,
    pub to_status: String,
    pub reason: Option<String>,
    pub decided_by: Option<String>,
    pub decided_at: DateTime<Utc>,
    pub meaning: Option<String>,
}

#[derive(Debug, sqlx::FromRow, serde::Deserialize)]
pub struct HoldRow {
    pub id: Uuid,
    pub source: String,
    pub reason: String,
    pub opened_by: Option<String>,
    pub opened_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub closed_by: Option<String>,
    pub close_reason: Option<String>,
}

#[derive(Debug, sqlx::FromRow, serde::Deserialize)]
pub struct RecordRow {
    pub kind: String,
    pub name: String,
    pub result: String,
    pub specification: String,
    pub reference: String,
    pub outcome: String,
    pub performed_at: DateTime<Utc>,
    pub recorded_by: Option<String>,
}

#[derive(Debug, sqlx::FromRow, serde::Deserialize)]
pub struct LedgerRow {
    pub id: i64,
    pub kind: String,
    pub quantity: Decimal,
    pub location_code: String,
    pub occurred_at: DateTime<Utc>,
    pub document: Option<String>,
    pub document_link: Option<String>,
    pub actor: Option<String>,
    pub reason: Option<String>,
    pub reversed: bool,
}

/// A lot's movements, for its page and its CSV (`$1` the lot), the quantity as `quantity`.
fn ledger_sql(quantity: &str) -> String {
    format!(
        "select mv.id, mv.kind, {quantity} as quantity, c.code as location_code, mv.occurred_at,
                coalesce(r.number, pr.number, sh.number, rt.number) as document,
                case when r.id is not null then '/receipts/' || r.id when pr.id is not null then '/runs/' || pr.id
                     when sh.id is not null then '/shipments/' || sh.id end as document_link,
                u.username as actor, mv.reason,
                exists (select 1 from stock_movements x where x.reverses_id = mv.id) as reversed
           from stock_movements mv join locations c on c.id = mv.location_id
           left join receipts r on r.id = mv.receipt_id left join production_runs pr on pr.id = mv.run_id
           left join shipments sh on sh.id = mv.shipment_id left join returns rt on rt.id = mv.return_id
           left join users u on u.id = mv.actor_id
          where mv.lot_id = $1 order by mv.occurred_at, mv.id"
    )
}

/// A lot one step away: what went into this lot, or what this lot went into.
#[derive(Debug, sqlx::FromRow, serde::Deserialize)]
pub struct StepRow {
    pub lot_id: Uuid,
    pub lot_code: String,
    pub material_code: String,
    pub run_id: Option<Uuid>,
    pub run_number: Option<String>,
    pub occurred_at: DateTime<Utc>,
    pub quantity: Decimal,
    pub uom: String,
}

/// A shipment of the lot: who received it.
#[derive(Debug, sqlx::FromRow, serde::Deserialize)]
pub struct ShippedRow {
    pub shipment_id: Uuid,
    pub number: String,
    pub customer: String,
    pub shipped_at: DateTime<Utc>,
    pub quantity: Decimal,
}

#[derive(Template)]
#[template(path = "lots/show.html")]
struct ShowPage {
    layout: Layout,
    /// What the page shows of the lot (the template reaches its fields through `Deref`), shared
    /// with the cache rather than copied.
    parts: Arc<LotParts>,
    errors: FieldErrors,
    record_form: RecordForm,
    record_kinds: [(&'static str, &'static str); 3],
}

impl std::ops::Deref for ShowPage {
    type Target = LotParts;

    fn deref(&self) -> &LotParts {
        &self.parts
    }
}

async fn show(
    State(state): State<AppState>,
    layout: Layout,
    headers: axum::http::HeaderMap,
    Path(id): Path<String>,
) -> Result<Response> {
    let id = super::parse_id(&id)?;
    // Someone who has just changed something reads afresh, whichever server they reach.
    let fresh = super::auth::cookie(&headers, crate::web::WROTE_COOKIE).is_some();
    let parts = lot_parts(&state, id, fresh).await?;
    let record_form = RecordForm { outcome: "pass".into(), kind: "inspection".into(), ..Default::default() };
    render_lot_page(StatusCode::OK, layout, parts, FieldErrors::default(), record_form)
}

/// The parts of a lot page, read and decoded (`LOT_PAGE`).
pub struct LotParts {
    lot: LotRow,
    detail: LotDetail,
    stock: Vec<StockRow>,
    back: Vec<StepRow>,
    forward: Vec<StepRow>,
    shipped: Vec<ShippedRow>,
    dispositions: Vec<DispositionRow>,
    holds: Vec<HoldRow>,
    records: Vec<RecordRow>,
    ledger: Vec<LedgerRow>,
    balance: MassBalance,
    history: Vec<crate::audit::Shown>,
    site_locations: Vec<(Uuid, String)>,
}

/// Lot pages' parts kept in memory, each with the change epoch from before it was read
/// (`db::Changes`): served only while no committed change has touched the lot since, for a
/// minute at most (the date moves statuses to expired), for 5,000 lots at most.
#[derive(Default)]
pub struct LotPageCache(std::sync::Mutex<std::collections::HashMap<Uuid, Kept>>);

/// A kept page: the change epoch from before its read, when, and its parts.
type Kept = (u64, std::time::Instant, Arc<LotParts>);

const CACHED_LOTS: usize = 5_000;
const CACHE_SECONDS: u64 = 60;

impl LotPageCache {
    fn get(&self, id: Uuid, changes: &crate::db::Changes) -> Option<Arc<LotParts>> {
        let map = self.0.lock().ok()?;
        let (epoch, at, parts) = map.get(&id)?;
        (at.elapsed().as_secs() < CACHE_SECONDS && changes.still_current(id, *epoch)).then(|| parts.clone())
    }

    fn put(&self, id: Uuid, epoch: u64, parts: Arc<LotParts>, changes: &crate::db::Changes) {
        if let Ok(mut map) = self.0.lock() {
            if map.len() >= CACHED_LOTS {
                map.retain(|lot, (e, at, _)| at.elapsed().as_secs() < CACHE_SECONDS && changes.still_current(*lot, *e));
                if map.len() >= CACHED_LOTS {
                    map.clear();
                }
            }
            map.insert(id, (epoch, std::time::Instant::now(), parts));
        }
    }
}

/// A lot's page parts: from memory when nothing changed since they were read, else read (and
/// kept). `fresh` reads in any case.
async fn lot_parts(state: &AppState, id: Uuid, fresh: bool) -> Result<Arc<LotParts>> {
    let epoch = state.changes.current();
    if epoch.is_some()
        && !fresh
        && let Some(parts) = state.lot_pages.get(id, &state.changes)
    {
        return Ok(parts);
    }
    let parts = Arc::new(read_lot_parts(state, id).await?);
    if let Some(e) = epoch {
        state.lot_pages.put(id, e, parts.clone(), &state.changes);
    }
    Ok(parts)
}

/// Everything the lot page shows, read in one statement: a page view is one round trip to
/// PostgreSQL (besides the session's), which is what lets a busy plant's tablets share a server.
/// Each part comes as JSON, quantities as text so they stay exact decimals.
#[derive(sqlx::FromRow)]
struct PageData {
    lot: Option<Json<serde_json::Value>>,
    stock: Json<Vec<StockRow>>,
    back: Json<Vec<StepRow>>,
    forward: Json<Vec<StepRow>>,
    shipped: Json<Vec<ShippedRow>>,
    dispositions: Json<Vec<DispositionRow>>,
    holds: Json<Vec<HoldRow>>,
    records: Json<Vec<RecordRow>>,
    ledger: Json<Vec<LedgerRow>>,
    balance: Json<Vec<(MovementKind, bool, Decimal)>>,
    on_hand: Decimal,
    history: Json<Vec<crate::audit::Shown>>,
    site_locations: Json<Vec<(Uuid, String)>>,
}

/// The lot page's statement (`$1` the lot); see [`PageData`].
static LOT_PAGE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    // One step back or forward: the lots linked by runs, with the linking quantity.
    let step = |direction: &str| {
        let (this, other, movement) = if direction == "back" {
            ("to_lot_id", "from_lot_id", "input_movement_id")
        } else {
            ("from_lot_id", "to_lot_id", "output_movement_id")
        };
        // A posting links to every posting of the other side of its run: each movement is
        // counted once, by its id (two draws of the same amount are two draws).
        format!(
            "select o.id as lot_id, o.code as lot_code, m.code as material_code, s.run_id, r.number as run_number,
                    s.occurred_at, abs(s.quantity)::text as quantity, m.uom
               from (select x.lot_id, x.run_id, min(x.occurred_at) as occurred_at, sum(mv.quantity) as quantity
                       from (select g.{other} as lot_id, g.run_id, g.{movement} as movement_id, min(g.occurred_at) as occurred_at
                               from genealogy_links g where g.{this} = $1 and g.reversed_at is null
                              group by 1, 2, 3) x
                       join stock_movements mv on mv.id = x.movement_id
                      group by x.lot_id, x.run_id) s
               join lots o on o.id = s.lot_id join materials m on m.id = o.material_id
               left join production_runs r on r.id = s.run_id
              order by s.occurred_at, o.code"
        )
    };
    let list = |sql: &str| format!("coalesce((select json_agg(x) from ({sql}) x), '[]')");
    format!(
        "select
          (select row_to_json(x) from (
             select l.id, l.code, m.code as material_code, m.name as material_name, l.origin, l.made_on, l.expires_on,
                    {status} as status, coalesce((select sum(quantity) from on_hand o where o.lot_id = l.id), 0)::text as on_hand,
                    m.uom, s.code as site_code, s.name as site_name, p.name as supplier_name, l.supplier_lot, l.tlc,
                    l.tlc_source, l.country_of_origin, l.material_id, l.receipt_id, r.number as receipt_number, l.run_id,
                    pr.number as run_number, l.disposition
               from lots l join materials m on m.id = l.material_id join sites s on s.id = l.site_id
               left join parties p on p.id = l.supplier_id left join receipts r on r.id = l.receipt_id
               left join production_runs pr on pr.id = l.run_id
              where l.id = $1) x) as lot,
          {stock} as stock, {back} as back, {forward} as forward, {shipped} as shipped,
          {dispositions} as dispositions, {holds} as holds, {records} as records, {ledger} as ledger,
          coalesce((select json_agg(json_build_array(b.kind, b.inflow, b.quantity::text))
                      from ({balance_rows}) b), '[]') as balance,
          (select coalesce(sum(quantity), 0) from on_hand where lot_id = $1) as on_hand,
          {history} as history,
          coalesce((select json_agg(json_build_array(c.id, c.code || ' · ' || c.name) order by c.code)
                      from locations c join lots l on l.site_id = c.site_id where l.id = $1 and c.active), '[]') as site_locations",
        status = crate::domain::status::STATUS_SQL,
        balance_rows = crate::ledger::BALANCE_ROWS.replace("any($1)", "$1"),
        stock = list(
            "select c.id as location_id, c.code as location_code, c.name as location_name, o.quantity::text as quantity
               from on_hand o join locations c on c.id = o.location_id where o.lot_id = $1 and o.quantity > 0 order by c.code"
        ),
        back = list(&step("back")),
        forward = list(&step("forward")),
        shipped = list(
            "select h.id as shipment_id, h.number, p.name as customer, h.shipped_at, sl.quantity::text as quantity
               from shipment_lines sl join shipments h on h.id = sl.shipment_id join parties p on p.id = h.customer_id
              where sl.lot_id = $1 order by h.shipped_at, h.number"
        ),
        dispositions = list(
            "select d.from_status, d.to_status, d.reason, u.display_name as decided_by, d.decided_at, s.meaning
               from lot_dispositions d left join users u on u.id = d.decided_by left join signatures s on s.id = d.signature_id
              where d.lot_id = $1 order by d.id"
        ),
        holds = list(
            "select h.id, h.source, h.reason, o.display_name as opened_by, h.opened_at, h.closed_at, c.display_name as closed_by, h.close_reason
               from lot_holds h left join users o on o.id = h.opened_by left join users c on c.id = h.closed_by
              where h.lot_id = $1 order by h.closed_at nulls first, h.opened_at desc"
        ),
        records = list(
            "select q.kind, q.name, q.result, q.specification, q.reference, q.outcome, q.performed_at, u.display_name as recorded_by
               from qa_records q left join users u on u.id = q.recorded_by where q.lot_id = $1
              order by q.performed_at desc, q.created_at desc"
        ),
        ledger = list(&ledger_sql("mv.quantity::text")),
        history = list(
            "select id, occurred_at, actor_name, action, entity_type, entity_id, reason, before, after
               from audit_log where entity_type = 'lot' and entity_id = $1::text order by id desc limit 200"
        ),
    )
});

/// The lot page after a refused action: read afresh, with the action's errors.
async fn lot_page(
    state: &AppState,
    status: StatusCode,
    layout: Layout,
    id: Uuid,
    errors: FieldErrors,
    record_form: RecordForm,
) -> Result<Response> {
    let parts = lot_parts(state, id, true).await?;
    render_lot_page(status, layout, parts, errors, record_form)
}

async fn read_lot_parts(state: &AppState, id: Uuid) -> Result<LotParts> {
    let page: Option<PageData> =
        sqlx::query_as(sqlx::AssertSqlSafe(LOT_PAGE.as_str())).bind(id).fetch_optional(&state.pool).await?;
    let page = page.ok_or(Error::NotFound)?;
    let lot_json = page.lot.ok_or(Error::NotFound)?.0;
    let decode = |e: serde_json::Error| Error::Internal(anyhow::anyhow!("the lot page's data: {e}"));
    Ok(LotParts {
        lot: LotRow::deserialize(&lot_json).map_err(decode)?,
        detail: LotDetail::deserialize(&lot_json).map_err(decode)?,
        stock: page.stock.0,
        back: page.back.0,
        forward: page.forward.0,
        shipped: page.shipped.0,
        dispositions: page.dispositions.0,
        holds: page.holds.0,
        records: page.records.0,
        ledger: page.ledger.0,
        balance: {
            let mut b = MassBalance { on_hand: page.on_hand, ..MassBalance::default() };
            for (kind, inflow, quantity) in page.balance.0 {
                b.add(kind, inflow, quantity);
            }
            b.normalized()
        },
        history: page.history.0,
        site_locations: page.site_locations.0,
    })
}

fn render_lot_page(
    status: StatusCode,
    layout: Layout,
    parts: Arc<LotParts>,
    errors: FieldErrors,
    record_form: RecordForm,
) -> Result<Response> {
    render_with(status, &ShowPage { layout, parts, errors, record_form, record_kinds: RECORD_KINDS })
}

/// Back to the lot page after a QA action, or the page again with the action's errors.
async fn respond(
    state: &AppState,
    layout: Layout,
    id: Uuid,
    result: std::result::Result<(), SaveError>,
    done: &str,
    record_form: RecordForm,
) -> Result<Response> {
    match result {
        Ok(()) => Ok(redirect_with_flash(&format!("/lots/{id}"), FlashKind::Success, done)),
        Err(SaveError::Invalid(errors)) => {
            lot_page(state, StatusCode::UNPROCESSABLE_ENTITY, layout, id, errors, record_form).await
        }
        Err(SaveError::Stale) => Err(Error::Conflict("The lot changed meanwhile; reload the page.".into())),
        Err(SaveError::Other(e)) => Err(e),
    }
}

async fn release(
    State(state): State<AppState>,
    user: CurrentUser,
    layout: Layout,
    Path(id): Path<String>,
    Form(form): Form<DecisionForm>,
) -> Result<Response> {
    let id = super::parse_id(&id)?;
    let result = qa::decide(&state.pool, &user.person(), id, Disposition::Released, &form).await;
    respond(&state, layout, id, result, "Lot released (signed).", RecordForm::default()).await
}

async fn reject(
    State(state): State<AppState>,
    user: CurrentUser,
    layout: Layout,
    Path(id): Path<String>,
    Form(form): Form<DecisionForm>,
) -> Result<Response> {
    let id = super::parse_id(&id)?;
    let result = qa::decide(&state.pool, &user.person(), id, Disposition::Rejected, &form).await;
    respond(&state, layout, id, result, "Lot rejected (signed).", RecordForm::default()).await
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct HoldForm {
    hold_reason: String,
    lift_reason: String,
}

async fn hold(
    State(state): State<AppState>,
    user: CurrentUser,
    layout: Layout,
    Path(id): Path<String>,
    Form(form): Form<HoldForm>,
) -> Result<Response> {
    let id = super::parse_id(&id)?;
    let result = qa::place_hold(&state.pool, &user.person(), id, &form.hold_reason).await;
    respond(
        &state,
        layout,
        id,
        result,
        "Hold placed: the lot cannot be used or shipped until it is lifted.",
        RecordForm::default(),
    )
    .await
}

async fn lift(
    State(state): State<AppState>,
    user: CurrentUser,
    layout: Layout,
    Path((id, hold)): Path<(String, String)>,
    Form(form): Form<HoldForm>,
) -> Result<Response> {
    let (id, hold) = (super::parse_id(&id)?, super::parse_id(&hold)?);
    let result = qa::lift_hold(&state.pool, &user.person(), id, hold, &form.lift_reason).await;
    respond(&state, layout, id, result, "Hold lifted.", RecordForm::default()).await
}

async fn add_record(
    State(state): State<AppState>,
    user: CurrentUser,
    layout: Layout,
    Path(id): Path<String>,
    Form(form): Form<RecordForm>,
) -> Result<Response> {
    let id = super::parse_id(&id)?;
    let result = qa::add_record(&state.pool, &user.person(), id, &form).await;
    respond(&state, layout, id, result, "QA record added.", form).await
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct ReverseForm {
    reverse_reason: String,
}

async fn reverse(
    State(state): State<AppState>,
    user: CurrentUser,
    layout: Layout,
    Path((id, movement)): Path<(String, i64)>,
    Form(form): Form<ReverseForm>,
) -> Result<Response> {
    let id = super::parse_id(&id)?;
    let result = moves::reverse(&state.pool, &user.actor(), id, movement, &form.reverse_reason).await;
    respond(
        &state,
        layout,
        id,
        result,
        "Posting reversed; the genealogy follows the correction.",
        RecordForm::default(),
    )
    .await
}

/// Transfer, adjust or scrap: one form each on the lot's page, one handler.
/// `/lots/{id}/{action}` has no pages of its own: a GET there is a page that does not exist.
async fn no_such_page() -> Error {
    Error::NotFound
}

/// A transfer, adjustment or scrap, as typed on the lot's page.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct MoveForm {
    pub from_location: String,
    pub to_location: String,
    pub transfer_quantity: String,
    pub adjust_quantity: String,
    pub scrap_quantity: String,
    /// For adjustments: "add" or "remove".
    pub direction: String,
    pub adjust_reason: String,
    pub scrap_reason: String,
}

fn quantity(value: &str, field: &'static str) -> std::result::Result<Decimal, SaveError> {
    crate::domain::text::required_decimal(value, "The quantity").map_err(|m| SaveError::field(field, m))
}

fn location(value: &str, field: &'static str) -> std::result::Result<Uuid, SaveError> {
    Uuid::parse_str(value.trim()).map_err(|_| SaveError::field(field, "Choose a location."))
}

/// The split form on a lot's page.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct SplitForm {
    split_from: String,
    split_quantity: String,
    /// The material of the new lot; empty for the source's own.
    split_material: String,
    /// The new lot's quantity in its own unit (a repack); empty for the same quantity.
    split_new_quantity: String,
    split_to: String,
}

async fn move_stock(
    State(state): State<AppState>,
    user: CurrentUser,
    layout: Layout,
    Path((id, action)): Path<(String, String)>,
    Form(form): Form<MoveForm>,
) -> Result<Response> {
    let id = super::parse_id(&id)?;
    let (pool, actor, f) = (&state.pool, user.actor(), &form);
    let (result, done) = match action.as_str() {
        "transfer" => (
            async {
                let (from, to) =
                    (location(&f.from_location, "transfer_from")?, location(&f.to_location, "transfer_to")?);
                let quantity = quantity(&f.transfer_quantity, "transfer_quantity")?;
                moves::transfer(pool, &actor, id, &moves::Transfer { from, to, quantity }).await
            }
            .await,
            "Stock moved.",
        ),
        "adjust" => (
            async {
                let quantity = quantity(&f.adjust_quantity, "adjust_quantity")?;
                let quantity = match f.direction.as_str() {
                    "add" => quantity,
                    "remove" => -quantity,
                    _ => return Err(SaveError::field("adjust_quantity", "Say whether stock is added or removed.")),
                };
                let at = location(&f.from_location, "adjust_quantity")?;
                moves::adjust(pool, &actor, id, &moves::Adjust { at, quantity, reason: f.adjust_reason.clone() }).await
            }
            .await,
            "Stock adjusted.",
        ),
        "scrap" => (
            async {
                let (quantity, at) =
                    (quantity(&f.scrap_quantity, "scrap_quantity")?, location(&f.from_location, "scrap_quantity")?);
                moves::scrap(pool, &actor, id, &moves::Scrap { at, quantity, reason: f.scrap_reason.clone() }).await
            }
            .await,
            "Stock scrapped.",
        ),
        _ => return Err(Error::NotFound),
    };
    respond(&state, layout, id, result, done, RecordForm::default()).await
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct SupplierReturnForm {
    from_location: String,
    supplier_quantity: String,
    supplier_reason: String,
}

async fn return_to_supplier(
    State(state): State<AppState>,
    user: CurrentUser,
    layout: Layout,
    Path(id): Path<String>,
    Form(form): Form<SupplierReturnForm>,
) -> Result<Response> {
    let id = super::parse_id(&id)?;
    let sent = async {
        let location = Uuid::parse_str(form.from_location.trim())
            .map_err(|_| SaveError::field("supplier_quantity", "Choose the location the goods leave from."))?;
        let quantity = crate::domain::text::required_decimal(&form.supplier_quantity, "The quantity")
            .map_err(|m| SaveError::field("supplier_quantity", m))?;
        let back = crate::stock::returns::SupplierReturn { location, quantity, reason: form.supplier_reason.clone() };
        crate::stock::returns::to_supplier(&state.pool, &user.actor(), id, &back).await
    };
    let result = sent.await.map(|_| ());
    respond(&state, layout, id, result, "Returned to the supplier.", RecordForm::default()).await
}

async fn split(
    State(state): State<AppState>,
    user: CurrentUser,
    layout: Layout,
    Path(id): Path<String>,
    Form(form): Form<SplitForm>,
) -> Result<Response> {
    let id = super::parse_id(&id)?;
    let split = async {
        let f = &form;
        let quantity = quantity(&f.split_quantity, "split_quantity")?;
        let from = Uuid::parse_str(f.split_from.trim())
            .map_err(|_| SaveError::field("split_quantity", "Choose the location the stock is taken from."))?;
        let to = Uuid::parse_str(f.split_to.trim())
            .map_err(|_| SaveError::field("split_to", "Choose where the new lot is put."))?;
        let new_quantity = crate::domain::text::positive_decimal(&f.split_new_quantity, "The new lot's quantity")
            .map_err(|m| SaveError::field("split_new_quantity", m))?;
        let material = Some(f.split_material.trim().to_string()).filter(|m| !m.is_empty());
        let command = crate::stock::split::Split { from, to, quantity, material, new_quantity };
        crate::stock::split::split(&state.pool, &user.actor(), id, &command).await
    };
    match super::outcome(split.await)? {
        Ok((new_lot, code)) => Ok(redirect_with_flash(
            &format!("/lots/{new_lot}"),
            FlashKind::Success,
            &format!("New lot {code} split off."),
        )),
        Err(errors) => {
            lot_page(&state, StatusCode::UNPROCESSABLE_ENTITY, layout, id, errors, RecordForm::default()).await
        }
    }
}

/// The lot's ledger as CSV: every movement, in time order.
async fn ledger_csv(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response> {
    let id = super::parse_id(&id)?;
    let db = state.reports();
    let code: String = sqlx::query_scalar("select code from lots where id = $1")
        .bind(id)
        .fetch_optional(db)
        .await?
        .ok_or(Error::NotFound)?;
    let rows: Vec<LedgerRow> =
        sqlx::query_as(sqlx::AssertSqlSafe(ledger_sql("mv.quantity"))).bind(id).fetch_all(db).await?;
    let mut sheet = super::export::Sheet::new(
        format!("ledger-{code}"),
        &["movement", "occurred_at", "kind", "quantity", "location", "document", "by", "reason", "reversed"],
    );
    for r in rows {
        sheet.push(vec![
            r.id.to_string().into(),
            r.occurred_at.to_rfc3339().into(),
            r.kind.into(),
            r.quantity.into(),
            r.location_code.into(),
            r.document.into(),
            r.actor.into(),
            r.reason.into(),
            if r.reversed { "yes" } else { "no" }.into(),
        ]);
    }
    super::export::respond(sheet, super::export::Format::Csv)
}
