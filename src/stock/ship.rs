//! Shipping: a shipment to a customer with its reference documents and lines (lot, quantity,
//! location), in one transaction; and the FEFO pick suggestion (first expiring, first out).

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use sqlx::PgPool;
use uuid::Uuid;

use crate::audit::{self, Actor, Entry};
use crate::domain::dates;
use crate::domain::status::usable;
use crate::domain::vocab::MovementKind;
use crate::error::Error;
use crate::ledger::{self, Document, Movement};
use crate::save::{FieldErrors, SaveError, claim_create, line_key};
use crate::stock::{LOT_FACTS, LotFacts};

/// Ships lots to a customer from a site, dated `shipped_on` at the site (default: now).
#[derive(Debug, Clone)]
pub struct Shipment {
    pub site: Uuid,
    pub customer: Uuid,
    pub shipped_on: Option<NaiveDate>,
    pub order_ref: String,
    pub bol_ref: String,
    pub asn_ref: String,
    pub lines: Vec<ShipLine>,
    /// Pallets it leaves on (0 to 99): each gets an SSCC when the site has a GS1 company prefix.
    pub pallets: u8,
    /// A second request with the same key answers the shipment the first made.
    pub key: Uuid,
}

/// One line of a shipment: a lot (its code, or its id as text) and a quantity, from `location`
/// (or the one place at the site that holds the lot).
#[derive(Debug, Clone)]
pub struct ShipLine {
    /// Its place on the document as entered, from 0: refusals name it (`line1`, "Line 1").
    pub row: usize,
    pub lot: String,
    pub quantity: Decimal,
    pub location: Option<Uuid>,
}

struct Line {
    lot_id: Uuid,
    lot_code: String,
    location_id: Uuid,
    quantity: Decimal,
}

/// A shipment made, and what the shipper must not miss (lots that were in a real recall's scope).
#[derive(Debug, Clone)]
pub struct Shipped {
    pub id: Uuid,
    pub warnings: Vec<String>,
}

/// Ships lots to a customer. Refuses lots that may not be shipped (with the reason, next to the
/// line) and more than is on hand; a form posted twice ships once.
pub async fn ship(pool: &PgPool, actor: &Actor, c: &Shipment) -> Result<Shipped, SaveError> {
    let mut e = FieldErrors::default();
    let mut warnings: Vec<String> = Vec::new();
    let (key, site, customer, shipped_on) = (c.key, c.site, c.customer, c.shipped_on);
    let (order_ref, bol_ref, asn_ref) = (&c.order_ref, &c.bol_ref, &c.asn_ref);
    if let Some(Err(m)) = shipped_on.map(|d| dates::in_range(d, "The shipping date")) {
        return Err(SaveError::field("shipped_on", m));
    }
    let head: Option<(String, DateTime<Utc>, NaiveDate, bool, String, bool)> = sqlx::query_as(
        "select s.code, t.at, (t.at at time zone s.time_zone)::date,
                coalesce((select active and is_customer from parties where id = $2), false),
                coalesce((select code from parties where id = $2), ''), coalesce($3::date > site_today(s.id), false)
           from sites s, lateral (select case when $3::date is null or $3::date = site_today(s.id) then now()
                                             else ($3::date + time '12:00') at time zone s.time_zone end as at) t
          where s.id = $1 and s.active",
    )
    .bind(site)
    .bind(customer)
    .bind(shipped_on)
    .fetch_optional(pool)
    .await?;
    let Some((site_code, shipped_at, ship_date, customer_ok, customer_code, future)) = head else {
        e.add("site_id", "Choose the shipping site.");
        return Err(e.into());
    };
    if future {
        e.add("shipped_on", "A shipment cannot be dated in the future (the site's date).");
    }
    if !customer_ok {
        e.add("customer_id", format!("{customer_code} is not an active customer."));
    }
    let mut lines = Vec::new();
    for l in &c.lines {
        let (i, quantity) = (l.row, l.quantity);
        let field = line_key(i);
        let found: Vec<LotFacts> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{} where {} or l.id::text = $1 limit 10",
            LOT_FACTS.as_str(),
            crate::domain::lotcode::named_sql(1)
        )))
        .bind(l.lot.trim())
        .fetch_all(pool)
        .await?;
        // A code two materials share is told apart by where it is picked from.
        let picked_here: Vec<Uuid> = match (found.len(), l.location) {
            (2.., Some(location)) => {
                let ids: Vec<Uuid> = found.iter().map(|f| f.id).collect();
                sqlx::query_scalar(
                    "select lot_id from on_hand where lot_id = any($1) and location_id = $2 and quantity > 0",
                )
                .bind(&ids)
                .bind(location)
                .fetch_all(pool)
                .await?
            }
            _ => Vec::new(),
        };
        let lot = match found.as_slice() {
            [] => {
                e.add(field, format!("Line {}: no lot has the code “{}”.", i + 1, l.lot.trim()));
                continue;
            }
            [lot] => lot,
            many if picked_here.len() == 1 => {
                many.iter().find(|f| f.id == picked_here[0]).expect("the lot picked is among those found")
            }
            many => {
                e.add(
                    field,
                    format!(
                        "Line {}: several materials have a lot “{}” ({}); use the pick suggestion to choose.",
                        i + 1,
                        l.lot.trim(),
                        many.iter().map(|m| m.material_code.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                );
                continue;
            }
        };
        if let Err(m) = usable(&lot.state(), ship_date) {
            e.add(field, format!("Line {}: {m}", i + 1));
            continue;
        }
        let location = match l.location {
            Some(id) => {
                let kind: Option<String> =
                    sqlx::query_scalar("select kind from locations where id = $1 and site_id = $2")
                        .bind(id)
                        .bind(site)
                        .fetch_optional(pool)
                        .await?;
                match kind.as_deref() {
                    None => {
                        e.add(field, format!("Line {}: choose a location of {site_code}.", i + 1));
                        None
                    }
                    Some("quarantine") => {
                        e.add(field, format!("Line {}: stock in a quarantine location cannot be shipped.", i + 1));
                        None
                    }
                    Some(_) => Some(id),
                }
            }
            None => {
                let holding: Vec<Uuid> = sqlx::query_scalar(
                    "select o.location_id from on_hand o join locations c on c.id = o.location_id
                      where o.lot_id = $1 and c.site_id = $2 and o.quantity > 0 and c.kind <> 'quarantine'",
                )
                .bind(lot.id)
                .bind(site)
                .fetch_all(pool)
                .await?;
                match holding.as_slice() {
                    [one] => Some(*one),
                    [] => {
                        e.add(field, format!("Line {}: lot {} has no stock at {site_code}.", i + 1, lot.code));
                        None
                    }
                    _ => {
                        e.add(
                            field,
                            format!("Line {}: lot {} is stocked at several locations; choose one.", i + 1, lot.code),
                        );
                        None
                    }
                }
            }
        };
        if let Some(location_id) = location {
            warnings.extend(lot.recall_warning().filter(|w| !warnings.contains(w)));
            lines.push((i, Line { lot_id: lot.id, lot_code: lot.code.clone(), location_id, quantity }));
        }
    }
    if lines.is_empty() && e.is_empty() {
        e.add("line1", "Add at least one line: the lot shipped and its quantity.");
    }
    if !e.is_empty() {
        return Err(e.into());
    }

    let id = Uuid::new_v4();
    let mut tx = pool.begin().await?;
    if let Some(earlier) =
        claim_create(&mut tx, &crate::save::Claim::new(key, "shipment.create", actor.id, c), id).await?
    {
        return Ok(Shipped { id: earlier, warnings: Vec::new() });
    }
    let number: String = sqlx::query_scalar(
        "insert into shipments (id, number, site_id, customer_id, shipped_at, order_ref, bol_ref, asn_ref, created_by)
         values ($1, 'SHP-' || lpad(nextval('shipment_number_seq')::text, 6, '0'), $2, $3, $4, $5, $6, $7, $8) returning number",
    )
    .bind(id)
    .bind(site)
    .bind(customer)
    .bind(shipped_at)
    .bind(order_ref)
    .bind(bol_ref)
    .bind(asn_ref)
    .bind(actor.id)
    .fetch_one(&mut *tx)
    .await
    ?;
    pallets(&mut tx, id, site, c.pallets).await?;
    for (n, (i, line)) in lines.iter().enumerate() {
        let ship = Movement::new(MovementKind::Ship, line.lot_id, line.location_id, -line.quantity, key)
            .at(shipped_at)
            .document(Document::Shipment(id));
        let movement = match ledger::post(&mut tx, actor, &ship).await {
            Ok(m) => m,
            Err(ledger::Refusal::Short(short)) => {
                return Err(SaveError::field(line_key(*i), format!("Line {}: {}", i + 1, short.message())));
            }
            Err(ledger::Refusal::Refused(m)) => {
                return Err(SaveError::field(line_key(*i), format!("Line {}: {m}", i + 1)));
            }
            Err(refusal) => return Err(refusal.at("lines")),
        };
        sqlx::query(
            "insert into shipment_lines (shipment_id, line_no, lot_id, quantity, location_id, movement_id) values ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id)
        .bind(n as i32 + 1)
        .bind(line.lot_id)
        .bind(line.quantity)
        .bind(line.location_id)
        .bind(movement)
        .execute(&mut *tx)
        .await
        ?;
    }
    let after = serde_json::json!({
        "number": number,
        "customer": customer_code,
        "shipped_at": shipped_at,
        "order_ref": order_ref,
        "bol_ref": bol_ref,
        "lines": lines.iter().map(|(_, l)| serde_json::json!({ "lot": l.lot_code, "quantity": l.quantity })).collect::<Vec<_>>(),
    });
    audit::record(&mut tx, actor, Entry::new("create", "shipment", id).after(&after)).await?;
    tx.commit().await?;
    Ok(Shipped { id, warnings })
}

/// One suggested pick.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Pick {
    pub lot_id: Uuid,
    pub lot_code: String,
    pub expires_on: Option<NaiveDate>,
    pub location_id: Uuid,
    pub location_code: String,
    pub available: Decimal,
    pub uom: String,
    #[sqlx(skip)]
    pub take: Decimal,
}

/// The stock of `material` at `site` that may be used or shipped today (`status::USABLE_SQL`),
/// outside quarantine locations, first expiring first (then oldest): what FEFO suggests, for a
/// shipment and for a run alike.
pub async fn pickable(pool: &PgPool, site: Uuid, material: Uuid, limit: i64) -> Result<Vec<Pick>, Error> {
    let sql = format!(
        "select l.id as lot_id, l.code as lot_code, l.expires_on, c.id as location_id, c.code as location_code,
                o.quantity as available, m.uom
           from on_hand o join lots l on l.id = o.lot_id join materials m on m.id = l.material_id join locations c on c.id = o.location_id
          where m.id = $2 and c.site_id = $1 and o.quantity > 0 and c.kind <> 'quarantine' and {usable}
          order by l.expires_on nulls last, l.made_on, l.code, c.code limit $3",
        usable = crate::domain::status::USABLE_SQL
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(site).bind(material).bind(limit).fetch_all(pool).await?)
}

/// First expiring, first out: the shippable lots of `material` at `site` that fill `quantity`,
/// earliest expiry first (then oldest). The last entry may fall short when stock runs out.
pub async fn fefo(pool: &PgPool, site: Uuid, material: Uuid, quantity: Decimal) -> Result<Vec<Pick>, Error> {
    let candidates = pickable(pool, site, material, 200).await?;
    let mut left = quantity;
    let mut picks = Vec::new();
    for mut c in candidates {
        if left <= Decimal::ZERO {
            break;
        }
        c.take = c.available.min(left);
        left -= c.take;
        picks.push(c);
    }
    Ok(picks)
}

/// Numbers the shipment's pallets with SSCCs under the site's GS1 company prefix (none without one).
async fn pallets(tx: &mut sqlx::PgConnection, shipment: Uuid, site: Uuid, count: u8) -> Result<(), SaveError> {
    if count > 99 {
        return Err(SaveError::field("pallets", "A shipment leaves on at most 99 pallets."));
    }
    let prefix: Option<String> =
        sqlx::query_scalar("select company_prefix from sites where id = $1").bind(site).fetch_one(&mut *tx).await?;
    let Some(prefix) = prefix else { return Ok(()) };
    for n in 1..=i32::from(count) {
        let serial: i64 = sqlx::query_scalar("select nextval('sscc_serial_seq')").fetch_one(&mut *tx).await?;
        let sscc = crate::domain::gs1::sscc(&prefix, serial as u64).ok_or_else(|| {
            SaveError::field(
                "pallets",
                format!("The SSCC numbers under company prefix {prefix} are used up; GS1 gives a longer-lived prefix."),
            )
        })?;
        sqlx::query(
            "insert into shipment_pallets (sscc, company_prefix, shipment_id, pallet_no) values ($1, $2, $3, $4)",
        )
        .bind(&sscc)
        .bind(&prefix)
        .bind(shipment)
        .bind(n)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}
