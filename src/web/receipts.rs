//! Receiving: the receipt form (one line for now), a receipt's page with the lots it created,
//! and the list of recent receipts.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::{FlashKind, Layout, redirect_with_flash, render, render_with};
use crate::auth::{CurrentUser, Permission};
use crate::error::{Error, Result};
use crate::save::{FieldErrors, SaveError, parse_idempotency_key};
use crate::stock::receive::{self, ReceiptForm, ReceiptInput};
use crate::web::AppState;

pub fn router() -> Router<AppState> {
    let read = Router::new().route("/receipts", get(index)).route("/receipts/{id}", get(show));
    let write = Router::new().route("/receipts", post(create)).route("/receipts/new", get(new));
    super::guarded(read, Permission::LotsRead).merge(super::guarded(write, Permission::StockReceive))
}

#[derive(Debug, sqlx::FromRow)]
struct ReceiptRow {
    id: Uuid,
    number: String,
    received_at: DateTime<Utc>,
    supplier: String,
    site: String,
    order_ref: String,
    asn_ref: String,
    lines: i64,
}

const SELECT: &str = "select r.id, r.number, r.received_at, p.name as supplier, s.code as site, r.order_ref, r.asn_ref,
        (select count(*) from receipt_lines l where l.receipt_id = r.id) as lines
   from receipts r join parties p on p.id = r.supplier_id join sites s on s.id = r.site_id";

#[derive(Template)]
#[template(path = "receipts/index.html")]
struct IndexPage {
    layout: Layout,
    receipts: Vec<ReceiptRow>,
}

async fn index(State(state): State<AppState>, layout: Layout) -> Result<Response> {
    let receipts =
        sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} order by r.received_at desc, r.number desc limit 100")))
            .fetch_all(&state.pool)
            .await?;
    render(&IndexPage { layout, receipts })
}

#[derive(Debug, sqlx::FromRow)]
struct LineRow {
    line_no: i32,
    lot_id: Uuid,
    lot_code: String,
    material_code: String,
    material_name: String,
    supplier_lot: Option<String>,
    quantity: Decimal,
    uom: String,
    location: String,
    disposition: String,
    expires_on: Option<chrono::NaiveDate>,
}

#[derive(Template)]
#[template(path = "receipts/show.html")]
struct ShowPage {
    layout: Layout,
    receipt: ReceiptRow,
    lines: Vec<LineRow>,
}

async fn show(State(state): State<AppState>, layout: Layout, Path(id): Path<String>) -> Result<Response> {
    let id = super::parse_id(&id)?;
    let receipt: ReceiptRow = sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} where r.id = $1")))
        .bind(id)
        .fetch_optional(&state.pool)
        .await?
        .ok_or(Error::NotFound)?;
    let lines = sqlx::query_as(
        "select rl.line_no, l.id as lot_id, l.code as lot_code, m.code as material_code, m.name as material_name, l.supplier_lot,
                rl.quantity, m.uom, c.code as location, l.disposition, l.expires_on
           from receipt_lines rl join lots l on l.id = rl.lot_id join materials m on m.id = l.material_id
           join locations c on c.id = rl.location_id
          where rl.receipt_id = $1 order by rl.line_no",
    )
    .bind(id)
    .fetch_all(&state.pool)
    .await?;
    render(&ShowPage { layout, receipt, lines })
}

#[derive(Template)]
#[template(path = "receipts/form.html")]
struct FormPage {
    layout: Layout,
    rows: Vec<crate::stock::receive::ReceiptLineForm>,
    form: ReceiptForm,
    errors: FieldErrors,
    sites: Vec<(Uuid, String)>,
    suppliers: Vec<(Uuid, String)>,
    materials: Vec<(Uuid, String)>,
    locations: Vec<(Uuid, String)>,
}

impl FormPage {
    fn line_error(&self, i: &usize) -> Option<&str> {
        self.errors.get(&crate::save::line_key(*i))
    }
}

async fn form_page(
    state: &AppState,
    status: StatusCode,
    layout: Layout,
    form: ReceiptForm,
    errors: FieldErrors,
) -> Result<Response> {
    let pool = &state.pool;
    let sites = sqlx::query_as("select id, code || ' · ' || name from sites where active order by code")
        .fetch_all(pool)
        .await?;
    let suppliers =
        sqlx::query_as("select id, code || ' · ' || name from parties where active and is_supplier order by code")
            .fetch_all(pool)
            .await?;
    let materials = sqlx::query_as(
        "select id, code || ' · ' || name || ' (' || uom || ')' from materials where active order by code",
    )
    .fetch_all(pool)
    .await?;
    let locations = sqlx::query_as(
        "select l.id, s.code || ' / ' || l.code || ' · ' || l.name from locations l join sites s on s.id = l.site_id
          where l.active and s.active order by (l.kind <> 'receiving'), s.code, l.code",
    )
    .fetch_all(pool)
    .await?;
    let rows = form.rows();
    render_with(status, &FormPage { layout, rows, form, errors, sites, suppliers, materials, locations })
}

async fn new(State(state): State<AppState>, layout: Layout) -> Result<Response> {
    let form = ReceiptForm {
        received_on: Utc::now().date_naive().to_string(),
        idempotency_key: Uuid::new_v4().to_string(),
        ..Default::default()
    };
    form_page(&state, StatusCode::OK, layout, form, FieldErrors::default()).await
}

async fn create(
    State(state): State<AppState>,
    user: CurrentUser,
    layout: Layout,
    body: axum::body::Bytes,
) -> Result<Response> {
    let form = ReceiptForm::parse(&body);
    let key = parse_idempotency_key(&form.idempotency_key)?;
    let result = match ReceiptInput::try_from(&form) {
        Ok(input) => receive::receive(&state.pool, &user.actor(), &input, key).await,
        Err(errors) => Err(SaveError::Invalid(errors)),
    };
    match super::outcome(result)? {
        // The form was sent before (a double click, or the back button and send again).
        Ok(received) if received.again => Ok(redirect_with_flash(
            &format!("/receipts/{}", received.receipt_id),
            FlashKind::Success,
            "This form was sent before: here is the receipt it recorded then. Nothing new was received.",
        )),
        Ok(received) => {
            let codes: Vec<&str> = received.lots.iter().map(|(_, c)| c.as_str()).collect();
            let message = format!("Received: lot {}.", codes.join(", "));
            Ok(redirect_with_flash(&format!("/receipts/{}", received.receipt_id), FlashKind::Success, &message))
        }
        Err(errors) => form_page(&state, StatusCode::UNPROCESSABLE_ENTITY, layout, form, errors).await,
    }
}
