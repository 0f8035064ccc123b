//! `lotline demo --lots N`: a large, realistic plant written as the neutral CSV folder, for
//! benchmarks and tryouts. Receipts from suppliers; runs consuming 2–8 lots; genealogy 3–6
//! levels deep; silo lots of salt and sugar, each drawn by hundreds of runs before the next
//! delivery replaces it; about 1% bulk-tank top-ups that form cycles; finished lots shipped to
//! many customers; quantities that balance. With `tank`, also a syrup tank that is never
//! emptied: topped up from fresh deliveries for the plant's whole life and drawn by most runs,
//! so its first delivery reaches nearly every later lot (the worst case a trace can meet).
//! Deterministic: the same N (and seed) gives the same plant.

use std::fmt::Write as _;
use std::path::Path;

use chrono::{DateTime, Duration, TimeZone, Utc};

/// A small deterministic generator (SplitMix64): reproducible plants need no crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

struct Lot {
    code: String,
    material: usize,
    remaining: u64,
    /// Level in the genealogy: 0 raw, 1.. made.
    level: usize,
    created: DateTime<Utc>,
}

/// What was written.
#[derive(Debug, Default)]
pub struct Generated {
    pub lots: usize,
    pub runs: usize,
    pub shipments: usize,
    pub top_ups: usize,
    /// With the tank: the code of its first delivery, the lot whose trace reaches furthest.
    pub tank_source: Option<String>,
}

/// How many runs draw from one silo lot before the next delivery replaces it.
const SILO_DRAWS: usize = 400;

/// Writes a plant of about `lots` lots into `dir` (created if missing); with `tank`, one syrup
/// tank feeds most runs for the plant's whole life.
pub fn generate(
    dir: &Path,
    lots: usize,
    seed: u64,
    tank: bool,
    progress: &dyn crate::import::Progress,
) -> std::io::Result<Generated> {
    std::fs::create_dir_all(dir)?;
    let mut rng = Rng(seed ^ lots as u64);
    let raw_materials = 40usize;
    let levels = 5usize; // intermediates at levels 1..=4, finished at 5
    let per_level = 12usize;
    let finished = 30usize;
    let customers = 300usize;
    let suppliers = 25usize;

    // Materials: raw (two of them hubs: salt and sugar), intermediates per level, finished goods.
    let mut materials = String::from("code,name,kind,uom,shelf_life_days\n");
    let mut material_level: Vec<usize> = Vec::new();
    let mut material_code: Vec<String> = Vec::new();
    for i in 0..raw_materials {
        let code = match i {
            0 => "SALT".to_string(),
            1 => "SUGAR".to_string(),
            _ => format!("RAW-{i:03}"),
        };
        writeln!(materials, "{code},Raw material {i},raw,kg,365").ok();
        material_code.push(code);
        material_level.push(0);
    }
    for level in 1..levels {
        for i in 0..per_level {
            let code = format!("INT{level}-{i:02}");
            writeln!(materials, "{code},Intermediate {level}.{i},intermediate,kg,90").ok();
            material_code.push(code);
            material_level.push(level);
        }
    }
    for i in 0..finished {
        let code = format!("FG-{i:03}");
        writeln!(materials, "{code},Finished good {i},finished,kg,180").ok();
        material_code.push(code);
        material_level.push(levels);
    }
    let mut parties = String::from("code,name,role\n");
    for i in 0..suppliers {
        writeln!(parties, "SUP-{i:03},Supplier {i},supplier").ok();
    }
    for i in 0..customers {
        writeln!(parties, "CUS-{i:04},Customer {i},customer").ok();
    }

    let start = Utc.with_ymd_and_hms(2024, 1, 1, 6, 0, 0).single().unwrap_or_else(Utc::now);
    let mut clock = start;
    let mut all: Vec<Lot> = Vec::with_capacity(lots);
    let mut lots_csv =
        String::from("lot_code,material_code,quantity,uom,created_on,expires_on,origin,supplier_code,supplier_lot\n");
    let mut runs_csv = String::from("run_id,performed_on,direction,lot_code,quantity\n");
    let mut ships_csv = String::from("shipment_id,shipped_on,customer_code,lot_code,quantity\n");
    let mut generated = Generated::default();
    let mut produced_rows: Vec<(usize, u64)> = Vec::new(); // (lot index, quantity) of produced lots, in order
    let mut by_level: Vec<Vec<usize>> = vec![Vec::new(); levels + 1];
    let mut hubs: Vec<usize> = Vec::new();
    let code = |n: usize| format!("L{n:07}");
    let ts = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();

    // The silo lots: salt and sugar, two silos each, drawn by hundreds of runs; a delivery
    // replaces a silo's lot once SILO_DRAWS runs have drawn from it.
    let silo_size = SILO_DRAWS as u64 * 400 + 10_000;
    let mut silo_draws: Vec<usize> = Vec::new();
    let deliver = |all: &mut Vec<Lot>, lots_csv: &mut String, by_level: &mut Vec<Vec<usize>>, m: usize, at| {
        let n = all.len();
        all.push(Lot { code: code(n), material: m, remaining: silo_size, level: 0, created: at });
        writeln!(
            lots_csv,
            "{},{},{silo_size},kg,{},,received,SUP-{:03},H{n}",
            code(n),
            material_code[m],
            ts(at),
            m % suppliers
        )
        .ok();
        by_level[0].push(n);
        n
    };
    for m in 0..2 {
        for _ in 0..2 {
            hubs.push(deliver(&mut all, &mut lots_csv, &mut by_level, m, clock));
            silo_draws.push(0);
        }
    }
    // The syrup tank: a level-1 bulk lot made from a first delivery, then topped up for ever.
    let syrup_raw = raw_materials - 1;
    let syrup = material_level.iter().position(|l| *l == 1).unwrap_or(raw_materials);
    let mut tank_lot: Option<usize> = None;
    if tank {
        let first = deliver(&mut all, &mut lots_csv, &mut by_level, syrup_raw, clock);
        generated.tank_source = Some(all[first].code.clone());
        let t = all.len();
        all.push(Lot { code: code(t), material: syrup, remaining: silo_size, level: 1, created: clock });
        all[first].remaining = 0;
        writeln!(runs_csv, "T{t:07},{},in,{},{silo_size}", ts(clock), all[first].code).ok();
        writeln!(runs_csv, "T{t:07},{},out,{},{silo_size}", ts(clock), all[t].code).ok();
        produced_rows.push((t, silo_size));
        generated.runs += 1;
        tank_lot = Some(t);
    }
    let mut reported = 0;
    progress.stage("generating", lots as u64);
    while all.len() < lots {
        if all.len() - reported >= 1000 {
            progress.advance((all.len() - reported) as u64);
            reported = all.len();
        }
        clock += Duration::minutes(7 + rng.below(20) as i64);
        // The tank is topped up from a fresh delivery when it runs low.
        if let Some(t) = tank_lot.filter(|&t| all[t].remaining < silo_size / 4) {
            let d = deliver(&mut all, &mut lots_csv, &mut by_level, syrup_raw, clock);
            let before = all[t].remaining;
            let run = format!("T{d:07}");
            writeln!(runs_csv, "{run},{},in,{},{before}", ts(clock), all[t].code).ok();
            writeln!(runs_csv, "{run},{},in,{},{silo_size}", ts(clock), all[d].code).ok();
            writeln!(runs_csv, "{run},{},out,{},{}", ts(clock), all[t].code, before + silo_size).ok();
            all[d].remaining = 0;
            all[t].remaining = before + silo_size;
            produced_rows.push((t, before + silo_size));
            generated.runs += 1;
            generated.top_ups += 1;
            continue;
        }
        // Keep enough raw stock: about 40% of lots are receipts.
        if all.len() < 30 || rng.chance(40) {
            let m = 2 + rng.below(raw_materials - 2);
            let qty = 500 + rng.below(4500) as u64;
            let n = all.len();
            let supplier = rng.below(suppliers);
            writeln!(
                lots_csv,
                "{},{},{qty},kg,{},,received,SUP-{supplier:03},S{supplier}-{n}",
                code(n),
                material_code[m],
                ts(clock)
            )
            .ok();
            all.push(Lot { code: code(n), material: m, remaining: qty, level: 0, created: clock });
            by_level[0].push(n);
            continue;
        }
        // A run one level above its deepest input.
        let level = 1 + rng.below(levels);
        // The most recent usable lots, from the level just below downwards: recent lots are the
        // likelier inputs, as on a real floor.
        let mut candidates: Vec<usize> = Vec::with_capacity(400);
        for l in (0..level).rev() {
            let room = 400 - candidates.len();
            candidates.extend(by_level[l].iter().rev().copied().filter(|&i| all[i].remaining >= 10).take(room));
            if candidates.len() >= 400 {
                break;
            }
        }
        if candidates.len() < 2 {
            continue;
        }
        let run = format!("R{:07}", generated.runs);
        let inputs = 2 + rng.below(7);
        let mut chosen: Vec<usize> = Vec::new();
        if rng.chance(70) {
            let slot = rng.below(hubs.len());
            silo_draws[slot] += 1;
            if silo_draws[slot] > SILO_DRAWS {
                let m = all[hubs[slot]].material;
                hubs[slot] = deliver(&mut all, &mut lots_csv, &mut by_level, m, clock);
                silo_draws[slot] = 1;
            }
            chosen.push(hubs[slot]);
        }
        if let Some(t) = tank_lot.filter(|_| level >= 2 && rng.chance(60)) {
            chosen.push(t);
        }
        for _ in 0..inputs * 3 {
            if chosen.len() >= inputs {
                break;
            }
            let pick = candidates[rng.below(candidates.len())];
            if !chosen.contains(&pick) {
                chosen.push(pick);
            }
        }
        if chosen.len() < 2 {
            continue;
        }
        let mut total = 0u64;
        let mut rows = String::new();
        for &i in &chosen {
            let take = (all[i].remaining / 4).clamp(1, 400);
            all[i].remaining -= take;
            total += take;
            writeln!(rows, "{run},{},in,{},{take}", ts(clock), all[i].code).ok();
        }
        let material = material_level
            .iter()
            .enumerate()
            .filter(|(_, l)| **l == level)
            .map(|(m, _)| m)
            .nth(rng.below(if level == levels { finished } else { per_level }))
            .unwrap_or(raw_materials);
        // About 1% of runs top up an existing bulk lot of the same material (a tank): it is
        // both input (its whole content) and output (its content after).
        let tank = if rng.chance(1) {
            by_level[level]
                .iter()
                .rev()
                .take(50)
                .copied()
                .find(|&t| all[t].material == material && all[t].remaining > 0)
        } else {
            None
        };
        let outputs = if let Some(t) = tank {
            let before = all[t].remaining;
            writeln!(rows, "{run},{},in,{},{before}", ts(clock), all[t].code).ok();
            all[t].remaining = before + total;
            writeln!(rows, "{run},{},out,{},{}", ts(clock), all[t].code, before + total).ok();
            produced_rows.push((t, before + total));
            generated.top_ups += 1;
            1
        } else {
            let pallets = if level == levels { 1 + rng.below(3) } else { 1 };
            for p in 0..pallets {
                let qty = if p + 1 == pallets {
                    total - total / pallets as u64 * (pallets as u64 - 1)
                } else {
                    total / pallets as u64
                };
                if qty == 0 || all.len() >= lots {
                    continue;
                }
                let n = all.len();
                all.push(Lot { code: code(n), material, remaining: qty, level, created: clock });
                by_level[level].push(n);
                writeln!(rows, "{run},{},out,{},{qty}", ts(clock), code(n)).ok();
                produced_rows.push((n, qty));
            }
            pallets
        };
        if outputs > 0 && rows.contains(",out,") {
            runs_csv.push_str(&rows);
            generated.runs += 1;
        }
        // Finished goods go out to several customers over the following days.
        if level == levels {
            for &i in by_level[levels].iter().rev().take(3) {
                let lot = &mut all[i];
                if lot.remaining < 4 {
                    continue;
                }
                let customers_now = 1 + rng.below(3);
                for _ in 0..customers_now {
                    let qty = lot.remaining / 3;
                    if qty == 0 {
                        break;
                    }
                    lot.remaining -= qty;
                    let when = (lot.created + Duration::hours(2)).max(clock);
                    writeln!(
                        ships_csv,
                        "SH{:07},{},CUS-{:04},{},{qty}",
                        generated.shipments,
                        ts(when),
                        rng.below(customers),
                        lot.code
                    )
                    .ok();
                    generated.shipments += 1;
                }
            }
        }
    }
    // Produced lots: their quantity is the sum of their out rows (a tank counts each top-up).
    let mut produced_total: Vec<u64> = vec![0; all.len()];
    for (i, q) in &produced_rows {
        produced_total[*i] += q;
    }
    for (i, lot) in all.iter().enumerate() {
        if lot.level > 0 && produced_total[i] > 0 {
            writeln!(
                lots_csv,
                "{},{},{},kg,{},,produced,,",
                lot.code,
                material_code[lot.material],
                produced_total[i],
                ts(lot.created)
            )
            .ok();
        }
    }
    progress.advance((all.len() - reported) as u64);
    generated.lots = all.iter().enumerate().filter(|(i, l)| l.level == 0 || produced_total[*i] > 0).count();
    std::fs::write(dir.join("materials.csv"), materials)?;
    std::fs::write(dir.join("parties.csv"), parties)?;
    std::fs::write(dir.join("lots.csv"), lots_csv)?;
    std::fs::write(dir.join("transformations.csv"), runs_csv)?;
    std::fs::write(dir.join("shipments.csv"), ships_csv)?;
    Ok(generated)
}

/// The code of a generated plant's first tank delivery (`demo --tank`), found in its data: the
/// earliest received lot linked into the lot with the most incoming links (the tank, topped up
/// by every delivery since).
pub async fn tank_first_delivery(pool: &sqlx::PgPool) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "select f.code from genealogy_links g join lots f on f.id = g.from_lot_id
          where f.origin = 'received' and f.notes = 'imported'
            and g.to_lot_id = (select to_lot_id from genealogy_links group by to_lot_id order by count(*) desc limit 1)
          order by g.occurred_at, f.code limit 1",
    )
    .fetch_optional(pool)
    .await
}

/// Once a generated plant is imported: the raw lot whose trace reaches furthest (id, material
/// code, lot code): the tank's first delivery, or else the imported delivery with the most links
/// out (a silo lot). `tank_source` is the generated plant's tank delivery, if it has one.
pub async fn furthest_reaching_lot(
    pool: &sqlx::PgPool,
    tank_source: Option<&str>,
) -> Result<Option<(uuid::Uuid, String, String)>, sqlx::Error> {
    sqlx::query_as(
        "select l.id, m.code, l.code from lots l join materials m on m.id = l.material_id
          where l.notes = 'imported' and l.origin = 'received'
            and case when $1::text is null
                     then l.id = (select g.from_lot_id from genealogy_links g join lots f on f.id = g.from_lot_id
                                   where f.notes = 'imported' and f.origin = 'received'
                                   group by g.from_lot_id, f.code order by count(*) desc, f.code limit 1)
                     else l.code = $1 end",
    )
    .bind(tank_source)
    .fetch_optional(pool)
    .await
}
