//! The audit trail every change writes through: who, when, what, before and after, and why —
//! in the same transaction as the change, append-only, each entry chained to the previous one
//! by an HMAC-SHA256 under a key kept outside the database, so that an edited, removed, forged
//! or re-chained row is detected by `lotline audit verify` (and a removed tail by comparing the
//! head with one saved earlier).

use std::sync::OnceLock;

use chrono::{DateTime, SubsecRound, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// Who did something: a signed-in user, or lotline itself (demo loader, CLI bootstrap).
#[derive(Debug, Clone)]
pub struct Actor {
    pub id: Option<Uuid>,
    pub name: String,
}

impl Actor {
    pub fn system(name: &str) -> Actor {
        Actor { id: None, name: name.to_string() }
    }
}

/// A signed-in person acting: what an operation that signs, or that must name its user, takes.
/// (The CSRF token and the permissions stay with the web face's `CurrentUser`.)
#[derive(Debug, Clone)]
pub struct Person {
    pub id: Uuid,
    pub username: String,
    /// The browser session acting (its token's hash), for the signing period of Part 11; None
    /// for an API token, the CLI or the demo loader, where every signature takes both components.
    pub session: Option<Vec<u8>>,
}

impl Person {
    pub fn actor(&self) -> Actor {
        Actor { id: Some(self.id), name: self.username.clone() }
    }
}

/// One change to record.
pub struct Entry<'a> {
    pub action: &'a str,
    pub entity_type: &'a str,
    pub entity_id: String,
    pub reason: Option<&'a str>,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

impl<'a> Entry<'a> {
    pub fn new(action: &'a str, entity_type: &'a str, entity_id: impl ToString) -> Entry<'a> {
        Entry { action, entity_type, entity_id: entity_id.to_string(), reason: None, before: None, after: None }
    }

    pub fn before(mut self, value: &impl Serialize) -> Self {
        self.before = serde_json::to_value(value).ok();
        self
    }

    pub fn after(mut self, value: &impl Serialize) -> Self {
        self.after = serde_json::to_value(value).ok();
        self
    }

    pub fn reason(mut self, reason: &'a str) -> Self {
        self.reason = Some(reason);
        self
    }
}

/// The advisory lock that serialises appends, so concurrent writers never fork the chain.
const CHAIN_LOCK: i64 = 0x6c6f_746c_696e_6501;

/// Appends `entry` inside `tx`. Call it as the transaction's last statement: the chain lock it
/// takes is then held only while the transaction commits.
static KEY: OnceLock<Vec<u8>> = OnceLock::new();

/// Sets the key the chain is kept with (once per process, before anything is recorded):
/// `LOTLINE_AUDIT_KEY`, or the data folder's `audit.key`. A process without one (a test) writes
/// unkeyed entries, which `verify` refuses after the first keyed one.
pub fn use_key(key: Vec<u8>) {
    let _ = KEY.set(key);
}

pub async fn record(tx: &mut PgConnection, actor: &Actor, entry: Entry<'_>) -> Result<(), sqlx::Error> {
    // The lock first, in a statement of its own: the reads below then run on a snapshot taken
    // after the previous holder committed, so they see that holder's entry as the last one.
    sqlx::query("select pg_advisory_xact_lock($1)").bind(CHAIN_LOCK).execute(&mut *tx).await?;
    let prev: Option<Vec<u8>> =
        sqlx::query_scalar("select hash from audit_log order by id desc limit 1").fetch_optional(&mut *tx).await?;
    let row = Row {
        occurred_at: Utc::now().trunc_subsecs(6),
        actor_id: actor.id,
        actor_name: actor.name.clone(),
        action: entry.action.to_string(),
        entity_type: entry.entity_type.to_string(),
        entity_id: entry.entity_id,
        reason: entry.reason.map(str::to_string),
        before: entry.before,
        after: entry.after,
    };
    let key = KEY.get().map(Vec::as_slice);
    let hash = row.hash(prev.as_deref(), key);
    sqlx::query(
        "insert into audit_log (occurred_at, actor_id, actor_name, action, entity_type, entity_id, reason, before, after, prev_hash, hash, keyed)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(row.occurred_at)
    .bind(row.actor_id)
    .bind(&row.actor_name)
    .bind(&row.action)
    .bind(&row.entity_type)
    .bind(&row.entity_id)
    .bind(&row.reason)
    .bind(&row.before)
    .bind(&row.after)
    .bind(&prev)
    .bind(&hash)
    .bind(key.is_some())
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// The fields an entry's hash covers.
#[derive(Debug, sqlx::FromRow)]
struct Row {
    occurred_at: DateTime<Utc>,
    actor_id: Option<Uuid>,
    actor_name: String,
    action: String,
    entity_type: String,
    entity_id: String,
    reason: Option<String>,
    before: Option<Value>,
    after: Option<Value>,
}

impl Row {
    /// HMAC-SHA256 under `key` (plain SHA-256 without one, as entries before the key were) over
    /// the previous hash and one canonical JSON form of the entry: keys sorted, time in UTC with
    /// microseconds, decimals as the strings they were recorded as.
    fn hash(&self, prev: Option<&[u8]>, key: Option<&[u8]>) -> Vec<u8> {
        let body = self.canonical();
        match key {
            Some(key) => {
                let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
                mac.update(prev.unwrap_or(&[]));
                mac.update(body.as_bytes());
                mac.finalize().into_bytes().to_vec()
            }
            None => {
                let mut hasher = Sha256::new();
                hasher.update(prev.unwrap_or(&[]));
                hasher.update(body.as_bytes());
                hasher.finalize().to_vec()
            }
        }
    }

    fn canonical(&self) -> String {
        json!({
            "occurred_at": self.occurred_at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
            "actor_id": self.actor_id,
            "actor_name": self.actor_name,
            "action": self.action,
            "entity_type": self.entity_type,
            "entity_id": self.entity_id,
            "reason": self.reason,
            "before": self.before,
            "after": self.after,
        })
        .to_string()
    }
}

/// The outcome of checking the whole chain.
#[derive(Debug)]
pub enum Verification {
    /// Every entry matches its hash and follows the one before; the head hash (hex) can be kept
    /// outside the database to detect a truncated tail later.
    Intact { entries: i64, head: String },
    /// The first entry that does not match.
    Broken { id: i64, problem: String },
}

/// Recomputes every entry's hash in order, keyed entries with `key`; with `expect_head` (a head
/// saved earlier), also that the chain still passes through it, so removed tail entries and a
/// rewritten chain are detected too.
pub async fn verify(pool: &PgPool, key: Option<&[u8]>, expect_head: Option<&str>) -> Result<Verification, sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct Stored {
        id: i64,
        prev_hash: Option<Vec<u8>>,
        hash: Vec<u8>,
        keyed: bool,
        #[sqlx(flatten)]
        row: Row,
    }
    let expect_head = expect_head.map(|h| h.trim().to_ascii_lowercase()).filter(|h| !h.is_empty());
    let mut seen_head = expect_head.is_none();
    let mut keyed_seen = false;
    let mut prev: Option<Vec<u8>> = None;
    let mut count = 0i64;
    let mut last_id = 0i64;
    loop {
        let batch: Vec<Stored> = sqlx::query_as(
            "select id, prev_hash, hash, keyed, occurred_at, actor_id, actor_name, action, entity_type, entity_id, reason, before, after
               from audit_log where id > $1 order by id limit 5000",
        )
        .bind(last_id)
        .fetch_all(pool)
        .await?;
        if batch.is_empty() {
            break;
        }
        for s in batch {
            let broken = |problem: &str| Ok(Verification::Broken { id: s.id, problem: problem.to_string() });
            if s.prev_hash != prev {
                return broken(
                    "its link to the previous entry does not match: an entry before it was removed or changed",
                );
            }
            if keyed_seen && !s.keyed {
                return broken(
                    "it is not keyed, though entries before it are: it was written without the key, by hand",
                );
            }
            if s.keyed && key.is_none() {
                return broken(
                    "it is keyed: give the key (LOTLINE_AUDIT_KEY or the data folder's audit.key) to check it",
                );
            }
            keyed_seen |= s.keyed;
            if s.row.hash(prev.as_deref(), key.filter(|_| s.keyed)) != s.hash {
                return broken(
                    "its content does not match its hash: it was changed, forged or re-chained without the key",
                );
            }
            if expect_head.as_deref() == Some(hex(&s.hash).as_str()) {
                seen_head = true;
            }
            last_id = s.id;
            prev = Some(s.hash);
            count += 1;
        }
    }
    if !seen_head {
        return Ok(Verification::Broken {
            id: last_id,
            problem: "the saved head is not in the trail: entries after it were removed, or the chain was rewritten"
                .into(),
        });
    }
    Ok(Verification::Intact { entries: count, head: prev.map(|h| hex(&h)).unwrap_or_default() })
}

/// The last entry's id and hash (hex), to keep outside the database.
pub async fn head(pool: &PgPool) -> Result<Option<(i64, String)>, sqlx::Error> {
    let row: Option<(i64, Vec<u8>)> =
        sqlx::query_as("select id, hash from audit_log order by id desc limit 1").fetch_optional(pool).await?;
    Ok(row.map(|(id, h)| (id, hex(&h))))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One entry as pages show it.
#[derive(Debug, Clone, sqlx::FromRow, serde::Deserialize)]
pub struct Shown {
    pub id: i64,
    #[serde(deserialize_with = "crate::db::json::time")]
    pub occurred_at: DateTime<Utc>,
    pub actor_name: String,
    pub action: String,
    pub entity_type: String,
    pub entity_id: String,
    pub reason: Option<String>,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

impl Shown {
    /// The fields this entry changed, as (field, before, after) text.
    pub fn changes(&self) -> Vec<(String, String, String)> {
        let empty = serde_json::Map::new();
        let before = self.before.as_ref().and_then(Value::as_object).unwrap_or(&empty);
        let after = self.after.as_ref().and_then(Value::as_object).unwrap_or(&empty);
        let mut keys: Vec<&String> = before.keys().chain(after.keys()).collect();
        keys.sort();
        keys.dedup();
        keys.into_iter()
            .filter(|k| before.get(*k) != after.get(*k))
            .map(|k| (k.clone(), show(before.get(k)), show(after.get(k))))
            .collect()
    }
}

fn show(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => "—".into(),
        Some(Value::String(s)) if s.is_empty() => "(empty)".into(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// Filters of the audit page.
#[derive(Debug, Default)]
pub struct Filter {
    pub entity_type: Option<String>,
    pub entity_id: Option<String>,
    pub actor: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

pub async fn search(pool: &PgPool, f: &Filter, limit: i64, offset: i64) -> Result<(Vec<Shown>, i64), sqlx::Error> {
    let filter = "where ($1::text is null or entity_type = $1) and ($2::text is null or entity_id = $2)
                    and ($3::text is null or actor_name ilike $3) and ($4::timestamptz is null or occurred_at >= $4)
                    and ($5::timestamptz is null or occurred_at < $5)";
    let rows = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select id, occurred_at, actor_name, action, entity_type, entity_id, reason, before, after from audit_log {filter}
          order by id desc limit $6 offset $7"
    )))
    .bind(&f.entity_type)
    .bind(&f.entity_id)
    .bind(&f.actor)
    .bind(f.from)
    .bind(f.until)
    .bind(limit)
    .bind(offset)
    .fetch_all(pool)
    .await?;
    let total = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("select count(*) from audit_log {filter}")))
        .bind(&f.entity_type)
        .bind(&f.entity_id)
        .bind(&f.actor)
        .bind(f.from)
        .bind(f.until)
        .fetch_one(pool)
        .await?;
    Ok((rows, total))
}

/// The history of one record, newest first (its latest 200 entries).
pub async fn history(pool: &PgPool, entity_type: &str, entity_id: impl ToString) -> Result<Vec<Shown>, sqlx::Error> {
    sqlx::query_as(HISTORY).bind(entity_type).bind(entity_id.to_string()).fetch_all(pool).await
}

/// The latest 200 entries of one record (`$1` its type, `$2` its id as text).
const HISTORY: &str = "select id, occurred_at, actor_name, action, entity_type, entity_id, reason, before, after
   from audit_log where entity_type = $1 and entity_id = $2 order by id desc limit 200";
