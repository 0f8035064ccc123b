//! Recalls as cases: opened (signed) on suspect lots, or on a supplier's lot code; scoped by the
//! forward trace and frozen as a snapshot in the transaction that places the holds; notified,
//! accounted for customer by customer; closed (signed). Each step is one audited transaction.
//!
//! The scope is consistent with the holds because of the recall gate (migration 0008): a real
//! recall takes an advisory lock that every posting of movements or genealogy links takes shared,
//! so while the scope is computed nothing can be consumed, produced or shipped, and once the
//! recall commits every posting sees its holds.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::audit::Person;
use crate::audit::{self, Entry};
use crate::documents::sheet::Sheet;
use crate::domain::balance::MassBalance;
use crate::domain::text;
use crate::domain::vocab::{CheckLevel, Disposition, RecallClass, RecallDecision};
use crate::error::Error;
use crate::save::{Claim, FieldErrors, SaveError, claim_idempotency_key};
use crate::trace::{self, Direction, Mode};

/// The advisory lock key of the recall gate (migration 0008).
const GATE: i64 = 7201;

mod case;
mod close;
mod customers;
mod exports;
mod open;
mod scope;

pub use case::*;
pub use close::*;
pub use customers::*;
pub use exports::*;
pub use open::*;
pub use scope::*;
