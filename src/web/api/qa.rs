//! QA decisions and records.

use super::*;

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub(super) struct DecisionRequest {
    /// Required to reject.
    reason: String,
    /// The signer's user name: a token has no signing session, so every signature through the API
    /// takes both components (21 CFR 11.200(a)(1)).
    #[serde(default)]
    signer: String,
    /// The signer's own password: a release or a rejection is an electronic signature.
    password: String,
}

pub(super) async fn decide(
    state: AppState,
    user: CurrentUser,
    id: String,
    to: crate::domain::vocab::Disposition,
    body: DecisionRequest,
) -> Result<Response> {
    let id = crate::web::parse_id(&id)?;
    let form = crate::qa::DecisionForm { reason: body.reason, signer: body.signer, password: body.password };
    if let Err(e) = crate::qa::decide(&state.pool, &user.person(), id, to, &form).await {
        return saved::<()>(Err(e));
    }
    let Json(lot) = lot(State(state), Path(id.to_string())).await?;
    Ok(Json(lot).into_response())
}

/// Releases a lot in quarantine (signed with the user's password).
#[utoipa::path(post, path = "/api/v1/lots/{id}/release", tag = "lots", params(("id" = Uuid, Path, description = "The lot's id")), request_body = DecisionRequest, responses((status = 200, body = LotJson), (status = 422, description = "Not in quarantine, or the password is not right")))]
pub(super) async fn release(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Json(body): Json<DecisionRequest>,
) -> Result<Response> {
    decide(state, user, id, crate::domain::vocab::Disposition::Released, body).await
}

/// Rejects a lot in quarantine, with a reason (signed with the user's password).
#[utoipa::path(post, path = "/api/v1/lots/{id}/reject", tag = "lots", params(("id" = Uuid, Path, description = "The lot's id")), request_body = DecisionRequest, responses((status = 200, body = LotJson), (status = 422, description = "No reason, not in quarantine, or the password is not right")))]
pub(super) async fn reject(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Json(body): Json<DecisionRequest>,
) -> Result<Response> {
    decide(state, user, id, crate::domain::vocab::Disposition::Rejected, body).await
}

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub(super) struct QaRecordJson {
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
pub(super) async fn qa_records(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Vec<QaRecordJson>>> {
    let id = crate::web::parse_id(&id)?;
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
pub(super) async fn add_qa_record(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Json(body): Json<crate::qa::RecordForm>,
) -> Result<Response> {
    let lot_id = crate::web::parse_id(&id)?;
    if let Err(e) = crate::qa::add_record(&state.pool, &user.person(), lot_id, &body).await {
        return saved::<()>(Err(e));
    }
    let Json(records) = qa_records(State(state), Path(id)).await?;
    Ok((StatusCode::CREATED, Json(records)).into_response())
}
