//! Accounts: who is signed in, with which permissions. Passwords (argon2id), sessions and API
//! tokens (random, stored as SHA-256), login throttling and electronic signatures — all kept in
//! PostgreSQL, so any number of app servers share them.

pub mod users;

use std::time::Duration;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::audit::Actor;
use crate::error::Error;

/// The permissions the application checks (roles are sets of these, in the database).
pub use crate::domain::vocab::Permission;

/// The signed-in user of a request.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub id: Uuid,
    pub username: String,
    pub display_name: String,
    pub roles: Vec<String>,
    pub permissions: Vec<Permission>,
    /// The session's CSRF token; empty for API-token requests (they carry no cookies).
    pub csrf_token: String,
}

impl CurrentUser {
    pub fn can(&self, permission: Permission) -> bool {
        self.permissions.contains(&permission)
    }

    pub fn actor(&self) -> Actor {
        Actor { id: Some(self.id), name: self.username.clone() }
    }

    /// The person acting, as operations know them.
    pub fn person(&self) -> crate::audit::Person {
        crate::audit::Person { id: self.id, username: self.username.clone() }
    }

    /// Refuses with 403 unless the user holds `permission`.
    pub fn require(&self, permission: Permission) -> Result<(), Error> {
        if self.can(permission) {
            Ok(())
        } else {
            Err(Error::Forbidden(format!("Your role does not allow this (it needs the “{permission}” permission).")))
        }
    }
}

/// How long sessions live.
#[derive(Debug, Clone, Copy)]
pub struct SessionPolicy {
    pub idle: Duration,
    pub absolute: Duration,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        SessionPolicy { idle: Duration::from_secs(60 * 60), absolute: Duration::from_secs(12 * 60 * 60) }
    }
}

fn argon2() -> Argon2<'static> {
    // OWASP's argon2id baseline: 19 MiB, 2 passes, 1 lane.
    Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(19 * 1024, 2, 1, None).expect("valid argon2 parameters"),
    )
}

/// Hashes a password with argon2id (a PHC string with its own salt and parameters).
pub fn hash_password(password: &str) -> Result<String, Error> {
    let salt = SaltString::generate(&mut OsRng);
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Internal(anyhow::anyhow!("Failed to hash a password: {e}")))
}

/// Whether `password` matches the stored PHC string.
pub fn verify_password(stored: &str, password: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|hash| argon2().verify_password(password.as_bytes(), &hash).is_ok())
}

/// The rules a new password must meet, or why it does not.
pub fn check_new_password(password: &str, username: &str) -> Result<(), String> {
    if password.chars().count() < 10 {
        return Err("A password has at least 10 characters.".into());
    }
    if password.len() > 256 {
        return Err("A password has at most 256 characters.".into());
    }
    if password.eq_ignore_ascii_case(username) {
        return Err("The password must not be the user name.".into());
    }
    Ok(())
}

/// A new random secret: 32 bytes from the operating system, as 64 hex digits.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random source");
    crate::audit::hex(&bytes)
}

/// How a secret is stored: its SHA-256 (a slow hash would cap the API; the secret is random).
pub fn secret_hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

const USER_SELECT: &str = "select u.id, u.username, u.display_name,
        array(select role_code from user_roles r where r.user_id = u.id order by role_code) as roles,
        array(select distinct rp.permission_code from user_roles r join role_permissions rp on rp.role_code = r.role_code
               where r.user_id = u.id order by 1) as permissions";

#[derive(sqlx::FromRow)]
struct UserRow {
    id: Uuid,
    username: String,
    display_name: String,
    roles: Vec<String>,
    permissions: Vec<String>,
}

impl UserRow {
    fn into_current(self, csrf_token: String) -> CurrentUser {
        CurrentUser {
            id: self.id,
            username: self.username,
            display_name: self.display_name,
            roles: self.roles,
            // A permission this binary does not know (a newer migration's) grants nothing here.
            permissions: self.permissions.iter().filter_map(|p| p.parse().ok()).collect(),
            csrf_token,
        }
    }
}

/// The user of a session cookie, if the session is live; touches its idle clock at most once a
/// minute. One statement (every request runs it): the update rides along in the same round trip.
pub async fn session_user(pool: &PgPool, token: &str, policy: &SessionPolicy) -> Result<Option<CurrentUser>, Error> {
    #[derive(sqlx::FromRow)]
    struct Found {
        #[sqlx(flatten)]
        user: UserRow,
        csrf_token: String,
    }
    let hash = secret_hash(token);
    let sql = format!(
        "with found as (
           {USER_SELECT}, s.csrf_token
             from sessions s join users u on u.id = s.user_id
            where s.token_hash = $1 and u.active and s.expires_at > now() and s.last_seen_at > now() - $2 * interval '1 second'
         ), touched as (
           update sessions set last_seen_at = now()
            where token_hash = $1 and last_seen_at < now() - interval '1 minute' and exists (select 1 from found)
         )
         select * from found"
    );
    let found: Option<Found> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(&hash)
        .bind(policy.idle.as_secs() as f64)
        .fetch_optional(pool)
        .await?;
    Ok(found.map(|f| f.user.into_current(f.csrf_token)))
}

/// The user of an API token, if it is live; notes its use at most once a minute, in the same
/// statement.
pub async fn token_user(pool: &PgPool, token: &str) -> Result<Option<CurrentUser>, Error> {
    let hash = secret_hash(token);
    let sql = format!(
        "with found as (
           {USER_SELECT} from api_tokens t join users u on u.id = t.user_id
            where t.token_hash = $1 and u.active and t.revoked_at is null and (t.expires_at is null or t.expires_at > now())
         ), touched as (
           update api_tokens set last_used_at = now()
            where token_hash = $1 and (last_used_at is null or last_used_at < now() - interval '1 minute')
              and exists (select 1 from found)
         )
         select * from found"
    );
    let user: Option<UserRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(&hash).fetch_optional(pool).await?;
    Ok(user.map(|u| u.into_current(String::new())))
}

/// Failures allowed before a lock, within the window.
const USER_FAILURES: i32 = 5;
const ADDRESS_FAILURES: i32 = 20;
const WINDOW_MINUTES: i32 = 15;

/// The outcome of a login attempt.
pub enum Login {
    /// A new session: its cookie token.
    Session(String),
    Refused,
    /// Too many failures for this user name or address: try again later.
    Throttled,
}

/// Checks a password and opens a session. Failures count per user name and per client address
/// (in PostgreSQL, shared by all servers); past the limit both are locked for a while.
pub async fn login(
    pool: &PgPool,
    username: &str,
    password: &str,
    client_addr: &str,
    user_agent: &str,
    policy: &SessionPolicy,
) -> Result<Login, Error> {
    let user_key = format!("user:{}", username.trim().to_lowercase());
    let addr_key = format!("addr:{client_addr}");
    let locked: bool = sqlx::query_scalar(
        "select exists (select 1 from login_throttle where key in ($1, $2) and locked_until > now())",
    )
    .bind(&user_key)
    .bind(&addr_key)
    .fetch_one(pool)
    .await?;
    if locked {
        tracing::warn!(login.user = %username, login.addr = %client_addr, "login refused: throttled");
        return Ok(Login::Throttled);
    }
    let row: Option<(Uuid, Option<String>)> =
        sqlx::query_as("select id, password_hash from users where lower(username) = lower($1) and active")
            .bind(username.trim())
            .fetch_optional(pool)
            .await?;
    // Verify against a real hash even for an unknown user, so timing does not tell which names exist.
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let stored = row
        .as_ref()
        .and_then(|(_, h)| h.clone())
        .unwrap_or_else(|| DUMMY.get_or_init(|| hash_password("not a real password").unwrap_or_default()).clone());
    let pw = password.to_string();
    let ok = tokio::task::spawn_blocking(move || verify_password(&stored, &pw))
        .await
        .map_err(|e| Error::Internal(e.into()))?
        && row.as_ref().is_some_and(|(_, h)| h.is_some());

    let Some((user_id, _)) = row.filter(|_| ok) else {
        for (key, limit) in [(&user_key, USER_FAILURES), (&addr_key, ADDRESS_FAILURES)] {
            sqlx::query(
                "insert into login_throttle (key, failures, window_start) values ($1, 1, now())
                 on conflict (key) do update set
                   failures = case when login_throttle.window_start < now() - $3 * interval '1 minute' then 1 else login_throttle.failures + 1 end,
                   window_start = case when login_throttle.window_start < now() - $3 * interval '1 minute' then now() else login_throttle.window_start end,
                   locked_until = case when (case when login_throttle.window_start < now() - $3 * interval '1 minute' then 1 else login_throttle.failures + 1 end) >= $2
                                       then now() + $3 * interval '1 minute' else login_throttle.locked_until end",
            )
            .bind(key)
            .bind(limit)
            .bind(WINDOW_MINUTES)
            .execute(pool)
            .await?;
        }
        tracing::warn!(login.user = %username, login.addr = %client_addr, "login refused: wrong user name or password");
        return Ok(Login::Refused);
    };
    let token = new_secret();
    let mut tx = pool.begin().await?;
    sqlx::query("delete from login_throttle where key = $1").bind(&user_key).execute(&mut *tx).await?;
    sqlx::query("delete from sessions where expires_at < now()").execute(&mut *tx).await?;
    sqlx::query(
        "insert into sessions (token_hash, user_id, csrf_token, expires_at, client_addr, user_agent)
         values ($1, $2, $3, now() + $4 * interval '1 second', $5, $6)",
    )
    .bind(secret_hash(&token))
    .bind(user_id)
    .bind(new_secret())
    .bind(policy.absolute.as_secs() as f64)
    .bind(client_addr)
    .bind(user_agent.chars().take(300).collect::<String>())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    tracing::info!(login.user = %username, "signed in");
    Ok(Login::Session(token))
}

/// Ends a session.
pub async fn logout(pool: &PgPool, token: &str) -> Result<(), Error> {
    sqlx::query("delete from sessions where token_hash = $1").bind(secret_hash(token)).execute(pool).await?;
    Ok(())
}

/// An electronic signature (21 CFR Part 11): the signer re-enters the password; the meaning
/// ("released by", "approved by") is recorded with the record, in the caller's transaction.
/// Whether the user holds `permission` now (an operation's own check, where the page's guard is
/// not the whole rule).
pub async fn holds(tx: &mut PgConnection, user: Uuid, permission: crate::Permission) -> Result<bool, Error> {
    Ok(sqlx::query_scalar(
        "select exists (select 1 from user_roles r join role_permissions rp on rp.role_code = r.role_code
                         join users u on u.id = r.user_id where r.user_id = $1 and u.active and rp.permission_code = $2)",
    )
    .bind(user)
    .bind(permission)
    .fetch_one(&mut *tx)
    .await?)
}

pub async fn sign(
    tx: &mut PgConnection,
    user: &crate::audit::Person,
    password: &str,
    meaning: &str,
    entity_type: &str,
    entity_id: &str,
) -> Result<Option<Uuid>, Error> {
    let stored: Option<String> = sqlx::query_scalar("select password_hash from users where id = $1 and active")
        .bind(user.id)
        .fetch_optional(&mut *tx)
        .await?
        .flatten();
    let Some(stored) = stored else { return Ok(None) };
    let pw = password.to_string();
    let ok = tokio::task::spawn_blocking(move || verify_password(&stored, &pw))
        .await
        .map_err(|e| Error::Internal(e.into()))?;
    if !ok {
        return Ok(None);
    }
    let id: Uuid = sqlx::query_scalar(
        "insert into signatures (user_id, meaning, entity_type, entity_id) values ($1, $2, $3, $4) returning id",
    )
    .bind(user.id)
    .bind(meaning)
    .bind(entity_type)
    .bind(entity_id)
    .fetch_one(&mut *tx)
    .await?;
    Ok(Some(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password(&hash, "correct horse battery"));
        assert!(!verify_password(&hash, "Correct horse battery"));
        assert!(!verify_password("not a hash", "x"));
    }

    #[test]
    fn secrets_are_random_and_stored_as_sha256() {
        let (a, b) = (new_secret(), new_secret());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert_eq!(secret_hash(&a).len(), 32);
    }

    #[test]
    fn new_passwords_are_long_enough_and_not_the_user_name() {
        assert!(check_new_password("short", "ann").is_err());
        assert!(check_new_password("annannannann", "ANNANNANNANN").is_err());
        assert!(check_new_password("a long enough secret", "ann").is_ok());
    }
}
