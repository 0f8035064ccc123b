//! Locations belong to a site; a code is unique within its site.

use crate::helpers::{assert_field_error, assert_redirect, spawn_app, text, texts};

async fn site(app: &crate::helpers::TestApp, code: &str) -> String {
    let location = assert_redirect(
        &app.submit("/sites/new", "form.record-form", &[("code", code), ("name", code), ("time_zone", "UTC")]).await,
        "/sites/",
    );
    location.trim_start_matches("/sites/").to_string()
}

#[tokio::test]
async fn a_location_code_is_unique_within_its_site_only() {
    let app = spawn_app().await;
    let a = site(&app, "A").await;
    let b = site(&app, "B").await;
    let fields = |site: &str| {
        vec![
            ("site_id".to_string(), site.to_string()),
            ("code".into(), "fg".into()),
            ("name".into(), "Finished goods".into()),
        ]
    };
    let first = app.submit("/locations/new", "form.record-form", &as_refs(&fields(&a))).await;
    let location = assert_redirect(&first, "/locations/");
    let twice = app.submit("/locations/new", "form.record-form", &as_refs(&fields(&a))).await;
    assert_field_error(twice, "code", "This site already has a location with this code.").await;
    let other = app.submit("/locations/new", "form.record-form", &as_refs(&fields(&b))).await;
    assert_redirect(&other, "/locations/");

    let page = app.page(&location).await;
    assert_eq!(text(&page, "h1 .code"), "A / FG");
    let list = app.page("/locations?q=fg").await;
    assert_eq!(texts(&list, "#locations tbody td:first-child"), vec!["A", "B"]);
    let site_page = app.page(&format!("/sites/{a}")).await;
    assert_eq!(texts(&site_page, "#site-locations tbody td:first-child"), vec!["FG"]);
}

#[tokio::test]
async fn a_location_needs_a_site() {
    let app = spawn_app().await;
    let response = app.submit("/locations/new", "form.record-form", &[("code", "X"), ("name", "X")]).await;
    assert_field_error(response, "site_id", "Choose a site").await;
    let response = app
        .submit(
            "/locations/new",
            "form.record-form",
            &[("site_id", "00000000-0000-0000-0000-000000000000"), ("code", "X"), ("name", "X")],
        )
        .await;
    assert_field_error(response, "site_id", "Choose a site").await;
    assert_eq!(app.count("locations").await, 0);
}

fn as_refs(v: &[(String, String)]) -> Vec<(&str, &str)> {
    v.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect()
}
