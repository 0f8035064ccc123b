//! Master data operations (sites, locations, materials, parties): parse input into checked
//! values, then write in one transaction. Pages, the JSON API, the CLI and the demo call these.

pub mod locations;
pub mod materials;
pub mod parties;
pub mod sites;

use sqlx::PgConnection;
use sqlx::postgres::PgRow;
use uuid::Uuid;

use crate::error::Error;
use crate::save::SaveError;

/// A record that carries an optimistic version.
pub trait Versioned {
    fn version(&self) -> i32;
}

/// Locks the record an edit is about (`sql` selects it by `$1 … for update`) and refuses the
/// edit when the record changed since the form was opened.
pub(crate) async fn lock_for_edit<T>(tx: &mut PgConnection, sql: String, id: Uuid, version: i32) -> Result<T, SaveError>
where
    T: for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin + Versioned,
{
    let current: T =
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&mut *tx).await?.ok_or(Error::NotFound)?;
    if current.version() != version {
        return Err(SaveError::Stale);
    }
    Ok(current)
}

/// The value of an HTML checkbox: present (any value) means ticked.
pub fn ticked(value: &Option<String>) -> bool {
    value.as_deref().is_some_and(|v| !v.is_empty() && v != "false" && v != "0")
}
