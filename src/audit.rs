//! The audit trail every change writes through: who, when, what, before and after, and why —
//! in the same transaction as the change, append-only, each entry chained to the previous one
//! by a SHA-256 hash so that an edited or removed row is detected by `lotline audit verify`.

use chrono::{DateTime, SubsecRound, Utc};
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
pub async fn record(tx: &mut PgConnection, actor: &Actor, entry: Entry<'_>) -> Result<(), sqlx::Error> {
    // The lock first, in a statement of its own: the insert below then runs on a snapshot taken
    // after the previous holder committed, so it sees that holder's entry as the last one.
    sqlx::query("select pg_advisory_xact_lock($1)").bind(CHAIN_LOCK).execute(&mut *tx).await?;
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
    // The hash is sha256(previous hash || canonical form), computed by PostgreSQL next to the
    // previous hash it reads; `verify` recomputes the same in Rust.
    sqlx::query(
        "insert into audit_log (occurred_at, actor_id, actor_name, action, entity_type, entity_id, reason, before, after, prev_hash, hash)
         select $1, $2, $3, $4, $5, $6, $7, $8, $9, p.hash, sha256(coalesce(p.hash, ''::bytea) || convert_to($10, 'UTF8'))
           from (select (select hash from audit_log order by id desc limit 1) as hash) p",
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
    .bind(row.canonical())
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
    /// SHA-256 over the previous hash and one canonical JSON form of the entry: keys sorted,
    /// time in UTC with microseconds, decimals as the strings they were recorded as.
    fn hash(&self, prev: Option<&[u8]>) -> Vec<u8> {
        let mut hasher = Sha256::new();
        hasher.update(prev.unwrap_or(&[]));
        hasher.update(self.canonical().as_bytes());
        hasher.finalize().to_vec()
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

/// Recomputes every entry's hash in order.
pub async fn verify(pool: &PgPool) -> Result<Verification, sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct Stored {
        id: i64,
        prev_hash: Option<Vec<u8>>,
        hash: Vec<u8>,
        #[sqlx(flatten)]
        row: Row,
    }
    let mut prev: Option<Vec<u8>> = None;
    let mut count = 0i64;
    let mut last_id = 0i64;
    loop {
        let batch: Vec<Stored> = sqlx::query_as(
            "select id, prev_hash, hash, occurred_at, actor_id, actor_name, action, entity_type, entity_id, reason, before, after
               from audit_log where id > $1 order by id limit 5000",
        )
        .bind(last_id)
        .fetch_all(pool)
        .await?;
        if batch.is_empty() {
            break;
        }
        for s in batch {
            if s.prev_hash != prev {
                return Ok(Verification::Broken {
                    id: s.id,
                    problem: "its link to the previous entry does not match: an entry before it was removed or changed"
                        .into(),
                });
            }
            if s.row.hash(prev.as_deref()) != s.hash {
                return Ok(Verification::Broken {
                    id: s.id,
                    problem: "its content does not match its hash: it was changed after it was written".into(),
                });
            }
            last_id = s.id;
            prev = Some(s.hash);
            count += 1;
        }
    }
    Ok(Verification::Intact { entries: count, head: prev.map(|h| hex(&h)).unwrap_or_default() })
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
