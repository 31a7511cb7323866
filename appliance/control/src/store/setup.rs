//! First-run setup without a default password: while no user exists, the service can mint
//! a one-time setup token (printed on the console or in the journal); whoever presents it
//! creates the first admin. One token at most (a new one replaces the old), stored hashed,
//! expiring, and gone once used.

use std::net::IpAddr;

use secrecy::SecretString;
use sqlx::PgPool;

use super::audit::Actor;
use super::users::{self, User};
use super::StoreError;
use crate::auth::token;
use crate::domain::{Email, Password, Role};
use crate::password;

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// Unknown, expired or already used.
    #[error("invalid or expired setup token")]
    InvalidToken,
    #[error("the appliance is already set up")]
    AlreadySetUp,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for SetupError {
    fn from(e: sqlx::Error) -> Self {
        SetupError::Store(e.into())
    }
}

/// A new setup token valid for `ttl`, replacing any earlier one; `None` once any user
/// exists (setup is over).
pub async fn create_token(
    pool: &PgPool,
    ttl: time::Duration,
) -> Result<Option<SecretString>, StoreError> {
    let (secret, hash) = token::generate(token::SETUP_TOKEN_PREFIX);
    let stored = sqlx::query!(
        "INSERT INTO setup_tokens (token_hash, expires_at)
         SELECT $1, now() + make_interval(secs => $2)
         WHERE NOT EXISTS (SELECT 1 FROM users)
         ON CONFLICT (id) DO UPDATE
             SET token_hash = EXCLUDED.token_hash, expires_at = EXCLUDED.expires_at",
        &hash[..],
        ttl.as_seconds_f64(),
    )
    .execute(pool)
    .await?;
    Ok((stored.rows_affected() == 1).then_some(secret))
}

/// Creates the first admin if `presented` is the current, unexpired setup token and still
/// no user exists; the token is then deleted. The audit row's actor is `setup`, from `from`.
pub async fn consume(
    pool: &PgPool,
    presented: &str,
    email: &Email,
    password: &Password,
    from: Option<IpAddr>,
) -> Result<User, SetupError> {
    let hash = token::hash(presented);
    // Argon2 before the transaction, so no lock is held while it runs.
    let password_hash = password::hash(password.secret().clone())
        .await
        .map_err(StoreError::from)?;
    let mut tx = pool.begin().await?;
    // Blocks other inserts into users (a concurrent setup or `relevo user add`) until this
    // transaction ends, so "no user yet" stays true until the admin is created.
    sqlx::query!("LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await?;
    let any_user = sqlx::query_scalar!(r#"SELECT EXISTS (SELECT 1 FROM users) AS "any!""#)
        .fetch_one(&mut *tx)
        .await?;
    if any_user {
        sqlx::query!("DELETE FROM setup_tokens")
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        return Err(SetupError::AlreadySetUp);
    }
    let valid = sqlx::query_scalar!(
        "DELETE FROM setup_tokens WHERE token_hash = $1 AND expires_at > now() RETURNING id",
        &hash[..]
    )
    .fetch_optional(&mut *tx)
    .await?
    .is_some();
    if !valid {
        return Err(SetupError::InvalidToken);
    }
    let actor = Actor {
        user_id: None,
        label: "setup".to_owned(),
        addr: from,
    };
    let user = users::insert(&mut tx, &actor, email, &password_hash, Role::Admin).await?;
    tx.commit().await?;
    Ok(user)
}
