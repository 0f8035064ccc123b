//! Traces and recalls.

use super::*;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(default)]
#[into_params(parameter_in = Query)]
pub(super) struct TraceParams {
    /// The lot's id (or give material and lot).
    pub(super) lot_id: String,
    /// Material code.
    pub(super) material: String,
    /// Lot code (with material), or the lot's id.
    pub(super) lot: String,
    /// forward (where used) or backward (where from).
    pub(super) direction: String,
    /// precise (default) or lot-level.
    pub(super) mode: String,
}

pub(super) async fn traced(state: &AppState, p: &TraceParams) -> Result<Trace> {
    let direction = Direction::parse(p.direction.trim())
        .ok_or_else(|| Error::BadRequest("direction is forward or backward.".into()))?;
    let mode = Mode::parse(p.mode.trim()).ok_or_else(|| Error::BadRequest("mode is precise or lot-level.".into()))?;
    let by_id = if p.lot_id.trim().is_empty() { p.lot.trim() } else { p.lot_id.trim() };
    let lot = match Uuid::parse_str(by_id) {
        Ok(id) => id,
        Err(_) if !p.material.trim().is_empty() && !p.lot.trim().is_empty() => {
            crate::trace::find_lot(state.reports(), &p.material, &p.lot).await?
        }
        Err(_) => return Err(Error::BadRequest("Name the lot: lot_id, or material and lot (codes).".into())),
    };
    state.trace(lot, direction, mode).await
}

/// The trace of a lot: every lot it reached with depth, status and stock; forward, the
/// shipments and customers, and (precise) each lot's share and concentration of the start lot.
#[utoipa::path(get, path = "/api/v1/trace", tag = "traces", params(TraceParams), responses((status = 200, body = Trace), (status = 400, description = "Bad parameters"), (status = 404, description = "No such lot")))]
pub(super) async fn trace(State(state): State<AppState>, Query(p): Query<TraceParams>) -> Result<Response> {
    let t = traced(&state, &p).await?;
    let response = Json(&t).into_response();
    crate::trace::drop_later(t);
    Ok(response)
}

/// A recall: its case and its current frozen scope (lots, stock, shipments, customers as they were).
#[utoipa::path(get, path = "/api/v1/recalls/{id}", tag = "recalls", params(("id" = Uuid, Path, description = "The recall's id")), responses((status = 200, description = "The recall and its scope", body = serde_json::Value), (status = 404, description = "No such recall")))]
pub(super) async fn recall(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Value>> {
    let id = crate::web::parse_id(&id)?;
    let r = crate::recall::get(&state.pool, id).await?;
    let scope = crate::recall::scopes(&state.pool, id).await?.pop().ok_or(Error::NotFound)?;
    Ok(Json(json!({
        "id": r.id, "number": r.number, "mock": r.mock, "class": r.class, "status": r.status, "reason": r.reason,
        "mode": r.mode, "opened_at": r.opened_at, "closed_at": r.closed_at, "scope_hash": scope.hash, "scope": scope.scope,
    })))
}
