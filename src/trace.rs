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

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

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
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Customer {
    pub code: String,
    pub name: String,
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

/// Frees what holds a large trace on a blocking thread, after its answer was made: a tank's
/// trace of 100,000 lots is a million small allocations, 120-145 ms to free, which the answer
/// need not wait for. Small ones are freed at once.
pub fn drop_later<T: std::borrow::Borrow<Trace> + Send + 'static>(value: T) {
    if value.borrow().is_large()
        && let Ok(runtime) = tokio::runtime::Handle::try_current()
    {
        runtime.spawn_blocking(move || drop(value));
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct Link {
    pub(crate) from_lot_id: Uuid,
    pub(crate) to_lot_id: Uuid,
    pub(crate) occurred_at: DateTime<Utc>,
    pub(crate) run_id: Option<Uuid>,
    /// The link's kind where no run made it (split, repack); None for run links.
    pub(crate) kind: Option<String>,
}

/// The closure as the walk reads it: its lots numbered from 0 (the start) in the order first
/// met, each lot's links (in their order) one slice of `edges`. Arrays indexed by that number
/// replace the maps by lot id the walk filled before: a tank's trace of 107,290 lots and 300,000
/// links built 88-byte links and five maps of a hundred thousand entries, 120-290 ms; now 16-byte
/// edges and a few arrays.
pub(crate) struct Closure {
    pub(crate) ids: Vec<Uuid>,
    /// Lot `i`'s edges are `edges[offsets[i]..offsets[i + 1]]`.
    offsets: Vec<u32>,
    edges: Vec<Edge>,
    /// The runs the edges name (`Edge::via` below `VIA_REPACK`).
    runs: Vec<Uuid>,
    /// The numbers of those runs that are known already (from the index: every one).
    pub(crate) run_numbers: IdMap<String>,
}

#[derive(Clone, Copy)]
pub(crate) struct Edge {
    /// The lot at the other end.
    next: u32,
    /// The run (its place in `Closure::runs`), or VIA_SPLIT / VIA_REPACK.
    via: u32,
    /// Microseconds since the Unix epoch.
    at: i64,
}

const VIA_SPLIT: u32 = u32::MAX;
const VIA_REPACK: u32 = u32::MAX - 1;

/// Builds a `Closure` lot by lot, in the order the lots are numbered (the start is 0): `number`
/// numbers each lot a link leads to, `edge` adds that link to the lot being built, `close_lot`
/// ends the lot; `built` < `lots` while numbered lots wait for their links.
pub(crate) struct ClosureBuilder {
    graph: Closure,
    /// Each lot's number.
    numbers: IdMap<u32>,
    runs: IdMap<u32>,
}

impl ClosureBuilder {
    pub(crate) fn new(start: Uuid) -> ClosureBuilder {
        ClosureBuilder {
            graph: Closure {
                ids: vec![start],
                offsets: vec![0],
                edges: Vec::new(),
                runs: Vec::new(),
                run_numbers: IdMap::default(),
            },
            numbers: IdMap::from_iter([(start, 0)]),
            runs: IdMap::default(),
        }
    }

    /// The number of lot `id`, and whether it is new (numbered now, its links to be built
    /// after those of the lots numbered before it).
    pub(crate) fn number(&mut self, id: Uuid) -> (u32, bool) {
        let next = self.graph.ids.len() as u32;
        let n = *self.numbers.entry(id).or_insert(next);
        if n == next {
            self.graph.ids.push(id);
        }
        (n, n == next)
    }

    /// A link of the lot being built to lot `next` (numbered), by `run` or a split/repack.
    pub(crate) fn edge(&mut self, next: u32, run: Option<Uuid>, repack: bool, at: i64) {
        let via = match run {
            Some(run) => *self.runs.entry(run).or_insert_with(|| {
                self.graph.runs.push(run);
                self.graph.runs.len() as u32 - 1
            }),
            None if repack => VIA_REPACK,
            None => VIA_SPLIT,
        };
        self.graph.edges.push(Edge { next, via, at });
    }

    pub(crate) fn close_lot(&mut self) {
        self.graph.offsets.push(self.graph.edges.len() as u32);
    }

    /// How many lots have their links in (the next to build is this one).
    pub(crate) fn built(&self) -> usize {
        self.graph.offsets.len() - 1
    }

    pub(crate) fn lots(&self) -> usize {
        self.graph.ids.len()
    }

    pub(crate) fn id(&self, lot: usize) -> Uuid {
        self.graph.ids[lot]
    }

    pub(crate) fn run_number(&mut self, run: Uuid, number: &str) {
        if !number.is_empty() && !self.graph.run_numbers.contains_key(&run) {
            self.graph.run_numbers.insert(run, number.to_string());
        }
    }

    pub(crate) fn finish(self) -> Closure {
        self.graph
    }
}

impl Closure {
    fn edges_of(&self, lot: u32) -> &[Edge] {
        &self.edges[self.offsets[lot as usize] as usize..self.offsets[lot as usize + 1] as usize]
    }
}

/// Hashes a lot id with two multiply-rotate rounds (one per half) and folds the high bits,
/// which the multiplications mix well, onto the low ones, which pick the bucket: the walk does
/// several map operations per link, and a keyed general-purpose hash is wasted on them. No byte
/// of an id may be taken as random: a version-7 id may carry a counter after its millisecond
/// (RFC 9562, method 1, as the bulk import's ids do), and ids of one batch then differ only there.
#[derive(Default, Clone, Copy)]
pub struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 32)
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(word)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
}

pub(crate) type IdMap<V> = HashMap<Uuid, V, std::hash::BuildHasherDefault<IdHasher>>;

/// Every link of the lot-level closure from `start`, grouped by the lot they leave (forward) or
/// reach (backward). One round trip (migration 0007): a recursive query finds the closure's lots
/// as the plain recursive baseline does, then their links are read from the same index; both are
/// index-only reads of (from lot, time) include (to lot, run) and the reverse.
async fn closure(pool: &PgPool, start: Uuid, forward: bool) -> Result<Closure, Error> {
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

/// Shares and concentrations are computed for traces up to this many lots; beyond it the sweep
/// over every reached lot's ledger would keep a QA manager waiting, and the lots say "unknown".
pub const MAX_LOTS_FOR_QUANTITIES: usize = 10_000;

/// Finds a lot by material code and lot code.
pub async fn find_lot(pool: &PgPool, material: &str, code: &str) -> Result<Uuid, Error> {
    sqlx::query_scalar("select l.id from lots l join materials m on m.id = l.material_id where m.code = upper($1) and upper(l.code) = upper($2)")
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

/// Traces from `start`, walking the link index (`crate::links`) when one is given and ready; it
/// must be an index of the database `pool` reads.
pub async fn trace_with(
    pool: &PgPool,
    links: Option<&std::sync::Arc<crate::links::LinkIndex>>,
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
    let n = graph.ids.len();

    // 1. When each lot is reached: forward the earliest arrival of the start lot's material,
    //    backward the latest time it could have fed the start lot (Dijkstra on time; a lot
    //    reached again at a better time is expanded again). Lot-level: every lot of the closure.
    //    None: not reached; Some(None): reached with no time (the start, or lot-level).
    let mut best: Vec<Option<Option<i64>>> = vec![None; n];
    best[0] = Some(None);
    if mode == Mode::LotLevel {
        best.fill(Some(None));
    } else {
        let key = |t: Option<i64>| -> i128 {
            match t {
                None => i128::MIN,
                Some(t) if forward => t as i128,
                Some(t) => -(t as i128),
            }
        };
        let mut heap: BinaryHeap<Reverse<(i128, u32)>> = BinaryHeap::new();
        heap.push(Reverse((key(None), 0)));
        while let Some(Reverse((k, lot))) = heap.pop() {
            let at = best[lot as usize].flatten();
            if k != key(at) {
                continue; // stale: reached at a better time since
            }
            for e in graph.edges_of(lot) {
                let usable = at.is_none_or(|a| if forward { e.at >= a } else { e.at <= a });
                if !usable || e.next == 0 {
                    continue;
                }
                let better = match best[e.next as usize] {
                    None => true,
                    Some(Some(old)) => {
                        if forward {
                            e.at < old
                        } else {
                            e.at > old
                        }
                    }
                    Some(None) => false,
                };
                if better {
                    best[e.next as usize] = Some(Some(e.at));
                    heap.push(Reverse((key(Some(e.at)), e.next)));
                }
            }
        }
    }
    let usable = |owner: u32, e: &Edge| match best[owner as usize] {
        None => false,
        Some(None) => true,
        Some(Some(a)) => mode == Mode::LotLevel || if forward { e.at >= a } else { e.at <= a },
    };

    // 2. Depth (fewest links), the tree the page draws, the runs that link each lot, and the
    //    cycles met: a breadth-first walk over the usable links.
    const NONE: u32 = u32::MAX;
    let mut depth: Vec<u32> = vec![NONE; n];
    depth[0] = 0;
    let mut parent: Vec<u32> = vec![NONE; n];
    // (lot, how it was reached) for every usable link.
    let mut vias: Vec<(u32, u32)> = Vec::new();
    let mut cycles: Vec<(u32, u32)> = Vec::new();
    let mut used_links = 0usize;
    let mut queue = std::collections::VecDeque::from([0u32]);
    while let Some(lot) = queue.pop_front() {
        let here = depth[lot as usize];
        for e in graph.edges_of(lot) {
            // Lot-level, every link of a reached lot counts.
            if mode == Mode::Precise && !usable(lot, e) {
                continue;
            }
            used_links += 1;
            let next = e.next;
            vias.push((next, e.via));
            let d = depth[next as usize];
            if d != NONE {
                // Back to the lot itself, the start, or (shallower) one of its ancestors.
                if next == lot || next == 0 || (d < here && is_ancestor(&parent, next, lot)) {
                    cycles.push((lot, next));
                }
                continue;
            }
            depth[next as usize] = here + 1;
            parent[next as usize] = lot;
            queue.push_back(next);
        }
    }
    // Each lot's ways in, once each, together.
    vias.sort_unstable();
    vias.dedup();
    let mut via_from: Vec<u32> = vec![0; n + 1];
    for (lot, _) in &vias {
        via_from[*lot as usize + 1] += 1;
    }
    for i in 0..n {
        via_from[i + 1] += via_from[i];
    }

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
    // stored in that order) share index and table pages. A 100,000-id lot read took half the
    // time sorted (`trace_lots`, which joins the array in its own order; the other reads, which
    // PostgreSQL sorts itself, 10-40 % less).
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
        }
        // The customers (a few hundred at most) joined in the same statement: one round trip.
        let lines: Vec<Line> = sqlx::query_as(
            "select s.lot_id, s.number, p.code as customer_code, p.name as customer, s.quantity, s.shipped_at
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
        l.depth = if depth[i] == NONE { 0 } else { depth[i] };
        l.reached_at = best[i].flatten().and_then(DateTime::<Utc>::from_timestamp_micros);
        l.parent = (parent[i] != NONE).then(|| graph.ids[parent[i] as usize]);
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
        let mut seen: HashMap<&str, &str> = HashMap::new();
        for r in &ship_rows {
            seen.entry(&r.customer_code).or_insert(&r.customer);
        }
        let mut customers: Vec<Customer> =
            seen.into_iter().map(|(code, name)| Customer { code: code.to_string(), name: name.to_string() }).collect();
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
}

/// Per reached lot its share and concentration, and the start lot's kg received over its life.
type Fractions = (HashMap<Uuid, (Option<Decimal>, Option<Decimal>)>, Option<Decimal>);

/// One movement in the quantity sweep, in the lot's own unit.
#[derive(sqlx::FromRow)]
struct FlowRow {
    id: i64,
    lot_id: Uuid,
    kind: String,
    quantity: Decimal,
    run_id: Option<Uuid>,
    posting_id: Uuid,
    occurred_at: DateTime<Utc>,
}

/// One movement in the quantity sweep, in kg (None where the unit has no known mass).
struct Flow {
    lot_id: Uuid,
    kind: String,
    kg: Option<Decimal>,
    run_id: Option<Uuid>,
    posting_id: Uuid,
}

/// The share and concentration of the start lot's material in every reached lot, by a sweep over
/// the ledger in time order that treats every lot, and every run, as perfectly mixed: a draw takes
/// the lot's current mix; a run's output takes the mix of everything the run consumed so far.
/// Reversed movements (and their reversals) are left out, as if they never happened.
async fn quantities(
    pool: &PgPool,
    start: Uuid,
    reached: &[Uuid],
    from_index: Option<crate::links::SweepInputs>,
) -> Result<Fractions, Error> {
    // The reached lots' own movements and their runs' other inputs (migration 0007), then the
    // mass of a unit of each lot they touch.
    let reached_set: HashSet<Uuid> = reached.iter().copied().collect();
    let began = std::time::Instant::now();
    let (rows, kg_per_unit) = match from_index {
        Some(crate::links::SweepInputs { runs, mut kg_per_unit, unknown }) => {
            // Two reads at once (migration 0015): the lots' own movements, their runs'
            // consumptions; and the kilograms per unit of any lot whose material the index lacks.
            let own = sqlx::query_as::<_, FlowRow>(
                "select id, lot_id, kind, quantity, run_id, posting_id, occurred_at from trace_flows_own($1)",
            )
            .bind(reached)
            .fetch_all(pool);
            let consumed = sqlx::query_as::<_, FlowRow>(
                "select id, lot_id, kind, quantity, run_id, posting_id, occurred_at from trace_flows_consumed($1)",
            )
            .bind(&runs)
            .fetch_all(pool);
            let kg = async {
                if unknown.is_empty() {
                    return Ok(Vec::new());
                }
                sqlx::query_as::<_, (Uuid, Option<Decimal>)>("select lot_id, kg from trace_kg_per_unit($1)")
                    .bind(&unknown)
                    .fetch_all(pool)
                    .await
            };
            let (mut rows, consumed, kg) = tokio::try_join!(own, consumed, kg)?;
            // A reached lot's own consumptions came with its movements.
            rows.extend(consumed.into_iter().filter(|r| !reached_set.contains(&r.lot_id)));
            kg_per_unit.extend(kg);
            // An input the index does not link to the run (its link was reversed with the
            // run's output, not its own posting) is read on its own.
            let missing = distinct(rows.iter().map(|r| r.lot_id).filter(|l| !kg_per_unit.contains_key(l)));
            if !missing.is_empty() {
                let kg: Vec<(Uuid, Option<Decimal>)> = sqlx::query_as("select lot_id, kg from trace_kg_per_unit($1)")
                    .bind(&missing)
                    .fetch_all(pool)
                    .await?;
                kg_per_unit.extend(kg);
            }
            (rows, kg_per_unit)
        }
        None => flows_in_one_read(pool, reached, &reached_set).await?,
    };
    tracing::debug!(trace.flows = rows.len(), trace.ms = began.elapsed().as_secs_f64() * 1000.0, "trace: flows read");
    sweep(start, &reached_set, rows, kg_per_unit)
}

/// The share sweep's ledger and kilograms per unit without the link index: the runs come from
/// the lots' own movements, in the same statement.
async fn flows_in_one_read(
    pool: &PgPool,
    reached: &[Uuid],
    reached_set: &HashSet<Uuid>,
) -> Result<(Vec<FlowRow>, IdMap<Option<Decimal>>), Error> {
    // One statement, two kinds of rows: the flows, then the kilograms per unit of each lot they
    // touch, looked up once per lot (a join per flow measured slower on the heaviest lot).
    #[derive(sqlx::FromRow)]
    struct Read {
        id: Option<i64>,
        lot_id: Uuid,
        kind: Option<String>,
        quantity: Option<Decimal>,
        run_id: Option<Uuid>,
        posting_id: Option<Uuid>,
        occurred_at: Option<DateTime<Utc>>,
        /// Read as another input of a reached lot's run (a reached lot's own is read twice).
        outside: bool,
        kg: Option<Decimal>,
    }
    let read: Vec<Read> = sqlx::query_as(
        "with f as materialized (
             select id, lot_id, kind, quantity, run_id, posting_id, occurred_at, outside from trace_flows($1)
         )
         select id, lot_id, kind, quantity, run_id, posting_id, occurred_at, outside, null::numeric as kg from f
         union all
         select null, k.lot_id, null, null, null, null, null, false, k.kg
           from trace_kg_per_unit(array(select distinct lot_id from f)) k",
    )
    .bind(reached)
    .fetch_all(pool)
    .await?;
    let mut kg_per_unit: IdMap<Option<Decimal>> = IdMap::default();
    let mut rows: Vec<FlowRow> = Vec::with_capacity(read.len());
    for r in read {
        match (r.id, r.kind, r.quantity, r.posting_id, r.occurred_at) {
            (Some(id), Some(kind), Some(quantity), Some(posting_id), Some(occurred_at)) => {
                if !(r.outside && reached_set.contains(&r.lot_id)) {
                    rows.push(FlowRow {
                        id,
                        lot_id: r.lot_id,
                        kind,
                        quantity,
                        run_id: r.run_id,
                        posting_id,
                        occurred_at,
                    });
                }
            }
            _ => {
                kg_per_unit.insert(r.lot_id, r.kg);
            }
        }
    }
    Ok((rows, kg_per_unit))
}

/// Shares and concentrations from the ledger rows, in each lot's unit, and the kg per unit.
fn sweep(
    start: Uuid,
    reached_set: &HashSet<Uuid>,
    mut rows: Vec<FlowRow>,
    kg_per_unit: IdMap<Option<Decimal>>,
) -> Result<Fractions, Error> {
    // In time order; at one instant what flows in first, then draws, then what runs put out.
    let order = |r: &FlowRow| match (r.kind.as_str(), r.quantity > Decimal::ZERO) {
        ("produce" | "split", true) => 2,
        (_, false) => 1,
        _ => 0,
    };
    rows.sort_by_key(|a| (a.occurred_at, order(a), a.id));
    let flows: Vec<Flow> = rows
        .into_iter()
        .map(|r| Flow {
            lot_id: r.lot_id,
            kg: kg_per_unit.get(&r.lot_id).copied().flatten().map(|k| r.quantity * k),
            kind: r.kind,
            run_id: r.run_id,
            posting_id: r.posting_id,
        })
        .collect();
    let clock = std::time::Instant::now();
    let flow_count = flows.len();
    // Per lot: content and suspect now, and suspect and content received over its life.
    #[derive(Default, Clone, Copy)]
    struct Mix {
        content: Option<Decimal>,
        suspect: Option<Decimal>,
        received: Option<Decimal>,
        received_suspect: Option<Decimal>,
    }
    let zero = Some(Decimal::ZERO);
    let fresh = Mix { content: zero, suspect: zero, received: zero, received_suspect: zero };
    let mut lots: HashMap<Uuid, Mix> = HashMap::new();
    // Per run (or split posting): consumed total and consumed suspect.
    let mut pools: HashMap<Uuid, (Option<Decimal>, Option<Decimal>)> = HashMap::new();
    let add = |a: Option<Decimal>, b: Option<Decimal>| Some(a? + b?);
    for f in flows {
        let mix = lots.entry(f.lot_id).or_insert(fresh);
        let pool_key = f.run_id.unwrap_or(f.posting_id);
        let inflow = f.kg.is_none_or(|k| k > Decimal::ZERO);
        if inflow {
            let amount = f.kg;
            let suspect = if f.lot_id == start {
                amount
            } else {
                match f.kind.as_str() {
                    "produce" | "split" => {
                        let (total, susp) = pools.get(&pool_key).copied().unwrap_or((zero, zero));
                        match (amount, total, susp) {
                            (Some(a), Some(t), Some(s)) if t > Decimal::ZERO => Some(a * s / t),
                            (Some(_), Some(_), Some(_)) => zero,
                            _ => None,
                        }
                    }
                    _ => zero,
                }
            };
            mix.content = add(mix.content, amount);
            mix.suspect = add(mix.suspect, suspect);
            mix.received = add(mix.received, amount);
            mix.received_suspect = add(mix.received_suspect, suspect);
        } else {
            let amount = f.kg.map(|k| -k);
            let taken = match (amount, mix.content, mix.suspect) {
                (Some(a), Some(c), Some(s)) if c > Decimal::ZERO => Some(a * s / c),
                (Some(_), Some(_), Some(_)) => zero,
                _ => None,
            };
            mix.content = add(mix.content, amount.map(|a| -a));
            mix.suspect = add(mix.suspect, taken.map(|t| -t));
            if f.kind == "consume" || f.kind == "split" {
                let entry = pools.entry(pool_key).or_insert((zero, zero));
                *entry = (add(entry.0, amount), add(entry.1, taken));
            }
        }
    }
    tracing::debug!(trace.flows = flow_count, trace.ms = clock.elapsed().as_secs_f64() * 1000.0, "trace: shares swept");
    let total = lots.get(&start).and_then(|m| m.received);
    let mut out = HashMap::new();
    for (id, mix) in lots {
        if !reached_set.contains(&id) {
            continue;
        }
        let share = match (mix.received_suspect, total) {
            (Some(s), Some(t)) if t > Decimal::ZERO => Some((s / t).round_dp(6).normalize()),
            _ => None,
        };
        let concentration = match (mix.received_suspect, mix.received) {
            (Some(s), Some(r)) if r > Decimal::ZERO => Some((s / r).round_dp(6).normalize()),
            _ => None,
        };
        out.insert(id, (share, concentration));
    }
    Ok((out, total.map(|t| t.normalize())))
}

/// The ids, each once (sorted), to bind as one array.
fn distinct(ids: impl Iterator<Item = Uuid>) -> Vec<Uuid> {
    let mut v: Vec<Uuid> = ids.collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// Whether `candidate` lies on the path from the start to `node` in the walk's tree.
fn is_ancestor(parent: &[u32], candidate: u32, node: u32) -> bool {
    let mut current = node;
    let mut steps = 0;
    while let Some(&p) = parent.get(current as usize) {
        if p == u32::MAX {
            break;
        }
        if p == candidate {
            return true;
        }
        current = p;
        steps += 1;
        if steps > 100_000 {
            break;
        }
    }
    false
}

async fn lot_facts(pool: &PgPool, ids: &[Uuid]) -> Result<Vec<TracedLot>, Error> {
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
        site_id: Uuid,
    }
    // The few materials and suppliers they name joined by hash in the same statement; the open
    // holds (few, on few lots) read at the same time.
    let rows = sqlx::query_as::<_, Row>(
        "select t.id, t.code, m.code as material, m.name as material_name, m.uom, p.name as supplier, t.supplier_lot,
                t.disposition, t.expires_on, t.site_id
           from trace_lot_rows($1) t join materials m on m.id = t.material_id left join parties p on p.id = t.supplier_id",
    )
    .bind(ids)
    .fetch_all(pool);
    let holds = sqlx::query_as::<_, (Uuid, i64, bool)>("select lot_id, open_holds, recalled from trace_open_holds($1)")
        .bind(ids)
        .fetch_all(pool);
    // Each lot's status is judged by its own site's date.
    let today = sqlx::query_as::<_, (Uuid, NaiveDate)>("select id, site_today(id) from sites").fetch_all(pool);
    let (rows, holds, today) = tokio::try_join!(rows, holds, today)?;
    let holds: IdMap<(i64, bool)> = holds.into_iter().map(|(lot, n, recalled)| (lot, (n, recalled))).collect();
    let today: HashMap<Uuid, NaiveDate> = today.into_iter().collect();
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
            let today = today.get(&r.site_id).copied().unwrap_or_else(|| Utc::now().date_naive());
            let status = crate::domain::status::label(&state, today).to_string();
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

/// The trace as CSV: one row per lot, then one per shipment (RFC 4180 quoting).
pub fn to_csv(t: &Trace) -> String {
    fn q(s: &str) -> String {
        if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
    }
    let mut out = String::from(
        "record,depth,material,lot,status,on_hand,uom,via,supplier,supplier_lot,shipment,customer,quantity,shipped_on\r\n",
    );
    for l in &t.lots {
        out.push_str(&format!(
            "lot,{},{},{},{},{},{},{},{},{},,,,\r\n",
            l.depth,
            q(&l.material),
            q(&l.code),
            q(&l.status),
            l.on_hand.normalize(),
            q(&l.uom),
            q(&l.via.join(" ")),
            q(l.supplier.as_deref().unwrap_or("")),
            q(l.supplier_lot.as_deref().unwrap_or(""))
        ));
    }
    for s in &t.shipments {
        out.push_str(&format!(
            "shipment,,{},{},,,{},,,,{},{},{},{}\r\n",
            q(&s.material),
            q(&s.lot),
            q(&s.uom),
            q(&s.shipment),
            q(&s.customer),
            s.quantity.normalize(),
            s.shipped_on
        ));
    }
    out
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
