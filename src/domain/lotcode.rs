//! The lot-number pattern language: parsing, validation and formatting, with no I/O.
//!
//! A pattern is literal text plus tokens in braces:
//!
//! | token | value |
//! |---|---|
//! | `{YYYY}` `{YY}` | the lot's year (its own date: production or receipt, possibly back-dated) |
//! | `{MM}` `{DD}` | month and day of month |
//! | `{JJJ}` | day of the year, 001–366 ("Julian" date) |
//! | `{WW}` | ISO week, 01–53 |
//! | `{SEQ}` `{SEQ:n}` | the sequence number, zero-padded to n digits (1–9) |
//! | `{MAT}` `{MAT:n}` | the material code (its first n characters) |
//! | `{SITE}` `{SITE:n}` | the site code |
//! | `{LINE}` `{LINE:n}` | the production line code |
//! | `{CHECK}` | one check character over the letters and digits before it (ISO/IEC 7064 MOD 37,36) |
//!
//! `{{` and `}}` stand for literal braces (which GS1 lot codes do not allow, so a rule using them
//! is refused; they exist so that a brace is never silently dropped).

use std::fmt;

use chrono::{Datelike, NaiveDate};

use super::gs1::is_cset82;

/// GS1 Application Identifier (10) holds at most 20 characters.
pub const MAX_CODE_LEN: usize = 20;
/// How a lot is known. Inward, by our code. Outward — on labels, in EPCIS events, in FSMA 204
/// records — by its traceability lot code: the supplier's own lot for what we received (FSMA 204
/// keeps a received lot's code; a new one is assigned only by a transformation, §1.1320), ours for
/// what we made. A scan, a search or a typed code may give either.
pub fn traceability_code<'a>(supplier_lot: Option<&'a str>, code: &'a str) -> &'a str {
    supplier_lot.map(str::trim).filter(|s| !s.is_empty()).unwrap_or(code)
}

/// The lot number a GS1 key carries (AI 10): the traceability lot code where GS1 can carry it (1
/// to 20 characters of CSET 82), else our own code, which always can.
pub fn outward<'a>(tlc: &'a str, code: &'a str) -> &'a str {
    if is_gs1_lot(tlc) { tlc } else { code }
}

/// Whether `text` fits GS1's AI (10): 1 to 20 characters of CSET 82.
pub fn is_gs1_lot(text: &str) -> bool {
    !text.is_empty() && text.chars().count() <= MAX_CODE_LEN && text.chars().all(is_cset82)
}

/// The GTIN lot `l` is known under, with its company-prefix length (columns `gtin`,
/// `company_prefix_length` of `g`): its material's smallest-pack GTIN that existed when the lot
/// was made. A GTIN added later names the lots made after it, so no label or EPCIS event of an
/// earlier lot changes; a GTIN that names lots cannot be removed (`materials::remove_gtin`).
pub const GTIN_LATERAL: &str = "left join lateral (select g.gtin, g.company_prefix_length from material_gtins g
     where g.material_id = l.material_id and g.created_at <= l.created_at
     order by g.units_per_pack, g.gtin limit 1) g on true";

/// The SQL condition that lot `l` is the one named `$param`, by our code or by its traceability
/// lot code, as people type them: any case, with or without dashes, dots or spaces (`lot_key`,
/// both indexed, migration 0036). Codes that differ only in their punctuation are all found, and
/// the person chooses.
pub fn named_sql(param: u8) -> String {
    format!("(lot_key(l.code) = lot_key(${param}) or lot_key(l.tlc) = lot_key(${param}))")
}

/// `{SEQ}` without a width prints the number as it is, up to this many digits.
const UNPADDED_SEQ_DIGITS: u8 = 9;
const MAT_MAX: u8 = 20;
const SITE_MAX: u8 = 8;
const LINE_MAX: u8 = 4;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    Literal(String),
    Year4,
    Year2,
    Month,
    Day,
    DayOfYear,
    IsoWeek,
    Seq(Option<u8>),
    Material(Option<u8>),
    Site(Option<u8>),
    Line(Option<u8>),
    Check,
}

impl Token {
    /// The most characters this token can put into a code.
    fn max_len(&self) -> usize {
        usize::from(match self {
            Token::Literal(s) => return s.chars().count(),
            Token::Year4 => 4,
            Token::Year2 | Token::Month | Token::Day | Token::IsoWeek => 2,
            Token::DayOfYear => 3,
            Token::Seq(w) => w.unwrap_or(UNPADDED_SEQ_DIGITS),
            Token::Material(n) => n.unwrap_or(MAT_MAX),
            Token::Site(n) => n.unwrap_or(SITE_MAX),
            Token::Line(n) => n.unwrap_or(LINE_MAX),
            Token::Check => 1,
        })
    }
}

/// How often the sequence starts again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reset {
    Never,
    Yearly,
    Monthly,
    Daily,
}

impl Reset {
    pub const ALL: [(Reset, &'static str, &'static str); 4] = [
        (Reset::Never, "never", "Never"),
        (Reset::Yearly, "yearly", "Every year"),
        (Reset::Monthly, "monthly", "Every month"),
        (Reset::Daily, "daily", "Every day"),
    ];

    pub fn parse(text: &str) -> Option<Reset> {
        Reset::ALL.iter().find(|(_, key, _)| *key == text).map(|(r, _, _)| *r)
    }

    pub fn key(&self) -> &'static str {
        Reset::ALL.iter().find(|(r, _, _)| r == self).map(|(_, k, _)| *k).unwrap_or("never")
    }

    pub fn label(&self) -> &'static str {
        Reset::ALL.iter().find(|(r, _, _)| r == self).map(|(_, _, l)| *l).unwrap_or("Never")
    }

    /// The period a lot's date falls in: sequences restart when it changes.
    pub fn period_key(&self, date: NaiveDate) -> String {
        match self {
            Reset::Never => String::new(),
            Reset::Yearly => format!("{:04}", date.year()),
            Reset::Monthly => format!("{:04}-{:02}", date.year(), date.month()),
            Reset::Daily => date.format("%Y-%m-%d").to_string(),
        }
    }
}

/// Why a pattern is refused: the message, and the character (1-based) where the problem starts
/// (0 when it concerns the pattern as a whole).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError {
    pub position: usize,
    pub message: String,
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.position > 0 {
            write!(f, "At character {}: {}", self.position, self.message)
        } else {
            f.write_str(&self.message)
        }
    }
}

fn err(position: usize, message: impl Into<String>) -> PatternError {
    PatternError { position, message: message.into() }
}

/// A parsed pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    tokens: Vec<Token>,
}

/// What a code is made from.
#[derive(Debug, Clone, Copy)]
pub struct Values<'a> {
    pub date: NaiveDate,
    pub material: &'a str,
    pub site: &'a str,
    pub line: Option<&'a str>,
}

const KNOWN: &str = "{YYYY} {YY} {MM} {DD} {JJJ} {WW} {SEQ} {SEQ:n} {MAT} {SITE} {LINE} {CHECK}";

impl Pattern {
    /// Parses `text` into tokens; refuses unknown or malformed tokens with their position.
    pub fn parse(text: &str) -> Result<Pattern, PatternError> {
        let chars: Vec<char> = text.chars().collect();
        let mut tokens = Vec::new();
        let mut literal = String::new();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            match c {
                '{' if chars.get(i + 1) == Some(&'{') => {
                    literal.push('{');
                    i += 2;
                }
                '}' if chars.get(i + 1) == Some(&'}') => {
                    literal.push('}');
                    i += 2;
                }
                '}' => return Err(err(i + 1, "a “}” closes no token; write }} for a literal brace.")),
                '{' => {
                    let Some(len) = chars[i + 1..].iter().position(|&c| c == '}') else {
                        return Err(err(i + 1, "a “{” opens a token that is never closed with “}”."));
                    };
                    let inner: String = chars[i + 1..i + 1 + len].iter().collect();
                    if inner.contains('{') {
                        return Err(err(i + 1, "a “{” opens a token that is never closed with “}”."));
                    }
                    if !literal.is_empty() {
                        tokens.push(Token::Literal(std::mem::take(&mut literal)));
                    }
                    tokens.push(token(&inner, i + 1)?);
                    i += len + 2;
                }
                _ => {
                    literal.push(c);
                    i += 1;
                }
            }
        }
        if !literal.is_empty() {
            tokens.push(Token::Literal(literal));
        }
        Ok(Pattern { tokens })
    }

    /// Parses and checks `text` for use with `reset`: everything a rule must satisfy.
    pub fn checked(text: &str, reset: Reset) -> Result<Pattern, PatternError> {
        let pattern = Pattern::parse(text)?;
        pattern.validate(text, reset)?;
        Ok(pattern)
    }

    fn validate(&self, text: &str, reset: Reset) -> Result<(), PatternError> {
        // Literal characters must be GS1's: find the first offender's position in the text.
        let mut position = 0;
        for c in text.chars() {
            position += 1;
            if c == '{' || c == '}' {
                continue;
            }
            if !is_cset82(c) && !in_token(text, position) {
                return Err(err(
                    position,
                    format!(
                        "“{c}” cannot be part of a GS1 lot code (AI 10). Use letters, digits and - . / _ (the safest), or other characters of GS1's 82-character set."
                    ),
                ));
            }
        }
        if self.tokens.iter().any(|t| matches!(t, Token::Literal(s) if s.contains(['{', '}']))) {
            return Err(err(0, "Braces cannot be part of a GS1 lot code (AI 10); remove {{ and }}."));
        }
        let seqs = self.tokens.iter().filter(|t| matches!(t, Token::Seq(_))).count();
        if seqs == 0 {
            return Err(err(
                0,
                "The pattern needs a {SEQ} (or {SEQ:n}) so that codes differ, such as {YY}{JJJ}-{SEQ:4}.",
            ));
        }
        if seqs > 1 {
            return Err(err(0, "{SEQ} may appear only once."));
        }
        let checks = self.tokens.iter().filter(|t| **t == Token::Check).count();
        if checks > 1 || (checks == 1 && self.tokens.last() != Some(&Token::Check)) {
            return Err(err(0, "{CHECK} may appear once, at the very end: it covers everything before it."));
        }
        let has = |f: fn(&Token) -> bool| self.tokens.iter().any(f);
        let year = has(|t| matches!(t, Token::Year2 | Token::Year4));
        let month = has(|t| matches!(t, Token::Month | Token::DayOfYear));
        let day = has(|t| matches!(t, Token::DayOfYear))
            || (has(|t| matches!(t, Token::Month)) && has(|t| matches!(t, Token::Day)));
        let missing = match reset {
            Reset::Daily if !(year && day) => {
                Some("day: the codes of one day would repeat the next day. Add {YY}{JJJ} or {YY}{MM}{DD}")
            }
            Reset::Monthly if !(year && month) => {
                Some("month: the codes of one month would repeat the next. Add {YY}{MM}")
            }
            Reset::Yearly if !year => Some("year: the codes of one year would repeat the next. Add {YY} or {YYYY}"),
            _ => None,
        };
        if let Some(m) = missing {
            return Err(err(
                0,
                format!("A {} reset needs the code to tell the {m}, or choose a longer reset period.", reset.key()),
            ));
        }
        let max = self.max_len();
        if max > MAX_CODE_LEN {
            return Err(err(
                0,
                format!(
                    "Codes from this pattern can be up to {max} characters long, and GS1 lot codes (AI 10) hold at most {MAX_CODE_LEN}. \
                     Shorten the literal text, give {{SEQ:n}} fewer digits, or take only part of a code with {{MAT:n}}, {{SITE:n}} or {{LINE:n}}."
                ),
            ));
        }
        Ok(())
    }

    pub fn max_len(&self) -> usize {
        self.tokens.iter().map(Token::max_len).sum()
    }

    /// The largest sequence number the pattern can print.
    pub fn max_seq(&self) -> u64 {
        let digits = self
            .tokens
            .iter()
            .find_map(|t| match t {
                Token::Seq(w) => Some(w.unwrap_or(UNPADDED_SEQ_DIGITS)),
                _ => None,
            })
            .unwrap_or(UNPADDED_SEQ_DIGITS);
        10u64.pow(u32::from(digits)) - 1
    }

    pub fn uses_line(&self) -> bool {
        self.tokens.iter().any(|t| matches!(t, Token::Line(_)))
    }

    /// Codes that could collide share a counter: the key names the value of every non-date
    /// variable in the pattern ({MAT}, {SITE}, {LINE}), as printed.
    pub fn scope_key(&self, v: &Values) -> String {
        let mut parts = Vec::new();
        for t in &self.tokens {
            match t {
                Token::Material(n) => parts.push(format!("MAT={}", take(v.material, *n))),
                Token::Site(n) => parts.push(format!("SITE={}", take(v.site, *n))),
                Token::Line(n) => parts.push(format!("LINE={}", take(v.line.unwrap_or(""), *n))),
                _ => {}
            }
        }
        parts.join("|")
    }

    /// The code for sequence number `seq`.
    pub fn format(&self, v: &Values, seq: u64) -> Result<String, String> {
        if seq > self.max_seq() {
            return Err(format!(
                "the sequence has reached {} and would outgrow its digits; widen {{SEQ:n}} or choose a shorter reset period",
                self.max_seq()
            ));
        }
        let mut out = String::new();
        for t in &self.tokens {
            match t {
                Token::Literal(s) => out.push_str(s),
                Token::Year4 => out.push_str(&format!("{:04}", v.date.year().rem_euclid(10_000))),
                Token::Year2 => out.push_str(&format!("{:02}", v.date.year().rem_euclid(100))),
                Token::Month => out.push_str(&format!("{:02}", v.date.month())),
                Token::Day => out.push_str(&format!("{:02}", v.date.day())),
                Token::DayOfYear => out.push_str(&format!("{:03}", v.date.ordinal())),
                Token::IsoWeek => out.push_str(&format!("{:02}", v.date.iso_week().week())),
                Token::Seq(Some(w)) => out.push_str(&format!("{seq:0width$}", width = usize::from(*w))),
                Token::Seq(None) => out.push_str(&seq.to_string()),
                Token::Material(n) => out.push_str(&take(v.material, *n)),
                Token::Site(n) => out.push_str(&take(v.site, *n)),
                Token::Line(n) => match v.line {
                    Some(line) => out.push_str(&take(line, *n)),
                    None => return Err("the pattern uses {LINE}, and this lot has no production line".into()),
                },
                Token::Check => {
                    let c = check_char(&out);
                    out.push(c);
                }
            }
        }
        if out.chars().count() > MAX_CODE_LEN || !out.chars().all(is_cset82) {
            return Err(format!("the code “{out}” is not a valid GS1 lot code"));
        }
        Ok(out)
    }
}

fn take(value: &str, n: Option<u8>) -> String {
    value.chars().take(n.map(usize::from).unwrap_or(usize::MAX)).collect()
}

/// Whether the 1-based character `position` of `text` lies inside a `{…}` token.
fn in_token(text: &str, position: usize) -> bool {
    let mut depth = false;
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() && i < position {
        match chars[i] {
            '{' if chars.get(i + 1) == Some(&'{') && !depth => i += 1,
            '}' if chars.get(i + 1) == Some(&'}') && !depth => i += 1,
            '{' => depth = true,
            '}' => depth = false,
            _ => {}
        }
        i += 1;
    }
    depth && chars.get(position - 1) != Some(&'}')
}

fn token(inner: &str, position: usize) -> Result<Token, PatternError> {
    let (name, width) = match inner.split_once(':') {
        Some((name, w)) => {
            let n: u8 = w.parse().map_err(|_| {
                err(
                    position,
                    format!("“{{{inner}}}”: the number after “:” must be a whole number such as {{{name}:4}}."),
                )
            })?;
            (name, Some(n))
        }
        None => (inner, None),
    };
    let widthless = |t: Token| {
        if width.is_some() {
            Err(err(position, format!("{{{name}}} takes no number: write {{{name}}}.")))
        } else {
            Ok(t)
        }
    };
    let bounded = |max: u8, make: fn(Option<u8>) -> Token| match width {
        Some(n) if n == 0 || n > max => Err(err(position, format!("in {{{name}:n}}, n is 1 to {max}."))),
        _ => Ok(make(width)),
    };
    match name {
        "YYYY" => widthless(Token::Year4),
        "YY" => widthless(Token::Year2),
        "MM" => widthless(Token::Month),
        "DD" => widthless(Token::Day),
        "JJJ" => widthless(Token::DayOfYear),
        "WW" => widthless(Token::IsoWeek),
        "CHECK" => widthless(Token::Check),
        "SEQ" => bounded(9, Token::Seq),
        "MAT" => bounded(MAT_MAX, Token::Material),
        "SITE" => bounded(SITE_MAX, Token::Site),
        "LINE" => bounded(LINE_MAX, Token::Line),
        _ => {
            let upper = name.to_ascii_uppercase();
            let hint = if upper != name
                && ["YYYY", "YY", "MM", "DD", "JJJ", "WW", "CHECK", "SEQ", "MAT", "SITE", "LINE"]
                    .contains(&upper.as_str())
            {
                format!(" Tokens are written in capitals: {{{upper}}}.")
            } else {
                String::new()
            };
            Err(err(
                position,
                format!(
                    "“{{{inner}}}” is not a token.{hint} The tokens are {KNOWN}; write {{{{ and }}}} for literal braces."
                ),
            ))
        }
    }
}

/// ISO/IEC 7064 MOD 37,36 (the hybrid system for alphanumerics): one character 0–9 or A–Z over
/// the letters and digits of `text` (lower case counts as upper case; other characters are skipped).
/// It catches every single-character error and every swap of two adjacent characters.
pub fn check_char(text: &str) -> char {
    const M: u32 = 36;
    let mut p = M;
    for c in text.chars() {
        let Some(v) = c.to_ascii_uppercase().to_digit(36) else { continue };
        let mut s = (p + v) % M;
        if s == 0 {
            s = M;
        }
        p = (s * 2) % (M + 1);
    }
    let check = (M + 1 - p) % M;
    char::from_digit(check, 36).map(|c| c.to_ascii_uppercase()).unwrap_or('0')
}

/// Whether `text` ends with a correct MOD 37,36 check character.
pub fn check_ok(text: &str) -> bool {
    let mut chars = text.chars();
    match chars.next_back() {
        Some(last) => check_char(chars.as_str()) == last.to_ascii_uppercase(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn v(date: &str) -> Values<'static> {
        Values { date: date.parse().unwrap(), material: "FLOUR-T55", site: "RVS", line: Some("L1") }
    }

    fn code(pattern: &str, reset: Reset, date: &str, seq: u64) -> String {
        Pattern::checked(pattern, reset).unwrap().format(&v(date), seq).unwrap()
    }

    #[test]
    fn every_token_prints_its_value() {
        assert_eq!(code("{YYYY}{YY}{MM}{DD}{SEQ:1}", Reset::Never, "2026-03-07", 1), "20262603071");
        assert_eq!(code("{YYYY}-{MM}-{DD}-{SEQ}", Reset::Daily, "2026-03-07", 12), "2026-03-07-12");
        assert_eq!(code("{YY}{JJJ}{SEQ:3}", Reset::Daily, "2026-03-07", 7), "26066007");
        assert_eq!(code("W{WW}-{SEQ:2}", Reset::Never, "2026-03-07", 5), "W10-05");
        assert_eq!(code("{MAT:5}-{SITE:3}-{LINE:2}-{SEQ:3}", Reset::Never, "2026-03-07", 1), "FLOUR-RVS-L1-001");
        assert_eq!(code("{SEQ:4}{CHECK}", Reset::Never, "2026-03-07", 42).len(), 5);
    }

    #[test]
    fn date_edges_leap_day_day_366_and_iso_weeks_across_new_year() {
        assert_eq!(code("{YY}{JJJ}-{SEQ}", Reset::Daily, "2024-02-29", 1), "24060-1");
        assert_eq!(code("{YY}{JJJ}-{SEQ}", Reset::Daily, "2024-12-31", 1), "24366-1");
        assert_eq!(code("{YY}{JJJ}-{SEQ}", Reset::Daily, "2025-12-31", 1), "25365-1");
        assert_eq!(code("{MM}{DD}-{SEQ}", Reset::Never, "2028-02-29", 1), "0229-1");
        // ISO week 53 of 2026 runs into 2027; 2027-01-04 starts week 1.
        assert_eq!(code("{WW}-{SEQ}", Reset::Never, "2026-12-31", 1), "53-1");
        assert_eq!(code("{WW}-{SEQ}", Reset::Never, "2027-01-01", 1), "53-1");
        assert_eq!(code("{WW}-{SEQ}", Reset::Never, "2027-01-04", 1), "01-1");
        // 2024-12-30 is in week 1 of 2025.
        assert_eq!(code("{WW}-{SEQ}", Reset::Never, "2024-12-30", 1), "01-1");
    }

    #[test]
    fn periods_follow_the_lots_own_date() {
        let d: NaiveDate = "2026-11-27".parse().unwrap();
        assert_eq!(Reset::Daily.period_key(d), "2026-11-27");
        assert_eq!(Reset::Monthly.period_key(d), "2026-11");
        assert_eq!(Reset::Yearly.period_key(d), "2026");
        assert_eq!(Reset::Never.period_key(d), "");
    }

    #[test]
    fn malformed_patterns_are_refused_with_their_place() {
        let e = Pattern::parse("{YY}{YYY}-{SEQ}").unwrap_err();
        assert_eq!(e.position, 5);
        assert!(e.message.contains("“{YYY}” is not a token"), "{e}");
        let e = Pattern::parse("{yy}{SEQ}").unwrap_err();
        assert!(e.message.contains("written in capitals: {YY}"), "{e}");
        assert_eq!(Pattern::parse("AB{SEQ").unwrap_err().position, 3);
        assert_eq!(Pattern::parse("AB}{SEQ}").unwrap_err().position, 3);
        assert!(Pattern::parse("{SEQ:x}").unwrap_err().message.contains("whole number"));
        assert!(Pattern::parse("{SEQ:0}").unwrap_err().message.contains("n is 1 to 9"));
        assert!(Pattern::parse("{YY:2}{SEQ}").unwrap_err().message.contains("takes no number"));
    }

    #[test]
    fn rules_that_could_repeat_or_overflow_a_code_are_refused() {
        let refuse = |p: &str, r: Reset| Pattern::checked(p, r).unwrap_err().to_string();
        assert!(refuse("{YY}{JJJ}", Reset::Never).contains("needs a {SEQ}"));
        assert!(refuse("{SEQ}{SEQ}", Reset::Never).contains("only once"));
        assert!(refuse("{CHECK}{SEQ}", Reset::Never).contains("at the very end"));
        assert!(refuse("{YY}{MM}-{SEQ}", Reset::Daily).contains("A daily reset needs the code to tell the day"));
        assert!(refuse("{SEQ:4}", Reset::Yearly).contains("A yearly reset needs"));
        assert!(refuse("{YY}{WW}{SEQ}", Reset::Monthly).contains("A monthly reset needs"));
        assert!(Pattern::checked("{YY}{JJJ}{SEQ}", Reset::Monthly).is_ok());
        assert!(refuse("{MAT}-{SEQ:4}", Reset::Never).contains("up to 25 characters"));
        assert!(Pattern::checked("{MAT:8}-{SEQ:4}", Reset::Never).is_ok());
        let e = Pattern::checked("LOT {SEQ}", Reset::Never).unwrap_err();
        assert_eq!(e.position, 4);
        assert!(e.message.contains("“ ” cannot be part of a GS1 lot code"));
        assert!(refuse("#{SEQ}", Reset::Never).starts_with("At character 1"));
        assert!(refuse("A{{{SEQ}", Reset::Never).contains("Braces"));
        assert!(refuse("Ä{SEQ}", Reset::Never).contains("cannot be part"));
    }

    #[test]
    fn a_sequence_that_would_outgrow_its_digits_is_refused_not_wrapped() {
        let p = Pattern::checked("{SEQ:3}", Reset::Never).unwrap();
        assert_eq!(p.format(&v("2026-01-01"), 999).unwrap(), "999");
        assert!(p.format(&v("2026-01-01"), 1000).unwrap_err().contains("outgrow its digits"));
    }

    #[test]
    fn a_line_token_needs_a_line() {
        let p = Pattern::checked("{LINE}{SEQ:3}", Reset::Never).unwrap();
        let no_line = Values { line: None, ..v("2026-01-01") };
        assert!(p.format(&no_line, 1).unwrap_err().contains("no production line"));
    }

    #[test]
    fn scope_keys_name_what_can_tell_codes_apart() {
        let p = Pattern::checked("{MAT:3}{SITE}{YY}{SEQ:4}", Reset::Yearly).unwrap();
        assert_eq!(p.scope_key(&v("2026-01-01")), "MAT=FLO|SITE=RVS");
        assert_eq!(Pattern::checked("{YY}{SEQ}", Reset::Yearly).unwrap().scope_key(&v("2026-01-01")), "");
    }

    #[test]
    fn the_check_character_catches_single_errors_and_swaps() {
        let base = "26331-0042";
        let c = check_char(base);
        assert!(check_ok(&format!("{base}{c}")));
        assert_eq!(check_char("26331-0042"), check_char("263310042"), "punctuation does not count");
        for (i, ch) in base.char_indices().filter(|(_, c)| c.is_ascii_alphanumeric()) {
            for other in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ".chars().filter(|o| *o != ch) {
                let mut changed = base.to_string();
                changed.replace_range(i..i + 1, &other.to_string());
                assert_ne!(check_char(&changed), c, "{changed}");
            }
        }
        assert_ne!(check_char("ABCD"), check_char("BACD"));
        assert_ne!(check_char("1234"), check_char("1243"));
    }

    proptest! {
        #[test]
        fn the_parser_never_panics(text in "\\PC{0,40}") {
            let _ = Pattern::parse(&text);
            let _ = Pattern::checked(&text, Reset::Daily);
        }

        #[test]
        fn the_parser_never_panics_on_brace_soup(text in "[{}A-Z:0-9]{0,30}") {
            let _ = Pattern::checked(&text, Reset::Never);
        }

        #[test]
        fn a_valid_rule_always_yields_a_valid_gs1_lot_code(
            parts in proptest::collection::vec(prop_oneof![
                Just("{YYYY}".to_string()), Just("{YY}".to_string()), Just("{MM}".to_string()), Just("{DD}".to_string()),
                Just("{JJJ}".to_string()), Just("{WW}".to_string()), Just("{MAT:4}".to_string()), Just("{SITE:3}".to_string()),
                Just("{LINE}".to_string()), "[A-Z0-9./_-]{1,3}",
            ], 0..4),
            width in 1u8..=6,
            check in any::<bool>(),
            days in 0i64..40_000,
            seq_fraction in 0.0f64..=1.0,
            material in "[A-Z0-9][A-Z0-9._-]{0,19}",
            site in "[A-Z0-9][A-Z0-9-]{0,7}",
            line in "[A-Z0-9]{1,4}",
        ) {
            let mut text = parts.concat();
            text.push_str(&format!("{{SEQ:{width}}}"));
            if check {
                text.push_str("{CHECK}");
            }
            if let Ok(pattern) = Pattern::checked(&text, Reset::Never) {
                let date = NaiveDate::from_ymd_opt(1990, 1, 1).unwrap() + chrono::Days::new(days as u64);
                let seq = ((pattern.max_seq() as f64) * seq_fraction) as u64;
                let values = Values { date, material: &material, site: &site, line: Some(&line) };
                let code = pattern.format(&values, seq).unwrap();
                prop_assert!(!code.is_empty() && code.chars().count() <= MAX_CODE_LEN, "{code}");
                prop_assert!(code.chars().all(is_cset82), "{code}");
                if check {
                    prop_assert!(check_ok(&code), "{code}");
                }
            }
        }
    }
}
