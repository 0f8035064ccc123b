//! EPCIS 2.0 (JSON-LD) export: receipts and shipments as ObjectEvents, production runs as
//! TransformationEvents with their input and output quantity lists, for a set of lots (a trace)
//! or a date range. Lots are class-level identifiers: an LGTIN URN where the material has a GTIN
//! with a known company-prefix length, else a GS1 Digital Link; without a GTIN, a URI under
//! lotline's public address. Sites and parties with a GLN are GS1 Digital Links (414 / 417).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::text::{percent_decode, percent_encode as encode};
use crate::error::Error;

pub const CONTEXT: &str = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld";

/// Which events: those touching given lots, or those within dates (inclusive, UTC).
pub enum Selection<'a> {
    Lots(&'a [Uuid]),
    Dates(chrono::NaiveDate, chrono::NaiveDate),
}

/// One row per lot movement that makes an event: receipt lines, run postings, shipment lines.
#[derive(sqlx::FromRow)]
struct Row {
    event: String,
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
}

const ROWS_TEMPLATE: &str = "
with rows as (
    select 'receiving' as event, 'receipt:' || r.id as event_key, r.id as document_id, r.number as document, r.received_at as at, rl.lot_id,
           rl.quantity, r.site_id, r.supplier_id as party_id, r.order_ref, coalesce(nullif(r.asn_ref, ''), r.delivery_ref) as other_ref,
           '' as direction
      from receipt_lines rl join receipts r on r.id = rl.receipt_id
     where not exists (select 1 from stock_movements v where v.reverses_id = rl.movement_id)
    union all
    select 'transformation', 'movement:' || m.id, pr.id, pr.number, m.occurred_at, m.lot_id, abs(m.quantity), pr.site_id,
           null, pr.order_ref, '', case when m.kind = 'consume' then 'in' else 'out' end
      from stock_movements m join production_runs pr on pr.id = m.run_id
     where m.kind in ('consume', 'produce') and not exists (select 1 from stock_movements v where v.reverses_id = m.id)
    union all
    select 'shipping', 'shipment:' || h.id, h.id, h.number, h.shipped_at, sl.lot_id, sl.quantity, h.site_id, h.customer_id, h.order_ref, h.bol_ref, ''
      from shipment_lines sl join shipments h on h.id = sl.shipment_id
     where not exists (select 1 from stock_movements v where v.reverses_id = sl.movement_id))
select x.event, x.event_key, x.document_id, x.document, x.at,
       (extract(epoch from (x.at at time zone s.time_zone) - (x.at at time zone 'UTC')) / 60)::int as offset_minutes,
       x.quantity, u.unece, l.code as lot, l.tlc, m.code as material,
       g.gtin, g.company_prefix_length as prefix_length, l.expires_on, m.date_kind,
       s.code as site_code, s.gln as site_gln, p.code as party_code, p.gln as party_gln,
       x.order_ref, x.other_ref, x.direction
  from rows x join lots l on l.id = x.lot_id join materials m on m.id = l.material_id
  join units u on u.code = m.uom join sites s on s.id = x.site_id left join parties p on p.id = x.party_id
  {GTIN}
 where ($1::uuid[] is null or x.lot_id = any($1)
        -- a run is one event, whole: every input and output of a run that touched a selected lot
        or (x.event = 'transformation' and x.document_id in
            (select m.run_id from stock_movements m where m.lot_id = any($1) and m.run_id is not null)))
   and ($2::date is null or x.at >= $2::date) and ($3::date is null or x.at < $3::date + 1)
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

/// The EPCIS document of the selected events.
pub async fn document(pool: &PgPool, selection: Selection<'_>, base: &str) -> Result<Value, Error> {
    let (lots, from, to) = match selection {
        Selection::Lots(ids) => (Some(ids.to_vec()), None, None),
        Selection::Dates(from, to) => (None, Some(from), Some(to)),
    };
    let sql = ROWS_TEMPLATE.replace("{GTIN}", crate::domain::lotcode::GTIN_LATERAL);
    let rows: Vec<Row> =
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(lots).bind(from).bind(to).fetch_all(pool).await?;
    // One event per receipt, per shipment and per posting of a run, in time order: each one is
    // whole when it happens, so what a partner has seen never changes.
    let mut by_event: BTreeMap<(DateTime<Utc>, String, String), Vec<&Row>> = BTreeMap::new();
    for r in &rows {
        by_event.entry((r.at, r.event.clone(), r.event_key.clone())).or_default().push(r);
    }
    let mut events = Vec::new();
    for ((at, event, _), rows) in by_event {
        let first = rows[0];
        let mut e = serde_json::Map::new();
        e.insert("eventTime".into(), json!(at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)));
        e.insert("eventTimeZoneOffset".into(), json!(offset(first.offset_minutes)));
        e.insert("readPoint".into(), json!({ "id": site_id(first, base) }));
        e.insert("bizLocation".into(), json!({ "id": site_id(first, base) }));
        let mut transactions = Vec::new();
        match event.as_str() {
            "transformation" => {
                e.insert("type".into(), json!("TransformationEvent"));
                let run = format!("{base}/id/run/{}", encode(&first.document));
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
                e.insert("bizStep".into(), json!("commissioning"));
                e.insert("disposition".into(), json!("in_progress"));
                transactions.push(json!({ "type": "prodorder", "bizTransaction": run }));
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
                e.insert("quantityList".into(), json!(rows.iter().map(|r| quantity(r, base)).collect::<Vec<_>>()));
                e.insert("bizStep".into(), json!(if receiving { "receiving" } else { "shipping" }));
                // Received goods are in the plant's hands, not yet in use: in progress (CBV).
                e.insert("disposition".into(), json!(if receiving { "in_progress" } else { "in_transit" }));
                let here = site_id(first, base);
                if let Some(party) = party_id(first, base) {
                    let (from, to) = if receiving { (party, here) } else { (here, party) };
                    e.insert("sourceList".into(), json!([{ "type": "owning_party", "source": from }]));
                    e.insert("destinationList".into(), json!([{ "type": "owning_party", "destination": to }]));
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
        e.insert("bizTransactionList".into(), json!(transactions));
        let mut event = Value::Object(e);
        // GS1's event hash, of the content as it is, so the same event always has the same id.
        let id = super::event_hash::event_id(&event);
        event["eventID"] = json!(id);
        events.push(event);
    }
    Ok(json!({
        "@context": [CONTEXT],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "epcisBody": { "eventList": events },
    }))
}

// ------------------------------------------------------------------------------------------------
// Import: a supplier's shipping events become our receipts.
// ------------------------------------------------------------------------------------------------

/// Where imported goods go when the document does not say (sites and parties by code).
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::IntoParams)]
#[serde(default)]
#[into_params(parameter_in = Query)]
pub struct ImportOptions {
    /// Our site code, when the events' destination carries no GLN of ours.
    pub site: String,
    /// The location code to put the goods (default: the site's first receiving location).
    pub location: String,
    /// The supplier's code, when the events' source carries no GLN we know.
    pub supplier: String,
}

/// What every event must carry to be taken in: a time with its offset, the offset, and for an
/// ObjectEvent its action.
fn well_formed(ev: &Value) -> Result<(), String> {
    let time = ev["eventTime"].as_str().ok_or("it has no eventTime.")?;
    chrono::DateTime::parse_from_rfc3339(time)
        .map_err(|_| format!("its eventTime “{time}” is not a time with an offset (2026-11-26T08:00:00Z)."))?;
    let offset = ev["eventTimeZoneOffset"].as_str().ok_or("it has no eventTimeZoneOffset.")?;
    let b = offset.as_bytes();
    let shaped = b.len() == 6
        && matches!(b[0], b'+' | b'-')
        && b[1..3].iter().all(u8::is_ascii_digit)
        && b[3] == b':'
        && b[4..6].iter().all(u8::is_ascii_digit)
        && offset[1..3].parse::<u8>().is_ok_and(|h| h <= 14)
        && offset[4..6].parse::<u8>().is_ok_and(|m| m < 60);
    if !shaped {
        return Err(format!("its eventTimeZoneOffset “{offset}” is not an offset such as +01:00."));
    }
    if ev["type"] == "ObjectEvent" && !matches!(ev["action"].as_str(), Some("ADD" | "OBSERVE" | "DELETE")) {
        return Err("it has no action (ADD, OBSERVE or DELETE).".into());
    }
    Ok(())
}

/// The last word of a CBV value, bare or as a URI (`shipping`, `…/BizStep-shipping`, `urn:…:shipping`).
fn vocabulary(value: &Value) -> String {
    let v = value.as_str().unwrap_or_default();
    v.rsplit(['-', ':', '/']).next().unwrap_or(v).to_string()
}

/// GTIN and lot from a class-level identifier: an LGTIN URN or a GS1 Digital Link.
pub fn gtin_and_lot(epc_class: &str) -> Result<(String, String), String> {
    if let Some(rest) = epc_class.strip_prefix("urn:epc:class:lgtin:") {
        let mut parts = rest.splitn(3, '.');
        let (Some(prefix), Some(item), Some(lot)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(format!("{epc_class} is not an LGTIN (company prefix, item, lot)."));
        };
        if prefix.len() + item.len() != 13
            || !(prefix.chars().chain(item.chars())).all(|c| c.is_ascii_digit())
            || item.is_empty()
        {
            return Err(format!("{epc_class}: the company prefix and item reference must make 13 digits."));
        }
        let data = format!("{}{prefix}{}", &item[..1], &item[1..]);
        let digits: Vec<u32> = data.bytes().map(|b| u32::from(b - b'0')).collect();
        let gtin = format!("{data}{}", crate::domain::gs1::check_digit(&digits));
        let lot = percent_decode(lot).ok_or_else(|| format!("{epc_class}: the lot is not well encoded."))?;
        return Ok((gtin, lot));
    }
    match crate::domain::gs1::syntax::read(epc_class) {
        Ok(scan) => match (scan.get("01"), scan.get("10")) {
            (Some(g), Some(l)) => Ok((g.to_string(), l.to_string())),
            _ => Err(format!("{epc_class} names no GTIN and lot.")),
        },
        Err(m) => Err(format!("{epc_class}: {m}")),
    }
}

/// A GLN from a GS1 Digital Link with the given key (414 location, 417 party).
fn gln(uri: &str, key: &str) -> Option<String> {
    let at = uri.find(&format!("/{key}/"))?;
    let gln: String = uri[at + key.len() + 2..].chars().take_while(|c| c.is_ascii_digit()).collect();
    (gln.len() == 13).then_some(gln)
}

/// Receipts from the shipping ObjectEvents of `doc`: every event is checked first (nothing is
/// posted if one is wrong); each then posts as a receipt, idempotently (keyed by the event), so
/// importing the same document again creates nothing new.
pub async fn import_receipts(
    pool: &PgPool,
    actor: &crate::audit::Actor,
    doc: &Value,
    options: &ImportOptions,
) -> Result<Vec<crate::stock::receive::Received>, crate::save::SaveError> {
    use crate::save::{FieldErrors, SaveError, line_key};
    use crate::stock::receive::{LineInput, ReceiptInput};
    use sha2::{Digest, Sha256};
    let mut e = FieldErrors::default();
    if doc["type"] != "EPCISDocument" {
        e.add("document", "This is not an EPCIS document (its type is not EPCISDocument).");
        return Err(SaveError::Invalid(e));
    }
    let events = doc["epcisBody"]["eventList"].as_array().cloned().unwrap_or_default();
    // Every event must say when it happened, in which offset, and (an ObjectEvent) what it did;
    // problems are named by the event's place in the document.
    for (n, ev) in events.iter().enumerate() {
        if let Err(m) = well_formed(ev) {
            e.add(line_key(n), format!("Event {}: {m}", n + 1));
        }
    }
    if !e.is_empty() {
        return Err(SaveError::Invalid(e));
    }
    let shipping: Vec<(usize, &Value)> = events
        .iter()
        .enumerate()
        .filter(|(_, ev)| ev["type"] == "ObjectEvent" && vocabulary(&ev["bizStep"]) == "shipping")
        .collect();
    if shipping.is_empty() {
        e.add("document", "The document holds no shipping ObjectEvent to receive.");
        return Err(SaveError::Invalid(e));
    }
    let lookup = |sql: &'static str, key: String| async move {
        sqlx::query_scalar::<_, Uuid>(sql).bind(key).fetch_optional(pool).await
    };
    let mut receipts = Vec::new();
    for &(n, ev) in &shipping {
        let field = line_key(n);
        let problem = |m: String| format!("Event {}: {m}", n + 1);
        // The event's identity: its eventID, else GS1's hash of its content — the same event
        // written another way (a recordTime added, 24 written 24.0) is the same event.
        let event_id = ev["eventID"]
            .as_str()
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .map(str::to_string)
            .unwrap_or_else(|| super::event_hash::event_id(ev));
        let key = Sha256::digest(format!("epcis-receipt {event_id}").as_bytes());
        let key = Uuid::from_slice(&key[..16]).unwrap_or_default();
        // A retraction carries the id of the event it retracts: it is no delivery. What that
        // event brought in is corrected by a person, on the receipt's page.
        if ev.get("errorDeclaration").is_some() {
            let receipt: Option<String> = sqlx::query_scalar(
                "select r.number from idempotency_keys k join receipts r on r.id::text = k.result
                  where k.key = $1 and k.operation = 'receipt.create'",
            )
            .bind(key)
            .fetch_optional(pool)
            .await?;
            let m = match receipt {
                Some(number) => format!(
                    "it retracts event {event_id} (an errorDeclaration), which made receipt {number}: nothing is received; reverse that receipt's lines on its page."
                ),
                None => format!(
                    "it retracts event {event_id} (an errorDeclaration), which was never received here: nothing is received."
                ),
            };
            e.add(field, problem(m));
            continue;
        }
        let party = |list: &str, key: &str, value_key: &str| -> Vec<String> {
            ev[list]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|s| {
                    vocabulary(&s["type"]) == key
                        || (key == "owning_party" && vocabulary(&s["type"]) == "possessing_party")
                })
                .filter_map(|s| s[value_key].as_str().map(str::to_string))
                .collect()
        };
        // The supplier: a party GLN we know, a party URI of ours, or the option.
        let mut supplier = None;
        for uri in party("sourceList", "owning_party", "source") {
            if let Some(g) = gln(&uri, "417") {
                supplier = lookup("select id from parties where gln = $1 and is_supplier", g).await?;
            } else if let Some(code) = uri.rsplit_once("/id/party/").map(|(_, c)| c.to_string()) {
                supplier = lookup("select id from parties where code = $1 and is_supplier", code).await?;
            }
        }
        if supplier.is_none() && !options.supplier.trim().is_empty() {
            supplier =
                lookup("select id from parties where code = upper($1) and is_supplier", options.supplier.trim().into())
                    .await?;
        }
        let Some(supplier) = supplier else {
            e.add(field, problem("the supplier is not known here: give its GLN to the supplier's record, or name it (supplier=CODE).".into()));
            continue;
        };
        // Our site: a location GLN of ours in the destination, or the option.
        let mut site = None;
        for uri in party("destinationList", "owning_party", "destination").into_iter().chain(party(
            "destinationList",
            "location",
            "destination",
        )) {
            if let Some(g) = gln(&uri, "414") {
                site = site.or(lookup("select id from sites where gln = $1", g).await?);
            }
        }
        if site.is_none() && !options.site.trim().is_empty() {
            site = lookup("select id from sites where code = upper($1)", options.site.trim().into()).await?;
        }
        let Some(site) = site else {
            e.add(
                field,
                problem(
                    "the receiving site is not known: the destination carries no GLN of ours; name it (site=CODE)."
                        .into(),
                ),
            );
            continue;
        };
        let location: Option<Uuid> = sqlx::query_scalar(
            "select id from locations where site_id = $1 and active and ($2 = '' and kind = 'receiving' or code = upper($2))
              order by code limit 1",
        )
        .bind(site)
        .bind(options.location.trim())
        .fetch_optional(pool)
        .await
        ?;
        let Some(location) = location else {
            e.add(field, problem("the site has no such location (location=CODE), nor a receiving one.".into()));
            continue;
        };
        let expires_on = ev["ilmd"]["cbvmda:itemExpirationDate"]
            .as_str()
            .or(ev["ilmd"]["cbvmda:bestBeforeDate"].as_str())
            .and_then(|d| chrono::NaiveDate::parse_from_str(d.get(..10).unwrap_or(d), "%Y-%m-%d").ok());
        let mut lines = Vec::new();
        for (i, q) in ev["quantityList"].as_array().into_iter().flatten().enumerate() {
            let item = |m: String| problem(format!("item {}: {m}", i + 1));
            let (gtin, lot) = match gtin_and_lot(q["epcClass"].as_str().unwrap_or_default()) {
                Ok(v) => v,
                Err(m) => {
                    e.add(field.clone(), item(m));
                    break;
                }
            };
            if !crate::domain::lotcode::is_gs1_lot(&lot) {
                e.add(
                    field.clone(),
                    item(format!(
                        "“{lot}” is no GS1 lot number (1 to 20 letters, digits or GS1's punctuation, no spaces)."
                    )),
                );
                break;
            }
            let material: Option<(Uuid, String, String)> = sqlx::query_as(
                "select m.id, m.code, u.unece from material_gtins g join materials m on m.id = g.material_id
                   join units u on u.code = m.uom where g.gtin = $1",
            )
            .bind(&gtin)
            .fetch_optional(pool)
            .await?;
            let Some((material_id, code, unece)) = material else {
                e.add(field.clone(), item(format!("no material here has GTIN {gtin}.")));
                break;
            };
            let uom = q["uom"].as_str().unwrap_or("H87");
            if uom != unece {
                e.add(field.clone(), item(format!("{code} is kept in {unece}, the event counts in {uom}.")));
                break;
            }
            let quantity = match &q["quantity"] {
                Value::Number(n) => {
                    let t = n.to_string();
                    t.parse::<Decimal>().or_else(|_| Decimal::from_scientific(&t)).ok()
                }
                Value::String(t) => t.parse::<Decimal>().ok(),
                _ => None,
            }
            .filter(|d| d.normalize().scale() <= 6)
            .map(|d| d.normalize());
            let Some(quantity) = quantity.filter(|q| *q > Decimal::ZERO) else {
                e.add(field.clone(), item("the quantity must be a number greater than zero.".into()));
                break;
            };
            lines.push(LineInput {
                material_id,
                supplier_lot: Some(lot),
                quantity,
                location_id: location,
                expires_on,
                country_of_origin: None,
            });
        }
        if lines.is_empty() {
            if e.get(&field).is_none() {
                e.add(field, problem("it carries no quantityList to receive.".into()));
            }
            continue;
        }
        let reference = |kind: &str| -> String {
            ev["bizTransactionList"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|t| vocabulary(&t["type"]) == kind)
                .filter_map(|t| t["bizTransaction"].as_str())
                .map(|t| percent_decode(t.rsplit(['/', ':']).next().unwrap_or(t)).unwrap_or_default())
                .next()
                .unwrap_or_default()
                .chars()
                .take(100)
                .collect()
        };
        let asn = [reference("desadv"), reference("bol")].into_iter().find(|r| !r.is_empty()).unwrap_or_default();
        receipts.push((
            ReceiptInput {
                site_id: site,
                supplier_id: supplier,
                received_on: None,
                order_ref: reference("po"),
                asn_ref: asn,
                lines,
            },
            key,
        ));
    }
    if !e.is_empty() {
        return Err(SaveError::Invalid(e));
    }
    let mut done = Vec::new();
    for (input, key) in receipts {
        done.push(crate::stock::receive::receive(pool, actor, &input, key).await?);
    }
    Ok(done)
}
