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
        crate::tools::demo::load(&pool).await?;
        // A plant receiving tens of thousands of lots a day needs a wider daily sequence.
        sqlx::query("update lot_rules set pattern = '{YY}{JJJ}-{SEQ:6}' where scope = 'default'")
            .execute(&pool)
            .await?;
        let ids = |sql: &'static str| {
            let pool = pool.clone();
            async move { sqlx::query_scalar::<_, Uuid>(sql).fetch_one(&pool).await.context("bench fixture") }
        };
        // The demo plant's own lots, made through its first days' flows.
        let before: i64 = sqlx::query_scalar("select count(*) from lots").fetch_one(&pool).await?;
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
        let made = made - before;
        anyhow::ensure!(
            made as u64 == receipts * lines as u64,
            "expected {} new distinct lots, found {made}",
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
    /// The plant's database, for `--plant` when it is kept.
    pub database: String,
    pub lots: usize,
    pub links: i64,
    pub generate_s: f64,
    pub import_s: f64,
    /// Seconds the server's background confirmation of the import's foreign keys took after it
    /// (`db::confirm_foreign_keys`; reads and writes go on meanwhile).
    pub confirm_s: f64,
    pub rows: Vec<Latency>,
    /// The bench process's peak resident memory while importing, MiB.
    pub import_peak_mib: f64,
    /// Its peak while tracing (it hosts the server answering over HTTP), MiB, and how much of
    /// it the process held already when tracing began (what the import left allocated).
    pub peak_mib: f64,
    pub held_mib: f64,
    /// The link index (`crate::links`): seconds to build it, and what it added to the process, MiB.
    pub index_s: f64,
    pub index_mib: f64,
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

/// One GET over a fresh connection, the whole body read; refuses anything but 200.
async fn http_get(address: std::net::SocketAddr, path: &str, token: &str) -> Result<Vec<u8>> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(address).await?;
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    anyhow::ensure!(
        response.starts_with(b"HTTP/1.1 200"),
        "GET {path}: {}",
        String::from_utf8_lossy(&response[..response.len().min(200)])
    );
    Ok(response)
}

/// Starts the peak resident set (VmHWM) afresh from the current one (Linux: clear_refs 5).
fn reset_peak_memory() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// A line of the process's memory status (VmHWM: peak resident set; VmRSS: now), in MiB; 0
/// where /proc is not there.
fn memory_mib(field: &str) -> f64 {
    memory_mib_of("self", field)
}

fn memory_mib_of(process: &str, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{process}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()))
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// One line of the load report.
pub struct LoadRow {
    pub what: String,
    pub connections: usize,
    pub requests: usize,
    pub errors: usize,
    pub per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

pub struct LoadReport {
    pub rows: Vec<LoadRow>,
    /// The server process's resident memory before the load, and its peak under it.
    pub rss_before_mib: f64,
    pub peak_mib: f64,
    /// The scratch database, when kept.
    pub database: String,
}

/// What `bench load` measures.
pub const LOAD_REQUESTS: [&str; 4] = ["lot page", "dashboard", "trace API, typical lot, forward", "receipt post"];

/// Options of `bench load`.
pub struct LoadOptions {
    pub lots: usize,
    pub seconds: f64,
    pub keep: bool,
    /// A plant kept by an earlier `--keep` run, measured again instead of a new one.
    pub plant: Option<String>,
    /// Only the requests whose name contains this.
    pub only: Option<String>,
    /// The configured `DATABASE_URL`, from which the server process's URL is made.
    pub database_url: Option<String>,
}

/// `lotline serve` as a process of its own on the plant's database, as it is deployed: the load
/// goes to it over loopback, and its memory is what the report gives.
struct ServerProcess {
    child: tokio::process::Child,
    address: std::net::SocketAddr,
}

impl ServerProcess {
    async fn start(url: &str) -> Result<ServerProcess> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let address = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let mut child = tokio::process::Command::new(std::env::current_exe()?)
            .arg("serve")
            .env("DATABASE_URL", url)
            .env_remove("DATABASE_READ_URL")
            .env("LOTLINE_LISTEN", address.to_string())
            .env("LOTLINE_LOG", "warn")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("Failed to start the server process")?;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if http_get(address, "/healthz", "").await.is_ok() {
                return Ok(ServerProcess { child, address });
            }
            if let Some(status) = child.try_wait()? {
                anyhow::bail!("the server process exited with {status}");
            }
            anyhow::ensure!(Instant::now() < deadline, "the server process did not answer /healthz within 60 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn pid(&self) -> String {
        self.child.id().map(|p| p.to_string()).unwrap_or_default()
    }

    async fn stop(mut self) -> Result<()> {
        self.child.kill().await?;
        Ok(())
    }
}

/// A URL another process reaches database `name` at: the configured `DATABASE_URL` with its
/// database swapped, or the private cluster's socket.
fn url_for(configured: Option<&str>, options: &sqlx::postgres::PgConnectOptions, name: &str) -> String {
    match configured {
        Some(url) => {
            let (head, query) = url.split_once('?').map(|(h, q)| (h, format!("?{q}"))).unwrap_or((url, String::new()));
            let authority = head.find("://").map(|i| i + 3).unwrap_or(0);
            let path = head[authority..].find('/').map(|i| authority + i).unwrap_or(head.len());
            format!("{}/{name}{query}", &head[..path])
        }
        None => format!(
            "postgres:///{name}?host={}&port={}&user={}",
            crate::domain::text::percent_encode(
                &options.get_socket().map(|s| s.display().to_string()).unwrap_or_default()
            ),
            options.get_port(),
            crate::domain::text::percent_encode(options.get_username()),
        ),
    }
}

/// Requests per second and latency at 1, 16 and 64 keep-alive connections, for the lot page,
/// the dashboard, the trace API of a typical lot and a receipt post, on a generated plant of
/// `lots` lots served by a `lotline serve` process of its own, over loopback.
pub async fn load(database: &Database, o: &LoadOptions) -> Result<LoadReport> {
    let scratch = match &o.plant {
        Some(name) => Scratch::existing(database, name).await?,
        None => Scratch::open(database, "load", o.lots, 4).await?,
    };
    let pool = scratch.pool.clone();
    let outcome = async {
        if o.plant.is_none() {
            scratch.fill(o.lots, false).await?;
            eprintln!("  imported {} lots; loading…", o.lots);
        }
        let sample: Vec<Uuid> =
            sqlx::query_scalar("select id from lots where notes = 'imported' order by md5(id::text) limit 1000")
                .fetch_all(&pool)
                .await?;
        anyhow::ensure!(!sample.is_empty(), "the plant has no lots");
        // The demo QA account may read and receive.
        let token = token_for(&pool, "qa").await?;
        let server =
            ServerProcess::start(&url_for(o.database_url.as_deref(), &database.options, &scratch.name)).await?;
        let pid = server.pid();
        let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
        let rss_before_mib = memory_mib_of(&pid, "VmRSS:");
        let mut rows = Vec::new();
        for what in LOAD_REQUESTS.into_iter().filter(|w| o.only.as_deref().is_none_or(|only| w.contains(only))) {
            for connections in [1usize, 16, 64] {
                rows.push(load_one(server.address, &token, what, connections, o.seconds, &sample).await?);
                eprintln!("  {what} at {connections} connections done");
            }
        }
        let peak_mib = memory_mib_of(&pid, "VmHWM:");
        server.stop().await?;
        Ok(LoadReport { rows, rss_before_mib, peak_mib, database: scratch.name.clone() })
    }
    .await;
    let keep = o.keep || o.plant.is_some();
    scratch.close(keep).await?;
    outcome
}

/// `connections` keep-alive clients sending `what` for `seconds`.
async fn load_one(
    address: std::net::SocketAddr,
    token: &str,
    what: &'static str,
    connections: usize,
    seconds: f64,
    sample: &[Uuid],
) -> Result<LoadRow> {
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let mut workers = Vec::new();
    for worker in 0..connections {
        let (token, sample) = (token.to_string(), sample.to_vec());
        workers.push(tokio::spawn(async move {
            use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
            let stream = tokio::net::TcpStream::connect(address).await?;
            stream.set_nodelay(true)?;
            let mut stream = BufReader::new(stream);
            let (mut times, mut errors, mut i) = (Vec::new(), 0usize, worker);
            while Instant::now() < deadline {
                let lot = sample[i % sample.len()];
                i += connections;
                let request = match what {
                    "lot page" => format!("GET /lots/{lot} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n\r\n"),
                    "dashboard" => format!("GET / HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n\r\n"),
                    "receipt post" => {
                        let body = serde_json::json!({
                            "idempotency_key": Uuid::new_v4(), "site": "RVS", "supplier": "SALINAS",
                            "lines": [{ "material": "SALT", "quantity": "1", "location": "RAW-A" }]
                        })
                        .to_string();
                        format!(
                            "POST /api/v1/receipts HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                            body.len()
                        )
                    }
                    _ => format!(
                        "GET /api/v1/trace?lot_id={lot}&direction=forward HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n\r\n"
                    ),
                };
                let t = Instant::now();
                stream.get_mut().write_all(request.as_bytes()).await?;
                let mut status_line = String::new();
                stream.read_line(&mut status_line).await?;
                let mut length = 0usize;
                loop {
                    let mut line = String::new();
                    stream.read_line(&mut line).await?;
                    if line == "\r\n" || line.is_empty() {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; length];
                stream.read_exact(&mut body).await?;
                times.push(t.elapsed());
                if !(status_line.starts_with("HTTP/1.1 200") || status_line.starts_with("HTTP/1.1 201")) {
                    errors += 1;
                }
            }
            Ok::<_, anyhow::Error>((times, errors))
        }));
    }
    let (mut times, mut errors) = (Vec::new(), 0);
    for w in workers {
        let (t, e) = w.await??;
        times.extend(t);
        errors += e;
    }
    times.sort();
    let at = |q: f64| {
        times
            .get(((times.len() as f64 * q) as usize).min(times.len().saturating_sub(1)))
            .map(|d| d.as_secs_f64() * 1000.0)
            .unwrap_or(0.0)
    };
    Ok(LoadRow {
        what: what.to_string(),
        connections,
        requests: times.len(),
        errors,
        per_second: times.len() as f64 / seconds,
        p50_ms: at(0.50),
        p99_ms: at(0.99),
    })
}

/// A scratch database of the configured server, and a folder for a generated plant.
struct Scratch {
    pool: sqlx::PgPool,
    admin: sqlx::postgres::PgConnectOptions,
    name: String,
    dir: std::path::PathBuf,
}

/// A generated plant, imported.
struct Filled {
    generated: crate::tools::generate::Generated,
    generate_s: f64,
    import_s: f64,
    confirm_s: f64,
    import_peak_mib: f64,
}

impl Scratch {
    async fn open(database: &Database, kind: &str, lots: usize, connections: u32) -> Result<Scratch> {
        let name = format!("lotline_bench_{kind}_{}", std::process::id());
        let admin = database.options.clone().database("postgres");
        db::create_database_if_missing(&admin, &name).await?;
        let pool = db::pool(database.options.clone().database(&name), connections).await?;
        let dir = std::env::temp_dir().join(format!("lotline-bench-{kind}-{lots}-{}", std::process::id()));
        Ok(Scratch { pool, admin, name, dir })
    }

    /// A plant an earlier run kept, brought to this binary's schema (as `serve` would).
    async fn existing(database: &Database, name: &str) -> Result<Scratch> {
        let pool = db::pool(database.options.clone().database(name), 4)
            .await
            .with_context(|| format!("no kept plant named {name}"))?;
        db::migrate(&pool).await?;
        let admin = database.options.clone().database("postgres");
        Ok(Scratch {
            pool,
            admin,
            name: name.to_string(),
            dir: std::env::temp_dir().join(format!("lotline-bench-{name}")),
        })
    }

    /// Migrates, loads the demo plant (its site and users), generates `lots` lots and imports
    /// them (the import's time and peak memory measured), then analyses the tables.
    async fn fill(&self, lots: usize, tank: bool) -> Result<Filled> {
        db::migrate(&self.pool).await?;
        crate::tools::demo::load(&self.pool).await?;
        let t = Instant::now();
        let generated = crate::tools::generate::generate(&self.dir, lots, 1, tank, &crate::import::Quiet)?;
        let generate_s = t.elapsed().as_secs_f64();
        reset_peak_memory();
        let t = Instant::now();
        crate::import::import(&self.pool, &Actor::system("bench"), &self.dir, None, None, false, &crate::import::Quiet)
            .await?
            .map_err(|p| {
                anyhow::anyhow!(
                    "the generated plant was refused: {}",
                    p.first().map(|p| p.to_string()).unwrap_or_default()
                )
            })?;
        let import_s = t.elapsed().as_secs_f64();
        let import_peak_mib = memory_mib("VmHWM:");
        // What a server does in the background after an import, done here before the traces are
        // timed, so that it does not run beside them.
        let t = Instant::now();
        let unconfirmed = db::confirm_foreign_keys(&self.pool).await?;
        anyhow::ensure!(unconfirmed == 0, "{unconfirmed} foreign keys could not be confirmed after the import");
        let confirm_s = t.elapsed().as_secs_f64();
        sqlx::query("vacuum analyze").execute(&self.pool).await?;
        Ok(Filled { generated, generate_s, import_s, import_peak_mib, confirm_s })
    }

    /// Closes the pool, removes the folder and, unless kept, drops the database.
    async fn close(self, keep: bool) -> Result<()> {
        self.pool.close().await;
        let _ = std::fs::remove_dir_all(&self.dir);
        if !keep {
            let mut conn = PgConnection::connect_with(&self.admin).await?;
            let drop = format!("drop database if exists \"{}\"", self.name);
            sqlx::query(sqlx::AssertSqlSafe(drop)).execute(&mut conn).await?;
            conn.close().await?;
        }
        Ok(())
    }
}

/// Serves `pool` on an ephemeral loopback port; returns the address, the server task and an API
/// token of the demo account `user`.
async fn serve(
    pool: &sqlx::PgPool,
    user: &str,
    links: std::sync::Arc<crate::trace::links::LinkIndex>,
) -> Result<(std::net::SocketAddr, tokio::task::JoinHandle<std::io::Result<()>>, String)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let app = crate::app::Application::build(pool.clone(), crate::app::Settings { links, ..Default::default() })?;
    app.ready().await;
    let server = tokio::spawn(app.run_until_stopped(listener, std::future::pending()));
    Ok((address, server, token_for(pool, user).await?))
}

/// A new API token of the account `user`.
async fn token_for(pool: &sqlx::PgPool, user: &str) -> Result<String> {
    let id: Uuid = sqlx::query_scalar("select id from users where username = $1").bind(user).fetch_one(pool).await?;
    crate::auth::users::create_token(pool, &Actor::system("bench"), id, "bench")
        .await
        .map_err(|e| anyhow::anyhow!("API token: {e:?}"))
}
