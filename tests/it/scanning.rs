//! Scanning into the search box: GS1 element strings (with parentheses, or raw as a scanner sends
//! them) and Digital Link URIs open the lot; a malformed scan says which part is wrong.

use reqwest::StatusCode;

use crate::helpers::{text, texts};
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
    // A plain code still works as before, and as people type it: any case, without its dash.
    for typed in [pallet.clone(), pallet.to_lowercase(), pallet.replace('-', ""), pallet.replace('-', " ")] {
        let response = app.get(&format!("/search?q={}", lotline::web::percent_encode(&typed))).await;
        assert_eq!(response.headers()["location"], format!("/lots/{pallet_id}").as_str(), "{typed}");
    }
    // A code that finds nothing leaves the box empty for the next scan, the code said beside it.
    let missed = app.page("/search?q=26337-0003X").await;
    assert_eq!(crate::helpers::value(&missed, "#search-q"), "");
    assert!(text(&missed, "#no-match").contains("26337-0003X"));
}

/// The modules of a DataMatrix drawn by lotline (`M{x},{y}h4v4h-4z` per dark module, 2 quiet).
fn matrix_pixels(svg: &str) -> (Vec<bool>, usize) {
    let view: Vec<usize> = svg
        .split("viewBox=\"0 0 ")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .split(' ')
        .map(|n| n.parse().unwrap())
        .collect();
    let width = view[0] / 4 - 4;
    let mut pixels = vec![false; width * width];
    let path = svg.split(" d=\"").nth(1).unwrap().split('"').next().unwrap();
    for cell in path.split('z').filter(|c| !c.is_empty()) {
        let xy = cell.trim_start_matches('M').split('h').next().unwrap();
        let (x, y) = xy.split_once(',').unwrap();
        let (x, y): (usize, usize) = (x.parse::<usize>().unwrap() / 4 - 2, y.parse::<usize>().unwrap() / 4 - 2);
        pixels[y * width + x] = true;
    }
    (pixels, width)
}

#[tokio::test]
async fn a_runs_label_sheet_carries_gs1_symbols_that_scan_back_to_their_lots() {
    let app = demo_app().await;
    let run: String = sqlx::query_scalar(
        "select r.id::text from production_runs r join materials m on m.id = r.output_material_id where m.code = 'BRIOCHE-400'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let run_page = app.page(&format!("/runs/{run}")).await;
    assert_eq!(crate::helpers::value_of(&run_page, "#labels-link", "href"), format!("/runs/{run}/labels"));
    let sheet = app.page(&format!("/runs/{run}/labels")).await;
    let labels: Vec<_> = sheet.select(&crate::helpers::sel(".lot-label")).collect();
    assert_eq!(labels.len(), 2, "one label per pallet");
    for label in labels {
        let lot = label.value().attr("data-lot").unwrap().to_string();
        let lot_id = id_of_lot(&app, &lot).await;
        let hri: String = label.select(&crate::helpers::sel(".hri")).next().unwrap().text().collect();
        assert!(hri.starts_with("(01)00614141004010(11)"), "{hri}");
        assert!(hri.ends_with(&format!("(10){lot}")), "{hri}");
        let matrix = label.select(&crate::helpers::sel("svg.datamatrix")).next().unwrap().html();
        let (pixels, width) = matrix_pixels(&matrix);
        let data = String::from_utf8(datamatrix::DataMatrix::decode(&pixels, width).unwrap()).unwrap();
        assert!(data.starts_with("0100614141004010") && data.ends_with(&format!("10{lot}")), "{data:?}");
        assert!(label.select(&crate::helpers::sel("svg.gs1-128 rect")).count() > 20, "bars are drawn");
        // Scanned (a scanner sends the DataMatrix's data after ]d2) or typed from the text line.
        for scan in [format!("]d2{data}"), hri.clone()] {
            let response = app.get(&format!("/search?q={}", lotline::web::percent_encode(&scan))).await;
            assert_eq!(response.headers()["location"], format!("/lots/{lot_id}").as_str(), "{scan:?}");
        }
    }
    // A receipt of a material without a GTIN: plain Code 128 labels of the lot codes.
    let receipt: (String, String) = sqlx::query_as(
        "select r.id::text, l.code from receipts r join receipt_lines rl on rl.receipt_id = r.id join lots l on l.id = rl.lot_id limit 1",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let sheet = app.page(&format!("/receipts/{}/labels", receipt.0)).await;
    assert_eq!(text(&sheet, ".lot-label .hri"), receipt.1);
    assert!(text(&sheet, ".lot-label").contains("has no GTIN"));
    assert_eq!(app.get(&format!("/runs/{}/labels", uuid::Uuid::new_v4())).await.status(), StatusCode::NOT_FOUND);

    // Laid out for a 4×6 in label at 203 dpi, two copies of each: bars of whole dots within GS1's
    // logistic range, no symbol wider than the label, and the QR code with the Digital Link —
    // with a warning while that link points at this machine.
    let sheet = app.page(&format!("/runs/{run}/labels?stock=4x6&dpi=203&copies=2")).await;
    assert_eq!(sheet.select(&crate::helpers::sel(".lot-label")).count(), 4);
    for svg in sheet.select(&crate::helpers::sel("svg.gs1-128")) {
        let x: f64 = svg.value().attr("data-x-mm").unwrap().parse().unwrap();
        assert!((x - 0.5005).abs() < 1e-3, "X {x} mm = 4 dots at 203 dpi");
        let bar: f64 = svg.value().attr("data-bar-mm").unwrap().parse().unwrap();
        assert!(bar >= 31.75);
        let width: f64 = svg.value().attr("width").unwrap().trim_end_matches("mm").parse().unwrap();
        assert!(width <= 101.6 - 2.0, "{width} mm fits a 4-inch label");
    }
    let qr = sheet.select(&crate::helpers::sel("svg.qr")).next().unwrap();
    assert!(qr.value().attr("aria-label").unwrap().starts_with("QR code: http://127.0.0.1:8080/01/00614141004010/10/"));
    assert!(text(&sheet, "#loopback-warning").contains("LOTLINE_PUBLIC_URL"));
    assert!(text(&sheet, "style").contains("size: 101.6mm 152.4mm"));
    // The same labels as ZPL for a Zebra-class printer at 203 dpi, read back command by command.
    let zpl = app.get(&format!("/runs/{run}/labels?stock=4x6&dpi=203&copies=2&format=zpl")).await;
    assert_eq!(zpl.status(), StatusCode::OK);
    assert!(zpl.headers()["content-type"].to_str().unwrap().starts_with("application/zpl"));
    let zpl = zpl.text().await.unwrap();
    let labels: Vec<Vec<(String, String)>> = zpl
        .split("^XA")
        .skip(1)
        .map(|label| {
            label
                .split('^')
                .filter(|c| c.len() >= 2)
                .map(|c| (c[..2].to_string(), c[2..].trim_end().to_string()))
                .collect()
        })
        .collect();
    assert_eq!(labels.len(), 2, "one label per pallet, the printer makes the copies");
    for commands in &labels {
        let arg = |cmd: &str| commands.iter().find(|(c, _)| c == cmd).map(|(_, a)| a.as_str());
        assert_eq!(arg("PW"), Some("812"), "4 in at 203 dpi");
        assert_eq!(arg("LL"), Some("1218"), "6 in at 203 dpi");
        assert_eq!(arg("PQ"), Some("2"));
        let by = arg("BY").unwrap();
        assert!(by.starts_with("4,3,"), "modules of 4 dots: {by}");
        let bar: i64 = by.rsplit(',').next().unwrap().parse().unwrap();
        assert!(bar as f64 * 25.4 / 203.0 >= 31.75, "bars {bar} dots high");
        // Mode D: the printer writes FNC1 from the AIs in parentheses.
        let fields: Vec<&str> = commands.iter().filter(|(c, _)| c == "FD").map(|(_, a)| a.as_str()).collect();
        assert!(arg("BC").unwrap().ends_with(",D"));
        assert!(fields.iter().any(|f| f.starts_with("(01)00614141004010")), "{fields:?}");
        assert!(fields.iter().any(|f| f.starts_with("QA,http://127.0.0.1:8080/01/00614141004010/10/")), "{fields:?}");
        assert!(fields.iter().any(|f| f.starts_with("_10100614141004010")), "the DataMatrix starts with FNC1");
    }
    for bad in ["stock=5x7", "dpi=600", "copies=0", "copies=51", "format=pdf"] {
        assert_eq!(app.get(&format!("/runs/{run}/labels?{bad}")).await.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
}

#[tokio::test]
async fn labels_go_to_the_plants_label_printer_as_zpl_and_a_printer_that_does_not_answer_is_named() {
    // A printer on the network: a socket that takes what it is sent, as a Zebra does on 9100.
    let printer = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = printer.local_addr().unwrap().to_string();
    let received = tokio::spawn(async move {
        use tokio::io::AsyncReadExt;
        let (mut socket, _) = printer.accept().await.unwrap();
        let mut zpl = String::new();
        socket.read_to_string(&mut zpl).await.unwrap();
        zpl
    });
    let pool = crate::helpers::demo_database(crate::helpers::Demo::Plant).await;
    let settings = lotline::app::Settings { label_printer: Some(address.clone()), ..Default::default() };
    let mut app = crate::helpers::serve(settings, pool).await;
    app.login("tester", crate::helpers::PASSWORD).await;
    let run: String = sqlx::query_scalar(
        "select r.id::text from production_runs r join materials m on m.id = r.output_material_id where m.code = 'BRIOCHE-400'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let page = format!("/runs/{run}/labels?stock=4x6&dpi=300&copies=3");
    let sheet = app.page(&page).await;
    assert_eq!(text(&sheet, "#send-to-printer"), "Send to the label printer");
    let sent = app.submit(&page, "form.inline", &[]).await;
    assert_eq!(sent.status(), StatusCode::SEE_OTHER, "{}", sent.url());
    let zpl = received.await.unwrap();
    assert_eq!(zpl.matches("^XA").count(), 2, "two pallets");
    assert!(zpl.contains("^PW1200^LL1800") && zpl.contains("^PQ3^XZ"), "{zpl}");
    let after = app.page(sent.headers()["location"].to_str().unwrap()).await;
    assert!(
        texts(&after, ".flash").iter().any(|f| f.contains(&format!("Sent 6 labels to the label printer at {address}")))
    );
    // A printer that is gone: said plainly, nothing else happens.
    let gone = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let pool = crate::helpers::demo_database(crate::helpers::Demo::Plant).await;
    let settings = lotline::app::Settings { label_printer: Some(gone.to_string()), ..Default::default() };
    let mut app = crate::helpers::serve(settings, pool).await;
    app.login("tester", crate::helpers::PASSWORD).await;
    let sent = app.submit(&page, "form.inline", &[]).await;
    let after = app.page(sent.headers()["location"].to_str().unwrap()).await;
    let flashes = texts(&after, ".flash");
    assert!(flashes.iter().any(|f| f.contains("did not take the labels")), "{flashes:?}");
}
