//! Production runs: open a run for an output material, post the input lots it consumes and the
//! output lots it makes — each posting one transaction that moves stock and writes the genealogy
//! links it creates (every input of a run links to every output) — and close it.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::audit::{self, Actor, Entry};
use crate::domain::status::usable;
use crate::domain::vocab::MovementKind;
use crate::error::Error;
use crate::ledger::{self, Document, Movement, Side};
use crate::rules::{self, Allocator, Drawn, Subject};
use crate::save::{Claim, FieldErrors, SaveError, claim_idempotency_key};
use crate::stock::{LOT_FACTS, LotFacts};

/// Opens a run of `output_material` at `site` (on `line`, if given).
#[derive(Debug, Clone)]
pub struct OpenRun {
    pub site: Uuid,
    pub line: Option<Uuid>,
    pub output_material: Uuid,
    pub planned_quantity: Option<Decimal>,
    pub order_ref: Option<String>,
    /// A second request with the same key answers the run the first opened.
    pub key: Uuid,
}

/// A lot as scanned or typed (its code), or as picked from a list (its id: a code two
/// materials share).
#[derive(Debug, Clone)]
pub enum LotPick {
    Id(Uuid),
    Code(String),
}

impl LotPick {
    /// The lot a person or a script named: by id when one was picked, else by the code as
    /// scanned or typed (trimmed; refused when empty or holding a control character). The form
    /// and the API both name lots this way.
    pub fn named(id: Option<Uuid>, code: &str) -> Result<LotPick, String> {
        match id {
            Some(id) => Ok(LotPick::Id(id)),
            None if code.trim().is_empty() => Err("Scan or type the lot code.".into()),
            None => {
                crate::domain::text::printable(code, "The lot code")?;
                Ok(LotPick::Code(code.trim().to_string()))
            }
        }
    }
}

/// Consumes `quantity` of a lot into the run, from `location` (or the one place at the run's site
/// that holds it).
#[derive(Debug, Clone)]
pub struct PostInput {
    pub lot: LotPick,
    pub quantity: Decimal,
    pub location: Option<Uuid>,
    pub key: Uuid,
}

/// Produces `quantity` into a new lot numbered by the rules, or tops up the lot `topup` of the
/// run's material (a bulk tank), at `location`.
#[derive(Debug, Clone)]
pub struct PostOutput {
    pub quantity: Decimal,
    pub location: Uuid,
    pub topup: Option<String>,
    pub key: Uuid,
}

/// Opens a run; returns its id.
pub async fn open(pool: &PgPool, actor: &Actor, c: &OpenRun) -> Result<Uuid, SaveError> {
    let mut e = FieldErrors::default();
    let (site, material, line, planned, order_ref, key) =
        (c.site, c.output_material, c.line, c.planned_quantity, &c.order_ref, c.key);
    let ok: (bool, bool, bool) = sqlx::query_as(
        "select exists (select 1 from sites where id = $1 and active),
                exists (select 1 from materials where id = $2 and active and kind in ('intermediate', 'finished')),
                $3::uuid is null or exists (select 1 from production_lines where id = $3 and site_id = $1 and active)",
    )
    .bind(site)
    .bind(material)
    .bind(line)
    .fetch_one(pool)
    .await?;
    if !ok.0 {
        e.add("site_id", "Choose an active site.");
    }
    if !ok.1 {
        e.add("output_material_id", "Choose an active intermediate or finished material.");
    }
    if !ok.2 {
        e.add("line_id", "Choose a line of the run's site.");
    }
    if !e.is_empty() {
        return Err(e.into());
    }
    let id = Uuid::new_v4();
    let mut tx = pool.begin().await?;
    if let Some(earlier) = crate::save::claim_create(&mut tx, &Claim::new(key, "run.open", actor.id, c), id).await? {
        return Ok(earlier);
    }
    let number: String = sqlx::query_scalar(
        "insert into production_runs (id, number, site_id, line_id, output_material_id, planned_quantity, order_ref, opened_at, opened_by)
         values ($1, 'RUN-' || lpad(nextval('run_number_seq')::text, 6, '0'), $2, $3, $4, $5, $6, now(), $7) returning number",
    )
    .bind(id)
    .bind(site)
    .bind(line)
    .bind(material)
    .bind(planned)
    .bind(order_ref.as_deref().unwrap_or_default())
    .bind(actor.id)
    .fetch_one(&mut *tx)
    .await
    ?;
    audit::record(
        &mut tx,
        actor,
        Entry::new("open", "run", id)
            .after(&serde_json::json!({ "number": number, "planned_quantity": planned, "order_ref": order_ref })),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// What a posting needs to know about its run, read under the run's row lock.
#[derive(sqlx::FromRow)]
struct RunFacts {
    number: String,
    status: String,
    site_id: Uuid,
    site_code: String,
    line_code: Option<String>,
    output_material_id: Uuid,
    output_material_code: String,
    today: NaiveDate,
}

async fn lock_run(tx: &mut PgConnection, run_id: Uuid) -> Result<RunFacts, SaveError> {
    let run: Option<RunFacts> = sqlx::query_as(
        "select r.number, r.status, r.site_id, s.code as site_code, pl.code as line_code, r.output_material_id,
                m.code as output_material_code, site_today(s.id) as today
           from production_runs r join sites s on s.id = r.site_id join materials m on m.id = r.output_material_id
           left join production_lines pl on pl.id = r.line_id
          where r.id = $1 for update of r",
    )
    .bind(run_id)
    .fetch_optional(&mut *tx)
    .await?;
    let run = run.ok_or(Error::NotFound)?;
    if run.status != "open" {
        return Err(SaveError::field(
            "run",
            format!("Run {} is closed: nothing more can be posted to it.", run.number),
        ));
    }
    Ok(run)
}

/// A consumption posted, and what the operator must not miss (a lot that was in a real recall's
/// scope, even after its release).
#[derive(Debug, Clone)]
pub struct Consumed {
    pub movement: i64,
    pub warning: Option<String>,
}

/// Consumes an input lot into the run: refuses a lot that is not released, is held, recalled or
/// expired, or has too little on hand at the location; links it to every output posted so far.
pub async fn post_input(pool: &PgPool, actor: &Actor, run_id: Uuid, c: &PostInput) -> Result<Consumed, SaveError> {
    let (quantity, key) = (c.quantity, c.key);
    let mut tx = pool.begin().await?;
    if let Some(earlier) = claim_idempotency_key(&mut tx, &Claim::new(key, "run.input", actor.id, c), "").await? {
        return Ok(Consumed { movement: earlier.parse().unwrap_or_default(), warning: None });
    }
    let run = lock_run(&mut tx, run_id).await?;
    let lot = find_lot(&mut tx, &c.lot).await?;
    usable(&lot.state(), run.today).map_err(|m| SaveError::field("lot", m))?;
    let location = pick_location(&mut tx, lot.id, run.site_id, c.location).await?;
    let consume =
        Movement::new(MovementKind::Consume, lot.id, location, -quantity, key).document(Document::Run(run_id));
    let movement = ledger::post(&mut tx, actor, &consume).await.map_err(|r| r.at("quantity"))?;
    let links = ledger::link_run(&mut tx, run_id, lot.id, movement, Side::Input).await?;
    sqlx::query("update idempotency_keys set result = $2 where key = $1")
        .bind(key)
        .bind(movement.to_string())
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        actor,
        Entry::new("input", "run", run_id).after(&serde_json::json!({
            "run": run.number, "lot": lot.code, "material": lot.material_code, "quantity": quantity, "movement": movement, "links": links
        })),
    )
    .await
    ?;
    tx.commit().await?;
    Ok(Consumed { movement, warning: lot.recall_warning() })
}

/// The lot named by a picked id or a scanned code; a code shared by several materials must be picked.
async fn find_lot(tx: &mut PgConnection, lot: &LotPick) -> Result<LotFacts, SaveError> {
    let code = match lot {
        LotPick::Id(id) => {
            return sqlx::query_as(sqlx::AssertSqlSafe(format!("{} where l.id = $1", LOT_FACTS.as_str())))
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or_else(|| SaveError::field("lot", "This lot does not exist."));
        }
        LotPick::Code(code) => code.trim(),
    };
    if code.is_empty() {
        return Err(SaveError::field("lot", "Scan or type the lot code."));
    }
    let mut found: Vec<LotFacts> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{} where {} limit 10",
        LOT_FACTS.as_str(),
        crate::domain::lotcode::named_sql(1)
    )))
    .bind(code)
    .fetch_all(&mut *tx)
    .await?;
    match found.len() {
        0 => Err(SaveError::field("lot", format!("No lot has the code “{code}”."))),
        1 => Ok(found.remove(0)),
        _ => Err(SaveError::field(
            "lot",
            format!(
                "Several materials have a lot “{code}” ({}): pick the lot from the list below.",
                found.iter().map(|l| l.material_code.as_str()).collect::<Vec<_>>().join(", ")
            ),
        )),
    }
}

/// The location to take stock from: the one chosen, or the only one of the site holding the lot.
async fn pick_location(tx: &mut PgConnection, lot: Uuid, site: Uuid, chosen: Option<Uuid>) -> Result<Uuid, SaveError> {
    if let Some(id) = chosen {
        let kind: Option<String> = sqlx::query_scalar("select kind from locations where id = $1 and site_id = $2")
            .bind(id)
            .bind(site)
            .fetch_optional(&mut *tx)
            .await?;
        return match kind.as_deref() {
            None => Err(SaveError::field("location_id", "Choose a location of the run's site.")),
            Some("quarantine") => Err(SaveError::field(
                "location_id",
                "Stock in a quarantine location cannot be used; QA moves it out first.",
            )),
            Some(_) => Ok(id),
        };
    }
    let holding: Vec<(Uuid, String)> = sqlx::query_as(
        "select c.id, c.code from on_hand o join locations c on c.id = o.location_id
          where o.lot_id = $1 and c.site_id = $2 and o.quantity > 0 and c.kind <> 'quarantine' order by c.code",
    )
    .bind(lot)
    .bind(site)
    .fetch_all(&mut *tx)
    .await?;
    match holding.as_slice() {
        [] => Err(SaveError::field(
            "lot",
            "This lot has no usable stock at the run's site (stock in quarantine locations does not count).",
        )),
        [(id, _)] => Ok(*id),
        many => Err(SaveError::field(
            "location_id",
            format!(
                "The lot is stocked at {}: choose the location to take it from.",
                many.iter().map(|(_, c)| c.as_str()).collect::<Vec<_>>().join(", ")
            ),
        )),
    }
}

#[derive(sqlx::FromRow)]
struct OutputFacts {
    qa_required: bool,
    shelf_life_days: Option<i32>,
    expiry_policy: String,
    earliest_input_expiry: Option<NaiveDate>,
    location_ok: bool,
    #[sqlx(flatten)]
    rule: rules::RuleRow,
}

/// Produces an output: a new lot with a code from the rules (or an existing lot topped up),
/// linked from every input posted so far. Returns the lot and its code.
pub async fn post_output(
    pool: &PgPool,
    actor: &Actor,
    run_id: Uuid,
    c: &PostOutput,
) -> Result<(Uuid, String), SaveError> {
    let (quantity, key, location) = (c.quantity, c.key, c.location);
    // Read what the output needs, and draw its number, before the posting's transaction opens.
    let mut conn = pool.acquire().await?;
    let earlier: Option<String> = sqlx::query_scalar("select result from idempotency_keys where key = $1")
        .bind(key)
        .fetch_optional(&mut *conn)
        .await?;
    if let Some(earlier) = earlier {
        return earlier_output(pool, &earlier).await;
    }
    let run: RunFacts = {
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        let run = lock_run(&mut tx, run_id).await?;
        tx.rollback().await?;
        run
    };
    let facts: OutputFacts = sqlx::query_as(
        "select m.qa_required, m.shelf_life_days, m.expiry_policy,
                (select min(l.expires_on) from stock_movements mv join lots l on l.id = mv.lot_id
                  where mv.run_id = $1 and mv.kind = 'consume' and not exists (select 1 from stock_movements x where x.reverses_id = mv.id)) as earliest_input_expiry,
                exists (select 1 from locations c where c.id = $3 and c.site_id = $4 and c.active) as location_ok,
                r.id as rule_id, r.name as rule_name, r.pattern as rule_pattern, r.reset_period as rule_reset, r.start_number as rule_start
           from materials m
           left join lateral (
                select r.* from lot_rules r
                 where r.active and (r.scope_material = m.id or (r.scope = 'kind' and r.scope_kind = m.kind) or r.scope = 'default')
                 order by case r.scope when 'material' then 1 when 'kind' then 2 else 3 end limit 1) r on true
          where m.id = $2",
    )
    .bind(run_id)
    .bind(run.output_material_id)
    .bind(location)
    .bind(run.site_id)
    .fetch_one(&mut *conn)
    .await
    ?;
    drop(conn);
    if !facts.location_ok {
        return Err(SaveError::field(
            "output_location",
            format!("Choose an active location of site {}.", run.site_code),
        ));
    }
    let topup = c.topup.as_deref().map(str::trim).unwrap_or_default();
    let mut drawn: Vec<Drawn> = Vec::new();
    if topup.is_empty() {
        let subject = Subject {
            material_id: run.output_material_id,
            material_code: run.output_material_code.clone(),
            site_code: run.site_code.clone(),
            line_code: run.line_code.clone(),
            date: run.today,
        };
        let allocator = Allocator::new(facts.rule.clone(), subject).map_err(|m| SaveError::field("run", m))?;
        drawn.push(allocator.draw(pool).await.map_err(|m| SaveError::field("run", m))?);
    }
    let expires_on = match (facts.expiry_policy.as_str(), facts.shelf_life_days) {
        ("earliest_input", _) => facts.earliest_input_expiry,
        ("shelf_life", Some(days)) => Some(run.today + chrono::Days::new(days as u64)),
        _ => None,
    };
    let result =
        write_output(pool, actor, run_id, &run, &facts, topup, drawn.first(), expires_on, location, quantity, key)
            .await;
    if result.is_err() {
        rules::log_gaps(pool, &drawn, "output not saved").await;
    }
    result
}

async fn earlier_output(pool: &PgPool, result: &str) -> Result<(Uuid, String), SaveError> {
    let id: Uuid =
        result.parse().map_err(|_| Error::Conflict("This form was already used for something else.".into()))?;
    let code: String = sqlx::query_scalar("select code from lots where id = $1").bind(id).fetch_one(pool).await?;
    Ok((id, code))
}

#[allow(clippy::too_many_arguments)]
async fn write_output(
    pool: &PgPool,
    actor: &Actor,
    run_id: Uuid,
    run: &RunFacts,
    facts: &OutputFacts,
    topup: &str,
    drawn: Option<&Drawn>,
    expires_on: Option<NaiveDate>,
    location: Uuid,
    quantity: Decimal,
    key: Uuid,
) -> Result<(Uuid, String), SaveError> {
    let mut tx = pool.begin().await?;
    if let Some(earlier) = claim_idempotency_key(
        &mut tx,
        &Claim::new(key, "run.output", actor.id, &(run_id, location, quantity, expires_on)),
        "",
    )
    .await?
    {
        drop(tx);
        return earlier_output(pool, &earlier).await;
    }
    lock_run(&mut tx, run_id).await?;
    let disposition = if facts.qa_required { "quarantine" } else { "released" };
    let (lot_id, code) = match drawn {
        Some(d) => {
            let id: Option<Uuid> = sqlx::query_scalar(
                "insert into lots (material_id, code, origin, site_id, made_on, expires_on, run_id, tlc, tlc_source, disposition, created_by,
                                   code_rule_id, code_scope, code_period, code_seq)
                 select $1, $2, 'produced', $3, $4, $5, $6, $2, s.code || ' · ' || s.name, $7, $8, $9, $10, $11, $12 from sites s where s.id = $3
                 on conflict (material_id, code) do nothing returning id",
            )
            .bind(run.output_material_id)
            .bind(&d.code)
            .bind(run.site_id)
            .bind(run.today)
            .bind(expires_on)
            .bind(run_id)
            .bind(disposition)
            .bind(actor.id)
            .bind(d.rule_id)
            .bind(&d.scope_key)
            .bind(&d.period_key)
            .bind(d.value)
            .fetch_optional(&mut *tx)
            .await
            ?;
            let id = id.ok_or_else(|| {
                SaveError::field(
                    "run",
                    format!("Lot {} exists already; post the output again to get the next code.", d.code),
                )
            })?;
            sqlx::query("insert into lot_dispositions (lot_id, from_status, to_status, reason, decided_by) values ($1, null, $2, $3, $4)")
                .bind(id)
                .bind(disposition)
                .bind(if facts.qa_required { "produced; awaiting QA" } else { "produced; material needs no release" })
                .bind(actor.id)
                .execute(&mut *tx)
                .await
                ?;
            (id, d.code.clone())
        }
        None => {
            let existing: Option<(Uuid, String)> = sqlx::query_as(
                "select id, code from lots where material_id = $1 and upper(code) = upper($2) for update",
            )
            .bind(run.output_material_id)
            .bind(topup)
            .fetch_optional(&mut *tx)
            .await?;
            existing.ok_or_else(|| {
                SaveError::field("topup", format!("{} has no lot “{topup}” to top up.", run.output_material_code))
            })?
        }
    };
    let produce = Movement::new(MovementKind::Produce, lot_id, location, quantity, key).document(Document::Run(run_id));
    let movement = ledger::post(&mut tx, actor, &produce).await.map_err(|r| r.at("output_quantity"))?;
    let links = ledger::link_run(&mut tx, run_id, lot_id, movement, Side::Output).await?;
    sqlx::query("update idempotency_keys set result = $2 where key = $1")
        .bind(key)
        .bind(lot_id.to_string())
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        actor,
        Entry::new("output", "run", run_id).after(&serde_json::json!({
            "run": run.number, "lot": code, "topped_up": drawn.is_none(), "quantity": quantity, "movement": movement, "links": links
        })),
    )
    .await
    ?;
    tx.commit().await?;
    Ok((lot_id, code))
}

/// Closes a run: nothing more can be posted to it.
pub async fn close(pool: &PgPool, actor: &Actor, run_id: Uuid) -> Result<(), SaveError> {
    let mut tx = pool.begin().await?;
    let run = lock_run(&mut tx, run_id).await?;
    sqlx::query("update production_runs set status = 'closed', closed_at = now(), closed_by = $2 where id = $1")
        .bind(run_id)
        .bind(actor.id)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        actor,
        Entry::new("close", "run", run_id)
            .before(&serde_json::json!({ "status": "open" }))
            .after(&serde_json::json!({ "number": run.number, "status": "closed" })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
