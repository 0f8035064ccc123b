//! The dashboard: what the plant holds right now, in real counts.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;

use super::{Layout, render};
use crate::error::Result;
use crate::web::AppState;

pub fn router() -> Router<AppState> {
    super::guarded(Router::new().route("/", get(index)), crate::auth::Permission::LotsRead)
}

#[derive(Debug, Default, sqlx::FromRow)]
pub struct Counts {
    pub lots: i64,
    pub lots_on_hand: i64,
    pub quarantine: i64,
    pub held: i64,
    pub expiring: i64,
    pub expired_with_stock: i64,
    pub open_runs: i64,
    pub open_recalls: i64,
    pub materials: i64,
    pub suppliers: i64,
    pub customers: i64,
    pub sites: i64,
    pub locations: i64,
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    layout: Layout,
    counts: Counts,
}

async fn index(State(state): State<AppState>, layout: Layout) -> Result<Response> {
    let counts: Counts = sqlx::query_as(
        // Every count reads an index (migration 0012); the expiry counts start from the few lots
        // expiring and ask each whether it has stock. Each lot's dates are judged by its site's
        // "today"; the bounds over every site's today keep the index in use.
        "select
           (select count(*) from lots) as lots,
           (select count(*) from (select distinct lot_id from on_hand where quantity > 0) d) as lots_on_hand,
           (select count(*) from lots where disposition = 'quarantine') as quarantine,
           (select count(distinct lot_id) from lot_holds where closed_at is null) as held,
           (select count(*) from lots l
             where l.expires_on between (select min(site_today(id)) from sites) and (select max(site_today(id)) from sites) + 30
               and l.expires_on between site_today(l.site_id) and site_today(l.site_id) + 30
               and exists (select 1 from on_hand o where o.lot_id = l.id and o.quantity > 0)) as expiring,
           (select count(*) from lots l
             where l.expires_on < (select max(site_today(id)) from sites) and l.expires_on < site_today(l.site_id)
               and exists (select 1 from on_hand o where o.lot_id = l.id and o.quantity > 0)) as expired_with_stock,
           (select count(*) from production_runs where status = 'open') as open_runs,
           (select count(*) from recalls where status = 'open') as open_recalls,
           (select count(*) from materials where active) as materials,
           (select count(*) from parties where active and is_supplier) as suppliers,
           (select count(*) from parties where active and is_customer) as customers,
           (select count(*) from sites where active) as sites,
           (select count(*) from locations where active) as locations",
    )
    .fetch_one(&state.pool)
    .await?;
    render(&HomePage { layout, counts })
}
