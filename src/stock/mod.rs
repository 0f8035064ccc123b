//! Stock operations: each one transaction that moves stock through the ledger and writes its
//! genealogy, called alike by pages, the API, the CLI and the importer.

pub mod counts;
pub mod moves;
pub mod production;
pub mod receive;
pub mod returns;
pub mod ship;
pub mod split;

use rust_decimal::Decimal;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::audit::Actor;
use crate::error::Error;
use crate::web::forms::{FieldErrors, SaveError};

fn invalid(field: &'static str, message: impl Into<String>) -> SaveError {
    let mut e = FieldErrors::default();
    e.add(field, message);
    SaveError::Invalid(e)
}

/// Inserts a movement; a movement that would take on-hand below zero is refused with what is there.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn movement(
    tx: &mut PgConnection,
    kind: &str,
    lot: Uuid,
    location: Uuid,
    quantity: Decimal,
    actor: &Actor,
    posting: Uuid,
    reverses: Option<i64>,
    why: Option<&str>,
    field: &'static str,
) -> Result<i64, SaveError> {
    sqlx::query("savepoint movement").execute(&mut *tx).await.map_err(Error::from)?;
    let inserted = sqlx::query_scalar::<_, i64>(
        "insert into stock_movements (kind, lot_id, location_id, quantity, occurred_at, actor_id, posting_id, reverses_id, reason)
         values ($1, $2, $3, $4, now(), $5, $6, $7, $8) returning id",
    )
    .bind(kind)
    .bind(lot)
    .bind(location)
    .bind(quantity)
    .bind(actor.id)
    .bind(posting)
    .bind(reverses)
    .bind(why)
    .fetch_one(&mut *tx)
    .await;
    match inserted {
        Ok(id) => Ok(id),
        Err(sqlx::Error::Database(db)) if db.constraint() == Some("on_hand_not_negative") => {
            sqlx::query("rollback to savepoint movement").execute(&mut *tx).await.map_err(Error::from)?;
            let (on_hand, location_code, uom): (Decimal, String, String) = sqlx::query_as(
                "select coalesce((select quantity from on_hand where lot_id = $1 and location_id = $2), 0), c.code, m.uom
                   from locations c, lots l join materials m on m.id = l.material_id where c.id = $2 and l.id = $1",
            )
            .bind(lot)
            .bind(location)
            .fetch_one(&mut *tx)
            .await
            .map_err(Error::from)?;
            Err(invalid(
                field,
                format!(
                    "Only {} {uom} is on hand at {location_code}; {} {uom} cannot be taken.",
                    on_hand.normalize(),
                    (-quantity).normalize()
                ),
            ))
        }
        Err(sqlx::Error::Database(db)) if db.constraint() == Some("stock_movements_reversed_once") => {
            Err(invalid(field, "This posting was reversed already."))
        }
        Err(e) => Err(Error::from(e).into()),
    }
}
