//! Request bodies: JSON only, strict, and a refused body names the field. axum's own `Json`
//! rejection is a plain-text sentence; ours is an [`ApiError`] with the path of the field
//! (`outputs[0].latency_ms`) from `serde_path_to_error`.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// The largest body the API reads (a configuration import with a logo fits).
pub const MAX_BODY: usize = 4 * 1024 * 1024;

#[derive(Debug, Clone, Copy, Default)]
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(';').next().map(str::trim) == Some("application/json"));
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "the body must be JSON (Content-Type: application/json)",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                e.body_text(),
            )
        })?;
        parse(&bytes).map(Body)
    }
}

/// Parses a JSON body: malformed JSON is 400 `malformed_json`; a body of the wrong shape
/// (unknown field, missing field, wrong type) is 422 `invalid_body` naming the field.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            return ApiError::new(
                StatusCode::BAD_REQUEST,
                "malformed_json",
                format!("the body is not valid JSON: {inner}"),
            );
        }
        let message = inner.to_string();
        // The path already ends with an unknown field's name; a missing field is reported
        // at its parent's path, so name it from the message.
        let field = match missing_field(&message) {
            Some(f) if path == "." => f.to_owned(),
            Some(f) => format!("{path}.{f}"),
            None => path,
        };
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body", message)
            .field(field.trim_start_matches('.').to_owned())
    })
}

/// The field named by serde's "missing field `x`" message.
fn missing_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("missing field `")?;
    rest.split('`').next()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow_doc::InputDoc;

    #[test]
    fn malformed_json_is_400() {
        let e = parse::<InputDoc>(b"{\"name\": ").expect_err("malformed");
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert_eq!(e.code, "malformed_json");
    }

    #[test]
    fn unknown_field_is_named() {
        let e =
            parse::<InputDoc>(br#"{"name": "a", "key": "k", "latency": 1}"#).expect_err("unknown");
        assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(e.field.as_deref(), Some("latency"));
    }

    #[test]
    fn missing_field_is_named() {
        let e = parse::<InputDoc>(br#"{"key": "k"}"#).expect_err("missing");
        assert_eq!(e.field.as_deref(), Some("name"));
    }

    #[test]
    fn wrong_type_is_named() {
        let e = parse::<InputDoc>(br#"{"name": "a", "key": "k", "latency_ms": "fast"}"#)
            .expect_err("type");
        assert_eq!(e.field.as_deref(), Some("latency_ms"));
    }
}
