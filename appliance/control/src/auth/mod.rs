//! Authentication building blocks, without HTTP: the API layer composes them.
//!
//! - `token`: opaque random secrets (refresh, API and setup tokens, recovery codes) and
//!   their SHA-256 hashes, which is all the database keeps;
//! - `jwt`: short-lived HS256 access tokens carrying the user id and role;
//! - `totp`: RFC 6238 one-time codes, `otpauth://` URIs and their QR code;
//! - `limiter`: in-memory login lockouts and per-key API rate limits.
//!
//! What is stored (sessions, API tokens, 2FA state, the JWT key) lives in `store/`.

pub mod jwt;
pub mod limiter;
pub mod token;
pub mod totp;

pub use jwt::{AccessClaims, AuthError, JwtKeys};
pub use limiter::{ApiLimiter, LoginLimiter};
pub use token::{API_TOKEN_PREFIX, REFRESH_TOKEN_PREFIX, SETUP_TOKEN_PREFIX};
