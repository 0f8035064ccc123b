//! Label sheets: one label per lot of a receipt or a run (or a single lot), each with its
//! GS1-128, GS1 DataMatrix, human-readable line and Digital Link, laid out to print.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::Method;
use axum::response::Response;
use axum::routing::get;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::{Layout, render};
use crate::auth::Permission;
use crate::documents::labels::{self, Label, LabelLot, Stock};
use crate::error::{Error, Result};
use crate::web::AppState;

pub fn router() -> Router<AppState> {
    let read = Router::new()
        .route("/lots/{id}/label", get(one_lot).post(one_lot))
        .route("/receipts/{id}/labels", get(receipt).post(receipt))
        .route("/runs/{id}/labels", get(run).post(run));
    super::guarded(read, Permission::LotsRead)
}

#[derive(Debug, sqlx::FromRow)]
struct LotRow {
    id: Uuid,
    code: String,
    tlc: String,
    supplier_lot: Option<String>,
    disposition: String,
    date_kind: crate::domain::vocab::DateKind,
    material_code: String,
    material_name: String,
    origin: String,
    made_on: NaiveDate,
    expires_on: Option<NaiveDate>,
    gtin: Option<String>,
    quantity: Decimal,
    uom: String,
}

#[derive(Clone)]
pub struct SheetLabel {
    pub lot_id: Uuid,
    pub material_code: String,
    pub material_name: String,
    pub code: String,
    /// The supplier's own lot of a received lot, which its GS1 symbols carry.
    pub supplier_lot: Option<String>,
    /// Still awaiting QA: the label says QUARANTINE in large letters.
    pub quarantine: bool,
    pub quantity: Decimal,
    pub uom: String,
    pub expires_on: Option<NaiveDate>,
    pub date_kind: crate::domain::vocab::DateKind,
    pub label: std::result::Result<Label, String>,
}

#[derive(Template)]
#[template(path = "labels/sheet.html")]
struct SheetPage {
    layout: Layout,
    title: String,
    back: String,
    labels: Vec<SheetLabel>,
    print: Print,
    stocks: [Stock; 6],
    /// The Digital Link's host is this machine: a phone elsewhere cannot open it.
    loopback: bool,
    link_host: String,
    has_printer: bool,
    /// This sheet's own address, without its query.
    path: String,
}

/// How the labels are printed: the stock, the printer's resolution, copies of each label.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(default)]
pub(super) struct PrintQuery {
    pub(super) stock: String,
    pub(super) dpi: String,
    pub(super) copies: String,
    /// `zpl`: the labels as ZPL for a thermal printer, instead of the page.
    pub(super) format: String,
}

impl Default for PrintQuery {
    fn default() -> Self {
        PrintQuery { stock: "4x6".into(), dpi: "203".into(), copies: "1".into(), format: String::new() }
    }
}

pub struct Print {
    pub stock: Stock,
    pub dpi: u32,
    pub copies: usize,
}

impl Print {
    pub(super) fn parse(q: &PrintQuery) -> Result<Print> {
        let stock = Stock::parse(&q.stock).ok_or_else(|| {
            Error::BadRequest(format!("“{}” is not a label stock: use 4x6, a6, 4x2, 2x1, a4 or letter.", q.stock))
        })?;
        let dpi = match q.dpi.trim() {
            "203" => 203,
            "300" => 300,
            other => return Err(Error::BadRequest(format!("“{other}” is not a printer resolution: use 203 or 300."))),
        };
        let copies = q
            .copies
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=50).contains(n))
            .ok_or_else(|| Error::BadRequest("Copies are a number from 1 to 50.".into()))?;
        Ok(Print { stock, dpi, copies })
    }

    /// The page size and label size in CSS, so a print dialog picks the stock.
    pub fn page_css(&self) -> String {
        let (pw, ph) = self.stock.page_mm();
        let (lw, lh) = self.stock.label_mm();
        format!(
            "@page {{ size: {pw}mm {ph}mm; margin: 0; }} @media print {{ .lot-label {{ width: {lw}mm; height: {lh}mm; }} }}"
        )
    }
}

/// The lots' label facts: the material's smallest-pack GTIN, and what each lot holds now (or was made with).
const SELECT: &str = "select l.id, l.code, l.tlc, l.supplier_lot, l.disposition, m.date_kind, m.code as material_code, m.name as material_name, l.origin, l.made_on, l.expires_on,
        g.gtin,
        coalesce((select sum(s.quantity) from stock_movements s where s.lot_id = l.id and s.kind in ('receipt', 'produce', 'split') and s.quantity > 0), 0) as quantity,
        m.uom
   from lots l join materials m on m.id = l.material_id";

/// The filter of a single lot's label.
const ONE_LOT: &str = "l.id = $1";

async fn sheet(
    state: &AppState,
    layout: Layout,
    (title, back): (String, String),
    (print, method): (&PrintQuery, Method),
    filter: &str,
    id: Uuid,
) -> Result<Response> {
    // A GET shows the page (or its ZPL); a POST sends the ZPL to the plant's label printer.
    let send = method == Method::POST;
    let zpl = match print.format.trim() {
        "" => send,
        "zpl" => true,
        other => {
            return Err(Error::BadRequest(format!("“{other}” is not a label format: use zpl, or none for the page.")));
        }
    };
    let again = format!("?stock={}&dpi={}&copies={}", print.stock.trim(), print.dpi.trim(), print.copies.trim());
    let print = Print::parse(print)?;
    let rows: Vec<LotRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} {} where {filter} order by m.code, l.code",
        crate::domain::lotcode::GTIN_LATERAL
    )))
    .bind(id)
    .fetch_all(&state.pool)
    .await?;
    if rows.is_empty() && filter == ONE_LOT {
        return Err(Error::NotFound);
    }
    let labels = rows
        .into_iter()
        .map(|r| {
            // Under a GTIN a lot wears its outward identity: a received lot its supplier's lot.
            let outward = match r.gtin {
                Some(_) => crate::domain::lotcode::outward(&r.tlc, &r.code),
                None => &r.code,
            };
            let lot = LabelLot {
                gtin: r.gtin.clone(),
                lot: outward.to_string(),
                made_on: (r.origin == "produced").then_some(r.made_on),
                expires_on: r.expires_on,
                date_kind: r.date_kind,
            };
            SheetLabel {
                lot_id: r.id,
                material_code: r.material_code,
                material_name: r.material_name,
                supplier_lot: r.supplier_lot.clone().filter(|s| !s.trim().is_empty()),
                quarantine: r.disposition == "quarantine",
                code: r.code,
                quantity: r.quantity.normalize(),
                uom: r.uom,
                expires_on: r.expires_on,
                date_kind: r.date_kind,
                // The Digital Link resolves on lotline itself: a consumer's phone opens the
                // public product check (`/01/{gtin}/10/{lot}`).
                label: labels::draw(&lot, &state.public_url, print.stock, print.dpi),
            }
        })
        .collect::<Vec<SheetLabel>>();
    if send {
        let here = format!("{}{again}", layout_path(&back, filter, id));
        return Ok(match send_to_printer(state, &zpl_text(&labels, &print)).await {
            Ok(host) => super::redirect_with_flash(
                &here,
                super::FlashKind::Success,
                &format!(
                    "Sent {} label{} to the label printer at {host}.",
                    labels.len() * print.copies,
                    if labels.len() * print.copies == 1 { "" } else { "s" }
                ),
            ),
            Err(m) => super::redirect_with_flash(&here, super::FlashKind::Error, &m),
        });
    }
    if zpl {
        return Ok(zpl_response(&labels, &print, &title));
    }
    let labels: Vec<SheetLabel> = labels.into_iter().flat_map(|l| std::iter::repeat_n(l, print.copies)).collect();
    let host = state.public_url.split("://").nth(1).unwrap_or_default();
    let loopback = ["127.", "localhost", "[::1]", "0.0.0.0"].iter().any(|h| host.starts_with(h));
    let link_host = state.public_url.clone();
    let has_printer = state.label_printer.is_some();
    let path = layout_path(&back, filter, id);
    render(&SheetPage {
        layout,
        title,
        back,
        labels,
        print,
        stocks: Stock::ALL,
        loopback,
        link_host,
        has_printer,
        path,
    })
}

/// The page a label sheet is at, from what it was asked with.
fn layout_path(back: &str, filter: &str, id: Uuid) -> String {
    if filter == ONE_LOT { format!("/lots/{id}/label") } else { format!("{back}/labels") }
}

/// Sends ZPL to the plant's label printer (raw TCP, as Zebra-class printers take it on port
/// 9100); says where, or why not.
pub(super) async fn send_to_printer(state: &AppState, zpl: &str) -> std::result::Result<String, String> {
    use tokio::io::AsyncWriteExt;
    let Some(printer) = state.label_printer.clone() else {
        return Err(
            "No label printer is set up: set LOTLINE_LABEL_PRINTER to its address (host:9100), or download the ZPL."
                .into(),
        );
    };
    let timeout = std::time::Duration::from_secs(5);
    let sent = tokio::time::timeout(timeout, async {
        let mut stream = tokio::net::TcpStream::connect(&printer).await?;
        stream.write_all(zpl.as_bytes()).await?;
        stream.shutdown().await
    })
    .await;
    match sent {
        Ok(Ok(())) => Ok(printer),
        Ok(Err(e)) => {
            Err(format!("The label printer at {printer} did not take the labels ({e}); nothing was printed."))
        }
        Err(_) => Err(format!("The label printer at {printer} did not answer within 5 seconds; nothing was printed.")),
    }
}

/// The labels as one ZPL file, each label printed `copies` times by the printer itself.
fn zpl_response(labels: &[SheetLabel], print: &Print, title: &str) -> Response {
    zpl_download(zpl_text(labels, print), title)
}

/// ZPL as a file to download, named after `title`.
pub(super) fn zpl_download(out: String, title: &str) -> Response {
    use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
    use axum::response::IntoResponse;
    let name: String = title.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    let mut response = out.into_response();
    response.headers_mut().insert(CONTENT_TYPE, axum::http::HeaderValue::from_static("application/zpl; charset=utf-8"));
    if let Ok(v) = axum::http::HeaderValue::from_str(&format!("attachment; filename=\"{name}.zpl\"")) {
        response.headers_mut().insert(CONTENT_DISPOSITION, v);
    }
    response
}

fn zpl_text(labels: &[SheetLabel], print: &Print) -> String {
    let mut out = String::new();
    for l in labels {
        let Ok(label) = &l.label else { continue };
        let lot = match &l.supplier_lot {
            Some(s) => format!("Supplier lot {s} / our lot {}", l.code),
            None => format!("Lot {}", l.code),
        };
        let date = l.expires_on.map(|d| format!(" · {} {d}", l.date_kind.label())).unwrap_or_default();
        let facts = format!("{lot}{date} · {} {}", l.quantity, l.uom);
        let heading = format!("{} {}", l.material_name, l.material_code);
        let text = labels::ZplText { title: &heading, facts: &facts, quarantine: l.quarantine };
        out.push_str(&labels::zpl(label, &text, print.stock, print.dpi, print.copies));
    }
    out
}

async fn one_lot(
    State(state): State<AppState>,
    layout: Layout,
    Path(id): Path<String>,
    method: Method,
    Query(print): Query<PrintQuery>,
) -> Result<Response> {
    let id = super::parse_id(&id)?;
    sheet(&state, layout, ("Label".into(), format!("/lots/{id}")), (&print, method), ONE_LOT, id).await
}

async fn receipt(
    State(state): State<AppState>,
    layout: Layout,
    Path(id): Path<String>,
    method: Method,
    Query(print): Query<PrintQuery>,
) -> Result<Response> {
    let id = super::parse_id(&id)?;
    let number: String = sqlx::query_scalar("select number from receipts where id = $1")
        .bind(id)
        .fetch_optional(&state.pool)
        .await?
        .ok_or(Error::NotFound)?;
    let filter = "l.id in (select lot_id from receipt_lines where receipt_id = $1)";
    sheet(
        &state,
        layout,
        (format!("Labels of receipt {number}"), format!("/receipts/{id}")),
        (&print, method),
        filter,
        id,
    )
    .await
}

async fn run(
    State(state): State<AppState>,
    layout: Layout,
    Path(id): Path<String>,
    method: Method,
    Query(print): Query<PrintQuery>,
) -> Result<Response> {
    let id = super::parse_id(&id)?;
    let number: String = sqlx::query_scalar("select number from production_runs where id = $1")
        .bind(id)
        .fetch_optional(&state.pool)
        .await?
        .ok_or(Error::NotFound)?;
    let filter = "l.id in (select lot_id from stock_movements where run_id = $1 and kind = 'produce')";
    sheet(&state, layout, (format!("Labels of run {number}"), format!("/runs/{id}")), (&print, method), filter, id)
        .await
}
