//! `bench trace`: trace latency in process, over the API and on the trace page, beside a plain
//! recursive SQL query for the same closures.

use super::*;

/// Generates a plant of `lots` lots (with the syrup tank if `tank`), imports it into a scratch
/// database, and times traces: `samples` typical lots in both directions and modes, called in
/// process and over HTTP; the heaviest raw lot (the silo lot with the most draws, or with `tank`
/// the tank's first delivery) forward in both modes, in process and over HTTP; and beside them a
/// plain recursive SQL query for the same lot-level closures, the baseline.
/// What `bench trace` measures: a new plant of `lots` lots, or a kept one.
pub struct TraceOptions {
    pub lots: usize,
    pub samples: usize,
    pub keep: bool,
    pub tank: bool,
    pub plant: Option<String>,
}

pub async fn trace(database: &Database, o: &TraceOptions) -> Result<TraceReport> {
    use crate::trace::{Direction, Mode};
    let (samples, tank) = (o.samples, o.tank);
    let scratch = match &o.plant {
        Some(name) => Scratch::existing(database, name).await?,
        None => Scratch::open(database, "trace", o.lots, 16).await?,
    };
    let pool = scratch.pool.clone();
    let outcome = async {
        let (tank_source, generate_s, import_s, import_peak_mib, confirm_s) = if o.plant.is_none() {
            let filled = scratch.fill(o.lots, tank).await?;
            eprintln!("  imported {} lots in {:.1} s; tracing…", o.lots, filled.import_s);
            (filled.generated.tank_source, filled.generate_s, filled.import_s, filled.import_peak_mib, filled.confirm_s)
        } else {
            let tank_source = if tank {
                Some(crate::tools::generate::tank_first_delivery(&pool).await?.context("the kept plant has no syrup tank")?)
            } else {
                None
            };
            (tank_source, 0.0, 0.0, 0.0, 0.0)
        };
        let lots: i64 = sqlx::query_scalar("select count(*) from lots where notes = 'imported'").fetch_one(&pool).await?;
        let lots = lots as usize;
        let link_count: i64 = sqlx::query_scalar("select count(*) from genealogy_links").fetch_one(&pool).await?;
        let typical: Vec<Uuid> = sqlx::query_scalar("select id from lots where notes = 'imported' order by md5(id::text) limit $1")
            .bind(samples as i64)
            .fetch_all(&pool)
            .await?;
        let (heaviest, _, _) = crate::tools::generate::furthest_reaching_lot(&pool, tank_source.as_deref())
            .await?
            .context("the generated plant has no raw lot with links")?;
        let heavy_label = if tank { "tank's first delivery" } else { "heaviest raw lot (silo)" };

        reset_peak_memory();
        let held_mib = memory_mib("VmRSS:");
        // The link index, as a server builds it when it starts.
        let links: std::sync::Arc<crate::trace::links::LinkIndex> = Default::default();
        let before = memory_mib("VmRSS:");
        let t = Instant::now();
        links.build(&pool).await?;
        let (index_s, index_mib) = (t.elapsed().as_secs_f64(), memory_mib("VmRSS:") - before);
        // The server, on an ephemeral port, with an API token of the demo administrator.
        let (address, server, token) = serve(&pool, "admin", links.clone()).await?;
        let api = |lot: &Uuid, d: &str, m: &str| format!("/api/v1/trace?lot_id={lot}&direction={d}&mode={m}");

        let mut rows = Vec::new();
        for (direction, d) in [(Direction::Forward, "forward"), (Direction::Backward, "backward")] {
            for (mode, m) in [(Mode::Precise, "precise"), (Mode::LotLevel, "lot-level")] {
                let (times, reached) = time_traces(&pool, Some(&links), &typical, direction, mode).await?;
                rows.push(latency(format!("typical lot, {d}, {m}, in process (largest reached {reached})"), times, reached));
                let (times, _) = time_gets(address, &token, typical.iter().map(|lot| api(lot, d, m))).await?;
                rows.push(latency(format!("typical lot, {d}, {m}, over HTTP"), times, reached));
            }
        }
        let heavy = vec![heaviest; if tank { 3 } else { 10 }];
        for (mode, m) in [(Mode::Precise, "precise"), (Mode::LotLevel, "lot-level")] {
            let (times, reached) = time_traces(&pool, Some(&links), &heavy, Direction::Forward, mode).await?;
            rows.push(latency(format!("{heavy_label}, forward, {m}, in process"), times, reached));
            let (times, reached) = time_traces(&pool, None, &heavy, Direction::Forward, mode).await?;
            rows.push(latency(format!("{heavy_label}, forward, {m}, in process, closure read from the database"), times, reached));
            let (times, bytes) = time_gets(address, &token, heavy.iter().map(|lot| api(lot, "forward", m))).await?;
            rows.push(latency(format!("{heavy_label}, forward, {m}, over HTTP ({:.1} MB of JSON)", bytes as f64 / 1e6), times, reached));
            let page = |lot: &Uuid| format!("/trace?lot_id={lot}&direction=forward&mode={m}");
            let (times, bytes) = time_gets(address, &token, heavy.iter().map(page)).await?;
            rows.push(latency(format!("{heavy_label}, forward, {m}, the trace page ({:.1} MB of HTML)", bytes as f64 / 1e6), times, reached));
        }
        // The baseline: one plain recursive query for the lot-level closure, ids only.
        let down = "with recursive r(lot) as (select $1::uuid union select g.to_lot_id from genealogy_links g join r on g.from_lot_id = r.lot where g.reversed_at is null) select count(*) from r";
        let up = "with recursive r(lot) as (select $1::uuid union select g.from_lot_id from genealogy_links g join r on g.to_lot_id = r.lot where g.reversed_at is null) select count(*) from r";
        for (label, sql, lots_) in [
            ("typical lot, forward", down, typical.clone()),
            ("typical lot, backward", up, typical.clone()),
            (heavy_label, down, heavy.clone()),
        ] {
            let mut times = Vec::new();
            let mut reached = 0;
            for lot in lots_ {
                let t = Instant::now();
                let n: i64 = sqlx::query_scalar(sql).bind(lot).fetch_one(&pool).await?;
                times.push(t.elapsed());
                reached = reached.max(n as usize);
            }
            let label = if label == heavy_label { format!("{label}, forward") } else { label.to_string() };
            rows.push(latency(format!("{label}, plain recursive SQL (lot-level, ids only)"), times, reached));
            // The same closure from the link index, as a trace takes it: brought up to date with
            // the database (one round trip), then walked in memory.
            let forward = sql == down;
            let mut times = Vec::new();
            let mut reached = 0;
            for lot in if label.starts_with("typical") { &typical } else { &heavy } {
                let t = Instant::now();
                anyhow::ensure!(links.refresh(&pool).await, "the link index is not ready");
                let n = links.closure(*lot, forward).map(|c| c.ids.len()).unwrap_or_default();
                times.push(t.elapsed());
                reached = reached.max(n);
            }
            rows.push(latency(format!("{label}, link index (lot-level, ids and links)"), times, reached));
        }
        server.abort();
        Ok(TraceReport { database: scratch.name.clone(), lots, links: link_count, generate_s, import_s, confirm_s, rows, import_peak_mib, peak_mib: memory_mib("VmHWM:"), held_mib, index_s, index_mib })
    }
    .await;
    scratch.close(o.keep || o.plant.is_some()).await?;
    outcome
}

/// Traces each lot in turn through the query layer: the times, and the most lots one reached.
async fn time_traces(
    pool: &sqlx::PgPool,
    links: Option<&std::sync::Arc<crate::trace::links::LinkIndex>>,
    lots: &[Uuid],
    direction: crate::trace::Direction,
    mode: crate::trace::Mode,
) -> Result<(Vec<Duration>, usize)> {
    let mut times = Vec::new();
    let mut reached = 0;
    for &lot in lots {
        let t = Instant::now();
        let trace = crate::trace::trace_with(pool, links, lot, direction, mode).await?;
        times.push(t.elapsed());
        reached = reached.max(trace.lots.len());
    }
    Ok((times, reached))
}

/// GETs each path in turn with the API token: the times, and the size of the last response.
async fn time_gets(
    address: std::net::SocketAddr,
    token: &str,
    paths: impl Iterator<Item = String>,
) -> Result<(Vec<Duration>, usize)> {
    let mut times = Vec::new();
    let mut bytes = 0;
    for path in paths {
        let t = Instant::now();
        bytes = http_get(address, &path, token).await?.len();
        times.push(t.elapsed());
    }
    Ok((times, bytes))
}
