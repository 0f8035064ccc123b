//! A recall to its end, in the order QA and an operator take it: closing asks for the check level
//! or a signed override, the consumer is still told after the close, stock still here stays
//! recalled until QA's signed decision (and warns when it leaves), the report's hash is checked
//! by anyone, and the consumer notice is withdrawn only signed.

use reqwest::StatusCode;
use sha2::{Digest, Sha256};

use crate::helpers::{PASSWORD, TestApp, assert_field_error, assert_redirect, text, texts};
use crate::lookup::{brioche_gtin, get};
use crate::recalls::{demo_app, id_of_lot, open, pallets, used_flour};
use crate::rules::id_of;

const INSTRUCTIONS: &str = "Do not eat it. Call 0800 555 0199 for a refund.";

async fn ship_one(app: &TestApp, lot: &str) -> reqwest::Response {
    let customer = id_of(app, "parties", "FRESHMART").await;
    let site = id_of(app, "sites", "RVS").await;
    let key = uuid::Uuid::new_v4().to_string();
    app.post_form(
        "/shipments",
        &[
            ("customer_id", &customer),
            ("site_id", &site),
            ("idempotency_key", &key),
            ("lot", lot),
            ("quantity", "1"),
            ("location_id", ""),
        ],
    )
    .await
}

#[tokio::test]
async fn a_closed_recall_still_warns_consumers_keeps_its_stock_recalled_and_its_report_can_be_checked() {
    let app = demo_app().await;
    let (flour_id, _) = used_flour(&app).await;
    let location = assert_redirect(&open(&app, &flour_id, &[("kind", "real"), ("class", "II")]).await, "/recalls/");
    let number = text(&app.page(&location).await, "#recall-number");
    assert_redirect(&app.submit(&location, "#public-form", &[("public_instructions", INSTRUCTIONS)]).await, &location);
    let gtin = brioche_gtin(&app).await;
    let pallets = pallets(&app).await;
    let (shipped, in_stock) = (pallets[0].as_str(), pallets[1].as_str());
    let pack = format!("/01/{gtin}/10/{shipped}");

    // Closing with no consignee checked: the page says so, and the close is refused with the level.
    let page = app.page(&location).await;
    assert!(text(&page, "#close-shortfall").contains("1 of 3 consignees must be checked"));
    assert_eq!(text(&page, "#shortfall"), "1 short of the check level");
    let refused = app
        .submit(
            &location,
            "#close-form",
            &[("summary", "Nothing more to do."), ("signer", "tester"), ("password", PASSWORD)],
        )
        .await;
    assert_field_error(refused, "override_reason", "B (25 % of consignees): 1 of 3 consignees must be checked").await;
    assert_eq!(text(&app.page(&location).await, "#recall-status"), "open");

    // Closed below the level with QA's signed reason: the report shows the shortfall and the reason.
    let why = "Two customers closed for the holidays; the authority was told.";
    let closed = app
        .submit(
            &location,
            "#close-form",
            &[
                ("summary", "Closed below level."),
                ("override_reason", why),
                ("signer", "tester"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_redirect(&closed, &location);
    let report = app.page(&format!("{location}/report")).await;
    assert!(text(&report, "#close-override").contains(why));
    assert!(text(&report, "#close-override").starts_with("1 consignees short"));
    let meaning: String = sqlx::query_scalar(
        "select s.meaning from recalls r join signatures s on s.id = r.closed_signature where r.number = $1",
    )
    .bind(&number)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(meaning, "recall closed below its check level by");

    // The consumer is still told, with the day it was recalled and what to do.
    let (status, page, _) = get(&app, &pack).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(text(&page, "#recall-notice h1"), "This product is recalled");
    assert_eq!(text(&page, "#recall-instructions"), INSTRUCTIONS);
    let today: chrono::NaiveDate =
        sqlx::query_scalar("select site_today(id) from sites where code = 'RVS'").fetch_one(&app.pool).await.unwrap();
    assert_eq!(text(&page, "#recalled-on"), today.to_string());
    assert!(texts(&page, "#no-recall").is_empty());

    // Stock still here stays recalled: its badge, a refused shipment, no lifting on the lot page.
    let lot_id = id_of_lot(&app, in_stock).await;
    let lot_page = app.page(&format!("/lots/{lot_id}")).await;
    assert_eq!(text(&lot_page, "h1 .badge"), "recalled");
    assert!(text(&lot_page, "#holds").contains("recalled until QA records a signed decision"));
    assert_field_error(ship_one(&app, in_stock).await, "line1", "recalled").await;
    let hold: String = sqlx::query_scalar(
        "select id::text from lot_holds where lot_id = $1::uuid and source = 'recall' and closed_at is null",
    )
    .bind(&lot_id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let lift = app.post_form(&format!("/lots/{lot_id}/holds/{hold}/lift"), &[("lift_reason", "ok")]).await;
    assert_field_error(lift, "lift_reason", "signed decision").await;

    // QA's decision is signed; released, the lot ships again, and the shipper is warned.
    let decide = |password: &'static str| {
        let (app, location, lot_id) = (&app, &location, lot_id.clone());
        async move {
            app.submit(
                location,
                "#decision-form",
                &[
                    ("decision", "release"),
                    ("reason", "Tested clean: no foreign matter in 12 packs."),
                    ("signer", "tester"),
                    ("password", password),
                    ("lot_id", &lot_id),
                ],
            )
            .await
        }
    };
    assert_field_error(decide("wrong").await, "decision_password", "not right").await;
    assert_redirect(&decide(PASSWORD).await, &location);
    let case = app.page(&location).await;
    assert!(text(&case, "#decisions").contains("Tested clean"));
    let lot_page = app.page(&format!("/lots/{lot_id}")).await;
    assert_ne!(text(&lot_page, "h1 .badge"), "recalled");
    let shipped_again = ship_one(&app, in_stock).await;
    let shipment = assert_redirect(&shipped_again, "/shipments/");
    let warned = app.page(&shipment).await;
    assert!(text(&warned, ".flash.warning").contains(&format!("was in the scope of recall {number}")));

    // The frozen scope's bytes give the printed hash; the CLI says so too; the report says when
    // it was printed.
    let hash = text(&app.page(&location).await, "#scope-hash").trim_start_matches("SHA-256 ").to_string();
    let bytes = app.get(&format!("{location}/scope.json")).await.bytes().await.unwrap();
    assert_eq!(lotline::audit::hex(&Sha256::digest(&bytes)), hash);
    let file = std::env::temp_dir().join(format!("scope-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(&file, &bytes).unwrap();
    let verify = |expected: &str| {
        std::process::Command::new(crate::embedded::BIN)
            .args(["recall", "verify"])
            .arg(&file)
            .args(["--hash", expected])
            .output()
            .unwrap()
    };
    let ok = verify(&hash);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert!(String::from_utf8_lossy(&ok.stdout).contains(&hash));
    assert!(!verify(&"0".repeat(64)).status.success());
    std::fs::remove_file(&file).unwrap();
    assert!(!text(&report, "#printed-at").is_empty());

    // A lot with no expiry shows the notice until the recall's day for it, then no longer.
    let expires: Option<chrono::NaiveDate> = sqlx::query_scalar("select expires_on from lots where code = $1")
        .bind(shipped)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    sqlx::query("update lots set expires_on = null where code = $1").bind(shipped).execute(&app.pool).await.unwrap();
    sqlx::query(
        "update recalls set public_until = (select site_today(id) from sites where code = 'RVS') - 1 where number = $1",
    )
    .bind(&number)
    .execute(&app.pool)
    .await
    .unwrap();
    assert!(!texts(&get(&app, &pack).await.1, "#no-recall").is_empty());
    sqlx::query("update lots set expires_on = $2 where code = $1")
        .bind(shipped)
        .bind(expires)
        .execute(&app.pool)
        .await
        .unwrap();
    assert!(!texts(&get(&app, &pack).await.1, "#recall-notice").is_empty(), "its expiry plus the margin is ahead");

    // Withdrawn, signed with a reason: consumers no longer see it.
    let withdrawn = app
        .submit(
            &location,
            "#withdraw-form",
            &[
                ("reason", "Every affected pack is past its date and accounted for."),
                ("signer", "tester"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_redirect(&withdrawn, &location);
    assert!(!texts(&get(&app, &pack).await.1, "#no-recall").is_empty());
    let audit: Vec<String> =
        sqlx::query_scalar("select action from audit_log where action in ('close_recall', 'recall_decision', 'withdraw_recall_notice') order by id")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(audit, ["close_recall", "recall_decision", "withdraw_recall_notice"]);
}

#[tokio::test]
async fn reversing_what_left_a_recalled_lot_is_qas_signed_act() {
    let app = demo_app().await;
    let (flour_id, _) = used_flour(&app).await;
    open(&app, &flour_id, &[("kind", "real"), ("class", "I")]).await;
    // The flour's consumption into the dough run: what was made of it.
    let consumed: i64 = sqlx::query_scalar(
        "select id from stock_movements where lot_id = $1::uuid and kind = 'consume' order by id limit 1",
    )
    .bind(&flour_id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let path = format!("/lots/{flour_id}/movements/{consumed}/reverse");
    let page = app.page(&format!("/lots/{flour_id}")).await;
    assert!(!texts(&page, &format!("#rev-pw-{consumed}")).is_empty(), "the form asks for QA's password");

    // An operator may not: the lot was in a recall's scope.
    app.create_user("olga", &["operator"]).await;
    let mut operator = app.another();
    operator.login("olga", PASSWORD).await;
    let refused = operator
        .post_form(
            &path,
            &[
                ("reverse_reason", "Wrong flour scanned"),
                ("confirm", "yes"),
                ("signer", "tester"),
                ("password", PASSWORD),
            ],
        )
        .await;
    let status = refused.status();
    assert!(status == StatusCode::FORBIDDEN || status == StatusCode::UNPROCESSABLE_ENTITY, "{status}");
    if status == StatusCode::UNPROCESSABLE_ENTITY {
        assert_field_error(refused, "reverse_reason", "only QA may reverse").await;
    }

    // QA: the password signs it; a wrong one reverses nothing.
    let movements = app.count("stock_movements").await;
    let wrong = app
        .post_form(
            &path,
            &[
                ("reverse_reason", "Wrong flour scanned"),
                ("confirm", "yes"),
                ("signer", "tester"),
                ("password", "nope"),
            ],
        )
        .await;
    assert_field_error(wrong, "reverse_reason", "the one given is not right").await;
    assert_eq!(app.count("stock_movements").await, movements);
    let signed = app
        .post_form(
            &path,
            &[
                ("reverse_reason", "Wrong flour scanned"),
                ("confirm", "yes"),
                ("signer", "tester"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_redirect(&signed, &format!("/lots/{flour_id}"));
    let after: serde_json::Value = sqlx::query_scalar(
        "select after from audit_log where action = 'reverse' and entity_id = $1 order by id desc limit 1",
    )
    .bind(&flour_id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(after["reverses"][0], consumed, "the audit entry names what it reverses");
    assert!(after["signature"].is_string());
}
