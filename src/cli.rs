//! The command line: `serve`, `migrate`, `db` — every subcommand on the same configuration.

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use tokio::net::TcpListener;

use crate::config::{DbConfig, ServeConfig};
use crate::db::{Database, embedded};

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
    /// Manage user accounts (the first administrator is made here).
    #[command(subcommand)]
    User(UserCommand),
    /// Check the audit trail.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Check a recall report.
    #[command(subcommand)]
    Recall(RecallCommand),
    /// Load a folder of CSV files (materials, parties, lots, transformations, shipments) in one
    /// transaction, or refuse it whole with every problem found.
    Import {
        /// The folder holding the CSV files.
        dir: std::path::PathBuf,
        /// The site whose stock the imported lots become (default: the first active site).
        #[arg(long)]
        site: Option<String>,
        /// The location the stock is put in (default: the site's first storage location).
        #[arg(long)]
        location: Option<String>,
        /// Load in bulk whatever the size (automatic from 50,000 lots): faster, but the ledger
        /// tables are locked until the import ends.
        #[arg(long)]
        bulk: bool,
    },
    /// Generate a large realistic plant as a CSV folder and load it (with --out, only write it).
    Demo {
        /// About how many lots.
        #[arg(long, default_value_t = 10_000)]
        lots: usize,
        /// The folder to write (default: a folder under the data folder).
        #[arg(long)]
        out: Option<std::path::PathBuf>,
        /// Load the generated folder into the database too (the default without --out).
        #[arg(long)]
        import: bool,
        /// Another seed gives another plant of the same size.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Add a syrup tank topped up for the plant's whole life and drawn by most runs: its
        /// first delivery reaches nearly every later lot.
        #[arg(long)]
        tank: bool,
    },
    /// Trace a lot forward (where used) or backward (where from).
    Trace {
        /// The lot's material code.
        #[arg(long)]
        material: String,
        /// The lot code.
        #[arg(long)]
        lot: String,
        #[arg(long, default_value = "forward", value_parser = ["forward", "backward"])]
        direction: String,
        #[arg(long, default_value = "precise", value_parser = ["precise", "lot-level"])]
        mode: String,
        #[arg(long, default_value = "table", value_parser = ["table", "json", "csv"])]
        format: String,
    },
    /// Measure lotline on a scratch database of the configured server (dropped afterwards).
    #[command(subcommand)]
    Bench(crate::tools::bench::command::BenchCommand),
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create a user. The password is prompted for, or read from standard input when it is not a terminal.
    Add {
        #[arg(long)]
        username: String,
        /// A role: operator, qa or admin; repeat for several.
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        /// Full name, as shown in the audit trail (defaults to the user name).
        #[arg(long)]
        display_name: Option<String>,
    },
    /// Set a user's password (and end their sessions); read like `add`.
    SetPassword {
        #[arg(long)]
        username: String,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Recompute the keyed hash chain of the audit trail: exits non-zero and names the first
    /// broken entry if any row was changed, removed, forged or re-chained; prints the head hash
    /// otherwise (keep it: the next check with --expect-head detects a removed tail).
    Verify {
        /// A head hash printed or logged earlier: the chain must still pass through it.
        #[arg(long)]
        expect_head: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum RecallCommand {
    /// Print the SHA-256 of a frozen scope downloaded from a recall's page
    /// (`/recalls/{id}/scope.json`): the hash its report prints. With --hash, exit non-zero unless
    /// they match. The same as `sha256sum FILE`; no database is needed.
    Verify {
        /// The downloaded scope.json.
        file: std::path::PathBuf,
        /// The hash printed on the report, to compare with.
        #[arg(long)]
        hash: Option<String>,
    },
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
    // Every command that writes to the database keeps the audit chain with the key; those that
    // never do (the private cluster's own commands, checking a report) neither read nor make it.
    if !matches!(cli.command, Command::Db(_) | Command::Recall(_)) {
        crate::audit::use_key(cli.db.audit_key()?);
    }
    match cli.command {
        Command::Serve(serve_cfg) => serve(&cli.db, &serve_cfg).await,
        Command::Migrate => {
            let database = Database::open(&cli.db).await?;
            let result = database.migrate().await;
            database.close().await?;
            result?;
            println!("migrations applied");
            Ok(())
        }
        Command::Db(cmd) => db_command(&cli.db, cmd).await,
        Command::User(cmd) => with_database(&cli.db, Access::App, |pool| Box::pin(user_command(pool, cmd))).await,
        Command::Bench(cmd) => crate::tools::bench::command::run(&cli.db, cmd).await,
        Command::Demo { lots, out, import, seed, tank } => {
            anyhow::ensure!(lots >= 10, "--lots is at least 10");
            let import = import || out.is_none();
            let dir = out.unwrap_or_else(|| {
                cli.db.data_dir.join(format!("demo-{lots}{}", if tank { "-tank" } else { "" }))
            });
            let started = std::time::Instant::now();
            let bar = Bar::new();
            let g = crate::tools::generate::generate(&dir, lots, seed, tank, &bar)
                .with_context(|| format!("Failed to write {}", dir.display()))?;
            bar.done();
            println!(
                "wrote {} lots, {} runs ({} bulk top-ups), {} shipment lines to {} in {:.1} s",
                g.lots,
                g.runs,
                g.top_ups,
                g.shipments,
                dir.display(),
                started.elapsed().as_secs_f64()
            );
            if !import {
                println!("load it with: lotline import {}", dir.display());
                return Ok(());
            }
            with_database(&cli.db, Access::Owner, |pool| {
                Box::pin(async move {
                    crate::tools::demo::load(pool).await?;
                    let started = std::time::Instant::now();
                    let bar = Bar::new();
                    let result = crate::import::import(pool, &cli_actor(), &dir, None, None, false, &bar).await?;
                    bar.done();
                    match result {
                        Ok(s) => {
                            println!("imported {} lots, {} runs, {} shipments in {:.1} s", s.lots, s.runs, s.shipments, started.elapsed().as_secs_f64());
                            // Where to look first: the raw lot whose trace reaches furthest.
                            let heaviest = crate::tools::generate::furthest_reaching_lot(pool, g.tank_source.as_deref()).await?;
                            if let Some((_, material, lot)) = heaviest {
                                println!("the raw lot that reaches furthest: {material} {lot}; its trace: /trace?material={material}&lot={lot}");
                            }
                            Ok(())
                        }
                        Err(problems) => {
                            for p in problems.iter().take(10) {
                                eprintln!("{p}");
                            }
                            anyhow::bail!("the generated plant was refused")
                        }
                    }
                })
            })
            .await
        }
        Command::Import { dir, site, location, bulk } => {
            with_database(&cli.db, Access::Owner, |pool| {
                Box::pin(async move {
                    let started = std::time::Instant::now();
                    let bar = Bar::new();
                    let result = crate::import::import(pool, &cli_actor(), &dir, site.as_deref(), location.as_deref(), bulk, &bar).await?;
                    bar.done();
                    match result {
                        Ok(s) => {
                            println!(
                                "imported {} lots, {} runs, {} shipments ({} movements, {} genealogy links; {} new materials, {} new parties) in {:.1} s",
                                s.lots, s.runs, s.shipments, s.movements, s.links, s.materials, s.parties, started.elapsed().as_secs_f64()
                            );
                            Ok(())
                        }
                        Err(problems) => {
                            for p in &problems {
                                eprintln!("{p}");
                            }
                            anyhow::bail!("nothing was imported: {} problem{} found{}", problems.len(), if problems.len() == 1 { "" } else { "s" }, if problems.len() >= 50 { " (the first 50 shown)" } else { "" })
                        }
                    }
                })
            })
            .await
        }
        Command::Trace { material, lot, direction, mode, format } => {
            with_database(&cli.db, Access::App, |pool| {
                Box::pin(async move {
                    let direction = crate::trace::Direction::parse(&direction).context("direction")?;
                    let mode = crate::trace::Mode::parse(&mode).context("mode")?;
                    let id = crate::trace::find_lot(pool, &material, &lot)
                        .await
                        .map_err(|_| anyhow::anyhow!("there is no lot {lot} of material {material}"))?;
                    let t = crate::trace::trace(pool, id, direction, mode).await.map_err(|e| anyhow::anyhow!("{e}"))?;
                    let text = match format.as_str() {
                        "json" => serde_json::to_string_pretty(&t)? + "\n",
                        "csv" => crate::trace::to_csv(&t),
                        _ => crate::trace::to_table(&t),
                    };
                    write_out(&text)
                })
            })
            .await
        }
        Command::Audit(AuditCommand::Verify { expect_head }) => {
            let key = cli.db.audit_key()?;
            with_database(&cli.db, Access::App, |pool| Box::pin(audit_verify(pool, key, expect_head))).await
        }
        Command::Recall(RecallCommand::Verify { file, hash }) => crate::recall::verify_scope_file(&file, hash.as_deref()),
    }
}

/// Which role a command's work connects as.
#[derive(Clone, Copy, PartialEq)]
enum Access {
    /// The application role, as the server: every command but the imports.
    App,
    /// The schema's owner: imports, whose bulk load sets triggers and keys aside.
    Owner,
}

/// Opens the database (migrated), runs `work`, and closes it whatever the outcome.
async fn with_database<F>(cfg: &DbConfig, access: Access, work: F) -> Result<()>
where
    F: for<'a> FnOnce(&'a sqlx::PgPool) -> std::pin::Pin<Box<dyn Future<Output = Result<()>> + Send + 'a>>,
{
    let database = Database::open(cfg).await?;
    let result = async {
        database.migrate().await?;
        match access {
            Access::App => work(&database.pool).await,
            Access::Owner => {
                let owner = database.owner_pool(cfg.db_max_connections).await?;
                let result = work(&owner).await;
                owner.close().await;
                result
            }
        }
    }
    .await;
    database.close().await?;
    result
}

/// The actor of command-line work: the operating-system user who ran it.
fn cli_actor() -> crate::audit::Actor {
    let who = std::env::var("SUDO_USER").or_else(|_| std::env::var("USER")).unwrap_or_else(|_| "unknown".into());
    crate::audit::Actor::system(&format!("cli:{who}"))
}

fn read_password(prompt: &str) -> Result<String> {
    use std::io::{BufRead, IsTerminal};
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password(prompt)?;
        let again = rpassword::prompt_password("Again: ")?;
        anyhow::ensure!(first == again, "the two passwords differ; nothing was changed");
        Ok(first)
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        Ok(line.trim_end_matches(['\n', '\r']).to_string())
    }
}

fn save_failure(err: crate::save::SaveError) -> anyhow::Error {
    match err {
        crate::save::SaveError::Invalid(errors) => anyhow::anyhow!("{}", errors.messages().join("; ")),
        crate::save::SaveError::Stale => anyhow::anyhow!("the user changed meanwhile; try again"),
        crate::save::SaveError::Other(e) => anyhow::Error::new(e),
    }
}

async fn user_command(pool: &sqlx::PgPool, cmd: UserCommand) -> Result<()> {
    use crate::auth::users;
    match cmd {
        UserCommand::Add { username, roles, display_name } => {
            let password = read_password(&format!("Password for {username}: "))?;
            let form = users::UserForm {
                display_name: display_name.unwrap_or_else(|| username.clone()),
                username: username.clone(),
                roles,
                password,
                ..Default::default()
            };
            users::create(pool, &cli_actor(), &form).await.map_err(save_failure)?;
            println!("user {username} created");
        }
        UserCommand::SetPassword { username } => {
            let id: uuid::Uuid = sqlx::query_scalar("select id from users where lower(username) = lower($1)")
                .bind(&username)
                .fetch_optional(pool)
                .await?
                .with_context(|| format!("there is no user {username}"))?;
            let password = read_password(&format!("New password for {username}: "))?;
            users::set_password(pool, &cli_actor(), id, &password).await.map_err(save_failure)?;
            println!("password of {username} set; their sessions were ended");
        }
    }
    Ok(())
}

async fn audit_verify(pool: &sqlx::PgPool, key: Vec<u8>, expect_head: Option<String>) -> Result<()> {
    match crate::audit::verify(pool, Some(&key), expect_head.as_deref()).await? {
        crate::audit::Verification::Intact { entries, head } => {
            println!(
                "audit trail intact: {entries} entries; head hash {}",
                if head.is_empty() { "(empty)" } else { &head }
            );
            Ok(())
        }
        crate::audit::Verification::Broken { id, problem } => {
            anyhow::bail!("audit trail broken at entry {id}: {problem}")
        }
    }
}

async fn serve(db_cfg: &DbConfig, cfg: &ServeConfig) -> Result<()> {
    // Bind first: a taken port is reported before the database is started.
    let listener =
        TcpListener::bind(cfg.listen).await.with_context(|| format!("Failed to listen on {}", cfg.listen))?;
    let database = Database::open(db_cfg).await?;
    let outcome = async {
        database.migrate().await?;
        if cfg.demo {
            crate::tools::demo::load(&database.pool).await?;
            println!("{}", crate::tools::demo::credentials());
        }
        crate::alerts::configure(cfg.alert_command.clone());
        let settings = crate::app::Settings {
            sessions: cfg.sessions(),
            public_url: cfg.public_url(),
            label_printer: cfg.label_printer.clone(),
            client_ip_header: cfg.trusted_proxy_header.clone(),
            read_url: db_cfg.database_read_url.clone(),
            read_connections: db_cfg.db_max_connections,
            links: Default::default(),
            ..Default::default()
        };
        let app = crate::app::Application::build(database.pool.clone(), settings)?;
        let addr = listener.local_addr()?;
        tracing::info!(%addr, "lotline is listening on http://{addr}");
        app.run_until_stopped(listener, crate::app::shutdown_signal()).await.context("The web server failed")
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
                cluster.keep_running()?;
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

/// A progress bar on a terminal (nothing when the output is piped).
struct Bar(Option<indicatif::ProgressBar>);

impl Bar {
    fn new() -> Bar {
        use std::io::IsTerminal;
        if !std::io::stderr().is_terminal() {
            return Bar(None);
        }
        let bar = indicatif::ProgressBar::new(0);
        if let Ok(style) = indicatif::ProgressStyle::with_template("{msg:>8} [{bar:40}] {pos}/{len} ({eta})") {
            bar.set_style(style.progress_chars("=> "));
        }
        Bar(Some(bar))
    }

    fn done(&self) {
        if let Some(b) = &self.0 {
            b.finish_and_clear();
        }
    }
}

impl crate::import::Progress for Bar {
    fn stage(&self, name: &str, total: u64) {
        if let Some(b) = &self.0 {
            b.set_message(name.to_string());
            b.set_length(total);
            b.set_position(0);
        }
    }

    fn advance(&self, n: u64) {
        if let Some(b) = &self.0 {
            b.inc(n);
        }
    }
}

/// Writes to standard output; a reader that went away (`| head`) is no error.
fn write_out(text: &str) -> Result<()> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}
