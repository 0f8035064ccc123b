//! Dates a plant can mean. Every date that comes in (pages, API, import, EPCIS) passes here: a
//! year outside 2000–2100 is a typo, never a record, and a moment more than a few minutes ahead
//! of the server's clock has not happened yet. The database refuses the same range (migration
//! 0019), so a path that forgets this module still cannot store year 0.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};

/// The first and last years lotline accepts.
pub const FIRST_YEAR: i32 = 2000;
pub const LAST_YEAR: i32 = 2100;

/// How far ahead of the server's clock a moment may be (clocks on the floor drift).
pub const CLOCK_SLACK: Duration = Duration::minutes(10);

/// Whether `date` lies in the years lotline accepts; the message names `what`.
pub fn in_range(date: NaiveDate, what: &str) -> Result<NaiveDate, String> {
    if (FIRST_YEAR..=LAST_YEAR).contains(&date.year()) {
        Ok(date)
    } else {
        Err(format!("{what} must lie between {FIRST_YEAR} and {LAST_YEAR}; {date} is not a date lotline can record."))
    }
}

/// An optional date typed as `2026-01-31`, in range (empty is `None`).
pub fn parse(value: &str, what: &str) -> Result<Option<NaiveDate>, String> {
    let v = value.trim();
    if v.is_empty() {
        return Ok(None);
    }
    let date =
        NaiveDate::parse_from_str(v, "%Y-%m-%d").map_err(|_| format!("{what} must be a date such as 2026-01-31."))?;
    in_range(date, what).map(Some)
}

/// A date that is not after `today` (the site's date), in range.
pub fn not_after(date: NaiveDate, today: NaiveDate, what: &str) -> Result<NaiveDate, String> {
    let date = in_range(date, what)?;
    if date > today {
        return Err(format!("{what} cannot be in the future: today is {today} at the site, not {date}."));
    }
    Ok(date)
}

/// A moment that has happened: in range and at most `CLOCK_SLACK` ahead of `now`.
pub fn happened(at: DateTime<Utc>, now: DateTime<Utc>, what: &str) -> Result<DateTime<Utc>, String> {
    in_range(at.date_naive(), what)?;
    if at > now + CLOCK_SLACK {
        return Err(format!(
            "{what} cannot be in the future: {} is later than now ({}).",
            at.format("%Y-%m-%d %H:%M UTC"),
            now.format("%Y-%m-%d %H:%M UTC")
        ));
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    #[test]
    fn years_outside_2000_to_2100_are_refused_with_the_date() {
        assert_eq!(parse("2000-01-01", "The date"), Ok(Some(d("2000-01-01"))));
        assert_eq!(parse("2100-12-31", "The date"), Ok(Some(d("2100-12-31"))));
        assert!(parse("0000-01-01", "The date").unwrap_err().contains("between 2000 and 2100"));
        assert!(parse("1900-01-01", "The date").unwrap_err().contains("1900-01-01"));
        assert!(parse("2101-01-01", "The date").is_err());
        assert_eq!(parse("  ", "The date"), Ok(None));
        assert!(parse("31/01/2026", "The date").unwrap_err().contains("such as 2026-01-31"));
    }

    #[test]
    fn a_date_may_be_today_but_not_tomorrow() {
        let today = d("2026-12-07");
        assert!(not_after(today, today, "The date").is_ok());
        assert!(not_after(d("2026-12-08"), today, "The date").unwrap_err().contains("in the future"));
    }

    #[test]
    fn a_moment_may_run_ten_minutes_ahead_of_the_clock_and_no_more() {
        let now: DateTime<Utc> = "2026-12-07T12:00:00Z".parse().unwrap();
        assert!(happened(now + Duration::minutes(10), now, "The time").is_ok());
        assert!(happened(now + Duration::minutes(11), now, "The time").is_err());
        assert!(happened("1999-12-31T23:59:59Z".parse().unwrap(), now, "The time").is_err());
    }
}
