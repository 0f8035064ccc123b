//! A trace as CSV, the same document the page, the API and the CLI give.

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
