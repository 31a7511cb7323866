//! The live state: the sampler task that moves every flow's rate window once a second and
//! publishes a fresh [`Snapshot`] to subscribers, and the snapshot builder it shares with
//! [`crate::Engine::snapshot`].
//!
//! The registry's lock is held only to collect handles on the counters; libsrt statistics
//! and hub state are read after it is released (libsrt's listen callback takes the same lock).

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::watch;
use tokio::time::MissedTickBehavior;

use crate::engine::{output_kind_name, Shared};
use crate::hub::Hub;
use crate::metrics::{
    FeedSnapshot, FlowState, InputSnapshot, OutputCounters, OutputSnapshot, RecordingDisk, Snapshot,
};
use crate::spec::OutputKind;

/// How often rates are sampled and subscribers get a new snapshot.
pub(crate) const SAMPLE_PERIOD: Duration = Duration::from_secs(1);

/// What the snapshot needs of one input, taken under the registry's lock.
struct InputRef {
    name: String,
    enabled: bool,
    hub: Arc<Hub>,
    outputs: Vec<OutputRef>,
}

struct OutputRef {
    name: String,
    kind: &'static str,
    pull: bool,
    record: bool,
    hls: bool,
    enabled: bool,
    counters: Arc<OutputCounters>,
    compat: crate::preflight::Reporter,
}

fn collect(shared: &Shared) -> Vec<InputRef> {
    let reg = shared.read();
    reg.inputs
        .values()
        .map(|rt| InputRef {
            name: rt.spec.name.to_string(),
            enabled: rt.spec.enabled,
            hub: rt.hub.clone(),
            outputs: rt
                .outputs
                .values()
                .map(|o| OutputRef {
                    name: o.spec.name.to_string(),
                    kind: output_kind_name(&o.spec.kind),
                    pull: matches!(
                        o.spec.kind,
                        OutputKind::PullSrt { .. } | OutputKind::PullRtmp { .. }
                    ),
                    record: matches!(o.spec.kind, OutputKind::Record(_)),
                    hls: matches!(o.spec.kind, OutputKind::PullHls { .. }),
                    enabled: o.spec.enabled,
                    counters: o.counters.clone(),
                    compat: crate::preflight::Reporter::new(&o.spec.kind, &rt.hub),
                })
                .collect(),
        })
        .collect()
}

fn secs_since(t: SystemTime, now: SystemTime) -> f64 {
    now.duration_since(t).unwrap_or_default().as_secs_f64()
}

/// `players_over`: how far back an HLS output's players are counted (its window).
fn build(
    flows: &[InputRef],
    recording_disk: Option<RecordingDisk>,
    players_over: Duration,
) -> Snapshot {
    let now = SystemTime::now();
    let clock = Instant::now();
    let inputs = flows
        .iter()
        .map(|i| {
            let c = &i.hub.counters;
            let publisher = i.hub.publisher();
            let feeds = i.hub.feeds();
            // Live while either feed has a publisher (the backup may be on air alone).
            let any = publisher.as_ref().or(feeds.backup_publisher.as_ref());
            let state = match (any, i.enabled) {
                (_, false) => FlowState::Stopped,
                (Some(_), true) => FlowState::Live,
                (None, true) if i.hub.in_grace() => FlowState::Waiting,
                (None, true) => FlowState::Idle,
            };
            let live_since = any.map(|p| p.since);
            let backup = feeds.has_backup.then(|| {
                let b = &i.hub.backup_counters;
                FeedSnapshot {
                    live: feeds.backup_live,
                    publisher: feeds.backup_publisher.clone(),
                    srt: b.link.snapshot().pop().and_then(|p| p.srt),
                    bitrate: b.rate.lock().map(|r| r.bitrate()).unwrap_or_default(),
                    bytes_in: b.bytes_in.load(Relaxed),
                    publishes: b.publishes.load(Relaxed),
                    codecs: feeds.backup_codecs.clone(),
                }
            });
            InputSnapshot {
                name: i.name.clone(),
                state,
                srt: c.link.snapshot().pop().and_then(|p| p.srt),
                bitrate: c.rate.lock().map(|r| r.bitrate()).unwrap_or_default(),
                bytes_in: c.bytes_in.load(Relaxed),
                publishes: c.publishes.load(Relaxed),
                rejections: c.rejections.load(Relaxed),
                stream_errors: c.stream_errors.load(Relaxed),
                uptime_secs: publisher.as_ref().map(|p| secs_since(p.since, now)),
                last_error: c.last_error.lock().ok().and_then(|e| e.clone()),
                publisher,
                codecs: feeds.codecs,
                backup,
                on_air: feeds.on_air,
                on_air_since: feeds.on_air_since,
                last_switch: feeds.last_switch,
                feed_switches: feeds.switches,
                outputs: i
                    .outputs
                    .iter()
                    .map(|o| {
                        let input = InputNow {
                            enabled: i.enabled,
                            live_since,
                            held: state == FlowState::Waiting,
                        };
                        output(o, &input, now, (clock, players_over))
                    })
                    .collect(),
            }
        })
        .collect();
    Snapshot {
        inputs,
        recording_disk,
    }
}

/// What an output's state depends on of its input's.
struct InputNow {
    enabled: bool,
    live_since: Option<SystemTime>,
    /// Held for its grace period.
    held: bool,
}

fn output(
    o: &OutputRef,
    input: &InputNow,
    now: SystemTime,
    (clock, players_over): (Instant, Duration),
) -> OutputSnapshot {
    let (input_enabled, input_live_since, input_held) =
        (input.enabled, input.live_since, input.held);
    let c = &o.counters;
    let connections = c.connections.snapshot();
    let hls = o.hls.then(|| c.hls.snapshot(clock, players_over));
    // An HLS output's readers are its players (distinct addresses, no connections).
    let peers = hls.map_or_else(|| c.peers.load(Relaxed), |h| h.players);
    // An HLS output is live while its input is (players come and go between requests);
    // it waits with the input through a grace period. A pull output is live while the
    // input is and someone reads it; since the later of the two began.
    let (state, live_since) = if o.hls {
        match (input_enabled && o.enabled, input_live_since) {
            (false, _) => (FlowState::Stopped, None),
            (true, Some(since)) => (FlowState::Live, Some(since)),
            (true, None) if input_held => (FlowState::Waiting, None),
            (true, None) => (FlowState::Idle, None),
        }
    } else if o.pull {
        if !(input_enabled && o.enabled) {
            (FlowState::Stopped, None)
        } else {
            match (input_live_since, connections.iter().map(|p| p.since).min()) {
                (Some(i), Some(p)) if peers > 0 => (FlowState::Live, Some(i.max(p))),
                _ => (FlowState::Idle, None),
            }
        }
    } else {
        (c.state(), c.live_since())
    };
    // While the input is held for its grace period, the outputs that keep their connection
    // (a live push, a pull output's readers) wait with it.
    let connected = if o.pull {
        peers > 0
    } else {
        state == FlowState::Live
    };
    let state = if input_held && connected {
        FlowState::Waiting
    } else {
        state
    };
    OutputSnapshot {
        name: o.name.clone(),
        kind: o.kind,
        state,
        bitrate: c.rate.lock().map(|r| r.bitrate()).unwrap_or_default(),
        bytes_out: c.bytes_out.load(Relaxed),
        dropped: c.dropped.load(Relaxed),
        reconnects: c.reconnects.load(Relaxed),
        peers,
        connections,
        uptime_secs: live_since
            .filter(|_| matches!(state, FlowState::Live | FlowState::Waiting))
            .map(|t| secs_since(t, now)),
        last_error: c.last_error.lock().ok().and_then(|e| e.clone()),
        latency: c.latency.summary(),
        record: o.record.then(|| c.record.snapshot()),
        hls,
        compat: o.compat.report(c),
    }
}

/// A snapshot built now, without moving the rate windows.
pub(crate) fn snapshot(shared: &Shared) -> Snapshot {
    build(
        &collect(shared),
        recording_disk(shared, false),
        shared.hls.players_window(),
    )
}

/// The recordings filesystem's figures; `None` while its folder cannot be read (a disk
/// not mounted yet). `fresh` (the sampler, once a second) reads them again, which also
/// refreshes the writers' cached figure; otherwise the sampler's last reading is used.
fn recording_disk(shared: &Shared, fresh: bool) -> Option<RecordingDisk> {
    let space = &shared.recordings.space;
    let u = if fresh {
        space.refresh().ok()?
    } else {
        space.last()?
    };
    Some(RecordingDisk {
        free_bytes: u.free_bytes,
        total_bytes: u.total_bytes,
        floor_bytes: space.floor().floor_bytes(u.total_bytes),
    })
}

/// Once a second: samples every byte counter into its rate window, then publishes a new
/// snapshot. Ends with the engine; subscribers then see the channel close.
pub(crate) async fn run_sampler(shared: Arc<Shared>, tx: watch::Sender<Arc<Snapshot>>) {
    let mut tick = tokio::time::interval(SAMPLE_PERIOD);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shared.cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        let flows = collect(&shared);
        let now = Instant::now();
        for i in &flows {
            let c = &i.hub.counters;
            for c in [c, &i.hub.backup_counters] {
                if let Ok(mut r) = c.rate.lock() {
                    r.sample(c.bytes_in.load(Relaxed), now);
                }
            }
            for o in &i.outputs {
                if let Ok(mut r) = o.counters.rate.lock() {
                    r.sample(o.counters.bytes_out.load(Relaxed), now);
                }
            }
        }
        let snap = build(
            &flows,
            recording_disk(&shared, true),
            shared.hls.players_window(),
        );
        tx.send_replace(Arc::new(snap));
    }
}
