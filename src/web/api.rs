//! The JSON API (`/api/v1`): token or session authentication, JSON errors.

use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::app::AppState;
use crate::auth::CurrentUser;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/me", get(me))
}

/// Who the token or session belongs to, and what it may do.
async fn me(user: CurrentUser) -> Json<Value> {
    Json(json!({
        "id": user.id,
        "username": user.username,
        "display_name": user.display_name,
        "roles": user.roles,
        "permissions": user.permissions,
    }))
}
