//! EPCIS 2.0 export, validated against GS1's own JSON schemas (copied unchanged into
//! src/documents/epcis/schema): a lot's trace and a date range; a supplier's events received.

use std::path::PathBuf;

use reqwest::StatusCode;
use serde_json::Value;

use crate::recalls::{demo_app, pallets};

fn read(path: PathBuf) -> Value {
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

/// Every problem GS1's schemas find in `doc` (empty: valid).
pub fn problems(doc: &Value) -> Vec<String> {
    lotline::documents::epcis::schema::problems(doc)
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
    assert_eq!(receiving[0]["disposition"], "in_progress", "received, not yet in use");
    // Two runs: dough (flour in) and bake (dough in, two pallets out). Each posting of a run is a
    // TransformationEvent of its own, whole when it happens, linked by the run's transformationID;
    // each output carries its own lot's master data (ilmd).
    let runs = of("TransformationEvent", "commissioning");
    let dough_id = runs
        .iter()
        .find(|e| {
            e["inputQuantityList"].as_array().is_some_and(|l| l.iter().any(|q| q["epcClass"] == flour_class.as_str()))
        })
        .unwrap()["transformationID"]
        .clone();
    let dough: Vec<&&Value> = runs.iter().filter(|e| e["transformationID"] == dough_id).collect();
    let inputs: usize = dough.iter().filter_map(|e| e["inputQuantityList"].as_array()).map(Vec::len).sum();
    assert_eq!(inputs, 6, "every input of the run, not only the flour");
    assert_eq!(dough[0]["bizTransactionList"][0]["type"], "prodorder");
    for output in runs.iter().filter(|e| e.get("outputQuantityList").is_some()) {
        let list = output["outputQuantityList"].as_array().unwrap();
        assert_eq!(list.len(), 1, "one output per event, with its own ilmd");
        let lot = output["ilmd"]["cbvmda:lotNumber"].as_str().unwrap();
        assert!(list[0]["epcClass"].as_str().unwrap().ends_with(lot), "{output}");
    }
    assert!(runs.iter().all(|e| e["bizTransactionList"].as_array().unwrap().iter().all(|t| t["type"] != "po")));
    // Every event carries GS1's event hash of its content as its eventID, each its own.
    let ids: std::collections::BTreeSet<&str> = events.iter().map(|e| e["eventID"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), events.len());
    for e in events {
        assert_eq!(e["eventID"].as_str().unwrap(), lotline::documents::event_hash::event_id(e));
        assert!(e["eventID"].as_str().unwrap().starts_with("ni:///sha-256;"));
    }
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

#[tokio::test]
async fn a_suppliers_shipping_events_become_receipts_once_and_wrong_ones_are_refused_whole() {
    let app = demo_app().await;
    sqlx::query("update parties set gln = '9506000134352' where code = 'PRAIRIE-MILL'")
        .execute(&app.pool)
        .await
        .unwrap();
    let site_gln: String =
        sqlx::query_scalar("select gln from sites where code = 'RVS'").fetch_one(&app.pool).await.unwrap();
    let cookie_gtin: String = sqlx::query_scalar(
        "select g.gtin from material_gtins g join materials m on m.id = g.material_id where m.code = 'COOKIE-250' and g.pack_level = 'each'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let event = |items: serde_json::Value| {
        serde_json::json!({
            "type": "ObjectEvent", "action": "OBSERVE", "bizStep": "shipping", "disposition": "in_transit",
            "eventTime": "2026-11-26T08:00:00.000Z", "eventTimeZoneOffset": "+01:00",
            "quantityList": items,
            "sourceList": [{ "type": "owning_party", "source": "https://id.gs1.org/417/9506000134352" }],
            "destinationList": [{ "type": "owning_party", "destination": format!("https://id.gs1.org/414/{site_gln}") }],
            "bizTransactionList": [
                { "type": "desadv", "bizTransaction": "urn:epcglobal:cbv:bt:9506000134352:DESADV-77" },
                { "type": "po", "bizTransaction": "urn:epcglobal:cbv:bt:0614141000029:PO-4711" }
            ]
        })
    };
    let document = |events: Vec<serde_json::Value>| {
        serde_json::json!({
            "@context": [lotline::documents::epcis::CONTEXT], "type": "EPCISDocument", "schemaVersion": "2.0",
            "creationDate": "2026-11-26T08:00:00.000Z", "epcisBody": { "eventList": events }
        })
    };
    let doc = document(vec![event(serde_json::json!([
        { "epcClass": "urn:epc:class:lgtin:0614141.000401.SUP-B1", "quantity": 120, "uom": "H87" },
        { "epcClass": format!("https://id.gs1.org/01/{cookie_gtin}/10/SUP-C1"), "quantity": 48 }
    ]))]);
    assert_eq!(problems(&doc), Vec::<String>::new(), "the shape GS1's schemas accept");

    let response = app.submit("/account", "#token-form", &[("name", "EPCIS"), ("scope", "write")]).await;
    let secret = crate::helpers::text(&scraper::Html::parse_document(&response.text().await.unwrap()), "#new-token");
    let api = reqwest::Client::new();
    let post = |doc: serde_json::Value| {
        let request = api.post(app.url("/api/v1/epcis/receipts")).bearer_auth(&secret).json(&doc);
        async move { request.send().await.unwrap() }
    };
    let response = post(doc.clone()).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await.unwrap();
    let lots = created["receipts"][0]["lots"].as_array().unwrap();
    let seen: Vec<(&str, &str, &str)> = lots
        .iter()
        .map(|l| (l["material"].as_str().unwrap(), l["supplier_lot"].as_str().unwrap(), l["on_hand"].as_str().unwrap()))
        .collect();
    assert_eq!(seen, [("BRIOCHE-400", "SUP-B1", "120"), ("COOKIE-250", "SUP-C1", "48")]);
    assert!(lots.iter().all(|l| l["supplier"] == "PRAIRIE-MILL" && l["status"] == "quarantine"));
    let refs: (String, String) = sqlx::query_as("select asn_ref, order_ref from receipts where id = $1::uuid")
        .bind(created["receipts"][0]["receipt_id"].as_str().unwrap())
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(refs, ("DESADV-77".to_string(), "PO-4711".to_string()));

    // The same document again: the same receipt, nothing new.
    let receipts = app.count("receipts").await;
    let again: Value = post(doc.clone()).await.json().await.unwrap();
    assert_eq!(again["receipts"][0]["receipt_id"], created["receipts"][0]["receipt_id"]);
    assert_eq!(app.count("receipts").await, receipts);

    // One wrong event refuses the whole document, and says which and why.
    let bad = document(vec![
        event(
            serde_json::json!([{ "epcClass": "urn:epc:class:lgtin:0614141.000401.SUP-B2", "quantity": 10, "uom": "H87" }]),
        ),
        event(serde_json::json!([{ "epcClass": "urn:epc:class:lgtin:0614141.099999.X", "quantity": 1, "uom": "H87" }])),
    ]);
    let response = post(bad).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["field"], "line2");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Event 2: item 1: no material here has GTIN 00614141999996"),
        "{error}"
    );
    assert_eq!(app.count("receipts").await, receipts, "nothing was received");
    let response = post(document(vec![])).await;
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["field"], "document");

    // The same event written another way — a recordTime added, 120 written 120.0, keys in
    // another order — is the same event: nothing new.
    let mut respelled = doc_event(&doc);
    respelled["recordTime"] = serde_json::json!("2026-11-26T09:00:00Z");
    respelled["quantityList"][0]["quantity"] = serde_json::json!(120.0);
    respelled["eventTime"] = serde_json::json!("2026-11-26T09:00:00.000+01:00");
    let again: Value = post(document(vec![respelled])).await.json().await.unwrap();
    assert_eq!(again["receipts"][0]["receipt_id"], created["receipts"][0]["receipt_id"], "{again}");
    assert_eq!(app.count("receipts").await, receipts);

    // Events that do not say when or what are refused, named by their place in the document.
    let observe = |mut e: Value| {
        e["bizStep"] = serde_json::json!("receiving");
        e
    };
    let item =
        serde_json::json!([{ "epcClass": "urn:epc:class:lgtin:0614141.000401.SUP-B3", "quantity": 1, "uom": "H87" }]);
    for (change, message) in [
        ("eventTime", "Event 2: it has no eventTime."),
        ("eventTimeZoneOffset=CST", "Event 2: its eventTimeZoneOffset “CST” is not an offset"),
        ("action", "Event 2: it has no action"),
    ] {
        let mut broken = event(item.clone());
        match change.split_once('=') {
            Some((k, v)) => broken[k] = serde_json::json!(v),
            None => {
                broken.as_object_mut().unwrap().remove(change);
            }
        }
        let response = post(document(vec![observe(event(item.clone())), broken])).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let error: Value = response.json().await.unwrap();
        assert!(error["error"]["message"].as_str().unwrap().starts_with(message), "{change}: {error}");
    }
    // A lot no GS1 barcode could carry is no traceability lot code.
    let spaced = event(serde_json::json!([
        { "epcClass": "urn:epc:class:lgtin:0614141.000401.LOT%20WITH%20SPACES%2021CH", "quantity": 1, "uom": "H87" }
    ]));
    let error: Value = post(document(vec![spaced])).await.json().await.unwrap();
    assert!(error["error"]["message"].as_str().unwrap().contains("is no GS1 lot number"), "{error}");
    // A document GS1's schema refuses is refused, the event named.
    let mut misshapen = event(item.clone());
    misshapen["epcList"] = serde_json::json!("urn:epc:id:sgtin:0614141.000401.1");
    let error: Value = post(document(vec![observe(event(item.clone())), misshapen])).await.json().await.unwrap();
    assert!(
        error["error"]["message"].as_str().unwrap().starts_with("Event 2: GS1's EPCIS schema refuses it"),
        "{error}"
    );
    assert_eq!(app.count("receipts").await, receipts, "nothing was received");

    // A retraction of the first event (its eventID, an errorDeclaration) is no delivery: it
    // reverses the receipt that event made, through the reversal rules, once.
    let mut retraction = doc_event(&doc);
    retraction["eventID"] = serde_json::json!(lotline::documents::event_hash::event_id(&doc_event(&doc)));
    retraction["errorDeclaration"] =
        serde_json::json!({ "declarationTime": "2026-11-27T08:00:00Z", "reason": "did_not_occur" });
    let receipt_id = created["receipts"][0]["receipt_id"].as_str().unwrap().to_string();
    let number: String = sqlx::query_scalar("select number from receipts where id = $1::uuid")
        .bind(&receipt_id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let response = post(document(vec![retraction.clone()])).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["retracted"][0]["number"], number.as_str(), "{answer}");
    assert_eq!(answer["retracted"][0]["lines_reversed"], 2);
    assert_eq!(app.count("receipts").await, receipts, "nothing was received");
    let left: Vec<(String, rust_decimal::Decimal, String)> = sqlx::query_as(
        "select l.supplier_lot, (select coalesce(sum(o.quantity), 0) from on_hand o where o.lot_id = l.id), v.reason
           from receipt_lines rl join lots l on l.id = rl.lot_id
           join stock_movements v on v.reverses_id = rl.movement_id
          where rl.receipt_id = $1::uuid order by rl.line_no",
    )
    .bind(&receipt_id)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(left.len(), 2, "each line reversed, in the ledger for everyone to see");
    assert!(left.iter().all(|(_, on_hand, why)| on_hand.is_zero() && why.contains("errorDeclaration")), "{left:?}");
    let again: Value = post(document(vec![retraction])).await.json().await.unwrap();
    assert_eq!(again["retracted"][0]["lines_reversed"], 0, "a retraction applies once: {again}");
    // Retracting what was never received here changes nothing, and says so.
    let mut stranger = event(item.clone());
    stranger["eventID"] = serde_json::json!("ni:///sha-256;00?ver=CBV2.0");
    stranger["errorDeclaration"] = serde_json::json!({ "declarationTime": "2026-11-27T08:00:00Z" });
    let error: Value = post(document(vec![stranger])).await.json().await.unwrap();
    assert!(error["error"]["message"].as_str().unwrap().contains("never received here"), "{error}");
}

/// The first event of a document.
fn doc_event(doc: &Value) -> Value {
    doc["epcisBody"]["eventList"][0].clone()
}

#[tokio::test]
async fn a_repository_pulls_the_events_a_page_at_a_time_with_the_standard_query_parameters() {
    let app = demo_app().await;
    let all: Value = app.get("/api/v1/epcis/events?perPage=500").await.json().await.unwrap();
    assert_eq!(all["type"], "EPCISQueryDocument");
    let every: Vec<Value> = all["epcisBody"]["queryResults"]["resultsBody"]["eventList"].as_array().unwrap().clone();
    assert!(every.len() > 6, "{} events", every.len());
    // Three at a time, following the Link header to the end: the same events, once each, in order.
    let mut seen: Vec<String> = Vec::new();
    let mut next = Some("/api/v1/epcis/events?perPage=3".to_string());
    while let Some(url) = next.take() {
        let response = app.get(&url).await;
        assert_eq!(response.status(), StatusCode::OK, "{url}");
        assert_eq!(response.headers()["gs1-epcis-version"], "2.0.0");
        next = response.headers().get("link").map(|l| {
            let l = l.to_str().unwrap();
            assert!(l.ends_with("; rel=\"next\""), "{l}");
            l[1..l.find('>').unwrap()].to_string()
        });
        let page: Value = response.json().await.unwrap();
        let events = page["epcisBody"]["queryResults"]["resultsBody"]["eventList"].as_array().unwrap();
        assert!(events.len() <= 3);
        seen.extend(events.iter().map(|e| e["eventID"].as_str().unwrap().to_string()));
    }
    let want: Vec<String> = every.iter().map(|e| e["eventID"].as_str().unwrap().to_string()).collect();
    assert_eq!(seen, want);
    // The standard filters.
    let shipping: Value = app.get("/api/v1/epcis/events?EQ_bizStep=shipping").await.json().await.unwrap();
    let shipping = shipping["epcisBody"]["queryResults"]["resultsBody"]["eventList"].as_array().unwrap().clone();
    assert_eq!(shipping.len(), 3);
    assert!(shipping.iter().all(|e| e["bizStep"] == "shipping"));
    let one = lotline::web::percent_encode(&want[0]);
    let found: Value = app.get(&format!("/api/v1/epcis/events?EQ_eventID={one}")).await.json().await.unwrap();
    assert_eq!(found["epcisBody"]["queryResults"]["resultsBody"]["eventList"].as_array().unwrap().len(), 1);
    let class = every.iter().find_map(|e| e["quantityList"][0]["epcClass"].as_str()).unwrap().to_string();
    let of_class: Value = app
        .get(&format!("/api/v1/epcis/events?MATCH_anyEPCClass={}", lotline::web::percent_encode(&class)))
        .await
        .json()
        .await
        .unwrap();
    let of_class = of_class["epcisBody"]["queryResults"]["resultsBody"]["eventList"].as_array().unwrap().clone();
    let naming = |e: &Value| {
        ["quantityList", "inputQuantityList", "outputQuantityList"]
            .iter()
            .filter_map(|l| e[*l].as_array())
            .flatten()
            .any(|q| q["epcClass"] == class.as_str())
    };
    assert_eq!(of_class.len(), every.iter().filter(|e| naming(e)).count());
    assert!(!of_class.is_empty() && of_class.iter().all(naming));
    for bad in ["perPage=0", "GE_eventTime=yesterday", "nextPageToken=nonsense", "eventType=AggregationEvent"] {
        assert_eq!(app.get(&format!("/api/v1/epcis/events?{bad}")).await.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
}
