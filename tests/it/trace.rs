//! Traces with known answers, in both modes: a tank topped up after a draw, a diamond, a cycle,
//! a lot with no links; and the same answer from the page, the API, the CLI and CSV.

use std::collections::BTreeSet;

use crate::helpers::{PASSWORD, TestApp, assert_redirect, sel, text, texts};
use crate::rules::{id_of, receive, received_code};

async fn plant() -> TestApp {
    crate::helpers::spawn_demo(crate::helpers::Demo::Master).await
}

async fn lot_id(app: &TestApp, code: &str) -> String {
    sqlx::query_scalar("select id::text from lots where code = $1").bind(code).fetch_one(&app.pool).await.unwrap()
}

async fn released(app: &TestApp, material: &str, quantity: &str) -> String {
    let code = received_code(app, receive(app, material, quantity, "2026-11-02").await).await;
    let page = format!("/lots/{}", lot_id(app, &code).await);
    if !texts(&app.page(&page).await, "#release-form").is_empty() {
        assert_redirect(
            &app.submit(&page, "#release-form", &[("signer", "tester"), ("password", PASSWORD)]).await,
            &page,
        );
    }
    code
}

/// `lotline ARGS` on the app's database: the CLI, which reads the database alone (no link index).
/// Panics unless it succeeds; returns what it printed.
async fn cli(app: &TestApp, args: &[&str]) -> String {
    let out = std::process::Command::new(crate::embedded::BIN)
        .args(args)
        .env("DATABASE_URL", crate::helpers::database_url(&app.database_name().await))
        .env("LOTLINE_LOG", "warn")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Flour and sugar mixed into 100 kg of dough (60 % flour), 10 kg of which made 5 gift kits, a
/// material counted in each with no mass per unit: returns the flour, dough and kit lots.
async fn flour_dough_kit(app: &TestApp) -> (String, String, String) {
    let flour = released(app, "FLOUR-T55", "100").await;
    let sugar = released(app, "SUGAR", "100").await;
    let dough = run(app, "DOUGH-BR", &[(&flour, "60"), (&sugar, "40")], &[("100", "")]).await.remove(0);
    sqlx::query("insert into materials (code, name, kind, uom, expiry_policy) values ('KIT', 'Gift kit', 'finished', 'ea', 'none')")
        .execute(&app.pool)
        .await
        .unwrap();
    let kit = run(app, "KIT", &[(&dough, "10")], &[("5", "")]).await.remove(0);
    (flour, dough, kit)
}

/// A run of `material` consuming `inputs` and producing `outputs` (quantity, lot to top up);
/// returns the output lots' codes.
async fn run(app: &TestApp, material: &str, inputs: &[(&str, &str)], outputs: &[(&str, &str)]) -> Vec<String> {
    let m = id_of(app, "materials", material).await;
    let site = id_of(app, "sites", "RVS").await;
    let run = assert_redirect(
        &app.submit("/runs/new", "#run-form", &[("output_material_id", &m), ("site_id", &site)]).await,
        "/runs/",
    );
    let line: String =
        sqlx::query_scalar("select id::text from locations where code = 'LINE-1'").fetch_one(&app.pool).await.unwrap();
    for (lot, q) in inputs {
        assert_redirect(&app.submit(&run, "#input-form", &[("lot", lot), ("quantity", q)]).await, &run);
    }
    for (q, topup) in outputs {
        assert_redirect(
            &app.submit(&run, "#output-form", &[("output_quantity", q), ("location_id", &line), ("topup", topup)])
                .await,
            &run,
        );
    }
    texts(&app.page(&run).await, "#outputs tbody td:first-child")
}

async fn traced(app: &TestApp, code: &str, direction: &str, mode: &str) -> BTreeSet<String> {
    let id = lot_id(app, code).await;
    let page = app.page(&format!("/trace?lot={id}&direction={direction}&mode={mode}")).await;
    texts(&page, "#trace-lots tbody td:nth-child(2)").into_iter().collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn a_tank_topped_up_after_a_draw_carries_the_new_material_only_into_later_draws() {
    let app = plant().await;
    let a = released(&app, "FLOUR-T55", "500").await;
    let tank = run(&app, "DOUGH-BR", &[(&a, "100")], &[("100", "")]).await.remove(0);
    let early = run(&app, "BRIOCHE-400", &[(&tank, "40")], &[("100", "")]).await.remove(0);
    let b = released(&app, "SUGAR", "100").await;
    run(&app, "DOUGH-BR", &[(&tank, "60"), (&b, "20")], &[("80", &tank)]).await;
    let late = run(&app, "BRIOCHE-400", &[(&tank, "40")], &[("100", "")]).await.remove(0);

    assert_eq!(
        traced(&app, &b, "forward", "precise").await,
        set(&[&b, &tank, &late]),
        "the earlier draw cannot hold B"
    );
    assert_eq!(
        traced(&app, &b, "forward", "lot-level").await,
        set(&[&b, &tank, &early, &late]),
        "lot-level includes every link"
    );
    assert_eq!(traced(&app, &a, "forward", "precise").await, set(&[&a, &tank, &early, &late]));
    assert_eq!(traced(&app, &late, "backward", "precise").await, set(&[&late, &tank, &a, &b]));
    assert_eq!(
        traced(&app, &early, "backward", "precise").await,
        set(&[&early, &tank, &a]),
        "B reached the tank after this draw"
    );
    assert_eq!(traced(&app, &early, "backward", "lot-level").await, set(&[&early, &tank, &a, &b]));

    let id = lot_id(&app, &b).await;
    let page = app.page(&format!("/trace?lot={id}&direction=forward&mode=precise")).await;
    assert!(text(&page, "#mode").contains("Mode: precise"));
    assert!(
        text(&page, "#cycles").contains(&format!("{tank} → {tank}")),
        "the top-up is a cycle, and the walk stops there"
    );
}

#[tokio::test]
async fn a_diamond_reaches_the_final_lot_once_at_its_shortest_depth_and_a_lone_lot_only_itself() {
    let app = plant().await;
    let raw = released(&app, "FLOUR-T55", "500").await;
    let left = run(&app, "DOUGH-BR", &[(&raw, "50")], &[("50", "")]).await.remove(0);
    let right = run(&app, "DOUGH-BR", &[(&raw, "50")], &[("50", "")]).await.remove(0);
    let fin = run(&app, "BRIOCHE-400", &[(&left, "20"), (&right, "20")], &[("100", "")]).await.remove(0);
    let id = lot_id(&app, &raw).await;
    let page = app.page(&format!("/trace?lot={id}&direction=forward")).await;
    let codes = texts(&page, "#trace-lots tbody td:nth-child(2)");
    let levels = texts(&page, "#trace-lots tbody td:first-child");
    assert_eq!(codes.iter().filter(|c| **c == fin).count(), 1);
    let fin_level = &levels[codes.iter().position(|c| *c == fin).unwrap()];
    assert_eq!(fin_level, "2");
    assert_eq!(text(&page, "[data-count=lots]"), "3");
    assert!(texts(&page, "#cycles").is_empty(), "a diamond is no cycle");
    let tree = texts(&page, "#trace-tree a.code");
    assert_eq!(tree.len(), 4, "the tree shows every lot once: {tree:?}");
    assert_eq!(tree[0], raw);
    assert_eq!(texts(&page, "#trace-tree > li > details > ul > li").len(), 2, "two branches under the raw lot");

    let lone = released(&app, "SALT", "5").await;
    assert_eq!(traced(&app, &lone, "forward", "precise").await, set(&[&lone]));
    assert_eq!(traced(&app, &lone, "backward", "lot-level").await, set(&[&lone]));
}

#[tokio::test]
async fn the_page_the_api_the_cli_and_csv_give_the_same_answer_with_the_customers() {
    let app = plant().await;
    let raw = released(&app, "SUGAR", "100").await;
    let dough = run(&app, "DOUGH-BR", &[(&raw, "50")], &[("50", "")]).await.remove(0);
    let bread = run(&app, "BRIOCHE-400", &[(&dough, "40")], &[("100", "")]).await.remove(0);
    let bread_page = format!("/lots/{}", lot_id(&app, &bread).await);
    assert_redirect(
        &app.submit(&bread_page, "#release-form", &[("signer", "tester"), ("password", PASSWORD)]).await,
        &bread_page,
    );
    let customer = id_of(&app, "parties", "FRESHMART").await;
    let site = id_of(&app, "sites", "RVS").await;
    let key = uuid::Uuid::new_v4().to_string();
    assert_redirect(
        &app.post_form(
            "/shipments",
            &[
                ("customer_id", &customer),
                ("site_id", &site),
                ("idempotency_key", &key),
                ("lot", &bread),
                ("quantity", "30"),
            ],
        )
        .await,
        "/shipments/",
    );

    let expected = set(&[&raw, &dough, &bread]);
    assert_eq!(traced(&app, &raw, "forward", "precise").await, expected);
    let id = lot_id(&app, &raw).await;
    let page = app.page(&format!("/trace?lot={id}&direction=forward")).await;
    assert_eq!(texts(&page, "#trace-shipments tbody td:first-child"), vec!["FreshMart Stores"]);
    assert_eq!(text(&page, "[data-count=customers]"), "1");
    // The picture: one box per lot in columns by level, each linked from the lot before it.
    assert_eq!(texts(&page, "#trace-graph g.node text.label"), vec![raw.clone(), dough.clone(), bread.clone()]);
    assert_eq!(page.select(&sel("#trace-graph line.edge")).count(), 2);
    let xs: Vec<String> =
        page.select(&sel("#trace-graph rect")).map(|r| r.value().attr("x").unwrap().to_string()).collect();
    assert_eq!(xs, vec!["10", "220", "430"]);

    let api: serde_json::Value = app
        .client
        .get(app.url(&format!("/api/v1/trace?material=SUGAR&lot={raw}&direction=forward&mode=precise")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let api_lots: BTreeSet<String> =
        api["lots"].as_array().unwrap().iter().map(|l| l["code"].as_str().unwrap().to_string()).collect();
    assert_eq!(api_lots, expected);
    assert_eq!(api["mode"], "precise");
    assert_eq!(api["shipments"][0]["customer"], "FreshMart Stores");
    assert_eq!(api["shipments"][0]["quantity"], "30.000000");
    assert_eq!(api["customers"][0]["code"], "FRESHMART");
    assert!(
        api["lots"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["depth"].is_number() && l["status"].is_string() && l["material"].is_string())
    );

    let csv = app.get(&format!("/trace?lot={id}&direction=forward&format=csv")).await;
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let csv = csv.text().await.unwrap();
    let csv_lots: BTreeSet<String> =
        csv.lines().filter(|l| l.starts_with("lot,")).map(|l| l.split(',').nth(3).unwrap().to_string()).collect();
    assert_eq!(csv_lots, expected);
    assert!(csv.lines().any(|l| l.starts_with("shipment,") && l.contains("FreshMart Stores")));

    let out =
        cli(&app, &["trace", "--material", "SUGAR", "--lot", &raw, "--direction", "forward", "--format", "json"]).await;
    let cli: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(cli["lots"], api["lots"], "the CLI prints the API's document");
    assert_eq!(cli["shipments"], api["shipments"]);

    let unknown = app.client.get(app.url("/api/v1/trace?material=SUGAR&lot=NOPE")).send().await.unwrap();
    assert_eq!(unknown.status(), 404);
    let bad = app.client.get(app.url(&format!("/api/v1/trace?lot_id={id}&mode=sideways"))).send().await.unwrap();
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn a_forward_trace_says_how_much_of_the_start_lot_each_lot_holds_assuming_perfect_mixing() {
    let app = plant().await;
    let (flour, dough, kit) = flour_dough_kit(&app).await;
    let bread = run(&app, "BRIOCHE-400", &[(&dough, "40")], &[("100", "")]).await.remove(0);

    let id = lot_id(&app, &flour).await;
    let page = app.page(&format!("/trace?lot={id}&direction=forward&mode=precise")).await;
    let codes = texts(&page, "#trace-lots tbody td:nth-child(2)");
    let shares = texts(&page, "#trace-lots tbody td.share");
    let concentrations = texts(&page, "#trace-lots tbody td.concentration");
    let of = |code: &str| codes.iter().position(|c| c == code).unwrap();
    assert_eq!((shares[of(&flour)].as_str(), concentrations[of(&flour)].as_str()), ("100.00 %", "100.00 %"));
    assert_eq!(
        (shares[of(&dough)].as_str(), concentrations[of(&dough)].as_str()),
        ("60.00 %", "60.00 %"),
        "60 kg of 100 went into 100 kg of dough"
    );
    assert_eq!(
        (shares[of(&bread)].as_str(), concentrations[of(&bread)].as_str()),
        ("24.00 %", "60.00 %"),
        "40 kg of that dough, baked"
    );
    assert_eq!(shares[of(&kit)], "unknown", "a kit has no mass per unit to compare with");
    assert!(text(&page, "#mixing").contains("perfect mixing"));

    let api: serde_json::Value =
        app.client.get(app.url(&format!("/api/v1/trace?lot_id={id}"))).send().await.unwrap().json().await.unwrap();
    let bread_json = api["lots"].as_array().unwrap().iter().find(|l| l["code"] == bread.as_str()).unwrap().clone();
    assert_eq!(bread_json["share"], "0.24");
    assert_eq!(bread_json["concentration"], "0.6");
    let lot_level: serde_json::Value = app
        .client
        .get(app.url(&format!("/api/v1/trace?lot_id={id}&mode=lot-level")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(lot_level["lots"][0]["share"].is_null(), "quantities come with the precise mode");
}

/// The share of each kit lot, from the trace page (precise, forward from `start`).
async fn kit_share(app: &TestApp, start: &str, kit: &str) -> (String, String) {
    let page = app.page(&format!("/trace?lot={start}&direction=forward&mode=precise")).await;
    let row = texts(&page, "#trace-lots tbody td:nth-child(2)").iter().position(|c| c == kit).unwrap();
    (
        texts(&page, "#trace-lots tbody td.share")[row].clone(),
        texts(&page, "#trace-lots tbody td.concentration")[row].clone(),
    )
}

#[tokio::test]
async fn a_material_given_a_mass_is_compared_by_the_next_trace() {
    let app = plant().await;
    let (flour, _, kit) = flour_dough_kit(&app).await;
    let id = lot_id(&app, &flour).await;
    // The server's link index, built anew with these links (a change to master data after links
    // were added rebuilds it), then kept fresh from what each commit touched.
    sqlx::query("update sites set name = name").execute(&app.pool).await.unwrap();
    assert_eq!(kit_share(&app, &id, &kit).await, ("unknown".to_string(), "unknown".to_string()));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let health: serde_json::Value = app.client.get(app.url("/healthz")).send().await.unwrap().json().await.unwrap();
        if health["link_index"]["ready"] == true {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the link index is rebuilt: {health}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // The index keeps each lot's material and every material's mass per unit; it reads the
    // materials again when master data changes.
    sqlx::query("update materials set mass_per_unit_kg = 2 where code = 'KIT'").execute(&app.pool).await.unwrap();
    assert_eq!(
        kit_share(&app, &id, &kit).await,
        ("6.00 %".to_string(), "60.00 %".to_string()),
        "10 kg of dough (60 % flour) in 5 kits of 2 kg"
    );
    // As the database alone computes it (the CLI's answer).
    let cli: serde_json::Value = serde_json::from_str(
        &cli(&app, &["trace", "--material", "FLOUR-T55", "--lot", &flour, "--format", "json"]).await,
    )
    .unwrap();
    let api: serde_json::Value =
        app.client.get(app.url(&format!("/api/v1/trace?lot_id={id}"))).send().await.unwrap().json().await.unwrap();
    assert_eq!(cli["lots"], api["lots"], "the index gives the database's answer, run numbers and shares included");
}

#[tokio::test]
async fn co_products_are_both_reached_and_a_code_shared_by_two_materials_is_traced_by_material() {
    let app = plant().await;
    let flour = released(&app, "FLOUR-T55", "100").await;
    let outputs = run(&app, "DOUGH-BR", &[(&flour, "50")], &[("30", ""), ("20", "")]).await;
    assert_eq!(outputs.len(), 2);
    let reached = traced(&app, &flour, "forward", "precise").await;
    assert!(outputs.iter().all(|o| reached.contains(o)), "both co-products are reached");
    // The sugar lot received the same day gets the flour lot's code pattern; give it the same code.
    sqlx::query(
        "insert into lots (material_id, code, origin, site_id, made_on, tlc, tlc_source, disposition)
         select m.id, $1, 'received', s.id, site_today(s.id), $1, 'x', 'released' from materials m, sites s where m.code = 'SUGAR' and s.code = 'RVS'",
    )
    .bind(&flour)
    .execute(&app.pool)
    .await
    .unwrap();
    let api = |material: &'static str| {
        let url = app.url(&format!("/api/v1/trace?material={material}&lot={flour}"));
        let client = app.client.clone();
        async move { client.get(url).send().await.unwrap().json::<serde_json::Value>().await.unwrap() }
    };
    assert_eq!(api("FLOUR-T55").await["lots"].as_array().unwrap().len(), 3);
    let sugar = api("SUGAR").await;
    assert_eq!(sugar["lots"].as_array().unwrap().len(), 1, "the sugar lot with the same code has no genealogy");
    assert_eq!(sugar["start"]["material"], "SUGAR");
}

#[tokio::test]
async fn traces_walk_the_link_index_and_see_every_commit_made_before_them() {
    let app = plant().await;
    let health: serde_json::Value = app.client.get(app.url("/healthz")).send().await.unwrap().json().await.unwrap();
    assert_eq!(health["link_index"]["ready"], true, "{health}");
    let sugar = released(&app, "SUGAR", "100").await;
    let salt = released(&app, "SALT", "100").await;
    let first = run(&app, "DOUGH-BR", &[(&sugar, "20")], &[("20", "")]).await;
    // Posted a moment ago, traced at once: the index reads what was committed since it looked.
    assert_eq!(traced(&app, &sugar, "forward", "lot-level").await, set(&[&sugar, &first[0]]));
    let second = run(&app, "DOUGH-BR", &[(&sugar, "10"), (&salt, "1")], &[("11", "")]).await;
    assert_eq!(traced(&app, &sugar, "forward", "precise").await, set(&[&sugar, &first[0], &second[0]]));
    assert_eq!(traced(&app, &second[0], "backward", "precise").await, set(&[&second[0], &sugar, &salt]));
    let health: serde_json::Value = app.client.get(app.url("/healthz")).send().await.unwrap().json().await.unwrap();
    assert_eq!(health["link_index"]["links"], 3, "{health}");

    // The walk reads memory: with the link table locked, a trace still answers.
    let mut lock = app.pool.begin().await.unwrap();
    sqlx::query("lock table genealogy_links in access exclusive mode").execute(&mut *lock).await.unwrap();
    let answered = tokio::time::timeout(std::time::Duration::from_secs(5), traced(&app, &salt, "forward", "lot-level"))
        .await
        .expect("the trace answers while the link table is locked");
    assert_eq!(answered, set(&[&salt, &second[0]]));
    lock.rollback().await.unwrap();

    // A reversed consumption leaves the next trace at once.
    let salt_page = format!("/lots/{}", lot_id(&app, &salt).await);
    assert_redirect(
        &app.submit(
            &salt_page,
            "#ledger tbody tr:nth-child(2) .reverse-form",
            &[("reverse_reason", "Wrong lot"), ("confirm", "yes")],
        )
        .await,
        &salt_page,
    );
    assert_eq!(traced(&app, &salt, "forward", "lot-level").await, set(&[&salt]));
    assert_eq!(traced(&app, &second[0], "backward", "lot-level").await, set(&[&second[0], &sugar]));
    // And the database-only answer (the CLI's) is the same.
    let csv = cli(
        &app,
        &[
            "trace",
            "--material",
            "DOUGH-BR",
            "--lot",
            &second[0],
            "--direction",
            "backward",
            "--mode",
            "lot-level",
            "--format",
            "csv",
        ],
    )
    .await;
    let lots: BTreeSet<String> =
        csv.lines().filter(|l| l.starts_with("lot,")).map(|l| l.split(',').nth(3).unwrap().to_string()).collect();
    assert_eq!(lots, set(&[&second[0], &sugar]), "{csv}");
}

#[tokio::test]
async fn a_traced_lot_with_an_open_hold_shows_on_hold_until_it_is_lifted() {
    let app = plant().await;
    let (flour, dough, kit) = flour_dough_kit(&app).await;
    let statuses = || async {
        let id = lot_id(&app, &flour).await;
        let t: serde_json::Value =
            app.client.get(app.url(&format!("/api/v1/trace?lot_id={id}"))).send().await.unwrap().json().await.unwrap();
        t["lots"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| (l["code"].as_str().unwrap().to_string(), l["status"].as_str().unwrap().to_string()))
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    let before = statuses().await;
    assert_ne!(before[&dough], "on hold", "{before:?}");
    let dough_page = format!("/lots/{}", lot_id(&app, &dough).await);
    assert_redirect(&app.submit(&dough_page, "#hold-form", &[("hold_reason", "Lab check")]).await, &dough_page);
    let held = statuses().await;
    assert_eq!(held[&dough], "on hold", "{held:?}");
    assert_eq!(held[&flour], before[&flour], "{held:?}");
    assert_eq!(held[&kit], before[&kit], "{held:?}");
    assert_redirect(&app.submit(&dough_page, ".lift-form", &[("lift_reason", "Passed")]).await, &dough_page);
    assert_eq!(statuses().await, before);
}
