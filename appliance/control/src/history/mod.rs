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

//!
//! Layout: `collector` (a snapshot folded into seconds), `ring` (the last hour in memory),
//! `minute` (the minute being counted, rows to write), `events` (snapshot differences),
//! `retention` (old rows deleted), `task` (the collector and writer tasks).

mod collector;
mod events;
#[cfg(test)]
pub(crate) mod fixtures;
mod minute;
mod retention;
mod ring;
mod task;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use relevo_engine::metrics::FlowState;
use relevo_engine::Engine;
use sqlx::PgPool;
use time::OffsetDateTime;

use crate::store::history::{self as store, MinuteRow};
use crate::store::StoreError;

pub use ring::BYTES_PER_SECOND;
pub use task::bench_fold;

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
    state: Mutex<task::State>,
}

impl History {
    /// Starts the collector on `engine`'s snapshots (a task; needs a Tokio runtime). It
    /// ends when the engine's snapshot channel closes (shutdown).
    pub fn start(pool: PgPool, engine: Engine, config: HistoryConfig) -> Self {
        let inner = Arc::new(Inner {
            pool,
            state: Mutex::new(task::State::default()),
        });
        task::spawn(inner.clone(), engine.subscribe(), config.retention);
        Self { inner }
    }

    /// The last hour of `flow` at one-second resolution (oldest first); empty for an
    /// unknown flow.
    pub fn seconds(&self, flow: &FlowRef) -> Vec<Second> {
        self.inner.lock().rings.seconds(flow)
    }

    /// `flow`'s rows between `from` and `to`, grouped into buckets of `bucket` (a whole
    /// number of minutes: sums for seconds and counts, mean of means, min of minima, max of
    /// maxima), with the minute still counted in memory included. Buckets are aligned on
    /// whole multiples of `bucket` since the Unix epoch (UTC), like `date_bin`.
    pub async fn minutes(
        &self,
        flow: &FlowRef,
        from: OffsetDateTime,
        to: OffsetDateTime,
        bucket: Duration,
    ) -> Result<Vec<MinuteRow>, StoreError> {
        let bucket_secs = (bucket.as_secs() / 60).max(1) as i64 * 60;
        let origin = OffsetDateTime::UNIX_EPOCH;
        let from = minute::minute_of(from);
        let mut rows = store::minutes(
            &self.inner.pool,
            &flow.input,
            flow.output.as_deref(),
            from,
            to,
            bucket_secs,
            origin,
        )
        .await?;
        let memory = self.inner.lock().memory_rows(flow);
        let bin = |t: OffsetDateTime| {
            let s = t.unix_timestamp();
            OffsetDateTime::from_unix_timestamp(s - s.rem_euclid(bucket_secs)).unwrap_or(t)
        };
        let mut by_bucket: HashMap<OffsetDateTime, usize> = rows
            .iter()
            .enumerate()
            .map(|(i, r)| (r.minute, i))
            .collect();
        for mut m in memory
            .into_iter()
            .filter(|m| m.minute >= from && m.minute < to)
        {
            m.minute = bin(m.minute);
            match by_bucket.get(&m.minute) {
                Some(&i) => task::merge_row(&mut rows[i], &m),
                None => {
                    by_bucket.insert(m.minute, rows.len());
                    rows.push(m);
                }
            }
        }
        rows.sort_by_key(|r| r.minute);
        Ok(rows)
    }

    /// `flow`'s availability between `from` and `to`: the seconds it was live while meant
    /// to run, over the seconds it was meant to run. Inside the last hour the one-second
    /// ring counts exactly; before it, whole minute rows overlapping the window count.
    pub async fn availability(
        &self,
        flow: &FlowRef,
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> Result<Availability, StoreError> {
        // Where the ring's exact seconds take over from minute rows: the first whole minute
        // the ring holds (the seconds before it are in that minute's row).
        let (cut, ring_covers, mut live, mut meant, pending) = {
            let state = self.inner.lock();
            let cut = state
                .rings
                .oldest(flow)
                .map(|o| {
                    let m = minute::minute_of(o);
                    if m == o {
                        m
                    } else {
                        m + time::Duration::MINUTE
                    }
                })
                .unwrap_or(OffsetDateTime::now_utc() + time::Duration::DAY);
            let (mut live, mut meant) = (0u64, 0u64);
            let ring_covers = state.rings.oldest(flow).is_some_and(|o| from >= o);
            let ring_from = if ring_covers { from } else { from.max(cut) };
            for s in state.rings.between(flow, ring_from, to) {
                meant += u64::from(s.meant);
                live += u64::from(s.meant && s.state == StateClass::Live);
            }
            let pending = state.memory_rows(flow);
            (cut, ring_covers, live, meant, pending)
        };
        let until = to.min(cut);
        let start = minute::minute_of(from);
        // A window that starts inside the ring is counted by the ring alone.
        if start < until && !ring_covers {
            let (l, m) = store::live_and_meant(
                &self.inner.pool,
                &flow.input,
                flow.output.as_deref(),
                start,
                until,
            )
            .await?;
            live += l.max(0) as u64;
            meant += m.max(0) as u64;
            for r in pending
                .iter()
                .filter(|r| r.minute >= start && r.minute < until)
            {
                live += r.secs_live.min(r.secs_meant).max(0) as u64;
                meant += r.secs_meant.max(0) as u64;
            }
        }
        Ok(Availability {
            live_secs: live,
            meant_secs: meant,
            ratio: (meant > 0).then(|| live as f64 / meant as f64),
        })
    }

    /// Writes the minute being counted (at shutdown: a restart loses no history), and the
    /// events not written yet.
    pub async fn flush(&self) {
        let (rows, events) = {
            let mut state = self.inner.lock();
            state.minutes.close();
            (state.minutes.take_pending(), state.take_events())
        };
        task::write(&self.inner, rows, events).await;
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, task::State> {
        // A panic while folding leaves the figures as they were: keep serving them.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
#[path = "minute_tests.rs"]
mod minute_tests;
