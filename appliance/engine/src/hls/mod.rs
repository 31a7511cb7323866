//! HLS outputs and the panel's live preview (issue #16): an input muxed once into CMAF
//! fragmented MP4 (`relevo_media::mp4`) and kept in memory as a Low-Latency HLS window
//! (`relevo_media::hls`), never on disk, and only while someone reads it: the first request
//! for an input starts its session, and a session nobody has asked anything of for
//! [`HlsConfig::idle`] stops (no demuxing, no muxing while nobody watches).
//!
//! The engine serves no HTTP: the control plane maps `/hls/KEY/FILE`, `/play/KEY` and the
//! panel's preview onto [`crate::Engine::hls`] and writes the HTTP headers from
//! [`HlsFileKind`].

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use bytes::Bytes;

/// Timing and size of every HLS session of an engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HlsConfig {
    /// Target segment duration; segments are cut at the first keyframe past it, so a longer
    /// GOP makes longer segments (and `#EXT-X-TARGETDURATION` says so).
    pub segment: Duration,
    /// LL-HLS part target (`#EXT-X-PART-INF:PART-TARGET`); no part is longer.
    pub part: Duration,
    /// Whole segments kept in the window (and listed in the playlist).
    pub window: usize,
    /// A session with no request for this long stops.
    pub idle: Duration,
}

impl Default for HlsConfig {
    fn default() -> Self {
        Self {
            segment: Duration::from_secs(2),
            part: Duration::from_millis(333),
            window: 6,
            idle: Duration::from_secs(30),
        }
    }
}

/// Who reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HlsReader<'a> {
    /// A player, by the HLS output's key (`/hls/KEY/…`).
    Key(&'a str),
    /// The panel's preview of an input, by the input's name (the control plane has checked
    /// the panel session). It counts in no output's metrics.
    Preview(&'a str),
}

/// One request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HlsRequest<'a> {
    /// The file name inside the output's folder: `index.m3u8`, an init segment, a segment
    /// or a part, as the playlist names them.
    pub file: &'a str,
    /// `_HLS_msn` / `_HLS_part` of a blocking playlist reload.
    pub block: Option<BlockingReload>,
    /// The player's address (behind a trusted proxy, the forwarded one): distinct addresses
    /// over the last window are the output's "players".
    pub client: IpAddr,
}

/// `_HLS_msn=M[&_HLS_part=P]`: answer once segment M (part P of it) is in the playlist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockingReload {
    pub msn: u64,
    pub part: Option<u32>,
}

/// What a file is, for its MIME type and caching.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HlsFileKind {
    /// The media playlist: changes with every part; cache briefly.
    Playlist,
    /// Init segment, segment, part: never change under their name (names carry the
    /// session's epoch, so a restarted session never reuses one): immutable.
    Init,
    Segment,
    Part,
}

impl HlsFileKind {
    pub fn mime(self) -> &'static str {
        match self {
            Self::Playlist => "application/vnd.apple.mpegurl",
            Self::Init => "video/mp4",
            Self::Segment | Self::Part => "video/iso.segment",
        }
    }

    /// True for the files a CDN may keep for as long as it likes.
    pub fn immutable(self) -> bool {
        !matches!(self, Self::Playlist)
    }
}

/// A file to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HlsFile {
    pub kind: HlsFileKind,
    pub body: Bytes,
    /// When this content was made (playlists: the last change).
    pub modified: SystemTime,
    /// A strong validator, quoted (`"…"`), unique per content.
    pub etag: String,
}

/// Why there is no file. The control plane answers every "not found" alike, so a
/// client cannot tell an unknown key from a file that left the window.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HlsError {
    /// Unknown key or input, disabled output or input, or a name that is not ours.
    #[error("not found")]
    NotFound,
    /// A segment or part that has left the window (or a session that ended).
    #[error("no longer available")]
    Expired,
    /// The input is live but the first segment is not ready within the wait; retry.
    #[error("the stream is starting")]
    NotReady,
    /// The input is not live (no publisher and no grace period running).
    #[error("the input is not live")]
    Offline,
    /// A blocking reload for a segment too far ahead (more than two segments), or bad
    /// parameters.
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    /// Too many requests are waiting (blocking reloads) in this engine.
    #[error("too many waiting requests")]
    Busy,
}

impl crate::Engine {
    /// Answers one HLS request; starts the input's session if it is not running.
    ///
    /// TEMPORARY (issue #16, until the engine's HLS session lands): always `NotFound`.
    pub async fn hls(
        &self,
        reader: HlsReader<'_>,
        request: HlsRequest<'_>,
    ) -> Result<HlsFile, HlsError> {
        let _ = (reader, request);
        Err(HlsError::NotFound)
    }
}
