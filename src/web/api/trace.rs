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

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(default)]
#[into_params(parameter_in = Query)]
#[allow(non_snake_case)]
pub(super) struct EventsParams {
    /// Events at or after this time (RFC 3339). Default: 30 days before `LT_eventTime`.
    GE_eventTime: String,
    /// Events before this time (RFC 3339). Default: now. At most a year after `GE_eventTime`.
    LT_eventTime: String,
    /// ObjectEvent or TransformationEvent.
    eventType: String,
    /// A business step (`receiving`, `shipping`, `commissioning`), bare or as its URI.
    EQ_bizStep: String,
    /// An EPC class in any quantity list (an LGTIN URN or a Digital Link, as exported).
    MATCH_anyEPCClass: String,
    /// One event by its eventID.
    EQ_eventID: String,
    /// Events per page, 1 to 500 (default 30).
    perPage: Option<i64>,
    /// Where the previous page ended (from its `Link: …; rel="next"`).
    nextPageToken: String,
}

/// The query side of GS1's EPCIS 2.0 REST interface, for a repository or a partner that pulls
/// lotline's events: an EPCISQueryDocument of the events matching the standard parameters, in
/// time order, a page at a time; `Link: <…>; rel="next"` names the next page.
#[utoipa::path(get, path = "/api/v1/epcis/events", tag = "traces", params(EventsParams), responses((status = 200, description = "An EPCISQueryDocument", content_type = "application/ld+json", body = serde_json::Value)))]
#[allow(non_snake_case)]
pub(super) async fn epcis_events(State(state): State<AppState>, Query(p): Query<EventsParams>) -> Result<Response> {
    use chrono::{DateTime, Utc};
    let time = |v: &str, what: &str| -> Result<Option<DateTime<Utc>>> {
        match v.trim() {
            "" => Ok(None),
            t => DateTime::parse_from_rfc3339(t)
                .map(|d| Some(d.with_timezone(&Utc)))
                .map_err(|_| Error::BadRequest(format!("{what} is a time such as 2026-11-26T08:00:00Z."))),
        }
    };
    let lt = time(&p.LT_eventTime, "LT_eventTime")?.unwrap_or_else(Utc::now);
    let ge = time(&p.GE_eventTime, "GE_eventTime")?.unwrap_or(lt - chrono::Duration::days(30));
    if lt <= ge || (lt - ge).num_days() > 366 {
        return Err(Error::BadRequest("Ask for at most a year of events, GE_eventTime before LT_eventTime.".into()));
    }
    let per_page = p.perPage.unwrap_or(30);
    if !(1..=500).contains(&per_page) {
        return Err(Error::BadRequest("perPage is between 1 and 500.".into()));
    }
    // The token is where the previous page ended: its last event's time and id.
    let after: Option<(String, String)> = match p.nextPageToken.trim() {
        "" => None,
        token => {
            let decoded = text::percent_decode(token).unwrap_or_default();
            let (at, id) = decoded
                .split_once('|')
                .ok_or_else(|| Error::BadRequest("nextPageToken is not one this server gave.".into()))?;
            Some((at.to_string(), id.to_string()))
        }
    };
    let doc = crate::documents::epcis::document(
        state.reports(),
        crate::documents::epcis::Selection::Dates(ge.date_naive(), lt.date_naive()),
        &state.public_url,
    )
    .await?;
    let step = p.EQ_bizStep.trim();
    let class = p.MATCH_anyEPCClass.trim();
    let key = |e: &Value| {
        (e["eventTime"].as_str().unwrap_or_default().to_string(), e["eventID"].as_str().unwrap_or_default().to_string())
    };
    let mut events: Vec<Value> = doc["epcisBody"]["eventList"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|e| {
            let at = e["eventTime"].as_str().and_then(|t| DateTime::parse_from_rfc3339(t).ok());
            at.is_some_and(|t| t >= ge && t < lt)
        })
        .filter(|e| p.eventType.trim().is_empty() || e["type"] == p.eventType.trim())
        .filter(|e| {
            let s = e["bizStep"].as_str().unwrap_or_default();
            step.is_empty() || s == step || step.ends_with(&format!("-{s}"))
        })
        .filter(|e| {
            class.is_empty()
                || ["quantityList", "inputQuantityList", "outputQuantityList"]
                    .iter()
                    .filter_map(|l| e[*l].as_array())
                    .flatten()
                    .any(|q| q["epcClass"] == class)
        })
        .filter(|e| p.EQ_eventID.trim().is_empty() || e["eventID"] == p.EQ_eventID.trim())
        .collect();
    events.sort_by_key(key);
    if let Some(after) = &after {
        events.retain(|e| key(e) > *after);
    }
    let more = events.len() > per_page as usize;
    events.truncate(per_page as usize);
    let body = json!({
        "@context": [crate::documents::epcis::CONTEXT],
        "type": "EPCISQueryDocument",
        "schemaVersion": "2.0",
        "creationDate": Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "epcisBody": { "queryResults": { "queryName": "SimpleEventQuery", "resultsBody": { "eventList": events } } },
    });
    let mut response = Json(&body).into_response();
    let headers = response.headers_mut();
    headers.insert(axum::http::header::CONTENT_TYPE, axum::http::HeaderValue::from_static("application/ld+json"));
    headers.insert("GS1-EPCIS-Version", axum::http::HeaderValue::from_static("2.0.0"));
    if more && let Some(last) = events.last() {
        let (at, id) = key(last);
        let mut next = format!(
            "/api/v1/epcis/events?GE_eventTime={}&LT_eventTime={}&perPage={per_page}&nextPageToken={}",
            text::percent_encode(&ge.to_rfc3339()),
            text::percent_encode(&lt.to_rfc3339()),
            text::percent_encode(&format!("{at}|{id}"))
        );
        for (name, value) in
            [("eventType", &p.eventType), ("EQ_bizStep", &p.EQ_bizStep), ("MATCH_anyEPCClass", &p.MATCH_anyEPCClass)]
        {
            if !value.trim().is_empty() {
                next.push_str(&format!("&{name}={}", text::percent_encode(value.trim())));
            }
        }
        if let Ok(v) = axum::http::HeaderValue::from_str(&format!("<{next}>; rel=\"next\"")) {
            headers.insert(axum::http::header::LINK, v);
        }
    }
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
