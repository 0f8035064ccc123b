//! The audit trail: every change with its author, before and after; append-only; hash-chained.

use std::process::Command;

use crate::helpers::{TestApp, assert_redirect, database_url, spawn_app, text, texts};

async fn verify(app: &TestApp) -> std::process::Output {
    Command::new(crate::embedded::BIN)
        .args(["audit", "verify"])
        .env("DATABASE_URL", database_url(&app.database_name().await))
        .output()
        .unwrap()
}

async fn material_with_an_edit(app: &TestApp) -> String {
    let fields = [("code", "SALT"), ("name", "Salt"), ("kind", "raw"), ("uom", "kg"), ("expiry_policy", "none")];
    let location = assert_redirect(&app.submit("/materials/new", "form.record-form", &fields).await, "/materials/");
    let edit = format!("{location}/edit");
    assert_redirect(&app.submit(&edit, "form.record-form", &[("name", "Sea salt <fine>")]).await, &location);
    location
}

#[tokio::test]
async fn a_change_shows_on_the_audit_page_and_the_records_history_with_its_author() {
    let app = spawn_app().await;
    let location = material_with_an_edit(&app).await;

    let page = app.page(&location).await;
    let rows = texts(&page, "#history tbody tr");
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(
        rows[0].contains("tester") && rows[0].contains("update") && rows[0].contains("name : Salt → Sea salt <fine>"),
        "{rows:?}"
    );
    assert!(rows[1].contains("create"));

    let audit = app.page("/audit?entity_type=material").await;
    assert_eq!(texts(&audit, "#audit td.actor"), vec!["tester", "tester"]);
    assert_eq!(texts(&audit, "#audit td.action"), vec!["update", "create"]);
    let none = app.page("/audit?user=someone-else").await;
    assert_eq!(text(&none, ".pager p"), "No entries.");
    let today = chrono::Utc::now().date_naive();
    let dated = app.page(&format!("/audit?from={today}&until={today}&entity_type=material")).await;
    assert_eq!(texts(&dated, "#audit tbody tr").len(), 2);
    let tomorrow = today.succ_opt().unwrap();
    let later = app.page(&format!("/audit?from={tomorrow}")).await;
    assert_eq!(texts(&later, "#audit tbody tr").len(), 0);
    assert_eq!(app.get("/audit?from=yesterday").await.status(), 400);
}

#[tokio::test]
async fn the_database_refuses_to_change_or_delete_audit_entries() {
    let app = spawn_app().await;
    material_with_an_edit(&app).await;
    for sql in ["update audit_log set actor_name = 'mallory'", "delete from audit_log", "truncate audit_log"] {
        let err = sqlx::query(sql).execute(&app.pool).await.unwrap_err();
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
}

#[tokio::test]
async fn audit_verify_passes_on_a_clean_trail_and_names_the_first_entry_edited_by_hand() {
    let app = spawn_app().await;
    material_with_an_edit(&app).await;
    let out = verify(&app).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("audit trail intact: 4 entries; head hash "), "{stdout}");

    // A superuser can switch the trigger off; the hash chain still tells.
    let target: i64 =
        sqlx::query_scalar("select id from audit_log where action = 'create' and entity_type = 'material'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    let mut tx = app.pool.begin().await.unwrap();
    sqlx::query("alter table audit_log disable trigger audit_log_append_only").execute(&mut *tx).await.unwrap();
    sqlx::query("update audit_log set actor_name = 'mallory' where id = $1")
        .bind(target)
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("alter table audit_log enable trigger audit_log_append_only").execute(&mut *tx).await.unwrap();
    tx.commit().await.unwrap();

    let out = verify(&app).await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("audit trail broken at entry {target}: its content does not match its hash")),
        "{stderr}"
    );
}

#[tokio::test]
async fn audit_verify_detects_a_removed_entry() {
    let app = spawn_app().await;
    material_with_an_edit(&app).await;
    let mut tx = app.pool.begin().await.unwrap();
    sqlx::query("alter table audit_log disable trigger audit_log_append_only").execute(&mut *tx).await.unwrap();
    let removed: i64 =
        sqlx::query_scalar("delete from audit_log where id = (select min(id) + 1 from audit_log) returning id")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
    sqlx::query("alter table audit_log enable trigger audit_log_append_only").execute(&mut *tx).await.unwrap();
    tx.commit().await.unwrap();
    let out = verify(&app).await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("broken at entry {}: its link to the previous entry does not match", removed + 1)),
        "{stderr}"
    );
}

#[tokio::test]
async fn concurrent_changes_never_fork_the_chain() {
    let app = spawn_app().await;
    let mut tasks = Vec::new();
    for i in 0..16 {
        let pool = app.pool.clone();
        tasks.push(tokio::spawn(async move {
            let form = lotline::master::sites::SiteForm {
                code: format!("S{i}"),
                name: format!("Site {i}"),
                time_zone: "UTC".into(),
                ..Default::default()
            };
            let input = lotline::master::sites::SiteInput::try_from(&form).unwrap();
            lotline::master::sites::create(&pool, &lotline::audit::Actor::system("test"), &input, uuid::Uuid::new_v4())
                .await
                .unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let out = verify(&app).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("18 entries"),
        "the sign-in, the material and its edit, 16 sites"
    );
}
