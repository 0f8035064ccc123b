//! The audit trail page: every change, filtered by record type, record, user and dates.

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use chrono::{NaiveDate, TimeZone, Utc};
use serde::Deserialize;

use super::{Layout, ListQuery, Paging, render};
use crate::audit::{self, Filter, Shown};
use crate::auth::Permission;
use crate::error::{Error, Result};
use crate::web::AppState;

pub fn router() -> Router<AppState> {
    super::guarded(Router::new().route("/audit", get(index)), Permission::AuditRead)
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct AuditQuery {
    entity_type: String,
    entity_id: String,
    user: String,
    from: String,
    until: String,
    page: Option<String>,
    format: String,
}

#[derive(Template)]
#[template(path = "audit/index.html")]
struct IndexPage {
    layout: Layout,
    entries: Vec<Shown>,
    paging: Paging,
    query: AuditQuery,
    link_query: String,
}

const ENTITY_TYPES: [&str; 7] = ["api_token", "location", "material", "party", "site", "user", "lot"];

fn date(text: &str, what: &str) -> Result<Option<NaiveDate>> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map(Some)
        .map_err(|_| Error::BadRequest(format!("The {what} date must look like 2026-01-31.")))
}

async fn index(State(state): State<AppState>, layout: Layout, Query(q): Query<AuditQuery>) -> Result<Response> {
    let from = date(&q.from, "from")?;
    let until = date(&q.until, "until")?;
    let filter = Filter {
        entity_type: Some(q.entity_type.trim().to_string()).filter(|s| !s.is_empty()),
        entity_id: Some(q.entity_id.trim().to_string()).filter(|s| !s.is_empty()),
        actor: Some(q.user.trim().to_string())
            .filter(|s| !s.is_empty())
            .map(|u| u.replace('%', "\\%").replace('_', "\\_")),
        from: from.map(|d| Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).unwrap_or_default())),
        until: until
            .map(|d| Utc.from_utc_datetime(&(d + chrono::Days::new(1)).and_hms_opt(0, 0, 0).unwrap_or_default())),
    };
    let export = super::export::Format::parse(&q.format, false)?;
    let mut paging = Paging::new(&ListQuery { page: q.page.clone(), ..Default::default() });
    if export.is_some() {
        paging.per_page = super::export::MAX_ROWS;
        paging.page = 1;
    }
    let db = state.reading(export.is_some());
    let (entries, total) = audit::search(db, &filter, paging.per_page, paging.offset()).await?;
    paging.total = total;
    if let Some(format) = export {
        let mut sheet = super::export::Sheet::new(
            "audit-trail",
            &["entry", "occurred_at", "by", "action", "record_type", "record_id", "reason", "before", "after"],
        );
        for e in &entries {
            sheet.push(vec![
                e.id.to_string().into(),
                e.occurred_at.to_rfc3339().into(),
                e.actor_name.as_str().into(),
                e.action.as_str().into(),
                e.entity_type.as_str().into(),
                e.entity_id.as_str().into(),
                e.reason.clone().into(),
                e.before.as_ref().map(|v| v.to_string()).into(),
                e.after.as_ref().map(|v| v.to_string()).into(),
            ]);
        }
        sheet.note_cut(total);
        return super::export::respond(sheet, format);
    }
    let link_query = [
        ("entity_type", &q.entity_type),
        ("entity_id", &q.entity_id),
        ("user", &q.user),
        ("from", &q.from),
        ("until", &q.until),
    ]
    .iter()
    .filter(|(_, v)| !v.is_empty())
    .map(|(k, v)| format!("{k}={}&", super::percent_encode(v)))
    .collect();
    render(&IndexPage { layout, entries, paging, query: q, link_query })
}

impl IndexPage {
    fn entity_types(&self) -> [&'static str; 7] {
        ENTITY_TYPES
    }

    fn page_link(&self, page: i64) -> String {
        format!("?{}page={page}", self.link_query)
    }
}
