//! Recalls: a mock recall on a raw lot (both modes, quantities, lots at risk, mass balance, the
//! drill's clock, the report and its PDF), a real recall (holds, a refused shipment, the database's
//! own refusal, notices, accounting, widening, closing), a supplier's recall, and refusals.

use reqwest::StatusCode;
use sha2::{Digest, Sha256};

use crate::helpers::{PASSWORD, TestApp, assert_field_error, assert_redirect, text, texts, value};
use crate::rules::id_of;

/// The demo plant with its first days of flows (which its QA account signs): flour into dough,
/// dough into two pallets of brioche, shipped to three customers.
pub async fn demo_app() -> TestApp {
    crate::helpers::spawn_demo(crate::helpers::Demo::Plant).await
}

/// The demo's flour lot that went into the dough (the raw lot whose downstream reaches customers).
pub(crate) async fn used_flour(app: &TestApp) -> (String, String) {
    sqlx::query_as(
        "select distinct l.id::text, l.code from lots l join materials m on m.id = l.material_id
           join stock_movements s on s.lot_id = l.id where m.code = 'FLOUR-T55' and s.kind = 'consume'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

pub(crate) async fn open(app: &TestApp, lot_id: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    let mut all = vec![("reason", "Foreign matter found in flour"), ("signer", "tester"), ("password", PASSWORD)];
    all.extend_from_slice(fields);
    app.submit(&format!("/recalls/new?lot={lot_id}"), "#recall-form", &all).await
}

pub async fn pallets(app: &TestApp) -> Vec<String> {
    sqlx::query_scalar(
        "select l.code from lots l join materials m on m.id = l.material_id where m.code = 'BRIOCHE-400' order by l.code",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_mock_recall_on_a_raw_lot_shows_its_scope_quantities_risks_and_balance_and_holds_nothing() {
    let app = demo_app().await;
    let (flour_id, flour) = used_flour(&app).await;
    let location = assert_redirect(&open(&app, &flour_id, &[("kind", "mock")]).await, "/recalls/");
    let page = app.page(&location).await;
    let number = text(&page, "#recall-number");
    assert!(number.starts_with("RC-"), "{number}");
    assert!(text(&page, "h1").starts_with("Mock recall"));

    // Scope: the flour, the dough, both pallets; three customers; counts of both modes.
    let lots = texts(&page, "#affected-lots tbody td:nth-child(2)");
    assert!(lots.contains(&flour));
    for pallet in pallets(&app).await {
        assert!(lots.contains(&pallet), "{pallet} in {lots:?}");
    }
    assert_eq!(lots.len(), 4, "flour, dough and two pallets: {lots:?}");
    assert_eq!(text(&page, "#precise-count"), "4");
    assert_eq!(text(&page, "#lot-level-count"), "4");
    assert_eq!(text(&page, "[data-count=customers]"), "3");
    assert_eq!(texts(&page, "#recall-shipments tbody tr").len(), 3);
    let customers = texts(&page, "#recall-customers tbody td:first-child");
    assert!(customers.iter().any(|c| c.starts_with("FreshMart Stores")), "{customers:?}");
    assert!(text(&page, "#recall-customers").contains("Recall coordinator"), "contacts frozen with the scope");

    // Quantities: 200 kg of flour went into 280 kg of dough (with 82 kg of other inputs).
    let row = |code: &str| {
        let codes = texts(&page, "#affected-lots tbody td:nth-child(2)");
        let i = codes.iter().position(|c| c == code).unwrap();
        (
            texts(&page, "#affected-lots tbody td:nth-child(5)")[i].clone(),
            texts(&page, "#affected-lots tbody td:nth-child(6)")[i].clone(),
        )
    };
    assert_eq!(row(&flour).1, "100 %", "the suspect lot is all suspect");
    let dough: String = sqlx::query_scalar(
        "select l.code from lots l join materials m on m.id = l.material_id where m.code = 'DOUGH-BR'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let (share, concentration) = row(&dough);
    assert_ne!(share, "unknown");
    assert!(concentration.ends_with('%') && concentration != "100 %", "dough is part flour: {concentration}");

    // Lots at risk: the other inputs of the dough run, none of them in scope.
    let risky = texts(&page, "#at-risk tbody td:nth-child(2)");
    assert!(!risky.is_empty());
    assert!(risky.iter().all(|c| !lots.contains(c)));
    assert!(text(&page, "#at-risk").contains("used with it in run RUN-"));

    // Mass balance: every affected lot adds up.
    let differences = texts(&page, "#mass-balance tbody td:last-child");
    assert_eq!(differences.len(), 4);
    assert!(differences.iter().all(|d| d == "0"), "{differences:?}");

    // A drill places no hold.
    let holds: i64 = sqlx::query_scalar("select count(*) from lot_holds").fetch_one(&app.pool).await.unwrap();
    assert_eq!(holds, 0);

    // Its clock stops when the report is declared complete.
    assert!(text(&page, "#drill-time").starts_with("running since"));
    assert_redirect(&app.submit(&location, "#complete-form", &[]).await, &location);
    let page = app.page(&location).await;
    assert!(
        text(&page, "#drill-time").ends_with("from opening to a complete report"),
        "{}",
        text(&page, "#drill-time")
    );
    assert!(texts(&page, "#complete-form").is_empty());

    // The report prints from the frozen scope, with its hash.
    let report = app.page(&format!("{location}/report")).await;
    assert_eq!(text(&report, "#recall-number"), number);
    let (document, hash): (String, Vec<u8>) =
        sqlx::query_as("select document, hash from recall_scopes").fetch_one(&app.pool).await.unwrap();
    let hex: String = Sha256::digest(document.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(hash, Sha256::digest(document.as_bytes()).to_vec());
    assert_eq!(text(&report, "#scope-hash"), format!("SHA-256 {hex}"));
    let css = app.get(&format!("{location}/report.css?paper=letter")).await.text().await.unwrap();
    assert!(css.contains(&format!("content: \"Recall {number}\"")), "the number on every printed page");
    assert!(css.contains("size: letter") && css.contains(&hex) && css.contains("counter(pages)"));
    assert!(report.html().contains(&format!("{location}/report.css?paper=A4")), "the page frame is linked, not inline");
    assert!(texts(&report, "header.top").is_empty(), "no navigation on the report");

    // And as PDF, from headless Chromium: its text holds the number, the lots and the customers.
    let response = app.get(&format!("{location}/report.pdf")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/pdf");
    let pdf = response.bytes().await.unwrap();
    assert!(pdf.starts_with(b"%PDF"));
    let dir = std::env::temp_dir().join(format!("lotline-test-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("r.pdf"), &pdf).unwrap();
    let out = std::process::Command::new("pdftotext")
        .arg("-layout")
        .arg(dir.join("r.pdf"))
        .arg("-")
        .output()
        .expect("pdftotext (poppler-utils) is installed by the test command");
    std::fs::remove_dir_all(&dir).unwrap();
    let pdf_text = String::from_utf8_lossy(&out.stdout);
    assert!(pdf_text.contains(&number), "the PDF names the recall");
    assert!(pdf_text.contains(&flour));
    for pallet in pallets(&app).await {
        assert!(pdf_text.contains(&pallet), "the PDF lists {pallet}");
    }
    for customer in ["FreshMart Stores", "Corner Grocer"] {
        assert!(pdf_text.contains(customer), "the PDF lists {customer}");
    }
    assert!(pdf_text.contains("Page 1 of"), "page numbers on the pages");

    // The CSV holds the same scope.
    let csv = app.get(&format!("{location}/recall.csv")).await.text().await.unwrap();
    assert!(csv.starts_with("record,recall,material,lot"));
    assert_eq!(csv.lines().filter(|l| l.starts_with("lot,")).count(), 4);
    assert_eq!(csv.lines().filter(|l| l.starts_with("customer,")).count(), 3);

    // The FSMA 204 spreadsheet for the recall's lots: receiving under the supplier's lot code,
    // the runs' inputs and outputs, the shipments.
    let sheet = app.get(&format!("{location}/fsma204.csv")).await.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(sheet.as_bytes());
    let headers = reader.headers().unwrap().clone();
    assert_eq!(headers.iter().collect::<Vec<_>>(), lotline::documents::fsma::COLUMNS.to_vec());
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let supplier_lot: String = sqlx::query_scalar("select supplier_lot from lots where code = $1")
        .bind(&flour)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let receiving: Vec<&csv::StringRecord> = rows.iter().filter(|r| &r[0] == "Receiving").collect();
    assert_eq!(receiving.len(), 1);
    assert_eq!(&receiving[0][2], supplier_lot, "a received lot's TLC is the supplier's");
    // Its source is the supplier, described as 21 CFR 1.1310 asks: name, address, country, phone.
    let (name, phone, country): (String, String, String) =
        sqlx::query_as("select name, phone, country from parties where code = 'PRAIRIE-MILL'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    let source = &receiving[0][3];
    assert!(source.starts_with(&name) && source.contains(&phone) && source.contains(&country), "{source}");
    assert!(receiving[0][8].starts_with("Prairie Mill Co."));
    // Every place is one line: name, address, country, phone.
    assert_eq!(&receiving[0][10], "Riverside Bakery, 1200 Mill Road, Springfield, IL 62701, US, phone +1 217 555 0142");
    assert!(rows.iter().all(|r| !r.iter().any(|c| c.contains('\n'))), "no multi-line cells");
    // The date is the plant's date (Central time), not UTC's.
    let local: chrono::NaiveDate = sqlx::query_scalar(
        "select (r.received_at at time zone s.time_zone)::date from receipts r join sites s on s.id = r.site_id
          join receipt_lines l on l.receipt_id = r.id join lots t on t.id = l.lot_id where t.code = $1",
    )
    .bind(&flour)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(&receiving[0][11], local.to_string());
    // A lot made here has the site as its source, with the site's GLN as reference.
    let made = rows.iter().find(|r| &r[0] == "Transformation (output)" && r[14] == dough).unwrap();
    assert!(made[3].starts_with("Riverside Bakery, 1200 Mill Road"), "{:?}", &made[3]);
    assert!(made[4].starts_with("GLN "), "{:?}", &made[4]);
    assert_eq!(rows.iter().filter(|r| &r[0] == "Shipping").count(), 3);
    assert!(rows.iter().any(|r| &r[0] == "Transformation (input)" && r[14] == flour));
    // The same rows as XLSX: a workbook whose strings include the supplier's lot code.
    let response = app.get(&format!("{location}/fsma204.xlsx")).await;
    assert_eq!(response.headers()["content-type"], "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet");
    let book = response.bytes().await.unwrap();
    assert!(book.starts_with(b"PK"), "an XLSX is a zip");
    let path = std::env::temp_dir().join(format!("lotline-test-{}.xlsx", uuid::Uuid::new_v4()));
    std::fs::write(&path, &book).unwrap();
    let strings =
        std::process::Command::new("unzip").arg("-p").arg(&path).arg("xl/sharedStrings.xml").output().unwrap();
    let sheet =
        std::process::Command::new("unzip").arg("-p").arg(&path).arg("xl/worksheets/sheet1.xml").output().unwrap();
    std::fs::remove_file(&path).unwrap();
    let strings = String::from_utf8_lossy(&strings.stdout);
    assert!(strings.contains(&supplier_lot) && strings.contains("Traceability lot code"));
    // Read back with a spreadsheet reader: quantities are numbers, dates are dates.
    use calamine::Reader;
    let mut workbook: calamine::Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(book.to_vec())).unwrap();
    let range = workbook.worksheet_range_at(0).unwrap().unwrap();
    let read: Vec<&[calamine::Data]> = range.rows().collect();
    assert_eq!(read.len(), rows.len() + 1);
    let first = read.iter().find(|r| r[0] == calamine::Data::String("Receiving".into())).unwrap();
    assert!(matches!(first[6], calamine::Data::Float(_) | calamine::Data::Int(_)), "{:?}", first[6]);
    let calamine::Data::DateTime(day) = &first[11] else { panic!("the date is a date cell: {:?}", first[11]) };
    let serial = (local - chrono::NaiveDate::from_ymd_opt(1899, 12, 30).unwrap()).num_days() as f64;
    assert_eq!(day.as_f64(), serial);
    let sheet = String::from_utf8_lossy(&sheet.stdout);
    assert_eq!(sheet.matches("<row ").count(), rows.len() + 1, "a header and one row per event");
    assert!(sheet.contains("<autoFilter"), "sortable and filterable");
    let today = chrono::Utc::now().date_naive();
    let dated = app.get(&format!("/fsma204?from={}&to={today}", today - chrono::Days::new(30))).await;
    assert_eq!(dated.status(), StatusCode::OK);
    assert!(dated.text().await.unwrap().lines().count() > rows.len(), "the whole plant's events of the month");
    assert_eq!(app.get("/fsma204?from=2026-13-01&to=2026-01-01").await.status(), StatusCode::BAD_REQUEST);

    let list = app.page("/recalls").await;
    assert_eq!(texts(&list, "#recalls tbody td:first-child"), vec![number]);
}

#[tokio::test]
async fn a_real_recall_holds_the_affected_lots_refuses_their_shipment_and_is_accounted_and_closed() {
    let app = demo_app().await;
    let (flour_id, flour) = used_flour(&app).await;
    // A run still open that has used the flour: the recall flags it.
    let dough = id_of(&app, "materials", "DOUGH-BR").await;
    let site = id_of(&app, "sites", "RVS").await;
    let run = assert_redirect(
        &app.submit("/runs/new", "#run-form", &[("output_material_id", &dough), ("site_id", &site)]).await,
        "/runs/",
    );
    assert_redirect(&app.submit(&run, "#input-form", &[("lot", &flour), ("quantity", "10")]).await, &run);
    assert!(texts(&app.page(&run).await, "#recalled-inputs").is_empty());
    let location = assert_redirect(&open(&app, &flour_id, &[("kind", "real"), ("class", "II")]).await, "/recalls/");
    let recall_id = location.trim_start_matches("/recalls/").to_string();
    let page = app.page(&location).await;
    assert!(text(&page, "h1").starts_with("Class II recall"));
    assert!(text(&page, "#effectiveness-level").starts_with("Effectiveness-check level B"));
    let run_number = text(&app.page(&run).await, "h1 .code");
    assert_eq!(texts(&page, "#open-runs tbody td:first-child"), vec![run_number]);
    assert!(text(&app.page(&run).await, "#recalled-inputs").contains(&flour));

    // Every affected lot is held by the recall, and shows as recalled.
    let held: i64 =
        sqlx::query_scalar("select count(*) from lot_holds where recall_id = $1::uuid and closed_at is null")
            .bind(&recall_id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(held, 4);
    let pallet = pallets(&app).await.remove(1);
    let pallet_id = id_of_lot(&app, &pallet).await;
    assert!(text(&app.page(&format!("/lots/{pallet_id}")).await, "h1 .badge").contains("recalled"));

    // Shipping what is left of a pallet is refused, and nothing is written.
    let shipments = app.count("shipments").await;
    let customer = id_of(&app, "parties", "FRESHMART").await;
    let site = id_of(&app, "sites", "RVS").await;
    let key = uuid::Uuid::new_v4().to_string();
    let response = app
        .post_form(
            "/shipments",
            &[
                ("customer_id", &customer),
                ("site_id", &site),
                ("idempotency_key", &key),
                ("lot", &pallet),
                ("quantity", "10"),
                ("location_id", ""),
            ],
        )
        .await;
    assert_field_error(response, "line1", "recalled").await;
    assert_eq!(app.count("shipments").await, shipments);

    // The database refuses it too, should a posting get past the check.
    let refused = sqlx::query(
        "insert into stock_movements (kind, lot_id, location_id, quantity, occurred_at, posting_id, shipment_id)
         select 'ship', o.lot_id, o.location_id, -1, now(), gen_random_uuid(), (select id from shipments limit 1)
           from on_hand o where o.lot_id = $1::uuid and o.quantity > 0 limit 1",
    )
    .bind(&pallet_id)
    .execute(&app.pool)
    .await
    .unwrap_err();
    assert!(refused.to_string().contains("is on hold"), "{refused}");

    // Notices and answers: an acknowledgement needs a notice first.
    let freshmart = customer.clone();
    let response = app
        .submit(
            &location,
            "#notice-form",
            &[("party_id", &freshmart), ("kind", "acknowledgement"), ("method", "email")],
        )
        .await;
    assert_field_error(response, "kind", "log the notice first").await;
    for kind in ["notice", "acknowledgement"] {
        let response = app
            .submit(
                &location,
                "#notice-form",
                &[
                    ("party_id", &freshmart),
                    ("kind", kind),
                    ("method", "email"),
                    ("contact", "recalls@freshmart.example"),
                ],
            )
            .await;
        assert_redirect(&response, &location);
    }
    // FreshMart got 200 of pallet 1: it reports 50 destroyed and 100 held; 300 would be too many.
    let first = pallets(&app).await.remove(0);
    let first_id = id_of_lot(&app, &first).await;
    let line = format!("{freshmart}|{first_id}");
    let response = app.submit(&location, "#accounting-form", &[("line", &line), ("destroyed", "300")]).await;
    assert_field_error(response, "held", "at most 200").await;
    let response =
        app.submit(&location, "#accounting-form", &[("line", &line), ("destroyed", "50"), ("held", "100")]).await;
    assert_redirect(&response, &location);
    let page = app.page(&location).await;
    assert_eq!(text(&page, "#checked"), "1");
    // 150 of 450 shipped pieces are accounted for.
    assert!(text(&page, "#effectiveness").starts_with("Overall: 33.3 % of 450"), "{}", text(&page, "#effectiveness"));

    // The notice list: one row per customer and lot, with what is accounted.
    let notices = app.get(&format!("{location}/notices.csv")).await.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(notices.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 3);
    let fm = rows.iter().find(|r| &r[1] == "FRESHMART").unwrap();
    assert_eq!((&fm[9], &fm[11], &fm[12], &fm[13], &fm[15], &fm[16]), ("200", "50", "100", "50", "yes", "yes"));

    // Widening to lot-level is signed and keeps the first scope on record.
    let response = app
        .submit(
            &location,
            "#widen-form",
            &[("reason", "Regulator asked for every link"), ("signer", "tester"), ("password", PASSWORD)],
        )
        .await;
    assert_redirect(&response, &location);
    let page = app.page(&location).await;
    assert_eq!(texts(&page, "#scope-history li").len(), 2);
    assert_eq!(text(&page, "#scope-mode"), "lot-level");
    assert!(texts(&page, "#widen-form").is_empty());

    // Nothing changed since: the comparison says so.
    let page = app.page(&format!("{location}?compare=1")).await;
    assert!(text(&page, "#no-changes").starts_with("Nothing changed"));

    // Closing: signed, at the check level (B, 25 % of 3 consignees: 1, and FreshMart is checked);
    // holds lifted where no stock is left, lots with stock stay recalled; the case read-only.
    assert!(texts(&page, "#close-shortfall").is_empty());
    let response = app
        .submit(
            &location,
            "#close-form",
            &[("summary", "All product accounted for."), ("signer", "tester"), ("password", "wrong")],
        )
        .await;
    assert_field_error(response, "close_password", "not right").await;
    let response = app
        .submit(
            &location,
            "#close-form",
            &[("summary", "All product accounted for."), ("signer", "tester"), ("password", PASSWORD)],
        )
        .await;
    assert_redirect(&response, &location);
    let page = app.page(&location).await;
    assert_eq!(text(&page, "#recall-status"), "closed");
    assert!(texts(&page, "#close-form").is_empty());
    let (open_recall_holds, qa_holds): (i64, i64) = sqlx::query_as(
        "select count(*) filter (where source = 'recall' and closed_at is null), count(*) filter (where source = 'qa' and closed_at is null) from lot_holds",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(qa_holds, 0);
    let with_stock: i64 = sqlx::query_scalar(
        "select count(distinct r.lot_id) from recall_lots r join on_hand o on o.lot_id = r.lot_id and o.quantity > 0 where r.recall_id = $1::uuid",
    )
    .bind(&recall_id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!(with_stock > 0);
    assert_eq!(open_recall_holds, with_stock, "lots still in our hands stay recalled");
    assert_eq!(texts(&page, "#decision-form input[name=lot_id]").len() as i64, with_stock);
    let response = app
        .post_form(&format!("{location}/notices"), &[("party_id", &freshmart), ("kind", "notice"), ("method", "email")])
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let audit: Vec<String> =
        sqlx::query_scalar("select action from audit_log where entity_type = 'recall' order by id")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        audit,
        [
            "open_recall",
            "recall_notice",
            "recall_acknowledgement",
            "recall_accounting",
            "widen_recall",
            "signature_failed",
            "close_recall"
        ]
    );
}

/// Opens a mock recall on a lot through the form; returns the recall's id.
pub async fn open_mock(app: &TestApp, lot_id: &str) -> String {
    let location = assert_redirect(&open(app, lot_id, &[("kind", "mock")]).await, "/recalls/");
    location.trim_start_matches("/recalls/").to_string()
}

pub async fn id_of_lot(app: &TestApp, code: &str) -> String {
    sqlx::query_scalar("select id::text from lots where code = $1").bind(code).fetch_one(&app.pool).await.unwrap()
}

#[tokio::test]
async fn a_suppliers_recall_finds_our_lots_received_as_its_lot() {
    let app = demo_app().await;
    let supplier = id_of(&app, "parties", "PRAIRIE-MILL").await;
    let page = "/recalls/new";
    let response = app
        .submit(
            page,
            "#recall-form",
            &[
                ("kind", "mock"),
                ("reason", "Supplier notice"),
                ("supplier_id", &supplier),
                ("supplier_lot", "PM-99"),
                ("signer", "tester"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_field_error(response, "supplier_lot", "No lot of ours was received from this supplier as lot “PM-99”").await;
    assert_eq!(app.count("recalls").await, 0);
    let response = app
        .submit(
            page,
            "#recall-form",
            &[
                ("kind", "mock"),
                ("reason", "Supplier notice"),
                ("supplier_id", &supplier),
                ("supplier_lot", "pm-24-1181"),
                ("signer", "tester"),
                ("password", PASSWORD),
            ],
        )
        .await;
    let location = assert_redirect(&response, "/recalls/");
    let page = app.page(&location).await;
    let suspects = text(&page, "#suspects");
    let ours: String = sqlx::query_scalar("select code from lots where supplier_lot = 'PM-24-1181'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(suspects, format!("FLOUR-T55 {ours}"));
}

#[tokio::test]
async fn an_opening_with_bad_input_is_refused_with_reasons_and_writes_nothing() {
    let app = demo_app().await;
    let (flour_id, _) = used_flour(&app).await;
    let page = app.page(&format!("/recalls/new?lot={flour_id}")).await;
    assert!(!value(&page, "input[name=idempotency_key]").is_empty());
    // A real recall needs a class; a class I recall never scopes out.
    let response = open(&app, &flour_id, &[("kind", "real")]).await;
    assert_field_error(response, "class", "A real recall has a class").await;
    let response = open(
        &app,
        &flour_id,
        &[("kind", "real"), ("class", "I"), ("threshold", "0.5"), ("threshold_reason", "trace amounts")],
    )
    .await;
    assert_field_error(response, "threshold", "never scoped out of a class I recall").await;
    let response = open(&app, &flour_id, &[("kind", "real"), ("class", "II"), ("threshold", "0.5")]).await;
    assert_field_error(response, "threshold_reason", "Give the reason").await;
    let response =
        open(&app, &flour_id, &[("kind", "real"), ("class", "II"), ("signer", "tester"), ("password", "wrong")]).await;
    assert_field_error(response, "password", "not right").await;
    let response = app
        .submit(
            "/recalls/new",
            "#recall-form",
            &[("kind", "mock"), ("reason", "x"), ("lots", "NOPE-1"), ("signer", "tester"), ("password", PASSWORD)],
        )
        .await;
    assert_field_error(response, "lots", "no lot has the code “NOPE-1”").await;
    assert_eq!(app.count("recalls").await, 0);
    assert_eq!(app.count("lot_holds").await, 0);
    assert_eq!(app.count("signatures where entity_type = 'recall'").await, 0);

    // A threshold scopes out the lots with less suspect material, lists them and holds the rest.
    let response = open(
        &app,
        &flour_id,
        &[
            ("kind", "real"),
            ("class", "II"),
            ("threshold", "99"),
            ("threshold_reason", "Only the flour itself is at issue"),
        ],
    )
    .await;
    let location = assert_redirect(&response, "/recalls/");
    let page = app.page(&location).await;
    assert_eq!(text(&page, "[data-count=excluded]"), "3");
    assert_eq!(texts(&page, "#excluded-lots tbody tr").len(), 3);
    assert_eq!(app.count("lot_holds").await, 1, "only the flour lot is held");
    assert_eq!(
        app.count("signatures where entity_type = 'recall'").await,
        2,
        "the opening and the threshold are signed"
    );
}

#[tokio::test]
async fn a_shipment_checked_before_a_recall_commits_waits_at_the_gate_and_is_refused_after_it() {
    let app = demo_app().await;
    let pallet = pallets(&app).await.remove(1);
    let pallet_id = id_of_lot(&app, &pallet).await;
    // A recall opening in progress: it holds the gate and has placed its hold, not yet committed.
    let mut recall = app.pool.begin().await.unwrap();
    sqlx::query("select pg_advisory_xact_lock(7201)").execute(&mut *recall).await.unwrap();
    sqlx::query("insert into lot_holds (lot_id, source, reason) values ($1::uuid, 'manual', 'recall in progress')")
        .bind(&pallet_id)
        .execute(&mut *recall)
        .await
        .unwrap();
    // The shipment's own check sees no hold yet; its insert must wait for the gate.
    let customer = id_of(&app, "parties", "FRESHMART").await;
    let site = id_of(&app, "sites", "RVS").await;
    let key = uuid::Uuid::new_v4().to_string();
    let fields = [
        ("customer_id", customer.as_str()),
        ("site_id", site.as_str()),
        ("idempotency_key", key.as_str()),
        ("lot", pallet.as_str()),
        ("quantity", "10"),
        ("location_id", ""),
    ];
    let shipping = app.post_form("/shipments", &fields);
    tokio::pin!(shipping);
    let early = tokio::time::timeout(std::time::Duration::from_millis(500), &mut shipping).await;
    assert!(early.is_err(), "the shipment waits while the recall holds the gate");
    recall.commit().await.unwrap();
    let response = shipping.await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert!(response.text().await.unwrap().contains("is on hold"));
    let shipped: i64 = sqlx::query_scalar("select count(*) from shipment_lines where lot_id = $1::uuid")
        .bind(&pallet_id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(shipped, 1, "only the demo's own shipment of that pallet");
}
