//! GS1's EPCIS event hash (CBV 2.0, "Event hash ID"): a canonical pre-hash string of an event's
//! content, hashed with SHA-256 into `ni:///sha-256;…?ver=CBV2.0`. The same event written two
//! ways — keys in another order, `24` or `24.0`, a time in another offset, an EPC class as an URN
//! or a Digital Link, a `recordTime` or an `eventID` added — has one hash.
//!
//! The canonical form: `eventType=…`, then the fields GS1 orders (times, EPC and quantity lists,
//! action, transformation, business step, disposition, read point, business location), each list
//! sorted; then every other field (transactions, sources, destinations, ILMD, extensions) in
//! sorted order. Values are normalised: times to UTC milliseconds, numbers as GS1's reference
//! implementation writes them, CBV words and URNs to their web vocabulary, LGTIN URNs to
//! canonical Digital Links. Tests compare it with hashes from GS1's reference implementation
//! (`tests/data/epcis-hash`).

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The event's hash ID.
pub fn event_id(event: &Value) -> String {
    let digest = Sha256::digest(prehash(event).as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("ni:///sha-256;{hex}?ver=CBV2.0")
}

/// What the ordered part holds, and how each field's members are ordered.
enum Shape {
    Simple,
    /// A list of EPCs, each written `epc=…`.
    Epcs,
    /// A list of quantity elements: `quantityElement` + epcClass, quantity, uom.
    Quantities,
    /// An object whose members come in this order: read point, business location.
    Members(&'static [&'static str]),
    /// `set` and `unset` lists.
    Persistent,
}

const ORDERED: &[(&str, Shape)] = &[
    ("eventTime", Shape::Simple),
    ("eventTimeZoneOffset", Shape::Simple),
    ("certificationInfo", Shape::Simple),
    ("parentID", Shape::Simple),
    ("epcList", Shape::Epcs),
    ("inputEPCList", Shape::Epcs),
    ("childEPCs", Shape::Epcs),
    ("quantityList", Shape::Quantities),
    ("childQuantityList", Shape::Quantities),
    ("inputQuantityList", Shape::Quantities),
    ("outputEPCList", Shape::Epcs),
    ("outputQuantityList", Shape::Quantities),
    ("action", Shape::Simple),
    ("transformationID", Shape::Simple),
    ("bizStep", Shape::Simple),
    ("disposition", Shape::Simple),
    ("persistentDisposition", Shape::Persistent),
    ("readPoint", Shape::Members(&["id"])),
    ("bizLocation", Shape::Members(&["id"])),
];

/// Fields that never take part: what a repository adds, and the hash itself.
const IGNORED: &[&str] = &["type", "eventID", "recordTime", "errorDeclaration", "@context"];

/// The canonical pre-hash string.
pub fn prehash(event: &Value) -> String {
    let empty = Map::new();
    let fields = event.as_object().unwrap_or(&empty);
    let mut out = format!("eventType={}", fields.get("type").and_then(Value::as_str).unwrap_or_default());
    for (name, shape) in ORDERED {
        let Some(value) = fields.get(*name) else { continue };
        out.push_str(&ordered(name, value, shape));
    }
    let mut rest: Vec<String> = fields
        .iter()
        .filter(|(k, _)| !IGNORED.contains(&k.as_str()) && !ORDERED.iter().any(|(n, _)| n == k))
        .flat_map(|(k, v)| generic(k, v))
        .collect();
    rest.sort();
    out.push_str(&rest.concat());
    out
}

fn ordered(name: &str, value: &Value, shape: &Shape) -> String {
    match shape {
        Shape::Simple => simple(name, value).unwrap_or_default(),
        Shape::Epcs => {
            let mut items: Vec<String> = items(value).filter_map(|v| simple("epc", v)).collect();
            items.sort();
            if items.is_empty() { String::new() } else { format!("{name}{}", items.concat()) }
        }
        Shape::Quantities => {
            let mut items: Vec<String> = items(value)
                .map(|q| {
                    let inner: String = ["epcClass", "quantity", "uom"]
                        .iter()
                        .filter_map(|k| q.get(*k).and_then(|v| simple(k, v)))
                        .collect();
                    format!("quantityElement{inner}")
                })
                .collect();
            items.sort();
            if items.is_empty() { String::new() } else { format!("{name}{}", items.concat()) }
        }
        Shape::Members(order) => {
            let inner: String = order.iter().filter_map(|k| value.get(*k).and_then(|v| simple(k, v))).collect();
            if inner.is_empty() { String::new() } else { format!("{name}{inner}") }
        }
        Shape::Persistent => {
            let inner: String = ["set", "unset"]
                .iter()
                .map(|k| {
                    let mut values: Vec<String> =
                        value.get(*k).map(items).into_iter().flatten().filter_map(|v| simple(k, v)).collect();
                    values.sort();
                    values.concat()
                })
                .collect();
            if inner.is_empty() { String::new() } else { format!("{name}{inner}") }
        }
    }
}

/// The members of a JSON list (a lone value counts as a list of one).
fn items(value: &Value) -> Box<dyn Iterator<Item = &Value> + '_> {
    match value {
        Value::Array(items) => Box::new(items.iter()),
        other => Box::new(std::iter::once(other)),
    }
}

/// `name=value`, the value canonical; None for an empty value.
fn simple(name: &str, value: &Value) -> Option<String> {
    let text = scalar(value)?;
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    Some(format!("{name}={}", canonical(name, text)))
}

fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(if *b { "True".into() } else { "False".into() }),
        _ => None,
    }
}

/// A field GS1 does not order: `name=value` and its members in sorted order. A business
/// transaction, a source or a destination is `bizTransaction=…type=…` (its type after it); a
/// list gives one entry per member.
fn generic(name: &str, value: &Value) -> Vec<String> {
    if matches!(name, "bizTransactionList" | "sourceList" | "destinationList") {
        return vec![format!("{name}{}", typed_list(name, value))];
    }
    match value {
        Value::Array(items) => items.iter().flat_map(|v| generic(name, v)).collect(),
        Value::Object(map) => {
            let mut members: Vec<String> = map.iter().flat_map(|(k, v)| generic(k, v)).collect();
            members.sort();
            vec![format!("{name}{}", members.concat())]
        }
        _ => match scalar(value) {
            Some(text) if !text.trim().is_empty() => vec![format!("{name}={}", canonical(name, text.trim()))],
            _ => vec![name.to_string()],
        },
    }
}

/// `bizTransactionList`, `sourceList`, `destinationList`: each member `element=value` then
/// `type=…`, members sorted.
fn typed_list(list: &str, value: &Value) -> String {
    let (element, vocabulary) = match list {
        "bizTransactionList" => ("bizTransaction", "BTT-"),
        "sourceList" => ("source", "SDT-"),
        _ => ("destination", "SDT-"),
    };
    let mut members: Vec<String> = items(value)
        .map(|m| {
            let id = m.get(element).and_then(scalar).map(|v| canonical(element, v.trim())).unwrap_or_default();
            let kind = m.get("type").and_then(scalar).map(|t| web_vocabulary(&t, vocabulary));
            match kind {
                Some(kind) => format!("{element}={id}type={}", canonical("type", &kind)),
                None => format!("{element}={id}"),
            }
        })
        .collect();
    members.sort();
    members.concat()
}

/// A value as the hash sees it.
fn canonical(name: &str, text: &str) -> String {
    let lower = name.to_ascii_lowercase();
    if lower.contains("time") && !lower.contains("offset") {
        return timestamp(text);
    }
    let text = match name {
        "bizStep" => web_vocabulary(text, "BizStep-"),
        "disposition" | "set" | "unset" => web_vocabulary(text, "Disp-"),
        "errorReason" => web_vocabulary(text, "ER-"),
        _ => text.to_string(),
    };
    let text = urn_vocabulary(&text);
    let text = number(&text).unwrap_or(text);
    digital_link(&text).unwrap_or(text)
}

/// A bare CBV word (`receiving`) as its web vocabulary URI; URIs stay as they are.
fn web_vocabulary(text: &str, prefix: &str) -> String {
    if text.contains(':') || text.is_empty() {
        urn_vocabulary(text)
    } else {
        format!("https://ref.gs1.org/cbv/{prefix}{text}")
    }
}

/// CBV 1.x URNs (`urn:epcglobal:cbv:bizstep:receiving`) as CBV 2.0 web vocabulary.
fn urn_vocabulary(text: &str) -> String {
    [
        ("urn:epcglobal:cbv:bizstep:", "https://ref.gs1.org/cbv/BizStep-"),
        ("urn:epcglobal:cbv:disp:", "https://ref.gs1.org/cbv/Disp-"),
        ("urn:epcglobal:cbv:btt:", "https://ref.gs1.org/cbv/BTT-"),
        ("urn:epcglobal:cbv:sdt:", "https://ref.gs1.org/cbv/SDT-"),
        ("urn:epcglobal:cbv:er:", "https://ref.gs1.org/cbv/ER-"),
    ]
    .iter()
    .fold(text.to_string(), |t, (urn, web)| t.replace(urn, web))
}

/// A time in UTC with milliseconds (`2026-03-01T08:15:30.123Z`); text that is no time as it is.
fn timestamp(text: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(text) {
        Ok(t) => {
            let t = t.with_timezone(&chrono::Utc);
            // Rounded to the millisecond, half to even, as the reference implementation does.
            let micros = t.timestamp_subsec_micros() as i64 % 1_000_000;
            let (millis, rest) = (micros / 1000, micros % 1000);
            let up = rest > 500 || (rest == 500 && millis % 2 == 1);
            let rounded = t - chrono::Duration::microseconds(rest) + chrono::Duration::milliseconds(i64::from(up));
            rounded.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        }
        Err(_) => text.to_string(),
    }
}

/// A number written as the reference implementation writes it: integral values without a
/// fraction (`24.0` → `24`), others in their shortest form, small ones in exponent form
/// (`1e-05`). None for text that is no number.
fn number(text: &str) -> Option<String> {
    let t = text.trim();
    let body = t.strip_prefix(['+', '-']).unwrap_or(t);
    // Digits, at most one point, an exponent; an underscore only between two digits.
    let bytes = body.as_bytes();
    let valid_underscores = bytes.iter().enumerate().all(|(i, b)| {
        *b != b'_' || (i > 0 && i + 1 < bytes.len() && bytes[i - 1].is_ascii_digit() && bytes[i + 1].is_ascii_digit())
    });
    let plain = body.chars().all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-' | '_'));
    if !plain || !valid_underscores || !body.chars().any(|c| c.is_ascii_digit()) {
        return None;
    }
    let f: f64 = t.replace('_', "").parse().ok()?;
    if !f.is_finite() {
        return None;
    }
    if f.fract() == 0.0 {
        // As an integer (Python's int of the double: every digit, no exponent); -0 is 0.
        let integer = format!("{f:.0}");
        return Some(if integer == "-0" { "0".into() } else { integer });
    }
    let scientific = format!("{f:e}");
    let (mantissa, exponent) = scientific.split_once('e')?;
    let exponent: i32 = exponent.parse().ok()?;
    if exponent < -4 { Some(format!("{mantissa}e-{:02}", -exponent)) } else { Some(format!("{f}")) }
}

/// An LGTIN URN as its canonical Digital Link (`https://id.gs1.org/01/{GTIN-14}/10/{lot}`).
fn digital_link(text: &str) -> Option<String> {
    let rest = text.strip_prefix("urn:epc:class:lgtin:")?;
    let mut parts = rest.splitn(3, '.');
    let (prefix, item, lot) = (parts.next()?, parts.next()?, parts.next()?);
    let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    if !digits(prefix) || !digits(item) || prefix.len() + item.len() != 13 || !(6..=12).contains(&prefix.len()) {
        return None;
    }
    if !lot_ok(lot) {
        return None;
    }
    let data: String = format!("{}{prefix}{}", &item[..1], &item[1..]);
    let check = crate::domain::gs1::check_digit(&data.chars().filter_map(|c| c.to_digit(10)).collect::<Vec<_>>());
    let lot = lot
        .replace('!', "%21")
        .replace('(', "%28")
        .replace(')', "%29")
        .replace('*', "%2A")
        .replace('+', "%2B")
        .replace(',', "%2C")
        .replace(':', "%3A");
    Some(format!("https://id.gs1.org/01/{data}{check}/10/{lot}"))
}

/// The lot part an LGTIN URN may hold: 1 to 20 characters or escapes of the EPC URI character set.
fn lot_ok(lot: &str) -> bool {
    let b = lot.as_bytes();
    let (mut i, mut n) = (0, 0);
    while i < b.len() {
        if b[i] == b'%' {
            let (Some(h), Some(l)) = (b.get(i + 1), b.get(i + 2)) else { return false };
            let ok = match h {
                b'2' => matches!(l, b'1' | b'2' | b'5'..=b'9' | b'A'..=b'F' | b'a'..=b'f'),
                b'3' => l.is_ascii_hexdigit(),
                b'4' => matches!(l, b'1'..=b'9' | b'A'..=b'F' | b'a'..=b'f'),
                b'5' => matches!(l, b'0'..=b'9' | b'A' | b'a' | b'F' | b'f'),
                b'6' => matches!(l, b'1'..=b'9' | b'A'..=b'F' | b'a'..=b'f'),
                b'7' => matches!(l, b'0'..=b'9' | b'A' | b'a'),
                _ => false,
            };
            if !ok {
                return false;
            }
            i += 3;
        } else if b[i].is_ascii_alphanumeric() || b"!')(*+,.:;=_-".contains(&b[i]) {
            i += 1;
        } else {
            return false;
        }
        n += 1;
    }
    (1..=20).contains(&n)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every event of the corpus hashes as GS1's reference implementation hashes it.
    #[test]
    fn hashes_match_gs1s_reference_implementation() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/epcis-hash");
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("events.jsonld")).unwrap()).unwrap();
        let expected: Vec<String> =
            std::fs::read_to_string(dir.join("events.hashes")).unwrap().lines().map(str::to_string).collect();
        let events = doc["epcisBody"]["eventList"].as_array().unwrap();
        assert_eq!(events.len(), expected.len());
        for (i, (event, hash)) in events.iter().zip(&expected).enumerate() {
            assert_eq!(&event_id(event), hash, "event {i}: {}", prehash(event));
        }
    }

    #[test]
    fn two_spellings_of_one_event_have_one_hash() {
        let a: Value = serde_json::json!({
            "type": "ObjectEvent", "action": "OBSERVE", "eventTime": "2026-03-01T10:15:30.123+02:00",
            "eventTimeZoneOffset": "+02:00", "bizStep": "shipping",
            "quantityList": [{ "epcClass": "urn:epc:class:lgtin:0614141.000401.L1", "quantity": 24, "uom": "KGM" }],
            "bizTransactionList": [{ "type": "po", "bizTransaction": "urn:example:po:1" }]
        });
        let b: Value = serde_json::json!({
            "bizTransactionList": [{ "bizTransaction": "urn:example:po:1", "type": "urn:epcglobal:cbv:btt:po" }],
            "quantityList": [{ "uom": "KGM", "quantity": 24.0, "epcClass": "https://id.gs1.org/01/00614141004010/10/L1" }],
            "bizStep": "https://ref.gs1.org/cbv/BizStep-shipping", "eventTimeZoneOffset": "+02:00",
            "eventTime": "2026-03-01T08:15:30.123Z", "action": "OBSERVE", "type": "ObjectEvent",
            "recordTime": "2026-03-01T08:20:00Z", "eventID": "ni:///sha-256;0?ver=CBV2.0"
        });
        assert_eq!(prehash(&a), prehash(&b));
        assert_eq!(event_id(&a), event_id(&b));
        let c =
            serde_json::json!({ "type": "ObjectEvent", "action": "OBSERVE", "eventTime": "2026-03-01T08:15:30.124Z" });
        assert_ne!(event_id(&a), event_id(&c));
    }

    #[test]
    fn numbers_are_written_as_the_reference_writes_them() {
        for (text, written) in [
            ("24.0", "24"),
            ("24", "24"),
            ("+7", "7"),
            ("0.5", "0.5"),
            ("1e-05", "1e-05"),
            ("0.000001", "1e-06"),
            ("0.0001", "0.0001"),
            ("1234567.891", "1234567.891"),
            ("1e20", "100000000000000000000"),
            ("1_000", "1000"),
        ] {
            assert_eq!(number(text).as_deref(), Some(written), "{text}");
        }
        for text in ["26341-0001", "2026-12-25", "KGM", "+02:00", "_1", "1__0", "nan", "inf", ""] {
            assert_eq!(number(text), None, "{text}");
        }
    }
}
