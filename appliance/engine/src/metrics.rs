//! Counters that endpoints update lock-free, and the plain-data snapshot read from them.
//!
//! Every reader (logs, tests, later `/metrics` and the API) reads the same snapshot, built on
//! demand from these counters.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

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
}

/// Last failure of a flow, as shown to operators.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LastError {
    pub message: String,
    pub at: SystemTime,
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
}

/// Counters of one output.
#[derive(Debug)]
pub struct OutputCounters {
    pub bytes_out: AtomicU64,
    /// Shared with the hub's subscriptions, which count what they lose.
    pub dropped: Arc<AtomicU64>,
    pub reconnects: AtomicU64,
    /// Connected readers (pull outputs) or 1 while a push output is connected.
    pub peers: AtomicU64,
    pub state: Mutex<FlowState>,
    pub last_error: Mutex<Option<LastError>>,
}

impl Default for OutputCounters {
    fn default() -> Self {
        Self {
            bytes_out: AtomicU64::new(0),
            dropped: Arc::default(),
            reconnects: AtomicU64::new(0),
            peers: AtomicU64::new(0),
            state: Mutex::new(FlowState::Idle),
            last_error: Mutex::new(None),
        }
    }
}

impl OutputCounters {
    pub fn set_state(&self, state: FlowState) {
        if let Ok(mut s) = self.state.lock() {
            *s = state;
        }
    }

    pub fn state(&self) -> FlowState {
        self.state.lock().map_or(FlowState::Idle, |s| *s)
    }

    pub fn set_error(&self, message: String) {
        if let Ok(mut e) = self.last_error.lock() {
            *e = Some(LastError {
                message,
                at: SystemTime::now(),
            });
        }
    }

    pub fn add_bytes(&self, n: usize) {
        self.bytes_out.fetch_add(n as u64, Ordering::Relaxed);
    }
}

impl InputCounters {
    pub fn set_error(&self, message: String) {
        if let Ok(mut e) = self.last_error.lock() {
            *e = Some(LastError {
                message,
                at: SystemTime::now(),
            });
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
    pub bytes_out: u64,
    pub dropped: u64,
    pub reconnects: u64,
    pub peers: u64,
    pub last_error: Option<LastError>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct InputSnapshot {
    pub name: String,
    pub state: FlowState,
    pub publisher: Option<PublisherInfo>,
    pub bytes_in: u64,
    pub publishes: u64,
    pub rejections: u64,
    pub stream_errors: u64,
    pub last_error: Option<LastError>,
    pub outputs: Vec<OutputSnapshot>,
}

/// The whole engine at one instant.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Snapshot {
    pub inputs: Vec<InputSnapshot>,
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
