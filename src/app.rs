//! The application: shared state, the router with its layers, and serving with graceful shutdown.

use std::sync::Arc;
use std::time::Duration;

use askama::Template;
use axum::Router;
use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::http::header::{CONTENT_TYPE, SET_COOKIE};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use sqlx::PgPool;
use tokio::net::TcpListener;
use tower_http::compression::CompressionLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::auth::SessionPolicy;
use crate::error::{Error, ErrorInfo};
use crate::web::{self, AppState, Layout, WROTE_COOKIE};

/// How a server is set up: from the command line for `serve`, the defaults for bench and tests.
#[derive(Clone)]
pub struct Settings {
    pub sessions: SessionPolicy,
    /// Where lotline is reached (`LOTLINE_PUBLIC_URL`).
    pub public_url: String,
    /// The header a trusted proxy puts the client's address in (`LOTLINE_TRUSTED_PROXY_HEADER`).
    pub client_ip_header: Option<String>,
    /// A streaming replica for reports (`DATABASE_READ_URL`), and its pool's size.
    pub read_url: Option<String>,
    pub read_connections: u32,
    /// A network label printer taking ZPL (`LOTLINE_LABEL_PRINTER`, host:port).
    pub label_printer: Option<String>,
    /// How often new postings are published as EPCIS events and sent to subscribers; None: only
    /// when events are read (the bench, which measures the server without background work).
    pub epcis_every: Option<Duration>,
    /// The link index to keep; a new, empty one unless a caller built it already (the bench
    /// measures the build).
    pub links: Arc<crate::trace::links::LinkIndex>,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            sessions: SessionPolicy::default(),
            public_url: "http://127.0.0.1:8080".into(),
            label_printer: None,
            client_ip_header: None,
            read_url: None,
            read_connections: 4,
            epcis_every: Some(Duration::from_secs(2)),
            links: Default::default(),
        }
    }
}

/// The application, built in one place for `serve`, the bench and the tests: its state, and the
/// background work that keeps that state true (the replica watch, the change watcher the lot-page
/// cache relies on, the link index, foreign keys a bulk import left unconfirmed), started once.
pub struct Application {
    state: AppState,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Application {
    pub fn build(pool: PgPool, settings: Settings) -> anyhow::Result<Application> {
        let reads = match settings.read_url.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
            Some(url) => crate::db::Reads::with_replica(pool.clone(), url, settings.read_connections)?,
            None => crate::db::Reads::primary(pool.clone()),
        };
        let changes = crate::db::Changes::default();
        let mut tasks = vec![
            tokio::spawn(reads.clone().watch()),
            tokio::spawn(changes.clone().watch(pool.clone())),
            tokio::spawn(settings.links.clone().keep(pool.clone())),
            tokio::spawn(crate::db::keep_foreign_keys_confirmed(pool.clone())),
            tokio::spawn(housekeeping(pool.clone())),
        ];
        if let Some(every) = settings.epcis_every {
            let publisher = crate::documents::epcis::subscriptions::publish_and_deliver_forever;
            tasks.push(tokio::spawn(publisher(pool.clone(), settings.public_url.clone(), every)));
        }
        let state = AppState {
            pool,
            changes,
            lot_pages: Default::default(),
            links: settings.links,
            reads,
            sessions: settings.sessions,
            public_url: settings.public_url,
            label_printer: settings.label_printer.filter(|p| !p.trim().is_empty()),
            client_ip_header: settings.client_ip_header.filter(|h| !h.trim().is_empty()),
        };
        Ok(Application { state, tasks })
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Waits until the link index is built and the change watcher has looked once: from then on
    /// traces walk memory and lot pages may be kept. A server serves before this (traces read
    /// the database meanwhile); tests and the bench wait, so that they measure the server as it runs.
    pub async fn ready(&self) {
        while !self.state.links.is_ready() || self.state.changes.current().is_none() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Serves on `listener` until `shutdown` resolves; requests in flight are finished, then the
    /// background work stops.
    pub async fn run_until_stopped(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        serve(listener, router(self.state.clone()), shutdown).await
    }
}

impl Drop for Application {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// The whole application, as served and as tested.
pub fn router(state: AppState) -> Router {
    let (api, api_doc) = web::api::router();
    Router::new()
        .merge(web::auth::router())
        .merge(web::account::router())
        .merge(api)
        .merge(web::api::docs_router(api_doc))
        .merge(web::audit::router())
        .merge(web::users::router())
        .merge(web::home::router())
        .merge(web::health::router())
        .merge(web::static_files::router())
        .merge(web::lots::router())
        .merge(web::materials::router())
        .merge(web::parties::router())
        .merge(web::sites::router())
        .merge(web::locations::router())
        .merge(web::rules::router())
        .merge(web::receipts::router())
        .merge(web::runs::router())
        .merge(web::shipments::router())
        .merge(web::expiry::router())
        .merge(web::trace::router())
        .merge(web::recalls::router())
        .merge(web::labels::router())
        .merge(web::pallets::router())
        .merge(web::lookup::router())
        .merge(web::counts::router())
        .fallback(|| async { Error::NotFound })
        .with_state(state.clone())
        .layer(middleware::from_fn_with_state(state, web::auth::authenticate))
        .layer(middleware::from_fn(render_errors))
        .layer(middleware::from_fn(mark_writes))
        .layer(middleware::from_fn(time_limit))
        .layer(middleware::from_fn(strict_transport))
        .layer(CompressionLayer::new())
        .layer(security_header("x-content-type-options", "nosniff"))
        .layer(security_header("x-frame-options", "DENY"))
        .layer(security_header("referrer-policy", "same-origin"))
        .layer(security_header(
            "content-security-policy",
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &Request| {
                let route = req.extensions().get::<MatchedPath>().map(MatchedPath::as_str).unwrap_or("unmatched");
                tracing::info_span!("http", http.method = %req.method(), http.route = route, http.path = %req.uri().path())
            }),
        )
}

async fn mark_writes(request: Request, next: Next) -> Response {
    // Signing in and out change no plant data.
    let path = request.uri().path();
    let write = !matches!(*request.method(), axum::http::Method::GET | axum::http::Method::HEAD)
        && path != "/login"
        && path != "/logout";
    let mut response = next.run(request).await;
    if write && response.status().as_u16() < 400 {
        let cookie = format!("{WROTE_COOKIE}=1; Path=/; Max-Age=10; HttpOnly; SameSite=Lax");
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(SET_COOKIE, value);
        }
    }
    response
}

/// How long a request may take: 30 s; a PDF, printed by Chromium, five minutes (the report of a
/// recall reaching thousands of lots runs to hundreds of pages). Past it the answer is a 503.
async fn time_limit(request: Request, next: Next) -> Response {
    let limit = if request.uri().path().ends_with(".pdf") { Duration::from_secs(300) } else { Duration::from_secs(30) };
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

/// At start and every hour: writes the audit trail's head (last entry and hash) to the log — a
/// copy outside the database that `lotline audit verify --expect-head` can check against — and
/// forgets sign-in and lookup counters and sessions that have run out.
async fn housekeeping(pool: PgPool) {
    let mut every = tokio::time::interval(Duration::from_secs(3600));
    let mut last = None;
    loop {
        every.tick().await;
        for sql in [
            "delete from login_throttle where window_start < now() - interval '1 day' and (locked_until is null or locked_until < now())",
            "delete from lookup_throttle where window_start < now() - interval '1 day'",
            "delete from signature_failures where window_start < now() - interval '1 day'",
            "delete from sessions where expires_at < now()",
        ] {
            if let Err(e) = sqlx::query(sql).execute(&pool).await {
                tracing::warn!(error = %e, "housekeeping failed");
            }
        }
        match crate::audit::head(&pool).await {
            Ok(Some(head)) if last.as_ref() != Some(&head) => {
                let (entry, hash) = &head;
                tracing::info!(audit.entry = entry, audit.head = %hash, "audit trail head");
                last = Some(head);
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "could not read the audit trail's head"),
        }
    }
}

/// Behind https (the proxy says so), browsers are told to come back only over https.
async fn strict_transport(request: Request, next: Next) -> Response {
    let https = request.headers().get("x-forwarded-proto").is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"));
    let mut response = next.run(request).await;
    if https {
        response.headers_mut().insert(
            HeaderName::from_static("strict-transport-security"),
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
        // Every cookie set over https is Secure (the flash message's too, wherever it is set).
        let cookies: Vec<HeaderValue> = response.headers().get_all(SET_COOKIE).iter().cloned().collect();
        response.headers_mut().remove(SET_COOKIE);
        for cookie in cookies {
            let secure = match cookie.to_str() {
                Ok(c) if !c.to_ascii_lowercase().contains("; secure") => {
                    HeaderValue::from_str(&format!("{c}; Secure")).unwrap_or(cookie)
                }
                _ => cookie,
            };
            response.headers_mut().append(SET_COOKIE, secure);
        }
    }
    response
}

fn security_header(name: &'static str, value: &'static str) -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::if_not_present(HeaderName::from_static(name), HeaderValue::from_static(value))
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    layout: Layout,
    title: &'a str,
    message: &'a str,
}

/// Renders every error response in one place: HTML for people, JSON under `/api/`. Errors that
/// come from axum's own extractors (plain text) get the same treatment. Also clears a flash
/// message once a page has shown it.
async fn render_errors(req: Request, next: Next) -> Response {
    let api = req.uri().path().starts_with("/api/");
    let had_flash = web::has_flash_cookie(req.headers());
    let mut response = next.run(req).await;
    let status = response.status();

    if had_flash && !status.is_redirection() && !response.headers().contains_key(SET_COOKIE) {
        let clear = format!("{}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax", web::FLASH_COOKIE);
        if let Ok(v) = HeaderValue::from_str(&clear) {
            response.headers_mut().append(SET_COOKIE, v);
        }
    }
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let info = match response.extensions().get::<ErrorInfo>() {
        Some(info) => info.clone(),
        None => {
            let rendered = response.headers().get(CONTENT_TYPE).is_some_and(|v| {
                v.as_bytes().starts_with(b"text/html") || v.as_bytes().starts_with(b"application/json")
            });
            if rendered {
                return response; // a page or document that renders its own error (a form with field errors)
            }
            let (parts, body) = response.into_parts();
            let text = axum::body::to_bytes(body, 64 * 1024).await.unwrap_or_default();
            let text = String::from_utf8_lossy(&text).trim().to_string();
            response = Response::from_parts(parts, Body::empty());
            plain_error_info(status, text)
        }
    };
    let (mut parts, _) = response.into_parts();
    parts.headers.remove(CONTENT_TYPE);
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    if api {
        let body = serde_json::json!({ "error": { "code": info.code, "message": info.message } });
        return (parts, axum::Json(body)).into_response();
    }
    let page = ErrorPage { layout: Layout::default(), title: info.title, message: &info.message };
    match page.render() {
        Ok(html) => (parts, axum::response::Html(html)).into_response(),
        Err(_) => (parts, info.message).into_response(),
    }
}

fn plain_error_info(status: StatusCode, text: String) -> ErrorInfo {
    let (code, title, fallback) = match status {
        StatusCode::NOT_FOUND => ("not_found", "Not found", "There is nothing at this address."),
        StatusCode::METHOD_NOT_ALLOWED => {
            ("method_not_allowed", "Not allowed", "This address does not accept that kind of request.")
        }
        StatusCode::UNSUPPORTED_MEDIA_TYPE | StatusCode::UNPROCESSABLE_ENTITY | StatusCode::BAD_REQUEST => {
            ("bad_request", "Bad request", "The request could not be understood.")
        }
        StatusCode::PAYLOAD_TOO_LARGE => ("too_large", "Too large", "The request is too large."),
        StatusCode::SERVICE_UNAVAILABLE | StatusCode::REQUEST_TIMEOUT => (
            "unavailable",
            "Temporarily unavailable",
            "lotline could not answer in time. Please try again in a moment.",
        ),
        s if s.is_server_error() => ("internal", "Something went wrong", "lotline could not complete this request."),
        _ => ("error", "Request refused", "The request was refused."),
    };
    let message = if text.is_empty() || status.is_server_error() { fallback.to_string() } else { text };
    ErrorInfo { code, title, message }
}

/// Serves `app` on `listener` until `shutdown` resolves; requests in flight are finished.
/// How long a client may take to send a request's headers before the connection is closed.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `app` on `listener` over HTTP/1.1 until `shutdown` resolves, then finishes the requests
/// in flight. Each connection's headers must arrive within `HEADER_READ_TIMEOUT` (a slow or idle
/// client cannot hold a connection open); the peer's address reaches handlers as `ConnectInfo`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(HEADER_READ_TIMEOUT);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(connection) => connection,
                Err(e) => {
                    // Out of file descriptors and the like: wait a moment rather than spin.
                    tracing::warn!(error = %e, "could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(axum::extract::ConnectInfo(peer));
            let mut app = app.clone();
            async move { tower_service::Service::call(&mut app, request.map(axum::body::Body::new)).await }
        });
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "a connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown requested; finishing requests in flight");
}
