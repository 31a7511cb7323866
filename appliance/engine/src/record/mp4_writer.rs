//! The `mp4` recording: the hub's MPEG-TS demuxed into frames and written as fragmented
//! MP4 files, one fragment per GOP, each file with its own init segment.
//!
//! It holds no file: it tells its [`Sink`] when a file starts, hands it whole fragments and
//! says when the file ends. A new file begins when the segment duration is reached (at the
//! next keyframe, in media time), when the codec configuration changes (an init segment
//! describes one), and after a publisher blip only if the stream's tracks changed: a blip
//! otherwise continues the file, its timestamps moved to follow the last written ones.

use std::collections::VecDeque;

use relevo_media::frame::{AudioConfig, Codec, Frame, VideoConfig};
use relevo_media::mp4::{Fmp4Muxer, Fmp4Options, Fragment, Mp4Error, TrackConfig};
use relevo_media::ts::{DemuxEvent, TsDemuxer};

use super::{RecordError, Sink, REBASE_STEP_90K};

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
    /// Highest DTS given to the muxer or held (after rebasing), per kind.
    last_video: Option<i64>,
    last_audio: Option<i64>,
    fragments: Vec<Fragment>,
    /// Frames refused (timestamps going back, or the muxer's other input errors).
    pub skipped: u64,
}

impl Mp4Writer {
    pub fn new(segment_90k: i64) -> Self {
        Self {
            segment_90k,
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
            last_video: None,
            last_audio: None,
            fragments: Vec::new(),
            skipped: 0,
        }
    }

    /// The stream continues from another publisher (or after a loss): what the old
    /// demuxer holds is written, then a new demuxer, and the next frames follow the last
    /// written ones.
    pub fn resume(&mut self, sink: &mut dyn Sink) -> Result<(), RecordError> {
        let flushed = self.flush_demuxer(sink);
        self.demux = TsDemuxer::new();
        self.rebase = true;
        flushed
    }

    /// The last PES of each stream, which the demuxer emits only when the next one starts.
    fn flush_demuxer(&mut self, sink: &mut dyn Sink) -> Result<(), RecordError> {
        let mut events = std::mem::take(&mut self.events);
        events.clear();
        self.demux.flush(&mut events);
        let result = events.drain(..).try_for_each(|ev| self.event(ev, sink));
        self.events = events;
        result
    }

    /// Takes whole TS packets in the order the hub sent them.
    pub fn push(&mut self, ts: &[u8], sink: &mut dyn Sink) -> Result<(), RecordError> {
        let mut events = std::mem::take(&mut self.events);
        events.clear();
        // Stream errors are the input's to count (the hub does); whatever parsed is used.
        let _ = self.demux.push(ts, &mut events);
        let result = events.drain(..).try_for_each(|ev| self.event(ev, sink));
        self.events = events;
        result
    }

    /// The stream ended: everything held goes out and the file is closed.
    pub fn finish(&mut self, sink: &mut dyn Sink) -> Result<(), RecordError> {
        let flushed = self.flush_demuxer(sink);
        self.pending.clear();
        let closed = self.close_file(sink);
        flushed.and(closed)
    }

    fn event(&mut self, ev: DemuxEvent, sink: &mut dyn Sink) -> Result<(), RecordError> {
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

    fn frame(&mut self, mut f: Frame, sink: &mut dyn Sink) -> Result<(), RecordError> {
        if self.rebase {
            self.rebase = false;
            if let Some(last) = self.last_video.max(self.last_audio) {
                self.offset = last + REBASE_STEP_90K - f.dts;
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
    fn start_with(&mut self, f: Frame, sink: &mut dyn Sink) -> Result<(), RecordError> {
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
        let muxer = Fmp4Muxer::new(tracks, Fmp4Options::default()).map_err(RecordError::Mux)?;
        let init = muxer.init_segment().map_err(RecordError::Mux)?;
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
        sink.open()?;
        sink.write(&init, 0)?;
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

    fn has_video_key(&self) -> bool {
        self.pending
            .iter()
            .any(|p| p.codec.is_video() && p.keyframe)
    }

    fn mux(&mut self, f: Frame, sink: &mut dyn Sink) -> Result<(), RecordError> {
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
                let last = if f.codec.is_video() {
                    &mut self.last_video
                } else {
                    &mut self.last_audio
                };
                *last = Some(f.dts);
            }
            Err(Mp4Error::ParameterSetsChanged { .. }) => {
                // In-band parameter sets differ from the init segment's: a new file.
                self.close_file(sink)?;
                return self.start_with(f, sink);
            }
            Err(Mp4Error::Encode(e)) => return Err(RecordError::Mux(Mp4Error::Encode(e))),
            Err(_) => self.skipped += 1,
        }
        self.write_out(sink)
    }

    fn write_out(&mut self, sink: &mut dyn Sink) -> Result<(), RecordError> {
        let start = self.file.as_ref().map_or(0, |f| f.start);
        let origin = self
            .file
            .as_ref()
            .and_then(|f| f.muxer.origin_90k())
            .unwrap_or(start);
        for frag in self.fragments.drain(..) {
            let end = origin + frag.start_90k + frag.duration_90k - start;
            sink.write(&frag.data, end)?;
        }
        Ok(())
    }

    fn close_file(&mut self, sink: &mut dyn Sink) -> Result<(), RecordError> {
        let Some(open) = self.file.as_mut() else {
            return Ok(());
        };
        let flushed = open.muxer.flush(&mut self.fragments);
        let written = self.write_out(sink);
        self.file = None;
        flushed.map_err(RecordError::Mux)?;
        written?;
        sink.close()
    }
}
