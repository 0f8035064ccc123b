//! A lot's mass balance: where its quantity went, by the one rule that says which line of the
//! balance each movement kind feeds. The lot page, recall scopes and reports all fold the
//! ledger through [`MassBalance::add`]; none counts kinds of its own.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::vocab::MovementKind;

/// A line of the mass balance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line {
    Received,
    Produced,
    Returned,
    Consumed,
    Shipped,
    Scrapped,
    Adjusted,
    /// Moved between locations: nets to zero for the lot, shown apart, never an adjustment.
    Transferred,
}

impl Line {
    /// The line a movement of `kind` feeds; `inflow` says whether it brought stock in (a split
    /// and a return go either way). A reversal is not a kind of its own here: it feeds the line of
    /// the movement it reverses, with the opposite sign, so a reversed shipment is no longer shipped.
    pub const fn of(kind: MovementKind, inflow: bool) -> Line {
        match kind {
            MovementKind::Receipt => Line::Received,
            MovementKind::Produce => Line::Produced,
            MovementKind::Split if inflow => Line::Produced,
            MovementKind::Split | MovementKind::Consume => Line::Consumed,
            MovementKind::Return if inflow => Line::Returned,
            // Returned to the supplier: it left us, as a shipment does.
            MovementKind::Return | MovementKind::Ship => Line::Shipped,
            MovementKind::Scrap => Line::Scrapped,
            MovementKind::Adjust | MovementKind::Count | MovementKind::Reversal => Line::Adjusted,
            MovementKind::Transfer => Line::Transferred,
        }
    }
}

/// Made + returned − consumed − shipped − scrapped + adjusted + transferred = on hand, when the
/// ledger and the stock agree. Outflows are kept as positive amounts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MassBalance {
    pub received: Decimal,
    pub produced: Decimal,
    pub returned: Decimal,
    pub consumed: Decimal,
    pub shipped: Decimal,
    pub scrapped: Decimal,
    /// Adjustments and counts, signed.
    pub adjusted: Decimal,
    /// Transfers between locations, signed: zero unless a leg is missing.
    pub transferred: Decimal,
    pub on_hand: Decimal,
}

impl MassBalance {
    /// Adds `quantity` (signed, as the ledger stores it) moved by a movement of `kind`. For a
    /// reversal, `kind` and `inflow` are those of the movement it reverses.
    pub fn add(&mut self, kind: MovementKind, inflow: bool, quantity: Decimal) {
        match Line::of(kind, inflow) {
            Line::Received => self.received += quantity,
            Line::Produced => self.produced += quantity,
            Line::Returned => self.returned += quantity,
            Line::Consumed => self.consumed -= quantity,
            Line::Shipped => self.shipped -= quantity,
            Line::Scrapped => self.scrapped -= quantity,
            Line::Adjusted => self.adjusted += quantity,
            Line::Transferred => self.transferred += quantity,
        }
    }

    /// Received, produced, or split into it.
    pub fn made(&self) -> Decimal {
        self.received + self.produced
    }

    /// What the ledger says should be on hand.
    pub fn expected(&self) -> Decimal {
        self.made() + self.returned - self.consumed - self.shipped - self.scrapped + self.adjusted + self.transferred
    }

    /// On hand minus what the ledger expects: zero when they agree.
    pub fn difference(&self) -> Decimal {
        (self.on_hand - self.expected()).normalize()
    }

    pub fn agrees(&self) -> bool {
        self.difference().is_zero()
    }

    /// Every figure without trailing zeros, for display.
    pub fn normalized(mut self) -> MassBalance {
        for d in [
            &mut self.received,
            &mut self.produced,
            &mut self.returned,
            &mut self.consumed,
            &mut self.shipped,
            &mut self.scrapped,
            &mut self.adjusted,
            &mut self.transferred,
            &mut self.on_hand,
        ] {
            *d = d.normalize();
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use MovementKind::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn a_reversed_shipment_is_no_longer_shipped() {
        let mut b = MassBalance::default();
        b.add(Receipt, true, d("100"));
        b.add(Ship, false, d("-40"));
        // The reversal of the shipment: +40, counted under the kind it reverses.
        b.add(Ship, false, d("40"));
        b.on_hand = d("100");
        assert_eq!(b.shipped, Decimal::ZERO);
        assert_eq!(b.adjusted, Decimal::ZERO, "a reversal is not an adjustment");
        assert!(b.agrees());
    }

    #[test]
    fn a_transfer_nets_to_zero_and_is_never_adjusted() {
        let mut b = MassBalance::default();
        b.add(Receipt, true, d("10"));
        b.add(Transfer, false, d("-4"));
        b.add(Transfer, true, d("4"));
        b.on_hand = d("10");
        assert_eq!(b.transferred, Decimal::ZERO);
        assert_eq!(b.adjusted, Decimal::ZERO);
        assert!(b.agrees());
    }

    #[test]
    fn splits_and_returns_go_either_way() {
        let mut b = MassBalance::default();
        b.add(Split, true, d("5"));
        b.add(Split, false, d("-2"));
        b.add(Return, true, d("1"));
        b.add(Return, false, d("-1"));
        assert_eq!((b.produced, b.consumed, b.returned, b.shipped), (d("5"), d("2"), d("1"), d("1")));
        assert_eq!(b.expected(), d("3"));
    }

    #[test]
    fn a_difference_is_flagged() {
        let mut b = MassBalance::default();
        b.add(Receipt, true, d("10"));
        b.add(Count, false, d("-1.5"));
        b.on_hand = d("9");
        assert_eq!(b.adjusted, d("-1.5"));
        assert_eq!(b.difference(), d("0.5"));
        assert!(!b.agrees());
    }
}
