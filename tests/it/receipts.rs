//! Receiving through the form, its refusals, and lot codes under concurrency across two servers.

use std::collections::HashSet;

use reqwest::StatusCode;

use crate::embedded::free_port;
use crate::helpers::{PASSWORD, TestApp, assert_field_error, database_url, text, texts, value};
use crate::rules::{id_of, receive, received_code};

async fn demo_app() -> TestApp {
    crate::helpers::spawn_demo(crate::helpers::Demo::Master).await
}

#[tokio::test]
async fn a_receipt_creates_a_lot_in_quarantine_with_expiry_from_shelf_life_and_stock_at_its_location() {
    let app = demo_app().await;
    let response = receive(&app, "FLOUR-T55", "1250.5", "2026-11-02").await;
    let location = crate::helpers::assert_redirect(&response, "/receipts/");
    let page = app.page(&location).await;
    assert!(text(&page, ".flash.success").starts_with("Received: lot 26306-0001"));
    assert_eq!(texts(&page, "#receipt-lines td:nth-child(5)"), vec!["1250.5 kg"]);
    assert_eq!(texts(&page, "#receipt-lines td:nth-child(7)"), vec!["2027-05-01"], "2026-11-02 + 180 days");
    assert_eq!(texts(&page, "#receipt-lines td:nth-child(8)"), vec!["quarantine"]);

    let lot = app
        .page(&format!(
            "/lots/{}",
            sqlx::query_scalar::<_, String>("select id::text from lots").fetch_one(&app.pool).await.unwrap()
        ))
        .await;
    assert_eq!(texts(&lot, "#stock tbody tr"), vec!["DOCK · Receiving dock 1250.5 kg"]);
    assert!(texts(&lot, "dl.facts dd").iter().any(|d| d == "Prairie Mill Co., lot SUP-1"));

    // Salt needs no incoming QA: released at once, no expiry.
    let salt = received_code(&app, receive(&app, "SALT", "100", "2026-11-02").await).await;
    let (disposition, expires): (String, Option<chrono::NaiveDate>) =
        sqlx::query_as("select disposition, expires_on from lots where code = $1")
            .bind(&salt)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!((disposition.as_str(), expires), ("released", None));
    let entries: i64 = sqlx::query_scalar("select count(*) from audit_log where entity_type = 'receipt'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(entries, 2);
}

#[tokio::test]
async fn a_refused_receipt_says_why_next_to_each_field_and_writes_nothing() {
    let app = demo_app().await;
    let dc_location: String = sqlx::query_scalar(
        "select l.id::text from locations l join sites s on s.id = l.site_id where s.code = 'DC1' limit 1",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let page =
        assert_field_error(receive(&app, "FLOUR-T55", "-3", "2026-11-02").await, "line1", "greater than zero").await;
    assert_eq!(value(&page, "#quantity-0"), "-3");
    assert_field_error(receive(&app, "FLOUR-T55", "abc", "2026-11-02").await, "line1", "must be a number").await;
    assert_field_error(receive(&app, "FLOUR-T55", "0", "2026-11-02").await, "line1", "greater than zero").await;
    assert_field_error(receive(&app, "FLOUR-T55", "5", "2099-01-01").await, "received_on", "future").await;
    let material = id_of(&app, "materials", "FLOUR-T55").await;
    let wrong_site = app
        .submit(
            "/receipts/new",
            "#receipt-form",
            &[
                ("material_id", &material),
                ("quantity", "5"),
                ("site_id", &id_of(&app, "sites", "RVS").await),
                ("location_id", &dc_location),
                ("supplier_id", &id_of(&app, "parties", "PRAIRIE-MILL").await),
            ],
        )
        .await;
    assert_field_error(wrong_site, "line1", "choose an active location of site RVS").await;
    let rvs = id_of(&app, "sites", "RVS").await;
    let dock: String =
        sqlx::query_scalar("select id::text from locations where code = 'DOCK'").fetch_one(&app.pool).await.unwrap();
    let customer = app
        .submit(
            "/receipts/new",
            "#receipt-form",
            &[
                ("material_id", &material),
                ("quantity", "5"),
                ("site_id", &rvs),
                ("location_id", &dock),
                ("supplier_id", &id_of(&app, "parties", "FRESHMART").await),
            ],
        )
        .await;
    assert_field_error(customer, "supplier_id", "FRESHMART is not an active supplier").await;
    assert_eq!(app.count("lots").await, 0);
    assert_eq!(app.count("receipts").await, 0);
    assert_eq!(app.count("stock_movements").await, 0);
    assert_eq!(app.count("lot_sequences").await, 0, "no number was drawn for a refused form");
}

#[tokio::test]
async fn a_receipt_posted_twice_is_received_once() {
    let app = demo_app().await;
    let page = app.page("/receipts/new").await;
    let key = value(&page, "input[name=idempotency_key]");
    let fields = [
        ("material_id", id_of(&app, "materials", "SUGAR").await),
        ("supplier_id", id_of(&app, "parties", "SWEETCANE").await),
        ("site_id", id_of(&app, "sites", "RVS").await),
        (
            "location_id",
            sqlx::query_scalar::<_, String>("select id::text from locations where code = 'RAW-A'")
                .fetch_one(&app.pool)
                .await
                .unwrap(),
        ),
        ("quantity", "1000".to_string()),
        ("received_on", "2026-11-02".to_string()),
        ("idempotency_key", key),
    ];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let first = app.post_form("/receipts", &fields).await;
    let second = app.post_form("/receipts", &fields).await;
    assert_eq!(first.headers()["location"], second.headers()["location"]);
    assert_eq!(app.count("receipts").await, 1);
    assert_eq!(app.count("lots").await, 1);
    assert_eq!(app.count("lot_code_gaps").await, 0);
}

#[tokio::test]
async fn an_operator_receives_but_cannot_open_the_rules() {
    let mut app = demo_app().await;
    app.create_user("olga", &["operator"]).await;
    app.login("olga", PASSWORD).await;
    assert_eq!(app.get("/admin/lot-rules").await.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.get("/admin/lot-rules/new").await.status(), StatusCode::FORBIDDEN);
    let page = app.page("/receipts").await;
    assert!(texts(&page, "header nav a").iter().all(|a| a != "Lot-number rules"));
    let code = received_code(&app, receive(&app, "SALT", "5", "2026-11-02").await).await;
    assert_eq!(code, "26306-0001");
}

/// Two lotline servers on one database, 64 receipts fired at them at once: every code distinct,
/// and every number drawn is either a lot or a logged gap.
#[tokio::test]
async fn concurrent_receipts_through_two_servers_never_repeat_a_code() {
    let app = demo_app().await;
    let tester = sqlx::query_scalar::<_, uuid::Uuid>("select id from users where username = 'tester'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let token = lotline::auth::users::create_token(
        &app.pool,
        &lotline::audit::Actor::system("test"),
        tester,
        "load",
        "write",
        30,
    )
    .await
    .unwrap();
    // Make one code the rule will reach already taken, so the skip path runs under load too.
    // The receipts below are dated today at the site (Chicago), which is not UTC's date every hour.
    let prefix: String = sqlx::query_scalar(
        "select to_char((now() at time zone time_zone)::date, 'YYDDD') from sites where code = 'RVS'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    sqlx::query(
        "insert into lots (material_id, code, origin, site_id, made_on, tlc, tlc_source)
         select m.id, $1, 'received', s.id, site_today(s.id), $1, 'x' from materials m, sites s where m.code in ('SALT', 'SUGAR') and s.code = 'RVS'",
    )
    .bind(format!("{prefix}-0010"))
    .execute(&app.pool)
    .await
    .unwrap();

    let url = database_url(&app.database_name().await);
    let data = crate::embedded::DataDir::new();
    let mut servers = Vec::new();
    for _ in 0..2 {
        let port = free_port();
        let child = std::process::Command::new(crate::embedded::BIN)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .env("DATABASE_URL", &url)
            .env("LOTLINE_DATA_DIR", &data.0)
            .env("LOTLINE_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        servers.push((KillOnDrop(child), format!("http://127.0.0.1:{port}")));
    }
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    for (_, base) in &servers {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while client.get(format!("{base}/healthz")).send().await.map(|r| r.status()).ok() != Some(StatusCode::OK) {
            assert!(std::time::Instant::now() < deadline, "server {base} did not start");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
    let fields = [
        ("supplier_id", id_of(&app, "parties", "SALINAS").await),
        ("site_id", id_of(&app, "sites", "RVS").await),
        (
            "location_id",
            sqlx::query_scalar::<_, String>("select id::text from locations where code = 'RAW-A'")
                .fetch_one(&app.pool)
                .await
                .unwrap(),
        ),
        ("quantity", "10".to_string()),
    ];
    let salt = id_of(&app, "materials", "SALT").await;
    let sugar = id_of(&app, "materials", "SUGAR").await;
    let mut tasks = Vec::new();
    for i in 0..64 {
        let base = servers[i % 2].1.clone();
        let client = client.clone();
        let token = token.clone();
        let mut form: Vec<(String, String)> = fields.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        form.push(("material_id".into(), if i % 4 == 3 { sugar.clone() } else { salt.clone() }));
        form.push(("idempotency_key".into(), uuid::Uuid::new_v4().to_string()));
        tasks.push(tokio::spawn(async move {
            let response = client.post(format!("{base}/receipts")).bearer_auth(token).form(&form).send().await.unwrap();
            let status = response.status();
            let body =
                if status == StatusCode::SEE_OTHER { String::new() } else { response.text().await.unwrap_or_default() };
            (status, body)
        }));
    }
    for t in tasks {
        let (status, body) = t.await.unwrap();
        assert_eq!(
            status,
            StatusCode::SEE_OTHER,
            "{}",
            body.split("form-summary").nth(1).unwrap_or(&body).chars().take(2000).collect::<String>()
        );
    }
    let codes: Vec<(String, String)> = sqlx::query_as(
        "select m.code, l.code from lots l join materials m on m.id = l.material_id where l.receipt_id is not null",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(codes.len(), 64);
    let distinct: HashSet<&(String, String)> = codes.iter().collect();
    assert_eq!(distinct.len(), 64, "every code distinct per material");
    let plain: HashSet<&String> = codes.iter().map(|(_, c)| c).collect();
    assert_eq!(plain.len(), 64, "one shared daily sequence: every code distinct across materials too");

    // Every number drawn is a lot or a logged gap, never both, never neither.
    let next: i64 = sqlx::query_scalar("select next_value from lot_sequences").fetch_one(&app.pool).await.unwrap();
    let used: Vec<i64> = sqlx::query_scalar("select code_seq from lots where code_seq is not null order by 1")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    let gaps: Vec<i64> =
        sqlx::query_scalar("select value from lot_code_gaps order by 1").fetch_all(&app.pool).await.unwrap();
    let mut all: Vec<i64> = used.iter().chain(gaps.iter()).copied().collect();
    all.sort();
    assert_eq!(all, (1..next).collect::<Vec<_>>(), "lots {used:?} and gaps {gaps:?}");
    assert!(gaps.contains(&10), "the taken code was skipped and logged");
    let page = app.page("/lots?q=-0010").await;
    assert_eq!(texts(&page, "#lots tbody tr").len(), 2, "only the two lots typed in by hand");
    drop(servers);
}

struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn a_delivery_of_several_lines_becomes_one_receipt_with_a_lot_per_line_or_nothing() {
    let app = demo_app().await;
    let material = |code: &'static str| id_of(&app, "materials", code);
    let (flour, sugar, salt) = (material("FLOUR-T55").await, material("SUGAR").await, material("SALT").await);
    let supplier = id_of(&app, "parties", "PRAIRIE-MILL").await;
    let site = id_of(&app, "sites", "RVS").await;
    let dock: String =
        sqlx::query_scalar("select id::text from locations where code = 'DOCK'").fetch_one(&app.pool).await.unwrap();
    let page = app.page("/receipts/new").await;
    let key = value(&page, "input[name=idempotency_key]");
    let row = |m: &str, lot: &str, q: &str| {
        vec![
            ("material_id", m.to_string()),
            ("supplier_lot", lot.to_string()),
            ("quantity", q.to_string()),
            ("location_id", dock.clone()),
            ("expires_on", String::new()),
            ("country_of_origin", String::new()),
        ]
    };
    let app = &app;
    let (supplier, site, key) = (&supplier, &site, &key);
    let post = |rows: Vec<Vec<(&'static str, String)>>| async move {
        let mut fields: Vec<(&str, String)> = vec![
            ("supplier_id", supplier.clone()),
            ("site_id", site.clone()),
            ("received_on", "2026-11-02".into()),
            ("idempotency_key", key.clone()),
        ];
        fields.extend(rows.into_iter().flatten());
        let refs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        app.post_form("/receipts", &refs).await
    };
    let bad = post(vec![row(&flour, "A", "10"), row(&sugar, "B", "-1"), row(&salt, "C", "5")]).await;
    let page = assert_field_error(bad, "line2", "Line 2: The quantity must be greater than zero.").await;
    assert_eq!(value(&page, "#quantity-2"), "5", "every row keeps what was typed");
    assert_eq!(app.count("lots").await, 0);

    let good = post(vec![row(&flour, "A", "10"), row(&sugar, "B", "20"), row(&salt, "C", "5")]).await;
    let location = crate::helpers::assert_redirect(&good, "/receipts/");
    let shown = app.page(&location).await;
    assert_eq!(texts(&shown, "#receipt-lines a.lot-code"), vec!["26306-0001", "26306-0002", "26306-0003"]);
    assert_eq!(texts(&shown, "#receipt-lines td:nth-child(4)"), vec!["A", "B", "C"]);
    assert_eq!(app.count("receipts").await, 1);
}
