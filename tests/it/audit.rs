//! The audit trail: every change with its author, before and after; append-only; hash-chained.

use std::process::Command;

use crate::helpers::{TestApp, assert_redirect, database_url, spawn_app, text, texts};

/// The key the tests keep the chain with, here and in the `lotline` processes they start.
const KEY: &str = "a test key kept outside the database";

async fn verify(app: &TestApp) -> std::process::Output {
    verify_with(app, KEY, None).await
}

async fn verify_with(app: &TestApp, key: &str, expect_head: Option<&str>) -> std::process::Output {
    let mut command = Command::new(crate::embedded::BIN);
    command
        .args(["audit", "verify"])
        .env("DATABASE_URL", database_url(&app.database_name().await))
        .env("LOTLINE_AUDIT_KEY", key);
    if let Some(head) = expect_head {
        command.args(["--expect-head", head]);
    }
    command.output().unwrap()
}

/// Runs `sql` on the trail as a superuser would, its append-only trigger set aside.
async fn tamper(app: &TestApp, sql: &str) {
    let mut tx = app.pool.begin().await.unwrap();
    sqlx::query("alter table audit_log disable trigger audit_log_append_only").execute(&mut *tx).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(sql.to_string())).execute(&mut *tx).await.unwrap();
    sqlx::query("alter table audit_log enable trigger audit_log_append_only").execute(&mut *tx).await.unwrap();
    tx.commit().await.unwrap();
}

/// A keyed trail (sign-in, a material and its edit) and its head as `verify` prints it.
async fn keyed_trail() -> (TestApp, String) {
    lotline::audit::use_key(KEY.as_bytes().to_vec());
    let app = spawn_app().await;
    material_with_an_edit(&app).await;
    let out = verify(&app).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let head = stdout.trim().rsplit(' ').next().unwrap().to_string();
    (app, head)
}

fn refused(out: &std::process::Output, needle: &str) {
    assert!(!out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(needle), "{stderr}");
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
async fn the_servers_role_can_neither_silence_nor_rewrite_the_audit_trail() {
    let app = spawn_app().await;
    material_with_an_edit(&app).await;
    let entries =
        || async { sqlx::query_scalar::<_, i64>("select count(*) from audit_log").fetch_one(&app.pool).await };
    let before = entries().await.unwrap();
    assert!(lotline::db::audit_binds(&app.app_pool).await.unwrap(), "the server's role is bound");
    assert!(!lotline::db::audit_binds(&app.pool).await.unwrap(), "the owner is not, and is told so");
    for sql in [
        "alter table audit_log disable trigger audit_log_append_only",
        "alter table audit_log disable trigger all",
        "alter table materials disable trigger all",
        "drop trigger audit_log_append_only on audit_log",
        "set session_replication_role = replica",
        "update audit_log set actor_name = 'mallory'",
        "delete from audit_log",
        "truncate audit_log",
        "alter table audit_log owner to lotline_app",
        "delete from _sqlx_migrations",
        "create table shadow (id int)",
    ] {
        let err = sqlx::query(sql).execute(&app.app_pool).await.expect_err(sql);
        let code = err.as_database_error().and_then(|e| e.code()).map(|c| c.to_string());
        assert_eq!(code.as_deref(), Some("42501"), "{sql}: refused for want of privilege, not by luck: {err}");
    }
    assert_eq!(entries().await.unwrap(), before, "nothing was removed");
    // What the server does, it can still do: append, and read.
    let last: i64 = sqlx::query_scalar("select max(id) from audit_log").fetch_one(&app.app_pool).await.unwrap();
    assert!(last > 0);
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

#[tokio::test]
async fn a_removed_tail_is_detected_against_the_saved_head() {
    let (app, head) = keyed_trail().await;
    tamper(&app, "delete from audit_log where id = (select max(id) from audit_log)").await;
    refused(&verify_with(&app, KEY, Some(&head)).await, "the saved head is not in the trail");
    // New entries after the saved head are fine.
    let (app, head) = keyed_trail().await;
    material_with_an_edit_named(&app, "SUGAR").await;
    assert!(verify_with(&app, KEY, Some(&head)).await.status.success());
}

#[tokio::test]
async fn a_forged_entry_appended_without_the_key_is_detected() {
    let (app, _) = keyed_trail().await;
    // Unkeyed, chained as plain SHA-256 the way entries were before the key.
    tamper(
        &app,
        "insert into audit_log (occurred_at, actor_name, action, entity_type, entity_id, prev_hash, hash, keyed)
         select now(), 'mallory', 'release', 'lot', 'x', hash, sha256(hash || 'forged'::bytea), false
           from audit_log order by id desc limit 1",
    )
    .await;
    refused(&verify(&app).await, "it is not keyed, though entries before it are");
    let (app, _) = keyed_trail().await;
    tamper(
        &app,
        "insert into audit_log (occurred_at, actor_name, action, entity_type, entity_id, prev_hash, hash, keyed)
         select now(), 'mallory', 'release', 'lot', 'x', hash, sha256('forged under a guessed key'::bytea), true
           from audit_log order by id desc limit 1",
    )
    .await;
    refused(&verify(&app).await, "does not match its hash");
}

#[tokio::test]
async fn a_chain_rewritten_under_another_key_is_detected() {
    // Everything written, consistently chained, but under a key other than the plant's.
    lotline::audit::use_key(b"an attacker's own key, long enough".to_vec());
    let app = spawn_app().await;
    material_with_an_edit(&app).await;
    refused(&verify(&app).await, "does not match its hash");
}

async fn material_with_an_edit_named(app: &TestApp, code: &str) {
    let fields = [("code", code), ("name", code), ("kind", "raw"), ("uom", "kg"), ("expiry_policy", "none")];
    assert_redirect(&app.submit("/materials/new", "form.record-form", &fields).await, "/materials/");
}
