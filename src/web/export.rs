//! Exports of list pages: the rows a list shows (every page of it, with its search applied), sent
//! as a file to download.

use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

pub use crate::documents::sheet::{Format, MAX_ROWS, Sheet};
use crate::error::Error;

/// The sheet as a download in `format`.
pub fn respond(sheet: Sheet, format: Format) -> Result<Response, Error> {
    let (body, content_type, ext) = sheet.write(format)?;
    let mut response = (StatusCode::OK, body).into_response();
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{}.{ext}\"", sheet.name)) {
        response.headers_mut().insert(CONTENT_DISPOSITION, v);
    }
    Ok(response)
}
