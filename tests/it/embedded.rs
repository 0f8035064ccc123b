//! The embedded default, driven through the real binary: lotline starts its own PostgreSQL,
//! shares it with other commands, survives crashes and stale files, and leaves nothing behind.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_lotline");

/// A data folder of its own, deleted with its cluster at the end.
pub struct DataDir(pub PathBuf);

impl DataDir {
    pub fn new() -> DataDir {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("cli-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]));
        std::fs::create_dir_all(&dir).unwrap();
        DataDir(dir)
    }

    pub fn lotline(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .env_remove("DATABASE_URL")
            .env_remove("DATABASE_OWNER_URL")
            .env("LOTLINE_DATA_DIR", &self.0)
            .env("LOTLINE_LOG", "info")
            .current_dir(&self.0)
            .stdin(Stdio::null());
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.lotline(args).output().unwrap()
    }

    /// The folder of the cluster, as `lotline db status` reports it.
    pub fn cluster_root(&self) -> PathBuf {
        let out = self.run(&["db", "status"]);
        let text = String::from_utf8_lossy(&out.stdout);
        PathBuf::from(text.trim().rsplit(" in ").next().unwrap())
    }

    pub fn db_running(&self) -> bool {
        let out = self.run(&["db", "status"]);
        String::from_utf8_lossy(&out.stdout).contains("is running")
    }

    /// Every live postgres process serving this data folder's cluster.
    pub fn postgres_pids(&self) -> Vec<u32> {
        let pgdata = self.cluster_root().join("pgdata").canonicalize().unwrap_or_default();
        let mut pids = Vec::new();
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
            let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
            if comm.trim() == "postgres" && std::fs::read_link(entry.path().join("cwd")).is_ok_and(|c| c == pgdata) {
                pids.push(pid);
            }
        }
        pids
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        let _ = self.run(&["db", "destroy", "--yes"]);
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A `lotline serve` process on a free port.
pub struct Server {
    pub child: Option<Child>,
    pub port: u16,
    log: PathBuf,
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Server {
    pub fn start(data: &DataDir, extra: &[&str]) -> Server {
        let port = free_port();
        let log = data.0.join(format!("serve-{port}.log"));
        let mut args = vec!["serve"];
        args.extend_from_slice(extra);
        let child = data
            .lotline(&args)
            .env("LOTLINE_LISTEN", format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut server = Server { child: Some(child), port, log };
        server.wait_healthy();
        server
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn wait_healthy(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if http::status(&self.url("/healthz")).is_ok_and(|code| code == 200) {
                return;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("lotline serve exited with {status}:\n{}", self.log());
            }
            assert!(Instant::now() < deadline, "lotline serve did not become healthy:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().unwrap().id();
        assert!(Command::new("kill").arg(format!("-{signal}")).arg(pid.to_string()).status().unwrap().success());
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub fn stop(mut self) -> String {
        self.signal("TERM");
        let status = wait_exit(self.child.as_mut().unwrap(), Duration::from_secs(60));
        assert!(status.success(), "lotline serve exited with {status}:\n{}", self.log());
        self.child = None;
        self.log()
    }

    /// Waits for a server already signalled to exit cleanly.
    pub fn wait_stopped(mut self) -> String {
        let status = wait_exit(self.child.as_mut().unwrap(), Duration::from_secs(60));
        assert!(status.success(), "lotline serve exited with {status}:\n{}", self.log());
        self.child = None;
        self.log()
    }

    /// Kills the server without a chance to clean up, as a crash would.
    pub fn crash(mut self) {
        self.signal("KILL");
        wait_exit(self.child.as_mut().unwrap(), Duration::from_secs(10));
        self.child = None;
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn wait_exit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "the process did not exit in {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

mod http {
    //! A tiny blocking GET for the process tests (they run outside any async runtime).
    pub fn status(url: &str) -> std::io::Result<u16> {
        use std::io::{Read, Write};
        let rest = url.strip_prefix("http://").unwrap();
        let (host, path) = rest.split_once('/').map(|(h, p)| (h, format!("/{p}"))).unwrap();
        let mut stream = std::net::TcpStream::connect(host)?;
        stream.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
        write!(stream, "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        let code = response.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
        Ok(code)
    }
}

/// A client signed in as the demo administrator, with the session's CSRF token.
async fn admin(server: &Server) -> (reqwest::Client, String) {
    let client = crate::helpers::new_client();
    let response = crate::helpers::sign_in(&client, &server.url(""), "admin", "admin-demo-pass").await;
    assert_eq!(response.status(), 303, "the demo admin signs in");
    let page = client.get(server.url("/account")).send().await.unwrap().text().await.unwrap();
    let csrf = crate::helpers::value(&scraper::Html::parse_document(&page), "#token-form input[name=csrf_token]");
    (client, csrf)
}

async fn dashboard_count(client: &reqwest::Client, server: &Server, name: &str) -> String {
    let html = scraper::Html::parse_document(&client.get(server.url("/")).send().await.unwrap().text().await.unwrap());
    crate::helpers::text(&html, &format!("[data-count={name}]"))
}

#[tokio::test]
async fn serve_runs_its_own_database_keeps_the_data_across_restarts_and_leaves_no_postgres_behind() {
    let data = DataDir::new();
    let server = Server::start(&data, &["--demo"]);
    let (client, csrf) = admin(&server).await;
    assert_eq!(dashboard_count(&client, &server, "materials").await, "11", "the demo plant is loaded");
    assert!(!data.postgres_pids().is_empty(), "a private postgres serves the data folder");
    // The server works as the application role, which owns nothing and is no superuser.
    let opts = lotline::db::embedded::ClusterOptions { data_dir: data.0.clone(), bindir: None, ephemeral: false };
    let cluster =
        tokio::task::spawn_blocking(move || lotline::db::embedded::Cluster::open(&opts)).await.unwrap().unwrap();
    let owner = sqlx::PgPool::connect_with(cluster.connect_options(lotline::db::DATABASE)).await.unwrap();
    let roles: Vec<String> = sqlx::query_scalar(
        "select distinct usename::text from pg_stat_activity
          where datname = current_database() and backend_type = 'client backend' and pid <> pg_backend_pid()",
    )
    .fetch_all(&owner)
    .await
    .unwrap();
    assert_eq!(roles, [lotline::db::APP_ROLE], "the server connects as the application role only");
    let as_app =
        sqlx::PgPool::connect_with(cluster.connect_options(lotline::db::DATABASE).username(lotline::db::APP_ROLE))
            .await
            .unwrap();
    assert!(lotline::db::audit_binds(&as_app).await.unwrap(), "the audit trail's triggers bind the server's role");
    as_app.close().await;
    owner.close().await;
    cluster.detach();
    let key = uuid::Uuid::new_v4().to_string();
    let created = client
        .post(server.url("/sites"))
        .form(&[
            ("code", "KEPT"),
            ("name", "Kept site"),
            ("time_zone", "UTC"),
            ("idempotency_key", &key),
            ("csrf_token", &csrf),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 303);
    let log = server.stop();
    assert!(log.contains("stopping the private PostgreSQL server"), "{log}");
    assert!(data.postgres_pids().is_empty(), "no postgres process is left behind");

    let server = Server::start(&data, &["--demo"]);
    let (client, _) = admin(&server).await;
    assert_eq!(
        dashboard_count(&client, &server, "sites").await,
        "3",
        "the data is kept, and the demo is not loaded twice"
    );
    assert_eq!(dashboard_count(&client, &server, "materials").await, "11");
    server.stop();
    assert!(data.postgres_pids().is_empty());
}

#[test]
fn a_second_command_uses_the_running_database_instead_of_failing_on_its_lock() {
    let data = DataDir::new();
    let server = Server::start(&data, &[]);
    let out = data.run(&["migrate"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already running; connecting to it"));
    assert_eq!(http::status(&server.url("/healthz")).unwrap(), 200, "the server's database still runs");
    server.stop();
    assert!(data.postgres_pids().is_empty());
}

#[test]
fn a_database_orphaned_by_a_crashed_server_is_adopted_and_stopped_by_the_next_one() {
    let data = DataDir::new();
    Server::start(&data, &[]).crash();
    assert!(!data.postgres_pids().is_empty(), "the crashed server's postgres still runs");
    let server = Server::start(&data, &[]);
    assert!(server.log().contains("already running"), "{}", server.log());
    server.stop();
    assert!(data.postgres_pids().is_empty(), "the adopting server stopped it");
}

#[test]
fn a_stale_pid_file_whose_pid_now_belongs_to_another_process_is_recovered() {
    let data = DataDir::new();
    let server = Server::start(&data, &[]);
    let pgdata = data.cluster_root().join("pgdata");
    let postmaster: u32 =
        std::fs::read_to_string(pgdata.join("postmaster.pid")).unwrap().lines().next().unwrap().parse().unwrap();
    server.crash();
    // The machine "crashes": the postmaster dies without removing its pid file, and the pid is
    // later reused by an unrelated process (this test itself).
    Command::new("kill").args(["-KILL", &postmaster.to_string()]).status().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !data.postgres_pids().is_empty() {
        assert!(Instant::now() < deadline, "postgres processes did not exit");
        std::thread::sleep(Duration::from_millis(100));
    }
    let pid_file = std::fs::read_to_string(pgdata.join("postmaster.pid")).unwrap();
    let reused = pid_file.replacen(&postmaster.to_string(), &std::process::id().to_string(), 1);
    std::fs::write(pgdata.join("postmaster.pid"), reused).unwrap();

    let server = Server::start(&data, &[]);
    assert!(server.log().contains("removing a stale PostgreSQL pid file"), "{}", server.log());
    server.stop();
    assert!(data.postgres_pids().is_empty());
}

#[test]
fn db_subcommands_start_report_and_stop_the_private_database() {
    let data = DataDir::new();
    assert!(!data.db_running());
    let out = data.run(&["db", "start"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(data.db_running(), "db start leaves it running");
    let out = data.run(&["migrate"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(data.db_running(), "a command that used it leaves it running: db start asked for that");
    let out = data.run(&["db", "stop"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "private PostgreSQL stopped");
    assert!(!data.db_running());
    assert!(data.postgres_pids().is_empty());
    let refused = data.run(&["db", "destroy"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("add --yes"));
}

#[test]
fn missing_postgresql_binaries_get_one_clear_error_naming_the_package_and_the_alternative() {
    let data = DataDir::new();
    let empty = data.0.join("no-binaries");
    std::fs::create_dir_all(&empty).unwrap();
    let out = data.lotline(&["migrate"]).env("LOTLINE_PG_BINDIR", &empty).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no PostgreSQL server binaries"), "{err}");
    assert!(err.contains("apt-get install postgresql"), "{err}");
    assert!(err.contains("DATABASE_URL"), "{err}");
    assert!(!Path::new(&empty).join("initdb").exists());
}

/// The postmaster's pid, from the cluster's `postmaster.pid`.
fn postmaster(data: &DataDir) -> u32 {
    let text = std::fs::read_to_string(data.cluster_root().join("pgdata/postmaster.pid")).unwrap();
    text.lines().next().unwrap().trim().parse().unwrap()
}

#[tokio::test]
async fn postgresql_restarted_under_a_serving_lotline_gives_a_clear_503_then_recovers_with_every_commit() {
    let data = DataDir::new();
    let server = Server::start(&data, &["--demo"]);
    let (client, csrf) = admin(&server).await;
    let key = uuid::Uuid::new_v4().to_string();
    let created = client
        .post(server.url("/sites"))
        .form(&[
            ("code", "BEFORE"),
            ("name", "Committed before"),
            ("time_zone", "UTC"),
            ("idempotency_key", &key),
            ("csrf_token", &csrf),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 303);

    // PostgreSQL goes down (a fast shutdown, as an administrator's restart would do).
    let pid = postmaster(&data);
    assert!(Command::new("kill").args(["-INT", &pid.to_string()]).status().unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(30);
    while !data.postgres_pids().is_empty() {
        assert!(Instant::now() < deadline, "postgres did not stop");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let down = client.get(server.url("/")).send().await.unwrap();
    assert_eq!(down.status(), 503);
    let page = down.text().await.unwrap();
    assert!(page.contains("Database unavailable") && page.contains("Nothing was changed"), "{page}");
    let health = client.get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 503, "monitors see it too");

    // It comes back; lotline recovers by itself and nothing committed is lost.
    let out = data.run(&["db", "start"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = client.get(server.url("/healthz")).send().await.unwrap().status();
        if status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "lotline did not recover: {status}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(dashboard_count(&client, &server, "sites").await, "3", "the site committed before the outage is there");
    let log = server.stop();
    assert!(log.contains("database unavailable"), "the outage is in the log");
    assert!(data.postgres_pids().is_empty(), "no postgres is left behind");
}

#[tokio::test]
async fn sigterm_during_a_burst_of_receipts_leaves_each_one_whole_or_absent() {
    let data = DataDir::new();
    let server = Server::start(&data, &["--demo"]);
    // A token of the demo QA account, which may receive.
    let client = crate::helpers::new_client();
    let response = crate::helpers::sign_in(&client, &server.url(""), "qa", "qa-demo-pass").await;
    assert_eq!(response.status(), 303);
    let page = client.get(server.url("/account")).send().await.unwrap().text().await.unwrap();
    let csrf = crate::helpers::value(&scraper::Html::parse_document(&page), "#token-form input[name=csrf_token]");
    let made = client
        .post(server.url("/account/tokens"))
        .form(&[("name", "burst"), ("scope", "write"), ("days", "30"), ("csrf_token", &csrf)])
        .send()
        .await
        .unwrap();
    let secret = crate::helpers::text(&scraper::Html::parse_document(&made.text().await.unwrap()), "#new-token");

    // Sixty receipts at once; SIGTERM while they run.
    let api = reqwest::Client::new();
    let mut posts = Vec::new();
    for i in 0..60 {
        let request = api.post(server.url("/api/v1/receipts")).bearer_auth(&secret).json(&serde_json::json!({
            "idempotency_key": uuid::Uuid::new_v4(), "site": "RVS", "supplier": "SALINAS", "order_ref": format!("BURST-{i}"),
            "lines": [{ "material": "SALT", "supplier_lot": format!("B{i}"), "quantity": "1", "location": "RAW-A" },
                      { "material": "SUGAR", "supplier_lot": format!("B{i}"), "quantity": "2", "location": "RAW-A" }]
        }));
        posts.push(tokio::spawn(async move { request.send().await.map(|r| r.status().as_u16()).unwrap_or(0) }));
    }
    tokio::time::sleep(Duration::from_millis(150)).await;
    server.signal("TERM");
    let mut succeeded = 0;
    for p in posts {
        if p.await.unwrap() == 201 {
            succeeded += 1;
        }
    }
    let log = server.wait_stopped();
    assert!(log.contains("lotline stopped"), "{log}");

    // After a restart: every receipt that answered 201 is there, whole; no receipt is half there;
    // the ledger and on-hand agree.
    let opts = lotline::db::embedded::ClusterOptions { data_dir: data.0.clone(), bindir: None, ephemeral: false };
    let cluster =
        tokio::task::spawn_blocking(move || lotline::db::embedded::Cluster::open(&opts)).await.unwrap().unwrap();
    let pool = sqlx::PgPool::connect_with(cluster.connect_options(lotline::db::DATABASE)).await.unwrap();
    let (receipts, whole): (i64, i64) = sqlx::query_as(
        "select count(*), count(*) filter (where (select count(*) from receipt_lines l where l.receipt_id = r.id) = 2)
           from receipts r where r.order_ref like 'BURST-%'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(receipts, whole, "no receipt is half written");
    assert!(receipts >= succeeded, "every receipt that answered 201 was kept ({receipts} kept, {succeeded} answered)");
    let disagreements: i64 = sqlx::query_scalar(
        "select count(*) from (select lot_id, location_id, sum(quantity) as q from stock_movements group by 1, 2) m
           full join on_hand o using (lot_id, location_id) where coalesce(m.q, 0) <> coalesce(o.quantity, 0)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(disagreements, 0, "the ledger and on-hand agree");
    pool.close().await;
    tokio::task::spawn_blocking(move || cluster.stop()).await.unwrap().unwrap();
    assert!(data.postgres_pids().is_empty());
}

/// A token for a demo account on `server`.
async fn token(server: &Server, user: &str, password: &str) -> String {
    let client = crate::helpers::new_client();
    let response = crate::helpers::sign_in(&client, &server.url(""), user, password).await;
    assert_eq!(response.status(), 303);
    let page = client.get(server.url("/account")).send().await.unwrap().text().await.unwrap();
    let csrf = crate::helpers::value(&scraper::Html::parse_document(&page), "#token-form input[name=csrf_token]");
    let made = client
        .post(server.url("/account/tokens"))
        .form(&[("name", "two"), ("scope", "write"), ("days", "30"), ("csrf_token", &csrf)])
        .send()
        .await
        .unwrap();
    crate::helpers::text(&scraper::Html::parse_document(&made.text().await.unwrap()), "#new-token")
}

#[tokio::test]
async fn two_servers_on_one_database_never_repeat_a_lot_code_nor_go_below_zero() {
    let data = DataDir::new();
    let first = Server::start(&data, &["--demo"]);
    let second = Server::start(&data, &[]);
    let secret = token(&first, "qa", "qa-demo-pass").await;
    let api = reqwest::Client::new();
    let servers = [first.url(""), second.url("")];
    // Both receive flour at once, and both run dough from the same flour lots at once: more is
    // asked of those lots than they hold, so some consumptions must be refused.
    let mut tasks = Vec::new();
    for i in 0..40 {
        let base = servers[i % 2].clone();
        let (api, secret) = (api.clone(), secret.clone());
        tasks.push(tokio::spawn(async move {
            let body = serde_json::json!({
                "idempotency_key": uuid::Uuid::new_v4(), "site": "RVS", "supplier": "PRAIRIE-MILL",
                "lines": [{ "material": "FLOUR-T55", "supplier_lot": format!("TWO-{i}"), "quantity": "5", "location": "SILO-1" }]
            });
            let r = api.post(format!("{base}/api/v1/receipts")).bearer_auth(&secret).json(&body).send().await.unwrap();
            assert_eq!(r.status(), 201);
        }));
    }
    let flour: Vec<String> = {
        let lots: serde_json::Value = api
            .get(format!("{}/api/v1/lots?q=FLOUR-T55&per_page=10", servers[0]))
            .bearer_auth(&secret)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        lots["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["status"] == "released")
            .map(|l| l["code"].as_str().unwrap().to_string())
            .collect()
    };
    for i in 0..20 {
        let base = servers[i % 2].clone();
        let (api, secret, flour) = (api.clone(), secret.clone(), flour.clone());
        tasks.push(tokio::spawn(async move {
            let run: serde_json::Value = api
                .post(format!("{base}/api/v1/runs"))
                .bearer_auth(&secret)
                .json(&serde_json::json!({ "idempotency_key": uuid::Uuid::new_v4(), "site": "RVS", "output_material": "DOUGH-BR" }))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let id = run["id"].as_str().unwrap();
            for lot in &flour {
                let r = api
                    .post(format!("{base}/api/v1/runs/{id}/inputs"))
                    .bearer_auth(&secret)
                    .json(&serde_json::json!({ "idempotency_key": uuid::Uuid::new_v4(), "lot": lot, "quantity": "120" }))
                    .send()
                    .await
                    .unwrap();
                assert!([201, 422].contains(&r.status().as_u16()), "{}", r.text().await.unwrap());
            }
            let r = api
                .post(format!("{base}/api/v1/runs/{id}/outputs"))
                .bearer_auth(&secret)
                .json(&serde_json::json!({ "idempotency_key": uuid::Uuid::new_v4(), "quantity": "10", "location": "LINE-1" }))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    second.stop();
    first.stop();

    let opts = lotline::db::embedded::ClusterOptions { data_dir: data.0.clone(), bindir: None, ephemeral: false };
    let cluster =
        tokio::task::spawn_blocking(move || lotline::db::embedded::Cluster::open(&opts)).await.unwrap().unwrap();
    let pool = sqlx::PgPool::connect_with(cluster.connect_options(lotline::db::DATABASE)).await.unwrap();
    let (lots, codes): (i64, i64) = sqlx::query_as("select count(*), count(distinct (material_id, code)) from lots")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(lots, codes, "no lot code repeats");
    let made: i64 =
        sqlx::query_scalar("select count(*) from lots where supplier_lot like 'TWO-%'").fetch_one(&pool).await.unwrap();
    assert_eq!(made, 40);
    let negative: i64 =
        sqlx::query_scalar("select count(*) from on_hand where quantity < 0").fetch_one(&pool).await.unwrap();
    assert_eq!(negative, 0);
    let disagreements: i64 = sqlx::query_scalar(
        "select count(*) from (select lot_id, location_id, sum(quantity) as q from stock_movements group by 1, 2) m
           full join on_hand o using (lot_id, location_id) where coalesce(m.q, 0) <> coalesce(o.quantity, 0)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(disagreements, 0, "the ledger totals equal on-hand");
    let consumed: rust_decimal::Decimal = sqlx::query_scalar(
        "select coalesce(-sum(s.quantity), 0) from stock_movements s join lots l on l.id = s.lot_id where s.kind = 'consume' and l.code = any($1)",
    )
    .bind(&flour)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(consumed > rust_decimal::Decimal::ZERO, "some runs got flour");
    pool.close().await;
    tokio::task::spawn_blocking(move || cluster.stop()).await.unwrap().unwrap();
}
