//! The WebSocket's snapshot message, serialised once per engine snapshot and shared by every
//! open socket: a thousand viewers cost one `serde_json` run a second, not a thousand.

use std::sync::Arc;

use axum::extract::ws::Utf8Bytes;
use relevo_engine::metrics::Snapshot;
use tokio::sync::watch;

/// One engine snapshot and its `{"type": "snapshot", …}` text.
#[derive(Debug, Clone)]
pub struct Frame {
    pub snapshot: Arc<Snapshot>,
    pub text: Utf8Bytes,
}

impl Frame {
    fn of(snapshot: Arc<Snapshot>) -> Self {
        let msg = Tagged {
            kind: "snapshot",
            snapshot: &snapshot,
        };
        let text = serde_json::to_string(&msg).unwrap_or_default().into();
        Frame { snapshot, text }
    }
}

/// Follows the engine's snapshots and publishes each as a [`Frame`]. The task ends when the
/// engine stops publishing.
pub fn start(mut engine: watch::Receiver<Arc<Snapshot>>) -> watch::Receiver<Frame> {
    let first = Frame::of(engine.borrow_and_update().clone());
    let (tx, rx) = watch::channel(first);
    tokio::spawn(async move {
        while engine.changed().await.is_ok() {
            let snap = engine.borrow_and_update().clone();
            if tx.send(Frame::of(snap)).is_err() {
                // Every receiver is gone: the API state was dropped.
                return;
            }
        }
    });
    rx
}

/// `{"type": "snapshot", …the snapshot's fields}`.
#[derive(serde::Serialize)]
struct Tagged<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(flatten)]
    snapshot: &'a Snapshot,
}
