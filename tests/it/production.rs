//! QA decisions and production runs, end to end: receive, release, consume, produce, and the
//! genealogy, ledger and mass balance the lot pages show — with every refusal.

use reqwest::StatusCode;
use scraper::Html;

use crate::helpers::{PASSWORD, TestApp, assert_field_error, assert_redirect, text, texts, value};
use crate::rules::{id_of, receive, received_code};

async fn demo_app() -> TestApp {
    crate::helpers::spawn_demo(crate::helpers::Demo::Master).await
}

async fn lot_id(app: &TestApp, code: &str) -> String {
    sqlx::query_scalar("select id::text from lots where code = $1").bind(code).fetch_one(&app.pool).await.unwrap()
}

async fn release(app: &TestApp, code: &str) {
    let id = lot_id(app, code).await;
    let response =
        app.submit(&format!("/lots/{id}"), "#release-form", &[("signer", "tester"), ("password", PASSWORD)]).await;
    assert_redirect(&response, &format!("/lots/{id}"));
}

async fn open_run(app: &TestApp, material: &str) -> String {
    let material = id_of(app, "materials", material).await;
    let site = id_of(app, "sites", "RVS").await;
    let response = app
        .submit(
            "/runs/new",
            "#run-form",
            &[("output_material_id", &material), ("site_id", &site), ("order_ref", "PO-77")],
        )
        .await;
    assert_redirect(&response, "/runs/")
}

async fn line_side(app: &TestApp) -> String {
    sqlx::query_scalar("select id::text from locations where code = 'LINE-1'").fetch_one(&app.pool).await.unwrap()
}

/// Two raw lots received and released, ready to be consumed.
async fn two_released_lots(app: &TestApp) -> (String, String) {
    let flour = received_code(app, receive(app, "FLOUR-T55", "500", "2026-11-02").await).await;
    let sugar = received_code(app, receive(app, "SUGAR", "100", "2026-11-02").await).await;
    release(app, &flour).await;
    release(app, &sugar).await;
    (flour, sugar)
}

#[tokio::test]
async fn a_run_consumes_two_released_lots_and_its_output_shows_the_genealogy_ledger_and_balance() {
    let app = demo_app().await;
    let (flour, sugar) = two_released_lots(&app).await;
    let run = open_run(&app, "DOUGH-BR").await;
    assert_redirect(&app.submit(&run, "#input-form", &[("lot", &flour), ("quantity", "200")]).await, &run);
    assert_redirect(&app.submit(&run, "#input-form", &[("lot", &sugar), ("quantity", "20.5")]).await, &run);
    let line = line_side(&app).await;
    let response = app.submit(&run, "#output-form", &[("output_quantity", "215"), ("location_id", &line)]).await;
    assert_redirect(&response, &run);

    let page = app.page(&run).await;
    assert_eq!(texts(&page, "#inputs tbody td:first-child"), vec![flour.clone(), sugar.clone()]);
    let dough = texts(&page, "#outputs tbody td:first-child").remove(0);
    assert_eq!(text(&page, "#yield"), "97.5 % of the input mass", "215 kg from 220.5 kg");

    let dough_page = app.page(&format!("/lots/{}", lot_id(&app, &dough).await)).await;
    assert_eq!(texts(&dough_page, "#step-back tbody td:first-child"), vec![flour.clone(), sugar.clone()]);
    assert_eq!(texts(&dough_page, "#step-back tbody td.num"), vec!["200 kg", "20.5 kg"]);
    assert_eq!(text(&dough_page, "h1 .badge"), "released", "dough needs no QA release");
    let flour_page = app.page(&format!("/lots/{}", lot_id(&app, &flour).await)).await;
    assert_eq!(texts(&flour_page, "#step-forward tbody td:first-child"), vec![dough.clone()]);
    assert_eq!(texts(&flour_page, "#ledger tbody td:nth-child(3)"), vec!["receipt", "consume"]);
    assert_eq!(text(&flour_page, "#balance-on-hand"), "300");
    assert!(text(&flour_page, "#balance-status").starts_with("The balance adds up"));
    assert_eq!(texts(&flour_page, "#dispositions tbody tr").len(), 2);
    assert!(texts(&flour_page, "#dispositions tbody td")[6].contains("released by, signed"));
}

#[tokio::test]
async fn an_output_expires_with_its_earliest_input_and_a_finished_lot_waits_for_qa() {
    let app = demo_app().await;
    let (flour, _) = two_released_lots(&app).await;
    let eggs = received_code(&app, receive(&app, "EGG-LIQ", "50", "2026-11-20").await).await;
    release(&app, &eggs).await;
    let run = open_run(&app, "DOUGH-BR").await;
    let line = line_side(&app).await;
    app.submit(&run, "#input-form", &[("lot", &flour), ("quantity", "10")]).await;
    app.submit(&run, "#input-form", &[("lot", &eggs), ("quantity", "5")]).await;
    app.submit(&run, "#output-form", &[("output_quantity", "15"), ("location_id", &line)]).await;
    let dough: (String, Option<chrono::NaiveDate>) =
        sqlx::query_as("select code, expires_on from lots where origin = 'produced'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(dough.1, Some("2026-12-11".parse().unwrap()), "eggs received 2026-11-20 keep 21 days");

    let bake = open_run(&app, "BRIOCHE-400").await;
    app.submit(&bake, "#input-form", &[("lot", &dough.0), ("quantity", "15")]).await;
    let fg = sqlx::query_scalar::<_, String>("select id::text from locations where code = 'FG'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_redirect(
        &app.submit(&bake, "#output-form", &[("output_quantity", "36"), ("location_id", &fg)]).await,
        &bake,
    );
    let page = app.page(&bake).await;
    let brioche = texts(&page, "#outputs tbody td:first-child").remove(0);
    let lot = app.page(&format!("/lots/{}", lot_id(&app, &brioche).await)).await;
    assert_eq!(text(&lot, "h1 .badge"), "quarantine", "finished goods wait for QA");
    assert_eq!(text(&page, "#yield"), "96.0 % of the input mass", "36 loaves of 0.4 kg from 15 kg of dough");
}

#[tokio::test]
async fn a_lot_that_is_not_usable_is_refused_with_the_reason_and_nothing_is_written() {
    let app = demo_app().await;
    let (flour, sugar) = two_released_lots(&app).await;
    let quarantined = received_code(&app, receive(&app, "BUTTER", "40", "2026-11-02").await).await;
    let expired = received_code(&app, receive(&app, "YEAST", "5", "2025-01-02").await).await;
    release(&app, &expired).await;
    let held = lot_id(&app, &sugar).await;
    assert_redirect(
        &app.submit(&format!("/lots/{held}"), "#hold-form", &[("hold_reason", "Foreign body complaint")]).await,
        "/lots/",
    );
    let run = open_run(&app, "DOUGH-BR").await;
    let movements = app.count("stock_movements").await;

    let cases: [(&str, &str, &str, &str); 7] = [
        (quarantined.as_str(), "10", "lot", "is in quarantine: QA must release it first"),
        (sugar.as_str(), "10", "lot", "is on hold"),
        (expired.as_str(), "1", "lot", "expired on 2025-02-16"),
        (flour.as_str(), "600", "quantity", "Only 500 kg of lot"),
        (flour.as_str(), "0", "quantity", "greater than zero"),
        (flour.as_str(), "ten", "quantity", "must be a number"),
        ("NO-SUCH-LOT", "1", "lot", "No lot has the code “NO-SUCH-LOT”"),
    ];
    for (lot, quantity, field, message) in cases {
        let response = app.submit(&run, "#input-form", &[("lot", lot), ("quantity", quantity)]).await;
        let page = assert_field_error(response, field, message).await;
        assert_eq!(value(&page, "#f-lot"), lot, "the form keeps the scanned code");
    }
    assert_eq!(app.count("stock_movements").await, movements, "nothing was written");
    assert_eq!(app.count("genealogy_links").await, 0);

    // A closed run takes nothing more.
    // Closing asks first (a page without a script); confirmed, the run is closed.
    let asked = app.submit(&run, "#close-form", &[]).await;
    assert_eq!(asked.status(), StatusCode::OK);
    let asked = Html::parse_document(&asked.text().await.unwrap());
    assert!(text(&asked, "#confirm-what").starts_with("Close run RUN-"), "{}", text(&asked, "#confirm-what"));
    assert_eq!(text(&app.page(&run).await, "h1 .badge"), "open", "nothing closed before it is confirmed");
    let action = crate::helpers::value_of(&asked, "#confirm-form", "action");
    assert_redirect(&app.post_form(&action, &[("confirmed", "yes")]).await, &run);
    let key = uuid::Uuid::new_v4().to_string();
    let response =
        app.post_form(&format!("{run}/inputs"), &[("lot", &flour), ("quantity", "1"), ("idempotency_key", &key)]).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = Html::parse_document(&response.text().await.unwrap());
    assert!(text(&page, "#f-run-error").contains("is closed"));
    assert_eq!(app.count("stock_movements").await, movements);
}

#[tokio::test]
async fn an_input_posted_twice_is_consumed_once() {
    let app = demo_app().await;
    let (flour, _) = two_released_lots(&app).await;
    let run = open_run(&app, "DOUGH-BR").await;
    let page = app.page(&run).await;
    let key = value(&page, "#input-form input[name=idempotency_key]");
    for _ in 0..2 {
        assert_redirect(
            &app.post_form(
                &format!("{run}/inputs"),
                &[("lot", &flour), ("quantity", "100"), ("idempotency_key", &key)],
            )
            .await,
            &run,
        );
    }
    let on_hand: rust_decimal::Decimal =
        sqlx::query_scalar("select sum(quantity) from on_hand o join lots l on l.id = o.lot_id where l.code = $1")
            .bind(&flour)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(on_hand.normalize().to_string(), "400");
}

#[tokio::test]
async fn two_operators_taking_the_last_stock_at_once_cannot_both_succeed() {
    let app = demo_app().await;
    let (flour, _) = two_released_lots(&app).await;
    let run_a = open_run(&app, "DOUGH-BR").await;
    let run_b = open_run(&app, "DOUGH-BR").await;
    let mut tasks = Vec::new();
    for run in [run_a, run_b] {
        let (client, url, csrf, lot) =
            (app.client.clone(), app.url(&format!("{run}/inputs")), app.csrf.clone(), flour.clone());
        tasks.push(tokio::spawn(async move {
            let key = uuid::Uuid::new_v4().to_string();
            client
                .post(url)
                .form(&[("lot", lot.as_str()), ("quantity", "300"), ("idempotency_key", &key), ("csrf_token", &csrf)])
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    statuses.sort();
    assert_eq!(statuses, vec![StatusCode::SEE_OTHER, StatusCode::UNPROCESSABLE_ENTITY], "exactly one succeeds");
    let on_hand: rust_decimal::Decimal =
        sqlx::query_scalar("select sum(quantity) from on_hand o join lots l on l.id = o.lot_id where l.code = $1")
            .bind(&flour)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(on_hand.normalize().to_string(), "200");
}

#[tokio::test]
async fn a_bulk_lot_topped_up_is_both_input_and_output_of_its_run() {
    let app = demo_app().await;
    let (flour, sugar) = two_released_lots(&app).await;
    let line = line_side(&app).await;
    let first = open_run(&app, "DOUGH-BR").await;
    app.submit(&first, "#input-form", &[("lot", &flour), ("quantity", "100")]).await;
    app.submit(&first, "#output-form", &[("output_quantity", "100"), ("location_id", &line)]).await;
    let tank: String =
        sqlx::query_scalar("select code from lots where origin = 'produced'").fetch_one(&app.pool).await.unwrap();
    let topup = open_run(&app, "DOUGH-BR").await;
    assert_redirect(&app.submit(&topup, "#input-form", &[("lot", &tank), ("quantity", "100")]).await, &topup);
    assert_redirect(&app.submit(&topup, "#input-form", &[("lot", &sugar), ("quantity", "10")]).await, &topup);
    assert_redirect(
        &app.submit(&topup, "#output-form", &[("output_quantity", "110"), ("location_id", &line), ("topup", &tank)])
            .await,
        &topup,
    );
    let page = app.page(&format!("/lots/{}", lot_id(&app, &tank).await)).await;
    let mut back = texts(&page, "#step-back tbody td:first-child");
    back.sort();
    let mut expected = vec![flour, sugar, tank.clone()];
    expected.sort();
    assert_eq!(back, expected, "the tank holds its own earlier content");
    assert_eq!(texts(&page, "#step-forward tbody td:first-child"), vec![tank]);
    assert_eq!(text(&page, "#on-hand"), "110 kg");
    let missing = app
        .submit(&topup, "#output-form", &[("output_quantity", "1"), ("location_id", &line), ("topup", "NOPE")])
        .await;
    assert_field_error(missing, "topup", "has no lot “NOPE” to top up").await;
}

#[tokio::test]
async fn qa_decisions_are_signed_and_holds_need_a_reason() {
    let mut app = demo_app().await;
    let code = received_code(&app, receive(&app, "BUTTER", "40", "2026-11-02").await).await;
    let id = lot_id(&app, &code).await;
    let lot = format!("/lots/{id}");
    assert_field_error(
        app.submit(&lot, "#release-form", &[("signer", "tester"), ("password", "wrong")]).await,
        "password",
        "not right",
    )
    .await;
    assert_field_error(
        app.submit(&lot, "#reject-form", &[("reason", ""), ("signer", "tester"), ("password", PASSWORD)]).await,
        "reason",
        "Give the reason",
    )
    .await;
    assert_eq!(app.count("signatures").await, 0);
    assert_redirect(
        &app.submit(&lot, "#reject-form", &[("reason", "Rancid smell"), ("signer", "tester"), ("password", PASSWORD)])
            .await,
        &lot,
    );
    let page = app.page(&lot).await;
    assert_eq!(text(&page, "h1 .badge"), "rejected");
    assert!(texts(&page, "#release-form").is_empty(), "a rejected lot cannot be released");
    let again = app.post_form(&format!("{lot}/release"), &[("signer", "tester"), ("password", PASSWORD)]).await;
    assert_field_error(again, "decision", "is rejected already").await;

    assert_field_error(app.submit(&lot, "#hold-form", &[("hold_reason", " ")]).await, "hold_reason", "required").await;
    assert_redirect(&app.submit(&lot, "#hold-form", &[("hold_reason", "Supplier notice 42")]).await, &lot);
    let page = app.page(&lot).await;
    assert_eq!(texts(&page, "#holds tbody td:nth-child(3)"), vec!["Supplier notice 42"]);
    assert_field_error(app.submit(&lot, ".lift-form", &[("lift_reason", "")]).await, "lift_reason", "required").await;
    assert_redirect(&app.submit(&lot, ".lift-form", &[("lift_reason", "Notice withdrawn")]).await, &lot);
    let page = app.page(&lot).await;
    assert!(texts(&page, "#holds tbody td:nth-child(5)")[0].ends_with("Notice withdrawn"));

    let rec = app
        .submit(
            &lot,
            "#record-form",
            &[("name", "Peroxide value"), ("result", "3.1 meq/kg"), ("specification", "< 2"), ("outcome", "fail")],
        )
        .await;
    assert_redirect(&rec, &lot);
    let page = app.page(&lot).await;
    assert_eq!(texts(&page, "#qa-records tbody td:nth-child(6)"), vec!["fail"]);

    // An operator sees the lot but none of the QA forms, and the server refuses them anyway.
    app.create_user("olga", &["operator"]).await;
    app.login("olga", PASSWORD).await;
    let page = app.page(&lot).await;
    assert!(texts(&page, "#hold-form").is_empty() && texts(&page, "#record-form").is_empty());
    assert_eq!(app.post_form(&format!("{lot}/holds"), &[("hold_reason", "x")]).await.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_lot_drawn_twice_in_equal_amounts_shows_both_draws_one_step_back() {
    let app = demo_app().await;
    let (flour, sugar) = two_released_lots(&app).await;
    let run = open_run(&app, "DOUGH-BR").await;
    // The flour goes in twice, 100 kg each time; the dough comes out as two lots.
    for (lot, quantity) in [(&flour, "100"), (&flour, "100"), (&sugar, "20")] {
        assert_redirect(&app.submit(&run, "#input-form", &[("lot", lot), ("quantity", quantity)]).await, &run);
    }
    let line = line_side(&app).await;
    for quantity in ["110", "105"] {
        let response = app.submit(&run, "#output-form", &[("output_quantity", quantity), ("location_id", &line)]).await;
        assert_redirect(&response, &run);
    }
    let page = app.page(&run).await;
    let doughs = texts(&page, "#outputs tbody td:first-child");
    assert_eq!(doughs.len(), 2);

    for dough in &doughs {
        let dough_page = app.page(&format!("/lots/{}", lot_id(&app, dough).await)).await;
        assert_eq!(texts(&dough_page, "#step-back tbody td:first-child"), vec![flour.clone(), sugar.clone()]);
        assert_eq!(texts(&dough_page, "#step-back tbody td.num"), vec!["200 kg", "20 kg"], "both draws of flour");
    }
    let flour_page = app.page(&format!("/lots/{}", lot_id(&app, &flour).await)).await;
    assert_eq!(texts(&flour_page, "#step-forward tbody td:first-child"), doughs);
    assert_eq!(texts(&flour_page, "#step-forward tbody td.num"), vec!["110 kg", "105 kg"], "each dough lot once");
}

#[tokio::test]
async fn the_fefo_helper_takes_a_material_as_typed_and_names_the_candidates_of_an_ambiguous_one() {
    let app = demo_app().await;
    let (flour, _) = two_released_lots(&app).await;
    let run = open_run(&app, "DOUGH-BR").await;
    for typed in ["FLOUR-T55", "flour-t55", "flour", "Wheat"] {
        let page = app.page(&format!("{run}?material={}", lotline::web::percent_encode(typed))).await;
        assert_eq!(texts(&page, "#fefo tbody td.code"), vec![flour.clone()], "{typed}");
        assert_eq!(value(&page, "#fefo-material"), "FLOUR-T55", "{typed}");
    }
    let page = app.page(&format!("{run}?material=S")).await;
    assert_eq!(text(&page, "#fefo-problem"), "“S” could be SALT (Sea salt), SUGAR (Cane sugar, fine): type its code.");
    let page = app.page(&format!("{run}?material=unobtainium")).await;
    assert_eq!(text(&page, "#fefo-problem"), "No material is called “unobtainium”.");
}

#[tokio::test]
async fn a_wrong_input_is_taken_back_from_the_runs_page_and_its_genealogy_follows() {
    let app = demo_app().await;
    let (flour, sugar) = two_released_lots(&app).await;
    let run = open_run(&app, "DOUGH-BR").await;
    assert_redirect(&app.submit(&run, "#input-form", &[("lot", &flour), ("quantity", "200")]).await, &run);
    assert_redirect(&app.submit(&run, "#input-form", &[("lot", &sugar), ("quantity", "20")]).await, &run);
    let line = line_side(&app).await;
    assert_redirect(
        &app.submit(&run, "#output-form", &[("output_quantity", "215"), ("location_id", &line)]).await,
        &run,
    );
    let page = app.page(&run).await;
    let dough = texts(&page, "#outputs tbody td:first-child").remove(0);
    let form = "#inputs tbody tr:nth-child(2) .take-back-form";
    // Not without a reason and the tick that says what is taken back.
    let refused = app.submit(&run, form, &[("reverse_reason", "Wrong bag scanned")]).await;
    let refused = assert_field_error(refused, "reverse_reason", "tick the box").await;
    assert!(!texts(&refused, "#refusal").is_empty());
    let response = app.submit(&run, form, &[("reverse_reason", "Wrong bag scanned"), ("confirm", "yes")]).await;
    assert_redirect(&response, &run);
    let page = app.page(&run).await;
    assert!(text(&page, ".flash").starts_with(&format!("Input taken back: lot {sugar} is back in stock")));
    assert_eq!(texts(&page, "#inputs tbody td:first-child"), vec![flour.clone()]);
    // The sugar is whole again, its ledger says why, and the dough no longer came from it.
    let sugar_page = app.page(&format!("/lots/{}", lot_id(&app, &sugar).await)).await;
    assert_eq!(text(&sugar_page, "#balance-on-hand"), "100");
    assert!(text(&sugar_page, "#ledger").contains("Wrong bag scanned"));
    let dough_page = app.page(&format!("/lots/{}", lot_id(&app, &dough).await)).await;
    assert_eq!(texts(&dough_page, "#step-back tbody td:first-child"), vec![flour]);
}
