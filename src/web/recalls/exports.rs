//! A recall's printouts and downloads: the report (page, stylesheet, PDF), the frozen scope's
//! exact bytes, the CSV sheets and the FSMA 204 spreadsheets.

use super::*;

#[derive(Template)]
#[template(path = "recalls/report.html")]
struct ReportPage {
    c: Case,
    paper: &'static str,
    /// The stylesheet inlined (the PDF is printed from a file, with no server to fetch it from).
    inline_css: Option<&'static str>,
}

impl ReportPage {
    fn page_css(&self) -> String {
        page_css(&self.c.recall.number, self.c.current(), self.paper)
    }
}

/// The printed pages' frame: paper, margins, and on every page the recall number, the scope's
/// as-of time and hash, and the page number. A stylesheet of its own, since the pages' security
/// policy allows no inline styles.
fn page_css(number: &str, scope: &StoredScope, paper: &str) -> String {
    format!(
        "@page {{\n  size: {paper};\n  margin: 18mm 14mm 16mm;\n  @top-left {{ content: \"Recall {}\"; font: 9pt sans-serif; }}\n  \
         @top-right {{ content: \"scope as of {} · printed {}\"; font: 9pt sans-serif; }}\n  \
         @bottom-left {{ content: \"SHA-256 {}\"; font: 7pt monospace; }}\n  \
         @bottom-right {{ content: \"Page \" counter(page) \" of \" counter(pages); font: 9pt sans-serif; }}\n}}\n",
        number,
        scope.scope.as_of.format("%Y-%m-%d %H:%M UTC"),
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        scope.hash
    )
}

pub(super) async fn report_css(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<ReportQuery>,
) -> Result<Response> {
    let id = crate::web::parse_id(&id)?;
    // Only what the page frame prints: the number and the current scope.
    let number = recall::get(&state.pool, id).await?.number;
    let scope = recall::scopes(&state.pool, id).await?.pop().ok_or(Error::NotFound)?;
    let mut response = (StatusCode::OK, page_css(&number, &scope, paper(&q))).into_response();
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/css; charset=utf-8"));
    Ok(response)
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct ReportQuery {
    paper: String,
}

fn paper(q: &ReportQuery) -> &'static str {
    if q.paper.eq_ignore_ascii_case("letter") { "letter" } else { "A4" }
}

pub(super) async fn report(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<ReportQuery>,
) -> Result<Response> {
    let id = crate::web::parse_id(&id)?;
    let c = Case { rows: usize::MAX, ..case(&state, id).await? };
    render(&ReportPage { c, paper: paper(&q), inline_css: None })
}

/// The report as PDF, printed by headless Chromium from the same template.
pub(super) async fn report_pdf(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<ReportQuery>,
) -> Result<Response> {
    let id = crate::web::parse_id(&id)?;
    let c = Case { rows: usize::MAX, ..case(&state, id).await? };
    let number = c.recall.number.clone();
    let html = ReportPage { c, paper: paper(&q), inline_css: Some(crate::web::static_files::stylesheet()) }
        .render()
        .map_err(|e| Error::Internal(e.into()))?;
    let pdf = crate::documents::pdf::print(&html).await?;
    let mut response = (StatusCode::OK, pdf).into_response();
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/pdf"));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"recall-{number}.pdf\"")) {
        response.headers_mut().insert(CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct ScopeQuery {
    /// Which scoping (its number in the scope history); the current one when empty.
    scope: String,
}

/// The frozen scope's exact bytes, as hashed: `sha256sum` of the download (or `lotline recall
/// verify`) reproduces the hash the page and the report print.
pub(super) async fn scope_json(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<ScopeQuery>,
) -> Result<Response> {
    let id = crate::web::parse_id(&id)?;
    let seq = match q.scope.trim() {
        "" => None,
        s => Some(
            s.parse::<i64>().map_err(|_| Error::BadRequest("The scope is a number from the scope history.".into()))?,
        ),
    };
    let number = recall::get(&state.pool, id).await?.number;
    let (seq, document) = recall::scope_document(&state.pool, id, seq).await?;
    let mut response = (StatusCode::OK, document).into_response();
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"recall-{number}-scope-{seq}.json\"")) {
        response.headers_mut().insert(CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

pub(super) async fn scope_csv(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response> {
    let id = crate::web::parse_id(&id)?;
    let c = case(&state, id).await?;
    crate::web::export::respond(recall::scope_sheet(&c.recall, c.current()), crate::web::export::Format::Csv)
}

pub(super) async fn notices_csv(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response> {
    let id = crate::web::parse_id(&id)?;
    let c = case(&state, id).await?;
    crate::web::export::respond(recall::notice_sheet(&c.recall, &c.customers), crate::web::export::Format::Csv)
}

/// The FSMA 204 spreadsheet as `csv` or `xlsx`.
async fn fsma_response(
    db: &sqlx::PgPool,
    format: &str,
    selection: crate::documents::fsma::Selection<'_>,
    name: &str,
) -> Result<Response> {
    let format = crate::web::export::Format::parse(format, true)?.ok_or(Error::NotFound)?;
    crate::web::export::respond(crate::documents::fsma::sheet(db, selection, name.to_string()).await?, format)
}

pub(super) async fn recall_fsma(
    State(state): State<AppState>,
    Path((id, format)): Path<(String, String)>,
) -> Result<Response> {
    let id = crate::web::parse_id(&id)?;
    let c = case(&state, id).await?;
    let lots: Vec<Uuid> = c.current().scope.lots.iter().map(|l| l.id).collect();
    // The recall's own lots: from the primary, which has every posting the scope saw.
    fsma_response(
        &state.pool,
        &format,
        crate::documents::fsma::Selection::Lots(&lots),
        &format!("fsma204-{}", c.recall.number),
    )
    .await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct Dates {
    from: String,
    to: String,
    format: String,
}

/// The spreadsheet for a date range: `?from=2026-01-01&to=2026-01-31&format=csv|xlsx`.
pub(super) async fn dated_fsma(State(state): State<AppState>, Query(q): Query<Dates>) -> Result<Response> {
    let format = if q.format.is_empty() { "csv" } else { q.format.as_str() };
    let date = |v: &str, what: &str| {
        chrono::NaiveDate::parse_from_str(v.trim(), "%Y-%m-%d")
            .map_err(|_| Error::BadRequest(format!("The {what} date must look like 2026-01-31.")))
    };
    let (from, to) = (date(&q.from, "from")?, date(&q.to, "to")?);
    if to < from {
        return Err(Error::BadRequest("The range ends before it starts.".into()));
    }
    if (to - from).num_days() > 3660 {
        return Err(Error::BadRequest("Ask for at most ten years at a time.".into()));
    }
    fsma_response(
        state.reports(),
        format,
        crate::documents::fsma::Selection::Dates(from, to),
        &format!("fsma204-{from}-{to}"),
    )
    .await
}
