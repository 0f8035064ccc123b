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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Mode {
    #[serde(rename = "precise")]
    Precise,
    #[serde(rename = "lot-level")]
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
#[derive(Debug, Clone, Serialize)]
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
}

#[derive(Debug, Clone, Serialize)]
pub struct TracedStock {
    pub lot: String,
    pub material: String,
    pub location: String,
    pub quantity: Decimal,
    pub uom: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct TracedShipment {
    pub shipment: String,
    pub customer: String,
    pub lot: String,
    pub material: String,
    pub quantity: Decimal,
    pub uom: String,
    pub shipped_on: NaiveDate,
}

#[derive(Debug, Clone, Serialize)]
pub struct Customer {
    pub code: String,
    pub name: String,
}

/// Where the walk met a cycle: a link back to a lot it had reached already, no later.
#[derive(Debug, Clone, Serialize)]
pub struct Cycle {
    pub from: String,
    pub to: String,
}

/// A whole trace: the same document for pages, the API, the CLI and CSV.
#[derive(Debug, Clone, Serialize)]
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
}

impl Trace {
    pub fn shipped_total(&self) -> Decimal {
        self.shipments.iter().map(|s| s.quantity).sum()
    }

    pub fn on_hand_lots(&self) -> usize {
        self.lots.iter().filter(|l| l.on_hand > Decimal::ZERO).count()
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
struct Link {
    from_lot_id: Uuid,
    to_lot_id: Uuid,
    occurred_at: DateTime<Utc>,
    via: String,
}

/// Finds a lot by material code and lot code.
pub async fn find_lot(pool: &PgPool, material: &str, code: &str) -> Result<Uuid, Error> {
    sqlx::query_scalar("select l.id from lots l join materials m on m.id = l.material_id where m.code = upper($1) and upper(l.code) = upper($2)")
        .bind(material.trim())
        .bind(code.trim())
        .fetch_optional(pool)
        .await?
        .ok_or(Error::NotFound)
}

/// Traces from `start` in `direction` and `mode`.
pub async fn trace(pool: &PgPool, start: Uuid, direction: Direction, mode: Mode) -> Result<Trace, Error> {
    let forward = direction == Direction::Forward;
    // reached: lot → (best time, depth, parent, via)
    let mut best: HashMap<Uuid, Option<DateTime<Utc>>> = HashMap::new();
    let mut depth: HashMap<Uuid, u32> = HashMap::new();
    let mut parent: HashMap<Uuid, (Uuid, String)> = HashMap::new();
    let mut via: HashMap<Uuid, Vec<String>> = HashMap::new();
    let mut adjacency: HashMap<Uuid, Vec<Link>> = HashMap::new();
    let mut cycles: Vec<(Uuid, Uuid)> = Vec::new();
    let mut used_links: HashSet<(Uuid, Uuid, DateTime<Utc>)> = HashSet::new();

    best.insert(start, None);
    depth.insert(start, 0);
    // The heap orders by time: forward pops the earliest arrival first, backward the latest need.
    // `None` (the start) sorts first in both.
    let key = |t: Option<DateTime<Utc>>| -> i128 {
        match t {
            None => i128::MIN,
            Some(t) if forward => t.timestamp_micros() as i128,
            Some(t) => -(t.timestamp_micros() as i128),
        }
    };
    let mut heap: BinaryHeap<Reverse<(i128, Uuid)>> = BinaryHeap::new();
    heap.push(Reverse((key(None), start)));
    while let Some(Reverse((k, lot))) = heap.pop() {
        let at = best.get(&lot).copied().flatten();
        if k != key(best.get(&lot).copied().flatten()) {
            continue; // a stale entry: the lot was reached earlier (or needed later) since
        }
        if !adjacency.contains_key(&lot) {
            // Fetch the links of this lot and of every other lot waiting in the heap at once.
            let mut frontier: Vec<Uuid> =
                heap.iter().map(|Reverse((_, l))| *l).filter(|l| !adjacency.contains_key(l)).collect();
            frontier.push(lot);
            frontier.sort();
            frontier.dedup();
            let sql = if forward {
                "select g.from_lot_id, g.to_lot_id, g.occurred_at, coalesce(r.number, g.kind) as via
                   from genealogy_links g left join production_runs r on r.id = g.run_id
                  where g.from_lot_id = any($1) and g.reversed_at is null"
            } else {
                "select g.from_lot_id, g.to_lot_id, g.occurred_at, coalesce(r.number, g.kind) as via
                   from genealogy_links g left join production_runs r on r.id = g.run_id
                  where g.to_lot_id = any($1) and g.reversed_at is null"
            };
            let links: Vec<Link> = sqlx::query_as(sql).bind(&frontier).fetch_all(pool).await?;
            for l in &frontier {
                adjacency.entry(*l).or_default();
            }
            for link in links {
                let owner = if forward { link.from_lot_id } else { link.to_lot_id };
                adjacency.entry(owner).or_default().push(link);
            }
        }
        let here_depth = depth.get(&lot).copied().unwrap_or(0);
        for link in adjacency.get(&lot).cloned().unwrap_or_default() {
            let next = if forward { link.to_lot_id } else { link.from_lot_id };
            let usable = match (mode, at) {
                (Mode::LotLevel, _) | (_, None) => true,
                (Mode::Precise, Some(at)) => {
                    if forward {
                        link.occurred_at >= at
                    } else {
                        link.occurred_at <= at
                    }
                }
            };
            if !usable {
                continue;
            }
            used_links.insert((link.from_lot_id, link.to_lot_id, link.occurred_at));
            let candidate = match mode {
                Mode::LotLevel => None,
                Mode::Precise => Some(link.occurred_at),
            };
            via.entry(next).or_default().push(link.via.clone());
            match best.get(&next).copied() {
                None if next != start => {
                    best.insert(next, candidate);
                    depth.insert(next, here_depth + 1);
                    parent.insert(next, (lot, link.via.clone()));
                    heap.push(Reverse((key(candidate), next)));
                }
                _ => {
                    let old = best.get(&next).copied().flatten();
                    let better = mode == Mode::Precise
                        && next != start
                        && match (candidate, old) {
                            (Some(c), Some(o)) => {
                                if forward {
                                    c < o
                                } else {
                                    c > o
                                }
                            }
                            _ => false,
                        };
                    if better {
                        best.insert(next, candidate);
                        heap.push(Reverse((key(candidate), next)));
                    }
                    let next_depth = depth.get(&next).copied().unwrap_or(0);
                    if next == lot || is_ancestor(&parent, next, lot) {
                        cycles.push((lot, next));
                    } else if here_depth + 1 < next_depth {
                        depth.insert(next, here_depth + 1);
                        parent.insert(next, (lot, link.via.clone()));
                    }
                }
            }
        }
    }

    let ids: Vec<Uuid> = best.keys().copied().collect();
    let mut lots = lot_facts(pool, &ids).await?;
    for l in &mut lots {
        l.depth = depth.get(&l.id).copied().unwrap_or(0);
        l.reached_at = best.get(&l.id).copied().flatten();
        l.parent = parent.get(&l.id).map(|(p, _)| *p);
        let mut v = via.remove(&l.id).unwrap_or_default();
        v.sort();
        v.dedup();
        l.via = v;
    }
    lots.sort_by(|a, b| (a.depth, &a.material, &a.code).cmp(&(b.depth, &b.material, &b.code)));
    let start_lot = lots.iter().find(|l| l.id == start).cloned().ok_or(Error::NotFound)?;
    let code_of: HashMap<Uuid, String> = lots.iter().map(|l| (l.id, l.code.clone())).collect();

    let stock: Vec<TracedStock> = if forward {
        sqlx::query_as::<_, (String, String, String, Decimal, String)>(
            "select l.code, m.code, c.code, o.quantity, m.uom from on_hand o join lots l on l.id = o.lot_id
               join materials m on m.id = l.material_id join locations c on c.id = o.location_id
              where o.lot_id = any($1) and o.quantity > 0 order by m.code, l.code, c.code",
        )
        .bind(&ids)
        .fetch_all(pool)
        .await?
        .into_iter()
        .map(|(lot, material, location, quantity, uom)| TracedStock { lot, material, location, quantity, uom })
        .collect()
    } else {
        Vec::new()
    };
    let shipments: Vec<TracedShipment> = if forward {
        #[derive(sqlx::FromRow)]
        struct Row {
            lot_id: Uuid,
            number: String,
            customer: String,
            lot: String,
            material: String,
            quantity: Decimal,
            uom: String,
            shipped_at: DateTime<Utc>,
        }
        let rows: Vec<Row> = sqlx::query_as(
            "select sl.lot_id, h.number, p.name as customer, l.code as lot, m.code as material, sl.quantity, m.uom, h.shipped_at
               from shipment_lines sl join shipments h on h.id = sl.shipment_id join parties p on p.id = h.customer_id
               join lots l on l.id = sl.lot_id join materials m on m.id = l.material_id
              where sl.lot_id = any($1)
                and not exists (select 1 from stock_movements x where x.reverses_id = sl.movement_id)
              order by h.shipped_at, h.number",
        )
        .bind(&ids)
        .fetch_all(pool)
        .await?;
        rows.into_iter()
            // Precise: a shipment carries the start lot's material only if it left after it arrived.
            .filter(|r| {
                mode == Mode::LotLevel
                    || r.lot_id == start
                    || best.get(&r.lot_id).copied().flatten().is_none_or(|a| r.shipped_at >= a)
            })
            .map(|r| TracedShipment {
                shipment: r.number,
                customer: r.customer,
                lot: r.lot,
                material: r.material,
                quantity: r.quantity,
                uom: r.uom,
                shipped_on: r.shipped_at.date_naive(),
            })
            .collect()
    } else {
        Vec::new()
    };
    let customers: Vec<Customer> = if forward {
        let mut names: Vec<String> = shipments.iter().map(|s| s.customer.clone()).collect();
        names.sort();
        names.dedup();
        sqlx::query_as::<_, (String, String)>("select code, name from parties where name = any($1) order by name")
            .bind(&names)
            .fetch_all(pool)
            .await?
            .into_iter()
            .map(|(code, name)| Customer { code, name })
            .collect()
    } else {
        Vec::new()
    };
    let mut cycle_list: Vec<Cycle> = cycles
        .into_iter()
        .filter_map(|(a, b)| Some(Cycle { from: code_of.get(&a)?.clone(), to: code_of.get(&b)?.clone() }))
        .collect();
    cycle_list.sort_by(|a, b| (&a.from, &a.to).cmp(&(&b.from, &b.to)));
    cycle_list.dedup_by(|a, b| a.from == b.from && a.to == b.to);
    Ok(Trace {
        direction,
        mode,
        start: start_lot,
        lots,
        stock,
        shipments,
        customers,
        cycles: cycle_list,
        links: used_links.len(),
    })
}

/// Whether `candidate` lies on the path from the start to `node` in the walk's tree.
fn is_ancestor(parent: &HashMap<Uuid, (Uuid, String)>, candidate: Uuid, node: Uuid) -> bool {
    let mut current = node;
    let mut steps = 0;
    while let Some((p, _)) = parent.get(&current) {
        if *p == candidate {
            return true;
        }
        current = *p;
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
        material: String,
        material_name: String,
        code: String,
        status: String,
        on_hand: Decimal,
        uom: String,
        supplier: Option<String>,
        supplier_lot: Option<String>,
    }
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select l.id, m.code as material, m.name as material_name, l.code,
                {STATUS_SQL} as status,
                coalesce((select sum(quantity) from on_hand o where o.lot_id = l.id), 0) as on_hand, m.uom,
                p.name as supplier, l.supplier_lot
           from lots l join materials m on m.id = l.material_id left join parties p on p.id = l.supplier_id
          where l.id = any($1)",
        STATUS_SQL = crate::domain::status::STATUS_SQL
    )))
    .bind(ids)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| TracedLot {
            id: r.id,
            material: r.material,
            material_name: r.material_name,
            code: r.code,
            status: r.status,
            depth: 0,
            reached_at: None,
            via: Vec::new(),
            parent: None,
            on_hand: r.on_hand,
            uom: r.uom,
            supplier: r.supplier,
            supplier_lot: r.supplier_lot,
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
