//! Receiving: a receipt from a supplier whose every line creates a lot, with a code from the
//! lot-number rules, its receipt movement and its QA state — in one transaction.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use crate::audit::{self, Actor, Entry};
use crate::domain::dates;
use crate::domain::quantity::{Quantity, Unit};
use crate::domain::vocab::Dimension;
use crate::error::Error;
use crate::rules::{self, Allocator, Drawn, Subject};
use crate::save::{FieldErrors, SaveError, line_key};

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

/// What a saved receipt made.
#[derive(Debug, Clone)]
pub struct Received {
    pub receipt_id: Uuid,
    pub lots: Vec<(Uuid, String)>,
    /// The same form (idempotency key) was posted before: this is that receipt, nothing new.
    pub again: bool,
}

/// Everything a receipt needs to know before it draws numbers, read in one query: the site, the
/// supplier, the receipt time and the lot date (in the site's time zone), and for each line the
/// material, whether the location belongs to the site, and the lot-number rule that applies.
#[derive(sqlx::FromRow)]
struct Facts {
    /// The receipt an earlier post of the same form made.
    earlier: Option<String>,
    /// The receipt is dated after the site's today.
    future: bool,
    site_code: Option<String>,
    supplier_code: Option<String>,
    supplier_ok: bool,
    received_at: Option<DateTime<Utc>>,
    lot_date: Option<NaiveDate>,
    material_code: Option<String>,
    uom: Option<String>,
    dimension: Option<Dimension>,
    to_base: Option<Decimal>,
    material_active: bool,
    qa_required: bool,
    shelf_life_days: Option<i32>,
    expiry_policy: Option<String>,
    location_ok: bool,
    #[sqlx(flatten)]
    rule: rules::RuleRow,
}

const FACTS: &str = "
    with head as (
        select s.code as site_code, s.time_zone, p.code as supplier_code, coalesce(p.active and p.is_supplier, false) as supplier_ok,
               case when $3::date is null or $3::date = site_today(s.id) then now()
                    else ($3::date + time '12:00') at time zone s.time_zone end as received_at,
               coalesce($3::date > site_today(s.id), false) as future
          from (select 1) one
          left join sites s on s.id = $1 and s.active
          left join parties p on p.id = $2)
    select (select result from idempotency_keys where key = $6) as earlier, h.future, h.site_code, h.supplier_code, h.supplier_ok, h.received_at, (h.received_at at time zone h.time_zone)::date as lot_date,
           m.code as material_code, coalesce(m.active, false) as material_active, coalesce(m.qa_required, true) as qa_required,
           u.code as uom, u.dimension, u.to_base,
           m.shelf_life_days, m.expiry_policy,
           exists (select 1 from locations c where c.id = x.location_id and c.site_id = $1 and c.active) as location_ok,
           r.id as rule_id, r.name as rule_name, r.pattern as rule_pattern, r.reset_period as rule_reset, r.start_number as rule_start
      from head h
     cross join unnest($4::uuid[], $5::uuid[]) with ordinality as x(material_id, location_id, n)
      left join materials m on m.id = x.material_id
      left join units u on u.code = m.uom
      left join lateral (
            select r.* from lot_rules r
             where r.active and (r.scope_material = m.id or (r.scope = 'kind' and r.scope_kind = m.kind) or r.scope = 'default')
             order by case r.scope when 'material' then 1 when 'kind' then 2 else 3 end limit 1) r on true
     order by x.n";

/// A line ready to be written: its input, what its material says, its expiry and its allocator.
struct Plan<'a> {
    line: &'a LineInput,
    qa_required: bool,
    expires_on: Option<NaiveDate>,
    allocator: Allocator,
}

/// The receipt-wide facts.
struct Head {
    site_code: String,
    supplier_code: String,
    received_at: DateTime<Utc>,
    lot_date: NaiveDate,
}

/// Receives goods: every line becomes a lot with a code from the rules. A repeated idempotency
/// key returns the first receipt and writes nothing.
pub async fn receive(pool: &PgPool, actor: &Actor, input: &ReceiptInput, key: Uuid) -> Result<Received, SaveError> {
    let mut e = FieldErrors::default();
    if let Some(d) = input.received_on {
        e.check("received_on", dates::in_range(d, "The receipt date").map(|_| ()));
    }
    for (i, l) in input.lines.iter().enumerate() {
        if let Some(d) = l.expires_on {
            e.check(crate::save::line_key(i), dates::in_range(d, "The expiry date").map(|_| ()));
        }
    }
    if !e.is_empty() {
        return Err(e.into());
    }
    let materials: Vec<Uuid> = input.lines.iter().map(|l| l.material_id).collect();
    let locations: Vec<Uuid> = input.lines.iter().map(|l| l.location_id).collect();
    let facts: Vec<Facts> = sqlx::query_as(FACTS)
        .bind(input.site_id)
        .bind(input.supplier_id)
        .bind(input.received_on)
        .bind(&materials)
        .bind(&locations)
        .bind(key)
        .fetch_all(pool)
        .await?;
    if let Some(earlier) = facts.first().and_then(|f| f.earlier.as_deref()).and_then(|r| r.parse::<Uuid>().ok()) {
        return Ok(earlier_receipt(pool, earlier).await?);
    }
    let mut e = FieldErrors::default();
    let first = facts.first();
    let (Some(site_code), Some(received_at), Some(lot_date)) =
        (first.and_then(|f| f.site_code.clone()), first.and_then(|f| f.received_at), first.and_then(|f| f.lot_date))
    else {
        e.add("site_id", "Choose an active site.");
        return Err(e.into());
    };
    if first.is_some_and(|f| f.future) {
        e.add("received_on", "A receipt cannot be dated in the future (the site's date).");
    }
    let supplier_code = first.and_then(|f| f.supplier_code.clone()).unwrap_or_default();
    if first.is_none_or(|f| !f.supplier_ok) {
        if supplier_code.is_empty() {
            e.add("supplier_id", "Choose an active supplier.");
        } else {
            e.add("supplier_id", format!("{supplier_code} is not an active supplier."));
        }
    }
    let head = Head { site_code, supplier_code, received_at, lot_date };

    let mut plans = Vec::new();
    for (i, (line, f)) in input.lines.iter().zip(facts).enumerate() {
        let key = line_key(i);
        let Some(material_code) = f.material_code.filter(|_| f.material_active) else {
            e.add(key, format!("Line {}: choose an active material.", i + 1));
            continue;
        };
        if let (Some(uom), Some(dimension), Some(to_base)) = (&f.uom, f.dimension, f.to_base)
            && let Err(m) = Quantity::new(line.quantity, &Unit::new(uom, dimension, to_base))
        {
            e.add(key, format!("Line {}: {m}", i + 1));
            continue;
        }
        if !f.location_ok {
            e.add(key, format!("Line {}: choose an active location of site {}.", i + 1, head.site_code));
            continue;
        }
        let expires_on = match (line.expires_on, f.expiry_policy.as_deref(), f.shelf_life_days) {
            (Some(d), _, _) => Some(d),
            (None, Some("none"), _) => None,
            (None, _, Some(days)) => Some(head.lot_date + chrono::Days::new(days as u64)),
            (None, _, None) => None,
        };
        if expires_on.is_some_and(|d| d < head.lot_date) {
            e.add(key, format!("Line {}: the expiry date is before the receipt date ({}).", i + 1, head.lot_date));
            continue;
        }
        let subject = Subject {
            material_id: line.material_id,
            material_code,
            site_code: head.site_code.clone(),
            line_code: None,
            date: head.lot_date,
        };
        match Allocator::new(f.rule, subject) {
            Ok(allocator) => plans.push(Plan { line, qa_required: f.qa_required, expires_on, allocator }),
            Err(m) => e.add(key, format!("Line {}: {m}", i + 1)),
        }
    }
    if !e.is_empty() {
        return Err(e.into());
    }

    // Numbers are drawn before the receipt's transaction opens: drawing inside it would hold one
    // pooled connection while waiting for another, and a busy plant would starve the pool.
    let mut drawn: Vec<Drawn> = Vec::with_capacity(plans.len());
    let result = async {
        // Lines that draw from one sequence (one material on one date) draw together.
        let mut i = 0;
        while i < plans.len() {
            let run = plans[i..].iter().take_while(|p| p.allocator.same_sequence(&plans[i].allocator)).count();
            let batch = plans[i].allocator.draw_many(pool, run).await.map_err(|m| {
                let mut e = FieldErrors::default();
                e.add(line_key(i), format!("Line {}: {m}", i + 1));
                SaveError::Invalid(e)
            })?;
            drawn.extend(batch);
            i += run;
        }
        loop {
            match write(pool, actor, input, key, &head, &plans, &drawn).await {
                Err(Write::CodeTaken(i)) => {
                    // A code that exists already (typed by hand, imported, an older rule): skip it.
                    rules::log_gaps(pool, &drawn[i..=i], "code already exists for this material").await;
                    drawn[i] = draw(pool, &plans[i].allocator).await?;
                }
                Err(Write::Repeated(earlier)) => {
                    // The same form was posted twice; the first post made the receipt.
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

async fn draw(pool: &PgPool, allocator: &Allocator) -> Result<Drawn, SaveError> {
    allocator.draw(pool).await.map_err(|m| {
        let mut e = FieldErrors::default();
        e.add("line1", m);
        SaveError::Invalid(e)
    })
}

enum Write {
    /// The code of line `i` exists already for its material; nothing was written.
    CodeTaken(usize),
    /// The idempotency key was used before: that receipt.
    Repeated(Received),
    Failed(SaveError),
}

impl<E: Into<SaveError>> From<E> for Write {
    fn from(e: E) -> Self {
        Write::Failed(e.into())
    }
}

async fn earlier_receipt(pool: &PgPool, id: Uuid) -> Result<Received, Error> {
    let lots: Vec<(Uuid, String)> = sqlx::query_as(
        "select l.id, l.code from receipt_lines r join lots l on l.id = r.lot_id where r.receipt_id = $1 order by r.line_no",
    )
    .bind(id)
    .fetch_all(pool)
    .await?;
    Ok(Received { receipt_id: id, lots, again: true })
}

/// Every line at once: the lots, their first dispositions, their receipt movements (which move
/// on-hand) and the receipt lines, in one statement. A line whose code exists already for its
/// material inserts nothing; the statement returns the numbers of the lines it wrote.
const LINES: &str = "
    with input as (
        select * from unnest($1::uuid[], $2::text[], $3::date[], $4::text[], $5::text[], $6::text[], $7::bigint[],
                             $8::uuid[], $9::numeric[], $10::text[], $11::text[], $12::uuid[], $21::text[])
               with ordinality as t(material_id, code, expires_on, supplier_lot, country, disposition, code_seq,
                                    location_id, quantity, code_scope, code_period, code_rule_id, tlc, n)),
    lot as (
        insert into lots (material_id, code, origin, site_id, made_on, expires_on, supplier_id, supplier_lot, receipt_id,
                          tlc, tlc_source, country_of_origin, disposition, created_by,
                          code_rule_id, code_scope, code_period, code_seq)
        select material_id, code, 'received', $13, $14, expires_on, $15, supplier_lot, $16, tlc, $17,
               country, disposition, $18, code_rule_id, code_scope, code_period, code_seq
          from input order by n
        on conflict (material_id, code) do nothing returning id, material_id, code),
    written as (select i.*, lot.id as lot_id from input i join lot on lot.material_id = i.material_id and lot.code = i.code),
    disposition as (
        insert into lot_dispositions (lot_id, from_status, to_status, reason, decided_by)
        select lot_id, null, disposition,
               case when disposition = 'quarantine' then 'received; awaiting QA' else 'received; material needs no incoming QA' end, $18
          from written),
    movement as (
        insert into stock_movements (kind, lot_id, location_id, quantity, occurred_at, actor_id, posting_id, receipt_id)
        select 'receipt', lot_id, location_id, quantity, $19, $18, $20, $16 from written order by n returning id, lot_id),
    line as (
        insert into receipt_lines (receipt_id, line_no, lot_id, quantity, location_id, movement_id)
        select $16, w.n, w.lot_id, w.quantity, w.location_id, m.id from written w join movement m on m.lot_id = w.lot_id)
    select n, lot_id from written order by n";

async fn write(
    pool: &PgPool,
    actor: &Actor,
    input: &ReceiptInput,
    key: Uuid,
    head: &Head,
    plans: &[Plan<'_>],
    drawn: &[Drawn],
) -> Result<Received, Write> {
    let receipt_id = Uuid::new_v4();
    let mut tx = pool.begin().await?;
    if let Some(earlier) =
        crate::save::claim_create(&mut tx, &crate::save::Claim::new(key, "receipt.create", actor.id, input), receipt_id)
            .await?
    {
        drop(tx);
        return Err(Write::Repeated(earlier_receipt(pool, earlier).await?));
    }
    let number: String = sqlx::query_scalar(
        "insert into receipts (id, number, site_id, supplier_id, received_at, order_ref, asn_ref, created_by)
         values ($1, 'R-' || lpad(nextval('receipt_number_seq')::text, 6, '0'), $2, $3, $4, $5, $6, $7) returning number",
    )
    .bind(receipt_id)
    .bind(input.site_id)
    .bind(input.supplier_id)
    .bind(head.received_at)
    .bind(&input.order_ref)
    .bind(&input.asn_ref)
    .bind(actor.id)
    .fetch_one(&mut *tx)
    .await
    ?;

    let posting = Uuid::new_v4();
    let col = |f: fn(&Plan, &Drawn) -> String| plans.iter().zip(drawn).map(|(p, d)| f(p, d)).collect::<Vec<_>>();
    let written: Vec<(i64, Uuid)> = sqlx::query_as(LINES)
        .bind(plans.iter().map(|p| p.line.material_id).collect::<Vec<_>>())
        .bind(drawn.iter().map(|d| d.code.clone()).collect::<Vec<_>>())
        .bind(plans.iter().map(|p| p.expires_on).collect::<Vec<_>>())
        .bind(plans.iter().map(|p| p.line.supplier_lot.clone()).collect::<Vec<_>>())
        .bind(plans.iter().map(|p| p.line.country_of_origin.clone()).collect::<Vec<_>>())
        .bind(col(|p, _| if p.qa_required { "quarantine".into() } else { "released".into() }))
        .bind(drawn.iter().map(|d| d.value).collect::<Vec<_>>())
        .bind(plans.iter().map(|p| p.line.location_id).collect::<Vec<_>>())
        .bind(plans.iter().map(|p| p.line.quantity).collect::<Vec<_>>())
        .bind(drawn.iter().map(|d| d.scope_key.clone()).collect::<Vec<_>>())
        .bind(drawn.iter().map(|d| d.period_key.clone()).collect::<Vec<_>>())
        .bind(drawn.iter().map(|d| d.rule_id).collect::<Vec<_>>())
        .bind(input.site_id)
        .bind(head.lot_date)
        .bind(input.supplier_id)
        .bind(receipt_id)
        .bind(format!("supplier {}", head.supplier_code))
        .bind(actor.id)
        .bind(head.received_at)
        .bind(posting)
        .bind(col(|p, d| {
            crate::domain::lotcode::traceability_code(p.line.supplier_lot.as_deref(), &d.code).to_string()
        }))
        .fetch_all(&mut *tx)
        .await?;
    if let Some(missing) = (1..=plans.len() as i64).find(|n| !written.iter().any(|(w, _)| w == n)) {
        return Err(Write::CodeTaken(missing as usize - 1));
    }
    let lots: Vec<(Uuid, String)> = written.iter().zip(drawn).map(|((_, id), d)| (*id, d.code.clone())).collect();
    let after = serde_json::json!({
        "number": number,
        "supplier": head.supplier_code,
        "site": head.site_code,
        "received_at": head.received_at,
        "lots": lots.iter().map(|(_, c)| c).collect::<Vec<_>>(),
        "lines": input.lines,
    });
    audit::record(&mut tx, actor, Entry::new("create", "receipt", receipt_id).after(&after)).await?;
    tx.commit().await?;
    Ok(Received { receipt_id, lots, again: false })
}
