//! Security alerts (21 CFR 11.300(d): attempted misuse reported "in an immediate and urgent
//! manner"): raised in PostgreSQL, shown on every administrator's pages until one acknowledges
//! it, logged at error level, and handed to a command the plant chooses
//! (`LOTLINE_ALERT_COMMAND`, run with the alert as JSON on its standard input: a webhook by
//! `curl`, an e-mail, a pager).

use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::audit::{self, Entry, Person};
use crate::error::Error;

static COMMAND: OnceLock<Option<String>> = OnceLock::new();

/// Sets the command alerts are handed to (once, when the server starts).
pub fn configure(command: Option<String>) {
    let _ = COMMAND.set(command.filter(|c| !c.trim().is_empty()));
}

/// Hands an alert to the configured command, without waiting for it.
pub fn notify(id: i64, kind: &str, detail: &str) {
    let Some(Some(command)) = COMMAND.get() else { return };
    let body = serde_json::json!({ "alert": id, "kind": kind, "detail": detail, "raised_at": Utc::now() }).to_string();
    let command = command.clone();
    tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        let child = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(&command)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn();
        match child {
            Ok(mut child) => {
                if let Some(mut stdin) = child.stdin.take() {
                    let _ = stdin.write_all(body.as_bytes()).await;
                }
                match child.wait().await {
                    Ok(status) if status.success() => {}
                    Ok(status) => tracing::error!(alert.id = id, %status, "the alert command failed"),
                    Err(e) => tracing::error!(alert.id = id, error = %e, "the alert command failed"),
                }
            }
            Err(e) => tracing::error!(alert.id = id, error = %e, "the alert command could not start"),
        }
    });
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Alert {
    pub id: i64,
    pub raised_at: DateTime<Utc>,
    pub kind: String,
    pub detail: String,
}

/// Alerts no administrator has acknowledged yet, newest first.
pub async fn open(pool: &PgPool) -> Result<Vec<Alert>, Error> {
    Ok(sqlx::query_as(
        "select id, raised_at, kind, detail from security_alerts where acknowledged_at is null order by id desc limit 50",
    )
    .fetch_all(pool)
    .await?)
}

/// An administrator has seen the alert (audited).
pub async fn acknowledge(pool: &PgPool, user: &Person, id: i64) -> Result<(), Error> {
    let mut tx = pool.begin().await?;
    let done = sqlx::query(
        "update security_alerts set acknowledged_at = now(), acknowledged_by = $2 where id = $1 and acknowledged_at is null",
    )
    .bind(id)
    .bind(user.id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if done == 0 {
        return Err(Error::NotFound);
    }
    audit::record(&mut tx, &user.actor(), Entry::new("acknowledge_alert", "security_alert", id)).await?;
    tx.commit().await?;
    Ok(())
}

/// How many alerts wait (for the administrators' banner).
pub async fn waiting(pool: &PgPool) -> Result<i64, Error> {
    Ok(sqlx::query_scalar("select count(*) from security_alerts where acknowledged_at is null").fetch_one(pool).await?)
}
