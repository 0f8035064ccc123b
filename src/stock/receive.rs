//! Receiving: a receipt from a supplier whose every line creates a lot, with a code from the
//! lot-number rules, its receipt movement and its QA state — in one transaction.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

use crate::audit::{self, Actor, Entry};
use crate::domain::text;
use crate::error::Error;
use crate::rules::{self, Allocator, Drawn, Subject};
use crate::web::forms::{FieldErrors, SaveError};

/// The receipt form as typed (one line; more lines come with the full receiving page).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ReceiptForm {
    pub site_id: String,
    pub supplier_id: String,
    pub received_on: String,
    pub order_ref: String,
    pub asn_ref: String,
    pub material_id: String,
    pub supplier_lot: String,
    pub quantity: String,
    pub location_id: String,
    pub expires_on: String,
    pub country_of_origin: String,
    pub idempotency_key: String,
}

/// One checked receipt line.
#[derive(Debug, Clone, Serialize)]
pub struct LineInput {
    pub material_id: Uuid,
    pub supplier_lot: Option<String>,
    pub quantity: Decimal,
    pub location_id: Uuid,
    pub expires_on: Option<NaiveDate>,
    pub country_of_origin: Option<String>,
}

/// A checked receipt.
#[derive(Debug, Clone, Serialize)]
pub struct ReceiptInput {
    pub site_id: Uuid,
    pub supplier_id: Uuid,
    /// None: now.
    pub received_on: Option<NaiveDate>,
    pub order_ref: String,
    pub asn_ref: String,
    pub lines: Vec<LineInput>,
}

fn uuid_field(e: &mut FieldErrors, field: &'static str, value: &str, message: &str) -> Uuid {
    Uuid::parse_str(value.trim()).unwrap_or_else(|_| {
        e.add(field, message.to_string());
        Uuid::nil()
    })
}

fn date_field(e: &mut FieldErrors, field: &'static str, value: &str, what: &str) -> Option<NaiveDate> {
    let v = value.trim();
    if v.is_empty() {
        return None;
    }
    match NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        Ok(d) => Some(d),
        Err(_) => {
            e.add(field, format!("{what} must be a date such as 2026-01-31."));
            None
        }
    }
}

impl TryFrom<&ReceiptForm> for ReceiptInput {
    type Error = FieldErrors;

    fn try_from(f: &ReceiptForm) -> Result<Self, FieldErrors> {
        let mut e = FieldErrors::default();
        let site_id = uuid_field(&mut e, "site_id", &f.site_id, "Choose the site that receives.");
        let supplier_id = uuid_field(&mut e, "supplier_id", &f.supplier_id, "Choose the supplier.");
        let received_on = date_field(&mut e, "received_on", &f.received_on, "The receipt date");
        if received_on.is_some_and(|d| d > Utc::now().date_naive() + chrono::Days::new(1)) {
            e.add("received_on", "A receipt cannot be dated in the future.");
        }
        let order_ref = e.check("order_ref", text::optional(&f.order_ref, "The order number", 100));
        let asn_ref = e.check("asn_ref", text::optional(&f.asn_ref, "The delivery note (ASN)", 100));
        let material_id = uuid_field(&mut e, "material_id", &f.material_id, "Choose the material received.");
        let supplier_lot = e.check("supplier_lot", text::optional(&f.supplier_lot, "The supplier's lot code", 60));
        let quantity = match text::positive_decimal(&f.quantity, "The quantity") {
            Ok(Some(q)) => q,
            Ok(None) => {
                e.add("quantity", "The quantity is required.");
                Decimal::ZERO
            }
            Err(m) => {
                e.add("quantity", m);
                Decimal::ZERO
            }
        };
        let location_id = uuid_field(&mut e, "location_id", &f.location_id, "Choose where the goods are put.");
        let expires_on = date_field(&mut e, "expires_on", &f.expires_on, "The expiry date");
        let country_of_origin = e.check("country_of_origin", text::optional_country(&f.country_of_origin));
        if !e.is_empty() {
            return Err(e);
        }
        Ok(ReceiptInput {
            site_id,
            supplier_id,
            received_on,
            order_ref,
            asn_ref,
            lines: vec![LineInput {
                material_id,
                supplier_lot: (!supplier_lot.is_empty()).then_some(supplier_lot),
                quantity,
                location_id,
                expires_on,
                country_of_origin,
            }],
        })
    }
}

/// What a saved receipt made.
#[derive(Debug, Clone)]
pub struct Received {
    pub receipt_id: Uuid,
    pub lots: Vec<(Uuid, String)>,
}

#[derive(sqlx::FromRow)]
struct Header {
    site_code: String,
    site_active: bool,
    supplier_code: String,
    supplier_ok: bool,
    received_at: DateTime<Utc>,
    lot_date: NaiveDate,
}

#[derive(sqlx::FromRow)]
struct MaterialFacts {
    code: String,
    active: bool,
    qa_required: bool,
    shelf_life_days: Option<i32>,
    expiry_policy: String,
}

/// Receives goods: every line becomes a lot with a code from the rules. A repeated idempotency
/// key returns the first receipt and writes nothing.
pub async fn receive(pool: &PgPool, actor: &Actor, input: &ReceiptInput, key: Uuid) -> Result<Received, SaveError> {
    if let Some(earlier) = earlier_receipt(pool, key).await? {
        return Ok(earlier);
    }
    let mut e = FieldErrors::default();
    // The receipt's time, and the lot's own date counted in the site's time zone.
    let header: Option<Header> = sqlx::query_as(
        "select s.code as site_code, s.active as site_active, p.code as supplier_code, (p.active and p.is_supplier) as supplier_ok,
                t.at as received_at, (t.at at time zone s.time_zone)::date as lot_date
           from sites s, parties p,
                lateral (select case when $3::date is null or $3::date = (now() at time zone s.time_zone)::date then now()
                                     else ($3::date + time '12:00') at time zone s.time_zone end as at) t
          where s.id = $1 and p.id = $2",
    )
    .bind(input.site_id)
    .bind(input.supplier_id)
    .bind(input.received_on)
    .fetch_optional(pool)
    .await
    .map_err(Error::from)?;
    let Some(header) = header.filter(|h| h.site_active) else {
        e.add("site_id", "Choose an active site.");
        e.add("supplier_id", "Choose an active supplier.");
        return Err(e.into());
    };
    if !header.supplier_ok {
        e.add("supplier_id", format!("{} is not an active supplier.", header.supplier_code));
    }

    let mut plans = Vec::new();
    for line in &input.lines {
        let facts: Option<MaterialFacts> = sqlx::query_as(
            "select code, active, qa_required, shelf_life_days, expiry_policy from materials where id = $1",
        )
        .bind(line.material_id)
        .fetch_optional(pool)
        .await
        .map_err(Error::from)?;
        let Some(facts) = facts.filter(|f| f.active) else {
            e.add("material_id", "Choose an active material.");
            continue;
        };
        let location_ok: bool =
            sqlx::query_scalar("select exists (select 1 from locations where id = $1 and site_id = $2 and active)")
                .bind(line.location_id)
                .bind(input.site_id)
                .fetch_one(pool)
                .await
                .map_err(Error::from)?;
        if !location_ok {
            e.add("location_id", format!("Choose an active location of site {}.", header.site_code));
        }
        let expires_on = match (line.expires_on, facts.expiry_policy.as_str(), facts.shelf_life_days) {
            (Some(d), _, _) => Some(d),
            (None, "none", _) => None,
            (None, _, Some(days)) => Some(header.lot_date + chrono::Days::new(days as u64)),
            (None, _, None) => None,
        };
        if expires_on.is_some_and(|d| d < header.lot_date) {
            e.add("expires_on", format!("The expiry date is before the receipt date ({}).", header.lot_date));
        }
        let subject = Subject {
            material_id: line.material_id,
            material_code: facts.code.clone(),
            site_code: header.site_code.clone(),
            line_code: None,
            date: header.lot_date,
        };
        match Allocator::for_subject(pool, subject).await {
            Ok(allocator) => plans.push((line, facts, expires_on, allocator)),
            Err(m) => e.add("material_id", m),
        }
    }
    if !e.is_empty() {
        return Err(e.into());
    }

    // Numbers are drawn before the receipt's transaction opens: drawing inside it would hold one
    // pooled connection while waiting for another, and a busy plant would starve the pool.
    let mut drawn: Vec<Drawn> = Vec::with_capacity(plans.len());
    let result = async {
        for (_, _, _, allocator) in &plans {
            let d = free_code(pool, allocator).await?;
            drawn.push(d);
        }
        loop {
            match write(pool, actor, input, key, &header, &plans, &drawn).await {
                Err(Write::CodeTaken(i)) => {
                    // Someone took the code between the check and the insert: skip it, draw again.
                    rules::log_gaps(pool, &drawn[i..=i], "code already exists for this material").await;
                    drawn[i] = free_code(pool, &plans[i].3).await?;
                }
                Err(Write::Repeated(earlier)) => {
                    // The same form was posted twice at once; the other post made the receipt.
                    rules::log_gaps(pool, &drawn, "form posted twice").await;
                    drawn.clear();
                    return Ok(earlier);
                }
                Err(Write::Failed(e)) => return Err(e),
                Ok(received) => return Ok(received),
            }
        }
    }
    .await;
    if let Err(err) = &result {
        let reason = match err {
            SaveError::Invalid(_) => "receipt refused",
            _ => "receipt not saved",
        };
        rules::log_gaps(pool, &drawn, reason).await;
    }
    result
}

/// Draws numbers until one gives a code this material has not used; skipped ones are logged.
async fn free_code(pool: &PgPool, allocator: &Allocator) -> Result<Drawn, SaveError> {
    loop {
        let d = allocator.draw(pool).await.map_err(|m| {
            let mut e = FieldErrors::default();
            e.add("material_id", m);
            SaveError::Invalid(e)
        })?;
        let taken: bool = sqlx::query_scalar("select exists (select 1 from lots where material_id = $1 and code = $2)")
            .bind(allocator.material_id())
            .bind(&d.code)
            .fetch_one(pool)
            .await
            .map_err(Error::from)?;
        if !taken {
            return Ok(d);
        }
        rules::log_gaps(pool, &[d], "code already exists for this material").await;
    }
}

enum Write {
    /// The code of line `i` was taken meanwhile; nothing was written.
    CodeTaken(usize),
    /// The idempotency key was used by another request meanwhile: its receipt.
    Repeated(Received),
    Failed(SaveError),
}

impl<E: Into<SaveError>> From<E> for Write {
    fn from(e: E) -> Self {
        Write::Failed(e.into())
    }
}

async fn earlier_receipt(pool: &PgPool, key: Uuid) -> Result<Option<Received>, Error> {
    let earlier: Option<String> =
        sqlx::query_scalar("select result from idempotency_keys where key = $1").bind(key).fetch_optional(pool).await?;
    let Some(id) = earlier.and_then(|r| r.parse::<Uuid>().ok()) else { return Ok(None) };
    let lots: Vec<(Uuid, String)> = sqlx::query_as(
        "select l.id, l.code from receipt_lines r join lots l on l.id = r.lot_id where r.receipt_id = $1 order by r.line_no",
    )
    .bind(id)
    .fetch_all(pool)
    .await?;
    Ok(Some(Received { receipt_id: id, lots }))
}

async fn write(
    pool: &PgPool,
    actor: &Actor,
    input: &ReceiptInput,
    key: Uuid,
    header: &Header,
    plans: &[(&LineInput, MaterialFacts, Option<NaiveDate>, Allocator)],
    drawn: &[Drawn],
) -> Result<Received, Write> {
    let receipt_id = Uuid::new_v4();
    let mut tx = pool.begin().await.map_err(Error::from)?;
    if let Some(earlier) = crate::web::forms::claim_create(&mut tx, key, "receipt.create", receipt_id).await? {
        drop(tx);
        let received = earlier_receipt(pool, key).await?;
        return Err(match received {
            Some(r) => Write::Repeated(r),
            None => Write::Failed(SaveError::Other(Error::Conflict(format!("receipt {earlier} is incomplete")))),
        });
    }
    let number: String = sqlx::query_scalar(
        "insert into receipts (id, number, site_id, supplier_id, received_at, order_ref, asn_ref, created_by)
         values ($1, 'R-' || lpad(nextval('receipt_number_seq')::text, 6, '0'), $2, $3, $4, $5, $6, $7) returning number",
    )
    .bind(receipt_id)
    .bind(input.site_id)
    .bind(input.supplier_id)
    .bind(header.received_at)
    .bind(&input.order_ref)
    .bind(&input.asn_ref)
    .bind(actor.id)
    .fetch_one(&mut *tx)
    .await
    .map_err(Error::from)?;

    let mut lots = Vec::new();
    let posting = Uuid::new_v4();
    for (line_no, ((line, facts, expires_on, _), d)) in plans.iter().zip(drawn).enumerate() {
        let lot_id: Option<Uuid> = sqlx::query_scalar(
            "insert into lots (material_id, code, origin, site_id, made_on, expires_on, supplier_id, supplier_lot, receipt_id,
                               tlc, tlc_source, country_of_origin, disposition, created_by,
                               code_rule_id, code_scope, code_period, code_seq)
             values ($1, $2, 'received', $3, $4, $5, $6, $7, $8, coalesce($7, $2), $9, $10, $11, $12, $13, $14, $15, $16)
             on conflict (material_id, code) do nothing returning id",
        )
        .bind(line.material_id)
        .bind(&d.code)
        .bind(input.site_id)
        .bind(header.lot_date)
        .bind(expires_on)
        .bind(input.supplier_id)
        .bind(&line.supplier_lot)
        .bind(receipt_id)
        .bind(format!("supplier {}", header.supplier_code))
        .bind(&line.country_of_origin)
        .bind(if facts.qa_required { "quarantine" } else { "released" })
        .bind(actor.id)
        .bind(d.rule_id)
        .bind(&d.scope_key)
        .bind(&d.period_key)
        .bind(d.value)
        .fetch_optional(&mut *tx)
        .await
        .map_err(Error::from)?;
        let Some(lot_id) = lot_id else {
            return Err(Write::CodeTaken(line_no));
        };
        let code = d.code.clone();
        sqlx::query("insert into lot_dispositions (lot_id, from_status, to_status, reason, decided_by) values ($1, null, $2, $3, $4)")
            .bind(lot_id)
            .bind(if facts.qa_required { "quarantine" } else { "released" })
            .bind(if facts.qa_required { "received; awaiting QA" } else { "received; material needs no incoming QA" })
            .bind(actor.id)
            .execute(&mut *tx)
            .await
            .map_err(Error::from)?;
        let movement: i64 = sqlx::query_scalar(
            "insert into stock_movements (kind, lot_id, location_id, quantity, occurred_at, actor_id, posting_id, receipt_id)
             values ('receipt', $1, $2, $3, $4, $5, $6, $7) returning id",
        )
        .bind(lot_id)
        .bind(line.location_id)
        .bind(line.quantity)
        .bind(header.received_at)
        .bind(actor.id)
        .bind(posting)
        .bind(receipt_id)
        .fetch_one(&mut *tx)
        .await
        .map_err(Error::from)?;
        sqlx::query(
            "insert into receipt_lines (receipt_id, line_no, lot_id, quantity, location_id, movement_id) values ($1, $2, $3, $4, $5, $6)",
        )
        .bind(receipt_id)
        .bind(line_no as i32 + 1)
        .bind(lot_id)
        .bind(line.quantity)
        .bind(line.location_id)
        .bind(movement)
        .execute(&mut *tx)
        .await
        .map_err(Error::from)?;
        lots.push((lot_id, code));
    }
    let after = serde_json::json!({
        "number": number,
        "supplier": header.supplier_code,
        "site": header.site_code,
        "received_at": header.received_at,
        "lots": lots.iter().map(|(_, c)| c).collect::<Vec<_>>(),
        "lines": input.lines,
    });
    audit::record(&mut tx, actor, Entry::new("create", "receipt", receipt_id).after(&after))
        .await
        .map_err(Error::from)?;
    tx.commit().await.map_err(Error::from)?;
    Ok(Received { receipt_id, lots })
}
