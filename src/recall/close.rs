//! Changing an open recall: widening its scope, completing a drill, the consumer notice, and
//! closing it (signed).

use super::*;

/// Locks an open recall for a change, or says why it cannot change.
pub(crate) async fn lock_open(tx: &mut PgConnection, id: Uuid) -> Result<(String, bool, String), SaveError> {
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
    /// The signer's user name (the first signature of a session, or after a pause).
    pub signer: String,
    pub password: String,
    /// Closing below the check level: QA's reason for closing anyway (signed with the closing).
    pub override_reason: String,
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
    let signature = crate::auth::sign(
        pool,
        &mut tx,
        user,
        &crate::auth::Credentials { user_name: &f.signer, password: &f.password },
        &recall_act("recall scope widened to lot-level by", id, "widen_password"),
    )
    .await?;
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

/// Closes a recall (signed, with a summary) — the firm's own close, after which it may ask the
/// authority to terminate the recall. A real recall closes only at its check level (consignees
/// checked, `Effectiveness`), or below it with QA's signed reason, which the report shows.
///
/// Holds on lots with no stock left in our hands are lifted; a lot that still has stock stays
/// recalled (its recall hold stays open) until QA records a signed decision (`decide`).
pub async fn close(pool: &PgPool, user: &Person, id: Uuid, f: &SignedForm) -> Result<(), SaveError> {
    let summary =
        text::required(&f.summary, "The closing summary", 4000).map_err(|m| SaveError::field("summary", m))?;
    let override_reason = text::optional(&f.override_reason, "The reason for closing below the check level", 2000)
        .map_err(|m| SaveError::field("override_reason", m))?;
    let recall = get(pool, id).await?;
    let effect = if recall.mock {
        None
    } else {
        let current = scopes(pool, id).await?.pop().ok_or(Error::NotFound)?;
        Some(Effectiveness::of(&recall, &customer_status(pool, &recall, &current.scope).await?))
    };
    let shortfall = effect.filter(|e| e.shortfall() > 0);
    let close_override = match shortfall {
        Some(e) if override_reason.is_empty() => {
            return Err(SaveError::field(
                "override_reason",
                format!(
                    "Check level {}: {} of {} consignees must be checked (notified, then acknowledged or reported), and {} are. \
                     Record the checks, or give the reason for closing below the level and sign.",
                    recall.level_text(),
                    e.required,
                    e.consignees,
                    e.checked
                ),
            ));
        }
        Some(_) => Some(override_reason),
        None => None,
    };
    let mut tx = pool.begin().await?;
    let (number, mock, _) = lock_open(&mut tx, id).await?;
    let meaning = if close_override.is_some() { "recall closed below its check level by" } else { "recall closed by" };
    let signature = crate::auth::sign(
        pool,
        &mut tx,
        user,
        &crate::auth::Credentials { user_name: &f.signer, password: &f.password },
        &recall_act(meaning, id, "close_password"),
    )
    .await?;
    // Lots with nothing left in our hands are done with; the others stay recalled.
    let lifted = sqlx::query(
        "update lot_holds h set closed_at = now(), closed_by = $2, close_reason = 'Recall ' || $3 || ' closed: no stock left here',
                close_signature = $4
          where h.recall_id = $1 and h.closed_at is null
            and not exists (select 1 from on_hand o where o.lot_id = h.lot_id and o.quantity > 0)",
    )
    .bind(id)
    .bind(user.id)
    .bind(&number)
    .bind(signature)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let still: i64 = sqlx::query_scalar("select count(*) from lot_holds where recall_id = $1 and closed_at is null")
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
    sqlx::query(
        "update recalls set status = 'closed', closed_at = now(), closed_by = $2, closed_signature = $3, summary = $4,
                close_override = $5
          where id = $1",
    )
    .bind(id)
    .bind(user.id)
    .bind(signature)
    .bind(&summary)
    .bind(&close_override)
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        &user.actor(),
        Entry::new("close_recall", "recall", id)
            .before(&serde_json::json!({ "status": "open" }))
            .after(&serde_json::json!({
                "status": "closed", "mock": mock, "holds_lifted": lifted, "still_recalled": still,
                "effectiveness": effect, "below_check_level": close_override,
            }))
            .reason(&summary),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// QA's signed decision on lots a closed recall still holds: one signature covers them all.
#[derive(Debug, Clone)]
pub struct Decide {
    pub lots: Vec<Uuid>,
    pub decision: RecallDecision,
    pub reason: String,
    pub signer: String,
    pub password: String,
}

/// Records QA's decision on lots a closed recall still holds, and lifts their recall holds:
/// release (fit for use, with the justification), rework (back to quarantine), destroy or return
/// to the supplier (rejected). Returns how many lots were decided.
pub async fn decide(pool: &PgPool, user: &Person, id: Uuid, d: &Decide) -> Result<usize, SaveError> {
    let reason =
        text::required(&d.reason, "The justification", 2000).map_err(|m| SaveError::field("decision_reason", m))?;
    if d.lots.is_empty() {
        return Err(SaveError::field("lots", "Choose the lots this decision covers."));
    }
    let mut tx = pool.begin().await?;
    let (number, status): (String, String) =
        sqlx::query_as("select number, status from recalls where id = $1 for update")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(Error::NotFound)?;
    if status == "open" {
        return Err(SaveError::field(
            "lots",
            format!("Recall {number} is open: its lots stay held until it closes, then QA decides."),
        ));
    }
    let held: Vec<(Uuid, Uuid, String, Disposition)> = sqlx::query_as(
        "select h.id, l.id, l.code, l.disposition from lot_holds h join lots l on l.id = h.lot_id
          where h.recall_id = $1 and h.closed_at is null and h.lot_id = any($2) order by l.code for update of h, l",
    )
    .bind(id)
    .bind(&d.lots)
    .fetch_all(&mut *tx)
    .await?;
    if held.len() != d.lots.len() {
        return Err(SaveError::field(
            "lots",
            format!(
                "Some of the chosen lots are not held by recall {number} any more: reload the page and choose again."
            ),
        ));
    }
    let meaning = match d.decision {
        RecallDecision::Release => "released after recall by",
        RecallDecision::Rework => "sent to rework after recall by",
        RecallDecision::Destroy => "to be destroyed after recall by",
        RecallDecision::ReturnToSupplier => "to be returned to the supplier after recall by",
    };
    let signature = crate::auth::sign(
        pool,
        &mut tx,
        user,
        &crate::auth::Credentials { user_name: &d.signer, password: &d.password },
        &recall_act(meaning, id, "decision_password"),
    )
    .await?;
    let to = match d.decision {
        RecallDecision::Release => None,
        RecallDecision::Rework => Some(Disposition::Quarantine),
        RecallDecision::Destroy | RecallDecision::ReturnToSupplier => Some(Disposition::Rejected),
    };
    for (hold, lot, code, from) in &held {
        sqlx::query(
            "insert into recall_decisions (recall_id, lot_id, decision, reason, signature_id, decided_by)
             values ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id)
        .bind(lot)
        .bind(d.decision)
        .bind(&reason)
        .bind(signature)
        .bind(user.id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "update lot_holds set closed_at = now(), closed_by = $2, close_reason = $3, close_signature = $4 where id = $1",
        )
        .bind(hold)
        .bind(user.id)
        .bind(format!("After recall {number}: {} — {reason}", d.decision.label()))
        .bind(signature)
        .execute(&mut *tx)
        .await?;
        if let Some(to) = to.filter(|to| to != from) {
            sqlx::query("update lots set disposition = $2 where id = $1").bind(lot).bind(to).execute(&mut *tx).await?;
            sqlx::query(
                "insert into lot_dispositions (lot_id, from_status, to_status, reason, decided_by, signature_id)
                 values ($1, $2, $3, $4, $5, $6)",
            )
            .bind(lot)
            .bind(from)
            .bind(to)
            .bind(format!("After recall {number}: {reason}"))
            .bind(user.id)
            .bind(signature)
            .execute(&mut *tx)
            .await?;
        }
        audit::record(
            &mut tx,
            &user.actor(),
            Entry::new("recall_decision", "lot", *lot)
                .before(&serde_json::json!({ "recall": number, "hold": hold, "disposition": from }))
                .after(&serde_json::json!({ "decision": d.decision, "disposition": to.unwrap_or(*from), "lot": code }))
                .reason(&reason),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(held.len())
}

/// Withdraws the consumer notice of a closed recall before its time (signed, with the reason):
/// consumers who check its lots no longer see it.
pub async fn withdraw_public_notice(
    pool: &PgPool,
    user: &Person,
    id: Uuid,
    reason: &str,
    credentials: &crate::auth::Credentials<'_>,
) -> Result<(), SaveError> {
    let reason = text::required(reason, "The reason for withdrawing the notice", 2000)
        .map_err(|m| SaveError::field("withdraw_reason", m))?;
    let mut tx = pool.begin().await?;
    let (number, status, withdrawn): (String, String, Option<DateTime<Utc>>) =
        sqlx::query_as("select number, status, notice_withdrawn_at from recalls where id = $1 for update")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(Error::NotFound)?;
    if status == "open" {
        return Err(SaveError::field("withdraw_reason", format!("Recall {number} is open: its notice stays.")));
    }
    if withdrawn.is_some() {
        return Err(SaveError::field("withdraw_reason", "The notice was withdrawn already."));
    }
    let signature = crate::auth::sign(
        pool,
        &mut tx,
        user,
        credentials,
        &recall_act("recall notice withdrawn by", id, "withdraw_password"),
    )
    .await?;
    sqlx::query(
        "update recalls set notice_withdrawn_at = now(), notice_withdrawn_by = $2, notice_withdrawn_reason = $3,
                notice_withdrawn_signature = $4 where id = $1",
    )
    .bind(id)
    .bind(user.id)
    .bind(&reason)
    .bind(signature)
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        &user.actor(),
        Entry::new("withdraw_recall_notice", "recall", id)
            .after(&serde_json::json!({ "withdrawn": true }))
            .reason(&reason),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Sets what consumers who check an affected lot are told to do (the public page).
pub async fn set_public_notice(
    pool: &PgPool,
    user: &Person,
    id: Uuid,
    text: &str,
    until: Option<NaiveDate>,
) -> Result<(), SaveError> {
    let text =
        text::optional(text, "The public notice", 2000).map_err(|m| SaveError::field("public_instructions", m))?;
    if let Some(d) = until {
        let today = plant_today(pool).await?;
        crate::domain::dates::in_range(d, "The last day").map_err(|m| SaveError::field("public_until", m))?;
        if d <= today {
            return Err(SaveError::field("public_until", "The last day the notice shows is after today."));
        }
    }
    let mut tx = pool.begin().await?;
    lock_open(&mut tx, id).await?;
    let (before, before_until): (String, NaiveDate) =
        sqlx::query_as("select public_instructions, public_until from recalls where id = $1")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
    let until = until.unwrap_or(before_until);
    sqlx::query("update recalls set public_instructions = $2, public_until = $3 where id = $1")
        .bind(id)
        .bind(&text)
        .bind(until)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        &user.actor(),
        Entry::new("recall_public_notice", "recall", id)
            .before(&serde_json::json!({ "public_instructions": before, "public_until": before_until }))
            .after(&serde_json::json!({ "public_instructions": text, "public_until": until })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// A signature on recall `id`, its refusal shown beside `field`.
fn recall_act<'a>(meaning: &'a str, id: Uuid, field: &'static str) -> crate::auth::Act<'a> {
    crate::auth::Act { meaning, entity_type: "recall", entity_id: id.to_string(), field }
}
