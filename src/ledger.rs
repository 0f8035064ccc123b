//! The stock ledger and the genealogy links: the one place a posting writes a movement or a link,
//! and the one place a lot's mass balance is read. Every operation (receive, consume, produce,
//! ship, return, move, count, split, reverse) posts through here inside its own transaction.
//! The bulk import writes the same rows by COPY (`import`), checked by the same database rules.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::audit::Actor;
use crate::domain::balance::MassBalance;
use crate::domain::dates;
use crate::domain::quantity::{Quantity, Unit};
use crate::domain::vocab::{Dimension, MovementKind};
use crate::save::SaveError;

/// The document a movement belongs to.
#[derive(Debug, Clone, Copy)]
pub enum Document {
    /// A correction or a move inside the plant: the posting id is the document.
    None,
    Receipt(Uuid),
    Run(Uuid),
    Shipment(Uuid),
    Return(Uuid),
    /// The movement this one reverses.
    Reverses(i64),
}

/// One movement to post.
#[derive(Debug, Clone)]
pub struct Movement<'a> {
    pub kind: MovementKind,
    pub lot: Uuid,
    pub location: Uuid,
    /// Signed: positive brings stock in.
    pub quantity: Decimal,
    /// When it happened; `None` is now.
    pub at: Option<DateTime<Utc>>,
    /// The posting it is part of (a transfer's two legs share one).
    pub posting: Uuid,
    pub document: Document,
    pub reason: Option<&'a str>,
}

impl<'a> Movement<'a> {
    pub fn new(kind: MovementKind, lot: Uuid, location: Uuid, quantity: Decimal, posting: Uuid) -> Movement<'a> {
        Movement { kind, lot, location, quantity, at: None, posting, document: Document::None, reason: None }
    }

    pub fn at(mut self, at: DateTime<Utc>) -> Self {
        self.at = Some(at);
        self
    }

    pub fn document(mut self, document: Document) -> Self {
        self.document = document;
        self
    }

    pub fn reason(mut self, reason: &'a str) -> Self {
        self.reason = Some(reason);
        self
    }
}

/// Why the ledger refused a movement.
#[derive(Debug)]
pub enum Refusal {
    /// It would take on-hand below zero.
    Short(Short),
    /// The movement it reverses was reversed already.
    ReversedAlready,
    /// Finer than the lot's unit records (`domain::quantity`), or dated before the lot was made:
    /// the message says which.
    Refused(String),
    Database(sqlx::Error),
}

/// What was there when a movement asked for more.
#[derive(Debug, Clone)]
pub struct Short {
    pub lot_code: String,
    pub location_code: String,
    pub uom: String,
    pub on_hand: Decimal,
    /// What the movement tried to take, as a positive amount.
    pub wanted: Decimal,
}

impl Short {
    pub fn message(&self) -> String {
        let Short { lot_code, location_code, uom, on_hand, wanted } = self;
        format!(
            "Only {} {uom} of lot {lot_code} is on hand at {location_code}; {} {uom} cannot be taken.",
            on_hand.normalize(),
            wanted.normalize()
        )
    }
}

impl Refusal {
    /// The refusal as a message next to `field` of the form that asked.
    pub fn at(self, field: &'static str) -> SaveError {
        match self {
            Refusal::Short(s) => SaveError::field(field, s.message()),
            Refusal::ReversedAlready => SaveError::field(field, "This posting was reversed already."),
            Refusal::Refused(message) => SaveError::field(field, message),
            Refusal::Database(e) => e.into(),
        }
    }
}

impl From<sqlx::Error> for Refusal {
    fn from(e: sqlx::Error) -> Self {
        Refusal::Database(e)
    }
}

/// What `post` reads before it writes: the lot's unit, code and date made, the movement's date
/// at the lot's site, the database's now, and the run's number and opening.
type Facts =
    (String, Dimension, Decimal, String, NaiveDate, NaiveDate, DateTime<Utc>, Option<String>, Option<DateTime<Utc>>);

/// Posts one movement. On-hand moves with it (a trigger) and can never go below zero: a movement
/// that would take more than is there is refused with what is there, and `tx` stays usable.
pub async fn post(tx: &mut PgConnection, actor: &Actor, m: &Movement<'_>) -> Result<i64, Refusal> {
    let (receipt, run, shipment, ret, reverses) = match m.document {
        Document::None => (None, None, None, None, None),
        Document::Receipt(id) => (Some(id), None, None, None, None),
        Document::Run(id) => (None, Some(id), None, None, None),
        Document::Shipment(id) => (None, None, Some(id), None, None),
        Document::Return(id) => (None, None, None, Some(id), None),
        Document::Reverses(id) => (None, None, None, None, Some(id)),
    };
    // The lot's unit says how fine a movement of it may be (0.0001 kg is not a consumption); no
    // stock moves before its lot was made (by the date at the lot's site) or its run was opened,
    // nor later than the clock allows (`domain::dates`).
    let facts: Option<Facts> = sqlx::query_as(
        "select u.code, u.dimension, u.to_base, l.code, l.made_on, (coalesce($2, now()) at time zone s.time_zone)::date,
                now(), r.number, r.opened_at
           from lots l join materials m on m.id = l.material_id join units u on u.code = m.uom
           join sites s on s.id = l.site_id left join production_runs r on r.id = $3
          where l.id = $1 and exists (select 1 from locations c where c.id = $4)",
    )
    .bind(m.lot)
    .bind(m.at)
    .bind(run)
    .bind(m.location)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((code, dimension, to_base, lot_code, made_on, on, now, run_number, run_opened)) = facts else {
        return Err(Refusal::Refused("No such lot or location: choose them again.".into()));
    };
    Quantity::new(m.quantity.abs(), &Unit::new(&code, dimension, to_base)).map_err(Refusal::Refused)?;
    if let Some(at) = m.at {
        dates::happened(at, now, "The movement's time").map_err(Refusal::Refused)?;
    }
    if on < made_on {
        return Err(Refusal::Refused(format!(
            "Lot {lot_code} was made on {made_on}: nothing of it can move on {on}, before it existed."
        )));
    }
    if let (Some(at), Some(number), Some(opened)) = (m.at, run_number, run_opened)
        && at < opened
    {
        return Err(Refusal::Refused(format!(
            "Run {number} was opened at {}: nothing can be posted to it at {}, before that.",
            opened.format("%Y-%m-%d %H:%M UTC"),
            at.format("%Y-%m-%d %H:%M UTC")
        )));
    }
    sqlx::query("savepoint ledger_post").execute(&mut *tx).await?;
    let inserted = sqlx::query_scalar::<_, i64>(
        "insert into stock_movements (kind, lot_id, location_id, quantity, occurred_at, actor_id, posting_id,
                                      receipt_id, run_id, shipment_id, return_id, reverses_id, reason)
         values ($1, $2, $3, $4, coalesce($5, now()), $6, $7, $8, $9, $10, $11, $12, $13) returning id",
    )
    .bind(m.kind)
    .bind(m.lot)
    .bind(m.location)
    .bind(m.quantity)
    .bind(m.at)
    .bind(actor.id)
    .bind(m.posting)
    .bind(receipt)
    .bind(run)
    .bind(shipment)
    .bind(ret)
    .bind(reverses)
    .bind(m.reason)
    .fetch_one(&mut *tx)
    .await;
    match inserted {
        Ok(id) => {
            sqlx::query("release savepoint ledger_post").execute(&mut *tx).await?;
            Ok(id)
        }
        Err(e) => {
            sqlx::query("rollback to savepoint ledger_post").execute(&mut *tx).await?;
            match crate::save::constraint(&e) {
                Some("on_hand_not_negative") => Err(Refusal::Short(short(tx, m).await?)),
                Some("stock_movements_reversed_once") => Err(Refusal::ReversedAlready),
                _ => Err(e.into()),
            }
        }
    }
}

async fn short(tx: &mut PgConnection, m: &Movement<'_>) -> Result<Short, sqlx::Error> {
    let (lot_code, location_code, uom, on_hand): (String, String, String, Decimal) = sqlx::query_as(
        "select l.code, c.code, m.uom, coalesce((select quantity from on_hand where lot_id = l.id and location_id = c.id), 0)
           from lots l join materials m on m.id = l.material_id, locations c where l.id = $1 and c.id = $2",
    )
    .bind(m.lot)
    .bind(m.location)
    .fetch_one(&mut *tx)
    .await?;
    Ok(Short { lot_code, location_code, uom, on_hand, wanted: -m.quantity })
}

/// How a link joins two lots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkKind {
    Run,
    Split,
    Repack,
}

impl LinkKind {
    const fn as_str(self) -> &'static str {
        match self {
            LinkKind::Run => "run",
            LinkKind::Split => "split",
            LinkKind::Repack => "repack",
        }
    }
}

/// Which side of a run a posting is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Input,
    Output,
}

/// Links a run's posting, just made by `movement`, to every posting of the other side the run has
/// so far (and not reversed): an input to every output, an output from every input, so every
/// input of a run links to every output whatever the order. Returns how many links it wrote.
pub async fn link_run(
    tx: &mut PgConnection,
    run: Uuid,
    lot: Uuid,
    movement: i64,
    side: Side,
) -> Result<u64, sqlx::Error> {
    let input = side == Side::Input;
    Ok(sqlx::query(
        "insert into genealogy_links (kind, run_id, from_lot_id, to_lot_id, occurred_at, input_movement_id, output_movement_id)
         select 'run', $1, case when $4 then $2 else o.lot_id end, case when $4 then o.lot_id else $2 end, now(),
                case when $4 then $3 else o.id end, case when $4 then o.id else $3 end
           from stock_movements o
          where o.run_id = $1 and o.kind = $5
            and not exists (select 1 from stock_movements x where x.reverses_id = o.id)",
    )
    .bind(run)
    .bind(lot)
    .bind(movement)
    .bind(input)
    .bind(if input { MovementKind::Produce } else { MovementKind::Consume })
    .execute(&mut *tx)
    .await?
    .rows_affected())
}

/// Links one lot to another outside a run (a split or a repack), by the two movements that moved
/// the quantity.
pub async fn link(
    tx: &mut PgConnection,
    kind: LinkKind,
    from: (Uuid, i64),
    to: (Uuid, i64),
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into genealogy_links (kind, from_lot_id, to_lot_id, occurred_at, input_movement_id, output_movement_id)
         values ($1, $2, $3, now(), $4, $5)",
    )
    .bind(kind.as_str())
    .bind(from.0)
    .bind(to.0)
    .bind(from.1)
    .bind(to.1)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Marks the links a reversed movement made as reversed: traces stop following them, and show
/// them as reversed. Returns how many it marked.
pub async fn reverse_links(tx: &mut PgConnection, original: i64, reversal: i64) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "update genealogy_links set reversed_at = now(), reversal_movement_id = $2
          where (input_movement_id = $1 or output_movement_id = $1) and reversed_at is null",
    )
    .bind(original)
    .bind(reversal)
    .execute(&mut *tx)
    .await?
    .rows_affected())
}

/// The ledger of lots `$1` (an array) summed by the kind each movement counts as (a reversal as
/// the kind it reverses) and direction: the rows [`MassBalance::add`] folds.
pub const BALANCE_ROWS: &str =
    "select s.lot_id, coalesce(r.kind, s.kind) as kind, coalesce(r.quantity, s.quantity) > 0 as inflow,
        sum(s.quantity) as quantity
   from stock_movements s left join stock_movements r on r.id = s.reverses_id
  where s.lot_id = any($1)
  group by 1, 2, 3";

/// The mass balance of each of `lots` (a lot with no movement has none).
pub async fn balances(conn: &mut PgConnection, lots: &[Uuid]) -> Result<HashMap<Uuid, MassBalance>, sqlx::Error> {
    let rows: Vec<(Uuid, MovementKind, bool, Decimal)> =
        sqlx::query_as(BALANCE_ROWS).bind(lots).fetch_all(&mut *conn).await?;
    let on_hand: Vec<(Uuid, Decimal)> =
        sqlx::query_as("select lot_id, sum(quantity) from on_hand where lot_id = any($1) group by lot_id")
            .bind(lots)
            .fetch_all(&mut *conn)
            .await?;
    let mut balances: HashMap<Uuid, MassBalance> = HashMap::new();
    for (lot, kind, inflow, quantity) in rows {
        balances.entry(lot).or_default().add(kind, inflow, quantity);
    }
    for (lot, q) in on_hand {
        balances.entry(lot).or_default().on_hand = q;
    }
    Ok(balances.into_iter().map(|(lot, b)| (lot, b.normalized())).collect())
}
