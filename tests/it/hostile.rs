//! Hostile input is ordinary input: control characters, huge numbers, unknown ids, names that
//! would run as spreadsheet formulas, off-site redirects — each refused with a clear 4xx or made
//! harmless, nothing written; and a bounded fuzz pass over the public and searchable pages.

use reqwest::header::{CACHE_CONTROL, LOCATION};

use crate::helpers::{TestApp, assert_field_error, assert_redirect, new_client};
use crate::recalls::demo_app;

/// Writes nothing: the tables a refused request could have touched keep their counts.
async fn counts(app: &TestApp) -> Vec<i64> {
    let mut out = Vec::new();
    for table in ["materials", "parties", "lots", "stock_movements", "lookup_counts"] {
        out.push(app.count(table).await);
    }
    out
}

#[tokio::test]
async fn nul_bytes_huge_pages_unknown_ids_and_long_names_get_a_4xx_and_write_nothing() {
    let app = demo_app().await;
    let before = counts(&app).await;
    let lot: String = sqlx::query_scalar(
        "select l.id::text from lots l join on_hand o on o.lot_id = l.id where o.quantity > 1 order by l.code limit 1",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    for path in [
        "/check?product=BRIOCHE-400&lot=a%00b",
        "/search?q=a%00b",
        "/lots?q=%00",
        "/lots?page=9223372036854775807",
        "/api/v1/lots?page=9223372036854775807",
        "/api/v1/lots?q=a%00",
        "/trace?lot=%00&direction=forward",
    ] {
        let status = app.get(path).await.status();
        assert!(status.is_success() || status.is_client_error(), "{path}: {status}");
    }
    // Form fields: a control character is refused beside its field; a NUL too.
    for name in ["Flour\u{0}x", "Flour\u{7}", "Flour \u{202E}evil"] {
        let response = app
            .submit(
                "/materials/new",
                "main form.record-form",
                &[("code", "HOSTILE"), ("name", name), ("kind", "raw"), ("uom", "kg"), ("expiry_policy", "none")],
            )
            .await;
        assert_field_error(response, "name", "control character").await;
    }
    // An unknown location in a transfer, an adjustment or a split.
    let nobody = uuid::Uuid::new_v4().to_string();
    for (action, fields) in [
        (
            "transfer",
            vec![("from_location", nobody.as_str()), ("to_location", nobody.as_str()), ("transfer_quantity", "1")],
        ),
        (
            "adjust",
            vec![
                ("from_location", nobody.as_str()),
                ("adjust_quantity", "1"),
                ("direction", "add"),
                ("adjust_reason", "x"),
            ],
        ),
        ("split", vec![("split_from", nobody.as_str()), ("split_quantity", "1"), ("split_to", nobody.as_str())]),
    ] {
        let status = app.post_form(&format!("/lots/{lot}/{action}"), &fields).await.status();
        assert!(status.is_client_error(), "{action}: {status}");
    }
    // A user name of 9 KB.
    let long = "a".repeat(9000);
    let page = new_client().get(app.url("/login")).send().await.unwrap().text().await.unwrap();
    let token = crate::helpers::value(&scraper::Html::parse_document(&page), "input[name=login_token]");
    let response = app
        .client
        .post(app.url("/login"))
        .form(&[("username", long.as_str()), ("password", "x"), ("login_token", &token)])
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error(), "{}", response.status());
    assert_eq!(counts(&app).await, before, "nothing was written");
}

#[tokio::test]
async fn a_name_that_would_run_as_a_formula_is_inert_in_every_csv() {
    let app = demo_app().await;
    sqlx::query("update parties set name = '=HYPERLINK(\"http://evil.example\",\"Click\")' where code = 'FRESHMART'")
        .execute(&app.pool)
        .await
        .unwrap();
    let body = app.get("/shipments?format=csv").await.text().await.unwrap();
    assert!(body.contains("'=HYPERLINK"), "{body}");
    assert!(!body.lines().any(|l| l.split(',').any(|cell| cell.trim_start_matches('"').starts_with("=HYPERLINK"))));
    let flour: String = sqlx::query_scalar(
        "select distinct l.id::text from lots l join materials m on m.id = l.material_id join stock_movements s on s.lot_id = l.id
          where m.code = 'FLOUR-T55' and s.kind = 'consume'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let trace = app.get(&format!("/trace?lot={flour}&direction=forward&format=csv")).await.text().await.unwrap();
    assert!(trace.contains("'=HYPERLINK"), "{trace}");
}

#[tokio::test]
async fn a_login_only_ever_leads_to_a_path_on_this_site_and_signed_in_pages_are_not_cached() {
    let app = demo_app().await;
    for next in ["/%09/evil.example/", "//evil.example/", "/\\evil.example", "https://evil.example/", "/%20/evil"] {
        let client = new_client();
        let page = client.get(app.url(&format!("/login?next={next}"))).send().await.unwrap().text().await.unwrap();
        let html = scraper::Html::parse_document(&page);
        let kept = crate::helpers::value(&html, "input[name=next]");
        assert_eq!(kept, "/", "{next}");
    }
    let response = app.get("/lots").await;
    assert_eq!(response.headers()[CACHE_CONTROL], "no-store");
    let https = app.client.get(app.url("/lots")).header("x-forwarded-proto", "https").send().await.unwrap();
    assert!(https.headers()["strict-transport-security"].to_str().unwrap().starts_with("max-age="));
    // Over https every cookie is Secure, the flash message's too.
    let flashed = app
        .client
        .post(app.url("/materials"))
        .header("x-forwarded-proto", "https")
        .form(&[
            ("csrf_token", app.csrf.as_str()),
            ("code", "HTTPS-1"),
            ("name", "Over TLS"),
            ("kind", "raw"),
            ("uom", "kg"),
            ("expiry_policy", "none"),
            ("idempotency_key", &uuid::Uuid::new_v4().to_string()),
        ])
        .send()
        .await
        .unwrap();
    let cookies: Vec<&str> = flashed.headers().get_all("set-cookie").iter().map(|c| c.to_str().unwrap()).collect();
    assert!(
        !cookies.is_empty() && cookies.iter().all(|c| c.ends_with("; Secure") || c.contains("; Secure;")),
        "{cookies:?}"
    );
    let anonymous = new_client().get(app.url("/check")).send().await.unwrap();
    assert!(anonymous.headers().get("strict-transport-security").is_none());
    let signed_out = new_client().get(app.url("/lots")).send().await.unwrap();
    assert_redirect(&signed_out, "/login");
    assert!(signed_out.headers()[LOCATION].to_str().unwrap().starts_with("/login"));
}

/// A small deterministic generator of hostile strings: control characters, NULs, overrides,
/// quotes, SQL and HTML fragments, percent escapes, very long runs, and mixtures of them.
fn hostile_inputs(n: usize) -> Vec<String> {
    let atoms = [
        "\u{0}",
        "\u{1}",
        "\u{1d}",
        "\u{7f}",
        "\u{202e}",
        "\u{2066}",
        "'",
        "\"",
        "\\",
        "%",
        "%00",
        "%ff",
        "_",
        ";",
        "--",
        "/*",
        "<script>",
        "&amp;",
        "{{",
        "}}",
        "\r\n",
        "\t",
        "é",
        "日本",
        "🙂",
        "=1+1",
        "@SUM",
        "01",
        "10",
        "(01)09506000134352(10)",
        " ",
        "..",
        "/",
        "?",
        "#",
        "0",
        "-1",
        "9223372036854775808",
        "1e309",
        "NaN",
    ];
    let mut seed: u64 = 0x5eed;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    (0..n)
        .map(|i| {
            if i % 97 == 0 {
                return "x".repeat(5000 + i);
            }
            let len = 1 + (next() % 6) as usize;
            (0..len).map(|_| atoms[(next() % atoms.len() as u64) as usize]).collect()
        })
        .collect()
}

#[tokio::test]
async fn a_bounded_fuzz_pass_over_search_the_public_check_the_digital_link_and_a_form_never_answers_5xx() {
    let app = demo_app().await;
    let before = counts(&app).await;
    let encode = |s: &str| lotline::domain::text::percent_encode(s);
    let inputs = hostile_inputs(400);
    let mut tried = 0;
    for input in &inputs {
        let e = encode(input);
        for path in [
            format!("/search?q={e}"),
            format!("/lots?q={e}&page={e}"),
            format!("/api/v1/lots?q={e}"),
            format!("/01/09506000134352/10/{e}"),
        ] {
            let status = app.get(&path).await.status();
            assert!(!status.is_server_error(), "{path}: {status}");
            tried += 1;
        }
        let status =
            app.post_form("/parties", &[("code", input), ("name", input), ("kind", "customer")]).await.status();
        assert!(!status.is_server_error(), "party {input:?}: {status}");
        tried += 1;
    }
    // The public check counts lookups per address: a few hundred stay under its own limit test.
    for input in inputs.iter().take(25) {
        let status = new_client()
            .get(app.url(&format!("/check?product=BRIOCHE-400&lot={}", encode(input))))
            .send()
            .await
            .unwrap()
            .status();
        assert!(!status.is_server_error(), "/check {input:?}: {status}");
        tried += 1;
    }
    assert!(tried > 2000, "{tried}");
    let after = counts(&app).await;
    assert_eq!(after[0], before[0], "no material");
    assert_eq!(after[2..4], before[2..4], "no lot, no movement");
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = crate::helpers::spawn_anonymous().await;
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: lotline\r\n").await.unwrap();
    let started = std::time::Instant::now();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(std::time::Duration::from_secs(30), stream.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the server closed the connection");
    let waited = started.elapsed();
    assert!(waited >= lotline::app::HEADER_READ_TIMEOUT - std::time::Duration::from_secs(1), "{waited:?}");
    assert!(waited < lotline::app::HEADER_READ_TIMEOUT + std::time::Duration::from_secs(5), "{waited:?}");
}
