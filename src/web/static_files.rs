//! Static files, compiled into the binary: served with a content version in their URL, so they
//! are cached for a year and a new build is fetched at once.

use std::sync::OnceLock;

use axum::Router;
use axum::extract::{Path, Query};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use crate::error::Error;
use crate::web::AppState;

const FILES: &[(&str, &str, &[u8])] = &[
    ("app.css", "text/css; charset=utf-8", include_bytes!("../../static/app.css")),
    ("app.js", "text/javascript; charset=utf-8", include_bytes!("../../static/app.js")),
    ("favicon.svg", "image/svg+xml", include_bytes!("../../static/favicon.svg")),
];

/// A short hash of every static file: changes whenever any of them does.
pub fn version() -> &'static str {
    static VERSION: OnceLock<String> = OnceLock::new();
    VERSION.get_or_init(|| {
        let hash = FILES
            .iter()
            .flat_map(|(_, _, b)| b.iter())
            .fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3));
        format!("{:012x}", hash & 0xffff_ffff_ffff)
    })
}

/// The stylesheet's text, for documents printed without a server (the recall report's PDF).
pub fn stylesheet() -> &'static str {
    std::str::from_utf8(include_bytes!("../../static/app.css")).unwrap_or_default()
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/static/{name}", get(file))
        .route("/favicon.ico", get(|| async { file_response("favicon.svg", None, &HeaderMap::new()) }))
}

#[derive(Deserialize)]
struct VersionQuery {
    v: Option<String>,
}

async fn file(Path(name): Path<String>, Query(q): Query<VersionQuery>, headers: HeaderMap) -> Response {
    file_response(&name, q.v.as_deref(), &headers)
}

fn file_response(name: &str, requested_version: Option<&str>, headers: &HeaderMap) -> Response {
    let Some((_, content_type, bytes)) = FILES.iter().find(|(n, _, _)| *n == name) else {
        return Error::NotFound.into_response();
    };
    let etag = format!("\"{}\"", version());
    let cache = if requested_version == Some(version()) {
        "public, max-age=31536000, immutable"
    } else {
        "public, max-age=300"
    };
    let mut response = if headers.get(IF_NONE_MATCH).is_some_and(|v| v.as_bytes() == etag.as_bytes()) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (*bytes).into_response()
    };
    let h = response.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(ETAG, v);
    }
    response
}
