//! Pages for parties (suppliers and customers): list, a party's page with its contacts, create and edit.

use askama::Template;
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;

use super::{Flash, FlashKind, Layout, Paging, redirect_with_flash, render, render_with};
use crate::auth::{CurrentUser, Permission};
use crate::error::Result;
use crate::master::parties::{self, Contact, ContactForm, Party, PartyForm, PartyInput};
use crate::save::{FieldErrors, STALE_MESSAGE, SaveError, parse_idempotency_key, parse_version};
use crate::web::AppState;

pub fn router() -> Router<AppState> {
    let read = Router::new().route("/parties", get(index)).route("/parties/{id}", get(show));
    let write = Router::new()
        .route("/parties", post(create))
        .route("/parties/new", get(new))
        .route("/parties/{id}/edit", get(edit).post(update))
        .route("/parties/{id}/contacts", post(add_contact));
    super::guarded(read, Permission::LotsRead).merge(super::guarded(write, Permission::MasterEdit))
}

#[derive(Debug, Default, Deserialize)]
struct PartyQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    role: String,
    page: Option<String>,
}

#[derive(Template)]
#[template(path = "parties/index.html")]
struct IndexPage {
    layout: Layout,
    parties: Vec<Party>,
    paging: Paging,
    role: String,
}

async fn index(State(state): State<AppState>, layout: Layout, Query(query): Query<PartyQuery>) -> Result<Response> {
    let mut paging = Paging::new(&super::ListQuery { q: query.q, page: query.page, ..Default::default() });
    let role = match query.role.as_str() {
        "supplier" | "customer" => Some(query.role.as_str()),
        _ => None,
    };
    let (parties, total) =
        parties::list(&state.pool, paging.pattern().as_deref(), role, paging.per_page, paging.offset()).await?;
    paging.total = total;
    render(&IndexPage { layout, parties, paging, role: role.unwrap_or_default().to_string() })
}

#[derive(Template)]
#[template(path = "parties/show.html")]
struct ShowPage {
    layout: Layout,
    party: Party,
    contacts: Vec<Contact>,
    contact_form: ContactForm,
    errors: FieldErrors,
    history: Vec<crate::audit::Shown>,
}

async fn show_page(
    state: &AppState,
    layout: Layout,
    id: uuid::Uuid,
    contact_form: ContactForm,
    errors: FieldErrors,
) -> Result<Response> {
    let party = parties::get(&state.pool, id).await?;
    let contacts = parties::contacts(&state.pool, id).await?;
    let history = crate::audit::history(&state.pool, "party", id).await?;
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    render_with(status, &ShowPage { layout, party, contacts, contact_form, errors, history })
}

async fn show(State(state): State<AppState>, layout: Layout, Path(id): Path<String>) -> Result<Response> {
    show_page(&state, layout, super::parse_id(&id)?, ContactForm::default(), FieldErrors::default()).await
}

async fn add_contact(
    State(state): State<AppState>,
    user: CurrentUser,
    layout: Layout,
    Path(id): Path<String>,
    Form(form): Form<ContactForm>,
) -> Result<Response> {
    let id = super::parse_id(&id)?;
    parties::get(&state.pool, id).await?;
    match super::outcome(parties::add_contact(&state.pool, &user.actor(), id, &form).await)? {
        Ok(()) => Ok(redirect_with_flash(&format!("/parties/{id}"), FlashKind::Success, "Contact added.")),
        Err(errors) => show_page(&state, layout, id, form, errors).await,
    }
}

#[derive(Template)]
#[template(path = "parties/form.html")]
struct FormPage {
    layout: Layout,
    party: Option<Party>,
    form: PartyForm,
    errors: FieldErrors,
}

impl FormPage {
    fn checked(value: &Option<String>) -> bool {
        crate::master::ticked(value)
    }
}

fn form_page(
    status: StatusCode,
    layout: Layout,
    party: Option<Party>,
    form: PartyForm,
    errors: FieldErrors,
) -> Result<Response> {
    render_with(status, &FormPage { layout, party, form, errors })
}

async fn new(layout: Layout) -> Result<Response> {
    let form = PartyForm { idempotency_key: uuid::Uuid::new_v4().to_string(), ..Default::default() };
    form_page(StatusCode::OK, layout, None, form, FieldErrors::default())
}

async fn create(
    State(state): State<AppState>,
    user: CurrentUser,
    layout: Layout,
    Form(form): Form<PartyForm>,
) -> Result<Response> {
    let key = parse_idempotency_key(&form.idempotency_key)?;
    let result = match PartyInput::try_from(&form) {
        Ok(input) => parties::create(&state.pool, &user.actor(), &input, key).await,
        Err(errors) => Err(SaveError::Invalid(errors)),
    };
    match super::outcome(result)? {
        Ok(id) => Ok(redirect_with_flash(&format!("/parties/{id}"), FlashKind::Success, "Party saved.")),
        Err(errors) => form_page(StatusCode::UNPROCESSABLE_ENTITY, layout, None, form, errors),
    }
}

async fn edit(State(state): State<AppState>, layout: Layout, Path(id): Path<String>) -> Result<Response> {
    let party = parties::get(&state.pool, super::parse_id(&id)?).await?;
    let form = PartyForm::from(&party);
    form_page(StatusCode::OK, layout, Some(party), form, FieldErrors::default())
}

async fn update(
    State(state): State<AppState>,
    user: CurrentUser,
    mut layout: Layout,
    Path(id): Path<String>,
    Form(form): Form<PartyForm>,
) -> Result<Response> {
    let id = super::parse_id(&id)?;
    let version = parse_version(&form.version)?;
    let result = match PartyInput::try_from(&form) {
        Ok(input) => parties::update(&state.pool, &user.actor(), id, version, &input).await,
        Err(errors) => Err(SaveError::Invalid(errors)),
    };
    match result {
        Ok(()) => Ok(redirect_with_flash(&format!("/parties/{id}"), FlashKind::Success, "Party saved.")),
        Err(SaveError::Invalid(errors)) => {
            let party = parties::get(&state.pool, id).await?;
            form_page(StatusCode::UNPROCESSABLE_ENTITY, layout, Some(party), form, errors)
        }
        Err(SaveError::Stale) => {
            let party = parties::get(&state.pool, id).await?;
            layout.flash = Some(Flash { kind: FlashKind::Error, message: STALE_MESSAGE.into() });
            let current = PartyForm::from(&party);
            form_page(StatusCode::CONFLICT, layout, Some(party), current, FieldErrors::default())
        }
        Err(SaveError::Other(e)) => Err(e),
    }
}
