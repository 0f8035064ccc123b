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

mod docs;
mod documents;
mod lots;
mod master;
mod qa;
mod stock;
mod trace;

pub use docs::docs_router;
use documents::*;
use lots::*;
use master::*;
use qa::*;
use stock::*;
use trace::*;

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
    /// One page of a list: its items and the total that matched.
    fn page<T>(&self, items: Vec<T>, total: i64) -> Json<Page<T>> {
        Json(Page { items, page: self.page.unwrap_or(1), per_page: self.per_page.unwrap_or(50), total })
    }

    fn limits(&self) -> Result<(i64, i64, Option<String>)> {
        let per_page = self.per_page.unwrap_or(50);
        if !(1..=500).contains(&per_page) {
            return Err(Error::BadRequest("per_page is between 1 and 500.".into()));
        }
        let page = self.page.unwrap_or(1);
        if !(1..=crate::web::Paging::MAX_PAGE).contains(&page) {
            return Err(Error::BadRequest(format!("page is between 1 and {}.", crate::web::Paging::MAX_PAGE)));
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
    Ok(p.page(items, total))
}

/// A location by its code at a site (the site's id, then the code).
const LOCATION_AT_SITE: &str = "select id from locations where site_id = $1 and code = $2";

/// A request body's codes resolved to ids, and its fields checked, collecting every problem as a
/// field error (an unknown code names itself), so that the API builds an operation's command from
/// JSON as a page builds it from its form.
pub(super) struct Resolve<'a> {
    pub(super) state: &'a AppState,
    pub(super) errors: FieldErrors,
}

impl<'a> Resolve<'a> {
    pub(super) fn new(state: &'a AppState) -> Resolve<'a> {
        Resolve { state, errors: FieldErrors::default() }
    }

    /// The id of the row `sql` finds by `code` (upper-cased), within `parent` where the code is
    /// unique only there (`sql` then binds the parent's id first).
    pub(super) async fn find(&self, sql: &'static str, parent: Option<Uuid>, code: &str) -> Result<Option<Uuid>> {
        let code = code.trim().to_uppercase();
        let query = sqlx::query_scalar(sql);
        let query = match parent {
            Some(parent) => query.bind(parent).bind(code),
            None => query.bind(code),
        };
        Ok(query.fetch_optional(&self.state.pool).await?)
    }

    /// As `find`; None, with `field`'s error naming the code, if there is no such row.
    pub(super) async fn id(
        &mut self,
        field: &'static str,
        what: &str,
        sql: &'static str,
        code: &str,
    ) -> Result<Option<Uuid>> {
        self.named(field, what, sql, None, code).await
    }

    /// As `id`, for a code unique within a parent.
    pub(super) async fn at_site(
        &mut self,
        field: &'static str,
        what: &str,
        sql: &'static str,
        parent: Uuid,
        code: &str,
    ) -> Result<Option<Uuid>> {
        self.named(field, what, sql, Some(parent), code).await
    }

    async fn named(
        &mut self,
        field: &'static str,
        what: &str,
        sql: &'static str,
        parent: Option<Uuid>,
        code: &str,
    ) -> Result<Option<Uuid>> {
        let id = self.find(sql, parent, code).await?;
        if id.is_none() {
            self.errors.add(field, format!("No {what} has the code “{}”.", code.trim().to_uppercase()));
        }
        Ok(id)
    }

    /// Keeps a checked value, or notes its message against `field`.
    pub(super) fn check<T>(
        &mut self,
        field: &'static str,
        result: std::result::Result<Option<T>, String>,
    ) -> Option<T> {
        result.map_err(|m| self.errors.add(field, m)).ok().flatten()
    }
}
