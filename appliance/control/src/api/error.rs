//! The API's errors: JSON `{"error": {"code", "message", "field"?}}` with a stable `code`
//! that clients (and the panel's translations) match on, and a human `message` in English.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::feed_switch::FeedSwitchError;
use crate::flow_doc::FieldError;
use crate::store::export::ImportError;
use crate::store::StoreError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
    /// Seconds before trying again (429, 503).
    pub retry_after: Option<u64>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
            retry_after: None,
        }
    }

    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", message)
    }

    pub fn forbidden() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "your role does not allow this",
        )
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_value", message).field(field)
    }

    pub fn too_many(retry_after: std::time::Duration) -> Self {
        let secs = retry_after.as_secs().max(1);
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("too many attempts; try again in {secs} s"),
        );
        e.retry_after = Some(secs);
        e
    }

    /// Every password slot is taken (a burst of sign-ins): 503 with `Retry-After`.
    pub fn busy() -> Self {
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            "too many password checks at once; try again in a few seconds",
        );
        e.retry_after = Some(crate::password::BUSY_RETRY_AFTER.as_secs().max(1));
        e
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; see the service log",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body {
            error: Inner {
                code: self.code,
                message: &self.message,
                field: self.field.as_deref(),
            },
        };
        let mut res = (self.status, axum::Json(body)).into_response();
        if let Some(s) = self.retry_after {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        res
    }
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> Self {
        ApiError::invalid(e.field, e.reason)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict { field } => ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                format!("{field} is already in use"),
            )
            .field(field),
            StoreError::NotFound { what, .. } => ApiError::not_found(what),
            StoreError::Field { field, reason } => ApiError::invalid(field, reason),
            StoreError::LastAdmin => ApiError::new(
                StatusCode::CONFLICT,
                "last_admin",
                "this would leave no enabled administrator",
            ),
            StoreError::Password(crate::password::PasswordError::Busy) => ApiError::busy(),
            StoreError::TotpCode => ApiError::invalid("code", "wrong two-factor code"),
            StoreError::TotpNotStarted { .. } => ApiError::new(
                StatusCode::CONFLICT,
                "totp_not_started",
                "begin the enrolment first (POST /api/v1/me/totp/begin)",
            ),
            StoreError::Check { constraint } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_value",
                format!("refused by the database rule {constraint}"),
            ),
            other => {
                tracing::error!("API: {other}");
                ApiError::internal()
            }
        }
    }
}

impl From<ImportError> for ApiError {
    fn from(e: ImportError) -> Self {
        match e {
            ImportError::Field(f) => f.into(),
            ImportError::NotEmpty { .. } => {
                ApiError::new(StatusCode::CONFLICT, "not_empty", e.to_string())
            }
            ImportError::State(s) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_value",
                s.to_string(),
            )
            .field("inputs"),
            ImportError::Store(s) => s.into(),
        }
    }
}

impl From<FeedSwitchError> for ApiError {
    fn from(e: FeedSwitchError) -> Self {
        use relevo_engine::SwitchError;
        match e {
            FeedSwitchError::Store(s) => s.into(),
            // Stored but not run by the engine: the input is disabled.
            FeedSwitchError::Engine(e @ SwitchError::UnknownInput(_)) => ApiError::new(
                StatusCode::CONFLICT,
                "feed_not_live",
                format!("{e}: the input is not running"),
            ),
            FeedSwitchError::Engine(e @ SwitchError::NoBackup(_)) => {
                ApiError::new(StatusCode::CONFLICT, "no_backup", e.to_string())
            }
            FeedSwitchError::Engine(e @ SwitchError::NotLive(_)) => {
                ApiError::new(StatusCode::CONFLICT, "feed_not_live", e.to_string()).field("feed")
            }
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
