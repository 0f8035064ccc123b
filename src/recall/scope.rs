//! A recall's scope: the merged forward traces of its suspects, with stock, open runs,
//! shipments, customers and their contacts, lots at risk and each lot's mass balance, frozen as
//! one hashed document.

use super::*;

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
    /// Reversed on the ledger: kept, flagged, so the customer who once had the goods is named.
    #[serde(default)]
    pub reversed: bool,
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
        by_unit(self.shipments.iter().filter(|s| !s.reversed).map(|s| (s.uom.as_str(), s.quantity)))
    }

    pub fn on_hand_by_unit(&self) -> Vec<(String, Decimal)> {
        by_unit(self.stock.iter().map(|s| (s.uom.as_str(), s.quantity)))
    }

    pub(crate) fn lot(&self, id: Uuid) -> Option<&ScopeLot> {
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
pub fn hash_hex(document: &[u8]) -> String {
    audit::hex(&Sha256::digest(document))
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
    type LineRow = (Uuid, Uuid, String, Uuid, String, Uuid, Decimal, DateTime<Utc>, bool);
    let lines: Vec<LineRow> = sqlx::query_as(
        "select sl.id, h.id, h.number, p.id, p.name, sl.lot_id, sl.quantity, h.shipped_at,
                exists (select 1 from stock_movements x where x.reverses_id = sl.movement_id)
           from shipment_lines sl join shipments h on h.id = sl.shipment_id join parties p on p.id = h.customer_id
          where sl.lot_id = any($1)",
    )
    .bind(&ids)
    .fetch_all(pool)
    .await?;
    let mut shipments: Vec<ScopeShipment> = lines
        .into_iter()
        .filter_map(
            |(line_id, shipment_id, shipment, customer_id, customer, lot_id, quantity, shipped_at, reversed)| {
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
                    reversed,
                })
            },
        )
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
