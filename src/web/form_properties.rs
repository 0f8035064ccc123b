//! Property tests of every form parser: whatever fields a browser or a script sends, with
//! whatever text in them, each parser answers with a typed command or with messages — never a
//! panic — and a command it accepts holds no control character and no direction override.

use proptest::prelude::*;
use serde::de::DeserializeOwned;

const ID: &str = "0192f1a0-0000-7000-8000-000000000001";

/// A value a field might hold: mostly plausible (so the parser goes past its first check), else
/// any text at all, with the characters the parsers must refuse mixed in.
fn value() -> impl Strategy<Value = String> {
    let plausible = prop::sample::select(vec![
        ID,
        "2026-01-05",
        "2026-01-05T08:30",
        "10",
        "0.5",
        "-3",
        "1e3",
        "kg",
        "ABC-1",
        "Flour",
        "on",
        "real",
        "mock",
        "A",
        "B",
        "25",
        "DE",
        "09506000134352",
        "",
    ]);
    let hostile =
        prop::sample::select(vec!["\u{0}", "\u{7}", "\u{1b}", "\u{1d}", "\u{202e}", "\u{2067}", "\r\n", "\t"]);
    prop_oneof![
        3 => plausible.clone().prop_map(str::to_string),
        2 => (plausible, hostile, prop::sample::select(vec!["x", "Flour", "10", ID])).prop_map(|(a, h, b)| format!("{a}{h}{b}")),
        2 => prop::collection::vec(any::<char>(), 0..24).prop_map(String::from_iter),
    ]
}

/// A valid form (`base`, field by field in the browser's order) with one to four of its fields
/// given another value, and now and then a field no form has.
fn pairs(base: &'static [(&'static str, &'static str)]) -> impl Strategy<Value = Vec<(String, String)>> {
    let change = (0..base.len() + 1, value());
    prop::collection::vec(change, 1..5).prop_map(move |changes| {
        let mut fields: Vec<(String, String)> = base.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        for (at, value) in changes {
            match fields.get_mut(at) {
                Some(field) => field.1 = value,
                None => fields.push(("junk".into(), value)),
            }
        }
        fields
    })
}

fn urlencoded(pairs: &[(String, String)]) -> Vec<u8> {
    form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish().into_bytes()
}

/// A form that serde reads (the last of a repeated field wins, as in the browser's order).
fn serde_form<F: DeserializeOwned>(pairs: &[(String, String)]) -> F {
    let map: serde_json::Map<String, serde_json::Value> =
        pairs.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect();
    serde_json::from_value(serde_json::Value::Object(map)).expect("every field of these forms is text")
}

/// What an accepted command must not hold: a control character (but tab, CR and LF) or a
/// direction override, found in its Debug form, which escapes each as `\0` or `\u{…}`.
fn holds_nothing_unprintable<T: std::fmt::Debug, E>(parsed: &Result<T, E>) -> Result<(), TestCaseError> {
    let Ok(command) = parsed else { return Ok(()) };
    let debug = format!("{command:?}");
    let mut chars = debug.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            continue;
        }
        let escaped = match chars.next() {
            Some('0') => Some('\0'),
            Some('u') => {
                let hex: String = chars.by_ref().skip(1).take_while(|c| *c != '}').collect();
                u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32)
            }
            _ => None,
        };
        if let Some(c) = escaped {
            // Spelled here again, not borrowed from the code under test.
            let unprintable = (c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
                || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}');
            prop_assert!(!unprintable, "{c:?} got through: {debug}");
        }
    }
    Ok(())
}

const RECEIPT: &[(&str, &str)] = &[
    ("site_id", ID),
    ("supplier_id", ID),
    ("received_on", "2026-01-05"),
    ("order_ref", "PO-1"),
    ("asn_ref", "ASN-1"),
    ("idempotency_key", ID),
    ("material_id", ID),
    ("supplier_lot", "SL-1"),
    ("quantity", "10"),
    ("location_id", ID),
    ("expires_on", "2027-01-05"),
    ("country_of_origin", "DE"),
];
const SHIPMENT: &[(&str, &str)] = &[
    ("site_id", ID),
    ("customer_id", ID),
    ("shipped_on", "2026-01-05"),
    ("order_ref", "SO-1"),
    ("bol_ref", "BOL-1"),
    ("asn_ref", "ASN-1"),
    ("idempotency_key", ID),
    ("lot", "26005-0001"),
    ("quantity", "1"),
    ("location_id", ID),
];
const RECALL: &[(&str, &str)] = &[
    ("idempotency_key", ID),
    ("kind", "real"),
    ("class", "I"),
    ("check_level", "B"),
    ("check_percent", "25"),
    ("reason", "Salmonella in flour"),
    ("lots", "26005-0001"),
    ("lot_ids", ID),
    ("mode", "precise"),
    ("threshold", "0.5"),
    ("threshold_reason", "Trace amounts"),
    ("signer", "qa"),
    ("password", "secret"),
];
const SITE: &[(&str, &str)] = &[
    ("code", "RVS"),
    ("name", "Riverside"),
    ("address", "1 Mill Lane"),
    ("gln", "4012345000009"),
    ("time_zone", "Europe/Berlin"),
    ("active", "on"),
];
const PARTY: &[(&str, &str)] = &[
    ("code", "MILL"),
    ("name", "The Mill"),
    ("is_supplier", "on"),
    ("address", "1 Mill Lane"),
    ("country", "DE"),
    ("gln", "4012345000009"),
    ("phone", "+49 30 1234"),
    ("email", "qa@mill.example"),
    ("notes", "Dock 2"),
];
const LOCATION: &[(&str, &str)] = &[("site_id", ID), ("code", "RAW-A"), ("name", "Raw store A"), ("kind", "storage")];
const MATERIAL: &[(&str, &str)] = &[
    ("code", "FLOUR"),
    ("name", "Flour"),
    ("kind", "raw"),
    ("uom", "kg"),
    ("mass_per_unit_kg", ""),
    ("shelf_life_days", "180"),
    ("expiry_policy", "shelf_life"),
    ("qa_required", "on"),
    ("ftl", "on"),
    ("count_tolerance_percent", "2"),
    ("recall_notice_days", "90"),
    ("description", "Type 550"),
];
const RUN: &[(&str, &str)] = &[
    ("site_id", ID),
    ("line_id", ID),
    ("output_material_id", ID),
    ("planned_quantity", "100"),
    ("order_ref", "WO-1"),
    ("idempotency_key", ID),
];
const INPUT: &[(&str, &str)] =
    &[("lot", "26005-0001"), ("quantity", "10"), ("location_id", ID), ("idempotency_key", ID)];
const OUTPUT: &[(&str, &str)] = &[("output_quantity", "10"), ("location_id", ID), ("idempotency_key", ID)];

fn owned(base: &[(&str, &str)]) -> Vec<(String, String)> {
    base.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// The valid forms the properties start from are valid: otherwise nothing past the first
/// refusal would be tried.
#[test]
fn the_forms_the_properties_start_from_are_accepted() {
    use super::runs::{InputForm, OutputForm, RunForm};
    use crate::master::{locations, materials, parties, sites};
    use crate::stock::production::{OpenRun, PostInput, PostOutput};
    assert!(
        crate::stock::receive::ReceiptInput::try_from(&super::receipts::ReceiptForm::parse(&urlencoded(&owned(
            RECEIPT
        ))))
        .is_ok()
    );
    assert!(
        crate::stock::ship::Shipment::try_from(&super::shipments::ShipmentForm::parse(&urlencoded(&owned(SHIPMENT))))
            .is_ok()
    );
    assert!(crate::recall::OpenRecall::try_from(&super::recalls::OpenForm::parse(&urlencoded(&owned(RECALL)))).is_ok());
    assert!(sites::SiteInput::try_from(&serde_form::<sites::SiteForm>(&owned(SITE))).is_ok());
    assert!(parties::PartyInput::try_from(&serde_form::<parties::PartyForm>(&owned(PARTY))).is_ok());
    assert!(locations::LocationInput::try_from(&serde_form::<locations::LocationForm>(&owned(LOCATION))).is_ok());
    assert!(materials::MaterialInput::try_from(&serde_form::<materials::MaterialForm>(&owned(MATERIAL))).is_ok());
    assert!(OpenRun::try_from(&serde_form::<RunForm>(&owned(RUN))).is_ok());
    assert!(PostInput::try_from(&serde_form::<InputForm>(&owned(INPUT))).is_ok());
    assert!(PostOutput::try_from(&serde_form::<OutputForm>(&owned(OUTPUT))).is_ok());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn a_receipt_form_is_parsed_or_refused(fields in pairs(RECEIPT)) {
        let form = super::receipts::ReceiptForm::parse(&urlencoded(&fields));
        holds_nothing_unprintable(&crate::stock::receive::ReceiptInput::try_from(&form))?;
    }

    #[test]
    fn a_shipment_form_is_parsed_or_refused(fields in pairs(SHIPMENT)) {
        let form = super::shipments::ShipmentForm::parse(&urlencoded(&fields));
        holds_nothing_unprintable(&crate::stock::ship::Shipment::try_from(&form))?;
    }

    #[test]
    fn a_recall_opening_form_is_parsed_or_refused(fields in pairs(RECALL)) {
        let form = super::recalls::OpenForm::parse(&urlencoded(&fields));
        // A password is checked against its hash, whatever it holds.
        let parsed = crate::recall::OpenRecall::try_from(&form).map(|r| crate::recall::OpenRecall { password: String::new(), ..r });
        holds_nothing_unprintable(&parsed)?;
    }

    #[test]
    fn the_master_data_forms_are_parsed_or_refused(
        site in pairs(SITE), party in pairs(PARTY), location in pairs(LOCATION), material in pairs(MATERIAL),
    ) {
        use crate::master::{locations, materials, parties, sites};
        holds_nothing_unprintable(&sites::SiteInput::try_from(&serde_form::<sites::SiteForm>(&site)))?;
        holds_nothing_unprintable(&parties::PartyInput::try_from(&serde_form::<parties::PartyForm>(&party)))?;
        holds_nothing_unprintable(&locations::LocationInput::try_from(&serde_form::<locations::LocationForm>(&location)))?;
        holds_nothing_unprintable(&materials::MaterialInput::try_from(&serde_form::<materials::MaterialForm>(&material)))?;
    }

    #[test]
    fn the_production_forms_are_parsed_or_refused(run in pairs(RUN), input in pairs(INPUT), output in pairs(OUTPUT)) {
        use super::runs::{InputForm, OutputForm, RunForm};
        use crate::stock::production::{OpenRun, PostInput, PostOutput};
        holds_nothing_unprintable(&OpenRun::try_from(&serde_form::<RunForm>(&run)))?;
        holds_nothing_unprintable(&PostInput::try_from(&serde_form::<InputForm>(&input)))?;
        holds_nothing_unprintable(&PostOutput::try_from(&serde_form::<OutputForm>(&output)))?;
    }
}
