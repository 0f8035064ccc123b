//! The JSON API: its OpenAPI document lists every route and every listed route answers; the
//! documentation page; three calls as a new user would make them with a token; JSON errors.

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, text, texts};
use crate::recalls::demo_app;

pub(crate) async fn token(app: &TestApp) -> String {
    let response = app.submit("/account", "#token-form", &[("name", "API test"), ("scope", "write")]).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    text(&scraper::Html::parse_document(&response.text().await.unwrap()), "#new-token")
}

pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// Every problem the OpenAPI 3.1 schema finds in `doc`, and every answer without a description
/// or (for a refusal) without the error body.
fn openapi_problems(doc: &Value) -> Vec<String> {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/openapi/schema-3.1.json");
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let mut problems: Vec<String> =
        validator.iter_errors(doc).map(|e| format!("{e} at {}", e.instance_path())).collect();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            for (status, response) in op["responses"].as_object().unwrap() {
                if response["description"].as_str().is_none_or(|d| d.trim().is_empty()) {
                    problems.push(format!("{method} {path} {status}: no description"));
                }
                if status.starts_with(['4', '5'])
                    && response["content"]["application/json"]["schema"]["$ref"] != "#/components/schemas/Error"
                {
                    problems.push(format!("{method} {path} {status}: not the error body"));
                }
            }
            for status in ["400", "401", "403"] {
                if op["responses"].get(status).is_none() {
                    problems.push(format!("{method} {path}: {status} undeclared"));
                }
            }
            if method == "post" && op["responses"].get("422").is_none() {
                problems.push(format!("{method} {path}: 422 undeclared"));
            }
        }
    }
    problems
}

#[test]
fn the_openapi_check_finds_what_a_validator_finds() {
    let broken = json!({ "openapi": "3.1.0", "info": { "title": "x", "version": "1" },
        "paths": { "/a": { "get": { "responses": { "200": {} } } } } });
    let problems = openapi_problems(&broken);
    assert!(problems.iter().any(|p| p.contains("description")), "{problems:?}");
    assert!(problems.iter().any(|p| p.contains("401 undeclared")), "{problems:?}");
}

#[tokio::test]
async fn the_openapi_document_lists_every_route_and_every_route_in_it_answers() {
    let app = demo_app().await;
    let secret = token(&app).await;
    let doc: Value = app.get("/api/openapi.json").await.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    assert_eq!(openapi_problems(&doc), Vec::<String>::new(), "the OpenAPI document is valid");
    assert_eq!(doc["components"]["securitySchemes"]["token"]["scheme"], "bearer");
    let documented: BTreeSet<String> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| item.as_object().unwrap().keys().map(move |m| format!("{} {path}", m.to_uppercase())))
        .collect();
    let expected: BTreeSet<String> = [
        "GET /api/v1/me",
        "GET /api/v1/materials",
        "POST /api/v1/materials",
        "GET /api/v1/parties",
        "POST /api/v1/parties",
        "GET /api/v1/locations",
        "POST /api/v1/locations",
        "GET /api/v1/lots",
        "GET /api/v1/lots/{id}",
        "POST /api/v1/lots/{id}/holds",
        "GET /api/v1/shipments",
        "POST /api/v1/receipts",
        "POST /api/v1/epcis/receipts",
        "GET /api/v1/receipts",
        "GET /api/v1/runs",
        "POST /api/v1/runs",
        "POST /api/v1/runs/{id}/inputs",
        "POST /api/v1/runs/{id}/outputs",
        "POST /api/v1/shipments",
        "POST /api/v1/lots/{id}/release",
        "POST /api/v1/lots/{id}/reject",
        "GET /api/v1/lots/{id}/qa-records",
        "POST /api/v1/lots/{id}/qa-records",
        "GET /api/v1/trace",
        "GET /api/v1/epcis",
        "GET /api/v1/epcis/events",
        "POST /api/v1/epcis/queries",
        "GET /api/v1/epcis/queries/{name}/events",
        "POST /api/v1/epcis/queries/{name}/subscriptions",
        "GET /api/v1/epcis/queries/{name}/subscriptions",
        "DELETE /api/v1/epcis/queries/{name}/subscriptions/{id}",
        "GET /api/v1/recalls/{id}",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(documented, expected);

    // Every documented GET answers 200 with a token (ids filled in from the demo plant).
    let lot: String =
        sqlx::query_scalar("select id::text from lots order by created_at limit 1").fetch_one(&app.pool).await.unwrap();
    let (flour_id, flour_code): (String, String) = sqlx::query_as(
        "select l.id::text, l.code from lots l join materials m on m.id = l.material_id where m.code = 'FLOUR-T55' limit 1",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let recall = crate::recalls::open_mock(&app, &flour_id).await;
    let api = client();
    let named = api
        .post(app.url("/api/v1/epcis/queries"))
        .bearer_auth(&secret)
        .json(&serde_json::json!({ "name": "everything", "query": {} }))
        .send()
        .await
        .unwrap();
    assert_eq!(named.status(), StatusCode::CREATED);
    for entry in &documented {
        let Some(path) = entry.strip_prefix("GET ") else { continue };
        let url =
            path.replace("{id}", if path.contains("recalls") { &recall } else { &lot }).replace("{name}", "everything")
                + match path {
                    "/api/v1/trace" => "?material=FLOUR-T55&lot=".to_string() + &flour_code + "&direction=forward",
                    "/api/v1/epcis" => format!("?lot_id={flour_id}&direction=forward"),
                    _ => String::new(),
                }
                .as_str();
        let response = api.get(app.url(&url)).bearer_auth(&secret).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{url}");
        // And not without the token.
        let anonymous = api.get(app.url(&url)).send().await.unwrap();
        assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED, "{url} without a token");
    }

    // The documentation page reads the same document.
    let page = app.page("/api/docs").await;
    let listed: BTreeSet<String> = texts(&page, ".endpoint h2 code").into_iter().collect();
    assert_eq!(listed, expected);
    assert!(!texts(&page, "#schema-LotJson").is_empty());
}

#[tokio::test]
async fn a_new_user_calls_three_endpoints_with_a_token_and_gets_json_errors_with_the_field() {
    let app = demo_app().await;
    let secret = token(&app).await;
    let api = client();
    // 1. List lots, searching and paging.
    let page: Value = api
        .get(app.url("/api/v1/lots?q=BRIOCHE&per_page=1"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["total"], 2);
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(page["items"][0]["material"], "BRIOCHE-400");
    assert_eq!(page["items"][0]["uom"], "ea");
    // 2. Receive goods.
    let key = uuid::Uuid::new_v4();
    let body = json!({
        "idempotency_key": key, "site": "RVS", "supplier": "SALINAS", "order_ref": "PO-API-1",
        "lines": [{ "material": "SALT", "supplier_lot": "SAL-API", "quantity": "25.5", "location": "RAW-A" }]
    });
    let response = api.post(app.url("/api/v1/receipts")).bearer_auth(&secret).json(&body).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await.unwrap();
    assert!(created["number"].as_str().unwrap().starts_with("R-"));
    let lot = &created["lots"][0];
    assert_eq!(
        (lot["material"].as_str(), lot["on_hand"].as_str(), lot["supplier_lot"].as_str()),
        (Some("SALT"), Some("25.5"), Some("SAL-API"))
    );
    // Posted twice: the same receipt, nothing new.
    let again: Value = api
        .post(app.url("/api/v1/receipts"))
        .bearer_auth(&secret)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(again["receipt_id"], created["receipt_id"]);
    // 3. Hold the new lot; it then shows as on hold.
    let id = lot["id"].as_str().unwrap();
    let response = api
        .post(app.url(&format!("/api/v1/lots/{id}/holds")))
        .bearer_auth(&secret)
        .json(&json!({ "reason": "Lab check" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let held: Value = response.json().await.unwrap();
    assert_eq!(held["status"], "on hold");

    // Refusals: the field, the page's message, nothing written.
    let receipts = app.count("receipts").await;
    let bad = json!({
        "idempotency_key": uuid::Uuid::new_v4(), "site": "RVS", "supplier": "SALINAS",
        "lines": [{ "material": "SALT", "quantity": "-3", "location": "RAW-A" }]
    });
    let response = api.post(app.url("/api/v1/receipts")).bearer_auth(&secret).json(&bad).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["code"], "invalid");
    assert_eq!(error["error"]["field"], "line1");
    assert!(error["error"]["message"].as_str().unwrap().contains("greater than zero"), "{error}");
    assert_eq!(app.count("receipts").await, receipts);
    let response = api
        .post(app.url(&format!("/api/v1/lots/{id}/holds")))
        .bearer_auth(&secret)
        .json(&json!({ "reason": " " }))
        .send()
        .await
        .unwrap();
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["field"], "hold_reason");
    let response = api.get(app.url("/api/v1/lots?per_page=501")).bearer_auth(&secret).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["message"], "per_page is between 1 and 500.");
    let response =
        api.get(app.url(&format!("/api/v1/lots/{}", uuid::Uuid::new_v4()))).bearer_auth(&secret).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_lot_goes_from_receipt_through_qa_a_run_and_a_shipment_by_the_api_alone() {
    let app = demo_app().await;
    let secret = token(&app).await;
    let api = client();
    let post = |path: String, body: Value| {
        let request = api.post(app.url(&path)).bearer_auth(&secret).json(&body);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    let key = || uuid::Uuid::new_v4().to_string();
    // Receive sugar: it needs QA, so it starts in quarantine.
    let (status, created) = post(
        "/api/v1/receipts".into(),
        json!({ "idempotency_key": key(), "site": "RVS", "supplier": "SWEETCANE",
                "lines": [{ "material": "SUGAR", "supplier_lot": "SC-API", "quantity": "40", "location": "RAW-A" }] }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let sugar = created["lots"][0].clone();
    let (sugar_id, sugar_code) =
        (sugar["id"].as_str().unwrap().to_string(), sugar["code"].as_str().unwrap().to_string());
    assert_eq!(sugar["status"], "quarantine");
    // A run cannot use it yet.
    let (status, run) =
        post("/api/v1/runs".into(), json!({ "idempotency_key": key(), "site": "RVS", "output_material": "DOUGH-BR" }))
            .await;
    assert_eq!(status, StatusCode::CREATED, "{run}");
    let run_id = run["id"].as_str().unwrap().to_string();
    let input = json!({ "idempotency_key": key(), "lot": sugar_code, "quantity": "10" });
    let (status, error) = post(format!("/api/v1/runs/{run_id}/inputs"), input.clone()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(error["error"]["message"].as_str().unwrap().contains("quarantine"), "{error}");
    // A test record, then the release, signed with the password.
    let today = crate::helpers::site_today(&app.pool).await.to_string();
    let (status, records) = post(
        format!("/api/v1/lots/{sugar_id}/qa-records"),
        json!({ "kind": "test", "name": "Moisture", "result": "0.04 %", "outcome": "pass", "performed_on": today }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{records}");
    assert_eq!(records[0]["name"], "Moisture");
    let (status, error) =
        post(format!("/api/v1/lots/{sugar_id}/release"), json!({ "signer": "tester", "password": "wrong" })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error["error"]["field"], "password");
    let (status, lot) = post(
        format!("/api/v1/lots/{sugar_id}/release"),
        json!({ "signer": "tester", "password": crate::helpers::PASSWORD }),
    )
    .await;
    assert_eq!((status, lot["status"].as_str()), (StatusCode::OK, Some("released")));
    // Now the run takes it and makes a lot of dough, which the API then ships.
    let (status, posted) = post(format!("/api/v1/runs/{run_id}/inputs"), input).await;
    assert_eq!(status, StatusCode::CREATED, "{posted}");
    let (status, output) = post(
        format!("/api/v1/runs/{run_id}/outputs"),
        json!({ "idempotency_key": key(), "quantity": "10", "location": "LINE-1" }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{output}");
    let dough = output["lot"].as_str().unwrap().to_string();
    let (status, shipped) = post(
        "/api/v1/shipments".into(),
        json!({ "idempotency_key": key(), "site": "RVS", "customer": "FRESHMART", "lines": [{ "lot": dough, "quantity": "4" }] }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{shipped}");
    assert!(shipped["number"].as_str().unwrap().starts_with("SHP-"));
    // The trace of the sugar, by the API, reaches the dough and its customer.
    let trace: Value = api
        .get(app.url(&format!("/api/v1/trace?lot_id={sugar_id}&direction=forward")))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(trace["lots"].as_array().unwrap().iter().any(|l| l["code"] == dough.as_str()));
    assert_eq!(trace["customers"][0]["code"], "FRESHMART");
    let runs: Value =
        api.get(app.url("/api/v1/runs?q=DOUGH")).bearer_auth(&secret).send().await.unwrap().json().await.unwrap();
    assert!(runs["items"].as_array().unwrap().iter().any(|r| r["id"] == run_id.as_str()));
}

#[tokio::test]
async fn an_integration_creates_materials_parties_and_locations_once_each_and_gets_field_errors() {
    let app = demo_app().await;
    let admin = token(&app).await;
    let api = client();
    let post = |path: &'static str, body: Value| {
        let (api, admin, url) = (api.clone(), admin.clone(), app.url(path));
        async move { api.post(url).bearer_auth(&admin).json(&body).send().await.unwrap() }
    };
    let key = uuid::Uuid::new_v4();
    let material = json!({
        "idempotency_key": key, "code": "oat-flakes", "name": "Oat flakes", "kind": "raw", "uom": "KG",
        "shelf_life_days": 365, "qa_required": true, "ftl": false
    });
    let made = post("/api/v1/materials", material.clone()).await;
    assert_eq!(made.status(), StatusCode::CREATED);
    let made: Value = made.json().await.unwrap();
    assert_eq!(
        (made["code"].as_str(), made["uom"].as_str(), made["shelf_life_days"].as_i64()),
        (Some("OAT-FLAKES"), Some("kg"), Some(365))
    );
    // The same request again: the same material, nothing new.
    let again: Value = post("/api/v1/materials", material).await.json().await.unwrap();
    assert_eq!(again["code"], "OAT-FLAKES");
    let count: i64 = sqlx::query_scalar("select count(*) from materials where code = 'OAT-FLAKES'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(count, 1);
    // A code in use, a unit that does not exist, a missing name: field errors, nothing written.
    let materials_before = app.count("materials").await;
    for (body, field) in [
        (
            json!({ "idempotency_key": uuid::Uuid::new_v4(), "code": "OAT-FLAKES", "name": "Again", "kind": "raw", "uom": "kg" }),
            "code",
        ),
        (
            json!({ "idempotency_key": uuid::Uuid::new_v4(), "code": "OATS-2", "name": "Oats", "kind": "raw", "uom": "bushel" }),
            "uom",
        ),
        (
            json!({ "idempotency_key": uuid::Uuid::new_v4(), "code": "OATS-3", "name": " ", "kind": "raw", "uom": "kg" }),
            "name",
        ),
        (
            json!({ "idempotency_key": uuid::Uuid::new_v4(), "code": "OATS-4", "name": "Oats", "kind": "grain", "uom": "kg" }),
            "kind",
        ),
    ] {
        let r = post("/api/v1/materials", body).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let e: Value = r.json().await.unwrap();
        assert!(e["error"]["fields"][field].is_string(), "{field}: {e}");
    }
    assert_eq!(app.count("materials").await, materials_before);

    let party = post(
        "/api/v1/parties",
        json!({ "idempotency_key": uuid::Uuid::new_v4(), "code": "NORDIC-OATS", "name": "Nordic Oats AB", "is_supplier": true, "country": "SE", "email": "qa@nordic-oats.example" }),
    )
    .await;
    assert_eq!(party.status(), StatusCode::CREATED);
    let party: Value = party.json().await.unwrap();
    assert_eq!((party["is_supplier"].as_bool(), party["country"].as_str()), (Some(true), Some("SE")));
    let neither =
        post("/api/v1/parties", json!({ "idempotency_key": uuid::Uuid::new_v4(), "code": "NOBODY", "name": "Nobody" }))
            .await;
    assert_eq!(neither.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let location = post(
        "/api/v1/locations",
        json!({ "idempotency_key": uuid::Uuid::new_v4(), "site": "rvs", "code": "RAW-Z", "name": "Raw store Z", "kind": "storage" }),
    )
    .await;
    assert_eq!(location.status(), StatusCode::CREATED);
    let nowhere = post(
        "/api/v1/locations",
        json!({ "idempotency_key": uuid::Uuid::new_v4(), "site": "MOON", "code": "RAW-Z", "name": "Raw store Z", "kind": "storage" }),
    )
    .await;
    let e: Value = nowhere.json().await.unwrap();
    assert_eq!(e["error"]["fields"]["site"], "No site has the code “MOON”.");

    // What the integration made is used at once: a receipt of the new material from the new
    // supplier into the new location.
    let receipt = post(
        "/api/v1/receipts",
        json!({ "idempotency_key": uuid::Uuid::new_v4(), "site": "RVS", "supplier": "NORDIC-OATS",
                "lines": [{ "material": "OAT-FLAKES", "quantity": "500", "location": "RAW-Z" }] }),
    )
    .await;
    assert_eq!(receipt.status(), StatusCode::CREATED);
    let receipt: Value = receipt.json().await.unwrap();
    assert_eq!(receipt["lots"][0]["status"], "quarantine", "QA release is required");

    // Without master.edit: refused.
    app.create_user("olga", &["operator"]).await;
    let mut operator = app.another();
    operator.login("olga", crate::helpers::PASSWORD).await;
    let olga = token(&operator).await;
    let refused = api
        .post(app.url("/api/v1/materials"))
        .bearer_auth(&olga)
        .json(&json!({ "idempotency_key": uuid::Uuid::new_v4(), "code": "X", "name": "X", "kind": "raw", "uom": "kg" }))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_run_named_by_unknown_codes_is_refused_field_by_field_and_nothing_is_written() {
    let app = demo_app().await;
    let secret = token(&app).await;
    let post = |path: String, body: Value| post_json(&app, &secret, path, body);
    let key = || uuid::Uuid::new_v4().to_string();
    let runs = app.count("production_runs").await;
    let (status, e) = post(
        "/api/v1/runs".into(),
        json!({ "idempotency_key": key(), "site": "moon", "output_material": "CHEESE", "planned_quantity": "-3" }),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert_eq!(e["error"]["fields"]["site"], "No site has the code “MOON”.");
    assert_eq!(e["error"]["fields"]["output_material"], "No material has the code “CHEESE”.");
    assert!(e["error"]["fields"]["planned_quantity"].as_str().unwrap().contains("greater than zero"), "{e}");
    let (status, e) = post(
        "/api/v1/runs".into(),
        json!({ "idempotency_key": key(), "site": "RVS", "output_material": "DOUGH-BR", "line": "L9" }),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert_eq!(e["error"]["fields"]["line"], "No production line at the site has the code “L9”.");
    assert_eq!(app.count("production_runs").await, runs, "nothing was opened");

    let (status, run) =
        post("/api/v1/runs".into(), json!({ "idempotency_key": key(), "site": "RVS", "output_material": "DOUGH-BR" }))
            .await;
    assert_eq!(status, StatusCode::CREATED, "{run}");
    let run_id = run["id"].as_str().unwrap();
    let (status, e) = post(
        format!("/api/v1/runs/{run_id}/outputs"),
        json!({ "idempotency_key": key(), "quantity": "ten", "location": "NOWHERE" }),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert_eq!(e["error"]["fields"]["location"], "No location at the run's site has the code “NOWHERE”.");
    assert!(e["error"]["fields"]["quantity"].as_str().unwrap().contains("must be a number"), "{e}");
    let movements = app.count("stock_movements").await;
    let (status, e) =
        post(format!("/api/v1/runs/{run_id}/inputs"), json!({ "idempotency_key": key(), "lot": "", "quantity": "1" }))
            .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert_eq!(e["error"]["field"], "lot");
    assert_eq!(app.count("stock_movements").await, movements, "nothing was posted");
}

/// `POST` of `body` to `path` with the API token `secret`: the status and the JSON answer.
async fn post_json(app: &TestApp, secret: &str, path: String, body: Value) -> (StatusCode, Value) {
    let response = client().post(app.url(&path)).bearer_auth(secret).json(&body).send().await.unwrap();
    (response.status(), response.json::<Value>().await.unwrap())
}

#[tokio::test]
async fn the_apis_lists_find_what_the_pages_find() {
    let app = demo_app().await;
    let secret = token(&app).await;
    let get = |path: &str| {
        let request = client().get(app.url(path)).bearer_auth(&secret);
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    // The locations page searches the site's code too; so does the API now.
    let page = app.page("/locations?q=RVS").await;
    let on_page = crate::helpers::texts(&page, "#locations tbody tr").len();
    let listed = get("/api/v1/locations?q=RVS").await;
    assert!(on_page > 0);
    assert_eq!(listed["total"].as_i64().unwrap() as usize, on_page, "{listed}");
    let materials = get("/api/v1/materials?q=brioche").await;
    let brioche = materials["items"].as_array().unwrap().iter().find(|m| m["code"] == "BRIOCHE-400").unwrap().clone();
    assert_eq!(brioche["mass_per_unit_kg"], "0.4");
    assert_eq!(brioche["gtins"].as_array().unwrap().len(), 2, "{brioche}");
}

#[tokio::test]
async fn an_idempotency_key_sent_again_with_another_request_or_by_another_user_is_refused() {
    let app = demo_app().await;
    let secret = token(&app).await;
    let api = client();
    let key = uuid::Uuid::new_v4();
    let party = |code: &str| json!({ "idempotency_key": key, "code": code, "name": code, "is_customer": true });
    let post = |body: Value, secret: String| {
        let request = api.post(app.url("/api/v1/parties")).bearer_auth(secret).json(&body);
        async move {
            let response = request.send().await.unwrap();
            (response.status(), response.json::<Value>().await.unwrap())
        }
    };
    let (status, first) = post(party("ONE"), secret.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    // The same request again: the same record, nothing new.
    let (status, again) = post(party("ONE"), secret.clone()).await;
    assert!(status.is_success(), "{again}");
    assert_eq!(again["id"], first["id"]);
    // Another request with the same key: refused, saying why.
    let (status, other) = post(party("TWO"), secret.clone()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{other}");
    assert!(other.to_string().contains("used already for another request"), "{other}");
    // The same request by another user: refused too.
    app.create_user("otto", &["admin"]).await;
    let mut otto = app.another();
    otto.login("otto", crate::helpers::PASSWORD).await;
    let theirs = token(&otto).await;
    let (status, _) = post(party("ONE"), theirs).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        app.count("parties").await,
        sqlx::query_scalar::<_, i64>("select count(*) from parties").fetch_one(&app.pool).await.unwrap()
    );
    let made: i64 = sqlx::query_scalar("select count(*) from parties where code in ('ONE', 'TWO')")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(made, 1);
}
