//! Suppliers and customers, and their recall contacts.

use crate::helpers::{assert_field_error, assert_redirect, spawn_app, text, texts, value};

#[tokio::test]
async fn a_party_can_be_both_supplier_and_customer_and_the_list_filters_by_role() {
    let app = spawn_app().await;
    let fields = [
        ("code", "metro"),
        ("name", "Metro Food Service"),
        ("is_supplier", "on"),
        ("is_customer", "on"),
        ("country", "us"),
    ];
    let location = assert_redirect(&app.submit("/parties/new", "form.record-form", &fields).await, "/parties/");
    let page = app.page(&location).await;
    assert!(texts(&page, "dl.facts dd").contains(&"supplier and customer".to_string()));
    assert!(texts(&page, "dl.facts dd").contains(&"US".to_string()));

    let only = [("code", "MILL"), ("name", "Prairie Mill"), ("is_supplier", "on")];
    assert_redirect(&app.submit("/parties/new", "form.record-form", &only).await, "/parties/");
    let customers = app.page("/parties?role=customer").await;
    assert_eq!(texts(&customers, "#parties tbody td:first-child"), vec!["METRO"]);
    let suppliers = app.page("/parties?role=supplier").await;
    assert_eq!(texts(&suppliers, "#parties tbody td:first-child"), vec!["METRO", "MILL"]);
}

#[tokio::test]
async fn a_party_needs_a_role_a_valid_email_country_and_gln() {
    let app = spawn_app().await;
    let response = app
        .submit(
            "/parties/new",
            "form.record-form",
            &[("code", "X"), ("name", "X"), ("email", "not-mail"), ("country", "USA"), ("gln", "9506000134353")],
        )
        .await;
    let page = assert_field_error(response, "roles", "Tick supplier, customer, or both.").await;
    assert!(text(&page, "#f-email-error").contains("not an e-mail address"));
    assert!(text(&page, "#f-country-error").contains("two-letter"));
    assert!(text(&page, "#f-gln-error").contains("should be 2"));
    assert_eq!(app.count("parties").await, 0);
}

#[tokio::test]
async fn contacts_are_added_to_a_party_and_must_be_reachable() {
    let app = spawn_app().await;
    let location = assert_redirect(
        &app.submit(
            "/parties/new",
            "form.record-form",
            &[("code", "FM"), ("name", "FreshMart"), ("is_customer", "on")],
        )
        .await,
        "/parties/",
    );
    let unreachable = app.submit(&location, "#contact-form", &[("name", "Alan Brooks")]).await;
    let page = assert_field_error(unreachable, "phone", "a contact must be reachable").await;
    assert_eq!(value(&page, "#contact-form #f-name"), "Alan Brooks");
    assert_eq!(app.count("party_contacts").await, 0);

    let ok = app
        .submit(
            &location,
            "#contact-form",
            &[("name", "Alan Brooks"), ("email", "alan@freshmart.example"), ("recall_contact", "on")],
        )
        .await;
    assert_redirect(&ok, &location);
    let page = app.page(&location).await;
    assert_eq!(texts(&page, "#contacts tbody tr"), vec!["Alan Brooks alan@freshmart.example yes"]);
}

#[tokio::test]
async fn names_with_markup_and_quotes_are_stored_verbatim_and_shown_escaped() {
    let app = spawn_app().await;
    let name = "<script>alert('x')</script> \"Bob's\" ; drop table parties; --";
    let location = assert_redirect(
        &app.submit("/parties/new", "form.record-form", &[("code", "EVIL"), ("name", name), ("is_supplier", "on")])
            .await,
        "/parties/",
    );
    let response = app.get(&location).await;
    let body = response.text().await.unwrap();
    assert!(!body.contains("<script>alert"), "markup is escaped");
    let page = scraper::Html::parse_document(&body);
    assert_eq!(text(&page, "h1"), format!("EVIL {name}"));
    let stored: String = sqlx::query_scalar("select name from parties").fetch_one(&app.pool).await.unwrap();
    assert_eq!(stored, name);
}
