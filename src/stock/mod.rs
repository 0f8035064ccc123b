//! Stock operations: each one transaction that moves stock through the ledger and writes its
//! genealogy, called alike by pages, the API, the CLI and the importer.

pub mod counts;
pub mod moves;
pub mod production;
pub mod receive;
pub mod returns;
pub mod ship;
pub mod split;
