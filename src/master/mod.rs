//! Master data operations (sites, locations, materials, parties): parse input into checked
//! values, then write in one transaction. Pages, the JSON API, the CLI and the demo call these.

pub mod locations;
pub mod materials;
pub mod parties;
pub mod sites;

/// The value of an HTML checkbox: present (any value) means ticked.
pub fn ticked(value: &Option<String>) -> bool {
    value.as_deref().is_some_and(|v| !v.is_empty() && v != "false" && v != "0")
}
