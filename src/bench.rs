//! `lotline bench`: measurements on a scratch database of the configured server, through the
//! same operations the pages call. Durable commits throughout (the server's own settings).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

use crate::audit::Actor;
use crate::db::{self, Database};
use crate::stock::receive::{self, LineInput, ReceiptInput};

/// What `bench receive` measured.
#[derive(Debug)]
pub struct ReceiveReport {
    pub lots: u64,
    pub receipts: u64,
    pub seconds: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub synchronous_commit: String,
}

/// Creates `lots` lots through the receive operation with `concurrency` workers, `lines` lots
/// per receipt, on a scratch database that is dropped afterwards (unless `keep`).
pub async fn receive(
    database: &Database,
    lots: u64,
    concurrency: usize,
    lines: usize,
    keep: bool,
) -> Result<ReceiveReport> {
    let name = format!("lotline_bench_{}", std::process::id());
    let admin = database.options.clone().database("postgres");
    db::create_database_if_missing(&admin, &name).await?;
    let pool = db::pool(database.options.clone().database(&name), concurrency as u32 + 4).await?;
    let outcome = async {
        db::migrate(&pool).await?;
        crate::demo::load(&pool).await?;
        // A plant receiving tens of thousands of lots a day needs a wider daily sequence.
        sqlx::query("update lot_rules set pattern = '{YY}{JJJ}-{SEQ:6}' where scope = 'default'")
            .execute(&pool)
            .await?;
        let ids = |sql: &'static str| {
            let pool = pool.clone();
            async move { sqlx::query_scalar::<_, Uuid>(sql).fetch_one(&pool).await.context("bench fixture") }
        };
        let site = ids("select id from sites where code = 'RVS'").await?;
        let supplier = ids("select id from parties where code = 'SALINAS'").await?;
        let location = ids(
            "select l.id from locations l join sites s on s.id = l.site_id where s.code = 'RVS' and l.code = 'DOCK'",
        )
        .await?;
        let material = ids("select id from materials where code = 'SALT'").await?;
        let input = Arc::new(ReceiptInput {
            site_id: site,
            supplier_id: supplier,
            received_on: None,
            order_ref: "BENCH".into(),
            asn_ref: String::new(),
            lines: (0..lines)
                .map(|_| LineInput {
                    material_id: material,
                    supplier_lot: Some("SUP-BENCH".into()),
                    quantity: rust_decimal::Decimal::new(2500, 2),
                    location_id: location,
                    expires_on: None,
                    country_of_origin: None,
                })
                .collect(),
        });
        let receipts = lots.div_ceil(lines as u64);
        let next = Arc::new(AtomicU64::new(0));
        let done = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let progress = {
            let done = done.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    let n = done.load(Ordering::Relaxed) * lines as u64;
                    let rate = n as f64 / started.elapsed().as_secs_f64();
                    eprint!("\r  {n:>8} / {lots} lots  {rate:>8.0} lots/s   ");
                }
            })
        };
        let mut workers = Vec::new();
        for _ in 0..concurrency {
            let (pool, input, next, done) = (pool.clone(), input.clone(), next.clone(), done.clone());
            workers.push(tokio::spawn(async move {
                let actor = Actor::system("bench");
                let mut latencies = Vec::new();
                while next.fetch_add(1, Ordering::Relaxed) < receipts {
                    let t = Instant::now();
                    receive::receive(&pool, &actor, &input, Uuid::new_v4())
                        .await
                        .map_err(|e| anyhow::anyhow!("a receipt failed: {e:?}"))?;
                    latencies.push(t.elapsed());
                    done.fetch_add(1, Ordering::Relaxed);
                }
                Ok::<_, anyhow::Error>(latencies)
            }));
        }
        let mut latencies = Vec::new();
        for w in workers {
            latencies.extend(w.await??);
        }
        let seconds = started.elapsed().as_secs_f64();
        progress.abort();
        eprintln!();
        latencies.sort();
        let pct = |p: f64| {
            latencies
                .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
                .map(|d| d.as_secs_f64() * 1000.0)
                .unwrap_or(0.0)
        };
        let made: i64 =
            sqlx::query_scalar("select count(distinct (material_id, code)) from lots").fetch_one(&pool).await?;
        anyhow::ensure!(
            made as u64 == receipts * lines as u64,
            "expected {} distinct lots, found {made}",
            receipts * lines as u64
        );
        let synchronous_commit: String = sqlx::query_scalar("show synchronous_commit").fetch_one(&pool).await?;
        Ok(ReceiveReport {
            lots: made as u64,
            receipts,
            seconds,
            p50_ms: pct(0.50),
            p95_ms: pct(0.95),
            p99_ms: pct(0.99),
            synchronous_commit,
        })
    }
    .await;
    pool.close().await;
    if !keep {
        let mut conn = PgConnection::connect_with(&admin).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!("drop database if exists \"{name}\""))).execute(&mut conn).await?;
        conn.close().await?;
    }
    outcome
}

/// Latency figures for one kind of trace.
#[derive(Debug)]
pub struct Latency {
    pub what: String,
    pub median_ms: f64,
    pub p95_ms: f64,
    pub lots_reached: usize,
}

/// What `bench trace` measured.
#[derive(Debug)]
pub struct TraceReport {
    pub lots: usize,
    pub links: i64,
    pub generate_s: f64,
    pub import_s: f64,
    pub rows: Vec<Latency>,
}

fn latency(what: String, mut times: Vec<Duration>, lots_reached: usize) -> Latency {
    times.sort();
    let at = |p: f64| {
        times
            .get(((times.len() as f64 * p) as usize).min(times.len().saturating_sub(1)))
            .map(|d| d.as_secs_f64() * 1000.0)
            .unwrap_or(0.0)
    };
    Latency { what, median_ms: at(0.5), p95_ms: at(0.95), lots_reached }
}

/// Generates a plant of `lots` lots, imports it into a scratch database, and times traces of
/// `samples` typical lots and of the busiest raw lot, in both directions and modes, beside a plain
/// recursive SQL query for the lot-level closures.
pub async fn trace(database: &Database, lots: usize, samples: usize, keep: bool) -> Result<TraceReport> {
    use crate::trace::{Direction, Mode};
    let name = format!("lotline_bench_trace_{}", std::process::id());
    let admin = database.options.clone().database("postgres");
    db::create_database_if_missing(&admin, &name).await?;
    let pool = db::pool(database.options.clone().database(&name), 8).await?;
    let dir = std::env::temp_dir().join(format!("lotline-bench-{lots}-{}", std::process::id()));
    let outcome = async {
        db::migrate(&pool).await?;
        crate::demo::load(&pool).await?;
        let t = Instant::now();
        crate::generate::generate(&dir, lots, 1)?;
        let generate_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let bar = crate::import::Quiet;
        crate::import::import(&pool, &Actor::system("bench"), &dir, None, None, &bar)
            .await?
            .map_err(|p| anyhow::anyhow!("the generated plant was refused: {}", p.first().map(|p| p.to_string()).unwrap_or_default()))?;
        let import_s = t.elapsed().as_secs_f64();
        eprintln!("  imported {lots} lots in {import_s:.1} s; tracing…");
        sqlx::query("vacuum analyze").execute(&pool).await?;
        let links: i64 = sqlx::query_scalar("select count(*) from genealogy_links").fetch_one(&pool).await?;
        let typical: Vec<Uuid> = sqlx::query_scalar("select id from lots where notes = 'imported' order by md5(id::text) limit $1")
            .bind(samples as i64)
            .fetch_all(&pool)
            .await?;
        let busiest: Uuid = sqlx::query_scalar(
            "select from_lot_id from genealogy_links group by from_lot_id order by count(*) desc limit 1",
        )
        .fetch_one(&pool)
        .await?;
        let mut rows = Vec::new();
        for (direction, d) in [(Direction::Forward, "forward"), (Direction::Backward, "backward")] {
            for (mode, m) in [(Mode::Precise, "precise"), (Mode::LotLevel, "lot-level")] {
                let mut times = Vec::new();
                let mut reached = 0;
                for &lot in &typical {
                    let t = Instant::now();
                    let tr = crate::trace::trace(&pool, lot, direction, mode).await?;
                    times.push(t.elapsed());
                    reached = reached.max(tr.lots.len());
                }
                rows.push(latency(format!("typical lot, {d}, {m} (largest reached {reached})"), times, reached));
            }
        }
        for (mode, m) in [(Mode::Precise, "precise"), (Mode::LotLevel, "lot-level")] {
            let mut times = Vec::new();
            let mut reached = 0;
            for _ in 0..5 {
                let t = Instant::now();
                let tr = crate::trace::trace(&pool, busiest, Direction::Forward, mode).await?;
                times.push(t.elapsed());
                reached = tr.lots.len();
            }
            rows.push(latency(format!("busiest raw lot, forward, {m}"), times, reached));
        }
        // The baseline: one plain recursive query for the lot-level forward closure.
        let recursive = "with recursive down(lot) as (select $1::uuid union select g.to_lot_id from genealogy_links g join down on g.from_lot_id = down.lot where g.reversed_at is null) select count(*) from down";
        for (label, lots_) in [("typical lot", typical.clone()), ("busiest raw lot", vec![busiest; 5])] {
            let mut times = Vec::new();
            let mut reached = 0;
            for lot in lots_ {
                let t = Instant::now();
                let n: i64 = sqlx::query_scalar(recursive).bind(lot).fetch_one(&pool).await?;
                times.push(t.elapsed());
                reached = reached.max(n as usize);
            }
            rows.push(latency(format!("{label}, forward, plain recursive SQL (lot-level, ids only)"), times, reached));
        }
        Ok(TraceReport { lots, links, generate_s, import_s, rows })
    }
    .await;
    pool.close().await;
    let _ = std::fs::remove_dir_all(&dir);
    if !keep {
        let mut conn = PgConnection::connect_with(&admin).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!("drop database if exists \"{name}\""))).execute(&mut conn).await?;
        conn.close().await?;
    }
    outcome
}
