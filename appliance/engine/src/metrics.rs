//! Counters that endpoints update lock-free, and the plain-data snapshot read from them.
//!
//! Every reader (`/metrics`, the API, the panel, tests) reads the same [`Snapshot`]: the
//! engine's sampler task builds one a second (see `live`), and also moves each flow's
//! [`RateWindow`]. Connected peers register themselves with [`Peers::join`] and leave when
//! their [`PeerGuard`] drops; an SRT peer lends a weak handle on its socket so that its link
//! figures are read from libsrt when the snapshot is taken. This module holds data only: no
//! tasks, no I/O besides those libsrt statistics calls.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use relevo_srt::SrtStats;

mod hls;
mod latency;
mod peers;
mod record;
#[cfg(test)]
mod tests;

pub use hls::{HlsCounters, HlsSnapshot, MAX_TRACKED_PLAYERS};
pub use latency::{LatencyHistogram, LatencySummary};
pub use peers::{PeerGuard, PeerSnapshot, Peers};
pub use record::{RecordCounters, RecordSnapshot, RecordingDisk};

/// Where a flow stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowState {
    /// Configured, nothing to do yet (no publisher; push outputs wait for the input).
    Idle,
    Connecting,
    Live,
    /// Waiting before the next attempt after a failure.
    Retrying,
    /// Disabled by the operator.
    Stopped,
    /// The publisher dropped; outputs are held for the grace period, waiting for it.
    Waiting,
    /// A record output stopped writing because the disk reached its free-space floor; it
    /// resumes by itself once there is room.
    DiskFull,
    /// A push output holds back: the input's codecs are not accepted by the destination
    /// (`OutputSnapshot::compat` says what to change); it connects once they are.
    Incompatible,
}

impl FlowState {
    pub const ALL: [FlowState; 8] = [
        FlowState::Idle,
        FlowState::Connecting,
        FlowState::Live,
        FlowState::Retrying,
        FlowState::Stopped,
        FlowState::Waiting,
        FlowState::DiskFull,
        FlowState::Incompatible,
    ];

    /// The name used in JSON and in the `state` label of `/metrics`.
    pub fn as_str(self) -> &'static str {
        match self {
            FlowState::Idle => "idle",
            FlowState::Connecting => "connecting",
            FlowState::Live => "live",
            FlowState::Retrying => "retrying",
            FlowState::Stopped => "stopped",
            FlowState::Waiting => "waiting",
            FlowState::DiskFull => "disk_full",
            FlowState::Incompatible => "incompatible",
        }
    }
}

/// Last failure of a flow, as shown to operators.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LastError {
    pub message: String,
    pub at: SystemTime,
    /// The failure's class when it is a link failure ([`crate::error::LinkError::class`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class: Option<&'static str>,
}

/// Counters of one input.
#[derive(Debug, Default)]
pub struct InputCounters {
    pub bytes_in: AtomicU64,
    /// Publishers accepted since start.
    pub publishes: AtomicU64,
    /// Publishers or pull attempts turned away or failed.
    pub rejections: AtomicU64,
    /// Container errors in the incoming stream (bad packets, unsupported codecs).
    pub stream_errors: AtomicU64,
    pub last_error: Mutex<Option<LastError>>,
    /// The publisher's connection, for SRT link figures.
    pub link: Peers,
    /// Moved by the sampler task from `bytes_in`.
    pub rate: Mutex<RateWindow>,
}

/// Counters of one output.
#[derive(Debug)]
pub struct OutputCounters {
    /// Shared with RTMP players' connections, which count what they write.
    pub bytes_out: Arc<AtomicU64>,
    /// Shared with the hub's subscriptions, which count what they lose.
    pub dropped: Arc<AtomicU64>,
    pub reconnects: AtomicU64,
    /// Connected readers (pull outputs) or 1 while a push output is connected.
    pub peers: AtomicU64,
    pub state: Mutex<FlowState>,
    /// When the state last became `Live` (push outputs); `None` while not live.
    pub live_since: Mutex<Option<SystemTime>>,
    pub last_error: Mutex<Option<LastError>>,
    /// Who is connected: readers of a pull output, the destination of a push output.
    pub connections: Peers,
    /// Moved by the sampler task from `bytes_out`.
    pub rate: Mutex<RateWindow>,
    /// Time from arrival in the relay to departure through this output.
    pub latency: Arc<LatencyHistogram>,
    /// Files of a record output (unused by the others); its bytes are `bytes_out`.
    pub record: RecordCounters,
    /// Players and files served of an HLS output (unused by the others); its bytes are
    /// `bytes_out`.
    pub hls: HlsCounters,
    /// What a push output's destination does not accept of the input's stream, as its
    /// last codec pre-flight found (`crate::preflight`; other kinds are checked when the
    /// snapshot is built).
    pub compat: Mutex<Vec<CompatProblem>>,
}

impl Default for OutputCounters {
    fn default() -> Self {
        Self {
            bytes_out: Arc::default(),
            dropped: Arc::default(),
            reconnects: AtomicU64::new(0),
            peers: AtomicU64::new(0),
            state: Mutex::new(FlowState::Idle),
            live_since: Mutex::new(None),
            last_error: Mutex::new(None),
            connections: Peers::default(),
            rate: Mutex::default(),
            latency: Arc::default(),
            record: RecordCounters::default(),
            hls: HlsCounters::default(),
            compat: Mutex::default(),
        }
    }
}

impl OutputCounters {
    pub fn set_state(&self, state: FlowState) {
        if let Ok(mut s) = self.state.lock() {
            if *s != state || state != FlowState::Live {
                if let Ok(mut since) = self.live_since.lock() {
                    *since = (state == FlowState::Live).then(SystemTime::now);
                }
            }
            *s = state;
        }
    }

    /// When the output went live, if it is.
    pub fn live_since(&self) -> Option<SystemTime> {
        self.live_since.lock().ok().and_then(|s| *s)
    }

    pub fn state(&self) -> FlowState {
        self.state.lock().map_or(FlowState::Idle, |s| *s)
    }

    pub fn set_error(&self, message: String) {
        set_error(&self.last_error, message, None);
    }

    /// A failed connection attempt: its text and its class.
    pub fn set_link_error(&self, error: &crate::error::LinkError) {
        set_error(&self.last_error, error.to_string(), Some(error.class()));
    }

    pub fn add_bytes(&self, n: usize) {
        self.bytes_out.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub fn set_compat(&self, problems: Vec<CompatProblem>) {
        if let Ok(mut c) = self.compat.lock() {
            *c = problems;
        }
    }

    pub fn compat(&self) -> Vec<CompatProblem> {
        self.compat.lock().map(|c| c.clone()).unwrap_or_default()
    }
}

impl InputCounters {
    pub fn set_error(&self, message: String) {
        set_error(&self.last_error, message, None);
    }

    /// A failed pull: its text and its class.
    pub fn set_link_error(&self, error: &crate::error::LinkError) {
        set_error(&self.last_error, error.to_string(), Some(error.class()));
    }
}

fn set_error(slot: &Mutex<Option<LastError>>, message: String, class: Option<&'static str>) {
    if let Ok(mut e) = slot.lock() {
        *e = Some(LastError {
            message,
            at: SystemTime::now(),
            class,
        });
    }
}

/// Bit rate of a flow over the last second and the last ten seconds, in bits per second.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Bitrate {
    pub last_1s: u64,
    pub last_10s: u64,
}

/// The byte counter of one flow sampled once a second: the last [`RateWindow::LEN`] deltas.
#[derive(Debug, Default)]
pub struct RateWindow {
    last: Option<(u64, Instant)>,
    /// (bytes, elapsed) per sample, newest last.
    deltas: VecDeque<(u64, Duration)>,
}

impl RateWindow {
    /// The mean rate over the last 10 s of the window behind `rate`, bit/s (0 when unknown
    /// or poisoned): what SRT outputs size libsrt's send buffer from.
    pub(crate) fn last_10s_of(rate: &Mutex<Self>) -> u64 {
        rate.lock()
            .map(|r| r.bitrate().last_10s)
            .unwrap_or_default()
    }

    /// Samples kept: the long window is this many sampling periods.
    pub const LEN: usize = 10;

    /// Records the counter's `total` at `now`. A counter that went backwards (a flow
    /// recreated under the same counters never does, but be safe) restarts the window.
    pub fn sample(&mut self, total: u64, now: Instant) {
        if let Some((prev, at)) = self.last {
            if total < prev {
                self.deltas.clear();
            } else {
                if self.deltas.len() == Self::LEN {
                    self.deltas.pop_front();
                }
                self.deltas
                    .push_back((total - prev, now.saturating_duration_since(at)));
            }
        }
        self.last = Some((total, now));
    }

    /// Bits per second over the newest sample and over all kept samples.
    pub fn bitrate(&self) -> Bitrate {
        let rate = |bytes: u64, elapsed: Duration| {
            let secs = elapsed.as_secs_f64();
            if secs > 0.0 {
                (bytes as f64 * 8.0 / secs).round() as u64
            } else {
                0
            }
        };
        let last_1s = self.deltas.back().map_or(0, |&(b, d)| rate(b, d));
        let (bytes, elapsed) = self
            .deltas
            .iter()
            .fold((0, Duration::ZERO), |(b, d), &(db, dd)| (b + db, d + dd));
        Bitrate {
            last_1s,
            last_10s: rate(bytes, elapsed),
        }
    }
}

/// Which way media flows on an SRT connection, seen from the relay: it picks the side of
/// libsrt's counters that matters (a publisher's link is received, a reader's is sent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkDirection {
    Receiving,
    Sending,
}

/// SRT link figures of one connection (libsrt `srt_bstats`, totals since it connected).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct SrtLink {
    /// Smoothed round-trip time.
    pub rtt_ms: f64,
    /// Data packets carried: received (receiving) or sent, retransmissions included
    /// (sending). The base of a loss percentage (history, alerts).
    pub packets: u64,
    /// Packets lost on the way (detected by us when receiving, reported by the peer when
    /// sending).
    pub packets_lost: u64,
    /// Packets resent by us (sending). `None` when receiving: `SrtStats` does not carry
    /// libsrt's count of retransmissions received (`pktRcvRetrans`) yet.
    pub packets_retransmitted: Option<u64>,
    /// Packets dropped as too late to play (receiving) or to send (sending).
    pub packets_dropped: u64,
    /// Negotiated latency (TSBPD delay) of this direction.
    pub latency_ms: u32,
    /// Media held in our buffer: undelivered (receiving) or unacknowledged (sending).
    pub buffer_ms: u32,
    /// libsrt's estimate of the link's bandwidth.
    pub bandwidth_mbps: f64,
}

impl SrtLink {
    pub fn from_stats(s: &SrtStats, dir: LinkDirection) -> Self {
        let count = |n: i64| u64::try_from(n).unwrap_or(0);
        let ms = |n: i32| u32::try_from(n).unwrap_or(0);
        match dir {
            LinkDirection::Receiving => Self {
                rtt_ms: s.rtt_ms,
                packets: count(s.pkt_recv),
                packets_lost: count(s.pkt_loss_recv),
                packets_retransmitted: None,
                packets_dropped: count(s.pkt_drop_recv),
                latency_ms: ms(s.recv_latency_ms),
                buffer_ms: ms(s.recv_buffer_ms),
                bandwidth_mbps: s.bandwidth_mbps,
            },
            LinkDirection::Sending => Self {
                rtt_ms: s.rtt_ms,
                packets: count(s.pkt_sent),
                packets_lost: count(s.pkt_loss_sent),
                packets_retransmitted: Some(count(s.pkt_retrans)),
                packets_dropped: count(s.pkt_drop_send),
                latency_ms: ms(s.send_latency_ms),
                buffer_ms: ms(s.send_buffer_ms),
                bandwidth_mbps: s.bandwidth_mbps,
            },
        }
    }
}

/// Who is publishing to an input.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PublisherInfo {
    /// `srt`, `rtmp`, `rtmps`, `srt-pull`, `rtmp-pull`.
    pub protocol: &'static str,
    pub peer: String,
    pub since: SystemTime,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct OutputSnapshot {
    pub name: String,
    pub kind: &'static str,
    pub state: FlowState,
    pub bitrate: Bitrate,
    pub bytes_out: u64,
    /// Units (TS chunks or FLV tags) lost because the output's queue was full.
    pub dropped: u64,
    pub reconnects: u64,
    pub peers: u64,
    /// The readers of a pull output; the destination of a push SRT output.
    pub connections: Vec<PeerSnapshot>,
    /// Seconds since the output went live; `None` while it is not.
    pub uptime_secs: Option<f64>,
    /// Time through the relay (arrival to departure), since the output was configured.
    pub latency: Option<LatencySummary>,
    pub last_error: Option<LastError>,
    /// Files of a record output (`bytes_out` is what it wrote); `None` for other kinds.
    pub record: Option<RecordSnapshot>,
    /// Players and files served of an HLS output (`bytes_out` is what it served; `peers`
    /// is its players); `None` for other kinds.
    pub hls: Option<HlsSnapshot>,
    /// What the destination does not accept in the input's stream (codec pre-flight); empty
    /// when all is well or the input's codecs are not known yet.
    pub compat: Vec<CompatProblem>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct InputSnapshot {
    pub name: String,
    pub state: FlowState,
    pub publisher: Option<PublisherInfo>,
    /// Link figures of an SRT publisher.
    pub srt: Option<SrtLink>,
    pub bitrate: Bitrate,
    pub bytes_in: u64,
    pub publishes: u64,
    pub rejections: u64,
    pub stream_errors: u64,
    /// Seconds since the current publisher connected; `None` while no one publishes.
    pub uptime_secs: Option<f64>,
    pub last_error: Option<LastError>,
    /// The codecs of the stream on air, once known (from the PMT or the FLV headers).
    pub codecs: Option<StreamCodecs>,
    /// The backup feed, when one is configured (the fields above describe the main feed).
    pub backup: Option<FeedSnapshot>,
    /// Which feed the outputs take now; `None` while neither is live.
    pub on_air: Option<Feed>,
    /// Since when `on_air` has been on air.
    pub on_air_since: Option<SystemTime>,
    /// The last change of feed on air, if any since the input started.
    pub last_switch: Option<FeedSwitch>,
    /// Changes of feed on air since the input started, by reason.
    pub feed_switches: FeedSwitchCounts,
    pub outputs: Vec<OutputSnapshot>,
}

/// One of an input's two feeds (issue #18, `crate::spec::BackupSpec`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Feed {
    Main,
    Backup,
}

impl Feed {
    /// The name used in JSON and in the `feed` label of `/metrics`.
    pub fn as_str(self) -> &'static str {
        match self {
            Feed::Main => "main",
            Feed::Backup => "backup",
        }
    }
}

/// Why the feed on air changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SwitchReason {
    /// The feed on air disconnected or sent nothing for the failover delay.
    Failover,
    /// The main feed had been stable for the revert delay.
    Revert,
    /// An operator asked for it (`Engine::switch_feed`).
    Manual,
}

/// A change of the feed on air.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FeedSwitch {
    pub from: Feed,
    pub to: Feed,
    pub reason: SwitchReason,
    pub at: SystemTime,
}

/// Changes of feed on air by reason ([`SwitchReason`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct FeedSwitchCounts {
    pub failover: u64,
    pub revert: u64,
    pub manual: u64,
}

/// A backup feed, as the main feed's figures in [`InputSnapshot`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct FeedSnapshot {
    /// A publisher is attached and sending.
    pub live: bool,
    pub publisher: Option<PublisherInfo>,
    pub srt: Option<SrtLink>,
    pub bitrate: Bitrate,
    pub bytes_in: u64,
    pub publishes: u64,
    pub codecs: Option<StreamCodecs>,
}

/// The codecs of a stream, by name: `h264`, `h265`, another stream type's name for video;
/// `aac`, `mp3`, `mp2`, `opus`, `ac3`, `eac3` or another name for audio; `None`: no such
/// track.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StreamCodecs {
    pub video: Option<String>,
    pub audio: Option<String>,
}

/// Something in the input's stream a destination does not accept (`crate::preflight`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CompatProblem {
    pub severity: CompatSeverity,
    /// Stable identifier for translations (the panel shows its own text per code, filled
    /// with `track`, `found` and `accepted`).
    pub code: &'static str,
    /// `video` or `audio`.
    pub track: &'static str,
    /// The input's codec on that track (a [`StreamCodecs`] name), `none` when it has none.
    pub found: String,
    /// What the destination takes on that track, by the same names.
    pub accepted: Vec<&'static str>,
    /// In English, for the API and the log: what the destination refuses and what to change
    /// on the encoder.
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CompatSeverity {
    /// The destination cannot take the stream: the output holds back
    /// ([`FlowState::Incompatible`]).
    Error,
    /// The destination takes it but the platform warns or degrades (no audio, say): pushed
    /// anyway.
    Warning,
}

/// The whole engine at one instant.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Snapshot {
    pub inputs: Vec<InputSnapshot>,
    /// The recordings filesystem; `None` when its folder does not exist (yet).
    pub recording_disk: Option<RecordingDisk>,
}

impl Snapshot {
    pub fn input(&self, name: &str) -> Option<&InputSnapshot> {
        self.inputs.iter().find(|i| i.name == name)
    }
}

impl InputSnapshot {
    pub fn output(&self, name: &str) -> Option<&OutputSnapshot> {
        self.outputs.iter().find(|o| o.name == name)
    }
}
