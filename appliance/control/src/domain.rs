//! Validated values the store accepts from the outside world (API, CLI): an email address,
//! a password, a role. Flow values (names, keys, latencies…) are `relevo_engine::spec`'s.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

/// Why a value was refused; `Display` is meant to follow the field's name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("{0:?} is not an email address")]
    Email(String),
    #[error("a password must be {min}–{max} characters long", min = Password::MIN_LEN, max = Password::MAX_LEN)]
    PasswordLength,
    #[error("{0:?} is not a role: use admin, tecnico or visor")]
    Role(String),
}

/// A user's email address: trimmed, 3–254 characters (RFC 5321's path limit), one `@` with
/// something on both sides, no whitespace. Case is kept for display; uniqueness and lookups
/// ignore it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub const MAX_LEN: usize = 254;

    pub fn new(s: &str) -> Result<Self, DomainError> {
        let s = s.trim();
        let ok = (3..=Self::MAX_LEN).contains(&s.chars().count())
            && !s.chars().any(|c| c.is_whitespace() || c.is_control())
            && matches!(s.split_once('@'), Some((l, d)) if !l.is_empty() && !d.is_empty() && !d.contains('@'));
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(DomainError::Email(s.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A new password. 12 characters at least (an appliance's admin account faces the network);
/// at most 1024 so that hashing cannot be made arbitrarily expensive. Never printed.
#[derive(Debug, Clone)]
pub struct Password(SecretString);

impl Password {
    pub const MIN_LEN: usize = 12;
    pub const MAX_LEN: usize = 1024;

    pub fn new(s: SecretString) -> Result<Self, DomainError> {
        let n = s.expose_secret().chars().count();
        if (Self::MIN_LEN..=Self::MAX_LEN).contains(&n) {
            Ok(Self(s))
        } else {
            Err(DomainError::PasswordLength)
        }
    }

    pub fn secret(&self) -> &SecretString {
        &self.0
    }
}

/// DESIGN.md §2 roles; the PostgreSQL enum `user_role`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, sqlx::Type, serde::Serialize, serde::Deserialize,
)]
#[sqlx(type_name = "user_role", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything, including users and settings.
    Admin,
    /// Inputs, outputs, start/stop.
    Tecnico,
    /// Read only, secrets masked.
    Visor,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Tecnico => "tecnico",
            Role::Visor => "visor",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "admin" => Ok(Role::Admin),
            "tecnico" | "técnico" => Ok(Role::Tecnico),
            "visor" => Ok(Role::Visor),
            _ => Err(DomainError::Role(s.to_owned())),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(
            Email::new("  Ana@Example.org ").map(|e| e.0),
            Ok("Ana@Example.org".into())
        );
        for bad in ["", "a@", "@b", "a b@c", "a@b@c", "plain"] {
            assert!(Email::new(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn password_bounds_are_inclusive() {
        let p = |n: usize| Password::new(SecretString::from("x".repeat(n)));
        assert!(p(Password::MIN_LEN - 1).is_err());
        assert!(p(Password::MIN_LEN).is_ok());
        assert!(p(Password::MAX_LEN).is_ok());
        assert!(p(Password::MAX_LEN + 1).is_err());
    }

    #[test]
    fn password_never_shows_in_debug() {
        let p = Password::new(SecretString::from("correct horse battery")).expect("valid");
        assert!(!format!("{p:?}").contains("horse"));
    }

    #[test]
    fn roles_parse() {
        assert_eq!("Técnico".parse::<Role>(), Ok(Role::Tecnico));
        assert_eq!("ADMIN".parse::<Role>(), Ok(Role::Admin));
        assert!("root".parse::<Role>().is_err());
    }
}
