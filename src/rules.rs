//! Lot-number rules and the allocator that turns them into codes.
//!
//! Uniqueness is the first property: a code issued twice for one material breaks traceability.
//! Numbers are drawn in PostgreSQL by one short statement of their own (an upsert on
//! `lot_sequences` that commits at once), never under a lock held until the lot's transaction
//! commits, which would queue every receipt of the plant behind one row. The lot is then inserted
//! with `ON CONFLICT (material_id, code) DO NOTHING`; a code that exists already (a rule changed,
//! a code typed by hand) is skipped and logged as a gap, and the next number drawn. A number
//! drawn for a transaction that then fails is logged as a gap too. Numbers never repeat.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgExecutor, PgPool};
use uuid::Uuid;

use crate::audit::Person;
use crate::audit::{self, Entry};
use crate::domain::lotcode::{Pattern, Reset, Values};
use crate::error::Error;
use crate::master::{Versioned, lock_for_edit};
use crate::save::{ConstraintMessage, FieldErrors, SaveError, map_db_error};

pub const SCOPES: [(&str, &str); 3] =
    [("material", "One material"), ("kind", "A kind of material"), ("default", "Default (every other material)")];

const CONSTRAINTS: &[ConstraintMessage] = &[
    ("lot_rules_one_default", "scope", "There is already an active default rule; edit it, or deactivate it first."),
    ("lot_rules_one_per_kind", "scope_kind", "This kind of material has an active rule already; edit that one."),
    ("lot_rules_one_per_material", "scope_material", "This material has an active rule already; edit that one."),
];

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Rule {
    pub id: Uuid,
    pub name: String,
    pub pattern: String,
    pub scope: String,
    pub scope_kind: Option<String>,
    pub scope_material: Option<Uuid>,
    pub scope_material_code: Option<String>,
    pub reset_period: String,
    pub start_number: i64,
    pub active: bool,
    #[serde(skip)]
    pub updated_at: DateTime<Utc>,
    #[serde(skip)]
    pub version: i32,
}

impl Versioned for Rule {
    fn version(&self) -> i32 {
        self.version
    }
}

impl Rule {
    pub fn reset(&self) -> Reset {
        Reset::parse(&self.reset_period).unwrap_or(Reset::Never)
    }

    pub fn reset_label(&self) -> &'static str {
        self.reset().label()
    }

    pub fn scope_label(&self) -> String {
        match (self.scope.as_str(), &self.scope_kind, &self.scope_material_code) {
            ("material", _, Some(code)) => format!("material {code}"),
            ("kind", Some(kind), _) => format!("every {kind} material"),
            _ => "default".into(),
        }
    }
}

const SELECT: &str =
    "select r.id, r.name, r.pattern, r.scope, r.scope_kind, r.scope_material, m.code as scope_material_code,
        r.reset_period, r.start_number, r.active, r.updated_at, r.version
   from lot_rules r left join materials m on m.id = r.scope_material";

pub async fn list(pool: &PgPool) -> Result<Vec<Rule>, Error> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} order by r.active desc, case r.scope when 'material' then 1 when 'kind' then 2 else 3 end, r.name"
    )))
    .fetch_all(pool)
    .await?)
}

pub async fn get(db: impl PgExecutor<'_>, id: Uuid) -> Result<Rule, Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} where r.id = $1")))
        .bind(id)
        .fetch_optional(db)
        .await?
        .ok_or(Error::NotFound)
}

/// The rule that governs a material: its own, else its kind's, else the default.
pub async fn rule_for(db: impl PgExecutor<'_>, material_id: Uuid) -> Result<Option<Rule>, Error> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT}, materials x
          where x.id = $1 and r.active
            and (r.scope_material = x.id or (r.scope = 'kind' and r.scope_kind = x.kind) or r.scope = 'default')
          order by case r.scope when 'material' then 1 when 'kind' then 2 else 3 end limit 1"
    )))
    .bind(material_id)
    .fetch_optional(db)
    .await?)
}

/// Which active materials each rule governs (by code), for the rules page.
pub async fn governed(pool: &PgPool) -> Result<Vec<(Uuid, Vec<String>)>, Error> {
    let rows: Vec<(Uuid, String)> = sqlx::query_as(
        "select r.id, m.code from materials m
           cross join lateral (
             select r.id from lot_rules r
              where r.active and (r.scope_material = m.id or (r.scope = 'kind' and r.scope_kind = m.kind) or r.scope = 'default')
              order by case r.scope when 'material' then 1 when 'kind' then 2 else 3 end limit 1) r
          where m.active order by m.code",
    )
    .fetch_all(pool)
    .await?;
    let mut out: Vec<(Uuid, Vec<String>)> = Vec::new();
    for (rule, code) in rows {
        match out.iter_mut().find(|(r, _)| *r == rule) {
            Some((_, codes)) => codes.push(code),
            None => out.push((rule, vec![code])),
        }
    }
    Ok(out)
}

/// The rule form as typed.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RuleForm {
    pub name: String,
    pub pattern: String,
    pub scope: String,
    pub scope_kind: String,
    pub scope_material: String,
    pub reset_period: String,
    pub start_number: String,
    pub active: Option<String>,
    pub version: String,
    /// Why an existing rule is changed (required for edits).
    pub reason: String,
    /// The signer's user name (the first signature of a session, or after a pause).
    pub signer: String,
    pub password: String,
    pub preview_material: String,
    pub preview_date: String,
    /// The rule being edited, when the preview is asked for on its own.
    pub rule_id: String,
}

impl From<&Rule> for RuleForm {
    fn from(r: &Rule) -> Self {
        RuleForm {
            name: r.name.clone(),
            pattern: r.pattern.clone(),
            scope: r.scope.clone(),
            scope_kind: r.scope_kind.clone().unwrap_or_default(),
            scope_material: r.scope_material_code.clone().unwrap_or_default(),
            reset_period: r.reset_period.clone(),
            start_number: r.start_number.to_string(),
            active: r.active.then(|| "on".into()),
            version: r.version.to_string(),
            ..Default::default()
        }
    }
}

/// A checked rule.
#[derive(Debug, Clone, Serialize)]
pub struct RuleInput {
    pub name: String,
    pub pattern: String,
    pub scope: String,
    pub scope_kind: Option<String>,
    pub scope_material: Option<Uuid>,
    pub reset_period: String,
    pub start_number: i64,
    pub active: bool,
    #[serde(skip)]
    pub parsed: Option<Pattern>,
}

/// Checks a rule form; the pattern's errors name their place in the pattern.
pub async fn check(db: impl PgExecutor<'_>, f: &RuleForm) -> Result<RuleInput, FieldErrors> {
    let mut e = FieldErrors::default();
    let name = e.check("name", crate::domain::text::required(&f.name, "The name", 100));
    let reset = Reset::parse(&f.reset_period);
    if reset.is_none() {
        e.add("reset_period", "Choose when the sequence starts again.");
    }
    let parsed = match Pattern::checked(f.pattern.trim(), reset.unwrap_or(Reset::Never)) {
        Ok(p) => Some(p),
        Err(err) => {
            e.add("pattern", err.to_string());
            None
        }
    };
    let start_number = e
        .check(
            "start_number",
            crate::domain::text::optional_int(&f.start_number, "The starting number", 0, 999_999_999),
        )
        .unwrap_or(1);
    if let Some(p) = &parsed
        && start_number as u64 > p.max_seq()
    {
        e.add(
            "start_number",
            format!("The starting number does not fit the pattern's {{SEQ}} (at most {}).", p.max_seq()),
        );
    }
    let (mut scope_kind, mut scope_material) = (None, None);
    match f.scope.as_str() {
        "default" => {}
        "kind" => {
            if crate::master::materials::KINDS.iter().any(|(k, _)| *k == f.scope_kind) {
                scope_kind = Some(f.scope_kind.clone());
            } else {
                e.add("scope_kind", "Choose the kind of material this rule is for.");
            }
        }
        "material" => {
            let code = f.scope_material.trim().to_ascii_uppercase();
            let id: Option<Uuid> = sqlx::query_scalar("select id from materials where code = $1")
                .bind(&code)
                .fetch_optional(db)
                .await
                .ok()
                .flatten();
            match id {
                Some(id) => scope_material = Some(id),
                None if code.is_empty() => e.add("scope_material", "Give the code of the material this rule is for."),
                None => e.add("scope_material", format!("There is no material with the code “{code}”.")),
            }
        }
        _ => e.add("scope", "Choose what the rule applies to."),
    }
    if !e.is_empty() {
        return Err(e);
    }
    Ok(RuleInput {
        name,
        pattern: f.pattern.trim().to_string(),
        scope: f.scope.clone(),
        scope_kind,
        scope_material,
        reset_period: f.reset_period.clone(),
        start_number,
        active: crate::master::ticked(&f.active),
        parsed,
    })
}

/// Records the administrator's electronic signature ("approved by") for a rule change, or
/// refuses with a message next to the password field.
async fn signed(
    pool: &PgPool,
    tx: &mut PgConnection,
    user: &Person,
    credentials: &crate::auth::Credentials<'_>,
    rule_id: Uuid,
) -> Result<Uuid, SaveError> {
    let act = crate::auth::Act {
        meaning: "approved by",
        entity_type: "lot_rule",
        entity_id: rule_id.to_string(),
        field: "password",
    };
    crate::auth::sign(pool, tx, user, credentials, &act).await
}

pub async fn create(pool: &PgPool, user: &Person, form: &RuleForm) -> Result<Uuid, SaveError> {
    let mut input = check(pool, form).await?;
    input.active = true;
    let id = Uuid::new_v4();
    let mut tx = pool.begin().await?;
    let signature = signed(
        pool,
        &mut tx,
        user,
        &crate::auth::Credentials { user_name: &form.signer, password: &form.password },
        id,
    )
    .await?;
    sqlx::query(
        "insert into lot_rules (id, name, pattern, scope, scope_kind, scope_material, reset_period, start_number, signature_id)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(id)
    .bind(&input.name)
    .bind(&input.pattern)
    .bind(&input.scope)
    .bind(&input.scope_kind)
    .bind(input.scope_material)
    .bind(&input.reset_period)
    .bind(input.start_number)
    .bind(signature)
    .execute(&mut *tx)
    .await
    .map_err(|e| map_db_error(e, CONSTRAINTS))?;
    let after = get(&mut *tx, id).await?;
    audit::record(
        &mut tx,
        &user.actor(),
        Entry::new("create", "lot_rule", id).after(&after).reason("approved by (signed)"),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// Saves a rule edit (signed). Sequences already drawn stay as they are; the allocator skips any
/// code that exists, so a changed rule never repeats a code.
pub async fn update(pool: &PgPool, user: &Person, id: Uuid, form: &RuleForm) -> Result<(), SaveError> {
    let input = check(pool, form).await;
    let reason = crate::domain::text::required(&form.reason, "The reason for the change", 500);
    let input = match (input, reason) {
        (Ok(input), Ok(_)) => input,
        (input, reason) => {
            let mut e = input.err().unwrap_or_default();
            if let Err(m) = reason {
                e.add("reason", m);
            }
            return Err(e.into());
        }
    };
    let version: i32 =
        form.version.trim().parse().map_err(|_| Error::BadRequest("The form's version is missing.".into()))?;
    let mut tx = pool.begin().await?;
    let before: Rule = lock_for_edit(&mut tx, format!("{SELECT} where r.id = $1 for update of r"), id, version).await?;
    let signature = signed(
        pool,
        &mut tx,
        user,
        &crate::auth::Credentials { user_name: &form.signer, password: &form.password },
        id,
    )
    .await?;
    sqlx::query(
        "update lot_rules set name = $2, pattern = $3, scope = $4, scope_kind = $5, scope_material = $6, reset_period = $7,
                start_number = $8, active = $9, signature_id = $10
          where id = $1",
    )
    .bind(id)
    .bind(&input.name)
    .bind(&input.pattern)
    .bind(&input.scope)
    .bind(&input.scope_kind)
    .bind(input.scope_material)
    .bind(&input.reset_period)
    .bind(input.start_number)
    .bind(input.active)
    .bind(signature)
    .execute(&mut *tx)
    .await
    .map_err(|e| map_db_error(e, CONSTRAINTS))?;
    let after = get(&mut *tx, id).await?;
    audit::record(
        &mut tx,
        &user.actor(),
        Entry::new("update", "lot_rule", id).before(&before).after(&after).reason(form.reason.trim()),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// A sequence's state, for the rule's page.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Sequence {
    pub scope_key: String,
    pub period_key: String,
    pub next_value: i64,
    pub lots: i64,
    pub gaps: i64,
}

pub async fn sequences(pool: &PgPool, rule_id: Uuid) -> Result<Vec<Sequence>, Error> {
    Ok(sqlx::query_as(
        "select s.scope_key, s.period_key, s.next_value,
                (select count(*) from lots l where l.code_rule_id = s.rule_id and l.code_scope = s.scope_key and l.code_period = s.period_key) as lots,
                (select count(*) from lot_code_gaps g where g.rule_id = s.rule_id and g.scope_key = s.scope_key and g.period_key = s.period_key) as gaps
           from lot_sequences s where s.rule_id = $1 order by s.period_key desc, s.scope_key limit 200",
    )
    .bind(rule_id)
    .fetch_all(pool)
    .await?)
}

/// What a code is made for: the material, its site, the line, the lot's own date.
#[derive(Debug, Clone)]
pub struct Subject {
    pub material_id: Uuid,
    pub material_code: String,
    pub site_code: String,
    pub line_code: Option<String>,
    pub date: NaiveDate,
}

impl Subject {
    fn values(&self) -> Values<'_> {
        Values {
            date: self.date,
            material: &self.material_code,
            site: &self.site_code,
            line: self.line_code.as_deref(),
        }
    }
}

/// A number drawn from a rule's sequence and the code it makes.
#[derive(Debug, Clone)]
pub struct Drawn {
    pub rule_id: Uuid,
    pub scope_key: String,
    pub period_key: String,
    pub value: i64,
    pub code: String,
}

/// The columns of a rule the allocator needs, as other queries return them (`rule_*`); all None
/// when no rule applies.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RuleRow {
    pub rule_id: Option<Uuid>,
    pub rule_name: Option<String>,
    pub rule_pattern: Option<String>,
    pub rule_reset: Option<String>,
    pub rule_start: Option<i64>,
}

/// The rule and parsed pattern that give `subject` its codes.
pub struct Allocator {
    rule: AllocRule,
    pattern: Pattern,
    subject: Subject,
}

/// What the allocator keeps of its rule.
#[derive(Debug, Clone)]
pub struct AllocRule {
    pub id: Uuid,
    pub name: String,
    pub reset: Reset,
    pub start_number: i64,
}

impl Allocator {
    /// Finds the rule for the subject's material, or says why none can give it a code.
    pub async fn for_subject(db: impl PgExecutor<'_>, subject: Subject) -> Result<Allocator, String> {
        let rule = rule_for(db, subject.material_id).await.map_err(|e| e.to_string())?;
        let row = RuleRow {
            rule_id: rule.as_ref().map(|r| r.id),
            rule_name: rule.as_ref().map(|r| r.name.clone()),
            rule_pattern: rule.as_ref().map(|r| r.pattern.clone()),
            rule_reset: rule.as_ref().map(|r| r.reset_period.clone()),
            rule_start: rule.as_ref().map(|r| r.start_number),
        };
        Allocator::new(row, subject)
    }

    /// The allocator for `subject` under the rule found for it (by `rule_for` or a query like it).
    pub fn new(row: RuleRow, subject: Subject) -> Result<Allocator, String> {
        let (Some(id), Some(name), Some(pattern), Some(reset), Some(start)) =
            (row.rule_id, row.rule_name, row.rule_pattern, row.rule_reset, row.rule_start)
        else {
            return Err(format!(
                "No lot-number rule applies to material {}: an administrator sets one on the Lot-number rules page.",
                subject.material_code
            ));
        };
        let reset = Reset::parse(&reset).unwrap_or(Reset::Never);
        let parsed = Pattern::checked(&pattern, reset).map_err(|e| {
            format!("The lot-number rule “{name}” is not valid ({e}); an administrator must correct it.")
        })?;
        if parsed.uses_line() && subject.line_code.is_none() {
            return Err(format!("The lot-number rule “{name}” uses {{LINE}}, and this lot has no production line."));
        }
        Ok(Allocator { rule: AllocRule { id, name, reset, start_number: start }, pattern: parsed, subject })
    }

    pub fn rule(&self) -> &AllocRule {
        &self.rule
    }

    pub fn material_id(&self) -> Uuid {
        self.subject.material_id
    }

    fn keys(&self) -> (String, String) {
        (self.pattern.scope_key(&self.subject.values()), self.rule.reset.period_key(self.subject.date))
    }

    /// Draws the next number in a statement of its own (committed at once) and makes its code.
    pub async fn draw(&self, pool: &PgPool) -> Result<Drawn, String> {
        Ok(self.draw_many(pool, 1).await?.remove(0))
    }

    /// Draws `n` consecutive numbers in one statement of its own (committed at once) and makes
    /// their codes. If the sequence cannot print them all, every number drawn is logged as a gap.
    pub async fn draw_many(&self, pool: &PgPool, n: usize) -> Result<Vec<Drawn>, String> {
        let (scope_key, period_key) = self.keys();
        let count = n.max(1) as i64;
        let first: i64 = sqlx::query_scalar(
            "insert into lot_sequences (rule_id, scope_key, period_key, next_value) values ($1, $2, $3, $4 + $5)
             on conflict (rule_id, scope_key, period_key) do update set next_value = lot_sequences.next_value + $5
             returning next_value - $5",
        )
        .bind(self.rule.id)
        .bind(&scope_key)
        .bind(&period_key)
        .bind(self.rule.start_number)
        .bind(count)
        .fetch_one(pool)
        .await
        .map_err(|e| format!("could not draw a lot number: {e}"))?;
        let mut drawn = Vec::with_capacity(n);
        let mut failure = None;
        for value in first..first + count {
            let code = match self.pattern.format(&self.subject.values(), value as u64) {
                Ok(code) => code,
                Err(e) => {
                    failure.get_or_insert(e);
                    String::new()
                }
            };
            drawn.push(Drawn {
                rule_id: self.rule.id,
                scope_key: scope_key.clone(),
                period_key: period_key.clone(),
                value,
                code,
            });
        }
        match failure {
            None => Ok(drawn),
            Some(e) => {
                log_gaps(pool, &drawn, "no code: the sequence is exhausted").await;
                Err(format!(
                    "The lot-number rule “{}” cannot give material {} another code: {e}.",
                    self.rule.name, self.subject.material_code
                ))
            }
        }
    }

    /// Whether two allocators draw from the same sequence.
    pub fn same_sequence(&self, other: &Allocator) -> bool {
        self.rule.id == other.rule.id
            && self.keys() == other.keys()
            && self.subject.material_id == other.subject.material_id
    }

    /// The next `n` codes the allocator would issue now (skipping codes that exist), without drawing.
    pub async fn preview(&self, pool: &PgPool, n: usize) -> Result<Vec<String>, String> {
        let (scope_key, period_key) = self.keys();
        let next: Option<i64> = sqlx::query_scalar(
            "select next_value from lot_sequences where rule_id = $1 and scope_key = $2 and period_key = $3",
        )
        .bind(self.rule.id)
        .bind(&scope_key)
        .bind(&period_key)
        .fetch_optional(pool)
        .await
        .map_err(|e| e.to_string())?;
        preview_from(pool, &self.pattern, &self.subject, next.unwrap_or(self.rule.start_number), n).await
    }
}

/// The next `n` codes of `pattern` from number `from` for `subject`, skipping codes that exist.
pub async fn preview_from(
    pool: &PgPool,
    pattern: &Pattern,
    subject: &Subject,
    from: i64,
    n: usize,
) -> Result<Vec<String>, String> {
    let mut codes = Vec::new();
    let mut value = from;
    while codes.len() < n {
        let batch: Vec<String> =
            (0..(n * 2) as i64).map_while(|i| pattern.format(&subject.values(), (value + i) as u64).ok()).collect();
        if batch.is_empty() {
            break;
        }
        let taken: Vec<String> = sqlx::query_scalar("select code from lots where material_id = $1 and code = any($2)")
            .bind(subject.material_id)
            .bind(&batch)
            .fetch_all(pool)
            .await
            .map_err(|e| e.to_string())?;
        value += batch.len() as i64;
        codes.extend(batch.into_iter().filter(|c| !taken.contains(c)).take(n - codes.len()));
    }
    Ok(codes)
}

/// Logs numbers that were drawn but will never name a lot.
pub async fn log_gaps(pool: &PgPool, drawn: &[Drawn], reason: &str) {
    for d in drawn {
        let logged = sqlx::query(
            "insert into lot_code_gaps (rule_id, scope_key, period_key, value, code, reason) values ($1, $2, $3, $4, $5, $6)",
        )
        .bind(d.rule_id)
        .bind(&d.scope_key)
        .bind(&d.period_key)
        .bind(d.value)
        .bind(Some(d.code.as_str()).filter(|c| !c.is_empty()))
        .bind(reason)
        .execute(pool)
        .await;
        match logged {
            Ok(_) => tracing::info!(lot.code = %d.code, lot.seq = d.value, reason, "lot number left unused"),
            Err(e) => {
                tracing::error!(lot.code = %d.code, lot.seq = d.value, error = %e, "could not log an unused lot number")
            }
        }
    }
}
