//! Corrections and stock moves: nothing is edited or deleted; reversals, transfers, adjustments
//! and scrap each leave their reason, and the genealogy follows the correction.

use crate::helpers::{PASSWORD, TestApp, assert_field_error, assert_redirect, text, texts};
use crate::rules::{id_of, receive, received_code};

async fn demo_app() -> TestApp {
    crate::helpers::spawn_demo(crate::helpers::Demo::Master).await
}

async fn lot_page(app: &TestApp, code: &str) -> String {
    let id: String =
        sqlx::query_scalar("select id::text from lots where code = $1").bind(code).fetch_one(&app.pool).await.unwrap();
    format!("/lots/{id}")
}

async fn released(app: &TestApp, material: &str, quantity: &str) -> String {
    let code = received_code(app, receive(app, material, quantity, "2026-11-02").await).await;
    let page = lot_page(app, &code).await;
    if !texts(&app.page(&page).await, "#release-form").is_empty() {
        assert_redirect(
            &app.submit(&page, "#release-form", &[("signer", "tester"), ("password", PASSWORD)]).await,
            &page,
        );
    }
    code
}

#[tokio::test]
async fn a_consumption_of_the_wrong_lot_is_reversed_with_a_reason_and_the_genealogy_follows() {
    let app = demo_app().await;
    let right = released(&app, "SUGAR", "100").await;
    let wrong = released(&app, "SALT", "100").await;
    let material = id_of(&app, "materials", "DOUGH-BR").await;
    let site = id_of(&app, "sites", "RVS").await;
    let run = assert_redirect(
        &app.submit("/runs/new", "#run-form", &[("output_material_id", &material), ("site_id", &site)]).await,
        "/runs/",
    );
    let line: String =
        sqlx::query_scalar("select id::text from locations where code = 'LINE-1'").fetch_one(&app.pool).await.unwrap();
    app.submit(&run, "#input-form", &[("lot", &wrong), ("quantity", "20")]).await;
    app.submit(&run, "#output-form", &[("output_quantity", "20"), ("location_id", &line)]).await;
    let dough: String =
        sqlx::query_scalar("select code from lots where origin = 'produced'").fetch_one(&app.pool).await.unwrap();
    let dough_page = lot_page(&app, &dough).await;
    assert_eq!(texts(&app.page(&dough_page).await, "#step-back tbody td:first-child"), vec![wrong.clone()]);

    let wrong_page = lot_page(&app, &wrong).await;
    let refused =
        app.submit(&wrong_page, "#ledger tbody tr:nth-child(2) .reverse-form", &[("reverse_reason", "")]).await;
    assert_field_error(refused, "reverse_reason", "The reason is required.").await;
    let done = app
        .submit(
            &wrong_page,
            "#ledger tbody tr:nth-child(2) .reverse-form",
            &[("reverse_reason", "Scanned the salt instead of the sugar"), ("confirm", "yes")],
        )
        .await;
    assert_redirect(&done, &wrong_page);
    app.submit(&run, "#input-form", &[("lot", &right), ("quantity", "20")]).await;

    let page = app.page(&wrong_page).await;
    assert_eq!(text(&page, "#on-hand"), "100 kg", "the stock came back");
    assert_eq!(texts(&page, "#ledger tbody td:nth-child(3)")[1], "consume (reversed)");
    assert!(texts(&page, "#ledger tbody td:nth-child(3)")[2].starts_with("reversal Scanned the salt"));
    assert!(texts(&page, "#step-forward tbody tr").is_empty(), "the salt no longer went into the dough");
    assert!(text(&page, "#balance-status").starts_with("The balance adds up"));
    assert_eq!(
        texts(&app.page(&dough_page).await, "#step-back tbody td:first-child"),
        vec![right],
        "the correction is what traces see"
    );
    let reversed: i64 = sqlx::query_scalar("select count(*) from genealogy_links where reversed_at is not null")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(reversed, 1, "the link is kept, marked reversed");

    let movement: i64 = sqlx::query_scalar("select reverses_id from stock_movements where kind = 'reversal'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let again = app
        .post_form(
            &format!("{wrong_page}/movements/{movement}/reverse"),
            &[("reverse_reason", "twice"), ("confirm", "yes")],
        )
        .await;
    assert_field_error(again, "reverse_reason", "reversed already").await;
}

#[tokio::test]
async fn a_receipt_whose_stock_is_gone_cannot_be_reversed() {
    let app = demo_app().await;
    let salt = released(&app, "SALT", "10").await;
    let page = lot_page(&app, &salt).await;
    let location: String =
        sqlx::query_scalar("select id::text from locations where code = 'DOCK'").fetch_one(&app.pool).await.unwrap();
    // Scrap asks first, naming what, how much and where; nothing leaves before the answer.
    let movements = app.count("stock_movements").await;
    let fields = [("from_location", location.as_str()), ("scrap_quantity", "4"), ("scrap_reason", "Wet bags")];
    let asked = app.submit(&page, "#scrap-form", &fields).await;
    let asked = scraper::Html::parse_document(&asked.text().await.unwrap());
    assert_eq!(
        crate::helpers::text(&asked, "#confirm-what"),
        format!(
            "Scrap 4 kg of lot {salt} at DOCK (reason: Wet bags)? The stock leaves the ledger; only a reversal brings it back."
        )
    );
    assert_eq!(app.count("stock_movements").await, movements, "nothing before it is confirmed");
    let form = asked.select(&crate::helpers::sel("#confirm-form")).next().unwrap();
    let confirmed: Vec<(String, String)> =
        crate::helpers::form_values(&form).into_iter().filter(|(k, _)| k != "csrf_token").collect();
    let confirmed: Vec<(&str, &str)> = confirmed.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_redirect(&app.post_form(&format!("{page}/scrap"), &confirmed).await, &page);
    let refused = app
        .submit(
            &page,
            "#ledger tbody tr:nth-child(1) .reverse-form",
            &[("reverse_reason", "Wrong supplier"), ("confirm", "yes")],
        )
        .await;
    assert_field_error(refused, "reverse_reason", &format!("Only 6 kg of lot {salt} is on hand at DOCK")).await;
    let shown = app.page(&page).await;
    // received, consumed; produced, shipped; returned, scrapped; adjusted, moved; expected, on hand
    assert_eq!(texts(&shown, "#balance tbody td.num"), vec!["10", "0", "0", "0", "0", "4", "0", "0", "6", "6"]);
}

#[tokio::test]
async fn stock_moves_between_locations_and_adjustments_need_a_reason() {
    let app = demo_app().await;
    let salt = released(&app, "SALT", "50").await;
    let page = lot_page(&app, &salt).await;
    let dock: String =
        sqlx::query_scalar("select id::text from locations where code = 'DOCK'").fetch_one(&app.pool).await.unwrap();
    let raw: String =
        sqlx::query_scalar("select id::text from locations where code = 'RAW-A'").fetch_one(&app.pool).await.unwrap();
    let too_much = app
        .submit(
            &page,
            "#transfer-form",
            &[("from_location", &dock), ("to_location", &raw), ("transfer_quantity", "60")],
        )
        .await;
    assert_field_error(too_much, "transfer_quantity", &format!("Only 50 kg of lot {salt} is on hand at DOCK")).await;
    assert_redirect(
        &app.submit(
            &page,
            "#transfer-form",
            &[("from_location", &dock), ("to_location", &raw), ("transfer_quantity", "30")],
        )
        .await,
        &page,
    );
    let shown = app.page(&page).await;
    assert_eq!(
        texts(&shown, "#stock tbody tr"),
        vec!["DOCK · Receiving dock 20 kg", "RAW-A · Raw materials, aisle A 30 kg"]
    );
    // A transfer nets to zero for the lot, is shown apart, and is never an adjustment.
    assert_eq!(text(&shown, "#balance-transferred"), "0");
    assert_eq!(text(&shown, "#balance-adjusted"), "0");

    let no_reason = app
        .submit(
            &page,
            "#adjust-form",
            &[("from_location", &raw), ("direction", "remove"), ("adjust_quantity", "2"), ("adjust_reason", "")],
        )
        .await;
    assert_field_error(no_reason, "adjust_reason", "required").await;
    assert_redirect(
        &app.submit(
            &page,
            "#adjust-form",
            &[
                ("from_location", &raw),
                ("direction", "remove"),
                ("adjust_quantity", "2"),
                ("adjust_reason", "Count found less"),
            ],
        )
        .await,
        &page,
    );
    let shown = app.page(&page).await;
    assert_eq!(text(&shown, "#on-hand"), "48 kg");
    assert_eq!(text(&shown, "#balance-adjusted"), "-2");
    assert!(text(&shown, "#balance-status").starts_with("The balance adds up"));
    let audit: i64 = sqlx::query_scalar("select count(*) from audit_log where entity_type = 'lot' and action in ('transfer', 'adjust') and (action = 'transfer' or reason = 'Count found less')")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(audit, 2);
}

#[tokio::test]
async fn the_expiry_page_lists_expired_and_expiring_lots_with_stock_and_charts_them() {
    let app = demo_app().await;
    let today = crate::helpers::site_today(&app.pool).await;
    let old =
        received_code(&app, receive(&app, "YEAST", "5", &(today - chrono::Days::new(50)).to_string()).await).await;
    let soon =
        received_code(&app, receive(&app, "EGG-LIQ", "5", &(today - chrono::Days::new(10)).to_string()).await).await;
    received_code(&app, receive(&app, "SUGAR", "5", &today.to_string()).await).await;
    let page = app.page("/expiry").await;
    assert_eq!(texts(&page, "#expired tbody td:first-child"), vec![old]);
    assert!(texts(&page, "#expired tbody td:nth-child(3)")[0].ends_with("(5 days ago)"));
    assert_eq!(texts(&page, "#expiring tbody td:first-child"), vec![soon]);
    assert_eq!(
        texts(&page, "#expiry-chart rect title"),
        vec!["wk 1: 0 lots", "wk 2: 1 lots", "wk 3: 0 lots", "wk 4: 0 lots", "wk 5: 0 lots"]
    );
    let home = app.page("/").await;
    assert_eq!(text(&home, "[data-count=expired_with_stock]"), "1");
    let wide = app.page("/expiry?days=800").await;
    assert_eq!(texts(&wide, "#days").len(), 1);
    assert_eq!(crate::helpers::value(&wide, "#days"), "30", "out-of-range windows fall back to 30 days");
}

#[tokio::test]
async fn part_of_a_lot_is_split_off_or_repacked_and_keeps_its_link_to_the_source() {
    let app = demo_app().await;
    let salt = released(&app, "SALT", "100").await;
    let page = lot_page(&app, &salt).await;
    let dock: String =
        sqlx::query_scalar("select id::text from locations where code = 'DOCK'").fetch_one(&app.pool).await.unwrap();
    let raw: String =
        sqlx::query_scalar("select id::text from locations where code = 'RAW-A'").fetch_one(&app.pool).await.unwrap();
    let refused = app
        .submit(
            &page,
            "#split-form",
            &[("split_from", &dock), ("split_quantity", "30"), ("split_new_quantity", "31"), ("split_to", &raw)],
        )
        .await;
    assert_field_error(refused, "split_new_quantity", "A split keeps the quantity").await;
    let done =
        app.submit(&page, "#split-form", &[("split_from", &dock), ("split_quantity", "30"), ("split_to", &raw)]).await;
    let new_page = assert_redirect(&done, "/lots/");
    let shown = app.page(&new_page).await;
    assert_eq!(text(&shown, "#on-hand"), "30 kg");
    assert_eq!(text(&shown, "h1 .badge"), "released", "the new lot keeps the QA state");
    assert_eq!(texts(&shown, "#step-back tbody td:first-child"), vec![salt.clone()]);
    let facts = texts(&shown, "dl.facts dd");
    assert!(
        facts.iter().any(|d| d == "SUP-1 (source: supplier PRAIRIE-MILL)"),
        "a split keeps the traceability lot code: {facts:?}"
    );
    let source = app.page(&page).await;
    assert_eq!(text(&source, "#on-hand"), "70 kg");
    assert!(text(&source, "#balance-status").starts_with("The balance adds up"));

    // A repack into another material: 50 kg of flour into two 25 kg bags.
    sqlx::query("insert into materials (code, name, kind, uom, mass_per_unit_kg, expiry_policy) values ('FLOUR-25', 'Flour, 25 kg bag', 'finished', 'ea', 25, 'none')")
        .execute(&app.pool)
        .await
        .unwrap();
    let flour = released(&app, "FLOUR-T55", "100").await;
    let flour_page = lot_page(&app, &flour).await;
    let no_qty = app
        .submit(
            &flour_page,
            "#split-form",
            &[("split_from", &dock), ("split_quantity", "50"), ("split_material", "flour-25"), ("split_to", &raw)],
        )
        .await;
    assert_field_error(no_qty, "split_new_quantity", "in FLOUR-25's unit").await;
    let done = app
        .submit(
            &flour_page,
            "#split-form",
            &[
                ("split_from", &dock),
                ("split_quantity", "50"),
                ("split_material", "FLOUR-25"),
                ("split_new_quantity", "2"),
                ("split_to", &raw),
            ],
        )
        .await;
    let bags = app.page(&assert_redirect(&done, "/lots/")).await;
    assert_eq!(text(&bags, "#on-hand"), "2 ea");
    assert_eq!(texts(&bags, "#step-back tbody td:first-child"), vec![flour]);
    let kinds: Vec<String> =
        sqlx::query_scalar("select kind from genealogy_links order by id").fetch_all(&app.pool).await.unwrap();
    assert_eq!(kinds, vec!["split", "repack"]);
}
