//! The recall as sheets: the scope (lots, stock, shipments, customers) and the notice list.

use super::*;

/// The recall as a table (for CSV): affected lots, stock, shipments and customers, from the
/// frozen scope.
pub fn scope_sheet(recall: &Recall, s: &StoredScope) -> Sheet {
    let scope = &s.scope;
    let d = |v: Option<Decimal>| v.map(|d| d.normalize().to_string()).unwrap_or_default();
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut sheet = Sheet::new(
        format!("recall-{}", recall.number),
        &[
            "record",
            "recall",
            "material",
            "lot",
            "depth",
            "status",
            "share",
            "concentration",
            "excluded",
            "site",
            "location",
            "shipment",
            "customer",
            "shipped_on",
            "quantity",
            "uom",
            "contact",
        ],
    );
    for l in &scope.lots {
        rows.push(vec![
            "lot".into(),
            recall.number.clone(),
            l.material.clone(),
            l.code.clone(),
            l.depth.to_string(),
            l.status.clone(),
            d(l.share),
            d(l.concentration),
            l.excluded.to_string(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            l.on_hand.normalize().to_string(),
            l.uom.clone(),
            String::new(),
        ]);
    }
    for st in &scope.stock {
        let mut r = vec![String::new(); 17];
        (r[0], r[1], r[2], r[3], r[9], r[10], r[14], r[15]) = (
            "stock".into(),
            recall.number.clone(),
            st.material.clone(),
            st.lot.clone(),
            st.site.clone(),
            st.location.clone(),
            st.quantity.to_string(),
            st.uom.clone(),
        );
        rows.push(r);
    }
    for sh in &scope.shipments {
        let mut r = vec![String::new(); 17];
        (r[0], r[1], r[2], r[3], r[11], r[12], r[13], r[14], r[15]) = (
            if sh.reversed { "shipment (reversed)" } else { "shipment" }.into(),
            recall.number.clone(),
            sh.material.clone(),
            sh.lot.clone(),
            sh.shipment.clone(),
            sh.customer.clone(),
            sh.shipped_at.date_naive().to_string(),
            sh.quantity.to_string(),
            sh.uom.clone(),
        );
        rows.push(r);
    }
    for c in &scope.customers {
        let contacts: Vec<String> = c
            .contacts
            .iter()
            .map(|k| {
                format!("{} ({}) {} {}", k.name, k.role, k.phone, k.email)
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        let mut r = vec![String::new(); 17];
        (r[0], r[1], r[12], r[16]) = ("customer".into(), recall.number.clone(), c.name.clone(), contacts.join("; "));
        rows.push(r);
    }
    for r in rows {
        sheet.push(r.into_iter().map(Into::into).collect());
    }
    sheet
}

/// The customer notice list: one row per customer and lot, with its contacts and accounting.
pub fn notice_sheet(recall: &Recall, status: &[CustomerStatus]) -> Sheet {
    let mut sheet = Sheet::new(
        format!("recall-{}-notices", recall.number),
        &[
            "recall",
            "customer_code",
            "customer",
            "address",
            "phone",
            "email",
            "recall_contacts",
            "material",
            "lot",
            "shipped",
            "returned",
            "destroyed",
            "held",
            "on_market",
            "uom",
            "notified",
            "acknowledged",
        ],
    );
    for c in status {
        let contacts: Vec<String> = c
            .customer
            .contacts
            .iter()
            .filter(|k| k.recall_contact)
            .map(|k| format!("{} {} {}", k.name, k.phone, k.email).split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        for l in &c.lines {
            sheet.push(vec![
                recall.number.as_str().into(),
                c.customer.code.as_str().into(),
                c.customer.name.as_str().into(),
                c.customer.address.as_str().into(),
                c.customer.phone.as_str().into(),
                c.customer.email.as_str().into(),
                contacts.join("; ").into(),
                l.material.as_str().into(),
                l.lot.as_str().into(),
                l.shipped.into(),
                l.returned.into(),
                l.destroyed.into(),
                l.held.into(),
                l.on_market().into(),
                l.uom.as_str().into(),
                if c.notified { "yes" } else { "no" }.into(),
                if c.acknowledged { "yes" } else { "no" }.into(),
            ]);
        }
    }
    sheet
}

/// `lotline recall verify`: prints the SHA-256 of a downloaded `scope.json` (what the report
/// prints); with `expected`, fails unless they match.
pub fn verify_scope_file(file: &std::path::Path, expected: Option<&str>) -> anyhow::Result<()> {
    use anyhow::Context;
    let bytes = std::fs::read(file).with_context(|| format!("Failed to read {}", file.display()))?;
    let actual = hash_hex(&bytes);
    println!("SHA-256 {actual}  {}", file.display());
    match expected {
        None => Ok(()),
        Some(expected) if expected.trim().eq_ignore_ascii_case(&actual) => {
            println!("matches the printed hash");
            Ok(())
        }
        Some(expected) => anyhow::bail!("does not match the printed hash {}", expected.trim()),
    }
}
