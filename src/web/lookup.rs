//! The public "check your product" page: a consumer types the lot code printed on the pack (with
//! the product or its GTIN) or scans the pack's GS1 Digital Link (`/01/{gtin}/10/{lot}`), and
//! sees what the plant chose to make public — and, above everything, any recall notice.
//!
//! Nothing internal leaks: no suppliers, quantities, customers or other lots; an unknown lot and
//! a private one give the same answer. Lookups are limited per client address (counters in
//! PostgreSQL, shared by every server) so lot codes cannot be enumerated, and counted per lot.

use std::net::SocketAddr;

use askama::Template;
use axum::Router;
use axum::extract::{ConnectInfo, OriginalUri, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use chrono::NaiveDate;
use serde::Deserialize;
use uuid::Uuid;

use super::{Layout, render_with};
use crate::domain::gs1::syntax::{self, Scan};
use crate::error::Result;
use crate::trace::{self, Direction, Mode};
use crate::web::AppState;

/// Lookups one address may make in a window.
pub const LOOKUPS_PER_WINDOW: i32 = 30;
const WINDOW_MINUTES: i32 = 10;

pub fn router() -> Router<AppState> {
    Router::new().route("/check", get(check)).route("/01/{*rest}", get(digital_link))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CheckQuery {
    /// A product from the list (material code).
    product: String,
    gtin: String,
    lot: String,
}

/// What the page shows of a found lot.
pub struct Found {
    pub product: String,
    pub lot: String,
    pub produced_on: Option<NaiveDate>,
    /// The lot's date, and what it means (the words its label prints).
    pub best_before: Option<NaiveDate>,
    pub date_kind: crate::domain::vocab::DateKind,
    pub plant: String,
    pub origins: Vec<String>,
    pub recalls: Vec<crate::recall::PublicNotice>,
}

#[derive(Template)]
#[template(path = "public/check.html")]
struct CheckPage {
    layout: Layout,
    products: Vec<(String, String)>,
    query_product: String,
    query_gtin: String,
    query_lot: String,
    problem: Option<String>,
    not_found: bool,
    found: Option<Found>,
}

async fn products(state: &AppState) -> Result<Vec<(String, String)>> {
    Ok(sqlx::query_as("select code, name from materials where public_lookup and active order by name")
        .fetch_all(&state.pool)
        .await?)
}

async fn check(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(q): Query<CheckQuery>,
) -> Result<Response> {
    let (gtin, lot) = (q.gtin.trim().to_string(), q.lot.trim().to_string());
    if lot.is_empty() {
        let problem =
            (!q.product.is_empty() || !gtin.is_empty()).then(|| "Type the lot code printed on the pack.".to_string());
        return page(&state, StatusCode::OK, q, problem, false, None).await;
    }
    let gtin = if gtin.is_empty() {
        None
    } else {
        match crate::domain::gs1::parse_gtin(&gtin) {
            Ok(g) => Some(g),
            Err(m) => {
                return page(
                    &state,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    q,
                    Some(format!("The GTIN is not valid: {m}")),
                    false,
                    None,
                )
                .await;
            }
        }
    };
    if gtin.is_none() && q.product.trim().is_empty() {
        let problem = "Choose the product, or type the GTIN (the barcode number) as well.".to_string();
        return page(&state, StatusCode::UNPROCESSABLE_ENTITY, q, Some(problem), false, None).await;
    }
    answer(&state, peer, &headers, q.product.trim().to_string(), gtin, lot, q).await
}

/// `/01/{gtin}/10/{lot}?17=…`: the pack's QR code (GS1 Digital Link) resolved on lotline's host.
async fn digital_link(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
) -> Result<Response> {
    let link = format!("https://lotline.local{uri}");
    let q = CheckQuery::default();
    match syntax::read(&link) {
        Ok(scan @ Scan::Gs1(_)) => match (scan.get("01"), scan.get("10")) {
            (Some(gtin), Some(lot)) => {
                let q = CheckQuery { gtin: gtin.to_string(), lot: lot.to_string(), ..q };
                answer(&state, peer, &headers, String::new(), Some(gtin.to_string()), lot.to_string(), q).await
            }
            (Some(gtin), None) => {
                let q = CheckQuery { gtin: gtin.to_string(), ..q };
                page(&state, StatusCode::OK, q, Some("Type the lot code printed on the pack.".into()), false, None)
                    .await
            }
            _ => page(&state, StatusCode::NOT_FOUND, q, Some("This link names no product.".into()), false, None).await,
        },
        Ok(Scan::Plain(_)) => {
            page(&state, StatusCode::NOT_FOUND, q, Some("This link names no product.".into()), false, None).await
        }
        Err(m) => {
            page(&state, StatusCode::BAD_REQUEST, q, Some(format!("This code is not valid: {m}")), false, None).await
        }
    }
}

async fn page(
    state: &AppState,
    status: StatusCode,
    q: CheckQuery,
    problem: Option<String>,
    not_found: bool,
    found: Option<Found>,
) -> Result<Response> {
    render_with(
        status,
        &CheckPage {
            layout: Layout::default(),
            products: products(state).await?,
            query_product: q.product,
            query_gtin: q.gtin,
            query_lot: q.lot,
            problem,
            not_found,
            found,
        },
    )
}

/// The client's address: the peer's, or — behind a trusted proxy — the last address the proxy
/// appended to its header (the ones before it are the client's own claims).

#[derive(sqlx::FromRow)]
struct LotRow {
    id: Uuid,
    code: String,
    origin: String,
    made_on: NaiveDate,
    expires_on: Option<NaiveDate>,
    product: String,
    plant: String,
    public_dates: bool,
    public_origin: bool,
    date_kind: crate::domain::vocab::DateKind,
}

async fn answer(
    state: &AppState,
    peer: SocketAddr,
    headers: &HeaderMap,
    product: String,
    gtin: Option<String>,
    lot: String,
    q: CheckQuery,
) -> Result<Response> {
    // The limit first: an address over it learns nothing, found or not.
    let address = super::client_address(state, peer, headers);
    let used: i32 = sqlx::query_scalar(
        "insert into lookup_throttle (address, window_start, lookups) values ($1, now(), 1)
         on conflict (address) do update set
             lookups = case when lookup_throttle.window_start < now() - make_interval(mins => $2) then 1 else lookup_throttle.lookups + 1 end,
             window_start = case when lookup_throttle.window_start < now() - make_interval(mins => $2) then now() else lookup_throttle.window_start end
         returning lookups",
    )
    .bind(&address)
    .bind(WINDOW_MINUTES)
    .fetch_one(&state.pool)
    .await?;
    if used > LOOKUPS_PER_WINDOW {
        let problem = format!("Too many lookups from your connection. Please try again in {WINDOW_MINUTES} minutes.");
        return page(state, StatusCode::TOO_MANY_REQUESTS, q, Some(problem), false, None).await;
    }
    let row: Option<LotRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select l.id, l.code, l.origin, l.made_on, l.expires_on, m.name as product, s.name as plant, m.public_dates, m.public_origin,
                m.date_kind
           from lots l join materials m on m.id = l.material_id join sites s on s.id = l.site_id
          where m.public_lookup and {}
            and (($2::text is not null and m.id in (select material_id from material_gtins where gtin = $2))
                 or ($2::text is null and m.code = upper($3)))
          order by upper(l.code) = upper($1) desc
          limit 1",
        crate::domain::lotcode::named_sql(1)
    )))
    .bind(&lot)
    .bind(gtin.as_deref())
    .bind(&product)
    .fetch_optional(&state.pool)
    .await?;
    let Some(row) = row else {
        return page(state, StatusCode::NOT_FOUND, q, None, true, None).await;
    };
    sqlx::query(
        "insert into lookup_counts (lot_id, day, lookups) values ($1, site_today((select site_id from lots where id = $1)), 1)
         on conflict (lot_id, day) do update set lookups = lookup_counts.lookups + 1",
    )
    .bind(row.id)
    .execute(&state.pool)
    .await?;
    // Countries of origin of what went into it: the received lots it was made from.
    let origins: Vec<String> = if row.public_origin {
        let back =
            trace::trace_with(&state.pool, Some(&state.links), row.id, Direction::Backward, Mode::Precise).await?;
        let ids: Vec<Uuid> = back.lots.iter().map(|l| l.id).collect();
        sqlx::query_scalar(
            "select distinct country_of_origin from lots where id = any($1) and origin = 'received' and country_of_origin is not null
              order by 1",
        )
        .bind(&ids)
        .fetch_all(&state.pool)
        .await?
    } else {
        Vec::new()
    };
    let recalls = crate::recall::public_notices(&state.pool, row.id).await?;
    let found = Found {
        product: row.product,
        lot: row.code,
        produced_on: (row.public_dates && row.origin == "produced").then_some(row.made_on),
        best_before: row.expires_on.filter(|_| row.public_dates),
        date_kind: row.date_kind,
        plant: if row.public_origin { row.plant } else { String::new() },
        origins,
        recalls,
    };
    page(state, StatusCode::OK, q, None, false, Some(found)).await
}
