//! User administration, the first administrator from the command line, and API tokens.

use std::io::Write;
use std::process::{Command, Stdio};

use reqwest::StatusCode;
use scraper::Html;

use crate::helpers::{
    PASSWORD, assert_field_error, assert_redirect, database_url, new_client, sign_in, spawn_app, text, texts, value,
};

#[tokio::test]
async fn an_admin_creates_a_user_who_can_then_sign_in_with_that_role() {
    let app = spawn_app().await;
    let page = app.page("/admin/users/new").await;
    let csrf = value(&page, "#user-form input[name=csrf_token]");
    let response = app
        .post_raw(
            "/admin/users",
            &[
                ("csrf_token", &csrf),
                ("username", "quinn"),
                ("display_name", "Quinn Q."),
                ("role", "qa"),
                ("role", "operator"),
                ("password", "long enough secret"),
            ],
        )
        .await;
    let location = assert_redirect(&response, "/admin/users/");
    let page = app.page(&location).await;
    assert_eq!(texts(&page, "#user-form input[name=role][checked]").len(), 2);

    // The administrator chose the password: quinn changes it before anything else.
    let client = new_client();
    assert_redirect(&sign_in(&client, &app.url(""), "quinn", "long enough secret").await, "/account/password");
    assert_redirect(&client.get(app.url("/lots")).send().await.unwrap(), "/account/password");
    assert_eq!(client.get(app.url("/api/v1/me")).send().await.unwrap().status(), StatusCode::FORBIDDEN);
    let mut quinn = app.another();
    quinn.client = client.clone();
    let page =
        Html::parse_document(&client.get(app.url("/account/password")).send().await.unwrap().text().await.unwrap());
    let csrf = value(&page, "#password-form input[name=csrf_token]");
    let same = [
        ("csrf_token", csrf.as_str()),
        ("current_password", "long enough secret"),
        ("new_password", "long enough secret"),
        ("repeat_password", "long enough secret"),
    ];
    assert_field_error(quinn.post_raw("/account/password", &same).await, "new_password", "other than the current")
        .await;
    let changed = [
        ("csrf_token", csrf.as_str()),
        ("current_password", "long enough secret"),
        ("new_password", "quinns own secret"),
        ("repeat_password", "quinns own secret"),
    ];
    assert_redirect(&quinn.post_raw("/account/password", &changed).await, "/account");
    let me: serde_json::Value = client.get(app.url("/api/v1/me")).send().await.unwrap().json().await.unwrap();
    assert_eq!(me["roles"], serde_json::json!(["operator", "qa"]));
    assert!(me["permissions"].as_array().unwrap().iter().any(|p| p == "qa.decide"));
    assert!(!me["permissions"].as_array().unwrap().iter().any(|p| p == "users.manage"));
}

#[tokio::test]
async fn a_user_form_is_refused_without_a_role_with_a_short_password_or_a_taken_name() {
    let app = spawn_app().await;
    let response = app
        .submit(
            "/admin/users/new",
            "#user-form",
            &[("username", "x y"), ("display_name", ""), ("role", ""), ("password", "short")],
        )
        .await;
    let page = assert_field_error(response, "username", "2–64 letters").await;
    assert_eq!(text(&page, "#f-password-error"), "A password has at least 10 characters.");
    assert_eq!(text(&page, "#f-display_name-error"), "The full name is required.");
    assert_eq!(text(&page, "#f-roles-error"), "Give the user at least one role.");
    assert_eq!(value(&page, "#f-password"), "", "a password is never sent back");

    let response = app
        .submit(
            "/admin/users/new",
            "#user-form",
            &[("username", "TESTER"), ("display_name", "Dup"), ("password", "long enough secret")],
        )
        .await;
    assert_field_error(response, "username", "already exists").await;
    assert_eq!(app.count("users").await, 1);
}

#[tokio::test]
async fn nobody_changes_their_own_roles() {
    let app = spawn_app().await;
    let me: String =
        sqlx::query_scalar("select id::text from users where username = 'tester'").fetch_one(&app.pool).await.unwrap();
    let page = app.page(&format!("/admin/users/{me}")).await;
    let csrf = value(&page, "#user-form input[name=csrf_token]");
    let version = value(&page, "#user-form input[name=version]");
    let response = app
        .post_raw(
            &format!("/admin/users/{me}"),
            &[
                ("csrf_token", &csrf),
                ("version", &version),
                ("username", "tester"),
                ("display_name", "T"),
                ("role", "qa"),
                ("active", "on"),
            ],
        )
        .await;
    assert_field_error(response, "roles", "Nobody changes their own roles").await;
    let roles: Vec<String> = sqlx::query_scalar(
        "select role_code from user_roles r join users u on u.id = r.user_id where u.username = 'tester' order by 1",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(roles, ["admin", "operator", "qa"]);
}

#[tokio::test]
async fn a_password_reset_ends_the_users_sessions_and_is_audited_without_the_password() {
    let app = spawn_app().await;
    let ann = app.create_user("ann", &["operator"]).await;
    let ann_client = new_client();
    assert_redirect(&sign_in(&ann_client, &app.url(""), "ann", PASSWORD).await, "/");
    let short = app.submit(&format!("/admin/users/{ann}"), "#password-form", &[("password", "short")]).await;
    assert_field_error(short, "password", "at least 10").await;
    let response =
        app.submit(&format!("/admin/users/{ann}"), "#password-form", &[("password", "a brand new secret")]).await;
    assert_redirect(&response, &format!("/admin/users/{ann}"));
    assert_redirect(&ann_client.get(app.url("/")).send().await.unwrap(), "/login");
    // The administrator knows it: ann must change it before she can do anything.
    assert_redirect(&sign_in(&new_client(), &app.url(""), "ann", "a brand new secret").await, "/account/password");
    let page = app.page(&format!("/admin/users/{ann}")).await;
    assert!(texts(&page, "#history td").iter().any(|t| t == "password_reset"));
    let audit: String = sqlx::query_scalar("select string_agg(coalesce(after::text, ''), ' ') from audit_log")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(!audit.contains("brand new secret") && !audit.contains("argon2"));
}

#[tokio::test]
async fn the_first_admin_is_made_from_the_command_line_with_the_password_on_stdin() {
    let app = crate::helpers::spawn_anonymous().await;
    let url = database_url(&app.database_name().await);
    let mut child = Command::new(crate::embedded::BIN)
        .args(["user", "add", "--username", "boss", "--role", "admin", "--display-name", "The Boss"])
        .env("DATABASE_URL", &url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"boss password 1\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "user boss created");
    assert_redirect(&sign_in(&new_client(), &app.url(""), "boss", "boss password 1").await, "/");
    let actor: String =
        sqlx::query_scalar("select actor_name from audit_log where action = 'create' and entity_type = 'user'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!(actor.starts_with("cli:"), "{actor}");

    let mut child = Command::new(crate::embedded::BIN)
        .args(["user", "add", "--username", "weak", "--role", "admin"])
        .env("DATABASE_URL", &url)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"short\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 10 characters"));
}

#[tokio::test]
async fn an_api_token_is_shown_once_stored_as_a_hash_and_stops_working_when_revoked() {
    let app = spawn_app().await;
    let response = app.submit("/account", "#token-form", &[("name", "ERP bridge"), ("scope", "write")]).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let page = Html::parse_document(&response.text().await.unwrap());
    let secret = text(&page, "#new-token");
    assert_eq!(secret.len(), 64);
    let stored: Vec<u8> = sqlx::query_scalar("select token_hash from api_tokens").fetch_one(&app.pool).await.unwrap();
    assert_eq!(stored.len(), 32, "only the SHA-256 is kept");
    let page = app.page("/account").await;
    assert!(texts(&page, "#new-token").is_empty(), "the secret is not shown again");

    let api = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let me = api.get(app.url("/api/v1/me")).bearer_auth(&secret).send().await.unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    let me: serde_json::Value = me.json().await.unwrap();
    assert_eq!(me["username"], "tester");
    // A token opens the API without a CSRF token: it carries no cookie a browser could replay.
    let made = api
        .post(app.url("/materials"))
        .bearer_auth(&secret)
        .form(&[
            ("code", "X"),
            ("name", "X"),
            ("expiry_policy", "none"),
            ("kind", "raw"),
            ("uom", "kg"),
            ("idempotency_key", &uuid::Uuid::new_v4().to_string()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), StatusCode::SEE_OTHER);

    let response = app.submit("/account", "#tokens form", &[]).await;
    assert_redirect(&response, "/account");
    let refused = api.get(app.url("/api/v1/me")).bearer_auth(&secret).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let wrong = api.get(app.url("/api/v1/me")).bearer_auth("nope").send().await.unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_read_token_only_reads_every_token_expires_and_no_token_makes_tokens() {
    let app = spawn_app().await;
    let response = app.submit("/account", "#token-form", &[("name", "Dashboard")]).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let secret = text(&Html::parse_document(&response.text().await.unwrap()), "#new-token");
    let (scope, days): (String, f64) = sqlx::query_as(
        "select scope, extract(epoch from expires_at - created_at)::float8 / 86400 from api_tokens where name = 'Dashboard'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(scope, "read", "read only unless chosen");
    assert!((days - 90.0).abs() < 0.01, "{days}");
    let api = reqwest::Client::new();
    let me = api.get(app.url("/api/v1/me")).bearer_auth(&secret).send().await.unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    let write = api
        .post(app.url("/api/v1/parties"))
        .bearer_auth(&secret)
        .json(&serde_json::json!({ "idempotency_key": uuid::Uuid::new_v4(), "code": "X", "name": "X", "is_customer": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(write.status(), StatusCode::FORBIDDEN);
    // A token with write scope still cannot make a token.
    let response = app.submit("/account", "#token-form", &[("name", "Bridge"), ("scope", "write")]).await;
    let writer = text(&Html::parse_document(&response.text().await.unwrap()), "#new-token");
    let minted = api
        .post(app.url("/account/tokens"))
        .bearer_auth(&writer)
        .form(&[("name", "child"), ("scope", "write"), ("days", "365")])
        .send()
        .await
        .unwrap();
    assert_eq!(minted.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.count("api_tokens").await, 2);
}
