//! User administration (administrators only): list, create, change roles, deactivate, reset passwords.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;

use super::{Flash, FlashKind, Layout, redirect_with_flash, render, render_with};
use crate::audit::{self, Shown};
use crate::auth::users::{self, Role, User, UserForm};
use crate::auth::{CurrentUser, Permission};
use crate::error::Result;
use crate::save::{FieldErrors, STALE_MESSAGE, SaveError};
use crate::web::AppState;

pub fn router() -> Router<AppState> {
    let routes = Router::new()
        .route("/admin/users", get(index).post(create))
        .route("/admin/users/new", get(new))
        .route("/admin/users/{id}", get(edit).post(update))
        .route("/admin/users/{id}/password", post(reset_password))
        .route("/admin/alerts", get(alerts))
        .route("/admin/alerts/{id}/acknowledge", post(acknowledge));
    super::guarded(routes, Permission::UsersManage)
}

#[derive(Template)]
#[template(path = "users/alerts.html")]
struct AlertsPage {
    layout: Layout,
    alerts: Vec<crate::alerts::Alert>,
}

async fn alerts(State(state): State<AppState>, layout: Layout) -> Result<Response> {
    let alerts = crate::alerts::open(&state.pool).await?;
    super::render(&AlertsPage { layout, alerts })
}

async fn acknowledge(State(state): State<AppState>, user: CurrentUser, Path(id): Path<i64>) -> Result<Response> {
    crate::alerts::acknowledge(&state.pool, &user.person(), id).await?;
    Ok(super::redirect_with_flash("/admin/alerts", super::FlashKind::Success, "Alert acknowledged."))
}

mod repeated {
    //! A form extractor that accepts repeated keys (`role=qa&role=admin`) as a list.
    use axum::extract::{FromRequest, Request};
    use serde::de::DeserializeOwned;

    use crate::error::Error;

    pub struct Form<T>(pub T);

    impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Form<T> {
        type Rejection = Error;

        async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
            let bytes = axum::body::to_bytes(req.into_body(), 1024 * 1024)
                .await
                .map_err(|_| Error::BadRequest("The form is too large.".into()))?;
            let mut pairs: Vec<(String, String)> = form_urlencoded::parse(&bytes).into_owned().collect();
            // serde_urlencoded keeps the last of repeated keys; gather `role` into one value per entry instead.
            let roles: Vec<String> = pairs.iter().filter(|(k, _)| k == "role").map(|(_, v)| v.clone()).collect();
            pairs.retain(|(k, _)| k != "role");
            let mut value = serde_json::Map::new();
            for (k, v) in pairs {
                value.insert(k, serde_json::Value::String(v));
            }
            value.insert(
                "role".into(),
                serde_json::Value::Array(roles.into_iter().map(serde_json::Value::String).collect()),
            );
            serde_json::from_value(serde_json::Value::Object(value))
                .map(Form)
                .map_err(|e| Error::BadRequest(format!("The form could not be read: {e}")))
        }
    }
}

#[derive(Template)]
#[template(path = "users/index.html")]
struct IndexPage {
    layout: Layout,
    users: Vec<User>,
}

async fn index(State(state): State<AppState>, layout: Layout) -> Result<Response> {
    let users = users::list(&state.pool).await?;
    render(&IndexPage { layout, users })
}

#[derive(Template)]
#[template(path = "users/form.html")]
struct FormPage {
    layout: Layout,
    user: Option<User>,
    form: UserForm,
    errors: FieldErrors,
    roles: Vec<Role>,
    password_errors: FieldErrors,
    history: Vec<Shown>,
}

impl FormPage {
    fn checked(value: &Option<String>) -> bool {
        crate::master::ticked(value)
    }
}

async fn page(
    state: &AppState,
    status: StatusCode,
    layout: Layout,
    user: Option<User>,
    form: UserForm,
    errors: FieldErrors,
    password_errors: FieldErrors,
) -> Result<Response> {
    let roles = users::roles(&state.pool).await?;
    let history = match &user {
        Some(u) => audit::history(&state.pool, "user", u.id).await?,
        None => Vec::new(),
    };
    render_with(status, &FormPage { layout, user, form, errors, roles, password_errors, history })
}

fn form_of(u: &User) -> UserForm {
    UserForm {
        username: u.username.clone(),
        display_name: u.display_name.clone(),
        email: u.email.clone().unwrap_or_default(),
        roles: u.roles.clone(),
        password: String::new(),
        active: u.active.then(|| "on".into()),
        version: u.version.to_string(),
    }
}

async fn new(State(state): State<AppState>, layout: Layout) -> Result<Response> {
    let form = UserForm { roles: vec!["operator".into()], ..Default::default() };
    page(&state, StatusCode::OK, layout, None, form, FieldErrors::default(), FieldErrors::default()).await
}

async fn create(
    State(state): State<AppState>,
    me: CurrentUser,
    layout: Layout,
    repeated::Form(form): repeated::Form<UserForm>,
) -> Result<Response> {
    match super::outcome(users::create(&state.pool, &me.actor(), &form).await)? {
        Ok(id) => Ok(redirect_with_flash(
            &format!("/admin/users/{id}"),
            FlashKind::Success,
            &format!("User {} created.", form.username.trim()),
        )),
        Err(errors) => {
            let form = UserForm { password: String::new(), ..form };
            page(&state, StatusCode::UNPROCESSABLE_ENTITY, layout, None, form, errors, FieldErrors::default()).await
        }
    }
}

async fn edit(State(state): State<AppState>, layout: Layout, Path(id): Path<String>) -> Result<Response> {
    let user = users::get(&state.pool, super::parse_id(&id)?).await?;
    let form = form_of(&user);
    page(&state, StatusCode::OK, layout, Some(user), form, FieldErrors::default(), FieldErrors::default()).await
}

async fn update(
    State(state): State<AppState>,
    me: CurrentUser,
    mut layout: Layout,
    Path(id): Path<String>,
    repeated::Form(form): repeated::Form<UserForm>,
) -> Result<Response> {
    let id = super::parse_id(&id)?;
    match users::update(&state.pool, &me.actor(), id, &form).await {
        Ok(()) => Ok(redirect_with_flash(&format!("/admin/users/{id}"), FlashKind::Success, "User saved.")),
        Err(SaveError::Invalid(errors)) => {
            let user = users::get(&state.pool, id).await?;
            page(&state, StatusCode::UNPROCESSABLE_ENTITY, layout, Some(user), form, errors, FieldErrors::default())
                .await
        }
        Err(SaveError::Stale) => {
            let user = users::get(&state.pool, id).await?;
            layout.flash = Some(Flash { kind: FlashKind::Error, message: STALE_MESSAGE.into() });
            let current = form_of(&user);
            page(
                &state,
                StatusCode::CONFLICT,
                layout,
                Some(user),
                current,
                FieldErrors::default(),
                FieldErrors::default(),
            )
            .await
        }
        Err(SaveError::Other(e)) => Err(e),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct PasswordForm {
    password: String,
}

async fn reset_password(
    State(state): State<AppState>,
    me: CurrentUser,
    layout: Layout,
    Path(id): Path<String>,
    axum::extract::Form(form): axum::extract::Form<PasswordForm>,
) -> Result<Response> {
    let id = super::parse_id(&id)?;
    match super::outcome(users::set_password(&state.pool, &me.actor(), id, &form.password).await)? {
        Ok(()) => Ok(redirect_with_flash(
            &format!("/admin/users/{id}"),
            FlashKind::Success,
            "Password reset. The user's sessions were ended; give them the new password in person.",
        )),
        Err(errors) => {
            let user = users::get(&state.pool, id).await?;
            let current = form_of(&user);
            page(&state, StatusCode::UNPROCESSABLE_ENTITY, layout, Some(user), current, FieldErrors::default(), errors)
                .await
        }
    }
}
