//! Documents as lists: receipts, shipments and production runs.

use super::*;

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub(super) struct ShipmentJson {
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
pub(super) async fn shipments(
    State(state): State<AppState>,
    Query(p): Query<ListParams>,
) -> Result<Json<Page<ShipmentJson>>> {
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
pub(super) struct ReceiptRequest {
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
pub(super) struct ReceiptLineRequest {
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
pub(super) struct ReceiptCreated {
    receipt_id: Uuid,
    number: String,
    /// The new lots, one per line, in order.
    lots: Vec<LotJson>,
}

/// Receives goods: one lot per line, numbered by the lot-number rules, in one transaction.
#[utoipa::path(post, path = "/api/v1/receipts", tag = "documents", request_body = ReceiptRequest, responses((status = 201, body = ReceiptCreated), (status = 422, description = "A field is not valid; `fields` says which (lines as line1, line2…)")))]
pub(super) async fn receive(
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
        let material = r.find("select id from materials where code = $1", None, &l.material).await?;
        let Some(material_id) = material else {
            r.errors.add(field, problem(format!("no material has the code “{}”.", l.material.trim())));
            continue;
        };
        let Some(site) = site else { continue };
        let location = r.find(LOCATION_AT_SITE, Some(site), &l.location).await?;
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
pub(super) struct ReceiptsCreated {
    pub(super) receipts: Vec<ReceiptCreated>,
    /// Receipts a supplier's retraction (an EPCIS errorDeclaration) reversed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) retracted: Vec<crate::stock::moves::Retracted>,
}

/// The new lots of a receipt, in line order.
pub(super) async fn created(state: &AppState, received: &crate::stock::receive::Received) -> Result<ReceiptCreated> {
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
