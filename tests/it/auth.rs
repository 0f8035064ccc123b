//! Signing in and out, sessions, CSRF, and the role matrix: every route, every role.

use reqwest::StatusCode;
use reqwest::header::LOCATION;
use scraper::Html;

use crate::helpers::{
    PASSWORD, TestApp, assert_redirect, new_client, sign_in, spawn_anonymous, spawn_app, text, texts, value,
};

/// Ids of one record of each kind, for routes that name a record.
struct Fixture {
    material: String,
    party: String,
    site: String,
    location: String,
    user: String,
    rule: String,
}

async fn fixture(app: &TestApp) -> Fixture {
    let site: uuid::Uuid = sqlx::query_scalar("insert into sites (code, name) values ('P1', 'Plant') returning id")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let location: uuid::Uuid = sqlx::query_scalar(
        "insert into locations (site_id, code, name, kind) values ($1, 'WH', 'Warehouse', 'storage') returning id",
    )
    .bind(site)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let material: uuid::Uuid = sqlx::query_scalar(
        "insert into materials (code, name, kind, uom, expiry_policy) values ('SALT', 'Salt', 'raw', 'kg', 'none') returning id",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let party: uuid::Uuid =
        sqlx::query_scalar("insert into parties (code, name, is_supplier) values ('MILL', 'Mill', true) returning id")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    let user = app.create_user("someone", &["operator"]).await;
    let rule: uuid::Uuid = sqlx::query_scalar("select id from lot_rules").fetch_one(&app.pool).await.unwrap();
    Fixture {
        rule: rule.to_string(),
        material: material.to_string(),
        party: party.to_string(),
        site: site.to_string(),
        location: location.to_string(),
        user: user.to_string(),
    }
}

/// Every route with the permission it takes (None: any signed-in user).
fn routes(f: &Fixture) -> Vec<(&'static str, String, Option<&'static str>)> {
    let r = |m: &'static str, p: String, perm: Option<&'static str>| (m, p, perm);
    vec![
        r("GET", "/".into(), Some("lots.read")),
        r("GET", "/search?q=X".into(), Some("lots.read")),
        r("GET", "/lots".into(), Some("lots.read")),
        r("GET", "/materials".into(), Some("lots.read")),
        r("GET", format!("/materials/{}", f.material), Some("lots.read")),
        r("GET", "/materials/new".into(), Some("master.edit")),
        r("POST", "/materials".into(), Some("master.edit")),
        r("GET", format!("/materials/{}/edit", f.material), Some("master.edit")),
        r("POST", format!("/materials/{}/edit", f.material), Some("master.edit")),
        r("POST", format!("/materials/{}/gtins", f.material), Some("master.edit")),
        r("POST", format!("/materials/{}/gtins/01234567890128/delete", f.material), Some("master.edit")),
        r("GET", "/parties".into(), Some("lots.read")),
        r("GET", format!("/parties/{}", f.party), Some("lots.read")),
        r("GET", "/parties/new".into(), Some("master.edit")),
        r("POST", "/parties".into(), Some("master.edit")),
        r("GET", format!("/parties/{}/edit", f.party), Some("master.edit")),
        r("POST", format!("/parties/{}/edit", f.party), Some("master.edit")),
        r("POST", format!("/parties/{}/contacts", f.party), Some("master.edit")),
        r("GET", "/sites".into(), Some("lots.read")),
        r("GET", format!("/sites/{}", f.site), Some("lots.read")),
        r("GET", "/sites/new".into(), Some("master.edit")),
        r("POST", "/sites".into(), Some("master.edit")),
        r("GET", format!("/sites/{}/edit", f.site), Some("master.edit")),
        r("POST", format!("/sites/{}/edit", f.site), Some("master.edit")),
        r("GET", "/locations".into(), Some("lots.read")),
        r("GET", format!("/locations/{}", f.location), Some("lots.read")),
        r("GET", "/locations/new".into(), Some("master.edit")),
        r("POST", "/locations".into(), Some("master.edit")),
        r("GET", format!("/locations/{}/edit", f.location), Some("master.edit")),
        r("POST", format!("/locations/{}/edit", f.location), Some("master.edit")),
        r("GET", "/audit".into(), Some("audit.read")),
        r("GET", "/admin/users".into(), Some("users.manage")),
        r("GET", "/admin/users/new".into(), Some("users.manage")),
        r("POST", "/admin/users".into(), Some("users.manage")),
        r("GET", format!("/admin/users/{}", f.user), Some("users.manage")),
        r("POST", format!("/admin/users/{}", f.user), Some("users.manage")),
        r("POST", format!("/admin/users/{}/password", f.user), Some("users.manage")),
        r("GET", "/admin/lot-rules".into(), Some("rules.edit")),
        r("GET", "/admin/lot-rules/new".into(), Some("rules.edit")),
        r("POST", "/admin/lot-rules".into(), Some("rules.edit")),
        r("GET", "/admin/lot-rules/preview?pattern=%7BSEQ%7D".into(), Some("rules.edit")),
        r("GET", format!("/admin/lot-rules/{}", f.rule), Some("rules.edit")),
        r("POST", format!("/admin/lot-rules/{}", f.rule), Some("rules.edit")),
        r("GET", "/receipts".into(), Some("lots.read")),
        r("GET", format!("/receipts/{}", f.user), Some("lots.read")),
        r("GET", "/receipts/new".into(), Some("stock.receive")),
        r("POST", "/receipts".into(), Some("stock.receive")),
        r("GET", "/runs".into(), Some("lots.read")),
        r("GET", format!("/runs/{}", f.user), Some("lots.read")),
        r("GET", "/runs/new".into(), Some("stock.produce")),
        r("POST", "/runs".into(), Some("stock.produce")),
        r("POST", format!("/runs/{}/inputs", f.user), Some("stock.produce")),
        r("POST", format!("/runs/{}/outputs", f.user), Some("stock.produce")),
        r("POST", format!("/runs/{}/close", f.user), Some("stock.produce")),
        r("POST", format!("/lots/{}/release", f.user), Some("qa.decide")),
        r("POST", format!("/lots/{}/reject", f.user), Some("qa.decide")),
        r("POST", format!("/lots/{}/holds", f.user), Some("qa.decide")),
        r("POST", format!("/lots/{}/holds/{}/lift", f.user, f.user), Some("qa.decide")),
        r("POST", format!("/lots/{}/qa-records", f.user), Some("qa.record")),
        r("GET", "/shipments".into(), Some("lots.read")),
        r("GET", format!("/shipments/{}", f.user), Some("lots.read")),
        r("GET", "/shipments/new".into(), Some("stock.ship")),
        r("POST", "/shipments".into(), Some("stock.ship")),
        r("POST", format!("/lots/{}/movements/1/reverse", f.user), Some("stock.move")),
        r("POST", format!("/lots/{}/transfer", f.user), Some("stock.move")),
        r("POST", format!("/lots/{}/adjust", f.user), Some("stock.move")),
        r("POST", format!("/lots/{}/scrap", f.user), Some("stock.move")),
        r("POST", format!("/lots/{}/split", f.user), Some("stock.move")),
        r("GET", "/expiry".into(), Some("lots.read")),
        r("GET", format!("/trace?lot={}", f.user), Some("lots.read")),
        r("GET", format!("/api/v1/trace?lot_id={}", f.user), Some("lots.read")),
        r("GET", "/lots/from-supplier?supplier_lot=X".into(), Some("lots.read")),
        r("POST", format!("/shipments/{}/returns", f.user), Some("stock.ship")),
        r("POST", format!("/lots/{}/return-to-supplier", f.user), Some("stock.ship")),
        r("GET", "/account".into(), None),
        r("POST", "/account/tokens".into(), None),
        r("GET", "/api/v1/me".into(), None),
    ]
}

async fn call(app: &TestApp, method: &str, path: &str) -> reqwest::Response {
    match method {
        "GET" => app.get(path).await,
        _ => app.post_form(path, &[]).await,
    }
}

#[tokio::test]
async fn every_route_refuses_an_anonymous_request() {
    let app = spawn_anonymous().await;
    let f = fixture(&app).await;
    for (method, path, _) in routes(&f) {
        let response = call(&app, method, &path).await;
        if path.starts_with("/api/") {
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{method} {path}");
            let body: serde_json::Value = response.json().await.unwrap();
            assert_eq!(body["error"]["code"], "unauthorized");
        } else {
            let to = assert_redirect(&response, "/login");
            if method == "GET" && path != "/" {
                assert_eq!(to, format!("/login?next={}", lotline::web::percent_encode(&path)), "{path}");
            }
        }
    }
    assert_eq!(app.count("sites").await, 1, "nothing was written");
    // What stays public:
    assert_eq!(app.get("/login").await.status(), StatusCode::OK);
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    assert_eq!(app.get("/static/app.css").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn each_role_reaches_what_it_may_and_is_refused_what_it_may_not() {
    let mut app = spawn_anonymous().await;
    let f = fixture(&app).await;
    let permissions = |role: &str| -> Vec<&'static str> {
        match role {
            "operator" => vec!["lots.read", "stock.receive", "stock.produce", "stock.ship", "stock.move"],
            "qa" => vec![
                "lots.read",
                "stock.receive",
                "stock.produce",
                "stock.ship",
                "stock.move",
                "qa.decide",
                "qa.record",
                "audit.read",
            ],
            "admin" => vec!["lots.read", "master.edit", "users.manage", "audit.read", "rules.edit"],
            _ => unreachable!(),
        }
    };
    for role in ["operator", "qa", "admin"] {
        app.create_user(&format!("{role}1"), &[role]).await;
        app.login(&format!("{role}1"), PASSWORD).await;
        for (method, path, needs) in routes(&f) {
            let response = call(&app, method, &path).await;
            let status = response.status();
            let allowed = needs.is_none_or(|p| permissions(role).contains(&p));
            if allowed {
                assert!(
                    status != StatusCode::FORBIDDEN
                        && status != StatusCode::UNAUTHORIZED
                        && response.headers().get(LOCATION).is_none_or(|l| !l.to_str().unwrap().starts_with("/login")),
                    "{role} may {method} {path}, got {status}"
                );
            } else {
                assert_eq!(status, StatusCode::FORBIDDEN, "{role} may not {method} {path}");
                let page = Html::parse_document(&response.text().await.unwrap());
                assert_eq!(text(&page, "h1"), "Not allowed");
            }
        }
    }
}

#[tokio::test]
async fn the_menu_shows_only_what_the_role_may_use() {
    let mut app = spawn_anonymous().await;
    app.create_user("op", &["operator"]).await;
    app.login("op", PASSWORD).await;
    let page = app.page("/materials").await;
    assert!(crate::helpers::texts(&page, "header nav a").iter().all(|t| t != "Users" && t != "Audit trail"));
    assert!(crate::helpers::texts(&page, "a.button").is_empty(), "no New material button for an operator");
    assert_eq!(text(&page, "#who"), "op (test)");
}

#[tokio::test]
async fn a_form_post_without_or_with_a_wrong_csrf_token_changes_nothing() {
    let app = spawn_app().await;
    let fields = [("code", "SALT"), ("name", "Salt"), ("kind", "raw"), ("uom", "kg"), ("expiry_policy", "none")];
    let key = uuid::Uuid::new_v4().to_string();
    let mut without: Vec<(&str, &str)> = fields.to_vec();
    without.push(("idempotency_key", &key));
    let response = app.post_raw("/materials", &without).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let page = Html::parse_document(&response.text().await.unwrap());
    assert!(text(&page, ".error-page p:first-of-type").contains("did not come from lotline"));

    let mut wrong = without.clone();
    wrong.push(("csrf_token", "0000"));
    assert_eq!(app.post_raw("/materials", &wrong).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.count("materials").await, 0);

    let mut right = without.clone();
    right.push(("csrf_token", &app.csrf));
    assert_redirect(&app.post_raw("/materials", &right).await, "/materials/");
    assert_eq!(app.count("materials").await, 1);
}

#[tokio::test]
async fn a_wrong_password_is_refused_and_repeated_failures_from_one_device_wait_a_growing_delay() {
    let app = spawn_anonymous().await;
    app.create_user("ann", &["operator"]).await;
    let base = format!("http://{}", app.addr);
    let client = new_client();
    for _ in 0..5 {
        let response = sign_in(&client, &base, "ann", "wrong password").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let page = Html::parse_document(&response.text().await.unwrap());
        assert_eq!(text(&page, "#login-error"), "Wrong user name or password.");
        assert_eq!(value(&page, "#f-username"), "ann", "the user name stays typed");
    }
    let response = sign_in(&client, &base, "ann", PASSWORD).await;
    assert_eq!(
        response.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "not checked before the delay, even the right password"
    );
    let page = Html::parse_document(&response.text().await.unwrap());
    assert!(text(&page, "#login-error").starts_with("Too many failed sign-ins"));
    assert_eq!(app.count("sessions").await, 0);

    // The counters live in PostgreSQL: once the lock has passed, the right password works.
    sqlx::query("update login_throttle set locked_until = now() - interval '1 second'")
        .execute(&app.pool)
        .await
        .unwrap();
    assert_redirect(&sign_in(&client, &base, "ANN", PASSWORD).await, "/");
}

#[tokio::test]
async fn an_unknown_user_gets_the_same_answer_as_a_wrong_password() {
    let app = spawn_anonymous().await;
    let response = sign_in(&new_client(), &format!("http://{}", app.addr), "nobody", "whatever it is").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let page = Html::parse_document(&response.text().await.unwrap());
    assert_eq!(text(&page, "#login-error"), "Wrong user name or password.");
}

#[tokio::test]
async fn a_login_form_that_did_not_come_from_lotline_is_refused() {
    let app = spawn_anonymous().await;
    app.create_user("ann", &["operator"]).await;
    let response =
        new_client().post(app.url("/login")).form(&[("username", "ann"), ("password", PASSWORD)]).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.count("sessions").await, 0);
}

#[tokio::test]
async fn after_signing_in_the_user_lands_where_they_were_going_but_never_on_another_site() {
    let app = spawn_anonymous().await;
    app.create_user("ann", &["operator"]).await;
    let client = new_client();
    let to = assert_redirect(&client.get(app.url("/materials?q=salt")).send().await.unwrap(), "/login");
    let page = Html::parse_document(&client.get(app.url(&to)).send().await.unwrap().text().await.unwrap());
    assert_eq!(value(&page, "input[name=next]"), "/materials?q=salt");
    let token = value(&page, "input[name=login_token]");
    let response = client
        .post(app.url("/login"))
        .form(&[("username", "ann"), ("password", PASSWORD), ("login_token", &token), ("next", "/materials?q=salt")])
        .send()
        .await
        .unwrap();
    assert_eq!(assert_redirect(&response, "/"), "/materials?q=salt");
    let cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("lotline_session="))
        .unwrap();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");

    let evil = new_client();
    let page = Html::parse_document(
        &evil.get(app.url("/login?next=//evil.example/x")).send().await.unwrap().text().await.unwrap(),
    );
    assert_eq!(value(&page, "input[name=next]"), "/");
}

#[tokio::test]
async fn signing_out_ends_the_session_on_the_server() {
    let app = spawn_app().await;
    assert_eq!(app.count("sessions").await, 1);
    assert_redirect(&app.post_form("/logout", &[]).await, "/login");
    assert_eq!(app.count("sessions").await, 0);
    assert_redirect(&app.get("/").await, "/login");
}

#[tokio::test]
async fn an_idle_or_expired_session_sends_the_user_back_to_sign_in() {
    let app = spawn_app().await;
    assert_eq!(app.get("/").await.status(), StatusCode::OK);
    sqlx::query("update sessions set last_seen_at = now() - interval '2 hours'").execute(&app.pool).await.unwrap();
    assert_redirect(&app.get("/").await, "/login");

    let app = spawn_app().await;
    sqlx::query("update sessions set expires_at = now() - interval '1 second'").execute(&app.pool).await.unwrap();
    assert_redirect(&app.get("/").await, "/login");
}

#[tokio::test]
async fn a_deactivated_user_is_signed_out_at_once() {
    let mut admin = spawn_app().await;
    let ann = admin.create_user("ann", &["operator"]).await;
    let mut ann_app = admin.another();
    ann_app.login("ann", PASSWORD).await;
    assert_eq!(ann_app.get("/").await.status(), StatusCode::OK);

    admin.login("tester", PASSWORD).await;
    let response = admin.submit(&format!("/admin/users/{ann}"), "#user-form", &[("active", "")]).await;
    assert_redirect(&response, &format!("/admin/users/{ann}"));
    assert_redirect(&ann_app.get("/").await, "/login");
    let again = sign_in(&new_client(), &format!("http://{}", admin.addr), "ann", PASSWORD).await;
    assert_eq!(again.status(), StatusCode::UNAUTHORIZED);
}

/// Signs in as `username` from `address` (the trusted proxy's header carries it).
async fn sign_in_from(base: &str, address: &str, username: &str, password: &str) -> reqwest::Response {
    let client = new_client();
    let page = client.get(format!("{base}/login")).send().await.unwrap().text().await.unwrap();
    let token = value(&Html::parse_document(&page), "input[name=login_token]");
    client
        .post(format!("{base}/login"))
        .header("x-forwarded-for", address)
        .form(&[("username", username), ("password", password), ("login_token", &token), ("next", "/")])
        .send()
        .await
        .unwrap()
}

async fn behind_a_proxy() -> crate::helpers::TestApp {
    let (_, pool) = crate::helpers::fresh_database().await;
    let settings = lotline::app::Settings { client_ip_header: Some("x-forwarded-for".into()), ..Default::default() };
    crate::helpers::serve(settings, pool).await
}

#[tokio::test]
async fn a_strangers_failures_never_lock_the_owner_out_and_a_reset_lifts_every_delay() {
    let app = behind_a_proxy().await;
    let ann = app.create_user("ann", &["operator"]).await;
    let base = format!("http://{}", app.addr);
    for _ in 0..8 {
        let status = sign_in_from(&base, "203.0.113.9", "ann", "guess").await.status();
        assert!(status == StatusCode::UNAUTHORIZED || status == StatusCode::TOO_MANY_REQUESTS, "{status}");
    }
    assert_eq!(sign_in_from(&base, "203.0.113.9", "ann", PASSWORD).await.status(), StatusCode::TOO_MANY_REQUESTS);
    // Ann, at her own device, signs in at once.
    assert_redirect(&sign_in_from(&base, "198.51.100.7", "ann", PASSWORD).await, "/");
    // Every attempt is in the audit trail, with its address.
    let events: Vec<(String, String)> = sqlx::query_as(
        "select action, after->>'address' from audit_log where entity_id = $1 and action like 'login%' order by id",
    )
    .bind(ann.to_string())
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert!(events.iter().any(|(a, ip)| a == "login_failed" && ip == "203.0.113.9"), "{events:?}");
    assert!(events.iter().any(|(a, ip)| a == "login_throttled" && ip == "203.0.113.9"), "{events:?}");
    assert_eq!(events.last().unwrap(), &("login".to_string(), "198.51.100.7".to_string()));
    // An administrator's reset lifts the stranger's delay too.
    lotline::auth::users::set_password(&app.pool, &lotline::audit::Actor::system("test"), ann, "a brand new secret")
        .await
        .unwrap();
    assert_redirect(&sign_in_from(&base, "203.0.113.9", "ann", "a brand new secret").await, "/");
}

#[tokio::test]
async fn a_burst_of_concurrent_sign_ins_checks_no_more_passwords_than_the_limit() {
    let app = spawn_anonymous().await;
    app.create_user("ann", &["operator"]).await;
    let base = format!("http://{}", app.addr);
    // Forty at once, the right password among them: each attempt is counted before it is checked.
    let mut tasks = Vec::new();
    for i in 0..40 {
        let base = base.clone();
        let password = if i == 12 { PASSWORD } else { "wrong password" };
        tasks.push(tokio::spawn(async move { sign_in(&new_client(), &base, "ann", password).await.status() }));
    }
    let mut checked = 0;
    for t in tasks {
        let status = t.await.unwrap();
        if status != StatusCode::TOO_MANY_REQUESTS {
            checked += 1;
        }
    }
    assert!(checked <= 5, "{checked} passwords were checked; the limit is 5");
    let failed: i64 = sqlx::query_scalar("select count(*) from audit_log where action in ('login_failed', 'login')")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(failed, checked as i64, "every checked attempt is in the audit trail");
}

#[tokio::test]
async fn three_failed_signatures_end_the_session_and_alert_every_administrator() {
    let app = crate::recalls::demo_app().await;
    let alerted = std::env::temp_dir().join(format!("alert-{}.json", uuid::Uuid::new_v4()));
    lotline::alerts::configure(Some(format!("cat > {}", alerted.display())));
    app.create_user("quincy", &["qa"]).await;
    let mut qa = app.another();
    qa.login("quincy", PASSWORD).await;
    let lot: String =
        sqlx::query_scalar("select id::text from lots where disposition = 'quarantine' order by code limit 1")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    let page = format!("/lots/{lot}");
    for attempt in 1..=2 {
        let response = qa.submit(&page, "#release-form", &[("signer", "quincy"), ("password", "guess")]).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "attempt {attempt}");
    }
    assert_eq!(qa.get("/lots").await.status(), StatusCode::OK, "two failures: still signed in");
    let third = qa.submit(&page, "#release-form", &[("signer", "quincy"), ("password", "guess")]).await;
    assert_eq!(third.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_redirect(&qa.get("/lots").await, "/login");
    let disposition: String = sqlx::query_scalar("select disposition from lots where id = $1::uuid")
        .bind(&lot)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(disposition, "quarantine");
    // Every attempt is in the audit trail; the alert waits on every administrator's pages.
    let failed: i64 = sqlx::query_scalar("select count(*) from audit_log where action = 'signature_failed'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(failed, 3);
    let home = app.page("/").await;
    assert!(text(&home, "#security-alert-banner").contains("1 waiting"));
    let alerts = app.page("/admin/alerts").await;
    assert!(text(&alerts, "#alerts").contains("3 failed electronic signatures by quincy"));
    assert_redirect(&app.submit("/admin/alerts", "#alerts form", &[]).await, "/admin/alerts");
    assert!(texts(&app.page("/").await, "#security-alert-banner").is_empty());
    // The plant's command got the alert.
    for _ in 0..50 {
        if std::fs::read_to_string(&alerted).is_ok_and(|t| t.contains("signature_attempts")) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(std::fs::read_to_string(&alerted).unwrap().contains("quincy"));
    std::fs::remove_file(&alerted).ok();
}

#[tokio::test]
async fn downloads_and_refusals_are_security_events_and_strangers_learn_nothing_from_healthz() {
    let app = crate::recalls::demo_app().await;
    // A download is in the audit trail, with what was asked.
    assert_eq!(app.get("/shipments?format=csv").await.status(), StatusCode::OK);
    let asked: String = sqlx::query_scalar("select after->>'request' from audit_log where action = 'export'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(asked, "/shipments?format=csv");
    // An operator is refused the customers' recall contacts; the refusal is recorded.
    app.create_user("olaf", &["operator"]).await;
    let mut operator = app.another();
    operator.login("olaf", PASSWORD).await;
    let recall: String = sqlx::query_scalar("select id::text from recalls limit 1")
        .fetch_optional(&app.pool)
        .await
        .unwrap()
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let status = operator.get(&format!("/recalls/{recall}/notices.csv")).await.status();
    assert_eq!(status, StatusCode::FORBIDDEN);
    let refused: i64 =
        sqlx::query_scalar("select count(*) from audit_log where action = 'request_refused' and actor_name = 'olaf'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(refused, 1);
    // /healthz tells a stranger it is up, not how big the plant is.
    let public: serde_json::Value = new_client().get(app.url("/healthz")).send().await.unwrap().json().await.unwrap();
    assert_eq!(public["status"], "ok");
    assert!(public["link_index"].get("lots").is_none(), "{public}");
}

#[tokio::test]
async fn the_first_signature_of_a_session_and_one_after_a_pause_take_the_user_name_and_the_password() {
    let app = crate::recalls::demo_app().await;
    // Three lots waiting for QA (a fixture: set straight into quarantine).
    let lots: Vec<String> = sqlx::query_scalar(
        "update lots set disposition = 'quarantine'
          where id in (select id from lots where disposition = 'released' order by code limit 3) returning id::text",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let page = |i: usize| format!("/lots/{}", lots[i]);
    // The first signature of the session: the password alone is not enough.
    let alone = app.submit(&page(0), "#release-form", &[("password", PASSWORD)]).await;
    crate::helpers::assert_field_error(alone, "release-signer", "Type your user name as well").await;
    // Someone else's user name is a failed signature.
    let other = app.submit(&page(0), "#release-form", &[("signer", "qa"), ("password", PASSWORD)]).await;
    assert_eq!(other.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let failed: i64 = sqlx::query_scalar("select count(*) from audit_log where action = 'signature_failed'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(failed, 1);
    assert_redirect(
        &app.submit(&page(0), "#release-form", &[("signer", "tester"), ("password", PASSWORD)]).await,
        &page(0),
    );
    // Within the signing period, the password alone signs.
    assert_redirect(&app.submit(&page(1), "#release-form", &[("password", PASSWORD)]).await, &page(1));
    // After a quarter of an hour without signing, both again.
    sqlx::query("update sessions set signed_at = now() - interval '16 minutes'").execute(&app.pool).await.unwrap();
    let late = app.submit(&page(2), "#release-form", &[("password", PASSWORD)]).await;
    crate::helpers::assert_field_error(late, "release-signer", "Type your user name as well").await;
}

#[tokio::test]
async fn a_refused_api_token_is_recorded_with_whose_it_was_and_a_guesser_is_slowed() {
    let app = crate::helpers::spawn_app().await;
    let secret = crate::api::token(&app).await;
    let me = |token: String| {
        let url = app.url("/api/v1/me");
        async move { new_client().get(url).bearer_auth(token).send().await.unwrap() }
    };
    assert_eq!(me(secret.clone()).await.status(), StatusCode::OK);
    sqlx::query("update api_tokens set revoked_at = now()").execute(&app.pool).await.unwrap();
    assert_eq!(me(secret.clone()).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(me("not a token".into()).await.status(), StatusCode::UNAUTHORIZED);
    let refused: Vec<(String, String, String)> = sqlx::query_as(
        "select entity_id, after->>'username', after->>'reason' from audit_log where action = 'token_refused' order by id",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let tester: String =
        sqlx::query_scalar("select id::text from users where username = 'tester'").fetch_one(&app.pool).await.unwrap();
    assert_eq!(
        refused,
        [(tester, "tester".into(), "revoked".into()), ("unknown token".into(), String::new(), "unknown".into())]
    );
    // A guesser is slowed down, and stops filling the trail.
    let mut throttled = None;
    for i in 0..30 {
        let response = me(format!("guess {i}")).await;
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            throttled = Some(response);
            break;
        }
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let throttled = throttled.expect("refused tokens from one address are throttled");
    assert!(throttled.headers().contains_key("retry-after"));
    let body: serde_json::Value = throttled.json().await.unwrap();
    assert_eq!(body["error"]["code"], "too_many_requests");
    for i in 0..10 {
        assert_eq!(me(format!("more {i}")).await.status(), StatusCode::TOO_MANY_REQUESTS);
    }
    let recorded: i64 = sqlx::query_scalar("select count(*) from audit_log where action = 'token_refused'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(recorded <= 20, "{recorded} refusals recorded");
}
