//! A received lot keeps its supplier's identity outward: the supplier's lot under the supplier's
//! GTIN in EPCIS, on its labels and in scans and searches; our code stays our internal key.

use reqwest::StatusCode;

use crate::helpers::{TestApp, text, texts};
use crate::recalls::demo_app;

/// The demo's sugar, received from SWEETCANE as its lot SC-8812, given the supplier's GTIN (the
/// GS1 example company prefix 0012345): our id, our code, the GTIN.
async fn sugar(app: &TestApp) -> (String, String, String) {
    let (id, material, code): (String, uuid::Uuid, String) =
        sqlx::query_as("select id::text, material_id, code from lots where supplier_lot = 'SC-8812'")
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
    lotline::master::materials::add_gtin(&app.pool, &lotline::audit::Actor::system("test"), material, &form)
        .await
        .unwrap();
    (id, code, gtin)
}

#[tokio::test]
async fn a_received_lot_is_the_suppliers_lot_in_epcis_on_labels_and_in_scans() {
    let app = demo_app().await;
    let (id, code, gtin) = sugar(&app).await;
    assert_ne!(code, "SC-8812", "our own code differs from the supplier's");

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
    assert!(classes.iter().any(|c| c.ends_with(".SC-8812") || c.ends_with("/10/SC-8812")), "{classes:?}");
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
    assert!(text(&label, ".lot-label .hri").ends_with("(10)SC-8812"), "{}", text(&label, ".lot-label .hri"));
    assert!(text(&label, ".label-hold").starts_with("QUARANTINE"));
    let facts = text(&label, ".label-facts");
    assert!(facts.contains("Supplier lot SC-8812") && facts.contains(&code), "{facts}");

    // The supplier's barcode, scanned, finds our lot; so does typing its lot in the search box.
    let scan = format!("01{gtin}10SC-8812");
    for q in [scan.as_str(), "SC-8812", "sc-8812", code.as_str()] {
        let response = app.get(&format!("/search?q={}", lotline::web::percent_encode(q))).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{q}");
        assert_eq!(response.headers()["location"], format!("/lots/{id}").as_str(), "{q}");
    }
    let unknown = app.page(&format!("/search?q=01{gtin}10NOPE")).await;
    assert!(texts(&unknown, ".flash, .problem, p").iter().any(|t| t.contains("has no lot “NOPE”")));
}
