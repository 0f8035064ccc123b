//! The bulk load: indexes and keys set aside, every table sent by binary COPY, keys checked by
//! ordinary queries and put back, as PostgreSQL advises for loads of this size.

use super::*;

/// Rows per COPY message in a bulk load.
pub(super) const COPY_ROWS: usize = 20_000;

/// Sends `count` rows, each written by `encode`, through one binary COPY statement.
pub(super) async fn copy_binary(
    tx: &mut sqlx::PgConnection,
    statement: &'static str,
    count: usize,
    progress: &(dyn Progress + Sync),
    mut encode: impl FnMut(&mut BinaryRows, usize),
) -> Result<u64, sqlx::Error> {
    let mut copy = tx.copy_in_raw(statement).await?;
    let mut rows = BinaryRows::start(COPY_ROWS * 128);
    let mut sent = 0;
    while sent < count {
        let end = (sent + COPY_ROWS).min(count);
        for i in sent..end {
            encode(&mut rows, i);
        }
        copy.send(rows.take()).await?;
        progress.advance((end - sent) as u64);
        sent = end;
        rows = BinaryRows::more(COPY_ROWS * 128);
    }
    if !rows.is_empty() {
        copy.send(rows.take()).await?;
    }
    copy.send(BinaryRows::trailer()).await?;
    copy.finish().await
}

/// Imports of at least this many lots are loaded the way PostgreSQL advises for bulk loads.
pub const BULK_LOTS: usize = 50_000;

/// The tables a bulk import fills (in two halves of about the same size, for the vacuum).
pub(super) const BULK_TABLES: [&str; 8] = [
    "stock_movements",
    "lots",
    "production_runs",
    "shipments",
    "genealogy_links",
    "shipment_lines",
    "lot_dispositions",
    "on_hand",
];

/// A unique or foreign key of a table a bulk load fills, as it was before the load.
#[derive(sqlx::FromRow)]
pub(super) struct Constraint {
    pub(super) table: String,
    pub(super) name: String,
    pub(super) definition: String,
    /// A foreign key of the usual kind (MATCH SIMPLE): its rows are checked with one query.
    pub(super) simple_foreign_key: bool,
    pub(super) referenced: String,
    pub(super) columns: Vec<String>,
    pub(super) referenced_columns: Vec<String>,
}

impl Constraint {
    pub(super) fn is_simple_foreign_key(&self) -> bool {
        self.simple_foreign_key && !self.columns.is_empty() && self.columns.len() == self.referenced_columns.len()
    }

    /// The query counting the rows that break this foreign key: the check PostgreSQL's `ADD
    /// FOREIGN KEY` makes. That check runs on one core; this is an ordinary query, which
    /// PostgreSQL runs in parallel. The key goes back `NOT VALID`, which checks every later row, and the server
    /// confirms it soon after (`db::keep_foreign_keys_confirmed`) without blocking work.
    pub(super) fn orphans(&self) -> String {
        let present: Vec<String> = self.columns.iter().map(|c| format!("c.{c} is not null")).collect();
        let matched: Vec<String> =
            self.columns.iter().zip(&self.referenced_columns).map(|(c, r)| format!("r.{r} = c.{c}")).collect();
        format!(
            "select count(*) from only {} c where {} and not exists (select from only {} r where {})",
            self.table,
            present.join(" and "),
            self.referenced,
            matched.join(" and ")
        )
    }
}

/// Runs `query`, which counts the rows breaking any of `keys`; if there are some, names the
/// first key broken (checked one by one) and refuses the load.
pub(super) async fn check_keys(tx: &mut sqlx::PgConnection, keys: &[&Constraint], query: &str) -> anyhow::Result<()> {
    let count: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(query.to_string())).fetch_one(&mut *tx).await?;
    if count == 0 {
        return Ok(());
    }
    for c in keys {
        let count: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(c.orphans())).fetch_one(&mut *tx).await?;
        if count > 0 {
            anyhow::bail!(
                "the import would leave {count} rows of {} that break its key {} ({}); nothing was loaded",
                c.table,
                c.name,
                c.definition
            );
        }
    }
    anyhow::bail!("the import would leave {count} rows of {} that break its keys; nothing was loaded", keys[0].table)
}

/// A bulk load, as PostgreSQL's own advice for populating a database has it: inside the import's
/// transaction, the secondary indexes, unique keys and foreign keys of the tables being filled are
/// dropped, the rows go in by binary COPY, then the indexes and unique keys are built once (a
/// sort, not millions of random inserts) and the foreign keys re-added, which checks every row in
/// one join. DDL is transactional, so a refusal or crash restores them untouched, and nothing is
/// committed that the restored keys would refuse; the ledger tables stay locked for the import's
/// length, which a migration of a plant's history can afford and a daily import (under BULK_LOTS
/// lots, loaded row-checked) never pays. Checks stay in force throughout, and primary keys that
/// a table outside the load points to; the others (of the links, runs, dispositions, balances)
/// are rebuilt like the unique keys, before any foreign key is checked (building such a key
/// after the rows are in costs less than keeping it up to date row by row).
pub(super) struct BulkLoad {
    pub(super) indexes: Vec<String>,
    pub(super) constraints: Vec<Constraint>,
    /// The lot-touch triggers (migration 0013), off for the load: one row saying "every lot"
    /// replaces millions of rows naming each.
    pub(super) touches: Vec<(String, String)>,
    /// Per table, the ids `first..=last` this load wrote, every one of them (see `wrote`).
    pub(super) written: HashMap<&'static str, (i64, i64)>,
}

impl BulkLoad {
    /// Records that `table` was given the `n` ids from `first` (reserved by `reserve_ids`,
    /// written by one COPY that says it wrote `copied` rows). The key checks of `finish` count
    /// the table's rows in that range: as many as ids (the primary key has each once) and no
    /// value of a key inside the range can be missing.
    pub(super) fn wrote(&mut self, table: &'static str, first: i64, n: usize, copied: u64) -> anyhow::Result<()> {
        anyhow::ensure!(copied == n as u64, "{table}: {n} rows sent, {copied} written");
        if n > 0 {
            self.written.insert(table, (first, first + n as i64 - 1));
        }
        Ok(())
    }

    pub(super) async fn begin(tx: &mut sqlx::PgConnection) -> Result<BulkLoad, sqlx::Error> {
        sqlx::query("set local maintenance_work_mem = '512MB'").execute(&mut *tx).await?;
        // The load writes gigabytes of WAL (rows, then whole index pages); compressed with lz4
        // where the server has it and lets this user ask: less to write, on a disk that waits.
        let lz4: Option<bool> = sqlx::query_scalar(
            "select 'lz4' = any(enumvals) and has_parameter_privilege('wal_compression', 'SET')
               from pg_settings where name = 'wal_compression'",
        )
        .fetch_optional(&mut *tx)
        .await?;
        if lz4 == Some(true) {
            sqlx::query("set local wal_compression = lz4").execute(&mut *tx).await?;
        }
        // Stock on hand is written once from the import's own balances, not movement by
        // movement: millions of updates of the same rows in one transaction only pile up dead
        // row versions that every later update has to step over.
        sqlx::query("alter table stock_movements disable trigger stock_movements_apply").execute(&mut *tx).await?;
        let tables: Vec<String> = BULK_TABLES.iter().map(|t| t.to_string()).collect();
        let touches: Vec<(String, String)> = sqlx::query_as(
            "select tgrelid::regclass::text, tgname::text from pg_trigger
              where not tgisinternal and tgname like '%\\_lot\\_pages%' and tgrelid::regclass::text = any($1)
              order by 1, 2",
        )
        .bind(&tables)
        .fetch_all(&mut *tx)
        .await?;
        for (table, name) in &touches {
            sqlx::query(sqlx::AssertSqlSafe(format!("alter table {table} disable trigger \"{name}\"")))
                .execute(&mut *tx)
                .await?;
        }
        let constraints: Vec<Constraint> = sqlx::query_as(
            "select c.conrelid::regclass::text as \"table\", c.conname::text as name, pg_get_constraintdef(c.oid) as definition,
                    c.contype = 'f' and c.confmatchtype = 's' as simple_foreign_key, c.confrelid::regclass::text as referenced,
                    array(select quote_ident(a.attname) from unnest(c.conkey) with ordinality k(n, o)
                            join pg_attribute a on a.attrelid = c.conrelid and a.attnum = k.n order by k.o) as columns,
                    array(select quote_ident(a.attname) from unnest(c.confkey) with ordinality k(n, o)
                            join pg_attribute a on a.attrelid = c.confrelid and a.attnum = k.n order by k.o) as referenced_columns
               from pg_constraint c
              where c.conrelid::regclass::text = any($1)
                and (c.contype = 'f'
                     or c.contype = 'u' and not exists (select 1 from pg_constraint r where r.contype = 'f' and r.conindid = c.conindid)
                     or c.contype = 'p' and not exists (select 1 from pg_constraint r where r.contype = 'f' and r.confrelid = c.conrelid
                                                           and not r.conrelid::regclass::text = any($1)))
              order by c.contype, 1, 2",
        )
        .bind(&tables)
        .fetch_all(&mut *tx)
        .await?;
        let indexes: Vec<(String, String)> = sqlx::query_as(
            "select i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
               from pg_index i
              where i.indrelid::regclass::text = any($1) and not i.indisprimary
                and not exists (select 1 from pg_constraint c where c.conindid = i.indexrelid)
              order by 1",
        )
        .bind(&tables)
        .fetch_all(&mut *tx)
        .await?;
        for Constraint { table, name, .. } in &constraints {
            sqlx::query(sqlx::AssertSqlSafe(format!("alter table {table} drop constraint \"{name}\"")))
                .execute(&mut *tx)
                .await?;
        }
        for (name, _) in &indexes {
            sqlx::query(sqlx::AssertSqlSafe(format!("drop index {name}"))).execute(&mut *tx).await?;
        }
        Ok(BulkLoad {
            indexes: indexes.into_iter().map(|(_, def)| def).collect(),
            constraints,
            touches,
            written: HashMap::new(),
        })
    }

    pub(super) fn steps(&self) -> u64 {
        (self.indexes.len() + self.constraints.len()) as u64
    }

    pub(super) async fn finish(
        self,
        tx: &mut sqlx::PgConnection,
        progress: &(dyn Progress + Sync),
    ) -> anyhow::Result<()> {
        sqlx::query("alter table stock_movements enable trigger stock_movements_apply").execute(&mut *tx).await?;
        for (table, name) in &self.touches {
            sqlx::query(sqlx::AssertSqlSafe(format!("alter table {table} enable trigger \"{name}\"")))
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("insert into lot_touches (lot_id) values (null)").execute(&mut *tx).await?;
        for def in &self.indexes {
            let clock = std::time::Instant::now();
            sqlx::query(sqlx::AssertSqlSafe(def.clone())).execute(&mut *tx).await?;
            tracing::debug!(import.ms = clock.elapsed().as_millis() as u64, "import: {def}");
            progress.advance(1);
        }
        // Statistics of the loaded rows (this transaction's own rows count), for the plans of the
        // key checks below and of every query after the commit.
        for table in BULK_TABLES {
            sqlx::query(sqlx::AssertSqlSafe(format!("analyze {table}"))).execute(&mut *tx).await?;
        }
        tracing::debug!("import: analysed");
        // Unique keys first (they were dropped last), then the foreign keys: the simple ones go
        // back NOT VALID, then their rows are checked (see Constraint::orphans).
        let mut unchecked: Vec<&Constraint> = Vec::new();
        for c in self.constraints.iter().rev() {
            let clock = std::time::Instant::now();
            let Constraint { table, name, definition, .. } = c;
            if c.is_simple_foreign_key() {
                let definition = definition.trim_end_matches(" NOT VALID");
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "alter table {table} add constraint \"{name}\" {definition} not valid"
                )))
                .execute(&mut *tx)
                .await?;
                unchecked.push(c);
                continue;
            }
            sqlx::query(sqlx::AssertSqlSafe(format!("alter table {table} add constraint \"{name}\" {definition}")))
                .execute(&mut *tx)
                .await?;
            tracing::debug!(import.ms = clock.elapsed().as_millis() as u64, "import: {table} {name} restored");
            progress.advance(1);
        }
        // Keys to small tables (master data: sites, users, materials, parties…) are checked
        // together, one pass over each filled table with the referenced ids hashed in memory
        // (five keys of the ledger: 1.25 s one by one, 0.44 s together); keys to a large
        // table (the ledger, lots, runs) as parallel hash joins, below.
        let referenced: Vec<String> = unchecked.iter().map(|c| c.referenced.clone()).collect();
        let small: Vec<(String, bool)> = sqlx::query_as(
            "select r, pg_relation_size(r::regclass) < 8 * 1024 * 1024 from unnest($1::text[]) as r group by r",
        )
        .bind(&referenced)
        .fetch_all(&mut *tx)
        .await?;
        let small: HashSet<String> = small.into_iter().filter(|(_, s)| *s).map(|(r, _)| r).collect();
        let (together, alone): (Vec<&Constraint>, Vec<&Constraint>) =
            unchecked.into_iter().partition(|c| c.columns.len() == 1 && small.contains(&c.referenced));
        let (single, multiple): (Vec<&Constraint>, Vec<&Constraint>) =
            alone.into_iter().partition(|c| c.columns.len() == 1);
        for c in multiple {
            let clock = std::time::Instant::now();
            check_keys(tx, &[c], &c.orphans()).await?;
            tracing::debug!(import.ms = clock.elapsed().as_millis() as u64, "import: {} {} checked", c.table, c.name);
            progress.advance(1);
        }
        // Keys to one large table are checked in one anti-join: every key's values in one
        // list, the referenced table hashed once. Values inside a range of ids this load wrote are
        // known present (see `wrote`) and left out: the keys to stock movements then cost a scan,
        // not a join. The primary keys the load dropped are back by now, so that count counts
        // each id once. Room for the hashed ids in one batch (a plant's lot ids), and for those of
        // the small tables below, so that the hash does not spill to disk.
        sqlx::query("set local work_mem = '128MB'").execute(&mut *tx).await?;
        let mut targets: Vec<(&str, &str)> =
            single.iter().map(|c| (c.referenced.as_str(), c.referenced_columns[0].as_str())).collect();
        targets.sort_unstable();
        targets.dedup();
        for (referenced, id) in targets {
            let clock = std::time::Instant::now();
            let keys: Vec<&Constraint> = single
                .iter()
                .copied()
                .filter(|c| c.referenced == referenced && c.referenced_columns[0] == id)
                .collect();
            let mut written = self.written.get(referenced).filter(|_| id == "id");
            if let Some((first, last)) = written {
                // What makes the range safe to leave out, asked of the table itself: as many
                // rows in it as ids (a parallel scan).
                let present: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                    "select count(*) from only {referenced} where id between {first} and {last}"
                )))
                .fetch_one(&mut *tx)
                .await?;
                if present != last - first + 1 {
                    written = None;
                }
            }
            let values: Vec<String> = keys
                .iter()
                .map(|c| {
                    let column = &c.columns[0];
                    let outside = match written {
                        Some((first, last)) => format!(" and c.{column} not between {first} and {last}"),
                        None => String::new(),
                    };
                    format!("select c.{column} from only {} c where c.{column} is not null{outside}", c.table)
                })
                .collect();
            let query = format!(
                "select count(*) from ({}) c(v) where not exists (select from only {referenced} r where r.{id} = c.v)",
                values.join(" union all ")
            );
            check_keys(tx, &keys, &query).await?;
            tracing::debug!(
                import.ms = clock.elapsed().as_millis() as u64,
                "import: {} keys to {referenced} checked",
                keys.len()
            );
            progress.advance(keys.len() as u64);
        }
        let mut tables: Vec<&str> = together.iter().map(|c| c.table.as_str()).collect();
        tables.sort_unstable();
        tables.dedup();
        for table in tables {
            let clock = std::time::Instant::now();
            let keys: Vec<&Constraint> = together.iter().copied().filter(|c| c.table == table).collect();
            let broken: Vec<String> = keys
                .iter()
                .map(|c| {
                    let (column, id) = (&c.columns[0], &c.referenced_columns[0]);
                    format!("(c.{column} is not null and c.{column} not in (select {id} from only {} where {id} is not null))", c.referenced)
                })
                .collect();
            check_keys(tx, &keys, &format!("select count(*) from only {table} c where {}", broken.join(" or ")))
                .await?;
            tracing::debug!(
                import.ms = clock.elapsed().as_millis() as u64,
                "import: {table} keys to {} small tables checked",
                keys.len()
            );
            progress.advance(keys.len() as u64);
        }
        Ok(())
    }
}

/// After a bulk load's commit: the filled tables vacuumed, for index-only reads (a trace reads
/// the link index only where the visibility map says the rows are visible to all; autovacuum
/// would get there minutes later), on two connections, the two largest tables leading each half.
pub(super) async fn vacuum(pool: &PgPool, progress: &(dyn Progress + Sync)) -> Result<(), sqlx::Error> {
    progress.stage("vacuuming", BULK_TABLES.len() as u64);
    let vacuum = |tables: &'static [&'static str]| async move {
        let mut conn = pool.acquire().await?;
        for table in tables {
            sqlx::query(sqlx::AssertSqlSafe(format!("vacuum {table}"))).execute(&mut *conn).await?;
            progress.advance(1);
        }
        Ok::<(), sqlx::Error>(())
    };
    let (first, second) = BULK_TABLES.split_at(BULK_TABLES.len() / 2);
    futures_util::future::try_join(vacuum(first), vacuum(second)).await?;
    Ok(())
}
