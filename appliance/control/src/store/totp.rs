//! A user's TOTP second factor as stored: the pending secret of an enrolment, the active
//! secret with the last step accepted (so a code cannot be replayed), and the recovery codes
//! (hashed, each spent once). The codes themselves are computed in `auth::totp`. The public
//! functions are re-exported from `users`, whose accounts they belong to.

use secrecy::SecretString;
use serde_json::json;
use sqlx::{PgConnection, PgPool};

use super::audit::{self, Actor, Target};
use super::users;
use super::StoreError;
use crate::auth::{token, totp};

/// Recovery codes handed out per TOTP enrolment.
pub const RECOVERY_CODES: usize = 10;

/// Starts (or restarts) TOTP enrolment: a new secret is kept as pending, and only becomes
/// active once [`totp_confirm`] sees a code from it. Show it to the user as a QR code.
pub async fn totp_begin(pool: &PgPool, user_id: i64) -> Result<totp::Secret, StoreError> {
    let secret = totp::Secret::generate();
    let updated = sqlx::query!(
        "UPDATE users SET totp_pending = $2 WHERE id = $1",
        user_id,
        secret.to_base32()
    )
    .execute(pool)
    .await?;
    if updated.rows_affected() == 0 {
        return Err(StoreError::NotFound {
            what: "user",
            id: user_id,
        });
    }
    Ok(secret)
}

/// Activates the pending secret if `code` is right (`TotpCode` if not) and returns
/// [`RECOVERY_CODES`] fresh recovery codes, shown once (older ones are deleted).
pub async fn totp_confirm(
    pool: &PgPool,
    actor: &Actor,
    user_id: i64,
    code: &str,
    now_unix: u64,
) -> Result<Vec<SecretString>, StoreError> {
    let mut tx = pool.begin().await?;
    let user = sqlx::query!(
        r#"SELECT email, totp_secret IS NOT NULL AS "enrolled!", totp_pending
           FROM users WHERE id = $1 FOR UPDATE"#,
        user_id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(StoreError::NotFound {
        what: "user",
        id: user_id,
    })?;
    // A pending secret that no longer parses is as good as none: begin again.
    let secret = user
        .totp_pending
        .and_then(|s| totp::Secret::from_base32(&s).ok())
        .ok_or(StoreError::TotpNotStarted { user_id })?;
    let step = totp::verify(&secret, code, now_unix).ok_or(StoreError::TotpCode)?;
    sqlx::query!(
        "UPDATE users SET totp_secret = totp_pending, totp_pending = NULL, totp_last_step = $2
         WHERE id = $1",
        user_id,
        step_to_db(step),
    )
    .execute(&mut *tx)
    .await?;
    let (codes, hashes): (Vec<SecretString>, Vec<Vec<u8>>) = (0..RECOVERY_CODES)
        .map(|_| {
            let (code, hash) = token::recovery_code();
            (code, hash.to_vec())
        })
        .unzip();
    replace_recovery_codes(&mut tx, user_id, &hashes).await?;
    let before = json!({ "totp": user.enrolled });
    let after = json!({ "totp": true, "recovery_codes": RECOVERY_CODES });
    let target = Target::row("user", user_id, &user.email);
    audit::record(
        &mut tx,
        actor,
        "user.totp_enable",
        target,
        Some(before),
        Some(after),
    )
    .await?;
    tx.commit().await?;
    Ok(codes)
}

async fn replace_recovery_codes(
    conn: &mut PgConnection,
    user_id: i64,
    hashes: &[Vec<u8>],
) -> Result<(), StoreError> {
    sqlx::query!(
        "DELETE FROM totp_recovery_codes WHERE user_id = $1",
        user_id
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "INSERT INTO totp_recovery_codes (user_id, code_hash) SELECT $1, unnest($2::bytea[])",
        user_id,
        hashes
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Turns 2FA off (the user's own choice, or an admin's reset for a lost device): the
/// secret, any pending enrolment and the recovery codes are removed.
pub async fn totp_disable(pool: &PgPool, actor: &Actor, user_id: i64) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    let user = users::lock(&mut tx, user_id).await?;
    sqlx::query!(
        "UPDATE users SET totp_secret = NULL, totp_pending = NULL, totp_last_step = NULL
         WHERE id = $1",
        user_id
    )
    .execute(&mut *tx)
    .await?;
    replace_recovery_codes(&mut tx, user_id, &[]).await?;
    let before = json!({ "totp": user.totp_enrolled });
    let after = json!({ "totp": false });
    audit::record(
        &mut tx,
        actor,
        "user.totp_disable",
        users::target(&user),
        Some(before),
        Some(after),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Checks a login's second factor: a current TOTP code (±1 step) newer than the last one
/// accepted — a code cannot be used twice — or an unused recovery code, which is spent.
/// `false` for anything else, including a user without 2FA.
pub async fn second_factor(
    pool: &PgPool,
    user_id: i64,
    code: &str,
    now_unix: u64,
) -> Result<bool, StoreError> {
    let mut tx = pool.begin().await?;
    let Some(row) = sqlx::query!(
        "SELECT totp_secret, totp_last_step FROM users WHERE id = $1 FOR UPDATE",
        user_id
    )
    .fetch_optional(&mut *tx)
    .await?
    else {
        return Ok(false);
    };
    let Some(secret) = row
        .totp_secret
        .and_then(|s| totp::Secret::from_base32(&s).ok())
    else {
        return Ok(false);
    };
    let accepted = if let Some(step) = totp::verify(&secret, code, now_unix).map(step_to_db) {
        let fresh = row.totp_last_step.is_none_or(|last| step > last);
        if fresh {
            sqlx::query!(
                "UPDATE users SET totp_last_step = $2 WHERE id = $1",
                user_id,
                step
            )
            .execute(&mut *tx)
            .await?;
        }
        fresh
    } else if let Some(hash) = token::recovery_code_hash(code) {
        sqlx::query!(
            "UPDATE totp_recovery_codes SET used_at = now()
             WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
            user_id,
            &hash[..]
        )
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1
    } else {
        false
    };
    tx.commit().await?;
    Ok(accepted)
}

/// How many unused recovery codes the user has left.
pub async fn recovery_codes_left(pool: &PgPool, user_id: i64) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM totp_recovery_codes WHERE user_id = $1 AND used_at IS NULL"#,
        user_id
    )
    .fetch_one(pool)
    .await?)
}

/// A time step as stored (steps fit in 63 bits until long after the Sun is gone).
fn step_to_db(step: u64) -> i64 {
    i64::try_from(step).unwrap_or(i64::MAX)
}
