//! The database: the connection pool, the embedded migrations and the private PostgreSQL cluster.

pub mod copy;
pub mod embedded;
pub mod json;
pub mod words;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};

use crate::config::DbConfig;
use embedded::{Cluster, ClusterOptions};

/// Every migration under `migrations/`, compiled into the binary.
pub static MIGRATOR: Migrator = sqlx::migrate!();

/// The database name lotline uses inside its private cluster.
pub const DATABASE: &str = "lotline";

/// Pool settings shared by the primary's and the replica's pools: a connection that sat idle for
/// more than a second is checked with a round trip before it is handed out (the database may have
/// restarted meanwhile); one in steady use is not. By default every acquire pays that round trip,
/// and a trace's six reads paid six.
fn pool_options() -> PgPoolOptions {
    PgPoolOptions::new().test_before_acquire(false).before_acquire(|conn, meta| {
        Box::pin(async move {
            if meta.idle_for > Duration::from_secs(1) {
                conn.ping().await?;
            }
            Ok(true)
        })
    })
}

/// The role lotline's server works as in its private cluster. It owns nothing: it reads and
/// writes rows, appends to the audit trail, and can neither alter a table, disable a trigger,
/// nor change or delete an audit entry (see [`grant_app_role`]). The cluster's superuser owns
/// the schema and applies the migrations.
pub const APP_ROLE: &str = "lotline_app";

/// An open database: the pool and, with the embedded default, the cluster it runs on (which
/// stops when this is dropped, if this process started it).
pub struct Database {
    /// Connections as the application role: everything the server and the CLI do but migrate
    /// and bulk-load.
    pub pool: PgPool,
    pub cluster: Option<Cluster>,
    /// How the pool connects: other databases of the same server are reached from it.
    pub options: PgConnectOptions,
    /// How the owner of the schema connects: migrations, grants and bulk loads.
    pub owner: PgConnectOptions,
}

impl Database {
    /// Opens the configured database: `DATABASE_URL` (with `DATABASE_OWNER_URL` for migrations
    /// when set), or the private cluster in the data folder, where the server works as
    /// [`APP_ROLE`] and the cluster's superuser owns the schema.
    pub async fn open(cfg: &DbConfig) -> Result<Database> {
        let (options, owner, cluster) = match &cfg.database_url {
            Some(url) => {
                let options = parse_url("DATABASE_URL", url)?;
                let owner = match &cfg.database_owner_url {
                    Some(owner) => parse_url("DATABASE_OWNER_URL", owner)?,
                    None => options.clone(),
                };
                (options, owner, None)
            }
            None => {
                anyhow::ensure!(
                    cfg.database_owner_url.is_none(),
                    "DATABASE_OWNER_URL is set without DATABASE_URL: the private cluster needs neither"
                );
                let opts =
                    ClusterOptions { data_dir: cfg.data_dir.clone(), bindir: cfg.pg_bindir.clone(), ephemeral: false };
                let cluster = tokio::task::spawn_blocking(move || Cluster::open(&opts)).await??;
                let admin = cluster.connect_options("postgres");
                create_database_if_missing(&admin, DATABASE).await?;
                create_app_role_if_missing(&admin).await?;
                let owner = cluster.connect_options(DATABASE);
                (owner.clone().username(APP_ROLE), owner, Some(cluster))
            }
        };
        let pool = pool(options.clone(), cfg.db_max_connections).await?;
        Ok(Database { pool, cluster, options, owner })
    }

    /// Applies every pending migration as the schema's owner and grants the application role
    /// what it needs. When the pool's role is the owner itself (`DATABASE_URL` alone), says
    /// loudly that the audit triggers do not bind the server.
    pub async fn migrate(&self) -> Result<()> {
        let app = self.options.get_username().to_string();
        let separate = self.owner.get_username() != app || self.owner.get_database() != self.options.get_database();
        if separate || pending_migrations(&self.pool).await? > 0 {
            let owner = pool(self.owner.clone(), 2).await.context("Failed to connect as DATABASE_OWNER_URL's role")?;
            let result = async {
                let may_create: bool = sqlx::query_scalar("select has_schema_privilege(current_schema(), 'create')")
                    .fetch_one(&owner)
                    .await?;
                anyhow::ensure!(
                    may_create,
                    "{} may not make lotline's tables: give the URL of their owner as DATABASE_OWNER_URL",
                    self.owner.get_username()
                );
                migrate(&owner).await?;
                if separate {
                    grant_app_role(&owner, &app).await?;
                }
                anyhow::Ok(())
            }
            .await;
            owner.close().await;
            result?;
        }
        if !audit_binds(&self.pool).await? {
            tracing::warn!(
                role = %app,
                "lotline connects as a role that owns its tables or is a superuser: it could disable the audit \
                 trail's triggers. Give it an application role and the owner to DATABASE_OWNER_URL (see the README)"
            );
        }
        Ok(())
    }

    /// A pool of the schema's owner, for work the application role may not do: bulk loads,
    /// which set triggers and keys aside while they fill the tables.
    pub async fn owner_pool(&self, max_connections: u32) -> Result<PgPool> {
        pool(self.owner.clone(), max_connections).await.context("Failed to connect as the schema's owner")
    }

    /// Closes the pool, then stops the private cluster if this process owns it.
    pub async fn close(self) -> Result<()> {
        self.pool.close().await;
        if let Some(cluster) = self.cluster {
            tokio::task::spawn_blocking(move || cluster.stop()).await??;
        }
        Ok(())
    }
}

fn parse_url(name: &str, url: &str) -> Result<PgConnectOptions> {
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        anyhow::bail!("{name} is not a valid PostgreSQL URL: it starts with postgres:// or postgresql://");
    }
    url.parse().with_context(|| format!("{name} is not a valid PostgreSQL URL"))
}

/// Makes [`APP_ROLE`] in the server reached by `admin` (a superuser) unless it exists.
pub async fn create_app_role_if_missing(admin: &PgConnectOptions) -> Result<()> {
    let mut conn = PgConnection::connect_with(admin).await.context("Failed to connect to PostgreSQL")?;
    let exists: bool = sqlx::query_scalar("select exists (select 1 from pg_roles where rolname = $1)")
        .bind(APP_ROLE)
        .fetch_one(&mut conn)
        .await?;
    if !exists {
        let sql = format!("create role {APP_ROLE} login nosuperuser nocreatedb nocreaterole noreplication nobypassrls");
        match sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await {
            Ok(_) => {}
            // Another process made it in the meantime.
            Err(sqlx::Error::Database(e)) if matches!(e.code().as_deref(), Some("42710" | "23505")) => {}
            Err(e) => return Err(e).context("Failed to create the application role"),
        }
    }
    conn.close().await?;
    Ok(())
}

/// Gives `role` what the server needs on every table of lotline's schema, as their owner (run
/// after every migration, so new tables are covered): rows read and written everywhere, the
/// audit trail appended to and read only, the migrations' record read only. Owning nothing, the
/// role cannot alter a table or disable a trigger; not being a superuser, it cannot set
/// `session_replication_role` to silence them either.
pub async fn grant_app_role(owner: &PgPool, role: &str) -> Result<()> {
    let role = format!("\"{}\"", role.replace('"', "\"\""));
    let mut tx = owner.begin().await?;
    let schema: String = sqlx::query_scalar("select quote_ident(current_schema())").fetch_one(&mut *tx).await?;
    for sql in [
        format!("grant usage on schema {schema} to {role}"),
        format!("grant select, insert, update, delete on all tables in schema {schema} to {role}"),
        format!("grant usage, select on all sequences in schema {schema} to {role}"),
        format!("revoke all on audit_log from {role}"),
        format!("grant select, insert on audit_log to {role}"),
        format!("revoke all on _sqlx_migrations from {role}"),
        format!("grant select on _sqlx_migrations to {role}"),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut *tx)
            .await
            .context("Failed to grant the application role")?;
    }
    tx.commit().await?;
    Ok(())
}

/// How many of lotline's migrations the database has not applied (all of them when it has none).
pub async fn pending_migrations(pool: &PgPool) -> Result<usize> {
    let applied: Vec<i64> =
        match sqlx::query_scalar("select version from _sqlx_migrations where success").fetch_all(pool).await {
            Ok(v) => v,
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P01") => Vec::new(),
            Err(e) => return Err(e).context("Failed to read the applied migrations"),
        };
    Ok(MIGRATOR.iter().filter(|m| m.migration_type.is_up_migration() && !applied.contains(&m.version)).count())
}

/// Whether the audit trail's triggers bind the pool's role: it is no superuser and owns
/// neither the trail nor any table of the schema (an owner may disable a table's triggers).
pub async fn audit_binds(pool: &PgPool) -> Result<bool> {
    let binds = sqlx::query_scalar(
        "select not r.rolsuper
                and not exists (select 1 from pg_class c
                                 where c.relnamespace = current_schema()::regnamespace
                                   and pg_has_role(current_user, c.relowner, 'usage'))
           from pg_roles r where r.rolname = current_user",
    )
    .fetch_one(pool)
    .await?;
    Ok(binds)
}

/// A pool that fails fast when the database is down, so requests get a 503 instead of hanging.
pub async fn pool(options: PgConnectOptions, max_connections: u32) -> Result<PgPool> {
    let pool = pool_options()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options)
        .await
        .context("Failed to connect to PostgreSQL")?;
    Ok(pool)
}

/// Applies every pending migration.
pub async fn migrate(pool: &PgPool) -> Result<()> {
    MIGRATOR.run(pool).await.context("Failed to apply database migrations")?;
    Ok(())
}

/// Creates `name` in the server reached by `admin` unless it exists.
pub async fn create_database_if_missing(admin: &PgConnectOptions, name: &str) -> Result<()> {
    let mut conn = PgConnection::connect_with(admin).await.context("Failed to connect to PostgreSQL")?;
    let exists: bool = sqlx::query_scalar("select exists (select 1 from pg_database where datname = $1)")
        .bind(name)
        .fetch_one(&mut conn)
        .await?;
    if !exists {
        let sql = format!("create database \"{}\"", name.replace('"', "\"\""));
        match sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await {
            Ok(_) => {}
            // Another process created it in the meantime.
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P04") => {}
            Err(e) => return Err(e).context("Failed to create the database"),
        }
    }
    conn.close().await?;
    Ok(())
}

/// Where reads that tolerate a little lag go: reports and exports. With `DATABASE_READ_URL` set
/// they go to a streaming replica while it answers; otherwise, and whenever the replica does not
/// answer, to the primary. Writes, sessions and anything that must see the latest posting (a
/// recall's scope above all) always use the primary pool directly.
#[derive(Clone)]
pub struct Reads {
    primary: PgPool,
    replica: Option<Replica>,
}

#[derive(Clone)]
struct Replica {
    pool: PgPool,
    /// Kept true by [`Reads::watch`] while the replica answers.
    up: Arc<AtomicBool>,
}

impl Reads {
    /// Every read on the primary.
    pub fn primary(pool: PgPool) -> Reads {
        Reads { primary: pool, replica: None }
    }

    /// Reports read from the replica at `url` while it answers. The pool connects lazily, so
    /// lotline starts (and serves reports from the primary) while the replica is down.
    pub fn with_replica(primary: PgPool, url: &str, max_connections: u32) -> Result<Reads> {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            anyhow::bail!(
                "DATABASE_READ_URL is not a valid PostgreSQL URL: it starts with postgres:// or postgresql://"
            );
        }
        let options: PgConnectOptions = url.parse().context("DATABASE_READ_URL is not a valid PostgreSQL URL")?;
        let pool = pool_options()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(2))
            .connect_lazy_with(options);
        Ok(Reads { primary, replica: Some(Replica { pool, up: Arc::new(AtomicBool::new(false)) }) })
    }

    /// The pool reports read from now.
    pub fn pool(&self) -> &PgPool {
        self.choose().0
    }

    /// The pool reports read from now, and whether it is the primary.
    pub fn choose(&self) -> (&PgPool, bool) {
        match &self.replica {
            Some(r) if r.up.load(Ordering::Relaxed) => (&r.pool, false),
            _ => (&self.primary, true),
        }
    }

    /// `None` without a replica; else whether reports read from it now.
    pub fn replica_up(&self) -> Option<bool> {
        self.replica.as_ref().map(|r| r.up.load(Ordering::Relaxed))
    }

    /// Checks the replica now and then (every second while it is down, every five while up) and
    /// switches reports to it or back to the primary. Returns at once without a replica.
    pub async fn watch(self) {
        let Some(replica) = self.replica else { return };
        loop {
            let probe = sqlx::query_scalar::<_, bool>("select pg_is_in_recovery()").fetch_one(&replica.pool);
            let answer = tokio::time::timeout(Duration::from_secs(2), probe).await;
            let now_up = matches!(answer, Ok(Ok(_)));
            let was_up = replica.up.swap(now_up, Ordering::Relaxed);
            match (was_up, now_up, answer) {
                (false, true, Ok(Ok(in_recovery))) => {
                    if !in_recovery {
                        tracing::warn!(
                            "DATABASE_READ_URL accepts writes (it is no standby); reports read from it all the same"
                        );
                    }
                    tracing::info!("reports read from the replica");
                }
                (true, false, answer) => {
                    let reason = match answer {
                        Ok(Err(e)) => e.to_string(),
                        _ => "no answer within 2 s".to_string(),
                    };
                    tracing::warn!(error = %reason, "the replica does not answer; reports read from the primary");
                }
                _ => {}
            }
            tokio::time::sleep(Duration::from_secs(if now_up { 5 } else { 1 })).await;
        }
    }
}

/// What this server knows of committed changes, lot by lot: which lots' pages the transactions
/// committed since a read have touched (migration 0013, `lot_touches`), so a cache can tell
/// whether what it read of a lot is still current. Without a watcher (tests, the database away)
/// nothing is current and nothing may be kept.
///
/// How it looks: every 20 ms, on a connection of its own, it reads the `lot_touches` rows of the
/// transactions that were not yet committed at its previous look and are now
/// (`pg_visible_in_snapshot` against the previous `pg_current_snapshot()`). Reads add no rows; a
/// write adds, from triggers, one row per lot it touched, or one row for every lot (a material
/// renamed, a recall closed). LISTEN/NOTIFY, tried first, made commits take turns (receipts lost
/// a quarter of their rate); a snapshot-only watch, tried next, could only drop every page at
/// every commit, which a plant that posts all day makes useless. What another session committed
/// is served from memory for at most one interval after it commits; a browser that made a change
/// itself reads afresh (`app::WROTE_COOKIE`).
#[derive(Clone, Default)]
pub struct Changes(Arc<ChangesInner>);

#[derive(Default)]
struct ChangesInner {
    /// Moves on at every change seen; a read is tagged with the epoch from before it.
    epoch: std::sync::atomic::AtomicU64,
    live: AtomicBool,
    dirty: std::sync::Mutex<Dirty>,
    /// Looks completed, whether or not they found a change.
    looks: std::sync::atomic::AtomicU64,
}

/// The epoch at which every lot, and each lot, last changed.
#[derive(Default)]
struct Dirty {
    every: u64,
    lots: std::collections::HashMap<uuid::Uuid, u64>,
}

/// The foreign keys of lotline's schema not yet confirmed (`NOT VALID`).
const UNCONFIRMED: &str =
    "from pg_constraint where contype = 'f' and not convalidated and connamespace = current_schema()::regnamespace";

/// Foreign keys of lotline's schema not yet confirmed for the rows already there: a bulk import
/// adds its tables' keys back `NOT VALID` (every new row is checked from then on) after checking
/// the loaded rows itself, in parallel, inside its transaction (see `import::BulkLoad`).
pub async fn unconfirmed_foreign_keys(pool: &PgPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("select count(*) {UNCONFIRMED}"))).fetch_one(pool).await
}

/// Confirms the unconfirmed foreign keys (`VALIDATE CONSTRAINT`: PostgreSQL checks every row
/// again and marks the key valid), one at a time. The lock it takes lets reads and writes go
/// on; one that cannot be had within a second (an import holds the table) is left for the
/// next round. Returns how many are still unconfirmed.
pub async fn confirm_foreign_keys(pool: &PgPool) -> Result<i64, sqlx::Error> {
    let keys: Vec<(String, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select conrelid::regclass::text, conname::text {UNCONFIRMED} order by 1, 2"
    )))
    .fetch_all(pool)
    .await?;
    for (table, name) in &keys {
        let clock = std::time::Instant::now();
        // By the schema owner's function (migration 0028): the server's role owns no table.
        match sqlx::query("select confirm_foreign_key($1::regclass, $2)").bind(table).bind(name).execute(pool).await {
            Ok(_) => {
                tracing::info!(table, key = name, ms = clock.elapsed().as_millis() as u64, "foreign key confirmed");
            }
            // lock_not_available: the table is busy; the next round tries again.
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("55P03") => {}
            // A row breaks it: said, and the other keys are still confirmed.
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("23503") => {
                tracing::error!(table, key = name, error = %e, "a foreign key cannot be confirmed: a row breaks it");
            }
            Err(e) => return Err(e),
        }
    }
    unconfirmed_foreign_keys(pool).await
}

/// How often a server looks for unconfirmed foreign keys.
const CONFIRM_INTERVAL: Duration = Duration::from_secs(2);

/// A server's background task: confirms the keys a bulk import left unconfirmed, shortly after
/// it commits (or at start, after an import made with no server running). A key a row breaks
/// (which the import's own check makes impossible) stays unconfirmed and is logged; a round that
/// confirms nothing waits five minutes before the next try.
pub async fn keep_foreign_keys_confirmed(pool: PgPool) {
    loop {
        let mut pause = CONFIRM_INTERVAL;
        match unconfirmed_foreign_keys(&pool).await {
            Ok(0) => {}
            Ok(before) => match confirm_foreign_keys(&pool).await {
                Ok(after) if after >= before => pause = Duration::from_secs(300),
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "the foreign keys could not be confirmed"),
            },
            Err(e) => tracing::debug!(error = %e, "foreign keys: the database did not answer"),
        }
        tokio::time::sleep(pause).await;
    }
}

/// The snapshot now, and what the transactions committed since `previous` (a snapshot this
/// returned before) touched (migration 0013): whether "every lot", and which lots. Only
/// `lot_touches` is named, so it never waits for a lock on the tables it watches.
pub async fn touched_since(
    conn: &mut PgConnection,
    previous: &str,
) -> Result<(String, bool, Vec<uuid::Uuid>), sqlx::Error> {
    sqlx::query_as(
        "select pg_current_snapshot()::text,
                coalesce(bool_or(t.lot_id is null), false),
                coalesce(array_agg(distinct t.lot_id) filter (where t.lot_id is not null), '{}')
           from lot_touches t
          where t.xid >= pg_snapshot_xmin($1::pg_snapshot)
            and not pg_visible_in_snapshot(t.xid, $1::pg_snapshot)",
    )
    .bind(previous)
    .fetch_one(conn)
    .await
}

/// How often the watcher looks.
pub const CHANGES_INTERVAL: Duration = Duration::from_millis(20);

/// Lots remembered one by one before a change set counts as "every lot".
const DIRTY_LOTS: usize = 100_000;

impl Changes {
    /// The epoch to tag a read with, or None while nobody looks (then nothing may be kept).
    pub fn current(&self) -> Option<u64> {
        if self.0.live.load(Ordering::Acquire) { Some(self.0.epoch.load(Ordering::Acquire)) } else { None }
    }

    /// How many looks the watcher has completed. One that completes after a later count was
    /// read took its snapshot after that moment: two more looks than at a commit's return mean
    /// the commit, and everything committed before it, has been seen.
    pub fn looks(&self) -> u64 {
        self.0.looks.load(Ordering::Acquire)
    }

    /// Whether what was read of `lot` from `epoch` on is still what the database holds.
    pub fn still_current(&self, lot: uuid::Uuid, epoch: u64) -> bool {
        if !self.0.live.load(Ordering::Acquire) {
            return false;
        }
        let Ok(dirty) = self.0.dirty.lock() else { return false };
        dirty.every <= epoch && dirty.lots.get(&lot).is_none_or(|e| *e <= epoch)
    }

    /// `lots` changed (every lot, with `every`).
    pub fn changed(&self, every: bool, lots: &[uuid::Uuid]) {
        let Ok(mut dirty) = self.0.dirty.lock() else { return };
        let epoch = self.0.epoch.fetch_add(1, Ordering::AcqRel) + 1;
        if every || dirty.lots.len() + lots.len() > DIRTY_LOTS {
            dirty.every = epoch;
            dirty.lots.clear();
        } else {
            for lot in lots {
                dirty.lots.insert(*lot, epoch);
            }
        }
    }

    fn set_live(&self, live: bool) {
        self.changed(true, &[]);
        self.0.live.store(live, Ordering::Release);
    }

    /// Looks for changes for as long as `pool` is open, on a connection of its own (so a busy
    /// pool never delays it), made again after a failure.
    pub async fn watch(self, pool: PgPool) {
        let options = pool.connect_options();
        let mut conn: Option<PgConnection> = None;
        // The snapshot of the previous look, and (for clearing old rows) the oldest transaction
        // id in progress as of a minute ago.
        let mut last: Option<String> = None;
        let mut sweep: (std::time::Instant, Option<String>) = (std::time::Instant::now(), None);
        while !pool.is_closed() {
            if conn.is_none() {
                conn = PgConnection::connect_with(&options).await.ok();
            }
            let looked = match (conn.as_mut(), &last) {
                (None, _) => Err(sqlx::Error::PoolTimedOut),
                (Some(c), None) => sqlx::query_scalar::<_, String>("select pg_current_snapshot()::text")
                    .fetch_one(c)
                    .await
                    .map(|now| (now, false, Vec::new())),
                (Some(c), Some(previous)) => touched_since(c, previous).await,
            };
            match looked {
                Ok((now, every, lots)) => {
                    if last.is_none() {
                        self.set_live(true);
                    } else if every || !lots.is_empty() {
                        self.changed(every, &lots);
                    }
                    if sweep.0.elapsed() >= Duration::from_secs(60) {
                        // Rows of transactions that ended a minute ago have been seen by every
                        // watcher that is still looking.
                        if let (Some(c), Some(xmin)) = (conn.as_mut(), &sweep.1) {
                            let _ =
                                sqlx::query("delete from lot_touches where xid < $1::xid8").bind(xmin).execute(c).await;
                        }
                        sweep = (std::time::Instant::now(), now.split(':').next().map(str::to_string));
                    } else if sweep.1.is_none() {
                        sweep.1 = now.split(':').next().map(str::to_string);
                    }
                    last = Some(now);
                    self.0.looks.fetch_add(1, Ordering::AcqRel);
                    tokio::time::sleep(CHANGES_INTERVAL).await;
                }
                Err(e) => {
                    if last.take().is_some() {
                        tracing::warn!(error = %e, "change watch: cannot read the database; lot pages are read afresh meanwhile");
                        self.set_live(false);
                    }
                    conn = None;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
        self.set_live(false);
    }
}
