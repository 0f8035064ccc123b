//! Stock counts by lot: a session per location, counted blind, submitted (the expected
//! quantities are frozen and the variances shown), then posted as 'count' movements with a
//! reason in one transaction, or counted again.

use rust_decimal::Decimal;
use sqlx::PgPool;
use uuid::Uuid;

use crate::audit::Person;
use crate::audit::{self, Entry};
use crate::domain::gs1::syntax::{self, Scan};
use crate::domain::text;
use crate::domain::vocab::MovementKind;
use crate::error::Error;
use crate::ledger::{self, Movement};
use crate::save::{FieldErrors, SaveError};

/// Opens a count of a location; returns its id.
pub async fn open(pool: &PgPool, user: &Person, location: Uuid) -> Result<Uuid, SaveError> {
    let mut tx = pool.begin().await?;
    let exists: Option<String> = sqlx::query_scalar("select code from locations where id = $1 and active")
        .bind(location)
        .fetch_optional(&mut *tx)
        .await?;
    let code = exists.ok_or_else(|| SaveError::field("location_id", "Choose an active location."))?;
    let open: Option<String> =
        sqlx::query_scalar("select number from stock_counts where location_id = $1 and status <> 'posted' limit 1")
            .bind(location)
            .fetch_optional(&mut *tx)
            .await?;
    if let Some(number) = open {
        return Err(SaveError::field(
            "location_id",
            format!("{code} is being counted already ({number}): finish that count first."),
        ));
    }
    let (id, number): (Uuid, String) = sqlx::query_as(
        "insert into stock_counts (number, location_id, opened_by)
         values ('CNT-' || lpad(nextval('count_number_seq')::text, 6, '0'), $1, $2) returning id, number",
    )
    .bind(location)
    .bind(user.id)
    .fetch_one(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        &user.actor(),
        Entry::new("open_count", "stock_count", id).after(&serde_json::json!({ "number": number, "location": code })),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

async fn status(tx: &mut sqlx::PgConnection, id: Uuid) -> Result<(String, Uuid, String), SaveError> {
    let row: Option<(String, Uuid, String)> =
        sqlx::query_as("select status, location_id, number from stock_counts where id = $1 for update")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    Ok(row.ok_or(Error::NotFound)?)
}

/// What was counted of a lot: the lot as typed or scanned (a lot code or a GS1 scan), and the
/// quantity found (0 if the lot is not there).
#[derive(Debug, Clone)]
pub struct Counted {
    pub lot: String,
    pub quantity: Decimal,
}

/// Records what was counted of a lot; counting the same lot again replaces the figure.
pub async fn count(pool: &PgPool, user: &Person, id: Uuid, c: &Counted) -> Result<(), SaveError> {
    let (lot, counted) = (c.lot.as_str(), c.quantity);
    let (code, gtin) = match syntax::read(lot) {
        Ok(Scan::Plain(code)) => (code, None),
        Ok(scan @ Scan::Gs1(_)) => match (scan.get("10"), scan.get("01")) {
            (Some(l), g) => (l.to_string(), g.map(str::to_string)),
            (None, _) => return Err(SaveError::field("lot", "The scan holds no lot code (AI 10).")),
        },
        Err(m) => return Err(SaveError::field("lot", format!("This is not valid GS1 data: {m}"))),
    };
    if code.is_empty() {
        return Err(SaveError::field("lot", "Scan or type the lot."));
    }
    let found: Vec<(Uuid, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select l.id, m.code from lots l join materials m on m.id = l.material_id
          where {} and ($2::text is null or m.id in (select material_id from material_gtins where gtin = $2))
          order by m.code limit 10",
        crate::domain::lotcode::named_sql(1)
    )))
    .bind(&code)
    .bind(gtin.as_deref())
    .fetch_all(pool)
    .await?;
    let lot_id = match found.as_slice() {
        [] => return Err(SaveError::field("lot", format!("No lot has the code “{code}”."))),
        [(id, _)] => *id,
        many => {
            let materials: Vec<&str> = many.iter().map(|(_, m)| m.as_str()).collect();
            return Err(SaveError::field(
                "lot",
                format!("Several materials have a lot “{code}” ({}): scan its label.", materials.join(", ")),
            ));
        }
    };
    let mut tx = pool.begin().await?;
    let (state, _, number) = status(&mut tx, id).await?;
    if state != "open" {
        return Err(SaveError::field("lot", format!("{number} is {state}: reopen it to count again.")));
    }
    sqlx::query(
        "insert into stock_count_lines (count_id, lot_id, counted, counted_by, counted_at) values ($1, $2, $3, $4, now())
         on conflict (count_id, lot_id) do update set counted = excluded.counted, counted_by = excluded.counted_by, counted_at = now()",
    )
    .bind(id)
    .bind(lot_id)
    .bind(counted)
    .bind(user.id)
    .execute(&mut *tx)
    .await
    ?;
    tx.commit().await?;
    Ok(())
}

/// Submits a count: the expected quantities (the ledger's on-hand at the location now) are frozen
/// beside what was counted; lots expected but not counted are added as not found.
pub async fn submit(pool: &PgPool, user: &Person, id: Uuid) -> Result<(), SaveError> {
    let mut tx = pool.begin().await?;
    let (state, location, number) = status(&mut tx, id).await?;
    if state != "open" {
        return Err(SaveError::field("count", format!("{number} is {state} already.")));
    }
    sqlx::query(
        "insert into stock_count_lines (count_id, lot_id, counted)
         select $1, o.lot_id, null from on_hand o where o.location_id = $2 and o.quantity > 0
         on conflict (count_id, lot_id) do nothing",
    )
    .bind(id)
    .bind(location)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "update stock_count_lines c set expected = coalesce((select o.quantity from on_hand o where o.lot_id = c.lot_id and o.location_id = $2), 0)
          where c.count_id = $1 and c.movement_id is null",
    )
    .bind(id)
    .bind(location)
    .execute(&mut *tx)
    .await
    ?;
    sqlx::query("update stock_counts set status = 'submitted', submitted_at = now(), submitted_by = $2 where id = $1")
        .bind(id)
        .bind(user.id)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        &user.actor(),
        Entry::new("submit_count", "stock_count", id).after(&serde_json::json!({ "number": number })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Back to counting: the expected quantities are hidden (and dropped) again; the lots not found
/// are removed, the counted figures kept for correction.
pub async fn recount(pool: &PgPool, user: &Person, id: Uuid) -> Result<(), SaveError> {
    let mut tx = pool.begin().await?;
    let (state, _, number) = status(&mut tx, id).await?;
    if state != "submitted" {
        return Err(SaveError::field(
            "count",
            format!("{number} is {state}: only a submitted count is counted again."),
        ));
    }
    sqlx::query("delete from stock_count_lines where count_id = $1 and counted is null and movement_id is null")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("update stock_count_lines set expected = null where count_id = $1 and movement_id is null")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("update stock_counts set status = 'open', submitted_at = null, submitted_by = null where id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        &user.actor(),
        Entry::new("recount", "stock_count", id).after(&serde_json::json!({ "number": number })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// One line of a submitted count to post.
#[derive(Debug, Clone, Default)]
pub struct PostLine {
    pub line: i64,
    /// This line's own reason: needed (from QA) when the variance is beyond the material's tolerance.
    pub reason: String,
    /// The lot was counted here though the ledger holds none of it here: the user confirmed it.
    pub confirmed_here: bool,
}

/// Which lines of a submitted count to post, with the count's reason for the lines that give none.
#[derive(Debug, Clone, Default)]
pub struct PostCount {
    pub reason: String,
    pub lines: Vec<PostLine>,
}

/// What posting did: lines posted, and variance lines still waiting.
#[derive(Debug, Clone, Copy)]
pub struct Posted {
    pub posted: usize,
    pub waiting: usize,
}

/// The field of a count line's refusal on the page.
pub fn line_field(line: i64) -> String {
    format!("line_{line}")
}

/// Posts chosen lines of a submitted count as 'count' movements, line by line, in one
/// transaction. A variance beyond the material's tolerance needs QA's reason for its line; a lot
/// counted where the ledger holds none needs a confirmation that names where the ledger says it
/// is; a line whose stock moved since the count was submitted is refused (count again). The
/// count is posted when no variance waits; until then the rest may be posted later.
pub async fn post(pool: &PgPool, user: &Person, id: Uuid, p: &PostCount) -> Result<Posted, SaveError> {
    let general = text::optional(&p.reason, "The reason for the adjustments", 500)
        .map_err(|m| SaveError::field("post_reason", m))?;
    if p.lines.is_empty() {
        return Err(SaveError::field("post_reason", "Choose the lines to post."));
    }
    let mut tx = pool.begin().await?;
    let (state, location, number) = status(&mut tx, id).await?;
    if state != "submitted" {
        return Err(SaveError::field("post_reason", format!("{number} is {state}: only a submitted count is posted.")));
    }
    let qa = crate::auth::holds(&mut tx, user.id, crate::Permission::QaDecide).await?;
    type LineFacts = (i64, Uuid, String, String, Option<Decimal>, Decimal, Decimal, Decimal, Option<i64>, String);
    let lines: Vec<LineFacts> = sqlx::query_as(
        "select c.id, c.lot_id, l.code, m.uom, c.counted, c.expected,
                coalesce((select o.quantity from on_hand o where o.lot_id = c.lot_id and o.location_id = $2), 0),
                m.count_tolerance_percent, c.movement_id,
                coalesce((select string_agg(x.code || ' (' || trim_scale(o.quantity) || ' ' || m.uom || ')', ', ' order by x.code)
                            from on_hand o join locations x on x.id = o.location_id
                           where o.lot_id = c.lot_id and o.quantity > 0 and o.location_id <> $2), '')
           from stock_count_lines c join lots l on l.id = c.lot_id join materials m on m.id = l.material_id
          where c.count_id = $1 and c.expected is not null order by l.code",
    )
    .bind(id)
    .bind(location)
    .fetch_all(&mut *tx)
    .await?;
    let mut e = FieldErrors::default();
    let mut plan = Vec::new();
    for chosen in &p.lines {
        let field = line_field(chosen.line);
        let Some((line, lot, code, uom, counted, expected, now, tolerance, movement, elsewhere)) =
            lines.iter().find(|l| l.0 == chosen.line)
        else {
            e.add(field, "This line is not part of the count.");
            continue;
        };
        if movement.is_some() {
            e.add(field, format!("Lot {code} is posted already."));
            continue;
        }
        if expected != now {
            e.add(field, format!("Stock of lot {code} moved since the count was submitted: count again."));
            continue;
        }
        let variance = counted.unwrap_or_default() - expected;
        if variance.is_zero() {
            continue;
        }
        let own = match text::optional(&chosen.reason, "The line's reason", 500) {
            Ok(r) => r,
            Err(m) => {
                e.add(field, m);
                continue;
            }
        };
        let limit = *expected * tolerance / Decimal::ONE_HUNDRED;
        if variance.abs() > limit {
            let beyond = format!(
                "Lot {code}: {} {uom} is beyond the material's tolerance of {} %",
                variance.normalize(),
                tolerance.normalize()
            );
            if own.is_empty() {
                e.add(field, format!("{beyond}: QA gives the reason for this line."));
                continue;
            }
            if !qa {
                e.add(field, format!("{beyond}: only QA posts it, with the reason."));
                continue;
            }
        }
        if expected.is_zero() && !chosen.confirmed_here {
            let ledger = if elsewhere.is_empty() {
                "the ledger holds none of it anywhere (all of it shipped, consumed or scrapped)".to_string()
            } else {
                format!("the ledger says it is at {elsewhere}")
            };
            e.add(
                field,
                format!(
                    "Lot {code} was counted here, but {ledger}: confirm that {} {uom} of it really is here.",
                    counted.unwrap_or_default().normalize()
                ),
            );
            continue;
        }
        let reason = if own.is_empty() { general.clone() } else { own };
        if reason.is_empty() {
            e.add(field, format!("Lot {code}: give this line's reason, or the count's reason for every line."));
            continue;
        }
        plan.push((*line, *lot, variance, reason));
    }
    if !e.is_empty() {
        return Err(e.into());
    }
    let posting = Uuid::new_v4();
    let actor = user.actor();
    for (line, lot, variance, reason) in &plan {
        let count = Movement::new(MovementKind::Count, *lot, location, *variance, posting).reason(reason);
        let movement = ledger::post(&mut tx, &actor, &count).await.map_err(|r| r.at("post_reason"))?;
        sqlx::query(
            "update stock_count_lines set movement_id = $2, post_reason = $3, posted_by = $4, posted_at = now() where id = $1",
        )
        .bind(line)
        .bind(movement)
        .bind(reason)
        .bind(user.id)
        .execute(&mut *tx)
        .await?;
    }
    let waiting: i64 = sqlx::query_scalar(
        "select count(*) from stock_count_lines
          where count_id = $1 and movement_id is null and coalesce(counted, 0) <> coalesce(expected, 0)",
    )
    .bind(id)
    .fetch_one(&mut *tx)
    .await?;
    if waiting == 0 {
        sqlx::query(
            "update stock_counts set status = 'posted', posted_at = now(), posted_by = $2, post_reason = $3 where id = $1",
        )
        .bind(id)
        .bind(user.id)
        .bind(if general.is_empty() { "Posted line by line" } else { general.as_str() })
        .execute(&mut *tx)
        .await?;
    }
    audit::record(
        &mut tx,
        &actor,
        Entry::new("post_count", "stock_count", id).after(&serde_json::json!({
            "number": number,
            "lines": plan.iter().map(|(line, _, variance, reason)| serde_json::json!({ "line": line, "variance": variance, "reason": reason })).collect::<Vec<_>>(),
            "waiting": waiting,
        })),
    )
    .await?;
    tx.commit().await?;
    Ok(Posted { posted: plan.len(), waiting: waiting as usize })
}
