//! What a trace reads from the database: the closure's links (when the link index cannot give
//! them) and the facts of the lots reached.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use sqlx::PgPool;
use uuid::Uuid;

use super::TracedLot;
use super::closure::{Closure, ClosureBuilder, IdMap};
use crate::error::Error;

#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct Link {
    pub(crate) from_lot_id: Uuid,
    pub(crate) to_lot_id: Uuid,
    pub(crate) occurred_at: DateTime<Utc>,
    pub(crate) run_id: Option<Uuid>,
    /// The link's kind where no run made it (split, repack); None for run links.
    pub(crate) kind: Option<String>,
}

/// Every link of the lot-level closure from `start`, grouped by the lot they leave (forward) or
/// reach (backward). One round trip (migration 0007): a recursive query finds the closure's lots
/// as the plain recursive baseline does, then their links are read from the same index; both are
/// index-only reads of (from lot, time) include (to lot, run) and the reverse.
pub(crate) async fn closure(pool: &PgPool, start: Uuid, forward: bool) -> Result<Closure, Error> {
    let sql = if forward {
        "select from_lot_id, to_lot_id, occurred_at, run_id, kind from trace_links_down($1)"
    } else {
        "select from_lot_id, to_lot_id, occurred_at, run_id, kind from trace_links_up($1)"
    };
    let links: Vec<Link> = sqlx::query_as(sql).bind(start).fetch_all(pool).await?;
    let mut adjacency: IdMap<Vec<Link>> = IdMap::default();
    for link in links {
        let owner = if forward { link.from_lot_id } else { link.to_lot_id };
        adjacency.entry(owner).or_default().push(link);
    }
    let mut graph = ClosureBuilder::new(start);
    while graph.built() < graph.lots() {
        let id = graph.id(graph.built());
        for link in adjacency.get(&id).map(Vec::as_slice).unwrap_or_default() {
            let (next, _) = graph.number(if forward { link.to_lot_id } else { link.from_lot_id });
            let repack = link.kind.as_deref() == Some("repack");
            graph.edge(next, link.run_id, repack, link.occurred_at.timestamp_micros());
        }
        graph.close_lot();
    }
    Ok(graph.finish())
}

pub(crate) async fn lot_facts(pool: &PgPool, ids: &[Uuid]) -> Result<Vec<TracedLot>, Error> {
    #[derive(sqlx::FromRow)]
    struct Row {
        id: Uuid,
        code: String,
        material: String,
        material_name: String,
        uom: String,
        supplier: Option<String>,
        supplier_lot: Option<String>,
        disposition: String,
        expires_on: Option<NaiveDate>,
        /// The lot's site's date: its status is judged by it.
        today: NaiveDate,
    }
    // The few materials and suppliers they name joined by hash in the same statement; the open
    // holds (few, on few lots) read at the same time.
    let rows = sqlx::query_as::<_, Row>(
        "select t.id, t.code, m.code as material, m.name as material_name, m.uom, p.name as supplier, t.supplier_lot,
                t.disposition, t.expires_on, d.today
           from trace_lot_rows($1) t join materials m on m.id = t.material_id left join parties p on p.id = t.supplier_id
           join (select id, site_today(id) as today from sites) d on d.id = t.site_id",
    )
    .bind(ids)
    .fetch_all(pool);
    let holds = sqlx::query_as::<_, (Uuid, i64, bool)>("select lot_id, open_holds, recalled from trace_open_holds($1)")
        .bind(ids)
        .fetch_all(pool);
    let (rows, holds) = tokio::try_join!(rows, holds)?;
    let holds: IdMap<(i64, bool)> = holds.into_iter().map(|(lot, n, recalled)| (lot, (n, recalled))).collect();
    Ok(rows
        .into_iter()
        .map(|r| {
            let (open_holds, recalled) = holds.get(&r.id).copied().unwrap_or((0, false));
            let state = crate::domain::status::LotState {
                code: &r.code,
                disposition: &r.disposition,
                open_holds,
                recalled,
                expires_on: r.expires_on,
            };
            let status = crate::domain::status::label(&state, r.today).to_string();
            TracedLot {
                id: r.id,
                material: r.material,
                material_name: r.material_name,
                code: r.code,
                status,
                depth: 0,
                reached_at: None,
                via: Vec::new(),
                parent: None,
                on_hand: Decimal::ZERO,
                uom: r.uom,
                supplier: r.supplier,
                supplier_lot: r.supplier_lot,
                share: None,
                concentration: None,
            }
        })
        .collect())
}
