//! The dashboard, health check, static files and response headers.

use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, ETAG, IF_NONE_MATCH};

use crate::helpers::{assert_redirect, spawn_app, text};

#[tokio::test]
async fn the_dashboard_shows_real_counts() {
    let app = spawn_app().await;
    let page = app.page("/").await;
    assert_eq!(text(&page, "[data-count=materials]"), "0");
    assert_redirect(
        &app.submit(
            "/materials/new",
            "form.record-form",
            &[("code", "SALT"), ("name", "Salt"), ("expiry_policy", "none")],
        )
        .await,
        "/materials/",
    );
    assert_redirect(
        &app.submit(
            "/parties/new",
            "form.record-form",
            &[("code", "S"), ("name", "S"), ("is_supplier", "on"), ("is_customer", "on")],
        )
        .await,
        "/parties/",
    );
    let page = app.page("/").await;
    assert_eq!(text(&page, "[data-count=materials]"), "1");
    assert_eq!(text(&page, "[data-count=suppliers]"), "1");
    assert_eq!(text(&page, "[data-count=customers]"), "1");
    assert_eq!(text(&page, "title"), "Dashboard · lotline");
    assert_eq!(text(&page, "form.search label"), "Find a lot by code");
}

#[tokio::test]
async fn health_reports_the_database_and_schema() {
    let app = spawn_app().await;
    let response = app.get("/healthz").await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["database"], "ok");
    assert!(body["schema_version"].as_i64().unwrap() >= 1);
}

#[tokio::test]
async fn static_files_are_versioned_cached_compressed_and_revalidated() {
    let app = spawn_app().await;
    let home = app.get("/").await.text().await.unwrap();
    let href = home.split("href=\"/static/app.css?v=").nth(1).unwrap().split('"').next().unwrap().to_string();
    let response = app
        .client
        .get(app.url(&format!("/static/app.css?v={href}")))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[CONTENT_TYPE], "text/css; charset=utf-8");
    assert_eq!(response.headers()[CACHE_CONTROL], "public, max-age=31536000, immutable");
    assert_eq!(response.headers()[CONTENT_ENCODING], "gzip");
    let etag = response.headers()[ETAG].clone();
    let again = app.client.get(app.url("/static/app.css")).header(IF_NONE_MATCH, etag).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(app.get("/static/nope.css").await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn every_page_carries_security_headers() {
    let app = spawn_app().await;
    let response = app.get("/").await;
    let h = response.headers();
    assert!(h["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"));
    assert!(!h["content-security-policy"].to_str().unwrap().contains("unsafe-inline"));
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "same-origin");
}
