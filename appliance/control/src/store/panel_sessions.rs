//! Panel sign-ins (table `panel_sessions`, migration 0016): an opaque token in an HttpOnly
//! cookie, its SHA-256 in the database. Unlike the API's refresh tokens they do not rotate:
//! a browser sends many requests at once, and a rotation race would sign it out. They are
//! bounded instead by an idle timeout and an absolute lifetime, and end at logout.
//!
//! A sign-in whose password was right but whose second factor is still owed is a *pending*
//! session: it opens only the code page, and lives [`PENDING_TTL`].

use secrecy::SecretString;
use sqlx::PgPool;

use super::users::{self, User};
use super::StoreError;
use crate::auth::token;

/// Prefix of panel session tokens.
pub const PANEL_TOKEN_PREFIX: &str = "rlv_ps_";

/// How long a pending sign-in waits for its code.
pub const PENDING_TTL: time::Duration = time::Duration::minutes(5);

/// Lifetimes of a full session.
#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    /// Ends a session nobody used for this long.
    pub idle: time::Duration,
    /// Ends every session this long after sign-in.
    pub absolute: time::Duration,
}

impl Default for Lifetimes {
    fn default() -> Self {
        Self {
            idle: time::Duration::hours(12),
            absolute: time::Duration::days(7),
        }
    }
}

/// A valid session and its user, as stored now.
#[derive(Debug, Clone)]
pub struct PanelSession {
    pub id: i64,
    pub user: User,
    pub totp_pending: bool,
}

/// Starts a session for `user_id`; `totp_pending` while the second factor is owed.
pub async fn create(
    pool: &PgPool,
    user_id: i64,
    totp_pending: bool,
    life: Lifetimes,
) -> Result<SecretString, StoreError> {
    let (token, hash) = token::generate(PANEL_TOKEN_PREFIX);
    let (idle, absolute) = if totp_pending {
        (PENDING_TTL, PENDING_TTL)
    } else {
        (life.idle, life.absolute)
    };
    sqlx::query!(
        "INSERT INTO panel_sessions (token_hash, user_id, totp_pending, idle_until, expires_at)
         VALUES ($1, $2, $3, now() + make_interval(secs => $4),
                 now() + make_interval(secs => $5))",
        &hash[..],
        user_id,
        totp_pending,
        idle.as_seconds_f64(),
        absolute.as_seconds_f64(),
    )
    .execute(pool)
    .await?;
    Ok(token)
}

/// The session behind `presented`, if it is valid and its user is enabled. Pushes the idle
/// deadline forward (at most once a minute, to spare the database a write per request).
pub async fn lookup(
    pool: &PgPool,
    presented: &str,
    life: Lifetimes,
) -> Result<Option<PanelSession>, StoreError> {
    let hash = token::hash(presented);
    sqlx::query!(
        "UPDATE panel_sessions
            SET last_seen = now(),
                idle_until = LEAST(expires_at, now() + make_interval(secs => $2))
          WHERE token_hash = $1 AND NOT totp_pending
            AND idle_until > now() AND expires_at > now()
            AND last_seen < now() - interval '1 minute'",
        &hash[..],
        life.idle.as_seconds_f64(),
    )
    .execute(pool)
    .await?;
    let session = sqlx::query!(
        "SELECT id, user_id, totp_pending FROM panel_sessions
          WHERE token_hash = $1 AND idle_until > now() AND expires_at > now()",
        &hash[..],
    )
    .fetch_optional(pool)
    .await?;
    let Some(s) = session else { return Ok(None) };
    let user = match users::get(pool, s.user_id).await {
        Ok(u) if !u.disabled => u,
        Ok(_) | Err(StoreError::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    Ok(Some(PanelSession {
        id: s.id,
        user,
        totp_pending: s.totp_pending,
    }))
}

/// Ends the session behind `presented` (logout); unknown tokens are ignored.
pub async fn delete(pool: &PgPool, presented: &str) -> Result<(), StoreError> {
    let hash = token::hash(presented);
    sqlx::query!(
        "DELETE FROM panel_sessions WHERE token_hash = $1",
        &hash[..]
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Forgets sessions past either deadline (housekeeping).
pub async fn delete_expired(pool: &PgPool) -> Result<u64, StoreError> {
    Ok(
        sqlx::query!("DELETE FROM panel_sessions WHERE idle_until <= now() OR expires_at <= now()")
            .execute(pool)
            .await?
            .rows_affected(),
    )
}
