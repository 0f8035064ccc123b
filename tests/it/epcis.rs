//! EPCIS 2.0 export, validated against GS1's own JSON schemas (tests/data/epcis-2.0, copied
//! unchanged): a lot's trace and a date range.

use std::path::PathBuf;

use reqwest::StatusCode;
use serde_json::Value;

use crate::recalls::{demo_app, pallets};

fn read(path: PathBuf) -> Value {
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

/// Every problem GS1's schemas find in `doc` (empty: valid).
fn problems(doc: &Value) -> Vec<String> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/epcis-2.0");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("schemas")).unwrap().map(|e| e.unwrap().path()).collect();
    for name in ["EPCIS-JSON-Schema-root.json", "EPCIS-Document-JSON-Schema.json", "EPCIS-Event-JSON-Schema.json"] {
        files.push(dir.join(name));
    }
    let mut builder = jsonschema::Registry::new();
    for file in files {
        let schema = read(file);
        let id = schema["$id"].as_str().unwrap().to_string();
        builder = builder.add(id, schema).unwrap();
    }
    let registry = builder.prepare().unwrap();
    let root = read(dir.join("EPCIS-JSON-Schema-root.json"));
    let validator = jsonschema::options().with_registry(&registry).build(&root).unwrap();
    validator.iter_errors(doc).map(|e| format!("{} at {}", e, e.instance_path())).collect()
}

#[test]
fn gs1s_examples_pass_the_schemas_and_a_broken_event_does_not() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/epcis-2.0/examples");
    for file in std::fs::read_dir(&dir).unwrap() {
        let path = file.unwrap().path();
        let doc = read(path.clone());
        assert_eq!(problems(&doc), Vec::<String>::new(), "{}", path.display());
    }
    let mut broken = read(dir.join("Example_9.6.1-ObjectEvent.jsonld"));
    broken["epcisBody"]["eventList"][0].as_object_mut().unwrap().remove("eventTimeZoneOffset");
    assert!(!problems(&broken).is_empty(), "an event without its time-zone offset is refused");
}

#[tokio::test]
async fn a_lots_trace_exports_as_epcis_that_gs1s_schemas_accept() {
    let app = demo_app().await;
    let (flour_id, flour): (String, String) = sqlx::query_as(
        "select distinct l.id::text, l.code from lots l join materials m on m.id = l.material_id
           join stock_movements s on s.lot_id = l.id where m.code = 'FLOUR-T55' and s.kind = 'consume'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let trace_page = app.page(&format!("/trace?lot={flour_id}&direction=forward")).await;
    let link = crate::helpers::value_of(&trace_page, "#epcis", "href");
    let response = app.get(&link).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/ld+json");
    let doc: Value = response.json().await.unwrap();
    assert_eq!(problems(&doc), Vec::<String>::new());

    let events = doc["epcisBody"]["eventList"].as_array().unwrap();
    let of = |kind: &str, step: &str| -> Vec<&Value> {
        events.iter().filter(|e| e["type"] == kind && e["bizStep"] == step).collect()
    };
    // The flour's receipt, from its supplier, under a private class URI (flour has no GTIN).
    let receiving = of("ObjectEvent", "receiving");
    assert_eq!(receiving.len(), 1);
    let flour_class = format!("http://127.0.0.1:8080/id/lot/FLOUR-T55/{flour}");
    assert_eq!(receiving[0]["quantityList"][0]["epcClass"], flour_class.as_str());
    assert_eq!(receiving[0]["quantityList"][0]["uom"], "KGM");
    assert!(receiving[0]["sourceList"][0]["source"].as_str().unwrap().ends_with("/id/party/PRAIRIE-MILL"));
    // Two runs: dough (flour in) and bake (dough in, two pallets out), each a TransformationEvent.
    let runs = of("TransformationEvent", "commissioning");
    assert_eq!(runs.len(), 2);
    let dough_run = runs
        .iter()
        .find(|e| e["inputQuantityList"].as_array().unwrap().iter().any(|q| q["epcClass"] == flour_class.as_str()))
        .unwrap();
    assert_eq!(
        dough_run["inputQuantityList"].as_array().unwrap().len(),
        6,
        "every input of the run, not only the flour"
    );
    assert_eq!(dough_run["bizTransactionList"][0]["type"], "prodorder");
    // The brioche has a GTIN with a known company prefix: LGTIN class URNs.
    let shipping = of("ObjectEvent", "shipping");
    assert_eq!(shipping.len(), 3);
    let pallet = pallets(&app).await.remove(0);
    let lgtin = format!("urn:epc:class:lgtin:0614141.000401.{pallet}");
    assert!(shipping.iter().any(|e| e["quantityList"][0]["epcClass"] == lgtin.as_str()), "{lgtin}");
    assert!(
        shipping.iter().all(|e| e["disposition"] == "in_transit" && e["destinationList"][0]["type"] == "owning_party")
    );

    // A date range gives the whole plant's events, valid too; a bad range is refused.
    let today = chrono::Utc::now().date_naive();
    let response = app.get(&format!("/api/v1/epcis?from={}&to={today}", today - chrono::Days::new(30))).await;
    let all: Value = response.json().await.unwrap();
    assert_eq!(problems(&all), Vec::<String>::new());
    assert!(all["epcisBody"]["eventList"].as_array().unwrap().len() > events.len());
    assert_eq!(app.get("/api/v1/epcis?from=2026-02-01&to=2026-01-01").await.status(), StatusCode::BAD_REQUEST);
}
