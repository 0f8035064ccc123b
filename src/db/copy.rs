//! Rows for `COPY … FROM STDIN (FORMAT binary)`, the bulk import's way in.
//!
//! The binary format (PostgreSQL manual, "COPY", "Binary Format") carries each value as the
//! type's own send/receive bytes, so the server parses no text: for the import's millions of
//! ledger rows and links that is a third of the loading backend's work (uuids, timestamps and
//! numerics parsed from text), and the one backend loading in one transaction is the import's
//! bottleneck. sqlx encodes parameters this way but does not offer it for COPY, and the handful
//! of types the import writes are simple enough to write here.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use uuid::Uuid;

/// Microseconds and days between the Unix epoch and PostgreSQL's, 2000-01-01.
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;
const PG_EPOCH_DAYS: i32 = 10_957;

/// A buffer of binary COPY data: the header once, then rows, then `finish` for the trailer.
pub struct BinaryRows {
    buf: Vec<u8>,
}

impl BinaryRows {
    /// A new stream: starts with the signature, no flags, no header extension.
    pub fn start(capacity: usize) -> BinaryRows {
        let mut buf = Vec::with_capacity(capacity + 19);
        buf.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
        buf.extend_from_slice(&0i32.to_be_bytes());
        buf.extend_from_slice(&0i32.to_be_bytes());
        BinaryRows { buf }
    }

    /// A continuation of a stream already started (the next message's rows).
    pub fn more(capacity: usize) -> BinaryRows {
        BinaryRows { buf: Vec::with_capacity(capacity) }
    }

    /// The bytes so far, leaving the buffer empty for the next message.
    pub fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }

    /// The trailer that ends the stream.
    pub fn trailer() -> Vec<u8> {
        (-1i16).to_be_bytes().to_vec()
    }

    /// Begins a row of `fields` values.
    pub fn row(&mut self, fields: i16) -> &mut Self {
        self.buf.extend_from_slice(&fields.to_be_bytes());
        self
    }

    fn field(&mut self, bytes: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
        self.buf.extend_from_slice(bytes);
        self
    }

    pub fn null(&mut self) -> &mut Self {
        self.buf.extend_from_slice(&(-1i32).to_be_bytes());
        self
    }

    pub fn uuid(&mut self, value: &Uuid) -> &mut Self {
        self.field(value.as_bytes())
    }

    pub fn opt_uuid(&mut self, value: Option<&Uuid>) -> &mut Self {
        match value {
            Some(v) => self.uuid(v),
            None => self.null(),
        }
    }

    pub fn text(&mut self, value: &str) -> &mut Self {
        self.field(value.as_bytes())
    }

    pub fn opt_text(&mut self, value: Option<&str>) -> &mut Self {
        match value {
            Some(v) => self.text(v),
            None => self.null(),
        }
    }

    pub fn int8(&mut self, value: i64) -> &mut Self {
        self.field(&value.to_be_bytes())
    }

    pub fn int4(&mut self, value: i32) -> &mut Self {
        self.field(&value.to_be_bytes())
    }

    pub fn timestamptz(&mut self, value: &DateTime<Utc>) -> &mut Self {
        self.field(&(value.timestamp_micros() - PG_EPOCH_MICROS).to_be_bytes())
    }

    pub fn opt_date(&mut self, value: Option<NaiveDate>) -> &mut Self {
        match value {
            Some(d) => {
                let days = (d - NaiveDate::from_ymd_opt(1970, 1, 1).expect("the Unix epoch")).num_days() as i32;
                self.field(&(days - PG_EPOCH_DAYS).to_be_bytes())
            }
            None => self.null(),
        }
    }

    /// A numeric: base-10000 digits with the decimal point on a digit boundary, a weight (the
    /// power of 10000 of the first digit), a sign and the display scale.
    pub fn numeric(&mut self, value: &Decimal) -> &mut Self {
        let scale = value.scale();
        let mut mantissa = value.mantissa().unsigned_abs();
        // Scale up to a multiple of four decimal places, so base-10000 digits align on the point.
        let pad = (4 - scale % 4) % 4;
        mantissa *= 10u128.pow(pad);
        let fraction_digits = ((scale + pad) / 4) as i16;
        let mut digits: Vec<i16> = Vec::new();
        while mantissa > 0 {
            digits.push((mantissa % 10_000) as i16);
            mantissa /= 10_000;
        }
        digits.reverse();
        let weight = digits.len() as i16 - 1 - fraction_digits;
        // Trailing zero digits carry nothing (the display scale keeps the places).
        while digits.last() == Some(&0) {
            digits.pop();
        }
        let sign: u16 = if value.is_sign_negative() && !digits.is_empty() { 0x4000 } else { 0 };
        let len = 8 + 2 * digits.len();
        self.buf.extend_from_slice(&(len as i32).to_be_bytes());
        self.buf.extend_from_slice(&(digits.len() as i16).to_be_bytes());
        self.buf.extend_from_slice(&(if digits.is_empty() { 0 } else { weight }).to_be_bytes());
        self.buf.extend_from_slice(&sign.to_be_bytes());
        self.buf.extend_from_slice(&(scale as i16).to_be_bytes());
        for d in digits {
            self.buf.extend_from_slice(&d.to_be_bytes());
        }
        self
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}
