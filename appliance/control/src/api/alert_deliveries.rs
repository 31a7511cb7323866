//! `GET /api/v1/alerts/deliveries` (admin only, like the channels they went to): the alert
//! messages queued, sent and failed, newest first, with their attempts and last error, so
//! an admin sees a channel that does not deliver. `?limit=` (1–500, default 100) and
//! `?before_id=` page back.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;

use super::auth::{Can, ADMIN};
use super::error::{ApiError, ApiResult};
use super::ApiState;
use crate::store::alert_deliveries::{self, DeliveryPage};

/// The largest page (the events' limit too).
pub const MAX_LIMIT: u32 = 500;
const DEFAULT_LIMIT: u32 = 100;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveriesQuery {
    pub limit: Option<i64>,
    pub before_id: Option<i64>,
}

pub async fn list(
    State(s): State<ApiState>,
    _: Can<ADMIN>,
    q: Result<Query<DeliveriesQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<DeliveryPage>> {
    let Query(q) =
        q.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", e.body_text()))?;
    let limit = match q.limit {
        None => DEFAULT_LIMIT,
        Some(n) if (1..=i64::from(MAX_LIMIT)).contains(&n) => n as u32,
        Some(_) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_query",
                format!("limit must be between 1 and {MAX_LIMIT}"),
            ))
        }
    };
    Ok(Json(
        alert_deliveries::list(s.control.pool(), limit, q.before_id).await?,
    ))
}
