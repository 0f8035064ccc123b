//! User administration and personal API tokens: create, change roles, deactivate, reset passwords.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

use crate::audit::{self, Actor, Entry};
use crate::error::Error;
use crate::save::{ConstraintMessage, FieldErrors, SaveError, map_db_error};

const CONSTRAINTS: &[ConstraintMessage] = &[
    ("users_username_key", "username", "A user with this name already exists."),
    ("users_username_check", "username", "A user name has 2–64 letters, digits or . _ @ -."),
];

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct User {
    pub id: Uuid,
    pub username: String,
    pub display_name: String,
    pub email: Option<String>,
    pub active: bool,
    pub roles: Vec<String>,
    #[serde(skip)]
    pub last_sign_in: Option<DateTime<Utc>>,
    #[serde(skip)]
    pub version: i32,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Role {
    pub code: String,
    pub name: String,
    pub description: String,
}

const SELECT: &str = "select u.id, u.username, u.display_name, u.email, u.active, u.version,
        array(select role_code from user_roles r where r.user_id = u.id order by role_code) as roles,
        (select max(created_at) from sessions s where s.user_id = u.id) as last_sign_in
   from users u";

pub async fn roles(pool: &PgPool) -> Result<Vec<Role>, Error> {
    Ok(sqlx::query_as("select code, name, description from roles order by case code when 'operator' then 1 when 'qa' then 2 else 3 end, code")
        .fetch_all(pool)
        .await?)
}

pub async fn list(pool: &PgPool) -> Result<Vec<User>, Error> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} order by u.active desc, lower(u.username)")))
        .fetch_all(pool)
        .await?)
}

pub async fn get(pool: &PgPool, id: Uuid) -> Result<User, Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} where u.id = $1")))
        .bind(id)
        .fetch_optional(pool)
        .await?
        .ok_or(Error::NotFound)
}

/// The user form as typed.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct UserForm {
    pub username: String,
    pub display_name: String,
    pub email: String,
    #[serde(rename = "role")]
    pub roles: Vec<String>,
    pub password: String,
    pub active: Option<String>,
    pub version: String,
}

impl UserForm {
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}

/// A checked user.
#[derive(Debug, Clone, Serialize)]
pub struct UserInput {
    pub username: String,
    pub display_name: String,
    pub email: Option<String>,
    pub roles: Vec<String>,
    pub active: bool,
}

fn check(form: &UserForm, known_roles: &[Role], e: &mut FieldErrors) -> UserInput {
    let username = form.username.trim().to_string();
    if !(2..=64).contains(&username.chars().count())
        || !username.chars().all(|c| c.is_ascii_alphanumeric() || "._@-".contains(c))
    {
        e.add("username", "A user name has 2–64 letters, digits or . _ @ -.");
    }
    let display_name = e.check("display_name", crate::domain::text::required(&form.display_name, "The full name", 200));
    let email = e.check("email", crate::domain::text::optional_email(&form.email));
    let mut roles: Vec<String> = form.roles.iter().map(|r| r.trim().to_string()).filter(|r| !r.is_empty()).collect();
    roles.sort();
    roles.dedup();
    if roles.is_empty() {
        e.add("roles", "Give the user at least one role.");
    } else if let Some(bad) = roles.iter().find(|r| !known_roles.iter().any(|k| &k.code == *r)) {
        e.add("roles", format!("There is no role “{bad}”."));
    }
    UserInput {
        username,
        display_name,
        email: (!email.is_empty()).then_some(email),
        roles,
        active: crate::master::ticked(&form.active),
    }
}

/// Creates a user with a first password.
pub async fn create(pool: &PgPool, actor: &Actor, form: &UserForm) -> Result<Uuid, SaveError> {
    let known = roles(pool).await?;
    let mut e = FieldErrors::default();
    let mut input = check(form, &known, &mut e);
    input.active = true;
    if let Err(m) = super::check_new_password(&form.password, &input.username) {
        e.add("password", m);
    }
    if !e.is_empty() {
        return Err(e.into());
    }
    let hash = super::hash_password(&form.password)?;
    let id = Uuid::new_v4();
    let mut tx = pool.begin().await?;
    // A password an administrator chose on the web is its owner's to change at the first sign-in;
    // one set at the server's console (the first administrator) is the console user's own.
    sqlx::query(
        "insert into users (id, username, display_name, email, password_hash, must_change_password) values ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(&input.username)
    .bind(&input.display_name)
    .bind(&input.email)
    .bind(&hash)
    .bind(actor.id.is_some())
        .execute(&mut *tx)
        .await
        .map_err(|e| map_db_error(e, CONSTRAINTS))?;
    sqlx::query("insert into user_roles (user_id, role_code) select $1, unnest($2::text[])")
        .bind(id)
        .bind(&input.roles)
        .execute(&mut *tx)
        .await?;
    audit::record(&mut tx, actor, Entry::new("create", "user", id).after(&input)).await?;
    tx.commit().await?;
    Ok(id)
}

/// Changes a user's name, e-mail, roles and whether the account is active. Deactivating ends
/// the user's sessions at once.
pub async fn update(pool: &PgPool, actor: &Actor, id: Uuid, form: &UserForm) -> Result<(), SaveError> {
    let known = roles(pool).await?;
    let mut e = FieldErrors::default();
    let input = check(form, &known, &mut e);
    let version: i32 =
        form.version.trim().parse().map_err(|_| Error::BadRequest("The form's version is missing.".into()))?;
    if actor.id == Some(id) && !input.active {
        e.add("active", "You cannot deactivate yourself; ask another administrator.");
    }
    if !e.is_empty() {
        return Err(e.into());
    }
    let mut tx = pool.begin().await?;
    let before: User = sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} where u.id = $1 for update of u")))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(Error::NotFound)?;
    if before.version != version {
        return Err(SaveError::Stale);
    }
    // Separation of duties: nobody grants or removes their own roles.
    let mut had = before.roles.clone();
    had.sort();
    if actor.id == Some(id) && had != input.roles {
        return Err(SaveError::field("roles", "Nobody changes their own roles; ask another administrator."));
    }
    sqlx::query("update users set username = $2, display_name = $3, email = $4, active = $5 where id = $1")
        .bind(id)
        .bind(&input.username)
        .bind(&input.display_name)
        .bind(&input.email)
        .bind(input.active)
        .execute(&mut *tx)
        .await
        .map_err(|e| map_db_error(e, CONSTRAINTS))?;
    sqlx::query("delete from user_roles where user_id = $1").bind(id).execute(&mut *tx).await?;
    sqlx::query("insert into user_roles (user_id, role_code) select $1, unnest($2::text[])")
        .bind(id)
        .bind(&input.roles)
        .execute(&mut *tx)
        .await?;
    if !input.active {
        sqlx::query("delete from sessions where user_id = $1").bind(id).execute(&mut *tx).await?;
    }
    let before_input = UserInput {
        username: before.username,
        display_name: before.display_name,
        email: before.email,
        roles: before.roles,
        active: before.active,
    };
    audit::record(&mut tx, actor, Entry::new("update", "user", id).before(&before_input).after(&input)).await?;
    tx.commit().await?;
    Ok(())
}

/// Sets a new password (an administrator's reset, or the CLI): the user's sessions and API tokens
/// end, any sign-in delay on the account is lifted, and — set by someone else — it must be
/// changed at the next sign-in, so an administrator never knows a password that signs.
pub async fn set_password(pool: &PgPool, actor: &Actor, id: Uuid, password: &str) -> Result<(), SaveError> {
    let user = get(pool, id).await?;
    if let Err(m) = super::check_new_password(password, &user.username) {
        let mut e = FieldErrors::default();
        e.add("password", m);
        return Err(e.into());
    }
    let hash = super::hash_password(password)?;
    let mut tx = pool.begin().await?;
    let by_someone_else = actor.id.is_some_and(|a| a != id);
    sqlx::query("update users set password_hash = $2, must_change_password = $3 where id = $1")
        .bind(id)
        .bind(&hash)
        .bind(by_someone_else)
        .execute(&mut *tx)
        .await?;
    sqlx::query("delete from sessions where user_id = $1").bind(id).execute(&mut *tx).await?;
    let revoked = sqlx::query("update api_tokens set revoked_at = now() where user_id = $1 and revoked_at is null")
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    super::lift_throttle(&mut tx, &user.username).await?;
    audit::record(
        &mut tx,
        actor,
        Entry::new("password_reset", "user", id)
            .after(&serde_json::json!({ "must_change_password": by_someone_else, "tokens_revoked": revoked })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Token {
    pub id: Uuid,
    pub name: String,
    pub scope: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

pub async fn tokens(pool: &PgPool, user_id: Uuid) -> Result<Vec<Token>, Error> {
    Ok(sqlx::query_as(
        "select id, name, scope, expires_at, created_at, last_used_at, revoked_at from api_tokens where user_id = $1 order by revoked_at nulls first, created_at desc",
    )
    .bind(user_id)
    .fetch_all(pool)
    .await?)
}

/// How long a new token may live, in days.
pub const TOKEN_DAYS: [i64; 3] = [30, 90, 365];

/// Creates a personal API token that reads (`read`) or reads and writes (`write`) and expires
/// after `days`; the secret is returned once and only its hash is kept.
pub async fn create_token(
    pool: &PgPool,
    actor: &Actor,
    user_id: Uuid,
    name: &str,
    scope: &str,
    days: i64,
) -> Result<String, SaveError> {
    let mut e = FieldErrors::default();
    let name = e.check("name", crate::domain::text::required(name, "The token's name", 100));
    if scope != "read" && scope != "write" {
        e.add("scope", "Choose whether the token only reads, or reads and writes.");
    }
    if !TOKEN_DAYS.contains(&days) {
        e.add("days", "Choose how long the token lives: 30, 90 or 365 days.");
    }
    if !e.is_empty() {
        return Err(e.into());
    }
    let secret = super::new_secret();
    let mut tx = pool.begin().await?;
    let id: Uuid =
        sqlx::query_scalar(
            "insert into api_tokens (user_id, name, token_hash, scope, expires_at) values ($1, $2, $3, $4, now() + $5 * interval '1 day') returning id",
        )
            .bind(user_id)
            .bind(&name)
            .bind(super::secret_hash(&secret))
            .bind(scope)
            .bind(days as f64)
            .fetch_one(&mut *tx)
            .await?;
    audit::record(
        &mut tx,
        actor,
        Entry::new("create", "api_token", id)
            .after(&serde_json::json!({ "name": name, "user_id": user_id, "scope": scope, "days": days })),
    )
    .await?;
    tx.commit().await?;
    Ok(secret)
}

/// Revokes one of `user_id`'s tokens.
pub async fn revoke_token(pool: &PgPool, actor: &Actor, user_id: Uuid, token_id: Uuid) -> Result<(), Error> {
    let mut tx = pool.begin().await?;
    let done =
        sqlx::query("update api_tokens set revoked_at = now() where id = $1 and user_id = $2 and revoked_at is null")
            .bind(token_id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
    if done.rows_affected() == 0 {
        return Err(Error::NotFound);
    }
    audit::record(&mut tx, actor, Entry::new("revoke", "api_token", token_id)).await?;
    tx.commit().await?;
    Ok(())
}
