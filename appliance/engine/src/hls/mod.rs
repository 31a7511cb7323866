//! HLS outputs and the panel's live preview (issue #16): an input muxed once into CMAF
//! fragmented MP4 (`relevo_media::mp4`) and kept in memory as a Low-Latency HLS window
//! (`relevo_media::hls`), never on disk, and only while someone reads it: the first request
//! for an input starts its session, and a session nobody has asked anything of for
//! [`HlsConfig::idle`] stops (no demuxing, no muxing while nobody watches).
//!
//! The engine serves no HTTP: the control plane maps `/hls/KEY/FILE`, `/play/KEY` and the
//! panel's preview onto [`crate::Engine::hls`] and writes the HTTP headers from
//! [`HlsFileKind`].
//!
//! Files: `sessions` (one session per input, idle stop, the cap on waiting requests),
//! `session` (a session's window and the task that fills it), `feed` (muxer fragments
//! into parts with their wall clock), `serve` (answers and validators), `exists` (whether
//! a key leads anywhere, for the player page, without starting a session). HLS keys live
//! in their own map beside the RTMP/SRT routes (`engine`), so an RTMP play or an SRT reader
//! never reaches an HLS output.

mod exists;
mod feed;
mod serve;
mod session;
mod sessions;

use std::net::IpAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;

pub use serve::MAX_NAME_LEN;
pub use session::MAX_WINDOW_BYTES;
pub(crate) use sessions::HlsSessions;
pub use sessions::MAX_WAITING_REQUESTS;

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
    /// Answers one HLS request; a playlist request starts the input's session if it is not
    /// running (and the input is live).
    ///
    /// - Unknown key or input, disabled output or input, a file that is not the session's:
    ///   [`HlsError::NotFound`]; a file that left the window: [`HlsError::Expired`].
    /// - `index.m3u8` before the first whole segment waits for it (at most twice the
    ///   segment target and 4 s more), then [`HlsError::NotReady`]; an input not live with
    ///   no session: [`HlsError::Offline`].
    /// - A blocking reload waits until the playlist has segment `msn` (part `part`), at
    ///   most three segment targets, then answers the playlist as it is; more than two
    ///   segments ahead: [`HlsError::BadRequest`]. Too many requests waiting:
    ///   [`HlsError::Busy`].
    ///
    /// Requests by key count in their output's metrics (players, segments, parts, bytes);
    /// previews count nowhere.
    pub async fn hls(
        &self,
        reader: HlsReader<'_>,
        request: HlsRequest<'_>,
    ) -> Result<HlsFile, HlsError> {
        let shared = self.shared();
        let resolved = shared.hls_target(reader).ok_or(HlsError::NotFound)?;
        let sessions = &shared.hls;
        if let Some(c) = &resolved.counters {
            c.hls
                .seen(request.client, Instant::now(), sessions.players_window());
        }
        let is_playlist = request.file == relevo_media::hls::PLAYLIST_NAME;
        let target = sessions::Target {
            input: &resolved.input,
            hub: &resolved.hub,
            cancel: &resolved.cancel,
        };
        let Some(session) = sessions.get_or_start(&target, is_playlist, &shared.tasks) else {
            return Err(if is_playlist {
                HlsError::Offline
            } else {
                HlsError::NotFound
            });
        };
        let file = serve::answer(sessions, &session, request.file, request.block).await?;
        if let Some(c) = &resolved.counters {
            c.add_bytes(file.body.len());
            match file.kind {
                HlsFileKind::Segment => c.hls.segments_served.fetch_add(1, Relaxed),
                HlsFileKind::Part => c.hls.parts_served.fetch_add(1, Relaxed),
                HlsFileKind::Playlist | HlsFileKind::Init => 0,
            };
        }
        Ok(file)
    }

    /// HLS sessions running now (muxing, or serving an ended playlist until idle).
    pub fn hls_sessions(&self) -> usize {
        self.shared().hls.running()
    }
}
