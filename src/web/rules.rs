//! Lot-number rules (administrators): the list with the materials each rule governs, create and
//! edit forms (signed) with a live preview of the next codes, and each rule's sequences.

use askama::Template;
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use chrono::{NaiveDate, Utc};

use super::{Flash, FlashKind, Layout, redirect_with_flash, render, render_with};
use crate::audit::Shown;
use crate::auth::{CurrentUser, Permission};
use crate::domain::lotcode::{Pattern, Reset};
use crate::error::{Error, Result};
use crate::rules::{self, Rule, RuleForm, SCOPES, Sequence, Subject};
use crate::save::{FieldErrors, STALE_MESSAGE, SaveError};
use crate::web::AppState;

pub fn router() -> Router<AppState> {
    let routes = Router::new()
        .route("/admin/lot-rules", get(index).post(create))
        .route("/admin/lot-rules/new", get(new))
        .route("/admin/lot-rules/preview", get(preview))
        .route("/admin/lot-rules/{id}", get(edit).post(update));
    super::guarded(routes, Permission::RulesEdit)
}

#[derive(Template)]
#[template(path = "rules/index.html")]
struct IndexPage {
    layout: Layout,
    rules: Vec<(Rule, Vec<String>)>,
}

async fn index(State(state): State<AppState>, layout: Layout) -> Result<Response> {
    let governed = rules::governed(&state.pool).await?;
    let rules = rules::list(&state.pool)
        .await?
        .into_iter()
        .map(|r| {
            let materials = governed.iter().find(|(id, _)| *id == r.id).map(|(_, m)| m.clone()).unwrap_or_default();
            (r, materials)
        })
        .collect();
    render(&IndexPage { layout, rules })
}

/// The preview of the next codes, or why there is none.
struct Preview {
    codes: Vec<String>,
    problem: Option<String>,
    material: String,
    date: String,
}

#[derive(Template)]
#[template(path = "rules/form.html")]
struct FormPage {
    layout: Layout,
    rule: Option<Rule>,
    form: RuleForm,
    errors: FieldErrors,
    preview: Preview,
    materials: Vec<(String, String)>,
    sequences: Vec<Sequence>,
    history: Vec<Shown>,
}

impl FormPage {
    fn scopes(&self) -> [(&'static str, &'static str); 3] {
        SCOPES
    }

    fn kinds(&self) -> [(&'static str, &'static str); 4] {
        crate::master::materials::KINDS
    }

    fn resets(&self) -> [(Reset, &'static str, &'static str); 4] {
        Reset::ALL
    }
}

#[derive(Template)]
#[template(path = "rules/_preview.html")]
struct PreviewPartial {
    preview: Preview,
}

/// The next five codes the allocator would issue for the form's pattern, material and date.
async fn compute_preview(state: &AppState, rule: Option<&Rule>, form: &RuleForm) -> Result<Preview> {
    let material = if form.preview_material.trim().is_empty() {
        form.scope_material.trim().to_ascii_uppercase()
    } else {
        form.preview_material.trim().to_ascii_uppercase()
    };
    // The preview's day: as typed, else today at the site the codes are shown for.
    let (site_code, site_today): (String, Option<NaiveDate>) = sqlx::query_as(
        "select coalesce(max(code), 'SITE'), max(site_today(id)) from (select id, code from sites where active order by code limit 1) s",
    )
    .fetch_one(&state.pool)
    .await?;
    let date_text = if form.preview_date.trim().is_empty() {
        site_today.unwrap_or_else(|| Utc::now().date_naive()).to_string()
    } else {
        form.preview_date.trim().to_string()
    };
    let mut preview = Preview { codes: Vec::new(), problem: None, material: material.clone(), date: date_text.clone() };
    let Ok(date) = NaiveDate::parse_from_str(&date_text, "%Y-%m-%d") else {
        preview.problem = Some("Give the preview date as 2026-01-31.".into());
        return Ok(preview);
    };
    let reset = Reset::parse(&form.reset_period).unwrap_or(Reset::Never);
    let pattern = match Pattern::checked(form.pattern.trim(), reset) {
        Ok(p) => p,
        Err(e) => {
            preview.problem = Some(format!("No preview: {e}"));
            return Ok(preview);
        }
    };
    let found: Option<(uuid::Uuid, String)> = sqlx::query_as("select m.id, m.code from materials m where m.code = $1")
        .bind(&material)
        .fetch_optional(&state.pool)
        .await?;
    let Some((material_id, material_code)) = found else {
        preview.problem = Some(if material.is_empty() {
            "Choose a material to preview its codes.".into()
        } else {
            format!("There is no material {material}.")
        });
        return Ok(preview);
    };
    let subject = Subject {
        material_id,
        material_code,
        site_code,
        line_code: pattern.uses_line().then(|| "L1".to_string()),
        date,
    };
    // Continue the rule's own sequence where it stands, if the pattern keeps its keys.
    let start = form.start_number.trim().parse::<i64>().unwrap_or(1);
    let next = match rule {
        Some(r) => {
            let scope_key = pattern.scope_key(&crate::domain::lotcode::Values {
                date,
                material: &subject.material_code,
                site: &subject.site_code,
                line: subject.line_code.as_deref(),
            });
            sqlx::query_scalar::<_, i64>(
                "select next_value from lot_sequences where rule_id = $1 and scope_key = $2 and period_key = $3",
            )
            .bind(r.id)
            .bind(scope_key)
            .bind(reset.period_key(date))
            .fetch_optional(&state.pool)
            .await?
            .unwrap_or(start)
        }
        None => start,
    };
    match rules::preview_from(&state.pool, &pattern, &subject, next, 5).await {
        Ok(codes) if codes.is_empty() => {
            preview.problem = Some("The sequence is exhausted: no code is left for this period.".into())
        }
        Ok(codes) => preview.codes = codes,
        Err(e) => return Err(Error::Internal(anyhow::anyhow!(e))),
    }
    Ok(preview)
}

async fn form_page(
    state: &AppState,
    status: StatusCode,
    layout: Layout,
    rule: Option<Rule>,
    mut form: RuleForm,
    errors: FieldErrors,
) -> Result<Response> {
    let preview = compute_preview(state, rule.as_ref(), &form).await?;
    form.password = String::new();
    let materials: Vec<(String, String)> =
        sqlx::query_as("select code, name from materials where active order by code").fetch_all(&state.pool).await?;
    let (sequences, history) = match &rule {
        Some(r) => {
            (rules::sequences(&state.pool, r.id).await?, crate::audit::history(&state.pool, "lot_rule", r.id).await?)
        }
        None => (Vec::new(), Vec::new()),
    };
    render_with(status, &FormPage { layout, rule, form, errors, preview, materials, sequences, history })
}

async fn new(State(state): State<AppState>, layout: Layout) -> Result<Response> {
    let form = RuleForm {
        pattern: "{YY}{JJJ}{SEQ:3}".into(),
        scope: "material".into(),
        reset_period: "daily".into(),
        start_number: "1".into(),
        ..Default::default()
    };
    form_page(&state, StatusCode::OK, layout, None, form, FieldErrors::default()).await
}

/// The preview alone for scripts (`x-fragment` header), or the whole form with it (no script).
async fn preview(
    State(state): State<AppState>,
    layout: Layout,
    headers: HeaderMap,
    Query(form): Query<RuleForm>,
) -> Result<Response> {
    let editing = match uuid::Uuid::parse_str(form.rule_id.trim()) {
        Ok(id) => Some(rules::get(&state.pool, id).await?),
        Err(_) => None,
    };
    if headers.contains_key("x-fragment") {
        let preview = compute_preview(&state, editing.as_ref(), &form).await?;
        return render(&PreviewPartial { preview });
    }
    form_page(&state, StatusCode::OK, layout, editing, form, FieldErrors::default()).await
}

async fn create(
    State(state): State<AppState>,
    user: CurrentUser,
    layout: Layout,
    Form(form): Form<RuleForm>,
) -> Result<Response> {
    match super::outcome(rules::create(&state.pool, &user.person(), &form).await)? {
        Ok(id) => {
            Ok(redirect_with_flash(&format!("/admin/lot-rules/{id}"), FlashKind::Success, "Rule saved and signed."))
        }
        Err(errors) => form_page(&state, StatusCode::UNPROCESSABLE_ENTITY, layout, None, form, errors).await,
    }
}

async fn edit(State(state): State<AppState>, layout: Layout, Path(id): Path<String>) -> Result<Response> {
    let rule = rules::get(&state.pool, super::parse_id(&id)?).await?;
    let form = RuleForm::from(&rule);
    form_page(&state, StatusCode::OK, layout, Some(rule), form, FieldErrors::default()).await
}

async fn update(
    State(state): State<AppState>,
    user: CurrentUser,
    mut layout: Layout,
    Path(id): Path<String>,
    Form(form): Form<RuleForm>,
) -> Result<Response> {
    let id = super::parse_id(&id)?;
    match rules::update(&state.pool, &user.person(), id, &form).await {
        Ok(()) => {
            Ok(redirect_with_flash(&format!("/admin/lot-rules/{id}"), FlashKind::Success, "Rule saved and signed."))
        }
        Err(SaveError::Invalid(errors)) => {
            let rule = rules::get(&state.pool, id).await?;
            form_page(&state, StatusCode::UNPROCESSABLE_ENTITY, layout, Some(rule), form, errors).await
        }
        Err(SaveError::Stale) => {
            let rule = rules::get(&state.pool, id).await?;
            layout.flash = Some(Flash { kind: FlashKind::Error, message: STALE_MESSAGE.into() });
            let current = RuleForm::from(&rule);
            form_page(&state, StatusCode::CONFLICT, layout, Some(rule), current, FieldErrors::default()).await
        }
        Err(SaveError::Other(e)) => Err(e),
    }
}
