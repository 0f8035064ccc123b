//! Recalls as cases: opened (signed) on suspect lots, or on a supplier's lot code; scoped by the
//! forward trace and frozen as a snapshot in the transaction that places the holds; notified,
//! accounted for customer by customer; closed (signed). Each step is one audited transaction.
//!
//! The scope is consistent with the holds because of the recall gate (migration 0008): a real
//! recall takes an advisory lock that every posting of movements or genealogy links takes shared,
//! so while the scope is computed nothing can be consumed, produced or shipped, and once the
//! recall commits every posting sees its holds.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::audit::Person;
use crate::audit::{self, Entry};
use crate::documents::sheet::Sheet;
use crate::domain::balance::MassBalance;
use crate::domain::text;
use crate::domain::vocab::{CheckLevel, RecallClass};
use crate::error::Error;
use crate::save::{FieldErrors, SaveError, claim_idempotency_key};
use crate::trace::{self, Direction, Mode};

/// The advisory lock key of the recall gate (migration 0008).
const GATE: i64 = 7201;

// ------------------------------------------------------------------------------------------------
// The frozen scope
// ------------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LotRef {
    pub id: Uuid,
    pub material: String,
    pub code: String,
}

/// A lot's mass balance as the frozen scope keeps it (`ledger::balances`, folded by
/// `MassBalance`): made = consumed + shipped + scrapped − adjusted + on hand.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Balance {
    /// Received, produced, or split into it.
    pub made: Decimal,
    /// Returned by customers.
    pub returned: Decimal,
    /// Consumed by runs, or split off into other lots.
    pub consumed: Decimal,
    /// Shipped to customers, or returned to the supplier.
    pub shipped: Decimal,
    pub scrapped: Decimal,
    /// Adjustments and counts, signed.
    pub adjusted: Decimal,
    pub on_hand: Decimal,
    /// on hand − (made + returned − consumed − shipped − scrapped + adjusted): zero when the
    /// ledger and the stock agree.
    pub difference: Decimal,
}

impl From<&MassBalance> for Balance {
    fn from(b: &MassBalance) -> Balance {
        Balance {
            made: b.made().normalize(),
            returned: b.returned,
            consumed: b.consumed,
            shipped: b.shipped,
            scrapped: b.scrapped,
            adjusted: b.adjusted,
            on_hand: b.on_hand,
            difference: b.difference(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScopeLot {
    pub id: Uuid,
    pub material: String,
    pub material_name: String,
    pub code: String,
    pub status: String,
    pub depth: u32,
    pub parent: Option<Uuid>,
    pub via: Vec<String>,
    pub reached_at: Option<DateTime<Utc>>,
    pub on_hand: Decimal,
    pub uom: String,
    pub supplier: Option<String>,
    pub supplier_lot: Option<String>,
    pub share: Option<Decimal>,
    pub concentration: Option<Decimal>,
    /// Scoped out: its concentration is below the recall's threshold (not held).
    pub excluded: bool,
    pub balance: Balance,
}

impl ScopeLot {
    pub fn share_text(&self) -> String {
        percent(self.share)
    }

    pub fn concentration_text(&self) -> String {
        percent(self.concentration)
    }
}

pub fn percent(value: Option<Decimal>) -> String {
    match value {
        Some(v) => format!("{} %", (v * Decimal::ONE_HUNDRED).round_dp(3).normalize()),
        None => "unknown".into(),
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScopeStock {
    pub lot_id: Uuid,
    pub lot: String,
    pub material: String,
    pub site: String,
    pub location: String,
    pub location_kind: String,
    pub quantity: Decimal,
    pub uom: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScopeShipment {
    pub line_id: Uuid,
    pub shipment_id: Uuid,
    pub shipment: String,
    pub customer_id: Uuid,
    pub customer: String,
    pub lot_id: Uuid,
    pub lot: String,
    pub material: String,
    pub quantity: Decimal,
    pub uom: String,
    pub shipped_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow)]
pub struct Contact {
    pub name: String,
    pub role: String,
    pub phone: String,
    pub email: String,
    pub recall_contact: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScopeCustomer {
    pub id: Uuid,
    pub code: String,
    pub name: String,
    pub address: String,
    pub country: Option<String>,
    pub phone: String,
    pub email: String,
    pub contacts: Vec<Contact>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OpenRun {
    pub id: Uuid,
    pub number: String,
    pub output: String,
    pub opened_at: DateTime<Utc>,
    /// The affected lots it consumed.
    pub lots: Vec<String>,
}

/// A lot that shares an input lot or a run with a suspect lot without descending from it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AtRisk {
    pub id: Uuid,
    pub material: String,
    pub code: String,
    pub on_hand: Decimal,
    pub uom: String,
    pub reasons: Vec<String>,
}

/// The scope of a recall as frozen at `as_of`: what the report prints, byte for byte.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Scope {
    pub as_of: DateTime<Utc>,
    pub mode: Mode,
    pub suspects: Vec<LotRef>,
    /// Lots whose concentration is below this fraction are scoped out.
    pub threshold: Option<Decimal>,
    pub precise_count: usize,
    pub lot_level_count: usize,
    /// Whether shares and concentrations could be computed (precise mode, not too large).
    pub quantities: bool,
    pub lots: Vec<ScopeLot>,
    pub stock: Vec<ScopeStock>,
    pub open_runs: Vec<OpenRun>,
    pub shipments: Vec<ScopeShipment>,
    pub customers: Vec<ScopeCustomer>,
    pub at_risk: Vec<AtRisk>,
    pub cycles: Vec<trace::Cycle>,
}

impl Scope {
    pub fn in_scope(&self) -> impl Iterator<Item = &ScopeLot> {
        self.lots.iter().filter(|l| !l.excluded)
    }

    pub fn excluded(&self) -> impl Iterator<Item = &ScopeLot> {
        self.lots.iter().filter(|l| l.excluded)
    }

    pub fn threshold_text(&self) -> String {
        percent(self.threshold)
    }

    pub fn in_scope_count(&self) -> usize {
        self.in_scope().count()
    }

    pub fn excluded_count(&self) -> usize {
        self.excluded().count()
    }

    pub fn discrepancies(&self) -> usize {
        self.lots.iter().filter(|l| !l.balance.difference.is_zero()).count()
    }

    /// Shipped quantity per unit, in the order units first appear.
    pub fn shipped_by_unit(&self) -> Vec<(String, Decimal)> {
        by_unit(self.shipments.iter().map(|s| (s.uom.as_str(), s.quantity)))
    }

    pub fn on_hand_by_unit(&self) -> Vec<(String, Decimal)> {
        by_unit(self.stock.iter().map(|s| (s.uom.as_str(), s.quantity)))
    }

    fn lot(&self, id: Uuid) -> Option<&ScopeLot> {
        self.lots.iter().find(|l| l.id == id)
    }
}

fn by_unit<'a>(items: impl Iterator<Item = (&'a str, Decimal)>) -> Vec<(String, Decimal)> {
    let mut out: Vec<(String, Decimal)> = Vec::new();
    for (uom, q) in items {
        match out.iter_mut().find(|(u, _)| u == uom) {
            Some((_, total)) => *total += q,
            None => out.push((uom.to_string(), q)),
        }
    }
    out
}

/// The SHA-256 of a scope document, as hex.
pub fn hash_hex(document: &str) -> String {
    audit::hex(&Sha256::digest(document.as_bytes()))
}

/// Computes the scope of `suspects` in `mode`: the forward trace of each (merged: the smallest
/// depth, concentrations added, shares weighted by each suspect's quantity), the other mode's
/// count, stock, open runs, shipments, customers with their contacts as they are now, the lots at
/// risk and each lot's mass balance. Reads through the pool: a real recall calls it behind the gate.
pub async fn compute_scope(
    pool: &PgPool,
    suspects: &[Uuid],
    mode: Mode,
    threshold: Option<Decimal>,
) -> Result<Scope, Error> {
    let as_of = Utc::now();
    let mut traces = Vec::new();
    for s in suspects {
        traces.push(trace::trace(pool, *s, Direction::Forward, mode).await?);
    }
    let other = if mode == Mode::Precise { Mode::LotLevel } else { Mode::Precise };
    let mut other_ids: HashSet<Uuid> = HashSet::new();
    for s in suspects {
        other_ids.extend(trace::trace(pool, *s, Direction::Forward, other).await?.lots.iter().map(|l| l.id));
    }

    // Merge the traces lot by lot.
    let quantities = mode == Mode::Precise && traces.iter().all(|t| t.quantities);
    let weights: Option<Vec<Decimal>> = traces.iter().map(|t| t.start_kg).collect();
    let weight_total: Option<Decimal> = weights.as_ref().map(|w| w.iter().copied().sum());
    let mut merged: HashMap<Uuid, ScopeLot> = HashMap::new();
    let mut order: Vec<Uuid> = Vec::new();
    struct Parts {
        share: Option<Decimal>,
        concentration: Option<Decimal>,
    }
    let mut parts: HashMap<Uuid, Parts> = HashMap::new();
    for (i, t) in traces.iter().enumerate() {
        for l in &t.lots {
            let weighted_share = match (&weights, l.share) {
                (Some(w), Some(s)) => Some(s * w[i]),
                _ => None,
            };
            let p =
                parts.entry(l.id).or_insert(Parts { share: Some(Decimal::ZERO), concentration: Some(Decimal::ZERO) });
            p.share = p.share.zip(weighted_share).map(|(a, b)| a + b);
            p.concentration = p.concentration.zip(l.concentration).map(|(a, b)| a + b);
            match merged.get_mut(&l.id) {
                Some(m) if l.depth < m.depth => {
                    m.depth = l.depth;
                    m.parent = l.parent;
                }
                Some(m) => {
                    m.via.extend(l.via.iter().cloned());
                    m.reached_at = match (m.reached_at, l.reached_at) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        _ => None,
                    };
                }
                None => {
                    order.push(l.id);
                    merged.insert(
                        l.id,
                        ScopeLot {
                            id: l.id,
                            material: l.material.clone(),
                            material_name: l.material_name.clone(),
                            code: l.code.clone(),
                            status: l.status.clone(),
                            depth: l.depth,
                            parent: l.parent,
                            via: l.via.clone(),
                            reached_at: l.reached_at,
                            on_hand: l.on_hand,
                            uom: l.uom.clone(),
                            supplier: l.supplier.clone(),
                            supplier_lot: l.supplier_lot.clone(),
                            share: None,
                            concentration: None,
                            excluded: false,
                            balance: Balance::default(),
                        },
                    );
                }
            }
        }
    }
    let suspect_set: HashSet<Uuid> = suspects.iter().copied().collect();
    let mut lots: Vec<ScopeLot> = order.into_iter().filter_map(|id| merged.remove(&id)).collect();
    for l in &mut lots {
        l.via.sort();
        l.via.dedup();
        if quantities && let Some(p) = parts.get(&l.id) {
            l.share = match (p.share, weight_total) {
                (Some(s), Some(t)) if t > Decimal::ZERO => Some((s / t).round_dp(6).normalize()),
                _ => None,
            };
            l.concentration = p.concentration.map(|c| c.min(Decimal::ONE).round_dp(6).normalize());
        }
        l.excluded =
            !suspect_set.contains(&l.id) && matches!((threshold, l.concentration), (Some(t), Some(c)) if c < t);
    }
    lots.sort_by(|a, b| (a.depth, &a.material, &a.code).cmp(&(b.depth, &b.material, &b.code)));
    let ids: Vec<Uuid> = lots.iter().map(|l| l.id).collect();

    // Mass balance, by the ledger's one rule.
    let balances = crate::ledger::balances(&mut *pool.acquire().await?, &ids).await?;
    for l in &mut lots {
        l.balance = balances.get(&l.id).map(Balance::from).unwrap_or_default();
    }

    // Stock by location.
    let stock: Vec<(Uuid, String, String, String, Decimal)> = sqlx::query_as(
        "select o.lot_id, s.code, c.code, c.kind, o.quantity from on_hand o join locations c on c.id = o.location_id
           join sites s on s.id = c.site_id where o.lot_id = any($1) and o.quantity > 0",
    )
    .bind(&ids)
    .fetch_all(pool)
    .await?;
    let by_id: HashMap<Uuid, &ScopeLot> = lots.iter().map(|l| (l.id, l)).collect();
    let mut stock: Vec<ScopeStock> = stock
        .into_iter()
        .filter_map(|(lot_id, site, location, location_kind, quantity)| {
            let l = by_id.get(&lot_id)?;
            Some(ScopeStock {
                lot_id,
                lot: l.code.clone(),
                material: l.material.clone(),
                site,
                location,
                location_kind,
                quantity: quantity.normalize(),
                uom: l.uom.clone(),
            })
        })
        .collect();
    stock.sort_by(|a, b| (&a.material, &a.lot, &a.location).cmp(&(&b.material, &b.lot, &b.location)));

    // Shipment lines; precise: only those that left after the suspect material arrived.
    type LineRow = (Uuid, Uuid, String, Uuid, String, Uuid, Decimal, DateTime<Utc>);
    let lines: Vec<LineRow> = sqlx::query_as(
        "select sl.id, h.id, h.number, p.id, p.name, sl.lot_id, sl.quantity, h.shipped_at
           from shipment_lines sl join shipments h on h.id = sl.shipment_id join parties p on p.id = h.customer_id
          where sl.lot_id = any($1)",
    )
    .bind(&ids)
    .fetch_all(pool)
    .await?;
    let mut shipments: Vec<ScopeShipment> = lines
        .into_iter()
        .filter_map(|(line_id, shipment_id, shipment, customer_id, customer, lot_id, quantity, shipped_at)| {
            let l = by_id.get(&lot_id)?;
            if mode == Mode::Precise && l.reached_at.is_some_and(|at| shipped_at < at) {
                return None;
            }
            Some(ScopeShipment {
                line_id,
                shipment_id,
                shipment,
                customer_id,
                customer,
                lot_id,
                lot: l.code.clone(),
                material: l.material.clone(),
                quantity: quantity.normalize(),
                uom: l.uom.clone(),
                shipped_at,
            })
        })
        .collect();
    shipments.sort_by(|a, b| (a.shipped_at, &a.shipment, &a.lot).cmp(&(b.shipped_at, &b.shipment, &b.lot)));

    // Customers and their contacts, as they are now (frozen with the scope).
    let customer_ids: Vec<Uuid> = {
        let mut v: Vec<Uuid> = shipments.iter().map(|s| s.customer_id).collect();
        v.sort();
        v.dedup();
        v
    };
    type PartyRow = (Uuid, String, String, String, Option<String>, String, String);
    let rows: Vec<PartyRow> = sqlx::query_as(
        "select id, code, name, address, country, phone, email from parties where id = any($1) order by name, code",
    )
    .bind(&customer_ids)
    .fetch_all(pool)
    .await?;
    // Their contacts in one read (a recall reaching hundreds of customers waits behind the gate).
    type ContactRow = (Uuid, String, String, String, String, bool);
    let contact_rows: Vec<ContactRow> = sqlx::query_as(
        "select party_id, name, role, phone, email, recall_contact from party_contacts where party_id = any($1)
          order by recall_contact desc, name",
    )
    .bind(&customer_ids)
    .fetch_all(pool)
    .await?;
    let mut contacts_of: HashMap<Uuid, Vec<Contact>> = HashMap::new();
    for (party, name, role, phone, email, recall_contact) in contact_rows {
        contacts_of.entry(party).or_default().push(Contact { name, role, phone, email, recall_contact });
    }
    let mut customers = Vec::new();
    for (id, code, name, address, country, phone, email) in rows {
        let contacts = contacts_of.remove(&id).unwrap_or_default();
        customers.push(ScopeCustomer { id, code, name, address, country, phone, email, contacts });
    }

    // Open runs that consumed an affected lot.
    type RunRow = (Uuid, String, String, DateTime<Utc>, Vec<String>);
    let runs: Vec<RunRow> = sqlx::query_as(
        "select r.id, r.number, m.code, r.opened_at, array_agg(distinct l.code order by l.code)
           from stock_movements s join production_runs r on r.id = s.run_id join materials m on m.id = r.output_material_id
           join lots l on l.id = s.lot_id
          where s.kind = 'consume' and s.lot_id = any($1) and r.status = 'open'
          group by r.id, r.number, m.code, r.opened_at order by r.number",
    )
    .bind(&ids)
    .fetch_all(pool)
    .await?;
    let open_runs = runs
        .into_iter()
        .map(|(id, number, output, opened_at, lots)| OpenRun { id, number, output, opened_at, lots })
        .collect();

    // Lots at risk: siblings through a shared input lot, co-products of a suspect's run, and the
    // other inputs of the runs a suspect went into, none of them in the closure.
    let risk: Vec<(Uuid, String, String, Decimal, String, Vec<String>)> = sqlx::query_as(
        "with s as (select unnest($1::uuid[]) as id),
         reasons as (
             select sib.to_lot_id as lot_id, 'also made from lot ' || pm.code || ' ' || pl.code as reason
               from genealogy_links up join s on up.to_lot_id = s.id
               join genealogy_links sib on sib.from_lot_id = up.from_lot_id and sib.reversed_at is null
               join lots pl on pl.id = up.from_lot_id join materials pm on pm.id = pl.material_id
              where up.reversed_at is null
             union
             select co.to_lot_id, 'made in the same run ' || r.number
               from genealogy_links up join s on up.to_lot_id = s.id
               join genealogy_links co on co.run_id = up.run_id and co.reversed_at is null
               join production_runs r on r.id = up.run_id
              where up.reversed_at is null
             union
             select co.from_lot_id, 'used with it in run ' || r.number
               from genealogy_links down join s on down.from_lot_id = s.id
               join genealogy_links co on co.run_id = down.run_id and co.reversed_at is null
               join production_runs r on r.id = down.run_id
              where down.reversed_at is null)
         select l.id, m.code, l.code, coalesce((select sum(o.quantity) from on_hand o where o.lot_id = l.id), 0), m.uom,
                array_agg(distinct x.reason order by x.reason)
           from reasons x join lots l on l.id = x.lot_id join materials m on m.id = l.material_id
          where not (x.lot_id = any($2))
          group by l.id, m.code, l.code, m.uom
          order by m.code, l.code
          limit 5000",
    )
    .bind(suspects)
    .bind(&ids)
    .fetch_all(pool)
    .await?;
    let at_risk = risk
        .into_iter()
        .map(|(id, material, code, on_hand, uom, reasons)| AtRisk {
            id,
            material,
            code,
            on_hand: on_hand.normalize(),
            uom,
            reasons,
        })
        .collect();

    let mut cycles: Vec<trace::Cycle> = traces.iter().flat_map(|t| t.cycles.iter().cloned()).collect();
    cycles.sort_by(|a, b| (&a.from, &a.to).cmp(&(&b.from, &b.to)));
    cycles.dedup_by(|a, b| a.from == b.from && a.to == b.to);
    let (precise_count, lot_level_count) =
        if mode == Mode::Precise { (lots.len(), other_ids.len()) } else { (other_ids.len(), lots.len()) };
    let suspects = suspects
        .iter()
        .filter_map(|s| {
            let l = lots.iter().find(|l| l.id == *s)?;
            Some(LotRef { id: l.id, material: l.material.clone(), code: l.code.clone() })
        })
        .collect();
    Ok(Scope {
        as_of,
        mode,
        suspects,
        threshold,
        precise_count,
        lot_level_count,
        quantities,
        lots,
        stock,
        open_runs,
        shipments,
        customers,
        at_risk,
        cycles,
    })
}

// ------------------------------------------------------------------------------------------------
// Opening
// ------------------------------------------------------------------------------------------------

/// The opening form, as typed.
#[derive(Debug, Clone, Default)]
pub struct OpenForm {
    pub idempotency_key: String,
    /// "real" or "mock".
    pub kind: String,
    pub class: String,
    pub check_level: String,
    pub reason: String,
    /// Suspect lots, one per line: "MATERIAL LOT", or just "LOT" where the code is unique.
    pub lots: String,
    /// Suspect lots by id (from a lot's page).
    pub lot_ids: Vec<String>,
    pub supplier_id: String,
    pub supplier_lot: String,
    /// "precise" or "lot_level".
    pub mode: String,
    /// Percent: lots with less suspect material than this are scoped out.
    pub threshold: String,
    pub threshold_reason: String,
    pub password: String,
}

impl OpenForm {
    pub fn parse(body: &[u8]) -> OpenForm {
        let mut f = OpenForm::default();
        for (k, v) in form_urlencoded::parse(body) {
            let v = v.into_owned();
            match k.as_ref() {
                "idempotency_key" => f.idempotency_key = v,
                "kind" => f.kind = v,
                "class" => f.class = v,
                "check_level" => f.check_level = v,
                "reason" => f.reason = v,
                "lots" => f.lots = v,
                "lot_id" => f.lot_ids.push(v),
                "supplier_id" => f.supplier_id = v,
                "supplier_lot" => f.supplier_lot = v,
                "mode" => f.mode = v,
                "threshold" => f.threshold = v,
                "threshold_reason" => f.threshold_reason = v,
                "password" => f.password = v,
                _ => {}
            }
        }
        f
    }

    pub fn mock(&self) -> bool {
        self.kind == "mock"
    }
}

/// The suspects a form names: typed lot lines, lot ids and a supplier's lot. Problems go to `e`.
async fn resolve_suspects(pool: &PgPool, f: &OpenForm, e: &mut FieldErrors) -> Result<Vec<Uuid>, Error> {
    let mut found: Vec<Uuid> = Vec::new();
    for id in &f.lot_ids {
        match Uuid::parse_str(id.trim()) {
            Ok(id) => {
                let exists: bool = sqlx::query_scalar("select exists (select 1 from lots where id = $1)")
                    .bind(id)
                    .fetch_one(pool)
                    .await?;
                if exists {
                    found.push(id);
                } else {
                    e.add("lots", "One of the chosen lots does not exist any more.");
                }
            }
            Err(_) => e.add("lots", "One of the chosen lots is malformed; choose it again."),
        }
    }
    for (n, line) in f.lots.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let words: Vec<&str> = line.split_whitespace().collect();
        let (material, code) = match words.as_slice() {
            [code] => (None, *code),
            [material, code] => (Some(*material), *code),
            _ => {
                e.add(
                    "lots",
                    format!("Line {}: write MATERIAL LOT, such as FLOUR 26001-0001, or just the lot code.", n + 1),
                );
                continue;
            }
        };
        let rows: Vec<(Uuid, String)> = sqlx::query_as(
            "select l.id, m.code from lots l join materials m on m.id = l.material_id
              where upper(l.code) = upper($1) and ($2::text is null or m.code = upper($2)) order by m.code limit 10",
        )
        .bind(code)
        .bind(material)
        .fetch_all(pool)
        .await?;
        match rows.as_slice() {
            [] => e.add(
                "lots",
                match material {
                    Some(m) => format!("Line {}: material {} has no lot “{code}”.", n + 1, m.to_uppercase()),
                    None => format!("Line {}: no lot has the code “{code}”.", n + 1),
                },
            ),
            [(id, _)] => found.push(*id),
            many => e.add(
                "lots",
                format!(
                    "Line {}: several materials have a lot “{code}” ({}); write it as MATERIAL LOT.",
                    n + 1,
                    many.iter().map(|(_, m)| m.as_str()).collect::<Vec<_>>().join(", ")
                ),
            ),
        }
    }
    let supplier_lot = f.supplier_lot.trim();
    if !supplier_lot.is_empty() || !f.supplier_id.trim().is_empty() {
        match (Uuid::parse_str(f.supplier_id.trim()), supplier_lot.is_empty()) {
            (Err(_), _) => e.add("supplier_id", "Choose the supplier that recalls its lot."),
            (Ok(_), true) => e.add("supplier_lot", "Give the supplier's lot code, as printed on its label."),
            (Ok(supplier), false) => {
                let ids: Vec<Uuid> = sqlx::query_scalar(
                    "select id from lots where supplier_id = $1 and upper(supplier_lot) = upper($2) order by made_on, code",
                )
                .bind(supplier)
                .bind(supplier_lot)
                .fetch_all(pool)
                .await?;
                if ids.is_empty() {
                    e.add(
                        "supplier_lot",
                        format!("No lot of ours was received from this supplier as lot “{supplier_lot}”."),
                    );
                }
                found.extend(ids);
            }
        }
    }
    found.sort();
    found.dedup();
    if found.is_empty() && e.get("lots").is_none() && e.get("supplier_lot").is_none() && e.get("supplier_id").is_none()
    {
        e.add("lots", "Name at least one suspect lot, or the supplier's recalled lot.");
    }
    Ok(found)
}

/// Opens a recall: checks the form, signs, and — for a real recall behind the gate — computes the
/// scope, freezes it and holds every lot in scope, in one transaction. Returns the recall's id.
pub async fn open(pool: &PgPool, user: &Person, f: &OpenForm) -> Result<Uuid, SaveError> {
    let mut e = FieldErrors::default();
    let key = Uuid::parse_str(f.idempotency_key.trim()).map_err(|_| {
        Error::BadRequest("The form's idempotency key is missing or malformed; reload the page.".into())
    })?;
    let mock = f.mock();
    if f.kind != "real" && f.kind != "mock" {
        e.add("kind", "Choose a real recall or a mock recall (a drill).");
    }
    let class: Option<RecallClass> = match f.class.trim() {
        "" => {
            if !mock {
                e.add("class", "A real recall has a class: choose I, II or III.");
            }
            None
        }
        c => c.parse().map_err(|_| e.add("class", "Choose class I, II or III.")).ok(),
    };
    let check_level = match f.check_level.trim() {
        "" => class.map_or(CheckLevel::A, RecallClass::default_check_level),
        l => l.parse().unwrap_or_else(|_| {
            e.add("check_level", "Choose an effectiveness-check level from A to E.");
            CheckLevel::A
        }),
    };
    let reason = e.check("reason", text::required(&f.reason, "The reason for the recall", 2000));
    let mode = match f.mode.as_str() {
        "" | "precise" => Mode::Precise,
        "lot_level" | "lot-level" => Mode::LotLevel,
        _ => {
            e.add("mode", "Choose the precise or the lot-level scope.");
            Mode::Precise
        }
    };
    let threshold = match text::positive_decimal(&f.threshold, "The threshold") {
        Err(m) => {
            e.add("threshold", m);
            None
        }
        Ok(None) => None,
        Ok(Some(p)) if p >= Decimal::ONE_HUNDRED => {
            e.add("threshold", "The threshold is a percentage below 100, such as 0.5.");
            None
        }
        Ok(Some(p)) => Some(p / Decimal::ONE_HUNDRED),
    };
    let threshold_reason = f.threshold_reason.trim();
    if threshold.is_some() {
        if class == Some(RecallClass::I) {
            e.add("threshold", "Lots are never scoped out of a class I recall: every lot that received suspect material stays in scope.");
        }
        if mode == Mode::LotLevel {
            e.add("threshold", "A threshold needs concentrations, which only the precise scope computes.");
        }
        if threshold_reason.is_empty() {
            e.add("threshold_reason", "Give the reason for scoping out lots below the threshold.");
        }
    }
    if f.password.is_empty() {
        e.add("password", "Your password is needed to sign the opening of the recall.");
    }
    let suspects = resolve_suspects(pool, f, &mut e).await?;
    if !e.is_empty() {
        return Err(SaveError::Invalid(e));
    }
    let supplier: Option<(Uuid, String)> = match Uuid::parse_str(f.supplier_id.trim()) {
        Ok(id) if !f.supplier_lot.trim().is_empty() => Some((id, f.supplier_lot.trim().to_string())),
        _ => None,
    };

    let mut tx = pool.begin().await?;
    let id = Uuid::new_v4();
    if let Some(earlier) = claim_idempotency_key(&mut tx, key, "recall.open", &id.to_string()).await? {
        return Ok(earlier
            .parse()
            .map_err(|_| Error::Conflict("This form was used already; reload the page.".into()))?);
    }
    let meaning = if mock { "mock recall opened by" } else { "recall opened by" };
    let Some(signature) = crate::auth::sign(&mut tx, user, &f.password, meaning, "recall", &id.to_string()).await?
    else {
        return Err(SaveError::field(
            "password",
            "Your password is needed to sign the opening, and the one given is not right.",
        ));
    };
    let threshold_signature = match threshold {
        Some(_) => {
            crate::auth::sign(
                &mut tx,
                user,
                &f.password,
                "lots below the threshold scoped out by",
                "recall",
                &id.to_string(),
            )
            .await?
        }
        None => None,
    };
    let number: String = sqlx::query_scalar(
        "insert into recalls (id, number, mock, class, reason, mode, supplier_id, supplier_lot, opened_by, opened_signature,
                              check_level, threshold, threshold_reason, threshold_signature)
         values ($1, 'RC-' || lpad(nextval('recall_number_seq')::text, 6, '0'), $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
         returning number",
    )
    .bind(id)
    .bind(mock)
    .bind(class)
    .bind(&reason)
    .bind(if mode == Mode::Precise { "precise" } else { "lot_level" })
    .bind(supplier.as_ref().map(|s| s.0))
    .bind(supplier.as_ref().map(|s| s.1.clone()))
    .bind(user.id)
    .bind(signature)
    .bind(check_level)
    .bind(threshold)
    .bind(threshold.map(|_| threshold_reason))
    .bind(threshold_signature)
    .fetch_one(&mut *tx)
    .await
    ?;
    sqlx::query("insert into recall_suspects (recall_id, lot_id) select $1, unnest($2::uuid[])")
        .bind(id)
        .bind(&suspects)
        .execute(&mut *tx)
        .await?;
    let scope = scope_behind_gate(&mut tx, pool, &suspects, mode, threshold, !mock).await?;
    let stored = store_scope(&mut tx, user, id, &number, &scope, "opened", signature, !mock).await?;
    let entry = Entry::new(if mock { "open_mock_recall" } else { "open_recall" }, "recall", id)
        .after(&serde_json::json!({
            "number": number, "class": class, "mode": mode, "lots": scope.0.in_scope_count(),
            "held": stored.held, "scope_hash": stored.hash, "threshold": threshold,
        }))
        .reason(&reason);
    audit::record(&mut tx, &user.actor(), entry).await?;
    tx.commit().await?;
    Ok(id)
}

/// Takes the gate (a real recall) and computes the scope behind it, timing the work.
async fn scope_behind_gate(
    tx: &mut PgConnection,
    pool: &PgPool,
    suspects: &[Uuid],
    mode: Mode,
    threshold: Option<Decimal>,
    gate: bool,
) -> Result<(Scope, u32), Error> {
    if gate {
        sqlx::query("select pg_advisory_xact_lock($1)").bind(GATE).execute(&mut *tx).await?;
    }
    let clock = std::time::Instant::now();
    let scope = compute_scope(pool, suspects, mode, threshold).await?;
    Ok((scope, clock.elapsed().as_millis().min(i32::MAX as u128) as u32))
}

struct Stored {
    hash: String,
    held: u64,
}

/// Writes a scope: the frozen document, the recall's lots, and (a real recall) a hold on every
/// lot in scope that has no open hold of this recall yet. A lot with no stock today is held too:
/// a customer return or a reversal can bring stock back.
#[allow(clippy::too_many_arguments)]
async fn store_scope(
    tx: &mut PgConnection,
    user: &Person,
    recall: Uuid,
    number: &str,
    (scope, computed_ms): &(Scope, u32),
    reason: &str,
    signature: Uuid,
    hold: bool,
) -> Result<Stored, Error> {
    let document = serde_json::to_string(scope).map_err(|e| Error::Internal(e.into()))?;
    let hash = Sha256::digest(document.as_bytes()).to_vec();
    sqlx::query(
        "insert into recall_scopes (recall_id, mode, reason, document, hash, as_of, computed_ms, created_by, signature_id)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(recall)
    .bind(if scope.mode == Mode::Precise { "precise" } else { "lot_level" })
    .bind(reason)
    .bind(&document)
    .bind(&hash)
    .bind(scope.as_of)
    .bind(*computed_ms as i32)
    .bind(user.id)
    .bind(signature)
    .execute(&mut *tx)
    .await?;
    let ids: Vec<Uuid> = scope.lots.iter().map(|l| l.id).collect();
    let depths: Vec<i32> = scope.lots.iter().map(|l| l.depth as i32).collect();
    let shares: Vec<Option<Decimal>> = scope.lots.iter().map(|l| l.share).collect();
    let concentrations: Vec<Option<Decimal>> = scope.lots.iter().map(|l| l.concentration).collect();
    let excluded: Vec<bool> = scope.lots.iter().map(|l| l.excluded).collect();
    let why = scope.threshold.map(|t| format!("below the threshold of {}", percent(Some(t))));
    sqlx::query(
        "insert into recall_lots (recall_id, lot_id, depth, share, concentration, excluded, exclude_reason)
         select $1, l, d, s, c, x, case when x then $7 end
           from unnest($2::uuid[], $3::int[], $4::numeric[], $5::numeric[], $6::bool[]) as t(l, d, s, c, x)
         on conflict (recall_id, lot_id) do update
            set depth = excluded.depth, share = excluded.share, concentration = excluded.concentration,
                excluded = excluded.excluded, exclude_reason = excluded.exclude_reason",
    )
    .bind(recall)
    .bind(&ids)
    .bind(&depths)
    .bind(&shares)
    .bind(&concentrations)
    .bind(&excluded)
    .bind(why)
    .execute(&mut *tx)
    .await?;
    let held = if hold {
        let held_ids: Vec<Uuid> = scope.in_scope().map(|l| l.id).collect();
        sqlx::query(
            "insert into lot_holds (lot_id, source, recall_id, reason, opened_by)
             select l, 'recall', $2, $3, $4 from unnest($1::uuid[]) as l
              where not exists (select 1 from lot_holds h where h.lot_id = l and h.recall_id = $2 and h.closed_at is null)",
        )
        .bind(&held_ids)
        .bind(recall)
        .bind(format!("Recall {number}"))
        .bind(user.id)
        .execute(&mut *tx)
        .await?
        .rows_affected()
    } else {
        0
    };
    Ok(Stored { hash: audit::hex(&hash), held })
}

// ------------------------------------------------------------------------------------------------
// The case
// ------------------------------------------------------------------------------------------------

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Recall {
    pub id: Uuid,
    pub number: String,
    pub mock: bool,
    pub class: Option<String>,
    pub status: String,
    pub reason: String,
    pub mode: String,
    pub check_level: String,
    pub supplier: Option<String>,
    pub supplier_lot: Option<String>,
    pub threshold: Option<Decimal>,
    pub threshold_reason: Option<String>,
    pub summary: Option<String>,
    pub opened_at: DateTime<Utc>,
    pub opened_by: String,
    pub closed_at: Option<DateTime<Utc>>,
    pub closed_by: Option<String>,
    pub report_completed_at: Option<DateTime<Utc>>,
    pub public_instructions: String,
    pub version: i32,
}

impl Recall {
    pub fn kind_label(&self) -> String {
        match (&self.class, self.mock) {
            (Some(c), true) => format!("Mock recall (class {c} drill)"),
            (None, _) => "Mock recall (drill)".into(),
            (Some(c), false) => format!("Class {c} recall"),
        }
    }

    pub fn is_open(&self) -> bool {
        self.status == "open"
    }

    pub fn lot_level(&self) -> bool {
        self.mode == "lot_level"
    }

    /// A drill's figure: from opening to the report declared complete.
    pub fn drill_time(&self) -> Option<String> {
        let d = self.report_completed_at? - self.opened_at;
        let s = d.num_seconds().max(0);
        Some(format!("{} h {:02} min {:02} s", s / 3600, s / 60 % 60, s % 60))
    }
}

const RECALL_SELECT: &str = "select r.id, r.number, r.mock, r.class, r.status, r.reason, r.mode, r.check_level,
        p.code || ' · ' || p.name as supplier, r.supplier_lot, r.threshold, r.threshold_reason, r.summary,
        r.opened_at, coalesce(u.display_name, '') as opened_by, r.closed_at, c.display_name as closed_by,
        r.report_completed_at, r.public_instructions, r.version
   from recalls r left join parties p on p.id = r.supplier_id left join users u on u.id = r.opened_by
   left join users c on c.id = r.closed_by";

pub async fn list(pool: &PgPool) -> Result<Vec<(Recall, i64)>, Error> {
    let rows: Vec<Recall> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!("{RECALL_SELECT} order by r.opened_at desc limit 500")))
            .fetch_all(pool)
            .await?;
    let counts: HashMap<Uuid, i64> = sqlx::query_as::<_, (Uuid, i64)>(
        "select recall_id, count(*) filter (where not excluded) from recall_lots group by recall_id",
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .collect();
    Ok(rows.into_iter().map(|r| (counts.get(&r.id).copied().unwrap_or(0), r)).map(|(c, r)| (r, c)).collect())
}

pub async fn get(pool: &PgPool, id: Uuid) -> Result<Recall, Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("{RECALL_SELECT} where r.id = $1")))
        .bind(id)
        .fetch_optional(pool)
        .await?
        .ok_or(Error::NotFound)
}

/// A stored scope: its document as frozen, its hash, and who made it why.
#[derive(Debug, Clone)]
pub struct StoredScope {
    pub seq: i64,
    pub reason: String,
    pub scope: Scope,
    pub hash: String,
    pub computed_ms: i32,
    pub created_by: String,
}

/// Every scope of a recall, oldest first (the last is the current one).
pub async fn scopes(pool: &PgPool, id: Uuid) -> Result<Vec<StoredScope>, Error> {
    let rows: Vec<(i64, String, String, Vec<u8>, i32, String)> = sqlx::query_as(
        "select s.id, s.reason, s.document, s.hash, s.computed_ms, coalesce(u.display_name, '')
           from recall_scopes s left join users u on u.id = s.created_by where s.recall_id = $1 order by s.id",
    )
    .bind(id)
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|(seq, reason, document, hash, computed_ms, created_by)| {
            if Sha256::digest(document.as_bytes())[..] != hash[..] {
                return Err(Error::Internal(anyhow::anyhow!(
                    "recall scope {seq}: the document does not match its hash"
                )));
            }
            let scope: Scope = serde_json::from_str(&document).map_err(|e| Error::Internal(e.into()))?;
            Ok(StoredScope { seq, reason, scope, hash: audit::hex(&hash), computed_ms, created_by })
        })
        .collect()
}

/// One customer's part of a recall: what it received, what was sent and answered, what is accounted.
#[derive(Debug, Clone, Serialize)]
pub struct CustomerStatus {
    pub customer: ScopeCustomer,
    pub lines: Vec<AccountLine>,
    pub notices: Vec<Notice>,
    pub notified: bool,
    pub acknowledged: bool,
    /// Notified and answered (an acknowledgement or an accounting report): checked.
    pub checked: bool,
}

/// One lot a customer received, and how much of it is accounted for.
#[derive(Debug, Clone, Serialize)]
pub struct AccountLine {
    pub lot_id: Uuid,
    pub lot: String,
    pub material: String,
    pub uom: String,
    pub shipped: Decimal,
    pub returned: Decimal,
    pub destroyed: Decimal,
    pub held: Decimal,
}

impl AccountLine {
    pub fn accounted(&self) -> Decimal {
        (self.returned + self.destroyed + self.held).min(self.shipped)
    }

    pub fn on_market(&self) -> Decimal {
        self.shipped - self.accounted()
    }

    pub fn effectiveness(&self) -> String {
        effectiveness(self.accounted(), self.shipped)
    }
}

fn effectiveness(accounted: Decimal, shipped: Decimal) -> String {
    if shipped.is_zero() {
        return "—".into();
    }
    format!("{} %", (accounted * Decimal::ONE_HUNDRED / shipped).round_dp(1).normalize())
}

/// Accounted of shipped, per unit.
#[derive(Debug, Clone, Serialize)]
pub struct UnitTotal {
    pub uom: String,
    pub shipped: Decimal,
    pub accounted: Decimal,
}

impl UnitTotal {
    pub fn effectiveness(&self) -> String {
        effectiveness(self.accounted, self.shipped)
    }

    pub fn on_market(&self) -> Decimal {
        self.shipped - self.accounted
    }
}

pub fn unit_totals<'a>(lines: impl Iterator<Item = &'a AccountLine>) -> Vec<UnitTotal> {
    let mut out: Vec<UnitTotal> = Vec::new();
    for l in lines {
        match out.iter_mut().find(|t| t.uom == l.uom) {
            Some(t) => {
                t.shipped += l.shipped;
                t.accounted += l.accounted();
            }
            None => out.push(UnitTotal { uom: l.uom.clone(), shipped: l.shipped, accounted: l.accounted() }),
        }
    }
    out
}

impl CustomerStatus {
    pub fn totals(&self) -> Vec<UnitTotal> {
        unit_totals(self.lines.iter())
    }
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Notice {
    pub party_id: Uuid,
    pub kind: String,
    pub method: String,
    pub occurred_at: DateTime<Utc>,
    pub contact: String,
    pub notes: String,
    pub recorded_by: String,
}

/// The customers of the current scope with their notices, returns and reports.
pub async fn customer_status(pool: &PgPool, recall: &Recall, scope: &Scope) -> Result<Vec<CustomerStatus>, Error> {
    let notices: Vec<Notice> = sqlx::query_as(
        "select n.party_id, n.kind, n.method, n.occurred_at, n.contact, n.notes, coalesce(u.display_name, '') as recorded_by
           from recall_notices n left join users u on u.id = n.recorded_by where n.recall_id = $1 order by n.occurred_at, n.id",
    )
    .bind(recall.id)
    .fetch_all(pool)
    .await?;
    // The latest report per customer and lot.
    let reports: Vec<(Uuid, Uuid, Decimal, Decimal)> = sqlx::query_as(
        "select distinct on (party_id, lot_id) party_id, lot_id, quantity_destroyed, quantity_held
           from recall_accounting where recall_id = $1 order by party_id, lot_id, id desc",
    )
    .bind(recall.id)
    .fetch_all(pool)
    .await?;
    let reports: HashMap<(Uuid, Uuid), (Decimal, Decimal)> =
        reports.into_iter().map(|(p, l, d, h)| ((p, l), (d, h))).collect();
    // Returned against the shipment lines in scope.
    let line_ids: Vec<Uuid> = scope.shipments.iter().map(|s| s.line_id).collect();
    let returned: Vec<(Uuid, Decimal)> = sqlx::query_as(
        "select shipment_line_id, sum(quantity) from return_lines where shipment_line_id = any($1) group by shipment_line_id",
    )
    .bind(&line_ids)
    .fetch_all(pool)
    .await?;
    let returned: HashMap<Uuid, Decimal> = returned.into_iter().collect();
    let reporters: HashSet<Uuid> = reports.keys().map(|(p, _)| *p).collect();
    let mut out = Vec::new();
    for c in &scope.customers {
        let mut lines: BTreeMap<(String, String), AccountLine> = BTreeMap::new();
        for s in scope.shipments.iter().filter(|s| s.customer_id == c.id) {
            let line = lines.entry((s.material.clone(), s.lot.clone())).or_insert_with(|| AccountLine {
                lot_id: s.lot_id,
                lot: s.lot.clone(),
                material: s.material.clone(),
                uom: s.uom.clone(),
                shipped: Decimal::ZERO,
                returned: Decimal::ZERO,
                destroyed: Decimal::ZERO,
                held: Decimal::ZERO,
            });
            line.shipped += s.quantity;
            line.returned += returned.get(&s.line_id).copied().unwrap_or_default();
        }
        let mut lines: Vec<AccountLine> = lines.into_values().collect();
        for l in &mut lines {
            if let Some((d, h)) = reports.get(&(c.id, l.lot_id)) {
                l.destroyed = *d;
                l.held = *h;
            }
            l.returned = l.returned.normalize();
        }
        let mine: Vec<Notice> = notices.iter().filter(|n| n.party_id == c.id).cloned().collect();
        let notified = mine.iter().any(|n| n.kind == "notice");
        let acknowledged = mine.iter().any(|n| n.kind == "acknowledgement");
        out.push(CustomerStatus {
            customer: c.clone(),
            lines,
            notified,
            acknowledged,
            checked: notified && (acknowledged || reporters.contains(&c.id)),
            notices: mine,
        });
    }
    Ok(out)
}

/// What changed since a scope was frozen, by the same trace run now.
#[derive(Debug, Clone, Default)]
pub struct Changes {
    pub as_of: Option<DateTime<Utc>>,
    pub added: Vec<LotRef>,
    pub removed: Vec<LotRef>,
    pub new_shipments: Vec<ScopeShipment>,
    /// (lot, material, then, now, uom)
    pub stock: Vec<(String, String, Decimal, Decimal, String)>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.new_shipments.is_empty() && self.stock.is_empty()
    }
}

/// Re-runs the frozen scope's trace now and lists what differs; the frozen scope is not touched.
pub async fn changes(pool: &PgPool, frozen: &Scope) -> Result<Changes, Error> {
    let suspects: Vec<Uuid> = frozen.suspects.iter().map(|s| s.id).collect();
    let now = compute_scope(pool, &suspects, frozen.mode, frozen.threshold).await?;
    let then_ids: HashSet<Uuid> = frozen.lots.iter().map(|l| l.id).collect();
    let now_ids: HashSet<Uuid> = now.lots.iter().map(|l| l.id).collect();
    let lot_ref = |l: &ScopeLot| LotRef { id: l.id, material: l.material.clone(), code: l.code.clone() };
    let added = now.lots.iter().filter(|l| !then_ids.contains(&l.id)).map(lot_ref).collect();
    let removed = frozen.lots.iter().filter(|l| !now_ids.contains(&l.id)).map(lot_ref).collect();
    let then_lines: HashSet<Uuid> = frozen.shipments.iter().map(|s| s.line_id).collect();
    let new_shipments = now.shipments.iter().filter(|s| !then_lines.contains(&s.line_id)).cloned().collect();
    let mut stock = Vec::new();
    for l in &now.lots {
        let then = frozen.lot(l.id).map(|f| f.on_hand).unwrap_or_default();
        if then != l.on_hand {
            stock.push((l.code.clone(), l.material.clone(), then, l.on_hand, l.uom.clone()));
        }
    }
    Ok(Changes { as_of: Some(now.as_of), added, removed, new_shipments, stock })
}

/// Locks an open recall for a change, or says why it cannot change.
async fn lock_open(tx: &mut PgConnection, id: Uuid) -> Result<(String, bool, String), SaveError> {
    let row: Option<(String, bool, String, String)> =
        sqlx::query_as("select number, mock, status, mode from recalls where id = $1 for update")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    let (number, mock, status, mode) = row.ok_or(Error::NotFound)?;
    if status != "open" {
        return Err(SaveError::Other(Error::Conflict(format!("Recall {number} is closed: it is read-only."))));
    }
    Ok((number, mock, mode))
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SignedForm {
    pub reason: String,
    pub summary: String,
    pub password: String,
}

/// Widens the scope to lot-level (every link regardless of time): a new frozen scope, holds on the
/// lots it adds. The earlier scope stays on record.
pub async fn widen(pool: &PgPool, user: &Person, id: Uuid, f: &SignedForm) -> Result<(), SaveError> {
    let reason = text::required(&f.reason, "The reason for widening the scope", 1000)
        .map_err(|m| SaveError::field("widen_reason", m))?;
    let mut tx = pool.begin().await?;
    let (number, mock, mode) = lock_open(&mut tx, id).await?;
    if mode == "lot_level" {
        return Err(SaveError::field("widen_reason", "The scope is lot-level already."));
    }
    let Some(signature) = crate::auth::sign(
        &mut tx,
        user,
        &f.password,
        "recall scope widened to lot-level by",
        "recall",
        &id.to_string(),
    )
    .await?
    else {
        return Err(SaveError::field(
            "widen_password",
            "Your password is needed to sign this change, and the one given is not right.",
        ));
    };
    let suspects: Vec<Uuid> =
        sqlx::query_scalar("select lot_id from recall_suspects where recall_id = $1 order by lot_id")
            .bind(id)
            .fetch_all(&mut *tx)
            .await?;
    let scope = scope_behind_gate(&mut tx, pool, &suspects, Mode::LotLevel, None, !mock).await?;
    let stored = store_scope(&mut tx, user, id, &number, &scope, &reason, signature, !mock).await?;
    sqlx::query("update recalls set mode = 'lot_level' where id = $1").bind(id).execute(&mut *tx).await?;
    audit::record(
        &mut tx,
        &user.actor(),
        Entry::new("widen_recall", "recall", id)
            .before(&serde_json::json!({ "mode": "precise" }))
            .after(&serde_json::json!({ "mode": "lot-level", "lots": scope.0.in_scope_count(), "held": stored.held, "scope_hash": stored.hash }))
            .reason(&reason),
    )
    .await
    ?;
    tx.commit().await?;
    Ok(())
}

pub const METHODS: [(&str, &str); 6] = [
    ("email", "E-mail"),
    ("phone", "Phone"),
    ("letter", "Letter"),
    ("fax", "Fax"),
    ("in_person", "In person"),
    ("other", "Other"),
];

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct NoticeForm {
    pub party_id: String,
    pub kind: String,
    pub method: String,
    pub occurred_on: String,
    pub contact: String,
    pub notes: String,
}

fn when(value: &str, field: &'static str, e: &mut FieldErrors) -> DateTime<Utc> {
    match value.trim() {
        "" => Utc::now(),
        v => match NaiveDate::parse_from_str(v, "%Y-%m-%d") {
            Ok(d) if d > Utc::now().date_naive() => {
                e.add(field, "The date cannot be in the future.");
                Utc::now()
            }
            Ok(d) if d == Utc::now().date_naive() => Utc::now(),
            Ok(d) => d.and_hms_opt(12, 0, 0).unwrap_or_default().and_utc(),
            Err(_) => {
                e.add(field, "The date must look like 2026-01-31.");
                Utc::now()
            }
        },
    }
}

/// The customer of a form, if it is one of the scope's customers.
fn scope_customer<'a>(scope: &'a Scope, party: &str) -> Option<&'a ScopeCustomer> {
    let id = Uuid::parse_str(party.trim()).ok()?;
    scope.customers.iter().find(|c| c.id == id)
}

/// Logs a notice sent to a customer, or its acknowledgement.
pub async fn record_notice(pool: &PgPool, user: &Person, id: Uuid, f: &NoticeForm) -> Result<(), SaveError> {
    let current = scopes(pool, id).await?.pop().ok_or(Error::NotFound)?;
    let mut e = FieldErrors::default();
    let customer = scope_customer(&current.scope, &f.party_id);
    if customer.is_none() {
        e.add("party_id", "Choose one of the customers that received affected lots.");
    }
    if f.kind != "notice" && f.kind != "acknowledgement" {
        e.add("kind", "Choose whether a notice was sent or an acknowledgement came back.");
    }
    if !METHODS.iter().any(|(m, _)| *m == f.method) {
        e.add("method", "Choose how.");
    }
    let at = when(&f.occurred_on, "occurred_on", &mut e);
    let contact = e.check("contact", text::optional(&f.contact, "The contact", 200));
    let notes = e.check("notes", text::optional(&f.notes, "The notes", 2000));
    if !e.is_empty() {
        return Err(SaveError::Invalid(e));
    }
    let customer = customer.ok_or(Error::NotFound)?;
    let mut tx = pool.begin().await?;
    lock_open(&mut tx, id).await?;
    if f.kind == "acknowledgement" {
        let notified: bool = sqlx::query_scalar(
            "select exists (select 1 from recall_notices where recall_id = $1 and party_id = $2 and kind = 'notice')",
        )
        .bind(id)
        .bind(customer.id)
        .fetch_one(&mut *tx)
        .await?;
        if !notified {
            return Err(SaveError::field(
                "kind",
                format!("No notice to {} is logged yet: log the notice first.", customer.name),
            ));
        }
    }
    sqlx::query(
        "insert into recall_notices (recall_id, party_id, kind, method, occurred_at, contact, notes, recorded_by)
         values ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(id)
    .bind(customer.id)
    .bind(&f.kind)
    .bind(&f.method)
    .bind(at)
    .bind(&contact)
    .bind(&notes)
    .bind(user.id)
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        &user.actor(),
        Entry::new(if f.kind == "notice" { "recall_notice" } else { "recall_acknowledgement" }, "recall", id)
            .after(&serde_json::json!({ "customer": customer.code, "method": f.method, "at": at, "contact": contact })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct AccountingForm {
    /// "party id|lot id", as the page's one select sends it (or the two fields apart).
    pub line: String,
    pub party_id: String,
    pub lot_id: String,
    pub destroyed: String,
    pub held: String,
    pub reported_on: String,
    pub notes: String,
}

/// Records a customer's report for one lot: destroyed, and still held awaiting return.
pub async fn record_accounting(pool: &PgPool, user: &Person, id: Uuid, f: &AccountingForm) -> Result<(), SaveError> {
    let recall = get(pool, id).await?;
    let current = scopes(pool, id).await?.pop().ok_or(Error::NotFound)?;
    let mut e = FieldErrors::default();
    let (party, lot) = f.line.split_once('|').unwrap_or((&f.party_id, &f.lot_id));
    let customer = scope_customer(&current.scope, party);
    let lot_id = Uuid::parse_str(lot.trim()).ok();
    let status = customer_status(pool, &recall, &current.scope).await?;
    let line = status
        .iter()
        .find(|s| Some(s.customer.id) == customer.map(|c| c.id))
        .and_then(|s| s.lines.iter().find(|l| Some(l.lot_id) == lot_id));
    if line.is_none() {
        e.add("lot_id", "Choose a lot this customer received.");
    }
    let destroyed = e.check("destroyed", text::non_negative_decimal(&f.destroyed, "The quantity destroyed"));
    let held = e.check("held", text::non_negative_decimal(&f.held, "The quantity still held"));
    let at = when(&f.reported_on, "reported_on", &mut e);
    let notes = e.check("notes", text::optional(&f.notes, "The notes", 2000));
    if let Some(l) = line
        && l.returned + destroyed + held > l.shipped
    {
        e.add(
            "held",
            format!(
                "{} {} was shipped and {} {} returned: destroyed and held together can be at most {} {}.",
                l.shipped.normalize(),
                l.uom,
                l.returned.normalize(),
                l.uom,
                (l.shipped - l.returned).normalize(),
                l.uom
            ),
        );
    }
    if !e.is_empty() {
        return Err(SaveError::Invalid(e));
    }
    let (customer, line) = (customer.ok_or(Error::NotFound)?, line.ok_or(Error::NotFound)?);
    let mut tx = pool.begin().await?;
    lock_open(&mut tx, id).await?;
    sqlx::query(
        "insert into recall_accounting (recall_id, party_id, lot_id, quantity_destroyed, quantity_held, reported_at, notes, recorded_by)
         values ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(id)
    .bind(customer.id)
    .bind(line.lot_id)
    .bind(destroyed)
    .bind(held)
    .bind(at)
    .bind(&notes)
    .bind(user.id)
    .execute(&mut *tx)
    .await
    ?;
    audit::record(
        &mut tx,
        &user.actor(),
        Entry::new("recall_accounting", "recall", id).after(&serde_json::json!({
            "customer": customer.code, "lot": line.lot, "material": line.material, "destroyed": destroyed, "held": held,
        })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// A drill: declares the report complete, which stops its clock.
pub async fn complete_drill(pool: &PgPool, user: &Person, id: Uuid) -> Result<(), SaveError> {
    let mut tx = pool.begin().await?;
    let (number, mock, _) = lock_open(&mut tx, id).await?;
    if !mock {
        return Err(SaveError::Other(Error::BadRequest("Only a mock recall is timed.".into())));
    }
    let done = sqlx::query(
        "update recalls set report_completed_at = now(), report_completed_by = $2 where id = $1 and report_completed_at is null",
    )
    .bind(id)
    .bind(user.id)
    .execute(&mut *tx)
    .await
    ?
    .rows_affected();
    if done == 0 {
        return Err(SaveError::Other(Error::Conflict(format!(
            "The report of {number} was declared complete already."
        ))));
    }
    audit::record(&mut tx, &user.actor(), Entry::new("complete_mock_recall", "recall", id)).await?;
    tx.commit().await?;
    Ok(())
}

/// Closes a recall (signed, with a summary). Its holds are lifted; a lot that still has stock is
/// put on a QA hold instead, so nothing from a recall becomes usable without a QA decision.
pub async fn close(pool: &PgPool, user: &Person, id: Uuid, f: &SignedForm) -> Result<(), SaveError> {
    let summary =
        text::required(&f.summary, "The closing summary", 4000).map_err(|m| SaveError::field("summary", m))?;
    let mut tx = pool.begin().await?;
    let (number, _, _) = lock_open(&mut tx, id).await?;
    let Some(signature) =
        crate::auth::sign(&mut tx, user, &f.password, "recall closed by", "recall", &id.to_string()).await?
    else {
        return Err(SaveError::field(
            "close_password",
            "Your password is needed to sign the closing, and the one given is not right.",
        ));
    };
    let still: u64 = sqlx::query(
        "insert into lot_holds (lot_id, source, reason, opened_by)
         select distinct h.lot_id, 'qa', 'Held after recall ' || $2 || ' closed: decide what becomes of this lot', $3
           from lot_holds h where h.recall_id = $1 and h.closed_at is null
            and exists (select 1 from on_hand o where o.lot_id = h.lot_id and o.quantity > 0)",
    )
    .bind(id)
    .bind(&number)
    .bind(user.id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let lifted = sqlx::query(
        "update lot_holds set closed_at = now(), closed_by = $2, close_reason = 'Recall ' || $3 || ' closed'
          where recall_id = $1 and closed_at is null",
    )
    .bind(id)
    .bind(user.id)
    .bind(&number)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    sqlx::query(
        "update recalls set status = 'closed', closed_at = now(), closed_by = $2, closed_signature = $3, summary = $4 where id = $1",
    )
    .bind(id)
    .bind(user.id)
    .bind(signature)
    .bind(&summary)
    .execute(&mut *tx)
    .await
    ?;
    audit::record(
        &mut tx,
        &user.actor(),
        Entry::new("close_recall", "recall", id)
            .before(&serde_json::json!({ "status": "open" }))
            .after(&serde_json::json!({ "status": "closed", "holds_lifted": lifted, "qa_holds": still }))
            .reason(&summary),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

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
            "shipment".into(),
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

/// Sets what consumers who check an affected lot are told to do (the public page).
pub async fn set_public_notice(pool: &PgPool, user: &Person, id: Uuid, text: &str) -> Result<(), SaveError> {
    let text =
        text::optional(text, "The public notice", 2000).map_err(|m| SaveError::field("public_instructions", m))?;
    let mut tx = pool.begin().await?;
    lock_open(&mut tx, id).await?;
    let before: String = sqlx::query_scalar("select public_instructions from recalls where id = $1")
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
    sqlx::query("update recalls set public_instructions = $2 where id = $1")
        .bind(id)
        .bind(&text)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        &user.actor(),
        Entry::new("recall_public_notice", "recall", id)
            .before(&serde_json::json!({ "public_instructions": before }))
            .after(&serde_json::json!({ "public_instructions": text })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Consumer lookups of the recall's lots since the day it opened.
pub async fn lookups(pool: &PgPool, recall: &Recall) -> Result<i64, Error> {
    Ok(sqlx::query_scalar(
        "select coalesce(sum(c.lookups), 0)::bigint from lookup_counts c
          where c.day >= $2::date and c.lot_id in (select lot_id from recall_lots where recall_id = $1 and not excluded)",
    )
    .bind(recall.id)
    .bind(recall.opened_at)
    .fetch_one(pool)
    .await?)
}
