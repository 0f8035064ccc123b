//! Sites: their time zone is checked by PostgreSQL itself.

use crate::helpers::{assert_field_error, assert_redirect, spawn_app, text, texts};

#[tokio::test]
async fn a_site_is_created_with_its_time_zone_and_gln() {
    let app = spawn_app().await;
    let fields =
        [("code", "rvs"), ("name", "Riverside Bakery"), ("time_zone", "America/Chicago"), ("gln", "9506000134352")];
    let location = assert_redirect(&app.submit("/sites/new", "form.record-form", &fields).await, "/sites/");
    let page = app.page(&location).await;
    assert_eq!(text(&page, "h1 .code"), "RVS");
    let facts = texts(&page, "dl.facts dd");
    assert!(facts.contains(&"9506000134352".to_string()));
    assert!(facts.iter().any(|f| f.starts_with("America/Chicago")));
}

#[tokio::test]
async fn an_unknown_time_zone_is_refused_next_to_its_field() {
    let app = spawn_app().await;
    let fields = [("code", "RVS"), ("name", "Riverside"), ("time_zone", "Mars/Olympus_Mons")];
    let page =
        assert_field_error(app.submit("/sites/new", "form.record-form", &fields).await, "time_zone", "not a time zone")
            .await;
    assert_eq!(crate::helpers::value(&page, "#f-time_zone"), "Mars/Olympus_Mons");
    assert_eq!(app.count("sites").await, 0);
    assert_eq!(app.count("idempotency_keys").await, 0, "the refused transaction wrote nothing");
}

#[tokio::test]
async fn a_site_code_is_short_enough_for_lot_numbers() {
    let app = spawn_app().await;
    let fields = [("code", "RIVERSIDE-1"), ("name", "Riverside"), ("time_zone", "UTC")];
    assert_field_error(app.submit("/sites/new", "form.record-form", &fields).await, "code", "at most 8 characters")
        .await;
}
