//! Scale-out on PostgreSQL's own machinery: a primary and a hot standby made with pg_basebackup
//! and streaming replication, from the machine's PostgreSQL binaries. Reports and exports read
//! from the standby (`DATABASE_READ_URL`); writes and recalls use the primary.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use lotline::db::embedded::{Cluster, ClusterOptions};

use crate::embedded::DataDir;
use crate::helpers::{PASSWORD, TestApp, assert_redirect, new_client, text, texts};

/// The standby's port; it shares the primary's socket folder, which is the cluster's own.
const STANDBY_PORT: u16 = 5433;

/// A hot standby of `primary`, stopped (immediately) when dropped.
struct Standby<'a> {
    primary: &'a Cluster,
    pgdata: PathBuf,
}

impl<'a> Standby<'a> {
    fn start(primary: &'a Cluster) -> Standby<'a> {
        let pgdata = primary.root().join("standby");
        let out = primary
            .command("pg_basebackup")
            .arg("-D")
            .arg(&pgdata)
            .arg("-h")
            .arg(primary.socket_dir())
            .args(["-p", "5432", "-U", "lotline", "-R", "-X", "stream", "-c", "fast"])
            .output()
            .unwrap();
        assert!(out.status.success(), "pg_basebackup: {}", String::from_utf8_lossy(&out.stderr));
        let standby = Standby { primary, pgdata };
        let out = standby
            .pg_ctl("start")
            .arg("-l")
            .arg(primary.root().join("standby.log"))
            .args(["-w", "-t", "60", "-o", &format!("-p {STANDBY_PORT}")])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "the standby starts: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(primary.root().join("standby.log")).unwrap_or_default()
        );
        standby
    }

    fn pg_ctl(&self, action: &str) -> Command {
        let mut cmd = self.primary.command("pg_ctl");
        cmd.arg(action).arg("-D").arg(&self.pgdata);
        cmd
    }

    fn url(&self) -> String {
        format!("postgres:///lotline?host={}&port={STANDBY_PORT}&user=lotline", self.primary.socket_dir().display())
    }

    fn stop(&self) {
        let out = self.pg_ctl("stop").args(["-m", "fast", "-w"]).output().unwrap();
        assert!(out.status.success(), "the standby stops: {}", String::from_utf8_lossy(&out.stderr));
    }
}

impl Drop for Standby<'_> {
    fn drop(&mut self) {
        let _ = self.pg_ctl("stop").args(["-m", "immediate", "-w"]).output();
    }
}

/// Waits until `check` holds, for at most 30 s.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check().await {
        assert!(Instant::now() < deadline, "{what}: not within 30 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn lots_csv(app: &TestApp) -> String {
    let response = app.get("/lots?format=csv&q=FLOUR-T55").await;
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

async fn read_replica(app: &TestApp) -> String {
    let health: serde_json::Value = app.get("/healthz").await.json().await.unwrap();
    health["read_replica"].as_str().unwrap_or("absent").to_string()
}

#[tokio::test]
async fn reports_read_from_a_hot_standby_while_writes_and_recalls_see_the_latest_posting() {
    // The primary, with the demo plant (and a tester holding every role), then its standby.
    let data = DataDir::new();
    let opts = ClusterOptions { data_dir: data.0.clone(), bindir: None, ephemeral: true };
    let primary = tokio::task::spawn_blocking(move || Cluster::open(&opts)).await.unwrap().unwrap();
    lotline::db::create_database_if_missing(&primary.connect_options("postgres"), lotline::db::DATABASE).await.unwrap();
    let pool = lotline::db::pool(primary.connect_options(lotline::db::DATABASE), 8).await.unwrap();
    lotline::db::migrate(&pool).await.unwrap();
    lotline::db::create_app_role_if_missing(&primary.connect_options("postgres")).await.unwrap();
    lotline::db::grant_app_role(&pool, lotline::db::APP_ROLE).await.unwrap();
    for (username, roles) in
        [("qa", vec!["qa".to_string()]), ("tester", vec!["operator".into(), "qa".into(), "admin".into()])]
    {
        let form = lotline::auth::users::UserForm {
            username: username.into(),
            display_name: username.into(),
            roles,
            password: if username == "qa" { "qa-demo-pass".into() } else { PASSWORD.into() },
            ..Default::default()
        };
        lotline::auth::users::create(&pool, &lotline::audit::Actor::system("test"), &form).await.unwrap();
    }
    lotline::tools::demo::load(&pool).await.unwrap();
    let standby = Standby::start(&primary);
    let replica = sqlx::PgPool::connect(&standby.url()).await.unwrap();
    let in_recovery: bool = sqlx::query_scalar("select pg_is_in_recovery()").fetch_one(&replica).await.unwrap();
    assert!(in_recovery, "the standby is a standby");

    // lotline with DATABASE_READ_URL set to the standby, over real HTTP.
    let settings = lotline::app::Settings { read_url: Some(standby.url()), ..Default::default() };
    let mut app = crate::helpers::serve(settings, pool.clone()).await;
    app.login("tester", PASSWORD).await;
    let a = &app;
    eventually("reports switch to the standby", || async { read_replica(a).await == "ok" }).await;
    let before = lots_csv(&app).await;

    // Replay paused on the standby: what the primary writes now is not there yet.
    sqlx::query("select pg_wal_replay_pause()").execute(&replica).await.unwrap();
    let today = crate::helpers::site_today(&pool).await.to_string();
    let response = crate::rules::receive(&app, "FLOUR-T55", "250", &today).await;
    let code = crate::rules::received_code(&app, response).await;
    let lot_id: String =
        sqlx::query_scalar("select id::text from lots where code = $1").bind(&code).fetch_one(&pool).await.unwrap();

    // The lot's page and the lot list read the primary: the new lot is there.
    assert!(text(&app.page(&format!("/lots/{lot_id}")).await, "h1").contains(&code));
    assert!(app.get("/lots?q=FLOUR-T55").await.text().await.unwrap().contains(&code));
    // The export and the trace read the standby, which has not replayed it.
    let paused = lots_csv(&app).await;
    assert!(!paused.contains(&code), "the export comes from the standby:\n{paused}");
    assert_eq!(paused, before);
    assert_eq!(app.get(&format!("/trace?lot_id={lot_id}")).await.status(), 404, "the standby has no such lot yet");

    // A recall opened right after the posting sees it: its scope reads the primary.
    app.client = new_client();
    app.login("qa", "qa-demo-pass").await;
    let opened = app
        .submit(
            &format!("/recalls/new?lot={lot_id}"),
            "#recall-form",
            &[
                ("reason", "Foreign matter found in flour"),
                ("signer", "qa"),
                ("password", "qa-demo-pass"),
                ("kind", "mock"),
            ],
        )
        .await;
    let location = assert_redirect(&opened, "/recalls/");
    let recall = app.page(&location).await;
    assert!(texts(&recall, "#affected-lots tbody td:nth-child(2)").contains(&code), "the recall holds the new lot");

    // Replay resumed: the standby catches up, and the export shows the lot.
    sqlx::query("select pg_wal_replay_resume()").execute(&replica).await.unwrap();
    let (a, c) = (&app, &code);
    eventually("the standby replays the receipt", || async { lots_csv(a).await.contains(c) }).await;
    assert_eq!(app.get(&format!("/trace?lot_id={lot_id}")).await.status(), 200);

    // The standby stops: reports fall back to the primary and keep answering.
    replica.close().await;
    standby.stop();
    let a = &app;
    eventually("reports fall back to the primary", || async { read_replica(a).await == "unavailable" }).await;
    assert!(lots_csv(&app).await.contains(&code));
    drop(standby);
    pool.close().await;
    drop(primary);
}
