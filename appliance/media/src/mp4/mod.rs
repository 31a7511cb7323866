//! Fragmented MP4 (ISO/IEC 14496-12 ISO BMFF, the CMAF layout of ISO/IEC 23000-19) muxer:
//! [`Frame`](crate::Frame)s in, an init segment and `moof`+`mdat` fragments out as
//! [`Bytes`](bytes::Bytes). It writes no file and keeps no clock; the caller appends the
//! init segment and then every fragment to a file (recording) or serves them as HLS
//! segments and parts.
//!
//! Boxes are built with the `mp4-atom` crate; this module decides their contents.
//!
//! What the muxer does with its input (see [`Fmp4Muxer`] for the details):
//! - One track per [`TrackConfig`]: H.264 as `avc1`+`avcC`, H.265 as `hvc1`+`hvcC`
//!   (parameter sets only in the sample entry, as Apple's HLS authoring spec requires),
//!   AAC as `mp4a`+`esds`. Video uses the 90 kHz clock as timescale, audio its sample rate.
//! - Fragments are cut before a video keyframe (one per GOP by default, or once a target
//!   duration is reached), so each starts with a sync sample and can be decoded alone;
//!   every track is cut at that keyframe's DTS, so audio and video cover the same span.
//!   An audio-only muxer cuts by duration. With `part_duration_90k` (LL-HLS parts) it
//!   also cuts between keyframes and flags those fragments as not independent.
//! - Samples are AVCC (4-byte lengths, ISO/IEC 14496-15 §5.3.2 / §8.3.2); AUDs and
//!   parameter sets are taken out of the samples (see `sample.rs` for why).
//! - Each sample's duration is the distance to the next DTS of its track, so a sample is
//!   written only once its successor is known: the last sample of each track waits for
//!   the next fragment (or [`Fmp4Muxer::flush`]). Durations therefore add up exactly and
//!   `tfdt` of fragment k+1 equals `tfdt` + durations of fragment k.
//!
//! Files: `sample` (Annex B to AVCC), `init` (`ftyp`+`moov`),
//! `fragment` (`moof`+`mdat`), `track` (per-track queue), `muxer` (timing and cutting),
//! `recover` (crash recovery: [`complete_len`]), `probe` (codecs and duration of a file,
//! for the recordings catalogue); the display size comes from `crate::sps`.
//!
//! Not written: edit lists (`elst`; the first video PTS is the first DTS plus its
//! composition offset, which players show as a start time slightly above 0), `sidx`,
//! `mfra`, `mehd`, encryption, `btrt`, colour boxes.

mod fragment;
mod init;
mod muxer;
pub mod probe;
mod recover;
mod sample;
mod track;

pub use muxer::{Fmp4Muxer, Fmp4Options, Fragment, MuxerStats, TrackConfig};
pub use recover::{complete_len, complete_len_by};

use crate::frame::Codec;
use thiserror::Error;

/// Largest `mdat` payload of one fragment. A fragment larger than this is cut even without
/// a keyframe (the next one then starts with a non-sync sample). The hard bound is the
/// signed 32-bit `trun.data_offset` (ISO/IEC 14496-12 §8.8.8) and the 32-bit box size this
/// muxer writes; 64 MiB is 25 s at 20 Mb/s, longer than any sane GOP, and bounds memory.
pub const MAX_FRAGMENT_BYTES: usize = 64 << 20;

/// Audio tracks one muxer takes (a second or third language is common in broadcast; 8
/// covers the AAC tracks a TS program carries in practice). One video track at most, since
/// fragments are cut at its keyframes.
pub const MAX_AUDIO_TRACKS: usize = 8;

/// Largest number of samples of one track in one fragment (the same forced cut). 3000 is
/// 60 s of 50 fps video or 64 s of 48 kHz AAC; it bounds the `trun` table.
pub const MAX_FRAGMENT_SAMPLES: usize = 3000;

/// Fragment duration of an audio-only muxer without a target duration, in 90 kHz ticks
/// (2 s, the HLS authoring spec's suggested part/segment granularity for audio).
pub const AUDIO_ONLY_FRAGMENT_90K: i64 = 2 * 90_000;

/// Before the first fragment the muxer waits for every track to bring its first usable
/// sample, so that the common time origin is the earliest of them; a track silent for this
/// long (in 90 kHz ticks of the other tracks' DTS span) is left out of that choice.
pub const START_WAIT_90K: i64 = 90_000;

/// How far the leading track may run past a cut point before the fragment goes out
/// without the other tracks' samples up to it, in 90 kHz ticks. MPEG-TS muxers keep
/// audio and video within about 0.7 s of each other (ffmpeg's default `max_delay`); 1 s
/// covers that, and bounds the extra latency of a fragment (HLS parts included).
pub const MAX_TRACK_SKEW_90K: i64 = 90_000;

/// Frames buffered at most while waiting for the start (≈ 5 s of 50 fps video with
/// 48 kHz audio); past it the start is decided as with [`START_WAIT_90K`].
pub const MAX_START_FRAMES: usize = 500;

/// Duration given to the last sample of a track at [`Fmp4Muxer::flush`] when the track
/// has only one sample and so no previous duration: one 25 fps frame, in 90 kHz ticks.
pub const LONE_VIDEO_SAMPLE_90K: u32 = 3600;

/// Errors of the fMP4 muxer. After an input error from `push` (every variant but
/// `Encode`, which would be a bug) the frame was not taken and the muxer is unchanged, so
/// the caller may skip the frame, or `flush` and start a new file (`ParameterSetsChanged`).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Mp4Error {
    #[error("no tracks: a muxer needs at least one video or audio track")]
    NoTracks,
    #[error(
        "{video} video and {audio} audio tracks: at most 1 video and {MAX_AUDIO_TRACKS} audio"
    )]
    TooManyTracks { video: usize, audio: usize },
    #[error("track {track} does not exist (the muxer has {tracks})")]
    UnknownTrack { track: usize, tracks: usize },
    #[error("track {track} is {expected:?} but the frame is {got:?}")]
    CodecMismatch {
        track: usize,
        expected: Codec,
        got: Codec,
    },
    #[error("track {track} config is for {codec:?}, not a video codec")]
    NotVideo { track: usize, codec: Codec },
    #[error("audio sample rate {0} Hz is not usable as an MP4 timescale")]
    SampleRate(u32),
    #[error("track {track}: DTS {dts} does not increase past the previous {previous} (90 kHz)")]
    DtsNotIncreasing {
        track: usize,
        previous: i64,
        dts: i64,
    },
    #[error("track {track}: PTS - DTS = {offset} ticks does not fit a signed 32-bit offset")]
    CompositionOffset { track: usize, offset: i64 },
    #[error("track {track}: DTS {dts} is too far from the origin {origin} (90 kHz)")]
    TimestampRange { track: usize, dts: i64, origin: i64 },
    #[error("track {track}: sample of {len} bytes exceeds the fragment limit of {max}")]
    SampleTooLarge {
        track: usize,
        len: usize,
        max: usize,
    },
    #[error("track {track}: in-band {what} differs from the init segment's; start a new file")]
    ParameterSetsChanged { track: usize, what: &'static str },
    #[error("box encoding failed: {0}")]
    Encode(String),
}

impl From<mp4_atom::Error> for Mp4Error {
    fn from(e: mp4_atom::Error) -> Self {
        Mp4Error::Encode(e.to_string())
    }
}
