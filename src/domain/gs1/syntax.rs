//! GS1 element strings and Digital Link URIs, parsed and validated from GS1's own Barcode Syntax
//! Dictionary (`syntax-dictionary.txt` beside this file, Apache-2.0, copied unchanged) rather than
//! from a hand-typed table: every Application Identifier's format, its checks ("linters"), which AIs
//! it needs or excludes, and its Digital Link role come from there.
//!
//! Pure and total: any input, however malformed, gives a value or a message naming the part that
//! is wrong; nothing here panics (a property test feeds it arbitrary text).

use std::collections::HashMap;
use std::sync::OnceLock;

use chrono::{Datelike, NaiveDate, Utc};

/// The dictionary as GS1 publishes it.
const DICTIONARY: &str = include_str!("syntax-dictionary.txt");

/// The ASCII group separator a scanner sends for FNC1 between fields.
pub const GS: char = '\u{1d}';

/// One component of an AI's data: its character set, length and checks.
#[derive(Debug, Clone)]
struct Component {
    /// N digits, X CSET 82, Y CSET 39, Z base64url.
    kind: char,
    min: usize,
    max: usize,
    optional: bool,
    linters: Vec<String>,
}

/// One Application Identifier as the dictionary describes it.
#[derive(Debug, Clone)]
pub struct Spec {
    pub ai: String,
    /// A pre-defined length: no FNC1 after it.
    pub fixed: bool,
    /// Allowed as a Digital Link data attribute (query parameter).
    pub dl_attribute: bool,
    components: Vec<Component>,
    /// Alternatives, each a set of AIs (or patterns such as `35nn`) that must all be present.
    requires: Vec<Vec<String>>,
    excludes: Vec<String>,
    /// A Digital Link primary key: its alternative sequences of qualifiers.
    dl_key: Option<Vec<Vec<String>>>,
    pub title: String,
}

impl Spec {
    /// The data length when every component has a fixed length.
    fn fixed_length(&self) -> Option<usize> {
        self.components.iter().try_fold(0, |n, c| (c.min == c.max && !c.optional).then_some(n + c.max))
    }
}

/// Linters the dictionary names that lotline checks; the others (company-prefix positions, ISO
/// code lists and a few rare ones) are not checked, and are listed here so that the gap is known.
pub const UNCHECKED_LINTERS: &[&str] =
    &["gcppos1", "gcppos2", "iso3166", "iso3166999", "iso3166alpha2", "iso4217", "iso5218", "csumalpha", "key"];

fn dictionary() -> &'static HashMap<String, Spec> {
    static SPECS: OnceLock<HashMap<String, Spec>> = OnceLock::new();
    SPECS.get_or_init(|| {
        let mut specs = HashMap::new();
        for line in DICTIONARY.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (body, title) = match line.split_once('#') {
                Some((b, t)) => (b, t.trim().to_string()),
                None => (line, String::new()),
            };
            let mut words = body.split_whitespace().peekable();
            let Some(ais) = words.next() else { continue };
            let mut flags = "";
            if let Some(w) = words.peek()
                && !w.starts_with(['N', 'X', 'Y', 'Z', '['])
            {
                flags = words.next().unwrap_or_default();
            }
            let mut components = Vec::new();
            let mut requires = Vec::new();
            let mut excludes = Vec::new();
            let mut dl_key = None;
            for w in words {
                if let Some(list) = w.strip_prefix("req=") {
                    requires = list.split(',').map(|alt| alt.split('+').map(str::to_string).collect()).collect();
                } else if let Some(list) = w.strip_prefix("ex=") {
                    excludes = list.split(',').map(str::to_string).collect();
                } else if w == "dlpkey" {
                    dl_key = Some(vec![Vec::new()]);
                } else if let Some(list) = w.strip_prefix("dlpkey=") {
                    dl_key = Some(list.split('|').map(|alt| alt.split(',').map(str::to_string).collect()).collect());
                } else if let Some(c) = component(w) {
                    components.push(c);
                }
            }
            let range: Vec<String> = match ais.split_once('-') {
                Some((a, b)) => match (a.parse::<u32>(), b.parse::<u32>()) {
                    (Ok(x), Ok(y)) if x <= y && y - x < 1000 => {
                        (x..=y).map(|n| format!("{n:0width$}", width = a.len())).collect()
                    }
                    _ => continue,
                },
                None => vec![ais.to_string()],
            };
            for ai in range {
                specs.insert(
                    ai.clone(),
                    Spec {
                        ai,
                        fixed: flags.contains('*'),
                        dl_attribute: flags.contains('?'),
                        components: components.clone(),
                        requires: requires.clone(),
                        excludes: excludes.clone(),
                        dl_key: dl_key.clone(),
                        title: title.clone(),
                    },
                );
            }
        }
        specs
    })
}

/// `N14,csum`, `X..20`, `[N..12]`: one component of a specification.
fn component(word: &str) -> Option<Component> {
    let (optional, word) = match word.strip_prefix('[').and_then(|w| w.strip_suffix(']')) {
        Some(inner) => (true, inner),
        None => (false, word),
    };
    let mut parts = word.split(',');
    let head = parts.next()?;
    let kind = head.chars().next().filter(|c| "NXYZ".contains(*c))?;
    let length = &head[1..];
    let (min, max) = match length.strip_prefix("..") {
        Some(max) => (1, max.parse().ok()?),
        None => {
            let n = length.parse().ok()?;
            (n, n)
        }
    };
    Some(Component { kind, min, max, optional, linters: parts.map(str::to_string).collect() })
}

/// The dictionary's entry for an AI.
pub fn spec(ai: &str) -> Option<&'static Spec> {
    dictionary().get(ai)
}

/// One AI and its data, as found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    pub ai: String,
    pub value: String,
}

/// What a scan or a typed string turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scan {
    /// Not GS1 syntax: a plain code to look up as it is.
    Plain(String),
    /// Valid GS1 data, in the order given.
    Gs1(Vec<Element>),
}

impl Scan {
    pub fn get(&self, ai: &str) -> Option<&str> {
        match self {
            Scan::Gs1(elements) => elements.iter().find(|e| e.ai == ai).map(|e| e.value.as_str()),
            Scan::Plain(_) => None,
        }
    }
}

/// Reads a scanned or typed string: a GS1 Digital Link URI, an element string with AIs in
/// parentheses, a raw element string as a scanner sends it (optionally with a symbology
/// identifier such as `]d2`, fields separated by GS), or else a plain code.
pub fn read(input: &str) -> Result<Scan, String> {
    let text = input.trim_matches(|c: char| c.is_whitespace() && c != GS);
    if text.is_empty() {
        return Ok(Scan::Plain(String::new()));
    }
    // A QR code or a DataMatrix holding a Digital Link reads with `]Q1` or `]d1` before it.
    let text = ["]Q1", "]d1"].iter().find_map(|p| text.strip_prefix(p)).filter(|rest| is_link(rest)).unwrap_or(text);
    let elements = if is_link(text) {
        digital_link(text)?
    } else if text.starts_with('(') {
        bracketed(text)?
    } else if let Some(rest) = strip_symbology(text) {
        raw(rest)?
    } else if text.contains(GS) || looks_like_raw_gtin(text) {
        raw(text)?
    } else {
        return Ok(Scan::Plain(text.to_string()));
    };
    validate(&elements)?;
    Ok(Scan::Gs1(elements))
}

fn is_link(text: &str) -> bool {
    let lower = text.get(..8).unwrap_or(text).to_ascii_lowercase();
    lower.starts_with("https://") || lower.starts_with("http://")
}

fn strip_symbology(text: &str) -> Option<&str> {
    ["]C1", "]d2", "]Q3", "]e0", "]J1"].iter().find_map(|p| text.strip_prefix(p))
}

/// `01` and 14 digits with a good check digit: what a scanner without a prefix sends.
fn looks_like_raw_gtin(text: &str) -> bool {
    text.len() >= 16 && text.starts_with("01") && text.is_char_boundary(16) && super::check_digit_ok(&text[2..16])
}

fn ascii_only(text: &str) -> Result<(), String> {
    match text.chars().find(|c| !c.is_ascii()) {
        Some(c) => Err(format!("“{c}” is not a character GS1 data may contain.")),
        None => Ok(()),
    }
}

/// The AI at the start of `text` (2 to 4 digits; AIs are prefix-free).
fn ai_prefix(text: &str) -> Option<&'static Spec> {
    (2..=4).filter(|n| text.len() >= *n && text.is_char_boundary(*n)).find_map(|n| spec(&text[..n]))
}

fn raw(text: &str) -> Result<Vec<Element>, String> {
    ascii_only(text)?;
    let mut rest = text.trim_start_matches(GS);
    let mut out = Vec::new();
    while !rest.is_empty() {
        let Some(spec) = ai_prefix(rest) else {
            let shown: String = rest.chars().take(4).collect();
            return Err(format!("“{shown}…” does not start with a known Application Identifier."));
        };
        rest = &rest[spec.ai.len()..];
        let end = match spec.fixed_length() {
            Some(n) if spec.fixed => {
                if rest.len() < n {
                    return Err(format!("({}) needs {n} characters; only {} follow.", spec.ai, rest.len()));
                }
                n
            }
            _ => rest.find(GS).unwrap_or(rest.len()),
        };
        out.push(Element { ai: spec.ai.clone(), value: rest[..end].to_string() });
        rest = rest[end..].trim_start_matches(GS);
    }
    if out.is_empty() {
        return Err("The scan holds no data.".into());
    }
    Ok(out)
}

/// `(01)09506000134352(17)261231(10)AB-12`; a literal parenthesis in data is written `\(`.
fn bracketed(text: &str) -> Result<Vec<Element>, String> {
    ascii_only(text)?;
    let mut out: Vec<Element> = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let Some(after) = rest.strip_prefix('(') else {
            return Err("Write each Application Identifier in parentheses, such as (01).".into());
        };
        let Some(close) = after.find(')') else {
            return Err("A parenthesis around an Application Identifier is not closed.".into());
        };
        let ai = &after[..close];
        if spec(ai).is_none() {
            return Err(format!("({ai}) is not a known Application Identifier."));
        }
        rest = &after[close + 1..];
        let mut value = String::new();
        let mut chars = rest.char_indices().peekable();
        let mut end = rest.len();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' if chars.peek().map(|p| p.1) == Some('(') => {
                    value.push('(');
                    chars.next();
                }
                '(' => {
                    end = i;
                    break;
                }
                _ => value.push(c),
            }
        }
        rest = &rest[end..];
        out.push(Element { ai: ai.to_string(), value });
    }
    Ok(out)
}

/// `https://any.host/prefix/01/09506000134352/10/AB-12?17=261231`.
fn digital_link(text: &str) -> Result<Vec<Element>, String> {
    let after_scheme = text.split_once("://").map(|(_, r)| r).unwrap_or(text);
    let (path, query) = match after_scheme.split_once('?') {
        Some((p, q)) => (p, q.split('#').next().unwrap_or_default()),
        None => (after_scheme.split('#').next().unwrap_or_default(), ""),
    };
    let segments: Vec<&str> = path.split('/').skip(1).filter(|s| !s.is_empty()).collect();
    // The primary key is the first segment that names a key AI and has a value after it.
    let start = (0..segments.len())
        .find(|i| spec(segments[*i]).is_some_and(|s| s.dl_key.is_some()) && *i + 1 < segments.len())
        .ok_or("The Digital Link names no product: its path needs a key such as /01/ and a GTIN.")?;
    let pairs = &segments[start..];
    if !pairs.len().is_multiple_of(2) {
        return Err(format!("The Digital Link's path ends with “{}” and no value after it.", pairs[pairs.len() - 1]));
    }
    let mut out = Vec::new();
    for pair in pairs.chunks(2) {
        let ai = pair[0];
        if spec(ai).is_none() {
            return Err(format!("/{ai}/ in the Digital Link's path is not a known Application Identifier."));
        }
        out.push(Element { ai: ai.to_string(), value: percent_decode(pair[1])? });
    }
    let key = spec(&out[0].ai).and_then(|s| s.dl_key.clone()).unwrap_or_default();
    let qualifiers: Vec<&str> = out[1..].iter().map(|e| e.ai.as_str()).collect();
    let in_order = |alternative: &Vec<String>| {
        let mut at = 0;
        qualifiers.iter().all(|q| match alternative[at..].iter().position(|a| a == q) {
            Some(p) => {
                at += p + 1;
                true
            }
            None => false,
        })
    };
    let qualifies = |ai: &str| key.iter().any(|alternative| alternative.iter().any(|a| a == ai));
    if !key.iter().any(in_order) {
        let allowed: Vec<String> = key.iter().map(|alt| alt.join(", then ")).filter(|s| !s.is_empty()).collect();
        return Err(if allowed.is_empty() {
            format!("({}) in a Digital Link takes no qualifiers in its path.", out[0].ai)
        } else {
            format!("After ({}) the Digital Link's path may hold {} in that order.", out[0].ai, allowed.join(" or "))
        });
    }
    for (key, value) in query.split('&').filter(|p| !p.is_empty()).filter_map(|p| p.split_once('=')) {
        match spec(key) {
            Some(_) if out.iter().any(|e| e.ai == key) => {
                return Err(format!("({key}) is given twice in the Digital Link."));
            }
            // A key qualifier (a lot, a serial) belongs in the path, as GS1's syntax says.
            Some(_) if qualifies(key) => {
                return Err(format!("({key}) belongs in the Digital Link's path (/{key}/…), not in its query."));
            }
            Some(s) if s.dl_attribute => out.push(Element { ai: key.to_string(), value: percent_decode(value)? }),
            Some(_) => return Err(format!("({key}) cannot be given as a Digital Link query parameter.")),
            None => {} // other parameters are not GS1 data
        }
    }
    Ok(out)
}

fn percent_decode(text: &str) -> Result<String, String> {
    crate::domain::text::percent_decode(text).ok_or_else(|| format!("“{text}” is not well percent-encoded."))
}

/// Checks every element against its specification, then the pairings (req, ex) between them.
pub fn validate(elements: &[Element]) -> Result<(), String> {
    let today = Utc::now().date_naive();
    for e in elements {
        let spec = spec(&e.ai).ok_or_else(|| format!("({}) is not a known Application Identifier.", e.ai))?;
        check_value(spec, &e.value, today).map_err(|m| format!("({}) {}: {m}", e.ai, shown(&e.value)))?;
    }
    let present: Vec<&str> = elements.iter().map(|e| e.ai.as_str()).collect();
    for (i, e) in elements.iter().enumerate() {
        if present[..i].contains(&e.ai.as_str()) {
            let first = elements.iter().find(|x| x.ai == e.ai).map(|x| x.value.as_str()).unwrap_or_default();
            if first != e.value {
                return Err(format!("({}) appears twice with different data.", e.ai));
            }
        }
        let spec = spec(&e.ai).ok_or_else(|| format!("({}) is not a known Application Identifier.", e.ai))?;
        if !spec.requires.is_empty()
            && !spec.requires.iter().any(|group| group.iter().all(|p| matches_any(p, &present)))
        {
            let wanted: Vec<String> = spec.requires.iter().map(|g| format!("({})", g.join(") with ("))).collect();
            return Err(format!("({}) needs {} beside it.", e.ai, wanted.join(" or ")));
        }
        if let Some(other) = present.iter().find(|a| **a != e.ai && spec.excludes.iter().any(|p| pattern(p, a))) {
            return Err(format!("({}) and ({other}) cannot go together.", e.ai));
        }
    }
    Ok(())
}

fn shown(value: &str) -> String {
    if value.is_empty() { "(empty)".into() } else { value.chars().take(40).collect() }
}

fn matches_any(pat: &str, present: &[&str]) -> bool {
    present.iter().any(|a| pattern(pat, a))
}

/// `35nn` matches 3501…; `310n` matches 3100…; a plain AI matches itself.
fn pattern(pat: &str, ai: &str) -> bool {
    pat.len() == ai.len() && pat.chars().zip(ai.chars()).all(|(p, a)| p == a || (p == 'n' && a.is_ascii_digit()))
}

fn check_value(spec: &Spec, value: &str, today: NaiveDate) -> Result<(), String> {
    let mut rest = value;
    for (n, c) in spec.components.iter().enumerate() {
        if rest.is_empty() && c.optional {
            break;
        }
        let last = n + 1 == spec.components.len();
        let take = if c.min == c.max {
            c.max
        } else if last {
            rest.len()
        } else {
            rest.len().min(c.max)
        };
        if rest.len() < c.min || (c.min == c.max && rest.len() < take) {
            return Err(length_message(c, rest.len()));
        }
        if take > c.max {
            return Err(length_message(c, rest.len()));
        }
        let part = rest.get(..take).ok_or("holds a character GS1 data may not contain")?;
        charset(c.kind, part)?;
        for linter in &c.linters {
            lint(linter, part, today)?;
        }
        rest = &rest[take..];
    }
    match rest.len() {
        0 => {}
        1 => return Err("has 1 character too many.".into()),
        n => return Err(format!("has {n} characters too many.")),
    }
    Ok(())
}

fn length_message(c: &Component, got: usize) -> String {
    let what = match c.kind {
        'N' => "digits",
        _ => "characters",
    };
    if c.min == c.max {
        format!("needs exactly {} {what}; it has {got}.", c.max)
    } else {
        format!("needs {} to {} {what}; it has {got}.", c.min, c.max)
    }
}

fn charset(kind: char, part: &str) -> Result<(), String> {
    let bad = match kind {
        'N' => part.chars().find(|c| !c.is_ascii_digit()),
        'X' => part.chars().find(|c| !super::is_cset82(*c)),
        'Y' => part.chars().find(|c| !(c.is_ascii_uppercase() || c.is_ascii_digit() || "#-/".contains(*c))),
        _ => part.chars().find(|c| !(c.is_ascii_alphanumeric() || "-_=".contains(*c))),
    };
    match bad {
        Some(c) if kind == 'N' => Err(format!("must be digits only; “{}” is not.", printable(c))),
        Some(c) => Err(format!("“{}” is not allowed here.", printable(c))),
        None => Ok(()),
    }
}

fn printable(c: char) -> String {
    if c == GS {
        "GS".into()
    } else if c.is_control() {
        format!("U+{:04X}", c as u32)
    } else {
        c.to_string()
    }
}

fn lint(name: &str, part: &str, today: NaiveDate) -> Result<(), String> {
    match name {
        "csum" => {
            if super::check_digit_ok(part) {
                Ok(())
            } else {
                let data: Vec<u32> =
                    part.bytes().take(part.len().saturating_sub(1)).map(|b| u32::from(b - b'0')).collect();
                Err(format!("the check digit is wrong: it should be {}.", super::check_digit(&data)))
            }
        }
        "yymmd0" => yymmdd(part, today, true).map(|_| ()),
        "yymmdd" => yymmdd(part, today, false).map(|_| ()),
        "yyyymmdd" => match NaiveDate::parse_from_str(part, "%Y%m%d") {
            Ok(_) => Ok(()),
            Err(_) => Err("is not a real date (YYYYMMDD).".into()),
        },
        "hhmi" => match (
            part.get(..2).and_then(|h| h.parse::<u32>().ok()),
            part.get(2..4).and_then(|m| m.parse::<u32>().ok()),
        ) {
            (Some(h), Some(m)) if h < 24 && m < 60 => Ok(()),
            _ => Err("is not a time of day (HHMM).".into()),
        },
        "nonzero" => {
            if part.bytes().all(|b| b == b'0') {
                Err("cannot be zero.".into())
            } else {
                Ok(())
            }
        }
        "zero" => {
            if part == "0" {
                Ok(())
            } else {
                Err("must be 0.".into())
            }
        }
        "yesno" => {
            if part == "0" || part == "1" {
                Ok(())
            } else {
                Err("must be 0 or 1.".into())
            }
        }
        "pcenc" => percent_decode(part).map(|_| ()),
        _ => Ok(()), // see UNCHECKED_LINTERS
    }
}

/// A YYMMDD date (day 00, where allowed, is the month's last day), the century within 50 years of
/// today as GS1's engine takes it.
pub fn yymmdd(part: &str, today: NaiveDate, day_zero: bool) -> Result<NaiveDate, String> {
    let num = |r: std::ops::Range<usize>| part.get(r).and_then(|s| s.parse::<i32>().ok());
    let (Some(yy), Some(mm), Some(dd)) = (num(0..2), num(2..4), num(4..6)) else {
        return Err("is not a date (YYMMDD).".into());
    };
    if part.len() != 6 {
        return Err("is not a date (YYMMDD).".into());
    }
    let current = today.year();
    let mut year = current - current.rem_euclid(100) + yy;
    if year > current + 50 {
        year -= 100;
    } else if year <= current - 50 {
        year += 100;
    }
    if !(1..=12).contains(&mm) {
        return Err(format!("is not a real date: there is no month {mm:02}."));
    }
    let date = if dd == 0 && day_zero {
        let next = if mm == 12 {
            NaiveDate::from_ymd_opt(year + 1, 1, 1)
        } else {
            NaiveDate::from_ymd_opt(year, mm as u32 + 1, 1)
        };
        next.and_then(|d| d.pred_opt())
    } else {
        NaiveDate::from_ymd_opt(year, mm as u32, dd as u32)
    };
    date.ok_or_else(|| format!("is not a real date: month {mm:02} of {year} has no day {dd:02}."))
}

/// The element string in human-readable form: `(01)09506000134352(10)AB-12`.
pub fn human(elements: &[Element]) -> String {
    elements.iter().map(|e| format!("({}){}", e.ai, e.value.replace('(', "\\("))).collect()
}

/// The element string as a barcode carries it (FNC1 first, written here as GS), with GS after
/// each variable-length field that is not last, and the fixed-length fields first.
pub fn barcode_data(elements: &[Element]) -> String {
    let mut ordered: Vec<&Element> = elements.iter().collect();
    ordered.sort_by_key(|e| !spec(&e.ai).is_some_and(|s| s.fixed));
    let mut out = String::new();
    for (i, e) in ordered.iter().enumerate() {
        out.push_str(&e.ai);
        out.push_str(&e.value);
        let fixed = spec(&e.ai).is_some_and(|s| s.fixed);
        if !fixed && i + 1 < ordered.len() {
            out.push(GS);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn gs1(input: &str) -> Vec<(String, String)> {
        match read(input) {
            Ok(Scan::Gs1(e)) => e.into_iter().map(|e| (e.ai, e.value)).collect(),
            other => panic!("{input:?} gave {other:?}"),
        }
    }

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items.iter().map(|(a, v)| (a.to_string(), v.to_string())).collect()
    }

    #[test]
    fn the_dictionary_is_read_whole() {
        assert!(dictionary().len() > 400, "{} AIs", dictionary().len());
        let gtin = spec("01").unwrap();
        assert!(gtin.fixed && gtin.dl_attribute && gtin.dl_key.is_some());
        assert_eq!(spec("10").unwrap().title, "BATCH/LOT");
        assert!(spec("3103").is_some(), "ranges are expanded");
        assert!(spec("99").is_some() && spec("1").is_none());
    }

    #[test]
    fn the_three_notations_give_the_same_elements() {
        let want = pairs(&[("01", "09506000134352"), ("17", "261231"), ("10", "AB-12")]);
        assert_eq!(gs1("(01)09506000134352(17)261231(10)AB-12"), want);
        assert_eq!(gs1(concat!("]d2", "0109506000134352", "17261231", "10AB-12")), want);
        assert_eq!(gs1(concat!("0109506000134352", "17261231", "10AB-12")), want);
        let with_gs = format!("]C1{}{}{GS}{}", "0109506000134352", "10AB-12", "17261231");
        assert_eq!(
            gs1(&with_gs),
            pairs(&[("01", "09506000134352"), ("10", "AB-12"), ("17", "261231")]),
            "a variable field ends at GS"
        );
        let link = gs1("https://id.gs1.org/01/09506000134352/10/AB-12?17=261231");
        assert_eq!(link, pairs(&[("01", "09506000134352"), ("10", "AB-12"), ("17", "261231")]));
        assert_eq!(gs1("https://example.com/shop/01/09506000134352/10/AB%2F12")[1].1, "AB/12");
    }

    #[test]
    fn a_digital_link_scanned_from_a_qr_code_or_a_datamatrix_is_read_as_a_link_and_as_strictly_as_gs1_reads_it() {
        let want = pairs(&[("01", "09506000134352"), ("10", "AB-12"), ("17", "261231")]);
        for prefix in ["]Q1", "]d1", ""] {
            assert_eq!(gs1(&format!("{prefix}https://id.gs1.org/01/09506000134352/10/AB-12?17=261231")), want);
        }
        for (query, refusal) in [
            ("?10=AB-12", "(10) belongs in the Digital Link's path (/10/…), not in its query."),
            ("/10/AB?17=261231&17=261231", "(17) is given twice in the Digital Link."),
            ("/10/AB?10=AB", "(10) is given twice in the Digital Link."),
        ] {
            assert_eq!(read(&format!("https://id.gs1.org/01/09506000134352{query}")).unwrap_err(), refusal);
        }
    }

    #[test]
    fn plain_codes_stay_plain() {
        assert_eq!(read("26331-0002").unwrap(), Scan::Plain("26331-0002".into()));
        assert_eq!(read("  L0000002 ").unwrap(), Scan::Plain("L0000002".into()));
    }

    #[test]
    fn each_wrong_part_is_named() {
        let e = |s: &str| read(s).unwrap_err();
        assert_eq!(e("(01)09506000134353"), "(01) 09506000134353: the check digit is wrong: it should be 2.");
        assert!(
            e("(01)09506000134352(17)261331(10)A").starts_with("(17) 261331: is not a real date: there is no month 13")
        );
        assert!(e("(01)09506000134352(17)260230").contains("has no day 30"));
        assert!(read("(01)09506000134352(17)260200").is_ok(), "day 00 is the month's last day");
        assert_eq!(e("(10)AB-12"), "(10) needs (01) or (02) or (03) or (8006) or (8026) beside it.");
        assert_eq!(e("(01)0950600013435"), "(01) 0950600013435: needs exactly 14 digits; it has 13.");
        assert_eq!(e("(01)09506000134352(10)AB 12"), "(10) AB 12: “ ” is not allowed here.");
        assert_eq!(
            e("(01)09506000134352(10)ABCDEFGHIJKLMNOPQRSTU"),
            "(10) ABCDEFGHIJKLMNOPQRSTU: needs 1 to 20 characters; it has 21."
        );
        assert_eq!(e("(01)095060001343521"), "(01) 095060001343521: has 1 character too many.");
        assert_eq!(e("(9A)1"), "(9A) is not a known Application Identifier.");
        assert_eq!(
            e("https://id.gs1.org/01/09506000134352/10"),
            "The Digital Link's path ends with “10” and no value after it."
        );
        assert_eq!(
            e("https://id.gs1.org/01/09506000134352/21/S1/10/AB"),
            "After (01) the Digital Link's path may hold 22, then 10, then 21 or 235 in that order."
        );
        assert_eq!(
            e("https://id.gs1.org/shop/item"),
            "The Digital Link names no product: its path needs a key such as /01/ and a GTIN."
        );
        assert!(e("]d201095060001343521726123").contains("(17) needs 6 characters; only 5 follow"));
    }

    proptest! {
        #[test]
        fn any_text_gives_an_answer_and_never_panics(s in "\\PC{0,60}") {
            let _ = read(&s);
        }

        #[test]
        fn gs1_looking_text_never_panics(s in "(\\]d2|\\(|https://x/01/)?[0-9()\u{1d}A-Za-z%/?=&-]{0,50}") {
            let _ = read(&s);
        }

        #[test]
        fn a_valid_label_reads_back(lot in "[A-Z0-9-]{1,20}", days in 0u32..3000) {
            let date = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap() + chrono::Days::new(days.into());
            let elements = vec![
                Element { ai: "01".into(), value: "09506000134352".into() },
                Element { ai: "17".into(), value: date.format("%y%m%d").to_string() },
                Element { ai: "10".into(), value: lot.clone() },
            ];
            prop_assert_eq!(read(&human(&elements)).unwrap(), Scan::Gs1(elements.clone()));
            let raw = format!("]d2{}", barcode_data(&elements));
            prop_assert_eq!(read(&raw).unwrap(), Scan::Gs1(elements));
        }
    }
}
