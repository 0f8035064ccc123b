//! GS1's EPCIS 2.0 JSON schemas (`schema/`, copied unchanged), compiled once: a document is
//! checked against them before anything in it is read.

use std::sync::OnceLock;

use serde_json::Value;

/// Each schema file with the `$id` its `$ref`s are resolved by.
const FILES: &[&str] = &[
    include_str!("schema/EPCIS-JSON-Schema-root.json"),
    include_str!("schema/EPCIS-Document-JSON-Schema.json"),
    include_str!("schema/EPCIS-Event-JSON-Schema.json"),
    include_str!("schema/schemas/AggregationEvent-JSON-Schema.json"),
    include_str!("schema/schemas/AssociationEvent-JSON-Schema.json"),
    include_str!("schema/schemas/ObjectEvent-JSON-Schema.json"),
    include_str!("schema/schemas/TransactionEvent-JSON-Schema.json"),
    include_str!("schema/schemas/TransformationEvent-JSON-Schema.json"),
    include_str!("schema/schemas/bizStep-JSON-Schema.json"),
    include_str!("schema/schemas/bizTransaction-type-JSON-Schema.json"),
    include_str!("schema/schemas/component-JSON-Schema.json"),
    include_str!("schema/schemas/definitions-JSON-Schema.json"),
    include_str!("schema/schemas/disposition-JSON-Schema.json"),
    include_str!("schema/schemas/error-reason-JSON-Schema.json"),
    include_str!("schema/schemas/event-definitions-JSON-Schema.json"),
    include_str!("schema/schemas/measurement-type-JSON-Schema.json"),
    include_str!("schema/schemas/sensor-alert-type-JSON-Schema.json"),
    include_str!("schema/schemas/source-dest-type-JSON-Schema.json"),
];

fn validator() -> &'static jsonschema::Validator {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        let schemas: Vec<Value> =
            FILES.iter().map(|f| serde_json::from_str(f).expect("GS1's schemas are JSON")).collect();
        let mut registry = jsonschema::Registry::new();
        for schema in &schemas {
            let id = schema["$id"].as_str().expect("every GS1 schema has an $id").to_string();
            registry = registry.add(id, schema.clone()).expect("GS1's schemas register");
        }
        let registry = registry.prepare().expect("GS1's schemas resolve");
        jsonschema::options().with_registry(&registry).build(&schemas[0]).expect("GS1's schemas compile")
    })
}

/// Every place `doc` (an EPCISDocument or an EPCISQueryDocument) breaks GS1's schema, each with
/// where (a JSON pointer); empty when valid.
pub fn problems(doc: &Value) -> Vec<String> {
    validator()
        .iter_errors(doc)
        .map(|e| {
            let at = e.instance_path().to_string();
            if at.is_empty() { e.to_string() } else { format!("{e} (at {at})") }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_without_its_offset_breaks_the_schema() {
        let event = serde_json::json!({
            "type": "ObjectEvent", "eventTime": "2026-11-26T08:00:00Z", "eventTimeZoneOffset": "+01:00",
            "action": "OBSERVE", "epcList": ["urn:epc:id:sgtin:0614141.107346.2018"],
        });
        let doc = |e: Value| {
            serde_json::json!({
                "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
                "type": "EPCISDocument", "schemaVersion": "2.0", "creationDate": "2026-11-26T09:00:00Z",
                "epcisBody": { "eventList": [e] },
            })
        };
        assert_eq!(problems(&doc(event.clone())), Vec::<String>::new());
        let mut broken = event;
        broken.as_object_mut().unwrap().remove("eventTimeZoneOffset");
        let found = problems(&doc(broken));
        assert!(!found.is_empty());
    }
}
