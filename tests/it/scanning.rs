//! Scanning into the search box: GS1 element strings (with parentheses, or raw as a scanner sends
//! them) and Digital Link URIs open the lot; a malformed scan says which part is wrong.

use reqwest::StatusCode;

use crate::helpers::text;
use crate::recalls::{demo_app, id_of_lot, pallets};

#[tokio::test]
async fn the_search_box_opens_a_lot_from_a_gs1_scan_in_any_notation_and_names_what_is_wrong() {
    let app = demo_app().await;
    let pallet = pallets(&app).await.remove(0);
    let pallet_id = id_of_lot(&app, &pallet).await;
    let gtin: String = sqlx::query_scalar(
        "select g.gtin from material_gtins g join materials m on m.id = g.material_id where m.code = 'BRIOCHE-400'
          order by g.units_per_pack limit 1",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let gs = '\u{1d}';
    for scan in [
        format!("(01){gtin}(10){pallet}"),
        format!("]d201{gtin}10{pallet}{gs}17301231"),
        format!("01{gtin}17301231 10{pallet}").replace(' ', ""),
        format!("https://id.gs1.org/01/{gtin}/10/{pallet}?17=301231"),
        format!("https://labels.example/p/01/{gtin}/10/{}", pallet.to_lowercase()),
    ] {
        let url = format!("/search?q={}", lotline::web::percent_encode(&scan));
        let response = app.get(&url).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{scan:?}");
        assert_eq!(response.headers()["location"], format!("/lots/{pallet_id}").as_str(), "{scan:?}");
    }
    let problem = |q: String| {
        let app = &app;
        async move {
            let page = app.page(&format!("/search?q={}", lotline::web::percent_encode(&q))).await;
            text(&page, "#scan-problem")
        }
    };
    let bad_digit = format!("{}{}", &gtin[..13], (gtin.as_bytes()[13] - b'0' + 1) % 10);
    assert!(problem(format!("(01){bad_digit}(10){pallet}")).await.contains("the check digit is wrong"));
    assert!(problem(format!("(01){gtin}(17)301332(10){pallet}")).await.contains("(17) 301332: is not a real date"));
    assert_eq!(problem("(01)09506000134352(10)X".into()).await, "No material has GTIN 09506000134352.");
    assert_eq!(
        problem(format!("(01){gtin}(10)NOPE")).await,
        format!("The material with GTIN {gtin} has no lot “NOPE”.")
    );
    assert!(problem(format!("(01){gtin}")).await.contains("but no lot (AI 10)"));
    // A plain code still works as before.
    let response = app.get(&format!("/search?q={pallet}")).await;
    assert_eq!(response.headers()["location"], format!("/lots/{pallet_id}").as_str());
}
