//! Pure domain code: no I/O, no database, no HTTP. Parsing of user input into domain values.

pub mod balance;
pub mod dates;
pub mod gs1;
pub mod lotcode;
pub mod quantity;
pub mod status;
pub mod text;
pub mod vocab;
