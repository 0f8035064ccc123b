//! Stock operations: each one transaction that moves stock through the ledger and writes its
//! genealogy, called alike by pages, the API, the CLI and the importer.

pub mod counts;
pub mod moves;
pub mod production;
pub mod receive;
pub mod returns;
pub mod ship;
pub mod split;

use std::sync::LazyLock;

use chrono::NaiveDate;
use uuid::Uuid;

use crate::domain::status::{LotState, OPEN_HOLDS_SQL, PAST_RECALLS_SQL, RECALLED_SQL};

/// What consumption and shipping ask of a lot before stock leaves it (`domain::status::usable`),
/// and the real recalls whose scope it was ever in (a warning, even after its release).
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct LotFacts {
    pub id: Uuid,
    pub code: String,
    pub material_code: String,
    pub disposition: String,
    pub open_holds: i64,
    pub recalled: bool,
    pub expires_on: Option<NaiveDate>,
    /// Numbers of real recalls whose scope held this lot, comma-separated ('' if none).
    pub recalls: String,
}

impl LotFacts {
    pub fn state(&self) -> LotState<'_> {
        LotState {
            code: &self.code,
            disposition: &self.disposition,
            open_holds: self.open_holds,
            recalled: self.recalled,
            expires_on: self.expires_on,
        }
    }

    /// The warning a user sees when stock of a lot that was recalled leaves it, if it was.
    pub fn recall_warning(&self) -> Option<String> {
        (!self.recalls.is_empty()).then(|| format!("Lot {} was in the scope of recall {}.", self.code, self.recalls))
    }
}

/// `LotFacts` of lots `l`; callers add the `where`.
pub(crate) static LOT_FACTS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "select l.id, l.code, m.code as material_code, l.disposition, l.expires_on, {OPEN_HOLDS_SQL} as open_holds,
                {RECALLED_SQL} as recalled,
                {PAST_RECALLS_SQL} as recalls
           from lots l join materials m on m.id = l.material_id"
    )
});
