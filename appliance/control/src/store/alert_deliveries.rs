//! SQL of the alert deliveries (`alert_deliveries`, migration 0029): the sender's queue
//! (one row per message and channel, retried with backoff) and its record, shown by
//! `GET /api/v1/alerts/deliveries`.

use serde::Serialize;
use sqlx::PgPool;
use time::OffsetDateTime;

use super::history::NewEvent;
use super::StoreError;

/// What a delivery tells of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryKind {
    Started,
    Resolved,
    Test,
}

impl DeliveryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryKind::Started => "started",
            DeliveryKind::Resolved => "resolved",
            DeliveryKind::Test => "test",
        }
    }
}

/// A message to queue for one channel.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDelivery {
    pub channel_id: i64,
    pub kind: DeliveryKind,
    /// The message as it will be sent (never a secret).
    pub payload: serde_json::Value,
}

/// A delivery as the sender and the API read it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Delivery {
    pub id: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub event_id: Option<i64>,
    pub channel_id: i64,
    pub channel_name: String,
    pub channel_kind: String,
    /// `started`, `resolved` or `test`.
    pub kind: String,
    pub payload: serde_json::Value,
    /// `pending`, `sent` or `failed`.
    pub state: String,
    pub attempts: i32,
    #[serde(with = "time::serde::rfc3339")]
    pub next_attempt_at: OffsetDateTime,
    pub last_error: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub sent_at: Option<OffsetDateTime>,
}

/// One page of deliveries, newest first, and where the next one starts.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryPage {
    pub deliveries: Vec<Delivery>,
    /// Pass as `before_id` for the next (older) page; `None` at the end.
    pub next_before_id: Option<i64>,
}

/// The longest error text kept (the column's CHECK).
const MAX_ERROR_CHARS: usize = 1000;

/// Writes an alert event and its deliveries in one transaction, so that a delivery always
/// links to its event and an event never lacks the deliveries it announced. Returns the
/// event's id.
pub async fn record_alert(
    pool: &PgPool,
    event: &NewEvent,
    deliveries: &[NewDelivery],
) -> Result<i64, StoreError> {
    let mut tx = pool.begin().await?;
    let event_id = sqlx::query_scalar!(
        "INSERT INTO flow_events (at, input, output, kind, severity, detail, audit_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        event.at,
        event.input,
        event.output.clone().unwrap_or_default(),
        event.kind,
        event.severity.as_str(),
        event.detail,
        event.audit_id,
    )
    .fetch_one(&mut *tx)
    .await?;
    if !deliveries.is_empty() {
        let channels: Vec<i64> = deliveries.iter().map(|d| d.channel_id).collect();
        let kinds: Vec<String> = deliveries
            .iter()
            .map(|d| d.kind.as_str().to_owned())
            .collect();
        let payloads: Vec<serde_json::Value> =
            deliveries.iter().map(|d| d.payload.clone()).collect();
        sqlx::query!(
            "INSERT INTO alert_deliveries (event_id, channel_id, kind, payload)
             SELECT $1, * FROM UNNEST($2::int8[], $3::text[], $4::jsonb[])",
            event_id,
            &channels,
            &kinds,
            &payloads,
        )
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(event_id)
}

/// The pending deliveries that are due, oldest due first, at most `limit`.
pub async fn due(pool: &PgPool, limit: i64) -> Result<Vec<Delivery>, StoreError> {
    let rows = sqlx::query_as!(
        Delivery,
        r#"SELECT d.id, d.created_at, d.event_id, d.channel_id, c.name AS channel_name,
                  c.kind AS channel_kind, d.kind, d.payload, d.state, d.attempts,
                  d.next_attempt_at, d.last_error, d.sent_at
           FROM alert_deliveries d JOIN alert_channels c ON c.id = d.channel_id
           WHERE d.state = 'pending' AND d.next_attempt_at <= now()
           ORDER BY d.next_attempt_at, d.id
           LIMIT $1"#,
        limit,
    )
    .fetch_all(pool)
    .await?;
    Ok(rows)
}

/// A delivery went out.
pub async fn mark_sent(pool: &PgPool, id: i64) -> Result<(), StoreError> {
    sqlx::query!(
        "UPDATE alert_deliveries
         SET state = 'sent', attempts = attempts + 1, sent_at = now(), last_error = NULL
         WHERE id = $1",
        id,
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// An attempt failed: try again after `retry_in`, or give up (`None`: state `failed`).
pub async fn mark_attempt_failed(
    pool: &PgPool,
    id: i64,
    error: &str,
    retry_in: Option<std::time::Duration>,
) -> Result<(), StoreError> {
    let error: String = error.chars().take(MAX_ERROR_CHARS).collect();
    let retry_ms = retry_in.map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    sqlx::query!(
        "UPDATE alert_deliveries
         SET attempts = attempts + 1, last_error = $2,
             state = CASE WHEN $3::int8 IS NULL THEN 'failed' ELSE 'pending' END,
             next_attempt_at = now() + make_interval(secs => coalesce($3::int8, 0) / 1000.0)
         WHERE id = $1",
        id,
        error,
        retry_ms,
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Deliveries, newest first: at most `limit`, with an id below `before_id` when given.
pub async fn list(
    pool: &PgPool,
    limit: u32,
    before_id: Option<i64>,
) -> Result<DeliveryPage, StoreError> {
    let rows = sqlx::query_as!(
        Delivery,
        r#"SELECT d.id, d.created_at, d.event_id, d.channel_id, c.name AS channel_name,
                  c.kind AS channel_kind, d.kind, d.payload, d.state, d.attempts,
                  d.next_attempt_at, d.last_error, d.sent_at
           FROM alert_deliveries d JOIN alert_channels c ON c.id = d.channel_id
           WHERE $1::int8 IS NULL OR d.id < $1
           ORDER BY d.id DESC
           LIMIT $2"#,
        before_id,
        i64::from(limit) + 1,
    )
    .fetch_all(pool)
    .await?;
    let mut deliveries = rows;
    let next_before_id = if deliveries.len() > limit as usize {
        deliveries.truncate(limit as usize);
        deliveries.last().map(|d| d.id)
    } else {
        None
    };
    Ok(DeliveryPage {
        deliveries,
        next_before_id,
    })
}
