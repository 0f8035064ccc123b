//! The command line: `serve`, `migrate`, `db` — every subcommand on the same configuration.

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use tokio::net::TcpListener;

use crate::config::{DbConfig, ServeConfig};
use crate::db::{self, Database, embedded};

#[derive(Debug, Parser)]
#[command(
    name = "lotline",
    version,
    about = "Lot tracking for manufacturing: where every lot came from, what it went into and who received it."
)]
struct Cli {
    #[command(flatten)]
    db: DbConfig,

    /// Log filter, such as `info` or `lotline=debug,info`.
    #[arg(long, env = "LOTLINE_LOG", default_value = "info", global = true)]
    log: String,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the web server (applies pending migrations first).
    Serve(ServeConfig),
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage the private PostgreSQL cluster of the data folder (the embedded default).
    #[command(subcommand)]
    Db(DbCommand),
}

#[derive(Debug, Subcommand)]
enum DbCommand {
    /// Start the private cluster and leave it running (other lotline commands will use it).
    Start,
    /// Stop the private cluster if it runs.
    Stop,
    /// Say whether the private cluster runs.
    Status,
    /// Stop the private cluster and delete it, with every record in it.
    Destroy {
        /// Confirm that every record in the private database is to be deleted.
        #[arg(long)]
        yes: bool,
    },
}

/// Parses the command line, runs the command and turns its outcome into an exit code.
pub fn main() -> ExitCode {
    // A missing .env is normal; a malformed one is worth saying.
    if let Err(err) = dotenvy::dotenv()
        && !err.not_found()
    {
        eprintln!("error: .env could not be read: {err}");
        return ExitCode::from(2);
    }
    let cli = Cli::parse();
    if let Err(err) = init_tracing(&cli.log) {
        eprintln!("error: {err:#}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: could not start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(filter: &str) -> Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .with_context(|| format!("LOTLINE_LOG: `{filter}` is not a valid log filter"))?;
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    Ok(())
}

async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Serve(serve_cfg) => serve(&cli.db, &serve_cfg).await,
        Command::Migrate => {
            let database = Database::open(&cli.db).await?;
            let result = db::migrate(&database.pool).await;
            database.close().await?;
            result?;
            println!("migrations applied");
            Ok(())
        }
        Command::Db(cmd) => db_command(&cli.db, cmd).await,
    }
}

async fn serve(db_cfg: &DbConfig, cfg: &ServeConfig) -> Result<()> {
    // Bind first: a taken port is reported before the database is started.
    let listener =
        TcpListener::bind(cfg.listen).await.with_context(|| format!("Failed to listen on {}", cfg.listen))?;
    let database = Database::open(db_cfg).await?;
    let outcome = async {
        db::migrate(&database.pool).await?;
        if cfg.demo {
            crate::demo::load(&database.pool).await?;
        }
        let app = crate::app::router(crate::app::AppState { pool: database.pool.clone() });
        let addr = listener.local_addr()?;
        tracing::info!(%addr, "lotline is listening on http://{addr}");
        crate::app::serve(listener, app, crate::app::shutdown_signal()).await.context("The web server failed")
    }
    .await;
    database.close().await?;
    tracing::info!("lotline stopped");
    outcome
}

async fn db_command(cfg: &DbConfig, cmd: DbCommand) -> Result<()> {
    if cfg.database_url.is_some() {
        anyhow::bail!(
            "DATABASE_URL is set: lotline uses that server, not a private cluster; `lotline db` manages only the private one"
        );
    }
    let opts =
        embedded::ClusterOptions { data_dir: cfg.data_dir.clone(), bindir: cfg.pg_bindir.clone(), ephemeral: false };
    tokio::task::spawn_blocking(move || -> Result<()> {
        match cmd {
            DbCommand::Start => {
                let cluster = embedded::Cluster::open(&opts)?;
                println!("private PostgreSQL running in {}", cluster.root().display());
                cluster.detach();
            }
            DbCommand::Stop => {
                if embedded::stop(&opts)? {
                    println!("private PostgreSQL stopped");
                } else {
                    println!("private PostgreSQL was not running");
                }
            }
            DbCommand::Destroy { yes } => {
                if !yes {
                    anyhow::bail!("this deletes every record in the private database; add --yes to confirm");
                }
                let root = embedded::destroy(&opts)?;
                println!("private PostgreSQL deleted from {}", root.display());
            }
            DbCommand::Status => {
                let (running, root) = embedded::status(&opts)?;
                let state = if running { "running" } else { "not running" };
                println!("private PostgreSQL is {state} in {}", root.display());
            }
        }
        Ok(())
    })
    .await?
}
