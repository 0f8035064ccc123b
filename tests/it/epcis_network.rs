//! EPCIS as lotline's network interface: events published once and never rewritten, a reversal
//! published as a retraction, and a partner's webhook subscription fed as events happen, signed.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::builders::{LotBuilder, id, tester};
use crate::epcis::problems;
use crate::helpers::TestApp;
use crate::recalls::demo_app;

fn events(doc: &Value) -> Vec<Value> {
    doc["epcisBody"]["queryResults"]["resultsBody"]["eventList"].as_array().cloned().unwrap_or_default()
}

async fn all_events(app: &TestApp) -> Vec<Value> {
    let doc: Value = app.get("/api/v1/epcis/events?perPage=500").await.json().await.unwrap();
    assert_eq!(problems(&doc), Vec::<String>::new());
    events(&doc)
}

/// A receipt of two lines at the demo plant, through the receive operation.
async fn two_line_receipt(app: &TestApp) -> lotline::stock::receive::Received {
    use lotline::stock::receive::{LineInput, ReceiptInput, receive};
    let pool = &app.pool;
    let line = |lot: &str, quantity: &str| LineInput {
        material_id: Uuid::nil(),
        supplier_lot: Some(lot.into()),
        quantity: quantity.parse().unwrap(),
        location_id: Uuid::nil(),
        expires_on: None,
        country_of_origin: None,
    };
    let mut lines = vec![line("NET-1", "300"), line("NET-2", "200")];
    for l in &mut lines {
        l.material_id = id(pool, "materials", "FLOUR-T55").await;
        l.location_id = id(pool, "locations", "DOCK").await;
    }
    let input = ReceiptInput {
        site_id: id(pool, "sites", "RVS").await,
        supplier_id: id(pool, "parties", "PRAIRIE-MILL").await,
        received_on: None,
        order_ref: "PO-NET".into(),
        asn_ref: String::new(),
        lines,
    };
    receive(pool, &tester(pool).await.actor(), &input, Uuid::new_v4()).await.unwrap()
}

#[tokio::test]
async fn a_published_event_never_changes_and_a_reversal_publishes_its_retraction() {
    let app = demo_app().await;
    let received = two_line_receipt(&app).await;
    // Published within seconds of happening, whether or not anyone reads it.
    let key = format!("receipt:{}", received.receipt_id);
    let mut published = 0;
    for _ in 0..100 {
        published = sqlx::query_scalar::<_, i64>("select count(*) from epcis_events where event_key = $1")
            .bind(&key)
            .fetch_one(&app.pool)
            .await
            .unwrap();
        if published > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(published, 1, "the server published the receipt by itself");
    let before = all_events(&app).await;
    let ours = |events: &[Value]| -> Vec<Value> {
        events
            .iter()
            .filter(|e| e["bizTransactionList"].to_string().contains("PO-NET") && e["bizStep"] == "receiving")
            .cloned()
            .collect()
    };
    let original = ours(&before);
    assert_eq!(original.len(), 1);
    assert_eq!(original[0]["quantityList"].as_array().unwrap().len(), 2);
    let original_id = original[0]["eventID"].as_str().unwrap().to_string();

    // Master data edited after the event happened changes no event a partner holds.
    sqlx::query("update parties set gln = '9506000134352' where code = 'PRAIRIE-MILL'")
        .execute(&app.pool)
        .await
        .unwrap();
    let after_edit = all_events(&app).await;
    let ids = |events: &[Value]| events.iter().map(|e| e["eventID"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    assert_eq!(ids(&after_edit), ids(&before), "the same events, the same ids");
    assert!(ours(&after_edit)[0]["sourceList"][0]["source"].as_str().unwrap().ends_with("/id/party/PRAIRIE-MILL"));

    // One line reversed: the event is retracted (its id, an errorDeclaration) and a corrective
    // event says what stands; the document of what stands shows only the corrective one.
    let movement: i64 =
        sqlx::query_scalar("select movement_id from receipt_lines where receipt_id = $1 and line_no = 2")
            .bind(received.receipt_id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    let reverse = lotline::stock::moves::Reverse {
        movement,
        reason: "counted twice at the dock".into(),
        confirmed: true,
        ..Default::default()
    };
    lotline::stock::moves::reverse(&app.pool, &tester(&app.pool).await, received.lots[1].0, &reverse).await.unwrap();
    let after = all_events(&app).await;
    let now_ours = ours(&after);
    let retraction = now_ours.iter().find(|e| e.get("errorDeclaration").is_some()).expect("a retraction");
    assert_eq!(retraction["eventID"], original_id.as_str());
    assert_eq!(retraction["errorDeclaration"]["reason"], "incorrect_data");
    let corrective_id = retraction["errorDeclaration"]["correctiveEventIDs"][0].as_str().unwrap();
    let corrective = now_ours.iter().find(|e| e["eventID"] == corrective_id).expect("the corrective event");
    assert_eq!(corrective["quantityList"].as_array().unwrap().len(), 1);
    assert_eq!(corrective["quantityList"][0]["quantity"], json!(300.0));
    assert_eq!(corrective["eventID"].as_str().unwrap(), lotline::documents::event_hash::event_id(corrective));
    // A partner that pulls what was recorded since its last pull gets the retraction of an old event.
    let since = after_edit.iter().filter_map(|e| e["recordTime"].as_str()).max().unwrap().to_string();
    let newer: Value = app
        .get(&format!("/api/v1/epcis/events?GE_recordTime={}", lotline::web::percent_encode(&since)))
        .await
        .json()
        .await
        .unwrap();
    assert!(events(&newer).iter().any(|e| e["eventID"] == original_id.as_str() && e.get("errorDeclaration").is_some()));
    let lot = received.lots[0].0;
    let standing: Value = app.get(&format!("/api/v1/epcis?lot_id={lot}")).await.json().await.unwrap();
    let standing = standing["epcisBody"]["eventList"].as_array().unwrap();
    assert!(standing.iter().all(|e| e["eventID"] != original_id.as_str() && e.get("errorDeclaration").is_none()));
    assert!(standing.iter().any(|e| e["eventID"] == corrective_id));

    // The rest reversed too: the corrective event is retracted, as did_not_occur.
    let movement: i64 =
        sqlx::query_scalar("select movement_id from receipt_lines where receipt_id = $1 and line_no = 1")
            .bind(received.receipt_id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    let reverse = lotline::stock::moves::Reverse { movement, ..reverse };
    lotline::stock::moves::reverse(&app.pool, &tester(&app.pool).await, lot, &reverse).await.unwrap();
    let last = all_events(&app).await;
    let gone = last.iter().find(|e| e["eventID"] == corrective_id && e.get("errorDeclaration").is_some()).unwrap();
    assert_eq!(gone["errorDeclaration"]["reason"], "did_not_occur");
    assert!(gone["errorDeclaration"].get("correctiveEventIDs").is_none());

    // Published events are the record: the database refuses to rewrite or delete them.
    for sql in ["update epcis_events set event = '{}'", "delete from epcis_events"] {
        let refused = sqlx::query(sql).execute(&app.app_pool).await.unwrap_err();
        assert!(refused.to_string().contains("published EPCIS events are not changed"), "{sql}: {refused}");
    }
}

/// A partner's webhook, as small as one: it records what it is sent, and refuses the first
/// delivery if asked to.
async fn receiver(refuse_first: bool) -> (String, tokio::sync::mpsc::UnboundedReceiver<(String, Vec<u8>)>) {
    use axum::http::HeaderMap;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let refused = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(!refuse_first));
    let hook = move |headers: HeaderMap, body: axum::body::Bytes| {
        let (tx, refused) = (tx.clone(), refused.clone());
        async move {
            if !refused.swap(true, std::sync::atomic::Ordering::SeqCst) {
                return StatusCode::SERVICE_UNAVAILABLE;
            }
            let signature = headers.get("gs1-signature").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
            tx.send((signature, body.to_vec())).unwrap();
            StatusCode::OK
        }
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(listener, axum::Router::new().route("/hook", axum::routing::post(hook))).await.unwrap();
    });
    (address, rx)
}

#[tokio::test]
async fn a_partner_subscribed_to_a_query_gets_each_new_event_signed_even_after_a_failed_delivery() {
    let app = demo_app().await;
    let response = app.submit("/account", "#token-form", &[("name", "Partner hub"), ("scope", "write")]).await;
    let secret = crate::helpers::text(&scraper::Html::parse_document(&response.text().await.unwrap()), "#new-token");
    let api = reqwest::Client::new();
    let call = |method: reqwest::Method, path: &str, body: Option<Value>| {
        let mut request = api.request(method, app.url(path)).bearer_auth(&secret);
        if let Some(body) = body {
            request = request.json(&body);
        }
        async move { request.send().await.unwrap() }
    };
    let post = |path: &str, body: Value| call(reqwest::Method::POST, path, Some(body));

    let named =
        post("/api/v1/epcis/queries", json!({ "name": "receipts", "query": { "EQ_bizStep": "receiving" } })).await;
    assert_eq!(named.status(), StatusCode::CREATED);
    assert_eq!(named.headers()["location"], "/api/v1/epcis/queries/receipts");
    let twice = post("/api/v1/epcis/queries", json!({ "name": "receipts", "query": {} })).await;
    assert_eq!(twice.status(), StatusCode::CONFLICT);
    let unanswerable = post("/api/v1/epcis/queries", json!({ "name": "x", "query": { "EQ_readPoint": "y" } })).await;
    assert_eq!(unanswerable.status(), StatusCode::BAD_REQUEST);

    let (dest, mut delivered) = receiver(true).await;
    let subscriptions = "/api/v1/epcis/queries/receipts/subscriptions";
    for (body, status) in [
        (json!({ "dest": dest, "signatureToken": "partner-secret" }), StatusCode::BAD_REQUEST),
        (json!({ "dest": dest, "stream": true, "schedule": { "hour": "1" } }), StatusCode::BAD_REQUEST),
        (json!({ "dest": "https://partner.example/hook", "stream": true }), StatusCode::BAD_REQUEST),
    ] {
        assert_eq!(post(subscriptions, body.clone()).await.status(), status, "{body}");
    }
    assert_eq!(
        post("/api/v1/epcis/queries/nothing/subscriptions", json!({ "dest": dest, "stream": true })).await.status(),
        StatusCode::NOT_FOUND
    );
    let subscribed =
        post(subscriptions, json!({ "dest": dest, "signatureToken": "partner-secret", "stream": true })).await;
    assert_eq!(subscribed.status(), StatusCode::CREATED);
    let location = subscribed.headers()["location"].to_str().unwrap().to_string();
    let shown: Value = subscribed.json().await.unwrap();
    assert!(shown.get("signatureToken").is_none(), "the secret is never shown back");

    // Goods arrive after the subscription: the partner is sent that receipt's event (and no
    // earlier one), first refused by the partner, then sent again.
    let lot = LotBuilder::received("SUGAR", "25").build(&app.pool).await;
    let (signature, body) =
        tokio::time::timeout(Duration::from_secs(30), delivered.recv()).await.expect("a delivery within 30 s").unwrap();
    assert_eq!(signature, lotline::documents::epcis::subscriptions::signature("partner-secret", &body));
    let doc: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(problems(&doc), Vec::<String>::new());
    assert_eq!(doc["epcisBody"]["queryResults"]["queryName"], "receipts");
    let sent = events(&doc);
    assert_eq!(sent.len(), 1, "{doc}");
    assert_eq!(sent[0]["bizStep"], "receiving");
    assert_eq!(sent[0]["quantityList"][0]["quantity"], json!(25.0));
    let class = sent[0]["quantityList"][0]["epcClass"].as_str().unwrap();
    assert!(class.ends_with(&format!("/id/lot/SUGAR/{}", lot.code)), "{class}");

    // Its state, then unsubscribed: nothing more is sent.
    // (The partner answers before lotline notes the delivery: look again for a moment.)
    let mut list = Value::Null;
    for _ in 0..50 {
        list = call(reqwest::Method::GET, subscriptions, None).await.json().await.unwrap();
        if list[0]["lastNotifiedAt"].is_string() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(list[0]["lastNotifiedAt"].is_string() && list[0]["lastError"].is_null(), "{list}");
    assert_eq!(call(reqwest::Method::DELETE, &location, None).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(call(reqwest::Method::DELETE, &location, None).await.status(), StatusCode::NOT_FOUND);
    LotBuilder::received("SUGAR", "5").build(&app.pool).await;
    assert!(
        tokio::time::timeout(Duration::from_secs(4), delivered.recv()).await.is_err(),
        "nothing after unsubscribing"
    );
    let audited: i64 = sqlx::query_scalar("select count(*) from audit_log where entity_type = 'epcis_query'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(audited, 3, "the query, the subscription and its end are in the audit trail");
}

#[tokio::test]
async fn relabelling_a_received_lot_under_our_own_product_is_a_transformation_event() {
    let app = demo_app().await;
    // The supplier's sugar (their lot SC-8812), repacked into our own product with its own GTIN.
    let (sugar, location): (Uuid, Uuid) = sqlx::query_as(
        "select l.id, o.location_id from lots l join on_hand o on o.lot_id = l.id where l.supplier_lot = 'SC-8812' and o.quantity >= 10",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let repack = lotline::stock::split::Split {
        from: location,
        to: location,
        quantity: "10".parse().unwrap(),
        material: Some("COOKIE-250".into()),
        new_quantity: Some("40".parse().unwrap()),
    };
    let actor = tester(&app.pool).await.actor();
    let (_, code) = lotline::stock::split::split(&app.pool, &actor, sugar, &repack).await.unwrap();
    let doc: Value = app
        .get("/api/v1/epcis/events?eventType=TransformationEvent&EQ_bizStep=repackaging")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(problems(&doc), Vec::<String>::new());
    let found = events(&doc);
    assert_eq!(found.len(), 1, "{doc}");
    let event = &found[0];
    assert!(event["transformationID"].as_str().unwrap().contains("/id/repack/"));
    assert_eq!(event["inputQuantityList"][0]["quantity"], json!(10.0));
    assert_eq!(event["outputQuantityList"][0]["quantity"], json!(40.0));
    let output = event["outputQuantityList"][0]["epcClass"].as_str().unwrap();
    assert!(output.starts_with("urn:epc:class:lgtin:0614141.") && output.ends_with(&format!(".{code}")), "{output}");
    assert_eq!(event["ilmd"]["cbvmda:lotNumber"], code.as_str(), "the new lot's own traceability lot code");
}

#[tokio::test]
async fn one_plants_shipping_event_is_the_next_plants_receipt_once() {
    // Two plants, two databases: the bakery ships to a distribution centre that runs lotline too.
    let (bakery, centre) = (demo_app().await, demo_app().await);
    let bakery_gln: String =
        sqlx::query_scalar("select gln from sites where code = 'RVS'").fetch_one(&bakery.pool).await.unwrap();
    // Each knows the other by GLN: the centre's site is the bakery's customer FRESHMART, the
    // bakery the centre's supplier.
    sqlx::query("update sites set gln = '0614141000050' where code = 'DC1'").execute(&centre.pool).await.unwrap();
    sqlx::query("update parties set gln = '0614141000050' where code = 'FRESHMART'")
        .execute(&bakery.pool)
        .await
        .unwrap();
    sqlx::query("update parties set gln = $1, is_supplier = true where code = 'PRAIRIE-MILL'")
        .bind(&bakery_gln)
        .execute(&centre.pool)
        .await
        .unwrap();

    // The bakery ships a pallet of brioche to the centre.
    let (lot, on_hand): (String, rust_decimal::Decimal) = sqlx::query_as(
        "select l.code, o.quantity from lots l join materials m on m.id = l.material_id join on_hand o on o.lot_id = l.id
          where m.code = 'BRIOCHE-400' and l.disposition = 'released' and o.quantity >= 10 order by l.code limit 1",
    )
    .fetch_one(&bakery.pool)
    .await
    .unwrap();
    assert!(on_hand >= rust_decimal::Decimal::TEN);
    let shipment = lotline::stock::ship::Shipment {
        site: id(&bakery.pool, "sites", "RVS").await,
        customer: id(&bakery.pool, "parties", "FRESHMART").await,
        shipped_on: None,
        order_ref: "DC-REPLENISH-9".into(),
        bol_ref: String::new(),
        asn_ref: String::new(),
        lines: vec![lotline::stock::ship::ShipLine { row: 0, lot, quantity: "10".parse().unwrap(), location: None }],
        pallets: 1,
        key: Uuid::new_v4(),
    };
    lotline::stock::ship::ship(&bakery.pool, &tester(&bakery.pool).await.actor(), &shipment).await.unwrap();
    let shipped: Value = bakery.get("/api/v1/epcis/events?EQ_bizStep=shipping").await.json().await.unwrap();
    let to_centre: Vec<Value> = events(&shipped)
        .into_iter()
        .filter(|e| e["destinationList"][0]["destination"] == "https://id.gs1.org/417/0614141000050")
        .collect();
    assert_eq!(to_centre.len(), 1, "{shipped}");
    let event = &to_centre[0];
    assert_eq!(
        event["sourceList"][0],
        json!({ "type": "owning_party", "source": format!("https://id.gs1.org/417/{bakery_gln}") })
    );
    assert_eq!(
        event["sourceList"][1],
        json!({ "type": "location", "source": format!("https://id.gs1.org/414/{bakery_gln}") })
    );
    let doc = json!({
        "@context": [lotline::documents::epcis::CONTEXT], "type": "EPCISDocument", "schemaVersion": "2.0",
        "creationDate": "2026-11-26T08:00:00.000Z", "epcisBody": { "eventList": [event] }
    });
    assert_eq!(problems(&doc), Vec::<String>::new());

    let response = centre.submit("/account", "#token-form", &[("name", "Bakery feed"), ("scope", "write")]).await;
    let secret = crate::helpers::text(&scraper::Html::parse_document(&response.text().await.unwrap()), "#new-token");
    let post = || async {
        reqwest::Client::new()
            .post(centre.url("/api/v1/epcis/receipts?location=STORE"))
            .bearer_auth(&secret)
            .json(&doc)
            .send()
            .await
            .unwrap()
    };
    let response = post().await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let received: Value = response.json().await.unwrap();
    let lot = &received["receipts"][0]["lots"][0];
    let class = event["quantityList"][0]["epcClass"].as_str().unwrap();
    assert!(class.ends_with(&format!(".{}", lot["supplier_lot"].as_str().unwrap())), "{class} / {lot}");
    assert_eq!(lot["material"], "BRIOCHE-400");
    assert_eq!(lot["supplier"], "PRAIRIE-MILL");
    assert_eq!(lot["on_hand"], event["quantityList"][0]["quantity"].as_f64().unwrap().to_string().as_str());
    let again: Value = post().await.json().await.unwrap();
    assert_eq!(again["receipts"][0]["receipt_id"], received["receipts"][0]["receipt_id"], "received once");
}

#[tokio::test]
async fn a_posting_committed_after_a_later_one_was_published_is_published_too() {
    use lotline::domain::vocab::MovementKind;
    use lotline::ledger::{Document, Movement};
    let app = demo_app().await;
    let pool = &app.pool;
    lotline::documents::epcis::publish::publish(pool, "http://x").await.unwrap();
    let lot = LotBuilder::received("SALT", "50").released().build(pool).await;
    let dock = id(pool, "locations", "DOCK").await;
    // A shipment whose transaction takes its movement's id, then stays open...
    let mut open = pool.begin().await.unwrap();
    let shipment: Uuid = sqlx::query_scalar(
        "insert into shipments (number, site_id, customer_id, shipped_at)
         values ('SHP-SLOW', (select id from sites where code = 'RVS'), (select id from parties where code = 'FRESHMART'), now())
         returning id",
    )
    .fetch_one(&mut *open)
    .await
    .unwrap();
    let actor = tester(pool).await.actor();
    let ship = Movement::new(MovementKind::Ship, lot.id, dock, "-5".parse().unwrap(), Uuid::new_v4())
        .document(Document::Shipment(shipment));
    let movement = lotline::ledger::post(&mut open, &actor, &ship).await.unwrap();
    sqlx::query(
        "insert into shipment_lines (shipment_id, line_no, lot_id, quantity, location_id, movement_id) values ($1, 1, $2, 5, $3, $4)",
    )
    .bind(shipment)
    .bind(lot.id)
    .bind(dock)
    .bind(movement)
    .execute(&mut *open)
    .await
    .unwrap();
    // ...while a later receipt commits and is published.
    let later = LotBuilder::received("SUGAR", "5").build(pool).await;
    lotline::documents::epcis::publish::publish(pool, "http://x").await.unwrap();
    let published = |key: String| async move {
        sqlx::query_scalar::<_, i64>("select count(*) from epcis_events where event_key = $1")
            .bind(key)
            .fetch_one(pool)
            .await
            .unwrap()
    };
    let later_receipt: Uuid = sqlx::query_scalar("select receipt_id from receipt_lines where lot_id = $1")
        .bind(later.id)
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(published(format!("receipt:{later_receipt}")).await, 1);
    assert_eq!(published(format!("shipment:{shipment}")).await, 0, "not committed yet");
    // The shipment commits: the id publication passed unseen is looked at again.
    open.commit().await.unwrap();
    lotline::documents::epcis::publish::publish(pool, "http://x").await.unwrap();
    assert_eq!(published(format!("shipment:{shipment}")).await, 1);
}
