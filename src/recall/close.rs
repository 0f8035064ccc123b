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
