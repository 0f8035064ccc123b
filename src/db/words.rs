//! The domain's vocabulary (`domain::vocab`) as PostgreSQL text: each word is bound and read as
//! the TEXT its column stores (a CHECK there lists the same words), never as a PostgreSQL enum,
//! whose values cannot be dropped later.

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgHasArrayType, PgTypeInfo, PgValueRef};
use sqlx::{Decode, Encode, Postgres, Type};

use crate::domain::vocab::{
    CheckLevel, DateKind, Dimension, Disposition, LocationKind, MaterialKind, MovementKind, Permission, RecallClass,
    RecallDecision,
};

macro_rules! stored_as_text {
    ($($t:ty),+) => {$(
        impl Type<Postgres> for $t {
            fn type_info() -> PgTypeInfo {
                <&str as Type<Postgres>>::type_info()
            }

            fn compatible(ty: &PgTypeInfo) -> bool {
                <&str as Type<Postgres>>::compatible(ty)
            }
        }

        impl PgHasArrayType for $t {
            fn array_type_info() -> PgTypeInfo {
                <&str as PgHasArrayType>::array_type_info()
            }
        }

        impl Encode<'_, Postgres> for $t {
            fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
                <&str as Encode<Postgres>>::encode(self.as_str(), buf)
            }
        }

        impl<'r> Decode<'r, Postgres> for $t {
            fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
                Ok(<&str as Decode<Postgres>>::decode(value)?.parse()?)
            }
        }
    )+};
}

stored_as_text!(
    MovementKind,
    Disposition,
    MaterialKind,
    LocationKind,
    RecallClass,
    CheckLevel,
    RecallDecision,
    Permission,
    Dimension,
    DateKind
);

/// Every word of the vocabulary with the column that stores it, for the test that compares them
/// with the database's CHECKs and rows.
pub fn all() -> Vec<(&'static str, Vec<&'static str>)> {
    fn words<T: Copy>(all: &[T], text: fn(T) -> &'static str) -> Vec<&'static str> {
        all.iter().map(|w| text(*w)).collect()
    }
    vec![
        (MovementKind::COLUMN, words(MovementKind::ALL, MovementKind::as_str)),
        (Disposition::COLUMN, words(Disposition::ALL, Disposition::as_str)),
        (MaterialKind::COLUMN, words(MaterialKind::ALL, MaterialKind::as_str)),
        (LocationKind::COLUMN, words(LocationKind::ALL, LocationKind::as_str)),
        (RecallClass::COLUMN, words(RecallClass::ALL, RecallClass::as_str)),
        (CheckLevel::COLUMN, words(CheckLevel::ALL, CheckLevel::as_str)),
        (RecallDecision::COLUMN, words(RecallDecision::ALL, RecallDecision::as_str)),
        (Permission::COLUMN, words(Permission::ALL, Permission::as_str)),
        (Dimension::COLUMN, words(Dimension::ALL, Dimension::as_str)),
        (DateKind::COLUMN, words(DateKind::ALL, DateKind::as_str)),
    ]
}
