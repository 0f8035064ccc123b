//! Pages for sites: list, a site's page with its locations, create and edit.

use askama::Template;
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};

use super::{Flash, FlashKind, Layout, ListQuery, Paging, redirect_with_flash, render, render_with};
use crate::auth::{CurrentUser, Permission};
use crate::error::Result;
use crate::master::locations::{self, Location};
use crate::master::sites::{self, Site, SiteForm, SiteInput};
use crate::save::{FieldErrors, STALE_MESSAGE, SaveError, parse_idempotency_key, parse_version};
use crate::web::AppState;

pub fn router() -> Router<AppState> {
    let read = Router::new().route("/sites", get(index)).route("/sites/{id}", get(show));
    let write = Router::new()
        .route("/sites", post(create))
        .route("/sites/new", get(new))
        .route("/sites/{id}/edit", get(edit).post(update));
    super::guarded(read, Permission::LotsRead).merge(super::guarded(write, Permission::MasterEdit))
}

#[derive(Template)]
#[template(path = "sites/index.html")]
struct IndexPage {
    layout: Layout,
    sites: Vec<Site>,
    paging: Paging,
}

async fn index(State(state): State<AppState>, layout: Layout, Query(query): Query<ListQuery>) -> Result<Response> {
    let mut paging = Paging::new(&query);
    let (sites, total) =
        sites::list(&state.pool, paging.pattern().as_deref(), paging.per_page, paging.offset()).await?;
    paging.total = total;
    render(&IndexPage { layout, sites, paging })
}

#[derive(Template)]
#[template(path = "sites/show.html")]
struct ShowPage {
    layout: Layout,
    site: Site,
    locations: Vec<Location>,
    history: Vec<crate::audit::Shown>,
}

async fn show(State(state): State<AppState>, layout: Layout, Path(id): Path<String>) -> Result<Response> {
    let site = sites::get(&state.pool, super::parse_id(&id)?).await?;
    let (all, _) = locations::list(&state.pool, None, 1000, 0).await?;
    let locations = all.into_iter().filter(|l| l.site_id == site.id).collect();
    let history = crate::audit::history(&state.pool, "site", site.id).await?;
    render(&ShowPage { layout, site, locations, history })
}

#[derive(Template)]
#[template(path = "sites/form.html")]
struct FormPage {
    layout: Layout,
    site: Option<Site>,
    form: SiteForm,
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
    site: Option<Site>,
    form: SiteForm,
    errors: FieldErrors,
) -> Result<Response> {
    render_with(status, &FormPage { layout, site, form, errors })
}

async fn new(layout: Layout) -> Result<Response> {
    let form =
        SiteForm { time_zone: "UTC".into(), idempotency_key: uuid::Uuid::new_v4().to_string(), ..Default::default() };
    form_page(StatusCode::OK, layout, None, form, FieldErrors::default())
}

async fn create(
    State(state): State<AppState>,
    user: CurrentUser,
    layout: Layout,
    Form(form): Form<SiteForm>,
) -> Result<Response> {
    let key = parse_idempotency_key(&form.idempotency_key)?;
    let result = match SiteInput::try_from(&form) {
        Ok(input) => sites::create(&state.pool, &user.actor(), &input, key).await,
        Err(errors) => Err(SaveError::Invalid(errors)),
    };
    match super::outcome(result)? {
        Ok(id) => Ok(redirect_with_flash(&format!("/sites/{id}"), FlashKind::Success, "Site saved.")),
        Err(errors) => form_page(StatusCode::UNPROCESSABLE_ENTITY, layout, None, form, errors),
    }
}

async fn edit(State(state): State<AppState>, layout: Layout, Path(id): Path<String>) -> Result<Response> {
    let site = sites::get(&state.pool, super::parse_id(&id)?).await?;
    let form = SiteForm::from(&site);
    form_page(StatusCode::OK, layout, Some(site), form, FieldErrors::default())
}

async fn update(
    State(state): State<AppState>,
    user: CurrentUser,
    mut layout: Layout,
    Path(id): Path<String>,
    Form(form): Form<SiteForm>,
) -> Result<Response> {
    let id = super::parse_id(&id)?;
    let version = parse_version(&form.version)?;
    let result = match SiteInput::try_from(&form) {
        Ok(input) => sites::update(&state.pool, &user.actor(), id, version, &input).await,
        Err(errors) => Err(SaveError::Invalid(errors)),
    };
    match result {
        Ok(()) => Ok(redirect_with_flash(&format!("/sites/{id}"), FlashKind::Success, "Site saved.")),
        Err(SaveError::Invalid(errors)) => {
            let site = sites::get(&state.pool, id).await?;
            form_page(StatusCode::UNPROCESSABLE_ENTITY, layout, Some(site), form, errors)
        }
        Err(SaveError::Stale) => {
            let site = sites::get(&state.pool, id).await?;
            layout.flash = Some(Flash { kind: FlashKind::Error, message: STALE_MESSAGE.into() });
            let current = SiteForm::from(&site);
            form_page(StatusCode::CONFLICT, layout, Some(site), current, FieldErrors::default())
        }
        Err(SaveError::Other(e)) => Err(e),
    }
}
