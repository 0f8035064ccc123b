//! Production runs: the list, opening a run, a run's page with its inputs, outputs and yield,
//! the forms that post inputs (scan a lot; FEFO suggestions) and outputs, and closing a run.

use askama::Template;
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Deserialize;
use uuid::Uuid;

use super::{FlashKind, Layout, redirect_with_flash, render, render_with};
use crate::auth::{CurrentUser, Permission};
use crate::domain::text;
use crate::domain::vocab::MovementKind;
use crate::error::{Error, Result};
use crate::save::parse_idempotency_key;
use crate::save::{FieldErrors, SaveError};
use crate::stock::production::{self, LotPick, OpenRun, PostInput, PostOutput};
use crate::web::AppState;

pub fn router() -> Router<AppState> {
    let read = Router::new().route("/runs", get(index)).route("/runs/{id}", get(show));
    let write = Router::new()
        .route("/runs", post(open))
        .route("/runs/new", get(new))
        .route("/runs/{id}/inputs", post(input))
        .route("/runs/{id}/outputs", post(output))
        .route("/runs/{id}/close", post(close))
        .route("/runs/{id}/inputs/{movement}/reverse", post(take_back));
    super::guarded(read, Permission::LotsRead).merge(super::guarded(write, Permission::StockProduce))
}

#[derive(Debug, sqlx::FromRow)]
struct RunRow {
    id: Uuid,
    number: String,
    status: String,
    site: String,
    line: Option<String>,
    material_code: String,
    material_name: String,
    uom: String,
    planned_quantity: Option<Decimal>,
    order_ref: String,
    opened_at: DateTime<Utc>,
    closed_at: Option<DateTime<Utc>>,
    output_material_id: Uuid,
}

const SELECT: &str = "select r.id, r.number, r.status, s.code as site, pl.code as line, m.code as material_code, m.name as material_name, m.uom,
        r.planned_quantity, r.order_ref, r.opened_at, r.closed_at, r.output_material_id
   from production_runs r join sites s on s.id = r.site_id join materials m on m.id = r.output_material_id
   left join production_lines pl on pl.id = r.line_id";

#[derive(Template)]
#[template(path = "runs/index.html")]
struct IndexPage {
    layout: Layout,
    runs: Vec<RunRow>,
    paging: super::Paging,
}

/// What a search of the runs matches: the run's number, its order, its material's code or name.
const RUNS_MATCH: &str =
    "($1::text is null or r.number ilike $1 or r.order_ref ilike $1 or m.code ilike $1 or m.name ilike $1)";

/// Every run, open ones first, a page at a time, searchable.
async fn index(
    State(state): State<AppState>,
    layout: Layout,
    Query(query): Query<super::ListQuery>,
) -> Result<Response> {
    let mut paging = super::Paging::new(&query);
    let pattern = paging.pattern();
    let runs = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} where {RUNS_MATCH} order by (r.status = 'open') desc, r.opened_at desc, r.number desc limit $2 offset $3"
    )))
    .bind(&pattern)
    .bind(paging.per_page)
    .bind(paging.offset())
    .fetch_all(&state.pool)
    .await?;
    paging.total = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "select count(*) from production_runs r join materials m on m.id = r.output_material_id where {RUNS_MATCH}"
    )))
    .bind(&pattern)
    .fetch_one(&state.pool)
    .await?;
    render(&IndexPage { layout, runs, paging })
}

#[derive(Template)]
#[template(path = "runs/new.html")]
struct NewPage {
    layout: Layout,
    form: RunForm,
    errors: FieldErrors,
    sites: Vec<(Uuid, String)>,
    lines: Vec<(Uuid, String)>,
    materials: Vec<(Uuid, String)>,
}

async fn new_page(
    state: &AppState,
    status: StatusCode,
    layout: Layout,
    form: RunForm,
    errors: FieldErrors,
) -> Result<Response> {
    let pool = &state.pool;
    let sites = sqlx::query_as("select id, code || ' · ' || name from sites where active order by code")
        .fetch_all(pool)
        .await?;
    let lines = sqlx::query_as(
        "select l.id, s.code || ' / ' || l.code || ' · ' || l.name from production_lines l join sites s on s.id = l.site_id where l.active order by s.code, l.code",
    )
    .fetch_all(pool)
    .await?;
    let materials = sqlx::query_as(
        "select id, code || ' · ' || name || ' (' || uom || ')' from materials where active and kind in ('intermediate', 'finished') order by code",
    )
    .fetch_all(pool)
    .await?;
    render_with(status, &NewPage { layout, form, errors, sites, lines, materials })
}

/// The form that opens a run.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RunForm {
    pub site_id: String,
    pub line_id: String,
    pub output_material_id: String,
    pub planned_quantity: String,
    pub order_ref: String,
    pub idempotency_key: String,
}

impl TryFrom<&RunForm> for OpenRun {
    type Error = SaveError;

    fn try_from(f: &RunForm) -> std::result::Result<OpenRun, SaveError> {
        let mut e = FieldErrors::default();
        let site = Uuid::parse_str(f.site_id.trim()).map_err(|_| e.add("site_id", "Choose the site.")).ok();
        let material = Uuid::parse_str(f.output_material_id.trim())
            .map_err(|_| e.add("output_material_id", "Choose the material this run makes."))
            .ok();
        let line = match f.line_id.trim() {
            "" => None,
            id => Uuid::parse_str(id).map_err(|_| e.add("line_id", "Choose a production line from the list.")).ok(),
        };
        let planned_quantity =
            e.check("planned_quantity", text::positive_decimal(&f.planned_quantity, "The planned quantity"));
        let order_ref = e.check("order_ref", text::optional(&f.order_ref, "The order", 100));
        let key = parse_idempotency_key(&f.idempotency_key)?;
        match (site, material) {
            (Some(site), Some(output_material)) if e.is_empty() => Ok(OpenRun {
                site,
                line,
                output_material,
                planned_quantity,
                order_ref: Some(order_ref).filter(|o| !o.is_empty()),
                key,
            }),
            _ => Err(e.into()),
        }
    }
}

/// The form that posts an input lot.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct InputForm {
    /// The lot's code as scanned or typed.
    pub lot: String,
    /// The lot's id, when it was picked from a list (a code shared by two materials).
    pub lot_id: String,
    pub quantity: String,
    pub location_id: String,
    pub idempotency_key: String,
}

impl TryFrom<&InputForm> for PostInput {
    type Error = SaveError;

    fn try_from(f: &InputForm) -> std::result::Result<PostInput, SaveError> {
        let quantity =
            text::required_decimal(&f.quantity, "The quantity").map_err(|m| SaveError::field("quantity", m))?;
        let lot =
            LotPick::named(Uuid::parse_str(f.lot_id.trim()).ok(), &f.lot).map_err(|m| SaveError::field("lot", m))?;
        let location = match f.location_id.trim() {
            "" => None,
            id => Some(
                Uuid::parse_str(id)
                    .map_err(|_| SaveError::field("location_id", "Choose a location of the run's site."))?,
            ),
        };
        Ok(PostInput { lot, quantity, location, key: parse_idempotency_key(&f.idempotency_key)? })
    }
}

/// The form that posts an output.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct OutputForm {
    pub output_quantity: String,
    pub location_id: String,
    /// The code of an existing lot of the output material to top up (a bulk tank), or empty for a new lot.
    pub topup: String,
    pub idempotency_key: String,
}

impl TryFrom<&OutputForm> for PostOutput {
    type Error = SaveError;

    fn try_from(f: &OutputForm) -> std::result::Result<PostOutput, SaveError> {
        let quantity = text::required_decimal(&f.output_quantity, "The quantity")
            .map_err(|m| SaveError::field("output_quantity", m))?;
        let location = Uuid::parse_str(f.location_id.trim())
            .map_err(|_| SaveError::field("output_location", "Choose where the output is put."))?;
        let topup = Some(f.topup.trim().to_string()).filter(|t| !t.is_empty());
        Ok(PostOutput { quantity, location, topup, key: parse_idempotency_key(&f.idempotency_key)? })
    }
}

async fn new(State(state): State<AppState>, layout: Layout) -> Result<Response> {
    let form = RunForm { idempotency_key: Uuid::new_v4().to_string(), ..Default::default() };
    new_page(&state, StatusCode::OK, layout, form, FieldErrors::default()).await
}

async fn open(
    State(state): State<AppState>,
    user: CurrentUser,
    layout: Layout,
    Form(form): Form<RunForm>,
) -> Result<Response> {
    let opened = async { production::open(&state.pool, &user.actor(), &OpenRun::try_from(&form)?).await };
    match super::outcome(opened.await)? {
        Ok(id) => Ok(redirect_with_flash(
            &format!("/runs/{id}"),
            FlashKind::Success,
            "Run opened: post its inputs and outputs.",
        )),
        Err(errors) => new_page(&state, StatusCode::UNPROCESSABLE_ENTITY, layout, form, errors).await,
    }
}

#[derive(Debug, sqlx::FromRow)]
struct PostingRow {
    movement_id: i64,
    lot_id: Uuid,
    lot_code: String,
    material_code: String,
    quantity: Decimal,
    uom: String,
    location: String,
    occurred_at: DateTime<Utc>,
    kg: Option<Decimal>,
}

/// A lot that could go into the run: released, unheld, unexpired, with stock at the run's site.
#[derive(Debug)]
struct Candidate {
    lot_id: Uuid,
    lot_code: String,
    expires_on: Option<NaiveDate>,
    location_id: Uuid,
    location: String,
    quantity: Decimal,
    uom: String,
    /// A fresh idempotency key for this row's "Use" form.
    key: String,
}

#[derive(Template)]
#[template(path = "runs/show.html")]
struct ShowPage {
    layout: Layout,
    run: RunRow,
    inputs: Vec<PostingRow>,
    outputs: Vec<PostingRow>,
    yield_percent: Option<String>,
    candidates: Vec<Candidate>,
    fefo_material: String,
    /// What the FEFO helper could not make of what was typed.
    fefo_problem: Option<String>,
    materials: Vec<(String, String)>,
    locations: Vec<(Uuid, String)>,
    input_form: InputForm,
    output_form: OutputForm,
    errors: FieldErrors,
    history: Vec<crate::audit::Shown>,
    /// Open recalls that hold a lot this run consumed: (recall id, number, lot code).
    recalled_inputs: Vec<(Uuid, String, String)>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ShowQuery {
    material: String,
}

async fn show(
    State(state): State<AppState>,
    layout: Layout,
    Path(id): Path<String>,
    Query(q): Query<ShowQuery>,
) -> Result<Response> {
    let id = super::parse_id(&id)?;
    run_page(
        &state,
        StatusCode::OK,
        layout,
        id,
        &q.material,
        InputForm::default(),
        OutputForm::default(),
        FieldErrors::default(),
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn run_page(
    state: &AppState,
    status: StatusCode,
    layout: Layout,
    id: Uuid,
    fefo_material: &str,
    mut input_form: InputForm,
    mut output_form: OutputForm,
    errors: FieldErrors,
) -> Result<Response> {
    let pool = &state.pool;
    let run: RunRow = sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} where r.id = $1")))
        .bind(id)
        .fetch_optional(pool)
        .await?
        .ok_or(Error::NotFound)?;
    let postings = |kind: MovementKind| {
        format!(
            "select mv.id as movement_id, l.id as lot_id, l.code as lot_code, m.code as material_code, abs(mv.quantity) as quantity, m.uom, c.code as location, mv.occurred_at,
                    abs(mv.quantity) * case when u.dimension = 'mass' then u.to_base else m.mass_per_unit_kg end as kg
               from stock_movements mv join lots l on l.id = mv.lot_id join materials m on m.id = l.material_id
               join units u on u.code = m.uom join locations c on c.id = mv.location_id
              where mv.run_id = $1 and mv.kind = '{kind}' and not exists (select 1 from stock_movements x where x.reverses_id = mv.id)
              order by mv.id"
        )
    };
    let inputs: Vec<PostingRow> =
        sqlx::query_as(sqlx::AssertSqlSafe(postings(MovementKind::Consume))).bind(id).fetch_all(pool).await?;
    let outputs: Vec<PostingRow> =
        sqlx::query_as(sqlx::AssertSqlSafe(postings(MovementKind::Produce))).bind(id).fetch_all(pool).await?;
    let total = |rows: &[PostingRow]| rows.iter().map(|r| r.kg).sum::<Option<Decimal>>();
    let yield_percent = match (total(&inputs), total(&outputs)) {
        (Some(i), Some(o)) if i > Decimal::ZERO => Some(format!("{:.1}", (o * Decimal::ONE_HUNDRED / i).round_dp(1))),
        _ => None,
    };
    // The material as typed (any case, part of its name), then its usable lots, first expiring first.
    let (mut fefo_material, mut fefo_problem) = (fefo_material.trim().to_string(), None);
    let material = match fefo_material.as_str() {
        "" => None,
        typed => match crate::master::materials::named(pool, typed).await? {
            Ok((material, code)) => {
                fefo_material = code;
                Some(material)
            }
            Err(m) => {
                fefo_problem = Some(m);
                None
            }
        },
    };
    let candidates: Vec<Candidate> = match material {
        None => Vec::new(),
        Some(material) => {
            let site: Uuid = sqlx::query_scalar("select site_id from production_runs where id = $1")
                .bind(id)
                .fetch_one(pool)
                .await?;
            crate::stock::ship::pickable(pool, site, material, 20)
                .await?
                .into_iter()
                .map(|p| Candidate {
                    lot_id: p.lot_id,
                    lot_code: p.lot_code,
                    expires_on: p.expires_on,
                    location_id: p.location_id,
                    location: p.location_code,
                    quantity: p.available,
                    uom: p.uom,
                    key: Uuid::new_v4().to_string(),
                })
                .collect()
        }
    };
    let materials =
        sqlx::query_as("select code, name from materials where active order by code").fetch_all(pool).await?;
    let locations = sqlx::query_as(
        "select c.id, c.code || ' · ' || c.name from locations c join production_runs r on r.site_id = c.site_id
          where r.id = $1 and c.active order by (c.kind <> 'production'), c.code",
    )
    .bind(id)
    .fetch_all(pool)
    .await?;
    let history = crate::audit::history(pool, "run", id).await?;
    let recalled_inputs = sqlx::query_as(
        "select distinct r.id, r.number, l.code from stock_movements m join lot_holds h on h.lot_id = m.lot_id and h.closed_at is null
           join recalls r on r.id = h.recall_id and r.status = 'open' join lots l on l.id = m.lot_id
          where m.run_id = $1 and m.kind = 'consume' order by r.number, l.code",
    )
    .bind(id)
    .fetch_all(pool)
    .await?;
    if input_form.idempotency_key.is_empty() || errors.is_empty() {
        input_form.idempotency_key = Uuid::new_v4().to_string();
    }
    if output_form.idempotency_key.is_empty() || errors.is_empty() {
        output_form.idempotency_key = Uuid::new_v4().to_string();
    }
    render_with(
        status,
        &ShowPage {
            layout,
            run,
            inputs,
            outputs,
            yield_percent,
            candidates,
            fefo_material,
            fefo_problem,
            materials,
            locations,
            input_form,
            output_form,
            errors,
            history,
            recalled_inputs,
        },
    )
}

async fn input(
    State(state): State<AppState>,
    user: CurrentUser,
    layout: Layout,
    Path(id): Path<String>,
    Form(form): Form<InputForm>,
) -> Result<Response> {
    let id = super::parse_id(&id)?;
    let posted = async { production::post_input(&state.pool, &user.actor(), id, &PostInput::try_from(&form)?).await };
    match super::outcome(posted.await)? {
        Ok(consumed) => Ok(redirect_with_flash(
            &format!("/runs/{id}"),
            if consumed.warning.is_some() { FlashKind::Warning } else { FlashKind::Success },
            &format!(
                "Input posted: {} {}.{}",
                form.quantity.trim(),
                form.lot.trim(),
                consumed.warning.map(|w| format!(" {w}")).unwrap_or_default()
            ),
        )),
        Err(errors) => {
            run_page(&state, StatusCode::UNPROCESSABLE_ENTITY, layout, id, "", form, OutputForm::default(), errors)
                .await
        }
    }
}

async fn output(
    State(state): State<AppState>,
    user: CurrentUser,
    layout: Layout,
    Path(id): Path<String>,
    Form(form): Form<OutputForm>,
) -> Result<Response> {
    let id = super::parse_id(&id)?;
    let posted = async { production::post_output(&state.pool, &user.actor(), id, &PostOutput::try_from(&form)?).await };
    match super::outcome(posted.await)? {
        Ok((_, code)) => {
            Ok(redirect_with_flash(&format!("/runs/{id}"), FlashKind::Success, &format!("Output posted: lot {code}.")))
        }
        Err(errors) => {
            run_page(&state, StatusCode::UNPROCESSABLE_ENTITY, layout, id, "", InputForm::default(), form, errors).await
        }
    }
}

/// Taking back an input posted by mistake, from the run's page.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct TakeBackForm {
    reverse_reason: String,
    confirm: String,
    signer: String,
    password: String,
}

/// Takes back a wrong input: the consumption is reversed through the reversal rules (its reason
/// in the ledger, the run's links from that lot marked reversed, QA's signature where a recall
/// reached the lot), and the lot's stock is back where it was taken from.
async fn take_back(
    State(state): State<AppState>,
    user: CurrentUser,
    layout: Layout,
    Path((id, movement)): Path<(String, i64)>,
    Form(form): Form<TakeBackForm>,
) -> Result<Response> {
    let id = super::parse_id(&id)?;
    let input: Option<(Uuid, String)> = sqlx::query_as(
        "select m.lot_id, l.code from stock_movements m join lots l on l.id = m.lot_id
          where m.id = $1 and m.run_id = $2 and m.kind = 'consume'",
    )
    .bind(movement)
    .bind(id)
    .fetch_optional(&state.pool)
    .await?;
    let (lot, code) = input.ok_or(Error::NotFound)?;
    let command = crate::stock::moves::Reverse {
        movement,
        reason: form.reverse_reason,
        confirmed: form.confirm == "yes",
        signer: form.signer,
        password: form.password,
    };
    match super::outcome(crate::stock::moves::reverse(&state.pool, &user.person(), lot, &command).await)? {
        Ok(()) => Ok(redirect_with_flash(
            &format!("/runs/{id}"),
            FlashKind::Success,
            &format!("Input taken back: lot {code} is back in stock, and no longer an input of this run's outputs."),
        )),
        Err(errors) => refused(&state, layout, id, errors).await,
    }
}

/// The run's page again, with why a posting on it was refused.
async fn refused(state: &AppState, layout: Layout, id: Uuid, errors: FieldErrors) -> Result<Response> {
    let (input, output) = (InputForm::default(), OutputForm::default());
    run_page(state, StatusCode::UNPROCESSABLE_ENTITY, layout, id, "", input, output, errors).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CloseForm {
    confirmed: String,
}

async fn close(
    State(state): State<AppState>,
    user: CurrentUser,
    layout: Layout,
    Path(id): Path<String>,
    Form(form): Form<CloseForm>,
) -> Result<Response> {
    let id = super::parse_id(&id)?;
    if !super::confirm::confirmed(&form.confirmed) {
        let number: String = sqlx::query_scalar("select number from production_runs where id = $1")
            .bind(id)
            .fetch_optional(&state.pool)
            .await?
            .ok_or(Error::NotFound)?;
        let what = format!("Close run {number}? Nothing more can be posted to it, input or output.");
        let (action, back) = (format!("/runs/{id}/close"), format!("/runs/{id}"));
        let ask = super::confirm::Ask {
            title: "Close the run?",
            what: &what,
            action: &action,
            fields: Vec::new(),
            button: "Close run",
            back: &back,
        };
        return super::confirm::ask(layout, &ask);
    }
    match super::outcome(production::close(&state.pool, &user.actor(), id).await)? {
        Ok(()) => Ok(redirect_with_flash(&format!("/runs/{id}"), FlashKind::Success, "Run closed.")),
        Err(errors) => refused(&state, layout, id, errors).await,
    }
}
