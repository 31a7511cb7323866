//! The hub's MPEG-TS demuxed into frames and muxed as fragmented MP4: the one TS → fMP4
//! path, used by `mp4` recordings (one fragment per GOP, files on disk) and by HLS
//! sessions (LL-HLS parts, kept in memory, see `crate::hls`).
//!
//! It holds no file: it tells its [`Fmp4Sink`] when a file starts (with its init segment),
//! hands it whole fragments and says when the file ends. A new file begins when the
//! segment duration is reached (at the next keyframe, in media time), when the codec
//! configuration changes (an init segment describes one), and after a publisher blip only
//! if the stream's tracks changed: a blip otherwise continues the file, its timestamps
//! moved to follow the last written ones. For HLS a "file" is what one init segment
//! describes (`#EXT-X-MAP`), so it never ends by duration.

use std::collections::VecDeque;

use bytes::Bytes;
use relevo_media::aac::SAMPLES_PER_FRAME;
use relevo_media::frame::{AudioConfig, Codec, Frame, VideoConfig};
use relevo_media::mp4::{Fmp4Muxer, Fmp4Options, Fragment, Mp4Error, TrackConfig};
use relevo_media::ts::{DemuxEvent, TsDemuxer};

use super::{RecordError, Sink, REBASE_STEP_90K};

/// A forward DTS jump at a keyframe longer than both this (100 ms) and [`JUMP_STEPS`]
/// frame steps is a new publication spliced on (see `Mp4Writer::frame`); a slow frame rate
/// (a slide show at one frame a second) is not a jump.
const JUMP_MIN_90K: i64 = 9_000;
const JUMP_STEPS: i64 = 3;

/// Frames of a returning publisher let go while waiting for its first video keyframe
/// before anchoring on whatever comes: about 2 s of 48 kHz AAC.
const MAX_REBASE_WAIT_FRAMES: usize = 100;

/// Where an [`Mp4Writer`] puts what it makes: a recording's files (every [`Sink`] is
/// one), an HLS session's window.
pub(crate) trait Fmp4Sink {
    type Error: From<Mp4Error>;
    /// A new file starts with `init` (the previous one, if any, was ended).
    fn start_file(&mut self, init: Bytes) -> Result<(), Self::Error>;
    /// One fragment of the current file; `file_90k`: the file's duration once it is in.
    fn fragment(&mut self, fragment: Fragment, file_90k: i64) -> Result<(), Self::Error>;
    /// The current file ends.
    fn end_file(&mut self) -> Result<(), Self::Error>;
    /// The next fragment starts where a returning publisher's stream was spliced on (a
    /// blip inside the grace period): an HLS window starts a segment there. A recording
    /// just goes on.
    fn splice(&mut self) {}
}

impl<S: Sink + ?Sized> Fmp4Sink for S {
    type Error = RecordError;
    fn start_file(&mut self, init: Bytes) -> Result<(), RecordError> {
        self.open()?;
        self.write(&init, 0)
    }
    fn fragment(&mut self, fragment: Fragment, file_90k: i64) -> Result<(), RecordError> {
        self.write(&fragment.data, file_90k)
    }
    fn end_file(&mut self) -> Result<(), RecordError> {
        self.close()
    }
}

/// Frame duration assumed when a file starts with fewer than two video frames to measure
/// it from: one frame at 23.976 fps, the slowest common broadcast rate (see
/// [`Mp4Writer::with_parts`]).
const FALLBACK_FRAME_90K: i64 = 3754;

/// Frames held while waiting for every track's configuration at the start of a file (about
/// 4 s of 50 fps video with 48 kHz AAC). Past it the file starts with the tracks known.
const MAX_PENDING_FRAMES: usize = 400;

/// How long (90 kHz DTS span of the held frames) a file waits for a track the PMT announces
/// but that brings no configuration, before starting without it: 2 s.
const START_WAIT_90K: i64 = 2 * 90_000;

/// The file being written.
#[derive(Debug)]
struct Open {
    muxer: Fmp4Muxer,
    video: Option<VideoConfig>,
    audio: Option<AudioConfig>,
    /// DTS of the file's first frame (90 kHz, after rebasing).
    start: i64,
}

/// See the [module docs](self).
#[derive(Debug)]
pub(crate) struct Mp4Writer {
    segment_90k: i64,
    /// Longest LL-HLS part, if parts are cut (90 kHz).
    part_90k: Option<i64>,
    demux: TsDemuxer,
    events: Vec<DemuxEvent>,
    /// What the current PMT carries.
    wants_video: bool,
    wants_audio: bool,
    video: Option<VideoConfig>,
    audio: Option<AudioConfig>,
    /// Frames waiting for the next file to start.
    pending: VecDeque<Frame>,
    file: Option<Open>,
    /// Added to every timestamp: moves a returning publisher's clock after the last frame.
    offset: i64,
    /// The next frame starts a new timeline (a new publisher, or a resync after a loss).
    rebase: bool,
    /// Frames of the new timeline let go while waiting for its first video keyframe.
    rebase_waited: usize,
    /// Rebased DTS of the new timeline's first frame, until the fragment that starts there
    /// has been handed to the sink ([`Fmp4Sink::splice`]).
    splice_at: Option<i64>,
    /// Highest DTS given to the muxer or held (after rebasing), per kind.
    last_video: Option<i64>,
    last_audio: Option<i64>,
    /// Last DTS step between two frames muxed, per kind (0: not known yet).
    video_step: i64,
    audio_step: i64,
    fragments: Vec<Fragment>,
    /// Frames refused (timestamps going back, or the muxer's other input errors).
    pub skipped: u64,
}

impl Mp4Writer {
    pub fn new(segment_90k: i64) -> Self {
        Self {
            segment_90k,
            part_90k: None,
            demux: TsDemuxer::new(),
            events: Vec::new(),
            wants_video: false,
            wants_audio: false,
            video: None,
            audio: None,
            pending: VecDeque::new(),
            file: None,
            offset: 0,
            rebase: false,
            rebase_waited: 0,
            splice_at: None,
            last_video: None,
            last_audio: None,
            video_step: 0,
            audio_step: 0,
            fragments: Vec::new(),
            skipped: 0,
        }
    }

    /// Cuts fragments as LL-HLS parts of at most `part_90k` each (and at every keyframe).
    ///
    /// The muxer cuts a part once it spans at least its option, so after the frame that
    /// reaches it: it is given one frame less (the frame duration measured at each file's
    /// start), so that no part is longer than `part_90k`.
    pub fn with_parts(mut self, part_90k: i64) -> Self {
        self.part_90k = Some(part_90k);
        self
    }

    /// The stream continues from another publisher (or after a loss): what the old
    /// demuxer holds is written, then a new demuxer, and the next frames follow the last
    /// written ones.
    pub fn resume<S: Fmp4Sink + ?Sized>(&mut self, sink: &mut S) -> Result<(), S::Error> {
        let flushed = self.flush_demuxer(sink);
        self.demux = TsDemuxer::new();
        self.rebase = true;
        flushed
    }

    /// The last PES of each stream, which the demuxer emits only when the next one starts.
    fn flush_demuxer<S: Fmp4Sink + ?Sized>(&mut self, sink: &mut S) -> Result<(), S::Error> {
        let mut events = std::mem::take(&mut self.events);
        events.clear();
        self.demux.flush(&mut events);
        let result = events.drain(..).try_for_each(|ev| self.event(ev, sink));
        self.events = events;
        result
    }

    /// Takes whole TS packets in the order the hub sent them.
    pub fn push<S: Fmp4Sink + ?Sized>(&mut self, ts: &[u8], sink: &mut S) -> Result<(), S::Error> {
        let mut events = std::mem::take(&mut self.events);
        events.clear();
        // Stream errors are the input's to count (the hub does); whatever parsed is used.
        let _ = self.demux.push(ts, &mut events);
        let result = events.drain(..).try_for_each(|ev| self.event(ev, sink));
        self.events = events;
        result
    }

    /// The stream ended: everything held goes out and the file is closed.
    pub fn finish<S: Fmp4Sink + ?Sized>(&mut self, sink: &mut S) -> Result<(), S::Error> {
        let flushed = self.flush_demuxer(sink);
        self.pending.clear();
        let closed = self.close_file(sink);
        flushed.and(closed)
    }

    fn event<S: Fmp4Sink + ?Sized>(
        &mut self,
        ev: DemuxEvent,
        sink: &mut S,
    ) -> Result<(), S::Error> {
        match ev {
            DemuxEvent::Program(tracks) => {
                self.wants_video = tracks.iter().any(|t| t.codec.is_some_and(Codec::is_video));
                self.wants_audio = tracks.iter().any(|t| t.codec == Some(Codec::Aac));
                Ok(())
            }
            DemuxEvent::VideoConfig(cfg) => {
                if self
                    .file
                    .as_ref()
                    .is_some_and(|f| f.video.as_ref() != Some(&cfg))
                {
                    self.close_file(sink)?;
                }
                self.video = Some(cfg);
                Ok(())
            }
            DemuxEvent::AudioConfig(cfg) => {
                if self
                    .file
                    .as_ref()
                    .is_some_and(|f| f.audio.as_ref() != Some(&cfg))
                {
                    self.close_file(sink)?;
                }
                self.audio = Some(cfg);
                Ok(())
            }
            DemuxEvent::Frame(f) => self.frame(f, sink),
            DemuxEvent::KeyframeStart { .. } => Ok(()),
        }
    }

    fn frame<S: Fmp4Sink + ?Sized>(&mut self, mut f: Frame, sink: &mut S) -> Result<(), S::Error> {
        // A keyframe after a jump forward: an RTMP publisher returning inside the grace
        // period, whose timestamps the hub moved on by the wall-clock time it was away
        // (what a push destination wants). Written as it is, the jump would be one sample
        // (and its LL-HLS part, its segment) lasting the whole absence; the file and the
        // playlist splice the new publication on instead, as for a returning SRT publisher
        // (`resume`). Only at a keyframe (audio-only: any frame), where a new publication
        // starts: a gap inside a GOP (frames the encoder dropped) stays as it is.
        let (last, step) = match f.codec.is_video() {
            true => (self.last_video, self.video_step),
            false => (self.last_audio, self.audio_step),
        };
        let splice_point = match f.codec.is_video() {
            true => f.keyframe,
            false => !(self.wants_video || self.video.is_some()),
        };
        if splice_point
            && !self.rebase
            && last.is_some_and(|l| f.dts + self.offset - l > (JUMP_STEPS * step).max(JUMP_MIN_90K))
        {
            self.rebase = true;
        }
        if self.rebase {
            // The new timeline is anchored on its first video keyframe, right after the
            // last video frame written: a returning encoder's audio often starts a little
            // before its video, and anchoring on that audio would leave a hole in the
            // video (a sample, an LL-HLS part, lasting the difference). The audio before
            // that keyframe is let go (a few frames; bounded, for a stream whose video
            // never comes back).
            let video = self.wants_video || self.video.is_some();
            let anchor = f.codec.is_video() && f.keyframe;
            if video && !anchor && self.rebase_waited < MAX_REBASE_WAIT_FRAMES {
                self.rebase_waited += 1;
                return Ok(());
            }
            self.rebase = false;
            self.rebase_waited = 0;
            let last = match anchor {
                true => self.last_video.or(self.last_audio),
                false => self.last_video.max(self.last_audio),
            };
            if let Some(last) = last {
                self.offset = last + REBASE_STEP_90K - f.dts;
                self.splice_at = Some(last + REBASE_STEP_90K);
            }
        }
        f.dts += self.offset;
        f.pts += self.offset;
        let last = if f.codec.is_video() {
            self.last_video
        } else {
            self.last_audio
        };
        if last.is_some_and(|l| f.dts <= l) {
            // A returning publisher's audio a little before its keyframe, or a source whose
            // clock went back: the file's timeline only moves forward.
            self.skipped += 1;
            return Ok(());
        }
        let segment_over = f.keyframe
            && (f.codec.is_video() || self.video.is_none())
            && self
                .file
                .as_ref()
                .is_some_and(|o| f.dts - o.start >= self.segment_90k);
        if segment_over {
            self.close_file(sink)?;
        }
        if self.file.is_none() {
            return self.start_with(f, sink);
        }
        self.mux(f, sink)
    }

    /// Holds `f` until every track is configured, then opens a file with them.
    fn start_with<S: Fmp4Sink + ?Sized>(&mut self, f: Frame, sink: &mut S) -> Result<(), S::Error> {
        let has_key = self.pending.iter().any(|p| p.codec.is_video());
        if f.codec.is_video() && !has_key && !f.keyframe {
            return Ok(()); // a file starts with a keyframe
        }
        self.pending.push_back(f);
        if self.pending.len() > MAX_PENDING_FRAMES {
            self.pending.pop_front();
        }
        let video_ready = !self.wants_video || (self.video.is_some() && self.has_video_key());
        let audio_ready = !self.wants_audio || self.audio.is_some();
        let span = match (self.pending.front(), self.pending.back()) {
            (Some(a), Some(b)) => b.dts - a.dts,
            _ => 0,
        };
        let waited = span >= START_WAIT_90K || self.pending.len() >= MAX_PENDING_FRAMES;
        if !(waited || video_ready && audio_ready) {
            return Ok(());
        }
        let video = self.video.clone().filter(|_| self.has_video_key());
        let audio = self.audio.clone();
        let mut tracks = Vec::new();
        if let Some(v) = &video {
            tracks.push(TrackConfig::Video(v.clone()));
        }
        if let Some(a) = &audio {
            tracks.push(TrackConfig::Audio(a.clone()));
        }
        if tracks.is_empty() {
            self.pending.clear();
            return Ok(());
        }
        let options = self.muxer_options(&self.pending, video.is_some(), audio.as_ref());
        let muxer = Fmp4Muxer::new(tracks, options)?;
        let init = muxer.init_segment()?;
        // Frames of a track left out, and video before the first keyframe, are dropped.
        let held: Vec<Frame> = std::mem::take(&mut self.pending).into_iter().collect();
        let first_key = held.iter().position(|p| p.codec.is_video() && p.keyframe);
        let start = held
            .iter()
            .enumerate()
            .filter(|(i, p)| !p.codec.is_video() || first_key.is_some_and(|k| *i >= k))
            .map(|(_, p)| p.dts)
            .min()
            .unwrap_or(0);
        sink.start_file(init)?;
        self.file = Some(Open {
            muxer,
            video,
            audio,
            start,
        });
        for (i, p) in held.into_iter().enumerate() {
            if p.codec.is_video() && first_key.is_none_or(|k| i < k) {
                continue;
            }
            self.mux(p, sink)?;
        }
        Ok(())
    }

    /// The muxer's options for a file that starts with `held`: parts a frame shorter than
    /// the target (see [`Mp4Writer::with_parts`]).
    fn muxer_options(
        &self,
        held: &VecDeque<Frame>,
        video: bool,
        audio: Option<&AudioConfig>,
    ) -> Fmp4Options {
        let Some(part) = self.part_90k else {
            return Fmp4Options::default();
        };
        let step = if video {
            let dts = held.iter().filter(|f| f.codec.is_video()).map(|f| f.dts);
            let steps = dts.clone().zip(dts.skip(1)).map(|(a, b)| b - a);
            // A gap as long as a part is a loss, not the frame rate.
            steps
                .filter(|d| *d > 0 && *d < part)
                .max()
                .unwrap_or(FALLBACK_FRAME_90K)
        } else {
            let rate = i64::from(audio.map_or(48_000, |a| a.sample_rate).max(1));
            (i64::from(SAMPLES_PER_FRAME) * 90_000 + rate - 1) / rate
        };
        let longest = Some((part - step + 1).max(1));
        if video {
            Fmp4Options {
                part_duration_90k: longest,
                ..Fmp4Options::default()
            }
        } else {
            // Every AAC frame is a sync sample, and the muxer's part mode cuts at every
            // sync sample: audio alone would make one part per frame (21 ms). Its duration
            // mode cuts at the first sync sample past the target, which for audio is the
            // part wanted, every fragment independent.
            Fmp4Options {
                fragment_duration_90k: longest,
                ..Fmp4Options::default()
            }
        }
    }

    fn has_video_key(&self) -> bool {
        self.pending
            .iter()
            .any(|p| p.codec.is_video() && p.keyframe)
    }

    fn mux<S: Fmp4Sink + ?Sized>(&mut self, f: Frame, sink: &mut S) -> Result<(), S::Error> {
        let Some(open) = self.file.as_mut() else {
            return Ok(());
        };
        let track = match (
            f.codec.is_video(),
            open.video.is_some(),
            open.audio.is_some(),
        ) {
            (true, true, _) => 0,
            (false, v, true) => usize::from(v),
            _ => return Ok(()), // a track this file does not have
        };
        match open.muxer.push(track, &f, &mut self.fragments) {
            Ok(()) => {
                let (last, step) = match f.codec.is_video() {
                    true => (&mut self.last_video, &mut self.video_step),
                    false => (&mut self.last_audio, &mut self.audio_step),
                };
                if let Some(previous) = *last {
                    *step = f.dts - previous;
                }
                *last = Some(f.dts);
            }
            Err(Mp4Error::ParameterSetsChanged { .. }) => {
                // In-band parameter sets differ from the init segment's: a new file.
                self.close_file(sink)?;
                return self.start_with(f, sink);
            }
            Err(Mp4Error::Encode(e)) => return Err(Mp4Error::Encode(e).into()),
            Err(_) => self.skipped += 1,
        }
        self.write_out(sink)
    }

    fn write_out<S: Fmp4Sink + ?Sized>(&mut self, sink: &mut S) -> Result<(), S::Error> {
        let start = self.file.as_ref().map_or(0, |f| f.start);
        let origin = self
            .file
            .as_ref()
            .and_then(|f| f.muxer.origin_90k())
            .unwrap_or(start);
        for frag in self.fragments.drain(..) {
            if frag.independent
                && self
                    .splice_at
                    .is_some_and(|at| origin + frag.start_90k >= at)
            {
                self.splice_at = None;
                sink.splice();
            }
            let end = origin + frag.start_90k + frag.duration_90k - start;
            sink.fragment(frag, end)?;
        }
        Ok(())
    }

    fn close_file<S: Fmp4Sink + ?Sized>(&mut self, sink: &mut S) -> Result<(), S::Error> {
        let Some(open) = self.file.as_mut() else {
            return Ok(());
        };
        let flushed = open.muxer.flush(&mut self.fragments);
        let written = self.write_out(sink);
        self.file = None;
        flushed?;
        written?;
        sink.end_file()
    }
}
