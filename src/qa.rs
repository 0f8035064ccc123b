//! QA decisions on lots: release and reject (signed), holds placed and lifted with a reason, and
//! QA records (inspections, test results, certificates). Each is one audited transaction.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

use crate::audit::Person;
use crate::audit::{self, Entry};
use crate::domain::text;
use crate::domain::vocab::Disposition;
use crate::error::Error;
use crate::save::{FieldErrors, SaveError};

/// A release or rejection, as typed.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct DecisionForm {
    pub reason: String,
    /// The signer's user name (the first signature of a session, or after a pause).
    pub signer: String,
    pub password: String,
}

/// Releases (`released`) or rejects (`rejected`) a lot in quarantine, signed with the user's password.
pub async fn decide(
    pool: &PgPool,
    user: &Person,
    lot_id: Uuid,
    to: Disposition,
    form: &DecisionForm,
) -> Result<(), SaveError> {
    let (meaning, reason_required) = match to {
        Disposition::Released => ("released by", false),
        Disposition::Rejected => ("rejected by", true),
        Disposition::Quarantine => {
            return Err(SaveError::Other(Error::BadRequest("A lot is released or rejected.".into())));
        }
    };
    let reason = form.reason.trim();
    if reason_required && reason.is_empty() {
        return Err(SaveError::field("reason", "Give the reason for rejecting the lot."));
    }
    if reason.chars().count() > 1000 {
        return Err(SaveError::field("reason", "The reason is at most 1000 characters long."));
    }
    let mut tx = pool.begin().await?;
    let current: Option<(String, Disposition)> =
        sqlx::query_as("select code, disposition from lots where id = $1 for update")
            .bind(lot_id)
            .fetch_optional(&mut *tx)
            .await?;
    let (code, disposition) = current.ok_or(Error::NotFound)?;
    if disposition != Disposition::Quarantine {
        return Err(SaveError::field(
            "decision",
            format!("Lot {code} is {disposition} already: only a lot in quarantine can be released or rejected."),
        ));
    }
    let signature = crate::auth::sign(
        pool,
        &mut tx,
        user,
        &crate::auth::Credentials { user_name: &form.signer, password: &form.password },
        &crate::auth::Act { meaning, entity_type: "lot", entity_id: lot_id.to_string(), field: "password" },
    )
    .await?;
    sqlx::query("update lots set disposition = $2 where id = $1").bind(lot_id).bind(to).execute(&mut *tx).await?;
    sqlx::query(
        "insert into lot_dispositions (lot_id, from_status, to_status, reason, decided_by, signature_id) values ($1, 'quarantine', $2, $3, $4, $5)",
    )
    .bind(lot_id)
    .bind(to)
    .bind(Some(reason).filter(|r| !r.is_empty()))
    .bind(user.id)
    .bind(signature)
    .execute(&mut *tx)
    .await
    ?;
    let entry = Entry::new(if to == Disposition::Released { "release" } else { "reject" }, "lot", lot_id)
        .before(&serde_json::json!({ "disposition": "quarantine" }))
        .after(&serde_json::json!({ "disposition": to, "signed": meaning }));
    let entry = if reason.is_empty() { entry } else { entry.reason(reason) };
    audit::record(&mut tx, &user.actor(), entry).await?;
    tx.commit().await?;
    Ok(())
}

/// Places a manual hold on a lot.
pub async fn place_hold(pool: &PgPool, user: &Person, lot_id: Uuid, reason: &str) -> Result<(), SaveError> {
    let reason =
        text::required(reason, "The reason for the hold", 1000).map_err(|m| SaveError::field("hold_reason", m))?;
    let mut tx = pool.begin().await?;
    let exists: bool =
        sqlx::query_scalar("select exists (select 1 from lots where id = $1)").bind(lot_id).fetch_one(&mut *tx).await?;
    if !exists {
        return Err(Error::NotFound.into());
    }
    let hold: Uuid = sqlx::query_scalar(
        "insert into lot_holds (lot_id, source, reason, opened_by) values ($1, 'manual', $2, $3) returning id",
    )
    .bind(lot_id)
    .bind(&reason)
    .bind(user.id)
    .fetch_one(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        &user.actor(),
        Entry::new("hold", "lot", lot_id).after(&serde_json::json!({ "hold": hold })).reason(&reason),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Lifts an open hold (a QA act, with a reason). A recall's hold is lifted only by a signed
/// decision after the recall closes (`recall::decide`).
pub async fn lift_hold(
    pool: &PgPool,
    user: &Person,
    lot_id: Uuid,
    hold_id: Uuid,
    reason: &str,
) -> Result<(), SaveError> {
    let reason = text::required(reason, "The reason for lifting the hold", 1000)
        .map_err(|m| SaveError::field("lift_reason", m))?;
    let mut tx = pool.begin().await?;
    let hold: Option<(String, Option<DateTime<Utc>>)> =
        sqlx::query_as("select source, closed_at from lot_holds where id = $1 and lot_id = $2 for update")
            .bind(hold_id)
            .bind(lot_id)
            .fetch_optional(&mut *tx)
            .await?;
    let (source, closed_at) = hold.ok_or(Error::NotFound)?;
    if closed_at.is_some() {
        return Err(SaveError::field("lift_reason", "This hold was lifted already."));
    }
    if source == "recall" {
        return Err(SaveError::field(
            "lift_reason",
            "A recall's hold is lifted by QA's signed decision on the recall's page, once the recall closes.",
        ));
    }
    sqlx::query("update lot_holds set closed_at = now(), closed_by = $2, close_reason = $3 where id = $1")
        .bind(hold_id)
        .bind(user.id)
        .bind(&reason)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        &user.actor(),
        Entry::new("lift_hold", "lot", lot_id).before(&serde_json::json!({ "hold": hold_id })).reason(&reason),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

pub const RECORD_KINDS: [(&str, &str); 3] =
    [("inspection", "Inspection"), ("test", "Test result"), ("certificate", "Certificate of analysis")];

/// A QA record as typed.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(default)]
pub struct RecordForm {
    pub kind: String,
    pub name: String,
    pub result: String,
    pub specification: String,
    pub reference: String,
    pub outcome: String,
    pub performed_on: String,
    pub notes: String,
}

/// Records an inspection, test result or certificate on a lot.
pub async fn add_record(pool: &PgPool, user: &Person, lot_id: Uuid, f: &RecordForm) -> Result<(), SaveError> {
    let mut e = FieldErrors::default();
    if !RECORD_KINDS.iter().any(|(k, _)| *k == f.kind) {
        e.add("kind", "Choose what kind of record this is.");
    }
    let name = e.check("name", text::required(&f.name, "What was checked", 200));
    let result = e.check("result", text::optional(&f.result, "The result", 200));
    let specification = e.check("specification", text::optional(&f.specification, "The specification", 200));
    let reference = e.check("reference", text::optional(&f.reference, "The reference", 200));
    let notes = e.check("notes", text::optional(&f.notes, "The notes", 2000));
    if f.outcome != "pass" && f.outcome != "fail" {
        e.add("outcome", "Choose pass or fail.");
    }
    let performed_on = e.check("performed_on", crate::domain::dates::parse(&f.performed_on, "The date"));
    // A check is dated at its lot's site: not before the lot was made, not after the site's today.
    let (made_on, today): (NaiveDate, NaiveDate) =
        sqlx::query_as("select made_on, site_today(site_id) from lots where id = $1")
            .bind(lot_id)
            .fetch_optional(pool)
            .await?
            .ok_or(Error::NotFound)?;
    let performed_on = performed_on.unwrap_or(today);
    if performed_on > today {
        e.add("performed_on", format!("A check cannot be dated after today at the lot's site ({today})."));
    } else if performed_on < made_on {
        e.add("performed_on", format!("A check cannot be dated before the lot was made ({made_on})."));
    }
    if !e.is_empty() {
        return Err(e.into());
    }
    let mut tx = pool.begin().await?;
    let id: Option<Uuid> = sqlx::query_scalar(
        "insert into qa_records (lot_id, kind, name, result, specification, reference, outcome, notes, performed_at, recorded_by)
         select l.id, $2, $3, $4, $5, $6, $7, $8, ($9::date + time '12:00') at time zone s.time_zone, $10
           from lots l join sites s on s.id = l.site_id where l.id = $1 returning id",
    )
    .bind(lot_id)
    .bind(&f.kind)
    .bind(&name)
    .bind(&result)
    .bind(&specification)
    .bind(&reference)
    .bind(&f.outcome)
    .bind(&notes)
    .bind(performed_on)
    .bind(user.id)
    .fetch_optional(&mut *tx)
    .await
    ?;
    let id = id.ok_or(Error::NotFound)?;
    audit::record(
        &mut tx,
        &user.actor(),
        Entry::new("qa_record", "lot", lot_id).after(
            &serde_json::json!({ "record": id, "kind": f.kind, "name": name, "result": result, "outcome": f.outcome }),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
