//! Stock counts: the list and a location to count, a count's page (blind while counting, the
//! variances once submitted, printable once posted).

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Deserialize;
use uuid::Uuid;

use super::{FlashKind, Layout, redirect_with_flash, render_with};
use crate::auth::{CurrentUser, Permission};
use crate::error::{Error, Result};
use crate::save::{FieldErrors, SaveError};
use crate::stock::counts;
use crate::web::AppState;

pub fn router() -> Router<AppState> {
    let read = Router::new().route("/counts", get(index)).route("/counts/{id}", get(show));
    let count = Router::new()
        .route("/counts", post(open))
        .route("/counts/{id}/lines", post(line))
        .route("/counts/{id}/submit", post(submit))
        .route("/counts/{id}/recount", post(recount));
    let posting = Router::new().route("/counts/{id}/post", post(post_count));
    super::guarded(read, Permission::LotsRead)
        .merge(super::guarded(count, Permission::StockMove))
        .merge(super::guarded(posting, Permission::StockCountPost))
}

#[derive(Debug, sqlx::FromRow)]
struct CountRow {
    id: Uuid,
    number: String,
    location: String,
    status: String,
    opened_at: DateTime<Utc>,
    opened_by: String,
    submitted_at: Option<DateTime<Utc>>,
    posted_at: Option<DateTime<Utc>>,
    posted_by: Option<String>,
    post_reason: Option<String>,
    lines: i64,
}

const SELECT: &str = "select c.id, c.number, s.code || ' / ' || l.code as location, c.status, c.opened_at,
        coalesce(u.display_name, '') as opened_by, c.submitted_at, c.posted_at, p.display_name as posted_by, c.post_reason,
        (select count(*) from stock_count_lines x where x.count_id = c.id) as lines
   from stock_counts c join locations l on l.id = c.location_id join sites s on s.id = l.site_id
   left join users u on u.id = c.opened_by left join users p on p.id = c.posted_by";

#[derive(Template)]
#[template(path = "counts/index.html")]
struct IndexPage {
    layout: Layout,
    counts: Vec<CountRow>,
    locations: Vec<(Uuid, String)>,
    errors: FieldErrors,
}

async fn index_page(state: &AppState, status: StatusCode, layout: Layout, errors: FieldErrors) -> Result<Response> {
    let counts = sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} order by c.opened_at desc limit 200")))
        .fetch_all(&state.pool)
        .await?;
    let locations = sqlx::query_as(
        "select l.id, s.code || ' / ' || l.code || ' · ' || l.name from locations l join sites s on s.id = l.site_id
          where l.active order by s.code, l.code",
    )
    .fetch_all(&state.pool)
    .await?;
    render_with(status, &IndexPage { layout, counts, locations, errors })
}

async fn index(State(state): State<AppState>, layout: Layout) -> Result<Response> {
    index_page(&state, StatusCode::OK, layout, FieldErrors::default()).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct OpenForm {
    location_id: String,
}

async fn open(
    State(state): State<AppState>,
    user: CurrentUser,
    layout: Layout,
    Form(f): Form<OpenForm>,
) -> Result<Response> {
    let opened = async {
        let location = Uuid::parse_str(f.location_id.trim())
            .map_err(|_| SaveError::field("location_id", "Choose the location to count."))?;
        counts::open(&state.pool, &user.person(), location).await
    };
    match super::outcome(opened.await)? {
        Ok(id) => Ok(redirect_with_flash(
            &format!("/counts/{id}"),
            FlashKind::Success,
            "Count opened: scan or type each lot and what you count.",
        )),
        Err(errors) => index_page(&state, StatusCode::UNPROCESSABLE_ENTITY, layout, errors).await,
    }
}

/// One line as the page shows it.
#[derive(Debug, sqlx::FromRow)]
pub struct LineRow {
    pub id: i64,
    pub lot_id: Uuid,
    pub lot: String,
    pub material: String,
    pub uom: String,
    pub counted: Option<Decimal>,
    pub expected: Option<Decimal>,
    pub movement_id: Option<i64>,
    pub post_reason: Option<String>,
    /// The material's tolerance, in percent of the expected quantity.
    pub tolerance: Decimal,
    /// Where else the ledger holds the lot ("DOCK (5 kg)"), for a lot counted where it holds none.
    pub elsewhere: String,
}

impl LineRow {
    pub fn variance(&self) -> Decimal {
        (self.counted.unwrap_or_default() - self.expected.unwrap_or_default()).normalize()
    }

    /// matching, short, over, unexpected (not in the ledger here) or not found.
    pub fn verdict(&self) -> &'static str {
        let expected = self.expected.unwrap_or_default();
        match self.counted {
            None => "not found",
            Some(_) if expected.is_zero() => "unexpected",
            Some(c) if c == expected => "matching",
            Some(c) if c < expected => "short",
            Some(_) => "over",
        }
    }

    /// Whether the variance is beyond the material's tolerance (QA gives the line's reason).
    pub fn beyond_tolerance(&self) -> bool {
        let expected = self.expected.unwrap_or_default();
        self.variance().abs() > expected * self.tolerance / Decimal::ONE_HUNDRED
    }

    /// A variance not yet posted.
    pub fn waiting(&self) -> bool {
        self.movement_id.is_none() && !self.variance().is_zero()
    }

    pub fn field(&self) -> String {
        counts::line_field(self.id)
    }
}

#[derive(Template)]
#[template(path = "counts/show.html")]
struct ShowPage {
    layout: Layout,
    count: CountRow,
    lines: Vec<LineRow>,
    errors: FieldErrors,
}

async fn show_page(
    state: &AppState,
    status: StatusCode,
    layout: Layout,
    id: Uuid,
    errors: FieldErrors,
) -> Result<Response> {
    let count: CountRow = sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} where c.id = $1")))
        .bind(id)
        .fetch_optional(&state.pool)
        .await?
        .ok_or(Error::NotFound)?;
    let lines = sqlx::query_as(
        "select c.id, c.lot_id, l.code as lot, m.code as material, m.uom, trim_scale(c.counted) as counted,
                trim_scale(c.expected) as expected, c.movement_id, c.post_reason, m.count_tolerance_percent as tolerance,
                coalesce((select string_agg(x.code || ' (' || trim_scale(o.quantity) || ' ' || m.uom || ')', ', ' order by x.code)
                            from on_hand o join locations x on x.id = o.location_id
                           where o.lot_id = c.lot_id and o.quantity > 0 and o.location_id <> k.location_id), '') as elsewhere
           from stock_count_lines c join stock_counts k on k.id = c.count_id join lots l on l.id = c.lot_id
           join materials m on m.id = l.material_id
          where c.count_id = $1 order by m.code, l.code",
    )
    .bind(id)
    .fetch_all(&state.pool)
    .await?;
    render_with(status, &ShowPage { layout, count, lines, errors })
}

async fn show(State(state): State<AppState>, layout: Layout, Path(id): Path<String>) -> Result<Response> {
    let id = super::parse_id(&id)?;
    show_page(&state, StatusCode::OK, layout, id, FieldErrors::default()).await
}

async fn respond(
    state: &AppState,
    layout: Layout,
    id: Uuid,
    result: std::result::Result<String, SaveError>,
) -> Result<Response> {
    match super::outcome(result)? {
        Ok(message) => Ok(redirect_with_flash(&format!("/counts/{id}"), FlashKind::Success, &message)),
        Err(errors) => show_page(state, StatusCode::UNPROCESSABLE_ENTITY, layout, id, errors).await,
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct LineForm {
    lot: String,
    quantity: String,
}

async fn line(
    State(state): State<AppState>,
    user: CurrentUser,
    layout: Layout,
    Path(id): Path<String>,
    Form(f): Form<LineForm>,
) -> Result<Response> {
    let id = super::parse_id(&id)?;
    let result = async {
        let quantity = match crate::domain::text::non_negative_decimal(&f.quantity, "The counted quantity") {
            Ok(q) if !f.quantity.trim().is_empty() => q,
            Ok(_) => {
                return Err(SaveError::field("quantity", "Give the quantity counted (0 if the lot is not there)."));
            }
            Err(m) => return Err(SaveError::field("quantity", m)),
        };
        let counted = counts::Counted { lot: f.lot.clone(), quantity };
        counts::count(&state.pool, &user.person(), id, &counted).await.map(|_| "Counted.".to_string())
    }
    .await;
    respond(&state, layout, id, result).await
}

async fn submit(
    State(state): State<AppState>,
    user: CurrentUser,
    layout: Layout,
    Path(id): Path<String>,
) -> Result<Response> {
    let id = super::parse_id(&id)?;
    let result = counts::submit(&state.pool, &user.person(), id)
        .await
        .map(|_| "Submitted: the variances are shown.".to_string());
    respond(&state, layout, id, result).await
}

async fn recount(
    State(state): State<AppState>,
    user: CurrentUser,
    layout: Layout,
    Path(id): Path<String>,
) -> Result<Response> {
    let id = super::parse_id(&id)?;
    let result = counts::recount(&state.pool, &user.person(), id)
        .await
        .map(|_| "Counting again: the expected quantities are hidden.".to_string());
    respond(&state, layout, id, result).await
}

/// The post form: `line` once per chosen line, `reason_{line}` and `here_{line}` beside each, and
/// the count's `post_reason`.
fn post_form(body: &[u8]) -> counts::PostCount {
    let mut p = counts::PostCount::default();
    let (mut reasons, mut here) = (std::collections::HashMap::new(), std::collections::HashSet::new());
    for (k, v) in form_urlencoded::parse(body) {
        match k.as_ref() {
            "post_reason" => p.reason = v.into_owned(),
            "line" => {
                if let Ok(line) = v.trim().parse::<i64>() {
                    p.lines.push(counts::PostLine { line, ..Default::default() });
                }
            }
            k => {
                if let Some(line) = k.strip_prefix("reason_").and_then(|l| l.parse::<i64>().ok()) {
                    reasons.insert(line, v.into_owned());
                } else if let Some(line) = k.strip_prefix("here_").and_then(|l| l.parse::<i64>().ok())
                    && v == "yes"
                {
                    here.insert(line);
                }
            }
        }
    }
    for l in &mut p.lines {
        l.reason = reasons.remove(&l.line).unwrap_or_default();
        l.confirmed_here = here.contains(&l.line);
    }
    p
}

async fn post_count(
    State(state): State<AppState>,
    user: CurrentUser,
    layout: Layout,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response> {
    let id = super::parse_id(&id)?;
    let fields: Vec<(String, String)> =
        form_urlencoded::parse(&body).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    let post = post_form(&body);
    // A plausible posting is asked first; an implausible one goes on to be refused with its reason.
    let plausible = !post.lines.is_empty()
        && crate::domain::text::optional(&post.reason, "The reason", 500).is_ok()
        && post.lines.iter().all(|l| crate::domain::text::optional(&l.reason, "The reason", 500).is_ok());
    if plausible && !fields.iter().any(|(k, v)| k == "confirmed" && super::confirm::confirmed(v)) {
        let number: String = sqlx::query_scalar("select number from stock_counts where id = $1")
            .bind(id)
            .fetch_optional(&state.pool)
            .await?
            .ok_or(Error::NotFound)?;
        let what = format!(
            "Post count {number}'s variances to the ledger? Each becomes an adjustment of the stock on hand, in everyone's figures."
        );
        let (action, back) = (format!("/counts/{id}/post"), format!("/counts/{id}"));
        let ask = super::confirm::Ask {
            title: "Post the count?",
            what: &what,
            action: &action,
            fields,
            button: "Post",
            back: &back,
        };
        return super::confirm::ask(layout, &ask);
    }
    let result = counts::post(&state.pool, &user.person(), id, &post).await.map(|p| match p.waiting {
        0 => format!("Posted: {} adjustments in the ledger; the count is complete.", p.posted),
        n => format!("Posted: {} adjustments in the ledger; {n} lines still wait.", p.posted),
    });
    respond(&state, layout, id, result).await
}
