//! Sheets: a table of text and number cells written as CSV, or as XLSX where people open it in a
//! spreadsheet. List exports, recall sheets and the FSMA 204 spreadsheet are sheets.

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use crate::error::Error;

/// The most rows one export holds; a list longer than that is cut, and says so in its last row.
pub const MAX_ROWS: i64 = 100_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Xlsx,
}

impl Format {
    /// `csv` or `xlsx` (where `xlsx` is offered); None for the page itself.
    pub fn parse(value: &str, xlsx: bool) -> Result<Option<Format>, Error> {
        match value.trim() {
            "" => Ok(None),
            "csv" => Ok(Some(Format::Csv)),
            "xlsx" if xlsx => Ok(Some(Format::Xlsx)),
            other => Err(Error::BadRequest(format!("“{other}” is not an export format of this list."))),
        }
    }
}

/// A text cell as a spreadsheet may open it: text that starts like a formula (`=`, `+`, `-`, `@`,
/// a tab or a carriage return) gets a leading apostrophe, so no cell a user typed — a lot code, a
/// customer's name — is run as a formula. Text that is a plain number (`-5`) stays as it is.
pub fn inert(text: &str) -> std::borrow::Cow<'_, str> {
    let risky = text.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if risky && text.parse::<Decimal>().is_err() { format!("'{text}").into() } else { text.into() }
}

pub enum Cell {
    Text(String),
    Number(Decimal),
    /// A calendar date: `2026-11-26` in CSV, a date cell in XLSX.
    Date(chrono::NaiveDate),
}

impl From<chrono::NaiveDate> for Cell {
    fn from(v: chrono::NaiveDate) -> Cell {
        Cell::Date(v)
    }
}

impl From<String> for Cell {
    fn from(v: String) -> Cell {
        Cell::Text(v)
    }
}

impl From<&str> for Cell {
    fn from(v: &str) -> Cell {
        Cell::Text(v.to_string())
    }
}

impl From<Decimal> for Cell {
    fn from(v: Decimal) -> Cell {
        Cell::Number(v)
    }
}

impl<T: Into<Cell>> From<Option<T>> for Cell {
    fn from(v: Option<T>) -> Cell {
        v.map(Into::into).unwrap_or(Cell::Text(String::new()))
    }
}

/// A table to export: its file name (without extension), headers and rows.
pub struct Sheet {
    pub name: String,
    pub headers: Vec<&'static str>,
    pub rows: Vec<Vec<Cell>>,
}

impl Sheet {
    pub fn new(name: impl Into<String>, headers: &[&'static str]) -> Sheet {
        Sheet { name: name.into(), headers: headers.to_vec(), rows: Vec::new() }
    }

    pub fn push(&mut self, row: Vec<Cell>) {
        self.rows.push(row);
    }

    /// Says in a last row that the list was cut at `MAX_ROWS`.
    pub fn note_cut(&mut self, total: i64) {
        if total > MAX_ROWS {
            self.rows
                .push(vec![Cell::Text(format!("… {MAX_ROWS} of {total} rows: narrow the search to export the rest"))]);
        }
    }

    /// The sheet's bytes in `format`, with their content type and file extension.
    pub fn write(&self, format: Format) -> Result<(Vec<u8>, &'static str, &'static str), Error> {
        Ok(match format {
            Format::Csv => (self.csv()?, "text/csv; charset=utf-8", "csv"),
            Format::Xlsx => (self.xlsx()?, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"),
        })
    }

    fn csv(&self) -> Result<Vec<u8>, Error> {
        let mut w = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::new());
        let internal = |e: csv::Error| Error::Internal(e.into());
        w.write_record(&self.headers).map_err(internal)?;
        for row in &self.rows {
            let fields: Vec<String> = row
                .iter()
                .map(|c| match c {
                    Cell::Text(t) => inert(t).into_owned(),
                    Cell::Number(n) => n.normalize().to_string(),
                    Cell::Date(d) => d.format("%Y-%m-%d").to_string(),
                })
                .collect();
            w.write_record(&fields).map_err(internal)?;
        }
        w.into_inner().map_err(|e| Error::Internal(anyhow::anyhow!("{e}")))
    }

    fn xlsx(&self) -> Result<Vec<u8>, Error> {
        let internal = |e: rust_xlsxwriter::XlsxError| Error::Internal(anyhow::anyhow!("xlsx: {e}"));
        let mut book = rust_xlsxwriter::Workbook::new();
        let bold = rust_xlsxwriter::Format::new().set_bold();
        let date = rust_xlsxwriter::Format::new().set_num_format("yyyy-mm-dd");
        let sheet = book.add_worksheet();
        for (c, h) in self.headers.iter().enumerate() {
            sheet.write_string_with_format(0, c as u16, *h, &bold).map_err(internal)?;
            sheet.set_column_width(c as u16, 18).map_err(internal)?;
        }
        for (i, row) in self.rows.iter().enumerate() {
            for (c, cell) in row.iter().enumerate() {
                let (r, c) = (i as u32 + 1, c as u16);
                match cell {
                    Cell::Text(t) => sheet.write_string(r, c, t).map_err(internal)?,
                    Cell::Number(n) => sheet.write_number(r, c, n.to_f64().unwrap_or_default()).map_err(internal)?,
                    Cell::Date(d) => {
                        use chrono::Datelike;
                        let day =
                            rust_xlsxwriter::ExcelDateTime::from_ymd(d.year() as u16, d.month() as u8, d.day() as u8)
                                .map_err(internal)?;
                        sheet.write_date_with_format(r, c, &day, &date).map_err(internal)?
                    }
                };
            }
        }
        sheet.set_freeze_panes(1, 0).map_err(internal)?;
        sheet.autofilter(0, 0, self.rows.len() as u32, self.headers.len().max(1) as u16 - 1).map_err(internal)?;
        book.save_to_buffer().map_err(internal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_that_starts_like_a_formula_is_made_inert_and_numbers_stay_numbers() {
        assert_eq!(inert("=HYPERLINK(\"http://x\")"), "'=HYPERLINK(\"http://x\")");
        assert_eq!(inert("+1+2"), "'+1+2");
        assert_eq!(inert("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(inert("\tx"), "'\tx");
        assert_eq!(inert("-5"), "-5");
        assert_eq!(inert("-0.25"), "-0.25");
        assert_eq!(inert("FLOUR-T55"), "FLOUR-T55");
        assert_eq!(inert(""), "");
    }
}
