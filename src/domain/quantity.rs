//! Quantities with their unit: a decimal is only an amount of something in a unit of measure,
//! which says how fine it can be (a gram, a millilitre, a whole piece) and into which other
//! units of its dimension it converts exactly.

use std::fmt;

use rust_decimal::Decimal;

use super::vocab::Dimension;

/// A unit of measure, as the `units` table defines it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    pub code: String,
    pub dimension: Dimension,
    /// How many of the dimension's base unit (kg, L, piece) one of this unit is.
    pub to_base: Decimal,
}

/// The finest amount of each dimension's base unit a plant records: a gram, a millilitre, a piece.
/// Finer amounts are noise from a scale or a typing slip, not stock.
fn finest_base(dimension: Dimension) -> Decimal {
    match dimension {
        Dimension::Mass | Dimension::Volume => Decimal::new(1, 3),
        Dimension::Count => Decimal::ONE,
    }
}

impl Unit {
    pub fn new(code: &str, dimension: Dimension, to_base: Decimal) -> Unit {
        Unit { code: code.to_string(), dimension, to_base }
    }

    /// How many decimal places a quantity in this unit may carry: as many as keep one step of
    /// it at least the dimension's finest amount (kg: 3, g: 0, t: 6, lb: 2, ea: 0), at most the
    /// six the database stores.
    pub fn scale(&self) -> u32 {
        let finest = finest_base(self.dimension);
        (0..=6u32).rev().find(|&places| Decimal::new(1, places) * self.to_base >= finest).unwrap_or(0)
    }

    /// The smallest amount this unit records (one step of its scale).
    pub fn smallest(&self) -> Decimal {
        Decimal::new(1, self.scale())
    }
}

/// An exact amount in a unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quantity {
    pub amount: Decimal,
    pub unit: Unit,
}

impl Quantity {
    /// `amount` of `unit`, or why it is not one: finer than the unit records.
    pub fn new(amount: Decimal, unit: &Unit) -> Result<Quantity, String> {
        let amount = amount.normalize();
        if amount.scale() > unit.scale() {
            return Err(format!(
                "{} {} is finer than {} records: the smallest amount is {} {}.",
                amount,
                unit.code,
                unit.code,
                unit.smallest(),
                unit.code
            ));
        }
        Ok(Quantity { amount, unit: unit.clone() })
    }

    /// The same quantity in `other`, a unit of the same dimension, rounded to what `other`
    /// records; None across dimensions (kg and pieces compare only through a material's mass).
    pub fn to(&self, other: &Unit) -> Option<Quantity> {
        if other.dimension != self.unit.dimension {
            return None;
        }
        let amount = (self.amount * self.unit.to_base / other.to_base).round_dp(other.scale()).normalize();
        Some(Quantity { amount, unit: other.clone() })
    }

    /// The amount in the dimension's base unit (kg, L, pieces).
    pub fn in_base(&self) -> Decimal {
        (self.amount * self.unit.to_base).normalize()
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.amount.normalize(), self.unit.code)
    }
}

/// Words people and other systems use for lotline's units, beside each unit's code, name and
/// UN/ECE Recommendation 20 code.
const UNIT_WORDS: &[(&str, &[&str])] = &[
    ("ea", &["unit", "units", "pc", "pcs", "piece", "pieces", "each", "c62"]),
    ("kg", &["kgs", "kilo", "kilos", "kilogram", "kilograms"]),
    ("g", &["gr", "gram", "grams"]),
    ("t", &["ton", "tonne", "tonnes"]),
    ("lb", &["lbs", "pound", "pounds"]),
    ("L", &["l", "lt", "litre", "liter", "litres", "liters"]),
    ("mL", &["ml", "millilitre", "milliliter", "millilitres", "milliliters"]),
    ("case", &["cases", "cs"]),
    ("pallet", &["pallets", "plt"]),
];

/// The unit `typed` names among `units` (code, name, UN/ECE code): lotline's code or name in any
/// case, the UN/ECE code (KGM, LTR, H87), or a common word for it (pcs, each, kilos). The one rule
/// for the pages, the API and the import.
pub fn unit_named<'a>(typed: &str, units: &'a [(String, String, String)]) -> Option<&'a str> {
    let t = typed.trim().to_lowercase();
    if t.is_empty() {
        return None;
    }
    units
        .iter()
        .find(|(code, name, unece)| {
            code.to_lowercase() == t
                || name.to_lowercase() == t
                || unece.to_lowercase() == t
                || UNIT_WORDS.iter().any(|(c, words)| c == code && words.contains(&t.as_str()))
        })
        .map(|(code, _, _)| code.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_unit_is_known_by_its_code_name_un_ece_code_and_common_words() {
        let units: Vec<(String, String, String)> =
            [("kg", "kilogram", "KGM"), ("L", "litre", "LTR"), ("ea", "piece", "H87")]
                .iter()
                .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
                .collect();
        for (typed, want) in [
            ("kg", "kg"),
            ("KG", "kg"),
            ("KGM", "kg"),
            ("kilos", "kg"),
            ("l", "L"),
            ("LTR", "L"),
            ("unit", "ea"),
            ("Units", "ea"),
            ("pcs", "ea"),
            ("EA", "ea"),
            ("C62", "ea"),
            ("piece", "ea"),
        ] {
            assert_eq!(unit_named(typed, &units), Some(want), "{typed}");
        }
        assert_eq!(unit_named("furlong", &units), None);
        assert_eq!(unit_named(" ", &units), None);
    }

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn kg() -> Unit {
        Unit::new("kg", Dimension::Mass, Decimal::ONE)
    }

    #[test]
    fn each_unit_records_down_to_a_gram_a_millilitre_or_a_piece() {
        let units = [
            (kg(), 3),
            (Unit::new("g", Dimension::Mass, d("0.001")), 0),
            (Unit::new("t", Dimension::Mass, d("1000")), 6),
            (Unit::new("lb", Dimension::Mass, d("0.45359237")), 2),
            (Unit::new("mL", Dimension::Volume, d("0.001")), 0),
            (Unit::new("ea", Dimension::Count, Decimal::ONE), 0),
        ];
        for (unit, scale) in units {
            assert_eq!(unit.scale(), scale, "{}", unit.code);
        }
        assert_eq!(kg().smallest(), d("0.001"));
    }

    #[test]
    fn a_tenth_of_a_gram_is_not_a_consumption() {
        let e = Quantity::new(d("0.0001"), &kg()).unwrap_err();
        assert_eq!(e, "0.0001 kg is finer than kg records: the smallest amount is 0.001 kg.");
        assert!(Quantity::new(d("0.001"), &kg()).is_ok());
        assert!(Quantity::new(d("12.500000"), &kg()).is_ok(), "trailing zeros are not precision");
        let ea = Unit::new("ea", Dimension::Count, Decimal::ONE);
        assert!(Quantity::new(d("2.5"), &ea).is_err(), "pieces are whole");
    }

    #[test]
    fn conversions_stay_within_a_dimension_and_round_to_what_the_target_records() {
        let g = Unit::new("g", Dimension::Mass, d("0.001"));
        let lb = Unit::new("lb", Dimension::Mass, d("0.45359237"));
        let flour = Quantity::new(d("1.25"), &kg()).unwrap();
        assert_eq!(flour.to(&g).unwrap().to_string(), "1250 g");
        assert_eq!(flour.to(&lb).unwrap().to_string(), "2.76 lb");
        assert_eq!(flour.in_base(), d("1.25"));
        let litre = Unit::new("L", Dimension::Volume, Decimal::ONE);
        assert!(flour.to(&litre).is_none(), "kilograms are not litres");
    }
}
