//! Lot status rules: what a lot's state is called, and whether it may be consumed or shipped.

use chrono::NaiveDate;

/// What is known about a lot when deciding whether stock may leave it.
#[derive(Debug, Clone, Copy)]
pub struct LotState<'a> {
    pub code: &'a str,
    pub disposition: &'a str,
    pub open_holds: i64,
    pub recalled: bool,
    pub expires_on: Option<NaiveDate>,
}

/// Whether stock of the lot may be consumed or shipped on `date` (the movement's own date), or why not.
pub fn usable(lot: &LotState, date: NaiveDate) -> Result<(), String> {
    let code = lot.code;
    if lot.recalled {
        return Err(format!("Lot {code} is recalled: it cannot be used or shipped."));
    }
    match lot.disposition {
        "quarantine" => return Err(format!("Lot {code} is in quarantine: QA must release it first.")),
        "rejected" => return Err(format!("Lot {code} was rejected by QA: it cannot be used or shipped.")),
        _ => {}
    }
    if lot.open_holds > 0 {
        return Err(format!("Lot {code} is on hold: QA must lift the hold first."));
    }
    if let Some(expiry) = lot.expires_on
        && expiry < date
    {
        return Err(format!("Lot {code} expired on {expiry}: it cannot be used or shipped."));
    }
    Ok(())
}

/// The one word a badge shows: recalled, rejected, on hold, quarantine, expired or released.
pub fn label(lot: &LotState, today: NaiveDate) -> &'static str {
    if lot.recalled {
        "recalled"
    } else if lot.disposition == "rejected" {
        "rejected"
    } else if lot.open_holds > 0 {
        "on hold"
    } else if lot.disposition == "quarantine" {
        "quarantine"
    } else if lot.expires_on.is_some_and(|e| e < today) {
        "expired"
    } else {
        "released"
    }
}

/// The same rule as `label`, as an SQL expression over a lot `l`, for queries that list many lots.
/// "Today" is the lot's site's date (`site_today`), as everywhere. A test runs both spellings
/// over every combination and compares them.
pub const STATUS_SQL: &str = "case
    when exists (select 1 from lot_holds h where h.lot_id = l.id and h.closed_at is null and h.source = 'recall') then 'recalled'
    when l.disposition = 'rejected' then 'rejected'
    when exists (select 1 from lot_holds h where h.lot_id = l.id and h.closed_at is null) then 'on hold'
    when l.disposition = 'quarantine' then 'quarantine'
    when l.expires_on < site_today(l.site_id) then 'expired'
    else 'released' end";

/// Whether lot `l` is recalled, as SQL: an open hold a real recall placed (drills place none).
/// It stays open after the recall closes, until QA records a signed decision on the lot.
pub const RECALLED_SQL: &str =
    "exists (select 1 from lot_holds h where h.lot_id = l.id and h.closed_at is null and h.source = 'recall')";

/// The real recalls whose scope ever held lot `l`, as SQL: their numbers, comma-separated, or ''.
/// Stock leaving such a lot warns, and reversing what left it is QA's signed act.
pub const PAST_RECALLS_SQL: &str = "coalesce((select string_agg(rc.number, ', ' order by rc.number)
      from recall_lots x join recalls rc on rc.id = x.recall_id
     where x.lot_id = l.id and not x.excluded and not rc.mock), '')";

/// Lot `l`'s open holds, as SQL.
pub const OPEN_HOLDS_SQL: &str = "(select count(*) from lot_holds h where h.lot_id = l.id and h.closed_at is null)";

/// The same rule as `usable` today, as an SQL condition over a lot `l`: the lots FEFO may suggest.
/// (An open recall always holds its lots, so "no open hold" covers "not recalled".)
pub const USABLE_SQL: &str = "l.disposition = 'released'
    and (l.expires_on is null or l.expires_on >= site_today(l.site_id))
    and not exists (select 1 from lot_holds h where h.lot_id = l.id and h.closed_at is null)";

#[cfg(test)]
mod tests {
    use super::*;

    fn lot(disposition: &str, holds: i64, recalled: bool, expires: Option<&str>) -> LotState<'static> {
        let disposition: &'static str = Box::leak(disposition.to_string().into_boxed_str());
        LotState {
            code: "L1",
            disposition,
            open_holds: holds,
            recalled,
            expires_on: expires.map(|e| e.parse().unwrap()),
        }
    }

    #[test]
    fn only_released_unheld_unexpired_lots_are_usable() {
        let day: NaiveDate = "2026-11-27".parse().unwrap();
        assert!(usable(&lot("released", 0, false, Some("2026-11-27")), day).is_ok(), "usable on its expiry day");
        assert!(
            usable(&lot("released", 0, false, Some("2026-11-26")), day).unwrap_err().contains("expired on 2026-11-26")
        );
        assert!(usable(&lot("quarantine", 0, false, None), day).unwrap_err().contains("quarantine"));
        assert!(usable(&lot("rejected", 0, false, None), day).unwrap_err().contains("rejected"));
        assert!(usable(&lot("released", 1, false, None), day).unwrap_err().contains("on hold"));
        assert!(usable(&lot("released", 1, true, None), day).unwrap_err().contains("recalled"));
    }

    #[test]
    fn the_badge_names_the_most_serious_state() {
        let day: NaiveDate = "2026-11-27".parse().unwrap();
        assert_eq!(label(&lot("released", 1, true, None), day), "recalled");
        assert_eq!(label(&lot("rejected", 1, false, None), day), "rejected");
        assert_eq!(label(&lot("quarantine", 1, false, None), day), "on hold");
        assert_eq!(label(&lot("quarantine", 0, false, None), day), "quarantine");
        assert_eq!(label(&lot("released", 0, false, Some("2026-01-01")), day), "expired");
        assert_eq!(label(&lot("released", 0, false, None), day), "released");
    }
}
