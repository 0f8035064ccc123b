//! A supplier's EPCIS 2.0 document received: checked against GS1's schema, then each shipping
//! ObjectEvent becomes a receipt, idempotently (keyed by the event's id), and each
//! errorDeclaration reverses what the event it retracts brought in.

use rust_decimal::Decimal;
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::text::percent_decode;

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

fn vocabulary(value: &Value) -> String {
    super::query::vocabulary(value.as_str().unwrap_or_default()).to_string()
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

/// What a document did: the receipts its shipping events made (or had made before), and the
/// receipts its retractions reversed.
#[derive(Debug, Default)]
pub struct Imported {
    pub received: Vec<crate::stock::receive::Received>,
    pub retracted: Vec<crate::stock::moves::Retracted>,
}

/// Receipts from the shipping ObjectEvents of `doc`: the document is checked first, whole —
/// each event's time, offset and action, then GS1's schema, then every event's parties and
/// items — and nothing is posted if one is wrong. Each shipping event then posts as a receipt,
/// idempotently (keyed by the event's id), so importing the same document again creates nothing
/// new; each `errorDeclaration` reverses the receipt the event it retracts made.
pub async fn import(
    pool: &PgPool,
    actor: &crate::audit::Actor,
    doc: &Value,
    options: &ImportOptions,
) -> Result<Imported, crate::save::SaveError> {
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
    // Then GS1's schema, whole: what it refuses is named by the event it is in.
    for problem in super::schema::problems(doc).into_iter().take(10) {
        let event = problem
            .split_once("(at /epcisBody/eventList/")
            .and_then(|(_, rest)| rest.split(['/', ')']).next())
            .and_then(|n| n.parse::<usize>().ok());
        match event {
            Some(n) => e.add(line_key(n), format!("Event {}: GS1's EPCIS schema refuses it: {problem}", n + 1)),
            None => e.add("document", format!("GS1's EPCIS schema refuses the document: {problem}")),
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
    let mut retractions = Vec::new();
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
            .unwrap_or_else(|| crate::documents::event_hash::event_id(ev));
        let key = Sha256::digest(format!("epcis-receipt {event_id}").as_bytes());
        let key = Uuid::from_slice(&key[..16]).unwrap_or_default();
        // A retraction carries the id of the event it retracts: it is no delivery, but a
        // correction of the receipt that event made, through the reversal rules.
        if let Some(declaration) = ev.get("errorDeclaration") {
            let receipt: Option<Uuid> = sqlx::query_scalar(
                "select r.id from idempotency_keys k join receipts r on r.id::text = k.result
                  where k.key = $1 and k.operation = 'receipt.create'",
            )
            .bind(key)
            .fetch_optional(pool)
            .await?;
            match receipt {
                Some(receipt) => {
                    let why = vocabulary(&declaration["reason"]);
                    let why = if why.is_empty() { "no reason given".to_string() } else { why };
                    let reason: String = format!("The supplier retracted event {event_id} ({why}), an EPCIS errorDeclaration.")
                        .chars()
                        .take(500)
                        .collect();
                    retractions.push((field, receipt, reason));
                }
                None => e.add(
                    field,
                    problem(format!(
                        "it retracts event {event_id} (an errorDeclaration), which was never received here: nothing is changed."
                    )),
                ),
            }
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
            // Our site, as a location (414) or as the party our site's GLN names (417).
            if let Some(g) = gln(&uri, "414").or_else(|| gln(&uri, "417")) {
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
    let mut done = Imported::default();
    for (field, receipt, reason) in retractions {
        let retracted =
            crate::stock::moves::retract_receipt(pool, actor, receipt, &reason).await.map_err(|e| match e {
                SaveError::Invalid(f) => {
                    let mut named = FieldErrors::default();
                    for (_, m) in f.iter() {
                        named.add(
                            field.clone(),
                            format!("Event {}: it retracts a receipt that cannot be reversed: {m}", &field[4..]),
                        );
                    }
                    SaveError::Invalid(named)
                }
                other => other,
            })?;
        done.retracted.push(retracted);
    }
    for (input, key) in receipts {
        done.received.push(crate::stock::receive::receive(pool, actor, &input, key).await?);
    }
    Ok(done)
}
