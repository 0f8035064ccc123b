//! Electronic signatures (21 CFR Part 11): one place for every signature — the signing period,
//! the check, and what a failure sets off.

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{CHECKS, verify_password};
use crate::audit::{self, Entry};
use crate::error::Error;

/// What a signer types: the user name (the first signature of a session, or after
/// `SIGNING_PERIOD_MINUTES` without one) and the password (every time).
#[derive(Debug, Clone, Copy)]
pub struct Credentials<'a> {
    pub user_name: &'a str,
    pub password: &'a str,
}

/// A signing period: signatures within this long of the session's last one take the password only.
pub const SIGNING_PERIOD_MINUTES: i32 = 15;

/// Failed signatures allowed within the window; the next ends the user's sessions and alerts.
pub const SIGNATURE_FAILURES: i32 = 3;
const SIGNATURE_WINDOW_MINUTES: i32 = 15;

/// An electronic signature (21 CFR Part 11): the signer re-enters the password; the meaning
/// ("released by", "approved by") is recorded with the record, in the caller's transaction.
/// A wrong password is recorded on its own connection (the caller's transaction rolls back):
/// audited, counted, and at the third within a quarter of an hour the user's sessions end and an
/// alert is raised (`signature_alert`).
pub async fn sign(
    pool: &PgPool,
    tx: &mut PgConnection,
    user: &crate::audit::Person,
    credentials: &Credentials<'_>,
    act: &Act<'_>,
) -> Result<Uuid, crate::save::SaveError> {
    let (meaning, entity_type, entity_id) = (act.meaning, act.entity_type, act.entity_id.as_str());
    match check_signature(pool, tx, user, credentials, meaning, entity_type, entity_id).await? {
        Some(signature) => Ok(signature),
        None => Err(crate::save::SaveError::field(
            act.field,
            "Your password is needed to sign this, and the one given is not right.",
        )),
    }
}

/// What a signature signs: its meaning ("released by"), the record it is recorded with, and the
/// form field a refused password is shown beside.
pub struct Act<'a> {
    pub meaning: &'a str,
    pub entity_type: &'a str,
    pub entity_id: String,
    pub field: &'static str,
}

async fn check_signature(
    pool: &PgPool,
    tx: &mut PgConnection,
    user: &crate::audit::Person,
    credentials: &Credentials<'_>,
    meaning: &str,
    entity_type: &str,
    entity_id: &str,
) -> Result<Option<Uuid>, crate::save::SaveError> {
    // A continuous period of controlled access: this browser session signed within the period.
    let continuous: bool = match &user.session {
        Some(session) => sqlx::query_scalar::<_, Option<bool>>(
            "select signed_at > now() - $2 * interval '1 minute' from sessions where token_hash = $1",
        )
        .bind(session)
        .bind(SIGNING_PERIOD_MINUTES)
        .fetch_optional(&mut *tx)
        .await?
        .flatten()
        .unwrap_or(false),
        None => false,
    };
    let typed = credentials.user_name.trim();
    if typed.is_empty() && !continuous {
        return Err(crate::save::SaveError::field(
            "signer",
            format!(
                "Type your user name as well as your password: the first signature of a session, and one after {SIGNING_PERIOD_MINUTES} minutes without signing, takes both."
            ),
        ));
    }
    let stored: Option<String> = sqlx::query_scalar("select password_hash from users where id = $1 and active")
        .bind(user.id)
        .fetch_optional(&mut *tx)
        .await?
        .flatten();
    let Some(stored) = stored else { return Ok(None) };
    let pw = credentials.password.to_string();
    let ok = {
        let _turn = CHECKS.acquire().await.map_err(|e| Error::Internal(e.into()))?;
        tokio::task::spawn_blocking(move || verify_password(&stored, &pw))
            .await
            .map_err(|e| Error::Internal(e.into()))?
    } && (typed.is_empty() || typed.eq_ignore_ascii_case(&user.username));
    if !ok {
        signature_failed(pool, user, meaning, entity_type, entity_id).await?;
        return Ok(None);
    }
    sqlx::query("delete from signature_failures where user_id = $1").bind(user.id).execute(&mut *tx).await?;
    if let Some(session) = &user.session {
        sqlx::query("update sessions set signed_at = now() where token_hash = $1")
            .bind(session)
            .execute(&mut *tx)
            .await?;
    }
    let id: Uuid = sqlx::query_scalar(
        "insert into signatures (user_id, meaning, entity_type, entity_id) values ($1, $2, $3, $4) returning id",
    )
    .bind(user.id)
    .bind(meaning)
    .bind(entity_type)
    .bind(entity_id)
    .fetch_one(&mut *tx)
    .await?;
    Ok(Some(id))
}

async fn signature_failed(
    pool: &PgPool,
    user: &crate::audit::Person,
    meaning: &str,
    entity_type: &str,
    entity_id: &str,
) -> Result<(), Error> {
    let mut tx = pool.begin().await?;
    let failures: i32 = sqlx::query_scalar(
        "insert into signature_failures (user_id, failures, window_start) values ($1, 1, now())
         on conflict (user_id) do update set
           failures = case when signature_failures.window_start < now() - $2 * interval '1 minute' then 1 else signature_failures.failures + 1 end,
           window_start = case when signature_failures.window_start < now() - $2 * interval '1 minute' then now() else signature_failures.window_start end
         returning failures",
    )
    .bind(user.id)
    .bind(SIGNATURE_WINDOW_MINUTES)
    .fetch_one(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        &user.actor(),
        Entry::new("signature_failed", entity_type, entity_id)
            .after(&serde_json::json!({ "meaning": meaning, "failures": failures })),
    )
    .await?;
    let alert = if failures >= SIGNATURE_FAILURES {
        let detail = format!(
            "{failures} failed electronic signatures by {} within {SIGNATURE_WINDOW_MINUTES} minutes (last: “{meaning}” on {entity_type} {entity_id}); their sessions were ended.",
            user.username
        );
        sqlx::query("delete from sessions where user_id = $1").bind(user.id).execute(&mut *tx).await?;
        sqlx::query("delete from signature_failures where user_id = $1").bind(user.id).execute(&mut *tx).await?;
        let id: i64 = sqlx::query_scalar(
            "insert into security_alerts (kind, user_id, detail) values ('signature_attempts', $1, $2) returning id",
        )
        .bind(user.id)
        .bind(&detail)
        .fetch_one(&mut *tx)
        .await?;
        audit::record(
            &mut tx,
            &crate::audit::Actor::system("lotline"),
            Entry::new("security_alert", "user", user.id).after(&serde_json::json!({ "alert": id, "detail": detail })),
        )
        .await?;
        Some((id, detail))
    } else {
        None
    };
    tx.commit().await?;
    if let Some((id, detail)) = alert {
        tracing::error!(alert.id = id, user = %user.username, "SECURITY ALERT: {detail}");
        crate::alerts::notify(id, "signature_attempts", &detail);
    }
    Ok(())
}
