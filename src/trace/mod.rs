//! The genealogy query layer every trace consumer calls: pages, the JSON API, the CLI and CSV.
//!
//! Two modes. *Lot-level*: every link, regardless of time — the conservative superset most ERPs
//! show. *Precise* (the default): material that reached a lot at time `a` continues only through
//! links from that lot at times `t >= a` (and through its shipments at `t >= a`); backward, a lot
//! needed up to time `n` reaches only inputs linked at `t <= n`. Ties count, the conservative
//! choice. That is earliest-arrival reachability: a lot reached again at an *earlier* time must be
//! expanded again, which a recursive SQL query cannot express (it keeps no per-lot minimum and
//! explodes on diamonds). So the walk runs here, Dijkstra-style over the link table, fetching each
//! frontier's links in one query (indexed on (from lot, time) and (to lot, time)). Both modes stop
//! on cycles (a bulk tank topped up is an input of its own run) and report where they met one.

mod closure;
mod csv;
pub mod links;
mod reads;
mod sweep;
mod walk;

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

pub use closure::IdHasher;
pub(crate) use closure::IdMap;
use closure::{VIA_REPACK, VIA_SPLIT};
pub use csv::{to_csv, to_table};
use reads::{closure, lot_facts};
use sweep::quantities;
use walk::Walk;

use crate::error::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Forward,
    Backward,
}

impl Direction {
    pub fn parse(text: &str) -> Option<Direction> {
        match text {
            "forward" | "" => Some(Direction::Forward),
            "backward" => Some(Direction::Backward),
            _ => None,
        }
    }

    pub fn key(&self) -> &'static str {
        match self {
            Direction::Forward => "forward",
            Direction::Backward => "backward",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub enum Mode {
    #[serde(rename = "precise")]
    Precise,
    #[serde(rename = "lot-level", alias = "lot_level")]
    LotLevel,
}

impl Mode {
    pub fn parse(text: &str) -> Option<Mode> {
        match text {
            "precise" | "" => Some(Mode::Precise),
            "lot-level" | "lot_level" => Some(Mode::LotLevel),
            _ => None,
        }
    }

    pub fn key(&self) -> &'static str {
        match self {
            Mode::Precise => "precise",
            Mode::LotLevel => "lot-level",
        }
    }
}

/// One lot the trace reached.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TracedLot {
    pub id: Uuid,
    pub material: String,
    pub material_name: String,
    pub code: String,
    pub status: String,
    /// Fewest links from the start lot (0 for the start itself).
    pub depth: u32,
    /// Precise mode: forward, when the start lot's material first reached it; backward, the
    /// latest time it could have fed the start lot.
    pub reached_at: Option<DateTime<Utc>>,
    /// The runs whose links reached it (numbers); "split"/"repack" for those links.
    pub via: Vec<String>,
    /// The lot it was reached from on a shortest path (the tree the page draws).
    #[serde(skip)]
    pub parent: Option<Uuid>,
    pub on_hand: Decimal,
    pub uom: String,
    pub supplier: Option<String>,
    pub supplier_lot: Option<String>,
    /// Forward, precise: the fraction of the start lot's quantity that ended up in this lot
    /// (perfect mixing assumed); None where quantities cannot be compared (no mass per unit).
    pub share: Option<Decimal>,
    /// Forward, precise: the fraction of this lot that came from the start lot.
    pub concentration: Option<Decimal>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TracedStock {
    pub lot: String,
    pub material: String,
    pub location: String,
    pub quantity: Decimal,
    pub uom: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TracedShipment {
    pub shipment: String,
    pub customer: String,
    pub lot: String,
    pub material: String,
    pub quantity: Decimal,
    pub uom: String,
    pub shipped_on: NaiveDate,
    /// The line was reversed: kept, flagged, so QA sees who once had the goods.
    pub reversed: bool,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Customer {
    pub code: String,
    pub name: String,
    /// Every line to this customer was reversed.
    pub reversed: bool,
}

/// Where the walk met a cycle: a link back to a lot it had reached already, no later.
#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Cycle {
    pub from: String,
    pub to: String,
}

/// A whole trace: the same document for pages, the API, the CLI and CSV.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Trace {
    pub direction: Direction,
    pub mode: Mode,
    pub start: TracedLot,
    /// Every lot reached, the start included (depth 0), by depth then material and code.
    pub lots: Vec<TracedLot>,
    pub stock: Vec<TracedStock>,
    pub shipments: Vec<TracedShipment>,
    pub customers: Vec<Customer>,
    pub cycles: Vec<Cycle>,
    pub links: usize,
    /// Whether shares and concentrations were computed (forward, precise, and not too large).
    pub quantities: bool,
    /// Forward, precise: what the start lot received over its life, in kg (the whole a share is
    /// a fraction of); None where unknown.
    pub start_kg: Option<Decimal>,
}

impl TracedLot {
    pub fn share_text(&self) -> String {
        percent(self.share)
    }

    pub fn concentration_text(&self) -> String {
        percent(self.concentration)
    }
}

fn percent(value: Option<Decimal>) -> String {
    match value {
        Some(v) => format!("{:.2} %", (v * Decimal::ONE_HUNDRED).round_dp(2)),
        None => "unknown".into(),
    }
}

impl Trace {
    pub fn has_quantities(&self) -> bool {
        self.direction == Direction::Forward && self.mode == Mode::Precise
    }

    pub fn quantities_skipped(&self) -> bool {
        self.has_quantities() && !self.quantities
    }

    /// Whether freeing it takes long enough to be worth a thread of its own (`drop_later`).
    pub fn is_large(&self) -> bool {
        self.lots.len() + self.shipments.len() + self.stock.len() > 10_000
    }

    pub fn shipped_total(&self) -> Decimal {
        self.shipments.iter().map(|s| s.quantity).sum()
    }

    pub fn on_hand_lots(&self) -> usize {
        self.lots.iter().filter(|l| l.on_hand > Decimal::ZERO).count()
    }
}

/// Frees what holds a large trace on a blocking thread, after its answer was made: a trace that
/// reaches half a plant is a million small allocations, which the answer need not wait for.
/// Small ones are freed at once.
pub fn drop_later<T: std::borrow::Borrow<Trace> + Send + 'static>(value: T) {
    if value.borrow().is_large()
        && let Ok(runtime) = tokio::runtime::Handle::try_current()
    {
        runtime.spawn_blocking(move || drop(value));
    }
}

/// Shares and concentrations are computed for traces up to this many lots; beyond it the sweep
/// over every reached lot's ledger would keep a QA manager waiting, and the lots say "unknown".
pub const MAX_LOTS_FOR_QUANTITIES: usize = 10_000;

/// Finds a lot by material code and lot code.
pub async fn find_lot(pool: &PgPool, material: &str, code: &str) -> Result<Uuid, Error> {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "select l.id from lots l join materials m on m.id = l.material_id where m.code = upper($1) and {}
          order by upper(l.code) = upper($2) desc limit 1",
        crate::domain::lotcode::named_sql(2)
    )))
    .bind(material.trim())
    .bind(code.trim())
    .fetch_optional(pool)
    .await?
    .ok_or(Error::NotFound)
}

/// Traces from `start` in `direction` and `mode`, reading everything from the database.
pub async fn trace(pool: &PgPool, start: Uuid, direction: Direction, mode: Mode) -> Result<Trace, Error> {
    trace_with(pool, None, start, direction, mode).await
}

/// Traces from `start`, walking the link index (`links`) when one is given and ready; it
/// must be an index of the database `pool` reads.
pub async fn trace_with(
    pool: &PgPool,
    links: Option<&std::sync::Arc<links::LinkIndex>>,
    start: Uuid,
    direction: Direction,
    mode: Mode,
) -> Result<Trace, Error> {
    let forward = direction == Direction::Forward;
    let clock = std::time::Instant::now();
    // The lot-level closure's links, from the index or in one query; the precise walk then runs
    // in memory over this superset.
    let indexed = match links {
        Some(index) if index.refresh(pool).await => index.closure(start, forward),
        _ => None,
    };
    let indexed_walk = indexed.is_some();
    let graph = match indexed {
        Some(graph) => graph,
        None => closure(pool, start, forward).await?,
    };
    // 1-2. Who is reached when, how deep, by which links; the cycles met (`walk`).
    let Walk { best, depth, parent, vias, via_from, cycles, used_links } = walk::walk(&graph, forward, mode);
    let reached = best.iter().filter(|b| b.is_some()).count();
    tracing::debug!(trace.ms = clock.elapsed().as_secs_f64() * 1000.0, trace.lots = reached, "trace: walk done");
    let mut run_numbers = graph.run_numbers;
    let mut run_used = vec![false; graph.runs.len()];
    for (_, via) in &vias {
        if let Some(used) = run_used.get_mut(*via as usize) {
            *used = true;
        }
    }
    let run_ids: Vec<Uuid> = graph.runs.iter().zip(&run_used).filter(|(_, used)| **used).map(|(run, _)| *run).collect();
    // Each reached lot's number in the walk, to find its facts by.
    let mut number: IdMap<u32> = IdMap::with_capacity_and_hasher(reached, Default::default());
    for (i, id) in graph.ids.iter().enumerate() {
        if best[i].is_some() {
            number.insert(*id, i as u32);
        }
    }
    let reached_at = |lot: &Uuid| -> Option<DateTime<Utc>> {
        let i = *number.get(lot)?;
        best[i as usize].flatten().and_then(DateTime::<Utc>::from_timestamp_micros)
    };
    // Sorted: the reads probe their indexes in this order, and neighbouring ids (time-ordered,
    // stored in that order) share index and table pages; the lot read joins the array in its
    // own order, and the other reads, which PostgreSQL sorts itself, start from a sorted one.
    let mut ids: Vec<Uuid> = number.keys().copied().collect();
    ids.sort_unstable();
    let quantities_computed = forward && mode == Mode::Precise && ids.len() <= MAX_LOTS_FOR_QUANTITIES;
    // The facts of what was reached, five independent reads on as many connections at once: on
    // a trace of thousands of lots each is a few thousand index probes, and they overlap.
    let unnumbered: Vec<Uuid> = run_ids.iter().filter(|r| !run_numbers.contains_key(*r)).copied().collect();
    let runs = async {
        if unnumbered.is_empty() {
            return Ok(Vec::new());
        }
        sqlx::query_as::<_, (Uuid, String)>("select id, number from production_runs where id = any($1)")
            .bind(&unnumbered)
            .fetch_all(pool)
            .await
            .map_err(Error::from)
    };
    let stock = async {
        sqlx::query_as::<_, (Uuid, String, Decimal)>("select lot_id, location, quantity from trace_stock($1)")
            .bind(&ids)
            .fetch_all(pool)
            .await
            .map_err(Error::from)
    };
    let shipped = async {
        if !forward {
            return Ok(Vec::new());
        }
        #[derive(sqlx::FromRow)]
        struct Line {
            lot_id: Uuid,
            number: String,
            customer_code: String,
            customer: String,
            quantity: Decimal,
            shipped_at: DateTime<Utc>,
            reversed: bool,
        }
        // The customers (a few hundred at most) joined in the same statement: one round trip.
        let lines: Vec<Line> = sqlx::query_as(
            "select s.lot_id, s.number, p.code as customer_code, p.name as customer, s.quantity, s.shipped_at, s.reversed
               from trace_shipments($1) s join parties p on p.id = s.customer_id",
        )
        .bind(&ids)
        .fetch_all(pool)
        .await?;
        Ok(lines
            .into_iter()
            .map(|l| ShipRow {
                lot_id: l.lot_id,
                number: l.number,
                customer_code: l.customer_code,
                customer: l.customer,
                quantity: l.quantity,
                shipped_at: l.shipped_at,
                reversed: l.reversed,
            })
            .collect())
    };
    // With the index, the runs that made the reached lots and the lots' materials are known
    // already, and the share sweep's reads can all start at once.
    let sweep_inputs = match (links, indexed_walk) {
        (Some(index), true) if quantities_computed => index.sweep_inputs(&ids),
        _ => None,
    };
    let fractions = async {
        if quantities_computed { quantities(pool, start, &ids, sweep_inputs).await } else { Ok((HashMap::new(), None)) }
    };
    async fn timed<T>(what: &str, clock: std::time::Instant, work: impl std::future::Future<Output = T>) -> T {
        let out = work.await;
        tracing::debug!(trace.ms = clock.elapsed().as_secs_f64() * 1000.0, "trace: {what} read");
        out
    }
    let (fetched_numbers, mut lots, stock_rows, ship_rows, (fractions, start_kg)) = tokio::try_join!(
        timed("runs", clock, runs),
        timed("lots", clock, lot_facts(pool, &ids)),
        timed("stock", clock, stock),
        timed("shipments", clock, shipped),
        timed("quantities", clock, fractions)
    )?;
    run_numbers.extend(fetched_numbers);
    let mut on_hand: IdMap<Decimal> = IdMap::default();
    for (lot, _, quantity) in &stock_rows {
        *on_hand.entry(*lot).or_default() += *quantity;
    }
    let large = lots.len() >= TWO_THREADS;
    on_halves(large, &mut lots, |l| {
        let Some(&i) = number.get(&l.id) else { return };
        let i = i as usize;
        l.depth = if depth[i] == walk::NONE { 0 } else { depth[i] };
        l.reached_at = best[i].flatten().and_then(DateTime::<Utc>::from_timestamp_micros);
        l.parent = (parent[i] != walk::NONE).then(|| graph.ids[parent[i] as usize]);
        l.on_hand = on_hand.get(&l.id).copied().unwrap_or_default();
        let mut v: Vec<String> = vias[via_from[i] as usize..via_from[i + 1] as usize]
            .iter()
            .map(|(_, via)| match *via {
                VIA_SPLIT => "split".to_string(),
                VIA_REPACK => "repack".to_string(),
                run => run_numbers.get(&graph.runs[run as usize]).cloned().unwrap_or_default(),
            })
            .collect();
        v.sort();
        v.dedup();
        l.via = v;
        if let Some((share, concentration)) = fractions.get(&l.id) {
            l.share = *share;
            l.concentration = *concentration;
        }
    });
    // A lot's (material, code) is unique: the unstable sort gives the one order, faster.
    lots.sort_unstable_by(|a, b| (a.depth, &a.material, &a.code).cmp(&(b.depth, &b.material, &b.code)));
    tracing::debug!(
        trace.ms = clock.elapsed().as_secs_f64() * 1000.0,
        "trace: facts, stock, shipments and quantities done"
    );
    let start_lot = lots.iter().find(|l| l.id == start).cloned().ok_or(Error::NotFound)?;
    let by_id: IdMap<&TracedLot> = lots.iter().map(|l| (l.id, l)).collect();
    let code_of = |lot: u32| by_id.get(&graph.ids[lot as usize]).map(|l| l.code.clone());

    // The stock and the shipments (a hundred thousand of each for a tank) side by side.
    let stock = || {
        let mut stock: Vec<TracedStock> = if forward {
            stock_rows
                .into_iter()
                .filter(|(_, _, quantity)| *quantity > Decimal::ZERO)
                .filter_map(|(lot, location, quantity)| {
                    let l = by_id.get(&lot)?;
                    Some(TracedStock {
                        lot: l.code.clone(),
                        material: l.material.clone(),
                        location,
                        quantity,
                        uom: l.uom.clone(),
                    })
                })
                .collect()
        } else {
            Vec::new()
        };
        // One row per lot and location: the unstable sort gives the one order.
        stock.sort_unstable_by(|a, b| (&a.material, &a.lot, &a.location).cmp(&(&b.material, &b.lot, &b.location)));
        stock
    };
    let shipped = || {
        let mut ship_rows: Vec<ShipRow> = ship_rows
            .into_iter()
            // Precise: a shipment carries the start lot's material only if it left after it arrived.
            .filter(|r| {
                mode == Mode::LotLevel || r.lot_id == start || reached_at(&r.lot_id).is_none_or(|a| r.shipped_at >= a)
            })
            .collect();
        ship_rows.sort_by(|a, b| (a.shipped_at, &a.number).cmp(&(b.shipped_at, &b.number)));
        // Each customer once (a tank's trace has a hundred thousand lines for a few hundred).
        let mut seen: HashMap<&str, (&str, bool)> = HashMap::new();
        for r in &ship_rows {
            let entry = seen.entry(&r.customer_code).or_insert((&r.customer, true));
            entry.1 &= r.reversed;
        }
        let mut customers: Vec<Customer> = seen
            .into_iter()
            .map(|(code, (name, reversed))| Customer { code: code.to_string(), name: name.to_string(), reversed })
            .collect();
        customers.sort_by(|a, b| (&a.name, &a.code).cmp(&(&b.name, &b.code)));
        let shipments: Vec<TracedShipment> = ship_rows
            .into_iter()
            .filter_map(|r| {
                let l = by_id.get(&r.lot_id)?;
                Some(TracedShipment {
                    shipment: r.number,
                    customer: r.customer,
                    lot: l.code.clone(),
                    material: l.material.clone(),
                    quantity: r.quantity,
                    uom: l.uom.clone(),
                    shipped_on: r.shipped_at.date_naive(),
                    reversed: r.reversed,
                })
            })
            .collect();
        (customers, shipments)
    };
    let (stock, (customers, shipments)) = side_by_side(large, stock, shipped);
    let mut cycle_list: Vec<Cycle> =
        cycles.into_iter().filter_map(|(a, b)| Some(Cycle { from: code_of(a)?, to: code_of(b)? })).collect();
    cycle_list.sort_by(|a, b| (&a.from, &a.to).cmp(&(&b.from, &b.to)));
    cycle_list.dedup_by(|a, b| a.from == b.from && a.to == b.to);
    tracing::debug!(trace.ms = clock.elapsed().as_secs_f64() * 1000.0, "trace: assembled");
    Ok(Trace {
        direction,
        mode,
        start: start_lot,
        lots,
        stock,
        shipments,
        customers,
        cycles: cycle_list,
        links: used_links,
        quantities: quantities_computed,
        start_kg,
    })
}

/// From this many lots a trace's assembly runs on two threads: the work is a few hundred
/// nanoseconds a lot (map lookups, copies of short strings), a tenth of a second for a tank's
/// hundred thousand, and the database is idle by then.
const TWO_THREADS: usize = 20_000;

/// Applies `f` to every lot; when `large`, to each half on its own thread.
fn on_halves(large: bool, lots: &mut [TracedLot], f: impl Fn(&mut TracedLot) + Sync) {
    if !large {
        lots.iter_mut().for_each(f);
        return;
    }
    let (first, second) = lots.split_at_mut(lots.len() / 2);
    std::thread::scope(|s| {
        s.spawn(|| first.iter_mut().for_each(&f));
        second.iter_mut().for_each(&f);
    });
}

/// Runs `a` and `b`; when `large`, `a` on a thread of its own meanwhile.
fn side_by_side<A: Send, B>(large: bool, a: impl FnOnce() -> A + Send, b: impl FnOnce() -> B) -> (A, B) {
    if !large {
        return (a(), b());
    }
    std::thread::scope(|s| {
        let a = s.spawn(a);
        let b = b();
        (a.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)), b)
    })
}

struct ShipRow {
    lot_id: Uuid,
    number: String,
    customer_code: String,
    customer: String,
    quantity: Decimal,
    shipped_at: DateTime<Utc>,
    reversed: bool,
}

#[cfg(test)]
mod tests {
    use std::hash::{BuildHasher, BuildHasherDefault};

    use super::{IdHasher, TracedLot, on_halves, side_by_side};

    #[test]
    fn a_large_assembly_on_two_threads_reaches_every_lot_and_returns_both_answers() {
        for (large, n) in [(false, 5), (true, 5), (true, 20_001)] {
            let mut lots: Vec<TracedLot> = (0..n)
                .map(|i| TracedLot {
                    id: uuid::Uuid::from_u128(i),
                    material: String::new(),
                    material_name: String::new(),
                    code: String::new(),
                    status: String::new(),
                    depth: 0,
                    reached_at: None,
                    via: Vec::new(),
                    parent: None,
                    on_hand: Default::default(),
                    uom: String::new(),
                    supplier: None,
                    supplier_lot: None,
                    share: None,
                    concentration: None,
                })
                .collect();
            on_halves(large, &mut lots, |l| l.depth = l.id.as_u128() as u32 + 1);
            assert!(lots.iter().enumerate().all(|(i, l)| l.depth == i as u32 + 1), "every lot, once");
            let thread = std::thread::current().id();
            let (a, b) = side_by_side(large, || (std::thread::current().id(), 1), || (std::thread::current().id(), 2));
            assert_eq!((a.1, b.1), (1, 2));
            assert_eq!(b.0, thread, "the second on the calling thread");
            assert_eq!(a.0 != thread, large, "the first on its own thread when large");
        }
    }

    /// Ids of one millisecond that differ only in a counter (RFC 9562 v7, method 1, as a bulk
    /// import makes them) still spread over a map's buckets, which take the hash's low bits.
    #[test]
    fn ids_that_differ_only_in_a_counter_spread_over_the_buckets() {
        let hasher = BuildHasherDefault::<IdHasher>::default();
        let buckets: std::collections::HashSet<u64> = (0u64..65_536)
            .map(|counter| {
                let mut bytes = [0x01, 0x9a, 0xc4, 0x12, 0x34, 0x56, 0x70, 0x00, 0x80, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef];
                bytes[9..12].copy_from_slice(&counter.to_be_bytes()[5..8]);
                hasher.hash_one(uuid::Uuid::from_bytes(bytes)) & 0xffff
            })
            .collect();
        // Random hashes fill about 63 % of 65,536 buckets; without the fold all fell in one.
        assert!(buckets.len() > 30_000, "only {} of 65,536 buckets used", buckets.len());
    }
}
