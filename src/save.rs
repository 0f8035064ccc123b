//! What a change answers when it cannot be saved, below every face that asks for one: errors
//! next to their fields, the database's constraint names turned into those errors, optimistic
//! versions, and idempotency keys. Pages, the JSON API, the CLI and the importer all read these.

use std::borrow::Cow;
use std::collections::BTreeMap;

use crate::error::Error;

/// Messages keyed by the name of the field they belong to (`line3` for a document's third line).
#[derive(Debug, Clone, Default)]
pub struct FieldErrors(BTreeMap<Cow<'static, str>, String>);

impl FieldErrors {
    pub fn add(&mut self, field: impl Into<Cow<'static, str>>, message: impl Into<String>) {
        self.0.entry(field.into()).or_insert_with(|| message.into());
    }

    /// One message for one field.
    pub fn one(field: impl Into<Cow<'static, str>>, message: impl Into<String>) -> FieldErrors {
        let mut e = FieldErrors::default();
        e.add(field, message);
        e
    }

    /// Keeps the value of `result`, or records its message against `field`.
    pub fn check<T: Default>(&mut self, field: impl Into<Cow<'static, str>>, result: Result<T, String>) -> T {
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
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(f, m)| (f.as_ref(), m.as_str()))
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

impl SaveError {
    /// A refusal with one message next to one field.
    pub fn field(field: impl Into<Cow<'static, str>>, message: impl Into<String>) -> SaveError {
        SaveError::Invalid(FieldErrors::one(field, message))
    }
}

impl From<sqlx::Error> for SaveError {
    fn from(e: sqlx::Error) -> Self {
        SaveError::Other(e.into())
    }
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
    if let Some(name) = constraint(&err)
        && let Some((_, field, message)) = known.iter().find(|(c, _, _)| *c == name)
    {
        return SaveError::field(*field, *message);
    }
    err.into()
}

/// The name of the constraint a database error violated, if it is one.
pub fn constraint(err: &sqlx::Error) -> Option<&str> {
    match err {
        sqlx::Error::Database(db) => db.constraint(),
        _ => None,
    }
}

/// The message shown when an edit arrives over a newer one.
pub const STALE_MESSAGE: &str = "Someone else changed this record after you opened it. Your changes were not saved: the form now shows the current values; make your changes again.";

/// An idempotency key as a request claims it: for one operation, by one user, for one request
/// (its fingerprint: the parsed command as text). The same key again with the same request is
/// the same submission; with another request or from another user it is a mistake, refused.
#[derive(Debug, Clone)]
pub struct Claim<'a> {
    pub key: uuid::Uuid,
    pub operation: &'a str,
    pub user: Option<uuid::Uuid>,
    pub request: String,
}

impl<'a> Claim<'a> {
    pub fn new(key: uuid::Uuid, operation: &'a str, user: Option<uuid::Uuid>, request: &impl std::fmt::Debug) -> Self {
        Claim { key, operation, user, request: format!("{request:?}") }
    }
}

/// Claims a create form's idempotency key for the record `id` about to be inserted. Returns the
/// id of the record an earlier submission of the same form created, in which case nothing is written.
pub async fn claim_create(
    tx: &mut sqlx::PgConnection,
    claim: &Claim<'_>,
    id: uuid::Uuid,
) -> Result<Option<uuid::Uuid>, SaveError> {
    match claim_idempotency_key(tx, claim, &id.to_string()).await? {
        None => Ok(None),
        Some(earlier) => earlier.parse().map(Some).map_err(|_| {
            SaveError::Other(Error::Conflict("This form was already used for something else; reload the page.".into()))
        }),
    }
}

/// The key of a line's field errors: `line3` for the third row (`i` counts from 0).
pub fn line_key(i: usize) -> Cow<'static, str> {
    Cow::Owned(format!("line{}", i + 1))
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

/// Claims the key inside `tx`. Returns the earlier result when the same request by the same user
/// used it already (a double click or a resubmitted form), in which case nothing must be written;
/// refuses the key (422) when it came with another request or from another user.
pub async fn claim_idempotency_key(
    tx: &mut sqlx::PgConnection,
    claim: &Claim<'_>,
    result: &str,
) -> Result<Option<String>, SaveError> {
    use sha2::{Digest, Sha256};
    let fingerprint = Sha256::digest(format!("{}\n{}", claim.operation, claim.request).as_bytes()).to_vec();
    let inserted = sqlx::query(
        "insert into idempotency_keys (key, operation, result, user_id, request_hash) values ($1, $2, $3, $4, $5)
         on conflict (key) do nothing",
    )
    .bind(claim.key)
    .bind(claim.operation)
    .bind(result)
    .bind(claim.user)
    .bind(&fingerprint)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted == 1 {
        return Ok(None);
    }
    let (earlier, user, hash): (String, Option<uuid::Uuid>, Option<Vec<u8>>) =
        sqlx::query_as("select result, user_id, request_hash from idempotency_keys where key = $1")
            .bind(claim.key)
            .fetch_one(&mut *tx)
            .await?;
    if user != claim.user || hash.as_deref() != Some(fingerprint.as_slice()) {
        return Err(SaveError::field(
            "idempotency_key",
            "This idempotency key was used already for another request: send a new key with each new request.",
        ));
    }
    Ok(Some(earlier))
}
