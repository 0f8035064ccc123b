//! Every list exports what it shows (all of its pages, its search applied): lots and shipments as
//! CSV and XLSX; a location's stock, a lot's ledger and the audit trail as CSV.

use reqwest::StatusCode;

use crate::helpers::{TestApp, value_of};
use crate::recalls::{demo_app, id_of_lot, pallets};

fn csv_rows(body: &str) -> (Vec<String>, Vec<csv::StringRecord>) {
    let mut reader = csv::Reader::from_reader(body.as_bytes());
    let headers = reader.headers().unwrap().iter().map(str::to_string).collect();
    (headers, reader.records().map(Result::unwrap).collect())
}

async fn csv(app: &TestApp, path: &str) -> (Vec<String>, Vec<csv::StringRecord>) {
    let response = app.get(path).await;
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    assert_eq!(response.headers()["content-type"], "text/csv; charset=utf-8");
    csv_rows(&response.text().await.unwrap())
}

/// The rows of an XLSX's first sheet (header included), read with unzip.
async fn xlsx_rows(app: &TestApp, path: &str) -> usize {
    let response = app.get(path).await;
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    let book = response.bytes().await.unwrap();
    let file = std::env::temp_dir().join(format!("lotline-test-{}.xlsx", uuid::Uuid::new_v4()));
    std::fs::write(&file, &book).unwrap();
    let out =
        std::process::Command::new("unzip").arg("-p").arg(&file).arg("xl/worksheets/sheet1.xml").output().unwrap();
    std::fs::remove_file(&file).unwrap();
    String::from_utf8_lossy(&out.stdout).matches("<row ").count()
}

#[tokio::test]
async fn lists_export_every_row_they_match_as_csv_and_xlsx() {
    let app = demo_app().await;
    // More lots than a page holds (a fixture: sixty salt lots without stock).
    sqlx::query(
        "insert into lots (material_id, code, origin, site_id, made_on, tlc, tlc_source, disposition)
         select m.id, 'X' || lpad(g::text, 4, '0'), 'received', s.id, site_today(s.id), 'X', 'RVS', 'released'
           from generate_series(1, 60) g, materials m, sites s where m.code = 'SALT' and s.code = 'RVS'",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let lots: i64 = sqlx::query_scalar("select count(*) from lots").fetch_one(&app.pool).await.unwrap();
    assert!(lots > 50, "more lots than one page ({lots}): the export holds every page");
    let page = app.page("/lots").await;
    let (headers, rows) = csv(&app, &value_of(&page, "#export-csv", "href")).await;
    assert_eq!(headers[..4], ["lot", "material", "material_name", "status"]);
    assert_eq!(rows.len() as i64, lots);
    assert_eq!(xlsx_rows(&app, &value_of(&page, "#export-xlsx", "href")).await as i64, lots + 1);
    // The search applies: the brioche lots only.
    let (_, rows) = csv(&app, "/lots?q=BRIOCHE-400&format=csv").await;
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| &r[1] == "BRIOCHE-400" && &r[8] == "ea"));

    let (headers, rows) = csv(&app, "/shipments?format=csv").await;
    assert_eq!(headers[0], "shipment");
    assert_eq!(rows.len(), 3);
    assert_eq!(xlsx_rows(&app, "/shipments?format=xlsx").await, 4);

    // A location's stock, a lot's ledger, the audit trail.
    let fg: String =
        sqlx::query_scalar("select id::text from locations where code = 'FG'").fetch_one(&app.pool).await.unwrap();
    let (_, rows) = csv(&app, &format!("/locations/{fg}?format=csv")).await;
    let pallets = pallets(&app).await;
    assert_eq!(rows.iter().map(|r| r[1].to_string()).collect::<Vec<_>>(), pallets);
    let pallet = id_of_lot(&app, &pallets[0]).await;
    let (headers, rows) = csv(&app, &format!("/lots/{pallet}/ledger.csv")).await;
    assert_eq!(headers[2], "kind");
    assert_eq!(rows.iter().map(|r| r[2].to_string()).collect::<Vec<_>>(), ["produce", "ship", "ship"]);
    let entries: i64 = sqlx::query_scalar("select count(*) from audit_log where entity_type = 'lot'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let (_, rows) = csv(&app, "/audit?entity_type=lot&format=csv").await;
    assert_eq!(rows.len() as i64, entries);

    // Formats a list does not offer are refused.
    assert_eq!(app.get("/audit?format=xlsx").await.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.get("/lots?format=pdf").await.status(), StatusCode::BAD_REQUEST);
}
