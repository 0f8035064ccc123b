//! Stock corrections and movements inside the plant: reversing a posting (never editing it),
//! transfers between locations, adjustments and scrap — each with its reason, one transaction.

use rust_decimal::Decimal;
use sqlx::PgPool;
use uuid::Uuid;

use crate::audit::{self, Actor, Entry, Person};
use crate::domain::text;
use crate::domain::vocab::MovementKind;
use crate::domain::vocab::Permission;
use crate::error::Error;
use crate::ledger::{self, Document, Movement};
use crate::save::SaveError;

fn reason(value: &str, field: &'static str) -> Result<String, SaveError> {
    text::required(value, "The reason", 500).map_err(|m| SaveError::field(field, m))
}

/// A correction of one posting, as the lot's ledger asks for it.
#[derive(Debug, Clone, Default)]
pub struct Reverse {
    pub movement: i64,
    pub reason: String,
    /// The user confirmed what is reversed (every reversal asks).
    pub confirmed: bool,
    /// QA's user name and password: reversing a shipment, a consumption or an output of a lot that
    /// is or was in a real recall's scope is signed by QA.
    pub signer: String,
    pub password: String,
}

/// Reverses a posting (and, for a transfer, both its legs): an opposite movement that names the
/// original and the reason; the genealogy links the posting made stop counting in traces, and a
/// reversed shipment line stays on its documents, in traces and in recall scopes, flagged.
pub async fn reverse(pool: &PgPool, user: &Person, lot_id: Uuid, r: &Reverse) -> Result<(), SaveError> {
    let why = reason(&r.reason, "reverse_reason")?;
    let mut tx = pool.begin().await?;
    let original: Option<(MovementKind, Uuid, String, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select mv.kind, mv.posting_id, l.code, {}
           from stock_movements mv join lots l on l.id = mv.lot_id where mv.id = $1 and mv.lot_id = $2",
        crate::domain::status::PAST_RECALLS_SQL
    )))
    .bind(r.movement)
    .bind(lot_id)
    .fetch_optional(&mut *tx)
    .await?;
    let (kind, posting, code, recalls) = original.ok_or(Error::NotFound)?;
    if kind == MovementKind::Reversal {
        return Err(SaveError::field("reverse_reason", "A reversal is not reversed; post the movement again instead."));
    }
    if !r.confirmed {
        return Err(SaveError::field(
            "reverse_reason",
            format!(
                "Confirm that movement {} ({}) of lot {code} is to be reversed: tick the box beside the reason.",
                r.movement,
                kind.label()
            ),
        ));
    }
    // Who once had the goods, or what was made of them, is what a recall needs: QA signs.
    let recalled =
        !recalls.is_empty() && matches!(kind, MovementKind::Ship | MovementKind::Consume | MovementKind::Produce);
    let signature = if recalled {
        if !crate::auth::holds(&mut tx, user.id, Permission::QaDecide).await? {
            return Err(SaveError::field(
                "reverse_reason",
                format!(
                    "Lot {code} was in the scope of recall {recalls}: only QA may reverse its {}, signed.",
                    kind.label()
                ),
            ));
        }
        let meaning = "reversal of a recalled lot's posting signed by";
        let act =
            crate::auth::Act { meaning, entity_type: "lot", entity_id: lot_id.to_string(), field: "reverse_reason" };
        Some(
            crate::auth::sign(
                pool,
                &mut tx,
                user,
                &crate::auth::Credentials { user_name: &r.signer, password: &r.password },
                &act,
            )
            .await?,
        )
    } else {
        None
    };
    let actor = user.actor();
    // A transfer's two legs go back together; any other posting alone.
    let legs: Vec<(i64, Uuid, Uuid, Decimal)> = if kind == MovementKind::Transfer {
        sqlx::query_as("select id, lot_id, location_id, quantity from stock_movements where posting_id = $1 and kind = 'transfer' order by quantity")
            .bind(posting)
            .fetch_all(&mut *tx)
            .await?
    } else {
        sqlx::query_as("select id, lot_id, location_id, quantity from stock_movements where id = $1")
            .bind(r.movement)
            .fetch_all(&mut *tx)
            .await?
    };
    let reversal_posting = Uuid::new_v4();
    let mut reversals = Vec::new();
    // Put stock back before taking it away, so a transfer's reversal never dips below zero.
    let mut ordered = legs.clone();
    ordered.sort_by_key(|(_, _, _, q)| std::cmp::Reverse(*q < Decimal::ZERO));
    for (id, lot, location, quantity) in ordered {
        let reversal = Movement::new(MovementKind::Reversal, lot, location, -quantity, reversal_posting)
            .document(Document::Reverses(id))
            .reason(&why);
        let rev = ledger::post(&mut tx, &actor, &reversal).await.map_err(|r| r.at("reverse_reason"))?;
        reversals.push((id, rev));
    }
    let mut links = 0;
    for (original, reversal) in &reversals {
        links += ledger::reverse_links(&mut tx, *original, *reversal).await?;
    }
    audit::record(
        &mut tx,
        &actor,
        Entry::new("reverse", "lot", lot_id)
            .before(&serde_json::json!({ "movement": r.movement, "kind": kind }))
            .after(&serde_json::json!({
                "reverses": reversals.iter().map(|(o, _)| o).collect::<Vec<_>>(),
                "reversals": reversals.iter().map(|(_, r)| r).collect::<Vec<_>>(),
                "links_reversed": links,
                "signature": signature,
            }))
            .reason(&why),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Moves `quantity` of a lot from one location to another of the same site.
#[derive(Debug, Clone)]
pub struct Transfer {
    pub from: Uuid,
    pub to: Uuid,
    pub quantity: Decimal,
}

/// Corrects the quantity at a location by `quantity` (signed: a count found more or less).
#[derive(Debug, Clone)]
pub struct Adjust {
    pub at: Uuid,
    pub quantity: Decimal,
    pub reason: String,
}

/// Destroys `quantity` of a lot at a location.
#[derive(Debug, Clone)]
pub struct Scrap {
    pub at: Uuid,
    pub quantity: Decimal,
    pub reason: String,
}

/// Moves stock of a lot from one location to another (two legs, one posting).
pub async fn transfer(pool: &PgPool, actor: &Actor, lot: Uuid, c: &Transfer) -> Result<(), SaveError> {
    let (q, from, to) = (c.quantity, c.from, c.to);
    if from == to {
        return Err(SaveError::field("transfer_to", "Choose a location other than the one the stock is taken from."));
    }
    let same_site: bool = sqlx::query_scalar("select coalesce((select site_id from locations where id = $1) = (select site_id from locations where id = $2 and active), false)")
        .bind(from)
        .bind(to)
        .fetch_one(pool)
        .await
        ?;
    if !same_site {
        return Err(SaveError::field(
            "transfer_to",
            "Choose an active location of the same site; between sites, ship the goods.",
        ));
    }
    let mut tx = pool.begin().await?;
    let posting = Uuid::new_v4();
    for (at, q) in [(from, -q), (to, q)] {
        let leg = Movement::new(MovementKind::Transfer, lot, at, q, posting);
        ledger::post(&mut tx, actor, &leg).await.map_err(|r| r.at("transfer_quantity"))?;
    }
    audit::record(
        &mut tx,
        actor,
        Entry::new("transfer", "lot", lot).after(&serde_json::json!({ "from": from, "to": to, "quantity": q })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Corrects the quantity at a location (a count found more or less), with a reason.
pub async fn adjust(pool: &PgPool, actor: &Actor, lot: Uuid, c: &Adjust) -> Result<(), SaveError> {
    let (signed, at) = (c.quantity, c.at);
    let why = reason(&c.reason, "adjust_reason")?;
    let mut tx = pool.begin().await?;
    let adjustment = Movement::new(MovementKind::Adjust, lot, at, signed, Uuid::new_v4()).reason(&why);
    ledger::post(&mut tx, actor, &adjustment).await.map_err(|r| r.at("adjust_quantity"))?;
    audit::record(
        &mut tx,
        actor,
        Entry::new("adjust", "lot", lot).after(&serde_json::json!({ "location": at, "quantity": signed })).reason(&why),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Destroys stock of a lot, with a reason.
pub async fn scrap(pool: &PgPool, actor: &Actor, lot: Uuid, c: &Scrap) -> Result<(), SaveError> {
    let (q, at) = (c.quantity, c.at);
    let why = reason(&c.reason, "scrap_reason")?;
    let mut tx = pool.begin().await?;
    let scrap = Movement::new(MovementKind::Scrap, lot, at, -q, Uuid::new_v4()).reason(&why);
    ledger::post(&mut tx, actor, &scrap).await.map_err(|r| r.at("scrap_quantity"))?;
    audit::record(
        &mut tx,
        actor,
        Entry::new("scrap", "lot", lot).after(&serde_json::json!({ "location": at, "quantity": q })).reason(&why),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// What retracting a receipt reversed.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Retracted {
    pub receipt_id: Uuid,
    pub number: String,
    /// Lines reversed now (0: the receipt was retracted before).
    pub lines_reversed: usize,
}

/// Reverses every standing line of a receipt, one transaction: a supplier's retraction of the
/// delivery (an EPCIS `errorDeclaration`). Refused, with what is missing, when some of the goods
/// were used or moved on: those are corrected on the lots' pages first.
pub async fn retract_receipt(
    pool: &PgPool,
    actor: &Actor,
    receipt_id: Uuid,
    reason: &str,
) -> Result<Retracted, SaveError> {
    let why = reason.trim();
    let mut tx = pool.begin().await?;
    let number: String = sqlx::query_scalar("select number from receipts where id = $1 for update")
        .bind(receipt_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(Error::NotFound)?;
    let lines: Vec<(i64, Uuid, Uuid, Decimal)> = sqlx::query_as(
        "select m.id, m.lot_id, m.location_id, m.quantity from receipt_lines rl join stock_movements m on m.id = rl.movement_id
          where rl.receipt_id = $1 and not exists (select 1 from stock_movements v where v.reverses_id = m.id)
          order by rl.line_no",
    )
    .bind(receipt_id)
    .fetch_all(&mut *tx)
    .await?;
    let posting = Uuid::new_v4();
    let mut reversals = Vec::new();
    for (id, lot, location, quantity) in &lines {
        let reversal = Movement::new(MovementKind::Reversal, *lot, *location, -*quantity, posting)
            .document(Document::Reverses(*id))
            .reason(why);
        let rev = ledger::post(&mut tx, actor, &reversal).await.map_err(|r| r.at("document"))?;
        ledger::reverse_links(&mut tx, *id, rev).await?;
        reversals.push(rev);
    }
    if !lines.is_empty() {
        audit::record(
            &mut tx,
            actor,
            Entry::new("retract", "receipt", receipt_id)
                .after(&serde_json::json!({ "reverses": lines.iter().map(|l| l.0).collect::<Vec<_>>(), "reversals": reversals }))
                .reason(why),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(Retracted { receipt_id, number, lines_reversed: lines.len() })
}
