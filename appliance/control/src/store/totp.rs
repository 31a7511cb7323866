//! A user's TOTP second factor as stored: the pending secret of an enrolment, the active
//! secret with the last step accepted (so a code cannot be replayed), and the recovery codes
//! (hashed, each spent once). The codes themselves are computed in `auth::totp`. The public
//! functions are re-exported from `users`, whose accounts they belong to.
//!
//! Secrets are stored sealed with the TOTP key ([`TotpKek`], a file outside the database), so
//! a database backup gives no second factor away; [`seal_clear_secrets`] seals, at start,
//! secrets an older Relevo stored in clear.

use secrecy::SecretString;
use serde_json::json;
use sqlx::{PgConnection, PgPool};

use super::audit::{self, Actor, Target};
use super::users;
use super::StoreError;
use crate::auth::{token, totp};
use crate::keys::{TotpKek, SEALED_PREFIX};

/// Recovery codes handed out per TOTP enrolment.
pub const RECOVERY_CODES: usize = 10;

/// Starts (or restarts) TOTP enrolment: a new secret is kept as pending, and only becomes
/// active once [`totp_confirm`] sees a code from it. Show it to the user as a QR code.
pub async fn totp_begin(
    pool: &PgPool,
    kek: &TotpKek,
    user_id: i64,
) -> Result<totp::Secret, StoreError> {
    let secret = totp::Secret::generate();
    let updated = sqlx::query!(
        "UPDATE users SET totp_pending = $2 WHERE id = $1",
        user_id,
        kek.seal(user_id, &secret.to_base32())
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
    kek: &TotpKek,
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
    // A pending secret that no longer opens or parses is as good as none: begin again.
    let secret = user
        .totp_pending
        .and_then(|s| open(kek, user_id, &s))
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
    kek: &TotpKek,
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
    let secret = row.totp_secret.and_then(|s| open(kek, user_id, &s));
    // Without its secret (no 2FA, or a secret that does not open) a recovery code still works.
    let step = secret.and_then(|secret| totp::verify(&secret, code, now_unix).map(step_to_db));
    let accepted = if let Some(step) = step {
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

/// A stored secret, opened; `None` (and an error in the log: the key file is the wrong one
/// or missing) when it does not open.
fn open(kek: &TotpKek, user_id: i64, stored: &str) -> Option<totp::Secret> {
    match kek.open(user_id, stored) {
        Ok(base32) => totp::Secret::from_base32(&base32).ok(),
        Err(e) => {
            tracing::error!(
                user_id,
                "{e}: was keys/totp.key restored with the database?"
            );
            None
        }
    }
}

/// Seals the TOTP secrets (active or pending) that are stored in clear, as an older Relevo
/// stored them; run at start, before any sign-in. Returns how many accounts were sealed.
pub async fn seal_clear_secrets(pool: &PgPool, kek: &TotpKek) -> Result<u64, StoreError> {
    let mut tx = pool.begin().await?;
    let rows = sqlx::query!(
        "SELECT id, totp_secret, totp_pending FROM users
         WHERE totp_secret NOT LIKE 'enc1:%' OR totp_pending NOT LIKE 'enc1:%'
         FOR UPDATE"
    )
    .fetch_all(&mut *tx)
    .await?;
    let seal = |id: i64, value: Option<String>| {
        value.map(|v| {
            if v.starts_with(SEALED_PREFIX) {
                v
            } else {
                kek.seal(id, &v)
            }
        })
    };
    for row in &rows {
        sqlx::query!(
            "UPDATE users SET totp_secret = $2, totp_pending = $3 WHERE id = $1",
            row.id,
            seal(row.id, row.totp_secret.clone()),
            seal(row.id, row.totp_pending.clone()),
        )
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(rows.len() as u64)
}

/// A time step as stored (steps fit in 63 bits until long after the Sun is gone).
fn step_to_db(step: u64) -> i64 {
    i64::try_from(step).unwrap_or(i64::MAX)
}
