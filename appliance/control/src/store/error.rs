//! The store's error: what callers must tell apart (a conflict, a missing row, a stored row
//! that no longer validates) and everything else as a database error.

use relevo_engine::spec::{SpecError, StateError};

/// Unique constraints and the field an API should name when one is violated.
const UNIQUE_FIELDS: &[(&str, &str)] = &[
    ("users_email_key", "email"),
    ("inputs_name_key", "name"),
    ("outputs_input_id_name_key", "name"),
    ("stream_keys_pkey", "key"),
    // Raised by the key trigger when an input's backup key is taken (migration 0025).
    ("stream_keys_backup_key", "backup.key"),
    ("inputs_own_srt_port_key", "srt_port"),
    ("api_tokens_name_key", "name"),
];

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique value is taken (email, input name, output name within its input, stream key).
    #[error("{field} is already in use")]
    Conflict { field: &'static str },
    /// A value handed to the store is refused before it reaches the database.
    #[error("{field}: {reason}")]
    Field { field: &'static str, reason: String },
    #[error("{what} {id} does not exist")]
    NotFound { what: &'static str, id: i64 },
    /// A value handed to the store is refused by the schema (a CHECK constraint).
    #[error("refused by the database constraint {constraint}")]
    Check { constraint: String },
    /// A stored row no longer passes the spec's validation (edited by hand, or the rules got
    /// stricter): the row is named so an operator can fix it.
    #[error("stored {what} {id}: {field}: {reason}")]
    Invalid {
        what: &'static str,
        id: i64,
        field: &'static str,
        reason: SpecError,
    },
    /// The stored flows as a whole are inconsistent.
    #[error("stored flows: {0}")]
    State(#[from] StateError),
    /// The change would leave no enabled admin (delete, demote or disable the last one).
    #[error("this would leave no enabled admin")]
    LastAdmin,
    /// A TOTP code did not match (enrolment confirmation).
    #[error("the TOTP code is wrong")]
    TotpCode,
    /// TOTP confirmation without an enrolment begun (`users::totp_begin`).
    #[error("no TOTP enrolment is in progress for user {user_id}")]
    TotpNotStarted { user_id: i64 },
    #[error(transparent)]
    Password(#[from] crate::password::PasswordError),
    #[error("migrating the database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database: {0}")]
    Database(sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e {
            let constraint = db.constraint().unwrap_or_default();
            match db.kind() {
                sqlx::error::ErrorKind::UniqueViolation => {
                    if let Some((_, field)) = UNIQUE_FIELDS.iter().find(|(c, _)| *c == constraint) {
                        return StoreError::Conflict { field };
                    }
                }
                sqlx::error::ErrorKind::CheckViolation => {
                    return StoreError::Check {
                        constraint: constraint.to_owned(),
                    }
                }
                _ => {}
            }
        }
        StoreError::Database(e)
    }
}
