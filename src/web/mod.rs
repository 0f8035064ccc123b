//! The HTML face of lotline: one module per area, each exporting `router()`; thin handlers that
//! parse the request, call an operation and render a template.

pub mod account;
pub mod api;
pub mod audit;
pub mod auth;
pub mod confirm;
pub mod counts;
pub mod expiry;
pub mod export;
#[cfg(test)]
mod form_properties;
pub mod health;
pub mod home;
pub mod labels;
pub mod locations;
pub mod lookup;
pub mod lots;
pub mod materials;
pub mod pallets;
pub mod parties;
pub mod recalls;
pub mod receipts;
pub mod rules;
pub mod runs;
pub mod shipments;
pub mod sites;
pub mod state;
pub mod static_files;
pub mod trace;
pub mod users;

pub use state::{AppState, WROTE_COOKIE};

use askama::Template;
use axum::extract::FromRequestParts;
use axum::http::header::{COOKIE, LOCATION, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;

use crate::error::Error;

pub const FLASH_COOKIE: &str = "lotline_flash";

/// Renders a page template into an HTML response.
pub fn render<T: Template>(page: &T) -> Result<Response, Error> {
    render_with(StatusCode::OK, page)
}

/// Renders a page with a status other than 200 (a form with errors answers 422).
pub fn render_with<T: Template>(status: StatusCode, page: &T) -> Result<Response, Error> {
    let html =
        page.render().map_err(|e| Error::Internal(anyhow::Error::new(e).context("Failed to render a template")))?;
    Ok((status, Html(html)).into_response())
}

/// A one-time message shown on the next page (Post/Redirect/Get).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flash {
    pub kind: FlashKind,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlashKind {
    Success,
    /// Done, with something the user must not miss (a lot that was recalled left the plant).
    Warning,
    Error,
}

impl FlashKind {
    pub fn css(&self) -> &'static str {
        match self {
            FlashKind::Success => "success",
            FlashKind::Warning => "warning",
            FlashKind::Error => "error",
        }
    }
}

/// 303 See Other to `to`, carrying a flash message for the page it leads to.
pub fn redirect_with_flash(to: &str, kind: FlashKind, message: &str) -> Response {
    let value = format!(
        "{FLASH_COOKIE}={}{}; Path=/; Max-Age=60; HttpOnly; SameSite=Lax",
        match kind {
            FlashKind::Success => "s:",
            FlashKind::Warning => "w:",
            FlashKind::Error => "e:",
        },
        percent_encode(message)
    );
    let mut response = see_other(to);
    if let Ok(v) = HeaderValue::from_str(&value) {
        response.headers_mut().append(SET_COOKIE, v);
    }
    response
}

/// 303 See Other to `to`.
pub fn see_other(to: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        response.headers_mut().insert(LOCATION, v);
    }
    response
}

/// What every page's layout needs: the signed-in user (for the menu, what to show, the CSRF
/// token of its forms) and the flash message.
#[derive(Debug, Clone, Default)]
pub struct Layout {
    pub flash: Option<Flash>,
    pub user: Option<crate::auth::CurrentUser>,
    /// Security alerts no administrator acknowledged yet (counted for administrators only).
    pub alerts: i64,
}

/// The security alerts waiting, as the authentication layer found them for an administrator.
#[derive(Debug, Clone, Copy)]
pub struct AlertsWaiting(pub i64);

impl Layout {
    /// Whether the signed-in user holds `permission` (pages hide what a role cannot do; the
    /// server refuses it anyway).
    pub fn can(&self, permission: crate::Permission) -> bool {
        self.user.as_ref().is_some_and(|u| u.can(permission))
    }

    /// The CSRF token every form of the page carries.
    pub fn csrf(&self) -> &str {
        self.user.as_ref().map(|u| u.csrf_token.as_str()).unwrap_or("")
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Layout {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Layout {
            flash: read_flash(parts),
            user: parts.extensions.get::<crate::auth::CurrentUser>().cloned(),
            alerts: parts.extensions.get::<AlertsWaiting>().map_or(0, |a| a.0),
        })
    }
}

fn read_flash(parts: &Parts) -> Option<Flash> {
    parts
        .headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().strip_prefix(FLASH_COOKIE)?.strip_prefix('='))
        .find_map(|raw| {
            let (kind, text) = match raw.split_at_checked(2)? {
                ("s:", t) => (FlashKind::Success, t),
                ("e:", t) => (FlashKind::Error, t),
                ("w:", t) => (FlashKind::Warning, t),
                _ => return None,
            };
            Some(Flash { kind, message: percent_decode(text)? })
        })
}

/// Whether the request carried a flash cookie (the response then clears it).
pub fn has_flash_cookie(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(';').any(|c| c.trim().starts_with(FLASH_COOKIE)))
}

pub use crate::domain::text::{percent_decode, percent_encode};

/// `?q=…&page=…` of a list page.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    pub q: String,
    #[serde(default)]
    pub page: Option<String>,
    /// `csv` (or `xlsx`) to export every row of the search instead of showing a page.
    #[serde(default)]
    pub format: String,
    /// A list's filter by status, where it has one (lots: quarantine, on hold, recalled…).
    #[serde(default)]
    pub status: String,
}

/// One page of a list: which rows to fetch and how to link to the neighbours.
#[derive(Debug, Clone)]
pub struct Paging {
    pub q: String,
    pub page: i64,
    pub per_page: i64,
    pub total: i64,
    /// The list's other filters as a query string (`&status=quarantine`), kept from page to page
    /// and into its exports.
    pub filters: String,
}

impl Paging {
    pub const PER_PAGE: i64 = 50;
    /// The last page anyone can ask for (a larger number is read as this one).
    pub const MAX_PAGE: i64 = 1_000_000;

    pub fn new(query: &ListQuery) -> Paging {
        let page = query
            .page
            .as_deref()
            .and_then(|p| p.trim().parse::<i64>().ok())
            .filter(|p| *p >= 1)
            .unwrap_or(1)
            .min(Self::MAX_PAGE);
        Paging { q: query.q.trim().to_string(), page, per_page: Self::PER_PAGE, total: 0, filters: String::new() }
    }

    /// The `ILIKE` pattern for the search text, or None to list everything.
    pub fn pattern(&self) -> Option<String> {
        if self.q.is_empty() {
            return None;
        }
        let escaped = self.q.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
        Some(format!("%{escaped}%"))
    }

    pub fn offset(&self) -> i64 {
        (self.page - 1) * self.per_page
    }

    pub fn pages(&self) -> i64 {
        ((self.total + self.per_page - 1) / self.per_page).max(1)
    }

    pub fn first_row(&self) -> i64 {
        if self.total == 0 { 0 } else { self.offset() + 1 }
    }

    pub fn last_row(&self) -> i64 {
        (self.offset() + self.per_page).min(self.total)
    }

    pub fn has_prev(&self) -> bool {
        self.page > 1
    }

    pub fn has_next(&self) -> bool {
        self.page < self.pages()
    }

    /// The query string of another page of the same search.
    pub fn link(&self, page: i64) -> String {
        let filters = &self.filters;
        if self.q.is_empty() {
            format!("?page={page}{filters}")
        } else {
            format!("?q={}&page={page}{filters}", percent_encode(&self.q))
        }
    }
}

/// Puts every route of `router` behind `permission`.
pub fn guarded(
    router: axum::Router<crate::web::AppState>,
    permission: crate::Permission,
) -> axum::Router<crate::web::AppState> {
    router.route_layer(axum::middleware::from_fn_with_state(permission, auth::require_permission))
}

/// A save's outcome as a handler answers it: `Ok(Ok(saved))`, or `Ok(Err(errors))` to show the
/// form again with its field errors; an edit made over a newer one is a 409 with
/// `save::STALE_MESSAGE`, and any other failure the error it is.
pub fn outcome<T>(result: Result<T, crate::save::SaveError>) -> Result<Result<T, crate::save::FieldErrors>, Error> {
    match result {
        Ok(saved) => Ok(Ok(saved)),
        Err(crate::save::SaveError::Invalid(errors)) => Ok(Err(errors)),
        Err(crate::save::SaveError::Stale) => Err(Error::Conflict(crate::save::STALE_MESSAGE.into())),
        Err(crate::save::SaveError::Other(e)) => Err(e),
    }
}

/// A record id from the path; anything that is not a UUID names no record.
pub fn parse_id(text: &str) -> Result<uuid::Uuid, Error> {
    uuid::Uuid::parse_str(text).map_err(|_| Error::NotFound)
}

/// The client's address: the trusted proxy's header when one is configured
/// (`LOTLINE_TRUSTED_PROXY_HEADER`, its last entry), the peer's otherwise.
pub fn client_address(state: &AppState, peer: std::net::SocketAddr, headers: &axum::http::HeaderMap) -> String {
    state
        .client_ip_header
        .as_ref()
        .and_then(|h| headers.get(h.as_str()))
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| peer.ip().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flash_text_survives_the_cookie() {
        let text = "Material “FLOUR; 50%” saved = ok";
        assert_eq!(percent_decode(&percent_encode(text)).as_deref(), Some(text));
    }

    #[test]
    fn paging_counts_pages_and_rows() {
        let mut p = Paging::new(&ListQuery { q: " a_b ".into(), page: Some("2".into()), ..Default::default() });
        p.total = 120;
        assert_eq!((p.pages(), p.offset(), p.first_row(), p.last_row()), (3, 50, 51, 100));
        assert_eq!(p.pattern().as_deref(), Some("%a\\_b%"));
        assert!(p.has_prev() && p.has_next());
        let p = Paging::new(&ListQuery { page: Some("-3".into()), ..Default::default() });
        assert_eq!(p.page, 1);
    }
}
