//! The public "check your product" page: Digital Link resolution (valid, wrong check digit,
//! unknown lot, a lot under recall), nothing private in its HTML, the per-address limit, and the
//! lookups counted on the recall's page.

use reqwest::StatusCode;

use crate::helpers::{PASSWORD, TestApp, assert_redirect, text, texts};
use crate::recalls::{demo_app, pallets};

fn anonymous() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

pub(crate) async fn get(app: &TestApp, path: &str) -> (StatusCode, scraper::Html, String) {
    let response = anonymous().get(app.url(path)).send().await.unwrap();
    let status = response.status();
    let body = response.text().await.unwrap();
    (status, scraper::Html::parse_document(&body), body)
}

pub(crate) async fn brioche_gtin(app: &TestApp) -> String {
    sqlx::query_scalar(
        "select g.gtin from material_gtins g join materials m on m.id = g.material_id where m.code = 'BRIOCHE-400' and g.pack_level = 'each'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_scanned_pack_shows_its_public_facts_and_its_recall_and_nothing_private() {
    let app = demo_app().await;
    let gtin = brioche_gtin(&app).await;
    let pallet = pallets(&app).await.remove(0);
    let (status, page, body) = get(&app, &format!("/01/{gtin}/10/{pallet}?17=261231")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(text(&page, "#found h1"), "Brioche loaf 400 g");
    assert_eq!(text(&page, "#found-lot"), pallet);
    assert!(!texts(&page, "#no-recall").is_empty());
    assert!(texts(&page, "header.top nav").is_empty(), "no navigation for the public");
    let brand = crate::helpers::value_of(&page, "a.brand", "href");
    assert_eq!(brand, "/check", "the brand leads to the public check, not to the staff sign-in");
    assert!(!text(&page, "#best-before").is_empty() && text(&page, "#plant") == "Riverside Bakery");
    // Nothing internal: suppliers, customers, quantities, other lots.
    let other_lots: Vec<String> =
        sqlx::query_scalar("select code from lots where code <> $1").bind(&pallet).fetch_all(&app.pool).await.unwrap();
    for private in ["Prairie Mill", "FreshMart", "Corner Grocer", "Metro Food", "330", "SHP-", "RUN-", "quarantine"] {
        assert!(!body.contains(private), "the public page shows {private:?}");
    }
    for code in other_lots {
        assert!(!body.contains(&format!(">{code}<")), "the public page shows lot {code}");
    }

    // An administrator hides the dates and the origin: the page no longer shows them.
    let material: String = sqlx::query_scalar("select id::text from materials where code = 'BRIOCHE-400'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let edit = format!("/materials/{material}/edit");
    // The label and the consumer page say the same word for the date: use by (17), or — once
    // the material's date means quality — best before (15).
    let lot_id: String = sqlx::query_scalar("select id::text from lots where code = $1")
        .bind(&pallet)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(text(&page, "#date-kind"), "Use by");
    let label = app.page(&format!("/lots/{lot_id}/label")).await;
    assert!(text(&label, ".label-facts").contains("Use by"));
    assert_redirect(&app.submit(&edit, "form.record-form", &[("date_kind", "best_before")]).await, "/materials/");
    let label = app.page(&format!("/lots/{lot_id}/label")).await;
    assert!(text(&label, ".label-facts").contains("Best before"), "{}", text(&label, ".label-facts"));
    assert!(text(&label, ".lot-label .hri").contains("(15)"), "{}", text(&label, ".lot-label .hri"));
    let (_, page, _) = get(&app, &format!("/01/{gtin}/10/{pallet}")).await;
    assert_eq!(text(&page, "#date-kind"), "Best before");
    assert_redirect(
        &app.submit(&edit, "form.record-form", &[("public_dates", ""), ("public_origin", "")]).await,
        "/materials/",
    );
    let (_, page, _) = get(&app, &format!("/01/{gtin}/10/{pallet}")).await;
    assert!(texts(&page, "#best-before").is_empty() && texts(&page, "#plant").is_empty());
    assert_eq!(text(&page, "#found-lot"), pallet);

    // A wrong check digit, an unknown lot and a private lot.
    let bad = format!("{}{}", &gtin[..13], (gtin.as_bytes()[13] - b'0' + 1) % 10);
    let (status, page, _) = get(&app, &format!("/01/{bad}/10/{pallet}")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(text(&page, "#check-problem").contains("check digit is wrong"));
    // GS1's syntax: the lot in the path, each attribute once.
    for link in [format!("/01/{gtin}?10={pallet}"), format!("/01/{gtin}/10/{pallet}?17=261231&17=261231")] {
        let (status, page, _) = get(&app, &link).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{link}");
        assert!(text(&page, "#check-problem").starts_with("This code is not valid"), "{link}");
    }
    let (status, unknown, unknown_body) = get(&app, &format!("/01/{gtin}/10/NOPE-1")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(text(&unknown, "#not-found").starts_with("We could not find this lot"));
    let flour: String = sqlx::query_scalar(
        "select l.code from lots l join materials m on m.id = l.material_id where m.code = 'FLOUR-T55' limit 1",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let (status, _, private_body) = get(&app, &format!("/check?product=FLOUR-T55&lot={flour}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, _, unknown_by_product) = get(&app, "/check?product=FLOUR-T55&lot=NOPE-1").await;
    assert_eq!(
        private_body.replace(&flour, "X"),
        unknown_by_product.replace("NOPE-1", "X"),
        "a private lot looks like an unknown one"
    );
    assert!(!unknown_body.contains("FLOUR"), "private products are not offered");

    // A real recall on the flour: the pack now says so, with the public instructions.
    let flour_in_dough: String = sqlx::query_scalar(
        "select distinct l.id::text from lots l join materials m on m.id = l.material_id join stock_movements s on s.lot_id = l.id
          where m.code = 'FLOUR-T55' and s.kind = 'consume'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let location = assert_redirect(
        &app.submit(
            &format!("/recalls/new?lot={flour_in_dough}"),
            "#recall-form",
            &[
                ("kind", "real"),
                ("class", "II"),
                ("reason", "Foreign matter"),
                ("signer", "tester"),
                ("password", PASSWORD),
            ],
        )
        .await,
        "/recalls/",
    );
    let instructions = "Do not eat it. Call 0800 555 0199 for a refund.";
    assert_redirect(&app.submit(&location, "#public-form", &[("public_instructions", instructions)]).await, &location);
    let (status, page, _) = get(&app, &format!("/01/{gtin}/10/{pallet}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(text(&page, "#recall-notice h1"), "This product is recalled");
    assert_eq!(text(&page, "#recall-instructions"), instructions);
    assert!(texts(&page, "#no-recall").is_empty());
    // Typed by hand, with the product from the list: the same answer.
    let (_, page, _) = get(&app, &format!("/check?product=BRIOCHE-400&lot={}", pallet.to_lowercase())).await;
    assert!(!texts(&page, "#recall-notice").is_empty());

    // Every lookup of a found lot is counted; the recall shows its reach.
    let counted: i64 =
        sqlx::query_scalar("select sum(lookups)::bigint from lookup_counts").fetch_one(&app.pool).await.unwrap();
    assert_eq!(counted, 5);
    assert!(
        text(&app.page(&location).await, "#lookups").starts_with("5 lookups"),
        "counted by day, from the day it opened"
    );
}

#[tokio::test]
async fn one_address_gets_a_limited_number_of_lookups() {
    let app = demo_app().await;
    let gtin = brioche_gtin(&app).await;
    for i in 0..lotline::web::lookup::LOOKUPS_PER_WINDOW {
        let (status, _, _) = get(&app, &format!("/01/{gtin}/10/GUESS-{i}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    let (status, page, _) = get(&app, &format!("/01/{gtin}/10/GUESS-X")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(text(&page, "#check-problem").starts_with("Too many lookups"));
    let pallet = pallets(&app).await.remove(0);
    let (status, _, _) = get(&app, &format!("/01/{gtin}/10/{pallet}")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "even a real lot, until the window has passed");
}
