//! Retention: minute rows and events older than `[history] retention_days` are deleted at
//! start and then once an hour (both tables are indexed by time).

use std::time::Duration;

use sqlx::PgPool;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use crate::store::history::delete_older_than;

/// How often old rows are deleted: retention is counted in days, an hour late is nothing.
pub(crate) const RETENTION_PERIOD: Duration = Duration::from_secs(3600);

/// Deletes what is older than `retention` now, and again every [`RETENTION_PERIOD`] until
/// `cancel`.
pub(crate) async fn run(pool: PgPool, retention: time::Duration, cancel: CancellationToken) {
    let mut tick = tokio::time::interval(RETENTION_PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        let before = OffsetDateTime::now_utc() - retention;
        match delete_older_than(&pool, before).await {
            Ok((minutes, events)) if minutes + events > 0 => {
                tracing::info!(minutes, events, "history: deleted rows past the retention");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!("history: retention delete failed: {e}"),
        }
    }
}
