//! `lotline import`: a neutral CSV folder loaded whole, or refused whole with file, line, column
//! and reason.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::helpers::{TestApp, database_url, sel, spawn_app, text, texts};

fn folder(files: &[(&str, &str)]) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("import-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, body) in files {
        std::fs::write(dir.join(name), body).unwrap();
    }
    dir
}

async fn import(app: &TestApp, dir: &Path) -> Output {
    Command::new(crate::embedded::BIN)
        .arg("import")
        .arg(dir)
        .env("DATABASE_URL", database_url(&app.database_name().await))
        .env("LOTLINE_LOG", "warn")
        .output()
        .unwrap()
}

async fn plant() -> TestApp {
    let app = spawn_app().await;
    sqlx::query("insert into sites (code, name) values ('P1', 'Plant')").execute(&app.pool).await.unwrap();
    sqlx::query("insert into locations (site_id, code, name, kind) select id, 'WH', 'Warehouse', 'storage' from sites")
        .execute(&app.pool)
        .await
        .unwrap();
    app
}

const MATERIALS: &str = "code,name,kind,uom,shelf_life_days\nGRAIN,Wheat grain,raw,kg,\nMEAL,Wheat meal,intermediate,kg,30\nTANK,Meal tank,intermediate,kg,\n";
const PARTIES: &str = "code,name,role\nFARM,Hill Farm,supplier\nSHOP,Corner Shop,customer\nCOOP,Grain Coop,supplier\nCOOP,Grain Coop,customer\n";

#[tokio::test]
async fn a_consistent_folder_is_loaded_whole_and_traced_like_live_data() {
    let app = plant().await;
    // Units as other systems write them: the UN/ECE code, a common word, another case.
    let materials =
        MATERIALS.replacen(",raw,kg,", ",raw,KGM,", 1).replacen(",intermediate,kg,30", ",intermediate,kilos,30", 1);
    let dir = folder(&[
        ("materials.csv", &materials),
        ("parties.csv", PARTIES),
        (
            "lots.csv",
            "lot_code,material_code,quantity,uom,created_on,expires_on,origin,supplier_code,supplier_lot\n\
             G1,GRAIN,100,KG,2020-01-06,,received,FARM,H-77\n\
             G2,GRAIN,50,kgs,2020-01-07,,received,COOP,\n\
             M1,MEAL,90,kg,2020-01-08T07:56:00Z,2020-02-07,produced,,\n",
        ),
        (
            "transformations.csv",
            "run_id,performed_on,direction,lot_code,quantity\nR1,2020-01-08T07:56:00Z,in,G1,100\nR1,2020-01-08T07:56:00Z,in,G2,\"10\"\nR1,2020-01-08T07:56:00Z,out,M1,90\n",
        ),
        (
            "shipments.csv",
            "shipment_id,shipped_on,customer_code,lot_code,quantity\nS1,2020-01-09,SHOP,M1,30\nS2,2020-01-10,COOP,M1,60\n",
        ),
    ]);
    let out = import(&app, &dir).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with(
        "imported 3 lots, 1 runs, 2 shipments (7 movements, 2 genealogy links; 3 new materials, 3 new parties)"
    ));
    let coop: (bool, bool) = sqlx::query_as("select is_supplier, is_customer from parties where code = 'COOP'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(coop, (true, true), "a party with both roles appears twice");
    let units: Vec<String> =
        sqlx::query_scalar("select uom from materials where code in ('GRAIN', 'MEAL') order by code")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(units, ["kg", "kg"], "stored as lotline's own unit");
    let g1: String =
        sqlx::query_scalar("select id::text from lots where code = 'G1'").fetch_one(&app.pool).await.unwrap();
    let page = app.page(&format!("/trace?lot={g1}&direction=forward")).await;
    assert_eq!(texts(&page, "#trace-lots tbody td:nth-child(2)"), vec!["G1", "M1"]);
    assert_eq!(texts(&page, "#trace-shipments tbody td:first-child"), vec!["Corner Shop", "Grain Coop"]);
    let g2: String =
        sqlx::query_scalar("select id::text from lots where code = 'G2'").fetch_one(&app.pool).await.unwrap();
    let lot = app.page(&format!("/lots/{g2}")).await;
    assert_eq!(texts(&lot, "#stock tbody td.num"), vec!["40 kg"], "50 received, 10 consumed");
    assert!(crate::helpers::text(&lot, "#balance-status").starts_with("The balance adds up"));
    let entries: i64 = sqlx::query_scalar("select count(*) from audit_log where action = 'import'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(entries, 1, "one audit entry for the whole import");
    let files: String = sqlx::query_scalar("select after::text from audit_log where action = 'import'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(files.contains("sha256") && files.contains("lots.csv"));
}

#[tokio::test]
async fn a_folder_with_problems_is_refused_whole_naming_file_line_column_and_reason() {
    let app = plant().await;
    let dir = folder(&[
        ("materials.csv", MATERIALS),
        ("parties.csv", PARTIES),
        (
            "lots.csv",
            "lot_code,material_code,quantity,uom,created_on,expires_on,origin,supplier_code,supplier_lot\n\
             G1,GRAIN,100,kg,2020-01-06,,received,FARM,\n\
             G1,GRAIN,5,kg,2020-01-06,,received,FARM,\n\
             G3,SAND,5,kg,2020-01-06,,received,FARM,\n\
             G4,GRAIN,-5,kg,2020-01-06,,received,FARM,\n\
             G5,GRAIN,5,kg,06/01/2020,,received,FARM,\n\
             X1,GRAIN,5,kg,2020-01-06,,received,,\n\
             X1,MEAL,5,kg,2020-01-06,,received,,\n\
             M1,MEAL,10,kg,2020-01-08,,produced,,\n",
        ),
        (
            "transformations.csv",
            "run_id,performed_on,direction,lot_code,quantity\nR1,2020-01-08,out,M1,10\nR2,2020-01-08,in,X1,1\nR2,2020-01-08,out,M1,1\n",
        ),
        ("shipments.csv", "shipment_id,shipped_on,customer_code,lot_code,quantity\nS1,2020-01-09,SHOP,G1,150\n"),
    ]);
    let out = import(&app, &dir).await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    for expected in [
        "lots.csv line 3, column lot_code: material GRAIN has a lot “G1” already",
        "lots.csv line 4, column material_code: there is no material “SAND”",
        "lots.csv line 5, column quantity: the quantity must be greater than zero.",
        "lots.csv line 6, column created_on: “06/01/2020” is not a date",
        "transformations.csv line 3, column lot_code: the lot code “X1” names lots of several materials (GRAIN, MEAL)",
        "run R1 needs at least one input and one output",
        "nothing was imported",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
    }
    assert_eq!(app.count("lots").await, 0, "nothing was loaded");
    assert_eq!(app.count("materials").await, 0);

    // A consistent folder except that it ships more than there is.
    let short = folder(&[
        ("materials.csv", MATERIALS),
        ("parties.csv", PARTIES),
        (
            "lots.csv",
            "lot_code,material_code,quantity,uom,created_on,expires_on,origin,supplier_code,supplier_lot\nG1,GRAIN,100,kg,2020-01-06,,received,FARM,\n",
        ),
        (
            "shipments.csv",
            "shipment_id,shipped_on,customer_code,lot_code,quantity\nS1,2020-01-09,SHOP,G1,60\nS2,2020-01-10,SHOP,G1,60\n",
        ),
    ]);
    let out = import(&app, &short).await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("shipments.csv line 3, column quantity: lot G1 (GRAIN) would go below zero at 2020-01-10T00:00:00Z: only 40 is there"), "{err}");
    assert_eq!(app.count("lots").await, 0);
}

#[tokio::test]
async fn a_generated_plant_imports_cleanly_and_its_precise_traces_lie_within_the_lot_level_ones() {
    let app = plant().await;
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("gen-{}", uuid::Uuid::new_v4().simple()));
    let out = Command::new(crate::embedded::BIN).args(["demo", "--lots", "600", "--out"]).arg(&dir).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("wrote 600 lots"));
    let out = import(&app, &dir).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let on_hand_matches: bool = sqlx::query_scalar(
        "select coalesce(bool_and(coalesce(o.q, 0) = m.q), true) from
           (select lot_id, sum(quantity) q from stock_movements group by lot_id) m
           left join (select lot_id, sum(quantity) q from on_hand group by lot_id) o using (lot_id)",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!(on_hand_matches, "the ledger and on-hand agree");
    let hub: String = sqlx::query_scalar("select l.id::text from lots l join materials m on m.id = l.material_id where m.code = 'SALT' order by l.code limit 1")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let get = |mode: &'static str| {
        let url = app.url(&format!("/api/v1/trace?lot_id={hub}&mode={mode}"));
        let client = app.client.clone();
        async move { client.get(url).send().await.unwrap().json::<serde_json::Value>().await.unwrap() }
    };
    let (precise, lot_level) = (get("precise").await, get("lot-level").await);
    let codes = |v: &serde_json::Value| {
        v["lots"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["code"].as_str().unwrap().to_string())
            .collect::<std::collections::BTreeSet<_>>()
    };
    assert!(codes(&precise).len() > 10, "the salt hub reaches many lots");
    assert!(codes(&precise).is_subset(&codes(&lot_level)));
}

/// Indexes and constraints of the public schema, by table and name, with their definitions.
async fn schema_objects(pool: &sqlx::PgPool) -> Vec<(String, String)> {
    sqlx::query_as(
        "select tablename::text, indexdef::text from pg_indexes where schemaname = 'public'
         union all
         select conrelid::regclass::text, conname::text || ' ' || pg_get_constraintdef(oid) from pg_constraint where connamespace = 'public'::regnamespace
         union all
         select tgrelid::regclass::text, tgname || ' ' || tgenabled::text from pg_trigger where not tgisinternal
         order by 1, 2",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_bulk_load_gives_the_same_plant_as_a_row_checked_one_and_restores_every_index_and_key() {
    let (rows, bulk) = (plant().await, plant().await);
    let before = schema_objects(&bulk.pool).await;
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("tank-{}", uuid::Uuid::new_v4().simple()));
    let out = Command::new(crate::embedded::BIN)
        .args(["demo", "--lots", "800", "--tank", "--out"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = import(&rows, &dir).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = Command::new(crate::embedded::BIN)
        .arg("import")
        .arg(&dir)
        .arg("--bulk")
        .env("DATABASE_URL", database_url(&bulk.database_name().await))
        .env("LOTLINE_LOG", "warn")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // The import checked its rows against the foreign keys itself and put the keys back NOT
    // VALID; the server confirms them (VALIDATE CONSTRAINT) in the background, as /healthz shows.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let health: serde_json::Value =
            bulk.client.get(bulk.url("/healthz")).send().await.unwrap().json().await.unwrap();
        if health["foreign_keys_unconfirmed"] == 0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the server confirms the import's foreign keys: {health}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(schema_objects(&bulk.pool).await, before, "every index, key and trigger is back as it was");

    // The same stock, ledger and genealogy.
    let facts = |pool: sqlx::PgPool| async move {
        let stock: Vec<(String, String)> = sqlx::query_as(
            "select l.code, o.quantity::text from on_hand o join lots l on l.id = o.lot_id where o.quantity <> 0 order by 1",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        let counts: (i64, i64, i64) = sqlx::query_as(
            "select (select count(*) from stock_movements), (select count(*) from genealogy_links), (select count(*) from shipment_lines)",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        // Every row as written, ids left out (they differ): a bulk load sends its values in
        // PostgreSQL's binary form, and each type must arrive as the row-checked load writes it.
        let rows = |sql: &'static str| {
            let pool = pool.clone();
            async move { sqlx::query_scalar::<_, String>(sql).fetch_all(&pool).await.unwrap() }
        };
        let written = (
            rows("select concat_ws('|', l.code, m.kind, m.quantity::text, m.occurred_at::text, c.code, m.actor_id is null, r.number, s.number)
                    from stock_movements m join lots l on l.id = m.lot_id join locations c on c.id = m.location_id
                    left join production_runs r on r.id = m.run_id left join shipments s on s.id = m.shipment_id order by 1")
            .await,
            rows("select concat_ws('|', l.code, l.origin, l.made_on::text, l.expires_on::text, p.code, l.supplier_lot, l.tlc, l.tlc_source,
                                   l.disposition, l.notes, m.code)
                    from lots l join materials m on m.id = l.material_id left join parties p on p.id = l.supplier_id order by 1")
            .await,
            rows("select concat_ws('|', l.code, d.from_status, d.to_status, d.reason, d.decided_by is null)
                    from lot_dispositions d join lots l on l.id = d.lot_id order by 1")
            .await,
            rows("select concat_ws('|', r.number, r.status, r.order_ref, r.opened_at::text, r.closed_at::text, m.code, r.notes)
                    from production_runs r join materials m on m.id = r.output_material_id order by 1")
            .await,
            rows("select concat_ws('|', s.number, p.code, s.shipped_at::text, s.order_ref, s.notes)
                    from shipments s join parties p on p.id = s.customer_id order by 1")
            .await,
            rows("select concat_ws('|', f.code, t.code, g.kind, g.occurred_at::text, r.number)
                    from genealogy_links g join lots f on f.id = g.from_lot_id join lots t on t.id = g.to_lot_id
                    join production_runs r on r.id = g.run_id order by 1")
            .await,
        );
        (stock, counts, written)
    };
    let (a, b) = (facts(rows.pool.clone()).await, facts(bulk.pool.clone()).await);
    assert!(a.0.len() > 100, "stock is on hand");
    assert_eq!(a, b);

    // The tank's first delivery reaches most of the plant, and both answer the same.
    let trace = |app: &TestApp| {
        let url = app.url("/api/v1/trace?material=RAW-039&lot=L0000004&mode=precise");
        let client = app.client.clone();
        async move { client.get(url).send().await.unwrap().json::<serde_json::Value>().await.unwrap() }
    };
    // An import into a running server's database makes its link index rebuild (traces read the
    // database meanwhile); wait for it, so that the API's answers below come from the index.
    for app in [&rows, &bulk] {
        let links: i64 = sqlx::query_scalar("select count(*) from genealogy_links").fetch_one(&app.pool).await.unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            trace(app).await; // each trace brings the index up to date, or starts its rebuild
            let health: serde_json::Value =
                app.client.get(app.url("/healthz")).send().await.unwrap().json().await.unwrap();
            if health["link_index"]["ready"] == true && health["link_index"]["links"] == links {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "the link index is rebuilt after the import: {health}");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
    let (ta, tb) = (trace(&rows).await, trace(&bulk).await);
    let summary = |v: &serde_json::Value| {
        v["lots"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| format!("{} {} {} {}", l["code"], l["depth"], l["share"], l["on_hand"]))
            .collect::<std::collections::BTreeSet<_>>()
    };
    assert!(summary(&ta).len() > 800 / 3, "the tank reaches a large part of the plant: {}", summary(&ta).len());
    assert_eq!(summary(&ta), summary(&tb));
    assert_eq!(ta["shipments"].as_array().map(Vec::len), tb["shipments"].as_array().map(Vec::len));
    assert!(!ta["cycles"].as_array().unwrap().is_empty(), "the tank's top-ups are cycles");
    // The API walked the server's link index and read the share sweep's ledger in three reads at
    // once; the CLI reads the closure and the ledger from the database. Same lots, depths, shares.
    let out = Command::new(crate::embedded::BIN)
        .args(["trace", "--material", "RAW-039", "--lot", "L0000004", "--mode", "precise", "--format", "json"])
        .env("DATABASE_URL", database_url(&rows.database_name().await))
        .env("LOTLINE_LOG", "warn")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let cli: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary(&cli), summary(&ta));
    let shared =
        ta["lots"].as_array().unwrap().iter().filter(|l| l["share"].as_str().is_some_and(|s| s != "0")).count();
    assert!(shared > 100, "shares are computed: {shared}");
}

#[tokio::test]
async fn a_trace_of_more_lots_than_a_page_holds_shows_the_first_and_counts_them_all() {
    let app = plant().await;
    let outputs = 1_050;
    let mut lots = String::from(
        "lot_code,material_code,quantity,uom,created_on,expires_on,origin,supplier_code,supplier_lot\nG1,GRAIN,5000,kg,2020-01-06,,received,FARM,H-1\n",
    );
    let mut runs = String::from("run_id,performed_on,direction,lot_code,quantity\nR1,2020-01-08,in,G1,4200\n");
    for i in 0..outputs {
        lots.push_str(&format!("M{i:04},MEAL,4,kg,2020-01-08,,produced,,\n"));
        runs.push_str(&format!("R1,2020-01-08,out,M{i:04},4\n"));
    }
    let dir = folder(&[
        ("materials.csv", MATERIALS),
        ("parties.csv", PARTIES),
        ("lots.csv", &lots),
        ("transformations.csv", &runs),
    ]);
    let out = import(&app, &dir).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let g1: String =
        sqlx::query_scalar("select id::text from lots where code = 'G1'").fetch_one(&app.pool).await.unwrap();

    let page = app.page(&format!("/trace?lot={g1}&direction=forward")).await;
    assert_eq!(page.select(&sel("#trace-lots tbody tr")).count(), 1_000, "a page holds a thousand lots");
    assert!(text(&page, "#lots-cut").contains(&format!("The first 1000 of {} lots", outputs + 1)));
    assert_eq!(page.select(&sel("#trace-stock tbody tr")).count(), 1_000);
    assert!(text(&page, "#stock-cut").contains(&format!("of {} stock rows", outputs + 1)));
    assert!(page.select(&sel("#shipments-cut")).next().is_none(), "nothing was shipped");

    // The answer itself is whole: the API and the CSV carry every lot.
    let api: serde_json::Value =
        app.client.get(app.url(&format!("/api/v1/trace?lot_id={g1}"))).send().await.unwrap().json().await.unwrap();
    assert_eq!(api["lots"].as_array().unwrap().len(), outputs + 1);
    let csv = app
        .client
        .get(app.url(&format!("/trace?lot={g1}&direction=forward&mode=precise&format=csv")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(csv.lines().filter(|l| l.starts_with("lot,")).count(), outputs + 1);

    // A small trace shows everything and says nothing about cutting.
    let m: String =
        sqlx::query_scalar("select id::text from lots where code = 'M0001'").fetch_one(&app.pool).await.unwrap();
    let page = app.page(&format!("/trace?lot={m}&direction=backward")).await;
    assert_eq!(page.select(&sel("#trace-lots tbody tr")).count(), 2);
    assert!(page.select(&sel("#lots-cut")).next().is_none());
}

#[tokio::test]
async fn demo_without_a_folder_loads_the_plant_and_names_the_lot_to_trace_first() {
    let (name, pool) = crate::helpers::fresh_database().await;
    let data = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("demo-{}", uuid::Uuid::new_v4().simple()));
    let out = Command::new(crate::embedded::BIN)
        .arg("--data-dir")
        .arg(&data)
        .args(["demo", "--lots", "400"])
        .env("DATABASE_URL", database_url(&name))
        .env("LOTLINE_LOG", "warn")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}{}", stdout, String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("imported 400 lots"), "{stdout}");
    let line = stdout.lines().find(|l| l.starts_with("the raw lot that reaches furthest: ")).unwrap_or_default();
    let (material, lot) = (line.split(' ').nth(6).unwrap_or_default(), line.split(' ').nth(7).unwrap_or_default());
    assert!(["SALT", "SUGAR"].contains(&material), "a silo lot: {line}");
    let lot = lot.trim_end_matches(';');
    // It is the received lot with the most links out.
    let most: String = sqlx::query_scalar(
        "select l.code from genealogy_links g join lots l on l.id = g.from_lot_id
          where l.origin = 'received' and l.notes = 'imported' group by l.code order by count(*) desc, l.code limit 1",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(lot, most);
    assert!(line.ends_with(&format!("/trace?material={material}&lot={lot}")), "{line}");
}
