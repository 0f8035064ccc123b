//! The FSMA 204 electronic sortable spreadsheet (21 CFR 1.1455): one row per critical tracking
//! event (receiving, transformation, shipping) and lot, with the key data elements as columns,
//! for a set of lots or a date range.
//!
//! FDA's template headers are unconfirmed: every column is named once, in `COLUMNS`, after the
//! rule's wording, so a correction is one line here.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use sqlx::PgPool;
use uuid::Uuid;

use crate::documents::sheet::Sheet;
use crate::error::Error;

/// The columns, in order, named after the rule's key data elements.
pub const COLUMNS: [&str; 16] = [
    "Critical tracking event",
    "Event reference",
    "Traceability lot code",
    "Traceability lot code source",
    "Traceability lot code source reference",
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

/// Which events: those of given lots, or those within dates (inclusive, each event's date where
/// it happened).
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
    tlc_source_reference: String,
    product: String,
    quantity: Decimal,
    uom: String,
    previous_source: String,
    next_recipient: String,
    location: String,
    local_date: NaiveDate,
    document_type: String,
    document_number: String,
    lot_code: String,
    ftl: bool,
}

/// A location description as 21 CFR 1.1310 asks: business name, physical address with its
/// country, phone number — on one line (a spreadsheet cell), of the site or party `t`.
fn place(t: &str) -> String {
    format!(
        "concat_ws(', ', {t}.name, nullif(regexp_replace(btrim({t}.address), '\\s*\\n\\s*', ', ', 'g'), ''),
                   {t}.country, nullif('phone ' || btrim({t}.phone), 'phone '))"
    )
}

/// Receiving, transformation (each input and output) and shipping, not reversed, in time order.
/// Each event is dated in its site's time zone. A lot's traceability lot code source is its
/// supplier where the code is the supplier's, else the site that assigned it.
fn events_sql() -> String {
    format!(
        "
with sel as (select id from lots where ($1::uuid[] is not null and id = any($1)) or ($1::uuid[] is null)),
events as (
    select 'Receiving' as event, r.number as reference, l.id as lot_id, rl.quantity,
           {supplier} as previous_source, '' as next_recipient, {site} as location, r.received_at as occurred_at,
           s.time_zone,
           case when r.asn_ref <> '' then 'Advance ship notice' when r.delivery_ref <> '' then 'Delivery note' else 'Receiving record' end as document_type,
           coalesce(nullif(r.asn_ref, ''), nullif(r.delivery_ref, ''), r.number) as document_number
      from receipt_lines rl join receipts r on r.id = rl.receipt_id join lots l on l.id = rl.lot_id
      join parties p on p.id = r.supplier_id join sites s on s.id = r.site_id
     where not exists (select 1 from stock_movements v where v.reverses_id = rl.movement_id)
    union all
    select case when m.kind = 'consume' then 'Transformation (input)' else 'Transformation (output)' end, pr.number, m.lot_id,
           abs(m.quantity), '', '', {site}, m.occurred_at, s.time_zone, 'Production record', pr.number
      from stock_movements m join production_runs pr on pr.id = m.run_id join sites s on s.id = pr.site_id
     where m.kind in ('consume', 'produce') and not exists (select 1 from stock_movements v where v.reverses_id = m.id)
    union all
    select 'Shipping', h.number, sl.lot_id, sl.quantity, '', {customer}, {site}, h.shipped_at, s.time_zone,
           case when h.bol_ref <> '' then 'Bill of lading' else 'Shipment' end, coalesce(nullif(h.bol_ref, ''), h.number)
      from shipment_lines sl join shipments h on h.id = sl.shipment_id join parties c on c.id = h.customer_id
      join sites s on s.id = h.site_id
     where not exists (select 1 from stock_movements v where v.reverses_id = sl.movement_id)),
dated as (select e.*, (e.occurred_at at time zone e.time_zone)::date as local_date from events e)
select e.event, e.reference, l.tlc,
       case when sp.id is not null then {source_party} else {source_site} end as tlc_source,
       coalesce('GLN ' || case when sp.id is not null then sp.gln else ls.gln end, '') as tlc_source_reference,
       m.name || ' (' || m.code || ')' as product, e.quantity, m.uom,
       e.previous_source, e.next_recipient, e.location, e.local_date, e.document_type, e.document_number,
       l.code as lot_code, m.ftl
  from dated e join sel on sel.id = e.lot_id join lots l on l.id = e.lot_id join materials m on m.id = l.material_id
  join sites ls on ls.id = l.site_id
  left join parties sp on sp.id = l.supplier_id and l.origin = 'received' and l.tlc = btrim(l.supplier_lot)
 where ($2::date is null or e.local_date >= $2::date) and ($3::date is null or e.local_date <= $3::date)
 order by e.occurred_at, e.reference, e.event, l.code",
        supplier = place("p"),
        customer = place("c"),
        site = place("s"),
        source_party = place("sp"),
        source_site = place("ls"),
    )
}

/// The spreadsheet: the events, one row per event and lot, in `COLUMNS` order (the quantity a
/// number, the date a date, the rest text), to write as CSV or XLSX.
pub async fn sheet(pool: &PgPool, selection: Selection<'_>, name: String) -> Result<Sheet, Error> {
    let (lots, from, to) = match selection {
        Selection::Lots(ids) => (Some(ids.to_vec()), None, None),
        Selection::Dates(from, to) => (None, Some(from), Some(to)),
    };
    let rows: Vec<Row> =
        sqlx::query_as(sqlx::AssertSqlSafe(events_sql())).bind(lots).bind(from).bind(to).fetch_all(pool).await?;
    let mut sheet = Sheet::new(name, &COLUMNS);
    for r in rows {
        sheet.push(vec![
            r.event.into(),
            r.reference.into(),
            r.tlc.into(),
            r.tlc_source.into(),
            r.tlc_source_reference.into(),
            r.product.into(),
            r.quantity.into(),
            r.uom.into(),
            r.previous_source.into(),
            r.next_recipient.into(),
            r.location.into(),
            r.local_date.into(),
            r.document_type.into(),
            r.document_number.into(),
            r.lot_code.into(),
            if r.ftl { "yes" } else { "no" }.into(),
        ]);
    }
    Ok(sheet)
}
