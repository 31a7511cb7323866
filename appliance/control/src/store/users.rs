//! User accounts: creation (password hashed with Argon2id), lookup by email (any case) and
//! password verification that takes as long for an unknown email as for a known one.

use secrecy::SecretString;
use serde_json::json;
use sqlx::PgPool;
use time::OffsetDateTime;

use super::audit::{self, Actor, Target};
use super::StoreError;
use crate::domain::{Email, Password, Role};
use crate::password;

/// A user, without the password hash or the TOTP secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub role: Role,
    pub totp_enrolled: bool,
    pub totp_required: bool,
    pub disabled: bool,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// A user row with its hash, never leaving this module.
struct UserWithHash {
    user: User,
    password_hash: String,
}

/// Creates a user; `Conflict { field: "email" }` if the email exists in any case.
pub async fn create(
    pool: &PgPool,
    actor: &Actor,
    email: &Email,
    password: &Password,
    role: Role,
) -> Result<User, StoreError> {
    let hash = password::hash(password.secret().clone()).await?;
    let mut tx = pool.begin().await?;
    let user = sqlx::query_as!(
        User,
        r#"INSERT INTO users (email, password_hash, role) VALUES ($1, $2, $3)
           RETURNING id, email, role AS "role: Role", totp_secret IS NOT NULL AS "totp_enrolled!",
                     totp_required, disabled, created_at, updated_at"#,
        email.as_str(),
        hash,
        role as Role,
    )
    .fetch_one(&mut *tx)
    .await?;
    let target = Target {
        kind: "user",
        id: Some(user.id),
        name: Some(&user.email),
    };
    let after = json!({ "email": user.email, "role": role, "password": audit::MASK });
    audit::record(&mut tx, actor, "user.create", target, None, Some(after)).await?;
    tx.commit().await?;
    Ok(user)
}

/// The user with this email, compared without regard to case.
pub async fn find_by_email(pool: &PgPool, email: &str) -> Result<Option<User>, StoreError> {
    Ok(find_with_hash(pool, email).await?.map(|u| u.user))
}

async fn find_with_hash(pool: &PgPool, email: &str) -> Result<Option<UserWithHash>, StoreError> {
    let row = sqlx::query!(
        r#"SELECT id, email, role AS "role: Role", totp_secret IS NOT NULL AS "totp_enrolled!",
                  totp_required, disabled, created_at, updated_at, password_hash
           FROM users WHERE lower(email) = lower($1)"#,
        email.trim()
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| UserWithHash {
        user: User {
            id: r.id,
            email: r.email,
            role: r.role,
            totp_enrolled: r.totp_enrolled,
            totp_required: r.totp_required,
            disabled: r.disabled,
            created_at: r.created_at,
            updated_at: r.updated_at,
        },
        password_hash: r.password_hash,
    }))
}

/// The user if `email` exists, is not disabled and `password` matches; `None` otherwise,
/// after the same Argon2 work in every case. (TOTP is the caller's next step.)
pub async fn verify_password(
    pool: &PgPool,
    email: &str,
    password: &SecretString,
) -> Result<Option<User>, StoreError> {
    let found = find_with_hash(pool, email).await?;
    let (user, hash) = match found {
        Some(u) => (Some(u.user), Some(u.password_hash)),
        None => (None, None),
    };
    let ok = password::verify(hash, password.clone()).await?;
    Ok(user.filter(|u| ok && !u.disabled))
}
