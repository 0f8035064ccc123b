//! Shipping: FEFO picks, the packing list, and every refusal.

use reqwest::StatusCode;

use crate::helpers::{PASSWORD, TestApp, assert_field_error, assert_redirect, text, texts, value};
use crate::rules::{id_of, receive, received_code};

async fn demo_app() -> TestApp {
    crate::helpers::spawn_demo(crate::helpers::Demo::Master).await
}

async fn released(app: &TestApp, material: &str, quantity: &str, on: &str) -> String {
    let code = received_code(app, receive(app, material, quantity, on).await).await;
    let (id, disposition): (String, String) = sqlx::query_as("select id::text, disposition from lots where code = $1")
        .bind(&code)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    if disposition == "quarantine" {
        let response =
            app.submit(&format!("/lots/{id}"), "#release-form", &[("signer", "tester"), ("password", PASSWORD)]).await;
        assert_redirect(&response, "/lots/");
    }
    code
}

async fn ship_form(app: &TestApp, customer: &str, lines: &[(&str, &str)]) -> reqwest::Response {
    let page = app.page("/shipments/new").await;
    let key = value(&page, "input[name=idempotency_key]");
    let customer = id_of(app, "parties", customer).await;
    let site = id_of(app, "sites", "RVS").await;
    let mut fields: Vec<(&str, &str)> =
        vec![("customer_id", &customer), ("site_id", &site), ("idempotency_key", &key), ("order_ref", "SO-1")];
    for (lot, quantity) in lines {
        fields.extend([("lot", *lot), ("quantity", *quantity), ("location_id", "")]);
    }
    app.post_form("/shipments", &fields).await
}

#[tokio::test]
async fn part_of_a_lot_is_shipped_and_the_lot_shows_who_received_it() {
    let app = demo_app().await;
    let salt = released(&app, "SALT", "100", "2026-11-02").await;
    let location = assert_redirect(&ship_form(&app, "FRESHMART", &[(&salt, "30")]).await, "/shipments/");
    let page = app.page(&location).await;
    assert!(text(&page, "h1").starts_with("Packing list SHP-"));
    assert_eq!(texts(&page, "#shipment-lines td:nth-child(4)"), vec![salt.clone()]);
    assert_eq!(texts(&page, "#shipment-lines td:nth-child(6)"), vec!["30 kg"]);
    assert!(text(&page, "#ship-to").starts_with("FreshMart Stores"));

    let lot: String =
        sqlx::query_scalar("select id::text from lots where code = $1").bind(&salt).fetch_one(&app.pool).await.unwrap();
    let lot_page = app.page(&format!("/lots/{lot}")).await;
    assert_eq!(texts(&lot_page, "#shipped tbody td:first-child"), vec!["FreshMart Stores"]);
    assert_eq!(text(&lot_page, "#on-hand"), "70 kg");
    assert!(text(&lot_page, "#balance-status").starts_with("The balance adds up"));
    let list = app.page("/shipments").await;
    assert_eq!(texts(&list, "#shipments tbody tr").len(), 1);
}

#[tokio::test]
async fn a_shipment_that_cannot_go_is_refused_line_by_line_and_nothing_is_written() {
    let app = demo_app().await;
    let salt = released(&app, "SALT", "100", "2026-11-02").await;
    let butter = received_code(&app, receive(&app, "BUTTER", "40", "2026-11-02").await).await;
    let response = ship_form(&app, "FRESHMART", &[(&salt, "150"), (&butter, "5"), ("NOPE", "1")]).await;
    let page = assert_field_error(response, "line2", "Line 2: Lot").await;
    assert!(text(&page, "#f-line2-error").contains("is in quarantine"));
    assert!(text(&page, "#f-line3-error").contains("no lot has the code “NOPE”"));
    assert_eq!(value(&page, "#lot-0"), salt, "the lines keep what was typed");

    let response = ship_form(&app, "FRESHMART", &[(&salt, "150")]).await;
    assert_field_error(response, "line1", &format!("Line 1: Only 100 kg of lot {salt} is on hand at DOCK")).await;
    let response = ship_form(&app, "PRAIRIE-MILL", &[(&salt, "1")]).await;
    assert_field_error(response, "customer_id", "PRAIRIE-MILL is not an active customer").await;
    let response = ship_form(&app, "FRESHMART", &[]).await;
    assert_field_error(response, "line1", "Add at least one line").await;
    assert_eq!(app.count("shipments").await, 0);
    assert_eq!(app.count("shipment_lines").await, 0);
    let moved: i64 = sqlx::query_scalar("select count(*) from stock_movements where kind = 'ship'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(moved, 0);
}

#[tokio::test]
async fn a_shipment_posted_twice_ships_once() {
    let app = demo_app().await;
    let salt = released(&app, "SALT", "100", "2026-11-02").await;
    let customer = id_of(&app, "parties", "CORNER-GROCER").await;
    let site = id_of(&app, "sites", "RVS").await;
    let key = uuid::Uuid::new_v4().to_string();
    let fields = [
        ("customer_id", customer.as_str()),
        ("site_id", &site),
        ("idempotency_key", &key),
        ("lot", &salt),
        ("quantity", "10"),
    ];
    let a = app.post_form("/shipments", &fields).await;
    let b = app.post_form("/shipments", &fields).await;
    assert_eq!(a.status(), StatusCode::SEE_OTHER);
    assert_eq!(a.headers()["location"], b.headers()["location"]);
    assert_eq!(app.count("shipments").await, 1);
}

#[tokio::test]
async fn the_pick_suggestion_takes_the_first_expiring_lots_first() {
    let app = demo_app().await;
    // Yeast keeps 45 days: the lot received earlier expires first.
    let later = released(&app, "YEAST", "10", "2026-11-20").await;
    let earlier = released(&app, "YEAST", "10", "2026-11-10").await;
    let site = id_of(&app, "sites", "RVS").await;
    let page = app.page(&format!("/shipments/new?site_id={site}&pick_material=yeast&pick_quantity=15")).await;
    assert_eq!(texts(&page, "#picks tbody td:first-child"), vec![earlier.clone(), later.clone()]);
    assert_eq!(texts(&page, "#picks tbody td.num"), vec!["10 of 10", "5 of 10"]);
    let link =
        page.select(&crate::helpers::sel("#use-picks")).next().unwrap().value().attr("href").unwrap().to_string();
    let filled = app.page(&link).await;
    assert_eq!(texts(&filled, "#shipment-form input[name=quantity]").len(), 6);
    let values: Vec<String> = filled
        .select(&crate::helpers::sel("#shipment-form input[name=quantity]"))
        .map(|e| e.value().attr("value").unwrap_or("").to_string())
        .collect();
    assert_eq!(&values[..2], &["10".to_string(), "5".to_string()]);
    let too_much = app.page(&format!("/shipments/new?site_id={site}&pick_material=YEAST&pick_quantity=50")).await;
    assert_eq!(text(&too_much, "#pick-problem"), "Only 20 can be picked: that is all the shippable stock.");
}

#[tokio::test]
async fn a_customer_return_comes_back_into_quarantine_against_its_shipment_and_cannot_be_shipped_again() {
    let app = demo_app().await;
    let salt = released(&app, "SALT", "100", "2026-11-02").await;
    let shipment = assert_redirect(&ship_form(&app, "FRESHMART", &[(&salt, "30")]).await, "/shipments/");
    let refused = app.submit(&shipment, "#return-form", &[("quantity", ""), ("reason", "Complaint")]).await;
    assert_field_error(refused, "lines", "at least one line").await;
    let too_much = app.submit(&shipment, "#return-form", &[("quantity", "31"), ("reason", "Complaint")]).await;
    assert_field_error(too_much, "lines", "30 was shipped and 0 returned already").await;
    assert_redirect(
        &app.submit(&shipment, "#return-form", &[("quantity", "10"), ("reason", "Torn bags")]).await,
        &shipment,
    );
    let page = app.page(&shipment).await;
    assert_eq!(texts(&page, "#return-form tbody td:nth-child(3)"), vec!["10"]);

    let lot: String =
        sqlx::query_scalar("select id::text from lots where code = $1").bind(&salt).fetch_one(&app.pool).await.unwrap();
    let lot_page = app.page(&format!("/lots/{lot}")).await;
    assert_eq!(
        texts(&lot_page, "#stock tbody tr"),
        vec!["DOCK · Receiving dock 70 kg", "QUAR · Quarantine cage 10 kg"]
    );
    assert!(text(&lot_page, "#balance-status").starts_with("The balance adds up"));
    // Shipping picks the usable stock only; the quarantined stock cannot be named either.
    let again = assert_redirect(&ship_form(&app, "CORNER-GROCER", &[(&salt, "70")]).await, "/shipments/");
    assert!(!again.is_empty());
    let quar: String =
        sqlx::query_scalar("select id::text from locations where code = 'QUAR'").fetch_one(&app.pool).await.unwrap();
    let customer = id_of(&app, "parties", "CORNER-GROCER").await;
    let site = id_of(&app, "sites", "RVS").await;
    let key = uuid::Uuid::new_v4().to_string();
    let response = app
        .post_form(
            "/shipments",
            &[
                ("customer_id", &customer),
                ("site_id", &site),
                ("idempotency_key", &key),
                ("lot", &salt),
                ("quantity", "5"),
                ("location_id", &quar),
            ],
        )
        .await;
    assert_field_error(response, "line1", "stock in a quarantine location cannot be shipped").await;
}

#[tokio::test]
async fn goods_go_back_to_the_supplier_with_a_reason() {
    let app = demo_app().await;
    let salt = released(&app, "SALT", "100", "2026-11-02").await;
    let lot: String =
        sqlx::query_scalar("select id::text from lots where code = $1").bind(&salt).fetch_one(&app.pool).await.unwrap();
    let page = format!("/lots/{lot}");
    assert_field_error(
        app.submit(&page, "#supplier-return-form", &[("supplier_quantity", "5"), ("supplier_reason", "")]).await,
        "supplier_reason",
        "required",
    )
    .await;
    assert_redirect(
        &app.submit(
            &page,
            "#supplier-return-form",
            &[("supplier_quantity", "40"), ("supplier_reason", "Wrong grain size")],
        )
        .await,
        &page,
    );
    let shown = app.page(&page).await;
    assert_eq!(text(&shown, "#on-hand"), "60 kg");
    // Sent back to the supplier, it left us as a shipment does (the recall's rule, the lot page's too).
    assert_eq!(texts(&shown, "#balance tbody td.num")[3], "40", "shipped or sent back");
    assert_eq!(texts(&shown, "#balance tbody td.num")[4], "0", "returned by customers");
    assert!(text(&shown, "#balance-status").starts_with("The balance adds up"));
}

#[tokio::test]
async fn our_lots_from_a_suppliers_lot_are_found_across_materials() {
    let app = demo_app().await;
    // Both receipts carry the supplier lot "SUP-1" (the test helper's), from the same supplier.
    let flour = received_code(&app, receive(&app, "FLOUR-T55", "10", "2026-11-02").await).await;
    let sugar = received_code(&app, receive(&app, "SUGAR", "10", "2026-11-02").await).await;
    let page = app.page("/lots/from-supplier?supplier=PRAIRIE-MILL&supplier_lot=sup-1").await;
    assert_eq!(texts(&page, "#lots tbody td:first-child"), vec![flour, sugar]);
    let other = app.page("/lots/from-supplier?supplier=SWEETCANE&supplier_lot=SUP-1").await;
    assert!(text(&other, "#no-supplier-lot").starts_with("None of our lots"));
}

#[tokio::test]
async fn a_reversed_shipment_nets_against_shipped_alike_on_the_lot_page_and_in_a_recall() {
    let app = demo_app().await;
    let salt = released(&app, "SALT", "100", "2026-11-02").await;
    assert_redirect(&ship_form(&app, "FRESHMART", &[(&salt, "40")]).await, "/shipments/");
    let (lot, movement): (String, i64) = sqlx::query_as(
        "select l.id::text, m.id from lots l join stock_movements m on m.lot_id = l.id and m.kind = 'ship' where l.code = $1",
    )
    .bind(&salt)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let page = format!("/lots/{lot}");
    // Every reversal asks for confirmation: without it, nothing is reversed.
    let unconfirmed =
        app.post_form(&format!("{page}/movements/{movement}/reverse"), &[("reverse_reason", "typo")]).await;
    assert_field_error(unconfirmed, "reverse_reason", "Confirm that movement").await;
    let reversed = app
        .post_form(
            &format!("{page}/movements/{movement}/reverse"),
            &[("reverse_reason", "Keyed twice"), ("confirm", "yes")],
        )
        .await;
    assert_redirect(&reversed, &page);

    // The customer does not disappear: the trace keeps the line, flagged, and so do the lot page,
    // the shipment and its packing list.
    let trace = app.page(&format!("/trace?lot={lot}&direction=forward")).await;
    assert_eq!(texts(&trace, "#trace-shipments tbody tr.reversed").len(), 1);
    assert!(text(&trace, "#customers").contains("every line to them reversed"));
    let shown = app.page(&page).await;
    assert!(text(&shown, "#shipped").contains("reversed"), "{}", text(&shown, "#shipped"));
    let shipment: String = sqlx::query_scalar("select shipment_id::text from shipment_lines where movement_id = $1")
        .bind(movement)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let sheet = app.page(&format!("/shipments/{shipment}")).await;
    assert!(text(&sheet, "#reversed-1").contains("Keyed twice"));
    assert_eq!(texts(&sheet, "#shipment-lines tr.reversed").len(), 1);

    let shown = app.page(&page).await;
    // received, consumed; produced, shipped; returned, scrapped; adjusted, moved; expected, on hand
    assert_eq!(texts(&shown, "#balance tbody td.num"), vec!["100", "0", "0", "0", "0", "0", "0", "0", "100", "100"]);
    assert!(text(&shown, "#balance-status").starts_with("The balance adds up"));

    let recall = crate::recalls::open_mock(&app, &lot).await;
    let report = app.page(&format!("/recalls/{recall}")).await;
    let row = texts(&report, "#mass-balance tbody tr:first-child td");
    // lot, made, returned, consumed, shipped, scrapped, adjusted, on hand, difference
    assert_eq!(row[1..7], ["100", "0", "0", "0", "0", "0"], "{row:?}");
    assert_eq!(row[7], "100 kg");
    // The recall's scope names the customer, its line flagged as reversed.
    assert_eq!(texts(&report, "#recall-shipments tbody tr.reversed").len(), 1);
    let document: serde_json::Value = app.get(&format!("/recalls/{recall}/scope.json")).await.json().await.unwrap();
    assert_eq!(document["shipments"][0]["reversed"], true);
    assert_eq!(document["customers"][0]["code"], "FRESHMART");
}

#[tokio::test]
async fn pallets_leave_with_sscc_labels_and_the_shipping_event_names_them() {
    let app = demo_app().await;
    let salt = released(&app, "SALT", "100", "2026-11-02").await;
    let ship = |pallets: &'static str| {
        let app = &app;
        let salt = salt.clone();
        async move {
            let page = app.page("/shipments/new").await;
            let key = value(&page, "input[name=idempotency_key]");
            let customer = id_of(app, "parties", "FRESHMART").await;
            let site = id_of(app, "sites", "RVS").await;
            let fields = [
                ("customer_id", customer.as_str()),
                ("site_id", &site),
                ("idempotency_key", &key),
                ("pallets", pallets),
                ("lot", &salt),
                ("quantity", "10"),
                ("location_id", ""),
            ];
            assert_redirect(&app.post_form("/shipments", &fields).await, "/shipments/")
        }
    };
    let page = app.page(&ship("2").await).await;
    let ssccs: Vec<String> =
        texts(&page, "#ssccs .code").iter().map(|s| s.trim_start_matches("(00) ").to_string()).collect();
    assert_eq!(ssccs.len(), 2, "{ssccs:?}");
    assert!(
        ssccs.iter().all(|s| s.len() == 18 && s.starts_with("00614141") && lotline::domain::gs1::check_digit_ok(s))
    );

    // One label per pallet, the SSCC under its GS1-128, the packing list's contents on each.
    let labels_path = crate::helpers::value_of(&page, "#pallet-labels", "href");
    let labels = app.page(&labels_path).await;
    let on_labels: Vec<String> = labels
        .select(&crate::helpers::sel(".pallet-label"))
        .map(|l| l.value().attr("data-sscc").unwrap().to_string())
        .collect();
    assert_eq!(on_labels, ssccs);
    assert_eq!(texts(&labels, ".pallet-label .hri"), ssccs.iter().map(|s| format!("(00){s}")).collect::<Vec<_>>());
    assert!(texts(&labels, ".pallet-label .contents td.code").iter().all(|lot| lot == &salt));
    let zpl = app.get(&format!("{labels_path}?format=zpl")).await.text().await.unwrap();
    assert_eq!(zpl.matches("^XA").count(), 2);
    assert!(zpl.contains(&format!("(00){}", ssccs[0])), "{zpl}");

    // The shipping event names the pallets by SSCC.
    let events: serde_json::Value = app.get("/api/v1/epcis/events?EQ_bizStep=shipping").await.json().await.unwrap();
    let events = events["epcisBody"]["queryResults"]["resultsBody"]["eventList"].as_array().unwrap().clone();
    let pallets: Vec<&str> =
        events.iter().flat_map(|e| e["epcList"].as_array().into_iter().flatten()).filter_map(|v| v.as_str()).collect();
    let want: Vec<String> = ssccs.iter().map(|s| lotline::domain::gs1::sscc_urn(s, 7).unwrap()).collect();
    assert_eq!(pallets, want);

    // A site without a GS1 company prefix numbers no pallet, and the label page says what to do.
    sqlx::query("update sites set company_prefix = null where code = 'RVS'").execute(&app.pool).await.unwrap();
    let bare = app.page(&ship("1").await).await;
    assert!(texts(&bare, "#ssccs").is_empty());
    let id = ship_id(&app).await;
    let labels = app.page(&format!("/shipments/{id}/pallets")).await;
    assert!(text(&labels, "#no-prefix").contains("no GS1 company prefix"));
    assert_eq!(
        app.get(&format!("/shipments/{id}/pallets?stock=2x1")).await.status(),
        StatusCode::OK,
        "a small stock is laid out, each label saying why it cannot be a pallet label"
    );
}

/// The newest shipment's id.
async fn ship_id(app: &TestApp) -> String {
    sqlx::query_scalar("select id::text from shipments order by created_at desc limit 1")
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn suggest_keeps_what_was_typed_and_its_picks_fill_lot_codes_that_ship() {
    let app = demo_app().await;
    let yeast = released(&app, "YEAST", "10", "2026-11-20").await;
    let salt = released(&app, "SALT", "100", "2026-11-02").await;
    let page = app.page("/shipments/new").await;
    let key = value(&page, "input[name=idempotency_key]");
    let customer = id_of(&app, "parties", "FRESHMART").await;
    let site = id_of(&app, "sites", "RVS").await;
    // Typed so far: the customer, the order, one line; then "Suggest" for yeast, by part of its name.
    let fields = [
        ("customer_id", customer.as_str()),
        ("site_id", &site),
        ("idempotency_key", &key),
        ("order_ref", "SO-77"),
        ("lot", &salt),
        ("quantity", "3"),
        ("location_id", ""),
        ("pick_material", "yea"),
        ("pick_quantity", "4"),
    ];
    let suggested =
        scraper::Html::parse_document(&app.post_form("/shipments/new", &fields).await.text().await.unwrap());
    assert_eq!(value(&suggested, "#f-order_ref"), "SO-77", "the order typed is kept");
    assert_eq!(value(&suggested, "#lot-0"), salt, "the line typed is kept");
    assert_eq!(texts(&suggested, "#picks tbody td:first-child"), vec![yeast.clone()]);
    let link = crate::helpers::value_of(&suggested, "#use-picks", "href");
    let filled = app.page(&link).await;
    assert_eq!(value(&filled, "#lot-0"), salt);
    assert_eq!(value(&filled, "#lot-1"), yeast, "the pick fills the lot code a person reads, not an id");
    assert_eq!(value(&filled, "#f-order_ref"), "SO-77");
    assert_eq!(value(&filled, "#f-customer_id option[selected]"), customer);
    // A name several materials share is named back; none is refused by name.
    let fields = [("site_id", site.as_str()), ("pick_material", "F"), ("pick_quantity", "1")];
    let ambiguous =
        scraper::Html::parse_document(&app.post_form("/shipments/new", &fields).await.text().await.unwrap());
    assert!(text(&ambiguous, "#pick-problem").contains("could be"), "{}", text(&ambiguous, "#pick-problem"));
    // The filled form ships as it stands.
    let form = filled.select(&crate::helpers::sel("#shipment-form")).next().unwrap();
    let posted: Vec<(String, String)> =
        crate::helpers::form_values(&form).into_iter().filter(|(k, _)| k != "csrf_token").collect();
    let posted: Vec<(&str, &str)> = posted.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let location = assert_redirect(&app.post_form("/shipments", &posted).await, "/shipments/");
    let shipped = app.page(&location).await;
    assert_eq!(texts(&shipped, "#shipment-lines td:nth-child(4)"), vec![salt, yeast]);
}

#[tokio::test]
async fn the_shipments_list_pages_to_its_last_row_and_searches_what_people_know() {
    let app = demo_app().await;
    let salt = released(&app, "SALT", "100", "2026-11-02").await;
    let yeast = released(&app, "YEAST", "10", "2026-11-20").await;
    let actor = crate::builders::tester(&app.pool).await.actor();
    let site = crate::builders::id(&app.pool, "sites", "RVS").await;
    for (n, (customer, lot)) in
        std::iter::repeat_n(("FRESHMART", &salt), 50).chain([("CORNER-GROCER", &yeast)]).enumerate()
    {
        let shipment = lotline::stock::ship::Shipment {
            site,
            customer: crate::builders::id(&app.pool, "parties", customer).await,
            shipped_on: None,
            order_ref: format!("SO-{n}"),
            bol_ref: String::new(),
            asn_ref: String::new(),
            lines: vec![lotline::stock::ship::ShipLine {
                row: 0,
                lot: lot.to_string(),
                quantity: "1".parse().unwrap(),
                location: None,
            }],
            pallets: 0,
            key: uuid::Uuid::new_v4(),
        };
        lotline::stock::ship::ship(&app.pool, &actor, &shipment).await.unwrap();
    }
    let first = app.page("/shipments").await;
    assert_eq!(texts(&first, "#shipments tbody tr").len(), 50);
    assert_eq!(text(&first, ".pager p"), "1–50 of 51 shipments");
    let last =
        app.page(&crate::helpers::value_of(&first, ".pager a[rel=next]", "href").replace('?', "/shipments?")).await;
    assert_eq!(texts(&last, "#shipments tbody td:first-child"), vec!["SHP-000001"], "the oldest, on the last page");
    // By customer, by lot (in any case), by order.
    let grocer = app.page("/shipments?q=corner").await;
    assert_eq!(texts(&grocer, "#shipments tbody tr").len(), 1);
    let by_lot = app.page(&format!("/shipments?q={}", yeast.to_lowercase())).await;
    assert_eq!(texts(&by_lot, "#shipments tbody td:nth-child(3)"), vec!["Corner Grocers Ltd"]);
    assert_eq!(text(&app.page("/shipments?q=SO-49").await, ".pager p"), "1–1 of 1 shipments");
    // The export holds what the search matched.
    let csv = app.get("/shipments?format=csv&q=corner").await.text().await.unwrap();
    assert_eq!(csv.lines().count(), 2, "{csv}");
    // Receipts and runs search and page the same way.
    let received = app.page(&format!("/receipts?q={}", yeast.to_lowercase())).await;
    assert_eq!(text(&received, ".pager p"), "1–1 of 1 receipts");
    assert_eq!(
        text(&app.page("/receipts?q=nothing-like-this").await, ".pager p"),
        "No receipts match “nothing-like-this”."
    );
    assert_eq!(text(&app.page("/runs?q=nothing-like-this").await, ".pager p"), "No runs match “nothing-like-this”.");
}
