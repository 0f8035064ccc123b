//! Materials: list, create, edit, GTINs — and every refusal.

use reqwest::StatusCode;
use scraper::Html;

use crate::helpers::{assert_field_error, assert_redirect, spawn_app, text, texts, value};

const FLOUR: &[(&str, &str)] = &[
    ("code", "flour-t55"),
    ("name", "Wheat flour T55"),
    ("kind", "raw"),
    ("uom", "kg"),
    ("shelf_life_days", "180"),
    ("expiry_policy", "shelf_life"),
];

#[tokio::test]
async fn a_new_material_is_saved_and_shown_with_a_flash_message_once() {
    let app = spawn_app().await;
    let response = app.submit("/materials/new", "form.record-form", FLOUR).await;
    let location = assert_redirect(&response, "/materials/");

    let page = app.page(&location).await;
    assert_eq!(text(&page, "h1 .code"), "FLOUR-T55", "codes are upper-cased");
    assert_eq!(text(&page, ".flash.success"), "Material FLOUR-T55 saved.");
    let facts = texts(&page, "dl.facts dd");
    assert!(facts.contains(&"Raw material".to_string()), "{facts:?}");
    assert!(facts.iter().any(|f| f.starts_with("Own shelf life") && f.contains("180 days")), "{facts:?}");

    let again = app.page(&location).await;
    assert!(texts(&again, ".flash").is_empty(), "the flash message shows once");

    let list = app.page("/materials").await;
    assert_eq!(texts(&list, "#materials tbody td:first-child"), vec!["FLOUR-T55"]);
}

#[tokio::test]
async fn a_refused_material_shows_each_error_next_to_its_field_keeps_what_was_typed_and_writes_nothing() {
    let app = spawn_app().await;
    let response = app
        .submit(
            "/materials/new",
            "form.record-form",
            &[
                ("code", "BAD CODE"),
                ("name", ""),
                ("mass_per_unit_kg", "-2"),
                ("shelf_life_days", "ten"),
                ("expiry_policy", "shelf_life"),
            ],
        )
        .await;
    let page = assert_field_error(response, "code", "“ ” is not allowed").await;
    assert_eq!(text(&page, "#f-name-error"), "The name is required.");
    assert_eq!(text(&page, "#f-mass_per_unit_kg-error"), "The mass per unit must be greater than zero.");
    assert_eq!(text(&page, "#f-shelf_life_days-error"), "The shelf life must be a whole number.");
    // The banner at the top names all four, each a link to its field.
    let listed = texts(&page, "#refusal li a");
    assert_eq!(listed.len(), 4, "{listed:?}");
    assert!(listed.contains(&"The name is required.".to_string()));
    assert_eq!(value(&page, "#f-code"), "BAD CODE", "the form keeps what was typed");
    assert_eq!(value(&page, "#f-shelf_life_days"), "ten");
    assert_eq!(app.count("materials").await, 0, "nothing was written");
    assert_eq!(app.count("idempotency_keys").await, 0, "not even the idempotency key");
}

#[tokio::test]
async fn a_material_needs_a_shelf_life_when_its_lots_expire_by_shelf_life() {
    let app = spawn_app().await;
    let response = app
        .submit(
            "/materials/new",
            "form.record-form",
            &[("code", "X1"), ("name", "X"), ("shelf_life_days", ""), ("expiry_policy", "shelf_life")],
        )
        .await;
    assert_field_error(response, "shelf_life_days", "Give the shelf life in days").await;
    let response = app
        .submit(
            "/materials/new",
            "form.record-form",
            &[("code", "X1"), ("name", "X"), ("shelf_life_days", ""), ("expiry_policy", "none")],
        )
        .await;
    assert_redirect(&response, "/materials/");
}

#[tokio::test]
async fn a_duplicate_code_is_refused_as_a_field_error_from_the_database_constraint() {
    let app = spawn_app().await;
    assert_redirect(&app.submit("/materials/new", "form.record-form", FLOUR).await, "/materials/");
    let response = app.submit("/materials/new", "form.record-form", FLOUR).await;
    assert_field_error(response, "code", "A material with this code already exists.").await;
    assert_eq!(app.count("materials").await, 1);
}

#[tokio::test]
async fn a_create_form_posted_twice_makes_one_material() {
    let app = spawn_app().await;
    let page = app.page("/materials/new").await;
    let key = value(&page, "input[name=idempotency_key]");
    let mut fields: Vec<(&str, &str)> = FLOUR.to_vec();
    fields.push(("idempotency_key", &key));
    let first = app.post_form("/materials", &fields).await;
    let second = app.post_form("/materials", &fields).await;
    let a = assert_redirect(&first, "/materials/");
    let b = assert_redirect(&second, "/materials/");
    assert_eq!(a, b, "the second post leads to the first one's material");
    assert_eq!(app.count("materials").await, 1);

    let missing = app.post_form("/materials", FLOUR).await;
    assert_eq!(missing.status(), StatusCode::BAD_REQUEST, "a create form without its key is refused");
}

#[tokio::test]
async fn an_edit_over_someone_elses_newer_edit_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let location = assert_redirect(&app.submit("/materials/new", "form.record-form", FLOUR).await, "/materials/");
    let edit = format!("{location}/edit");

    // Two people open the edit form; the first saves.
    let form_a = app.page(&edit).await;
    let version = value(&form_a, "input[name=version]");
    assert_redirect(&app.submit(&edit, "form.record-form", &[("name", "Flour, first edit")]).await, &location);

    // The second saves over the version both opened.
    let mut fields: Vec<(&str, &str)> = FLOUR.to_vec();
    fields.extend([("name", "Flour, second edit"), ("version", version.as_str()), ("active", "on")]);
    fields.retain(|(k, v)| !(*k == "name" && *v == "Wheat flour T55"));
    let response = app.post_form(&edit, &fields).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let page = Html::parse_document(&response.text().await.unwrap());
    assert!(text(&page, ".flash.error").contains("Someone else changed this record"));
    assert_eq!(value(&page, "#f-name"), "Flour, first edit", "the form shows the current values");

    let name: String = sqlx::query_scalar("select name from materials").fetch_one(&app.pool).await.unwrap();
    assert_eq!(name, "Flour, first edit");
}

#[tokio::test]
async fn an_edit_is_saved_and_bumps_the_version() {
    let app = spawn_app().await;
    let location = assert_redirect(&app.submit("/materials/new", "form.record-form", FLOUR).await, "/materials/");
    let edit = format!("{location}/edit");
    let response = app
        .submit(
            &edit,
            "form.record-form",
            &[("name", "Flour T55, organic"), ("mass_per_unit_kg", "25"), ("active", "")],
        )
        .await;
    assert_redirect(&response, &location);
    let page = app.page(&location).await;
    assert_eq!(text(&page, "h1"), "FLOUR-T55 Flour T55, organic inactive");
    assert!(texts(&page, "dl.facts dd").iter().any(|d| d == "25 kg"));
    assert!(texts(&page, "dl.facts dd").iter().any(|d| d.contains("(version 2)")));
}

#[tokio::test]
async fn the_material_list_is_searchable_and_paged() {
    let app = spawn_app().await;
    for i in 0..55 {
        sqlx::query(
            "insert into materials (code, name, kind, uom, expiry_policy) values ($1, $2, 'raw', 'kg', 'none')",
        )
        .bind(format!("M{i:03}"))
        .bind(if i % 10 == 0 { format!("Special salt {i}") } else { format!("Material {i}") })
        .execute(&app.pool)
        .await
        .unwrap();
    }
    let first = app.page("/materials").await;
    assert_eq!(texts(&first, "#materials tbody tr").len(), 50);
    assert_eq!(text(&first, ".pager p"), "1–50 of 55 materials");
    assert_eq!(texts(&first, ".pager a[rel=next]"), vec!["Next →"]);

    let second = app.page("/materials?page=2").await;
    assert_eq!(texts(&second, "#materials tbody td:first-child"), vec!["M050", "M051", "M052", "M053", "M054"]);

    let found = app.page("/materials?q=special").await;
    assert_eq!(texts(&found, "#materials tbody td:first-child"), vec!["M000", "M010", "M020", "M030", "M040", "M050"]);
    let none = app.page("/materials?q=%25").await;
    assert_eq!(text(&none, ".pager p"), "No materials match “%”.", "a % is searched literally");
}

#[tokio::test]
async fn a_gtin_is_checked_normalised_to_fourteen_digits_and_listed() {
    let app = spawn_app().await;
    let location = assert_redirect(&app.submit("/materials/new", "form.record-form", FLOUR).await, "/materials/");
    let bad = app.submit(&location, "#gtin-form", &[("gtin", "1234567890127")]).await;
    let page = assert_field_error(bad, "gtin", "The check digit is wrong: it should be 8.").await;
    assert_eq!(value(&page, "#f-gtin"), "1234567890127");
    assert_eq!(app.count("material_gtins").await, 0);

    let good = app
        .submit(&location, "#gtin-form", &[("gtin", "1234567890128"), ("pack_level", "case"), ("units_per_pack", "12")])
        .await;
    assert_redirect(&good, &location);
    let page = app.page(&location).await;
    assert_eq!(texts(&page, "#gtins tbody td.code"), vec!["01234567890128"]);

    let again = app.submit(&location, "#gtin-form", &[("gtin", "01234567890128")]).await;
    assert_field_error(again, "gtin", "already assigned").await;
}

#[tokio::test]
async fn a_material_that_does_not_exist_is_a_not_found_page() {
    let app = spawn_app().await;
    for path in
        ["/materials/00000000-0000-0000-0000-000000000000", "/materials/not-a-uuid", "/materials/not-a-uuid/edit"]
    {
        let response = app.get(path).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        let page = Html::parse_document(&response.text().await.unwrap());
        assert_eq!(text(&page, "h1"), "Not found");
    }
}

#[tokio::test]
async fn a_unit_is_matched_regardless_of_case_on_the_page_as_in_the_api_and_an_unknown_one_is_named() {
    let app = spawn_app().await;
    let shouting: Vec<(&str, &str)> =
        FLOUR.iter().map(|(k, v)| if *k == "uom" { (*k, "KG") } else { (*k, *v) }).collect();
    assert_redirect(&app.submit("/materials/new", "form.record-form", &shouting).await, "/materials/");
    let uom: String =
        sqlx::query_scalar("select uom from materials where code = 'FLOUR-T55'").fetch_one(&app.pool).await.unwrap();
    assert_eq!(uom, "kg", "stored as the units table spells it");
    let unknown: Vec<(&str, &str)> = FLOUR
        .iter()
        .map(|(k, v)| match *k {
            "uom" => (*k, "furlong"),
            "code" => (*k, "flour-t65"),
            _ => (*k, *v),
        })
        .collect();
    assert_field_error(app.submit("/materials/new", "form.record-form", &unknown).await, "uom", "“furlong”").await;
}
