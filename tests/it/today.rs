//! One rule per concept: "today" is the site's local date for every rule that reads the date
//! (status, usable stock, FEFO, shipping, the dashboard, traces), and the SQL spellings of the lot
//! status rule agree with the pure rule in `domain::status`.

use chrono::NaiveDate;
use lotline::domain::status::{self, LotState};

use crate::helpers::{TestApp, spawn_app_with_database_zone, text, texts};
use crate::rules::{receive, received_code};

/// A plant whose date differs from the database server's: every lotline session runs in UTC, so
/// the site runs 14 hours ahead of UTC in UTC's afternoon and evening (its date one day later),
/// and 12 hours behind in UTC's morning (one day earlier). Either way a rule that read the
/// server's date would be a day off.
async fn far_apart() -> (TestApp, NaiveDate) {
    use chrono::Timelike;
    let app = spawn_app_with_database_zone("Etc/GMT+12").await;
    lotline::tools::demo::load(&app.pool).await.unwrap();
    let zone = if chrono::Utc::now().hour() >= 12 { "Etc/GMT-14" } else { "Etc/GMT+12" };
    sqlx::query("update sites set time_zone = $1").bind(zone).execute(&app.pool).await.unwrap();
    let (site_today, server_today): (NaiveDate, NaiveDate) =
        sqlx::query_as("select site_today((select id from sites where code = 'RVS')), current_date")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_ne!(site_today, server_today, "the site's date differs from the server's");
    (app, site_today)
}

/// A released SALT lot with 10 kg at the dock, expiring on `expires`; its id and code.
async fn salt_expiring(app: &TestApp, expires: NaiveDate) -> (String, String) {
    let code = received_code(app, receive(app, "SALT", "10", "").await).await;
    let id: String = sqlx::query_scalar(
        "update lots set disposition = 'released', made_on = $2 - 30, expires_on = $2 where code = $1 returning id::text",
    )
    .bind(&code)
    .bind(expires)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    (id, code)
}

#[tokio::test]
async fn a_lot_is_expired_by_its_sites_date_everywhere_whatever_the_servers_date() {
    let (app, today) = far_apart().await;
    let yesterday = today.pred_opt().unwrap();
    let (old, old_code) = salt_expiring(&app, yesterday).await;
    let (fresh, fresh_code) = salt_expiring(&app, today).await;

    // The lot page's badge.
    assert_eq!(text(&app.page(&format!("/lots/{old}")).await, "h1 .badge"), "expired");
    assert_eq!(text(&app.page(&format!("/lots/{fresh}")).await, "h1 .badge"), "released", "usable on its expiry day");

    // FEFO suggests only the lot still usable at the site today.
    let site: uuid::Uuid =
        sqlx::query_scalar("select id from sites where code = 'RVS'").fetch_one(&app.pool).await.unwrap();
    let salt: uuid::Uuid =
        sqlx::query_scalar("select id from materials where code = 'SALT'").fetch_one(&app.pool).await.unwrap();
    let picks = lotline::stock::ship::pickable(&app.pool, site, salt, 50).await.unwrap();
    let picked: Vec<&str> = picks.iter().map(|p| p.lot_code.as_str()).collect();
    assert!(picked.contains(&fresh_code.as_str()) && !picked.contains(&old_code.as_str()), "{picked:?}");

    // The dashboard counts it as expired with stock.
    let home = app.page("/").await;
    let expired = texts(&home, "[data-count=expired_with_stock]");
    assert!(!expired.is_empty() && expired[0] != "0", "{expired:?}");

    // A trace shows the same status as the lot page.
    let traced: serde_json::Value =
        app.get(&format!("/api/v1/trace?lot_id={old}&direction=forward")).await.json().await.unwrap();
    assert_eq!(traced["start"]["status"], "expired", "{traced}");
}

#[tokio::test]
async fn the_sql_status_and_usable_rules_agree_with_the_pure_rule_in_every_state() {
    let (app, today) = far_apart().await;
    let (template, _) = salt_expiring(&app, today).await;
    let dates = [None, Some(today.pred_opt().unwrap()), Some(today), Some(today.succ_opt().unwrap())];
    let mut n = 0;
    for disposition in ["quarantine", "released", "rejected"] {
        for held in [false, true] {
            for expires in dates {
                n += 1;
                let code = format!("RULE{n:03}");
                let lot: uuid::Uuid = sqlx::query_scalar(
                    "insert into lots (material_id, code, origin, site_id, made_on, expires_on, supplier_id, supplier_lot,
                                       receipt_id, tlc, tlc_source, disposition, created_by)
                     select material_id, $2, origin, site_id, made_on, $3, supplier_id, supplier_lot, receipt_id, $2,
                            tlc_source, $4, created_by
                       from lots where id = $1::uuid returning id",
                )
                .bind(&template)
                .bind(&code)
                .bind(expires)
                .bind(disposition)
                .fetch_one(&app.pool)
                .await
                .unwrap();
                if held {
                    sqlx::query("insert into lot_holds (lot_id, source, reason) values ($1, 'manual', 'Test')")
                        .bind(lot)
                        .execute(&app.pool)
                        .await
                        .unwrap();
                }
                let (sql_status, sql_usable): (String, bool) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "select {}, {} from lots l where l.id = $1",
                    status::STATUS_SQL,
                    status::USABLE_SQL
                )))
                .bind(lot)
                .fetch_one(&app.pool)
                .await
                .unwrap();
                let state = LotState {
                    code: &code,
                    disposition,
                    open_holds: i64::from(held),
                    recalled: false,
                    expires_on: expires,
                };
                let case = format!("{disposition}, held {held}, expires {expires:?}, today {today}");
                assert_eq!(sql_status, status::label(&state, today), "{case}");
                assert_eq!(sql_usable, status::usable(&state, today).is_ok(), "{case}");
            }
        }
    }
}

#[tokio::test]
async fn a_shipment_may_be_dated_the_sites_today_but_not_its_tomorrow() {
    let (app, today) = far_apart().await;
    let (_, salt) = salt_expiring(&app, today + chrono::Days::new(30)).await;
    let customer = crate::rules::id_of(&app, "parties", "FRESHMART").await;
    let site = crate::rules::id_of(&app, "sites", "RVS").await;
    let ship = |on: NaiveDate| {
        let key = uuid::Uuid::new_v4().to_string();
        let fields = [
            ("customer_id", customer.clone()),
            ("site_id", site.clone()),
            ("idempotency_key", key),
            ("shipped_on", on.to_string()),
            ("lot", salt.clone()),
            ("quantity", "1".to_string()),
            ("location_id", String::new()),
        ];
        let app = &app;
        async move {
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            app.post_form("/shipments", &fields).await
        }
    };
    crate::helpers::assert_field_error(ship(today.succ_opt().unwrap()).await, "shipped_on", "in the future").await;
    // The lot was made 30 days ago at the site: nothing of it left before that.
    let before = today - chrono::Days::new(31);
    crate::helpers::assert_field_error(ship(before).await, "line1", "before it existed").await;
    crate::helpers::assert_field_error(
        ship(chrono::NaiveDate::from_ymd_opt(1900, 1, 1).unwrap()).await,
        "shipped_on",
        "between 2000 and 2100",
    )
    .await;
    crate::helpers::assert_redirect(&ship(today).await, "/shipments/");
}

#[tokio::test]
async fn a_receipt_may_be_dated_the_sites_today_but_not_its_tomorrow() {
    let (app, today) = far_apart().await;
    let tomorrow = today.succ_opt().unwrap().to_string();
    crate::helpers::assert_field_error(receive(&app, "SALT", "10", &tomorrow).await, "received_on", "in the future")
        .await;
    let code = received_code(&app, receive(&app, "SALT", "10", &today.to_string()).await).await;
    let made_on: NaiveDate =
        sqlx::query_scalar("select made_on from lots where code = $1").bind(&code).fetch_one(&app.pool).await.unwrap();
    assert_eq!(made_on, today, "the lot is dated the site's day");
    // The form offers the site's today, not the server's.
    let form = app.page("/receipts/new").await;
    assert_eq!(crate::helpers::value(&form, "input[name=received_on]"), today.to_string());
}

#[tokio::test]
async fn a_qa_record_is_dated_at_its_lots_site_between_the_lots_making_and_today() {
    let (app, today) = far_apart().await;
    let (lot, _) = salt_expiring(&app, today + chrono::Days::new(30)).await;
    let path = format!("/lots/{lot}/qa-records");
    let record = |on: String| {
        let app = &app;
        let path = path.clone();
        async move {
            let fields = [
                ("kind", "test"),
                ("name", "Moisture"),
                ("result", "0.04 %"),
                ("outcome", "pass"),
                ("performed_on", &on),
            ];
            app.post_form(&path, &fields).await
        }
    };
    let year_zero = record("0000-01-01".into()).await;
    crate::helpers::assert_field_error(year_zero, "performed_on", "between 2000 and 2100").await;
    let before_made = record((today - chrono::Days::new(400)).to_string()).await;
    crate::helpers::assert_field_error(before_made, "performed_on", "before the lot was made").await;
    let tomorrow = record(today.succ_opt().unwrap().to_string()).await;
    crate::helpers::assert_field_error(tomorrow, "performed_on", "after today at the lot's site").await;
    crate::helpers::assert_redirect(&record(today.to_string()).await, &format!("/lots/{lot}"));
    // Stored at noon of that day at the site, so that it reads back as the same day there.
    let day: NaiveDate = sqlx::query_scalar(
        "select (r.performed_at at time zone s.time_zone)::date from qa_records r join lots l on l.id = r.lot_id
           join sites s on s.id = l.site_id where r.lot_id = $1::uuid",
    )
    .bind(&lot)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(day, today);
    let page = app.get(&format!("/lots/{lot}")).await;
    assert_eq!(page.status(), reqwest::StatusCode::OK);
}
