//! SSCC pallet labels: one GS1 logistic label per pallet a shipment left on — from and to, the
//! shipment and its order, what the pallets hold, and the SSCC (AI 00) as a GS1-128 at GS1's
//! logistic-label size. The shipping event names the same SSCCs.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::Method;
use axum::response::Response;
use axum::routing::get;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::labels::{Print, PrintQuery};
use super::{Layout, render};
use crate::auth::Permission;
use crate::documents::labels::{self, Label, Stock};
use crate::error::{Error, Result};
use crate::web::AppState;

pub fn router() -> Router<AppState> {
    super::guarded(Router::new().route("/shipments/{id}/pallets", get(pallets).post(pallets)), Permission::LotsRead)
}

#[derive(sqlx::FromRow)]
struct Head {
    number: String,
    site_code: String,
    from_name: String,
    from_address: String,
    to_name: String,
    to_address: String,
    order_ref: String,
    shipped_on: NaiveDate,
    company_prefix: Option<String>,
}

/// What the pallets hold, line by line, as partners know the lots.
pub struct Content {
    pub material_code: String,
    pub material_name: String,
    pub lot: String,
    pub quantity: Decimal,
    pub uom: String,
    pub expires_on: Option<NaiveDate>,
}

pub struct Pallet {
    pub sscc: String,
    pub number: i32,
    pub label: std::result::Result<Label, String>,
}

#[derive(Template)]
#[template(path = "shipments/pallets.html")]
struct PalletsPage {
    layout: Layout,
    id: Uuid,
    number: String,
    site_code: String,
    from_name: String,
    from_address: String,
    to_name: String,
    to_address: String,
    order_ref: String,
    shipped_on: NaiveDate,
    company_prefix: Option<String>,
    contents: Vec<Content>,
    pallets: Vec<Pallet>,
    print: Print,
    stocks: [Stock; 6],
    has_printer: bool,
}

async fn pallets(
    State(state): State<AppState>,
    layout: Layout,
    Path(id): Path<String>,
    method: Method,
    Query(q): Query<PrintQuery>,
) -> Result<Response> {
    let id = super::parse_id(&id)?;
    let zpl = match q.format.trim() {
        "" => method == Method::POST,
        "zpl" => true,
        other => {
            return Err(Error::BadRequest(format!("“{other}” is not a label format: use zpl, or none for the page.")));
        }
    };
    let again = format!("?stock={}&dpi={}&copies={}", q.stock.trim(), q.dpi.trim(), q.copies.trim());
    let print = Print::parse(&q)?;
    let head: Head = sqlx::query_as(
        "select h.number, s.code as site_code, s.name as from_name, s.address as from_address, p.name as to_name,
                p.address as to_address, h.order_ref, (h.shipped_at at time zone s.time_zone)::date as shipped_on,
                s.company_prefix
           from shipments h join sites s on s.id = h.site_id join parties p on p.id = h.customer_id where h.id = $1",
    )
    .bind(id)
    .fetch_optional(&state.pool)
    .await?
    .ok_or(Error::NotFound)?;
    type Line = (String, String, String, String, Option<String>, Decimal, String, Option<NaiveDate>);
    let lines: Vec<Line> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select m.code, m.name, l.code, l.tlc, g.gtin, sl.quantity, m.uom, l.expires_on
           from shipment_lines sl join lots l on l.id = sl.lot_id join materials m on m.id = l.material_id {}
          where sl.shipment_id = $1
            and not exists (select 1 from stock_movements v where v.reverses_id = sl.movement_id)
          order by sl.line_no",
        crate::domain::lotcode::GTIN_LATERAL
    )))
    .bind(id)
    .fetch_all(&state.pool)
    .await?;
    // Under a GTIN a lot is known outward, as on its own label.
    let contents: Vec<Content> = lines
        .into_iter()
        .map(|(material_code, material_name, code, tlc, gtin, quantity, uom, expires_on)| Content {
            lot: if gtin.is_some() { crate::domain::lotcode::outward(&tlc, &code).to_string() } else { code },
            material_code,
            material_name,
            quantity: quantity.normalize(),
            uom,
            expires_on,
        })
        .collect();
    let ssccs: Vec<(String, i32)> =
        sqlx::query_as("select sscc, pallet_no from shipment_pallets where shipment_id = $1 order by pallet_no")
            .bind(id)
            .fetch_all(&state.pool)
            .await?;
    let pallets: Vec<Pallet> = ssccs
        .into_iter()
        .map(|(sscc, number)| Pallet { label: labels::draw_sscc(&sscc, print.stock, print.dpi), sscc, number })
        .collect();
    if zpl {
        let of = pallets.len();
        let mut out = String::new();
        for p in &pallets {
            let Ok(label) = &p.label else { continue };
            let title = format!("{} · pallet {} of {of} · to {}", head.number, p.number, head.to_name);
            let facts = contents
                .iter()
                .map(|c| format!("{} lot {} {} {}", c.material_code, c.lot, c.quantity.normalize(), c.uom))
                .collect::<Vec<_>>()
                .join(" · ");
            let text = labels::ZplText { title: &title, facts: &facts, quarantine: false };
            out.push_str(&labels::zpl(label, &text, print.stock, print.dpi, print.copies));
        }
        if method == Method::POST {
            let here = format!("/shipments/{id}/pallets{again}");
            return Ok(match super::labels::send_to_printer(&state, &out).await {
                Ok(host) => super::redirect_with_flash(
                    &here,
                    super::FlashKind::Success,
                    &format!("Sent {of} pallet label(s) to the label printer at {host}."),
                ),
                Err(m) => super::redirect_with_flash(&here, super::FlashKind::Error, &m),
            });
        }
        return Ok(super::labels::zpl_download(out, &format!("pallets-{}", head.number)));
    }
    let has_printer = state.label_printer.is_some();
    render(&PalletsPage {
        layout,
        id,
        number: head.number,
        site_code: head.site_code,
        from_name: head.from_name,
        from_address: head.from_address,
        to_name: head.to_name,
        to_address: head.to_address,
        order_ref: head.order_ref,
        shipped_on: head.shipped_on,
        company_prefix: head.company_prefix,
        contents,
        pallets,
        print,
        stocks: Stock::ALL,
        has_printer,
    })
}
