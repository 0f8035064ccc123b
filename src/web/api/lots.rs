//! Lots: the list, one lot, holds, releases and rejections.

use super::*;

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub(super) struct LotJson {
    pub(super) id: Uuid,
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

pub(super) const LOT_SELECT: &str =
    "select l.id, m.code as material, l.code, l.origin, {STATUS} as status, l.made_on, l.expires_on,
        p.code as supplier, l.supplier_lot, l.tlc,
        trim_scale(coalesce((select sum(quantity) from on_hand o where o.lot_id = l.id), 0)) as on_hand, m.uom
   from lots l join materials m on m.id = l.material_id left join parties p on p.id = l.supplier_id";

pub(super) fn lot_select() -> String {
    LOT_SELECT.replace("{STATUS}", crate::domain::status::STATUS_SQL)
}

/// Lots, newest first; `q` matches lot codes, supplier lot codes and material codes.
#[utoipa::path(get, path = "/api/v1/lots", tag = "lots", params(ListParams), responses((status = 200, body = Page<LotJson>)))]
pub(super) async fn lots(State(state): State<AppState>, Query(p): Query<ListParams>) -> Result<Json<Page<LotJson>>> {
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
pub(super) async fn lot(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<LotJson>> {
    let id = crate::web::parse_id(&id)?;
    let lot = sqlx::query_as(sqlx::AssertSqlSafe(format!("{} where l.id = $1", lot_select())))
        .bind(id)
        .fetch_optional(&state.pool)
        .await?
        .ok_or(Error::NotFound)?;
    Ok(Json(lot))
}

#[derive(Debug, Deserialize, ToSchema)]
pub(super) struct HoldRequest {
    /// Why the lot is held (shown wherever the lot is refused).
    reason: String,
}

/// Places a hold on a lot: it cannot be consumed or shipped until the hold is lifted.
#[utoipa::path(post, path = "/api/v1/lots/{id}/holds", tag = "lots", params(("id" = Uuid, Path, description = "The lot's id")), request_body = HoldRequest, responses((status = 201, body = LotJson), (status = 422, description = "The reason is missing")))]
pub(super) async fn hold(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Json(body): Json<HoldRequest>,
) -> Result<Response> {
    let id = crate::web::parse_id(&id)?;
    if let Err(e) = crate::qa::place_hold(&state.pool, &user.person(), id, &body.reason).await {
        return saved::<()>(Err(e));
    }
    let Json(lot) = lot(State(state), Path(id.to_string())).await?;
    Ok((StatusCode::CREATED, Json(lot)).into_response())
}
