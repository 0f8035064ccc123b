//! Traces, EPCIS 2.0 documents (export and a supplier's receipts) and recalls.

use super::*;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(default)]
#[into_params(parameter_in = Query)]
pub(super) struct TraceParams {
    /// The lot's id (or give material and lot).
    lot_id: String,
    /// Material code.
    material: String,
    /// Lot code (with material), or the lot's id.
    lot: String,
    /// forward (where used) or backward (where from).
    direction: String,
    /// precise (default) or lot-level.
    mode: String,
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

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(default)]
#[into_params(parameter_in = Query)]
pub(super) struct EpcisParams {
    /// First day (YYYY-MM-DD), with `to`; or trace parameters below.
    from: String,
    /// Last day (YYYY-MM-DD), at most a year after `from`.
    to: String,
    /// A lot's id: its trace's events (direction and mode as for /api/v1/trace).
    lot_id: String,
    direction: String,
    mode: String,
}

/// EPCIS 2.0 JSON-LD: receiving, production (TransformationEvents) and shipping events, for a
/// date range or for the lots of a trace.
#[utoipa::path(get, path = "/api/v1/epcis", tag = "traces", params(EpcisParams), responses((status = 200, description = "An EPCISDocument", content_type = "application/ld+json", body = serde_json::Value)))]
pub(super) async fn epcis(State(state): State<AppState>, Query(p): Query<EpcisParams>) -> Result<Response> {
    let doc = if !p.lot_id.trim().is_empty() {
        let t = traced(
            &state,
            &TraceParams {
                lot_id: p.lot_id.clone(),
                direction: p.direction.clone(),
                mode: p.mode.clone(),
                ..Default::default()
            },
        )
        .await?;
        let ids: Vec<Uuid> = t.lots.iter().map(|l| l.id).collect();
        crate::documents::epcis::document(
            state.reports(),
            crate::documents::epcis::Selection::Lots(&ids),
            &state.public_url,
        )
        .await?
    } else {
        let date = |v: &str, what: &str| {
            NaiveDate::parse_from_str(v.trim(), "%Y-%m-%d")
                .map_err(|_| Error::BadRequest(format!("{what} must be a date such as 2026-01-31.")))
        };
        let (from, to) = (date(&p.from, "from")?, date(&p.to, "to")?);
        if to < from || (to - from).num_days() > 366 {
            return Err(Error::BadRequest("Ask for a range of at most a year, from before to.".into()));
        }
        crate::documents::epcis::document(
            state.reports(),
            crate::documents::epcis::Selection::Dates(from, to),
            &state.public_url,
        )
        .await?
    };
    let mut response = Json(doc).into_response();
    response
        .headers_mut()
        .insert(axum::http::header::CONTENT_TYPE, axum::http::HeaderValue::from_static("application/ld+json"));
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
