//! The one error type. Handlers return it; the `render_errors` middleware in `app` turns it into a
//! friendly HTML page for people or a JSON body for `/api/…`, with the right status code.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 404: the record or page does not exist.
    #[error("not found")]
    NotFound,
    /// 400: the request itself is malformed (form errors are shown in the form instead).
    #[error("{0}")]
    BadRequest(String),
    /// 401: no valid session or API token (pages redirect to the login page instead).
    #[error("authentication required")]
    Unauthorized,
    /// 403: signed in, but this user's roles do not allow it; or a form without a valid CSRF token.
    #[error("{0}")]
    Forbidden(String),
    /// 429: too many refused attempts from this address; try again after this many seconds.
    #[error("too many attempts")]
    TooManyRequests(i64),
    /// 409: the request conflicts with the current state (a stale edit, a closed document).
    #[error("{0}")]
    Conflict(String),
    /// 503: the database cannot be reached; the request may be retried.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// 503: a service lotline relies on for this request (Chromium, for PDFs) is not there.
    #[error("{0}")]
    ServiceMissing(String),
    /// 500: anything else; the details go to the log, never to the user.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// What the error renderer needs, carried as a response extension.
#[derive(Debug, Clone)]
pub struct ErrorInfo {
    pub code: &'static str,
    pub title: &'static str,
    pub message: String,
}

impl Error {
    pub fn status(&self) -> StatusCode {
        match self {
            Error::NotFound => StatusCode::NOT_FOUND,
            Error::BadRequest(_) => StatusCode::BAD_REQUEST,
            Error::Unauthorized => StatusCode::UNAUTHORIZED,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::Conflict(_) => StatusCode::CONFLICT,
            Error::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            Error::Unavailable(_) | Error::ServiceMissing(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn info(&self) -> ErrorInfo {
        match self {
            Error::NotFound => ErrorInfo {
                code: "not_found",
                title: "Not found",
                message: "There is nothing at this address. It may have been mistyped, or the record does not exist."
                    .into(),
            },
            Error::BadRequest(m) => ErrorInfo { code: "bad_request", title: "Bad request", message: m.clone() },
            Error::Unauthorized => ErrorInfo {
                code: "unauthorized",
                title: "Sign in required",
                message: "Sign in, or send a valid API token as `Authorization: Bearer …`.".into(),
            },
            Error::Forbidden(m) => ErrorInfo { code: "forbidden", title: "Not allowed", message: m.clone() },
            Error::Conflict(m) => ErrorInfo { code: "conflict", title: "Conflict", message: m.clone() },
            Error::TooManyRequests(wait) => ErrorInfo {
                code: "too_many_requests",
                title: "Too many attempts",
                message: format!("Too many refused attempts from this address: try again in {wait} seconds."),
            },
            Error::Unavailable(_) => ErrorInfo {
                code: "unavailable",
                title: "Database unavailable",
                message:
                    "lotline cannot reach its database right now. Nothing was changed; please try again in a moment."
                        .into(),
            },
            Error::ServiceMissing(m) => {
                ErrorInfo { code: "service_missing", title: "Not available here", message: m.clone() }
            }
            Error::Internal(_) => ErrorInfo {
                code: "internal",
                title: "Something went wrong",
                message:
                    "lotline could not complete this request. The details are in the server log; nothing was changed."
                        .into(),
            },
        }
    }
}

impl From<sqlx::Error> for Error {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::RowNotFound => Error::NotFound,
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
                Error::Unavailable(err.to_string())
            }
            // 57P01..03: the server is shutting down or restarting; 08xxx: connection failures.
            sqlx::Error::Database(db) if db.code().is_some_and(|c| c.starts_with("57P") || c.starts_with("08")) => {
                Error::Unavailable(err.to_string())
            }
            // The database's backstop for a lot held after the application checked it (migration 0008).
            sqlx::Error::Database(db) if matches!(db.constraint(), Some("lot_on_hold" | "recall_closed")) => {
                Error::Conflict(db.message().to_string())
            }
            // Input the database cannot hold, refused whatever path let it through: a NUL or an
            // invalid byte, a value too long for its column or index, a number out of range, a
            // record named that does not exist.
            sqlx::Error::Database(db) if matches!(db.code().as_deref(), Some("22021" | "22P05")) => {
                Error::BadRequest("The request holds a character lotline does not accept (such as a NUL byte).".into())
            }
            sqlx::Error::Database(db) if matches!(db.code().as_deref(), Some("54000" | "22001")) => {
                Error::BadRequest("A value in the request is too long.".into())
            }
            sqlx::Error::Database(db) if db.code().as_deref() == Some("22003") => {
                Error::BadRequest("A number in the request is out of range.".into())
            }
            sqlx::Error::Database(db) if db.code().as_deref() == Some("23503") => {
                Error::BadRequest("The request names a record that does not exist.".into())
            }
            // The database's backstop for dates outside 2000–2100 (migration 0019).
            sqlx::Error::Database(db) if db.constraint().is_some_and(|c| c.ends_with("_plausible")) => {
                Error::BadRequest(format!(
                    "A date must lie between {} and {}.",
                    crate::domain::dates::FIRST_YEAR,
                    crate::domain::dates::LAST_YEAR
                ))
            }
            _ => Error::Internal(anyhow::Error::new(err)),
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        match &self {
            Error::Internal(err) => tracing::error!(error = ?err, "request failed"),
            Error::Unavailable(err) => tracing::warn!(error = %err, "database unavailable"),
            _ => {}
        }
        let info = self.info();
        let mut response = (status, info.message.clone()).into_response();
        if let Error::TooManyRequests(wait) = self {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, wait.into());
        }
        response.extensions_mut().insert(info);
        response
    }
}
