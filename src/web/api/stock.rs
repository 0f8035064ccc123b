//! Postings: receipts, production runs (open, inputs, outputs) and shipments, built as the same
//! commands the pages build.

use super::*;

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub(super) struct DocumentJson {
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
pub(super) async fn receipts(
    State(state): State<AppState>,
    Query(p): Query<ListParams>,
) -> Result<Json<Page<DocumentJson>>> {
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
pub(super) async fn runs(
    State(state): State<AppState>,
    Query(p): Query<ListParams>,
) -> Result<Json<Page<DocumentJson>>> {
    list(&state, &p, "select r.id, r.number, s.code as site, m.code as party_or_material, r.opened_at as at, r.order_ref, r.status as detail
           from production_runs r join materials m on m.id = r.output_material_id join sites s on s.id = r.site_id
          where $1::text is null or r.number ilike $1 or m.code ilike $1 or r.order_ref ilike $1
          order by r.opened_at desc, r.number desc limit $2 offset $3".to_string(), "select count(*) from production_runs r join materials m on m.id = r.output_material_id
          where $1::text is null or r.number ilike $1 or m.code ilike $1 or r.order_ref ilike $1").await
}

#[derive(Debug, Deserialize, ToSchema)]
pub(super) struct RunRequest {
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
pub(super) struct Created {
    id: Uuid,
    number: String,
    /// What the caller must not miss: lots that were in a real recall's scope.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<String>,
}

/// Opens a production run.
#[utoipa::path(post, path = "/api/v1/runs", tag = "documents", request_body = RunRequest, responses((status = 201, body = Created), (status = 422, description = "A field is not valid")))]
pub(super) async fn open_run(
    State(state): State<AppState>,
    user: CurrentUser,
    Json(body): Json<RunRequest>,
) -> Result<Response> {
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
    Ok((StatusCode::CREATED, Json(Created { id, number, warnings: Vec::new() })).into_response())
}

#[derive(Debug, Deserialize, ToSchema)]
pub(super) struct InputRequest {
    idempotency_key: Uuid,
    /// The lot's code (with `lot_id` where two materials share it).
    lot: String,
    lot_id: Option<Uuid>,
    quantity: String,
    /// Location code to take from (default: where the lot has stock at the run's site).
    location: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Posted {
    movement_id: i64,
    /// What the caller must not miss: a lot that was in a real recall's scope.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<String>,
}

/// The location with `code` at the run's site (`field`'s error when there is none).
pub(super) async fn run_location(
    r: &mut Resolve<'_>,
    field: &'static str,
    run: Uuid,
    code: &str,
) -> Result<Option<Uuid>> {
    let sql =
        "select c.id from locations c join production_runs r on r.site_id = c.site_id where r.id = $1 and c.code = $2";
    r.at_site(field, "location at the run's site", sql, run, code).await
}

/// Consumes a lot into an open run (refused if the lot is not usable: quarantine, held,
/// recalled, expired, or too little on hand), linking it to the run's outputs.
#[utoipa::path(post, path = "/api/v1/runs/{id}/inputs", tag = "documents", params(("id" = Uuid, Path, description = "The run's id")), request_body = InputRequest, responses((status = 201, body = Posted), (status = 422, description = "The lot cannot be used; the message says why")))]
pub(super) async fn run_input(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Json(body): Json<InputRequest>,
) -> Result<Response> {
    use crate::stock::production::{LotPick, PostInput};
    let run = crate::web::parse_id(&id)?;
    let mut r = Resolve::new(&state);
    let location = match body.location.as_deref().map(str::trim) {
        Some(code) if !code.is_empty() => run_location(&mut r, "location", run, code).await?,
        _ => None,
    };
    let quantity = r.check("quantity", text::required_decimal(&body.quantity, "The quantity").map(Some));
    let lot = LotPick::named(body.lot_id, &body.lot).unwrap_or_else(|m| {
        r.errors.add("lot", m);
        LotPick::Code(String::new())
    });
    let Some(quantity) = quantity.filter(|_| r.errors.is_empty()) else { return Ok(invalid(&r.errors)) };
    let input = PostInput { lot, quantity, location, key: body.idempotency_key };
    saved(crate::stock::production::post_input(&state.pool, &user.actor(), run, &input).await.map(|c| {
        (StatusCode::CREATED, Json(Posted { movement_id: c.movement, warnings: c.warning.into_iter().collect() }))
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
pub(super) struct OutputRequest {
    idempotency_key: Uuid,
    quantity: String,
    /// Location code at the run's site.
    location: String,
    /// The code of a lot of the output material to top up (a bulk tank); empty for a new lot.
    topup: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct OutputPosted {
    lot_id: Uuid,
    lot: String,
}

/// Posts an output of an open run: a new lot numbered by the rules, or a top-up of a bulk lot.
#[utoipa::path(post, path = "/api/v1/runs/{id}/outputs", tag = "documents", params(("id" = Uuid, Path, description = "The run's id")), request_body = OutputRequest, responses((status = 201, body = OutputPosted), (status = 422, description = "A field is not valid")))]
pub(super) async fn run_output(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Json(body): Json<OutputRequest>,
) -> Result<Response> {
    let run = crate::web::parse_id(&id)?;
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
pub(super) struct ShipmentRequest {
    idempotency_key: Uuid,
    /// Site code.
    site: String,
    /// Customer code.
    customer: String,
    shipped_on: Option<NaiveDate>,
    order_ref: Option<String>,
    bol_ref: Option<String>,
    /// Pallets it leaves on, 0 to 99 (default 1): each gets an SSCC when the site has a GS1
    /// company prefix.
    pallets: Option<u8>,
    lines: Vec<ShipmentLineRequest>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub(super) struct ShipmentLineRequest {
    /// The lot's code.
    lot: String,
    quantity: String,
    /// Location code (default: where the lot has stock).
    location: Option<String>,
}

/// Ships lots to a customer (every line checked: usable, enough on hand), in one transaction.
#[utoipa::path(post, path = "/api/v1/shipments", tag = "documents", request_body = ShipmentRequest, responses((status = 201, body = Created), (status = 422, description = "A line cannot go; `fields` says which")))]
pub(super) async fn ship(
    State(state): State<AppState>,
    user: CurrentUser,
    Json(body): Json<ShipmentRequest>,
) -> Result<Response> {
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
                let found = r.find(LOCATION_AT_SITE, Some(site), code).await?;
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
        match text::required_decimal(&l.quantity, "The quantity").and_then(|q| {
            text::printable(&l.lot, "The lot code")?;
            Ok(q)
        }) {
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
        pallets: body.pallets.unwrap_or(1),
        key: body.idempotency_key,
    };
    let shipped = match crate::stock::ship::ship(&state.pool, &user.actor(), &shipment).await {
        Ok(shipped) => shipped,
        Err(e) => return saved::<()>(Err(e)),
    };
    let id = shipped.id;
    let number: String =
        sqlx::query_scalar("select number from shipments where id = $1").bind(id).fetch_one(&state.pool).await?;
    Ok((StatusCode::CREATED, Json(Created { id, number, warnings: shipped.warnings })).into_response())
}
