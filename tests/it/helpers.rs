//! The test harness: a private PostgreSQL cluster shared by every test process of a run, a
//! template database migrated once, a fresh copy of it per test, and the real app on a free port.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::OnceLock;

use lotline::db::embedded::{Cluster, ClusterOptions};
use reqwest::StatusCode;
use reqwest::header::LOCATION;
use scraper::{Html, Selector};
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection, PgPool};

/// Where the test cluster lives: the test command sets LOTLINE_TEST_DATA_DIR; plain `cargo test`
/// falls back to a folder under target/.
pub fn test_data_dir() -> PathBuf {
    std::env::var_os("LOTLINE_TEST_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("test-db"))
}

/// Connection options for the server every test uses (admin access: it creates databases).
fn server() -> PgConnectOptions {
    static OPTIONS: OnceLock<PgConnectOptions> = OnceLock::new();
    OPTIONS
        .get_or_init(|| {
            if let Ok(url) = std::env::var("LOTLINE_TEST_DATABASE_URL") {
                return url.parse().expect("LOTLINE_TEST_DATABASE_URL is a PostgreSQL URL");
            }
            let dir = test_data_dir();
            std::fs::create_dir_all(&dir).expect("create the test data folder");
            let opts = ClusterOptions { data_dir: dir, bindir: None, ephemeral: true };
            let cluster = Cluster::open(&opts).expect("start the test PostgreSQL cluster");
            let options = cluster.connect_options("postgres");
            cluster.detach(); // the test command stops it when the run ends
            options
        })
        .clone()
}

/// The migrated template: made once per set of migrations, under a lock so that concurrent test
/// processes neither race nor see a half-migrated template.
async fn template() -> String {
    let hash = lotline::db::MIGRATOR
        .iter()
        .flat_map(|m| m.checksum.iter().copied())
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    let name = format!("lotline_template_{hash:016x}");
    let mut admin = PgConnection::connect_with(&server()).await.expect("connect to the test server");
    sqlx::query("select pg_advisory_lock(4242)").execute(&mut admin).await.unwrap();
    lotline::db::create_app_role_if_missing(&server()).await.expect("the application role exists");
    build_template(&mut admin, &name, None, |pool| async move {
        lotline::db::migrate(&pool).await.expect("migrations apply to an empty database");
        lotline::db::grant_app_role(&pool, lotline::db::APP_ROLE).await.expect("the application role is granted");
    })
    .await;
    // Databases of runs long gone (a cluster under target/ outlives its runs; it reached tens of
    // gigabytes): each test's database carries its creation time in its name.
    let old: Vec<String> = sqlx::query_scalar(
        "select datname::text from pg_database
          where (datname ~ '^t_[0-9]+_' and split_part(datname, '_', 2)::bigint < extract(epoch from now()) - 7200)
             or (datname ~ '^lotline_template_[0-9a-f]{16}$' and datname <> $1)",
    )
    .bind(&name)
    .fetch_all(&mut admin)
    .await
    .unwrap();
    for db in old {
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!("drop database if exists {db}"))).execute(&mut admin).await;
    }
    sqlx::query("select pg_advisory_unlock(4242)").execute(&mut admin).await.unwrap();
    admin.close().await.unwrap();
    name
}

/// Makes the template database `name` unless it exists: a database copied from `from` (or
/// empty), given to `prepare`, then renamed, so that no test ever copies a half-made template.
/// The caller holds the lock that keeps others from making the same one.
async fn build_template<F: std::future::Future<Output = ()>>(
    admin: &mut PgConnection,
    name: &str,
    from: Option<&str>,
    prepare: impl FnOnce(PgPool) -> F,
) {
    let exists: bool = sqlx::query_scalar("select exists (select 1 from pg_database where datname = $1)")
        .bind(name)
        .fetch_one(&mut *admin)
        .await
        .unwrap();
    if exists {
        return;
    }
    let building = format!("{name}_building");
    let create = match from {
        Some(from) => format!("create database {building} template {from}"),
        None => format!("create database {building}"),
    };
    for sql in [format!("drop database if exists {building}"), create] {
        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut *admin).await.unwrap();
    }
    let pool = PgPool::connect_with(server().database(&building)).await.unwrap();
    prepare(pool.clone()).await;
    pool.close().await;
    sqlx::query(sqlx::AssertSqlSafe(format!("alter database {building} rename to {name}")))
        .execute(&mut *admin)
        .await
        .unwrap();
}

/// A fresh, migrated database of its own for one test.
pub async fn fresh_database() -> (String, PgPool) {
    fresh_database_from(&template().await).await
}

/// What a demo template holds besides the migrated schema: the user `tester` (every role) and
/// the demo's master data; `Plant` adds the demo QA account and so the demo's first days
/// (receipts, releases, runs, shipments), as `serve --demo` loads them.
#[derive(Clone, Copy)]
pub enum Demo {
    Master,
    Plant,
}

/// The template of `demo`: made once per set of migrations and day (the demo plant is dated
/// today), under a lock, so that tests copy the demo plant instead of each loading it.
async fn demo_template(demo: Demo) -> String {
    let base = template().await;
    let day = chrono::Utc::now().format("%Y%m%d");
    let name = format!("{base}_{}_{day}", if matches!(demo, Demo::Plant) { "p" } else { "m" });
    let mut admin = PgConnection::connect_with(&server()).await.expect("connect to the test server");
    sqlx::query("select pg_advisory_lock(4243)").execute(&mut admin).await.unwrap();
    build_template(&mut admin, &name, Some(&base), |pool| async move {
        let system = lotline::audit::Actor::system("test");
        let mut users = vec![("tester", vec!["operator", "qa", "admin"], PASSWORD)];
        if matches!(demo, Demo::Plant) {
            users.push(("qa", vec!["qa"], "qa-demo-pass"));
        }
        for (username, roles, password) in users {
            let form = lotline::auth::users::UserForm {
                username: username.into(),
                display_name: format!("{username} (test)"),
                roles: roles.iter().map(|r| r.to_string()).collect(),
                password: password.into(),
                ..Default::default()
            };
            lotline::auth::users::create(&pool, &system, &form).await.unwrap();
        }
        lotline::tools::demo::load(&pool).await.expect("the demo plant loads");
    })
    .await;
    // Demo templates of other days or migrations.
    let current = [format!("{base}_m_{day}"), format!("{base}_p_{day}")];
    let all: Vec<String> = sqlx::query_scalar(
        "select datname::text from pg_database where datname ~ '^lotline_template_[0-9a-f]{16}_[mp]_[0-9]{8}$'",
    )
    .fetch_all(&mut admin)
    .await
    .unwrap();
    for db in all.into_iter().filter(|d| !current.contains(d)) {
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!("drop database if exists {db}"))).execute(&mut admin).await;
    }
    sqlx::query("select pg_advisory_unlock(4243)").execute(&mut admin).await.unwrap();
    admin.close().await.unwrap();
    name
}

/// A copy of a demo template, for tests that call operations directly (no server).
pub async fn demo_database(demo: Demo) -> PgPool {
    fresh_database_from(&demo_template(demo).await).await.1
}

/// The app on a copy of a demo template, with `tester` (every role) signed in.
pub async fn spawn_demo(demo: Demo) -> TestApp {
    let (_, pool) = fresh_database_from(&demo_template(demo).await).await;
    let mut app = serve(lotline::app::Settings::default(), pool).await;
    app.login("tester", PASSWORD).await;
    app
}

/// A fresh database of its own for one test, copied from `template`.
async fn fresh_database_from(template: &str) -> (String, PgPool) {
    let created = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let name = format!("t_{created}_{}", uuid::Uuid::new_v4().simple());
    let mut admin = PgConnection::connect_with(&server()).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("create database {name} template {template}")))
        .execute(&mut admin)
        .await
        .unwrap();
    admin.close().await.unwrap();
    let pool =
        sqlx::postgres::PgPoolOptions::new().max_connections(8).connect_with(server().database(&name)).await.unwrap();
    (name, pool)
}

/// The real application, serving HTTP on a free loopback port, on its own database.
pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    /// Direct access for fixtures and for checking what was (not) written, as the schema's owner.
    pub pool: PgPool,
    /// The app's own pool (the application role).
    pub app_pool: PgPool,
    /// The CSRF token of the signed-in session (empty when anonymous).
    pub csrf: String,
}

/// The password of every user the tests create.
pub const PASSWORD: &str = "correct horse battery";

/// The app with a signed-in user who holds every role.
pub async fn spawn_app() -> TestApp {
    let mut app = spawn_anonymous().await;
    app.create_user("tester", &["operator", "qa", "admin"]).await;
    app.login("tester", PASSWORD).await;
    app
}

/// The app with nobody signed in.
pub async fn spawn_anonymous() -> TestApp {
    let (_, pool) = fresh_database().await;
    serve(lotline::app::Settings::default(), pool).await
}

/// The app with a user holding every role signed in, on a database whose sessions start with
/// `zone` as their `TimeZone`: the database server's own date then differs from a site's.
pub async fn spawn_app_with_database_zone(zone: &str) -> TestApp {
    let (name, pool) = fresh_database().await;
    sqlx::query(sqlx::AssertSqlSafe(format!("alter database {name} set timezone to '{zone}'")))
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let pool =
        sqlx::postgres::PgPoolOptions::new().max_connections(8).connect_with(server().database(&name)).await.unwrap();
    let mut app = serve(lotline::app::Settings::default(), pool).await;
    app.create_user("tester", &["operator", "qa", "admin"]).await;
    app.login("tester", PASSWORD).await;
    app
}

/// The application as `serve` builds it (`Application`: change watcher, link index and all),
/// with `settings` (a replica…), serving HTTP on a free loopback port once it is ready; nobody
/// signed in. `pool` is the tests' own access to the same database, as the schema's owner; the
/// app works as the application role, as it does in production.
pub async fn serve(settings: lotline::app::Settings, pool: PgPool) -> TestApp {
    let app_pool = app_role_pool(&pool).await;
    serve_app(lotline::app::Application::build(app_pool, settings).unwrap(), pool).await
}

/// A pool on `pool`'s database as the application role.
pub async fn app_role_pool(pool: &PgPool) -> PgPool {
    let options = pool.connect_options().as_ref().clone().username(lotline::db::APP_ROLE);
    sqlx::postgres::PgPoolOptions::new().max_connections(8).connect_with(options).await.unwrap()
}

/// Serves an application a test built (and may have kept a handle of, such as its change watcher).
pub async fn serve_app(app: lotline::app::Application, pool: PgPool) -> TestApp {
    app.ready().await;
    let app_pool = app.state().pool.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        app.run_until_stopped(listener, std::future::pending()).await.unwrap();
    });
    TestApp { addr, client: new_client(), pool, app_pool, csrf: String::new() }
}

impl TestApp {
    /// Another browser on the same server: its own cookies, nobody signed in.
    pub fn another(&self) -> TestApp {
        TestApp {
            addr: self.addr,
            client: new_client(),
            pool: self.pool.clone(),
            app_pool: self.app_pool.clone(),
            csrf: String::new(),
        }
    }
}

pub fn new_client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).cookie_store(true).build().unwrap()
}

/// Signs in through the login form, as a browser does; returns the login response.
pub async fn sign_in(client: &reqwest::Client, base: &str, username: &str, password: &str) -> reqwest::Response {
    let page = client.get(format!("{base}/login")).send().await.unwrap().text().await.unwrap();
    let token = value(&Html::parse_document(&page), "input[name=login_token]");
    client
        .post(format!("{base}/login"))
        .form(&[("username", username), ("password", password), ("login_token", &token), ("next", "/")])
        .send()
        .await
        .unwrap()
}

impl TestApp {
    /// Creates a user directly (a fixture), with the test password.
    pub async fn create_user(&self, username: &str, roles: &[&str]) -> uuid::Uuid {
        let form = lotline::auth::users::UserForm {
            username: username.into(),
            display_name: format!("{username} (test)"),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            password: PASSWORD.into(),
            ..Default::default()
        };
        match lotline::auth::users::create(&self.pool, &lotline::audit::Actor::system("test"), &form).await {
            Ok(id) => id,
            Err(e) => panic!("test user {username}: {e:?}"),
        }
    }

    /// Signs in with a fresh cookie jar; keeps the session's CSRF token for `post_form`.
    pub async fn login(&mut self, username: &str, password: &str) {
        self.client = new_client();
        let response = sign_in(&self.client, &format!("http://{}", self.addr), username, password).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{username} signs in");
        let account = self.page("/account").await;
        self.csrf = value(&account, "#token-form input[name=csrf_token]");
        assert!(!self.csrf.is_empty());
    }

    /// Posts `fields` with the session's CSRF token, as the page's form would.
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let mut all = fields.to_vec();
        all.push(("csrf_token", &self.csrf));
        self.post_raw(path, &all).await
    }

    /// Posts exactly `fields`: no CSRF token unless given.
    pub async fn post_raw(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        self.client.post(self.url(path)).form(fields).send().await.expect("POST")
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("GET")
    }

    /// GET a page that must answer 200 with HTML, parsed.
    pub async fn page(&self, path: &str) -> Html {
        let response = self.get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        Html::parse_document(&response.text().await.unwrap())
    }

    /// Fills the form at `form_page` (every field it renders, hidden ones included), overrides
    /// `fields`, and posts it to the form's action — as a browser would.
    pub async fn submit(&self, form_page: &str, form_css: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let page = self.page(form_page).await;
        let form = page.select(&sel(form_css)).next().unwrap_or_else(|| panic!("{form_page} has {form_css}"));
        let action = form.value().attr("action").expect("form action").to_string();
        let mut values = form_values(&form);
        for (name, value) in fields {
            values.retain(|(n, _)| n != name);
            if !value.is_empty() || !is_checkbox(&form, name) {
                values.push((name.to_string(), value.to_string()));
            }
        }
        self.client.post(self.url(&action)).form(&values).send().await.expect("POST")
    }

    pub async fn count(&self, table: &str) -> i64 {
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!("select count(*) from {table}")))
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }
}

/// What a browser sends for `form` untouched: each field's value, the selected option, the ticked
/// boxes and radio buttons.
pub fn form_values(form: &scraper::ElementRef) -> Vec<(String, String)> {
    let mut values: Vec<(String, String)> = Vec::new();
    for input in form.select(&sel("input[name], select[name], textarea[name]")) {
        let el = input.value();
        let name = el.attr("name").unwrap().to_string();
        let value = match el.name() {
            "select" => input
                .select(&sel("option[selected]"))
                .next()
                .or_else(|| input.select(&sel("option")).next())
                .and_then(|o| o.value().attr("value"))
                .unwrap_or("")
                .to_string(),
            "textarea" => input.text().collect(),
            _ if matches!(el.attr("type"), Some("radio" | "checkbox")) => {
                if el.attr("checked").is_none() {
                    continue;
                }
                el.attr("value").unwrap_or("on").to_string()
            }
            _ => el.attr("value").unwrap_or("").to_string(),
        };
        values.push((name, value));
    }
    values
}

fn is_checkbox(form: &scraper::ElementRef, name: &str) -> bool {
    form.select(&sel(&format!("input[type=checkbox][name=\"{name}\"]"))).next().is_some()
}

pub fn sel(css: &str) -> Selector {
    Selector::parse(css).unwrap_or_else(|_| panic!("valid selector {css}"))
}

/// The text of every element matching `css`, trimmed and with whitespace collapsed.
pub fn texts(html: &Html, css: &str) -> Vec<String> {
    html.select(&sel(css))
        .map(|e| e.text().collect::<Vec<_>>().join(" ").split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

/// The one text matching `css`.
pub fn text(html: &Html, css: &str) -> String {
    let all = texts(html, css);
    assert_eq!(all.len(), 1, "exactly one {css}, found {all:?}");
    all.into_iter().next().unwrap()
}

/// The value attribute of the input matching `css`.
pub fn value(html: &Html, css: &str) -> String {
    html.select(&sel(css)).next().unwrap_or_else(|| panic!("{css}")).value().attr("value").unwrap_or("").to_string()
}

/// An attribute of the first element matching `css`.
pub fn value_of(html: &Html, css: &str, attribute: &str) -> String {
    html.select(&sel(css)).next().unwrap_or_else(|| panic!("{css}")).value().attr(attribute).unwrap_or("").to_string()
}

/// Asserts a 303 to a path matching `prefix` and returns it.
pub fn assert_redirect(response: &reqwest::Response, prefix: &str) -> String {
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "expected a redirect to {prefix}");
    let to = response.headers()[LOCATION].to_str().unwrap().to_string();
    assert!(to.starts_with(prefix), "redirect to {to}, expected {prefix}…");
    to
}

/// A refused form: 422 with the given field's message, as the page shows it.
pub async fn assert_field_error(response: reqwest::Response, field: &str, needle: &str) -> Html {
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = Html::parse_document(&response.text().await.unwrap());
    let message = text(&html, &format!("#f-{field}-error"));
    assert!(message.contains(needle), "error for {field}: {message:?} should contain {needle:?}");
    html
}

/// A `DATABASE_URL` for the test database `name`, for running the CLI against it.
pub fn database_url(name: &str) -> String {
    database_url_as(name, server().get_username())
}

/// The URL of database `name` of the test server for `role` (the application role, say).
pub fn database_url_as(name: &str, role: &str) -> String {
    let opts = server();
    let host = match opts.get_socket() {
        Some(dir) => format!(
            "localhost:{}/{name}?host={}",
            opts.get_port(),
            lotline::web::percent_encode(&dir.display().to_string())
        ),
        None => format!("{}:{}/{name}", opts.get_host(), opts.get_port()),
    };
    format!("postgres://{role}@{host}")
}

/// An empty database of its own (no migrations applied), on a server where the application
/// role exists: a new plant's database on a managed PostgreSQL.
pub async fn empty_database() -> String {
    lotline::db::create_app_role_if_missing(&server()).await.unwrap();
    let created = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let name = format!("t_{created}_{}", uuid::Uuid::new_v4().simple());
    let mut admin = PgConnection::connect_with(&server()).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("create database {name}"))).execute(&mut admin).await.unwrap();
    admin.close().await.unwrap();
    name
}

impl TestApp {
    /// The name of this app's database.
    pub async fn database_name(&self) -> String {
        sqlx::query_scalar("select current_database()::text").fetch_one(&self.pool).await.unwrap()
    }
}

/// The demo site RVS's today, in its own time zone: the day every date rule reads (the server's
/// sessions run in UTC, whose date differs from a Chicago plant's every evening).
pub async fn site_today(pool: &PgPool) -> chrono::NaiveDate {
    sqlx::query_scalar("select site_today(id) from sites where code = 'RVS'").fetch_one(pool).await.unwrap()
}
