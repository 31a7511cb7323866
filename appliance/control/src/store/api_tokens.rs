//! Long-lived API tokens for automation (table `api_tokens`, migration 0005): tied to a
//! role; shown once at creation, stored as a SHA-256 hash, revoked rather than deleted so
//! the audit log keeps pointing at something.
//!
//! A token's rights come from the admin who created it: it is revoked when that admin is
//! disabled or deleted (`users::update`, `users::delete`, with an audit row naming why),
//! and refused meanwhile if its creator is disabled by any other path. Tokens made at the
//! console (`relevo token add`, no creator) are not tied to anyone.

use secrecy::SecretString;
use serde::Serialize;
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;

use super::audit::{self, Actor, Target};
use super::StoreError;
use crate::auth::token;
use crate::domain::Role;

/// An API token, without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiToken {
    pub id: i64,
    pub name: String,
    pub role: Role,
    /// The user who created it, while that user exists.
    pub created_by: Option<i64>,
    /// Updated at most once a minute.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
    pub revoked: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// Creates a token named `name` (trimmed; unique: `Conflict { field: "name" }`) with
/// `role`. The secret is returned here and nowhere else.
pub async fn create(
    pool: &PgPool,
    actor: &Actor,
    name: &str,
    role: Role,
) -> Result<(ApiToken, SecretString), StoreError> {
    let (secret, hash) = token::generate(token::API_TOKEN_PREFIX);
    let mut tx = pool.begin().await?;
    let created = sqlx::query_as!(
        ApiToken,
        r#"INSERT INTO api_tokens (token_hash, name, role, created_by) VALUES ($1, $2, $3, $4)
           RETURNING id, name, role AS "role: Role", created_by, last_used_at, revoked,
                     created_at"#,
        &hash[..],
        name.trim(),
        role as Role,
        actor.user_id,
    )
    .fetch_one(&mut *tx)
    .await?;
    let after = json!({ "name": created.name, "role": role, "token": audit::MASK });
    audit::record(
        &mut tx,
        actor,
        "api_token.create",
        target(&created),
        None,
        Some(after),
    )
    .await?;
    tx.commit().await?;
    Ok((created, secret))
}

fn target(t: &ApiToken) -> Target<'_> {
    Target::row("api_token", t.id, &t.name)
}

/// Every token, revoked ones included, oldest first.
pub async fn list(pool: &PgPool) -> Result<Vec<ApiToken>, StoreError> {
    Ok(sqlx::query_as!(
        ApiToken,
        r#"SELECT id, name, role AS "role: Role", created_by, last_used_at, revoked, created_at
           FROM api_tokens ORDER BY id"#
    )
    .fetch_all(pool)
    .await?)
}

/// Revokes token `id` for good; `NotFound` if it does not exist. Revoking a revoked token
/// changes nothing and writes no audit row.
pub async fn revoke(pool: &PgPool, actor: &Actor, id: i64) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    let before = sqlx::query_as!(
        ApiToken,
        r#"SELECT id, name, role AS "role: Role", created_by, last_used_at, revoked, created_at
           FROM api_tokens WHERE id = $1 FOR UPDATE"#,
        id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(StoreError::NotFound {
        what: "API token",
        id,
    })?;
    if before.revoked {
        return Ok(());
    }
    sqlx::query!("UPDATE api_tokens SET revoked = true WHERE id = $1", id)
        .execute(&mut *tx)
        .await?;
    let (b, a) = (json!({ "revoked": false }), json!({ "revoked": true }));
    audit::record(
        &mut tx,
        actor,
        "api_token.revoke",
        target(&before),
        Some(b),
        Some(a),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Revokes the live tokens `user_id` created, in the caller's transaction (the user is
/// being disabled or deleted), each with an audit row whose `after.reason` is `reason`.
/// Returns how many.
pub(crate) async fn revoke_created_by(
    conn: &mut PgConnection,
    actor: &Actor,
    user_id: i64,
    reason: &str,
) -> Result<u64, StoreError> {
    let revoked = sqlx::query!(
        "UPDATE api_tokens SET revoked = true WHERE created_by = $1 AND NOT revoked
         RETURNING id, name",
        user_id
    )
    .fetch_all(&mut *conn)
    .await?;
    for t in &revoked {
        let (b, a) = (
            json!({ "revoked": false }),
            json!({ "revoked": true, "reason": reason }),
        );
        let target = Target::row("api_token", t.id, &t.name);
        audit::record(conn, actor, "api_token.revoke", target, Some(b), Some(a)).await?;
    }
    Ok(revoked.len() as u64)
}

/// The live token `presented` is, if any. Records the use, but writes at most once a
/// minute per token: a script polling every second should not mean a write per second.
pub async fn authenticate(pool: &PgPool, presented: &str) -> Result<Option<ApiToken>, StoreError> {
    if !presented.starts_with(token::API_TOKEN_PREFIX) {
        return Ok(None);
    }
    let hash = token::hash(presented);
    let Some(mut found) = sqlx::query_as!(
        ApiToken,
        r#"SELECT id, name, role AS "role: Role", created_by, last_used_at, revoked, created_at
           FROM api_tokens t WHERE token_hash = $1 AND NOT revoked
             AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = t.created_by AND u.disabled)"#,
        &hash[..]
    )
    .fetch_optional(pool)
    .await?
    else {
        return Ok(None);
    };
    let stale = found
        .last_used_at
        .is_none_or(|at| OffsetDateTime::now_utc() - at >= time::Duration::MINUTE);
    if stale {
        // The condition is repeated in SQL so that concurrent requests write once.
        let touched = sqlx::query_scalar!(
            "UPDATE api_tokens SET last_used_at = now()
             WHERE id = $1 AND (last_used_at IS NULL OR last_used_at <= now() - interval '1 minute')
             RETURNING last_used_at",
            found.id
        )
        .fetch_optional(pool)
        .await?;
        if let Some(at) = touched.flatten() {
            found.last_used_at = Some(at);
        }
    }
    Ok(Some(found))
}
