//! Locations: where stock sits inside a site (storage, receiving, quarantine, line side, shipping).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

use super::{Versioned, lock_for_edit, ticked};
use crate::audit::{self, Actor, Entry};
use crate::domain::text;
use crate::error::Error;
use crate::save::{Claim, ConstraintMessage, FieldErrors, SaveError, claim_create, map_db_error};

pub const KINDS: [(&str, &str); 5] = [
    ("storage", "Storage"),
    ("receiving", "Receiving"),
    ("quarantine", "Quarantine"),
    ("production", "Production / line side"),
    ("shipping", "Shipping"),
];

const CONSTRAINTS: &[ConstraintMessage] = &[
    ("locations_site_code_key", "code", "This site already has a location with this code."),
    ("locations_site_id_fkey", "site_id", "Choose a site from the list."),
];

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Location {
    pub id: Uuid,
    pub site_id: Uuid,
    pub site_code: String,
    pub code: String,
    pub name: String,
    pub kind: String,
    pub active: bool,
    #[serde(skip)]
    pub updated_at: DateTime<Utc>,
    #[serde(skip)]
    pub version: i32,
}

impl Versioned for Location {
    fn version(&self) -> i32 {
        self.version
    }
}

const SELECT: &str =
    "select l.id, l.site_id, s.code as site_code, l.code, l.name, l.kind, l.active, l.updated_at, l.version
   from locations l join sites s on s.id = l.site_id";

impl Location {
    pub fn kind_label(&self) -> &'static str {
        KINDS.iter().find(|(k, _)| *k == self.kind).map(|(_, l)| *l).unwrap_or("")
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct LocationForm {
    pub site_id: String,
    pub code: String,
    pub name: String,
    pub kind: String,
    pub active: Option<String>,
    pub version: String,
    pub idempotency_key: String,
}

impl From<&Location> for LocationForm {
    fn from(l: &Location) -> Self {
        LocationForm {
            site_id: l.site_id.to_string(),
            code: l.code.clone(),
            name: l.name.clone(),
            kind: l.kind.clone(),
            active: l.active.then(|| "on".into()),
            version: l.version.to_string(),
            idempotency_key: String::new(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct LocationInput {
    pub site_id: Uuid,
    pub code: String,
    pub name: String,
    pub kind: String,
    pub active: bool,
}

impl TryFrom<&LocationForm> for LocationInput {
    type Error = FieldErrors;

    fn try_from(f: &LocationForm) -> Result<Self, FieldErrors> {
        let mut e = FieldErrors::default();
        let site_id = Uuid::parse_str(f.site_id.trim()).unwrap_or_else(|_| {
            e.add("site_id", "Choose a site from the list.");
            Uuid::nil()
        });
        let code = e.check("code", text::code(&f.code, "The code", 30, "-._/"));
        let name = e.check("name", text::required(&f.name, "The name", 200));
        if !KINDS.iter().any(|(k, _)| *k == f.kind) {
            e.add("kind", "Choose what this location is used for.");
        }
        if !e.is_empty() {
            return Err(e);
        }
        Ok(LocationInput { site_id, code, name, kind: f.kind.clone(), active: ticked(&f.active) })
    }
}

pub async fn list(
    pool: &PgPool,
    pattern: Option<&str>,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Location>, i64), Error> {
    let rows = sqlx::query_as(
        "select l.id, l.site_id, s.code as site_code, l.code, l.name, l.kind, l.active, l.updated_at, l.version
           from locations l join sites s on s.id = l.site_id
          where $1::text is null or l.code ilike $1 or l.name ilike $1 or s.code ilike $1
          order by s.code, l.code limit $2 offset $3",
    )
    .bind(pattern)
    .bind(limit)
    .bind(offset)
    .fetch_all(pool)
    .await?;
    let total = sqlx::query_scalar(
        "select count(*) from locations l join sites s on s.id = l.site_id
          where $1::text is null or l.code ilike $1 or l.name ilike $1 or s.code ilike $1",
    )
    .bind(pattern)
    .fetch_one(pool)
    .await?;
    Ok((rows, total))
}

pub async fn get(db: impl PgExecutor<'_>, id: Uuid) -> Result<Location, Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} where l.id = $1")))
        .bind(id)
        .fetch_optional(db)
        .await?
        .ok_or(Error::NotFound)
}

pub async fn create(pool: &PgPool, actor: &Actor, input: &LocationInput, key: Uuid) -> Result<Uuid, SaveError> {
    let id = Uuid::new_v4();
    let mut tx = pool.begin().await?;
    if let Some(earlier) = claim_create(&mut tx, &Claim::new(key, "location.create", actor.id, input), id).await? {
        return Ok(earlier);
    }
    sqlx::query("insert into locations (id, site_id, code, name, kind) values ($1, $2, $3, $4, $5)")
        .bind(id)
        .bind(input.site_id)
        .bind(&input.code)
        .bind(&input.name)
        .bind(&input.kind)
        .execute(&mut *tx)
        .await
        .map_err(|e| map_db_error(e, CONSTRAINTS))?;
    let after = get(&mut *tx, id).await?;
    audit::record(&mut tx, actor, Entry::new("create", "location", id).after(&after)).await?;
    tx.commit().await?;
    Ok(id)
}

pub async fn update(
    pool: &PgPool,
    actor: &Actor,
    id: Uuid,
    version: i32,
    input: &LocationInput,
) -> Result<(), SaveError> {
    let mut tx = pool.begin().await?;
    let before: Location =
        lock_for_edit(&mut tx, format!("{SELECT} where l.id = $1 for update of l"), id, version).await?;
    sqlx::query("update locations set site_id = $2, code = $3, name = $4, kind = $5, active = $6 where id = $1")
        .bind(id)
        .bind(input.site_id)
        .bind(&input.code)
        .bind(&input.name)
        .bind(&input.kind)
        .bind(input.active)
        .execute(&mut *tx)
        .await
        .map_err(|e| map_db_error(e, CONSTRAINTS))?;
    let after = get(&mut *tx, id).await?;
    audit::record(&mut tx, actor, Entry::new("update", "location", id).before(&before).after(&after)).await?;
    tx.commit().await?;
    Ok(())
}
