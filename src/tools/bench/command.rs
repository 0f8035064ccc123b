//! The `lotline bench` commands: what each measures, and its report on the terminal.

use anyhow::Result;
use clap::Subcommand;

use crate::config::DbConfig;
use crate::db::Database;

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// EPCIS publication of a generated plant, and pages of the query interface over HTTP.
    Epcis {
        #[arg(long, default_value_t = 20_000)]
        lots: usize,
        /// How many times each query is asked.
        #[arg(long, default_value_t = 20)]
        samples: usize,
        #[arg(long)]
        keep: bool,
    },
    /// Lot creations per second through the receive operation, with durable commits.
    Receive {
        /// How many lots to create.
        #[arg(long, default_value_t = 20_000)]
        lots: u64,
        /// How many receipts are posted at once.
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        /// Lots per receipt (a receipt is one transaction).
        #[arg(long, default_value_t = 1)]
        lines: usize,
        /// Keep the scratch database for a look afterwards.
        #[arg(long)]
        keep: bool,
    },
    /// Trace latency on a generated plant of --lots lots, imported into a scratch database.
    Trace {
        #[arg(long, default_value_t = 10_000)]
        lots: usize,
        /// How many typical lots are traced.
        #[arg(long, default_value_t = 100)]
        samples: usize,
        #[arg(long)]
        keep: bool,
        /// Generate the plant with the syrup tank (see `demo --tank`) and trace its first delivery.
        #[arg(long)]
        tank: bool,
        /// Measure a plant an earlier `--keep` run left, instead of generating one (with
        /// `--tank` if it was made with it).
        #[arg(long)]
        plant: Option<String>,
    },
    /// Requests per second and latency of the lot page, the dashboard, the trace API and a
    /// receipt post at 1, 16 and 64 connections, on a generated plant served by a `lotline
    /// serve` process of its own.
    Load {
        #[arg(long, default_value_t = 100_000)]
        lots: usize,
        /// How long each measurement runs.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        /// Keep the plant's database (its name is printed) for `--plant`.
        #[arg(long)]
        keep: bool,
        /// Measure a plant an earlier `--keep` run left, instead of generating one.
        #[arg(long)]
        plant: Option<String>,
        /// Only the requests whose name contains this (lot page, dashboard, trace, receipt).
        #[arg(long)]
        only: Option<String>,
    },
}

/// Runs one bench command against the configured server.
pub async fn run(db: &DbConfig, cmd: BenchCommand) -> Result<()> {
    match cmd {
        BenchCommand::Epcis { lots, samples, keep } => {
            let database = Database::open(db).await?;
            println!("bench epcis: a plant of {lots} lots, each query asked {samples} times");
            let result = super::epcis(&database, lots, samples.max(1), keep).await;
            database.close().await?;
            let r = result?;
            println!(
                "{} lots, {} movements: first publication {} events in {:.1} s ({:.0} events/s); {} receipts of ten lots published in {:.1} ms",
                r.lots,
                r.movements,
                r.events,
                r.publish_s,
                r.events as f64 / r.publish_s,
                r.receipts,
                r.incremental_ms
            );
            for row in r.rows {
                println!("  {:<40} median {:>8.2} ms  p95 {:>8.2} ms", row.what, row.median_ms, row.p95_ms);
            }
            if keep {
                println!("the plant is kept: {}", r.database);
            }
            Ok(())
        }
        BenchCommand::Receive { lots, concurrency, lines, keep } => {
            anyhow::ensure!(
                lots > 0 && concurrency > 0 && lines > 0,
                "--lots, --concurrency and --lines must be at least 1"
            );
            let database = Database::open(db).await?;
            println!("bench receive: {lots} lots, {concurrency} at once, {lines} per receipt");
            let result = super::receive(&database, lots, concurrency, lines, keep).await;
            database.close().await?;
            let r = result?;
            println!(
                "{} lots in {} receipts in {:.2} s: {:.0} lots/s; receipt latency p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms (synchronous_commit = {})",
                r.lots,
                r.receipts,
                r.seconds,
                r.lots as f64 / r.seconds,
                r.p50_ms,
                r.p95_ms,
                r.p99_ms,
                r.synchronous_commit
            );
            Ok(())
        }
        BenchCommand::Trace { lots, samples, keep, tank, plant } => {
            let database = Database::open(db).await?;
            match &plant {
                Some(name) => println!("bench trace: the kept plant {name}, {samples} typical lots traced"),
                None => println!(
                    "bench trace: a plant of {lots} lots{}, {samples} typical lots traced",
                    if tank { " with the syrup tank" } else { "" }
                ),
            }
            let options = super::TraceOptions { lots, samples: samples.max(1), keep, tank, plant };
            let result = super::trace(&database, &options).await;
            database.close().await?;
            let r = result?;
            println!(
                "{} lots, {} genealogy links; generated in {:.1} s, imported in {:.1} s (its foreign keys confirmed in the background {:.1} s more)",
                r.lots, r.links, r.generate_s, r.import_s, r.confirm_s
            );
            for row in r.rows {
                println!(
                    "  {:<86} median {:>8.2} ms  p95 {:>8.2} ms  ({} lots)",
                    row.what, row.median_ms, row.p95_ms, row.lots_reached
                );
            }
            println!(
                "peak memory of the bench process: {:.0} MiB importing; {:.0} MiB tracing (server and client), {:.0} MiB of it held before tracing began",
                r.import_peak_mib, r.peak_mib, r.held_mib
            );
            println!("link index: built in {:.1} s, {:.0} MiB", r.index_s, r.index_mib);
            if keep {
                println!("the plant is kept: --plant {}", r.database);
            }
            Ok(())
        }
        BenchCommand::Load { lots, seconds, keep, plant, only } => {
            let database = Database::open(db).await?;
            println!(
                "bench load: a plant of {lots} lots, {seconds} s per measurement, keep-alive connections over loopback"
            );
            let options =
                super::LoadOptions { lots, seconds, keep, plant, only, database_url: db.database_url.clone() };
            let result = super::load(&database, &options).await;
            database.close().await?;
            let r = result?;
            for row in &r.rows {
                println!(
                    "  {:<34} {:>3} connections  {:>8.0} requests/s  p50 {:>7.2} ms  p99 {:>7.2} ms  ({} requests, {} errors)",
                    row.what, row.connections, row.per_second, row.p50_ms, row.p99_ms, row.requests, row.errors
                );
            }
            println!(
                "memory of the server process: {:.0} MiB before the load, {:.0} MiB at its peak",
                r.rss_before_mib, r.peak_mib
            );
            if keep {
                println!("the plant is kept: --plant {}", r.database);
            }
            Ok(())
        }
    }
}
