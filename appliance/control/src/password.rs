//! Password hashing: Argon2id with explicit parameters, run on the blocking pool.
//!
//! Parameters are OWASP's first Argon2id recommendation (19 MiB, 2 passes, 1 lane): about
//! 30–60 ms on the appliance's CPU, cheap enough for login, expensive enough offline.
//! Unknown users are verified against a dummy hash with the same parameters, so the time
//! a login takes does not tell whether the account exists.

use std::sync::OnceLock;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};

/// Memory cost in KiB (19 MiB).
pub const M_COST_KIB: u32 = 19 * 1024;
pub const T_COST: u32 = 2;
pub const P_COST: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("password hashing failed: {0}")]
    Hash(argon2::password_hash::Error),
    #[error("password hashing task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

fn hasher() -> Argon2<'static> {
    let params = Params::new(M_COST_KIB, T_COST, P_COST, None)
        .unwrap_or_else(|_| unreachable!("constant Argon2 parameters are valid"));
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes `password` into a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`).
pub async fn hash(password: SecretString) -> Result<String, PasswordError> {
    tokio::task::spawn_blocking(move || hash_blocking(&password))
        .await?
        .map_err(PasswordError::Hash)
}

fn hash_blocking(password: &SecretString) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(hasher()
        .hash_password(password.expose_secret().as_bytes(), &salt)?
        .to_string())
}

/// Checks `password` against `phc`, or against a dummy hash when `phc` is `None` (unknown
/// user) so that both cases cost the same; the dummy case is always `false`. A stored hash
/// that does not parse counts as a mismatch.
pub async fn verify(phc: Option<String>, password: SecretString) -> Result<bool, PasswordError> {
    Ok(tokio::task::spawn_blocking(move || {
        let known = phc.is_some();
        let phc = phc.unwrap_or_else(|| dummy_hash().to_owned());
        let ok = PasswordHash::new(&phc).is_ok_and(|parsed| {
            hasher()
                .verify_password(password.expose_secret().as_bytes(), &parsed)
                .is_ok()
        });
        known && ok
    })
    .await?)
}

/// A hash of a random password, computed once per process.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let random = SaltString::generate(&mut OsRng);
        hash_blocking(&SecretString::from(random.as_str().to_owned())).unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_uses_the_explicit_parameters_and_verifies() {
        let phc = hash(SecretString::from("correct horse battery"))
            .await
            .expect("hash");
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        let ok = verify(Some(phc.clone()), "correct horse battery".into()).await;
        assert!(ok.expect("verify"));
        let wrong = verify(Some(phc), "incorrect horse battery".into()).await;
        assert!(!wrong.expect("verify"));
        assert!(!verify(None, "anything".into()).await.expect("verify"));
    }
}
