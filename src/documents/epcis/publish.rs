//! Publishing: each receipt, shipment, run posting and repack becomes an EPCIS event once, stored with
//! its GS1 event hash; a reversal of what a published event recorded publishes a retraction
//! (the same eventID with an `errorDeclaration`) and, when part of it stands, a corrective event.
//! Publications are serialised (one advisory lock), so their numbers are in commit order and a
//! subscription's cursor never skips one.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use super::Built;

/// How far back publishing looks for postings made in transactions still open when it last ran.
const MARGIN_MINUTES: i32 = 10;
/// Postings taken per round, so a first publication of a large plant never holds one huge
/// transaction.
const ROUND: i64 = 2000;

/// Publishes every posting not yet published, and retracts what reversals undid; the number of
/// events and retractions published.
pub async fn publish(pool: &PgPool, base: &str) -> Result<usize, sqlx::Error> {
    let mut total = 0;
    loop {
        let (published, more) = round(pool, base).await?;
        total += published;
        if !more {
            return Ok(total);
        }
    }
}

/// What a stale event was.
#[derive(sqlx::FromRow)]
struct Stale {
    seq: i64,
    event_key: String,
    event_id: String,
    event_time: DateTime<Utc>,
    movements: Vec<i64>,
    lots: Vec<Uuid>,
    run_id: Option<Uuid>,
    event: Value,
}

/// The postings recorded since the watermark (all, the first time), as event keys: those with no
/// standing event, and those whose standing event does not record them (a line added since).
const CANDIDATES: &str = "
with c as (
    select case m.kind when 'receipt' then 'receipt:' || m.receipt_id
                       when 'ship' then 'shipment:' || m.shipment_id
                       when 'split' then 'repack:' || m.posting_id
                       else 'movement:' || m.id end as event_key, m.id
      from stock_movements m
     where m.kind in ('receipt', 'ship', 'consume', 'produce', 'split')
       and ($1::timestamptz is null or m.recorded_at >= $1)
       and (m.kind <> 'split' or exists (select 1 from genealogy_links g
                                          where g.kind = 'repack' and m.id in (g.input_movement_id, g.output_movement_id)))
       and not exists (select 1 from stock_movements v where v.reverses_id = m.id))
select c.event_key, bool_or(e.seq is not null) as standing
  from c left join epcis_events e on e.event_key = c.event_key and not e.retraction and e.retracted_at is null
 where e.seq is null or not (c.id = any(e.movements))
 group by c.event_key
 order by c.event_key
 limit $2";

async fn round(pool: &PgPool, base: &str) -> Result<(usize, bool), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("select pg_advisory_xact_lock(hashtext('lotline epcis publication'))").execute(&mut *tx).await?;
    let (watermark, started): (Option<DateTime<Utc>>, DateTime<Utc>) =
        sqlx::query_as("select watermark, now() from epcis_publication").fetch_one(&mut *tx).await?;
    let candidates: Vec<(String, bool)> =
        sqlx::query_as(CANDIDATES).bind(watermark).bind(ROUND).fetch_all(&mut *tx).await?;
    let more = candidates.len() as i64 == ROUND;
    // Standing events a reversal since undid in part or whole, and those a new line outgrew.
    let outgrown: Vec<&str> = candidates.iter().filter(|(_, standing)| *standing).map(|(k, _)| k.as_str()).collect();
    let stale: Vec<Stale> = sqlx::query_as(
        "select seq, event_key, event_id, event_time, movements, lots, run_id, event from epcis_events e
          where not e.retraction and e.retracted_at is null
            and (e.event_key = any($2)
                 or e.movements && array(select v.reverses_id from stock_movements v
                                          where v.kind = 'reversal' and ($1::timestamptz is null or v.recorded_at >= $1)))
          order by seq",
    )
    .bind(watermark)
    .bind(&outgrown)
    .fetch_all(&mut *tx)
    .await?;
    let mut keys: Vec<String> = candidates.into_iter().map(|(k, _)| k).collect();
    keys.extend(stale.iter().map(|s| s.event_key.clone()));
    keys.sort();
    keys.dedup();
    let (mut receipts, mut movements, mut shipments, mut repacks) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for key in &keys {
        match key.split_once(':') {
            Some(("receipt", id)) => receipts.extend(id.parse::<Uuid>().ok()),
            Some(("shipment", id)) => shipments.extend(id.parse::<Uuid>().ok()),
            Some(("movement", id)) => movements.extend(id.parse::<i64>().ok()),
            Some(("repack", id)) => repacks.extend(id.parse::<Uuid>().ok()),
            _ => {}
        }
    }
    let rows = super::rows(&mut tx, &receipts, &movements, &shipments, &repacks).await?;
    let built = super::build(&rows, base);
    let corrective: HashMap<&str, &str> = built.iter().map(|b| (b.key.as_str(), b.event_id.as_str())).collect();
    let mut published = 0;
    for s in &stale {
        sqlx::query("update epcis_events set retracted_at = now() where seq = $1")
            .bind(s.seq)
            .execute(&mut *tx)
            .await?;
        // The same event, declared in error: wholly undone it did not occur; partly, its data
        // were wrong and the corrective event says what stands.
        let mut retraction = s.event.clone();
        let mut declaration = json!({
            "declarationTime": started.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "reason": "did_not_occur",
        });
        if let Some(id) = corrective.get(s.event_key.as_str()) {
            declaration["reason"] = json!("incorrect_data");
            declaration["correctiveEventIDs"] = json!([id]);
        }
        retraction["errorDeclaration"] = declaration;
        let s = Built {
            key: s.event_key.clone(),
            event_id: s.event_id.clone(),
            time: s.event_time,
            movements: s.movements.clone(),
            lots: s.lots.clone(),
            run: s.run_id,
            event: retraction,
        };
        insert(&mut tx, &s, true).await?;
        published += 1;
    }
    for b in &built {
        insert(&mut tx, b, false).await?;
        published += 1;
    }
    if !more {
        sqlx::query("update epcis_publication set watermark = $1 - make_interval(mins => $2)")
            .bind(started)
            .bind(MARGIN_MINUTES)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok((published, more))
}

async fn insert(tx: &mut sqlx::PgConnection, b: &Built, retraction: bool) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into epcis_events (event_key, event_id, event_time, movements, lots, run_id, event, retraction)
         values ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&b.key)
    .bind(&b.event_id)
    .bind(b.time)
    .bind(&b.movements)
    .bind(&b.lots)
    .bind(b.run)
    .bind(&b.event)
    .bind(retraction)
    .execute(tx)
    .await?;
    Ok(())
}
