//! A lot's page: everything it shows read in one statement, kept in memory while no change
//! touches the lot; and its ledger as CSV.

use super::*;

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
    /// Real recalls whose scope held this lot ('' if none): reversing what left it is signed.
    pub recalls: String,
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
    #[serde(deserialize_with = "crate::db::json::time")]
    pub decided_at: DateTime<Utc>,
    pub meaning: Option<String>,
}

#[derive(Debug, sqlx::FromRow, serde::Deserialize)]
pub struct HoldRow {
    pub id: Uuid,
    pub source: String,
    /// The recall that placed it: (id, number, still open).
    pub recall_id: Option<Uuid>,
    pub recall_number: Option<String>,
    pub recall_open: Option<bool>,
    pub reason: String,
    pub opened_by: Option<String>,
    #[serde(deserialize_with = "crate::db::json::time")]
    pub opened_at: DateTime<Utc>,
    #[serde(deserialize_with = "crate::db::json::optional_time")]
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
    #[serde(deserialize_with = "crate::db::json::time")]
    pub performed_at: DateTime<Utc>,
    pub recorded_by: Option<String>,
}

#[derive(Debug, sqlx::FromRow, serde::Deserialize)]
pub struct LedgerRow {
    pub id: i64,
    pub kind: String,
    pub quantity: Decimal,
    pub location_code: String,
    #[serde(deserialize_with = "crate::db::json::time")]
    pub occurred_at: DateTime<Utc>,
    pub document: Option<String>,
    pub document_link: Option<String>,
    pub actor: Option<String>,
    pub reason: Option<String>,
    pub reversed: bool,
}

/// A lot's movements, for its page and its CSV (`$1` the lot), the quantity as `quantity`.
pub(super) fn ledger_sql(quantity: &str) -> String {
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
    pub quantity: Decimal,
    pub uom: String,
}

/// A shipment of the lot: who received it.
#[derive(Debug, sqlx::FromRow, serde::Deserialize)]
pub struct ShippedRow {
    pub shipment_id: Uuid,
    pub number: String,
    pub customer: String,
    #[serde(deserialize_with = "crate::db::json::time")]
    pub shipped_at: DateTime<Utc>,
    pub quantity: Decimal,
    pub reversed: bool,
}

#[derive(Template)]
#[template(path = "lots/show.html")]
pub(super) struct ShowPage {
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

pub(super) async fn show(
    State(state): State<AppState>,
    layout: Layout,
    headers: axum::http::HeaderMap,
    Path(id): Path<String>,
) -> Result<Response> {
    let id = crate::web::parse_id(&id)?;
    // Someone who has just changed something reads afresh, whichever server they reach.
    let fresh = crate::web::auth::cookie(&headers, crate::web::WROTE_COOKIE).is_some();
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
pub(super) type Kept = (u64, std::time::Instant, Arc<LotParts>);

pub(super) const CACHED_LOTS: usize = 5_000;
pub(super) const CACHE_SECONDS: u64 = 60;

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
pub(super) async fn lot_parts(state: &AppState, id: Uuid, fresh: bool) -> Result<Arc<LotParts>> {
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
pub(super) struct PageData {
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
pub(super) static LOT_PAGE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
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
                    pr.number as run_number, l.disposition,
                    {past_recalls} as recalls
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
        past_recalls = crate::domain::status::PAST_RECALLS_SQL,
        balance_rows = crate::ledger::BALANCE_ROWS.replace("any($1)", "$1"),
        stock = list(
            "select c.id as location_id, c.code as location_code, c.name as location_name, o.quantity::text as quantity
               from on_hand o join locations c on c.id = o.location_id where o.lot_id = $1 and o.quantity > 0 order by c.code"
        ),
        back = list(&step("back")),
        forward = list(&step("forward")),
        shipped = list(
            "select h.id as shipment_id, h.number, p.name as customer, h.shipped_at, sl.quantity::text as quantity,
                    exists (select 1 from stock_movements x where x.reverses_id = sl.movement_id) as reversed
               from shipment_lines sl join shipments h on h.id = sl.shipment_id join parties p on p.id = h.customer_id
              where sl.lot_id = $1 order by h.shipped_at, h.number"
        ),
        dispositions = list(
            "select d.from_status, d.to_status, d.reason, u.display_name as decided_by, d.decided_at, s.meaning
               from lot_dispositions d left join users u on u.id = d.decided_by left join signatures s on s.id = d.signature_id
              where d.lot_id = $1 order by d.id"
        ),
        holds = list(
            "select h.id, h.source, h.recall_id, rc.number as recall_number, rc.status = 'open' as recall_open, h.reason,
                    o.display_name as opened_by, h.opened_at, h.closed_at, c.display_name as closed_by, h.close_reason
               from lot_holds h left join users o on o.id = h.opened_by left join users c on c.id = h.closed_by
               left join recalls rc on rc.id = h.recall_id
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
pub(super) async fn lot_page(
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

pub(super) async fn read_lot_parts(state: &AppState, id: Uuid) -> Result<LotParts> {
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

pub(super) fn render_lot_page(
    status: StatusCode,
    layout: Layout,
    parts: Arc<LotParts>,
    errors: FieldErrors,
    record_form: RecordForm,
) -> Result<Response> {
    render_with(status, &ShowPage { layout, parts, errors, record_form, record_kinds: RECORD_KINDS })
}

/// The lot's ledger as CSV: every movement, in time order.
pub(super) async fn ledger_csv(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response> {
    let id = crate::web::parse_id(&id)?;
    let db = state.reports();
    let code: String = sqlx::query_scalar("select code from lots where id = $1")
        .bind(id)
        .fetch_optional(db)
        .await?
        .ok_or(Error::NotFound)?;
    let rows: Vec<LedgerRow> =
        sqlx::query_as(sqlx::AssertSqlSafe(ledger_sql("mv.quantity"))).bind(id).fetch_all(db).await?;
    let mut sheet = crate::web::export::Sheet::new(
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
    crate::web::export::respond(sheet, crate::web::export::Format::Csv)
}
