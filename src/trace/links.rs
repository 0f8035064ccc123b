//! The genealogy link index: a compact copy of the live links (`genealogy_links` rows not
//! reversed) in the server's memory, in both directions, for the trace's walk.
//!
//! Why: a trace's first step is the lot-level closure of its start lot, every link reachable from
//! it. In PostgreSQL that is a recursive query plus a read of each reached lot's links: index
//! probes and the decoding of every row, per link; here it is a walk over arrays. The facts of the reached lots (status, stock, shipments, the ledger for shares)
//! are still read from the database, where they change all day.
//!
//! How it stays true: every transaction that writes a link notes both of its lots in
//! `lot_touches` (migration 0013, the same rows the lot-page cache goes by). Before each trace the
//! index reads the lots touched by the transactions committed since its snapshot, in one round
//! trip, and replaces those lots' link lists with a fresh read; so a trace sees every link
//! committed before it began, as the recursive query would. A background task does the same every
//! second, to keep that read small and to stay within the minute for which touch rows are kept. A
//! change touching "every lot" that added links (a bulk import) rebuilds the index in the
//! background, and traces read the closure from the database until it is ready, as they do while
//! the index is first built or whenever it cannot be refreshed.
//!
//! It also keeps what never changes of the lots and runs it holds and a trace would otherwise
//! read for each: every lot's material (with each material's kilograms per unit, read again when
//! master data changes), and every run's number: two reads fewer for every trace with shares.
//!
//! Memory: 16 bytes per link per direction plus a few dozen bytes per lot and per run
//! (docs/benchmarks.md has the figure for a plant of a million lots).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::PgPool;
use uuid::Uuid;

use super::closure::{Closure, ClosureBuilder, IdHasher};

/// What links one lot to the next: a run (index into `runs`) or a split or a repack.
const SPLIT: u32 = u32::MAX;
const REPACK: u32 = u32::MAX - 1;

/// A lot whose material the index has not read.
const NO_MATERIAL: u32 = u32::MAX;

#[derive(Clone, Copy)]
struct Edge {
    /// The lot at the other end.
    other: u32,
    via: u32,
    /// Microseconds since the Unix epoch.
    at: i64,
}

/// Lists of edges per lot, as one array with offsets (built once), and lists replaced since.
#[derive(Default)]
struct Lists {
    offsets: Vec<u32>,
    edges: Vec<Edge>,
    changed: HashMap<u32, Vec<Edge>>,
}

impl Lists {
    fn of(&self, lot: u32) -> &[Edge] {
        match self.changed.get(&lot) {
            Some(list) => list,
            None => self.base(lot),
        }
    }

    /// The list as built.
    fn base(&self, lot: u32) -> &[Edge] {
        let i = lot as usize;
        if i + 1 < self.offsets.len() {
            &self.edges[self.offsets[i] as usize..self.offsets[i + 1] as usize]
        } else {
            &[]
        }
    }

    /// Builds the arrays from (owner, edge) pairs.
    fn build(lots: usize, pairs: &[(u32, Edge)]) -> Lists {
        let mut offsets = vec![0u32; lots + 1];
        for (owner, _) in pairs {
            offsets[*owner as usize + 1] += 1;
        }
        for i in 0..lots {
            offsets[i + 1] += offsets[i];
        }
        let mut next = offsets.clone();
        let mut edges = vec![Edge { other: 0, via: 0, at: 0 }; pairs.len()];
        for (owner, edge) in pairs {
            let slot = &mut next[*owner as usize];
            edges[*slot as usize] = *edge;
            *slot += 1;
        }
        Lists { offsets, edges, changed: HashMap::new() }
    }
}

type IdIndex = HashMap<Uuid, u32, std::hash::BuildHasherDefault<IdHasher>>;

/// The index proper.
#[derive(Default)]
struct Graph {
    ids: Vec<Uuid>,
    index: IdIndex,
    /// Per lot (as `ids`): its material, an index into `materials` (or NO_MATERIAL).
    material: Vec<u32>,
    /// Per material: its id and its kilograms per unit (None where its unit has no known mass).
    materials: Vec<(Uuid, Option<Decimal>)>,
    material_index: HashMap<Uuid, u32>,
    runs: Vec<Uuid>,
    /// Per entry of `runs`: the run's number (empty if not read).
    run_numbers: Vec<Box<str>>,
    down: Lists,
    up: Lists,
    /// The database snapshot it reflects (`pg_current_snapshot()` text), and when it was taken.
    snapshot: String,
    taken: Option<Instant>,
    /// The highest link id when it was built: a change of "every lot" rebuilds it only if links
    /// were added.
    max_link: i64,
    /// Lots whose lists were replaced since it was built (it is rebuilt past a bound).
    replaced: usize,
}

impl Graph {
    fn lot(&mut self, id: Uuid) -> u32 {
        if let Some(i) = self.index.get(&id) {
            return *i;
        }
        let i = self.ids.len() as u32;
        self.ids.push(id);
        self.material.push(NO_MATERIAL);
        self.index.insert(id, i);
        i
    }

    /// Notes the material of lot `lot` (an index into `ids`).
    fn set_material(&mut self, lot: u32, material: Uuid) {
        // A material not read yet leaves the lot unread (a trace reads its kilograms per unit).
        if let Some(m) = self.material_index.get(&material) {
            self.material[lot as usize] = *m;
        }
    }

    /// Replaces the materials' kilograms per unit (keeping each material's index).
    fn set_materials(&mut self, rows: Vec<(Uuid, Option<Decimal>)>) {
        for (id, kg) in rows {
            match self.material_index.get(&id) {
                Some(m) => self.materials[*m as usize].1 = kg,
                None => {
                    self.material_index.insert(id, self.materials.len() as u32);
                    self.materials.push((id, kg));
                }
            }
        }
    }

    /// `known`: the runs numbered so far, while building (a refresh adds its few runs again).
    /// `number`: the run's number, if read with the link.
    fn via(&mut self, run: Option<Uuid>, kind: &str, known: Option<&mut HashMap<Uuid, u32>>, number: &str) -> u32 {
        match run {
            Some(r) => {
                if let Some(known) = known {
                    if let Some(i) = known.get(&r) {
                        return *i;
                    }
                    known.insert(r, self.runs.len() as u32);
                }
                self.runs.push(r);
                self.run_numbers.push(number.into());
                (self.runs.len() - 1) as u32
            }
            None if kind == "repack" => REPACK,
            None => SPLIT,
        }
    }
}

/// Rebuilt past this many replaced lot lists (they cost a map entry each).
const MAX_REPLACED: usize = 200_000;

/// A refresh older than this rebuilds instead: touch rows are kept for a minute.
const MAX_AGE: Duration = Duration::from_secs(30);

/// The index, shared by a server's requests; empty (and unused) until built.
#[derive(Default)]
pub struct LinkIndex {
    graph: RwLock<Graph>,
    ready: AtomicBool,
    /// One refresh at a time, and when the last one began.
    refresh: tokio::sync::Mutex<Option<Instant>>,
    building: AtomicBool,
}

/// One link row as read.
#[derive(sqlx::FromRow)]
struct Row {
    from_lot_id: Uuid,
    to_lot_id: Uuid,
    occurred_at: DateTime<Utc>,
    run_id: Option<Uuid>,
    kind: String,
}

/// One link row as a refresh reads it: with its lots' materials and its run's number.
#[derive(sqlx::FromRow)]
struct FreshRow {
    #[sqlx(flatten)]
    link: Row,
    from_material: Uuid,
    to_material: Uuid,
    run_number: Option<String>,
}

/// Every material's kilograms per unit (as `trace_kg_per_unit`, migration 0007).
const MATERIAL_KG: &str = "select m.id, case when u.dimension = 'mass' then u.to_base else m.mass_per_unit_kg end
                             from materials m join units u on u.code = m.uom";

/// What the share sweep needs of the index for a set of reached lots (`LinkIndex::sweep_inputs`).
pub struct SweepInputs {
    /// The runs that made the lots (their links in).
    pub runs: Vec<Uuid>,
    /// Kilograms per unit of the lots and of those runs' inputs, where the index holds the
    /// lot's material.
    pub kg_per_unit: super::closure::IdMap<Option<Decimal>>,
    /// The lots and inputs whose material it does not hold (read from the database).
    pub unknown: Vec<Uuid>,
}

impl LinkIndex {
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Whether it is ready, and the lots and links it holds (for `/healthz`).
    pub fn stats(&self) -> (bool, usize, usize) {
        let Ok(g) = self.graph.read() else { return (false, 0, 0) };
        let links = g.down.edges.len() + g.down.changed.values().map(Vec::len).sum::<usize>()
            - g.down.changed.keys().map(|l| g.down.base(*l).len()).sum::<usize>();
        (self.is_ready(), g.ids.len(), links)
    }

    /// Reads every live link, in one repeatable-read transaction that also notes its snapshot.
    pub async fn build(&self, pool: &PgPool) -> Result<(), sqlx::Error> {
        if self.building.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let outcome = self.build_now(pool).await;
        self.building.store(false, Ordering::Release);
        outcome
    }

    async fn build_now(&self, pool: &PgPool) -> Result<(), sqlx::Error> {
        let clock = Instant::now();
        let mut tx = pool.begin().await?;
        sqlx::query("set transaction isolation level repeatable read, read only").execute(&mut *tx).await?;
        let (snapshot, max_link): (String, i64) =
            sqlx::query_as("select pg_current_snapshot()::text, coalesce((select max(id) from genealogy_links), 0)")
                .fetch_one(&mut *tx)
                .await?;
        let mut graph = Graph { snapshot, max_link, ..Graph::default() };
        let mut pairs_down: Vec<(u32, Edge)> = Vec::new();
        let mut pairs_up: Vec<(u32, Edge)> = Vec::new();
        let mut runs: HashMap<Uuid, u32> = HashMap::new();
        {
            use futures_util::TryStreamExt;
            let mut rows = sqlx::query_as::<_, Row>(
                "select from_lot_id, to_lot_id, occurred_at, run_id, kind from genealogy_links where reversed_at is null",
            )
            .fetch(&mut *tx);
            while let Some(r) = rows.try_next().await? {
                let (from, to) = (graph.lot(r.from_lot_id), graph.lot(r.to_lot_id));
                let via = graph.via(r.run_id, &r.kind, Some(&mut runs), "");
                let at = r.occurred_at.timestamp_micros();
                pairs_down.push((from, Edge { other: to, via, at }));
                pairs_up.push((to, Edge { other: from, via, at }));
            }
        }
        // What never changes of those lots and runs, read in the same snapshot.
        let numbers: Vec<(Uuid, String)> =
            sqlx::query_as("select id, number from production_runs").fetch_all(&mut *tx).await?;
        for (id, number) in numbers {
            if let Some(&i) = runs.get(&id) {
                graph.run_numbers[i as usize] = number.into();
            }
        }
        drop(runs);
        graph.set_materials(sqlx::query_as(MATERIAL_KG).fetch_all(&mut *tx).await?);
        {
            use futures_util::TryStreamExt;
            let mut rows = sqlx::query_as::<_, (Uuid, Uuid)>("select id, material_id from lots").fetch(&mut *tx);
            while let Some((lot, material)) = rows.try_next().await? {
                if let Some(&i) = graph.index.get(&lot) {
                    graph.set_material(i, material);
                }
            }
        }
        tx.commit().await?;
        graph.down = Lists::build(graph.ids.len(), &pairs_down);
        drop(pairs_down);
        graph.up = Lists::build(graph.ids.len(), &pairs_up);
        drop(pairs_up);
        graph.taken = Some(Instant::now());
        let (lots, links) = (graph.ids.len(), graph.down.edges.len());
        if let Ok(mut g) = self.graph.write() {
            *g = graph;
            self.ready.store(true, Ordering::Release);
        }
        tracing::info!(lots, links, build.s = clock.elapsed().as_secs_f64(), "link index built");
        Ok(())
    }

    /// Brings the index up to every commit made before this call began. Returns whether it may
    /// be used; if not, the caller reads the database (and a rebuild may be on its way).
    pub async fn refresh(self: &Arc<Self>, pool: &PgPool) -> bool {
        if !self.is_ready() {
            return false;
        }
        let began = Instant::now();
        let mut last = self.refresh.lock().await;
        if last.is_some_and(|at| at >= began) {
            // Someone else refreshed after this call began.
            return self.is_ready();
        }
        let now = Instant::now();
        match self.refresh_now(pool).await {
            Ok(true) => {
                *last = Some(now);
                true
            }
            Ok(false) => {
                self.ready.store(false, Ordering::Release);
                let me = self.clone();
                let pool = pool.clone();
                tokio::spawn(async move {
                    if let Err(e) = me.build(&pool).await {
                        tracing::warn!(error = %e, "link index: rebuild failed; traces read the database");
                    }
                });
                false
            }
            Err(e) => {
                tracing::warn!(error = %e, "link index: refresh failed; traces read the database");
                self.ready.store(false, Ordering::Release);
                false
            }
        }
    }

    /// Ok(false): the index must be rebuilt.
    async fn refresh_now(&self, pool: &PgPool) -> Result<bool, sqlx::Error> {
        let (previous, taken, max_link, replaced) = {
            let g = self.graph.read().map_err(|_| sqlx::Error::PoolClosed)?;
            (g.snapshot.clone(), g.taken, g.max_link, g.replaced)
        };
        if taken.is_none_or(|t| t.elapsed() > MAX_AGE) || replaced > MAX_REPLACED {
            return Ok(false);
        }
        let mut conn = pool.acquire().await?;
        // Only lot_touches is read here: a statement naming the link table would wait for any
        // lock on it, and a trace must not.
        let (now, every, lots) = crate::db::touched_since(&mut conn, &previous).await?;
        if every {
            // "Every lot" changed (master data, or a bulk import): rebuilt only if links were added.
            let links_now: i64 =
                sqlx::query_scalar("select coalesce(max(id), 0) from genealogy_links").fetch_one(&mut *conn).await?;
            if links_now != max_link {
                return Ok(false);
            }
        }
        let rows: Vec<FreshRow> = if lots.is_empty() {
            Vec::new()
        } else {
            sqlx::query_as(
                "select g.from_lot_id, g.to_lot_id, g.occurred_at, g.run_id, g.kind, f.material_id as from_material,
                        t.material_id as to_material, r.number as run_number
                   from genealogy_links g join lots f on f.id = g.from_lot_id join lots t on t.id = g.to_lot_id
                   left join production_runs r on r.id = g.run_id
                  where g.reversed_at is null and (g.from_lot_id = any($1) or g.to_lot_id = any($1))",
            )
            .bind(&lots)
            .fetch_all(&mut *conn)
            .await?
        };
        // The materials' kilograms per unit again (a few rows) when master data changed or a
        // link names a material created since they were read.
        let new_material = {
            let g = self.graph.read().map_err(|_| sqlx::Error::PoolClosed)?;
            rows.iter().any(|r| {
                !g.material_index.contains_key(&r.from_material) || !g.material_index.contains_key(&r.to_material)
            })
        };
        let materials: Vec<(Uuid, Option<Decimal>)> =
            if every || new_material { sqlx::query_as(MATERIAL_KG).fetch_all(&mut *conn).await? } else { Vec::new() };
        drop(conn);
        let mut g = self.graph.write().map_err(|_| sqlx::Error::PoolClosed)?;
        g.set_materials(materials);
        let touched: Vec<u32> = lots.iter().map(|l| g.lot(*l)).collect();
        let mut down: HashMap<u32, Vec<Edge>> = touched.iter().map(|t| (*t, Vec::new())).collect();
        let mut up = down.clone();
        for FreshRow { link: r, from_material, to_material, run_number } in rows {
            let (from, to) = (g.lot(r.from_lot_id), g.lot(r.to_lot_id));
            g.set_material(from, from_material);
            g.set_material(to, to_material);
            let via = g.via(r.run_id, &r.kind, None, run_number.as_deref().unwrap_or_default());
            let at = r.occurred_at.timestamp_micros();
            if let Some(list) = down.get_mut(&from) {
                list.push(Edge { other: to, via, at });
            }
            if let Some(list) = up.get_mut(&to) {
                list.push(Edge { other: from, via, at });
            }
        }
        g.replaced += touched.len();
        g.down.changed.extend(down);
        g.up.changed.extend(up);
        g.snapshot = now;
        g.taken = Some(Instant::now());
        Ok(true)
    }

    /// Keeps the index built and fresh for as long as `pool` is open.
    pub async fn keep(self: Arc<Self>, pool: PgPool) {
        while !pool.is_closed() {
            if !self.is_ready() {
                if let Err(e) = self.build(&pool).await {
                    tracing::warn!(error = %e, "link index: build failed; traces read the database meanwhile");
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    continue;
                }
            } else {
                self.refresh(&pool).await;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// The runs that made `lots` (their links in), every input of those runs, and the kilograms
    /// per unit of all of them: what the share sweep reads besides the lots' own movements. None
    /// if the index is not ready.
    pub fn sweep_inputs(&self, lots: &[Uuid]) -> Option<SweepInputs> {
        let g = self.graph.read().ok()?;
        if !self.is_ready() {
            return None;
        }
        let mut runs: Vec<Uuid> = Vec::new();
        let mut kg_per_unit: super::closure::IdMap<Option<Decimal>> = Default::default();
        let mut unknown: Vec<Uuid> = Vec::new();
        let mut note = |i: u32, id: Uuid| match g.material[i as usize] {
            NO_MATERIAL => unknown.push(id),
            m => {
                kg_per_unit.insert(id, g.materials[m as usize].1);
            }
        };
        let mut unindexed: Vec<Uuid> = Vec::new();
        for lot in lots {
            let Some(&i) = g.index.get(lot) else {
                unindexed.push(*lot);
                continue;
            };
            note(i, *lot);
            for e in g.up.of(i) {
                if e.via != SPLIT && e.via != REPACK {
                    runs.push(g.runs[e.via as usize]);
                    note(e.other, g.ids[e.other as usize]);
                }
            }
        }
        unknown.extend(unindexed);
        for v in [&mut runs, &mut unknown] {
            v.sort_unstable();
            v.dedup();
        }
        Some(SweepInputs { runs, kg_per_unit, unknown })
    }

    /// Every link of the lot-level closure from `start`, as the walk reads it (`trace::Closure`,
    /// each lot's links those it leaves forward, those it reaches backward, with the numbers of
    /// their runs): what `trace::closure` reads from the database, from memory. None if the
    /// index is not ready.
    pub(crate) fn closure(&self, start: Uuid, forward: bool) -> Option<Closure> {
        let g = self.graph.read().ok()?;
        if !self.is_ready() {
            return None;
        }
        let mut graph = ClosureBuilder::new(start);
        let Some(&first) = g.index.get(&start) else {
            graph.close_lot();
            return Some(graph.finish());
        };
        let lists = if forward { &g.down } else { &g.up };
        // The index's lot numbers, in the order the walk numbers them.
        let mut order: Vec<u32> = vec![first];
        while graph.built() < graph.lots() {
            let lot = order[graph.built()];
            for e in lists.of(lot) {
                let (next, new) = graph.number(g.ids[e.other as usize]);
                if new {
                    order.push(e.other);
                }
                let run = match e.via {
                    SPLIT | REPACK => None,
                    r => {
                        let run = g.runs[r as usize];
                        graph.run_number(run, &g.run_numbers[r as usize]);
                        Some(run)
                    }
                };
                graph.edge(next, run, e.via == REPACK, e.at);
            }
            graph.close_lot();
        }
        Some(graph.finish())
    }
}
