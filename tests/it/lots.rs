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
