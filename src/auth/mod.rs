//! Accounts: who is signed in, with which permissions. Passwords (argon2id), sessions and API
//! tokens (random, stored as SHA-256), login throttling and electronic signatures — all kept in
//! PostgreSQL, so any number of app servers share them.

mod sign;
pub mod users;

pub use sign::{Act, Credentials, SIGNATURE_FAILURES, SIGNING_PERIOD_MINUTES, sign};

use std::time::Duration;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::audit::{self, Actor, Entry};
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
    /// Someone else set the password: nothing but changing it until it is changed.
    pub must_change_password: bool,
    /// Signed in by an API token: its scope ("read" or "write"); None for a browser session.
    pub token_scope: Option<String>,
    /// The browser session's token hash (None for an API token).
    pub session: Option<Vec<u8>>,
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
        crate::audit::Person { id: self.id, username: self.username.clone(), session: self.session.clone() }
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

const USER_SELECT: &str = "select u.id, u.username, u.display_name, u.must_change_password,
        array(select role_code from user_roles r where r.user_id = u.id order by role_code) as roles,
        array(select distinct rp.permission_code from user_roles r join role_permissions rp on rp.role_code = r.role_code
               where r.user_id = u.id order by 1) as permissions";

#[derive(sqlx::FromRow)]
struct UserRow {
    id: Uuid,
    username: String,
    display_name: String,
    must_change_password: bool,
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
            must_change_password: self.must_change_password,
            token_scope: None,
            session: None,
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
    Ok(found.map(|f| CurrentUser { session: Some(hash.clone()), ..f.user.into_current(f.csrf_token) }))
}

/// The user of an API token, if it is live; notes its use at most once a minute, in the same
/// statement.
pub async fn token_user(pool: &PgPool, token: &str) -> Result<Option<CurrentUser>, Error> {
    let hash = secret_hash(token);
    #[derive(sqlx::FromRow)]
    struct Found {
        #[sqlx(flatten)]
        user: UserRow,
        scope: String,
    }
    let sql = format!(
        "with found as (
           {USER_SELECT}, t.scope from api_tokens t join users u on u.id = t.user_id
            where t.token_hash = $1 and u.active and t.revoked_at is null and t.expires_at > now()
         ), touched as (
           update api_tokens set last_used_at = now()
            where token_hash = $1 and (last_used_at is null or last_used_at < now() - interval '1 minute')
              and exists (select 1 from found)
         )
         select * from found"
    );
    let found: Option<Found> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(&hash).fetch_optional(pool).await?;
    Ok(found.map(|f| CurrentUser { token_scope: Some(f.scope), ..f.user.into_current(String::new()) }))
}

/// Answers a request whose API token is unknown, expired or revoked, or whose user is no longer
/// active: recorded in the audit trail with whose token it was (when it was one) and why, and
/// counted per address, so that from the limit on an address waits instead (a guesser fills
/// neither the trail nor the server).
pub async fn refuse_token(pool: &PgPool, token: &str, client: &Client<'_>) -> Result<Error, Error> {
    let key = format!("token:{}", client.address);
    if let Some(wait) = count_attempt(pool, &key, ADDRESS_FAILURES, PAIR_MAX_DELAY_SECONDS).await? {
        tracing::warn!(addr = %client.address, wait, "API token refused: throttled");
        return Ok(Error::TooManyRequests(wait));
    }
    let known: Option<(Uuid, String, String)> = sqlx::query_as(
        "select u.id, u.username,
                case when t.revoked_at is not null then 'revoked'
                     when t.expires_at <= now() then 'expired'
                     else 'user inactive' end
           from api_tokens t join users u on u.id = t.user_id where t.token_hash = $1",
    )
    .bind(secret_hash(token))
    .fetch_optional(pool)
    .await?;
    let (entity, username, reason) = match &known {
        Some((id, name, reason)) => (id.to_string(), name.as_str(), reason.as_str()),
        None => ("unknown token".to_string(), "", "unknown"),
    };
    tracing::warn!(addr = %client.address, reason, "API token refused");
    let mut tx = pool.begin().await?;
    audit::record(
        &mut tx,
        &Actor::system("anonymous"),
        Entry::new("token_refused", "user", &entity).after(&serde_json::json!({
            "username": username,
            "reason": reason,
            "address": client.address,
            "user_agent": client.user_agent.chars().take(300).collect::<String>(),
        })),
    )
    .await?;
    tx.commit().await?;
    Ok(Error::Unauthorized)
}

/// Failed sign-ins allowed within the window before each next attempt waits: for one account
/// from one address, for one account from anywhere, and from one address to any account.
const PAIR_FAILURES: i32 = 5;
const ACCOUNT_FAILURES: i32 = 20;
const ADDRESS_FAILURES: i32 = 20;
const WINDOW_MINUTES: i32 = 15;
/// The longest wait: for one account from one address or one address, and for an account from
/// anywhere (short, so a stranger's failures only slow its owner down).
const PAIR_MAX_DELAY_SECONDS: i32 = 15 * 60;
const ACCOUNT_MAX_DELAY_SECONDS: i32 = 30;

/// Password checks running at once (each takes tens of megabytes): a burst waits its turn.
static CHECKS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(4);

/// The outcome of a login attempt.
pub enum Login {
    /// A new session: its cookie token, and whether the password must be changed first.
    Session {
        token: String,
        must_change_password: bool,
    },
    Refused,
    /// Too many failures for this account, from this address: try again in this many seconds.
    Throttled(i64),
}

/// Where a sign-in came from, for the throttle and the audit trail.
#[derive(Debug, Clone)]
pub struct Client<'a> {
    pub address: &'a str,
    pub user_agent: &'a str,
}

/// Counts one attempt for `key` before it is checked, atomically (concurrent attempts each
/// count): from the `limit`th attempt in the window on, each next one waits a delay that doubles
/// (1 s, 2 s, 4 s…) up to `max_delay`. Returns the seconds to wait when the attempt may not be checked yet.
async fn count_attempt(pool: &PgPool, key: &str, limit: i32, max_delay: i32) -> Result<Option<i64>, Error> {
    let counted: Option<i32> = sqlx::query_scalar(
        "insert into login_throttle (key, failures, window_start) values ($1, 1, now())
         on conflict (key) do update set
           failures = case when login_throttle.window_start < now() - $2 * interval '1 minute' then 1 else login_throttle.failures + 1 end,
           window_start = case when login_throttle.window_start < now() - $2 * interval '1 minute' then now() else login_throttle.window_start end,
           locked_until = case
             when login_throttle.window_start < now() - $2 * interval '1 minute' or login_throttle.failures + 1 < $3 then null
             else now() + least(power(2, least(login_throttle.failures + 1 - $3, 20)), $4) * interval '1 second' end
         where login_throttle.locked_until is null or login_throttle.locked_until <= now()
         returning failures",
    )
    .bind(key)
    .bind(WINDOW_MINUTES)
    .bind(limit)
    .bind(max_delay)
    .fetch_optional(pool)
    .await?;
    if counted.is_some() {
        return Ok(None);
    }
    let wait: f64 = sqlx::query_scalar(
        "select greatest(extract(epoch from locked_until - now()), 1)::float8 from login_throttle where key = $1",
    )
    .bind(key)
    .fetch_optional(pool)
    .await?
    .unwrap_or(1.0);
    Ok(Some(wait.ceil() as i64))
}

/// Records a security event (sign-in, failure, throttling, sign-out) in the audit trail, with
/// where it came from.
pub async fn security_event(
    pool: &PgPool,
    actor: &Actor,
    action: &str,
    user: Option<Uuid>,
    username: &str,
    client: &Client<'_>,
) -> Result<(), Error> {
    let mut tx = pool.begin().await?;
    let entity = user.map(|u| u.to_string()).unwrap_or_else(|| username.chars().take(64).collect());
    audit::record(
        &mut tx,
        actor,
        Entry::new(action, "user", &entity).after(&serde_json::json!({
            "username": username.chars().take(64).collect::<String>(),
            "address": client.address,
            "user_agent": client.user_agent.chars().take(300).collect::<String>(),
        })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Records a request worth auditing by a signed-in user (a download, a refusal): what was asked
/// (path and query), from where.
pub async fn request_event(
    pool: &PgPool,
    actor: &Actor,
    action: &str,
    user: Uuid,
    username: &str,
    what: &str,
    client: &Client<'_>,
) -> Result<(), Error> {
    let mut tx = pool.begin().await?;
    audit::record(
        &mut tx,
        actor,
        Entry::new(action, "user", user).after(&serde_json::json!({
            "username": username,
            "request": what,
            "address": client.address,
            "user_agent": client.user_agent.chars().take(300).collect::<String>(),
        })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Checks a password and opens a session. Each attempt is counted before the password is checked
/// — per account and address, per account, per address, in PostgreSQL shared by all servers — so
/// a burst cannot outrun the limit; past it, attempts wait a growing delay. A stranger's failures
/// from elsewhere only slow the owner for seconds; an administrator's reset lifts it all. Every
/// sign-in, failure and throttling is in the audit trail.
pub async fn login(
    pool: &PgPool,
    username: &str,
    password: &str,
    client: &Client<'_>,
    policy: &SessionPolicy,
) -> Result<Login, Error> {
    let name = username.trim().to_lowercase();
    let keys = [
        (format!("pair:{name}|{}", client.address), PAIR_FAILURES, PAIR_MAX_DELAY_SECONDS),
        (format!("user:{name}"), ACCOUNT_FAILURES, ACCOUNT_MAX_DELAY_SECONDS),
        (format!("addr:{}", client.address), ADDRESS_FAILURES, PAIR_MAX_DELAY_SECONDS),
    ];
    let row: Option<(Uuid, String, Option<String>, bool)> = sqlx::query_as(
        "select id, username, password_hash, must_change_password from users where lower(username) = lower($1) and active",
    )
    .bind(username.trim())
    .fetch_optional(pool)
    .await?;
    let who = row.as_ref().map(|(id, name, _, _)| Actor { id: Some(*id), name: name.clone() });
    for (key, limit, max_delay) in &keys {
        if let Some(wait) = count_attempt(pool, key, *limit, *max_delay).await? {
            tracing::warn!(login.user = %username, login.addr = %client.address, wait, "login refused: throttled");
            let actor = who.clone().unwrap_or_else(|| Actor::system("anonymous"));
            security_event(pool, &actor, "login_throttled", row.as_ref().map(|r| r.0), username, client).await?;
            return Ok(Login::Throttled(wait));
        }
    }
    // Verify against a real hash even for an unknown user, so timing does not tell which names exist.
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let stored = row
        .as_ref()
        .and_then(|(_, _, h, _)| h.clone())
        .unwrap_or_else(|| DUMMY.get_or_init(|| hash_password("not a real password").unwrap_or_default()).clone());
    let pw = password.to_string();
    let ok = {
        let _turn = CHECKS.acquire().await.map_err(|e| Error::Internal(e.into()))?;
        tokio::task::spawn_blocking(move || verify_password(&stored, &pw))
            .await
            .map_err(|e| Error::Internal(e.into()))?
    } && row.as_ref().is_some_and(|(_, _, h, _)| h.is_some());

    let Some((user_id, _, _, must_change_password)) = row.filter(|_| ok) else {
        tracing::warn!(login.user = %username, login.addr = %client.address, "login refused: wrong user name or password");
        let actor = who.unwrap_or_else(|| Actor::system("anonymous"));
        security_event(pool, &actor, "login_failed", actor.id, username, client).await?;
        return Ok(Login::Refused);
    };
    let token = new_secret();
    let mut tx = pool.begin().await?;
    // The owner is in: this address's failures for the account are forgotten, and the account's
    // count gives back this attempt. Old throttle rows go.
    sqlx::query("delete from login_throttle where key = $1").bind(&keys[0].0).execute(&mut *tx).await?;
    sqlx::query("update login_throttle set failures = greatest(failures - 1, 0) where key = $1")
        .bind(&keys[1].0)
        .execute(&mut *tx)
        .await?;
    sqlx::query("delete from login_throttle where window_start < now() - interval '1 day' and (locked_until is null or locked_until < now())")
        .execute(&mut *tx)
        .await?;
    sqlx::query("delete from sessions where expires_at < now()").execute(&mut *tx).await?;
    sqlx::query(
        "insert into sessions (token_hash, user_id, csrf_token, expires_at, client_addr, user_agent)
         values ($1, $2, $3, now() + $4 * interval '1 second', $5, $6)",
    )
    .bind(secret_hash(&token))
    .bind(user_id)
    .bind(new_secret())
    .bind(policy.absolute.as_secs() as f64)
    .bind(client.address)
    .bind(client.user_agent.chars().take(300).collect::<String>())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    let actor = Actor { id: Some(user_id), name: username.trim().to_string() };
    security_event(pool, &actor, "login", Some(user_id), username, client).await?;
    tracing::info!(login.user = %username, "signed in");
    Ok(Login::Session { token, must_change_password })
}

/// Lifts every sign-in delay on an account (an administrator's reset).
pub async fn lift_throttle(tx: &mut PgConnection, username: &str) -> Result<(), sqlx::Error> {
    let name = username.to_lowercase();
    sqlx::query("delete from login_throttle where key = $1 or key like $2")
        .bind(format!("user:{name}"))
        .bind(format!("pair:{}|%", name.replace('%', "\\%").replace('_', "\\_")))
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Ends a session (in the audit trail, with where it came from).
pub async fn logout(pool: &PgPool, token: &str, client: &Client<'_>) -> Result<(), Error> {
    let ended: Option<(Uuid, String)> = sqlx::query_as(
        "with gone as (delete from sessions where token_hash = $1 returning user_id)
         select u.id, u.username from gone join users u on u.id = gone.user_id",
    )
    .bind(secret_hash(token))
    .fetch_optional(pool)
    .await?;
    if let Some((id, username)) = ended {
        security_event(pool, &Actor { id: Some(id), name: username.clone() }, "logout", Some(id), &username, client)
            .await?;
    }
    Ok(())
}

/// Changes one's own password: the current one first; the other sessions end, and a password
/// someone else set is no longer waiting to be changed.
pub async fn change_own_password(
    pool: &PgPool,
    user: &CurrentUser,
    current: &str,
    new: &str,
    repeated: &str,
    session_token: Option<&str>,
) -> Result<(), crate::save::SaveError> {
    use crate::save::SaveError;
    let stored: Option<String> = sqlx::query_scalar("select password_hash from users where id = $1 and active")
        .bind(user.id)
        .fetch_optional(pool)
        .await?
        .flatten();
    let (stored, typed) = (stored.unwrap_or_default(), current.to_string());
    let ok = {
        let _turn = CHECKS.acquire().await.map_err(|e| Error::Internal(e.into()))?;
        tokio::task::spawn_blocking(move || verify_password(&stored, &typed))
            .await
            .map_err(|e| Error::Internal(e.into()))?
    };
    if !ok {
        return Err(SaveError::field("current_password", "This is not your current password."));
    }
    if let Err(m) = check_new_password(new, &user.username) {
        return Err(SaveError::field("new_password", m));
    }
    if new != repeated {
        return Err(SaveError::field("repeat_password", "The two new passwords differ."));
    }
    if new == current {
        return Err(SaveError::field("new_password", "Choose a password other than the current one."));
    }
    let hash = hash_password(new)?;
    let mut tx = pool.begin().await?;
    sqlx::query("update users set password_hash = $2, must_change_password = false where id = $1")
        .bind(user.id)
        .bind(&hash)
        .execute(&mut *tx)
        .await?;
    sqlx::query("delete from sessions where user_id = $1 and token_hash is distinct from $2")
        .bind(user.id)
        .bind(session_token.map(secret_hash))
        .execute(&mut *tx)
        .await?;
    audit::record(&mut tx, &user.actor(), Entry::new("password_changed", "user", user.id)).await?;
    tx.commit().await?;
    Ok(())
}

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
