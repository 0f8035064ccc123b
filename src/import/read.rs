//! Reading the folder's CSV files: rows with their line numbers, and the fields' parsers.

use super::*;

/// A CSV file's rows, with their line numbers.
pub(super) struct Table {
    pub(super) name: String,
    pub(super) rows: Vec<(u64, Row)>,
    pub(super) sha256: String,
}

/// One CSV record (its fields in one buffer) and the file's column positions, shared: a
/// million-lot folder holds millions of rows, and a map per row would cost gigabytes.
pub(super) struct Row {
    pub(super) record: csv::StringRecord,
    pub(super) columns: std::sync::Arc<HashMap<String, usize>>,
}

pub(super) fn read(dir: &Path, name: &str, columns: &[&str], required: bool, p: &mut Problems) -> Option<Table> {
    let path: PathBuf = dir.join(name);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(_) if !required => return None,
        Err(e) => {
            p.add(name, 0, "", format!("cannot be read: {e}"));
            return None;
        }
    };
    let sha256 = crate::audit::hex(&Sha256::digest(&bytes));
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(bytes.as_slice());
    let headers: Vec<String> = match reader.headers() {
        Ok(h) => h.iter().map(|s| s.trim_start_matches('\u{feff}').to_string()).collect(),
        Err(e) => {
            p.add(name, 1, "", format!("the header row cannot be read: {e}"));
            return None;
        }
    };
    for c in columns {
        if !headers.iter().any(|h| h == c) {
            p.add(name, 1, c, format!("the column “{c}” is missing (expected: {})", columns.join(",")));
        }
    }
    let positions: std::sync::Arc<HashMap<String, usize>> =
        std::sync::Arc::new(headers.iter().enumerate().map(|(i, h)| (h.clone(), i)).collect());
    let mut rows = Vec::new();
    for record in reader.records() {
        match record {
            Ok(r) => {
                let line = r.position().map(|p| p.line()).unwrap_or(0);
                rows.push((line, Row { record: r, columns: positions.clone() }));
            }
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                p.add(name, line, "", format!("not valid CSV: {e}"));
            }
        }
    }
    Some(Table { name: name.into(), rows, sha256 })
}

pub(super) fn get<'a>(row: &'a Row, column: &str) -> &'a str {
    row.columns.get(column).and_then(|&i| row.record.get(i)).unwrap_or("")
}

/// A moment as the import's files give it (RFC 3339, a local-less date-time, or a date), in the
/// years lotline accepts and not ahead of now (`domain::dates`).
pub(super) fn parse_time(value: &str) -> Result<DateTime<Utc>, String> {
    let at = if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        t.with_timezone(&Utc)
    } else if let Ok(t) = NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%S") {
        t.and_utc()
    } else if let Some(t) = NaiveDate::parse_from_str(value, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0)) {
        t.and_utc()
    } else {
        return Err(format!("“{value}” is not a date (2020-01-06 or 2020-01-06T07:56:00Z)"));
    };
    crate::domain::dates::happened(at, Utc::now(), "The date")
}

pub(super) fn quantity(value: &str) -> Result<Decimal, String> {
    match text::positive_decimal(value, "the quantity") {
        Ok(Some(q)) => Ok(q),
        Ok(None) => Err("the quantity is empty".into()),
        Err(m) => Err(m),
    }
}
