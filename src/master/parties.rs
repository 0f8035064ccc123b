//! Parties: suppliers and customers (one party may be both), and the contacts a recall notice reaches.

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
    ("parties_code_key", "code", "A party with this code already exists."),
    ("parties_role_check", "roles", "A party is a supplier, a customer, or both."),
];

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Party {
    pub id: Uuid,
    pub code: String,
    pub name: String,
    pub is_supplier: bool,
    pub is_customer: bool,
    pub address: String,
    pub country: Option<String>,
    pub gln: Option<String>,
    pub phone: String,
    pub email: String,
    pub notes: String,
    pub active: bool,
    #[serde(skip)]
    pub updated_at: DateTime<Utc>,
    #[serde(skip)]
    pub version: i32,
}

impl Versioned for Party {
    fn version(&self) -> i32 {
        self.version
    }
}

impl Party {
    pub fn roles(&self) -> &'static str {
        match (self.is_supplier, self.is_customer) {
            (true, true) => "supplier and customer",
            (true, false) => "supplier",
            (false, true) => "customer",
            (false, false) => "",
        }
    }
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Contact {
    pub id: Uuid,
    pub name: String,
    pub role: String,
    pub phone: String,
    pub email: String,
    pub recall_contact: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct PartyForm {
    pub code: String,
    pub name: String,
    pub is_supplier: Option<String>,
    pub is_customer: Option<String>,
    pub address: String,
    pub country: String,
    pub gln: String,
    pub phone: String,
    pub email: String,
    pub notes: String,
    pub active: Option<String>,
    pub version: String,
    pub idempotency_key: String,
}

impl From<&Party> for PartyForm {
    fn from(p: &Party) -> Self {
        PartyForm {
            code: p.code.clone(),
            name: p.name.clone(),
            is_supplier: p.is_supplier.then(|| "on".into()),
            is_customer: p.is_customer.then(|| "on".into()),
            address: p.address.clone(),
            country: p.country.clone().unwrap_or_default(),
            gln: p.gln.clone().unwrap_or_default(),
            phone: p.phone.clone(),
            email: p.email.clone(),
            notes: p.notes.clone(),
            active: p.active.then(|| "on".into()),
            version: p.version.to_string(),
            idempotency_key: String::new(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct PartyInput {
    pub code: String,
    pub name: String,
    pub is_supplier: bool,
    pub is_customer: bool,
    pub address: String,
    pub country: Option<String>,
    pub gln: Option<String>,
    pub phone: String,
    pub email: String,
    pub notes: String,
    pub active: bool,
}

impl TryFrom<&PartyForm> for PartyInput {
    type Error = FieldErrors;

    fn try_from(f: &PartyForm) -> Result<Self, FieldErrors> {
        let mut e = FieldErrors::default();
        let code = e.check("code", text::code(&f.code, "The code", 20, "-._"));
        let name = e.check("name", text::required(&f.name, "The name", 200));
        let (is_supplier, is_customer) = (ticked(&f.is_supplier), ticked(&f.is_customer));
        if !is_supplier && !is_customer {
            e.add("roles", "Tick supplier, customer, or both.");
        }
        let address = e.check("address", text::optional(&f.address, "The address", 1000));
        let country = e.check("country", text::optional_country(&f.country));
        let gln = if f.gln.trim().is_empty() { None } else { Some(e.check("gln", gs1::parse_gln(&f.gln))) };
        let phone = e.check("phone", text::optional(&f.phone, "The phone number", 50));
        let email = e.check("email", text::optional_email(&f.email));
        let notes = e.check("notes", text::optional(&f.notes, "The notes", 4000));
        if !e.is_empty() {
            return Err(e);
        }
        Ok(PartyInput {
            code,
            name,
            is_supplier,
            is_customer,
            address,
            country,
            gln,
            phone,
            email,
            notes,
            active: ticked(&f.active),
        })
    }
}

const SELECT: &str = "select id, code, name, is_supplier, is_customer, address, country, gln, phone, email, notes, active, updated_at, version from parties";

/// One page of parties matching `pattern`; `role` narrows to "supplier" or "customer".
pub async fn list(
    pool: &PgPool,
    pattern: Option<&str>,
    role: Option<&str>,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Party>, i64), Error> {
    let filter = "where ($1::text is null or code ilike $1 or name ilike $1)
                    and ($2::text is null or ($2 = 'supplier' and is_supplier) or ($2 = 'customer' and is_customer))";
    let rows = sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} {filter} order by code limit $3 offset $4")))
        .bind(pattern)
        .bind(role)
        .bind(limit)
        .bind(offset)
        .fetch_all(pool)
        .await?;
    let total = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("select count(*) from parties {filter}")))
        .bind(pattern)
        .bind(role)
        .fetch_one(pool)
        .await?;
    Ok((rows, total))
}

pub async fn get(db: impl PgExecutor<'_>, id: Uuid) -> Result<Party, Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} where id = $1")))
        .bind(id)
        .fetch_optional(db)
        .await?
        .ok_or(Error::NotFound)
}

pub async fn contacts(pool: &PgPool, party_id: Uuid) -> Result<Vec<Contact>, Error> {
    Ok(sqlx::query_as(
        "select id, name, role, phone, email, recall_contact from party_contacts where party_id = $1 order by recall_contact desc, name",
    )
    .bind(party_id)
    .fetch_all(pool)
    .await?)
}

pub async fn create(pool: &PgPool, actor: &Actor, input: &PartyInput, key: Uuid) -> Result<Uuid, SaveError> {
    let id = Uuid::new_v4();
    let mut tx = pool.begin().await?;
    if let Some(earlier) = claim_create(&mut tx, &Claim::new(key, "party.create", actor.id, input), id).await? {
        return Ok(earlier);
    }
    sqlx::query(
        "insert into parties (id, code, name, is_supplier, is_customer, address, country, gln, phone, email, notes)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(id)
    .bind(&input.code)
    .bind(&input.name)
    .bind(input.is_supplier)
    .bind(input.is_customer)
    .bind(&input.address)
    .bind(&input.country)
    .bind(&input.gln)
    .bind(&input.phone)
    .bind(&input.email)
    .bind(&input.notes)
    .execute(&mut *tx)
    .await
    .map_err(|e| map_db_error(e, CONSTRAINTS))?;
    let after = get(&mut *tx, id).await?;
    audit::record(&mut tx, actor, Entry::new("create", "party", id).after(&after)).await?;
    tx.commit().await?;
    Ok(id)
}

pub async fn update(pool: &PgPool, actor: &Actor, id: Uuid, version: i32, input: &PartyInput) -> Result<(), SaveError> {
    let mut tx = pool.begin().await?;
    let before: Party = lock_for_edit(&mut tx, format!("{SELECT} where id = $1 for update"), id, version).await?;
    sqlx::query(
        "update parties set code = $2, name = $3, is_supplier = $4, is_customer = $5, address = $6, country = $7, gln = $8,
                phone = $9, email = $10, notes = $11, active = $12
          where id = $1",
    )
    .bind(id)
    .bind(&input.code)
    .bind(&input.name)
    .bind(input.is_supplier)
    .bind(input.is_customer)
    .bind(&input.address)
    .bind(&input.country)
    .bind(&input.gln)
    .bind(&input.phone)
    .bind(&input.email)
    .bind(&input.notes)
    .bind(input.active)
    .execute(&mut *tx)
    .await
    .map_err(|e| map_db_error(e, CONSTRAINTS))?;
    let after = get(&mut *tx, id).await?;
    audit::record(&mut tx, actor, Entry::new("update", "party", id).before(&before).after(&after)).await?;
    tx.commit().await?;
    Ok(())
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ContactForm {
    pub name: String,
    pub role: String,
    pub phone: String,
    pub email: String,
    pub recall_contact: Option<String>,
}

pub async fn add_contact(pool: &PgPool, actor: &Actor, party_id: Uuid, f: &ContactForm) -> Result<(), SaveError> {
    let mut e = FieldErrors::default();
    let name = e.check("name", text::required(&f.name, "The name", 200));
    let role = e.check("role", text::optional(&f.role, "The role", 100));
    let phone = e.check("phone", text::optional(&f.phone, "The phone number", 50));
    let email = e.check("email", text::optional_email(&f.email));
    if phone.is_empty() && email.is_empty() && e.get("phone").is_none() && e.get("email").is_none() {
        e.add("phone", "Give a phone number or an e-mail address: a contact must be reachable.");
    }
    if !e.is_empty() {
        return Err(e.into());
    }
    let mut tx = pool.begin().await?;
    let contact: Contact = sqlx::query_as(
        "insert into party_contacts (party_id, name, role, phone, email, recall_contact) values ($1, $2, $3, $4, $5, $6)
         returning id, name, role, phone, email, recall_contact",
    )
    .bind(party_id)
    .bind(&name)
    .bind(&role)
    .bind(&phone)
    .bind(&email)
    .bind(ticked(&f.recall_contact))
    .fetch_one(&mut *tx)
    .await
    ?;
    audit::record(&mut tx, actor, Entry::new("add_contact", "party", party_id).after(&contact)).await?;
    tx.commit().await?;
    Ok(())
}
