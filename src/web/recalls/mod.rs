//! Recalls: the list, the opening form, the case page (scope, customers, effectiveness, actions),
//! the printed report (and its PDF from headless Chromium) and the CSV exports.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use uuid::Uuid;

use super::trace::{Graph, GraphLot, draw};
use super::{FlashKind, Layout, redirect_with_flash, render, render_with};
use crate::auth::{CurrentUser, Permission};
use crate::domain::vocab::{CheckLevel, RecallClass, RecallDecision};
use crate::error::{Error, Result};
use crate::recall::{
    self, AccountingForm, Changes, CustomerStatus, METHODS, NoticeForm, Recall, SignedForm, StoredScope, UnitTotal,
};
use crate::save::{FieldErrors, SaveError};
use crate::trace::Mode;
use crate::web::AppState;
use rust_decimal::Decimal;

mod exports;
use exports::*;

pub fn router() -> Router<AppState> {
    let read = Router::new()
        .route("/recalls", get(index))
        .route("/recalls/{id}", get(show))
        .route("/recalls/{id}/report", get(report))
        .route("/recalls/{id}/report.pdf", get(report_pdf))
        .route("/recalls/{id}/report.css", get(report_css))
        .route("/recalls/{id}/recall.csv", get(scope_csv))
        .route("/recalls/{id}/scope.json", get(scope_json))
        .route("/recalls/{id}/fsma204.{format}", get(recall_fsma))
        .route("/fsma204", get(dated_fsma));
    let write = Router::new()
        .route("/recalls/new", get(new))
        .route("/recalls", post(create))
        .route("/recalls/{id}/widen", post(widen))
        .route("/recalls/{id}/notices", post(notice))
        .route("/recalls/{id}/accounting", post(accounting))
        .route("/recalls/{id}/complete", post(complete))
        .route("/recalls/{id}/close", post(close))
        .route("/recalls/{id}/public", post(public_notice))
        .route("/recalls/{id}/withdraw-notice", post(withdraw_notice))
        // Customers' recall contacts: for those who run recalls.
        .route("/recalls/{id}/notices.csv", get(notices_csv));
    // What becomes of a lot a closed recall still holds is QA's decision.
    let decide = Router::new().route("/recalls/{id}/decisions", post(decide));
    super::guarded(read, Permission::LotsRead)
        .merge(super::guarded(write, Permission::RecallsManage))
        .merge(super::guarded(decide, Permission::QaDecide))
}

#[derive(Template)]
#[template(path = "recalls/index.html")]
struct IndexPage {
    layout: Layout,
    recalls: Vec<(Recall, i64)>,
}

async fn index(State(state): State<AppState>, layout: Layout) -> Result<Response> {
    let recalls = recall::list(&state.pool).await?;
    render(&IndexPage { layout, recalls })
}

#[derive(Template)]
#[template(path = "recalls/new.html")]
struct NewPage {
    layout: Layout,
    form: OpenForm,
    errors: FieldErrors,
    chosen: Vec<(Uuid, String)>,
    suppliers: Vec<(Uuid, String)>,
    classes: &'static [RecallClass],
    levels: &'static [CheckLevel],
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct NewQuery {
    lot: String,
    mock: String,
}

async fn new_page(
    state: &AppState,
    status: StatusCode,
    layout: Layout,
    mut form: OpenForm,
    errors: FieldErrors,
) -> Result<Response> {
    if form.idempotency_key.is_empty() {
        form.idempotency_key = Uuid::new_v4().to_string();
    }
    let ids: Vec<Uuid> = form.lot_ids.iter().filter_map(|i| Uuid::parse_str(i.trim()).ok()).collect();
    let chosen = sqlx::query_as(
        "select l.id, m.code || ' ' || l.code from lots l join materials m on m.id = l.material_id where l.id = any($1) order by 2",
    )
    .bind(&ids)
    .fetch_all(&state.pool)
    .await?;
    let suppliers = sqlx::query_as("select id, code || ' · ' || name from parties where is_supplier order by code")
        .fetch_all(&state.pool)
        .await?;
    render_with(
        status,
        &NewPage { layout, form, errors, chosen, suppliers, classes: RecallClass::ALL, levels: CheckLevel::ALL },
    )
}

/// The opening form, as typed.
#[derive(Debug, Clone, Default)]
pub struct OpenForm {
    pub idempotency_key: String,
    /// "real" or "mock".
    pub kind: String,
    pub class: String,
    pub check_level: String,
    /// Level B: the percentage of consignees to check.
    pub check_percent: String,
    pub reason: String,
    /// Suspect lots, one per line: "MATERIAL LOT", or just "LOT" where the code is unique.
    pub lots: String,
    /// Suspect lots by id (from a lot's page).
    pub lot_ids: Vec<String>,
    pub supplier_id: String,
    pub supplier_lot: String,
    /// "precise" or "lot_level".
    pub mode: String,
    /// Percent: lots with less suspect material than this are scoped out.
    pub threshold: String,
    pub threshold_reason: String,
    pub signer: String,
    pub password: String,
}

impl OpenForm {
    pub fn parse(body: &[u8]) -> OpenForm {
        let mut f = OpenForm::default();
        for (k, v) in form_urlencoded::parse(body) {
            let v = v.into_owned();
            match k.as_ref() {
                "idempotency_key" => f.idempotency_key = v,
                "kind" => f.kind = v,
                "class" => f.class = v,
                "check_level" => f.check_level = v,
                "check_percent" => f.check_percent = v,
                "reason" => f.reason = v,
                "lots" => f.lots = v,
                "lot_id" => f.lot_ids.push(v),
                "supplier_id" => f.supplier_id = v,
                "supplier_lot" => f.supplier_lot = v,
                "mode" => f.mode = v,
                "threshold" => f.threshold = v,
                "threshold_reason" => f.threshold_reason = v,
                "signer" => f.signer = v,
                "password" => f.password = v,
                _ => {}
            }
        }
        f
    }

    pub fn mock(&self) -> bool {
        self.kind == "mock"
    }
}

impl TryFrom<&OpenForm> for recall::OpenRecall {
    type Error = SaveError;

    fn try_from(f: &OpenForm) -> std::result::Result<recall::OpenRecall, SaveError> {
        let key = crate::save::parse_idempotency_key(&f.idempotency_key)?;
        let mut e = FieldErrors::default();
        if f.kind != "real" && f.kind != "mock" {
            e.add("kind", "Choose a real recall or a mock recall (a drill).");
        }
        let class = match f.class.trim() {
            "" => None,
            c => c.parse::<RecallClass>().map_err(|_| e.add("class", "Choose class I, II or III.")).ok(),
        };
        let check_level = match f.check_level.trim() {
            "" => None,
            l => l
                .parse::<CheckLevel>()
                .map_err(|_| e.add("check_level", "Choose an effectiveness-check level from A to E."))
                .ok(),
        };
        let check_percent =
            e.check("check_percent", crate::domain::text::positive_decimal(&f.check_percent, "The share to check"));
        let mode = match f.mode.as_str() {
            "" | "precise" => Mode::Precise,
            "lot_level" | "lot-level" => Mode::LotLevel,
            _ => {
                e.add("mode", "Choose the precise or the lot-level scope.");
                Mode::Precise
            }
        };
        // Typed as a percentage; the recall keeps the fraction.
        let threshold = match crate::domain::text::positive_decimal(&f.threshold, "The threshold") {
            Err(m) => {
                e.add("threshold", m);
                None
            }
            Ok(None) => None,
            Ok(Some(p)) if p >= Decimal::ONE_HUNDRED => {
                e.add("threshold", "The threshold is a percentage below 100, such as 0.5.");
                None
            }
            Ok(Some(p)) => Some(p / Decimal::ONE_HUNDRED),
        };
        let mut lot_ids = Vec::new();
        for id in &f.lot_ids {
            match Uuid::parse_str(id.trim()) {
                Ok(id) => lot_ids.push(id),
                Err(_) => e.add("lots", "One of the chosen lots is malformed; choose it again."),
            }
        }
        let supplier = match f.supplier_id.trim() {
            "" => None,
            id => {
                Uuid::parse_str(id).map_err(|_| e.add("supplier_id", "Choose the supplier that recalls its lot.")).ok()
            }
        };
        // Text is checked for what the operation checks (length, presence) there; what no
        // field may hold is refused here, where it enters.
        for (field, value, what) in [
            ("reason", &f.reason, "The reason"),
            ("threshold_reason", &f.threshold_reason, "The reason for the threshold"),
            ("lots", &f.lots, "The lot list"),
            ("supplier_lot", &f.supplier_lot, "The supplier's lot"),
            ("signer", &f.signer, "The user name"),
        ] {
            if let Err(m) = crate::domain::text::printable(value, what) {
                e.add(field, m);
            }
        }
        if !e.is_empty() {
            return Err(e.into());
        }
        Ok(recall::OpenRecall {
            mock: f.mock(),
            class,
            check_level,
            check_percent,
            reason: f.reason.clone(),
            mode,
            threshold,
            threshold_reason: f.threshold_reason.clone(),
            suspects: recall::Suspects {
                lines: f.lots.clone(),
                lot_ids,
                supplier,
                supplier_lot: f.supplier_lot.clone(),
            },
            signer: f.signer.clone(),
            password: f.password.clone(),
            key,
        })
    }
}

async fn new(State(state): State<AppState>, layout: Layout, Query(q): Query<NewQuery>) -> Result<Response> {
    let mut form = OpenForm { kind: if q.mock == "1" { "mock".into() } else { String::new() }, ..OpenForm::default() };
    if !q.lot.is_empty() {
        form.lot_ids.push(q.lot);
    }
    new_page(&state, StatusCode::OK, layout, form, FieldErrors::default()).await
}

async fn create(State(state): State<AppState>, user: CurrentUser, layout: Layout, body: Bytes) -> Result<Response> {
    let mut form = OpenForm::parse(&body);
    let opened = async { recall::open(&state.pool, &user.person(), &recall::OpenRecall::try_from(&form)?).await };
    match super::outcome(opened.await)? {
        Ok(id) => Ok(redirect_with_flash(
            &format!("/recalls/{id}"),
            FlashKind::Success,
            if form.mock() {
                "Mock recall opened: its clock runs until you declare the report complete. No lot was held."
            } else {
                "Recall opened: every lot in scope is held; consuming or shipping them is refused."
            },
        )),
        Err(errors) => {
            form.password.clear();
            new_page(&state, StatusCode::UNPROCESSABLE_ENTITY, layout, form, errors).await
        }
    }
}

/// Everything the case page and the report show.
struct Case {
    recall: Recall,
    scopes: Vec<StoredScope>,
    customers: Vec<CustomerStatus>,
    totals: Vec<UnitTotal>,
    effect: recall::Effectiveness,
    checked: usize,
    required: usize,
    notified: usize,
    /// Lots the recall still holds, and QA's decisions on those it held after closing.
    held: Vec<recall::StillHeld>,
    decisions: Vec<recall::DecisionRow>,
    /// When this page or printout was made (live figures are as of now; the scope as of its freeze).
    printed_at: chrono::DateTime<chrono::Utc>,
    graph: Graph,
    /// Consumer lookups of the affected lots since opening.
    lookups: i64,
    /// Rows of each table shown (the page shows the first thousand; the report all).
    rows: usize,
}

impl Case {
    fn limit(&self) -> usize {
        self.rows
    }

    fn current(&self) -> &StoredScope {
        self.scopes.last().expect("a recall has a scope")
    }

    fn log_count(&self) -> usize {
        self.customers.iter().map(|c| c.notices.len()).sum()
    }

    /// Notices sent, by how they were sent: ("E-mail", 3).
    fn notified_by(&self) -> Vec<(&'static str, usize)> {
        METHODS
            .iter()
            .map(|(k, label)| {
                let n = self
                    .customers
                    .iter()
                    .filter(|c| c.notices.iter().any(|n| n.kind == "notice" && n.method == *k))
                    .count();
                (*label, n)
            })
            .filter(|(_, n)| *n > 0)
            .collect()
    }
}

async fn case(state: &AppState, id: Uuid) -> Result<Case> {
    let recall = recall::get(&state.pool, id).await?;
    let scopes = recall::scopes(&state.pool, id).await?;
    let current = scopes.last().ok_or(Error::NotFound)?;
    let customers = recall::customer_status(&state.pool, &recall, &current.scope).await?;
    let totals = recall::unit_totals(customers.iter().flat_map(|c| c.lines.iter()));
    let effect = recall::Effectiveness::of(&recall, &customers);
    let (checked, notified, required) = (effect.checked, effect.notified, effect.required);
    let graph = draw(
        &current
            .scope
            .lots
            .iter()
            .map(|l| GraphLot {
                id: l.id,
                depth: l.depth,
                material: &l.material,
                code: &l.code,
                status: if l.excluded { "released" } else { "recalled" },
                parent: l.parent,
            })
            .collect::<Vec<_>>(),
    );
    let lookups = recall::lookups(&state.pool, &recall).await?;
    let held = recall::still_held(&state.pool, id).await?;
    let decisions = recall::decisions(&state.pool, id).await?;
    Ok(Case {
        recall,
        scopes,
        customers,
        totals,
        effect,
        checked,
        required,
        notified,
        held,
        decisions,
        printed_at: chrono::Utc::now(),
        graph,
        lookups,
        rows: PAGE_ROWS,
    })
}

#[derive(Template)]
#[template(path = "recalls/show.html")]
struct ShowPage {
    layout: Layout,
    c: Case,
    changes: Option<Changes>,
    errors: FieldErrors,
    methods: &'static [(&'static str, &'static str)],
    decisions: &'static [RecallDecision],
}

/// Rows of each table shown on the page (the CSV and the report hold them all).
const PAGE_ROWS: usize = 1000;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ShowQuery {
    compare: String,
}

async fn show(
    State(state): State<AppState>,
    layout: Layout,
    Path(id): Path<String>,
    Query(q): Query<ShowQuery>,
) -> Result<Response> {
    let id = super::parse_id(&id)?;
    let c = case(&state, id).await?;
    let changes = if q.compare == "1" { Some(recall::changes(&state.pool, &c.current().scope).await?) } else { None };
    render(&ShowPage {
        layout,
        c,
        changes,
        errors: FieldErrors::default(),
        methods: &METHODS,
        decisions: RecallDecision::ALL,
    })
}

async fn show_errors(state: &AppState, layout: Layout, id: Uuid, errors: FieldErrors) -> Result<Response> {
    let c = case(state, id).await?;
    render_with(
        StatusCode::UNPROCESSABLE_ENTITY,
        &ShowPage { layout, c, changes: None, errors, methods: &METHODS, decisions: RecallDecision::ALL },
    )
}

async fn respond(
    state: &AppState,
    layout: Layout,
    id: Uuid,
    result: std::result::Result<(), SaveError>,
    done: &str,
) -> Result<Response> {
    match super::outcome(result)? {
        Ok(()) => Ok(redirect_with_flash(&format!("/recalls/{id}"), FlashKind::Success, done)),
        Err(errors) => show_errors(state, layout, id, errors).await,
    }
}

async fn widen(
    State(state): State<AppState>,
    user: CurrentUser,
    layout: Layout,
    Path(id): Path<String>,
    Form(form): Form<SignedForm>,
) -> Result<Response> {
    let id = super::parse_id(&id)?;
    let result = recall::widen(&state.pool, &user.person(), id, &form).await;
    respond(
        &state,
        layout,
        id,
        result,
        "Scope widened to lot-level; the lots it adds are held. The earlier scope stays on record.",
    )
    .await
}

async fn notice(
    State(state): State<AppState>,
    user: CurrentUser,
    layout: Layout,
    Path(id): Path<String>,
    Form(form): Form<NoticeForm>,
) -> Result<Response> {
    let id = super::parse_id(&id)?;
    let result = recall::record_notice(&state.pool, &user.person(), id, &form).await;
    respond(&state, layout, id, result, "Logged.").await
}

async fn accounting(
    State(state): State<AppState>,
    user: CurrentUser,
    layout: Layout,
    Path(id): Path<String>,
    Form(form): Form<AccountingForm>,
) -> Result<Response> {
    let id = super::parse_id(&id)?;
    let result = recall::record_accounting(&state.pool, &user.person(), id, &form).await;
    respond(&state, layout, id, result, "The customer's figures are recorded.").await
}

async fn complete(
    State(state): State<AppState>,
    user: CurrentUser,
    layout: Layout,
    Path(id): Path<String>,
) -> Result<Response> {
    let id = super::parse_id(&id)?;
    let result = recall::complete_drill(&state.pool, &user.person(), id).await;
    respond(&state, layout, id, result, "The drill's clock is stopped: its time is on the report.").await
}

async fn close(
    State(state): State<AppState>,
    user: CurrentUser,
    layout: Layout,
    Path(id): Path<String>,
    Form(form): Form<SignedForm>,
) -> Result<Response> {
    let id = super::parse_id(&id)?;
    let result = recall::close(&state.pool, &user.person(), id, &form).await;
    respond(&state, layout, id, result, "Recall closed. Lots that still have stock are on a QA hold for a decision.")
        .await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct PublicForm {
    public_instructions: String,
    public_until: String,
}

async fn public_notice(
    State(state): State<AppState>,
    user: CurrentUser,
    layout: Layout,
    Path(id): Path<String>,
    Form(form): Form<PublicForm>,
) -> Result<Response> {
    let id = super::parse_id(&id)?;
    let result = async {
        let until = crate::domain::dates::parse(&form.public_until, "The last day")
            .map_err(|m| SaveError::field("public_until", m))?;
        recall::set_public_notice(&state.pool, &user.person(), id, &form.public_instructions, until).await
    };
    respond(&state, layout, id, result.await, "The public notice is saved: consumers who check an affected lot see it.")
        .await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct WithdrawForm {
    reason: String,
    signer: String,
    password: String,
}

async fn withdraw_notice(
    State(state): State<AppState>,
    user: CurrentUser,
    layout: Layout,
    Path(id): Path<String>,
    Form(form): Form<WithdrawForm>,
) -> Result<Response> {
    let id = super::parse_id(&id)?;
    let result = recall::withdraw_public_notice(
        &state.pool,
        &user.person(),
        id,
        &form.reason,
        &crate::auth::Credentials { user_name: &form.signer, password: &form.password },
    )
    .await;
    respond(&state, layout, id, result, "The consumer notice is withdrawn: the lots no longer show it.").await
}

/// QA's decision on lots a closed recall still holds: `lot_id` once per chosen lot, `decision`,
/// `reason`, `password`; `back` the page to return to (the recall's, or a lot's).
async fn decide(
    State(state): State<AppState>,
    user: CurrentUser,
    layout: Layout,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let id = super::parse_id(&id)?;
    let (mut lots, mut decision, mut reason, mut signer, mut password, mut bad) =
        (Vec::new(), String::new(), String::new(), String::new(), String::new(), false);
    for (k, v) in form_urlencoded::parse(&body) {
        match k.as_ref() {
            "lot_id" => match Uuid::parse_str(v.trim()) {
                Ok(lot) => lots.push(lot),
                Err(_) => bad = true,
            },
            "decision" => decision = v.into_owned(),
            "reason" => reason = v.into_owned(),
            "signer" => signer = v.into_owned(),
            "password" => password = v.into_owned(),
            _ => {}
        }
    }
    let result = async {
        if bad {
            return Err(SaveError::field("lots", "One of the chosen lots is malformed; choose it again."));
        }
        let decision = decision.parse::<RecallDecision>().map_err(|_| {
            SaveError::field("decision", "Choose what becomes of the lots: release, rework, destroy or return.")
        })?;
        recall::decide(&state.pool, &user.person(), id, &recall::Decide { lots, decision, reason, signer, password })
            .await
    };
    match super::outcome(result.await)? {
        Ok(n) => Ok(redirect_with_flash(
            &format!("/recalls/{id}"),
            FlashKind::Success,
            &format!("Decision recorded and signed for {n} lot{}.", if n == 1 { "" } else { "s" }),
        )),
        Err(errors) => show_errors(&state, layout, id, errors).await,
    }
}
