//! The signed-in user's own page: who they are, and their personal API tokens.

use askama::Template;
use axum::Router;
use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::http::header::CACHE_CONTROL;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;

use super::{FlashKind, Layout, redirect_with_flash, render_with};
use crate::auth::CurrentUser;
use crate::auth::users::{self, Token};
use crate::error::Result;
use crate::save::FieldErrors;
use crate::web::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/account", get(show))
        .route("/account/tokens", post(create_token))
        .route("/account/tokens/{id}/revoke", post(revoke_token))
        .route("/account/password", get(password_page).post(change_password))
}

#[derive(Template)]
#[template(path = "account/password.html")]
struct PasswordPage {
    layout: Layout,
    me: CurrentUser,
    errors: FieldErrors,
}

fn no_store(mut response: Response) -> Response {
    response.headers_mut().insert(CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
    response
}

async fn password_page(me: CurrentUser, layout: Layout) -> Result<Response> {
    Ok(no_store(render_with(StatusCode::OK, &PasswordPage { layout, me, errors: FieldErrors::default() })?))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct PasswordForm {
    current_password: String,
    new_password: String,
    repeat_password: String,
}

/// Changes one's own password (forced after an administrator set it).
async fn change_password(
    State(state): State<AppState>,
    me: CurrentUser,
    layout: Layout,
    headers: axum::http::HeaderMap,
    Form(f): Form<PasswordForm>,
) -> Result<Response> {
    let session = super::auth::cookie(&headers, super::auth::SESSION_COOKIE);
    let result = crate::auth::change_own_password(
        &state.pool,
        &me,
        &f.current_password,
        &f.new_password,
        &f.repeat_password,
        session,
    )
    .await;
    match super::outcome(result)? {
        Ok(()) => Ok(redirect_with_flash(
            "/account",
            FlashKind::Success,
            "Your password is changed; your other sessions are signed out.",
        )),
        Err(errors) => {
            Ok(no_store(render_with(StatusCode::UNPROCESSABLE_ENTITY, &PasswordPage { layout, me, errors })?))
        }
    }
}

#[derive(Template)]
#[template(path = "account/show.html")]
struct AccountPage {
    layout: Layout,
    me: CurrentUser,
    tokens: Vec<Token>,
    new_secret: Option<String>,
    token_name: String,
    errors: FieldErrors,
}

async fn account_page(
    state: &AppState,
    status: StatusCode,
    layout: Layout,
    me: CurrentUser,
    new_secret: Option<String>,
    name: String,
    errors: FieldErrors,
) -> Result<Response> {
    let tokens = users::tokens(&state.pool, me.id).await?;
    let mut response = render_with(status, &AccountPage { layout, me, tokens, new_secret, token_name: name, errors })?;
    response.headers_mut().insert(CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
    Ok(response)
}

async fn show(State(state): State<AppState>, me: CurrentUser, layout: Layout) -> Result<Response> {
    account_page(&state, StatusCode::OK, layout, me, None, String::new(), FieldErrors::default()).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct TokenForm {
    name: String,
    scope: String,
    days: String,
}

/// Creates a token and shows its secret once, on this response only (never stored, never redirected).
async fn create_token(
    State(state): State<AppState>,
    me: CurrentUser,
    layout: Layout,
    Form(form): Form<TokenForm>,
) -> Result<Response> {
    // A token never makes another: only a person signed in makes tokens.
    if me.token_scope.is_some() {
        return Err(crate::error::Error::Forbidden("An API token cannot make tokens; sign in to make one.".into()));
    }
    let days = form.days.trim().parse::<i64>().unwrap_or(0);
    match super::outcome(
        users::create_token(&state.pool, &me.actor(), me.id, &form.name, form.scope.trim(), days).await,
    )? {
        Ok(secret) => {
            account_page(&state, StatusCode::CREATED, layout, me, Some(secret), String::new(), FieldErrors::default())
                .await
        }
        Err(errors) => {
            account_page(&state, StatusCode::UNPROCESSABLE_ENTITY, layout, me, None, form.name, errors).await
        }
    }
}

async fn revoke_token(State(state): State<AppState>, me: CurrentUser, Path(id): Path<String>) -> Result<Response> {
    users::revoke_token(&state.pool, &me.actor(), me.id, super::parse_id(&id)?).await?;
    Ok(redirect_with_flash("/account", FlashKind::Success, "Token revoked: it no longer opens the API."))
}
