//! The JSON API (`/api/v1`): token or session authentication, JSON errors, paged lists. Its
//! routes are declared with their OpenAPI description (utoipa): the router and the document at
//! `/api/openapi.json` come from the same declarations, so no route goes undocumented.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoParams, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::{CurrentUser, Permission};
use crate::domain::text;
use crate::error::{Error, Result};
use crate::save::{FieldErrors, SaveError};
use crate::trace::{Direction, Mode, Trace};
use crate::web::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "lotline API",
        description = "Lots, their stock, genealogy and documents. Authenticate with a personal API token (your account page) as `Authorization: Bearer …`. Errors are `{\"error\": {\"code\", \"message\", \"field\"?, \"fields\"?}}` with the same messages as the pages. Lists take `page` (from 1) and `per_page` (at most 500) and answer `{items, page, per_page, total}`. Quantities are decimal strings in the material's unit."
    ),
    modifiers(&BearerToken),
    tags(
        (name = "account", description = "Who the token belongs to"),
        (name = "master data", description = "Materials, parties, locations"),
        (name = "lots", description = "Lots, their status and holds"),
        (name = "documents", description = "Receipts and shipments"),
        (name = "traces", description = "Genealogy traces and EPCIS 2.0 events"),
        (name = "recalls", description = "Recall cases and their frozen scope")
    )
)]
struct ApiDoc;

struct BearerToken;

impl utoipa::Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        openapi.security =
            Some(vec![utoipa::openapi::security::SecurityRequirement::new("token", Vec::<String>::new())]);
    }
}

/// The API's routes, each behind its permission, and the OpenAPI document describing them.
pub fn router() -> (axum::Router<AppState>, utoipa::openapi::OpenApi) {
    let (signed_in, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi()).routes(routes!(me)).split_for_parts();
    let parts = [
        (
            OpenApiRouter::new()
                .routes(routes!(materials))
                .routes(routes!(parties))
                .routes(routes!(locations))
                .routes(routes!(lots))
                .routes(routes!(lot))
                .routes(routes!(shipments))
                .routes(routes!(receipts))
                .routes(routes!(runs))
                .routes(routes!(qa_records))
                .routes(routes!(trace))
                .routes(routes!(epcis))
                .routes(routes!(recall)),
            Permission::LotsRead,
        ),
        (OpenApiRouter::new().routes(routes!(receive)).routes(routes!(receive_epcis)), Permission::StockReceive),
        (
            OpenApiRouter::new().routes(routes!(hold)).routes(routes!(release)).routes(routes!(reject)),
            Permission::QaDecide,
        ),
        (OpenApiRouter::new().routes(routes!(add_qa_record)), Permission::QaRecord),
        (
            OpenApiRouter::new().routes(routes!(open_run)).routes(routes!(run_input)).routes(routes!(run_output)),
            Permission::StockProduce,
        ),
        (OpenApiRouter::new().routes(routes!(ship)), Permission::StockShip),
        (
            OpenApiRouter::new()
                .routes(routes!(create_material))
                .routes(routes!(create_party))
                .routes(routes!(create_location)),
            Permission::MasterEdit,
        ),
    ];
    let mut router = signed_in;
    for (part, permission) in parts {
        let (r, d) = part.split_for_parts();
        doc.merge(d);
        router = router.merge(super::guarded(r, permission));
    }
    (router, doc)
}

/// `GET /api/openapi.json` and the page that reads it, `/api/docs`.
pub fn docs_router(doc: utoipa::openapi::OpenApi) -> axum::Router<AppState> {
    let json = std::sync::Arc::new(doc.to_pretty_json().unwrap_or_default());
    let page = std::sync::Arc::new(docs_page(&doc));
    axum::Router::new()
        .route(
            "/api/openapi.json",
            axum::routing::get(move || {
                let json = json.clone();
                async move { ([(axum::http::header::CONTENT_TYPE, "application/json")], (*json).clone()) }
            }),
        )
        .route(
            "/api/docs",
            axum::routing::get(move |layout: super::Layout| {
                let page = page.clone();
                async move { super::render(&DocsPage { layout, endpoints: &page.0, schemas: &page.1 }) }
            }),
        )
}

// ------------------------------------------------------------------------------------------------
// The documentation page: the OpenAPI document, read into a page of our own (no script, prints).
// ------------------------------------------------------------------------------------------------

pub struct Endpoint {
    pub anchor: String,
    pub method: String,
    pub path: String,
    pub tag: String,
    pub summary: String,
    pub description: String,
    /// (name, where, required, description)
    pub params: Vec<(String, String, bool, String)>,
    pub body: Option<String>,
    /// (status, description)
    pub responses: Vec<(String, String)>,
}

#[derive(askama::Template)]
#[template(path = "api/docs.html")]
struct DocsPage<'a> {
    layout: super::Layout,
    endpoints: &'a [Endpoint],
    schemas: &'a [(String, String)],
}

fn docs_page(doc: &utoipa::openapi::OpenApi) -> (Vec<Endpoint>, Vec<(String, String)>) {
    let value = serde_json::to_value(doc).unwrap_or_default();
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let mut endpoints = Vec::new();
    if let Some(paths) = value["paths"].as_object() {
        for (path, item) in paths {
            for (method, op) in item.as_object().into_iter().flatten() {
                let params = op["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|p| {
                        (
                            text(&p["name"]),
                            text(&p["in"]),
                            p["required"].as_bool().unwrap_or(false),
                            text(&p["description"]),
                        )
                    })
                    .collect();
                let body = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
                    .as_str()
                    .map(|r| r.rsplit('/').next().unwrap_or(r).to_string());
                let responses = op["responses"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(status, r)| (status.clone(), text(&r["description"])))
                    .collect();
                let anchor = format!("{method}{}", path.replace(['/', '{', '}'], "-"));
                endpoints.push(Endpoint {
                    anchor,
                    method: method.to_uppercase(),
                    path: path.clone(),
                    tag: op["tags"][0].as_str().unwrap_or("other").to_string(),
                    summary: text(&op["summary"]),
                    description: text(&op["description"]),
                    params,
                    body,
                    responses,
                });
            }
        }
    }
    endpoints.sort_by(|a, b| (&a.tag, &a.path, &a.method).cmp(&(&b.tag, &b.path, &b.method)));
    let schemas = value["components"]["schemas"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, s)| (name.clone(), serde_json::to_string_pretty(s).unwrap_or_default()))
        .collect();
    (endpoints, schemas)
}

// ------------------------------------------------------------------------------------------------
// Errors and paging
// ------------------------------------------------------------------------------------------------

/// A refused request body: 422 with every field's message, the first one up front.
fn invalid(errors: &FieldErrors) -> Response {
    let fields: serde_json::Map<String, Value> = errors.iter().map(|(f, m)| (f.to_string(), json!(m))).collect();
    let (field, message) = errors.iter().next().unwrap_or(("", "The request is not valid."));
    let body = json!({ "error": { "code": "invalid", "message": message, "field": field, "fields": fields } });
    (StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response()
}

fn saved<T: IntoResponse>(result: std::result::Result<T, SaveError>) -> Result<Response> {
    match result {
        Ok(v) => Ok(v.into_response()),
        Err(SaveError::Invalid(errors)) => Ok(invalid(&errors)),
        Err(SaveError::Stale) => Err(Error::Conflict("The record changed meanwhile; read it again.".into())),
        Err(SaveError::Other(e)) => Err(e),
    }
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(default)]
#[into_params(parameter_in = Query)]
struct ListParams {
    /// Text to search for (codes and names, case-insensitive, anywhere in them).
    q: String,
    /// Page, from 1.
    page: Option<i64>,
    /// Rows per page, 1 to 500 (default 50).
    per_page: Option<i64>,
}

impl ListParams {
    fn limits(&self) -> Result<(i64, i64, Option<String>)> {
        let per_page = self.per_page.unwrap_or(50);
        if !(1..=500).contains(&per_page) {
            return Err(Error::BadRequest("per_page is between 1 and 500.".into()));
        }
        let page = self.page.unwrap_or(1);
        if page < 1 {
            return Err(Error::BadRequest("page starts at 1.".into()));
        }
        let q = self.q.trim();
        let pattern =
            (!q.is_empty()).then(|| format!("%{}%", q.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")));
        Ok((per_page, (page - 1) * per_page, pattern))
    }
}

/// One page of a list.
#[derive(Debug, Serialize, ToSchema)]
struct Page<T> {
    items: Vec<T>,
    page: i64,
    per_page: i64,
    total: i64,
}

/// One page of `items_sql` (binds: the search pattern or null, the limit, the offset), with the
/// total from `count_sql` (binds: the pattern).
async fn list<T>(state: &AppState, p: &ListParams, items_sql: String, count_sql: &'static str) -> Result<Json<Page<T>>>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
{
    let (limit, offset, pattern) = p.limits()?;
    let items = sqlx::query_as(sqlx::AssertSqlSafe(items_sql))
        .bind(pattern.as_deref())
        .bind(limit)
        .bind(offset)
        .fetch_all(&state.pool)
        .await?;
    let total = sqlx::query_scalar(count_sql).bind(pattern.as_deref()).fetch_one(&state.pool).await?;
    Ok(Json(Page { items, page: p.page.unwrap_or(1), per_page: p.per_page.unwrap_or(50), total }))
}

// ------------------------------------------------------------------------------------------------
// Account and master data
// ------------------------------------------------------------------------------------------------

#[derive(Debug, Serialize, ToSchema)]
struct Me {
    id: Uuid,
    username: String,
    display_name: String,
    roles: Vec<String>,
    permissions: Vec<String>,
}

/// Who the token or session belongs to, and what it may do.
#[utoipa::path(get, path = "/api/v1/me", tag = "account", responses((status = 200, body = Me), (status = 401, description = "No valid token")))]
async fn me(user: CurrentUser) -> Json<Me> {
    Json(Me {
        id: user.id,
        username: user.username,
        display_name: user.display_name,
        roles: user.roles,
        permissions: user.permissions.iter().map(|p| p.as_str().to_string()).collect(),
    })
}

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
struct MaterialJson {
    code: String,
    name: String,
    /// raw, packaging, intermediate or finished
    kind: String,
    uom: String,
    mass_per_unit_kg: Option<Decimal>,
    shelf_life_days: Option<i32>,
    /// On the FDA Food Traceability List.
    ftl: bool,
    gtins: Vec<String>,
    active: bool,
}

/// Materials, by code.
#[utoipa::path(get, path = "/api/v1/materials", tag = "master data", params(ListParams), responses((status = 200, body = Page<MaterialJson>)))]
async fn materials(State(state): State<AppState>, Query(p): Query<ListParams>) -> Result<Json<Page<MaterialJson>>> {
    let sql = format!(
        "{MATERIAL_SELECT} where $1::text is null or m.code ilike $1 or m.name ilike $1 order by m.code limit $2 offset $3"
    );
    list(&state, &p, sql, "select count(*) from materials where $1::text is null or code ilike $1 or name ilike $1")
        .await
}

const MATERIAL_SELECT: &str = "select m.code, m.name, m.kind, m.uom, trim_scale(m.mass_per_unit_kg) as mass_per_unit_kg,
        m.shelf_life_days, m.ftl,
        coalesce(array(select g.gtin from material_gtins g where g.material_id = m.id order by g.units_per_pack, g.gtin), '{}') as gtins,
        m.active
   from materials m";

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
struct PartyJson {
    code: String,
    name: String,
    is_supplier: bool,
    is_customer: bool,
    country: Option<String>,
    gln: Option<String>,
    active: bool,
}

/// Suppliers and customers, by code.
#[utoipa::path(get, path = "/api/v1/parties", tag = "master data", params(ListParams), responses((status = 200, body = Page<PartyJson>)))]
async fn parties(State(state): State<AppState>, Query(p): Query<ListParams>) -> Result<Json<Page<PartyJson>>> {
    list(
        &state,
        &p,
        format!(
            "{PARTY_SELECT} where $1::text is null or code ilike $1 or name ilike $1 order by code limit $2 offset $3"
        ),
        "select count(*) from parties where $1::text is null or code ilike $1 or name ilike $1",
    )
    .await
}

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
struct LocationJson {
    id: Uuid,
    site: String,
    code: String,
    name: String,
    /// storage, receiving, quarantine, production or shipping
    kind: String,
    active: bool,
}

/// Locations, by site and code.
#[utoipa::path(get, path = "/api/v1/locations", tag = "master data", params(ListParams), responses((status = 200, body = Page<LocationJson>)))]
async fn locations(State(state): State<AppState>, Query(p): Query<ListParams>) -> Result<Json<Page<LocationJson>>> {
    let sql = format!(
        "{LOCATION_SELECT} where $1::text is null or c.code ilike $1 or c.name ilike $1 order by s.code, c.code limit $2 offset $3"
    );
    list(&state, &p, sql, "select count(*) from locations where $1::text is null or code ilike $1 or name ilike $1")
        .await
}

const PARTY_SELECT: &str = "select code, name, is_supplier, is_customer, country, gln, active from parties";
const LOCATION_SELECT: &str =
    "select c.id, s.code as site, c.code, c.name, c.kind, c.active from locations c join sites s on s.id = c.site_id";

// ------------------------------------------------------------------------------------------------
// Master data: creating (an ERP or a PLM system keeps lotline's materials, parties and locations)
// ------------------------------------------------------------------------------------------------

/// A decimal sent as a JSON number or string, as the form's text (its checks give the messages).
fn number_text(value: &Option<Value>) -> String {
    match value {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

fn tick(on: bool) -> Option<String> {
    on.then(|| "on".to_string())
}

/// 201 with the record `select` (binding its id) reads, or the save's field errors as 422.
async fn created_record<T>(
    state: &AppState,
    made: std::result::Result<Uuid, SaveError>,
    select: String,
) -> Result<Response>
where
    T: Serialize + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
{
    let id = match made {
        Ok(id) => id,
        Err(e) => return saved::<()>(Err(e)),
    };
    let record: T = sqlx::query_as(sqlx::AssertSqlSafe(select)).bind(id).fetch_one(&state.pool).await?;
    Ok((StatusCode::CREATED, Json(record)).into_response())
}

#[derive(Debug, Deserialize, ToSchema)]
struct MaterialRequest {
    /// Sending the same key again returns the material it created and writes nothing.
    idempotency_key: Uuid,
    code: String,
    name: String,
    /// raw, packaging, intermediate or finished
    kind: String,
    /// The unit of measure's code (kg, g, l, ea…)
    uom: String,
    /// Mass of one unit, in kg (a number or a decimal string), for materials counted in units.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    mass_per_unit_kg: Option<Value>,
    #[serde(default)]
    shelf_life_days: Option<i64>,
    /// shelf_life, earliest_input or none; default shelf_life with shelf_life_days, none without.
    #[serde(default)]
    expiry_policy: Option<String>,
    /// New lots wait in quarantine for QA release.
    #[serde(default)]
    qa_required: bool,
    /// On the FDA Food Traceability List.
    #[serde(default)]
    ftl: bool,
    #[serde(default)]
    description: String,
}

/// Creates a material. A code already in use, or any field not valid: 422 with `fields`.
#[utoipa::path(post, path = "/api/v1/materials", tag = "master data", request_body = MaterialRequest, responses((status = 201, body = MaterialJson), (status = 422, description = "A field is not valid; `fields` says which")))]
async fn create_material(
    State(state): State<AppState>,
    user: CurrentUser,
    Json(body): Json<MaterialRequest>,
) -> Result<Response> {
    use crate::master::materials;
    let policy = body
        .expiry_policy
        .clone()
        .unwrap_or_else(|| if body.shelf_life_days.is_some() { "shelf_life" } else { "none" }.to_string());
    let form = materials::MaterialForm {
        code: body.code.clone(),
        name: body.name.clone(),
        kind: body.kind.trim().to_string(),
        uom: body.uom.clone(),
        mass_per_unit_kg: number_text(&body.mass_per_unit_kg),
        shelf_life_days: body.shelf_life_days.map(|d| d.to_string()).unwrap_or_default(),
        expiry_policy: policy,
        qa_required: tick(body.qa_required),
        ftl: tick(body.ftl),
        description: body.description.clone(),
        active: tick(true),
        ..Default::default()
    };
    let mut input = match materials::MaterialInput::try_from(&form) {
        Ok(input) => input,
        Err(errors) => return Ok(invalid(&errors)),
    };
    // Units are matched regardless of case (kg, L, mL); one that does not exist is named.
    let unit: Option<String> = sqlx::query_scalar("select code from units where lower(code) = lower($1)")
        .bind(&input.uom)
        .fetch_optional(&state.pool)
        .await?;
    match unit {
        Some(code) => input.uom = code,
        None => {
            let mut unknown = FieldErrors::default();
            unknown.add("uom", format!("No unit of measure has the code “{}”.", input.uom));
            return Ok(invalid(&unknown));
        }
    }
    let made = materials::create(&state.pool, &user.actor(), &input, body.idempotency_key).await;
    created_record::<MaterialJson>(&state, made, format!("{MATERIAL_SELECT} where m.id = $1")).await
}

#[derive(Debug, Deserialize, ToSchema)]
struct PartyRequest {
    /// Sending the same key again returns the party it created and writes nothing.
    idempotency_key: Uuid,
    code: String,
    name: String,
    #[serde(default)]
    is_supplier: bool,
    #[serde(default)]
    is_customer: bool,
    #[serde(default)]
    address: String,
    /// ISO 3166 alpha-2 (such as DE).
    #[serde(default)]
    country: String,
    /// The party's GS1 Global Location Number (13 digits, with its check digit).
    #[serde(default)]
    gln: String,
    #[serde(default)]
    phone: String,
    /// Where recall notices go.
    #[serde(default)]
    email: String,
    #[serde(default)]
    notes: String,
}

/// Creates a supplier, a customer or both.
#[utoipa::path(post, path = "/api/v1/parties", tag = "master data", request_body = PartyRequest, responses((status = 201, body = PartyJson), (status = 422, description = "A field is not valid; `fields` says which")))]
async fn create_party(
    State(state): State<AppState>,
    user: CurrentUser,
    Json(body): Json<PartyRequest>,
) -> Result<Response> {
    use crate::master::parties;
    let form = parties::PartyForm {
        code: body.code.clone(),
        name: body.name.clone(),
        is_supplier: tick(body.is_supplier),
        is_customer: tick(body.is_customer),
        address: body.address.clone(),
        country: body.country.clone(),
        gln: body.gln.clone(),
        phone: body.phone.clone(),
        email: body.email.clone(),
        notes: body.notes.clone(),
        active: tick(true),
        ..Default::default()
    };
    let input = match parties::PartyInput::try_from(&form) {
        Ok(input) => input,
        Err(errors) => return Ok(invalid(&errors)),
    };
    let made = parties::create(&state.pool, &user.actor(), &input, body.idempotency_key).await;
    created_record::<PartyJson>(&state, made, format!("{PARTY_SELECT} where id = $1")).await
}

#[derive(Debug, Deserialize, ToSchema)]
struct LocationRequest {
    /// Sending the same key again returns the location it created and writes nothing.
    idempotency_key: Uuid,
    /// The site's code.
    site: String,
    code: String,
    name: String,
    /// storage, receiving, quarantine, production or shipping
    kind: String,
}

/// Creates a location at a site.
#[utoipa::path(post, path = "/api/v1/locations", tag = "master data", request_body = LocationRequest, responses((status = 201, body = LocationJson), (status = 422, description = "A field is not valid; `fields` says which")))]
async fn create_location(
    State(state): State<AppState>,
    user: CurrentUser,
    Json(body): Json<LocationRequest>,
) -> Result<Response> {
    use crate::master::locations;
    let mut r = Resolve::new(&state);
    let Some(site) = r.id("site", "site", "select id from sites where code = $1", &body.site).await? else {
        return Ok(invalid(&r.errors));
    };
    let form = locations::LocationForm {
        site_id: site.to_string(),
        code: body.code.clone(),
        name: body.name.clone(),
        kind: body.kind.trim().to_string(),
        active: tick(true),
        ..Default::default()
    };
    let input = match locations::LocationInput::try_from(&form) {
        Ok(input) => input,
        Err(errors) => return Ok(invalid(&errors)),
    };
    let made = locations::create(&state.pool, &user.actor(), &input, body.idempotency_key).await;
    created_record::<LocationJson>(&state, made, format!("{LOCATION_SELECT} where c.id = $1")).await
}

// ------------------------------------------------------------------------------------------------
// Lots
// ------------------------------------------------------------------------------------------------

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
struct LotJson {
    id: Uuid,
    material: String,
    code: String,
    /// received or produced
    origin: String,
    /// released, quarantine, on hold, recalled, rejected or expired
    status: String,
    made_on: NaiveDate,
    expires_on: Option<NaiveDate>,
    supplier: Option<String>,
    supplier_lot: Option<String>,
    /// FSMA 204 traceability lot code (for a received lot, the supplier's).
    tlc: String,
    on_hand: Decimal,
    uom: String,
}

const LOT_SELECT: &str =
    "select l.id, m.code as material, l.code, l.origin, {STATUS} as status, l.made_on, l.expires_on,
        p.code as supplier, l.supplier_lot, l.tlc,
        trim_scale(coalesce((select sum(quantity) from on_hand o where o.lot_id = l.id), 0)) as on_hand, m.uom
   from lots l join materials m on m.id = l.material_id left join parties p on p.id = l.supplier_id";

fn lot_select() -> String {
    LOT_SELECT.replace("{STATUS}", crate::domain::status::STATUS_SQL)
}

/// Lots, newest first; `q` matches lot codes, supplier lot codes and material codes.
#[utoipa::path(get, path = "/api/v1/lots", tag = "lots", params(ListParams), responses((status = 200, body = Page<LotJson>)))]
async fn lots(State(state): State<AppState>, Query(p): Query<ListParams>) -> Result<Json<Page<LotJson>>> {
    let sql = format!(
        "{} where $1::text is null or l.code ilike $1 or l.supplier_lot ilike $1 or m.code ilike $1
          order by l.created_at desc, l.code limit $2 offset $3",
        lot_select()
    );
    list(
        &state,
        &p,
        sql,
        "select count(*) from lots l join materials m on m.id = l.material_id
          where $1::text is null or l.code ilike $1 or l.supplier_lot ilike $1 or m.code ilike $1",
    )
    .await
}

/// One lot.
#[utoipa::path(get, path = "/api/v1/lots/{id}", tag = "lots", params(("id" = Uuid, Path, description = "The lot's id")), responses((status = 200, body = LotJson), (status = 404, description = "No such lot")))]
async fn lot(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<LotJson>> {
    let id = super::parse_id(&id)?;
    let lot = sqlx::query_as(sqlx::AssertSqlSafe(format!("{} where l.id = $1", lot_select())))
        .bind(id)
        .fetch_optional(&state.pool)
        .await?
        .ok_or(Error::NotFound)?;
    Ok(Json(lot))
}

#[derive(Debug, Deserialize, ToSchema)]
struct HoldRequest {
    /// Why the lot is held (shown wherever the lot is refused).
    reason: String,
}

/// Places a hold on a lot: it cannot be consumed or shipped until the hold is lifted.
#[utoipa::path(post, path = "/api/v1/lots/{id}/holds", tag = "lots", params(("id" = Uuid, Path, description = "The lot's id")), request_body = HoldRequest, responses((status = 201, body = LotJson), (status = 422, description = "The reason is missing")))]
async fn hold(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Json(body): Json<HoldRequest>,
) -> Result<Response> {
    let id = super::parse_id(&id)?;
    if let Err(e) = crate::qa::place_hold(&state.pool, &user.person(), id, &body.reason).await {
        return saved::<()>(Err(e));
    }
    let Json(lot) = lot(State(state), Path(id.to_string())).await?;
    Ok((StatusCode::CREATED, Json(lot)).into_response())
}

// ------------------------------------------------------------------------------------------------
// Documents
// ------------------------------------------------------------------------------------------------

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
struct ShipmentJson {
    id: Uuid,
    number: String,
    customer: String,
    site: String,
    shipped_at: DateTime<Utc>,
    order_ref: String,
    lines: i64,
}

/// Shipments, newest first; `q` matches the number, the customer's code and the order.
#[utoipa::path(get, path = "/api/v1/shipments", tag = "documents", params(ListParams), responses((status = 200, body = Page<ShipmentJson>)))]
async fn shipments(State(state): State<AppState>, Query(p): Query<ListParams>) -> Result<Json<Page<ShipmentJson>>> {
    list(
        &state,
        &p,
        "select h.id, h.number, c.code as customer, s.code as site, h.shipped_at, h.order_ref,
                (select count(*) from shipment_lines l where l.shipment_id = h.id) as lines
           from shipments h join parties c on c.id = h.customer_id join sites s on s.id = h.site_id
          where $1::text is null or h.number ilike $1 or c.code ilike $1 or h.order_ref ilike $1
          order by h.shipped_at desc, h.number desc limit $2 offset $3"
            .to_string(),
        "select count(*) from shipments h join parties c on c.id = h.customer_id
          where $1::text is null or h.number ilike $1 or c.code ilike $1 or h.order_ref ilike $1",
    )
    .await
}

#[derive(Debug, Deserialize, ToSchema)]
struct ReceiptRequest {
    /// A fresh UUID per receipt: posting the same one again returns the first receipt.
    idempotency_key: Uuid,
    /// Site code.
    site: String,
    /// Supplier code.
    supplier: String,
    /// The receipt's date (default: today at the site).
    received_on: Option<NaiveDate>,
    #[serde(default)]
    order_ref: String,
    #[serde(default)]
    asn_ref: String,
    lines: Vec<ReceiptLineRequest>,
}

#[derive(Debug, Deserialize, ToSchema)]
struct ReceiptLineRequest {
    /// Material code.
    material: String,
    /// The supplier's lot code.
    supplier_lot: Option<String>,
    /// In the material's unit, such as "12.5".
    #[schema(value_type = String)]
    quantity: Value,
    /// Location code at the site.
    location: String,
    /// Expiry (default: from the material's shelf life).
    expires_on: Option<NaiveDate>,
    /// ISO 3166 alpha-2.
    country_of_origin: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
struct ReceiptCreated {
    receipt_id: Uuid,
    number: String,
    /// The new lots, one per line, in order.
    lots: Vec<LotJson>,
}

/// Receives goods: one lot per line, numbered by the lot-number rules, in one transaction.
#[utoipa::path(post, path = "/api/v1/receipts", tag = "documents", request_body = ReceiptRequest, responses((status = 201, body = ReceiptCreated), (status = 422, description = "A field is not valid; `fields` says which (lines as line1, line2…)")))]
async fn receive(
    State(state): State<AppState>,
    user: CurrentUser,
    Json(body): Json<ReceiptRequest>,
) -> Result<Response> {
    use crate::stock::receive::{LineInput, ReceiptInput};
    let mut r = Resolve::new(&state);
    let site = r.id("site", "site", "select id from sites where code = $1", &body.site).await?;
    let supplier = r.id("supplier", "party", "select id from parties where code = $1", &body.supplier).await?;
    let order_ref = r.check("order_ref", text::optional(&body.order_ref, "The order number", 100).map(Some));
    let asn_ref = r.check("asn_ref", text::optional(&body.asn_ref, "The delivery note (ASN)", 100).map(Some));
    let mut lines = Vec::new();
    for (i, l) in body.lines.iter().enumerate() {
        let field = crate::save::line_key(i);
        let problem = |m: String| format!("Line {}: {m}", i + 1);
        let material = sqlx::query_scalar::<_, Uuid>("select id from materials where code = $1")
            .bind(l.material.trim().to_uppercase())
            .fetch_optional(&state.pool)
            .await?;
        let Some(material_id) = material else {
            r.errors.add(field, problem(format!("no material has the code “{}”.", l.material.trim())));
            continue;
        };
        let location = match site {
            Some(site) => {
                sqlx::query_scalar::<_, Uuid>("select id from locations where site_id = $1 and code = $2")
                    .bind(site)
                    .bind(l.location.trim().to_uppercase())
                    .fetch_optional(&state.pool)
                    .await?
            }
            None => continue,
        };
        let Some(location_id) = location else {
            r.errors.add(field, problem(format!("the site has no location “{}”.", l.location.trim())));
            continue;
        };
        let checked = (|| -> std::result::Result<LineInput, String> {
            let supplier_lot =
                text::optional(l.supplier_lot.as_deref().unwrap_or_default(), "The supplier's lot code", 60)?;
            Ok(LineInput {
                material_id,
                supplier_lot: Some(supplier_lot).filter(|s| !s.is_empty()),
                quantity: text::required_decimal(&number_text(&Some(l.quantity.clone())), "The quantity")?,
                location_id,
                expires_on: l.expires_on,
                country_of_origin: text::optional_country(l.country_of_origin.as_deref().unwrap_or_default())?,
            })
        })();
        match checked {
            Ok(line) => lines.push(line),
            Err(m) => r.errors.add(field, problem(m)),
        }
    }
    if lines.is_empty() && r.errors.is_empty() {
        r.errors.add("line1", "Line 1: give the material received and its quantity.");
    }
    let (Some(site_id), Some(supplier_id)) = (site, supplier) else { return Ok(invalid(&r.errors)) };
    if !r.errors.is_empty() {
        return Ok(invalid(&r.errors));
    }
    let input = ReceiptInput {
        site_id,
        supplier_id,
        received_on: body.received_on,
        order_ref: order_ref.unwrap_or_default(),
        asn_ref: asn_ref.unwrap_or_default(),
        lines,
    };
    let received = match crate::stock::receive::receive(&state.pool, &user.actor(), &input, body.idempotency_key).await
    {
        Ok(r) => r,
        Err(e) => return saved::<()>(Err(e)),
    };
    Ok((StatusCode::CREATED, Json(created(&state, &received).await?)).into_response())
}

#[derive(Debug, Serialize, ToSchema)]
struct ReceiptsCreated {
    receipts: Vec<ReceiptCreated>,
}

/// The new lots of a receipt, in line order.
async fn created(state: &AppState, received: &crate::stock::receive::Received) -> Result<ReceiptCreated> {
    let number: String = sqlx::query_scalar("select number from receipts where id = $1")
        .bind(received.receipt_id)
        .fetch_one(&state.pool)
        .await?;
    let ids: Vec<Uuid> = received.lots.iter().map(|(id, _)| *id).collect();
    let mut lots: Vec<LotJson> = sqlx::query_as(sqlx::AssertSqlSafe(format!("{} where l.id = any($1)", lot_select())))
        .bind(&ids)
        .fetch_all(&state.pool)
        .await?;
    lots.sort_by_key(|l| ids.iter().position(|i| *i == l.id));
    Ok(ReceiptCreated { receipt_id: received.receipt_id, number, lots })
}

/// Receives a supplier's EPCIS 2.0 document: each shipping ObjectEvent becomes a receipt (its
/// quantityList the lines: GTIN and lot from LGTIN URNs or Digital Links, the lot as the supplier's
/// lot code), the supplier and our site found by GLN, or named in the query. Every event is
/// checked before any is posted; the same document posted again creates nothing new.
#[utoipa::path(post, path = "/api/v1/epcis/receipts", tag = "documents", params(crate::documents::epcis::ImportOptions), request_body(content = serde_json::Value, description = "An EPCISDocument", content_type = "application/json"), responses((status = 201, body = ReceiptsCreated), (status = 422, description = "An event cannot be received; `fields` says which (event 1 as line1…) and why")))]
async fn receive_epcis(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(options): Query<crate::documents::epcis::ImportOptions>,
    Json(doc): Json<Value>,
) -> Result<Response> {
    let received = match crate::documents::epcis::import_receipts(&state.pool, &user.actor(), &doc, &options).await {
        Ok(r) => r,
        Err(e) => return saved::<()>(Err(e)),
    };
    let mut receipts = Vec::new();
    for r in &received {
        receipts.push(created(&state, r).await?);
    }
    Ok((StatusCode::CREATED, Json(ReceiptsCreated { receipts })).into_response())
}

// ------------------------------------------------------------------------------------------------
// QA decisions and records
// ------------------------------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
struct DecisionRequest {
    /// Required to reject.
    reason: String,
    /// The signer's own password: a release or a rejection is an electronic signature.
    password: String,
}

async fn decide(state: AppState, user: CurrentUser, id: String, to: &str, body: DecisionRequest) -> Result<Response> {
    let id = super::parse_id(&id)?;
    let form = crate::qa::DecisionForm { reason: body.reason, password: body.password };
    if let Err(e) = crate::qa::decide(&state.pool, &user.person(), id, to, &form).await {
        return saved::<()>(Err(e));
    }
    let Json(lot) = lot(State(state), Path(id.to_string())).await?;
    Ok(Json(lot).into_response())
}

/// Releases a lot in quarantine (signed with the user's password).
#[utoipa::path(post, path = "/api/v1/lots/{id}/release", tag = "lots", params(("id" = Uuid, Path, description = "The lot's id")), request_body = DecisionRequest, responses((status = 200, body = LotJson), (status = 422, description = "Not in quarantine, or the password is not right")))]
async fn release(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Json(body): Json<DecisionRequest>,
) -> Result<Response> {
    decide(state, user, id, "released", body).await
}

/// Rejects a lot in quarantine, with a reason (signed with the user's password).
#[utoipa::path(post, path = "/api/v1/lots/{id}/reject", tag = "lots", params(("id" = Uuid, Path, description = "The lot's id")), request_body = DecisionRequest, responses((status = 200, body = LotJson), (status = 422, description = "No reason, not in quarantine, or the password is not right")))]
async fn reject(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Json(body): Json<DecisionRequest>,
) -> Result<Response> {
    decide(state, user, id, "rejected", body).await
}

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
struct QaRecordJson {
    /// inspection, test or certificate
    kind: String,
    name: String,
    result: String,
    specification: String,
    reference: String,
    /// pass or fail
    outcome: String,
    notes: String,
    performed_at: DateTime<Utc>,
    recorded_by: Option<String>,
}

/// A lot's inspections, test results and certificates, newest first.
#[utoipa::path(get, path = "/api/v1/lots/{id}/qa-records", tag = "lots", params(("id" = Uuid, Path, description = "The lot's id")), responses((status = 200, body = Vec<QaRecordJson>)))]
async fn qa_records(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Vec<QaRecordJson>>> {
    let id = super::parse_id(&id)?;
    Ok(Json(
        sqlx::query_as(
            "select q.kind, q.name, q.result, q.specification, q.reference, q.outcome, q.notes, q.performed_at,
                    u.username as recorded_by
               from qa_records q left join users u on u.id = q.recorded_by where q.lot_id = $1
              order by q.performed_at desc, q.created_at desc",
        )
        .bind(id)
        .fetch_all(&state.pool)
        .await?,
    ))
}

/// Records an inspection, test result or certificate on a lot (`performed_on` YYYY-MM-DD).
#[utoipa::path(post, path = "/api/v1/lots/{id}/qa-records", tag = "lots", params(("id" = Uuid, Path, description = "The lot's id")), request_body = crate::qa::RecordForm, responses((status = 201, body = Vec<QaRecordJson>), (status = 422, description = "A field is not valid")))]
async fn add_qa_record(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Json(body): Json<crate::qa::RecordForm>,
) -> Result<Response> {
    let lot_id = super::parse_id(&id)?;
    if let Err(e) = crate::qa::add_record(&state.pool, &user.person(), lot_id, &body).await {
        return saved::<()>(Err(e));
    }
    let Json(records) = qa_records(State(state), Path(id)).await?;
    Ok((StatusCode::CREATED, Json(records)).into_response())
}

// ------------------------------------------------------------------------------------------------
// Receipts, production runs and shipments
// ------------------------------------------------------------------------------------------------

/// A request body's codes resolved to ids, and its fields checked, collecting every problem as a
/// field error (an unknown code names itself), so that the API builds an operation's command from
/// JSON as a page builds it from its form.
struct Resolve<'a> {
    state: &'a AppState,
    errors: FieldErrors,
}

impl<'a> Resolve<'a> {
    fn new(state: &'a AppState) -> Resolve<'a> {
        Resolve { state, errors: FieldErrors::default() }
    }

    /// The id of the row `sql` finds by `code` (upper-cased); None, with `field`'s error, if none.
    async fn id(&mut self, field: &'static str, what: &str, sql: &'static str, code: &str) -> Result<Option<Uuid>> {
        let code = code.trim().to_uppercase();
        let id: Option<Uuid> = sqlx::query_scalar(sql).bind(&code).fetch_optional(&self.state.pool).await?;
        if id.is_none() {
            self.errors.add(field, format!("No {what} has the code “{code}”."));
        }
        Ok(id)
    }

    /// As `id`, for a code unique within a parent (`sql` binds the parent's id, then the code).
    async fn at_site(
        &mut self,
        field: &'static str,
        what: &str,
        sql: &'static str,
        parent: Uuid,
        code: &str,
    ) -> Result<Option<Uuid>> {
        let code = code.trim().to_uppercase();
        let id: Option<Uuid> =
            sqlx::query_scalar(sql).bind(parent).bind(&code).fetch_optional(&self.state.pool).await?;
        if id.is_none() {
            self.errors.add(field, format!("No {what} has the code “{code}”."));
        }
        Ok(id)
    }

    /// Keeps a checked value, or notes its message against `field`.
    fn check<T>(&mut self, field: &'static str, result: std::result::Result<Option<T>, String>) -> Option<T> {
        result.map_err(|m| self.errors.add(field, m)).ok().flatten()
    }
}

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
struct DocumentJson {
    id: Uuid,
    number: String,
    site: String,
    /// The supplier (receipts) or the output material (runs).
    party_or_material: String,
    at: DateTime<Utc>,
    order_ref: String,
    /// Receipts: lines; runs: open or closed.
    detail: String,
}

/// Receipts, newest first; `q` matches the number, the supplier's code and the order.
#[utoipa::path(get, path = "/api/v1/receipts", tag = "documents", params(ListParams), responses((status = 200, body = Page<DocumentJson>)))]
async fn receipts(State(state): State<AppState>, Query(p): Query<ListParams>) -> Result<Json<Page<DocumentJson>>> {
    list(
        &state,
        &p,
        "select r.id, r.number, s.code as site, p.code as party_or_material, r.received_at as at, r.order_ref,
                (select count(*) from receipt_lines l where l.receipt_id = r.id)::text || ' lines' as detail
           from receipts r join parties p on p.id = r.supplier_id join sites s on s.id = r.site_id
          where $1::text is null or r.number ilike $1 or p.code ilike $1 or r.order_ref ilike $1
          order by r.received_at desc, r.number desc limit $2 offset $3"
            .to_string(),
        "select count(*) from receipts r join parties p on p.id = r.supplier_id
          where $1::text is null or r.number ilike $1 or p.code ilike $1 or r.order_ref ilike $1",
    )
    .await
}

/// Production runs, newest first; `q` matches the number, the output material and the order.
#[utoipa::path(get, path = "/api/v1/runs", tag = "documents", params(ListParams), responses((status = 200, body = Page<DocumentJson>)))]
async fn runs(State(state): State<AppState>, Query(p): Query<ListParams>) -> Result<Json<Page<DocumentJson>>> {
    list(&state, &p, "select r.id, r.number, s.code as site, m.code as party_or_material, r.opened_at as at, r.order_ref, r.status as detail
           from production_runs r join materials m on m.id = r.output_material_id join sites s on s.id = r.site_id
          where $1::text is null or r.number ilike $1 or m.code ilike $1 or r.order_ref ilike $1
          order by r.opened_at desc, r.number desc limit $2 offset $3".to_string(), "select count(*) from production_runs r join materials m on m.id = r.output_material_id
          where $1::text is null or r.number ilike $1 or m.code ilike $1 or r.order_ref ilike $1").await
}

#[derive(Debug, Deserialize, ToSchema)]
struct RunRequest {
    idempotency_key: Uuid,
    /// Site code.
    site: String,
    /// The material the run makes (code).
    output_material: String,
    /// Production line code at the site.
    line: Option<String>,
    planned_quantity: Option<String>,
    order_ref: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
struct Created {
    id: Uuid,
    number: String,
}

/// Opens a production run.
#[utoipa::path(post, path = "/api/v1/runs", tag = "documents", request_body = RunRequest, responses((status = 201, body = Created), (status = 422, description = "A field is not valid")))]
async fn open_run(State(state): State<AppState>, user: CurrentUser, Json(body): Json<RunRequest>) -> Result<Response> {
    let mut r = Resolve::new(&state);
    let site = r.id("site", "site", "select id from sites where code = $1", &body.site).await?;
    let material =
        r.id("output_material", "material", "select id from materials where code = $1", &body.output_material).await?;
    let line = match (&body.line, site) {
        (Some(code), Some(site)) if !code.trim().is_empty() => {
            let sql = "select id from production_lines where site_id = $1 and code = $2";
            r.at_site("line", "production line at the site", sql, site, code).await?
        }
        _ => None,
    };
    let planned_quantity = r.check(
        "planned_quantity",
        text::positive_decimal(body.planned_quantity.as_deref().unwrap_or_default(), "The planned quantity"),
    );
    let order_ref = r
        .check("order_ref", text::optional(body.order_ref.as_deref().unwrap_or_default(), "The order", 100).map(Some))
        .filter(|o| !o.is_empty());
    let (Some(site), Some(output_material)) = (site, material) else { return Ok(invalid(&r.errors)) };
    if !r.errors.is_empty() {
        return Ok(invalid(&r.errors));
    }
    let run = crate::stock::production::OpenRun {
        site,
        line,
        output_material,
        planned_quantity,
        order_ref,
        key: body.idempotency_key,
    };
    let id = match crate::stock::production::open(&state.pool, &user.actor(), &run).await {
        Ok(id) => id,
        Err(e) => return saved::<()>(Err(e)),
    };
    let number: String =
        sqlx::query_scalar("select number from production_runs where id = $1").bind(id).fetch_one(&state.pool).await?;
    Ok((StatusCode::CREATED, Json(Created { id, number })).into_response())
}

#[derive(Debug, Deserialize, ToSchema)]
struct InputRequest {
    idempotency_key: Uuid,
    /// The lot's code (with `lot_id` where two materials share it).
    lot: String,
    lot_id: Option<Uuid>,
    quantity: String,
    /// Location code to take from (default: where the lot has stock at the run's site).
    location: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
struct Posted {
    movement_id: i64,
}

/// The location with `code` at the run's site (`field`'s error when there is none).
async fn run_location(r: &mut Resolve<'_>, field: &'static str, run: Uuid, code: &str) -> Result<Option<Uuid>> {
    let sql =
        "select c.id from locations c join production_runs r on r.site_id = c.site_id where r.id = $1 and c.code = $2";
    r.at_site(field, "location at the run's site", sql, run, code).await
}

/// Consumes a lot into an open run (refused if the lot is not usable: quarantine, held,
/// recalled, expired, or too little on hand), linking it to the run's outputs.
#[utoipa::path(post, path = "/api/v1/runs/{id}/inputs", tag = "documents", params(("id" = Uuid, Path, description = "The run's id")), request_body = InputRequest, responses((status = 201, body = Posted), (status = 422, description = "The lot cannot be used; the message says why")))]
async fn run_input(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Json(body): Json<InputRequest>,
) -> Result<Response> {
    use crate::stock::production::{LotPick, PostInput};
    let run = super::parse_id(&id)?;
    let mut r = Resolve::new(&state);
    let location = match body.location.as_deref().map(str::trim) {
        Some(code) if !code.is_empty() => run_location(&mut r, "location", run, code).await?,
        _ => None,
    };
    let quantity = r.check("quantity", text::required_decimal(&body.quantity, "The quantity").map(Some));
    let lot = match body.lot_id {
        Some(id) => LotPick::Id(id),
        None if body.lot.trim().is_empty() => {
            r.errors.add("lot", "Give the lot's code (or its id).");
            LotPick::Code(String::new())
        }
        None => LotPick::Code(body.lot.trim().to_string()),
    };
    let Some(quantity) = quantity.filter(|_| r.errors.is_empty()) else { return Ok(invalid(&r.errors)) };
    let input = PostInput { lot, quantity, location, key: body.idempotency_key };
    saved(
        crate::stock::production::post_input(&state.pool, &user.actor(), run, &input)
            .await
            .map(|movement_id| (StatusCode::CREATED, Json(Posted { movement_id }))),
    )
}

#[derive(Debug, Deserialize, ToSchema)]
struct OutputRequest {
    idempotency_key: Uuid,
    quantity: String,
    /// Location code at the run's site.
    location: String,
    /// The code of a lot of the output material to top up (a bulk tank); empty for a new lot.
    topup: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
struct OutputPosted {
    lot_id: Uuid,
    lot: String,
}

/// Posts an output of an open run: a new lot numbered by the rules, or a top-up of a bulk lot.
#[utoipa::path(post, path = "/api/v1/runs/{id}/outputs", tag = "documents", params(("id" = Uuid, Path, description = "The run's id")), request_body = OutputRequest, responses((status = 201, body = OutputPosted), (status = 422, description = "A field is not valid")))]
async fn run_output(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Json(body): Json<OutputRequest>,
) -> Result<Response> {
    let run = super::parse_id(&id)?;
    let mut r = Resolve::new(&state);
    let location = run_location(&mut r, "location", run, &body.location).await?;
    let quantity = r.check("quantity", text::required_decimal(&body.quantity, "The quantity").map(Some));
    let (Some(quantity), Some(location)) = (quantity, location) else { return Ok(invalid(&r.errors)) };
    let output = crate::stock::production::PostOutput {
        quantity,
        location,
        topup: body.topup.map(|t| t.trim().to_string()).filter(|t| !t.is_empty()),
        key: body.idempotency_key,
    };
    saved(
        crate::stock::production::post_output(&state.pool, &user.actor(), run, &output)
            .await
            .map(|(lot_id, lot)| (StatusCode::CREATED, Json(OutputPosted { lot_id, lot }))),
    )
}

#[derive(Debug, Deserialize, ToSchema)]
struct ShipmentRequest {
    idempotency_key: Uuid,
    /// Site code.
    site: String,
    /// Customer code.
    customer: String,
    shipped_on: Option<NaiveDate>,
    order_ref: Option<String>,
    bol_ref: Option<String>,
    lines: Vec<ShipmentLineRequest>,
}

#[derive(Debug, Deserialize, ToSchema)]
struct ShipmentLineRequest {
    /// The lot's code.
    lot: String,
    quantity: String,
    /// Location code (default: where the lot has stock).
    location: Option<String>,
}

/// Ships lots to a customer (every line checked: usable, enough on hand), in one transaction.
#[utoipa::path(post, path = "/api/v1/shipments", tag = "documents", request_body = ShipmentRequest, responses((status = 201, body = Created), (status = 422, description = "A line cannot go; `fields` says which")))]
async fn ship(State(state): State<AppState>, user: CurrentUser, Json(body): Json<ShipmentRequest>) -> Result<Response> {
    use crate::stock::ship::{ShipLine, Shipment};
    let mut r = Resolve::new(&state);
    let site = r.id("site", "site", "select id from sites where code = $1", &body.site).await?;
    let customer =
        r.id("customer", "customer", "select id from parties where code = $1 and is_customer", &body.customer).await?;
    let mut lines = Vec::new();
    for (row, l) in body.lines.iter().enumerate() {
        let field = crate::save::line_key(row);
        let location = match (&l.location, site) {
            (Some(code), Some(site)) if !code.trim().is_empty() => {
                let sql = "select id from locations where site_id = $1 and code = $2";
                let found = r.at_site("location", "location at the site", sql, site, code).await?;
                if found.is_none() {
                    r.errors.add(
                        field.clone(),
                        format!("Line {}: no location at the site has the code “{}”.", row + 1, code.trim()),
                    );
                    continue;
                }
                found
            }
            _ => None,
        };
        match text::required_decimal(&l.quantity, "The quantity") {
            Ok(quantity) => lines.push(ShipLine { row, lot: l.lot.trim().to_string(), quantity, location }),
            Err(m) => r.errors.add(field, format!("Line {}: {m}", row + 1)),
        }
    }
    let order_ref =
        r.check("order_ref", text::optional(body.order_ref.as_deref().unwrap_or_default(), "The order", 100).map(Some));
    let bol_ref = r.check(
        "bol_ref",
        text::optional(body.bol_ref.as_deref().unwrap_or_default(), "The bill of lading", 100).map(Some),
    );
    let (Some(site), Some(customer)) = (site, customer) else { return Ok(invalid(&r.errors)) };
    if !r.errors.is_empty() {
        return Ok(invalid(&r.errors));
    }
    let shipment = Shipment {
        site,
        customer,
        shipped_on: body.shipped_on,
        order_ref: order_ref.unwrap_or_default(),
        bol_ref: bol_ref.unwrap_or_default(),
        asn_ref: String::new(),
        lines,
        key: body.idempotency_key,
    };
    let id = match crate::stock::ship::ship(&state.pool, &user.actor(), &shipment).await {
        Ok(id) => id,
        Err(e) => return saved::<()>(Err(e)),
    };
    let number: String =
        sqlx::query_scalar("select number from shipments where id = $1").bind(id).fetch_one(&state.pool).await?;
    Ok((StatusCode::CREATED, Json(Created { id, number })).into_response())
}

// ------------------------------------------------------------------------------------------------
// Traces, EPCIS, recalls
// ------------------------------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(default)]
#[into_params(parameter_in = Query)]
struct TraceParams {
    /// The lot's id (or give material and lot).
    lot_id: String,
    /// Material code.
    material: String,
    /// Lot code (with material), or the lot's id.
    lot: String,
    /// forward (where used) or backward (where from).
    direction: String,
    /// precise (default) or lot-level.
    mode: String,
}

async fn traced(state: &AppState, p: &TraceParams) -> Result<Trace> {
    let direction = Direction::parse(p.direction.trim())
        .ok_or_else(|| Error::BadRequest("direction is forward or backward.".into()))?;
    let mode = Mode::parse(p.mode.trim()).ok_or_else(|| Error::BadRequest("mode is precise or lot-level.".into()))?;
    let by_id = if p.lot_id.trim().is_empty() { p.lot.trim() } else { p.lot_id.trim() };
    let lot = match Uuid::parse_str(by_id) {
        Ok(id) => id,
        Err(_) if !p.material.trim().is_empty() && !p.lot.trim().is_empty() => {
            crate::trace::find_lot(state.reports(), &p.material, &p.lot).await?
        }
        Err(_) => return Err(Error::BadRequest("Name the lot: lot_id, or material and lot (codes).".into())),
    };
    state.trace(lot, direction, mode).await
}

/// The trace of a lot: every lot it reached with depth, status and stock; forward, the
/// shipments and customers, and (precise) each lot's share and concentration of the start lot.
#[utoipa::path(get, path = "/api/v1/trace", tag = "traces", params(TraceParams), responses((status = 200, body = Trace), (status = 400, description = "Bad parameters"), (status = 404, description = "No such lot")))]
async fn trace(State(state): State<AppState>, Query(p): Query<TraceParams>) -> Result<Response> {
    let t = traced(&state, &p).await?;
    let response = Json(&t).into_response();
    crate::trace::drop_later(t);
    Ok(response)
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(default)]
#[into_params(parameter_in = Query)]
struct EpcisParams {
    /// First day (YYYY-MM-DD), with `to`; or trace parameters below.
    from: String,
    /// Last day (YYYY-MM-DD), at most a year after `from`.
    to: String,
    /// A lot's id: its trace's events (direction and mode as for /api/v1/trace).
    lot_id: String,
    direction: String,
    mode: String,
}

/// EPCIS 2.0 JSON-LD: receiving, production (TransformationEvents) and shipping events, for a
/// date range or for the lots of a trace.
#[utoipa::path(get, path = "/api/v1/epcis", tag = "traces", params(EpcisParams), responses((status = 200, description = "An EPCISDocument", content_type = "application/ld+json", body = serde_json::Value)))]
async fn epcis(State(state): State<AppState>, Query(p): Query<EpcisParams>) -> Result<Response> {
    let doc = if !p.lot_id.trim().is_empty() {
        let t = traced(
            &state,
            &TraceParams {
                lot_id: p.lot_id.clone(),
                direction: p.direction.clone(),
                mode: p.mode.clone(),
                ..Default::default()
            },
        )
        .await?;
        let ids: Vec<Uuid> = t.lots.iter().map(|l| l.id).collect();
        crate::documents::epcis::document(
            state.reports(),
            crate::documents::epcis::Selection::Lots(&ids),
            &state.public_url,
        )
        .await?
    } else {
        let date = |v: &str, what: &str| {
            NaiveDate::parse_from_str(v.trim(), "%Y-%m-%d")
                .map_err(|_| Error::BadRequest(format!("{what} must be a date such as 2026-01-31.")))
        };
        let (from, to) = (date(&p.from, "from")?, date(&p.to, "to")?);
        if to < from || (to - from).num_days() > 366 {
            return Err(Error::BadRequest("Ask for a range of at most a year, from before to.".into()));
        }
        crate::documents::epcis::document(
            state.reports(),
            crate::documents::epcis::Selection::Dates(from, to),
            &state.public_url,
        )
        .await?
    };
    let mut response = Json(doc).into_response();
    response
        .headers_mut()
        .insert(axum::http::header::CONTENT_TYPE, axum::http::HeaderValue::from_static("application/ld+json"));
    Ok(response)
}

/// A recall: its case and its current frozen scope (lots, stock, shipments, customers as they were).
#[utoipa::path(get, path = "/api/v1/recalls/{id}", tag = "recalls", params(("id" = Uuid, Path, description = "The recall's id")), responses((status = 200, description = "The recall and its scope", body = serde_json::Value), (status = 404, description = "No such recall")))]
async fn recall(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Value>> {
    let id = super::parse_id(&id)?;
    let r = crate::recall::get(&state.pool, id).await?;
    let scope = crate::recall::scopes(&state.pool, id).await?.pop().ok_or(Error::NotFound)?;
    Ok(Json(json!({
        "id": r.id, "number": r.number, "mock": r.mock, "class": r.class, "status": r.status, "reason": r.reason,
        "mode": r.mode, "opened_at": r.opened_at, "closed_at": r.closed_at, "scope_hash": scope.hash, "scope": scope.scope,
    })))
}
