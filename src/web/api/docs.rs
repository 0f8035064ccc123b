//! The API's documentation page: the OpenAPI document read into a page of our own (no script,
//! prints).

use super::*;

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
            axum::routing::get(move |layout: crate::web::Layout| {
                let page = page.clone();
                async move { crate::web::render(&DocsPage { layout, endpoints: &page.0, schemas: &page.1 }) }
            }),
        )
}

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
pub(super) struct DocsPage<'a> {
    layout: crate::web::Layout,
    endpoints: &'a [Endpoint],
    schemas: &'a [(String, String)],
}

pub(super) fn docs_page(doc: &utoipa::openapi::OpenApi) -> (Vec<Endpoint>, Vec<(String, String)>) {
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
