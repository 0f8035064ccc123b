//! Pages for locations: list, create and edit.

use askama::Template;
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};

use super::{Flash, FlashKind, Layout, ListQuery, Paging, redirect_with_flash, render, render_with};
use crate::auth::{CurrentUser, Permission};
use crate::error::Result;
use crate::master::locations::{self, KINDS, Location, LocationForm, LocationInput};
use crate::master::sites::{self, Site};
use crate::save::{FieldErrors, STALE_MESSAGE, SaveError, parse_idempotency_key, parse_version};
use crate::web::AppState;

pub fn router() -> Router<AppState> {
    let read = Router::new().route("/locations", get(index)).route("/locations/{id}", get(show));
    let write = Router::new()
        .route("/locations", post(create))
        .route("/locations/new", get(new))
        .route("/locations/{id}/edit", get(edit).post(update));
    super::guarded(read, Permission::LotsRead).merge(super::guarded(write, Permission::MasterEdit))
}

#[derive(Template)]
#[template(path = "locations/index.html")]
struct IndexPage {
    layout: Layout,
    locations: Vec<Location>,
    paging: Paging,
}

async fn index(State(state): State<AppState>, layout: Layout, Query(query): Query<ListQuery>) -> Result<Response> {
    let mut paging = Paging::new(&query);
    let (locations, total) =
        locations::list(&state.pool, paging.pattern().as_deref(), paging.per_page, paging.offset()).await?;
    paging.total = total;
    render(&IndexPage { layout, locations, paging })
}

#[derive(Debug, sqlx::FromRow)]
struct StockLine {
    lot_id: uuid::Uuid,
    lot_code: String,
    material_code: String,
    quantity: rust_decimal::Decimal,
    uom: String,
}

#[derive(Template)]
#[template(path = "locations/show.html")]
struct ShowPage {
    layout: Layout,
    location: Location,
    stock: Vec<StockLine>,
    history: Vec<crate::audit::Shown>,
}

async fn show(
    State(state): State<AppState>,
    layout: Layout,
    Path(id): Path<String>,
    Query(query): Query<super::ListQuery>,
) -> Result<Response> {
    let export = super::export::Format::parse(&query.format, false)?;
    let location = locations::get(&state.pool, super::parse_id(&id)?).await?;
    let stock: Vec<StockLine> = sqlx::query_as(
        "select l.id as lot_id, l.code as lot_code, m.code as material_code, o.quantity, m.uom
           from on_hand o join lots l on l.id = o.lot_id join materials m on m.id = l.material_id
          where o.location_id = $1 and o.quantity > 0 order by m.code, l.expires_on nulls last, l.code limit $2",
    )
    .bind(location.id)
    .bind(if export.is_some() { super::export::MAX_ROWS } else { 500 })
    .fetch_all(state.reading(export.is_some()))
    .await?;
    if let Some(format) = export {
        let mut sheet =
            super::export::Sheet::new(format!("stock-{}", location.code), &["material", "lot", "quantity", "uom"]);
        for r in &stock {
            sheet.push(vec![
                r.material_code.as_str().into(),
                r.lot_code.as_str().into(),
                r.quantity.into(),
                r.uom.as_str().into(),
            ]);
        }
        return super::export::respond(sheet, format);
    }
    let history = crate::audit::history(&state.pool, "location", location.id).await?;
    render(&ShowPage { layout, location, stock, history })
}

#[derive(Template)]
#[template(path = "locations/form.html")]
struct FormPage {
    layout: Layout,
    location: Option<Location>,
    form: LocationForm,
    errors: FieldErrors,
    sites: Vec<Site>,
    kinds: [(&'static str, &'static str); 5],
}

impl FormPage {
    fn checked(value: &Option<String>) -> bool {
        crate::master::ticked(value)
    }
}

async fn form_page(
    state: &AppState,
    status: StatusCode,
    layout: Layout,
    location: Option<Location>,
    form: LocationForm,
    errors: FieldErrors,
) -> Result<Response> {
    let sites = sites::all_active(&state.pool).await?;
    render_with(status, &FormPage { layout, location, form, errors, sites, kinds: KINDS })
}

#[derive(serde::Deserialize)]
struct NewQuery {
    site: Option<String>,
}

async fn new(State(state): State<AppState>, layout: Layout, Query(q): Query<NewQuery>) -> Result<Response> {
    let form = LocationForm {
        site_id: q.site.unwrap_or_default(),
        kind: "storage".into(),
        idempotency_key: uuid::Uuid::new_v4().to_string(),
        ..Default::default()
    };
    form_page(&state, StatusCode::OK, layout, None, form, FieldErrors::default()).await
}

async fn create(
    State(state): State<AppState>,
    user: CurrentUser,
    layout: Layout,
    Form(form): Form<LocationForm>,
) -> Result<Response> {
    let key = parse_idempotency_key(&form.idempotency_key)?;
    let result = match LocationInput::try_from(&form) {
        Ok(input) => locations::create(&state.pool, &user.actor(), &input, key).await,
        Err(errors) => Err(SaveError::Invalid(errors)),
    };
    match super::outcome(result)? {
        Ok(id) => Ok(redirect_with_flash(&format!("/locations/{id}"), FlashKind::Success, "Location saved.")),
        Err(errors) => form_page(&state, StatusCode::UNPROCESSABLE_ENTITY, layout, None, form, errors).await,
    }
}

async fn edit(State(state): State<AppState>, layout: Layout, Path(id): Path<String>) -> Result<Response> {
    let location = locations::get(&state.pool, super::parse_id(&id)?).await?;
    let form = LocationForm::from(&location);
    form_page(&state, StatusCode::OK, layout, Some(location), form, FieldErrors::default()).await
}

async fn update(
    State(state): State<AppState>,
    user: CurrentUser,
    mut layout: Layout,
    Path(id): Path<String>,
    Form(form): Form<LocationForm>,
) -> Result<Response> {
    let id = super::parse_id(&id)?;
    let version = parse_version(&form.version)?;
    let result = match LocationInput::try_from(&form) {
        Ok(input) => locations::update(&state.pool, &user.actor(), id, version, &input).await,
        Err(errors) => Err(SaveError::Invalid(errors)),
    };
    match result {
        Ok(()) => Ok(redirect_with_flash(&format!("/locations/{id}"), FlashKind::Success, "Location saved.")),
        Err(SaveError::Invalid(errors)) => {
            let location = locations::get(&state.pool, id).await?;
            form_page(&state, StatusCode::UNPROCESSABLE_ENTITY, layout, Some(location), form, errors).await
        }
        Err(SaveError::Stale) => {
            let location = locations::get(&state.pool, id).await?;
            layout.flash = Some(Flash { kind: FlashKind::Error, message: STALE_MESSAGE.into() });
            let current = LocationForm::from(&location);
            form_page(&state, StatusCode::CONFLICT, layout, Some(location), current, FieldErrors::default()).await
        }
        Err(SaveError::Other(e)) => Err(e),
    }
}
