//! Sites: the plants and warehouses where lots are made, received and kept.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

use super::{Versioned, lock_for_edit, ticked};
use crate::audit::{self, Actor, Entry};
use crate::domain::{gs1, text};
use crate::error::Error;
use crate::save::{Claim, ConstraintMessage, FieldErrors, SaveError, claim_create, map_db_error};

const CONSTRAINTS: &[ConstraintMessage] = &[
    ("sites_code_key", "code", "A site with this code already exists."),
    (
        "sites_time_zone_check",
        "time_zone",
        "This is not a time zone PostgreSQL knows; use a name such as Europe/Berlin or America/Chicago.",
    ),
];

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Site {
    pub id: Uuid,
    pub code: String,
    pub name: String,
    pub address: String,
    pub phone: String,
    pub country: Option<String>,
    pub gln: Option<String>,
    /// The GS1 company prefix the site's pallets' SSCCs are made under.
    pub company_prefix: Option<String>,
    pub time_zone: String,
    pub active: bool,
    #[serde(skip)]
    pub updated_at: DateTime<Utc>,
    #[serde(skip)]
    pub version: i32,
}

impl Versioned for Site {
    fn version(&self) -> i32 {
        self.version
    }
}

const SELECT: &str = "select id, code, name, address, phone, country, gln, company_prefix, time_zone, active, updated_at, version from sites";

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SiteForm {
    pub code: String,
    pub name: String,
    pub address: String,
    pub phone: String,
    pub country: String,
    pub gln: String,
    pub company_prefix: String,
    pub time_zone: String,
    pub active: Option<String>,
    pub version: String,
    pub idempotency_key: String,
}

impl From<&Site> for SiteForm {
    fn from(s: &Site) -> Self {
        SiteForm {
            code: s.code.clone(),
            name: s.name.clone(),
            address: s.address.clone(),
            phone: s.phone.clone(),
            country: s.country.clone().unwrap_or_default(),
            gln: s.gln.clone().unwrap_or_default(),
            company_prefix: s.company_prefix.clone().unwrap_or_default(),
            time_zone: s.time_zone.clone(),
            active: s.active.then(|| "on".into()),
            version: s.version.to_string(),
            idempotency_key: String::new(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct SiteInput {
    pub code: String,
    pub name: String,
    pub address: String,
    pub phone: String,
    pub country: Option<String>,
    pub gln: Option<String>,
    pub company_prefix: Option<String>,
    pub time_zone: String,
    pub active: bool,
}

impl TryFrom<&SiteForm> for SiteInput {
    type Error = FieldErrors;

    fn try_from(f: &SiteForm) -> Result<Self, FieldErrors> {
        let mut e = FieldErrors::default();
        let code = e.check("code", text::code(&f.code, "The code", 8, "-"));
        let name = e.check("name", text::required(&f.name, "The name", 200));
        let address = e.check("address", text::optional(&f.address, "The address", 1000));
        let phone = e.check("phone", text::optional(&f.phone, "The phone number", 50));
        let country = e.check("country", text::optional_country(&f.country));
        let gln = if f.gln.trim().is_empty() { None } else { Some(e.check("gln", gs1::parse_gln(&f.gln))) };
        let company_prefix = if f.company_prefix.trim().is_empty() {
            None
        } else {
            Some(e.check("company_prefix", gs1::parse_company_prefix(&f.company_prefix)))
        };
        let time_zone = e.check("time_zone", text::required(&f.time_zone, "The time zone", 64));
        if !e.is_empty() {
            return Err(e);
        }
        let active = ticked(&f.active);
        Ok(SiteInput { code, name, address, phone, country, gln, company_prefix, time_zone, active })
    }
}

pub async fn list(pool: &PgPool, pattern: Option<&str>, limit: i64, offset: i64) -> Result<(Vec<Site>, i64), Error> {
    let rows = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} where $1::text is null or code ilike $1 or name ilike $1 order by code limit $2 offset $3"
    )))
    .bind(pattern)
    .bind(limit)
    .bind(offset)
    .fetch_all(pool)
    .await?;
    let total =
        sqlx::query_scalar("select count(*) from sites where $1::text is null or code ilike $1 or name ilike $1")
            .bind(pattern)
            .fetch_one(pool)
            .await?;
    Ok((rows, total))
}

/// Every active site, for pickers.
pub async fn all_active(pool: &PgPool) -> Result<Vec<Site>, Error> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} where active order by code"))).fetch_all(pool).await?)
}

pub async fn get(db: impl PgExecutor<'_>, id: Uuid) -> Result<Site, Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} where id = $1")))
        .bind(id)
        .fetch_optional(db)
        .await?
        .ok_or(Error::NotFound)
}

pub async fn create(pool: &PgPool, actor: &Actor, input: &SiteInput, key: Uuid) -> Result<Uuid, SaveError> {
    let id = Uuid::new_v4();
    let mut tx = pool.begin().await?;
    if let Some(earlier) = claim_create(&mut tx, &Claim::new(key, "site.create", actor.id, input), id).await? {
        return Ok(earlier);
    }
    sqlx::query(
        "insert into sites (id, code, name, address, gln, time_zone, phone, country, company_prefix)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(id)
    .bind(&input.code)
    .bind(&input.name)
    .bind(&input.address)
    .bind(&input.gln)
    .bind(&input.time_zone)
    .bind(&input.phone)
    .bind(&input.country)
    .bind(&input.company_prefix)
    .execute(&mut *tx)
    .await
    .map_err(|e| map_db_error(e, CONSTRAINTS))?;
    let after = get(&mut *tx, id).await?;
    audit::record(&mut tx, actor, Entry::new("create", "site", id).after(&after)).await?;
    tx.commit().await?;
    Ok(id)
}

pub async fn update(pool: &PgPool, actor: &Actor, id: Uuid, version: i32, input: &SiteInput) -> Result<(), SaveError> {
    let mut tx = pool.begin().await?;
    let before: Site = lock_for_edit(&mut tx, format!("{SELECT} where id = $1 for update"), id, version).await?;
    sqlx::query(
        "update sites set code = $2, name = $3, address = $4, gln = $5, time_zone = $6, active = $7, phone = $8, country = $9,
                company_prefix = $10
          where id = $1",
    )
    .bind(id)
    .bind(&input.code)
    .bind(&input.name)
    .bind(&input.address)
    .bind(&input.gln)
    .bind(&input.time_zone)
    .bind(input.active)
    .bind(&input.phone)
    .bind(&input.country)
    .bind(&input.company_prefix)
    .execute(&mut *tx)
    .await
    .map_err(|e| map_db_error(e, CONSTRAINTS))?;
    let after = get(&mut *tx, id).await?;
    audit::record(&mut tx, actor, Entry::new("update", "site", id).before(&before).after(&after)).await?;
    tx.commit().await?;
    Ok(())
}
