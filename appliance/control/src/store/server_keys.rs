//! Keys the service makes for itself: created on first use, kept in `server_keys` so that
//! what they sign survives a restart.

use sqlx::PgPool;

use super::StoreError;
use crate::auth::token;

/// Bytes of the JWT key: HS256's block size, above the 32 RFC 7518 §3.2 asks for.
const JWT_KEY_LEN: usize = 64;

/// The HS256 key for access tokens, created at random on the first call. Race-safe: of two
/// services starting at once, one key wins and both read it.
pub async fn jwt_secret(pool: &PgPool) -> Result<Vec<u8>, StoreError> {
    let fresh = token::random_bytes::<JWT_KEY_LEN>();
    sqlx::query!(
        "INSERT INTO server_keys (name, key) VALUES ('jwt', $1) ON CONFLICT (name) DO NOTHING",
        &fresh[..]
    )
    .execute(pool)
    .await?;
    Ok(
        sqlx::query_scalar!("SELECT key FROM server_keys WHERE name = 'jwt'")
            .fetch_one(pool)
            .await?,
    )
}
