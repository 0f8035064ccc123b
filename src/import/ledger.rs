//! The stock history the files describe, rebuilt in time order and checked before anything is
//! written: every lot code names one lot, runs have inputs and outputs, no lot goes below zero.

use super::*;

/// A stock event of the rebuilt ledger.
#[derive(Debug, Clone)]
pub(super) struct Event {
    pub(super) at: DateTime<Utc>,
    pub(super) lot: usize,
    pub(super) quantity: Decimal,
    pub(super) kind: MovementKind,
    pub(super) run: Option<usize>,
    pub(super) shipment: Option<usize>,
    pub(super) file: &'static str,
    pub(super) line: u64,
}

/// The stock history the files describe, checked: receipts, run inputs and outputs and shipment
/// lines as stock events in time order, and each lot's balance after the last.
pub(super) struct Ledger {
    pub(super) events: Vec<Event>,
    pub(super) runs: Vec<(String, DateTime<Utc>)>,
    pub(super) shipment_list: Vec<(String, DateTime<Utc>, String)>,
    pub(super) balance: Vec<Decimal>,
}

/// Checks transformations.csv and shipments.csv against the checked lots: every lot code names
/// one lot, every run has an input and an output, every produced lot is made as much as lots.csv
/// says, every customer is one, and no lot goes below zero at any moment of the rebuilt ledger.
pub(super) fn check_ledger(
    lot_rows: &[LotRow],
    by_code: &HashMap<String, Vec<usize>>,
    roles: &BTreeMap<String, (String, bool, bool)>,
    transformations: Option<&Table>,
    shipments: Option<&Table>,
    p: &mut Problems,
) -> Ledger {
    let resolve = |code: &str| -> Result<usize, String> {
        match by_code.get(code).map(Vec::as_slice) {
            Some([one]) => Ok(*one),
            Some(many) => Err(format!(
                "the lot code “{code}” names lots of several materials ({})",
                many.iter().map(|i| lot_rows[*i].material.as_str()).collect::<Vec<_>>().join(", ")
            )),
            None => Err(format!("there is no lot “{code}” in lots.csv")),
        }
    };

    // Events: receipts, runs, shipments.
    let mut events: Vec<Event> = lot_rows
        .iter()
        .enumerate()
        .filter(|(_, l)| l.received)
        .map(|(i, l)| Event {
            at: l.created,
            lot: i,
            quantity: l.quantity,
            kind: MovementKind::Receipt,
            run: None,
            shipment: None,
            file: "lots.csv",
            line: l.line,
        })
        .collect();
    let mut runs: Vec<(String, DateTime<Utc>)> = Vec::new();
    let mut run_index: HashMap<String, usize> = HashMap::new();
    // Per lot, how much the runs made of it.
    let mut produced: Vec<Option<Decimal>> = vec![None; lot_rows.len()];
    if let Some(t) = transformations {
        // Per run: whether it has an input, an output, and its first checked row's line.
        let mut directions: Vec<Option<(bool, bool, u64)>> = Vec::new();
        for (line, row) in &t.rows {
            let run_id = get(row, "run_id");
            if run_id.is_empty() {
                p.add(&t.name, *line, "run_id", "the run is not named");
                continue;
            }
            let at = match parse_time(get(row, "performed_on")) {
                Ok(t) => t,
                Err(m) => {
                    p.add(&t.name, *line, "performed_on", m);
                    continue;
                }
            };
            // A run's rows usually follow each other: the last run is looked at first.
            let r = match runs.last() {
                Some((last, _)) if last.as_str() == run_id => runs.len() - 1,
                _ => match run_index.get(run_id) {
                    Some(&r) => r,
                    None => {
                        run_index.insert(run_id.to_string(), runs.len());
                        runs.push((run_id.to_string(), at));
                        directions.push(None);
                        runs.len() - 1
                    }
                },
            };
            if runs[r].1 != at {
                p.add(&t.name, *line, "performed_on", format!("run {run_id} has rows at different times"));
            }
            let Some(lot) = p.check(&t.name, *line, "lot_code", resolve(get(row, "lot_code"))) else {
                continue;
            };
            let Some(qty) = p.check(&t.name, *line, "quantity", quantity(get(row, "quantity"))) else {
                continue;
            };
            let d = directions[r].get_or_insert((false, false, *line));
            match get(row, "direction") {
                "in" => {
                    d.0 = true;
                    events.push(Event {
                        at,
                        lot,
                        quantity: -qty,
                        kind: MovementKind::Consume,
                        run: Some(r),
                        shipment: None,
                        file: "transformations.csv",
                        line: *line,
                    });
                }
                "out" => {
                    d.1 = true;
                    *produced[lot].get_or_insert(Decimal::ZERO) += qty;
                    events.push(Event {
                        at,
                        lot,
                        quantity: qty,
                        kind: MovementKind::Produce,
                        run: Some(r),
                        shipment: None,
                        file: "transformations.csv",
                        line: *line,
                    });
                }
                other => p.add(&t.name, *line, "direction", format!("“{other}” is not a direction (in or out)")),
            }
        }
        for (r, d) in directions.into_iter().enumerate() {
            let Some((has_in, has_out, line)) = d else { continue };
            if !has_in || !has_out {
                p.add(&t.name, line, "direction", format!("run {} needs at least one input and one output", runs[r].0));
            }
        }
    }
    for (i, l) in lot_rows.iter().enumerate() {
        if !l.received {
            match &produced[i] {
                Some(q) if *q == l.quantity => {}
                Some(q) => p.add(
                    "lots.csv",
                    l.line,
                    "quantity",
                    format!(
                        "lot {} is made {} in transformations.csv, not {}",
                        l.code,
                        q.normalize(),
                        l.quantity.normalize()
                    ),
                ),
                None => p.add("lots.csv", l.line, "origin", format!("produced lot {} is the output of no run", l.code)),
            }
        }
    }
    tracing::debug!("import: ledger: runs checked");
    let mut shipment_list: Vec<(String, DateTime<Utc>, String)> = Vec::new();
    if let Some(t) = shipments {
        let mut index: HashMap<String, usize> = HashMap::new();
        for (line, row) in &t.rows {
            let at = match parse_time(get(row, "shipped_on")) {
                Ok(t) => t,
                Err(m) => {
                    p.add(&t.name, *line, "shipped_on", m);
                    continue;
                }
            };
            let customer = get(row, "customer_code").to_ascii_uppercase();
            if !roles.get(&customer).is_some_and(|r| r.2) {
                p.add(&t.name, *line, "customer_code", format!("“{customer}” is not a customer"));
                continue;
            }
            let Some(lot) = p.check(&t.name, *line, "lot_code", resolve(get(row, "lot_code"))) else {
                continue;
            };
            let Some(qty) = p.check(&t.name, *line, "quantity", quantity(get(row, "quantity"))) else {
                continue;
            };
            let id = get(row, "shipment_id").to_string();
            let s = *index.entry(id.clone()).or_insert_with(|| {
                shipment_list.push((id, at, customer));
                shipment_list.len() - 1
            });
            events.push(Event {
                at,
                lot,
                quantity: -qty,
                kind: MovementKind::Ship,
                run: None,
                shipment: Some(s),
                file: "shipments.csv",
                line: *line,
            });
        }
    }
    tracing::debug!("import: ledger: shipments checked");
    // The ledger in time order: at one instant, what flows in before what flows out.
    // Sorted as small keys, the event's place breaking ties (as a stable sort would), then
    // moved once: sorting the 80-byte events themselves moved gigabytes (1.3 s for four million).
    let mut order: Vec<(i64, bool, u32)> = events
        .iter()
        .enumerate()
        .map(|(i, e)| (e.at.timestamp_micros(), e.quantity < Decimal::ZERO, i as u32))
        .collect();
    order.sort_unstable();
    let events: Vec<Event> = order.into_iter().map(|(_, _, i)| events[i as usize].clone()).collect();
    tracing::debug!("import: ledger: sorted");
    let mut balance = vec![Decimal::ZERO; lot_rows.len()];
    for e in &events {
        balance[e.lot] += e.quantity;
        if balance[e.lot] < Decimal::ZERO {
            let l = &lot_rows[e.lot];
            p.add(
                e.file,
                e.line,
                "quantity",
                format!(
                    "lot {} ({}) would go below zero at {}: only {} is there",
                    l.code,
                    l.material,
                    e.at.format("%Y-%m-%dT%H:%M:%SZ"),
                    (balance[e.lot] - e.quantity).normalize()
                ),
            );
            balance[e.lot] = Decimal::ZERO;
        }
    }
    Ledger { events, runs, shipment_list, balance }
}
