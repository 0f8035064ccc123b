//! A received lot keeps its supplier's identity outward: the supplier's lot under the supplier's
//! GTIN in EPCIS, on its labels and in scans and searches; our code stays our internal key.

use reqwest::StatusCode;

use crate::helpers::{TestApp, text, texts};
use crate::recalls::demo_app;

/// Sugar from SWEETCANE, once the plant has registered the supplier's GTIN (the GS1 example
/// company prefix 0012345): a new lot received as the supplier's SC-9001. Returns its id, our
/// code, the GTIN, and the demo's earlier sugar lot (SC-8812, received before the GTIN).
async fn sugar(app: &TestApp) -> (String, String, String, String) {
    let id =
        |sql: &'static str| async move { sqlx::query_scalar::<_, uuid::Uuid>(sql).fetch_one(&app.pool).await.unwrap() };
    let material = id("select id from materials where code = 'SUGAR'").await;
    let earlier: String = sqlx::query_scalar("select id::text from lots where supplier_lot = 'SC-8812'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let gtin = "00012345000010".to_string();
    let form = lotline::master::materials::GtinForm {
        gtin: gtin.clone(),
        pack_level: "each".into(),
        units_per_pack: "1".into(),
        company_prefix_length: "7".into(),
    };
    let actor = lotline::audit::Actor::system("test");
    lotline::master::materials::add_gtin(&app.pool, &actor, material, &form).await.unwrap();
    let input = lotline::stock::receive::ReceiptInput {
        site_id: id("select id from sites where code = 'RVS'").await,
        supplier_id: id("select id from parties where code = 'SWEETCANE'").await,
        received_on: None,
        order_ref: "PO-9001".into(),
        asn_ref: String::new(),
        lines: vec![lotline::stock::receive::LineInput {
            material_id: material,
            supplier_lot: Some("SC-9001".into()),
            quantity: rust_decimal::Decimal::from(250),
            location_id: id("select l.id from locations l join sites s on s.id = l.site_id where s.code = 'RVS' and l.code = 'RAW-A'").await,
            expires_on: None,
            country_of_origin: None,
        }],
    };
    let received = lotline::stock::receive::receive(&app.pool, &actor, &input, uuid::Uuid::new_v4()).await.unwrap();
    let (lot, code) = received.lots[0].clone();
    (lot.to_string(), code, gtin, earlier)
}

#[tokio::test]
async fn a_received_lot_is_the_suppliers_lot_in_epcis_on_labels_and_in_scans() {
    let app = demo_app().await;
    let (id, code, gtin, earlier) = sugar(&app).await;
    assert_ne!(code, "SC-9001", "our own code differs from the supplier's");

    // EPCIS: the class is the supplier's GTIN with the supplier's lot; our code appears nowhere.
    let trace = app.page(&format!("/trace?lot={id}&direction=forward")).await;
    let link = crate::helpers::value_of(&trace, "#epcis", "href");
    let doc: serde_json::Value = app.get(&link).await.json().await.unwrap();
    let classes: Vec<String> = doc["epcisBody"]["eventList"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|e| ["quantityList", "inputQuantityList", "outputQuantityList"].map(|k| e[k].clone()))
        .filter_map(|list| list.as_array().cloned())
        .flatten()
        .map(|q| q["epcClass"].as_str().unwrap().to_string())
        .collect();
    assert!(classes.iter().any(|c| c.ends_with(".SC-9001") || c.ends_with("/10/SC-9001")), "{classes:?}");
    let exported = doc.to_string();
    assert!(!exported.contains(&code), "our code {code} stays inside: {exported}");

    // The label carries the supplier's lot in (10), says QUARANTINE while QA has not released it,
    // and names our lot for people.
    sqlx::query("update lots set disposition = 'quarantine' where id = $1::uuid")
        .bind(&id)
        .execute(&app.pool)
        .await
        .unwrap();
    let label = app.page(&format!("/lots/{id}/label")).await;
    assert!(text(&label, ".lot-label .hri").ends_with("(10)SC-9001"), "{}", text(&label, ".lot-label .hri"));
    assert!(text(&label, ".label-hold").starts_with("QUARANTINE"));
    let facts = text(&label, ".label-facts");
    assert!(facts.contains("Supplier lot SC-9001") && facts.contains(&code), "{facts}");

    // The supplier's barcode, scanned, finds our lot; so does typing its lot in the search box.
    let scan = format!("01{gtin}10SC-9001");
    for q in [scan.as_str(), "SC-9001", "sc-9001", code.as_str()] {
        let response = app.get(&format!("/search?q={}", lotline::web::percent_encode(q))).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{q}");
        assert_eq!(response.headers()["location"], format!("/lots/{id}").as_str(), "{q}");
    }
    let unknown = app.page(&format!("/search?q=01{gtin}10NOPE")).await;
    assert!(texts(&unknown, ".flash, .problem, p").iter().any(|t| t.contains("has no lot “NOPE”")));

    // The GTIN came after the earlier lot: that lot's events keep the identity they were
    // published with, and a GTIN that names lots stays.
    let trace = app.page(&format!("/trace?lot={earlier}&direction=forward")).await;
    let link = crate::helpers::value_of(&trace, "#epcis", "href");
    let before: String = app.get(&link).await.text().await.unwrap();
    assert!(before.contains("/id/lot/SUGAR/") && !before.contains("lgtin:0012345"), "{before}");
    let material: uuid::Uuid =
        sqlx::query_scalar("select id from materials where code = 'SUGAR'").fetch_one(&app.pool).await.unwrap();
    let kept =
        lotline::master::materials::remove_gtin(&app.pool, &lotline::audit::Actor::system("test"), material, &gtin)
            .await
            .unwrap_err();
    assert!(kept.to_string().contains("names 1 lot"), "{kept}");
}
