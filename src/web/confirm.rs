//! Confirm before destroying. A scrap, a run's closing or a count's posting asks first: with a
//! script, a dialog (the form then carries `confirmed=yes`); without one, this page, which posts
//! the same fields again with `confirmed=yes`, or goes back.

use askama::Template;
use axum::response::Response;

use super::{Layout, render};
use crate::error::Result;

#[derive(Template)]
#[template(path = "confirm.html")]
struct ConfirmPage<'a> {
    layout: Layout,
    title: &'a str,
    what: &'a str,
    action: &'a str,
    fields: &'a [(String, String)],
    button: &'a str,
    back: &'a str,
}

/// What is to be confirmed, and where it goes.
pub struct Ask<'a> {
    /// The page's heading: "Scrap stock?"
    pub title: &'a str,
    /// The act in full: what, how much, of which lot, where.
    pub what: &'a str,
    /// Where the form posts, and its fields as posted.
    pub action: &'a str,
    pub fields: Vec<(String, String)>,
    pub button: &'a str,
    pub back: &'a str,
}

/// Whether the person confirmed (`confirmed=yes` among the posted fields).
pub fn confirmed(value: &str) -> bool {
    value.trim() == "yes"
}

/// The page asking to confirm.
pub fn ask(layout: Layout, a: &Ask<'_>) -> Result<Response> {
    let fields: Vec<(String, String)> =
        a.fields.iter().filter(|(k, _)| k != "csrf_token" && k != "confirmed").cloned().collect();
    render(&ConfirmPage {
        layout,
        title: a.title,
        what: a.what,
        action: a.action,
        fields: &fields,
        button: a.button,
        back: a.back,
    })
}
