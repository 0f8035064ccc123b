//! Stock counts: a count with matching, short, over, unexpected and missing lots, counted blind,
//! its variances posted as adjustments in the ledger; a count refused when stock moved meanwhile.

use reqwest::StatusCode;

use crate::helpers::{TestApp, assert_field_error, assert_redirect, text, texts};
use crate::recalls::demo_app;

async fn on_hand_at(app: &TestApp, location: &str) -> Vec<(String, String)> {
    sqlx::query_as(
        "select l.code, trim_scale(o.quantity)::text from on_hand o join lots l on l.id = o.lot_id join locations c on c.id = o.location_id
          where c.code = $1 and o.quantity > 0 order by l.code",
    )
    .bind(location)
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

async fn lot_of(app: &TestApp, material: &str, location: &str) -> (String, String) {
    sqlx::query_as(
        "select l.code, trim_scale(o.quantity)::text from on_hand o join lots l on l.id = o.lot_id join materials m on m.id = l.material_id
           join locations c on c.id = o.location_id where m.code = $1 and c.code = $2 and o.quantity > 0 limit 1",
    )
    .bind(material)
    .bind(location)
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

async fn start(app: &TestApp, location: &str) -> String {
    let id: String = sqlx::query_scalar("select id::text from locations where code = $1")
        .bind(location)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_redirect(&app.submit("/counts", "#count-form", &[("location_id", &id)]).await, "/counts/")
}

#[tokio::test]
async fn a_blind_count_shows_its_variances_when_submitted_and_posts_them_to_the_ledger() {
    let app = demo_app().await;
    // A fourth lot at RAW-A that nobody will find (a fixture receipt).
    sqlx::query(
        "with lot as (insert into lots (material_id, code, origin, site_id, made_on, tlc, tlc_source, disposition)
                      select m.id, 'LOST-1', 'received', s.id, current_date, 'LOST-1', 'RVS', 'released'
                        from materials m, sites s where m.code = 'SALT' and s.code = 'RVS' returning id)
         insert into stock_movements (kind, lot_id, location_id, quantity, occurred_at, posting_id)
         select 'receipt', lot.id, c.id, 12, now(), gen_random_uuid() from lot, locations c where c.code = 'RAW-A'",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let (sugar, sugar_qty) = lot_of(&app, "SUGAR", "RAW-A").await;
    let (salt, salt_qty) = lot_of(&app, "SALT", "RAW-A").await;
    let (film, film_qty) = lot_of(&app, "FILM-BR", "RAW-A").await;
    let (yeast, _) = lot_of(&app, "YEAST", "COLD-1").await;
    let before = on_hand_at(&app, "RAW-A").await;
    assert_eq!(before.len(), 4, "{before:?}");

    let count = start(&app, "RAW-A").await;
    // Blind: nothing says what is expected.
    let page = app.page(&count).await;
    assert!(!text(&page, "main").contains(&film_qty), "the expected quantity is hidden while counting");
    let short: rust_decimal::Decimal =
        salt_qty.parse::<rust_decimal::Decimal>().unwrap() - rust_decimal::Decimal::from(6);
    let over: rust_decimal::Decimal =
        film_qty.parse::<rust_decimal::Decimal>().unwrap() + rust_decimal::Decimal::from(60);
    for (lot, quantity) in [
        (sugar.clone(), sugar_qty.clone()),
        (salt.clone(), "1".to_string()),
        (salt.clone(), short.to_string()),
        (film.clone(), over.to_string()),
        (yeast.clone(), "5".to_string()),
    ] {
        assert_redirect(&app.submit(&count, "#line-form", &[("lot", &lot), ("quantity", &quantity)]).await, &count);
    }
    let response = app.submit(&count, "#line-form", &[("lot", "NOPE-9"), ("quantity", "1")]).await;
    assert_field_error(response, "lot", "No lot has the code “NOPE-9”").await;
    let response = app.submit(&count, "#line-form", &[("lot", &sugar), ("quantity", "-1")]).await;
    assert_field_error(response, "quantity", "cannot be negative").await;
    let page = app.page(&count).await;
    assert_eq!(texts(&page, "#counted tbody tr").len(), 4, "counting a lot again replaces its figure");

    // Submitted: every lot with its verdict.
    assert_redirect(&app.submit(&count, "#submit-form", &[]).await, &count);
    let page = app.page(&count).await;
    let lots = texts(&page, "#variances tbody td:nth-child(2)");
    let verdicts = texts(&page, "#variances tbody td:nth-child(6)");
    let verdict = |code: &str| verdicts[lots.iter().position(|l| l == code).unwrap()].clone();
    assert_eq!(verdict(&sugar), "matching");
    assert_eq!(verdict(&salt), "short");
    assert_eq!(verdict(&film), "over");
    assert_eq!(verdict(&yeast), "unexpected");
    assert_eq!(verdict("LOST-1"), "not found");

    // Posted (QA), with a reason: the variances are 'count' movements in the ledger.
    let response = app.submit(&count, "#post-form", &[("post_reason", "")]).await;
    assert_field_error(response, "post_reason", "reason").await;
    assert_redirect(&app.submit(&count, "#post-form", &[("post_reason", "Year-end count")]).await, &count);
    let moves: Vec<(String, String)> = sqlx::query_as(
        "select l.code, trim_scale(s.quantity)::text from stock_movements s join lots l on l.id = s.lot_id
          where s.kind = 'count' and s.reason = 'Year-end count' order by l.code",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let mut want = vec![
        (film.clone(), "60".to_string()),
        ("LOST-1".to_string(), "-12".to_string()),
        (salt.clone(), "-6".to_string()),
        (yeast.clone(), "5".to_string()),
    ];
    want.sort();
    assert_eq!(moves, want);
    let after = on_hand_at(&app, "RAW-A").await;
    let mut counted = vec![
        (film.clone(), over.to_string()),
        (salt.clone(), short.to_string()),
        (sugar.clone(), sugar_qty.clone()),
        (yeast.clone(), "5".to_string()),
    ];
    counted.sort();
    assert_eq!(after, counted, "on hand is what was counted");
    let page = app.page(&count).await;
    assert_eq!(text(&page, "#count-status"), "posted");
    assert!(texts(&page, "#post-form, #recount-form, #line-form").is_empty(), "read-only");
    let id = count.trim_start_matches("/counts/");
    let refused = sqlx::query("delete from stock_count_lines where count_id = $1::uuid")
        .bind(id)
        .execute(&app.pool)
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("read-only"));
    let response = app.post_form(&format!("{count}/lines"), &[("lot", &sugar), ("quantity", "1")]).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn a_count_is_not_posted_over_stock_that_moved_and_can_be_counted_again() {
    let app = demo_app().await;
    let (sugar, sugar_qty) = lot_of(&app, "SUGAR", "RAW-A").await;
    let count = start(&app, "RAW-A").await;
    let raw_a: String =
        sqlx::query_scalar("select id::text from locations where code = 'RAW-A'").fetch_one(&app.pool).await.unwrap();
    let again = app.submit("/counts", "#count-form", &[("location_id", &raw_a)]).await;
    assert_eq!(again.status(), StatusCode::UNPROCESSABLE_ENTITY, "one open count per location");
    assert_redirect(&app.submit(&count, "#line-form", &[("lot", &sugar), ("quantity", &sugar_qty)]).await, &count);
    assert_redirect(&app.submit(&count, "#submit-form", &[]).await, &count);
    // Stock moves after the submission.
    sqlx::query(
        "insert into stock_movements (kind, lot_id, location_id, quantity, occurred_at, posting_id, reason)
         select 'adjust', l.id, c.id, -1, now(), gen_random_uuid(), 'spill' from lots l, locations c where l.code = $1 and c.code = 'RAW-A'",
    )
    .bind(&sugar)
    .execute(&app.pool)
    .await
    .unwrap();
    let response = app.submit(&count, "#post-form", &[("post_reason", "Count")]).await;
    assert_field_error(response, "post_reason", "moved since the count was submitted").await;
    assert_redirect(&app.submit(&count, "#recount-form", &[]).await, &count);
    let page = app.page(&count).await;
    assert_eq!(text(&page, "#count-status"), "open");
    assert!(texts(&page, "#variances").is_empty(), "blind again");
}
