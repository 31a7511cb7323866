//! [`HlsWindow`]: the parts, segments and init segments of one HLS session, bounded, and
//! the answers to lookups and blocking reloads.
//!
//! A segment is the concatenation of its parts (CMAF: `moof`+`mdat` pairs after the init
//! segment), copied once when it closes; its parts then become slices of that copy, so a
//! part stays available for as long as its segment at no extra memory.

use super::name::{self, Name};
use super::playlist;
use super::{FileKind, Found, LookupError, Part, Readiness, WindowConfig};
use bytes::{Bytes, BytesMut};
use std::collections::VecDeque;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How much shorter than the target a segment may be and still close at the next
/// independent part, 90 kHz ticks (100 ms). Timestamps of a 2 s GOP rarely add up to 2 s
/// exactly: millisecond sources (RTMP, many SRT encoders) round each frame, and 29.97 fps
/// or a dropped frame moves the keyframe by a frame or two. With a strict "≥ target" a GOP
/// that comes out at 1.999 s would wait for the next keyframe and give 4 s segments; a
/// tolerance well under any real GOP step (a frame at 10 fps) avoids that, and a segment
/// a little shorter than the target harms nothing (only EXTINF > TARGETDURATION would).
pub const SEGMENT_TOLERANCE_90K: i64 = 9_000;

/// Parts in one segment at most. A stream without keyframes would otherwise grow its
/// segment in progress (and the playlist) without end; 1000 parts is 333 s of 333 ms
/// parts, far past any GOP an encoder sends. A segment cut there does not start with a
/// sync sample; it is counted in [`WindowStats::forced_cuts`].
pub const MAX_SEGMENT_PARTS: usize = 1000;

/// A live playlist keeps at least this many target durations of whole segments, even
/// past `max_segments`: RFC 8216bis (Live Playlists) forbids removing a segment when that
/// would leave a playlist (without `EXT-X-ENDLIST`) shorter than three target durations. It only
/// matters for a window of fewer than 3 segments, or segments much shorter than a long GOP
/// that raised the target duration; `max_bytes` still wins (memory first).
pub const MIN_PLAYLIST_TARGETS: u64 = 3;

/// Counters for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WindowStats {
    /// Parts longer than PART-TARGET (the muxer should make none). They are listed with
    /// their true duration; PART-TARGET does not change (RFC 8216bis, EXT-X-PART-INF).
    pub overlong_parts: u64,
    /// Segments cut at [`MAX_SEGMENT_PARTS`] without an independent part.
    pub forced_cuts: u64,
    /// Segments that left the window.
    pub dropped_segments: u64,
    /// Parts pushed after [`HlsWindow::end`] (ignored).
    pub after_end: u64,
}

/// One part as the window keeps it.
#[derive(Debug, Clone)]
pub(super) struct PartEntry {
    pub(super) data: Bytes,
    pub(super) duration_90k: i64,
    pub(super) independent: bool,
    pub(super) made: SystemTime,
}

/// One segment, in progress or closed.
#[derive(Debug, Clone)]
pub(super) struct Segment {
    pub(super) msn: u64,
    /// The init segment it needs (`None` only if parts came before any init: a caller bug).
    pub(super) init: Option<u64>,
    /// `#EXT-X-DISCONTINUITY` before it (a new init after the first).
    pub(super) discontinuity: bool,
    pub(super) parts: Vec<PartEntry>,
    pub(super) duration_90k: i64,
    /// The first part's wall clock (`#EXT-X-PROGRAM-DATE-TIME`).
    pub(super) program_date: SystemTime,
    /// The whole segment, once closed (empty while in progress).
    pub(super) data: Bytes,
    pub(super) made: SystemTime,
}

#[derive(Debug, Clone)]
struct Init {
    n: u64,
    data: Bytes,
    made: SystemTime,
}

/// One LL-HLS session's window; see the [module docs](super).
#[derive(Debug, Clone)]
pub struct HlsWindow {
    pub(super) config: WindowConfig,
    pub(super) epoch36: String,
    /// Closed segments, oldest first, consecutive MSNs.
    pub(super) segments: VecDeque<Segment>,
    /// The segment in progress (at least one part).
    pub(super) current: Option<Segment>,
    /// MSN of the next segment to start.
    next_msn: u64,
    inits: VecDeque<Init>,
    next_init: u64,
    /// The next segment starts after a new init that follows an earlier one.
    discontinuity_next: bool,
    /// The next independent part starts a segment, however short the current one ([`HlsWindow::cut`]).
    cut_next: bool,
    started_any: bool,
    pub(super) discontinuity_sequence: u64,
    /// Largest `#EXT-X-TARGETDURATION` so far, seconds: it never goes down (the spec's
    /// server rules say it MUST NOT change; a longer GOP forces it up once, and it stays
    /// there).
    pub(super) target_duration_s: u64,
    pub(super) ended: bool,
    version: u64,
    playlist: Bytes,
    changed: SystemTime,
    /// The latest time the window knows of (the session start, then parts' wall clocks).
    clock: SystemTime,
    bytes: usize,
    stats: WindowStats,
}

impl HlsWindow {
    /// An empty window. `epoch` is the session's start in Unix milliseconds; file names
    /// carry its base36. Out-of-range settings are raised to their minimum (1 tick, 1
    /// segment) rather than refused: the engine validates its configuration.
    pub fn new(config: WindowConfig, epoch: u64) -> Self {
        let config = WindowConfig {
            segment_target_90k: config.segment_target_90k.max(1),
            part_target_90k: config.part_target_90k.max(1),
            max_segments: config.max_segments.max(1),
            max_bytes: config.max_bytes,
        };
        let start = UNIX_EPOCH
            .checked_add(Duration::from_millis(epoch))
            .unwrap_or(UNIX_EPOCH);
        let target_duration_s = ceil_seconds(config.segment_target_90k);
        let mut window = Self {
            config,
            epoch36: name::base36(epoch),
            segments: VecDeque::new(),
            current: None,
            next_msn: 0,
            inits: VecDeque::new(),
            next_init: 0,
            discontinuity_next: false,
            cut_next: false,
            started_any: false,
            discontinuity_sequence: 0,
            target_duration_s,
            ended: false,
            version: 0,
            playlist: Bytes::new(),
            changed: start,
            clock: start,
            bytes: 0,
            stats: WindowStats::default(),
        };
        window.changed();
        window
    }

    /// A new init segment (`ftyp`+`moov`): the segment in progress closes (its parts
    /// belong to the previous init), and the next segment uses this one; after the first,
    /// with `#EXT-X-DISCONTINUITY` and a new `#EXT-X-MAP`. Every call counts as a new
    /// init, even with the same bytes: the engine calls it for a new muxer, whose decode
    /// times restart.
    pub fn set_init(&mut self, init: Bytes) {
        if self.ended {
            return;
        }
        self.bytes += init.len();
        self.inits.push_back(Init {
            n: self.next_init,
            data: init,
            made: self.clock,
        });
        self.next_init += 1;
        self.discontinuity_next = self.started_any;
        if let Some(segment) = self.current.take() {
            self.close(segment, self.clock);
            self.enforce_bounds();
            self.changed();
        } else {
            self.enforce_bounds();
        }
    }

    /// The next independent part starts a new segment, however short the current one is:
    /// where a returning publisher's stream is spliced on, so that no segment spans the
    /// splice (its length would raise `#EXT-X-TARGETDURATION`, which must not change).
    pub fn cut(&mut self) {
        self.cut_next = true;
    }

    /// Adds the next part. A new segment starts at an independent part once the one in
    /// progress has reached the target duration less [`SEGMENT_TOLERANCE_90K`], or after
    /// [`HlsWindow::cut`].
    pub fn push_part(&mut self, part: Part) {
        if self.ended {
            self.stats.after_end += 1;
            return;
        }
        self.clock = self.clock.max(part.wall_clock);
        if part.duration_90k > self.config.part_target_90k {
            self.stats.overlong_parts += 1;
        }
        let tolerance = SEGMENT_TOLERANCE_90K.min(self.config.segment_target_90k / 2);
        let long_enough = |s: &Segment| {
            s.duration_90k >= self.config.segment_target_90k.saturating_sub(tolerance)
        };
        let (cut, forced) = match &self.current {
            None => (true, false),
            Some(s) if part.independent && (self.cut_next || long_enough(s)) => (true, false),
            Some(s) if s.parts.len() >= MAX_SEGMENT_PARTS => (true, !part.independent),
            Some(_) => (false, false),
        };
        if forced {
            self.stats.forced_cuts += 1;
        }
        if cut {
            self.cut_next = false;
            if let Some(done) = self.current.take() {
                self.close(done, part.wall_clock);
            }
            self.current = Some(Segment {
                msn: self.next_msn,
                init: self.next_init.checked_sub(1),
                discontinuity: std::mem::take(&mut self.discontinuity_next),
                parts: Vec::new(),
                duration_90k: 0,
                program_date: part.wall_clock,
                data: Bytes::new(),
                made: part.wall_clock,
            });
            self.next_msn += 1;
            self.started_any = true;
        }
        if let Some(s) = self.current.as_mut() {
            self.bytes += part.data.len();
            s.duration_90k = s.duration_90k.saturating_add(part.duration_90k.max(0));
            s.parts.push(PartEntry {
                data: part.data,
                duration_90k: part.duration_90k.max(0),
                independent: part.independent,
                made: part.wall_clock,
            });
        }
        self.enforce_bounds();
        self.changed();
    }

    /// Closes the segment in progress; the playlist gets `#EXT-X-ENDLIST` and no preload
    /// hint. Later parts and inits are ignored.
    pub fn end(&mut self) {
        if self.ended {
            return;
        }
        if let Some(segment) = self.current.take() {
            self.close(segment, self.clock);
        }
        self.ended = true;
        self.enforce_bounds();
        self.changed();
    }

    /// The playlist as of the last change (a cheap clone).
    pub fn playlist(&self) -> Bytes {
        self.playlist.clone()
    }

    /// Increases at every change of the playlist.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// At least one whole segment is listed.
    pub fn has_segment(&self) -> bool {
        !self.segments.is_empty()
    }

    /// True after [`Self::end`].
    pub fn is_ended(&self) -> bool {
        self.ended
    }

    pub fn stats(&self) -> WindowStats {
        self.stats
    }

    /// Bytes held: segments, the parts of the segment in progress, init segments.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The part `#EXT-X-PRELOAD-HINT` names: the next part of the segment in progress (or
    /// part 0 of the next segment). None before the first part and after [`Self::end`].
    pub fn preload_hint(&self) -> Option<String> {
        if self.ended || !self.started_any {
            return None;
        }
        let next = self.current.as_ref().map_or(0, |s| s.parts.len());
        let next = u32::try_from(next).unwrap_or(u32::MAX);
        Some(name::part(&self.epoch36, self.live_msn(), next))
    }

    /// True when `name` is the hinted part: [`Self::lookup`] says `Unknown` for it until it
    /// comes, but a client may ask for it ahead of time and the server should hold such a
    /// request until the part exists (RFC 8216bis, EXT-X-PRELOAD-HINT), like a blocking
    /// reload: wait for [`Self::version`] to change, then look it up again.
    pub fn is_hinted(&self, name: &str) -> bool {
        self.preload_hint().is_some_and(|hint| hint == name)
    }

    /// MSN of the segment in progress (or of the next one to start).
    pub(super) fn live_msn(&self) -> u64 {
        self.current.as_ref().map_or(self.next_msn, |s| s.msn)
    }

    /// MSN of the oldest segment still held: anything older has expired.
    pub(super) fn first_msn(&self) -> u64 {
        self.segments.front().map_or(self.live_msn(), |s| s.msn)
    }

    /// Whether a blocking reload for segment `msn` (part `part` of it) can be answered
    /// (RFC 8216bis, Blocking Playlist Reload). A part index past the last part of a
    /// closed segment means part 0 of the next one, as the spec says. After [`Self::end`]
    /// everything is ready: nothing more will come.
    pub fn ready(&self, msn: u64, part: Option<u32>) -> Readiness {
        let live = self.live_msn();
        if self.ended || msn < self.first_msn() {
            return Readiness::Ready;
        }
        let present = match part {
            None => msn < live,
            Some(p) => match self.segment(msn) {
                Some(s) if (p as usize) < s.parts.len() => true,
                // A closed segment: part 0 of the next, which exists once anything does.
                Some(_) if msn < live => msn + 1 < live || self.current.is_some(),
                _ => false,
            },
        };
        if present {
            Readiness::Ready
        } else if msn <= live.saturating_add(2) {
            Readiness::Wait
        } else {
            Readiness::TooFar
        }
    }

    /// The file called `name` (as the playlist names it, or `index.m3u8`).
    pub fn lookup(&self, name: &str) -> Result<Found, LookupError> {
        let expired_msn = |msn: u64| {
            if msn < self.first_msn() {
                LookupError::Expired
            } else {
                LookupError::Unknown
            }
        };
        match name::parse(name, &self.epoch36).ok_or(LookupError::Unknown)? {
            Name::Playlist => Ok(Found {
                kind: FileKind::Playlist,
                data: self.playlist(),
                made: self.changed,
            }),
            Name::Init(n) => match self.inits.iter().find(|i| i.n == n) {
                Some(i) => Ok(Found {
                    kind: FileKind::Init,
                    data: i.data.clone(),
                    made: i.made,
                }),
                None if n < self.next_init => Err(LookupError::Expired),
                None => Err(LookupError::Unknown),
            },
            Name::Segment(msn) => match self.segments.iter().find(|s| s.msn == msn) {
                Some(s) => Ok(Found {
                    kind: FileKind::Segment,
                    data: s.data.clone(),
                    made: s.made,
                }),
                None => Err(expired_msn(msn)),
            },
            Name::Part { msn, part } => {
                let found = self
                    .segment(msn)
                    .and_then(|s| match s.parts.get(part as usize) {
                        Some(p) => Some(p),
                        // The preload hint named the next part of this segment, and it turned
                        // out to start the next segment: the hinted name is that part.
                        None if part as usize == s.parts.len() && s.msn < self.live_msn() => {
                            self.segment(msn + 1).and_then(|n| n.parts.first())
                        }
                        None => None,
                    });
                match found {
                    Some(p) => Ok(Found {
                        kind: FileKind::Part,
                        data: p.data.clone(),
                        made: p.made,
                    }),
                    None => Err(expired_msn(msn)),
                }
            }
        }
    }

    /// Segment `msn`, closed or in progress.
    fn segment(&self, msn: u64) -> Option<&Segment> {
        self.segments
            .front()
            .and_then(|first| msn.checked_sub(first.msn))
            .and_then(|i| usize::try_from(i).ok())
            .and_then(|i| self.segments.get(i))
            .or_else(|| self.current.as_ref().filter(|s| s.msn == msn))
    }

    /// Builds the segment's bytes and lists it.
    fn close(&mut self, mut segment: Segment, made: SystemTime) {
        let total = segment.parts.iter().map(|p| p.data.len()).sum();
        let mut data = BytesMut::with_capacity(total);
        for p in &segment.parts {
            data.extend_from_slice(&p.data);
        }
        let data = data.freeze();
        let mut at = 0;
        for p in &mut segment.parts {
            let len = p.data.len();
            p.data = data.slice(at..at + len);
            at += len;
        }
        segment.data = data;
        segment.made = made;
        self.target_duration_s = self
            .target_duration_s
            .max(round_seconds(segment.duration_90k));
        self.segments.push_back(segment);
    }

    /// Drops the oldest segments past `max_segments` (but never below
    /// [`MIN_PLAYLIST_TARGETS`] target durations) or `max_bytes` (keeping the newest whole
    /// segment and the one in progress), then the inits nothing needs any more.
    fn enforce_bounds(&mut self) {
        let min_span = i128::from(self.target_duration_s) * i128::from(MIN_PLAYLIST_TARGETS);
        let mut span: i128 = self
            .segments
            .iter()
            .map(|s| i128::from(s.duration_90k))
            .sum();
        while let Some(old) = self.segments.front() {
            let rest = span - i128::from(old.duration_90k);
            let over_count =
                self.segments.len() > self.config.max_segments && rest >= min_span * 90_000;
            let over_bytes = self.bytes > self.config.max_bytes && self.segments.len() > 1;
            if !(over_count || over_bytes) {
                break;
            }
            span = rest;
            let Some(old) = self.segments.pop_front() else {
                break;
            };
            self.bytes = self.bytes.saturating_sub(old.data.len());
            self.stats.dropped_segments += 1;
            if old.discontinuity {
                // Its EXT-X-DISCONTINUITY leaves the playlist (RFC 8216bis, Live Playlists).
                self.discontinuity_sequence += 1;
            }
        }
        let oldest_needed = self
            .segments
            .front()
            .or(self.current.as_ref())
            .and_then(|s| s.init)
            .or(self.next_init.checked_sub(1));
        if let Some(keep) = oldest_needed {
            while self.inits.front().is_some_and(|i| i.n < keep) {
                if let Some(i) = self.inits.pop_front() {
                    self.bytes = self.bytes.saturating_sub(i.data.len());
                }
            }
        }
    }

    fn changed(&mut self) {
        self.version += 1;
        self.changed = self.clock;
        self.playlist = Bytes::from(playlist::render(self));
    }
}

/// Whole seconds, rounded up (TARGETDURATION from the configured target).
fn ceil_seconds(ticks_90k: i64) -> u64 {
    u64::try_from(ticks_90k.max(0))
        .unwrap_or(0)
        .div_ceil(90_000)
}

/// Whole seconds, rounded to nearest (an EXTINF as EXT-X-TARGETDURATION compares it).
fn round_seconds(ticks_90k: i64) -> u64 {
    (u64::try_from(ticks_90k.max(0)).unwrap_or(0) + 45_000) / 90_000
}
