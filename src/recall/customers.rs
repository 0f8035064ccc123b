//! Customers of a recall: what each received, the notices sent and answered, and the quantities
//! each accounts for, with the recall's effectiveness.

use super::*;

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
            // A reversed line names the customer but counts nothing shipped.
            if !s.reversed {
                line.shipped += s.quantity;
                line.returned += returned.get(&s.line_id).copied().unwrap_or_default();
            }
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

/// How far a recall's effectiveness checks have come against its check level (21 CFR 7.42(b)(3)):
/// consignees whose action was verified (notified, then an acknowledgement or an accounting
/// report). Units accounted for are a separate figure (`unit_totals`).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Effectiveness {
    pub consignees: usize,
    pub notified: usize,
    pub checked: usize,
    pub required: usize,
}

impl Effectiveness {
    pub fn of(recall: &Recall, customers: &[CustomerStatus]) -> Effectiveness {
        Effectiveness {
            consignees: customers.len(),
            notified: customers.iter().filter(|c| c.notified).count(),
            checked: customers.iter().filter(|c| c.checked).count(),
            required: recall.level().required_checks(customers.len(), recall.check_percent),
        }
    }

    /// Consignees still to check before the level is met.
    pub fn shortfall(&self) -> usize {
        self.required.saturating_sub(self.checked)
    }
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

/// A date the recall's log is given, as a moment: today is now; an earlier day is its noon (UTC).
/// A recall spans sites, so "today" is the latest of the sites' dates.
fn when(value: &str, field: &'static str, today: NaiveDate, e: &mut FieldErrors) -> DateTime<Utc> {
    match crate::domain::dates::parse(value, "The date").and_then(|d| match d {
        Some(d) => crate::domain::dates::not_after(d, today, "The date").map(Some),
        None => Ok(None),
    }) {
        Ok(Some(d)) if d < today => d.and_hms_opt(12, 0, 0).unwrap_or_default().and_utc(),
        Ok(_) => Utc::now(),
        Err(m) => {
            e.add(field, m);
            Utc::now()
        }
    }
}

/// The plant's today for a recall, which spans sites: the latest of the sites' dates.
pub(crate) async fn plant_today(pool: &PgPool) -> Result<NaiveDate, sqlx::Error> {
    sqlx::query_scalar("select coalesce(max(site_today(id)), current_date) from sites").fetch_one(pool).await
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
    let at = when(&f.occurred_on, "occurred_on", plant_today(pool).await?, &mut e);
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
            .after(&serde_json::json!({ "customer": customer.code, "method": f.method, "at": at, "contact": contact, "notes": notes })),
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
    let at = when(&f.reported_on, "reported_on", plant_today(pool).await?, &mut e);
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
            "reported_at": at, "notes": notes,
        })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
