//! The FSMA 204 electronic sortable spreadsheet (21 CFR 1.1455): one row per critical tracking
//! event (receiving, transformation, shipping) and lot, with the key data elements as columns,
//! for a set of lots or a date range.
//!
//! FDA's template headers are unconfirmed: every column is named once, in `COLUMNS`, after the
//! rule's wording, so a correction is one line here.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use sqlx::PgPool;
use uuid::Uuid;

use crate::documents::sheet::Sheet;
use crate::error::Error;

/// The columns, in order, named after the rule's key data elements.
pub const COLUMNS: [&str; 15] = [
    "Critical tracking event",
    "Event reference",
    "Traceability lot code",
    "Traceability lot code source",
    "Product description",
    "Quantity",
    "Unit of measure",
    "Location of the immediate previous source",
    "Location of the immediate subsequent recipient",
    "Location of the event",
    "Date of the event",
    "Reference document type",
    "Reference document number",
    "Internal lot code",
    "On the Food Traceability List",
];

/// Which events: those of given lots, or those within dates (inclusive, UTC).
pub enum Selection<'a> {
    Lots(&'a [Uuid]),
    Dates(NaiveDate, NaiveDate),
}

#[derive(sqlx::FromRow)]
struct Row {
    event: String,
    reference: String,
    tlc: String,
    tlc_source: String,
    product: String,
    quantity: Decimal,
    uom: String,
    previous_source: String,
    next_recipient: String,
    location: String,
    occurred_at: DateTime<Utc>,
    document_type: String,
    document_number: String,
    lot_code: String,
    ftl: bool,
}

/// Receiving, transformation (each input and output) and shipping, not reversed, in time order.
const EVENTS: &str = "
with sel as (select id from lots where ($1::uuid[] is not null and id = any($1)) or ($1::uuid[] is null)),
events as (
    select 'Receiving' as event, r.number as reference, l.id as lot_id, rl.quantity,
           p.name || coalesce(', ' || nullif(p.address, ''), '') as previous_source, '' as next_recipient,
           s.name || coalesce(', ' || nullif(s.address, ''), '') as location, r.received_at as occurred_at,
           case when r.asn_ref <> '' then 'Advance ship notice' when r.delivery_ref <> '' then 'Delivery note' else 'Receiving record' end as document_type,
           coalesce(nullif(r.asn_ref, ''), nullif(r.delivery_ref, ''), r.number) as document_number
      from receipt_lines rl join receipts r on r.id = rl.receipt_id join lots l on l.id = rl.lot_id
      join parties p on p.id = r.supplier_id join sites s on s.id = r.site_id
     where not exists (select 1 from stock_movements v where v.reverses_id = rl.movement_id)
    union all
    select case when m.kind = 'consume' then 'Transformation (input)' else 'Transformation (output)' end, pr.number, m.lot_id,
           abs(m.quantity), '', '', s.name || coalesce(', ' || nullif(s.address, ''), ''), m.occurred_at,
           'Production record', pr.number
      from stock_movements m join production_runs pr on pr.id = m.run_id join sites s on s.id = pr.site_id
     where m.kind in ('consume', 'produce') and not exists (select 1 from stock_movements v where v.reverses_id = m.id)
    union all
    select 'Shipping', h.number, sl.lot_id, sl.quantity, '',
           c.name || coalesce(', ' || nullif(c.address, ''), ''), s.name || coalesce(', ' || nullif(s.address, ''), ''),
           h.shipped_at, case when h.bol_ref <> '' then 'Bill of lading' else 'Shipment' end,
           coalesce(nullif(h.bol_ref, ''), h.number)
      from shipment_lines sl join shipments h on h.id = sl.shipment_id join parties c on c.id = h.customer_id
      join sites s on s.id = h.site_id
     where not exists (select 1 from stock_movements v where v.reverses_id = sl.movement_id))
select e.event, e.reference, l.tlc, l.tlc_source, m.name || ' (' || m.code || ')' as product, e.quantity, m.uom,
       e.previous_source, e.next_recipient, e.location, e.occurred_at, e.document_type, e.document_number,
       l.code as lot_code, m.ftl
  from events e join sel on sel.id = e.lot_id join lots l on l.id = e.lot_id join materials m on m.id = l.material_id
 where ($2::date is null or e.occurred_at >= $2::date) and ($3::date is null or e.occurred_at < $3::date + 1)
 order by e.occurred_at, e.reference, e.event, l.code";

/// The spreadsheet: the events, one row per event and lot, in `COLUMNS` order (the quantity a
/// number, the rest text), to write as CSV or XLSX.
pub async fn sheet(pool: &PgPool, selection: Selection<'_>, name: String) -> Result<Sheet, Error> {
    let (lots, from, to) = match selection {
        Selection::Lots(ids) => (Some(ids.to_vec()), None, None),
        Selection::Dates(from, to) => (None, Some(from), Some(to)),
    };
    let rows: Vec<Row> = sqlx::query_as(EVENTS).bind(lots).bind(from).bind(to).fetch_all(pool).await?;
    let mut sheet = Sheet::new(name, &COLUMNS);
    for r in rows {
        sheet.push(vec![
            r.event.into(),
            r.reference.into(),
            r.tlc.into(),
            r.tlc_source.into(),
            r.product.into(),
            r.quantity.into(),
            r.uom.into(),
            r.previous_source.into(),
            r.next_recipient.into(),
            r.location.into(),
            r.occurred_at.format("%Y-%m-%d").to_string().into(),
            r.document_type.into(),
            r.document_number.into(),
            r.lot_code.into(),
            if r.ftl { "yes" } else { "no" }.into(),
        ]);
    }
    Ok(sheet)
}
