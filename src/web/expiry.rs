//! Expiry: the lots with stock that expire within N days, those already expired, and a chart of
//! the quantity expiring week by week.

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Deserialize;
use uuid::Uuid;

use super::{Layout, render};
use crate::auth::Permission;
use crate::error::Result;
use crate::web::AppState;

pub fn router() -> Router<AppState> {
    super::guarded(Router::new().route("/expiry", get(index)), Permission::LotsRead)
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ExpiryQuery {
    days: Option<String>,
}

#[derive(Debug, sqlx::FromRow)]
struct Row {
    lot_id: Uuid,
    code: String,
    material_code: String,
    material_name: String,
    expires_on: NaiveDate,
    days_left: i32,
    on_hand: Decimal,
    uom: String,
    locations: String,
}

/// One bar of the chart: a week and how many lots expire in it.
struct Bar {
    label: String,
    lots: usize,
    x: usize,
    height: usize,
    y: usize,
}

#[derive(Template)]
#[template(path = "expiry/index.html")]
struct ExpiryPage {
    layout: Layout,
    days: i32,
    expired: Vec<Row>,
    expiring: Vec<Row>,
    bars: Vec<Bar>,
}

async fn index(State(state): State<AppState>, layout: Layout, Query(q): Query<ExpiryQuery>) -> Result<Response> {
    let days =
        q.days.as_deref().and_then(|d| d.trim().parse::<i32>().ok()).filter(|d| (1..=730).contains(d)).unwrap_or(30);
    let rows: Vec<Row> = sqlx::query_as(
        "select l.id as lot_id, l.code, m.code as material_code, m.name as material_name, l.expires_on,
                (l.expires_on - site_today(l.site_id)) as days_left, sum(o.quantity) as on_hand, m.uom,
                string_agg(c.code, ', ' order by c.code) as locations
           from lots l join materials m on m.id = l.material_id join on_hand o on o.lot_id = l.id and o.quantity > 0
           join locations c on c.id = o.location_id
          where l.expires_on <= (select max(site_today(id)) from sites) + $1 and l.expires_on <= site_today(l.site_id) + $1
          group by l.id, m.id order by l.expires_on, m.code, l.code",
    )
    .bind(days)
    .fetch_all(state.reports())
    .await?;
    let (expired, expiring): (Vec<Row>, Vec<Row>) = rows.into_iter().partition(|r| r.days_left < 0);
    // Lots expiring per week, drawn as bars (SVG, no script).
    let weeks = (days as usize).div_ceil(7).max(1);
    let mut counts = vec![0usize; weeks];
    for r in &expiring {
        counts[(r.days_left.max(0) as usize / 7).min(weeks - 1)] += 1;
    }
    let max = counts.iter().copied().max().unwrap_or(0).max(1);
    let bars = counts
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            let height = n * 120 / max;
            Bar { label: format!("wk {}", i + 1), lots: n, x: 40 + i * 46, height, y: 140 - height }
        })
        .collect();
    render(&ExpiryPage { layout, days, expired, expiring, bars })
}
