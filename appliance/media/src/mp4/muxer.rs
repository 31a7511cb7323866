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
//!
//! Cutting: the leading track (video, else the first audio track) decides a cut point, the
//! DTS of the keyframe that starts the next fragment. Every track's samples before that DTS
//! go in the fragment, the rest in the next one, so audio and video fragments cover the
//! same span (what HLS segments and split recording files need). Tracks arrive interleaved
//! with some skew, so a fragment goes out once each other track has a sample at or past
//! the cut point, or once the leader is [`MAX_TRACK_SKEW_90K`] past it (a silent or very
//! late track then has its samples in the following fragment: still gapless per track).

use super::fragment::{write_fragment, TrackRun, FLAGS_SYNC};
use super::init::{init_segment, VIDEO_TIMESCALE};
use super::track::{to_timescale, Held, Prepared, Track};
use super::{
    Mp4Error, AUDIO_ONLY_FRAGMENT_90K, LONE_VIDEO_SAMPLE_90K, MAX_AUDIO_TRACKS, MAX_FRAGMENT_BYTES,
    MAX_FRAGMENT_SAMPLES, MAX_START_FRAMES, MAX_TRACK_SKEW_90K, START_WAIT_90K,
};
use crate::aac::SAMPLES_PER_FRAME;
use crate::frame::{AudioConfig, Codec, Frame, VideoConfig};
use bytes::Bytes;
use std::collections::VecDeque;

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
    /// LL-HLS parts, in 90 kHz ticks: a fragment is also cut at a non-keyframe once it
    /// spans this much, and at every keyframe (so the caller can start a segment at any
    /// of them); `fragment_duration_90k` is then not used. A part that does not start
    /// with a keyframe has [`Fragment::independent`] false. `None`: no parts.
    pub part_duration_90k: Option<i64>,
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
    /// Decided cut points (90 kHz DTS) whose fragment is not out yet.
    cuts: VecDeque<i64>,
    /// DTS of the leader's newest sample.
    leader_dts: Option<i64>,
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
            .map(|(i, config)| Track::new(i, config))
            .collect();
        Ok(Self {
            tracks,
            leader,
            options,
            origin: None,
            prestart: Vec::new(),
            fragment_start: None,
            cuts: VecDeque::new(),
            leader_dts: None,
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
        let prepared = t.prepare(track, frame)?;
        match self.origin {
            Some(_) => self.place(track, prepared, out)?,
            None => self.buffer_start(track, prepared, out)?,
        }
        self.tracks[track].last_dts = Some(frame.dts);
        Ok(())
    }

    /// Ends the stream: the last sample of each track gets the duration of the one before
    /// it (one AAC frame for audio, [`LONE_VIDEO_SAMPLE_90K`] for a lone video sample) and
    /// everything buffered comes out as the last fragments. A new file takes a new muxer.
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
                t.complete(held, duration);
            }
        }
        while let Some(cut) = self.cuts.pop_front() {
            self.emit(Some(cut), false, out)?;
        }
        self.emit(None, false, out)
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

    /// Puts a sample on the timeline: completes the track's held sample, decides a cut
    /// before `prepared` when it is time, and writes the fragments that are ready.
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
            t.complete(held, duration);
        }
        if self.over_limits(prepared.data.len()) {
            // Everything queued goes out now, the decided cuts first.
            while let Some(cut) = self.cuts.pop_front() {
                self.emit(Some(cut), false, out)?;
            }
            self.emit(None, true, out)?;
            self.fragment_start = None;
        }
        if track == self.leader {
            if self.leader_cuts_before(&prepared) {
                self.cuts.push_back(prepared.dts);
                self.fragment_start = Some(prepared.dts);
            }
            self.fragment_start.get_or_insert(prepared.dts);
            self.leader_dts = Some(prepared.dts);
        }
        self.tracks[track].held = Some(Held {
            decode_time,
            sample: prepared,
        });
        while let Some(&cut) = self.cuts.front() {
            if !self.ready(cut) {
                break;
            }
            self.cuts.pop_front();
            self.emit(Some(cut), false, out)?;
        }
        Ok(())
    }

    fn leader_cuts_before(&self, next: &Prepared) -> bool {
        let Some(start) = self.fragment_start else {
            return false;
        };
        let target = match (
            self.options.fragment_duration_90k,
            self.tracks[self.leader].is_video(),
        ) {
            (Some(d), _) => d,
            (None, true) => 0,
            (None, false) => AUDIO_ONLY_FRAGMENT_90K,
        };
        let elapsed = next.dts.saturating_sub(start);
        if elapsed <= 0 {
            return false;
        }
        match self.options.part_duration_90k {
            Some(part) => next.sync || elapsed >= part,
            None => next.sync && elapsed >= target,
        }
    }

    /// True when every sample before `cut` is known: each other track has a sample at or
    /// past it, or the leader is far enough past it that waiting longer is pointless.
    fn ready(&self, cut: i64) -> bool {
        let leader_past = self
            .leader_dts
            .is_some_and(|d| d.saturating_sub(cut) >= MAX_TRACK_SKEW_90K);
        leader_past
            || self.tracks.iter().enumerate().all(|(i, t)| {
                i == self.leader || t.held.as_ref().is_some_and(|h| h.sample.dts >= cut)
            })
    }

    fn over_limits(&self, incoming: usize) -> bool {
        let (bytes, most) = self
            .tracks
            .iter()
            .map(Track::queued)
            .fold((0, 0), |(b, m), (tb, ts)| (b + tb, m.max(ts)));
        bytes + incoming > MAX_FRAGMENT_BYTES || most >= MAX_FRAGMENT_SAMPLES
    }

    /// Writes the queued samples before `limit` (all when `None`) as one fragment; nothing
    /// when there are none.
    fn emit(
        &mut self,
        limit: Option<i64>,
        forced: bool,
        out: &mut Vec<Fragment>,
    ) -> Result<(), Mp4Error> {
        let runs: Vec<TrackRun> = self
            .tracks
            .iter_mut()
            .map(|t| t.take_run(limit))
            .filter(|r| !r.samples.is_empty())
            .collect();
        if runs.is_empty() {
            return Ok(());
        }
        let leader = &self.tracks[self.leader];
        let lead = runs.iter().find(|r| r.track_id == leader.id);
        let to_90k = |v: u64| {
            let ticks = i128::from(v) * i128::from(VIDEO_TIMESCALE) / i128::from(leader.timescale);
            i64::try_from(ticks).unwrap_or(i64::MAX)
        };
        let (start_90k, duration_90k) = lead.map_or((0, 0), |r| {
            let total: u64 = r.samples.iter().map(|s| u64::from(s.duration)).sum();
            (to_90k(r.base_decode_time), to_90k(total))
        });
        let independent = !leader.is_video()
            || lead
                .and_then(|r| r.samples.first())
                .is_some_and(|s| s.flags == FLAGS_SYNC);
        self.sequence = self.sequence.wrapping_add(1);
        let data = write_fragment(self.sequence, &runs)?;
        self.stats.fragments += 1;
        self.stats.samples += runs.iter().map(|r| r.samples.len() as u64).sum::<u64>();
        if forced {
            self.stats.forced_cuts += 1;
        }
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
