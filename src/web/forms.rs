//! What every form shares: errors next to their fields, the database's constraint names turned
//! into those errors, optimistic versions, and idempotency keys.

use std::collections::BTreeMap;

use crate::error::Error;

/// Messages keyed by the name of the field they belong to.
#[derive(Debug, Clone, Default)]
pub struct FieldErrors(BTreeMap<&'static str, String>);

impl FieldErrors {
    pub fn add(&mut self, field: &'static str, message: impl Into<String>) {
        self.0.entry(field).or_insert_with(|| message.into());
    }

    /// Keeps the value of `result`, or records its message against `field`.
    pub fn check<T: Default>(&mut self, field: &'static str, result: Result<T, String>) -> T {
        match result {
            Ok(v) => v,
            Err(m) => {
                self.add(field, m);
                T::default()
            }
        }
    }

    pub fn get(&self, field: &str) -> Option<&str> {
        self.0.get(field).map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Every (field, message), in field order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &str)> {
        self.0.iter().map(|(f, m)| (*f, m.as_str()))
    }

    /// Every message with its field, for the command line.
    pub fn messages(&self) -> Vec<String> {
        self.0.iter().map(|(field, message)| format!("{field}: {message}")).collect()
    }
}

/// Why saving a record failed.
#[derive(Debug)]
pub enum SaveError {
    /// The input is wrong; each message belongs next to its field.
    Invalid(FieldErrors),
    /// Someone saved the record after this form was opened.
    Stale,
    Other(Error),
}

impl From<FieldErrors> for SaveError {
    fn from(e: FieldErrors) -> Self {
        SaveError::Invalid(e)
    }
}

impl From<Error> for SaveError {
    fn from(e: Error) -> Self {
        SaveError::Other(e)
    }
}

/// One database constraint and the field message it stands for.
pub type ConstraintMessage = (&'static str, &'static str, &'static str);

/// Turns a violated constraint named in `known` into a field error; anything else stays an error.
pub fn map_db_error(err: sqlx::Error, known: &[ConstraintMessage]) -> SaveError {
    if let sqlx::Error::Database(db) = &err
        && let Some(name) = db.constraint()
        && let Some((_, field, message)) = known.iter().find(|(c, _, _)| *c == name)
    {
        let mut errors = FieldErrors::default();
        errors.add(field, *message);
        return SaveError::Invalid(errors);
    }
    SaveError::Other(err.into())
}

/// The message shown when an edit arrives over a newer one.
pub const STALE_MESSAGE: &str = "Someone else changed this record after you opened it. Your changes were not saved: the form now shows the current values; make your changes again.";

/// Claims a create form's idempotency key for the record `id` about to be inserted. Returns the
/// id of the record an earlier submission of the same form created, in which case nothing is written.
pub async fn claim_create(
    tx: &mut sqlx::PgConnection,
    key: uuid::Uuid,
    operation: &str,
    id: uuid::Uuid,
) -> Result<Option<uuid::Uuid>, Error> {
    match claim_idempotency_key(tx, key, operation, &id.to_string()).await? {
        None => Ok(None),
        Some(earlier) => earlier
            .parse()
            .map(Some)
            .map_err(|_| Error::Conflict("This form was already used for something else; reload the page.".into())),
    }
}

/// The key of a line's field errors: `line3` for the third row.
pub fn line_key(i: usize) -> &'static str {
    const KEYS: [&str; 20] = [
        "line1", "line2", "line3", "line4", "line5", "line6", "line7", "line8", "line9", "line10", "line11", "line12",
        "line13", "line14", "line15", "line16", "line17", "line18", "line19", "line20",
    ];
    KEYS.get(i).copied().unwrap_or("lines")
}

/// Parses the hidden `version` field of an edit form.
pub fn parse_version(value: &str) -> Result<i32, Error> {
    value
        .trim()
        .parse()
        .map_err(|_| Error::BadRequest("The form's version field is missing or malformed; reload the page.".into()))
}

/// Parses the hidden idempotency key of a create form.
pub fn parse_idempotency_key(value: &str) -> Result<uuid::Uuid, Error> {
    uuid::Uuid::parse_str(value.trim())
        .map_err(|_| Error::BadRequest("The form's idempotency key is missing or malformed; reload the page.".into()))
}

/// Claims `key` for `operation` inside `tx`. Returns the earlier result when the key was used
/// already (a double click or a resubmitted form), in which case nothing must be written.
pub async fn claim_idempotency_key(
    tx: &mut sqlx::PgConnection,
    key: uuid::Uuid,
    operation: &str,
    result: &str,
) -> Result<Option<String>, sqlx::Error> {
    let inserted = sqlx::query(
        "insert into idempotency_keys (key, operation, result) values ($1, $2, $3) on conflict (key) do nothing",
    )
    .bind(key)
    .bind(operation)
    .bind(result)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted == 1 {
        return Ok(None);
    }
    let earlier: String =
        sqlx::query_scalar("select result from idempotency_keys where key = $1").bind(key).fetch_one(&mut *tx).await?;
    Ok(Some(earlier))
}
