//! The narrow interface between RTMP connections and the engine's registry of inputs and
//! outputs. The RTMP code knows protocols, not flows: it asks the router whether a publisher
//! or a player may proceed, and moves FLV tags.

use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::direct::DirectSlot;
use crate::metrics::LatencyHistogram;
use crate::unit::FlvTag;

/// Why a publisher or player was turned away; `Display` is the reason written to the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("unknown stream key")]
    UnknownKey,
    #[error("input already has a live publisher")]
    AlreadyPublishing,
    #[error("input is disabled")]
    Disabled,
    /// The name itself is not kept: encoders that take one server URL put the stream key in
    /// it (`rtmp://host/live/KEY`), and a peer chooses its length.
    #[error("{0}")]
    WrongApp(AppHint),
    #[error("no free place for publishers and players")]
    NoRoom,
}

impl Rejection {
    pub fn wrong_app(app: &str) -> Self {
        Self::WrongApp(AppHint::of(app))
    }
}

/// What may be said of an application name we do not serve: only its length, and whether
/// it is our own `live` followed by more, the usual mistake of a stream key written into
/// the server URL. Any other name might be a key too, so none of it is repeated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppHint {
    pub len: usize,
    pub live_and_more: bool,
}

impl AppHint {
    pub fn of(app: &str) -> Self {
        let live_and_more = app
            .strip_prefix("live")
            .is_some_and(|rest| rest.starts_with(['/', '?']));
        Self {
            len: app.len(),
            live_and_more,
        }
    }
}

impl std::fmt::Display for AppHint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let len = self.len;
        if self.live_and_more {
            write!(
                f,
                "wrong application name: \"live\" followed by more ({len} bytes in all; \
                 the stream key belongs in the stream name, not in the server URL)"
            )
        } else {
            write!(
                f,
                "wrong application name ({len} bytes, not shown; expected \"live\")"
            )
        }
    }
}

/// Who is asking: the peer and whether it came over TLS (RTMPS).
#[derive(Debug, Clone, Copy)]
pub struct Peer {
    pub addr: SocketAddr,
    pub secure: bool,
}

/// Receives the tags of one publishing connection. Dropping it ends the publication.
pub trait FlvIngest: Send {
    /// Never blocks: the hub fans the tag out to bounded per-output queues.
    fn push(&mut self, tag: FlvTag);

    /// The input let this publisher go (a replacement took its feed, or its backup feed was
    /// removed): the connection is closed.
    fn released(&self) -> bool {
        false
    }
}

/// A player's feed: tags already starting at a keyframe, sequence headers first. A player
/// that arrived before the publisher gets nothing until the publication's first keyframe.
/// The channel closes when the publication ends (after the grace period) or the input is
/// removed; `stop` is cancelled when the output is stopped, changed or removed, and the
/// player is then disconnected.
#[derive(Debug)]
pub struct FlvSubscription {
    pub rx: mpsc::Receiver<FlvTag>,
    pub stop: CancellationToken,
    /// Bytes written to the player are added here.
    pub bytes_out: Arc<AtomicU64>,
    /// Time each tag spent in the relay until written to the player.
    pub latency: Arc<LatencyHistogram>,
    /// Dropped when the player leaves.
    pub guard: PlayerGuard,
    /// Set when the hub may write tags straight to the player's socket (plain TCP).
    pub direct: Option<Arc<DirectSlot>>,
}

impl FlvSubscription {
    /// A feed with no one counting.
    pub fn new(rx: mpsc::Receiver<FlvTag>) -> Self {
        Self {
            rx,
            stop: CancellationToken::new(),
            bytes_out: Arc::default(),
            latency: Arc::default(),
            guard: PlayerGuard(None),
            direct: None,
        }
    }
}

/// Runs its closure when the player's connection ends (the engine counts players with it).
pub struct PlayerGuard(pub Option<Box<dyn FnOnce() + Send>>);

impl Drop for PlayerGuard {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f();
        }
    }
}

impl std::fmt::Debug for PlayerGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PlayerGuard")
    }
}

/// Decides, per connection, what an RTMP stream key means.
pub trait RtmpRouter: Send + Sync + 'static {
    fn publish(&self, app: &str, key: &str, peer: Peer) -> Result<Box<dyn FlvIngest>, Rejection>;
    fn play(&self, app: &str, key: &str, peer: Peer) -> Result<FlvSubscription, Rejection>;
}
