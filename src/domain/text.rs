//! Parsing of form text into checked values, each failure a message for the user.

use rust_decimal::Decimal;

/// Whether a character may be typed into lotline: no control characters (tab, line breaks and —
/// in scans — the GS1 separator are read elsewhere) and no bidirectional overrides, which make
/// text read differently from what it is.
pub fn unprintable(c: char) -> bool {
    (c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
        || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Refuses text holding an unprintable character, naming it.
pub fn printable(value: &str, what: &str) -> Result<(), String> {
    match value.chars().find(|c| unprintable(*c)) {
        Some(c) => Err(format!("{what} holds a control character (U+{:04X}) that lotline does not accept.", c as u32)),
        None => Ok(()),
    }
}

/// A required text of at most `max` characters, trimmed.
pub fn required(value: &str, what: &str, max: usize) -> Result<String, String> {
    printable(value, what)?;
    let v = value.trim();
    if v.is_empty() {
        return Err(format!("{what} is required."));
    }
    if v.chars().count() > max {
        return Err(format!("{what} is at most {max} characters long."));
    }
    Ok(v.to_string())
}

/// An optional text of at most `max` characters, trimmed (empty stays empty).
pub fn optional(value: &str, what: &str, max: usize) -> Result<String, String> {
    printable(value, what)?;
    let v = value.trim();
    if v.chars().count() > max {
        return Err(format!("{what} is at most {max} characters long."));
    }
    Ok(v.to_string())
}

/// A record code: upper-case letters and digits, with `extra` punctuation allowed after the
/// first character, at most `max` long. Lower-case input is upper-cased (scanners and tablets).
pub fn code(value: &str, what: &str, max: usize, extra: &str) -> Result<String, String> {
    let v = value.trim().to_ascii_uppercase();
    if v.is_empty() {
        return Err(format!("{what} is required."));
    }
    if v.chars().count() > max {
        return Err(format!("{what} is at most {max} characters long."));
    }
    if let Some(bad) = v.chars().find(|c| !(c.is_ascii_uppercase() || c.is_ascii_digit() || extra.contains(*c))) {
        let allowed = if extra.is_empty() {
            String::new()
        } else {
            format!(" and {}", extra.chars().map(|c| format!("“{c}”")).collect::<Vec<_>>().join(" "))
        };
        return Err(format!("{what} may use letters A–Z, digits{allowed}; “{bad}” is not allowed."));
    }
    if !v.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(format!("{what} starts with a letter or a digit."));
    }
    Ok(v)
}

/// A required positive decimal, as `positive_decimal` checks it.
pub fn required_decimal(value: &str, what: &str) -> Result<Decimal, String> {
    positive_decimal(value, what)?.ok_or_else(|| format!("{what} is required."))
}

/// An optional positive decimal with at most 6 decimal places (NUMERIC(20,6)).
pub fn positive_decimal(value: &str, what: &str) -> Result<Option<Decimal>, String> {
    let v = value.trim();
    if v.is_empty() {
        return Ok(None);
    }
    if v.contains(',') {
        return Err(format!("{what} uses a point as the decimal separator, such as 12.5."));
    }
    let plain = v.strip_prefix(['-', '+']).unwrap_or(v);
    if plain.is_empty() || !plain.chars().all(|c| c.is_ascii_digit() || c == '.') || plain.matches('.').count() > 1 {
        return Err(format!("{what} must be a number, such as 12.5."));
    }
    let d: Decimal = v.parse().map_err(|_| format!("{what} must be a number, such as 12.5."))?;
    if d <= Decimal::ZERO {
        return Err(format!("{what} must be greater than zero."));
    }
    if d.normalize().scale() > 6 {
        return Err(format!("{what} has at most 6 decimal places."));
    }
    if d >= Decimal::from(100_000_000_000_000i64) {
        return Err(format!("{what} is too large."));
    }
    Ok(Some(d.normalize()))
}

/// A decimal that may be zero (empty means zero), with at most 6 decimal places.
pub fn non_negative_decimal(value: &str, what: &str) -> Result<Decimal, String> {
    let v = value.trim();
    match v.parse::<Decimal>() {
        _ if v.is_empty() => Ok(Decimal::ZERO),
        Ok(d) if d.is_zero() => Ok(Decimal::ZERO),
        Ok(d) if d.is_sign_negative() => Err(format!("{what} cannot be negative.")),
        _ => positive_decimal(v, what).map(Option::unwrap_or_default),
    }
}

/// An optional whole number within `min..=max`.
pub fn optional_int(value: &str, what: &str, min: i64, max: i64) -> Result<Option<i64>, String> {
    let v = value.trim();
    if v.is_empty() {
        return Ok(None);
    }
    let n: i64 = v.parse().map_err(|_| format!("{what} must be a whole number."))?;
    if n < min || n > max {
        return Err(format!("{what} must be between {min} and {max}."));
    }
    Ok(Some(n))
}

/// An optional e-mail address (a light check: something@domain.tld, no spaces).
pub fn optional_email(value: &str) -> Result<String, String> {
    let v = value.trim();
    if v.is_empty() {
        return Ok(String::new());
    }
    let ok = v.len() <= 254
        && !v.contains(char::is_whitespace)
        && !v.chars().any(unprintable)
        && v.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.')
        });
    if ok { Ok(v.to_string()) } else { Err("This is not an e-mail address (name@example.com).".into()) }
}

/// An optional ISO 3166-1 alpha-2 country code.
pub fn optional_country(value: &str) -> Result<Option<String>, String> {
    let v = value.trim().to_ascii_uppercase();
    if v.is_empty() {
        return Ok(None);
    }
    if v.len() == 2 && v.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(Some(v))
    } else {
        Err("Use the two-letter country code (ISO 3166), such as DE or US.".into())
    }
}

/// Percent-encodes everything but the unreserved characters (`A-Z a-z 0-9 - . _ ~`): safe in a
/// URI path segment or query value (GS1 Digital Link asks exactly this).
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Undoes percent-encoding; None for a malformed escape or bytes that are not UTF-8.
pub fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_upper_cased_and_checked() {
        assert_eq!(code(" flour-01 ", "Code", 20, "-").unwrap(), "FLOUR-01");
        assert_eq!(code("", "Code", 20, "-").unwrap_err(), "Code is required.");
        assert!(code("A B", "Code", 20, "-").unwrap_err().contains("“ ” is not allowed"));
        assert!(code("-A", "Code", 20, "-").unwrap_err().contains("starts with"));
        assert!(code(&"A".repeat(21), "Code", 20, "").unwrap_err().contains("at most 20"));
        assert!(code("É", "Code", 20, "").is_err());
    }

    #[test]
    fn decimals_are_exact_positive_and_bounded() {
        assert_eq!(positive_decimal("0.000001", "Mass").unwrap().unwrap().to_string(), "0.000001");
        assert_eq!(positive_decimal("12.50", "Mass").unwrap().unwrap().to_string(), "12.5");
        assert_eq!(positive_decimal("", "Mass").unwrap(), None);
        assert!(positive_decimal("0", "Mass").unwrap_err().contains("greater than zero"));
        assert!(positive_decimal("-1", "Mass").is_err());
        assert!(positive_decimal("1.0000001", "Mass").unwrap_err().contains("6 decimal places"));
        assert!(positive_decimal("abc", "Mass").unwrap_err().contains("must be a number"));
        assert!(positive_decimal("1e3", "Mass").is_err());
        assert!(positive_decimal("12,5", "Mass").unwrap_err().contains("decimal separator"));
        assert!(positive_decimal("1.2.3", "Mass").is_err());
        assert!(positive_decimal(".", "Mass").is_err());
    }

    #[test]
    fn whole_numbers_respect_their_range() {
        assert_eq!(optional_int("30", "Shelf life", 1, 36500).unwrap(), Some(30));
        assert!(optional_int("0", "Shelf life", 1, 36500).is_err());
        assert!(optional_int("2.5", "Shelf life", 1, 36500).is_err());
    }

    #[test]
    fn emails_and_countries_get_a_light_check() {
        assert!(optional_email("qa@mill.example").is_ok());
        assert!(optional_email("qa@mill").is_err());
        assert!(optional_email("a b@c.de").is_err());
        assert_eq!(optional_country("de").unwrap().as_deref(), Some("DE"));
        assert!(optional_country("DEU").is_err());
    }

    proptest::proptest! {
        /// Whatever is typed, every parser answers with a value or a message, never a panic, and
        /// nothing it accepts holds a control character or a direction override.
        #[test]
        fn any_text_is_parsed_or_refused_and_nothing_unprintable_gets_through(s in "\\PC{0,40}|[\\x00-\\x1f\\u{202a}-\\u{202e}a-z ]{0,40}") {
            for accepted in [required(&s, "It", 50), optional(&s, "It", 50), code(&s, "It", 20, "-._")].into_iter().flatten() {
                proptest::prop_assert!(!accepted.chars().any(unprintable), "{accepted:?}");
            }
            let _ = positive_decimal(&s, "It");
            let _ = non_negative_decimal(&s, "It");
            let _ = optional_int(&s, "It", 0, 100);
            let _ = optional_email(&s);
            let _ = optional_country(&s);
            let _ = percent_decode(&s);
            let _ = crate::domain::dates::parse(&s, "It");
        }

        #[test]
        fn an_accepted_decimal_has_at_most_six_places_and_is_positive(s in "-?[0-9]{0,22}(\\.[0-9]{0,9})?") {
            if let Ok(Some(d)) = positive_decimal(&s, "It") {
                proptest::prop_assert!(d > Decimal::ZERO && d.scale() <= 6);
            }
        }
    }
}
