//! Opaque secrets handed to clients: 32 random bytes behind a prefix that says what the
//! token is (`rlv_rt_` refresh, `rlv_at_` API, `rlv_setup_` first-admin setup), so a leaked
//! token is recognisable by secret scanners. The database keeps only the SHA-256 of the
//! whole string: the secrets are random with 256 bits of entropy, so a fast hash is enough
//! (a slow password hash protects guessable secrets; these are not guessable).

use data_encoding::{BASE32_NOPAD, BASE64URL_NOPAD};
use rand::rngs::OsRng;
use rand::RngCore;
use secrecy::SecretString;
use sha2::{Digest, Sha256};

/// Prefix of refresh tokens.
pub const REFRESH_TOKEN_PREFIX: &str = "rlv_rt_";
/// Prefix of API tokens.
pub const API_TOKEN_PREFIX: &str = "rlv_at_";
/// Prefix of the first-admin setup token.
pub const SETUP_TOKEN_PREFIX: &str = "rlv_setup_";

/// Random characters in a recovery code (base32: 5 bits each, 50 bits in all).
const RECOVERY_CHARS: usize = 10;

/// A new token: `prefix` followed by 32 random bytes in unpadded base64url. Returns the
/// plaintext, to be shown once, and the hash to store.
pub fn generate(prefix: &str) -> (SecretString, [u8; 32]) {
    let plaintext = format!("{prefix}{}", BASE64URL_NOPAD.encode(&random_bytes::<32>()));
    let hash = hash(&plaintext);
    (SecretString::from(plaintext), hash)
}

/// The SHA-256 of a presented token, to look it up by.
pub fn hash(presented: &str) -> [u8; 32] {
    Sha256::digest(presented.as_bytes()).into()
}

/// `N` bytes from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    OsRng.fill_bytes(&mut bytes);
    bytes
}

/// A new recovery code such as `k3v7q-p2xma` and its hash. 50 random bits are plenty
/// against online guessing (login is rate limited); offline, whoever reads the hashes reads
/// the TOTP secret beside them anyway, so SHA-256 is enough here too.
pub fn recovery_code() -> (SecretString, [u8; 32]) {
    let raw = BASE32_NOPAD
        .encode(&random_bytes::<7>())
        .to_ascii_lowercase();
    let code = &raw[..RECOVERY_CHARS];
    let shown = format!("{}-{}", &code[..5], &code[5..]);
    (SecretString::from(shown), hash(code))
}

/// The hash of a presented recovery code, ignoring case, spaces and dashes; `None` if it
/// cannot be one.
pub fn recovery_code_hash(presented: &str) -> Option<[u8; 32]> {
    let code: String = presented
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let valid =
        code.len() == RECOVERY_CHARS && code.chars().all(|c| matches!(c, 'a'..='z' | '2'..='7'));
    valid.then(|| hash(&code))
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn tokens_are_prefixed_random_and_hashed_whole() {
        let (a, ha) = generate(REFRESH_TOKEN_PREFIX);
        let (b, hb) = generate(REFRESH_TOKEN_PREFIX);
        let a = a.expose_secret();
        assert!(a.starts_with("rlv_rt_"), "{a}");
        assert_eq!(a.len(), "rlv_rt_".len() + 43, "32 bytes in base64url");
        assert_ne!(a, b.expose_secret());
        assert_ne!(ha, hb);
        assert_eq!(hash(a), ha);
    }

    #[test]
    fn recovery_codes_normalise_before_hashing() {
        let (code, h) = recovery_code();
        let code = code.expose_secret();
        assert_eq!(code.len(), 11);
        assert_eq!(code.as_bytes()[5], b'-');
        assert_eq!(recovery_code_hash(code), Some(h));
        let sloppy = format!(" {} ", code.to_uppercase().replace('-', " "));
        assert_eq!(recovery_code_hash(&sloppy), Some(h));
        assert_eq!(recovery_code_hash("123456"), None);
        assert_eq!(recovery_code_hash("aaaaa-aaaa1"), None);
    }
}
