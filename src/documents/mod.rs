//! The documents lotline gives out, below every face that serves them: sheets (CSV, XLSX), the
//! FSMA 204 spreadsheet, EPCIS 2.0 events, lot labels and PDFs.

pub mod epcis;
pub mod event_hash;
pub mod fsma;
pub mod labels;
pub mod pdf;
pub mod sheet;
