//! The units a hub carries: MPEG-TS chunks for SRT, FLV tags for RTMP.
//!
//! A hub keeps a stream in its native unit and passes it through untouched to outputs of the
//! same protocol; the other unit exists only when an output of the other protocol asks for it.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use bytes::Bytes;

/// One or more whole 188-byte MPEG-TS packets, as they travel in one SRT message (up to 7).
///
/// `keyframe` is true when the first packet starts a video PES that a decoder can start from,
/// so a joining output can begin exactly here.
#[derive(Debug, Clone)]
pub struct TsChunk {
    pub data: Bytes,
    pub keyframe: bool,
    /// When the relay received the packets; `None` for copies replayed to a joining output.
    pub arrived: Option<Instant>,
}

/// What an FLV tag carries (FLV spec, "FLV tags", TagType).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlvKind {
    Audio,
    Video,
    /// `onMetaData` script data (AMF0), forwarded as is.
    Meta,
}

/// One FLV tag body with its RTMP timestamp (milliseconds, 32-bit wrapping as on the wire).
#[derive(Debug, Clone)]
pub struct FlvTag {
    pub kind: FlvKind,
    pub timestamp: u32,
    pub body: Bytes,
    /// A video keyframe (frame type 1): an output may start here.
    pub keyframe: bool,
    /// A sequence header (AVC/HEVC decoder configuration or AAC AudioSpecificConfig): the hub
    /// keeps the latest one and sends it first to every new output.
    pub config: bool,
    /// When the relay received the tag; `None` for copies replayed to a joining output.
    pub arrived: Option<Instant>,
    /// The tag as RTMP chunks, built by the first player that sends it and reused by the
    /// others (see `rtmp::chunk`). Shared by every clone of the tag.
    pub wire: WireCache,
}

impl FlvTag {
    /// A tag that arrived now.
    pub fn new(kind: FlvKind, timestamp: u32, body: Bytes, keyframe: bool, config: bool) -> Self {
        Self {
            kind,
            timestamp,
            body,
            keyframe,
            config,
            arrived: Some(Instant::now()),
            wire: WireCache::default(),
        }
    }
}

/// Serialised bytes computed once and shared by clones.
#[derive(Clone, Default)]
pub struct WireCache(Arc<OnceLock<Bytes>>);

impl WireCache {
    pub fn get_or_init(&self, f: impl FnOnce() -> Bytes) -> Bytes {
        self.0.get_or_init(f).clone()
    }
}

impl std::fmt::Debug for WireCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WireCache")
    }
}
