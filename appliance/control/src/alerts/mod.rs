//! Alerts (issue #17): conditions an admin sets on flows, evaluated on the engine's
//! snapshot once a second, and messages sent to webhooks and by email when one starts and
//! when it resolves.
//!
//! - `rule`, `channel`: what admins configure ([`Rule`], [`Channel`]), stored by
//!   [`crate::store::alerts`];
//! - `evaluator`: each condition on a snapshot; `state`: the life of one alert (pending,
//!   firing, the repeat window that stops a flapping flow from sending a storm);
//!   `certificates`: the expiry of the watched PEM files;
//! - `watcher`: the task that runs both once a second and records starts and resolutions
//!   (flow events, deliveries);
//! - `message`: the words (es, en); `webhook`, `email`: the two ways out; `sender`: the
//!   queue's task (retries with backoff); `metrics`: their counters for `/metrics`.
//!
//! The alerts' state is in memory: a restart of the service evaluates from scratch. The
//! deliveries' queue is in PostgreSQL: a message queued before a restart is sent after it.

use std::path::PathBuf;
use std::sync::Arc;

use relevo_engine::Engine;
use sqlx::PgPool;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

pub use channel::{Channel, ChannelConfig, ChannelKind, SmtpSecurity};
pub use rule::{Condition, Rule};

pub mod certificates;
pub mod channel;
pub mod email;
pub mod evaluator;
pub mod message;
mod metrics;
pub mod rule;
pub mod sender;
pub mod state;
mod watcher;
pub mod webhook;

/// Delivery attempts before a message is given up as `failed` (`[alerts]
/// delivery_attempts`): with [`sender::BACKOFF`], six attempts span about 21 minutes.
pub const DEFAULT_DELIVERY_ATTEMPTS: u32 = 6;

/// What the binary tells the alerts about the appliance.
#[derive(Debug, Clone)]
pub struct AlertsConfig {
    /// Certificate files (PEM) to watch for expiry: RTMPS's `[tls] certificate`, HTTPS.
    pub certificates: Vec<PathBuf>,
    /// Attempts of one delivery before it is `failed` (at least 1).
    pub delivery_attempts: u32,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self {
            certificates: Vec::new(),
            delivery_attempts: DEFAULT_DELIVERY_ATTEMPTS,
        }
    }
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
    config: AlertsConfig,
    /// Rules, channels or settings changed.
    reload: Notify,
    /// Deliveries were queued.
    wake_sender: Notify,
    /// The engine is gone: the sender stops too.
    stop: CancellationToken,
    http: reqwest::Client,
    metrics: metrics::Metrics,
}

impl Alerts {
    /// Starts the evaluator on `engine`'s snapshots and the sender (tasks). Outside a Tokio
    /// runtime nothing is started (the handle still answers).
    pub fn start(pool: PgPool, engine: Engine, config: AlertsConfig) -> Self {
        let inner = Arc::new(Inner {
            pool,
            config: AlertsConfig {
                delivery_attempts: config.delivery_attempts.max(1),
                ..config
            },
            reload: Notify::new(),
            wake_sender: Notify::new(),
            stop: CancellationToken::new(),
            http: webhook::client(),
            metrics: metrics::Metrics::default(),
        });
        if tokio::runtime::Handle::try_current().is_ok() {
            tokio::spawn(watcher::run(inner.clone(), engine));
            tokio::spawn(sender::run(inner.clone()));
        }
        Self { inner }
    }

    /// Rules or channels changed: read them again now rather than at the next poll.
    pub fn reload(&self) {
        self.inner.reload.notify_one();
    }

    /// Sends a test message through one channel at once (not queued) and says how it went.
    pub async fn send_test(&self, channel_id: i64) -> Result<(), DeliveryError> {
        let pool = &self.inner.pool;
        let channel = crate::store::alerts::channels(pool)
            .await?
            .into_iter()
            .find(|c| c.id == channel_id)
            .ok_or(DeliveryError::UnknownChannel(channel_id))?;
        let settings = crate::store::alerts::settings(pool).await?;
        let message = message::AlertMessage {
            event: message::MessageEvent::Test,
            rule: String::new(),
            condition: None,
            input: None,
            output: None,
            value: None,
            threshold: None,
            at: time::OffsetDateTime::now_utc(),
            appliance: crate::store::settings::get(pool).await?.product_name,
            panel_url: settings.panel_url,
            still: false,
        };
        let result =
            sender::deliver(&self.inner.http, &channel, &message.payload(channel.lang)).await;
        self.inner
            .metrics
            .count(channel.config.kind(), result.is_ok());
        result.map_err(DeliveryError::Failed)
    }

    /// `relevo_alert_deliveries_total{channel_kind,result}` and `relevo_alerts_firing`
    /// lines for `/metrics`.
    pub fn metrics_text(&self) -> String {
        self.inner.metrics.text()
    }
}
