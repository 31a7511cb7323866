//! Access tokens: short-lived JWTs (RFC 7519) signed with HS256 by a key only this service
//! knows (`keys::KeyDir::jwt`: a file outside the database, rotated monthly). They carry the user id, role and the user's
//! token generation (`gen`): the API reads the user row on every request and refuses a
//! token whose generation is older than the row's, which a password change, a disable, a
//! role change or a 2FA reset bump (migration 0018). Logout revokes its session's refresh
//! token only; the access token ends with its short lifetime.

use std::fmt;
use std::sync::RwLock;
use std::time::{Duration, SystemTime};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::domain::Role;
use crate::keys::JwtKeySet;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("the access token has expired")]
    Expired,
    /// Bad signature, another algorithm, malformed, missing claims: deliberately not told
    /// apart to the client.
    #[error("the access token is invalid")]
    Invalid,
    #[error("signing an access token: {0}")]
    Sign(#[source] jsonwebtoken::errors::Error),
}

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// The user's id (a decimal string on the wire: RFC 7519 §4.1.2 wants a string).
    #[serde(with = "id_as_string")]
    pub sub: i64,
    pub role: Role,
    /// Expiry, Unix seconds.
    pub exp: u64,
    /// Issued at, Unix seconds.
    pub iat: u64,
    /// The user's token generation when issued (tokens from before the claim existed: 0).
    #[serde(default)]
    pub gen: i64,
}

mod id_as_string {
    use serde::{de, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(id: &i64, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(id)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(de::Error::custom)
    }
}

/// The signing and verifying keys, and the rules a token must pass.
pub struct JwtKeys {
    ring: RwLock<Ring>,
    validation: Validation,
}

/// The key tokens are signed with and, after a rotation, the one it replaced.
struct Ring {
    current: Key,
    /// Accepted (never used to sign) until the given time: one access-token lifetime.
    previous: Option<(Key, SystemTime)>,
}

struct Key {
    /// Names the key in the token header (`kid`) without revealing it: 8 bytes of its
    /// SHA-256.
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl Key {
    fn new(secret: &[u8]) -> Self {
        Self {
            kid: data_encoding::HEXLOWER.encode(&Sha256::digest(secret)[..8]),
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
        }
    }
}

impl Ring {
    fn of(set: &JwtKeySet) -> Self {
        Self {
            current: Key::new(&set.current),
            previous: set
                .previous
                .as_ref()
                .map(|(key, until)| (Key::new(key), *until)),
        }
    }
}

impl fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JwtKeys(***)")
    }
}

impl JwtKeys {
    /// Keys from one shared secret (32 bytes or more).
    pub fn new(secret: &[u8]) -> Self {
        Self::from_set(&JwtKeySet {
            current: secret.to_vec(),
            previous: None,
        })
    }

    /// Keys from the key files ([`crate::keys::KeyDir::jwt`]).
    pub fn from_set(set: &JwtKeySet) -> Self {
        // Only HS256: a token claiming `none` or any other algorithm is refused, and `exp`
        // is required and checked without leeway (only this service issues and checks
        // them). `iat` and `role` are required by `AccessClaims` itself.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self {
            ring: RwLock::new(Ring::of(set)),
            validation,
        }
    }

    /// Puts the keys of a rotation in force: new tokens are signed with the new key, and
    /// tokens signed with the previous one stay valid until their lifetime ends.
    pub fn replace(&self, set: &JwtKeySet) {
        *self.ring.write().unwrap_or_else(|e| e.into_inner()) = Ring::of(set);
    }

    /// A token for `user_id` with `role` and token generation `gen`, valid for `ttl` from
    /// now.
    pub fn issue(
        &self,
        user_id: i64,
        role: Role,
        gen: i64,
        ttl: Duration,
    ) -> Result<String, AuthError> {
        let iat = jsonwebtoken::get_current_timestamp();
        let claims = AccessClaims {
            sub: user_id,
            role,
            exp: iat.saturating_add(ttl.as_secs()),
            iat,
            gen,
        };
        self.sign(&claims)
    }

    fn sign(&self, claims: &AccessClaims) -> Result<String, AuthError> {
        let ring = self.ring.read().unwrap_or_else(|e| e.into_inner());
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(ring.current.kid.clone());
        jsonwebtoken::encode(&header, claims, &ring.current.encoding).map_err(AuthError::Sign)
    }

    /// The claims of `token` if its signature is ours and it has not expired.
    pub fn verify(&self, token: &str) -> Result<AccessClaims, AuthError> {
        let kid = jsonwebtoken::decode_header(token)
            .map_err(|_| AuthError::Invalid)?
            .kid;
        let ring = self.ring.read().unwrap_or_else(|e| e.into_inner());
        let key = match (&ring.previous, kid) {
            (_, Some(kid)) if kid == ring.current.kid => &ring.current.decoding,
            (Some((previous, until)), Some(kid))
                if kid == previous.kid && SystemTime::now() < *until =>
            {
                &previous.decoding
            }
            (_, Some(_)) => return Err(AuthError::Invalid),
            // No key id: only the current key can have signed it.
            (_, None) => &ring.current.decoding,
        };
        jsonwebtoken::decode::<AccessClaims>(token, key, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => AuthError::Expired,
                _ => AuthError::Invalid,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn issue_then_verify() {
        let keys = JwtKeys::new(KEY);
        let token = keys
            .issue(42, Role::Tecnico, 3, Duration::from_secs(900))
            .expect("sign");
        let claims = keys.verify(&token).expect("valid");
        assert_eq!(
            (claims.sub, claims.role, claims.gen),
            (42, Role::Tecnico, 3)
        );
        assert_eq!(claims.exp - claims.iat, 900);
        let payload = token.split('.').nth(1).expect("payload");
        let payload = data_encoding::BASE64URL_NOPAD
            .decode(payload.as_bytes())
            .expect("base64url");
        let json: serde_json::Value = serde_json::from_slice(&payload).expect("json");
        assert_eq!(json["sub"], "42", "a string, as RFC 7519 asks");
        assert_eq!(json["role"], "tecnico");
    }

    #[test]
    fn expired_is_told_apart() {
        let keys = JwtKeys::new(KEY);
        let now = jsonwebtoken::get_current_timestamp();
        let old = AccessClaims {
            sub: 1,
            role: Role::Admin,
            exp: now - 1,
            iat: now - 901,
            gen: 0,
        };
        let token = keys.sign(&old).expect("sign");
        assert!(matches!(keys.verify(&token), Err(AuthError::Expired)));
    }

    #[test]
    fn other_key_other_algorithm_and_garbage_are_invalid() {
        let keys = JwtKeys::new(KEY);
        let other = JwtKeys::new(b"another key, also thirty-two bytes!");
        let token = other
            .issue(1, Role::Admin, 0, Duration::from_secs(60))
            .expect("sign");
        assert!(matches!(keys.verify(&token), Err(AuthError::Invalid)));

        // Same key, HS512: refused although the signature is right.
        let now = jsonwebtoken::get_current_timestamp();
        let claims = AccessClaims {
            sub: 1,
            role: Role::Admin,
            exp: now + 60,
            iat: now,
            gen: 0,
        };
        let hs512 = jsonwebtoken::encode(
            &Header::new(Algorithm::HS512),
            &claims,
            &EncodingKey::from_secret(KEY),
        )
        .expect("sign");
        assert!(matches!(keys.verify(&hs512), Err(AuthError::Invalid)));

        // alg "none": header and claims without a signature.
        let b64 = |s: &str| data_encoding::BASE64URL_NOPAD.encode(s.as_bytes());
        let unsigned = format!(
            "{}.{}.",
            b64(r#"{"alg":"none","typ":"JWT"}"#),
            b64(&format!(
                r#"{{"sub":"1","role":"admin","exp":{},"iat":{now}}}"#,
                now + 60
            ))
        );
        assert!(matches!(keys.verify(&unsigned), Err(AuthError::Invalid)));
        assert!(matches!(keys.verify("not.a.jwt"), Err(AuthError::Invalid)));
    }

    #[test]
    fn unknown_role_is_invalid() {
        let keys = JwtKeys::new(KEY);
        let now = jsonwebtoken::get_current_timestamp();
        let claims = serde_json::json!({ "sub": "1", "role": "root", "exp": now + 60, "iat": now });
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(KEY),
        )
        .expect("sign");
        assert!(matches!(keys.verify(&token), Err(AuthError::Invalid)));
    }
}

#[cfg(test)]
mod rotation_tests {
    use super::*;

    const OLD: &[u8] = b"the key before the rotation, 32 bytes+";
    const NEW: &[u8] = b"the key after the rotation, 32 bytes or more";

    fn token(keys: &JwtKeys) -> String {
        let now = jsonwebtoken::get_current_timestamp();
        let claims =
            serde_json::json!({ "sub": "1", "role": "admin", "exp": now + 60, "iat": now });
        let claims: AccessClaims = serde_json::from_value(claims).expect("claims");
        keys.sign(&claims).expect("sign")
    }

    #[test]
    fn tokens_of_the_previous_key_stay_valid_for_one_lifetime_only() {
        let keys = JwtKeys::new(OLD);
        let before = token(&keys);
        let until = SystemTime::now() + Duration::from_secs(900);
        keys.replace(&JwtKeySet {
            current: NEW.to_vec(),
            previous: Some((OLD.to_vec(), until)),
        });
        let after = token(&keys);
        assert!(keys.verify(&before).is_ok(), "signed before the rotation");
        assert!(keys.verify(&after).is_ok());
        assert_ne!(
            jsonwebtoken::decode_header(&before).expect("header").kid,
            jsonwebtoken::decode_header(&after).expect("header").kid
        );

        // Once the previous key's time is up (or it is gone), its tokens are refused.
        keys.replace(&JwtKeySet {
            current: NEW.to_vec(),
            previous: Some((OLD.to_vec(), SystemTime::now() - Duration::from_secs(1))),
        });
        assert!(matches!(keys.verify(&before), Err(AuthError::Invalid)));
        assert!(keys.verify(&after).is_ok());
    }
}
