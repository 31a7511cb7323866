//! One feed of a hub (the main one, or the backup): its publisher, its own demux state and
//! decoder headers, kept warm while another feed is on air so a switch to it can happen at
//! its next keyframe; and the FLV clock that keeps the outputs' timestamps increasing across
//! publishers and feeds.

use std::time::Instant;

use relevo_media::frame::Codec;
use relevo_media::ts::TsDemuxer;

use tokio_util::sync::CancellationToken;

use crate::metrics::{Feed, PublisherInfo, StreamCodecs};
use crate::remux::TsToFlv;
use crate::unit::{FlvTag, TsChunk};

/// The feed's native unit and what reads it.
#[derive(Debug)]
pub(super) enum Native {
    Idle,
    /// From SRT: demuxed for keyframes and codecs (and TS → FLV, the feed's own clock).
    Ts {
        demux: Box<TsDemuxer>,
        remux: TsToFlv,
    },
    /// From RTMP: FLV → TS is the hub's (`State::flv_to_ts`), fed by the feed on air.
    Flv,
}

#[derive(Debug)]
pub(super) struct FeedState {
    pub publisher: Option<(u64, PublisherInfo)>,
    /// Cancelled when the hub lets the publisher go before it leaves (replaced after going
    /// silent, or its feed removed): its connection is then closed ([`super::Publisher::released`]).
    pub release: CancellationToken,
    pub native: Native,
    /// Codec of the current publication's video, once its configuration is known.
    pub video_codec: Option<Codec>,
    /// The current publication's codecs, once known: from the PMT (TS), or at the first
    /// video frame after the sequence headers (FLV), when every track has shown itself.
    pub codecs: Option<StreamCodecs>,
    /// FLV audio codec seen so far in this publication (see `codecs`).
    pub flv_audio: Option<String>,
    /// FLV video codec of this publication's first video tag, by name (see `codecs`).
    pub flv_video: Option<String>,
    /// Audio frames of an FLV publication without any video tag yet: at
    /// [`AUDIO_ONLY_FRAMES`] it is taken for audio only (its codecs are then known).
    pub flv_audio_frames: u32,
    /// The current TS publication's program has audio and no video: every chunk is a
    /// place where a reader may start (AAC frames decode alone), as `FlvToTs` marks them.
    pub audio_only: bool,
    /// When the publisher last sent anything: a silent one may be replaced, or failed over.
    pub last_push: Instant,
    /// Since when the feed has sent without a pause as long as the failover delay: how long
    /// a returning main feed has been stable (the revert).
    pub sending_since: Option<Instant>,
    /// This feed's PAT and PMT (TS) for the TS fan-out when it goes on air.
    pub ts_headers: [Option<TsChunk>; 2],
    /// This feed's metadata and sequence headers (FLV, its own or from TS → FLV), for the
    /// FLV fan-out when it goes on air.
    pub flv_headers: [Option<FlvTag>; 3],
}

impl FeedState {
    pub fn new() -> Self {
        Self {
            publisher: None,
            release: CancellationToken::new(),
            native: Native::Idle,
            video_codec: None,
            codecs: None,
            flv_audio: None,
            flv_video: None,
            flv_audio_frames: 0,
            audio_only: false,
            last_push: Instant::now(),
            sending_since: None,
            ts_headers: [None, None],
            flv_headers: [None, None, None],
        }
    }

    /// Forgets the publication (a new publisher starts from nothing).
    pub fn clear(&mut self) {
        self.native = Native::Idle;
        self.video_codec = None;
        self.codecs = None;
        self.flv_audio = None;
        self.flv_video = None;
        self.flv_audio_frames = 0;
        self.audio_only = false;
        self.sending_since = None;
        self.ts_headers = [None, None];
        self.flv_headers = [None, None, None];
    }

    pub fn id(&self) -> Option<u64> {
        self.publisher.as_ref().map(|p| p.0)
    }
}

/// An FLV publication that has sent this many audio frames and no video tag is audio only:
/// about a second of AAC (47 frames a second at 48 kHz). Encoders interleave, so an
/// audio-and-video stream shows its first video tag well before this.
pub(super) const AUDIO_ONLY_FRAMES: u32 = 50;

/// The other feed.
pub(super) fn other(feed: Feed) -> Feed {
    match feed {
        Feed::Main => Feed::Backup,
        Feed::Backup => Feed::Main,
    }
}

pub(super) fn index(feed: Feed) -> usize {
    match feed {
        Feed::Main => 0,
        Feed::Backup => 1,
    }
}

/// Keeps FLV timestamps increasing across publishers: the second publication is shifted
/// to continue where the first stopped, plus the wall-clock time in between, so a
/// destination such as YouTube sees one continuous broadcast.
#[derive(Debug, Default)]
pub(super) struct FlvClock {
    /// Added to every timestamp of the current publication (ms).
    pub offset: i64,
    /// Highest timestamp sent and when.
    pub last: Option<(i64, Instant)>,
    /// The next tag starts a new publication that continues the previous one.
    pub rebase: bool,
}

impl FlvClock {
    pub fn apply(&mut self, tag: &mut FlvTag) {
        let now = Instant::now();
        let ts = i64::from(tag.timestamp);
        if self.rebase {
            self.rebase = false;
            if let Some((last, at)) = self.last {
                let gap = i64::try_from(now.duration_since(at).as_millis()).unwrap_or(i64::MAX);
                self.offset = last + gap.max(1) - ts;
            }
        }
        let out = ts + self.offset;
        // RTMP timestamps are 32-bit and wrap; the extended value only orders them here.
        tag.timestamp = out.rem_euclid(1 << 32) as u32;
        if self.last.is_none_or(|(l, _)| out >= l) {
            self.last = Some((out, now));
        }
    }

    /// The last timestamp sent, as outputs saw it: for headers replayed at a splice.
    pub fn last_sent(&self) -> u32 {
        self.last.map_or(0, |(l, _)| l.rem_euclid(1 << 32) as u32)
    }
}
