//! Pages for materials: the searchable list, a material's page with its GTINs, create and edit.

use askama::Template;
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};

use super::{FlashKind, Layout, ListQuery, Paging, redirect_with_flash, render, render_with};
use crate::auth::{CurrentUser, Permission};
use crate::error::Result;
use crate::master::materials::{
    self, EXPIRY_POLICIES, GtinForm, KINDS, Material, MaterialForm, MaterialInput, PACK_LEVELS, Unit,
};
use crate::save::{FieldErrors, STALE_MESSAGE, SaveError, parse_idempotency_key, parse_version};
use crate::web::AppState;

pub fn router() -> Router<AppState> {
    let read = Router::new().route("/materials", get(index)).route("/materials/{id}", get(show));
    let write = Router::new()
        .route("/materials", post(create))
        .route("/materials/new", get(new))
        .route("/materials/{id}/edit", get(edit).post(update))
        .route("/materials/{id}/gtins", post(add_gtin))
        .route("/materials/{id}/gtins/{gtin}/delete", post(remove_gtin));
    super::guarded(read, Permission::LotsRead).merge(super::guarded(write, Permission::MasterEdit))
}

#[derive(Template)]
#[template(path = "materials/index.html")]
struct IndexPage {
    layout: Layout,
    materials: Vec<Material>,
    paging: Paging,
}

#[tracing::instrument(skip_all)]
async fn index(State(state): State<AppState>, layout: Layout, Query(query): Query<ListQuery>) -> Result<Response> {
    let mut paging = Paging::new(&query);
    let (materials, total) =
        materials::list(&state.pool, paging.pattern().as_deref(), paging.per_page, paging.offset()).await?;
    paging.total = total;
    render(&IndexPage { layout, materials, paging })
}

#[derive(Template)]
#[template(path = "materials/show.html")]
struct ShowPage {
    layout: Layout,
    material: Material,
    gtins: Vec<materials::Gtin>,
    gtin_form: GtinForm,
    errors: FieldErrors,
    pack_levels: [&'static str; 4],
    history: Vec<crate::audit::Shown>,
}

async fn show(State(state): State<AppState>, layout: Layout, Path(id): Path<String>) -> Result<Response> {
    let id = super::parse_id(&id)?;
    show_page(
        &state,
        layout,
        id,
        GtinForm { pack_level: "each".into(), units_per_pack: "1".into(), ..Default::default() },
        FieldErrors::default(),
    )
    .await
}

async fn show_page(
    state: &AppState,
    layout: Layout,
    id: uuid::Uuid,
    gtin_form: GtinForm,
    errors: FieldErrors,
) -> Result<Response> {
    let material = materials::get(&state.pool, id).await?;
    let gtins = materials::gtins(&state.pool, id).await?;
    let history = crate::audit::history(&state.pool, "material", id).await?;
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    render_with(status, &ShowPage { layout, material, gtins, gtin_form, errors, pack_levels: PACK_LEVELS, history })
}

#[derive(Template)]
#[template(path = "materials/form.html")]
struct FormPage {
    layout: Layout,
    /// The material being edited, or None for a new one.
    material: Option<Material>,
    form: MaterialForm,
    errors: FieldErrors,
    units: Vec<Unit>,
    kinds: [(&'static str, &'static str); 4],
    policies: [(&'static str, &'static str); 3],
}

impl FormPage {
    fn checked(value: &Option<String>) -> bool {
        crate::master::ticked(value)
    }
}

async fn form_page(
    state: &AppState,
    layout: Layout,
    material: Option<Material>,
    form: MaterialForm,
    errors: FieldErrors,
) -> Result<Response> {
    let units = materials::units(&state.pool).await?;
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    render_with(status, &FormPage { layout, material, form, errors, units, kinds: KINDS, policies: EXPIRY_POLICIES })
}

async fn new(State(state): State<AppState>, layout: Layout) -> Result<Response> {
    let form = MaterialForm {
        kind: "raw".into(),
        uom: "kg".into(),
        expiry_policy: "shelf_life".into(),
        qa_required: Some("on".into()),
        idempotency_key: uuid::Uuid::new_v4().to_string(),
        ..Default::default()
    };
    form_page(&state, layout, None, form, FieldErrors::default()).await
}

#[tracing::instrument(skip_all)]
async fn create(
    State(state): State<AppState>,
    user: CurrentUser,
    layout: Layout,
    Form(form): Form<MaterialForm>,
) -> Result<Response> {
    let key = parse_idempotency_key(&form.idempotency_key)?;
    let result = match MaterialInput::try_from(&form) {
        Ok(input) => materials::create(&state.pool, &user.actor(), &input, key).await,
        Err(errors) => Err(SaveError::Invalid(errors)),
    };
    match super::outcome(result)? {
        Ok(id) => Ok(redirect_with_flash(
            &format!("/materials/{id}"),
            FlashKind::Success,
            &format!("Material {} saved.", form.code.trim().to_uppercase()),
        )),
        Err(errors) => form_page(&state, layout, None, form, errors).await,
    }
}

async fn edit(State(state): State<AppState>, layout: Layout, Path(id): Path<String>) -> Result<Response> {
    let material = materials::get(&state.pool, super::parse_id(&id)?).await?;
    let form = MaterialForm::from(&material);
    form_page(&state, layout, Some(material), form, FieldErrors::default()).await
}

#[tracing::instrument(skip_all)]
async fn update(
    State(state): State<AppState>,
    user: CurrentUser,
    mut layout: Layout,
    Path(id): Path<String>,
    Form(form): Form<MaterialForm>,
) -> Result<Response> {
    let id = super::parse_id(&id)?;
    let version = parse_version(&form.version)?;
    let result = match MaterialInput::try_from(&form) {
        Ok(input) => materials::update(&state.pool, &user.actor(), id, version, &input).await,
        Err(errors) => Err(SaveError::Invalid(errors)),
    };
    match result {
        Ok(()) => Ok(redirect_with_flash(&format!("/materials/{id}"), FlashKind::Success, "Material saved.")),
        Err(SaveError::Invalid(errors)) => {
            let material = materials::get(&state.pool, id).await?;
            form_page(&state, layout, Some(material), form, errors).await
        }
        Err(SaveError::Stale) => {
            let material = materials::get(&state.pool, id).await?;
            layout.flash = Some(super::Flash { kind: FlashKind::Error, message: STALE_MESSAGE.into() });
            let current = MaterialForm::from(&material);
            let mut errors = FieldErrors::default();
            errors.add("version", STALE_MESSAGE);
            let page = FormPage {
                layout,
                material: Some(material),
                form: current,
                errors,
                units: materials::units(&state.pool).await?,
                kinds: KINDS,
                policies: EXPIRY_POLICIES,
            };
            render_with(StatusCode::CONFLICT, &page)
        }
        Err(SaveError::Other(e)) => Err(e),
    }
}

async fn add_gtin(
    State(state): State<AppState>,
    user: CurrentUser,
    layout: Layout,
    Path(id): Path<String>,
    Form(form): Form<GtinForm>,
) -> Result<Response> {
    let id = super::parse_id(&id)?;
    materials::get(&state.pool, id).await?;
    match super::outcome(materials::add_gtin(&state.pool, &user.actor(), id, &form).await)? {
        Ok(gtin) => {
            Ok(redirect_with_flash(&format!("/materials/{id}"), FlashKind::Success, &format!("GTIN {gtin} added.")))
        }
        Err(errors) => show_page(&state, layout, id, form, errors).await,
    }
}

async fn remove_gtin(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((id, gtin)): Path<(String, String)>,
) -> Result<Response> {
    let id = super::parse_id(&id)?;
    materials::remove_gtin(&state.pool, &user.actor(), id, &gtin).await?;
    Ok(redirect_with_flash(&format!("/materials/{id}"), FlashKind::Success, &format!("GTIN {gtin} removed.")))
}
