//! Signing in and out, and the middleware that guards every route: who is asking (session cookie
//! or API token), whether they may (permissions), and whether a form really came from lotline (CSRF).

use std::net::SocketAddr;

use askama::Template;
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Form, FromRequestParts, Query, Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, SET_COOKIE, USER_AGENT};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::{FlashKind, Layout, redirect_with_flash, render_with, see_other};
use crate::auth::{self, CurrentUser, Login};
use crate::error::{Error, Result};
use crate::web::AppState;

pub const SESSION_COOKIE: &str = "lotline_session";
const LOGIN_COOKIE: &str = "lotline_login";
/// Largest form body the CSRF check reads.
const MAX_FORM_BYTES: usize = 4 * 1024 * 1024;

pub fn router() -> Router<AppState> {
    Router::new().route("/login", get(login_page).post(login)).route("/logout", post(logout))
}

impl<S: Send + Sync> FromRequestParts<S> for CurrentUser {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<CurrentUser>().cloned().ok_or(Error::Unauthorized)
    }
}

/// Pages and files anyone may fetch.
fn is_public(path: &str) -> bool {
    matches!(path, "/login" | "/healthz" | "/favicon.ico" | "/check" | "/api/docs" | "/api/openapi.json")
        || path.starts_with("/static/")
        || path.starts_with("/01/")
}

pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix(name)?.strip_prefix('='))
        .filter(|v| !v.is_empty())
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers.get(AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer ").map(str::trim)
}

/// Whether the request reached lotline over TLS (directly or through a proxy that says so).
fn secure(headers: &HeaderMap) -> bool {
    headers.get("x-forwarded-proto").is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"))
}

fn set_cookie(response: &mut Response, name: &str, value: &str, max_age: Option<u64>, secure: bool) {
    let mut cookie = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
    if let Some(age) = max_age {
        cookie.push_str(&format!("; Max-Age={age}"));
    }
    if secure {
        cookie.push_str("; Secure");
    }
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(SET_COOKIE, v);
    }
}

/// Constant-time comparison of two secrets.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Finds the user of the request; sends anonymous people to the login page (401 under /api);
/// refuses state-changing browser requests without the session's CSRF token.
pub async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let api = path.starts_with("/api/");
    let token = bearer(req.headers()).map(str::to_string);
    let user = match (&token, cookie(req.headers(), SESSION_COOKIE)) {
        (Some(t), _) => auth::token_user(&state.pool, t).await,
        (None, Some(session)) => auth::session_user(&state.pool, session, &state.sessions).await,
        (None, None) => Ok(None),
    };
    let user = match user {
        Ok(u) => u,
        Err(e) => return e.into_response(),
    };
    let Some(user) = user else {
        if is_public(&path) {
            return next.run(req).await;
        }
        if let Some(token) = &token {
            let address = req
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| super::client_address(&state, c.0, req.headers()))
                .unwrap_or_default();
            let agent = req.headers().get(USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("");
            let client = auth::Client { address: &address, user_agent: agent };
            return match auth::refuse_token(&state.pool, token, &client).await {
                Ok(refusal) | Err(refusal) => refusal.into_response(),
            };
        }
        if api {
            return Error::Unauthorized.into_response();
        }
        let target = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let login = if req.method() == Method::GET && target != "/" {
            format!("/login?next={}", super::percent_encode(target))
        } else {
            "/login".to_string()
        };
        return see_other(&login);
    };

    // Where the request came from, for the security events in the audit trail.
    let address = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| super::client_address(&state, c.0, req.headers()))
        .unwrap_or_default();
    let agent = req.headers().get(USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let what = req.uri().path_and_query().map(|p| p.as_str().chars().take(500).collect::<String>()).unwrap_or_default();
    let event = |action: &'static str, user: &auth::CurrentUser| {
        let (pool, actor, id, name) = (state.pool.clone(), user.actor(), user.id, user.username.clone());
        let (address, agent, what) = (address.clone(), agent.clone(), what.clone());
        async move {
            let client = auth::Client { address: &address, user_agent: &agent };
            if let Err(e) = auth::request_event(&pool, &actor, action, id, &name, &what, &client).await {
                tracing::warn!(error = %e, action, "could not record a security event");
            }
        }
    };

    // A read token reads.
    let unsafe_method = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if unsafe_method && user.token_scope.as_deref() == Some("read") {
        event("request_refused", &user).await;
        return Error::Forbidden("This API token may only read: make a token that writes for this.".into())
            .into_response();
    }
    // A password someone else set is changed before anything else is done.
    if user.must_change_password && !matches!(path.as_str(), "/account/password" | "/logout") && !is_public(&path) {
        if api || token.is_some() {
            return Error::Forbidden("Change your password first: an administrator set it.".into()).into_response();
        }
        return see_other("/account/password");
    }
    if unsafe_method && token.is_none() && path != "/login" {
        let (parts, body) = req.into_parts();
        let bytes = match axum::body::to_bytes(body, MAX_FORM_BYTES).await {
            Ok(b) => b,
            Err(_) => return Error::BadRequest("The form is too large.".into()).into_response(),
        };
        if !csrf_ok(&parts, &bytes, &user.csrf_token) {
            tracing::warn!(http.path = %path, user = %user.username, "refused a request without a valid CSRF token");
            event("request_refused", &user).await;
            return Error::Forbidden(
                "This form has expired or did not come from lotline, so nothing was changed. Reload the page and try again."
                    .into(),
            )
            .into_response();
        }
        req = Request::from_parts(parts, Body::from(bytes));
    }
    if user.can(crate::Permission::UsersManage) {
        match crate::alerts::waiting(&state.pool).await {
            Ok(n) => {
                req.extensions_mut().insert(super::AlertsWaiting(n));
            }
            Err(e) => return e.into_response(),
        }
    }
    let who = user.clone();
    req.extensions_mut().insert(user);
    // What a signed-in person sees is theirs: no cache keeps it — except the forms that carry an
    // idempotency key (create forms, a run's postings), which the browser may keep privately so
    // that Back and send again leads to what was recorded, never to a second record.
    let keep_for_back = req.method() == Method::GET && (path.ends_with("/new") || path.starts_with("/runs/"));
    let mut response = next.run(req).await;
    // Every download (exports, reports, EPCIS, labels) and every refusal is a security event.
    let download = response
        .headers()
        .get(axum::http::header::CONTENT_DISPOSITION)
        .is_some_and(|v| v.as_bytes().starts_with(b"attachment"));
    if download && response.status().is_success() {
        event("export", &who).await;
    } else if response.status() == axum::http::StatusCode::FORBIDDEN {
        event("request_refused", &who).await;
    }
    response
        .headers_mut()
        .entry(axum::http::header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static(if keep_for_back { "private, no-cache" } else { "no-store" }));
    response
}

/// The token may come as a form field, a query parameter (multipart uploads) or the
/// `x-csrf-token` header (scripts in the page).
fn csrf_ok(parts: &Parts, body: &[u8], expected: &str) -> bool {
    if expected.is_empty() {
        return false;
    }
    let from_header = parts.headers.get("x-csrf-token").and_then(|v| v.to_str().ok()).map(str::to_string);
    // In the query only for an upload (a multipart body is not read here); never for a form.
    let multipart = parts.headers.get(CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"multipart/form-data"));
    let from_query = parts.uri.query().filter(|_| multipart).and_then(|q| field(q.as_bytes(), "csrf_token"));
    let is_form =
        parts.headers.get(CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/x-www-form-urlencoded"));
    let from_body = if is_form { field(body, "csrf_token") } else { None };
    [from_header, from_query, from_body].into_iter().flatten().any(|t| same_secret(&t, expected))
}

fn field(urlencoded: &[u8], name: &str) -> Option<String> {
    form_urlencoded::parse(urlencoded).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// A route layer: refuses (403) a signed-in user who lacks `permission`.
pub async fn require_permission(State(permission): State<crate::Permission>, req: Request, next: Next) -> Response {
    match req.extensions().get::<CurrentUser>() {
        Some(user) if user.can(permission) => next.run(req).await,
        Some(_) => Error::Forbidden(format!(
            "Your role does not allow this. Ask an administrator if you need it (it takes the “{permission}” permission)."
        ))
        .into_response(),
        None => Error::Unauthorized.into_response(),
    }
}

#[derive(Template)]
#[template(path = "auth/login.html")]
struct LoginPage {
    layout: Layout,
    username: String,
    next: String,
    login_token: String,
    message: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct NextQuery {
    next: Option<String>,
}

/// Only a path on this site may follow a login (never another host): it starts with one slash,
/// and holds no backslash, space or control character a browser might drop to make `//host`.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/') && !n.starts_with("//") && n.chars().all(|c| c.is_ascii_graphic() && c != '\\') =>
        {
            n.to_string()
        }
        _ => "/".to_string(),
    }
}

fn login_form(
    status: StatusCode,
    layout: Layout,
    username: String,
    next: String,
    message: Option<String>,
    headers: &HeaderMap,
) -> Result<Response> {
    // Login CSRF: the form carries a random token that must match a cookie set with it.
    let login_token = auth::new_secret();
    let mut response =
        render_with(status, &LoginPage { layout, username, next, login_token: login_token.clone(), message })?;
    set_cookie(&mut response, LOGIN_COOKIE, &login_token, Some(3600), secure(headers));
    Ok(response)
}

async fn login_page(layout: Layout, headers: HeaderMap, Query(q): Query<NextQuery>) -> Result<Response> {
    if layout.user.is_some() {
        return Ok(see_other(&safe_next(q.next.as_deref())));
    }
    login_form(StatusCode::OK, layout, String::new(), safe_next(q.next.as_deref()), None, &headers)
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct LoginForm {
    username: String,
    password: String,
    next: String,
    login_token: String,
}

async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Result<Response> {
    let layout = Layout::default();
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or("");
    if expected.is_empty() || !same_secret(expected, &form.login_token) {
        return Err(Error::Forbidden("The sign-in form has expired. Reload the page and sign in again.".into()));
    }
    let agent = headers.get(USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("");
    let next = safe_next(Some(&form.next));
    let address = super::client_address(&state, peer, &headers);
    let client = auth::Client { address: &address, user_agent: agent };
    let outcome = auth::login(&state.pool, &form.username, &form.password, &client, &state.sessions).await?;
    match outcome {
        Login::Session { token, must_change_password } => {
            // Signing in again ends the session this browser had.
            if let Some(old) = cookie(&headers, SESSION_COOKIE) {
                auth::logout(&state.pool, old, &client).await?;
            }
            let next = if must_change_password { "/account/password".to_string() } else { next };
            let mut response = see_other(&next);
            set_cookie(&mut response, SESSION_COOKIE, &token, None, secure(&headers));
            set_cookie(&mut response, LOGIN_COOKIE, "", Some(0), secure(&headers));
            Ok(response)
        }
        Login::Refused => login_form(
            StatusCode::UNAUTHORIZED,
            layout,
            form.username,
            next,
            Some("Wrong user name or password.".into()),
            &headers,
        ),
        Login::Throttled(wait) => login_form(
            StatusCode::TOO_MANY_REQUESTS,
            layout,
            form.username,
            next,
            Some(format!(
                "Too many failed sign-ins for this user from this device. Try again in {}, or ask an administrator to reset the password.",
                if wait < 120 { format!("{wait} seconds") } else { format!("{} minutes", (wait + 59) / 60) }
            )),
            &headers,
        ),
    }
}

async fn logout(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<Response> {
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        let address = super::client_address(&state, peer, &headers);
        let agent = headers.get(USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("");
        auth::logout(&state.pool, token, &auth::Client { address: &address, user_agent: agent }).await?;
    }
    let mut response = redirect_with_flash("/login", FlashKind::Success, "You are signed out.");
    set_cookie(&mut response, SESSION_COOKIE, "", Some(0), secure(&headers));
    Ok(response)
}
