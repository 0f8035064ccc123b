//! One error type: friendly HTML for people, JSON under /api, the right status, no internals.

use reqwest::StatusCode;
use scraper::Html;

use crate::helpers::{spawn_app, text};

#[tokio::test]
async fn an_unknown_page_is_a_friendly_not_found_page() {
    let app = spawn_app().await;
    let response = app.get("/no/such/page").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let page = Html::parse_document(&response.text().await.unwrap());
    assert_eq!(text(&page, "h1"), "Not found");
    assert_eq!(text(&page, ".error-page a"), "Back to the dashboard");
}

#[tokio::test]
async fn an_unknown_page_under_a_lot_is_not_found_for_get_and_post() {
    let app = spawn_app().await;
    let lot = uuid::Uuid::new_v4();
    let response = app.get(&format!("/lots/{lot}/no-such-action")).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let page = Html::parse_document(&response.text().await.unwrap());
    assert_eq!(text(&page, "h1"), "Not found");
    let response = app.post_form(&format!("/lots/{lot}/no-such-action"), &[("quantity", "1")]).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_unknown_api_route_answers_json() {
    let app = spawn_app().await;
    let response = app.get("/api/v1/nothing").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found");
}

#[tokio::test]
async fn a_malformed_request_gets_an_html_page_not_a_bare_text() {
    let app = spawn_app().await;
    let response =
        app.client.post(app.url("/materials")).header("x-csrf-token", &app.csrf).body("code=X").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let page = Html::parse_document(&response.text().await.unwrap());
    assert_eq!(text(&page, "h1"), "Bad request");

    let response = app.client.delete(app.url("/materials")).header("x-csrf-token", &app.csrf).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    let page = Html::parse_document(&response.text().await.unwrap());
    assert_eq!(text(&page, "h1"), "Not allowed");
}

#[tokio::test]
async fn a_database_outage_is_a_503_page_that_reveals_nothing() {
    let app = spawn_app().await;
    app.app_pool.close().await;
    let response = app.get("/materials").await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = response.text().await.unwrap();
    let page = Html::parse_document(&body);
    assert_eq!(text(&page, "h1"), "Database unavailable");
    assert!(!body.contains("pool"), "no internals in the page");
    let health = app.get("/healthz").await;
    assert_eq!(health.status(), StatusCode::SERVICE_UNAVAILABLE);
}
