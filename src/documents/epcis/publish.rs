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

/// How long an id publication passed without seeing stays worth looking at again: a transaction
/// open longer than this is not waited for.
const GAP_MINUTES: i32 = 30;
/// Movements read per round, so a first publication of a large plant never holds one huge
/// transaction.
const ROUND: i64 = 2000;
/// A run of missing ids longer than this is a jump of the sequence, not transactions in flight.
const GAP_RUN_MAX: i64 = 1000;

/// Publishes every posting not yet published, and retracts what reversals undid; the number of
/// events and retractions published. The ledger is read in order of movement id from where the
/// last publication stopped, so nothing already read is read again.
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

/// One window of the ledger: the movements after the last one read, and those passed unseen,
/// in id order, with the event each belongs to (none for movements that make no event).
const WINDOW: &str = "
select m.id, m.reverses_id,
       case when m.kind = 'receipt' then 'receipt:' || m.receipt_id
            when m.kind = 'ship' then 'shipment:' || m.shipment_id
            when m.kind in ('consume', 'produce') then 'movement:' || m.id
            when m.kind = 'split' and exists (select 1 from genealogy_links g
                   where g.kind = 'repack' and m.id in (g.input_movement_id, g.output_movement_id))
                 then 'repack:' || m.posting_id
       end as event_key,
       exists (select 1 from stock_movements v where v.reverses_id = m.id) as reversed
  from stock_movements m
 where m.id > $1 or m.id = any($2)
 order by m.id
 limit $3";

/// Publishes one window; the number published, and whether more follow.
async fn round(pool: &PgPool, base: &str) -> Result<(usize, bool), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("select pg_advisory_xact_lock(hashtext('lotline epcis publication'))").execute(&mut *tx).await?;
    let started: DateTime<Utc> = sqlx::query_scalar("select now()").fetch_one(&mut *tx).await?;
    let last_id: i64 = sqlx::query_scalar("select last_id from epcis_publication").fetch_one(&mut *tx).await?;
    sqlx::query("delete from epcis_publication_gaps where seen_at < now() - make_interval(mins => $1)")
        .bind(GAP_MINUTES)
        .execute(&mut *tx)
        .await?;
    let gaps: Vec<i64> = sqlx::query_scalar("select id from epcis_publication_gaps").fetch_all(&mut *tx).await?;
    let window: Vec<(i64, Option<i64>, Option<String>, bool)> =
        sqlx::query_as(WINDOW).bind(last_id).bind(&gaps).bind(ROUND).fetch_all(&mut *tx).await?;
    let more = window.len() as i64 == ROUND;
    // Where the reading stands now: the ids passed unseen are looked at again next time.
    let seen: Vec<i64> = window.iter().map(|w| w.0).collect();
    let mut missing = Vec::new();
    let mut previous = last_id;
    for &id in seen.iter().filter(|id| **id > last_id) {
        if id - previous > 1 && id - previous <= GAP_RUN_MAX {
            missing.extend(previous + 1..id);
        }
        previous = id;
    }
    sqlx::query("delete from epcis_publication_gaps where id = any($1)").bind(&seen).execute(&mut *tx).await?;
    sqlx::query("insert into epcis_publication_gaps (id) select unnest($1::bigint[]) on conflict do nothing")
        .bind(&missing)
        .execute(&mut *tx)
        .await?;
    sqlx::query("update epcis_publication set last_id = greatest(last_id, $1)")
        .bind(previous)
        .execute(&mut *tx)
        .await?;
    let undone: Vec<i64> = window.iter().filter_map(|w| w.1).collect();
    let standing: Vec<(i64, &str)> =
        window.iter().filter(|w| !w.3).filter_map(|w| Some((w.0, w.2.as_deref()?))).collect();
    let keys_in_window: Vec<&str> = standing.iter().map(|(_, k)| *k).collect();
    // The standing events of these keys, and those a reversal in the window undid.
    let current: Vec<Stale> = sqlx::query_as(
        "select seq, event_key, event_id, event_time, movements, lots, run_id, event from epcis_events e
          where not e.retraction and e.retracted_at is null and (e.event_key = any($1) or e.movements && $2)
          order by seq",
    )
    .bind(&keys_in_window)
    .bind(&undone)
    .fetch_all(&mut *tx)
    .await?;
    // Stale: a movement of it was reversed, or it lacks a standing movement of its key (a line
    // added since it was published).
    let stale: Vec<Stale> = current
        .into_iter()
        .filter(|e| {
            e.movements.iter().any(|m| undone.contains(m))
                || standing.iter().any(|(id, key)| *key == e.event_key && !e.movements.contains(id))
        })
        .collect();
    let published_keys: std::collections::HashSet<String> = sqlx::query_scalar(
        "select event_key from epcis_events where event_key = any($1) and not retraction and retracted_at is null",
    )
    .bind(&keys_in_window)
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .collect();
    let candidates: Vec<String> =
        keys_in_window.iter().filter(|k| !published_keys.contains(**k)).map(|k| k.to_string()).collect();
    let mut keys: Vec<String> = candidates;
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
    tx.commit().await?;
    Ok((published, more))
}

/// The EPC classes an event names, in any of its quantity lists.
fn classes(event: &Value) -> Vec<String> {
    let mut classes: Vec<String> = ["quantityList", "inputQuantityList", "outputQuantityList"]
        .iter()
        .filter_map(|list| event[*list].as_array())
        .flatten()
        .filter_map(|q| q["epcClass"].as_str().map(str::to_string))
        .collect();
    classes.sort();
    classes.dedup();
    classes
}

async fn insert(tx: &mut sqlx::PgConnection, b: &Built, retraction: bool) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into epcis_events (event_key, event_id, event_time, movements, lots, run_id, event, retraction, epc_classes)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&b.key)
    .bind(&b.event_id)
    .bind(b.time)
    .bind(&b.movements)
    .bind(&b.lots)
    .bind(b.run)
    .bind(&b.event)
    .bind(retraction)
    .bind(classes(&b.event))
    .execute(tx)
    .await?;
    Ok(())
}
