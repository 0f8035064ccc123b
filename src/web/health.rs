//! `/healthz`: whether this server and its database answer, for load balancers and monitors.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use crate::web::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/healthz", get(health))
}

async fn health(State(state): State<AppState>, user: Option<axum::Extension<crate::auth::CurrentUser>>) -> Response {
    let db = sqlx::query_scalar::<_, i32>("select 1").fetch_one(&state.pool).await;
    let migrations: Option<i64> = sqlx::query_scalar("select max(version) from _sqlx_migrations where success")
        .fetch_one(&state.pool)
        .await
        .ok()
        .flatten();
    match db {
        Ok(_) => {
            let (ready, lots, links) = state.links.stats();
            let unconfirmed = crate::db::unconfirmed_foreign_keys(&state.pool).await.ok();
            let mut body = json!({
                "status": "ok", "database": "ok", "schema_version": migrations,
                // The genealogy links in memory for traces (until ready, traces read the database).
                // (Its size says how big the plant is: for signed-in people only.)
                "link_index": if user.is_some() { json!({ "ready": ready, "lots": lots, "links": links }) } else { json!({ "ready": ready }) },
                // Foreign keys a bulk import put back unconfirmed (the server confirms them soon after).
                "foreign_keys_unconfirmed": unconfirmed,
            });
            // With a read replica: whether reports read from it now (else from the primary).
            if let Some(up) = state.reads.replica_up() {
                body["read_replica"] = json!(if up { "ok" } else { "unavailable" });
            }
            (StatusCode::OK, axum::Json(body)).into_response()
        }
        Err(err) => {
            tracing::warn!(error = %err, "health check: database unavailable");
            (StatusCode::SERVICE_UNAVAILABLE, axum::Json(json!({ "status": "unavailable", "database": "unavailable" })))
                .into_response()
        }
    }
}
