//! The plant's vocabulary as types: each word the database stores (a movement's kind, a lot's
//! disposition, a recall's class…) is one enum here, with its stored text and the label people
//! read. The database keeps the same words in a CHECK (a test compares them), so adding one is
//! "one variant, one migration, the match arms the compiler points to".

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

/// Declares a closed set of stored words: the enum, its text in the database, its label for
/// people, parsing, `Display`, and serde as the stored text.
macro_rules! vocabulary {
    ($(#[$meta:meta])* pub enum $name:ident : $column:literal {
        $($(#[$vmeta:meta])* $variant:ident = $text:literal, $label:literal;)+
    }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            /// Every word, in the order people see them.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// The table and column that store it (`table.column`), whose CHECK lists the same words.
            pub const COLUMN: &'static str = $column;

            /// The word as stored.
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// The word as people read it.
            pub const fn label(self) -> &'static str {
                match self { $($name::$variant => $label),+ }
            }
        }

        impl FromStr for $name {
            type Err = UnknownWord;

            fn from_str(text: &str) -> Result<Self, UnknownWord> {
                match text {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownWord { what: stringify!($name), text: text.chars().take(40).collect() }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }
    };
}

/// A stored word lotline does not know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownWord {
    pub what: &'static str,
    pub text: String,
}

impl fmt::Display for UnknownWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} is not a {} lotline knows", self.text, self.what)
    }
}

impl std::error::Error for UnknownWord {}

vocabulary! {
    /// What a stock movement did. Its effect on a lot's mass balance is `ledger::Line::of`.
    pub enum MovementKind : "stock_movements.kind" {
        Receipt = "receipt", "received";
        Consume = "consume", "consumed";
        Produce = "produce", "produced";
        Ship = "ship", "shipped";
        Transfer = "transfer", "moved";
        Adjust = "adjust", "adjusted";
        Scrap = "scrap", "scrapped";
        Return = "return", "returned";
        Reversal = "reversal", "reversed";
        Count = "count", "counted";
        Split = "split", "split";
    }
}

impl MovementKind {
    /// Whether the movement must say why (a correction is never silent).
    pub const fn needs_reason(self) -> bool {
        matches!(self, MovementKind::Adjust | MovementKind::Scrap | MovementKind::Reversal | MovementKind::Count)
    }
}

vocabulary! {
    /// QA's decision on a lot.
    pub enum Disposition : "lots.disposition" {
        Quarantine = "quarantine", "quarantine";
        Released = "released", "released";
        Rejected = "rejected", "rejected";
    }
}

vocabulary! {
    /// What a unit of measure measures; units of one dimension convert into each other.
    pub enum Dimension : "units.dimension" {
        Mass = "mass", "mass";
        Volume = "volume", "volume";
        Count = "count", "count";
    }
}

vocabulary! {
    /// What a material is in the plant's flow.
    pub enum MaterialKind : "materials.kind" {
        Raw = "raw", "raw material";
        Packaging = "packaging", "packaging";
        Intermediate = "intermediate", "intermediate";
        Finished = "finished", "finished good";
    }
}

vocabulary! {
    /// What the date on a lot of the material means: the last day it is safe (use by, GS1 AI 17)
    /// or the last day of its best quality (best before, AI 15).
    pub enum DateKind : "materials.date_kind" {
        UseBy = "use_by", "Use by";
        BestBefore = "best_before", "Best before";
    }
}

impl DateKind {
    /// The GS1 Application Identifier the date travels in.
    pub const fn ai(self) -> &'static str {
        match self {
            DateKind::UseBy => "17",
            DateKind::BestBefore => "15",
        }
    }

    /// The EPCIS lot master data attribute that carries it.
    pub const fn ilmd(self) -> &'static str {
        match self {
            DateKind::UseBy => "cbvmda:itemExpirationDate",
            DateKind::BestBefore => "cbvmda:bestBeforeDate",
        }
    }
}

vocabulary! {
    /// What a location inside a site is for.
    pub enum LocationKind : "locations.kind" {
        Storage = "storage", "storage";
        Receiving = "receiving", "receiving";
        Quarantine = "quarantine", "quarantine";
        Production = "production", "production";
        Shipping = "shipping", "shipping";
    }
}

vocabulary! {
    /// FDA's recall classes, by the hazard: I the most serious.
    pub enum RecallClass : "recalls.class" {
        I = "I", "Class I: a reasonable probability of serious adverse health consequences or death";
        II = "II", "Class II: temporary or medically reversible consequences, or a remote probability of serious ones";
        III = "III", "Class III: not likely to cause adverse health consequences";
    }
}

impl RecallClass {
    /// The effectiveness-check level a class starts with; QA may choose another when opening.
    pub const fn default_check_level(self) -> CheckLevel {
        match self {
            RecallClass::I => CheckLevel::A,
            RecallClass::II => CheckLevel::B,
            RecallClass::III => CheckLevel::C,
        }
    }
}

vocabulary! {
    /// How deep a recall's effectiveness checks go (21 CFR 7.42(b)(3)): A every consignee, B a
    /// share above Q, C a share below it, D 2 %, E none.
    pub enum CheckLevel : "recalls.check_level" {
        A = "A", "A: every consignee (100 %)";
        B = "B", "B: a share above 10 % of consignees, set for the case";
        C = "C", "C: 10 % of consignees";
        D = "D", "D: 2 % of consignees";
        E = "E", "E: no effectiveness checks";
    }
}

impl CheckLevel {
    /// How many of `consignees` must be checked at this level; `b_percent` is the share set for a
    /// level-B case (above 10, below 100).
    pub fn required_checks(self, consignees: usize, b_percent: Option<Decimal>) -> usize {
        let percent = match self {
            CheckLevel::A => Decimal::ONE_HUNDRED,
            CheckLevel::B => b_percent.unwrap_or(Decimal::from(B_DEFAULT_PERCENT)),
            CheckLevel::C => Decimal::TEN,
            CheckLevel::D => Decimal::TWO,
            CheckLevel::E => Decimal::ZERO,
        };
        (Decimal::from(consignees) * percent / Decimal::ONE_HUNDRED).ceil().to_usize().unwrap_or(consignees)
    }
}

/// The share of consignees a level-B case checks unless QA sets another.
pub const B_DEFAULT_PERCENT: u32 = 25;

vocabulary! {
    /// What QA decides for a lot a closed recall still holds (each decision signed).
    pub enum RecallDecision : "recall_decisions.decision" {
        Release = "release", "Release: fit for use, with the justification";
        Rework = "rework", "Rework: back to quarantine for a rework run";
        Destroy = "destroy", "Destroy: rejected, to be scrapped";
        ReturnToSupplier = "return_to_supplier", "Return to the supplier: rejected, to be sent back";
    }
}

vocabulary! {
    /// What a role allows. Roles are rows (`role_permissions`); the application checks these,
    /// never role names.
    pub enum Permission : "permissions.code" {
        LotsRead = "lots.read", "See lots, stock, traces and documents";
        StockReceive = "stock.receive", "Receive goods from suppliers";
        StockProduce = "stock.produce", "Open production runs and post inputs and outputs";
        StockShip = "stock.ship", "Ship to customers and take returns";
        StockMove = "stock.move", "Transfer, adjust and scrap stock";
        StockCountPost = "stock.count.post", "Post stock-count variances as adjustments";
        QaDecide = "qa.decide", "Release, reject, hold and lift holds on lots";
        QaRecord = "qa.record", "Record inspections, tests and certificates";
        RecallsManage = "recalls.manage", "Open, run and close recalls";
        MasterEdit = "master.edit", "Edit sites, locations, materials and parties";
        RulesEdit = "rules.edit", "Edit lot-number rules";
        UsersManage = "users.manage", "Manage users, roles and tokens";
        AuditRead = "audit.read", "Read the audit trail";
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_reads_back_as_itself() {
        for k in MovementKind::ALL {
            assert_eq!(k.as_str().parse::<MovementKind>(), Ok(*k));
        }
        for p in Permission::ALL {
            assert_eq!(p.as_str().parse::<Permission>(), Ok(*p));
        }
        for c in RecallClass::ALL {
            assert_eq!(serde_json::to_string(c).unwrap(), format!("\"{}\"", c.as_str()));
            assert_eq!(serde_json::from_str::<RecallClass>(&format!("\"{c}\"")).unwrap(), *c);
        }
    }

    #[test]
    fn a_recall_class_starts_at_its_check_level_and_counts_checks_up() {
        assert_eq!(RecallClass::I.default_check_level(), CheckLevel::A);
        assert_eq!(RecallClass::II.default_check_level(), CheckLevel::B);
        assert_eq!(CheckLevel::A.required_checks(7, None), 7);
        assert_eq!(CheckLevel::B.required_checks(11, Some(Decimal::from(50))), 6, "50 % of 11, rounded up");
        assert_eq!(CheckLevel::B.required_checks(12, None), 3, "25 % unless the case sets another share");
        assert_eq!(CheckLevel::C.required_checks(11, None), 2, "10 % of 11, rounded up");
        assert_eq!(CheckLevel::D.required_checks(1, None), 1);
        assert_eq!(CheckLevel::E.required_checks(500, None), 0);
    }

    #[test]
    fn an_unknown_word_is_refused_with_what_it_is() {
        let e = "teleport".parse::<MovementKind>().unwrap_err();
        assert_eq!(e.to_string(), "\"teleport\" is not a MovementKind lotline knows");
        assert!("Released".parse::<Disposition>().is_err(), "words are stored in lower case");
    }
}
