//! A trace as CSV, the same document the page, the API and the CLI give; and as a plain-text
//! table for the terminal.

use super::Trace;

/// The trace as CSV: one row per lot, then one per shipment (RFC 4180 quoting).
pub fn to_csv(t: &Trace) -> String {
    fn q(s: &str) -> String {
        let s = crate::documents::sheet::inert(s);
        if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.into_owned() }
    }
    let mut out = String::from(
        "record,depth,material,lot,status,on_hand,uom,via,supplier,supplier_lot,shipment,customer,quantity,shipped_on,reversed\r\n",
    );
    for l in &t.lots {
        out.push_str(&format!(
            "lot,{},{},{},{},{},{},{},{},{},,,,,\r\n",
            l.depth,
            q(&l.material),
            q(&l.code),
            q(&l.status),
            l.on_hand.normalize(),
            q(&l.uom),
            q(&l.via.join(" ")),
            q(l.supplier.as_deref().unwrap_or("")),
            q(l.supplier_lot.as_deref().unwrap_or(""))
        ));
    }
    for s in &t.shipments {
        out.push_str(&format!(
            "shipment,,{},{},,,{},,,,{},{},{},{},{}\r\n",
            q(&s.material),
            q(&s.lot),
            q(&s.uom),
            q(&s.shipment),
            q(&s.customer),
            s.quantity.normalize(),
            s.shipped_on,
            if s.reversed { "yes" } else { "" }
        ));
    }
    out
}

/// A trace as a plain-text table for the terminal.
pub fn to_table(t: &Trace) -> String {
    let mut out = format!(
        "{} trace of lot {} ({}), mode {}: {} lots, {} shipment lines, {} customers\n",
        if t.direction == super::Direction::Forward { "Where-used" } else { "Where-from" },
        t.start.code,
        t.start.material,
        t.mode.key(),
        t.lots.len() - 1,
        t.shipments.len(),
        t.customers.len()
    );
    out.push_str(&format!("{:>5}  {:<20} {:<20} {:<10} {:>14}\n", "level", "material", "lot", "status", "on hand"));
    for l in &t.lots {
        out.push_str(&format!(
            "{:>5}  {:<20} {:<20} {:<10} {:>14}\n",
            l.depth,
            l.material,
            l.code,
            l.status,
            format!("{} {}", l.on_hand.normalize(), l.uom)
        ));
    }
    for s in &t.shipments {
        out.push_str(&format!(
            "shipped {} {} of {} to {} on {} ({})\n",
            s.quantity.normalize(),
            s.uom,
            s.lot,
            s.customer,
            s.shipped_on,
            s.shipment
        ));
    }
    out
}
