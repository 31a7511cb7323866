//! The collector's tasks: one follows the engine's snapshots and folds each into the
//! in-memory state; one writes what is due (the minute rows when a minute closes, events at
//! most once a second), so a slow database never delays the counting.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use relevo_engine::metrics::Snapshot;
use time::OffsetDateTime;
use tokio::sync::{watch, Notify};
use tokio_util::sync::CancellationToken;

use super::collector::Folder;
use super::events::{Differ, MAX_PENDING_EVENTS};
use super::minute::{minute_of, Minutes};
use super::ring::Rings;
use super::{retention, FlowRef, Inner};
use crate::store::history::{self as store, MinuteRow, NewEvent};

/// Events are written at most this often (one batched insert each time).
const EVENT_WRITE_PERIOD: Duration = Duration::from_secs(1);

/// Everything the collector keeps in memory.
#[derive(Debug, Default)]
pub(crate) struct State {
    folder: Folder,
    differ: Differ,
    pub rings: Rings,
    pub minutes: Minutes,
    events: VecDeque<NewEvent>,
    /// Events lost because the queue was full (the database refused them for long).
    events_lost: u64,
    /// A write failed: the next success says the database is back.
    failing: bool,
}

impl State {
    /// Folds one snapshot taken at `at`.
    pub fn apply(&mut self, snap: &Arc<Snapshot>, at: OffsetDateTime) {
        let at = OffsetDateTime::from_unix_timestamp(at.unix_timestamp()).unwrap_or(at);
        if self.minutes.current.is_some_and(|m| m != minute_of(at)) {
            let suppressed = self.differ.new_minute(at);
            self.push_events(suppressed);
            self.rings.prune(at);
        }
        let folded = self.folder.fold(snap, at);
        self.minutes.add(at, &folded);
        for f in folded {
            self.rings.push(&f.flow, f.second);
        }
        let events = self.differ.diff(snap, at);
        self.push_events(events);
    }

    fn push_events(&mut self, events: Vec<NewEvent>) {
        self.events.extend(events);
        while self.events.len() > MAX_PENDING_EVENTS {
            self.events.pop_front();
            self.events_lost += 1;
        }
    }

    pub fn take_events(&mut self) -> Vec<NewEvent> {
        self.events.drain(..).collect()
    }

    /// `flow`'s rows not in the database yet: closed minutes waiting to be written, and
    /// the minute being counted.
    pub fn memory_rows(&self, flow: &FlowRef) -> Vec<MinuteRow> {
        let mut rows: Vec<MinuteRow> = self
            .minutes
            .pending
            .iter()
            .filter(|r| r.input == flow.input && r.output == flow.output)
            .cloned()
            .collect();
        if let (Some(minute), Some(acc)) = (self.minutes.current, self.minutes.flows.get(flow)) {
            rows.push(acc.row(flow, minute));
        }
        rows
    }
}

/// Merges `b` into `a` (same flow, same bucket) as the database merges rows and buckets.
pub(crate) fn merge_row(a: &mut MinuteRow, b: &MinuteRow) {
    let n =
        |r: &MinuteRow| i64::from(r.secs_live + r.secs_waiting + r.secs_failing + r.secs_stopped);
    let (na, nb) = (n(a), n(b));
    a.bitrate_avg = (a.bitrate_avg * na + b.bitrate_avg * nb) / (na + nb).max(1);
    a.bitrate_min = if na == 0 {
        b.bitrate_min
    } else if nb == 0 {
        a.bitrate_min
    } else {
        a.bitrate_min.min(b.bitrate_min)
    };
    a.bitrate_max = a.bitrate_max.max(b.bitrate_max);
    a.srt_rtt_ms = match (a.srt_rtt_ms, b.srt_rtt_ms) {
        (Some(x), Some(y)) => Some((x + y) / 2.0),
        (x, y) => x.or(y),
    };
    let sum = |x: Option<i64>, y: Option<i64>| match (x, y) {
        (None, None) => None,
        (x, y) => Some(x.unwrap_or(0) + y.unwrap_or(0)),
    };
    a.srt_packets = sum(a.srt_packets, b.srt_packets);
    a.srt_lost = sum(a.srt_lost, b.srt_lost);
    a.srt_retransmitted = sum(a.srt_retransmitted, b.srt_retransmitted);
    a.secs_live += b.secs_live;
    a.secs_waiting += b.secs_waiting;
    a.secs_failing += b.secs_failing;
    a.secs_stopped += b.secs_stopped;
    a.secs_meant += b.secs_meant;
    a.bytes += b.bytes;
    a.reconnects += b.reconnects;
    a.dropped += b.dropped;
    a.peers_max = a.peers_max.max(b.peers_max);
}

/// Starts the collector, the writer and the retention tasks.
pub(crate) fn spawn(
    inner: Arc<Inner>,
    snapshots: watch::Receiver<Arc<Snapshot>>,
    retention_age: time::Duration,
) {
    let cancel = CancellationToken::new();
    let due = Arc::new(Notify::new());
    tokio::spawn(retention::run(
        inner.pool.clone(),
        retention_age,
        cancel.clone(),
    ));
    tokio::spawn(writer(inner.clone(), due.clone(), cancel.clone()));
    tokio::spawn(collect(inner, snapshots, due, cancel));
}

async fn collect(
    inner: Arc<Inner>,
    mut snapshots: watch::Receiver<Arc<Snapshot>>,
    due: Arc<Notify>,
    cancel: CancellationToken,
) {
    // The value present at start was published before us: the first change is the first
    // second counted.
    snapshots.borrow_and_update();
    while snapshots.changed().await.is_ok() {
        let snap = snapshots.borrow_and_update().clone();
        let busy = {
            let mut state = inner.lock();
            state.apply(&snap, OffsetDateTime::now_utc());
            !state.minutes.pending.is_empty() || !state.events.is_empty()
        };
        if busy {
            due.notify_one();
        }
    }
    // The engine shut down: `History::flush` writes what is left.
    cancel.cancel();
}

async fn writer(inner: Arc<Inner>, due: Arc<Notify>, cancel: CancellationToken) {
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            () = due.notified() => {}
        }
        let (rows, events) = {
            let mut state = inner.lock();
            (state.minutes.take_pending(), state.take_events())
        };
        write(&inner, rows, events).await;
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(EVENT_WRITE_PERIOD) => {}
        }
    }
}

/// Writes `rows` and `events`, one statement each; what fails goes back to the queue for
/// the next attempt (bounded), with one warning until a write succeeds again.
pub(crate) async fn write(inner: &Inner, rows: Vec<MinuteRow>, events: Vec<NewEvent>) {
    let rows_result = store::upsert_minutes(&inner.pool, &rows).await;
    let events_result = store::insert_events(&inner.pool, &events).await;
    let mut state = inner.lock();
    let mut failed = None;
    if let Err(e) = rows_result {
        state.minutes.restore(rows);
        failed = Some(e);
    }
    if let Err(e) = events_result {
        for ev in events.into_iter().rev() {
            state.events.push_front(ev);
        }
        state.push_events(Vec::new());
        failed = Some(e);
    }
    match failed {
        Some(e) if !state.failing => {
            state.failing = true;
            tracing::warn!("history: writing failed, kept for the next attempt: {e}");
        }
        Some(_) => {}
        None if state.failing => {
            state.failing = false;
            let lost = std::mem::take(&mut state.events_lost);
            tracing::info!(events_lost = lost, "history: writing works again");
        }
        None => {}
    }
}

/// Folds `snapshots` (one a second from `start`) as the collector does and returns the
/// minute rows and events it would write: the CPU path of history, for measuring its cost
/// (`relevo-bench`) without a running engine.
pub fn bench_fold(snapshots: &[Arc<Snapshot>], start: OffsetDateTime) -> (Vec<MinuteRow>, usize) {
    let mut state = State::default();
    for (i, snap) in snapshots.iter().enumerate() {
        state.apply(snap, start + time::Duration::seconds(i as i64));
    }
    state.minutes.close();
    let events = state.take_events().len();
    (state.minutes.take_pending(), events)
}
