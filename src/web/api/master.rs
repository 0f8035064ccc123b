//! The account and master data: who the token is; materials, parties and locations, listed and
//! created (an ERP or a PLM system keeps lotline's master data).

use super::*;

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Me {
    id: Uuid,
    username: String,
    display_name: String,
    roles: Vec<String>,
    permissions: Vec<String>,
}

/// Who the token or session belongs to, and what it may do.
#[utoipa::path(get, path = "/api/v1/me", tag = "account", responses((status = 200, body = Me), (status = 401, description = "No valid token")))]
pub(super) async fn me(user: CurrentUser) -> Json<Me> {
    Json(Me {
        id: user.id,
        username: user.username,
        display_name: user.display_name,
        roles: user.roles,
        permissions: user.permissions.iter().map(|p| p.as_str().to_string()).collect(),
    })
}

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub(super) struct MaterialJson {
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
pub(super) async fn materials(
    State(state): State<AppState>,
    Query(p): Query<ListParams>,
) -> Result<Json<Page<MaterialJson>>> {
    // The same list, search and order as the materials page (`master::materials::list`).
    let (limit, offset, pattern) = p.limits()?;
    let (rows, total) = crate::master::materials::list(&state.pool, pattern.as_deref(), limit, offset).await?;
    let ids: Vec<Uuid> = rows.iter().map(|m| m.id).collect();
    let gtins: Vec<(Uuid, Vec<String>)> = sqlx::query_as(
        "select material_id, array_agg(gtin order by units_per_pack, gtin) from material_gtins
          where material_id = any($1) group by material_id",
    )
    .bind(&ids)
    .fetch_all(&state.pool)
    .await?;
    let mut gtins: std::collections::HashMap<Uuid, Vec<String>> = gtins.into_iter().collect();
    let items = rows
        .into_iter()
        .map(|m| MaterialJson {
            gtins: gtins.remove(&m.id).unwrap_or_default(),
            code: m.code,
            name: m.name,
            kind: m.kind,
            uom: m.uom,
            mass_per_unit_kg: m.mass_per_unit_kg.map(|k| k.normalize()),
            shelf_life_days: m.shelf_life_days,
            ftl: m.ftl,
            active: m.active,
        })
        .collect();
    Ok(p.page(items, total))
}

pub(super) const MATERIAL_SELECT: &str = "select m.code, m.name, m.kind, m.uom, trim_scale(m.mass_per_unit_kg) as mass_per_unit_kg,
        m.shelf_life_days, m.ftl,
        coalesce(array(select g.gtin from material_gtins g where g.material_id = m.id order by g.units_per_pack, g.gtin), '{}') as gtins,
        m.active
   from materials m";

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub(super) struct PartyJson {
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
pub(super) async fn parties(
    State(state): State<AppState>,
    Query(p): Query<ListParams>,
) -> Result<Json<Page<PartyJson>>> {
    // The same list, search and order as the parties page (`master::parties::list`).
    let (limit, offset, pattern) = p.limits()?;
    let (rows, total) = crate::master::parties::list(&state.pool, pattern.as_deref(), None, limit, offset).await?;
    let items = rows
        .into_iter()
        .map(|r| PartyJson {
            code: r.code,
            name: r.name,
            is_supplier: r.is_supplier,
            is_customer: r.is_customer,
            country: r.country,
            gln: r.gln,
            active: r.active,
        })
        .collect();
    Ok(p.page(items, total))
}

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub(super) struct LocationJson {
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
pub(super) async fn locations(
    State(state): State<AppState>,
    Query(p): Query<ListParams>,
) -> Result<Json<Page<LocationJson>>> {
    // The same list, search (site code included) and order as the locations page.
    let (limit, offset, pattern) = p.limits()?;
    let (rows, total) = crate::master::locations::list(&state.pool, pattern.as_deref(), limit, offset).await?;
    let items = rows
        .into_iter()
        .map(|l| LocationJson {
            id: l.id,
            site: l.site_code,
            code: l.code,
            name: l.name,
            kind: l.kind,
            active: l.active,
        })
        .collect();
    Ok(p.page(items, total))
}

pub(super) const PARTY_SELECT: &str = "select code, name, is_supplier, is_customer, country, gln, active from parties";
pub(super) const LOCATION_SELECT: &str =
    "select c.id, s.code as site, c.code, c.name, c.kind, c.active from locations c join sites s on s.id = c.site_id";

/// A decimal sent as a JSON number or string, as the form's text (its checks give the messages).
pub(super) fn number_text(value: &Option<Value>) -> String {
    match value {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

pub(super) fn tick(on: bool) -> Option<String> {
    on.then(|| "on".to_string())
}

/// 201 with the record `select` (binding its id) reads, or the save's field errors as 422.
pub(super) async fn created_record<T>(
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
pub(super) struct MaterialRequest {
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
pub(super) async fn create_material(
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
    let input = match materials::MaterialInput::try_from(&form) {
        Ok(input) => input,
        Err(errors) => return Ok(invalid(&errors)),
    };
    let made = materials::create(&state.pool, &user.actor(), &input, body.idempotency_key).await;
    created_record::<MaterialJson>(&state, made, format!("{MATERIAL_SELECT} where m.id = $1")).await
}

#[derive(Debug, Deserialize, ToSchema)]
pub(super) struct PartyRequest {
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
pub(super) async fn create_party(
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
pub(super) struct LocationRequest {
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
pub(super) async fn create_location(
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
