//! Lot pages: the list, finding a lot by its code, and a lot's page.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::get;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::{Layout, ListQuery, Paging, render, see_other};
use crate::app::AppState;
use crate::error::{Error, Result};

pub fn router() -> Router<AppState> {
    let read = Router::new().route("/lots", get(index)).route("/lots/{id}", get(show)).route("/search", get(search));
    super::guarded(read, crate::auth::perm::LOTS_READ)
}

/// A lot as lists show it, with its status derived from disposition, holds, recalls and stock.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LotRow {
    pub id: Uuid,
    pub code: String,
    pub material_code: String,
    pub material_name: String,
    pub origin: String,
    pub made_on: NaiveDate,
    pub expires_on: Option<NaiveDate>,
    pub status: String,
    pub on_hand: Decimal,
    pub uom: String,
}

const LOT_SELECT: &str = "
    select l.id, l.code, m.code as material_code, m.name as material_name, l.origin, l.made_on, l.expires_on,
           case when exists (select 1 from lot_holds h join recalls r on r.id = h.recall_id
                              where h.lot_id = l.id and h.closed_at is null and r.status = 'open' and not r.mock) then 'recalled'
                when l.disposition = 'rejected' then 'rejected'
                when exists (select 1 from lot_holds h where h.lot_id = l.id and h.closed_at is null) then 'on hold'
                when l.disposition = 'quarantine' then 'quarantine'
                when l.expires_on < current_date then 'expired'
                else 'released' end as status,
           coalesce((select sum(quantity) from on_hand o where o.lot_id = l.id), 0) as on_hand,
           m.uom
      from lots l join materials m on m.id = l.material_id";

#[derive(Template)]
#[template(path = "lots/index.html")]
struct IndexPage {
    layout: Layout,
    lots: Vec<LotRow>,
    paging: Paging,
}

async fn index(State(state): State<AppState>, layout: Layout, Query(query): Query<ListQuery>) -> Result<Response> {
    let mut paging = Paging::new(&query);
    let pattern = paging.pattern();
    let sql = format!(
        "{LOT_SELECT} where $1::text is null or l.code ilike $1 or l.supplier_lot ilike $1 or m.code ilike $1
          order by l.created_at desc, l.code limit $2 offset $3"
    );
    let lots = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(pattern.as_deref())
        .bind(paging.per_page)
        .bind(paging.offset())
        .fetch_all(&state.pool)
        .await?;
    paging.total = sqlx::query_scalar(
        "select count(*) from lots l join materials m on m.id = l.material_id
          where $1::text is null or l.code ilike $1 or l.supplier_lot ilike $1 or m.code ilike $1",
    )
    .bind(pattern.as_deref())
    .fetch_one(&state.pool)
    .await?;
    render(&IndexPage { layout, lots, paging })
}

#[derive(Template)]
#[template(path = "lots/search.html")]
struct SearchPage {
    layout: Layout,
    q: String,
    lots: Vec<LotRow>,
}

/// Finds lots by exact code (case-insensitive) across materials: one match opens it, several
/// (two materials may share a code) are listed, none says so.
async fn search(State(state): State<AppState>, layout: Layout, Query(query): Query<ListQuery>) -> Result<Response> {
    let q = query.q.trim().to_string();
    let lots: Vec<LotRow> = if q.is_empty() {
        Vec::new()
    } else {
        let sql = format!("{LOT_SELECT} where upper(l.code) = upper($1) order by m.code limit 100");
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(&q).fetch_all(&state.pool).await?
    };
    if let [lot] = lots.as_slice() {
        return Ok(see_other(&format!("/lots/{}", lot.id)));
    }
    render(&SearchPage { layout, q, lots })
}

#[derive(Debug, sqlx::FromRow)]
pub struct LotDetail {
    pub site_code: String,
    pub site_name: String,
    pub supplier_name: Option<String>,
    pub supplier_lot: Option<String>,
    pub tlc: String,
    pub tlc_source: String,
    pub country_of_origin: Option<String>,
    pub material_id: Uuid,
}

#[derive(Debug, sqlx::FromRow)]
pub struct StockRow {
    pub location_code: String,
    pub location_name: String,
    pub quantity: Decimal,
}

#[derive(Template)]
#[template(path = "lots/show.html")]
struct ShowPage {
    layout: Layout,
    lot: LotRow,
    detail: LotDetail,
    stock: Vec<StockRow>,
}

async fn show(State(state): State<AppState>, layout: Layout, Path(id): Path<String>) -> Result<Response> {
    let id = super::parse_id(&id)?;
    let sql = format!("{LOT_SELECT} where l.id = $1");
    let lot: LotRow =
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&state.pool).await?.ok_or(Error::NotFound)?;
    let detail: LotDetail = sqlx::query_as(
        "select s.code as site_code, s.name as site_name, p.name as supplier_name, l.supplier_lot, l.tlc, l.tlc_source,
                l.country_of_origin, l.material_id
           from lots l join sites s on s.id = l.site_id left join parties p on p.id = l.supplier_id where l.id = $1",
    )
    .bind(id)
    .fetch_one(&state.pool)
    .await?;
    let stock = sqlx::query_as(
        "select c.code as location_code, c.name as location_name, o.quantity
           from on_hand o join locations c on c.id = o.location_id where o.lot_id = $1 and o.quantity > 0 order by c.code",
    )
    .bind(id)
    .fetch_all(&state.pool)
    .await?;
    render(&ShowPage { layout, lot, detail, stock })
}
