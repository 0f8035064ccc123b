//! What the lot page's forms do: QA decisions and holds, records, reversals, transfers,
//! adjustments, scrap, splits and returns to the supplier, each parsed into its operation's
//! command.

use super::*;

/// Back to the lot page after a QA action, or the page again with the action's errors.
pub(super) async fn respond(
    state: &AppState,
    layout: Layout,
    id: Uuid,
    result: std::result::Result<(), SaveError>,
    done: &str,
    record_form: RecordForm,
) -> Result<Response> {
    match result {
        Ok(()) => Ok(redirect_with_flash(&format!("/lots/{id}"), FlashKind::Success, done)),
        Err(SaveError::Invalid(errors)) => {
            lot_page(state, StatusCode::UNPROCESSABLE_ENTITY, layout, id, errors, record_form).await
        }
        Err(SaveError::Stale) => Err(Error::Conflict("The lot changed meanwhile; reload the page.".into())),
        Err(SaveError::Other(e)) => Err(e),
    }
}

pub(super) async fn release(
    State(state): State<AppState>,
    user: CurrentUser,
    layout: Layout,
    Path(id): Path<String>,
    Form(form): Form<DecisionForm>,
) -> Result<Response> {
    let id = crate::web::parse_id(&id)?;
    let result = qa::decide(&state.pool, &user.person(), id, Disposition::Released, &form).await;
    respond(&state, layout, id, result, "Lot released (signed).", RecordForm::default()).await
}

pub(super) async fn reject(
    State(state): State<AppState>,
    user: CurrentUser,
    layout: Layout,
    Path(id): Path<String>,
    Form(form): Form<DecisionForm>,
) -> Result<Response> {
    let id = crate::web::parse_id(&id)?;
    let result = qa::decide(&state.pool, &user.person(), id, Disposition::Rejected, &form).await;
    respond(&state, layout, id, result, "Lot rejected (signed).", RecordForm::default()).await
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub(super) struct HoldForm {
    hold_reason: String,
    lift_reason: String,
}

pub(super) async fn hold(
    State(state): State<AppState>,
    user: CurrentUser,
    layout: Layout,
    Path(id): Path<String>,
    Form(form): Form<HoldForm>,
) -> Result<Response> {
    let id = crate::web::parse_id(&id)?;
    let result = qa::place_hold(&state.pool, &user.person(), id, &form.hold_reason).await;
    respond(
        &state,
        layout,
        id,
        result,
        "Hold placed: the lot cannot be used or shipped until it is lifted.",
        RecordForm::default(),
    )
    .await
}

pub(super) async fn lift(
    State(state): State<AppState>,
    user: CurrentUser,
    layout: Layout,
    Path((id, hold)): Path<(String, String)>,
    Form(form): Form<HoldForm>,
) -> Result<Response> {
    let (id, hold) = (crate::web::parse_id(&id)?, crate::web::parse_id(&hold)?);
    let result = qa::lift_hold(&state.pool, &user.person(), id, hold, &form.lift_reason).await;
    respond(&state, layout, id, result, "Hold lifted.", RecordForm::default()).await
}

pub(super) async fn add_record(
    State(state): State<AppState>,
    user: CurrentUser,
    layout: Layout,
    Path(id): Path<String>,
    Form(form): Form<RecordForm>,
) -> Result<Response> {
    let id = crate::web::parse_id(&id)?;
    let result = qa::add_record(&state.pool, &user.person(), id, &form).await;
    respond(&state, layout, id, result, "QA record added.", form).await
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub(super) struct ReverseForm {
    reverse_reason: String,
    /// The confirmation box: "yes" when ticked.
    confirm: String,
    signer: String,
    password: String,
}

pub(super) async fn reverse(
    State(state): State<AppState>,
    user: CurrentUser,
    layout: Layout,
    Path((id, movement)): Path<(String, i64)>,
    Form(form): Form<ReverseForm>,
) -> Result<Response> {
    let id = crate::web::parse_id(&id)?;
    let command = moves::Reverse {
        movement,
        reason: form.reverse_reason,
        confirmed: form.confirm == "yes",
        signer: form.signer,
        password: form.password,
    };
    let result = moves::reverse(&state.pool, &user.person(), id, &command).await;
    respond(
        &state,
        layout,
        id,
        result,
        "Posting reversed; the genealogy follows the correction.",
        RecordForm::default(),
    )
    .await
}

/// Transfer, adjust or scrap: one form each on the lot's page, one handler.
/// `/lots/{id}/{action}` has no pages of its own: a GET there is a page that does not exist.
pub(super) async fn no_such_page() -> Error {
    Error::NotFound
}

/// A transfer, adjustment or scrap, as typed on the lot's page.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct MoveForm {
    pub from_location: String,
    pub to_location: String,
    pub transfer_quantity: String,
    pub adjust_quantity: String,
    pub scrap_quantity: String,
    /// For adjustments: "add" or "remove".
    pub direction: String,
    pub adjust_reason: String,
    pub scrap_reason: String,
    /// `yes` once the person confirmed a scrap.
    pub confirmed: String,
}

pub(super) fn quantity(value: &str, field: &'static str) -> std::result::Result<Decimal, SaveError> {
    crate::domain::text::required_decimal(value, "The quantity").map_err(|m| SaveError::field(field, m))
}

pub(super) fn location(value: &str, field: &'static str) -> std::result::Result<Uuid, SaveError> {
    Uuid::parse_str(value.trim()).map_err(|_| SaveError::field(field, "Choose a location."))
}

/// The split form on a lot's page.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(super) struct SplitForm {
    split_from: String,
    split_quantity: String,
    /// The material of the new lot; empty for the source's own.
    split_material: String,
    /// The new lot's quantity in its own unit (a repack); empty for the same quantity.
    split_new_quantity: String,
    split_to: String,
}

pub(super) async fn move_stock(
    State(state): State<AppState>,
    user: CurrentUser,
    layout: Layout,
    Path((id, action)): Path<(String, String)>,
    Form(form): Form<MoveForm>,
) -> Result<Response> {
    let id = crate::web::parse_id(&id)?;
    let (pool, actor, f) = (&state.pool, user.actor(), &form);
    let (result, done) = match action.as_str() {
        "transfer" => (
            async {
                let (from, to) =
                    (location(&f.from_location, "transfer_from")?, location(&f.to_location, "transfer_to")?);
                let quantity = quantity(&f.transfer_quantity, "transfer_quantity")?;
                moves::transfer(pool, &actor, id, &moves::Transfer { from, to, quantity }).await
            }
            .await,
            "Stock moved.",
        ),
        "adjust" => (
            async {
                let quantity = quantity(&f.adjust_quantity, "adjust_quantity")?;
                let quantity = match f.direction.as_str() {
                    "add" => quantity,
                    "remove" => -quantity,
                    _ => return Err(SaveError::field("adjust_quantity", "Say whether stock is added or removed.")),
                };
                let at = location(&f.from_location, "adjust_quantity")?;
                moves::adjust(pool, &actor, id, &moves::Adjust { at, quantity, reason: f.adjust_reason.clone() }).await
            }
            .await,
            "Stock adjusted.",
        ),
        // Scrap destroys: a plausible one is asked first, in full (an implausible one goes on to
        // be refused with its reason).
        "scrap"
            if !crate::web::confirm::confirmed(&f.confirmed)
                && matches!(crate::domain::text::positive_decimal(&f.scrap_quantity, "The quantity"), Ok(Some(_)))
                && Uuid::parse_str(f.from_location.trim()).is_ok()
                && crate::domain::text::required(&f.scrap_reason, "The reason", 500).is_ok() =>
        {
            let at = Uuid::parse_str(f.from_location.trim()).ok();
            let named: Option<(String, String, String)> = sqlx::query_as(
                "select l.code, m.uom, coalesce((select code from locations where id = $2), '?')
                   from lots l join materials m on m.id = l.material_id where l.id = $1",
            )
            .bind(id)
            .bind(at)
            .fetch_optional(pool)
            .await?;
            let (code, uom, place) = named.ok_or(Error::NotFound)?;
            let what = format!(
                "Scrap {} {uom} of lot {code} at {place} (reason: {})? The stock leaves the ledger; only a reversal brings it back.",
                f.scrap_quantity.trim(),
                f.scrap_reason.trim()
            );
            let fields = vec![
                ("from_location".to_string(), f.from_location.clone()),
                ("scrap_quantity".to_string(), f.scrap_quantity.clone()),
                ("scrap_reason".to_string(), f.scrap_reason.clone()),
            ];
            let (action, back) = (format!("/lots/{id}/scrap"), format!("/lots/{id}"));
            let ask = crate::web::confirm::Ask {
                title: "Scrap stock?",
                what: &what,
                action: &action,
                fields,
                button: "Scrap",
                back: &back,
            };
            return crate::web::confirm::ask(layout, &ask);
        }
        "scrap" => (
            async {
                let (quantity, at) =
                    (quantity(&f.scrap_quantity, "scrap_quantity")?, location(&f.from_location, "scrap_quantity")?);
                moves::scrap(pool, &actor, id, &moves::Scrap { at, quantity, reason: f.scrap_reason.clone() }).await
            }
            .await,
            "Stock scrapped.",
        ),
        _ => return Err(Error::NotFound),
    };
    respond(&state, layout, id, result, done, RecordForm::default()).await
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub(super) struct SupplierReturnForm {
    from_location: String,
    supplier_quantity: String,
    supplier_reason: String,
}

pub(super) async fn return_to_supplier(
    State(state): State<AppState>,
    user: CurrentUser,
    layout: Layout,
    Path(id): Path<String>,
    Form(form): Form<SupplierReturnForm>,
) -> Result<Response> {
    let id = crate::web::parse_id(&id)?;
    let sent = async {
        let location = Uuid::parse_str(form.from_location.trim())
            .map_err(|_| SaveError::field("supplier_quantity", "Choose the location the goods leave from."))?;
        let quantity = crate::domain::text::required_decimal(&form.supplier_quantity, "The quantity")
            .map_err(|m| SaveError::field("supplier_quantity", m))?;
        let back = crate::stock::returns::SupplierReturn { location, quantity, reason: form.supplier_reason.clone() };
        crate::stock::returns::to_supplier(&state.pool, &user.actor(), id, &back).await
    };
    let result = sent.await.map(|_| ());
    respond(&state, layout, id, result, "Returned to the supplier.", RecordForm::default()).await
}

pub(super) async fn split(
    State(state): State<AppState>,
    user: CurrentUser,
    layout: Layout,
    Path(id): Path<String>,
    Form(form): Form<SplitForm>,
) -> Result<Response> {
    let id = crate::web::parse_id(&id)?;
    let split = async {
        let f = &form;
        let quantity = quantity(&f.split_quantity, "split_quantity")?;
        let from = Uuid::parse_str(f.split_from.trim())
            .map_err(|_| SaveError::field("split_quantity", "Choose the location the stock is taken from."))?;
        let to = Uuid::parse_str(f.split_to.trim())
            .map_err(|_| SaveError::field("split_to", "Choose where the new lot is put."))?;
        let new_quantity = crate::domain::text::positive_decimal(&f.split_new_quantity, "The new lot's quantity")
            .map_err(|m| SaveError::field("split_new_quantity", m))?;
        let material = Some(f.split_material.trim().to_string()).filter(|m| !m.is_empty());
        let command = crate::stock::split::Split { from, to, quantity, material, new_quantity };
        crate::stock::split::split(&state.pool, &user.actor(), id, &command).await
    };
    match crate::web::outcome(split.await)? {
        Ok((new_lot, code)) => Ok(redirect_with_flash(
            &format!("/lots/{new_lot}"),
            FlashKind::Success,
            &format!("New lot {code} split off."),
        )),
        Err(errors) => {
            lot_page(&state, StatusCode::UNPROCESSABLE_ENTITY, layout, id, errors, RecordForm::default()).await
        }
    }
}
