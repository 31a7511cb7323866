//! [`Fmp4Muxer`]: timing, start, and fragment cutting.
//!
//! Input contract: per track, DTS on the 90 kHz clock, unwrapped and strictly increasing
//! (what [`crate::ts::TsDemuxer`] and the FLV parser give, after the engine's own
//! continuity handling across publisher reconnects). A DTS that does not increase is
//! [`Mp4Error::DtsNotIncreasing`]; the frame is refused and nothing else changes. Video
//! data is Annex B, audio raw AAC frames, as in [`Frame`].
//!
//! Time origin: the earliest first DTS among the tracks becomes decode time 0 of the file,
//! so tracks keep their relative offset (A/V sync). Until every track has brought its first
//! usable sample (video: the first keyframe; earlier video frames cannot be decoded and are
//! dropped) the muxer buffers, at most [`START_WAIT_90K`] of DTS span or
//! [`MAX_START_FRAMES`] frames. Frames later found before the origin are dropped and
//! counted in [`MuxerStats::dropped_before_start`].

use super::fragment::{write_fragment, SampleEntry, TrackRun, FLAGS_NON_SYNC, FLAGS_SYNC};
use super::init::{init_segment, timescale, track_id, VIDEO_TIMESCALE};
use super::sample::append_avcc;
use super::{
    Mp4Error, AUDIO_ONLY_FRAGMENT_90K, LONE_VIDEO_SAMPLE_90K, MAX_AUDIO_TRACKS, MAX_FRAGMENT_BYTES,
    MAX_FRAGMENT_SAMPLES, MAX_START_FRAMES, START_WAIT_90K,
};
use crate::aac::SAMPLES_PER_FRAME;
use crate::frame::{AudioConfig, Codec, Frame, VideoConfig};
use bytes::{Bytes, BytesMut};

/// One track of the muxer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrackConfig {
    Video(VideoConfig),
    Audio(AudioConfig),
}

impl TrackConfig {
    fn codec(&self) -> Codec {
        match self {
            TrackConfig::Video(v) => v.codec,
            TrackConfig::Audio(_) => Codec::Aac,
        }
    }
}

/// Muxer options.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Fmp4Options {
    /// Shortest fragment in 90 kHz ticks. A fragment is still cut only before a video
    /// keyframe, once at least this much of it is buffered. `None`: one fragment per GOP
    /// (video), or [`AUDIO_ONLY_FRAGMENT_90K`] (audio only).
    pub fragment_duration_90k: Option<i64>,
}

/// One `moof`+`mdat`, ready to append to the file after the init segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fragment {
    /// `mfhd.sequence_number`, from 1.
    pub sequence: u32,
    pub data: Bytes,
    /// Decode time of the leading track's first sample (video, else the first audio
    /// track), 90 kHz ticks since the file's origin.
    pub start_90k: i64,
    /// Sum of the leading track's sample durations in the fragment, 90 kHz ticks.
    pub duration_90k: i64,
    /// True when the fragment starts with a sync sample (always, unless cut by
    /// [`MAX_FRAGMENT_BYTES`] / [`MAX_FRAGMENT_SAMPLES`]).
    pub independent: bool,
}

/// Counters for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MuxerStats {
    pub fragments: u64,
    pub samples: u64,
    /// Video before the first keyframe, and frames before the time origin.
    pub dropped_before_start: u64,
    /// Fragments cut without a keyframe because a limit was reached.
    pub forced_cuts: u64,
}

/// A frame converted to its sample form, not yet placed on the file's timeline.
#[derive(Debug, Clone)]
struct Prepared {
    dts: i64,
    cto: i32,
    sync: bool,
    data: Bytes,
}

/// The last sample of a track, waiting for its successor to know its duration.
#[derive(Debug, Clone)]
struct Held {
    decode_time: u64,
    sample: Prepared,
}

#[derive(Debug)]
struct Track {
    config: TrackConfig,
    timescale: u32,
    run: TrackRun,
    held: Option<Held>,
    last_duration: Option<u32>,
    last_dts: Option<i64>,
}

/// Fragmented-MP4 muxer; see the [module docs](super) for the layout and the input
/// contract above (DTS strictly increasing per track, common origin, start buffering).
///
/// Audio durations come from the DTS converted to the sample rate, so a 90 kHz or
/// millisecond source gives 1023/1024/1025-sample steps that add up exactly; decoders play
/// 1024 samples per frame regardless.
#[derive(Debug)]
pub struct Fmp4Muxer {
    tracks: Vec<Track>,
    /// The track whose keyframes (or duration, audio only) cut fragments.
    leader: usize,
    options: Fmp4Options,
    origin: Option<i64>,
    prestart: Vec<(usize, Prepared)>,
    /// DTS (90 kHz) of the leader's first sample in the fragment being built.
    fragment_start: Option<i64>,
    sequence: u32,
    stats: MuxerStats,
}

impl Fmp4Muxer {
    /// A muxer for `tracks` (track `i` gets MP4 track id `i + 1`).
    pub fn new(tracks: Vec<TrackConfig>, options: Fmp4Options) -> Result<Self, Mp4Error> {
        if tracks.is_empty() {
            return Err(Mp4Error::NoTracks);
        }
        let video = tracks
            .iter()
            .filter(|t| matches!(t, TrackConfig::Video(_)))
            .count();
        let audio = tracks.len() - video;
        if video > 1 || audio > MAX_AUDIO_TRACKS {
            return Err(Mp4Error::TooManyTracks { video, audio });
        }
        for (track, config) in tracks.iter().enumerate() {
            match config {
                TrackConfig::Video(v) if !v.codec.is_video() => {
                    return Err(Mp4Error::NotVideo {
                        track,
                        codec: v.codec,
                    })
                }
                TrackConfig::Audio(a) if a.sample_rate == 0 => {
                    return Err(Mp4Error::SampleRate(a.sample_rate))
                }
                _ => {}
            }
        }
        let leader = tracks
            .iter()
            .position(|t| matches!(t, TrackConfig::Video(_)))
            .unwrap_or(0);
        let tracks = tracks
            .into_iter()
            .enumerate()
            .map(|(i, config)| Track {
                timescale: timescale(&config),
                config,
                run: TrackRun {
                    track_id: track_id(i),
                    ..Default::default()
                },
                held: None,
                last_duration: None,
                last_dts: None,
            })
            .collect();
        Ok(Self {
            tracks,
            leader,
            options,
            origin: None,
            prestart: Vec::new(),
            fragment_start: None,
            sequence: 0,
            stats: MuxerStats::default(),
        })
    }

    /// `ftyp` + `moov`: write it first, and again at the start of every new file.
    pub fn init_segment(&self) -> Result<Bytes, Mp4Error> {
        let configs: Vec<TrackConfig> = self.tracks.iter().map(|t| t.config.clone()).collect();
        init_segment(&configs)
    }

    pub fn stats(&self) -> MuxerStats {
        self.stats
    }

    /// The time origin (90 kHz DTS that is decode time 0), once decided.
    pub fn origin_90k(&self) -> Option<i64> {
        self.origin
    }

    /// Takes one frame of `track`; completed fragments are appended to `out`.
    pub fn push(
        &mut self,
        track: usize,
        frame: &Frame,
        out: &mut Vec<Fragment>,
    ) -> Result<(), Mp4Error> {
        let t = self.tracks.get(track).ok_or(Mp4Error::UnknownTrack {
            track,
            tracks: self.tracks.len(),
        })?;
        if t.config.codec() != frame.codec {
            return Err(Mp4Error::CodecMismatch {
                track,
                expected: t.config.codec(),
                got: frame.codec,
            });
        }
        if let Some(previous) = t.last_dts.filter(|p| frame.dts <= *p) {
            return Err(Mp4Error::DtsNotIncreasing {
                track,
                previous,
                dts: frame.dts,
            });
        }
        let prepared = prepare(track, t, frame)?;
        match self.origin {
            Some(_) => self.place(track, prepared, out)?,
            None => self.buffer_start(track, prepared, out)?,
        }
        self.tracks[track].last_dts = Some(frame.dts);
        Ok(())
    }

    /// Ends the stream: the last sample of each track gets the duration of the one before
    /// it (one AAC frame for audio, [`LONE_VIDEO_SAMPLE_90K`] for a lone video sample) and
    /// everything buffered comes out as a last fragment.
    pub fn flush(&mut self, out: &mut Vec<Fragment>) -> Result<(), Mp4Error> {
        if self.origin.is_none() && !self.prestart.is_empty() {
            self.start(out)?;
        }
        for t in &mut self.tracks {
            if let Some(held) = t.held.take() {
                let duration = t.last_duration.unwrap_or(match t.config {
                    TrackConfig::Video(_) => LONE_VIDEO_SAMPLE_90K,
                    TrackConfig::Audio(_) => SAMPLES_PER_FRAME,
                });
                append(t, held, duration);
            }
        }
        self.cut(false, out)
    }

    fn buffer_start(
        &mut self,
        track: usize,
        prepared: Prepared,
        out: &mut Vec<Fragment>,
    ) -> Result<(), Mp4Error> {
        let is_video = matches!(self.tracks[track].config, TrackConfig::Video(_));
        let started = self.prestart.iter().any(|(t, _)| *t == track);
        if is_video && !started && !prepared.sync {
            self.stats.dropped_before_start += 1;
            return Ok(());
        }
        self.prestart.push((track, prepared));
        let all = (0..self.tracks.len()).all(|i| self.prestart.iter().any(|(t, _)| *t == i));
        let (lo, hi) = self
            .prestart
            .iter()
            .fold((i64::MAX, i64::MIN), |(lo, hi), (_, p)| {
                (lo.min(p.dts), hi.max(p.dts))
            });
        if all || hi.saturating_sub(lo) >= START_WAIT_90K || self.prestart.len() >= MAX_START_FRAMES
        {
            self.start(out)?;
        }
        Ok(())
    }

    /// Fixes the origin at the earliest buffered DTS and places the buffered samples.
    fn start(&mut self, out: &mut Vec<Fragment>) -> Result<(), Mp4Error> {
        let buffered = std::mem::take(&mut self.prestart);
        self.origin = buffered.iter().map(|(_, p)| p.dts).min();
        for (track, prepared) in buffered {
            self.place(track, prepared, out)?;
        }
        Ok(())
    }

    /// Puts a sample on the timeline: completes the track's held sample and cuts a fragment
    /// before `prepared` when it is time.
    fn place(
        &mut self,
        track: usize,
        prepared: Prepared,
        out: &mut Vec<Fragment>,
    ) -> Result<(), Mp4Error> {
        let origin = self.origin.unwrap_or(prepared.dts);
        if prepared.dts < origin {
            self.stats.dropped_before_start += 1;
            return Ok(());
        }
        let t = &self.tracks[track];
        let decode_time =
            to_timescale(prepared.dts - origin, t.timescale).ok_or(Mp4Error::TimestampRange {
                track,
                dts: prepared.dts,
                origin,
            })?;
        let duration = match &t.held {
            None => None,
            Some(h) => Some(
                decode_time
                    .checked_sub(h.decode_time)
                    .filter(|d| *d > 0)
                    .and_then(|d| u32::try_from(d).ok())
                    .ok_or(Mp4Error::DtsNotIncreasing {
                        track,
                        previous: h.sample.dts,
                        dts: prepared.dts,
                    })?,
            ),
        };
        let t = &mut self.tracks[track];
        if let (Some(held), Some(duration)) = (t.held.take(), duration) {
            append(t, held, duration);
            t.last_duration = Some(duration);
        }
        if track == self.leader && self.leader_cuts_before(&prepared) {
            self.cut(false, out)?;
        } else if self.over_limits(prepared.data.len()) {
            self.cut(true, out)?;
        }
        if track == self.leader && self.fragment_start.is_none() {
            self.fragment_start = Some(prepared.dts);
        }
        self.tracks[track].held = Some(Held {
            decode_time,
            sample: prepared,
        });
        Ok(())
    }

    fn leader_cuts_before(&self, next: &Prepared) -> bool {
        let Some(start) = self.fragment_start else {
            return false;
        };
        let is_video = matches!(self.tracks[self.leader].config, TrackConfig::Video(_));
        let target = match (self.options.fragment_duration_90k, is_video) {
            (Some(d), _) => d,
            (None, true) => 0,
            (None, false) => AUDIO_ONLY_FRAGMENT_90K,
        };
        next.sync && next.dts.saturating_sub(start) >= target
    }

    fn over_limits(&self, incoming: usize) -> bool {
        let bytes: usize = self.tracks.iter().map(|t| t.run.data.len()).sum();
        bytes + incoming > MAX_FRAGMENT_BYTES
            || self
                .tracks
                .iter()
                .any(|t| t.run.samples.len() >= MAX_FRAGMENT_SAMPLES)
    }

    /// Emits the completed samples of every track as one fragment (nothing if none).
    fn cut(&mut self, forced: bool, out: &mut Vec<Fragment>) -> Result<(), Mp4Error> {
        let runs: Vec<TrackRun> = self
            .tracks
            .iter_mut()
            .filter(|t| !t.run.samples.is_empty())
            .map(|t| {
                let id = t.run.track_id;
                std::mem::replace(
                    &mut t.run,
                    TrackRun {
                        track_id: id,
                        ..Default::default()
                    },
                )
            })
            .collect();
        if runs.is_empty() {
            return Ok(());
        }
        let leader = &self.tracks[self.leader];
        let leader_id = leader.run.track_id;
        let lead = runs.iter().find(|r| r.track_id == leader_id);
        let scale = i128::from(VIDEO_TIMESCALE);
        let to_90k = |v: u64| {
            i64::try_from(i128::from(v) * scale / i128::from(leader.timescale)).unwrap_or(i64::MAX)
        };
        let (start_90k, duration_90k) = lead.map_or((0, 0), |r| {
            let total: u64 = r.samples.iter().map(|s| u64::from(s.duration)).sum();
            (to_90k(r.base_decode_time), to_90k(total))
        });
        let has_video = self
            .tracks
            .iter()
            .any(|t| matches!(t.config, TrackConfig::Video(_)));
        let independent = !has_video
            || lead
                .and_then(|r| r.samples.first())
                .is_some_and(|s| s.flags == FLAGS_SYNC);
        self.sequence = self.sequence.wrapping_add(1);
        let data = write_fragment(self.sequence, &runs)?;
        self.stats.fragments += 1;
        if forced {
            self.stats.forced_cuts += 1;
        }
        self.fragment_start = None;
        out.push(Fragment {
            sequence: self.sequence,
            data,
            start_90k,
            duration_90k,
            independent,
        });
        Ok(())
    }
}

/// Adds a completed sample to the track's run.
fn append(t: &mut Track, held: Held, duration: u32) {
    if t.run.samples.is_empty() {
        t.run.base_decode_time = held.decode_time;
    }
    let s = held.sample;
    t.run.samples.push(SampleEntry {
        duration,
        // Bounded by MAX_FRAGMENT_BYTES when prepared.
        size: u32::try_from(s.data.len()).unwrap_or(u32::MAX),
        flags: if s.sync { FLAGS_SYNC } else { FLAGS_NON_SYNC },
        cto: s.cto,
    });
    t.run.data.extend_from_slice(&s.data);
}

/// Converts a frame to its sample bytes and composition offset, without touching state.
fn prepare(track: usize, t: &Track, frame: &Frame) -> Result<Prepared, Mp4Error> {
    let data = match &t.config {
        TrackConfig::Video(config) => {
            let mut buf = BytesMut::with_capacity(frame.data.len());
            append_avcc(track, config, &frame.data, &mut buf)?;
            buf.freeze()
        }
        TrackConfig::Audio(_) => frame.data.clone(),
    };
    if data.len() > MAX_FRAGMENT_BYTES {
        return Err(Mp4Error::SampleTooLarge {
            track,
            len: data.len(),
            max: MAX_FRAGMENT_BYTES,
        });
    }
    let offset = frame.pts.saturating_sub(frame.dts);
    let cto = i64::try_from(i128::from(offset) * i128::from(t.timescale) / 90_000)
        .ok()
        .and_then(|c| i32::try_from(c).ok())
        .ok_or(Mp4Error::CompositionOffset { track, offset })?;
    let sync = match t.config {
        TrackConfig::Video(_) => frame.keyframe,
        TrackConfig::Audio(_) => true,
    };
    Ok(Prepared {
        dts: frame.dts,
        cto,
        sync,
        data,
    })
}

/// 90 kHz ticks since the origin in `timescale` units, rounded to nearest.
fn to_timescale(ticks: i64, timescale: u32) -> Option<u64> {
    let scaled = (i128::from(ticks) * i128::from(timescale) + 45_000) / 90_000;
    u64::try_from(scaled).ok()
}
