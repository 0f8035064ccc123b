//! Lot-number rules: the admin pages, the preview, signatures, and the allocator's promises.

use reqwest::StatusCode;
use scraper::Html;

use crate::helpers::{PASSWORD, TestApp, assert_field_error, assert_redirect, text, texts, value};

pub async fn id_of(app: &TestApp, table: &str, code: &str) -> String {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("select id::text from {table} where code = $1")))
        .bind(code)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

/// Receives one lot of `material` through the receipt form; returns the new lot's code.
pub async fn receive(app: &TestApp, material: &str, quantity: &str, on: &str) -> reqwest::Response {
    let material = id_of(app, "materials", material).await;
    let supplier = id_of(app, "parties", "PRAIRIE-MILL").await;
    let site = id_of(app, "sites", "RVS").await;
    let location: String = sqlx::query_scalar(
        "select l.id::text from locations l join sites s on s.id = l.site_id where s.code = 'RVS' and l.code = 'DOCK'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    app.submit(
        "/receipts/new",
        "#receipt-form",
        &[
            ("material_id", &material),
            ("supplier_id", &supplier),
            ("site_id", &site),
            ("location_id", &location),
            ("quantity", quantity),
            ("received_on", on),
            ("supplier_lot", "SUP-1"),
        ],
    )
    .await
}

pub async fn received_code(app: &TestApp, response: reqwest::Response) -> String {
    let location = assert_redirect(&response, "/receipts/");
    let page = app.page(&location).await;
    text(&page, "#receipt-lines a.lot-code")
}

async fn demo_app() -> TestApp {
    crate::helpers::spawn_demo(crate::helpers::Demo::Master).await
}

#[tokio::test]
async fn an_admin_creates_a_rule_sees_the_preview_and_receiving_issues_exactly_those_codes() {
    let app = demo_app().await;
    let site_today = crate::helpers::site_today(&app.pool).await;
    let today = site_today.to_string();
    let fields = [
        ("name", "Sugar by day"),
        ("pattern", "{YY}{JJJ}{SEQ:3}"),
        ("scope", "material"),
        ("scope_material", "sugar"),
        ("reset_period", "daily"),
        ("start_number", "1"),
        ("preview_material", "SUGAR"),
        ("preview_date", &today),
        ("signer", "tester"),
        ("password", PASSWORD),
    ];
    // The preview first, as the "Show preview" button asks for it (no script).
    let query: Vec<(&str, &str)> = fields.iter().filter(|(k, _)| *k != "password").copied().collect();
    let preview = app.client.get(app.url("/admin/lot-rules/preview")).query(&query).send().await.unwrap();
    let page = Html::parse_document(&preview.text().await.unwrap());
    let codes = texts(&page, "#preview-codes li");
    let yyjjj = site_today.format("%y%j").to_string();
    assert_eq!(codes, (1..=5).map(|i| format!("{yyjjj}{i:03}")).collect::<Vec<_>>());

    // The fragment a script asks for holds the same codes.
    let fragment = app
        .client
        .get(app.url("/admin/lot-rules/preview"))
        .query(&query)
        .header("x-fragment", "1")
        .send()
        .await
        .unwrap();
    let fragment = Html::parse_fragment(&fragment.text().await.unwrap());
    assert_eq!(texts(&fragment, "#preview-codes li"), codes);

    let location =
        assert_redirect(&app.submit("/admin/lot-rules/new", "#rule-form", &fields).await, "/admin/lot-rules/");
    let page = app.page(&location).await;
    assert_eq!(texts(&page, "#preview-codes li"), codes, "the saved rule previews the same codes");

    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(received_code(&app, crate::rules::receive(&app, "SUGAR", "25", &today).await).await);
    }
    assert_eq!(got, codes[..3].to_vec(), "receiving issues the previewed codes");
    let page = app.page(&location).await;
    assert_eq!(texts(&page, "#preview-codes li")[0], codes[3], "the preview moves on");
    assert_eq!(texts(&page, "#sequences tbody td.num"), vec!["4", "3", "0"]);
    let signature: String = sqlx::query_scalar(
        "select s.meaning from lot_rules r join signatures s on s.id = r.signature_id where r.name = 'Sugar by day'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(signature, "approved by");
    let list = app.page("/admin/lot-rules").await;
    let governs = texts(&list, "#rules tbody tr");
    assert!(governs.iter().any(|r| r.starts_with("Sugar by day") && r.ends_with("SUGAR")), "{governs:?}");
    assert!(
        governs.iter().any(|r| r.starts_with("Default") && r.contains("FLOUR-T55") && !r.contains("SUGAR")),
        "{governs:?}"
    );
}

#[tokio::test]
async fn an_invalid_rule_is_refused_with_a_message_that_says_how_to_fix_it() {
    let app = demo_app().await;
    let response = app
        .submit(
            "/admin/lot-rules/new",
            "#rule-form",
            &[
                ("name", "Bad"),
                ("pattern", "{YY}{MM}-{SEQ:4}"),
                ("scope", "material"),
                ("scope_material", "SUGAR"),
                ("reset_period", "daily"),
                ("signer", "tester"),
                ("password", PASSWORD),
            ],
        )
        .await;
    let page = assert_field_error(response, "pattern", "A daily reset needs the code to tell the day").await;
    assert!(text(&page, "#f-pattern-error").contains("Add {YY}{JJJ} or {YY}{MM}{DD}"));
    assert_eq!(value(&page, "#f-pattern"), "{YY}{MM}-{SEQ:4}");
    assert!(text(&page, "#preview-problem").starts_with("No preview"));

    let response = app
        .submit(
            "/admin/lot-rules/new",
            "#rule-form",
            &[
                ("name", "Bad"),
                ("pattern", "LOT {SEQ:4}"),
                ("scope", "default"),
                ("reset_period", "never"),
                ("signer", "tester"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_field_error(response, "pattern", "At character 4: “ ” cannot be part of a GS1 lot code").await;
    let response = app
        .submit(
            "/admin/lot-rules/new",
            "#rule-form",
            &[
                ("name", "Bad"),
                ("pattern", "{YY}{YYY}{SEQ}"),
                ("scope", "material"),
                ("scope_material", "NOPE"),
                ("reset_period", "never"),
                ("signer", "tester"),
                ("password", PASSWORD),
            ],
        )
        .await;
    let page = assert_field_error(response, "pattern", "“{YYY}” is not a token").await;
    assert_eq!(text(&page, "#f-scope_material-error"), "There is no material with the code “NOPE”.");
    assert_eq!(app.count("lot_rules").await, 1, "only the seeded default rule");
    assert_eq!(app.count("signatures").await, 0);
}

#[tokio::test]
async fn a_rule_change_needs_the_admins_password_as_a_signature() {
    let app = demo_app().await;
    let default = sqlx::query_scalar::<_, String>("select id::text from lot_rules where scope = 'default'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let response = app
        .submit(
            &format!("/admin/lot-rules/{default}"),
            "#rule-form",
            &[
                ("pattern", "{YY}{JJJ}-{SEQ:5}"),
                ("reason", "More lots per day"),
                ("signer", "tester"),
                ("password", "not my password"),
            ],
        )
        .await;
    assert_field_error(response, "password", "the one given is not right").await;
    let pattern: String = sqlx::query_scalar("select pattern from lot_rules").fetch_one(&app.pool).await.unwrap();
    assert_eq!(pattern, "{YY}{JJJ}-{SEQ:4}");

    let response = app
        .submit(
            &format!("/admin/lot-rules/{default}"),
            "#rule-form",
            &[("pattern", "{YY}{JJJ}-{SEQ:5}"), ("reason", ""), ("signer", "tester"), ("password", PASSWORD)],
        )
        .await;
    assert_field_error(response, "reason", "The reason for the change is required.").await;
    let response = app
        .submit(
            &format!("/admin/lot-rules/{default}"),
            "#rule-form",
            &[
                ("pattern", "{YY}{JJJ}-{SEQ:5}"),
                ("reason", "More lots per day"),
                ("signer", "tester"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_redirect(&response, "/admin/lot-rules/");
    let page = app.page(&format!("/admin/lot-rules/{default}")).await;
    let latest = &texts(&page, "#history tbody tr")[0];
    assert!(
        latest.contains("pattern : {YY}{JJJ}-{SEQ:4} → {YY}{JJJ}-{SEQ:5}")
            && latest.contains("Reason: More lots per day"),
        "{latest}"
    );
}

#[tokio::test]
async fn the_allocator_skips_a_code_that_exists_and_logs_the_gap() {
    let app = demo_app().await;
    let today = crate::helpers::site_today(&app.pool).await;
    let prefix = today.format("%y%j").to_string();
    // A lot typed in by hand earlier holds the code the rule would give next.
    sqlx::query(
        "insert into lots (material_id, code, origin, site_id, made_on, tlc, tlc_source)
         select m.id, $1, 'received', s.id, site_today(s.id), $1, 'x' from materials m, sites s where m.code = 'SALT' and s.code = 'RVS'",
    )
    .bind(format!("{prefix}-0001"))
    .execute(&app.pool)
    .await
    .unwrap();
    let code = received_code(&app, crate::rules::receive(&app, "SALT", "10", &today.to_string()).await).await;
    assert_eq!(code, format!("{prefix}-0002"));
    let gap: (i64, String, String) =
        sqlx::query_as("select value, code, reason from lot_code_gaps").fetch_one(&app.pool).await.unwrap();
    assert_eq!(gap, (1, format!("{prefix}-0001"), "code already exists for this material".to_string()));
}

#[tokio::test]
async fn a_sequence_that_would_outgrow_its_digits_is_refused_and_nothing_is_received() {
    let app = demo_app().await;
    let fields = [
        ("name", "Tiny"),
        ("pattern", "T{SEQ:1}"),
        ("scope", "material"),
        ("scope_material", "YEAST"),
        ("reset_period", "never"),
        ("start_number", "8"),
        ("signer", "tester"),
        ("password", PASSWORD),
    ];
    assert_redirect(&app.submit("/admin/lot-rules/new", "#rule-form", &fields).await, "/admin/lot-rules/");
    let today = crate::helpers::site_today(&app.pool).await.to_string();
    assert_eq!(received_code(&app, crate::rules::receive(&app, "YEAST", "1", &today).await).await, "T8");
    assert_eq!(received_code(&app, crate::rules::receive(&app, "YEAST", "1", &today).await).await, "T9");
    let refused = crate::rules::receive(&app, "YEAST", "1", &today).await;
    assert_field_error(refused, "line1", "would outgrow its digits").await;
    assert_eq!(app.count("lots").await, 2);
    assert_eq!(app.count("receipts").await, 2);
    let gaps: Vec<i64> = sqlx::query_scalar("select value from lot_code_gaps").fetch_all(&app.pool).await.unwrap();
    assert_eq!(gaps, vec![10], "the number drawn in vain is logged");
}

#[tokio::test]
async fn the_lot_date_not_the_day_of_entry_goes_into_the_code() {
    let app = demo_app().await;
    let code = received_code(&app, crate::rules::receive(&app, "FLOUR-T55", "500", "2024-02-29").await).await;
    assert_eq!(code, "24060-0001");
    let code = received_code(&app, crate::rules::receive(&app, "FLOUR-T55", "500", "2024-02-29").await).await;
    assert_eq!(code, "24060-0002");
    let code = received_code(&app, crate::rules::receive(&app, "FLOUR-T55", "500", "2024-12-31").await).await;
    assert_eq!(code, "24366-0001", "a daily reset starts again the next day");
}

#[tokio::test]
async fn the_preview_explains_what_it_cannot_show() {
    let app = demo_app().await;
    let page = app.page("/admin/lot-rules/preview?pattern=%7BSEQ%7D&reset_period=never&preview_material=NOPE&preview_date=2026-01-01").await;
    assert_eq!(text(&page, "#preview-problem"), "There is no material NOPE.");
    let page = app.page("/admin/lot-rules/preview?pattern=%7BSEQ%7D&reset_period=never&preview_material=SALT&preview_date=31.01.2026").await;
    assert_eq!(text(&page, "#preview-problem"), "Give the preview date as 2026-01-31.");
    assert_eq!(app.get("/admin/lot-rules/preview?pattern=x").await.status(), StatusCode::OK);
}
