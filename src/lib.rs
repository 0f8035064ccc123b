//! lotline: lot tracking for manufacturing — where every lot came from, what it went into and who
//! received it. See docs/architecture.md for the layers.

pub mod alerts;
pub mod app;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod config;
pub mod db;
pub mod documents;
pub mod domain;
pub mod error;
pub mod import;
pub mod ledger;
pub mod master;
pub mod qa;
pub mod recall;
pub mod rules;
pub mod save;
pub mod stock;
pub mod tools;
pub mod trace;
pub mod web;

pub use domain::vocab::Permission;
pub use error::Error;
