//! User accounts: creation (password hashed with Argon2id), lookup by email (any case),
//! password verification that takes as long for an unknown email as for a known one, the
//! admin's changes (role, disable, password, delete; never leaving no enabled admin), login
//! audit rows. TOTP two-factor state (enrolment, recovery codes, replay protection) is kept
//! in `store::totp` and re-exported here.

use secrecy::SecretString;
use serde::Serialize;
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;

use super::audit::{self, Actor, Target};
use super::{api_tokens, sessions, StoreError};
use crate::domain::{Email, Password, Role};
use crate::password;

pub use super::totp::{
    recovery_codes_left, seal_clear_secrets, second_factor, totp_begin, totp_confirm, totp_disable,
    RECOVERY_CODES,
};

/// The `outcome` of [`record_login`] that means success; anything else is a failure reason.
pub const LOGIN_OK: &str = "ok";

/// A user, without the password hash or the TOTP secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub role: Role,
    pub totp_enrolled: bool,
    pub totp_required: bool,
    pub disabled: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// An admin's change to a user; `None` leaves the field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserPatch {
    pub role: Option<Role>,
    pub disabled: Option<bool>,
    pub totp_required: Option<bool>,
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
    let user = insert(&mut tx, actor, email, &hash, role).await?;
    tx.commit().await?;
    Ok(user)
}

/// Inserts a user with an already computed hash, and its audit row, on `conn` (the
/// caller's transaction).
pub(crate) async fn insert(
    conn: &mut PgConnection,
    actor: &Actor,
    email: &Email,
    password_hash: &str,
    role: Role,
) -> Result<User, StoreError> {
    let user = sqlx::query_as!(
        User,
        r#"INSERT INTO users (email, password_hash, role) VALUES ($1, $2, $3)
           RETURNING id, email, role AS "role: Role", totp_secret IS NOT NULL AS "totp_enrolled!",
                     totp_required, disabled, created_at, updated_at"#,
        email.as_str(),
        password_hash,
        role as Role,
    )
    .fetch_one(&mut *conn)
    .await?;
    let after = json!({ "email": user.email, "role": role, "password": audit::MASK });
    audit::record(conn, actor, "user.create", target(&user), None, Some(after)).await?;
    Ok(user)
}

pub(super) fn target(user: &User) -> Target<'_> {
    Target::row("user", user.id, &user.email)
}

/// The user with `id`; `NotFound` if there is none.
pub async fn get(pool: &PgPool, id: i64) -> Result<User, StoreError> {
    sqlx::query_as!(
        User,
        r#"SELECT id, email, role AS "role: Role", totp_secret IS NOT NULL AS "totp_enrolled!",
                  totp_required, disabled, created_at, updated_at
           FROM users WHERE id = $1"#,
        id
    )
    .fetch_optional(pool)
    .await?
    .ok_or(StoreError::NotFound { what: "user", id })
}

/// The user with `id` and their token generation (migration 0017: an access token issued
/// under an older generation is refused); `NotFound` if there is none.
pub async fn get_with_generation(pool: &PgPool, id: i64) -> Result<(User, i64), StoreError> {
    let r = sqlx::query!(
        r#"SELECT id, email, role AS "role: Role", totp_secret IS NOT NULL AS "totp_enrolled!",
                  totp_required, disabled, created_at, updated_at, token_generation
           FROM users WHERE id = $1"#,
        id
    )
    .fetch_optional(pool)
    .await?
    .ok_or(StoreError::NotFound { what: "user", id })?;
    let user = User {
        id: r.id,
        email: r.email,
        role: r.role,
        totp_enrolled: r.totp_enrolled,
        totp_required: r.totp_required,
        disabled: r.disabled,
        created_at: r.created_at,
        updated_at: r.updated_at,
    };
    Ok((user, r.token_generation))
}

/// The user with `id`, its row locked until the end of the transaction on `conn`.
pub(crate) async fn lock(conn: &mut PgConnection, id: i64) -> Result<User, StoreError> {
    sqlx::query_as!(
        User,
        r#"SELECT id, email, role AS "role: Role", totp_secret IS NOT NULL AS "totp_enrolled!",
                  totp_required, disabled, created_at, updated_at
           FROM users WHERE id = $1 FOR UPDATE"#,
        id
    )
    .fetch_optional(conn)
    .await?
    .ok_or(StoreError::NotFound { what: "user", id })
}

/// Every user, oldest first.
pub async fn list(pool: &PgPool) -> Result<Vec<User>, StoreError> {
    Ok(sqlx::query_as!(
        User,
        r#"SELECT id, email, role AS "role: Role", totp_secret IS NOT NULL AS "totp_enrolled!",
                  totp_required, disabled, created_at, updated_at
           FROM users ORDER BY id"#
    )
    .fetch_all(pool)
    .await?)
}

/// How many users exist (none: the appliance still needs its setup).
pub async fn count_users(pool: &PgPool) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM users"#)
        .fetch_one(pool)
        .await?)
}

/// How many admins are enabled.
pub async fn count_admins(pool: &PgPool) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM users WHERE role = 'admin' AND NOT disabled"#
    )
    .fetch_one(pool)
    .await?)
}

/// Locks the enabled admins' rows, in id order and before any other row so that concurrent
/// callers cannot deadlock, and returns their ids. Held until the transaction ends, so two
/// admins demoting each other at once cannot both succeed.
async fn lock_admins(conn: &mut PgConnection) -> Result<Vec<i64>, StoreError> {
    Ok(sqlx::query_scalar!(
        "SELECT id FROM users WHERE role = 'admin' AND NOT disabled ORDER BY id FOR UPDATE"
    )
    .fetch_all(conn)
    .await?)
}

/// `LastAdmin` if `user_id` is the only enabled admin and a change takes that away.
fn keep_an_admin(admins: &[i64], user_id: i64, stays_admin: bool) -> Result<(), StoreError> {
    if !stays_admin && admins == [user_id] {
        return Err(StoreError::LastAdmin);
    }
    Ok(())
}

/// Changes role, disabled or 2FA requirement. Disabling also ends the user's sessions and
/// revokes the API tokens they created (their rights came from this user). A change of
/// role or of disabled also ends every access token of the user (migration 0018).
pub async fn update(
    pool: &PgPool,
    actor: &Actor,
    id: i64,
    patch: UserPatch,
) -> Result<User, StoreError> {
    let mut tx = pool.begin().await?;
    let admins = lock_admins(&mut tx).await?;
    let before = lock(&mut tx, id).await?;
    let role = patch.role.unwrap_or(before.role);
    let disabled = patch.disabled.unwrap_or(before.disabled);
    let totp_required = patch.totp_required.unwrap_or(before.totp_required);
    if (role, disabled, totp_required) == (before.role, before.disabled, before.totp_required) {
        return Ok(before);
    }
    keep_an_admin(&admins, id, role == Role::Admin && !disabled)?;
    let after = sqlx::query_as!(
        User,
        r#"UPDATE users SET role = $2, disabled = $3, totp_required = $4 WHERE id = $1
           RETURNING id, email, role AS "role: Role", totp_secret IS NOT NULL AS "totp_enrolled!",
                     totp_required, disabled, created_at, updated_at"#,
        id,
        role as Role,
        disabled,
        totp_required,
    )
    .fetch_one(&mut *tx)
    .await?;
    if disabled && !before.disabled {
        sessions::revoke_user_on(&mut tx, id).await?;
        api_tokens::revoke_created_by(&mut tx, actor, id, "creator_disabled").await?;
    }
    let snapshot = |u: &User| json!({ "role": u.role, "disabled": u.disabled, "totp_required": u.totp_required });
    let (b, a) = (snapshot(&before), snapshot(&after));
    audit::record(
        &mut tx,
        actor,
        "user.update",
        target(&after),
        Some(b),
        Some(a),
    )
    .await?;
    tx.commit().await?;
    Ok(after)
}

/// Sets a new password and ends every session of the user (a password change is also how
/// one throws out whoever stole the old one).
pub async fn set_password(
    pool: &PgPool,
    actor: &Actor,
    id: i64,
    password: &Password,
) -> Result<(), StoreError> {
    let hash = password::hash(password.secret().clone()).await?;
    let mut tx = pool.begin().await?;
    let user = lock(&mut tx, id).await?;
    sqlx::query!(
        "UPDATE users SET password_hash = $2 WHERE id = $1",
        id,
        hash
    )
    .execute(&mut *tx)
    .await?;
    sessions::revoke_user_on(&mut tx, id).await?;
    let after = json!({ "password": audit::MASK });
    audit::record(
        &mut tx,
        actor,
        "user.password",
        target(&user),
        None,
        Some(after),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Deletes a user (their sessions and recovery codes go with them; API tokens they created
/// are revoked, as their rights came from this user). `LastAdmin` if they are the last
/// enabled admin.
pub async fn delete(pool: &PgPool, actor: &Actor, id: i64) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    let admins = lock_admins(&mut tx).await?;
    let user = lock(&mut tx, id).await?;
    keep_an_admin(&admins, id, false)?;
    api_tokens::revoke_created_by(&mut tx, actor, id, "creator_deleted").await?;
    sqlx::query!("DELETE FROM users WHERE id = $1", id)
        .execute(&mut *tx)
        .await?;
    let before = json!({ "email": user.email, "role": user.role, "disabled": user.disabled });
    audit::record(
        &mut tx,
        actor,
        "user.delete",
        target(&user),
        Some(before),
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(())
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
    let (user, hash) = find_with_hash(pool, email)
        .await?
        .map(|u| (u.user, u.password_hash))
        .unzip();
    let ok = password::verify(hash, password.clone()).await?;
    Ok(user.filter(|u| ok && !u.disabled))
}

/// The token generation of user `id` now (0 if there is none: a token for a deleted user
/// is refused anyway).
pub async fn token_generation(pool: &PgPool, id: i64) -> Result<i64, StoreError> {
    Ok(
        sqlx::query_scalar!("SELECT token_generation FROM users WHERE id = $1", id)
            .fetch_optional(pool)
            .await?
            .unwrap_or(0),
    )
}

/// An audit row for sign-ins refused by a running lockout (`auth.login_failed`, reason
/// `locked_out`): `refused` attempts since the last such row for this lock, which `scope`
/// names (`account_and_address`, `address`, `account`).
pub async fn record_lockout(
    pool: &PgPool,
    actor: &Actor,
    email: &str,
    scope: &str,
    refused: u32,
    retry_after_s: u64,
) -> Result<(), StoreError> {
    let after = json!({
        "reason": "locked_out",
        "scope": scope,
        "refused": refused,
        "retry_after_s": retry_after_s,
    });
    record_attempt(pool, actor, email, "auth.login_failed", Some(after)).await
}

/// An audit row for a login attempt: `auth.login` when `outcome` is [`LOGIN_OK`], else
/// `auth.login_failed` with `{"reason": outcome}`. The email is recorded as typed (cut to
/// 254 characters), and linked to the account if one has it.
pub async fn record_login(
    pool: &PgPool,
    actor: &Actor,
    email: &str,
    outcome: &str,
) -> Result<(), StoreError> {
    if outcome == LOGIN_OK {
        record_attempt(pool, actor, email, "auth.login", None).await
    } else {
        let after = json!({ "reason": outcome });
        record_attempt(pool, actor, email, "auth.login_failed", Some(after)).await
    }
}

async fn record_attempt(
    pool: &PgPool,
    actor: &Actor,
    email: &str,
    action: &str,
    after: Option<serde_json::Value>,
) -> Result<(), StoreError> {
    let email: String = email.trim().chars().take(Email::MAX_LEN).collect();
    let mut conn = pool.acquire().await?;
    let id = sqlx::query_scalar!("SELECT id FROM users WHERE lower(email) = lower($1)", email)
        .fetch_optional(&mut *conn)
        .await?;
    let target = Target {
        kind: "user",
        id,
        name: Some(&email),
    };
    audit::record(&mut conn, actor, action, target, None, after).await
}
