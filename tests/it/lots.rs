//! Finding lots by code: one match opens it, a code shared by two materials lists both.

use reqwest::StatusCode;

use crate::helpers::{TestApp, assert_redirect, spawn_app, text, texts};

/// A received lot with stock, written as a fixture (receiving comes with the plant-floor flows).
async fn lot(app: &TestApp, material: &str, code: &str, quantity: &str) -> uuid::Uuid {
    let site: uuid::Uuid = sqlx::query_scalar(
        "insert into sites (code, name) values ('P1', 'Plant') on conflict (code) do update set name = excluded.name returning id",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let location: uuid::Uuid = sqlx::query_scalar(
        "insert into locations (site_id, code, name, kind) values ($1, 'WH', 'Warehouse', 'storage')
         on conflict (site_id, code) do update set name = excluded.name returning id",
    )
    .bind(site)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let material: uuid::Uuid = sqlx::query_scalar(
        "insert into materials (code, name, kind, uom, expiry_policy) values ($1, $1 || ' name', 'raw', 'kg', 'none')
         on conflict (code) do update set name = excluded.name returning id",
    )
    .bind(material)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let lot: uuid::Uuid = sqlx::query_scalar(
        "insert into lots (material_id, code, origin, site_id, made_on, tlc, tlc_source, disposition)
         values ($1, $2, 'received', $3, current_date, $2, 'P1', 'released') returning id",
    )
    .bind(material)
    .bind(code)
    .bind(site)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    sqlx::query(
        "insert into stock_movements (kind, lot_id, location_id, quantity, occurred_at, posting_id)
         values ('receipt', $1, $2, $3::numeric, now(), gen_random_uuid())",
    )
    .bind(lot)
    .bind(location)
    .bind(quantity)
    .execute(&app.pool)
    .await
    .unwrap();
    lot
}

#[tokio::test]
async fn searching_a_unique_lot_code_opens_the_lot_page() {
    let app = spawn_app().await;
    let id = lot(&app, "FLOUR", "L24001", "1250.5").await;
    let response = app.get("/search?q=l24001").await;
    assert_eq!(assert_redirect(&response, "/lots/"), format!("/lots/{id}"));
    let page = app.page(&format!("/lots/{id}")).await;
    assert_eq!(text(&page, "h1 .code"), "L24001");
    assert_eq!(text(&page, "h1 .badge"), "released");
    assert_eq!(texts(&page, "#stock tbody tr"), vec!["WH · Warehouse 1250.5 kg"]);
}

#[tokio::test]
async fn a_code_shared_by_two_materials_lists_both() {
    let app = spawn_app().await;
    lot(&app, "FLOUR", "24001", "10").await;
    lot(&app, "SUGAR", "24001", "20").await;
    let response = app.get("/search?q=24001").await;
    assert_eq!(response.status(), StatusCode::OK);
    let page = scraper::Html::parse_document(&response.text().await.unwrap());
    assert_eq!(texts(&page, "#matches tbody td:nth-child(2)"), vec!["FLOUR · FLOUR name", "SUGAR · SUGAR name"]);
}

#[tokio::test]
async fn an_unknown_lot_code_says_so() {
    let app = spawn_app().await;
    let page = app.page("/search?q=NOPE-1").await;
    assert!(text(&page, "#no-match").starts_with("No lot has the code “NOPE-1”."));
}

#[tokio::test]
async fn the_lot_list_and_dashboard_count_real_lots() {
    let app = spawn_app().await;
    lot(&app, "FLOUR", "A1", "5").await;
    lot(&app, "FLOUR", "A2", "7").await;
    let list = app.page("/lots?q=a").await;
    assert_eq!(texts(&list, "#lots tbody td:first-child"), vec!["A2", "A1"]);
    let home = app.page("/").await;
    assert_eq!(text(&home, "[data-count=lots]"), "2");
    assert_eq!(text(&home, "[data-count=lots_on_hand]"), "2");
}

/// Reads `path` until `check` holds on the page, for at most five seconds.
async fn eventually_page(app: &TestApp, path: &str, what: &str, check: impl Fn(&scraper::Html) -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        if check(&app.page(path).await) {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{what}: not within 5 s");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Waits until the server's watcher has seen a change after `before` (on a loaded machine its
/// look can come later than its 20 ms), so what follows does not race it.
/// Waits until the watcher has looked twice since the call: the second look's snapshot was
/// taken after it, so every commit made before the call has been seen (not merely one of them,
/// which a watcher a look behind under load would report first).
async fn caught_up(changes: &lotline::db::Changes) {
    let target = changes.looks() + 2;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while changes.looks() < target {
        assert!(std::time::Instant::now() < deadline, "the watcher keeps looking");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_kept_lot_page_is_dropped_when_a_commit_touches_its_lot_and_a_writer_sees_their_own_change_at_once() {
    // The server as served: watching for committed changes, keeping lot pages meanwhile.
    let (_, pool) = crate::helpers::fresh_database().await;
    let app = lotline::app::Application::build(crate::helpers::app_role_pool(&pool).await, Default::default()).unwrap();
    let changes = app.state().changes.clone();
    let mut writer = crate::helpers::serve_app(app, pool.clone()).await;
    writer.create_user("tester", &["operator", "qa", "admin"]).await;
    writer.create_user("viewer", &["operator"]).await;
    lotline::tools::demo::load(&pool).await.unwrap();
    writer.login("tester", crate::helpers::PASSWORD).await;
    let mut viewer = writer.another();
    viewer.login("viewer", crate::helpers::PASSWORD).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while changes.current().is_none() {
        assert!(std::time::Instant::now() < deadline, "the server watches for changes");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let today = crate::helpers::site_today(&pool).await.to_string();
    let code = crate::rules::received_code(&writer, crate::rules::receive(&writer, "SUGAR", "40", &today).await).await;
    let id: String =
        sqlx::query_scalar("select id::text from lots where code = $1").bind(&code).fetch_one(&pool).await.unwrap();
    let path = format!("/lots/{id}");
    let name = |page: &scraper::Html| texts(page, "dl.facts dd").remove(0);
    let before = name(&viewer.page(&path).await);
    assert!(before.contains("SUGAR"), "{before}");

    // A change committed elsewhere (another server, a script): the next views read afresh.
    sqlx::query("update materials set name = 'Cane sugar, renamed' where code = 'SUGAR'").execute(&pool).await.unwrap();
    eventually_page(&viewer, &path, "a committed change drops the kept page", |p| name(p).contains("renamed")).await;
    caught_up(&changes).await;
    // While nothing touches this lot its page is kept: after a receipt of another lot, with the
    // lots table locked (a lock is no change), the page still comes at once, from memory.
    viewer.page(&path).await;
    let before = changes.current();
    let other = crate::rules::receive(&writer, "SALT", "5", &today).await;
    assert_redirect(&other, "/receipts/");
    caught_up(&changes).await;
    assert!(changes.current() > before, "the watcher saw the receipt");
    let mut locker = pool.begin().await.unwrap();
    sqlx::query("lock table lots in access exclusive mode").execute(&mut *locker).await.unwrap();
    let kept = tokio::time::timeout(std::time::Duration::from_secs(2), viewer.page(&path)).await;
    assert!(kept.is_ok_and(|p| name(&p).contains("renamed")), "the kept page is served without reading");
    locker.rollback().await.unwrap();
    // A transaction left open with a write keeps the page as it was committed; its commit drops it.
    let mut open = pool.begin().await.unwrap();
    sqlx::query("update materials set name = 'Cane sugar, pending' where code = 'SUGAR'")
        .execute(&mut *open)
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert!(name(&viewer.page(&path).await).contains("renamed"), "nothing uncommitted is shown");
    open.commit().await.unwrap();
    eventually_page(&viewer, &path, "the commit drops the kept page", |p| name(p).contains("pending")).await;

    // A change through lotline: the writer sees it on the very next page, the viewer a moment later.
    let held = writer.submit(&path, "#hold-form", &[("hold_reason", "Damaged bags")]).await;
    assert_redirect(&held, &path);
    assert_eq!(text(&writer.page(&path).await, "h1 .badge"), "on hold", "the writer reads afresh");
    eventually_page(&viewer, &path, "the viewer sees the hold", |p| text(p, "h1 .badge") == "on hold").await;
}

#[tokio::test]
async fn the_database_refuses_a_lot_code_outside_gs1s_characters_whatever_writes_it() {
    let app = spawn_app().await;
    // GS1's 82 characters (AI 10: up to 20 of them), the longest codes and punctuation included.
    for code in ["A", "L-24/001.a", "!\"%&'()*+,./:;<=>?_-", "ABCDEFGHIJKLMNOPQRST"] {
        lot(&app, "SALT", code, "1").await;
    }
    for code in ["", "ABCDEFGHIJKLMNOPQRSTU", "L 24", "L#24", "LOT\n1", "LÖT"] {
        let refused = sqlx::query(
            "insert into lots (material_id, code, origin, site_id, made_on, tlc, tlc_source)
             select m.id, $1, 'received', s.id, current_date, 'T', 'P1' from materials m, sites s
              where m.code = 'SALT' and s.code = 'P1'",
        )
        .bind(code)
        .execute(&app.pool)
        .await;
        let err = refused.expect_err(&format!("{code:?} is refused"));
        let err = err.as_database_error().expect("a database error");
        assert_eq!(err.code().as_deref(), Some("23514"), "{code:?}: {err}");
        assert_eq!(err.constraint(), Some("lots_code_check"), "{code:?}");
    }
}

#[tokio::test]
async fn the_dashboards_qa_cards_open_the_lists_they_count_and_the_filter_follows_the_pages_and_exports() {
    let app = crate::recalls::demo_app().await;
    let home = app.page("/").await;
    for (card, count) in [("#card-quarantine", "quarantine"), ("#card-held", "held")] {
        let counted = crate::helpers::text(&home, &format!("[data-count={count}]"));
        let list = app.page(&crate::helpers::value_of(&home, card, "href")).await;
        let total = crate::helpers::text(&list, ".pager p");
        if counted == "0" {
            assert!(total.starts_with("No lots"), "{card}: {total}");
        } else {
            assert!(
                total.ends_with(&format!(" of {counted} lots")),
                "{card}: {counted} counted, the list says {total}"
            );
        }
    }
    // A status filter: every lot listed has it, and the CSV holds the same lots.
    let released = app.page("/lots?status=released").await;
    let statuses = crate::helpers::texts(&released, "#lots tbody td:nth-child(3)");
    assert!(!statuses.is_empty() && statuses.iter().all(|s| s.contains("released")), "{statuses:?}");
    let total: usize = crate::helpers::text(&released, ".pager p")
        .rsplit(" of ")
        .next()
        .and_then(|t| t.trim_end_matches(" lots").parse().ok())
        .unwrap();
    let csv = app.get("/lots?status=released&format=csv").await.text().await.unwrap();
    assert_eq!(csv.lines().count() - 1, total, "the export holds every lot the filter lists");
    assert!(csv.lines().skip(1).all(|l| l.contains(",released,")), "{csv}");
    assert_eq!(app.get("/lots?status=bogus").await.status(), reqwest::StatusCode::BAD_REQUEST);
}
