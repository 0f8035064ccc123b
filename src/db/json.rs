//! Dates and times inside JSON that PostgreSQL built (`json_agg`, `row_to_json`), as serde reads
//! them. PostgreSQL writes a year before 1 as `0001-01-01 BC` and a year after 9999 with five
//! digits, which chrono's own readers refuse; a page must still render whatever is stored, so the
//! rows those pages read name these functions (`#[serde(deserialize_with = "…")]`).

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, Utc};
use serde::{Deserialize, Deserializer, de::Error};

/// The text without its era, a five-digit year signed as chrono reads it, and whether it is BC.
fn era(text: &str) -> (String, bool) {
    let (t, bc) = match text.strip_suffix(" BC") {
        Some(t) => (t, true),
        None => (text, false),
    };
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    (if digits > 4 { format!("+{t}") } else { t.to_string() }, bc)
}

/// Year `y` BC is astronomical year 1 − y.
fn before_christ<T: Datelike>(value: T, bc: bool) -> Option<T> {
    if bc { value.with_year(1 - value.year()) } else { Some(value) }
}

fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    let (t, bc) = era(text);
    let at = DateTime::<FixedOffset>::parse_from_str(&t, "%Y-%m-%dT%H:%M:%S%.f%:z").ok()?.with_timezone(&Utc);
    before_christ(at, bc)
}

fn parse_date(text: &str) -> Option<NaiveDate> {
    let (t, bc) = era(text);
    before_christ(NaiveDate::parse_from_str(&t, "%Y-%m-%d").ok()?, bc)
}

pub fn time<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    let text = String::deserialize(d)?;
    parse_time(&text).ok_or_else(|| D::Error::custom(format!("“{text}” is not a time")))
}

pub fn optional_time<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(text) => parse_time(&text).map(Some).ok_or_else(|| D::Error::custom(format!("“{text}” is not a time"))),
    }
}

pub fn date<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveDate, D::Error> {
    let text = String::deserialize(d)?;
    parse_date(&text).ok_or_else(|| D::Error::custom(format!("“{text}” is not a date")))
}

pub fn optional_date<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NaiveDate>, D::Error> {
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(text) => parse_date(&text).map(Some).ok_or_else(|| D::Error::custom(format!("“{text}” is not a date"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgresqls_json_times_read_back_including_bc_and_five_digit_years() {
        let t = parse_time("2026-12-07T17:09:09.713183+00:00").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-12-07T17:09:09.713183+00:00");
        assert_eq!(parse_time("2026-12-07T18:00:00+01:00").unwrap().to_rfc3339(), "2026-12-07T17:00:00+00:00");
        assert_eq!(parse_time("0001-01-01T12:00:00+00:00 BC").unwrap().year(), 0);
        assert_eq!(parse_date("0001-01-01 BC").unwrap().year(), 0);
        assert_eq!(parse_date("0044-03-15 BC").unwrap().year(), -43);
        assert_eq!(parse_date("10000-01-01").unwrap().year(), 10000);
        assert!(parse_date("yesterday").is_none());
    }
}
