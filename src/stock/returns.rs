//! Returns: goods a customer sends back come into a quarantine location against the original
//! shipment; goods sent back to the supplier leave the plant. One transaction each, audited.

use rust_decimal::Decimal;
use sqlx::PgPool;
use uuid::Uuid;

use crate::audit::{self, Actor, Entry};
use crate::domain::text;
use crate::domain::vocab::MovementKind;
use crate::error::Error;
use crate::ledger::{self, Document, Movement};
use crate::save::SaveError;

/// Goods a customer sends back: a quantity per line of the shipment, into a quarantine location.
#[derive(Debug, Clone)]
pub struct CustomerReturn {
    /// (shipment line, quantity returned)
    pub lines: Vec<(Uuid, Decimal)>,
    pub location: Uuid,
    pub reason: String,
}

/// Stock of a received lot sent back to its supplier.
#[derive(Debug, Clone)]
pub struct SupplierReturn {
    pub location: Uuid,
    pub quantity: Decimal,
    pub reason: String,
}

/// Takes back goods a customer returns, into a quarantine location, against the shipment's lines.
pub async fn from_customer(
    pool: &PgPool,
    actor: &Actor,
    shipment: Uuid,
    c: &CustomerReturn,
) -> Result<Uuid, SaveError> {
    let reason =
        text::required(&c.reason, "The reason for the return", 500).map_err(|m| SaveError::field("reason", m))?;
    let (location, wanted) = (c.location, &c.lines);
    if wanted.is_empty() {
        return Err(SaveError::field("lines", "Give the quantity returned for at least one line."));
    }
    let mut tx = pool.begin().await?;
    let head: Option<(Uuid, String, Uuid)> =
        sqlx::query_as("select h.customer_id, h.number, h.site_id from shipments h where h.id = $1 for update")
            .bind(shipment)
            .fetch_optional(&mut *tx)
            .await?;
    let (customer, number, site) = head.ok_or(Error::NotFound)?;
    let quarantine: bool = sqlx::query_scalar(
        "select exists (select 1 from locations where id = $1 and site_id = $2 and kind = 'quarantine' and active)",
    )
    .bind(location)
    .bind(site)
    .fetch_one(&mut *tx)
    .await?;
    if !quarantine {
        return Err(SaveError::field(
            "location_id",
            "Returned goods go to a quarantine location of the shipping site.",
        ));
    }
    let id = Uuid::new_v4();
    let return_number: String = sqlx::query_scalar(
        "insert into returns (id, number, kind, party_id, shipment_id, reason, occurred_at, created_by)
         values ($1, 'RET-' || lpad(nextval('return_number_seq')::text, 6, '0'), 'from_customer', $2, $3, $4, now(), $5) returning number",
    )
    .bind(id)
    .bind(customer)
    .bind(shipment)
    .bind(&reason)
    .bind(actor.id)
    .fetch_one(&mut *tx)
    .await
    ?;
    let posting = Uuid::new_v4();
    let mut done = Vec::new();
    for (n, (line, quantity)) in wanted.iter().enumerate() {
        let shipped: Option<(Uuid, String, Decimal, Decimal)> = sqlx::query_as(
            "select sl.lot_id, l.code, sl.quantity,
                    coalesce((select sum(rl.quantity) from return_lines rl where rl.shipment_line_id = sl.id), 0)
               from shipment_lines sl join lots l on l.id = sl.lot_id where sl.id = $1 and sl.shipment_id = $2",
        )
        .bind(line)
        .bind(shipment)
        .fetch_optional(&mut *tx)
        .await?;
        let (lot, code, shipped, returned) =
            shipped.ok_or_else(|| SaveError::field("lines", "This line is not part of the shipment."))?;
        if *quantity > shipped - returned {
            return Err(SaveError::field(
                "lines",
                format!(
                    "Lot {code}: {} was shipped and {} returned already; {} cannot come back.",
                    shipped.normalize(),
                    returned.normalize(),
                    quantity.normalize()
                ),
            ));
        }
        let back = Movement::new(MovementKind::Return, lot, location, *quantity, posting)
            .document(Document::Return(id))
            .reason(&reason);
        let movement = ledger::post(&mut tx, actor, &back).await.map_err(|r| r.at("lines"))?;
        sqlx::query(
            "insert into return_lines (return_id, line_no, lot_id, quantity, location_id, movement_id, shipment_line_id) values ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(id)
        .bind(n as i32 + 1)
        .bind(lot)
        .bind(quantity)
        .bind(location)
        .bind(movement)
        .bind(line)
        .execute(&mut *tx)
        .await
        ?;
        done.push(serde_json::json!({ "lot": code, "quantity": quantity }));
    }
    audit::record(
        &mut tx,
        actor,
        Entry::new("create", "return", id)
            .after(&serde_json::json!({ "number": return_number, "shipment": number, "lines": done }))
            .reason(&reason),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// Sends stock of a received lot back to its supplier.
pub async fn to_supplier(pool: &PgPool, actor: &Actor, lot: Uuid, c: &SupplierReturn) -> Result<Uuid, SaveError> {
    let reason = text::required(&c.reason, "The reason", 500).map_err(|m| SaveError::field("supplier_reason", m))?;
    let (location, quantity) = (c.location, c.quantity);
    let mut tx = pool.begin().await?;
    let supplier: Option<(Option<Uuid>, String)> =
        sqlx::query_as("select supplier_id, code from lots where id = $1").bind(lot).fetch_optional(&mut *tx).await?;
    let (supplier, code) = supplier.ok_or(Error::NotFound)?;
    let supplier = supplier
        .ok_or_else(|| SaveError::field("supplier_reason", format!("Lot {code} was not received from a supplier.")))?;
    let id = Uuid::new_v4();
    sqlx::query(
        "insert into returns (id, number, kind, party_id, reason, occurred_at, created_by)
         values ($1, 'RET-' || lpad(nextval('return_number_seq')::text, 6, '0'), 'to_supplier', $2, $3, now(), $4)",
    )
    .bind(id)
    .bind(supplier)
    .bind(&reason)
    .bind(actor.id)
    .execute(&mut *tx)
    .await?;
    let out = Movement::new(MovementKind::Return, lot, location, -quantity, id)
        .document(Document::Return(id))
        .reason(&reason);
    let movement = ledger::post(&mut tx, actor, &out).await.map_err(|r| r.at("supplier_quantity"))?;
    sqlx::query("insert into return_lines (return_id, line_no, lot_id, quantity, location_id, movement_id) values ($1, 1, $2, $3, $4, $5)")
        .bind(id)
        .bind(lot)
        .bind(quantity)
        .bind(location)
        .bind(movement)
        .execute(&mut *tx)
        .await
        ?;
    audit::record(
        &mut tx,
        actor,
        Entry::new("return_to_supplier", "lot", lot)
            .after(&serde_json::json!({ "quantity": quantity }))
            .reason(&reason),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}
