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
