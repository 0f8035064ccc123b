//! `lotline import DIR`: loads the neutral CSV folder (materials, parties, lots, transformations,
//! shipments; see docs/architecture.md) in one transaction, or refuses the whole set, naming file,
//! line, column and reason. The stock ledger is rebuilt in time order — at one instant, what flows
//! in before what flows out — and a set under which any lot would go negative is refused.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
// The import's maps hold millions of keys from the admin's own files: a fast hash, not SipHash's
// flood resistance (SipHash was an eighth of the check's time).
use foldhash::{HashMap, HashMapExt, HashSet};
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

use crate::audit::{self, Actor, Entry};
use crate::db::copy::BinaryRows;
use crate::domain::gs1::is_cset82;
use crate::domain::text;
use crate::domain::vocab::MovementKind;

/// One thing wrong with the files.
#[derive(Debug, Clone)]
pub struct Problem {
    pub file: String,
    pub line: u64,
    pub column: String,
    pub reason: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.reason)
        } else {
            write!(f, "{} line {}, column {}: {}", self.file, self.line, self.column, self.reason)
        }
    }
}

/// What an import loaded.
#[derive(Debug, Default)]
pub struct Summary {
    pub materials: usize,
    pub parties: usize,
    pub lots: usize,
    pub runs: usize,
    pub shipments: usize,
    pub movements: usize,
    pub links: usize,
}

/// Progress reports: a stage's name, how far, out of how much.
pub trait Progress: Sync {
    fn stage(&self, name: &str, total: u64);
    fn advance(&self, n: u64);
}

/// No progress shown.
pub struct Quiet;

impl Progress for Quiet {
    fn stage(&self, _: &str, _: u64) {}
    fn advance(&self, _: u64) {}
}

const MAX_PROBLEMS: usize = 50;

struct Problems(Vec<Problem>);

impl Problems {
    fn add(&mut self, file: &str, line: u64, column: &str, reason: impl Into<String>) {
        if self.0.len() < MAX_PROBLEMS {
            self.0.push(Problem { file: file.into(), line, column: column.into(), reason: reason.into() });
        }
    }

    /// The problems `later` found, after these, up to the limit.
    fn then(mut self, later: Problems) -> Problems {
        for problem in later.0 {
            self.add(&problem.file, problem.line, &problem.column, problem.reason);
        }
        self
    }

    /// A parsed value, or None with the reason noted against its file, line and column.
    fn check<T>(&mut self, file: &str, line: u64, column: &str, parsed: Result<T, String>) -> Option<T> {
        parsed.map_err(|reason| self.add(file, line, column, reason)).ok()
    }
}

mod bulk;
mod check;
mod ids;
mod ledger;
mod read;

pub use bulk::BULK_LOTS;
use bulk::*;
use check::*;
use ids::*;
use ledger::*;
use read::*;

#[derive(Debug, Clone)]
struct LotRow {
    line: u64,
    code: String,
    material: String,
    quantity: Decimal,
    created: DateTime<Utc>,
    expires_on: Option<NaiveDate>,
    received: bool,
    supplier: Option<String>,
    supplier_lot: Option<String>,
}

impl LotRow {
    fn origin(&self) -> &'static str {
        if self.received { "received" } else { "produced" }
    }

    /// The traceability lot code (FSMA 204): the supplier's lot code where one was given.
    fn tlc(&self) -> &str {
        crate::domain::lotcode::traceability_code(self.supplier_lot.as_deref(), &self.code)
    }

    /// Who assigned the traceability lot code: the supplier of a received lot, else the site.
    fn tlc_source(&self, site: &str) -> String {
        match (&self.supplier, self.received) {
            (Some(supplier), true) => format!("supplier {supplier}"),
            _ => site.to_string(),
        }
    }
}

/// Loads the folder, or returns every problem found (up to 50) and loads nothing. `bulk` loads
/// in bulk (see BulkLoad) whatever the size; from BULK_LOTS lots it is chosen anyway.
pub async fn import(
    pool: &PgPool,
    actor: &Actor,
    dir: &Path,
    site_code: Option<&str>,
    location_code: Option<&str>,
    bulk: bool,
    progress: &(dyn Progress + Sync),
) -> anyhow::Result<Result<Summary, Vec<Problem>>> {
    let mut p = Problems(Vec::new());
    let clock = std::time::Instant::now();
    let lap = |what: &str| tracing::debug!(import.s = clock.elapsed().as_secs_f64(), "import: {what}");
    progress.stage("reading", 5);
    // transformations.csv and shipments.csv, the largest files, are read on a thread meanwhile.
    let reading = {
        let dir = dir.to_path_buf();
        tokio::task::spawn_blocking(move || {
            let mut p = Problems(Vec::new());
            let transformations = read(
                &dir,
                "transformations.csv",
                &["run_id", "performed_on", "direction", "lot_code", "quantity"],
                false,
                &mut p,
            );
            let shipments = read(
                &dir,
                "shipments.csv",
                &["shipment_id", "shipped_on", "customer_code", "lot_code", "quantity"],
                false,
                &mut p,
            );
            tracing::debug!("import: transformations and shipments read");
            (transformations, shipments, p)
        })
    };
    let materials = read(dir, "materials.csv", &["code", "name", "kind", "uom", "shelf_life_days"], false, &mut p);
    progress.advance(1);
    let parties = read(dir, "parties.csv", &["code", "name", "role"], false, &mut p);
    progress.advance(1);
    let lots = read(
        dir,
        "lots.csv",
        &[
            "lot_code",
            "material_code",
            "quantity",
            "uom",
            "created_on",
            "expires_on",
            "origin",
            "supplier_code",
            "supplier_lot",
        ],
        true,
        &mut p,
    );
    progress.advance(1);
    if !p.0.is_empty() {
        let (_, _, found) = reading.await?;
        return Ok(Err(p.then(found).0));
    }
    lap("read");

    // The place the stock is put.
    let place: Option<(Uuid, Uuid, String)> = sqlx::query_as(
        "select s.id, c.id, s.code from sites s join locations c on c.site_id = s.id
          where s.active and c.active and ($1::text is null or s.code = upper($1)) and ($2::text is null or c.code = upper($2))
          order by (c.kind = 'storage') desc, s.code, c.code limit 1",
    )
    .bind(site_code)
    .bind(location_code)
    .fetch_optional(pool)
    .await?;
    let Some((site_id, location_id, site)) = place else {
        return Ok(Err(vec![Problem {
            file: "--site/--location".into(),
            line: 0,
            column: String::new(),
            reason: "no active site and location match; create them first, or name others".into(),
        }]));
    };

    let (material_uom, new_materials) = check_materials(pool, materials.as_ref(), &mut p).await?;
    let (roles, new_parties) = check_parties(pool, parties.as_ref(), &mut p).await?;
    let lots = lots.expect("lots.csv is required");
    let (lot_rows, by_code) = check_lots(pool, &lots, &material_uom, &roles, &mut p).await?;
    lap("lots checked");
    let (transformations, shipments, found) = reading.await?;
    progress.advance(2);
    if !found.0.is_empty() {
        // Files that cannot be read are all that is reported, as for the files read above.
        return Ok(Err(found.0));
    }
    let files: Vec<serde_json::Value> = [&materials, &parties, &Some(lots), &transformations, &shipments]
        .into_iter()
        .flatten()
        .map(|t| serde_json::json!({ "file": t.name, "rows": t.rows.len(), "sha256": t.sha256 }))
        .collect();
    // The ledger is checked on a thread of its own while the lots go in (the database works and
    // this process checks at the same time); its problems roll the transaction back.
    let lot_rows = std::sync::Arc::new(lot_rows);
    let checking = {
        let lot_rows = lot_rows.clone();
        tokio::task::spawn_blocking(move || {
            let mut p = Problems(Vec::new());
            let ledger =
                check_ledger(&lot_rows, &by_code, &roles, transformations.as_ref(), shipments.as_ref(), &mut p);
            (ledger, p)
        })
    };
    if !p.0.is_empty() {
        let (_, found) = checking.await?;
        return Ok(Err(p.then(found).0));
    }

    // Write everything in one transaction.
    progress.stage("loading", (new_materials.len() + new_parties.len() + lot_rows.len()) as u64);
    let mut tx = pool.begin().await?;
    let mut bulk = if bulk || lot_rows.len() >= BULK_LOTS { Some(BulkLoad::begin(&mut tx).await?) } else { None };
    let (material_ids, party_ids) = write_master(&mut tx, &new_materials, &new_parties, progress).await?;
    // Time-ordered ids: a million of them go into the primary key's right edge, not all over it.
    let lot_ids = time_ordered_ids(lot_rows.len());
    if bulk.is_some() {
        copy_binary(
            &mut tx,
            "copy lots (id, material_id, code, origin, site_id, made_on, expires_on, supplier_id, supplier_lot, tlc, tlc_source, disposition, notes)
             from stdin (format binary)",
            lot_rows.len(),
            progress,
            |out, i| {
                let l = &lot_rows[i];
                out.row(13)
                    .uuid(&lot_ids[i])
                    .uuid(&material_ids[&l.material])
                    .text(&l.code)
                    .text(l.origin())
                    .uuid(&site_id)
                    .opt_date(Some(l.created.date_naive()))
                    .opt_date(l.expires_on)
                    .opt_uuid(l.supplier.as_ref().and_then(|s| party_ids.get(s)))
                    .opt_text(l.supplier_lot.as_deref())
                    .text(l.tlc())
                    .text(&l.tlc_source(&site))
                    .text("released")
                    .text("imported");
            },
        )
        .await?;
        let actor_id = actor.id;
        copy_binary(
            &mut tx,
            "copy lot_dispositions (lot_id, from_status, to_status, reason, decided_by) from stdin (format binary)",
            lot_ids.len(),
            &Quiet,
            |out, i| {
                out.row(5)
                    .uuid(&lot_ids[i])
                    .null()
                    .text("released")
                    .text("imported history")
                    .opt_uuid(actor_id.as_ref());
            },
        )
        .await?;
    } else {
        for (chunk, ids) in lot_rows.chunks(5000).zip(lot_ids.chunks(5000)) {
            sqlx::query(
                "insert into lots (id, material_id, code, origin, site_id, made_on, expires_on, supplier_id, supplier_lot, tlc, tlc_source, disposition, notes)
                 select id, material, code, origin, $1, made_on, expires_on, supplier, supplier_lot, tlc, tlc_source, 'released', 'imported'
                   from unnest($2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::date[], $7::date[], $8::uuid[], $9::text[], $10::text[], $11::text[])
                        as t(id, material, code, origin, made_on, expires_on, supplier, supplier_lot, tlc, tlc_source)",
            )
            .bind(site_id)
            .bind(ids)
            .bind(chunk.iter().map(|l| material_ids[&l.material]).collect::<Vec<_>>())
            .bind(chunk.iter().map(|l| l.code.clone()).collect::<Vec<_>>())
            .bind(chunk.iter().map(LotRow::origin).collect::<Vec<_>>())
            .bind(chunk.iter().map(|l| l.created.date_naive()).collect::<Vec<_>>())
            .bind(chunk.iter().map(|l| l.expires_on).collect::<Vec<_>>())
            .bind(chunk.iter().map(|l| l.supplier.as_ref().and_then(|s| party_ids.get(s).copied())).collect::<Vec<_>>())
            .bind(chunk.iter().map(|l| l.supplier_lot.clone()).collect::<Vec<_>>())
            .bind(chunk.iter().map(LotRow::tlc).collect::<Vec<_>>())
            .bind(chunk.iter().map(|l| l.tlc_source(&site)).collect::<Vec<_>>())
            .execute(&mut *tx)
            .await?;
            progress.advance(chunk.len() as u64);
        }
        sqlx::query(
            "insert into lot_dispositions (lot_id, from_status, to_status, reason, decided_by)
             select id, null, 'released', 'imported history', $2 from unnest($1::uuid[]) as t(id)",
        )
        .bind(&lot_ids)
        .bind(actor.id)
        .execute(&mut *tx)
        .await?;
    }

    lap("lots written");
    let (Ledger { events, runs, shipment_list, balance }, found) = checking.await?;
    lap("checked");
    if !found.0.is_empty() {
        return Ok(Err(found.0));
    }
    progress.stage("loading the ledger", events.len() as u64);
    // Runs (closed, as history) and shipments.
    let run_ids = time_ordered_ids(runs.len());
    let output_material: HashMap<usize, Uuid> = events
        .iter()
        .filter(|e| e.kind == MovementKind::Produce)
        .map(|e| (e.run.unwrap_or_default(), material_ids[&lot_rows[e.lot].material]))
        .collect();
    let run_materials: Vec<Uuid> = (0..runs.len()).map(|i| output_material[&i]).collect();
    if bulk.is_some() {
        copy_binary(
            &mut tx,
            "copy production_runs (id, number, site_id, output_material_id, status, order_ref, opened_at, closed_at, notes)
             from stdin (format binary)",
            runs.len(),
            &Quiet,
            |out, i| {
                let (name, at) = &runs[i];
                out.row(9)
                    .uuid(&run_ids[i])
                    .text(&format!("IMP-{name}"))
                    .uuid(&site_id)
                    .uuid(&run_materials[i])
                    .text("closed")
                    .text(name)
                    .timestamptz(at)
                    .timestamptz(at)
                    .text("imported");
            },
        )
        .await?;
    } else {
        for ((chunk, ids), materials) in runs.chunks(5000).zip(run_ids.chunks(5000)).zip(run_materials.chunks(5000)) {
            sqlx::query(
                "insert into production_runs (id, number, site_id, output_material_id, status, order_ref, opened_at, closed_at, notes)
                 select id, 'IMP-' || name, $1, material, 'closed', name, at, at, 'imported'
                   from unnest($2::uuid[], $3::text[], $4::uuid[], $5::timestamptz[]) as t(id, name, material, at)",
            )
            .bind(site_id)
            .bind(ids)
            .bind(chunk.iter().map(|(name, _)| name.as_str()).collect::<Vec<_>>())
            .bind(materials)
            .bind(chunk.iter().map(|(_, at)| *at).collect::<Vec<_>>())
            .execute(&mut *tx)
            .await?;
        }
    }
    let shipment_ids = time_ordered_ids(shipment_list.len());
    if bulk.is_some() {
        copy_binary(
            &mut tx,
            "copy shipments (id, number, site_id, customer_id, shipped_at, order_ref, notes) from stdin (format binary)",
            shipment_list.len(),
            &Quiet,
            |out, i| {
                let (name, at, customer) = &shipment_list[i];
                out.row(7)
                    .uuid(&shipment_ids[i])
                    .text(&format!("IMP-{name}"))
                    .uuid(&site_id)
                    .uuid(&party_ids[customer])
                    .timestamptz(at)
                    .text(name)
                    .text("imported");
            },
        )
        .await?;
    } else {
        for (chunk, ids) in shipment_list.chunks(5000).zip(shipment_ids.chunks(5000)) {
            sqlx::query(
                "insert into shipments (id, number, site_id, customer_id, shipped_at, order_ref, notes)
                 select id, 'IMP-' || name, $1, customer, at, name, 'imported'
                   from unnest($2::uuid[], $3::text[], $4::uuid[], $5::timestamptz[]) as t(id, name, customer, at)",
            )
            .bind(site_id)
            .bind(ids)
            .bind(chunk.iter().map(|(name, _, _)| name.as_str()).collect::<Vec<_>>())
            .bind(chunk.iter().map(|(_, _, customer)| party_ids[customer]).collect::<Vec<_>>())
            .bind(chunk.iter().map(|(_, at, _)| *at).collect::<Vec<_>>())
            .execute(&mut *tx)
            .await?;
        }
    }

    lap("runs and shipments written");
    // The ledger, in time order; each movement's posting id is its own key to find its id again.
    let postings = time_ordered_ids(events.len());
    // Each event's movement id, in event order.
    let movement_of: Vec<i64> = if let Some(bulk) = &mut bulk {
        let first = reserve_ids(&mut tx, "stock_movements", events.len()).await?;
        let ids: Vec<i64> = (0..events.len() as i64).map(|i| first + i).collect();
        let actor_id = actor.id;
        let copied = copy_binary(
            &mut tx,
            "copy stock_movements (id, kind, lot_id, location_id, quantity, occurred_at, actor_id, posting_id, run_id, shipment_id)
             from stdin (format binary)",
            events.len(),
            progress,
            |out, i| {
                let e = &events[i];
                out.row(10)
                    .int8(ids[i])
                    .text(e.kind.as_str())
                    .uuid(&lot_ids[e.lot])
                    .uuid(&location_id)
                    .numeric(&e.quantity)
                    .timestamptz(&e.at)
                    .opt_uuid(actor_id.as_ref())
                    .uuid(&postings[i])
                    .opt_uuid(e.run.map(|r| &run_ids[r]))
                    .opt_uuid(e.shipment.map(|s| &shipment_ids[s]));
            },
        )
        .await?;
        bulk.wrote("stock_movements", first, events.len(), copied)?;
        ids
    } else {
        let mut movement_ids: HashMap<Uuid, i64> = HashMap::new();
        for (chunk, keys) in events.chunks(5000).zip(postings.chunks(5000)) {
            let rows: Vec<(Uuid, i64)> = sqlx::query_as(
                "insert into stock_movements (kind, lot_id, location_id, quantity, occurred_at, actor_id, posting_id, run_id, shipment_id, reason)
                 select kind, lot, $1, quantity, at, $2, posting, run, shipment, null
                   from unnest($3::text[], $4::uuid[], $5::numeric[], $6::timestamptz[], $7::uuid[], $8::uuid[], $9::uuid[]) with ordinality
                        as t(kind, lot, quantity, at, posting, run, shipment, n)
                  order by n
                 returning posting_id, id",
            )
            .bind(location_id)
            .bind(actor.id)
            .bind(chunk.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>())
            .bind(chunk.iter().map(|e| lot_ids[e.lot]).collect::<Vec<_>>())
            .bind(chunk.iter().map(|e| e.quantity).collect::<Vec<_>>())
            .bind(chunk.iter().map(|e| e.at).collect::<Vec<_>>())
            .bind(keys)
            .bind(chunk.iter().map(|e| e.run.map(|r| run_ids[r])).collect::<Vec<_>>())
            .bind(chunk.iter().map(|e| e.shipment.map(|s| shipment_ids[s])).collect::<Vec<_>>())
            .fetch_all(&mut *tx)
            .await?;
            movement_ids.extend(rows);
            progress.advance(chunk.len() as u64);
        }
        postings.iter().map(|k| movement_ids[k]).collect()
    };
    lap("movements copied");
    if bulk.is_some() {
        // The on-hand trigger is off for a bulk load: the balances checked above go in at once.
        let held: Vec<(usize, &Decimal)> = balance.iter().enumerate().filter(|(_, b)| !b.is_zero()).collect();
        copy_binary(
            &mut tx,
            "copy on_hand (lot_id, location_id, quantity) from stdin (format binary)",
            held.len(),
            &Quiet,
            |out, i| {
                let (lot, quantity) = held[i];
                out.row(3).uuid(&lot_ids[lot]).uuid(&location_id).numeric(quantity);
            },
        )
        .await?;
    }
    lap("ledger written");
    // Shipment lines, and the genealogy: every input of a run to every output.
    let mut line_no: HashMap<usize, i32> = HashMap::new();
    let ship_events: Vec<(usize, &Event, i64)> = events
        .iter()
        .zip(&movement_of)
        .filter(|(e, _)| e.kind == MovementKind::Ship)
        .map(|(e, m)| (e.shipment.unwrap_or_default(), e, *m))
        .collect();
    let numbers: Vec<i32> = ship_events
        .iter()
        .map(|(s, _, _)| {
            let n = line_no.entry(*s).or_default();
            *n += 1;
            *n
        })
        .collect();
    if bulk.is_some() {
        let line_ids = time_ordered_ids(ship_events.len());
        copy_binary(
            &mut tx,
            "copy shipment_lines (id, shipment_id, line_no, lot_id, quantity, location_id, movement_id) from stdin (format binary)",
            ship_events.len(),
            &Quiet,
            |out, i| {
                let (shipment, e, movement) = ship_events[i];
                out.row(7)
                    .uuid(&line_ids[i])
                    .uuid(&shipment_ids[shipment])
                    .int4(numbers[i])
                    .uuid(&lot_ids[e.lot])
                    .numeric(&-e.quantity)
                    .uuid(&location_id)
                    .int8(movement);
            },
        )
        .await?;
    } else {
        for (chunk, numbers) in ship_events.chunks(5000).zip(numbers.chunks(5000)) {
            sqlx::query(
                "insert into shipment_lines (shipment_id, line_no, lot_id, quantity, location_id, movement_id)
                 select shipment, n, lot, quantity, $1, movement from unnest($2::uuid[], $3::int[], $4::uuid[], $5::numeric[], $6::bigint[])
                        as t(shipment, n, lot, quantity, movement)",
            )
            .bind(location_id)
            .bind(chunk.iter().map(|(s, _, _)| shipment_ids[*s]).collect::<Vec<_>>())
            .bind(numbers)
            .bind(chunk.iter().map(|(_, e, _)| lot_ids[e.lot]).collect::<Vec<_>>())
            .bind(chunk.iter().map(|(_, e, _)| -e.quantity).collect::<Vec<_>>())
            .bind(chunk.iter().map(|(_, _, m)| *m).collect::<Vec<_>>())
            .execute(&mut *tx)
            .await?;
        }
    }
    lap("shipment lines written");
    /// A run's postings: (lot, movement) of its inputs and of its outputs.
    type Postings = (Vec<(Uuid, i64)>, Vec<(Uuid, i64)>);
    // In run order: the links go in grouped by run and roughly in time, so the indexes on the
    // run and on the movement pair are built from nearly sorted rows.
    let mut by_run: Vec<Postings> = vec![Postings::default(); runs.len()];
    for (e, m) in events.iter().zip(&movement_of) {
        if let Some(r) = e.run {
            let entry = &mut by_run[r];
            let item = (lot_ids[e.lot], *m);
            if e.kind == MovementKind::Consume { entry.0.push(item) } else { entry.1.push(item) }
        }
    }
    let mut links: Vec<(Uuid, Uuid, Uuid, DateTime<Utc>, i64, i64)> = Vec::new();
    for (r, (inputs, outputs)) in by_run.iter().enumerate() {
        for (from, input) in inputs {
            for (to, output) in outputs {
                links.push((run_ids[r], *from, *to, runs[r].1, *input, *output));
            }
        }
    }
    if let Some(bulk) = &mut bulk {
        let first = reserve_ids(&mut tx, "genealogy_links", links.len()).await?;
        let copied = copy_binary(
            &mut tx,
            "copy genealogy_links (id, kind, run_id, from_lot_id, to_lot_id, occurred_at, input_movement_id, output_movement_id)
             from stdin (format binary)",
            links.len(),
            &Quiet,
            |out, i| {
                let (run, from, to, at, input, output) = &links[i];
                out.row(8)
                    .int8(first + i as i64)
                    .text("run")
                    .uuid(run)
                    .uuid(from)
                    .uuid(to)
                    .timestamptz(at)
                    .int8(*input)
                    .int8(*output);
            },
        )
        .await?;
        bulk.wrote("genealogy_links", first, links.len(), copied)?;
    } else {
        for chunk in links.chunks(5000) {
            sqlx::query(
                "insert into genealogy_links (kind, run_id, from_lot_id, to_lot_id, occurred_at, input_movement_id, output_movement_id)
                 select 'run', run, f, t, at, i, o from unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::timestamptz[], $5::bigint[], $6::bigint[])
                        as x(run, f, t, at, i, o)",
            )
            .bind(chunk.iter().map(|l| l.0).collect::<Vec<_>>())
            .bind(chunk.iter().map(|l| l.1).collect::<Vec<_>>())
            .bind(chunk.iter().map(|l| l.2).collect::<Vec<_>>())
            .bind(chunk.iter().map(|l| l.3).collect::<Vec<_>>())
            .bind(chunk.iter().map(|l| l.4).collect::<Vec<_>>())
            .bind(chunk.iter().map(|l| l.5).collect::<Vec<_>>())
            .execute(&mut *tx)
            .await?;
        }
    }
    lap("links written");
    let bulk_loaded = bulk.is_some();
    if let Some(bulk) = bulk {
        progress.stage("indexing", bulk.steps());
        bulk.finish(&mut tx, progress).await?;
        lap("indexes and constraints rebuilt");
    }
    let summary = Summary {
        materials: new_materials.len(),
        parties: new_parties.len(),
        lots: lot_rows.len(),
        runs: runs.len(),
        shipments: shipment_list.len(),
        movements: events.len(),
        links: links.len(),
    };
    audit::record(
        &mut tx,
        actor,
        Entry::new("import", "import", dir.display()).after(&serde_json::json!({
            "files": files, "lots": summary.lots, "runs": summary.runs, "shipments": summary.shipments, "movements": summary.movements
        })),
    )
    .await?;
    tx.commit().await?;
    lap("committed");
    if bulk_loaded {
        vacuum(pool, progress).await?;
        lap("vacuumed");
    }
    Ok(Ok(summary))
}

/// Writes the folder's new materials and parties; every material's and party's id by code.
async fn write_master(
    tx: &mut sqlx::PgConnection,
    new_materials: &[NewMaterial],
    new_parties: &Roles,
    progress: &(dyn Progress + Sync),
) -> Result<(HashMap<String, Uuid>, HashMap<String, Uuid>), sqlx::Error> {
    for (code, name, kind, uom, shelf) in new_materials {
        sqlx::query("insert into materials (code, name, kind, uom, shelf_life_days, expiry_policy, qa_required) values ($1, $2, $3, $4, $5, $6, false)")
            .bind(code)
            .bind(name)
            .bind(kind)
            .bind(uom)
            .bind(shelf)
            .bind(if shelf.is_some() { "shelf_life" } else { "none" })
            .execute(&mut *tx)
            .await?;
    }
    progress.advance(new_materials.len() as u64);
    for (code, (name, supplier, customer)) in new_parties {
        sqlx::query(
            "insert into parties (code, name, is_supplier, is_customer) values ($1, $2, $3, $4)
             on conflict (code) do update set is_supplier = parties.is_supplier or excluded.is_supplier, is_customer = parties.is_customer or excluded.is_customer",
        )
        .bind(code)
        .bind(if name.is_empty() { code } else { name })
        .bind(supplier)
        .bind(customer)
        .execute(&mut *tx)
        .await?;
    }
    progress.advance(new_parties.len() as u64);
    let material_ids: HashMap<String, Uuid> = sqlx::query_as::<_, (String, Uuid)>("select code, id from materials")
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .collect();
    let party_ids: HashMap<String, Uuid> = sqlx::query_as::<_, (String, Uuid)>("select code, id from parties")
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .collect();
    Ok((material_ids, party_ids))
}
