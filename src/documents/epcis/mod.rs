//! EPCIS 2.0 (JSON-LD) export: receipts and shipments as ObjectEvents, production runs as
//! TransformationEvents with their input and output quantity lists, for a set of lots (a trace)
//! or a date range. Lots are class-level identifiers: an LGTIN URN where the material has a GTIN
//! with a known company-prefix length, else a GS1 Digital Link; without a GTIN, a URI under
//! lotline's public address. Sites and parties with a GLN are GS1 Digital Links (414 / 417).
//!
//! Events are published once (`publish`) and read as published (`query`): what a partner has
//! seen never changes; a reversal publishes a retraction. `import` takes a supplier's events in,
//! `subscriptions` sends ours out as they are published.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::text::percent_encode as encode;
use crate::error::Error;

pub const CONTEXT: &str = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld";

/// Which events: those touching given lots, or those within dates (inclusive, UTC).
pub enum Selection<'a> {
    Lots(&'a [Uuid]),
    Dates(chrono::NaiveDate, chrono::NaiveDate),
}

/// One row per lot movement that makes an event: receipt lines, run postings, shipment lines.
#[derive(sqlx::FromRow)]
pub(crate) struct Row {
    event: String,
    movement_id: i64,
    lot_id: Uuid,
    document_id: Uuid,
    /// What makes one event: a receipt, a shipment, or one posting of a run (a movement).
    event_key: String,
    document: String,
    at: DateTime<Utc>,
    offset_minutes: i32,
    quantity: Decimal,
    unece: String,
    lot: String,
    tlc: String,
    material: String,
    gtin: Option<String>,
    prefix_length: Option<i16>,
    expires_on: Option<chrono::NaiveDate>,
    date_kind: crate::domain::vocab::DateKind,
    site_code: String,
    site_gln: Option<String>,
    party_code: Option<String>,
    party_gln: Option<String>,
    order_ref: String,
    other_ref: String,
    direction: String,
    /// A shipment's pallets: SSCC and company-prefix length, `sscc:length`.
    pallets: Option<Vec<String>>,
}

const ROWS_TEMPLATE: &str = "
with rows as (
    select 'receiving' as event, 'receipt:' || r.id as event_key, rl.movement_id, r.id as document_id, r.number as document,
           r.received_at as at, rl.lot_id, rl.quantity, r.site_id, r.supplier_id as party_id, r.order_ref,
           coalesce(nullif(r.asn_ref, ''), r.delivery_ref) as other_ref, '' as direction, null::text[] as pallets
      from receipt_lines rl join receipts r on r.id = rl.receipt_id
     where r.id = any($1) and not exists (select 1 from stock_movements v where v.reverses_id = rl.movement_id)
    union all
    select 'transformation', 'movement:' || m.id, m.id, pr.id, pr.number, m.occurred_at, m.lot_id, abs(m.quantity), pr.site_id,
           null, pr.order_ref, '', case when m.kind = 'consume' then 'in' else 'out' end, null
      from stock_movements m join production_runs pr on pr.id = m.run_id
     where m.id = any($2) and m.kind in ('consume', 'produce')
       and not exists (select 1 from stock_movements v where v.reverses_id = m.id)
    union all
    -- A repack into another material (relabelling under our own GTIN) is a transformation: the
    -- source lot in, the new lot with its own code out.
    select 'repackaging', 'repack:' || m.posting_id, m.id, m.posting_id, m.posting_id::text, m.occurred_at, m.lot_id,
           abs(m.quantity), lx.site_id, null, '', '', case when m.quantity < 0 then 'in' else 'out' end, null
      from stock_movements m join lots lx on lx.id = m.lot_id
     where m.posting_id = any($4) and m.kind = 'split'
       and exists (select 1 from genealogy_links g where g.kind = 'repack' and m.id in (g.input_movement_id, g.output_movement_id))
       and not exists (select 1 from stock_movements v where v.reverses_id = m.id)
    union all
    select 'shipping', 'shipment:' || h.id, sl.movement_id, h.id, h.number, h.shipped_at, sl.lot_id, sl.quantity, h.site_id,
           h.customer_id, h.order_ref, h.bol_ref, '',
           (select array_agg(p.sscc || ':' || length(p.company_prefix) order by p.pallet_no)
              from shipment_pallets p where p.shipment_id = h.id)
      from shipment_lines sl join shipments h on h.id = sl.shipment_id
     where h.id = any($3) and not exists (select 1 from stock_movements v where v.reverses_id = sl.movement_id))
select x.event, x.event_key, x.movement_id, x.lot_id, x.document_id, x.document, x.at,
       (extract(epoch from (x.at at time zone s.time_zone) - (x.at at time zone 'UTC')) / 60)::int as offset_minutes,
       x.quantity, u.unece, l.code as lot, l.tlc, m.code as material,
       g.gtin, g.company_prefix_length as prefix_length, l.expires_on, m.date_kind,
       s.code as site_code, s.gln as site_gln, p.code as party_code, p.gln as party_gln,
       x.order_ref, x.other_ref, x.direction, x.pallets
  from rows x join lots l on l.id = x.lot_id join materials m on m.id = l.material_id
  join units u on u.code = m.uom join sites s on s.id = x.site_id left join parties p on p.id = x.party_id
  {GTIN}
 order by x.at, x.document, x.direction, l.code";

/// The lot's class identifier: under a GTIN, the lot as partners know it (a received lot by its
/// supplier's lot, `lotcode::outward`); without one, our own URI for our own code.
fn lot_class(r: &Row, base: &str) -> String {
    let lot = crate::domain::lotcode::outward(&r.tlc, &r.lot);
    match (&r.gtin, r.prefix_length) {
        (Some(gtin), Some(cpl)) if gtin.len() == 14 && (6..=12).contains(&cpl) => {
            let cpl = cpl as usize;
            // GTIN-14: indicator, company prefix, item reference, check digit.
            let (indicator, prefix, item) = (&gtin[..1], &gtin[1..1 + cpl], &gtin[1 + cpl..13]);
            format!("urn:epc:class:lgtin:{prefix}.{indicator}{item}.{}", encode(lot))
        }
        (Some(gtin), _) => format!("https://id.gs1.org/01/{gtin}/10/{}", encode(lot)),
        (None, _) => format!("{base}/id/lot/{}/{}", encode(&r.material), encode(&r.lot)),
    }
}

fn site_id(r: &Row, base: &str) -> String {
    match &r.site_gln {
        Some(gln) => format!("https://id.gs1.org/414/{gln}"),
        None => format!("{base}/id/site/{}", encode(&r.site_code)),
    }
}

/// The plant as a party: its site's GLN as a party GLN (417), else its URI.
fn our_party(r: &Row, base: &str) -> String {
    match &r.site_gln {
        Some(gln) => format!("https://id.gs1.org/417/{gln}"),
        None => format!("{base}/id/site/{}", encode(&r.site_code)),
    }
}

fn party_id(r: &Row, base: &str) -> Option<String> {
    match (&r.party_gln, &r.party_code) {
        (Some(gln), _) => Some(format!("https://id.gs1.org/417/{gln}")),
        (None, Some(code)) => Some(format!("{base}/id/party/{}", encode(code))),
        _ => None,
    }
}

fn offset(minutes: i32) -> String {
    let sign = if minutes < 0 { '-' } else { '+' };
    let m = minutes.abs();
    format!("{sign}{:02}:{:02}", m / 60, m % 60)
}

fn quantity(r: &Row, base: &str) -> Value {
    json!({ "epcClass": lot_class(r, base), "quantity": r.quantity.to_f64().unwrap_or_default(), "uom": r.unece })
}

/// Lot master data, per class, for the events that first bring a lot in.
fn ilmd(rows: &[&Row]) -> Option<Value> {
    let r = rows.first()?;
    let mut m = serde_json::Map::new();
    m.insert("cbvmda:lotNumber".into(), json!(crate::domain::lotcode::outward(&r.tlc, &r.lot)));
    if let Some(e) = r.expires_on {
        m.insert(r.date_kind.ilmd().into(), json!(e.to_string()));
    }
    Some(Value::Object(m))
}

/// What a publication reads: the standing lines of the given receipts, run postings and shipments.
pub(crate) async fn rows(
    conn: &mut sqlx::PgConnection,
    receipts: &[Uuid],
    movements: &[i64],
    shipments: &[Uuid],
    repacks: &[Uuid],
) -> Result<Vec<Row>, sqlx::Error> {
    let sql = ROWS_TEMPLATE.replace("{GTIN}", crate::domain::lotcode::GTIN_LATERAL);
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(receipts)
        .bind(movements)
        .bind(shipments)
        .bind(repacks)
        .fetch_all(conn)
        .await
}

/// One event as it is published: its content and what it records.
pub(crate) struct Built {
    pub key: String,
    pub event_id: String,
    pub time: DateTime<Utc>,
    pub movements: Vec<i64>,
    pub lots: Vec<Uuid>,
    pub run: Option<Uuid>,
    pub event: Value,
}

/// The events of `rows`: one per receipt, per shipment and per posting of a run, in time order.
pub(crate) fn build(rows: &[Row], base: &str) -> Vec<Built> {
    let mut by_event: BTreeMap<(DateTime<Utc>, String, String), Vec<&Row>> = BTreeMap::new();
    for r in rows {
        by_event.entry((r.at, r.event.clone(), r.event_key.clone())).or_default().push(r);
    }
    let mut events = Vec::new();
    for ((at, event, key), rows) in by_event {
        let first = rows[0];
        let mut e = serde_json::Map::new();
        e.insert("eventTime".into(), json!(at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)));
        e.insert("eventTimeZoneOffset".into(), json!(offset(first.offset_minutes)));
        e.insert("readPoint".into(), json!({ "id": site_id(first, base) }));
        e.insert("bizLocation".into(), json!({ "id": site_id(first, base) }));
        let mut transactions = Vec::new();
        match event.as_str() {
            "transformation" | "repackaging" => {
                let repack = event == "repackaging";
                e.insert("type".into(), json!("TransformationEvent"));
                let run = if repack {
                    format!("{base}/id/repack/{}", encode(&first.document))
                } else {
                    format!("{base}/id/run/{}", encode(&first.document))
                };
                let inputs: Vec<Value> =
                    rows.iter().filter(|r| r.direction == "in").map(|r| quantity(r, base)).collect();
                let outputs: Vec<&Row> = rows.iter().filter(|r| r.direction == "out").copied().collect();
                if !inputs.is_empty() {
                    e.insert("inputQuantityList".into(), json!(inputs));
                }
                if !outputs.is_empty() {
                    e.insert(
                        "outputQuantityList".into(),
                        json!(outputs.iter().map(|r| quantity(r, base)).collect::<Vec<_>>()),
                    );
                    if let Some(ilmd) = ilmd(&outputs) {
                        e.insert("ilmd".into(), ilmd);
                    }
                }
                e.insert("transformationID".into(), json!(run));
                e.insert("bizStep".into(), json!(if repack { "repackaging" } else { "commissioning" }));
                e.insert("disposition".into(), json!("in_progress"));
                if !repack {
                    transactions.push(json!({ "type": "prodorder", "bizTransaction": run }));
                }
                // The plant's own production order, when the run names one.
                if !first.order_ref.is_empty() {
                    transactions.push(json!({
                        "type": "prodorder",
                        "bizTransaction": format!("{base}/id/prodorder/{}", encode(&first.order_ref)),
                    }));
                }
            }
            kind => {
                let receiving = kind == "receiving";
                e.insert("type".into(), json!("ObjectEvent"));
                e.insert("action".into(), json!("OBSERVE"));
                // The pallets it left on, by SSCC, beside what they held.
                let pallets: Vec<String> = first
                    .pallets
                    .iter()
                    .flatten()
                    .filter_map(|p| p.split_once(':'))
                    .filter_map(|(sscc, len)| crate::domain::gs1::sscc_urn(sscc, len.parse().ok()?))
                    .collect();
                if !pallets.is_empty() {
                    e.insert("epcList".into(), json!(pallets));
                }
                e.insert("quantityList".into(), json!(rows.iter().map(|r| quantity(r, base)).collect::<Vec<_>>()));
                e.insert("bizStep".into(), json!(if receiving { "receiving" } else { "shipping" }));
                // Received goods are in the plant's hands, not yet in use: in progress (CBV).
                e.insert("disposition".into(), json!(if receiving { "in_progress" } else { "in_transit" }));
                // Parties by party GLN (417) — the plant as a party is known by its site's GLN — and
                // the plant's own place, as a location (414), beside them.
                let us = our_party(first, base);
                let place = first
                    .site_gln
                    .as_ref()
                    .map(|gln| json!({ "type": "location", "id": format!("https://id.gs1.org/414/{gln}") }));
                if let Some(party) = party_id(first, base) {
                    let (from, to) = if receiving { (party, us) } else { (us, party) };
                    let mut sources = vec![json!({ "type": "owning_party", "source": from })];
                    let mut destinations = vec![json!({ "type": "owning_party", "destination": to })];
                    if let Some(place) = place {
                        let list = if receiving { &mut destinations } else { &mut sources };
                        let key = if receiving { "destination" } else { "source" };
                        list.push(json!({ "type": "location", key: place["id"] }));
                    }
                    e.insert("sourceList".into(), json!(sources));
                    e.insert("destinationList".into(), json!(destinations));
                }
                if !first.other_ref.is_empty() {
                    let (kind, id) = if receiving { ("desadv", "desadv") } else { ("bol", "bol") };
                    transactions.push(json!({
                        "type": kind,
                        "bizTransaction": format!("{base}/id/{id}/{}", encode(&first.other_ref)),
                    }));
                }
                let document = if receiving { "receipt" } else { "shipment" };
                transactions.push(json!({
                    "type": if receiving { "recadv" } else { "desadv" },
                    "bizTransaction": format!("{base}/id/{document}/{}", encode(&first.document)),
                }));
                if !first.order_ref.is_empty() {
                    transactions.push(json!({
                        "type": "po",
                        "bizTransaction": format!("{base}/id/po/{}", encode(&first.order_ref)),
                    }));
                }
            }
        }
        if !transactions.is_empty() {
            e.insert("bizTransactionList".into(), json!(transactions));
        }
        let mut event = Value::Object(e);
        // GS1's event hash, of the content as it is published.
        let event_id = super::event_hash::event_id(&event);
        event["eventID"] = json!(event_id);
        let mut lots: Vec<Uuid> = rows.iter().map(|r| r.lot_id).collect();
        lots.sort();
        lots.dedup();
        events.push(Built {
            key,
            event_id,
            time: at,
            movements: rows.iter().map(|r| r.movement_id).collect(),
            lots,
            run: (first.event == "transformation").then_some(first.document_id),
            event,
        });
    }
    events
}

/// The EPCIS document of the selected events, as published (publishing what is new first): a
/// trace's lots or a date range; retracted events are left out.
pub async fn document(pool: &PgPool, selection: Selection<'_>, base: &str) -> Result<Value, Error> {
    publish::publish(pool, base).await?;
    let mut filter = query::Filter { standing_only: true, ..Default::default() };
    match selection {
        Selection::Lots(ids) => filter.lots = Some(ids.to_vec()),
        Selection::Dates(from, to) => {
            filter.ge_event_time = Some(from.and_time(chrono::NaiveTime::MIN).and_utc());
            filter.lt_event_time = (to + chrono::Days::new(1)).and_time(chrono::NaiveTime::MIN).and_utc().into();
        }
    }
    let events =
        query::select(pool, &filter, query::After::Start, i64::MAX).await?.into_iter().map(|p| p.event).collect();
    Ok(envelope("EPCISDocument", events))
}

/// An EPCISDocument (or an EPCISQueryDocument's frame) around `events`.
pub fn envelope(kind: &str, events: Vec<Value>) -> Value {
    json!({
        "@context": [CONTEXT],
        "type": kind,
        "schemaVersion": "2.0",
        "creationDate": Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "epcisBody": { "eventList": events },
    })
}

mod import;
pub mod publish;
pub mod query;
pub mod schema;
pub mod subscriptions;

pub use import::{ImportOptions, Imported, gtin_and_lot, import};
