//! The recall as a case: its row, its frozen scopes, and what changed since the last one.

use super::*;

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
    /// Consumers of a lot with no expiry date see the notice until this day.
    pub public_until: NaiveDate,
    pub notice_withdrawn_at: Option<DateTime<Utc>>,
    pub notice_withdrawn_reason: Option<String>,
    /// Level B: the share of consignees to check.
    pub check_percent: Option<Decimal>,
    /// Closed below its check level: QA's signed reason.
    pub close_override: Option<String>,
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

    pub fn level(&self) -> CheckLevel {
        self.check_level.parse().unwrap_or(CheckLevel::A)
    }

    /// The level as the case states it: "B (25 % of consignees)".
    pub fn level_text(&self) -> String {
        match (self.level(), self.check_percent) {
            (CheckLevel::B, Some(p)) => format!("B ({} % of consignees)", p.normalize()),
            (l, _) => l.label().to_string(),
        }
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
        r.report_completed_at, r.public_instructions, r.public_until, r.notice_withdrawn_at, r.notice_withdrawn_reason,
        r.check_percent, r.close_override, r.version
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

/// Consumer lookups of the recall's lots since the day it opened (days as each lot's site counts
/// them, as the lookups are).
pub async fn lookups(pool: &PgPool, recall: &Recall) -> Result<i64, Error> {
    Ok(sqlx::query_scalar(
        "select coalesce(sum(c.lookups), 0)::bigint
           from lookup_counts c join lots l on l.id = c.lot_id join sites s on s.id = l.site_id
          where c.day >= ($2::timestamptz at time zone s.time_zone)::date
            and c.lot_id in (select lot_id from recall_lots where recall_id = $1 and not excluded)",
    )
    .bind(recall.id)
    .bind(recall.opened_at)
    .fetch_one(pool)
    .await?)
}

/// A lot a recall still holds (after it closed: awaiting QA's signed decision).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StillHeld {
    pub lot_id: Uuid,
    pub material: String,
    pub code: String,
    pub on_hand: Decimal,
    pub uom: String,
}

pub async fn still_held(pool: &PgPool, id: Uuid) -> Result<Vec<StillHeld>, Error> {
    Ok(sqlx::query_as(
        "select l.id as lot_id, m.code as material, l.code,
                coalesce((select sum(o.quantity) from on_hand o where o.lot_id = l.id), 0) as on_hand, m.uom
           from lot_holds h join lots l on l.id = h.lot_id join materials m on m.id = l.material_id
          where h.recall_id = $1 and h.closed_at is null order by m.code, l.code",
    )
    .bind(id)
    .fetch_all(pool)
    .await?)
}

/// QA's signed decision on a lot after the recall closed.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DecisionRow {
    pub lot_id: Uuid,
    pub material: String,
    pub code: String,
    pub decision: RecallDecision,
    pub reason: String,
    pub decided_by: String,
    pub decided_at: DateTime<Utc>,
}

pub async fn decisions(pool: &PgPool, id: Uuid) -> Result<Vec<DecisionRow>, Error> {
    Ok(sqlx::query_as(
        "select d.lot_id, m.code as material, l.code, d.decision, d.reason, coalesce(u.display_name, '') as decided_by, d.decided_at
           from recall_decisions d join lots l on l.id = d.lot_id join materials m on m.id = l.material_id
           left join users u on u.id = d.decided_by where d.recall_id = $1 order by d.id",
    )
    .bind(id)
    .fetch_all(pool)
    .await?)
}

/// What a consumer who checks a lot is told of a real recall of it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PublicNotice {
    pub number: String,
    pub instructions: String,
    /// The day it was recalled, at the lot's site.
    pub recalled_on: NaiveDate,
}

/// The recall notices consumers see for a lot: every real recall whose scope held it, while the
/// recall is open and after it closes for as long as product can be in homes — until the lot's
/// expiry plus its material's margin, or the recall's `public_until` for a lot with no expiry —
/// unless QA withdrew the notice (signed). Closing never turns a recalled lot into "no recall".
pub async fn public_notices(pool: &PgPool, lot: Uuid) -> Result<Vec<PublicNotice>, Error> {
    Ok(sqlx::query_as(
        "select r.number, r.public_instructions as instructions, (r.opened_at at time zone s.time_zone)::date as recalled_on
           from lots l join materials m on m.id = l.material_id join sites s on s.id = l.site_id, recalls r
          where l.id = $1 and not r.mock and r.notice_withdrawn_at is null
            and (exists (select 1 from recall_lots x where x.recall_id = r.id and x.lot_id = l.id and not x.excluded)
                 or exists (select 1 from lot_holds h where h.recall_id = r.id and h.lot_id = l.id))
            and (r.status = 'open' or site_today(l.site_id) <= coalesce(l.expires_on + m.recall_notice_days, r.public_until))
          order by r.opened_at, r.number",
    )
    .bind(lot)
    .fetch_all(pool)
    .await?)
}

/// A frozen scope's exact bytes, as hashed (the current one, or scoping `seq`): (seq, document).
pub async fn scope_document(pool: &PgPool, id: Uuid, seq: Option<i64>) -> Result<(i64, String), Error> {
    sqlx::query_as(
        "select id, document from recall_scopes where recall_id = $1 and ($2::bigint is null or id = $2)
          order by id desc limit 1",
    )
    .bind(id)
    .bind(seq)
    .fetch_optional(pool)
    .await?
    .ok_or(Error::NotFound)
}
