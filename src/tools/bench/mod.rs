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
use crate::stock::receive::{LineInput, ReceiptInput};

pub mod command;
mod epcis;
mod load;
mod receive;
mod trace;

pub use epcis::*;
pub use load::*;
pub use receive::*;
pub use trace::*;

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

/// One GET over a fresh connection, the whole body read; refuses anything but 200.
pub(super) async fn http_get(address: std::net::SocketAddr, path: &str, token: &str) -> Result<Vec<u8>> {
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
pub(super) fn reset_peak_memory() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// A line of the process's memory status (VmHWM: peak resident set; VmRSS: now), in MiB; 0
/// where /proc is not there.
pub(super) fn memory_mib(field: &str) -> f64 {
    memory_mib_of("self", field)
}

pub(super) fn memory_mib_of(process: &str, field: &str) -> f64 {
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

/// A scratch database of the configured server, and a folder for a generated plant.
pub(super) struct Scratch {
    pub(super) pool: sqlx::PgPool,
    pub(super) admin: sqlx::postgres::PgConnectOptions,
    pub(super) name: String,
    pub(super) dir: std::path::PathBuf,
}

/// A generated plant, imported.
pub(super) struct Filled {
    pub(super) generated: crate::tools::generate::Generated,
    pub(super) generate_s: f64,
    pub(super) import_s: f64,
    pub(super) confirm_s: f64,
    pub(super) import_peak_mib: f64,
}

impl Scratch {
    pub(super) async fn open(database: &Database, kind: &str, lots: usize, connections: u32) -> Result<Scratch> {
        let name = format!("lotline_bench_{kind}_{}", std::process::id());
        let admin = database.owner.clone().database("postgres");
        db::create_database_if_missing(&admin, &name).await?;
        let pool = db::pool(database.owner.clone().database(&name), connections).await?;
        let dir = std::env::temp_dir().join(format!("lotline-bench-{kind}-{lots}-{}", std::process::id()));
        Ok(Scratch { pool, admin, name, dir })
    }

    /// A plant an earlier run kept, brought to this binary's schema (as `serve` would).
    pub(super) async fn existing(database: &Database, name: &str) -> Result<Scratch> {
        let pool = db::pool(database.owner.clone().database(name), 4)
            .await
            .with_context(|| format!("no kept plant named {name}"))?;
        db::migrate(&pool).await?;
        let admin = database.owner.clone().database("postgres");
        Ok(Scratch {
            pool,
            admin,
            name: name.to_string(),
            dir: std::env::temp_dir().join(format!("lotline-bench-{name}")),
        })
    }

    /// Migrates, loads the demo plant (its site and users), generates `lots` lots and imports
    /// them (the import's time and peak memory measured), then analyses the tables.
    pub(super) async fn fill(&self, lots: usize, tank: bool) -> Result<Filled> {
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
    pub(super) async fn close(self, keep: bool) -> Result<()> {
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
pub(super) async fn serve(
    pool: &sqlx::PgPool,
    user: &str,
    links: std::sync::Arc<crate::trace::links::LinkIndex>,
) -> Result<(std::net::SocketAddr, tokio::task::JoinHandle<std::io::Result<()>>, String)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let app = crate::app::Application::build(
        pool.clone(),
        crate::app::Settings { links, epcis_every: None, ..Default::default() },
    )?;
    app.ready().await;
    let server = tokio::spawn(app.run_until_stopped(listener, std::future::pending()));
    Ok((address, server, token_for(pool, user).await?))
}

/// A new API token of the account `user`.
pub(super) async fn token_for(pool: &sqlx::PgPool, user: &str) -> Result<String> {
    let id: Uuid = sqlx::query_scalar("select id from users where username = $1").bind(user).fetch_one(pool).await?;
    crate::auth::users::create_token(pool, &Actor::system("bench"), id, "bench", "write", 30)
        .await
        .map_err(|e| anyhow::anyhow!("API token: {e:?}"))
}
