//! Sessions as rotating refresh tokens (table `refresh_tokens`, migration 0004). A login
//! starts a family; every refresh replaces the presented token with a successor in the same
//! family. Presenting a token that was already replaced or revoked means it was copied: the
//! whole family is revoked, throwing out both the thief and the victim (who logs in again).
//! Only SHA-256 hashes of the tokens are stored.

use secrecy::SecretString;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::users::{self, User};
use super::StoreError;
use crate::auth::token;

/// Why a refresh token was refused. The API answers all of them with 401.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("unknown refresh token")]
    Unknown,
    /// Already replaced or revoked: the family has now been revoked.
    #[error("refresh token reused; the session has been revoked")]
    Reused,
    #[error("the refresh token has expired")]
    Expired,
    #[error("the user is disabled")]
    Disabled,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for SessionError {
    fn from(e: sqlx::Error) -> Self {
        SessionError::Store(e.into())
    }
}

/// A new session (token family) for `user_id`; the token is valid for `ttl`.
pub async fn issue(
    pool: &PgPool,
    user_id: i64,
    ttl: time::Duration,
) -> Result<SecretString, StoreError> {
    let mut conn = pool.acquire().await?;
    let (token, hash) = token::generate(token::REFRESH_TOKEN_PREFIX);
    insert(&mut conn, user_id, Uuid::new_v4(), &hash, ttl).await?;
    Ok(token)
}

async fn insert(
    conn: &mut PgConnection,
    user_id: i64,
    family: Uuid,
    hash: &[u8; 32],
    ttl: time::Duration,
) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar!(
        "INSERT INTO refresh_tokens (token_hash, family_id, user_id, expires_at)
         VALUES ($1, $2, $3, now() + make_interval(secs => $4))
         RETURNING id",
        &hash[..],
        family,
        user_id,
        ttl.as_seconds_f64(),
    )
    .fetch_one(conn)
    .await?)
}

/// Exchanges `presented` for its successor (valid for `ttl`) and returns the user as
/// stored now, so the new access token carries the current role.
pub async fn rotate(
    pool: &PgPool,
    presented: &str,
    ttl: time::Duration,
) -> Result<(User, SecretString), SessionError> {
    let hash = token::hash(presented);
    let mut tx = pool.begin().await?;
    // Lock order is user row, then token rows (as in users::update and set_password): read
    // the owner first without a lock, lock the user, then the token.
    let owner = sqlx::query_scalar!(
        "SELECT user_id FROM refresh_tokens WHERE token_hash = $1",
        &hash[..]
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(SessionError::Unknown)?;
    let user = users::lock(&mut tx, owner).await?;
    let row = sqlx::query!(
        r#"SELECT id, family_id, revoked, replaced_by, expires_at <= now() AS "expired!"
           FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE"#,
        &hash[..]
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(SessionError::Unknown)?;

    // A disabled user is told so whatever the token's state (disabling revokes too).
    if user.disabled {
        revoke_family(&mut tx, row.family_id).await?;
        tx.commit().await?;
        return Err(SessionError::Disabled);
    }
    if row.revoked || row.replaced_by.is_some() {
        revoke_family(&mut tx, row.family_id).await?;
        tx.commit().await?;
        return Err(SessionError::Reused);
    }
    if row.expired {
        return Err(SessionError::Expired);
    }
    let (token, next_hash) = token::generate(token::REFRESH_TOKEN_PREFIX);
    let next = insert(&mut tx, user.id, row.family_id, &next_hash, ttl).await?;
    sqlx::query!(
        "UPDATE refresh_tokens SET replaced_by = $2 WHERE id = $1",
        row.id,
        next
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok((user, token))
}

async fn revoke_family(conn: &mut PgConnection, family: Uuid) -> Result<(), StoreError> {
    sqlx::query!(
        "UPDATE refresh_tokens SET revoked = true WHERE family_id = $1 AND NOT revoked",
        family
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Logout: revokes the session `presented` belongs to. `false` if the token is unknown.
pub async fn revoke(pool: &PgPool, presented: &str) -> Result<bool, StoreError> {
    let hash = token::hash(presented);
    let mut conn = pool.acquire().await?;
    let family = sqlx::query_scalar!(
        "SELECT family_id FROM refresh_tokens WHERE token_hash = $1",
        &hash[..]
    )
    .fetch_optional(&mut *conn)
    .await?;
    match family {
        Some(family) => {
            revoke_family(&mut conn, family).await?;
            Ok(true)
        }
        None => Ok(false),
    }
}

/// Revokes every session of `user_id` (password change, disabling); returns how many
/// tokens were still live.
pub async fn revoke_user(pool: &PgPool, user_id: i64) -> Result<u64, StoreError> {
    let mut conn = pool.acquire().await?;
    revoke_user_on(&mut conn, user_id).await
}

/// [`revoke_user`] inside the caller's transaction.
pub(crate) async fn revoke_user_on(
    conn: &mut PgConnection,
    user_id: i64,
) -> Result<u64, StoreError> {
    // The panel's cookie sessions end with them.
    sqlx::query!("DELETE FROM panel_sessions WHERE user_id = $1", user_id)
        .execute(&mut *conn)
        .await?;
    Ok(sqlx::query!(
        "UPDATE refresh_tokens SET revoked = true WHERE user_id = $1 AND NOT revoked",
        user_id
    )
    .execute(conn)
    .await?
    .rows_affected())
}

/// Housekeeping: deletes tokens that expired more than `grace` ago (kept that long so a
/// late reuse of a replaced token is still recognised as reuse). Returns how many.
pub async fn delete_expired(pool: &PgPool, grace: time::Duration) -> Result<u64, StoreError> {
    Ok(sqlx::query!(
        "DELETE FROM refresh_tokens WHERE expires_at < now() - make_interval(secs => $1)",
        grace.as_seconds_f64()
    )
    .execute(pool)
    .await?
    .rows_affected())
}
