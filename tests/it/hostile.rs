//! Hostile input is ordinary input: control characters, huge numbers, unknown ids, names that
//! would run as spreadsheet formulas, off-site redirects — each refused with a clear 4xx or made
//! harmless, nothing written; and a bounded fuzz pass over the public and searchable pages.

use reqwest::header::{CACHE_CONTROL, LOCATION};

use crate::helpers::{TestApp, assert_field_error, assert_redirect, new_client};
use crate::recalls::demo_app;

/// Writes nothing: the tables a refused request could have touched keep their counts.
async fn counts(app: &TestApp) -> Vec<i64> {
    let mut out = Vec::new();
    for table in
        ["materials", "parties", "lots", "stock_movements", "lookup_counts", "epcis_queries", "epcis_subscriptions"]
    {
        out.push(app.count(table).await);
    }
    out
}

#[tokio::test]
async fn nul_bytes_huge_pages_unknown_ids_and_long_names_get_a_4xx_and_write_nothing() {
    let app = demo_app().await;
    let before = counts(&app).await;
    let lot: String = sqlx::query_scalar(
        "select l.id::text from lots l join on_hand o on o.lot_id = l.id where o.quantity > 1 order by l.code limit 1",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    for path in [
        "/check?product=BRIOCHE-400&lot=a%00b",
        "/search?q=a%00b",
        "/lots?q=%00",
        "/lots?page=9223372036854775807",
        "/api/v1/lots?page=9223372036854775807",
        "/api/v1/lots?q=a%00",
        "/trace?lot=%00&direction=forward",
    ] {
        let status = app.get(path).await.status();
        assert!(status.is_success() || status.is_client_error(), "{path}: {status}");
    }
    // Form fields: a control character is refused beside its field; a NUL too.
    for name in ["Flour\u{0}x", "Flour\u{7}", "Flour \u{202E}evil"] {
        let response = app
            .submit(
                "/materials/new",
                "main form.record-form",
                &[("code", "HOSTILE"), ("name", name), ("kind", "raw"), ("uom", "kg"), ("expiry_policy", "none")],
            )
            .await;
        assert_field_error(response, "name", "control character").await;
    }
    // An unknown location in a transfer, an adjustment or a split.
    let nobody = uuid::Uuid::new_v4().to_string();
    for (action, fields) in [
        (
            "transfer",
            vec![("from_location", nobody.as_str()), ("to_location", nobody.as_str()), ("transfer_quantity", "1")],
        ),
        (
            "adjust",
            vec![
                ("from_location", nobody.as_str()),
                ("adjust_quantity", "1"),
                ("direction", "add"),
                ("adjust_reason", "x"),
            ],
        ),
        ("split", vec![("split_from", nobody.as_str()), ("split_quantity", "1"), ("split_to", nobody.as_str())]),
    ] {
        let status = app.post_form(&format!("/lots/{lot}/{action}"), &fields).await.status();
        assert!(status.is_client_error(), "{action}: {status}");
    }
    // A user name of 9 KB.
    let long = "a".repeat(9000);
    let page = new_client().get(app.url("/login")).send().await.unwrap().text().await.unwrap();
    let token = crate::helpers::value(&scraper::Html::parse_document(&page), "input[name=login_token]");
    let response = app
        .client
        .post(app.url("/login"))
        .form(&[("username", long.as_str()), ("password", "x"), ("login_token", &token)])
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error(), "{}", response.status());
    assert_eq!(counts(&app).await, before, "nothing was written");
}

#[tokio::test]
async fn a_name_that_would_run_as_a_formula_is_inert_in_every_csv() {
    let app = demo_app().await;
    sqlx::query("update parties set name = '=HYPERLINK(\"http://evil.example\",\"Click\")' where code = 'FRESHMART'")
        .execute(&app.pool)
        .await
        .unwrap();
    let body = app.get("/shipments?format=csv").await.text().await.unwrap();
    assert!(body.contains("'=HYPERLINK"), "{body}");
    assert!(!body.lines().any(|l| l.split(',').any(|cell| cell.trim_start_matches('"').starts_with("=HYPERLINK"))));
    let flour: String = sqlx::query_scalar(
        "select distinct l.id::text from lots l join materials m on m.id = l.material_id join stock_movements s on s.lot_id = l.id
          where m.code = 'FLOUR-T55' and s.kind = 'consume'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let trace = app.get(&format!("/trace?lot={flour}&direction=forward&format=csv")).await.text().await.unwrap();
    assert!(trace.contains("'=HYPERLINK"), "{trace}");
}

#[tokio::test]
async fn a_login_only_ever_leads_to_a_path_on_this_site_and_signed_in_pages_are_not_cached() {
    let app = demo_app().await;
    for next in ["/%09/evil.example/", "//evil.example/", "/\\evil.example", "https://evil.example/", "/%20/evil"] {
        let client = new_client();
        let page = client.get(app.url(&format!("/login?next={next}"))).send().await.unwrap().text().await.unwrap();
        let html = scraper::Html::parse_document(&page);
        let kept = crate::helpers::value(&html, "input[name=next]");
        assert_eq!(kept, "/", "{next}");
    }
    let response = app.get("/lots").await;
    assert_eq!(response.headers()[CACHE_CONTROL], "no-store");
    let https = app.client.get(app.url("/lots")).header("x-forwarded-proto", "https").send().await.unwrap();
    assert!(https.headers()["strict-transport-security"].to_str().unwrap().starts_with("max-age="));
    // Over https every cookie is Secure, the flash message's too.
    let flashed = app
        .client
        .post(app.url("/materials"))
        .header("x-forwarded-proto", "https")
        .form(&[
            ("csrf_token", app.csrf.as_str()),
            ("code", "HTTPS-1"),
            ("name", "Over TLS"),
            ("kind", "raw"),
            ("uom", "kg"),
            ("expiry_policy", "none"),
            ("idempotency_key", &uuid::Uuid::new_v4().to_string()),
        ])
        .send()
        .await
        .unwrap();
    let cookies: Vec<&str> = flashed.headers().get_all("set-cookie").iter().map(|c| c.to_str().unwrap()).collect();
    assert!(
        !cookies.is_empty() && cookies.iter().all(|c| c.ends_with("; Secure") || c.contains("; Secure;")),
        "{cookies:?}"
    );
    let anonymous = new_client().get(app.url("/check")).send().await.unwrap();
    assert!(anonymous.headers().get("strict-transport-security").is_none());
    let signed_out = new_client().get(app.url("/lots")).send().await.unwrap();
    assert_redirect(&signed_out, "/login");
    assert!(signed_out.headers()[LOCATION].to_str().unwrap().starts_with("/login"));
}

/// A small deterministic generator of hostile strings: control characters, NULs, overrides,
/// quotes, SQL and HTML fragments, percent escapes, very long runs, and mixtures of them.
fn hostile_inputs(n: usize) -> Vec<String> {
    let atoms = [
        "\u{0}",
        "\u{1}",
        "\u{1d}",
        "\u{7f}",
        "\u{202e}",
        "\u{2066}",
        "'",
        "\"",
        "\\",
        "%",
        "%00",
        "%ff",
        "_",
        ";",
        "--",
        "/*",
        "<script>",
        "&amp;",
        "{{",
        "}}",
        "\r\n",
        "\t",
        "é",
        "日本",
        "🙂",
        "=1+1",
        "@SUM",
        "01",
        "10",
        "(01)09506000134352(10)",
        " ",
        "..",
        "/",
        "?",
        "#",
        "0",
        "-1",
        "9223372036854775808",
        "1e309",
        "NaN",
    ];
    let mut seed: u64 = 0x5eed;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    (0..n)
        .map(|i| {
            if i % 97 == 0 {
                return "x".repeat(5000 + i);
            }
            let len = 1 + (next() % 6) as usize;
            (0..len).map(|_| atoms[(next() % atoms.len() as u64) as usize]).collect()
        })
        .collect()
}

#[tokio::test]
async fn a_bounded_fuzz_pass_over_search_the_public_check_the_digital_link_and_a_form_never_answers_5xx() {
    let app = demo_app().await;
    let before = counts(&app).await;
    let encode = |s: &str| lotline::domain::text::percent_encode(s);
    let inputs = hostile_inputs(400);
    let mut tried = 0;
    for input in &inputs {
        let e = encode(input);
        for path in [
            format!("/search?q={e}"),
            format!("/lots?q={e}&page={e}"),
            format!("/api/v1/lots?q={e}"),
            format!("/01/09506000134352/10/{e}"),
        ] {
            let status = app.get(&path).await.status();
            assert!(!status.is_server_error(), "{path}: {status}");
            tried += 1;
        }
        let status =
            app.post_form("/parties", &[("code", input), ("name", input), ("kind", "customer")]).await.status();
        assert!(!status.is_server_error(), "party {input:?}: {status}");
        tried += 1;
    }
    // The public check counts lookups per address: a few hundred stay under its own limit test.
    for input in inputs.iter().take(25) {
        let status = new_client()
            .get(app.url(&format!("/check?product=BRIOCHE-400&lot={}", encode(input))))
            .send()
            .await
            .unwrap()
            .status();
        assert!(!status.is_server_error(), "/check {input:?}: {status}");
        tried += 1;
    }
    assert!(tried > 2000, "{tried}");
    let after = counts(&app).await;
    assert_eq!(after[0], before[0], "no material");
    assert_eq!(after[2..4], before[2..4], "no lot, no movement");
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = crate::helpers::spawn_anonymous().await;
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: lotline\r\n").await.unwrap();
    let started = std::time::Instant::now();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(std::time::Duration::from_secs(30), stream.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the server closed the connection");
    let waited = started.elapsed();
    assert!(waited >= lotline::app::HEADER_READ_TIMEOUT - std::time::Duration::from_secs(1), "{waited:?}");
    assert!(waited < lotline::app::HEADER_READ_TIMEOUT + std::time::Duration::from_secs(5), "{waited:?}");
}

/// Arbitrary JSON, as a property generator makes it: every JSON type, nested a few levels, any
/// character in strings (controls, NULs, overrides, astral), any number, and object keys drawn
/// from the API's own field names (so the parsers behind them are reached) and from nowhere.
fn json_values(fields: Vec<String>) -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
    use proptest::prelude::*;
    use serde_json::Value;
    let text = prop_oneof![
        prop::collection::vec(any::<char>(), 0..12).prop_map(String::from_iter),
        prop::sample::select(vec!["", "0", "-1", "1e999", "2026-02-30", "9999-12-31", "kg", "=cmd", "\u{0}", "DOUGH"])
            .prop_map(str::to_string),
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        text.clone().prop_map(Value::String),
    ];
    let keys = prop_oneof![4 => prop::sample::select(fields), 1 => text];
    leaf.prop_recursive(3, 32, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((keys.clone(), inner), 0..8)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
        ]
    })
}

/// Every property name of every schema in the OpenAPI document.
fn field_names(doc: &serde_json::Value) -> Vec<String> {
    let mut names = std::collections::BTreeSet::new();
    let mut stack = vec![doc];
    while let Some(v) = stack.pop() {
        match v {
            serde_json::Value::Object(map) => {
                if let Some(serde_json::Value::Object(props)) = map.get("properties") {
                    names.extend(props.keys().cloned());
                }
                stack.extend(map.values());
            }
            serde_json::Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    names.into_iter().collect()
}

#[derive(Debug, Clone)]
enum Replace {
    Text(String),
    Any(serde_json::Value),
}

/// Text a person or a script might send: any characters, the hostile atoms of the page fuzz,
/// numbers and dates at and past their limits, codes of the demo plant.
fn hostile_text() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    prop_oneof![
        prop::collection::vec(any::<char>(), 0..16).prop_map(String::from_iter),
        prop::sample::select(hostile_inputs(120)),
        prop::sample::select(vec![
            "0",
            "-0",
            "0.0000001",
            "1e3",
            "99999999999999999999.5",
            "-25",
            "1,5",
            "2026-02-30",
            "1999-12-31",
            "2101-01-01",
            "+10000-01-01",
            "2026-01-05T08:00:00+14:00",
            "kg",
            "RVS",
            "SALT",
            "RAW-A",
            "FRESHMART",
        ])
        .prop_map(str::to_string),
    ]
}

/// The leaves of `value` (and its members), as JSON pointers.
fn pointers(value: &serde_json::Value, at: String, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                out.push(format!("{at}/{k}"));
                pointers(v, format!("{at}/{k}"), out);
            }
        }
        serde_json::Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                out.push(format!("{at}/{i}"));
                pointers(v, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// A valid request with one or two of its members replaced by arbitrary JSON or removed: past
/// the JSON parser, into the checks behind it.
fn mutations(
    template: serde_json::Value,
    fields: Vec<String>,
) -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
    use proptest::prelude::*;
    let mut paths = Vec::new();
    pointers(&template, String::new(), &mut paths);
    // Mostly a hostile text where text was (so the field parses as text and its check is
    // reached), else any JSON at all, else the member gone.
    let value = prop_oneof![
        6 => hostile_text().prop_map(|t| Some(Replace::Text(t))),
        3 => json_values(fields).prop_map(|v| Some(Replace::Any(v))),
        1 => Just(None),
    ];
    prop::collection::vec((prop::sample::select(paths), value), 1..3).prop_map(move |changes| {
        let mut body = template.clone();
        for (path, value) in changes {
            match value {
                Some(replace) => {
                    if let Some(slot) = body.pointer_mut(&path) {
                        *slot = match replace {
                            Replace::Text(t) if slot.is_string() => serde_json::Value::String(t),
                            // A number stays a number, a flag a flag, a list or an object whole.
                            Replace::Text(t) if slot.is_number() => t
                                .parse::<f64>()
                                .ok()
                                .and_then(serde_json::Number::from_f64)
                                .map_or(serde_json::Value::from(t.len() as i64 - 8), serde_json::Value::Number),
                            Replace::Text(t) if slot.is_boolean() => serde_json::Value::Bool(t.len() % 2 == 0),
                            Replace::Text(_) => slot.clone(),
                            Replace::Any(v) => v,
                        };
                    }
                }
                None => {
                    let (parent, key) = path.rsplit_once('/').unwrap();
                    match body.pointer_mut(parent) {
                        Some(serde_json::Value::Object(map)) => {
                            map.remove(key);
                        }
                        Some(serde_json::Value::Array(items)) => {
                            if let Ok(i) = key.parse::<usize>()
                                && i < items.len()
                            {
                                items.remove(i);
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
        body
    })
}

#[tokio::test]
async fn arbitrary_json_to_every_api_route_that_writes_gets_a_4xx_or_a_2xx_and_a_refusal_writes_nothing() {
    use proptest::strategy::{Strategy, ValueTree};
    use serde_json::json;
    let app = demo_app().await;
    let secret = crate::api::token(&app).await;
    let doc: serde_json::Value = app.get("/api/openapi.json").await.json().await.unwrap();
    let (lot, code): (String, String) = sqlx::query_as(
        "select l.id::text, l.code from lots l join on_hand o on o.lot_id = l.id where o.quantity > 0 order by l.code limit 1",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let run: String = sqlx::query_scalar("select id::text from production_runs order by id limit 1")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let key = "00000000-0000-4000-8000-000000000000";
    // A request each route accepts (or refuses only for the state of the plant).
    let valid = |route: &str| match route {
        "/api/v1/materials" => json!({ "idempotency_key": key, "code": "FUZZ", "name": "Fuzz", "kind": "raw",
            "uom": "kg", "mass_per_unit_kg": "1.5", "shelf_life_days": 30, "expiry_policy": "shelf_life",
            "qa_required": true, "ftl": false, "description": "x" }),
        "/api/v1/parties" => json!({ "idempotency_key": key, "code": "FUZZ", "name": "Fuzz", "is_supplier": true,
            "is_customer": false, "address": "1 Main St", "country": "DE", "gln": "4012345000009" }),
        "/api/v1/locations" => json!({ "idempotency_key": key, "site": "RVS", "code": "FUZZ", "name": "Fuzz",
            "kind": "storage" }),
        "/api/v1/receipts" => json!({ "idempotency_key": key, "site": "RVS", "supplier": "SALINAS",
            "order_ref": "PO-FUZZ", "received_at": "2026-01-05T08:00:00Z",
            "lines": [{ "material": "SALT", "supplier_lot": "SAL-F", "quantity": "25.5", "location": "RAW-A",
                        "expiry_date": "2027-01-01" }] }),
        "/api/v1/runs" => json!({ "idempotency_key": key, "site": "RVS", "output_material": "DOUGH-BR" }),
        "/api/v1/shipments" => json!({ "idempotency_key": key, "site": "RVS", "customer": "FRESHMART",
            "lines": [{ "lot": code, "quantity": "1" }] }),
        r if r.ends_with("/inputs") => json!({ "idempotency_key": key, "lot": code, "quantity": "1" }),
        r if r.ends_with("/outputs") => json!({ "idempotency_key": key, "quantity": "10", "location": "LINE-1" }),
        r if r.ends_with("/holds") => json!({ "reason": "Lab check" }),
        r if r.ends_with("/release") || r.ends_with("/reject") => json!({ "reason": "Lab", "password": "nope" }),
        r if r.ends_with("/qa-records") => json!({ "kind": "test", "name": "Moisture", "result": "0.04 %",
            "outcome": "pass", "performed_on": "2026-01-05" }),
        "/api/v1/epcis/queries" => json!({ "name": "fuzz", "query": { "EQ_bizStep": "shipping" } }),
        r if r.ends_with("/subscriptions") => {
            json!({ "dest": "http://127.0.0.1:9/hook", "stream": true, "signatureToken": "fuzz" })
        }
        _ => json!({ "document": { "type": "EPCISDocument", "epcisBody": { "eventList": [] } } }),
    };
    // The query subscriptions are made to.
    let named = api_post(&app, &secret, "/api/v1/epcis/queries", json!({ "name": "fuzzed", "query": {} })).await;
    assert_eq!(named, reqwest::StatusCode::CREATED);
    let routes: Vec<(String, serde_json::Value)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, item)| item.get("post").is_some())
        .map(|(path, _)| {
            let url =
                path.replace("/runs/{id}", &format!("/runs/{run}")).replace("{id}", &lot).replace("{name}", "fuzzed");
            (url, valid(path))
        })
        .collect();
    assert!(routes.len() >= 10, "{routes:?}");
    let fields = field_names(&doc);
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let api = crate::api::client();
    let (mut tried, mut refused, mut accepted, mut past_the_parser) = (0, 0, 0, 0);
    for (route, template) in &routes {
        let shapeless = json_values(fields.clone());
        let mutated = mutations(template.clone(), fields.clone());
        for case in 0..60 {
            let mut body = if case % 5 == 4 {
                shapeless.new_tree(&mut runner).unwrap().current()
            } else {
                mutated.new_tree(&mut runner).unwrap().current()
            };
            // A fresh key, unless the case changed it: a key sent again with another body is
            // refused by its own rule, tested elsewhere.
            if let Some(k) = body.get_mut("idempotency_key").filter(|k| k.as_str() == Some(key)) {
                *k = json!(uuid::Uuid::new_v4());
            }
            let before = counts(&app).await;
            let request = api.post(app.url(route)).bearer_auth(&secret);
            // Now and then not JSON at all: bare bytes, a truncated document.
            let request = match case % 20 {
                3 => request.header("content-type", "application/json").body(format!("{body}").replacen('}', "", 1)),
                8 => request.header("content-type", "text/plain").body(vec![0xff, 0xfe, 0, 0x1d]),
                _ => request.json(&body),
            };
            let response = request.send().await.unwrap();
            let status = response.status();
            let text = response.text().await.unwrap();
            tried += 1;
            assert!(!status.is_server_error(), "{route} {body}: {status} {text}");
            if status.is_success() {
                accepted += 1;
            } else {
                refused += 1;
                if !text.contains("Failed to deserialize") && !text.contains("Failed to parse") && status != 415 {
                    past_the_parser += 1;
                }
                assert_eq!(
                    counts(&app).await,
                    before,
                    "{route} {body}: refused with {status}, yet something was written"
                );
            }
        }
    }
    assert!(tried >= 700, "{tried} tried");
    assert!(past_the_parser * 3 > refused, "{past_the_parser} of {refused} refusals came from past the JSON parser");
    eprintln!("{tried} requests: {accepted} accepted, {refused} refused ({past_the_parser} past the JSON parser)");
}

/// Every table a page's form can write to.
async fn every_count(app: &TestApp) -> Vec<(&'static str, i64)> {
    let mut out = Vec::new();
    for table in [
        "materials",
        "parties",
        "sites",
        "locations",
        "users",
        "lot_rules",
        "lots",
        "stock_movements",
        "receipts",
        "shipments",
        "production_runs",
        "recalls",
        "lot_holds",
        "lot_dispositions",
        "qa_records",
        "stock_counts",
        "api_tokens",
        "party_contacts",
        "material_gtins",
        "signatures",
    ] {
        out.push((table, app.count(table).await));
    }
    out
}

#[tokio::test]
async fn every_form_of_every_page_refuses_hostile_values_with_a_4xx_and_writes_nothing_when_it_refuses() {
    use proptest::prelude::*;
    use proptest::strategy::ValueTree;
    let app = demo_app().await;
    let lot: String = sqlx::query_scalar(
        "select l.id::text from lots l join on_hand o on o.lot_id = l.id where o.quantity > 1 order by l.code limit 1",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    // An open run, as the floor opens one.
    let dough = crate::rules::id_of(&app, "materials", "DOUGH-BR").await;
    let site = crate::rules::id_of(&app, "sites", "RVS").await;
    let opened = app.submit("/runs/new", "#run-form", &[("output_material_id", &dough), ("site_id", &site)]).await;
    assert!(opened.status().is_redirection(), "a run opens: {}", opened.status());
    let run = opened.headers()["location"].to_str().unwrap().trim_start_matches("/runs/").to_string();
    let pages = [
        "/materials/new".to_string(),
        "/parties/new".into(),
        "/sites/new".into(),
        "/locations/new".into(),
        "/receipts/new".into(),
        "/shipments/new".into(),
        "/runs/new".into(),
        "/admin/lot-rules/new".into(),
        "/admin/users/new".into(),
        "/recalls/new".into(),
        "/counts".into(),
        format!("/lots/{lot}"),
        format!("/runs/{run}"),
    ];
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let (mut forms, mut tried, mut refused) = (0, 0, 0);
    for page in &pages {
        let html = scraper::Html::parse_document(&app.get(page).await.text().await.unwrap());
        let post = scraper::Selector::parse("form[method=post]:not([enctype='multipart/form-data'])").unwrap();
        for form in html.select(&post) {
            let action = form.value().attr("action").unwrap_or(page).to_string();
            if action == "/logout" {
                continue;
            }
            forms += 1;
            let values = crate::helpers::form_values(&form);
            // The signing password stays empty: wrong ones would end the session (tested apart).
            let mutable: Vec<usize> =
                (0..values.len()).filter(|i| !matches!(values[*i].0.as_str(), "csrf_token" | "password")).collect();
            if mutable.is_empty() {
                continue;
            }
            let change = (prop::sample::select(mutable), hostile_text());
            let strategy = prop::collection::vec(change, 1..4);
            for _ in 0..16 {
                let mut sent = values.clone();
                for (at, value) in strategy.new_tree(&mut runner).unwrap().current() {
                    sent[at].1 = value;
                }
                let before = every_count(&app).await;
                let response = app.client.post(app.url(&action)).form(&sent).send().await.unwrap();
                let status = response.status();
                let body = response.text().await.unwrap();
                tried += 1;
                assert!(!status.is_server_error(), "{action} {sent:?}: {status}");
                if status == reqwest::StatusCode::OK && body.contains("id=\"confirm-form\"") {
                    // Asked to confirm a destroying act: nothing is written until it is.
                    assert_eq!(every_count(&app).await, before, "{action} {sent:?}: asked, yet written");
                } else if !status.is_redirection() {
                    refused += 1;
                    assert!(status.is_client_error(), "{action} {sent:?}: {status}");
                    assert_eq!(every_count(&app).await, before, "{action} {sent:?}: refused, yet written");
                }
            }
        }
    }
    assert_eq!(app.get("/").await.status(), reqwest::StatusCode::OK, "still signed in: every form was reached");
    assert!(forms >= 20 && tried >= 320, "{forms} forms, {tried} requests");
    eprintln!("{forms} forms, {tried} requests, {refused} refused");
}

async fn api_post(
    app: &crate::helpers::TestApp,
    secret: &str,
    path: &str,
    body: serde_json::Value,
) -> reqwest::StatusCode {
    crate::api::client().post(app.url(path)).bearer_auth(secret).json(&body).send().await.unwrap().status()
}
