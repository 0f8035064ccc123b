//! Lot pages: the list, finding a lot by its code, and a lot's page.

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Deserialize;
use sqlx::types::Json;
use uuid::Uuid;

use crate::auth::{CurrentUser, Permission};
use crate::domain::balance::MassBalance;
use crate::domain::vocab::{Disposition, MovementKind};
use crate::error::{Error, Result};
use crate::qa::{self, DecisionForm, RECORD_KINDS, RecordForm};
use crate::save::{FieldErrors, SaveError};
use crate::stock::moves;
use crate::web::AppState;
use crate::web::{FlashKind, Layout, ListQuery, Paging, redirect_with_flash, render, render_with, see_other};

pub fn router() -> Router<AppState> {
    let read = Router::new()
        .route("/lots", get(index))
        .route("/lots/from-supplier", get(from_supplier))
        .route("/lots/{id}", get(show))
        .route("/lots/{id}/ledger.csv", get(ledger_csv))
        .route("/search", get(search));
    let decide = Router::new()
        .route("/lots/{id}/release", post(release))
        .route("/lots/{id}/reject", post(reject))
        .route("/lots/{id}/holds", post(hold))
        .route("/lots/{id}/holds/{hold}/lift", post(lift));
    let record = Router::new().route("/lots/{id}/qa-records", post(add_record));
    let ship_back = Router::new().route("/lots/{id}/return-to-supplier", post(return_to_supplier));
    let moves = Router::new()
        .route("/lots/{id}/movements/{movement}/reverse", post(reverse))
        .route("/lots/{id}/{action}", post(move_stock).get(no_such_page))
        .route("/lots/{id}/split", post(split));
    super::guarded(read, Permission::LotsRead)
        .merge(super::guarded(decide, Permission::QaDecide))
        .merge(super::guarded(record, Permission::QaRecord))
        .merge(super::guarded(moves, Permission::StockMove))
        .merge(super::guarded(ship_back, Permission::StockShip))
}

/// A lot as lists show it, with its status derived from disposition, holds, recalls and stock.
#[derive(Debug, sqlx::FromRow, serde::Deserialize)]
pub struct LotRow {
    pub id: Uuid,
    pub code: String,
    pub material_code: String,
    pub material_name: String,
    pub origin: String,
    #[serde(deserialize_with = "crate::db::json::date")]
    pub made_on: NaiveDate,
    #[serde(deserialize_with = "crate::db::json::optional_date")]
    pub expires_on: Option<NaiveDate>,
    pub status: String,
    pub on_hand: Decimal,
    pub uom: String,
}

/// Lots as lists show them; the status comes from the one SQL form of the status rule.
fn lot_select() -> String {
    format!(
        "select l.id, l.code, m.code as material_code, m.name as material_name, l.origin, l.made_on, l.expires_on,
                {} as status, coalesce((select sum(quantity) from on_hand o where o.lot_id = l.id), 0) as on_hand, m.uom
           from lots l join materials m on m.id = l.material_id",
        crate::domain::status::STATUS_SQL
    )
}

#[derive(Template)]
#[template(path = "lots/index.html")]
struct IndexPage {
    layout: Layout,
    lots: Vec<LotRow>,
    paging: Paging,
    /// The status the list is filtered by, if any.
    status: String,
    statuses: &'static [&'static str],
}

/// What a person can filter the lots list by: the status rule's words, and the two QA queues the
/// dashboard counts (awaiting release: not yet released or rejected, whatever else holds it; held:
/// under any open hold, a recall's included).
const STATUSES: &[&str] =
    &["awaiting release", "held", "quarantine", "on hold", "recalled", "released", "expired", "rejected"];

/// The SQL condition on lot `l` for a filter of `STATUSES`, its value bound as `param`.
fn status_condition(status: &str, param: &str) -> String {
    match status {
        "awaiting release" => "l.disposition = 'quarantine'".into(),
        "held" => "exists (select 1 from lot_holds h where h.lot_id = l.id and h.closed_at is null)".into(),
        _ => format!("({}) = {param}", crate::domain::status::STATUS_SQL),
    }
}

async fn index(State(state): State<AppState>, layout: Layout, Query(query): Query<ListQuery>) -> Result<Response> {
    let export = crate::web::export::Format::parse(&query.format, true)?;
    let mut paging = Paging::new(&query);
    if export.is_some() {
        paging.per_page = crate::web::export::MAX_ROWS;
        paging.page = 1;
    }
    let status = match query.status.trim() {
        "" => None,
        s if STATUSES.contains(&s) => Some(s.to_string()),
        other => {
            return Err(Error::BadRequest(format!("“{other}” is not a lot status: use {}.", STATUSES.join(", "))));
        }
    };
    if let Some(s) = &status {
        paging.filters = format!("&status={}", crate::web::percent_encode(s));
    }
    let db = state.reading(export.is_some());
    let pattern = paging.pattern();
    // The search (code, supplier lot, material code or name) and the status, by the one status rule.
    let filter = |param: &str| {
        let by_status = match &status {
            Some(s) => format!("{param}::text is not null and {}", status_condition(s, param)),
            None => format!("{param}::text is null"),
        };
        format!(
            "($1::text is null or l.code ilike $1 or l.supplier_lot ilike $1 or m.code ilike $1 or m.name ilike $1)
               and {by_status}"
        )
    };
    let sql = format!("{} where {} order by l.created_at desc, l.code limit $2 offset $3", lot_select(), filter("$4"));
    let lots = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(pattern.as_deref())
        .bind(paging.per_page)
        .bind(paging.offset())
        .bind(status.as_deref())
        .fetch_all(db)
        .await?;
    paging.total = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "select count(*) from lots l join materials m on m.id = l.material_id where {}",
        filter("$2")
    )))
    .bind(pattern.as_deref())
    .bind(status.as_deref())
    .fetch_one(db)
    .await?;
    if let Some(format) = export {
        let mut sheet = crate::web::export::Sheet::new(
            "lots",
            &["lot", "material", "material_name", "status", "origin", "made_on", "expires_on", "on_hand", "uom"],
        );
        for l in &lots {
            let l: &LotRow = l;
            sheet.push(vec![
                l.code.as_str().into(),
                l.material_code.as_str().into(),
                l.material_name.as_str().into(),
                l.status.as_str().into(),
                l.origin.as_str().into(),
                l.made_on.to_string().into(),
                l.expires_on.map(|d| d.to_string()).into(),
                l.on_hand.into(),
                l.uom.as_str().into(),
            ]);
        }
        sheet.note_cut(paging.total);
        return crate::web::export::respond(sheet, format);
    }
    let status = status.unwrap_or_default();
    render(&IndexPage { layout, lots, paging, status, statuses: STATUSES })
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct SupplierLotQuery {
    supplier: String,
    supplier_lot: String,
}

#[derive(Template)]
#[template(path = "lots/from_supplier.html")]
struct FromSupplierPage {
    layout: Layout,
    query: SupplierLotQuery,
    suppliers: Vec<(String, String)>,
    lots: Vec<LotRow>,
}

/// "Which of our lots came from supplier X's lot Y?" — across every material: the first question
/// when a supplier recalls.
async fn from_supplier(
    State(state): State<AppState>,
    layout: Layout,
    Query(query): Query<SupplierLotQuery>,
) -> Result<Response> {
    let suppliers =
        sqlx::query_as("select code, name from parties where is_supplier order by code").fetch_all(&state.pool).await?;
    let lots = if query.supplier_lot.trim().is_empty() {
        Vec::new()
    } else {
        let sql = format!(
            "{} where upper(l.supplier_lot) = upper($1)
                and ($2::text = '' or l.supplier_id = (select id from parties where code = upper($2)))
              order by m.code, l.made_on, l.code",
            lot_select()
        );
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(query.supplier_lot.trim())
            .bind(query.supplier.trim())
            .fetch_all(&state.pool)
            .await?
    };
    render(&FromSupplierPage { layout, query, suppliers, lots })
}

#[derive(Template)]
#[template(path = "lots/search.html")]
struct SearchPage {
    layout: Layout,
    q: String,
    lots: Vec<LotRow>,
    /// Why a scanned GS1 string found nothing, or which part of it is wrong.
    problem: Option<String>,
    /// The GS1 data read from the scan, in human-readable form.
    read_as: Option<String>,
}

/// Finds lots by exact code (case-insensitive) across materials: one match opens it, several
/// (two materials may share a code) are listed, none says so.
async fn search(State(state): State<AppState>, layout: Layout, Query(query): Query<ListQuery>) -> Result<Response> {
    use crate::domain::gs1::syntax::{self, Scan};
    let q = query.q.trim_matches(|c: char| c.is_whitespace()).to_string();
    let shown = q.replace(syntax::GS, "␝");
    let page = |lots, problem, read_as| SearchPage { layout, q: shown, lots, problem, read_as };
    let (code, gtin, read_as) = match syntax::read(&q) {
        Ok(Scan::Plain(code)) => (code, None, None),
        Ok(scan @ Scan::Gs1(_)) => {
            let read_as = match &scan {
                Scan::Gs1(elements) => Some(syntax::human(elements)),
                Scan::Plain(_) => None,
            };
            match (scan.get("01"), scan.get("10")) {
                (Some(gtin), Some(lot)) => (lot.to_string(), Some(gtin.to_string()), read_as),
                (Some(gtin), None) => {
                    let problem = format!("The scan names GTIN {gtin} but no lot (AI 10): scan the lot's label.");
                    return render(&page(Vec::new(), Some(problem), read_as));
                }
                _ => {
                    let problem = "The scan holds no GTIN (AI 01) and lot (AI 10), so it names no lot.".to_string();
                    return render(&page(Vec::new(), Some(problem), read_as));
                }
            }
        }
        Err(message) => {
            return render(&page(Vec::new(), Some(format!("This is not valid GS1 data: {message}")), None));
        }
    };
    let lots: Vec<LotRow> = if code.is_empty() {
        Vec::new()
    } else if let Some(gtin) = &gtin {
        let sql = format!(
            "{} where {} and l.material_id in (select material_id from material_gtins where gtin = $2)
              order by m.code limit 100",
            lot_select(),
            crate::domain::lotcode::named_sql(1)
        );
        let lots: Vec<LotRow> =
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(&code).bind(gtin).fetch_all(&state.pool).await?;
        if lots.is_empty() {
            let known: bool = sqlx::query_scalar("select exists (select 1 from material_gtins where gtin = $1)")
                .bind(gtin)
                .fetch_one(&state.pool)
                .await?;
            let problem = if known {
                format!("The material with GTIN {gtin} has no lot “{code}”.")
            } else {
                format!("No material has GTIN {gtin}.")
            };
            return render(&page(lots, Some(problem), read_as));
        }
        lots
    } else {
        let sql = format!("{} where {} order by m.code limit 100", lot_select(), crate::domain::lotcode::named_sql(1));
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(&code).fetch_all(&state.pool).await?
    };
    if let [lot] = lots.as_slice() {
        return Ok(see_other(&format!("/lots/{}", lot.id)));
    }
    render(&page(lots, None, read_as))
}

mod actions;
mod page;

use actions::*;
pub use page::LotPageCache;
use page::*;
