//! lotline's integration tests: the real application on a real PostgreSQL, over real HTTP.
//! One binary; a module per area. See `helpers` for how the database is shared.

mod api;
mod audit;
mod auth;
mod browser;
mod builders;
mod cli;
mod corrections;
mod counts;
mod dates;
mod embedded;
mod epcis;
mod errors;
mod exports;
mod helpers;
mod home;
mod import;
mod ledger;
mod locations;
mod lookup;
mod lots;
mod materials;
mod parties;
mod production;
mod recalls;
mod receipts;
mod replica;
mod rules;
mod scanning;
mod schema;
mod shipping;
mod sites;
mod today;
mod trace;
mod users;
mod vocabulary;
