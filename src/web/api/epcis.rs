//! EPCIS 2.0: lotline's events for a trace or a date range, GS1's REST query interface (events,
//! named queries and their webhook subscriptions), and a supplier's events received.

use super::*;
use crate::documents::epcis::query::{self, After, Filter};
use crate::documents::epcis::{self as epcis};

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

fn ld_json(body: &Value) -> Response {
    let mut response = Json(body).into_response();
    let headers = response.headers_mut();
    headers.insert(axum::http::header::CONTENT_TYPE, axum::http::HeaderValue::from_static("application/ld+json"));
    headers.insert("GS1-EPCIS-Version", axum::http::HeaderValue::from_static("2.0.0"));
    response
}

/// EPCIS 2.0 JSON-LD: receiving, production (TransformationEvents) and shipping events as
/// published, for a date range or for the lots of a trace; retracted events are left out.
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
        epcis::document(&state.pool, epcis::Selection::Lots(&ids), &state.public_url).await?
    } else {
        let date = |v: &str, what: &str| {
            NaiveDate::parse_from_str(v.trim(), "%Y-%m-%d")
                .map_err(|_| Error::BadRequest(format!("{what} must be a date such as 2026-01-31.")))
        };
        let (from, to) = (date(&p.from, "from")?, date(&p.to, "to")?);
        if to < from || (to - from).num_days() > 366 {
            return Err(Error::BadRequest("Ask for a range of at most a year, from before to.".into()));
        }
        epcis::document(&state.pool, epcis::Selection::Dates(from, to), &state.public_url).await?
    };
    Ok(ld_json(&doc))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(default)]
#[into_params(parameter_in = Query)]
#[allow(non_snake_case)]
pub(super) struct EventsParams {
    /// Events at or after this time (RFC 3339).
    GE_eventTime: String,
    /// Events before this time (RFC 3339).
    LT_eventTime: String,
    /// Events lotline published at or after this time: retractions of old events too (RFC 3339).
    GE_recordTime: String,
    /// Events lotline published before this time (RFC 3339).
    LT_recordTime: String,
    /// ObjectEvent or TransformationEvent.
    eventType: String,
    /// A business step (`receiving`, `shipping`, `commissioning`), bare or as its URI.
    EQ_bizStep: String,
    /// An EPC class in any quantity list (an LGTIN URN or a Digital Link, as exported).
    MATCH_anyEPCClass: String,
    /// One event by its eventID (with its retraction, if it was retracted).
    EQ_eventID: String,
    /// Events per page, 1 to 500 (default 30).
    perPage: Option<i64>,
    /// Where the previous page ended (from its `Link: …; rel="next"`).
    nextPageToken: String,
}

impl EventsParams {
    /// The parameters given, by their EPCIS names.
    fn query(&self) -> Value {
        let mut q = serde_json::Map::new();
        for (name, value) in [
            ("GE_eventTime", &self.GE_eventTime),
            ("LT_eventTime", &self.LT_eventTime),
            ("GE_recordTime", &self.GE_recordTime),
            ("LT_recordTime", &self.LT_recordTime),
            ("eventType", &self.eventType),
            ("EQ_bizStep", &self.EQ_bizStep),
            ("MATCH_anyEPCClass", &self.MATCH_anyEPCClass),
            ("EQ_eventID", &self.EQ_eventID),
        ] {
            if !value.trim().is_empty() {
                q.insert(name.into(), json!(value.trim()));
            }
        }
        Value::Object(q)
    }
}

/// A page of the events `filter` matches, in event-time order, as an EPCISQueryDocument; the
/// `Link` header names the next page (`path` with the parameters and the page's end).
async fn answer(state: &AppState, name: &str, filter: &Filter, p: &EventsParams, path: &str) -> Result<Response> {
    let per_page = p.perPage.unwrap_or(30);
    if !(1..=500).contains(&per_page) {
        return Err(Error::BadRequest("perPage is between 1 and 500.".into()));
    }
    // The token is where the previous page ended: its last event's time and publication number.
    let after = match p.nextPageToken.trim() {
        "" => After::Start,
        token => text::percent_decode(token)
            .as_deref()
            .and_then(|t| t.split_once('|'))
            .and_then(|(at, seq)| Some(After::Page(DateTime::parse_from_rfc3339(at).ok()?.into(), seq.parse().ok()?)))
            .ok_or_else(|| Error::BadRequest("nextPageToken is not one this server gave.".into()))?,
    };
    epcis::publish::publish(&state.pool, &state.public_url).await?;
    let mut events = query::select(&state.pool, filter, after, per_page + 1).await?;
    let more = events.len() as i64 > per_page;
    events.truncate(per_page as usize);
    let next = events.last().filter(|_| more).map(|last| {
        let token = format!("{}|{}", last.event_time.to_rfc3339(), last.seq);
        let mut next = format!("{path}?perPage={per_page}&nextPageToken={}", text::percent_encode(&token));
        if let Some(q) = p.query().as_object() {
            for (name, value) in q {
                next.push_str(&format!("&{name}={}", text::percent_encode(value.as_str().unwrap_or_default())));
            }
        }
        next
    });
    let mut doc = epcis::envelope("EPCISQueryDocument", Vec::new());
    doc["epcisBody"] = json!({ "queryResults": {
        "queryName": name,
        "resultsBody": { "eventList": events.into_iter().map(|e| e.event).collect::<Vec<_>>() },
    }});
    let mut response = ld_json(&doc);
    if let Some(next) = next
        && let Ok(v) = axum::http::HeaderValue::from_str(&format!("<{next}>; rel=\"next\""))
    {
        response.headers_mut().insert(axum::http::header::LINK, v);
    }
    Ok(response)
}

/// The query side of GS1's EPCIS 2.0 REST interface, for a repository or a partner that pulls
/// lotline's events: an EPCISQueryDocument of the published events matching the standard
/// parameters (retractions included), in event-time order, a page at a time; `Link: <…>;
/// rel="next"` names the next page.
#[utoipa::path(get, path = "/api/v1/epcis/events", tag = "traces", params(EventsParams), responses((status = 200, description = "An EPCISQueryDocument", content_type = "application/ld+json", body = serde_json::Value)))]
pub(super) async fn epcis_events(State(state): State<AppState>, Query(p): Query<EventsParams>) -> Result<Response> {
    let filter = Filter::from_query(&p.query()).map_err(Error::BadRequest)?;
    answer(&state, "SimpleEventQuery", &filter, &p, "/api/v1/epcis/events").await
}

/// A named query (EPCIS 2.0 REST `POST /queries`).
#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub(super) struct NamedQuery {
    /// Letters, digits, `_`, `.`, `-`; at most 64.
    name: String,
    /// EPCIS query parameters: eventType, EQ_bizStep, MATCH_anyEPCClass, EQ_eventID,
    /// GE_/LT_eventTime, GE_/LT_recordTime; each a string or a list of strings.
    #[schema(value_type = Object)]
    query: Value,
}

fn query_name(name: &str) -> Result<String> {
    let ok = (1..=64).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok { Ok(name.to_string()) } else { Err(Error::NotFound) }
}

async fn stored_query(state: &AppState, name: &str) -> Result<Filter> {
    let query: Value = sqlx::query_scalar("select query from epcis_queries where name = $1")
        .bind(query_name(name)?)
        .fetch_optional(&state.pool)
        .await?
        .ok_or(Error::NotFound)?;
    Filter::from_query(&query).map_err(Error::BadRequest)
}

/// Names a query, for its events to be pulled or subscribed to.
#[utoipa::path(post, path = "/api/v1/epcis/queries", tag = "traces", request_body = NamedQuery, responses((status = 201, description = "The query is named; Location is its address", body = NamedQuery), (status = 400, description = "A parameter lotline does not answer, or a bad name"), (status = 409, description = "A query of that name exists")))]
pub(super) async fn create_query(
    State(state): State<AppState>,
    user: CurrentUser,
    Json(q): Json<NamedQuery>,
) -> Result<Response> {
    let name = query_name(q.name.trim())
        .map_err(|_| Error::BadRequest("A query's name is 1 to 64 letters, digits, _, . or -.".into()))?;
    Filter::from_query(&q.query).map_err(Error::BadRequest)?;
    let mut tx = state.pool.begin().await?;
    let inserted = sqlx::query(
        "insert into epcis_queries (name, query, created_by) values ($1, $2, $3) on conflict (name) do nothing",
    )
    .bind(&name)
    .bind(&q.query)
    .bind(user.id)
    .execute(&mut *tx)
    .await?;
    if inserted.rows_affected() == 0 {
        return Err(Error::Conflict(format!("A query named {name} exists.")));
    }
    crate::audit::record(
        &mut tx,
        &user.actor(),
        crate::audit::Entry::new("create", "epcis_query", &name).after(&json!({ "query": q.query })),
    )
    .await?;
    tx.commit().await?;
    let mut response = (StatusCode::CREATED, Json(NamedQuery { name: name.clone(), query: q.query })).into_response();
    if let Ok(v) = axum::http::HeaderValue::from_str(&format!("/api/v1/epcis/queries/{name}")) {
        response.headers_mut().insert(axum::http::header::LOCATION, v);
    }
    Ok(response)
}

/// The events a named query matches, a page at a time (as `/api/v1/epcis/events`).
#[utoipa::path(get, path = "/api/v1/epcis/queries/{name}/events", tag = "traces", params(("name" = String, Path, description = "The query's name"), EventsParams), responses((status = 200, description = "An EPCISQueryDocument", content_type = "application/ld+json", body = serde_json::Value), (status = 404, description = "No such query")))]
pub(super) async fn query_events(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(p): Query<EventsParams>,
) -> Result<Response> {
    let filter = stored_query(&state, &name).await?;
    answer(&state, &name, &filter, &p, &format!("/api/v1/epcis/queries/{name}/events")).await
}

/// A webhook subscription to a named query (EPCIS 2.0 REST).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct Subscribe {
    /// Where events are POSTed (http://; a forwarding proxy for a subscriber on https).
    dest: String,
    /// The subscriber's secret: each delivery carries `GS1-Signature: sha256=<hex HMAC-SHA256 of the body>`.
    signature_token: Option<String>,
    /// Must be true: each event is sent as it is published (scheduled queries are not offered).
    #[serde(default)]
    stream: bool,
    #[schema(value_type = Option<Object>)]
    schedule: Option<Value>,
    /// Events published from this time on (default: from now).
    initial_record_time: Option<String>,
}

/// A subscription as the API shows it (never its secret).
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub(super) struct Subscription {
    #[serde(rename = "subscriptionID")]
    subscription_id: Uuid,
    dest: String,
    stream: bool,
    created_at: DateTime<Utc>,
    last_notified_at: Option<DateTime<Utc>>,
    /// Why the last delivery failed; it is retried, later and later.
    last_error: Option<String>,
}

const SUBSCRIPTION: &str =
    "select id as subscription_id, dest, true as stream, created_at, last_notified_at, last_error
   from epcis_subscriptions";

/// Subscribes an address to a named query: every event published from `initialRecordTime` (or
/// now) that matches is POSTed there as an EPCISQueryDocument, signed.
#[utoipa::path(post, path = "/api/v1/epcis/queries/{name}/subscriptions", tag = "traces", params(("name" = String, Path, description = "The query's name")), request_body = Subscribe, responses((status = 201, description = "Subscribed; Location is the subscription", body = Subscription), (status = 400, description = "No stream, a schedule, or an address lotline cannot deliver to"), (status = 404, description = "No such query")))]
pub(super) async fn subscribe(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(name): Path<String>,
    Json(s): Json<Subscribe>,
) -> Result<Response> {
    stored_query(&state, &name).await?;
    if s.schedule.is_some() || !s.stream {
        return Err(Error::BadRequest(
            "lotline offers streaming subscriptions: set \"stream\": true (each event is sent as it is published); schedules are not offered."
                .into(),
        ));
    }
    epcis::subscriptions::destination(&s.dest).map_err(Error::BadRequest)?;
    let token = s.signature_token.as_deref().map(str::trim).filter(|t| !t.is_empty());
    if token.is_some_and(|t| t.len() > 500 || t.chars().any(char::is_control)) {
        return Err(Error::BadRequest("signatureToken is at most 500 printable characters.".into()));
    }
    let from = match s.initial_record_time.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        Some(t) => Some(
            DateTime::parse_from_rfc3339(t)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| Error::BadRequest("initialRecordTime is a time such as 2026-11-26T08:00:00Z.".into()))?,
        ),
        None => None,
    };
    epcis::publish::publish(&state.pool, &state.public_url).await?;
    let id = Uuid::now_v7();
    let mut tx = state.pool.begin().await?;
    sqlx::query(
        "insert into epcis_subscriptions (id, query_name, dest, signature_token, delivered_seq, created_by)
         values ($1, $2, $3, $4,
                 (select coalesce(max(seq), 0) from epcis_events where $5::timestamptz is null or recorded_at < $5), $6)",
    )
    .bind(id)
    .bind(&name)
    .bind(s.dest.trim())
    .bind(token)
    .bind(from)
    .bind(user.id)
    .execute(&mut *tx)
    .await?;
    crate::audit::record(
        &mut tx,
        &user.actor(),
        crate::audit::Entry::new("subscribe", "epcis_query", &name)
            .after(&json!({ "subscription": id, "dest": s.dest.trim(), "signed": token.is_some() })),
    )
    .await?;
    tx.commit().await?;
    let shown: Subscription = sqlx::query_as(sqlx::AssertSqlSafe(format!("{SUBSCRIPTION} where id = $1")))
        .bind(id)
        .fetch_one(&state.pool)
        .await?;
    let mut response = (StatusCode::CREATED, Json(shown)).into_response();
    if let Ok(v) = axum::http::HeaderValue::from_str(&format!("/api/v1/epcis/queries/{name}/subscriptions/{id}")) {
        response.headers_mut().insert(axum::http::header::LOCATION, v);
    }
    Ok(response)
}

/// A named query's subscriptions, with when each was last notified and its last failure.
#[utoipa::path(get, path = "/api/v1/epcis/queries/{name}/subscriptions", tag = "traces", params(("name" = String, Path, description = "The query's name")), responses((status = 200, body = [Subscription]), (status = 404, description = "No such query")))]
pub(super) async fn subscriptions(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Vec<Subscription>>> {
    stored_query(&state, &name).await?;
    let list = sqlx::query_as(sqlx::AssertSqlSafe(format!("{SUBSCRIPTION} where query_name = $1 order by created_at")))
        .bind(&name)
        .fetch_all(&state.pool)
        .await?;
    Ok(Json(list))
}

/// Ends a subscription.
#[utoipa::path(delete, path = "/api/v1/epcis/queries/{name}/subscriptions/{id}", tag = "traces", params(("name" = String, Path, description = "The query's name"), ("id" = Uuid, Path, description = "The subscription")), responses((status = 204, description = "Unsubscribed"), (status = 404, description = "No such subscription")))]
pub(super) async fn unsubscribe(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((name, id)): Path<(String, String)>,
) -> Result<StatusCode> {
    let id = crate::web::parse_id(&id)?;
    let mut tx = state.pool.begin().await?;
    let dest: String =
        sqlx::query_scalar("delete from epcis_subscriptions where id = $1 and query_name = $2 returning dest")
            .bind(id)
            .bind(query_name(&name)?)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(Error::NotFound)?;
    crate::audit::record(
        &mut tx,
        &user.actor(),
        crate::audit::Entry::new("unsubscribe", "epcis_query", &name)
            .before(&json!({ "subscription": id, "dest": dest })),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Receives a supplier's EPCIS 2.0 document: checked against GS1's schema, then each shipping
/// ObjectEvent becomes a receipt (its quantityList the lines: GTIN and lot from LGTIN URNs or
/// Digital Links, the lot as the supplier's lot code), the supplier and our site found by GLN, or
/// named in the query; an errorDeclaration reverses the receipt the event it retracts made.
/// Every event is checked before any is posted; the same document posted again changes nothing.
#[utoipa::path(post, path = "/api/v1/epcis/receipts", tag = "documents", params(epcis::ImportOptions), request_body(content = serde_json::Value, description = "An EPCISDocument", content_type = "application/json"), responses((status = 201, description = "Receipts made (or made before by the same events), and receipts retracted", body = ReceiptsCreated), (status = 422, description = "An event cannot be received; `fields` says which (event 1 as line1…) and why")))]
pub(super) async fn receive_epcis(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(options): Query<epcis::ImportOptions>,
    Json(doc): Json<Value>,
) -> Result<Response> {
    let imported = match epcis::import(&state.pool, &user.actor(), &doc, &options).await {
        Ok(r) => r,
        Err(e) => return saved::<()>(Err(e)),
    };
    let mut receipts = Vec::new();
    for r in &imported.received {
        receipts.push(created(&state, r).await?);
    }
    Ok((StatusCode::CREATED, Json(ReceiptsCreated { receipts, retracted: imported.retracted })).into_response())
}
