//! Materials (items, SKUs) and their GTINs.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

use super::{Versioned, lock_for_edit, ticked};
use crate::audit::{self, Actor, Entry};
use crate::domain::{gs1, text};
use crate::error::Error;
use crate::save::{Claim, ConstraintMessage, FieldErrors, SaveError, claim_create, map_db_error};

pub const KINDS: [(&str, &str); 4] = [
    ("raw", "Raw material"),
    ("packaging", "Packaging"),
    ("intermediate", "Intermediate"),
    ("finished", "Finished good"),
];
pub const EXPIRY_POLICIES: [(&str, &str); 3] = [
    ("shelf_life", "Own shelf life from the lot's date"),
    ("earliest_input", "Earliest expiry of its inputs"),
    ("none", "Does not expire"),
];
pub const PACK_LEVELS: [&str; 4] = ["each", "inner", "case", "pallet"];

const CONSTRAINTS: &[ConstraintMessage] = &[
    ("materials_code_key", "code", "A material with this code already exists."),
    ("materials_uom_fkey", "uom", "Choose a unit of measure from the list."),
    ("material_gtins_pkey", "gtin", "This GTIN is already assigned to a material."),
];

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Material {
    pub id: Uuid,
    pub code: String,
    pub name: String,
    pub kind: String,
    pub uom: String,
    pub mass_per_unit_kg: Option<Decimal>,
    pub shelf_life_days: Option<i32>,
    pub expiry_policy: String,
    /// What its lots' date means: use by or best before.
    pub date_kind: crate::domain::vocab::DateKind,
    pub qa_required: bool,
    pub ftl: bool,
    /// Its lots may be looked up by consumers (the public "check your product" page).
    pub public_lookup: bool,
    /// The public check shows the lot's dates.
    pub public_dates: bool,
    /// The public check shows the plant and the countries of origin.
    pub public_origin: bool,
    /// A count's variance within this share of the expected quantity takes the count's reason;
    /// beyond it, QA gives the line's own.
    pub count_tolerance_percent: Decimal,
    /// After a recall closes, consumers see its notice until a lot's expiry plus these days.
    pub recall_notice_days: i32,
    pub description: String,
    pub active: bool,
    #[serde(skip)]
    pub updated_at: DateTime<Utc>,
    #[serde(skip)]
    pub version: i32,
}

impl Versioned for Material {
    fn version(&self) -> i32 {
        self.version
    }
}

impl Material {
    pub fn kind_label(&self) -> &'static str {
        label(&KINDS, &self.kind)
    }

    pub fn expiry_label(&self) -> &'static str {
        label(&EXPIRY_POLICIES, &self.expiry_policy)
    }
}

fn label(pairs: &[(&'static str, &'static str)], key: &str) -> &'static str {
    pairs.iter().find(|(k, _)| *k == key).map(|(_, l)| *l).unwrap_or("")
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Gtin {
    pub gtin: String,
    pub pack_level: String,
    pub units_per_pack: Decimal,
    pub company_prefix_length: Option<i16>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Unit {
    pub code: String,
    pub name: String,
}

/// The material form as typed: every field a string, so a refused form shows exactly what was typed.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct MaterialForm {
    pub code: String,
    pub name: String,
    pub kind: String,
    pub uom: String,
    pub mass_per_unit_kg: String,
    pub shelf_life_days: String,
    pub expiry_policy: String,
    /// `use_by` or `best_before`.
    pub date_kind: String,
    pub qa_required: Option<String>,
    pub ftl: Option<String>,
    pub public_lookup: Option<String>,
    pub public_dates: Option<String>,
    pub public_origin: Option<String>,
    pub count_tolerance_percent: String,
    pub recall_notice_days: String,
    pub description: String,
    pub active: Option<String>,
    pub version: String,
    pub idempotency_key: String,
}

impl From<&Material> for MaterialForm {
    fn from(m: &Material) -> Self {
        MaterialForm {
            code: m.code.clone(),
            name: m.name.clone(),
            kind: m.kind.clone(),
            uom: m.uom.clone(),
            mass_per_unit_kg: m.mass_per_unit_kg.map(|d| d.normalize().to_string()).unwrap_or_default(),
            shelf_life_days: m.shelf_life_days.map(|d| d.to_string()).unwrap_or_default(),
            expiry_policy: m.expiry_policy.clone(),
            date_kind: m.date_kind.as_str().to_string(),
            qa_required: m.qa_required.then(|| "on".into()),
            ftl: m.ftl.then(|| "on".into()),
            public_lookup: m.public_lookup.then(|| "on".into()),
            public_dates: m.public_dates.then(|| "on".into()),
            public_origin: m.public_origin.then(|| "on".into()),
            count_tolerance_percent: m.count_tolerance_percent.normalize().to_string(),
            recall_notice_days: m.recall_notice_days.to_string(),
            description: m.description.clone(),
            active: m.active.then(|| "on".into()),
            version: m.version.to_string(),
            idempotency_key: String::new(),
        }
    }
}

/// A checked material.
#[derive(Debug, Clone)]
pub struct MaterialInput {
    pub code: String,
    pub name: String,
    pub kind: String,
    pub uom: String,
    pub mass_per_unit_kg: Option<Decimal>,
    pub shelf_life_days: Option<i32>,
    pub expiry_policy: String,
    pub date_kind: crate::domain::vocab::DateKind,
    pub qa_required: bool,
    pub ftl: bool,
    pub public_lookup: bool,
    pub public_dates: bool,
    pub public_origin: bool,
    pub count_tolerance_percent: Decimal,
    pub recall_notice_days: i32,
    pub description: String,
    pub active: bool,
}

impl TryFrom<&MaterialForm> for MaterialInput {
    type Error = FieldErrors;

    fn try_from(f: &MaterialForm) -> Result<Self, FieldErrors> {
        let mut e = FieldErrors::default();
        let code = e.check("code", text::code(&f.code, "The code", 20, "-._"));
        let name = e.check("name", text::required(&f.name, "The name", 200));
        if !KINDS.iter().any(|(k, _)| *k == f.kind) {
            e.add("kind", "Choose what kind of material this is.");
        }
        if let Err(m) = text::printable(&f.uom, "The unit of measure") {
            e.add("uom", m);
        } else if f.uom.trim().is_empty() {
            e.add("uom", "Choose a unit of measure.");
        }
        let mass_per_unit_kg =
            e.check("mass_per_unit_kg", text::positive_decimal(&f.mass_per_unit_kg, "The mass per unit"));
        let shelf_life_days =
            e.check("shelf_life_days", text::optional_int(&f.shelf_life_days, "The shelf life", 1, 36500));
        let date_kind = match f.date_kind.trim() {
            "" => crate::domain::vocab::DateKind::UseBy,
            word => word.parse().unwrap_or_else(|_| {
                e.add("date_kind", "Choose what the date on its lots means: use by or best before.");
                crate::domain::vocab::DateKind::UseBy
            }),
        };
        if !EXPIRY_POLICIES.iter().any(|(k, _)| *k == f.expiry_policy) {
            e.add("expiry_policy", "Choose how lots of this material get their expiry date.");
        }
        if f.expiry_policy == "shelf_life" && shelf_life_days.is_none() && e.get("shelf_life_days").is_none() {
            e.add("shelf_life_days", "Give the shelf life in days, or choose another expiry rule.");
        }
        let description = e.check("description", text::optional(&f.description, "The description", 2000));
        let count_tolerance_percent = match f.count_tolerance_percent.trim() {
            "" => Decimal::ZERO,
            t => match t.parse::<Decimal>() {
                Ok(p) if p >= Decimal::ZERO && p < Decimal::ONE_HUNDRED && p.scale() <= 2 => p,
                _ => {
                    e.add(
                        "count_tolerance_percent",
                        "The count tolerance is a percentage from 0 to below 100, such as 2.",
                    );
                    Decimal::ZERO
                }
            },
        };
        let recall_notice_days = e
            .check(
                "recall_notice_days",
                text::optional_int(&f.recall_notice_days, "The days the recall notice outlives the expiry", 0, 3650),
            )
            .unwrap_or(90) as i32;
        if !e.is_empty() {
            return Err(e);
        }
        Ok(MaterialInput {
            code,
            name,
            kind: f.kind.clone(),
            uom: f.uom.trim().to_string(),
            mass_per_unit_kg,
            shelf_life_days: shelf_life_days.map(|d| d as i32),
            expiry_policy: f.expiry_policy.clone(),
            date_kind,
            qa_required: ticked(&f.qa_required),
            ftl: ticked(&f.ftl),
            public_lookup: ticked(&f.public_lookup),
            public_dates: ticked(&f.public_dates),
            public_origin: ticked(&f.public_origin),
            count_tolerance_percent,
            recall_notice_days,
            description,
            active: ticked(&f.active),
        })
    }
}

pub async fn units(pool: &PgPool) -> Result<Vec<Unit>, Error> {
    Ok(sqlx::query_as("select code, name from units order by dimension, to_base, code").fetch_all(pool).await?)
}

/// One page of materials matching `pattern` (an ILIKE pattern over code and name), and the total.
pub async fn list(
    pool: &PgPool,
    pattern: Option<&str>,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Material>, i64), Error> {
    let rows = sqlx::query_as(
        "select id, code, name, kind, uom, mass_per_unit_kg, shelf_life_days, expiry_policy, date_kind, qa_required, ftl, public_lookup, public_dates, public_origin, count_tolerance_percent, recall_notice_days, description, active, updated_at, version
           from materials where $1::text is null or code ilike $1 or name ilike $1
          order by code limit $2 offset $3",
    )
    .bind(pattern)
    .bind(limit)
    .bind(offset)
    .fetch_all(pool)
    .await?;
    let total =
        sqlx::query_scalar("select count(*) from materials where $1::text is null or code ilike $1 or name ilike $1")
            .bind(pattern)
            .fetch_one(pool)
            .await?;
    Ok((rows, total))
}

const SELECT: &str =
    "select id, code, name, kind, uom, mass_per_unit_kg, shelf_life_days, expiry_policy, date_kind, qa_required, ftl,
        public_lookup, public_dates, public_origin, count_tolerance_percent, recall_notice_days, description, active,
        updated_at, version from materials";

pub async fn get(db: impl PgExecutor<'_>, id: Uuid) -> Result<Material, Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} where id = $1")))
        .bind(id)
        .fetch_optional(db)
        .await?
        .ok_or(Error::NotFound)
}

pub async fn gtins(pool: &PgPool, material_id: Uuid) -> Result<Vec<Gtin>, Error> {
    Ok(sqlx::query_as(
        "select gtin, pack_level, units_per_pack, company_prefix_length from material_gtins where material_id = $1 order by units_per_pack, gtin",
    )
    .bind(material_id)
    .fetch_all(pool)
    .await?)
}

/// The unit of measure `typed` names, as the units table spells it (`quantity::unit_named`: code,
/// name, UN/ECE code or a common word, any case).
async fn unit(tx: &mut sqlx::PgConnection, typed: &str) -> Result<String, SaveError> {
    let units: Vec<(String, String, String)> =
        sqlx::query_as("select code, name, unece from units").fetch_all(&mut *tx).await?;
    crate::domain::quantity::unit_named(typed, &units)
        .map(str::to_string)
        .ok_or_else(|| SaveError::field("uom", format!("No unit of measure is called “{}”.", typed.trim())))
}

/// Creates a material; a repeated idempotency key returns the first one's id and writes nothing.
pub async fn create(pool: &PgPool, actor: &Actor, input: &MaterialInput, key: Uuid) -> Result<Uuid, SaveError> {
    let id = Uuid::new_v4();
    let mut tx = pool.begin().await?;
    if let Some(earlier) = claim_create(&mut tx, &Claim::new(key, "material.create", actor.id, input), id).await? {
        return Ok(earlier);
    }
    let uom = unit(&mut tx, &input.uom).await?;
    sqlx::query(
        "insert into materials (id, code, name, kind, uom, mass_per_unit_kg, shelf_life_days, expiry_policy, qa_required, ftl, description, active,
                                public_lookup, public_dates, public_origin, count_tolerance_percent, recall_notice_days, date_kind)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, true, $12, $13, $14, $15, $16, $17)",
    )
    .bind(id)
    .bind(&input.code)
    .bind(&input.name)
    .bind(&input.kind)
    .bind(&uom)
    .bind(input.mass_per_unit_kg)
    .bind(input.shelf_life_days)
    .bind(&input.expiry_policy)
    .bind(input.qa_required)
    .bind(input.ftl)
    .bind(&input.description)
    .bind(input.public_lookup)
    .bind(input.public_dates)
    .bind(input.public_origin)
    .bind(input.count_tolerance_percent)
    .bind(input.recall_notice_days)
    .bind(input.date_kind)
    .execute(&mut *tx)
    .await
    .map_err(|e| map_db_error(e, CONSTRAINTS))?;
    let after = get(&mut *tx, id).await?;
    audit::record(&mut tx, actor, Entry::new("create", "material", id).after(&after)).await?;
    tx.commit().await?;
    Ok(id)
}

/// Saves an edit made against `version`; a newer version in the database refuses it.
pub async fn update(
    pool: &PgPool,
    actor: &Actor,
    id: Uuid,
    version: i32,
    input: &MaterialInput,
) -> Result<(), SaveError> {
    let mut tx = pool.begin().await?;
    let before: Material = lock_for_edit(&mut tx, format!("{SELECT} where id = $1 for update"), id, version).await?;
    let uom = unit(&mut tx, &input.uom).await?;
    sqlx::query(
        "update materials set code = $2, name = $3, kind = $4, uom = $5, mass_per_unit_kg = $6, shelf_life_days = $7,
                expiry_policy = $8, qa_required = $9, ftl = $10, description = $11, active = $12, public_lookup = $13, public_dates = $14, public_origin = $15,
                count_tolerance_percent = $16, recall_notice_days = $17, date_kind = $18
          where id = $1",
    )
    .bind(id)
    .bind(&input.code)
    .bind(&input.name)
    .bind(&input.kind)
    .bind(&uom)
    .bind(input.mass_per_unit_kg)
    .bind(input.shelf_life_days)
    .bind(&input.expiry_policy)
    .bind(input.qa_required)
    .bind(input.ftl)
    .bind(&input.description)
    .bind(input.active)
    .bind(input.public_lookup)
    .bind(input.public_dates)
    .bind(input.public_origin)
    .bind(input.count_tolerance_percent)
    .bind(input.recall_notice_days)
    .bind(input.date_kind)
    .execute(&mut *tx)
    .await
    .map_err(|e| map_db_error(e, CONSTRAINTS))?;
    let after = get(&mut *tx, id).await?;
    audit::record(&mut tx, actor, Entry::new("update", "material", id).before(&before).after(&after)).await?;
    tx.commit().await?;
    Ok(())
}

/// The GTIN form on a material's page.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct GtinForm {
    pub gtin: String,
    pub pack_level: String,
    pub units_per_pack: String,
    pub company_prefix_length: String,
}

pub async fn add_gtin(pool: &PgPool, actor: &Actor, material_id: Uuid, form: &GtinForm) -> Result<String, SaveError> {
    let mut e = FieldErrors::default();
    let gtin = e.check("gtin", gs1::parse_gtin(&form.gtin));
    if !PACK_LEVELS.contains(&form.pack_level.as_str()) {
        e.add("pack_level", "Choose the pack level this GTIN identifies.");
    }
    let units = e
        .check("units_per_pack", text::positive_decimal(&form.units_per_pack, "Units per pack"))
        .unwrap_or(Decimal::ONE);
    let prefix = e.check(
        "company_prefix_length",
        text::optional_int(&form.company_prefix_length, "The company prefix length", 4, 12),
    );
    if !e.is_empty() {
        return Err(e.into());
    }
    let row = Gtin {
        gtin: gtin.clone(),
        pack_level: form.pack_level.clone(),
        units_per_pack: units,
        company_prefix_length: prefix.map(|p| p as i16),
    };
    let mut tx = pool.begin().await?;
    sqlx::query(
        "insert into material_gtins (gtin, material_id, pack_level, units_per_pack, company_prefix_length) values ($1, $2, $3, $4, $5)",
    )
    .bind(&row.gtin)
    .bind(material_id)
    .bind(&row.pack_level)
    .bind(row.units_per_pack)
    .bind(row.company_prefix_length)
    .execute(&mut *tx)
    .await
    .map_err(|e| map_db_error(e, CONSTRAINTS))?;
    audit::record(&mut tx, actor, Entry::new("add_gtin", "material", material_id).after(&row)).await?;
    tx.commit().await?;
    Ok(gtin)
}

pub async fn remove_gtin(pool: &PgPool, actor: &Actor, material_id: Uuid, gtin: &str) -> Result<(), Error> {
    let mut tx = pool.begin().await?;
    // A GTIN lots were made under is part of their identity (`lotcode::GTIN_LATERAL`): their
    // labels and events keep it.
    let named: i64 = sqlx::query_scalar(
        "select count(*) from lots l join material_gtins g on g.material_id = l.material_id and g.gtin = $2
          where l.material_id = $1 and l.created_at >= g.created_at",
    )
    .bind(material_id)
    .bind(gtin)
    .fetch_one(&mut *tx)
    .await?;
    if named > 0 {
        return Err(Error::Conflict(format!(
            "GTIN {gtin} names {named} lot{} made since it was added: it stays, so their labels and EPCIS events keep meaning what they said. Add another GTIN for new lots instead.",
            if named == 1 { "" } else { "s" }
        )));
    }
    let removed: Option<Gtin> = sqlx::query_as(
        "delete from material_gtins where material_id = $1 and gtin = $2
         returning gtin, pack_level, units_per_pack, company_prefix_length",
    )
    .bind(material_id)
    .bind(gtin)
    .fetch_optional(&mut *tx)
    .await?;
    let removed = removed.ok_or(Error::NotFound)?;
    audit::record(&mut tx, actor, Entry::new("remove_gtin", "material", material_id).before(&removed)).await?;
    tx.commit().await?;
    Ok(())
}

/// The material a person means by what they typed: its code in any case, else the one material
/// whose code starts with it, else the one whose name contains it. Several candidates are named back, so the
/// person can choose; none says so.
pub async fn named(pool: &PgPool, typed: &str) -> Result<Result<(Uuid, String), String>, Error> {
    let typed = typed.trim();
    if typed.is_empty() {
        return Ok(Err("Type a material's code or part of its name.".into()));
    }
    let exact: Option<(Uuid, String)> =
        sqlx::query_as("select id, code from materials where upper(code) = upper($1) and active")
            .bind(typed)
            .fetch_optional(pool)
            .await?;
    if let Some(found) = exact {
        return Ok(Ok(found));
    }
    let like = typed.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    // Codes that start with it first; names that contain it only when no code does.
    let candidates: Vec<(Uuid, String, String)> = sqlx::query_as(
        "with by_code as (select id, code, name from materials where active and code ilike $1 || '%')
         select id, code, name from by_code
         union all
         select id, code, name from materials
          where active and name ilike '%' || $1 || '%' and not exists (select 1 from by_code)
         order by code limit 6",
    )
    .bind(&like)
    .fetch_all(pool)
    .await?;
    Ok(match candidates.as_slice() {
        [] => Err(format!("No material is called “{typed}”.")),
        [(id, code, _)] => Ok((*id, code.clone())),
        many => Err(format!(
            "“{typed}” could be {}: type its code.",
            many.iter().map(|(_, code, name)| format!("{code} ({name})")).collect::<Vec<_>>().join(", ")
        )),
    })
}
