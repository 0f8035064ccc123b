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
                      select m.id, 'LOST-1', 'received', s.id, site_today(s.id), 'LOST-1', 'RVS', 'released'
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

    let movements_before = app.count("stock_movements").await;
    // Submitted: every lot with its verdict.
    assert_redirect(&app.submit(&count, "#submit-form", &[]).await, &count);
    let page = app.page(&count).await;
    let lots = texts(&page, "#variances tbody td.lot");
    let verdicts: Vec<String> = page
        .select(&crate::helpers::sel("#variances tbody td.verdict"))
        .map(|c| c.text().next().unwrap_or_default().trim().to_string())
        .collect();
    let verdict = |code: &str| verdicts[lots.iter().position(|l| l == code).unwrap()].clone();
    assert_eq!(verdict(&sugar), "matching");
    assert_eq!(verdict(&salt), "short");
    assert_eq!(verdict(&film), "over");
    assert_eq!(verdict(&yeast), "unexpected");
    assert_eq!(verdict("LOST-1"), "not found");

    // Posted by QA line by line: no tolerance is set, so each variance needs its line's reason;
    // the yeast counted here needs a confirmation that names where the ledger has it.
    let id = count.trim_start_matches("/counts/");
    let line = |code: String| {
        let pool = app.pool.clone();
        let id = id.to_string();
        async move {
            let line: i64 = sqlx::query_scalar(
                "select c.id from stock_count_lines c join lots l on l.id = c.lot_id where c.count_id = $1::uuid and l.code = $2",
            )
            .bind(&id)
            .bind(&code)
            .fetch_one(&pool)
            .await
            .unwrap();
            line.to_string()
        }
    };
    let (film_line, salt_line, yeast_line, lost_line) =
        (line(film.clone()).await, line(salt.clone()).await, line(yeast.clone()).await, line("LOST-1".into()).await);
    let response = app.submit(&count, "#post-form", &[("confirmed", "yes"), ("post_reason", "Year-end count")]).await;
    let page =
        assert_field_error(response, &format!("line_{salt_line}"), "beyond the material's tolerance of 0 %").await;
    assert!(text(&page, &format!("#f-line_{yeast_line}-error")).contains("QA gives the reason"));
    let reasons = [
        (format!("reason_{film_line}"), "Found a pallet behind the rack"),
        (format!("reason_{salt_line}"), "Torn bags, swept"),
        (format!("reason_{yeast_line}"), "Moved by the night shift, not booked"),
        (format!("reason_{lost_line}"), "Not found after two searches"),
    ];
    let mut fields: Vec<(&str, &str)> = reasons.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    fields.push(("post_reason", "Year-end count"));
    fields.push(("confirmed", "yes"));
    let response = app.submit(&count, "#post-form", &fields).await;
    let needle = "was counted here, but the ledger says it is at COLD-1";
    assert_field_error(response, &format!("line_{yeast_line}"), needle).await;
    assert_eq!(app.count("stock_movements").await, movements_before, "all or nothing for the lines chosen");
    let here = format!("here_{yeast_line}");
    fields.push((here.as_str(), "yes"));
    assert_redirect(&app.submit(&count, "#post-form", &fields).await, &count);
    let moves: Vec<(String, String)> = sqlx::query_as(
        "select l.code, trim_scale(s.quantity)::text from stock_movements s join lots l on l.id = s.lot_id
          where s.kind = 'count' order by l.code",
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
    // Stock of a lot not found moves after the submission: its line is refused, nothing posted.
    let (salt, _) = lot_of(&app, "SALT", "RAW-A").await;
    sqlx::query(
        "insert into stock_movements (kind, lot_id, location_id, quantity, occurred_at, posting_id, reason)
         select 'adjust', l.id, c.id, -1, now(), gen_random_uuid(), 'spill' from lots l, locations c where l.code = $1 and c.code = 'RAW-A'",
    )
    .bind(&salt)
    .execute(&app.pool)
    .await
    .unwrap();
    let salt_line: i64 = sqlx::query_scalar(
        "select c.id from stock_count_lines c join lots l on l.id = c.lot_id where l.code = $1 and c.count_id = $2::uuid",
    )
    .bind(&salt)
    .bind(count.trim_start_matches("/counts/"))
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let reason = format!("reason_{salt_line}");
    let response = app
        .submit(
            &count,
            "#post-form",
            &[("confirmed", "yes"), ("line", &salt_line.to_string()), (&reason, "Not found"), ("post_reason", "Count")],
        )
        .await;
    assert_field_error(response, &format!("line_{salt_line}"), "moved since the count was submitted").await;
    assert_redirect(&app.submit(&count, "#recount-form", &[]).await, &count);
    let page = app.page(&count).await;
    assert_eq!(text(&page, "#count-status"), "open");
    assert!(texts(&page, "#variances").is_empty(), "blind again");
}

#[tokio::test]
async fn a_count_posts_in_part_and_a_variance_within_tolerance_takes_the_counts_reason() {
    let app = demo_app().await;
    sqlx::query("update materials set count_tolerance_percent = 10 where code in ('SALT', 'SUGAR')")
        .execute(&app.pool)
        .await
        .unwrap();
    let (sugar, sugar_qty) = lot_of(&app, "SUGAR", "RAW-A").await;
    let (salt, salt_qty) = lot_of(&app, "SALT", "RAW-A").await;
    let (film, film_qty) = lot_of(&app, "FILM-BR", "RAW-A").await;
    assert_eq!(on_hand_at(&app, "RAW-A").await.len(), 3, "sugar, salt and film");
    let less = |q: &str| (q.parse::<rust_decimal::Decimal>().unwrap() - rust_decimal::Decimal::ONE).to_string();
    let count = start(&app, "RAW-A").await;
    for (lot, quantity) in [(sugar.clone(), less(&sugar_qty)), (salt.clone(), less(&salt_qty)), (film, film_qty)] {
        assert_redirect(&app.submit(&count, "#line-form", &[("lot", &lot), ("quantity", &quantity)]).await, &count);
    }
    assert_redirect(&app.submit(&count, "#submit-form", &[]).await, &count);
    let line_of = |code: String| {
        let (pool, id) = (app.pool.clone(), count.trim_start_matches("/counts/").to_string());
        async move {
            sqlx::query_scalar::<_, i64>(
                "select c.id from stock_count_lines c join lots l on l.id = c.lot_id where l.code = $1 and c.count_id = $2::uuid",
            )
            .bind(&code)
            .bind(&id)
            .fetch_one(&pool)
            .await
            .unwrap()
            .to_string()
        }
    };
    let sugar_line = line_of(sugar.clone()).await;
    // Only the sugar's line now: 1 less is within 10 %, so the count's reason is enough.
    let response = app
        .submit(&count, "#post-form", &[("confirmed", "yes"), ("line", &sugar_line), ("post_reason", "Cycle count")])
        .await;
    assert_redirect(&response, &count);
    let page = app.page(&count).await;
    assert_eq!(text(&page, "#count-status"), "submitted", "the salt's line still waits");
    assert!(text(&page, &format!("#line-{sugar_line}")).contains("Cycle count"));
    let salt_line = line_of(salt.clone()).await;
    assert!(texts(&page, &format!("#post-{sugar_line}")).is_empty(), "the sugar's line is posted");
    assert_eq!(texts(&page, &format!("#post-{salt_line}")).len(), 1, "the salt's line is offered");
    // The rest, later: the count is then posted.
    assert_redirect(
        &app.submit(&count, "#post-form", &[("confirmed", "yes"), ("post_reason", "Cycle count, second pass")]).await,
        &count,
    );
    assert_eq!(text(&app.page(&count).await, "#count-status"), "posted");
    let posted: Vec<String> = sqlx::query_scalar("select reason from stock_movements where kind = 'count' order by id")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(posted, ["Cycle count", "Cycle count, second pass"]);
}
