//! Journeys in a real browser: Debian's Chromium driven through chromedriver (WebDriver), against
//! the real server. Each asserts what the user sees; the main pages are saved as screenshots
//! under target/screenshots.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::helpers::{PASSWORD, TestApp};
use crate::recalls::demo_app;

/// A browser session and the chromedriver it runs in (stopped on drop).
struct Browser {
    client: Client,
    driver: Child,
    base: String,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

async fn browser(app: &TestApp) -> Browser {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let driver = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver (Debian's chromium-driver) is installed by the test command");
    let url = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut options = json!({
        "args": ["--headless", "--no-sandbox", "--disable-dev-shm-usage", "--disable-background-networking", "--window-size=1280,1000"]
    });
    if std::path::Path::new("/usr/lib/chromium/chromium").exists() {
        options["binary"] = json!("/usr/lib/chromium/chromium");
    }
    let mut caps = serde_json::Map::new();
    caps.insert("goog:chromeOptions".into(), options);
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&url)
        .await
        .expect("a Chromium session");
    Browser { client, driver, base: app.url("") }
}

impl Browser {
    async fn go(&self, path: &str) {
        self.client.goto(&format!("{}{path}", self.base)).await.unwrap();
    }

    async fn text(&self, css: &str) -> String {
        self.client
            .wait()
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .text()
            .await
            .unwrap()
    }

    async fn fill(&self, css: &str, value: &str) {
        let e = self.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}"));
        e.clear().await.unwrap();
        e.send_keys(value).await.unwrap();
    }

    async fn choose(&self, css: &str, value: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .select_by_value(value)
            .await
            .unwrap();
    }

    /// Clicks the form's submit button and waits for the next page to load (a new document: the
    /// mark set on the old one is gone).
    async fn submit(&self, form: &str) {
        self.client.execute("window.lotlineOldPage = true", vec![]).await.unwrap();
        let button = self.client.find(Locator::Css(&format!("{form} button[type=submit]"))).await.unwrap();
        button.click().await.unwrap();
        self.new_page(form).await;
    }

    /// Waits for the next page to load after `window.lotlineOldPage` was set on this one.
    async fn new_page(&self, what: &str) {
        for _ in 0..200 {
            let loaded = self
                .client
                .execute("return !window.lotlineOldPage && document.readyState === 'complete'", vec![])
                .await
                .ok()
                .and_then(|v| v.as_bool())
                .unwrap_or(false);
            if loaded {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("{what}: no new page");
    }

    async fn log_in(&self, username: &str, password: &str) {
        self.go("/login").await;
        self.fill("input[name=username]", username).await;
        self.fill("input[name=password]", password).await;
        self.submit("form").await;
    }

    async fn log_out(&self) {
        self.submit("form.signout").await;
    }

    async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("../screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    async fn nav(&self) -> Vec<String> {
        let mut out = Vec::new();
        for a in self.client.find_all(Locator::Css("header.top nav a")).await.unwrap() {
            out.push(a.text().await.unwrap());
        }
        out
    }
}

async fn id(app: &TestApp, sql: &str, code: &str) -> String {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string())).bind(code).fetch_one(&app.pool).await.unwrap()
}

#[tokio::test]
async fn each_role_signs_in_and_sees_its_own_menu() {
    let app = demo_app().await;
    for (user, role) in [("olga", "operator"), ("quentin", "qa"), ("ada", "admin")] {
        app.create_user(user, &[role]).await;
    }
    let b = browser(&app).await;
    for (user, sees, not) in [
        ("olga", vec!["Lots", "Receiving", "Production", "Shipping"], vec!["Audit trail", "Users"]),
        ("quentin", vec!["Lots", "Recalls", "Audit trail"], vec!["Users", "Lot-number rules"]),
        ("ada", vec!["Users", "Lot-number rules", "Audit trail"], vec![]),
    ] {
        b.log_in(user, PASSWORD).await;
        assert!(b.text("#who").await.starts_with(user), "{user} is signed in");
        let nav = b.nav().await;
        for item in sees {
            assert!(nav.iter().any(|n| n == item), "{user} sees {item}: {nav:?}");
        }
        for item in not {
            assert!(!nav.iter().any(|n| n == item), "{user} does not see {item}: {nav:?}");
        }
        if user == "quentin" {
            b.go("/").await;
            b.screenshot("dashboard").await;
        }
        b.log_out().await;
        assert_eq!(b.client.current_url().await.unwrap().path(), "/login");
    }
    b.client.clone().close().await.unwrap();
}

#[tokio::test]
async fn receive_release_produce_ship_trace_scan_and_recall_in_the_browser() {
    let app = demo_app().await;
    let b = browser(&app).await;
    b.log_in("tester", PASSWORD).await;

    // Receive two lots (sugar and salt) on one receipt.
    let supplier = id(&app, "select id::text from parties where code = $1", "SWEETCANE").await;
    let site = id(&app, "select id::text from sites where code = $1", "RVS").await;
    let dock = id(&app, "select l.id::text from locations l where l.code = $1", "RAW-A").await;
    b.go("/receipts/new").await;
    b.choose("#f-supplier_id", &supplier).await;
    b.choose("#f-site_id", &site).await;
    for (i, (material, quantity)) in [("SUGAR", "50"), ("SALT", "20")].iter().enumerate() {
        let m = id(&app, "select id::text from materials where code = $1", material).await;
        b.choose(&format!("#material-{i}"), &m).await;
        b.fill(&format!("#quantity-{i}"), quantity).await;
        b.choose(&format!("#location-{i}"), &dock).await;
    }
    b.submit("#receipt-form").await;
    assert!(b.text(".flash").await.starts_with("Received: lot"));
    b.screenshot("receipt").await;
    let received: Vec<(String, String)> = sqlx::query_as(
        "select l.id::text, l.code from lots l join receipt_lines rl on rl.lot_id = l.id
          where rl.receipt_id = (select id from receipts order by created_at desc limit 1) order by rl.line_no",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(received.len(), 2);
    // Release both, signed.
    for (lot_id, _) in &received {
        b.go(&format!("/lots/{lot_id}")).await;
        // A material that needs no incoming QA arrives released.
        if !b.client.find_all(Locator::Css("#release-form")).await.unwrap().is_empty() {
            b.fill("#release-form input[name=signer]", "tester").await;
            b.fill("#release-form input[name=password]", PASSWORD).await;
            b.submit("#release-form").await;
        }
        assert!(b.text("h1 .badge").await.contains("released"));
    }
    // A run of dough consumes both and makes a lot.
    let dough = id(&app, "select id::text from materials where code = $1", "DOUGH-BR").await;
    b.go("/runs/new").await;
    b.choose("select[name=output_material_id]", &dough).await;
    b.choose("select[name=site_id]", &site).await;
    b.submit("#run-form").await;
    for (_, code) in &received {
        b.fill("#input-form input[name=lot]", code).await;
        b.fill("#input-form input[name=quantity]", "10").await;
        b.submit("#input-form").await;
    }
    let line = id(&app, "select id::text from locations where code = $1", "LINE-1").await;
    b.fill("#output-form input[name=output_quantity]", "20").await;
    b.choose("#output-form select[name=location_id]", &line).await;
    b.submit("#output-form").await;
    let made = b.text("#outputs tbody td:first-child").await;
    b.screenshot("production-run").await;
    // Ship part of it.
    let customer = id(&app, "select id::text from parties where code = $1", "FRESHMART").await;
    b.go("/shipments/new").await;
    b.choose("#f-customer_id", &customer).await;
    b.choose("#f-site_id", &site).await;
    b.fill("#lot-0", &made).await;
    b.fill("#qty-0", "5").await;
    b.submit("#shipment-form").await;
    assert!(b.text("h1").await.starts_with("Packing list SHP-"));

    // Open the trace from the search box, by typing the sugar's code...
    let first = &received[0].1;
    b.fill("#site-search", first).await;
    b.submit("form.search").await;
    assert!(b.text("h1").await.contains(first.as_str()));
    b.client.find(Locator::LinkText("where used")).await.unwrap().click().await.unwrap();
    assert!(b.text("#trace-lots").await.contains(&made));
    assert!(b.text("#trace-shipments").await.contains("FreshMart Stores"));
    b.screenshot("trace").await;
    // ...and by scanning a pack's GS1 barcode (one of the brioche pallets).
    let (pallet_id, pallet): (String, String) = sqlx::query_as(
        "select l.id::text, l.code from lots l join materials m on m.id = l.material_id where m.code = 'BRIOCHE-400' order by l.code limit 1",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    // ]d2, then (01) GTIN and (17) expiry, fixed length, then (10) the lot, last: no separator.
    b.fill("#site-search", &format!("]d2{}{}10{pallet}", "0100614141004010", "17261231")).await;
    b.submit("form.search").await;
    assert_eq!(b.client.current_url().await.unwrap().path(), format!("/lots/{pallet_id}"));

    // A real recall on the sugar: its report printed to PDF by the browser holds the number,
    // the lots and the customer.
    b.go(&format!("/recalls/new?lot={}", received[0].0)).await;
    b.client.find(Locator::Css("#kind-real")).await.unwrap().click().await.unwrap();
    b.choose("#f-class", "II").await;
    b.fill("#f-reason", "Glass fragments reported").await;
    b.fill("#f-signer", "tester").await;
    b.fill("#f-password", PASSWORD).await;
    b.submit("#recall-form").await;
    let number = b.text("#recall-number").await;
    assert!(number.starts_with("RC-"));
    b.screenshot("recall").await;
    b.client.find(Locator::Css("#report-link")).await.unwrap().click().await.unwrap();
    b.text("#recall-number").await;
    let pdf = b.client.print(fantoccini::wd::PrintConfiguration::default()).await.unwrap();
    let file = std::env::temp_dir().join(format!("lotline-browser-{}.pdf", uuid::Uuid::new_v4()));
    std::fs::write(&file, &pdf).unwrap();
    let text = Command::new("pdftotext").arg("-layout").arg(&file).arg("-").output().unwrap();
    std::fs::remove_file(&file).unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains(&number), "the PDF names the recall");
    assert!(text.contains(&made) && text.contains(received[0].1.as_str()), "the PDF lists the lots");
    assert!(text.contains("FreshMart Stores"), "the PDF lists the customer");
    b.client.clone().close().await.unwrap();
}

#[tokio::test]
async fn a_double_click_the_back_button_and_two_users_on_one_record_make_no_duplicates_and_lose_no_update() {
    let app = demo_app().await;
    app.create_user("bea", &["admin"]).await;
    let b = browser(&app).await;
    b.log_in("tester", PASSWORD).await;
    let receipts = app.count("receipts").await;

    // A receipt form clicked twice in a row: one receipt.
    let supplier = id(&app, "select id::text from parties where code = $1", "SWEETCANE").await;
    let site = id(&app, "select id::text from sites where code = $1", "RVS").await;
    let dock = id(&app, "select l.id::text from locations l where l.code = $1", "RAW-A").await;
    let sugar = id(&app, "select id::text from materials where code = $1", "SUGAR").await;
    b.go("/receipts/new").await;
    b.choose("#f-supplier_id", &supplier).await;
    b.choose("#f-site_id", &site).await;
    b.choose("#material-0", &sugar).await;
    b.fill("#quantity-0", "50").await;
    b.choose("#location-0", &dock).await;
    b.client.execute("window.lotlineOldPage = true", vec![]).await.unwrap();
    let button = b.client.find(Locator::Css("#receipt-form button[type=submit]")).await.unwrap();
    button.click().await.unwrap();
    // The second click lands on a disabled button, or on the page that follows.
    let _ = button.click().await;
    assert!(b.text(".flash").await.starts_with("Received: lot"));
    let receipt = b.client.current_url().await.unwrap();
    assert!(receipt.path().starts_with("/receipts/"), "{receipt}");
    assert_eq!(app.count("receipts").await, receipts + 1, "one receipt for two clicks");

    // Back to the form: the browser shows it as it was, and sending it again leads to the
    // receipt it recorded the first time, saying so. Nothing new is received.
    b.client.back().await.unwrap();
    assert_eq!(b.client.current_url().await.unwrap().path(), "/receipts/new");
    b.submit("#receipt-form").await;
    assert_eq!(b.client.current_url().await.unwrap(), receipt, "the same receipt");
    assert!(b.text(".flash").await.starts_with("This form was sent before"));
    assert_eq!(app.count("receipts").await, receipts + 1, "no second receipt");

    // Two administrators edit one material at once: the first save wins, the second is refused
    // with a message and the current values, and nothing of it is written.
    let other = browser(&app).await;
    other.log_in("bea", PASSWORD).await;
    let salt = id(&app, "select id::text from materials where code = $1", "SALT").await;
    let edit = format!("/materials/{salt}/edit");
    b.go(&edit).await;
    other.go(&edit).await;
    b.fill("#f-name", "Salt, fine (tester)").await;
    other.fill("#f-name", "Salt, coarse (bea)").await;
    b.submit("form.record-form").await;
    assert_eq!(b.client.current_url().await.unwrap().path(), format!("/materials/{salt}"));
    other.submit("form.record-form").await;
    assert!(other.text(".flash").await.starts_with("Someone else changed this record"));
    let shown = other.client.find(Locator::Css("#f-name")).await.unwrap().prop("value").await.unwrap();
    assert_eq!(shown.as_deref(), Some("Salt, fine (tester)"), "the form now shows the current values");
    other.screenshot("edit-conflict").await;
    let name: String =
        sqlx::query_scalar("select name from materials where code = 'SALT'").fetch_one(&app.pool).await.unwrap();
    assert_eq!(name, "Salt, fine (tester)");
    other.client.clone().close().await.unwrap();
    b.client.clone().close().await.unwrap();
}

#[tokio::test]
async fn a_refusal_on_a_tablet_is_in_view_at_the_top_with_the_focus_on_its_field() {
    let app = demo_app().await;
    let b = browser(&app).await;
    b.client.set_window_size(800, 1280).await.unwrap();
    b.log_in("tester", PASSWORD).await;
    let (lot, to): (String, String) = sqlx::query_as(
        "select l.id::text, (select c.id::text from locations c where c.site_id = o_loc.site_id and c.id <> o.location_id
                              and c.kind = 'storage' order by c.code limit 1)
           from lots l join on_hand o on o.lot_id = l.id join locations o_loc on o_loc.id = o.location_id
          where o.quantity > 0 and l.disposition = 'released' order by l.code limit 1",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    b.go(&format!("/lots/{lot}")).await;
    b.choose("#transfer-to", &to).await;
    b.fill("#f-transfer_quantity", "999999").await;
    b.submit("#transfer-form").await;
    let banner = b.text("#refusal").await;
    assert!(banner.contains("Only ") && banner.contains("cannot be taken"), "{banner}");
    // The banner stays at the top of the screen while the refused field, focused, is brought into view.
    let seen = b
        .client
        .execute(
            "const inView = (e) => { const r = e.getBoundingClientRect(); return r.top >= 0 && r.bottom <= window.innerHeight; };
             return [inView(document.getElementById('refusal')), inView(document.activeElement), document.activeElement.id];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(seen[2], "f-transfer_quantity", "the refused field has the focus");
    assert_eq!(seen[0], true, "the banner is in view");
    assert_eq!(seen[1], true, "the field is in view");
    b.screenshot("refusal-on-a-tablet").await;

    // Scrap asks in a dialog; accepted, it is done without a page of its own.
    b.fill("#f-scrap_quantity", "1").await;
    b.fill("#f-scrap_reason", "Torn bag").await;
    b.client.execute("window.lotlineOldPage = true", vec![]).await.unwrap();
    b.client.find(Locator::Css("#scrap-form button[type=submit]")).await.unwrap().click().await.unwrap();
    let question = b.client.get_alert_text().await.unwrap();
    assert!(question.starts_with("Scrap this stock?"), "{question}");
    b.client.accept_alert().await.unwrap();
    b.new_page("the form").await;
    assert_eq!(b.text(".flash").await, "Stock scrapped.");
}

#[tokio::test]
async fn a_scanner_fills_a_run_input_and_a_shipment_line_by_line_without_a_glued_or_half_posted_scan() {
    const ENTER: &str = "\u{E007}";
    let app = demo_app().await;
    let b = browser(&app).await;
    b.client.set_window_size(1024, 768).await.unwrap();
    b.log_in("tester", PASSWORD).await;
    let (salt, salt_at): (String, String) = sqlx::query_as(
        "select l.code, o.location_id::text from lots l join materials m on m.id = l.material_id join on_hand o on o.lot_id = l.id
          where m.code = 'SALT' and l.disposition = 'released' and o.quantity >= 5 order by l.code limit 1",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let _ = salt_at;
    let site = id(&app, "select id::text from sites where code = $1", "RVS").await;
    let dough = id(&app, "select id::text from materials where code = $1", "DOUGH-BR").await;
    b.go("/runs/new").await;
    b.choose("select[name=output_material_id]", &dough).await;
    b.choose("select[name=site_id]", &site).await;
    b.submit("#run-form").await;
    let run_url = b.client.current_url().await.unwrap().to_string();
    // The scan ends with Enter: the quantity takes the focus, nothing is posted.
    let lot_box = b.client.find(Locator::Css("#f-lot")).await.unwrap();
    lot_box.send_keys(&format!("{salt}{ENTER}")).await.unwrap();
    let focused = b.client.execute("return document.activeElement.id", vec![]).await.unwrap();
    assert_eq!(focused, "f-quantity");
    assert_eq!(b.client.current_url().await.unwrap().to_string(), run_url, "nothing was posted");
    assert!(b.client.find(Locator::Css("#refusal")).await.is_err(), "no refusal");
    // The quantity and Enter post the input; the lot box is empty and ready for the next scan.
    b.client.execute("window.lotlineOldPage = true", vec![]).await.unwrap();
    b.client.find(Locator::Css("#f-quantity")).await.unwrap().send_keys(&format!("2{ENTER}")).await.unwrap();
    b.new_page("the form").await;
    assert!(b.text("#inputs tbody").await.contains(&salt));
    let state = b
        .client
        .execute("return [document.activeElement.id, document.getElementById('f-lot').value]", vec![])
        .await
        .unwrap();
    assert_eq!(state, json!(["f-lot", ""]));

    // On a shipment, a scanned lot moves to its quantity, and a quantity to the next line's lot.
    b.go("/shipments/new").await;
    b.client.find(Locator::Css("#lot-0")).await.unwrap().send_keys(&format!("{salt}{ENTER}")).await.unwrap();
    assert_eq!(b.client.execute("return document.activeElement.id", vec![]).await.unwrap(), "qty-0");
    b.client.find(Locator::Css("#qty-0")).await.unwrap().send_keys(&format!("1{ENTER}")).await.unwrap();
    assert_eq!(b.client.execute("return document.activeElement.id", vec![]).await.unwrap(), "lot-1");
    assert!(b.client.current_url().await.unwrap().path().ends_with("/shipments/new"), "nothing was shipped");
}
