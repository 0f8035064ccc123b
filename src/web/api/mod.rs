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
                .routes(routes!(epcis_events))
                .routes(routes!(query_events))
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
        // Named queries and subscriptions send the plant's events out: an integrator's work.
        (
            OpenApiRouter::new()
                .routes(routes!(create_query))
                .routes(routes!(subscribe, subscriptions))
                .routes(routes!(unsubscribe)),
            Permission::UsersManage,
        ),
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
    declare_errors(&mut doc);
    (router, doc)
}

/// The error body every refusal answers with.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct ErrorDetail {
    /// `bad_request`, `unauthorized`, `forbidden`, `not_found`, `conflict`, `invalid`,
    /// `too_many_requests`, `unavailable`…
    code: String,
    /// What went wrong, as the pages say it.
    message: String,
    /// The first field refused (422).
    field: Option<String>,
    /// Every field refused, with its message (422).
    fields: Option<std::collections::BTreeMap<String, String>>,
}

/// Every answer of every operation declared, with a description as OpenAPI requires: the
/// successes as the routes say, and the refusals any route may give — each with the error body.
fn declare_errors(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::PartialSchema;
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
    let components = doc.components.get_or_insert_with(Default::default);
    components.schemas.insert("Error".into(), ErrorBody::schema());
    let error = |description: &str| {
        RefOr::T(
            ResponseBuilder::new()
                .description(description)
                .content("application/json", ContentBuilder::new().schema(Some(Ref::from_schema_name("Error"))).build())
                .build(),
        )
    };
    for (path, item) in doc.paths.paths.iter_mut() {
        for (writes, op) in [(false, item.get.as_mut()), (true, item.post.as_mut()), (true, item.delete.as_mut())] {
            let Some(op) = op else { continue };
            let responses = &mut op.responses.responses;
            for (status, response) in responses.iter_mut() {
                let RefOr::T(r) = response else { continue };
                if status.starts_with(['4', '5']) && r.content.is_empty() {
                    r.content.insert(
                        "application/json".into(),
                        RefOr::T(ContentBuilder::new().schema(Some(Ref::from_schema_name("Error"))).build()),
                    );
                }
                if r.description.trim().is_empty() {
                    r.description = match status.as_str() {
                        "200" => "The answer",
                        "201" => "Created (or, for a repeated idempotency key, what the first request created)",
                        _ => "See the error body",
                    }
                    .into();
                }
            }
            let mut add = |status: &str, description: &str| {
                responses.entry(status.into()).or_insert_with(|| error(description));
            };
            add("400", "The request is malformed (a parameter, a character, a number out of range)");
            add("401", "No valid API token");
            add("403", "The token's user may not do this, or the token may only read");
            add("429", "Too many refused attempts from this address; see Retry-After");
            add("503", "The database is unavailable; nothing was changed, try again");
            if path.contains('{') {
                add("404", "No such record");
            }
            if writes {
                add("409", "The record changed meanwhile, or its state forbids this");
                add("422", "A field is not valid; `fields` says which");
            }
        }
    }
}

mod docs;
mod documents;
mod epcis;
mod lots;
mod master;
mod qa;
mod stock;
mod trace;

pub use docs::docs_router;
use documents::*;
use epcis::*;
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
