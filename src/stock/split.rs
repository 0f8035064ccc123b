//! Split and repack: part of a lot becomes a new lot — of the same material (a split), or of
//! another material such as a smaller pack (a repack) — with a code from the rules and the
//! genealogy link to its source, in one transaction.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use sqlx::PgPool;
use uuid::Uuid;

use crate::audit::{self, Actor, Entry};
use crate::domain::vocab::MovementKind;
use crate::error::Error;
use crate::ledger::{self, LinkKind, Movement};
use crate::rules::{self, Allocator, Subject};
use crate::save::SaveError;

/// Splits `quantity` of a lot at `from` into a new lot at `to`: of the same material, or of
/// `material` (a repack, by code) in `new_quantity` of that material's unit.
#[derive(Debug, Clone)]
pub struct Split {
    pub from: Uuid,
    pub to: Uuid,
    pub quantity: Decimal,
    pub material: Option<String>,
    pub new_quantity: Option<Decimal>,
}

#[derive(sqlx::FromRow)]
struct Source {
    code: String,
    material_id: Uuid,
    material_code: String,
    site_id: Uuid,
    site_code: String,
    disposition: String,
    expires_on: Option<NaiveDate>,
    tlc: String,
    tlc_source: String,
    today: NaiveDate,
}

/// Splits `quantity` off the lot into a new lot; returns the new lot and its code.
pub async fn split(pool: &PgPool, actor: &Actor, lot: Uuid, c: &Split) -> Result<(Uuid, String), SaveError> {
    let (quantity, from, to) = (c.quantity, c.from, c.to);
    let source: Source = sqlx::query_as(
        "select l.code, l.material_id, m.code as material_code, l.site_id, s.code as site_code, l.disposition, l.expires_on, l.tlc,
                l.tlc_source, site_today(s.id) as today
           from lots l join materials m on m.id = l.material_id join sites s on s.id = l.site_id where l.id = $1",
    )
    .bind(lot)
    .fetch_optional(pool)
    .await
    ?
    .ok_or(Error::NotFound)?;
    if source.disposition == "rejected" {
        return Err(SaveError::field(
            "split_quantity",
            format!("Lot {} was rejected: it is not split or repacked.", source.code),
        ));
    }
    let target_code = match c.material.as_deref().map(str::trim) {
        None | Some("") => source.material_code.clone(),
        Some(code) => code.to_ascii_uppercase(),
    };
    let target: Option<(Uuid, String)> = sqlx::query_as("select id, code from materials where code = $1 and active")
        .bind(&target_code)
        .fetch_optional(pool)
        .await?;
    let (target_id, target_code) = target
        .ok_or_else(|| SaveError::field("split_material", format!("There is no active material {target_code}.")))?;
    let repack = target_id != source.material_id;
    let new_quantity = match (repack, c.new_quantity) {
        (false, None) => quantity,
        (false, Some(q)) if q != quantity => {
            return Err(SaveError::field(
                "split_new_quantity",
                "A split keeps the quantity; to change it, repack into another material.",
            ));
        }
        (false, Some(q)) => q,
        (true, None) => {
            return Err(SaveError::field(
                "split_new_quantity",
                format!("Give the quantity of the new lot in {target_code}'s unit."),
            ));
        }
        (true, Some(q)) => q,
    };
    let to_ok: bool =
        sqlx::query_scalar("select exists (select 1 from locations where id = $1 and site_id = $2 and active)")
            .bind(to)
            .bind(source.site_id)
            .fetch_one(pool)
            .await?;
    if !to_ok {
        return Err(SaveError::field("split_to", format!("Choose an active location of site {}.", source.site_code)));
    }
    let subject = Subject {
        material_id: target_id,
        material_code: target_code.clone(),
        site_code: source.site_code.clone(),
        line_code: None,
        date: source.today,
    };
    let allocator = Allocator::for_subject(pool, subject).await.map_err(|m| SaveError::field("split_material", m))?;
    let drawn = allocator.draw(pool).await.map_err(|m| SaveError::field("split_material", m))?;
    let result = write(pool, actor, lot, &source, target_id, repack, quantity, new_quantity, from, to, &drawn).await;
    if result.is_err() {
        rules::log_gaps(pool, std::slice::from_ref(&drawn), "split not saved").await;
    }
    result
}

#[allow(clippy::too_many_arguments)]
async fn write(
    pool: &PgPool,
    actor: &Actor,
    lot: Uuid,
    source: &Source,
    target: Uuid,
    repack: bool,
    quantity: Decimal,
    new_quantity: Decimal,
    from: Uuid,
    to: Uuid,
    drawn: &rules::Drawn,
) -> Result<(Uuid, String), SaveError> {
    let mut tx = pool.begin().await?;
    // A split keeps the traceability lot code; a repack into another material is a
    // transformation (FSMA 204): the new lot gets its own code, assigned here.
    let (tlc, tlc_source) = if repack {
        (drawn.code.clone(), source.site_code.clone())
    } else {
        (source.tlc.clone(), source.tlc_source.clone())
    };
    let new_lot: Option<Uuid> = sqlx::query_scalar(
        "insert into lots (material_id, code, origin, site_id, made_on, expires_on, tlc, tlc_source, disposition, created_by,
                           code_rule_id, code_scope, code_period, code_seq)
         values ($1, $2, 'produced', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
         on conflict (material_id, code) do nothing returning id",
    )
    .bind(target)
    .bind(&drawn.code)
    .bind(source.site_id)
    .bind(source.today)
    .bind(source.expires_on)
    .bind(&tlc)
    .bind(&tlc_source)
    .bind(&source.disposition)
    .bind(actor.id)
    .bind(drawn.rule_id)
    .bind(&drawn.scope_key)
    .bind(&drawn.period_key)
    .bind(drawn.value)
    .fetch_optional(&mut *tx)
    .await
    ?;
    let new_lot = new_lot.ok_or_else(|| {
        SaveError::field("split_material", format!("Lot {} exists already; try again for the next code.", drawn.code))
    })?;
    sqlx::query("insert into lot_dispositions (lot_id, from_status, to_status, reason, decided_by) values ($1, null, $2, $3, $4)")
        .bind(new_lot)
        .bind(&source.disposition)
        .bind(format!("split from lot {}; keeps its QA state", source.code))
        .bind(actor.id)
        .execute(&mut *tx)
        .await
        ?;
    let posting = Uuid::new_v4();
    let out = Movement::new(MovementKind::Split, lot, from, -quantity, posting);
    let out = ledger::post(&mut tx, actor, &out).await.map_err(|r| r.at("split_quantity"))?;
    let into = Movement::new(MovementKind::Split, new_lot, to, new_quantity, posting);
    let into = ledger::post(&mut tx, actor, &into).await.map_err(|r| r.at("split_quantity"))?;
    let kind = if repack { LinkKind::Repack } else { LinkKind::Split };
    ledger::link(&mut tx, kind, (lot, out), (new_lot, into)).await?;
    // The new lot is held as long as the lot it came from: a split must not take stock out of a
    // hold or a recall.
    sqlx::query(
        "insert into lot_holds (lot_id, source, recall_id, reason, opened_by)
         select $2, h.source, h.recall_id, h.reason || ' (carried over from lot ' || $3 || ')', $4
           from lot_holds h where h.lot_id = $1 and h.closed_at is null",
    )
    .bind(lot)
    .bind(new_lot)
    .bind(&source.code)
    .bind(actor.id)
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        actor,
        Entry::new(if repack { "repack" } else { "split" }, "lot", lot)
            .after(&serde_json::json!({ "new_lot": drawn.code, "quantity": quantity, "new_quantity": new_quantity })),
    )
    .await?;
    tx.commit().await?;
    Ok((new_lot, drawn.code.clone()))
}
