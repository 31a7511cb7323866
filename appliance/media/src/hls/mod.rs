//! Low-Latency HLS (RFC 8216bis with its LL-HLS additions, Apple's HLS authoring spec) as a
//! pure, in-memory window: CMAF parts in (one per [`crate::mp4::Fragment`] of a muxer with
//! `part_duration_90k`), a media playlist and the files it names out, as [`Bytes`].
//!
//! It is not a server: no clock (times come with the parts), no waiting (the caller blocks
//! requests using [`HlsWindow::ready`] and [`HlsWindow::version`]), no HTTP, no disk.
//!
//! Files: `name` (file names and their strict parser), `window` ([`HlsWindow`]: parts,
//! segments, inits, bounds, lookups), `playlist` (the text of `index.m3u8`).

mod name;
mod playlist;
mod window;

#[cfg(test)]
mod tests;

use bytes::Bytes;
use std::time::SystemTime;

pub use name::base36;
pub use window::{
    HlsWindow, WindowStats, MAX_SEGMENT_PARTS, MIN_PLAYLIST_TARGETS, SEGMENT_TOLERANCE_90K,
};

/// The playlist's file name.
pub const PLAYLIST_NAME: &str = "index.m3u8";

/// Timing and bounds of one window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowConfig {
    /// Target segment duration, 90 kHz ticks. Segments are cut at the first independent part
    /// once this long (see [`HlsWindow::push_part`]), so a longer GOP gives longer segments.
    pub segment_target_90k: i64,
    /// `#EXT-X-PART-INF:PART-TARGET`, 90 kHz ticks. The muxer must make parts no longer.
    pub part_target_90k: i64,
    /// Whole segments kept (and listed); at least 1. More are kept while fewer would make
    /// the playlist shorter than three target durations (see
    /// [`MIN_PLAYLIST_TARGETS`]).
    pub max_segments: usize,
    /// Bytes held at most (segments, the segment in progress, inits); the newest whole
    /// segment and the segment in progress are kept even when they alone exceed it.
    pub max_bytes: usize,
}

/// One CMAF part (`moof`+`mdat`), as the muxer made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub data: Bytes,
    /// Duration of the leading track, 90 kHz ticks.
    pub duration_90k: i64,
    /// Starts with a sync sample (a segment may start here).
    pub independent: bool,
    /// When its first frame reached the relay (`#EXT-X-PROGRAM-DATE-TIME`).
    pub wall_clock: SystemTime,
}

impl Part {
    /// The part one fragment of a muxer with `part_duration_90k` makes, whose first frame
    /// reached the relay at `wall_clock`.
    pub fn from_fragment(fragment: &crate::mp4::Fragment, wall_clock: SystemTime) -> Self {
        Self {
            data: fragment.data.clone(),
            duration_90k: fragment.duration_90k,
            independent: fragment.independent,
            wall_clock,
        }
    }
}

/// What a file is (mirrors the engine's `HlsFileKind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Playlist,
    Init,
    Segment,
    Part,
}

/// Answer to a blocking playlist reload (`_HLS_msn` / `_HLS_part`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    /// The playlist already has it (or the window has ended): answer now.
    Ready,
    /// It will come: hold the request until [`HlsWindow::version`] changes and ask again.
    Wait,
    /// More than two segments ahead (RFC 8216bis, Blocking Playlist Reload): answer 400.
    TooFar,
}

/// Why [`HlsWindow::lookup`] has no file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    /// Not a name of this window (malformed, another session's epoch, not made yet).
    #[error("unknown file")]
    Unknown,
    /// One of this window's files that has left it.
    #[error("no longer in the window")]
    Expired,
}

/// A file of the window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub kind: FileKind,
    pub data: Bytes,
    /// When this content was made (the playlist: its last change).
    pub made: SystemTime,
}
