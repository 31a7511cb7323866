//! One hub per configured input: the meeting point of its publisher and its outputs.
//!
//! The hub keeps the stream in the publisher's native unit (TS chunks from SRT, FLV tags from
//! RTMP) and remuxes to the other unit only when an output of the other protocol is
//! configured, once for all of them. Publishers push synchronously under a short lock; each
//! output reads its own bounded queue (see [`fanout`]), except outputs that keep up, whose
//! sockets are written from there without blocking (see `rtmp::direct`, `srt::send`). Readers of
//! pull outputs may subscribe before the publisher arrives and wait for it; push outputs
//! subscribe only to a live input.

pub mod fanout;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use relevo_media::flv::{self, FlvVideo};
use relevo_media::frame::Codec;
use relevo_media::ts::{packet_pid, DemuxEvent, TsDemuxer, PACKET_SIZE};
use tokio::sync::watch;

use crate::metrics::{Feed, InputCounters, PublisherInfo, StreamCodecs};
use crate::remux::{FlvToTs, TsToFlv};
use crate::rtmp::router::{FlvIngest, Rejection};
use crate::unit::{FlvKind, FlvTag, TsChunk, WireCache};
use fanout::{Direct, Fanout, HubItem, Subscription};

/// Queue length of each SRT output, in chunks of up to 1316 bytes: about 5 MiB, 7 s at
/// 6 Mbit/s, enough to absorb a keyframe burst or a short network hiccup.
pub const TS_QUEUE: usize = 4096;
/// Queue length of each RTMP output, in tags: about 14 s of 25 fps video plus AAC.
pub const FLV_QUEUE: usize = 1024;

/// Header slots, in the order joiners receive them.
const SLOT_PAT: u8 = 0;
const SLOT_PMT: u8 = 1;
const SLOT_META: u8 = 0;
const SLOT_VIDEO_CONFIG: u8 = 1;
const SLOT_AUDIO_CONFIG: u8 = 2;

/// Warnings about a broken incoming stream are logged at most this often.
const WARN_INTERVAL: Duration = Duration::from_secs(10);

impl HubItem for TsChunk {
    fn keyframe(&self) -> bool {
        self.keyframe
    }
    fn size(&self) -> usize {
        self.data.len()
    }
    fn replayed(&self) -> Self {
        Self {
            arrived: None,
            ..self.clone()
        }
    }
}

impl HubItem for FlvTag {
    fn keyframe(&self) -> bool {
        self.keyframe
    }
    fn size(&self) -> usize {
        self.body.len()
    }
    fn replayed(&self) -> Self {
        Self {
            arrived: None,
            ..self.clone()
        }
    }
    fn cached(&self) -> Self {
        Self {
            arrived: None,
            // Chunks of its own, made only if a joiner replays the GOP and then shared by
            // every joiner; the live tag's chunks are freed once delivered.
            wire: WireCache::default(),
            ..self.clone()
        }
    }
}

#[derive(Debug)]
enum Native {
    Idle,
    Ts {
        demux: Box<TsDemuxer>,
        remux: TsToFlv,
    },
    Flv {
        remux: Box<FlvToTs>,
    },
}

#[derive(Debug)]
struct State {
    publisher: Option<(u64, PublisherInfo)>,
    next_id: u64,
    native: Native,
    ts: Fanout<TsChunk>,
    flv: Fanout<FlvTag>,
    wants_ts: bool,
    wants_flv: bool,
    /// Readers that want TS whatever the configuration says: running HLS sessions (see
    /// [`Hub::want_ts`]).
    ts_holds: usize,
    last_warn: Option<Instant>,
    events: Vec<DemuxEvent>,
    /// Codec of the current publication's video, once its configuration is known.
    video_codec: Option<Codec>,
    /// The current publication's codecs, once known: from the PMT (TS), or at the first
    /// video frame after the sequence headers (FLV), when every track has shown itself.
    codecs: Option<StreamCodecs>,
    /// FLV audio codec seen so far in this publication (see `codecs`).
    flv_audio: Option<String>,
    /// The current TS publication's program has audio and no video: every chunk is a
    /// place where a reader may start (AAC frames decode alone), as `FlvToTs` marks them.
    audio_only: bool,
    /// How long outputs are held after the publisher leaves.
    grace: Duration,
    /// Set while outputs are held for a returning publisher: the token of the timer that
    /// will close them.
    held: Option<u64>,
    /// When the publisher last sent anything: a silent one may be replaced.
    last_push: Instant,
    flv_clock: FlvClock,
}

/// Keeps FLV timestamps increasing across publishers: the second publication is shifted
/// to continue where the first stopped, plus the wall-clock time in between, so a
/// destination such as YouTube sees one continuous broadcast.
#[derive(Debug, Default)]
struct FlvClock {
    /// Added to every timestamp of the current publication (ms).
    offset: i64,
    /// Highest timestamp sent and when.
    last: Option<(i64, Instant)>,
    /// The next tag starts a new publication that continues the previous one.
    rebase: bool,
}

impl FlvClock {
    fn apply(&mut self, tag: &mut FlvTag) {
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
}

/// A publisher that has sent nothing for this long may be replaced by a new one with the
/// right credentials. An encoder that lost its link reconnects before SRT or TCP notice the
/// old connection is dead (SRT's peer idle timeout is 5 s); refusing it would turn a blip
/// into an outage.
pub const STALE_PUBLISHER: Duration = Duration::from_secs(2);

/// The meeting point of one input's publisher and outputs.
#[derive(Debug)]
pub struct Hub {
    name: String,
    state: Mutex<State>,
    live: watch::Sender<bool>,
    pub counters: Arc<InputCounters>,
}

impl Hub {
    pub fn new(name: &str) -> Arc<Self> {
        Arc::new(Self {
            name: name.to_owned(),
            state: Mutex::new(State {
                publisher: None,
                next_id: 1,
                native: Native::Idle,
                ts: Fanout::new(TS_QUEUE),
                flv: Fanout::new(FLV_QUEUE),
                wants_ts: false,
                wants_flv: false,
                ts_holds: 0,
                last_warn: None,
                events: Vec::new(),
                video_codec: None,
                codecs: None,
                flv_audio: None,
                audio_only: false,
                grace: crate::spec::GracePeriod::DEFAULT.duration(),
                held: None,
                last_push: Instant::now(),
                flv_clock: FlvClock::default(),
            }),
            live: watch::channel(false).0,
            counters: Arc::new(InputCounters::default()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the fan-out half-updated in a way that
        // matters more than stopping the relay, so keep serving.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Which units the configured outputs need; remuxing runs only when the publisher's
    /// native unit is not the wanted one. It follows the configuration, not who is
    /// connected, so a reader that joined while the input was idle gets its unit from the
    /// publication's first tag.
    pub fn set_wants(&self, ts: bool, flv: bool) {
        let mut st = self.lock();
        let before = st.ts_wanted();
        st.wants_ts = ts;
        st.wants_flv = flv;
        if !before && st.ts_wanted() {
            Self::start_ts_remux(&mut st);
        }
    }

    /// Makes the hub produce MPEG-TS while the returned guard lives, whatever the
    /// configured outputs want: an HLS session, which exists only while someone watches.
    pub fn want_ts(self: &Arc<Self>) -> TsWant {
        let mut st = self.lock();
        let before = st.ts_wanted();
        st.ts_holds += 1;
        if !before {
            Self::start_ts_remux(&mut st);
        }
        TsWant { hub: self.clone() }
    }

    /// Whether the hub produces MPEG-TS now (configured TS outputs or a [`TsWant`]).
    pub fn wants_ts(&self) -> bool {
        self.lock().ts_wanted()
    }

    /// TS is wanted from now on while an RTMP publisher is live: a fresh remux is fed
    /// the FLV decoder configuration and cached GOP, so a TS subscriber that joins now
    /// starts at once at that keyframe instead of waiting for the next one (and the remux
    /// knows the sequence headers, which were sent only at the start of the publication).
    fn start_ts_remux(st: &mut State) {
        let Native::Flv { remux } = &mut st.native else {
            return;
        };
        **remux = FlvToTs::new();
        let mut chunks = Vec::new();
        for tag in st.flv.cached() {
            // A tag the remux refuses was reported when it arrived.
            let _ = remux.on_tag(tag, &mut chunks);
        }
        for c in chunks {
            st.ts.push(c);
        }
    }

    pub fn set_grace(&self, grace: Duration) {
        self.lock().grace = grace;
    }

    /// Whether a publisher may take the input's `feed` now: none is attached, or the
    /// attached one has gone silent (see [`STALE_PUBLISHER`]).
    pub fn can_publish(&self, feed: Feed) -> bool {
        if feed == Feed::Backup {
            return false; // TEMPORARY (#18 contract): the backup feed is not implemented yet
        }
        let st = self.lock();
        st.publisher.is_none() || st.last_push.elapsed() >= STALE_PUBLISHER
    }

    /// Claims one of the input's feeds for a publisher ([`Hub::attach`] for the main feed).
    pub fn attach_feed(
        self: &Arc<Self>,
        feed: Feed,
        info: PublisherInfo,
    ) -> Result<Publisher, Rejection> {
        match feed {
            Feed::Main => self.attach(info),
            // TEMPORARY (#18 contract): the backup feed is not implemented yet.
            Feed::Backup => Err(Rejection::UnknownKey),
        }
    }

    /// Claims the input for one publisher. A second publisher is turned away while the first
    /// is connected and sending; a silent one is replaced. A publisher that arrives while
    /// outputs are held (grace period) continues their stream.
    pub fn attach(self: &Arc<Self>, info: PublisherInfo) -> Result<Publisher, Rejection> {
        let mut st = self.lock();
        if let Some((_, old)) = &st.publisher {
            if st.last_push.elapsed() < STALE_PUBLISHER {
                return Err(Rejection::AlreadyPublishing);
            }
            tracing::info!(input = %self.name, old = %old.peer, new = %info.peer, "replacing a publisher that went silent");
            st.publisher = None;
            st.held = Some(0);
        }
        let id = st.next_id;
        st.next_id += 1;
        st.video_codec = None;
        st.codecs = None;
        st.flv_audio = None;
        st.last_push = Instant::now();
        let resuming = st.held.take().is_some();
        // FLV → TS remux may continue (its input timestamps are made continuous below);
        // TS → FLV restarts from the new publisher's clock.
        if !(resuming && matches!(st.native, Native::Flv { .. })) {
            st.native = Native::Idle;
            st.audio_only = false;
        }
        if resuming {
            // Continue the held outputs at the new publisher's first keyframe.
            st.ts.resync();
            st.flv.resync();
            st.flv_clock.rebase = true;
            tracing::info!(input = %self.name, peer = %info.peer, "publisher back within the grace period: outputs continue");
        } else {
            // Pull readers that joined while the input was idle stay subscribed: they wait
            // for this publication's first keyframe, as the fan-outs hold nothing of an
            // earlier one (see `end_publication`).
            st.flv_clock = FlvClock::default();
        }
        st.publisher = Some((id, info));
        drop(st);
        self.counters.publishes.fetch_add(1, Ordering::Relaxed);
        self.live.send_replace(true);
        Ok(Publisher {
            hub: self.clone(),
            id,
        })
    }

    fn detach(self: &Arc<Self>, id: u64) {
        let mut st = self.lock();
        if st.publisher.as_ref().map(|p| p.0) != Some(id) {
            return;
        }
        st.publisher = None;
        st.video_codec = None;
        st.codecs = None;
        st.flv_audio = None;
        let grace = st.grace;
        let runtime = tokio::runtime::Handle::try_current();
        if grace.is_zero() || runtime.is_err() {
            Self::end_publication(&mut st);
            drop(st);
            self.live.send_replace(false);
            return;
        }
        // Hold the outputs: they keep their connections and wait for the next keyframe. The
        // cached GOP is stale now: a reader joining meanwhile waits for the new publisher
        // instead of replaying the old one's last second.
        st.ts.resync();
        st.flv.resync();
        let token = st.next_id;
        st.next_id += 1;
        st.held = Some(token);
        drop(st);
        tracing::info!(input = %self.name, ?grace, "publisher left: outputs held for the grace period");
        let hub = self.clone();
        if let Ok(rt) = runtime {
            rt.spawn(async move {
                tokio::time::sleep(grace).await;
                hub.grace_over(token);
            });
        }
    }

    fn grace_over(&self, token: u64) {
        let mut st = self.lock();
        if st.held != Some(token) {
            return; // a publisher came back, or the input was replaced
        }
        st.held = None;
        Self::end_publication(&mut st);
        drop(st);
        tracing::info!(input = %self.name, "grace period over: outputs closed until the input is live again");
        self.live.send_replace(false);
    }

    /// Outputs see their queue close, finish what they hold and wait for the next
    /// publisher; pull readers are disconnected (they may connect again and wait, see
    /// [`Hub::subscribe_ts_early`]).
    fn end_publication(st: &mut State) {
        st.native = Native::Idle;
        st.ts.reset();
        st.flv.reset();
        st.flv_clock = FlvClock::default();
    }

    /// Whether outputs are being held for a publisher that left.
    pub fn in_grace(&self) -> bool {
        self.lock().held.is_some()
    }

    /// The live publication's codecs, once known (`crate::preflight`).
    pub fn codecs(&self) -> Option<StreamCodecs> {
        self.lock().codecs.clone()
    }

    /// The live publication's video codec, once known.
    pub fn video_codec(&self) -> Option<Codec> {
        self.lock().video_codec
    }

    pub fn publisher(&self) -> Option<PublisherInfo> {
        self.lock().publisher.as_ref().map(|p| p.1.clone())
    }

    /// Follows the input's liveness (a publisher is attached).
    pub fn live(&self) -> watch::Receiver<bool> {
        self.live.subscribe()
    }

    /// A TS feed starting at a keyframe; None while the input is not live (no publisher
    /// and no grace period running). For push outputs, which connect only to a live input.
    /// `direct`: the output's socket, to which the fan-out may send chunks itself (see
    /// `srt::send`).
    pub fn subscribe_ts(
        &self,
        dropped: Arc<AtomicU64>,
        direct: Option<Arc<dyn Direct<TsChunk>>>,
    ) -> Option<Subscription<TsChunk>> {
        let mut st = self.lock();
        if st.publisher.is_none() && st.held.is_none() {
            return None;
        }
        Some(st.ts.subscribe_direct(dropped, direct))
    }

    /// A TS feed for a pull output's reader, accepted whether the input is live or not (as
    /// nginx-rtmp's `idle_streams`: decoders are often set up before the event starts).
    /// While the input is idle the feed stays empty; it starts at the next publication's
    /// first keyframe, PAT/PMT first, and closes when that publication ends.
    pub fn subscribe_ts_early(
        &self,
        dropped: Arc<AtomicU64>,
        direct: Option<Arc<dyn Direct<TsChunk>>>,
    ) -> Subscription<TsChunk> {
        self.lock().ts.subscribe_direct(dropped, direct)
    }

    /// An FLV feed starting at a keyframe, sequence headers first; None while the input is
    /// not live. For push outputs, like [`Hub::subscribe_ts`].
    pub fn subscribe_flv(&self, dropped: Arc<AtomicU64>) -> Option<Subscription<FlvTag>> {
        self.subscribe_flv_direct(dropped, None)
    }

    /// [`Hub::subscribe_flv`] for an RTMP push output, which may also take tags directly
    /// (its socket, see [`fanout::Direct`]).
    pub fn subscribe_flv_direct(
        &self,
        dropped: Arc<AtomicU64>,
        direct: Option<Arc<dyn Direct<FlvTag>>>,
    ) -> Option<Subscription<FlvTag>> {
        let mut st = self.lock();
        if st.publisher.is_none() && st.held.is_none() {
            return None;
        }
        Some(st.flv.subscribe_direct(dropped, direct))
    }

    /// [`Hub::subscribe_ts_early`] for an RTMP player, which may also take tags directly
    /// (its socket, see [`fanout::Direct`]).
    pub fn subscribe_flv_early(
        &self,
        dropped: Arc<AtomicU64>,
        direct: Option<Arc<dyn Direct<FlvTag>>>,
    ) -> Subscription<FlvTag> {
        self.lock().flv.subscribe_direct(dropped, direct)
    }

    fn warn(&self, st: &mut State, what: &str) {
        self.counters.stream_errors.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        if st
            .last_warn
            .is_none_or(|t| now.duration_since(t) >= WARN_INTERVAL)
        {
            st.last_warn = Some(now);
            tracing::warn!(input = %self.name, "incoming stream: {what}");
            self.counters.set_error(what.to_owned());
        }
    }

    /// SRT messages that arrived together: one lock, and the outputs' sends flushed once.
    fn push_ts<'a>(&self, id: u64, messages: impl IntoIterator<Item = &'a [u8]>) {
        let mut guard = self.lock();
        let st = &mut *guard;
        if st.publisher.as_ref().map(|p| p.0) != Some(id) {
            return;
        }
        let now = Instant::now();
        st.last_push = now;
        for data in messages {
            self.push_ts_message(st, data, now);
        }
        st.ts.flush();
    }

    fn push_ts_message(&self, st: &mut State, data: &[u8], now: Instant) {
        self.counters
            .bytes_in
            .fetch_add(data.len() as u64, Ordering::Relaxed);
        if !matches!(st.native, Native::Ts { .. }) {
            st.native = Native::Ts {
                demux: Box::new(TsDemuxer::new()),
                remux: TsToFlv::new(),
            };
        }
        let Native::Ts { demux, remux } = &mut st.native else {
            return;
        };
        let mut events = std::mem::take(&mut st.events);
        events.clear();
        let demux_err = demux.push(data, &mut events).err();

        // Keep the latest PAT and PMT for joiners (the demuxer has read the PAT by now).
        let pmt_pid = demux.pmt_pid();
        for pkt in data.chunks_exact(PACKET_SIZE) {
            match packet_pid(pkt) {
                Some(0) => st.ts.set_header(SLOT_PAT, ts_chunk(pkt, false, now)),
                pid if pid.is_some() && pid == pmt_pid => {
                    st.ts.set_header(SLOT_PMT, ts_chunk(pkt, false, now));
                }
                _ => {}
            }
        }

        for ev in &events {
            match ev {
                DemuxEvent::VideoConfig(cfg) => st.video_codec = Some(cfg.codec),
                DemuxEvent::Program(tracks) => {
                    st.codecs = Some(crate::preflight::codecs_of_program(tracks));
                    let has = |f: fn(Codec) -> bool| tracks.iter().any(|t| t.codec.is_some_and(f));
                    st.audio_only = !has(Codec::is_video) && has(|c| c == Codec::Aac);
                }
                _ => {}
            }
        }

        // Cut the message where a keyframe PES starts so joiners begin exactly there.
        let mut start = 0;
        let mut start_key = st.audio_only;
        for ev in &events {
            if let DemuxEvent::KeyframeStart { offset } = ev {
                if *offset > start {
                    st.ts.push(ts_chunk(&data[start..*offset], start_key, now));
                }
                start = *offset;
                start_key = true;
            }
        }
        if start < data.len() {
            st.ts.push(ts_chunk(&data[start..], start_key, now));
        }

        if st.wants_flv {
            let mut tags = Vec::new();
            for ev in &events {
                remux.on_event(ev, &mut tags);
            }
            for mut tag in tags {
                st.flv_clock.apply(&mut tag);
                if tag.config {
                    let slot = match tag.kind {
                        FlvKind::Video => SLOT_VIDEO_CONFIG,
                        _ => SLOT_AUDIO_CONFIG,
                    };
                    st.flv.set_header(slot, tag.clone());
                }
                st.flv.push(tag);
            }
        }
        st.events = events;
        if let Some(e) = demux_err {
            self.warn(st, &format!("MPEG-TS error: {e}"));
        }
    }

    fn push_flv(&self, id: u64, mut tag: FlvTag) {
        let mut guard = self.lock();
        let st = &mut *guard;
        if st.publisher.as_ref().map(|p| p.0) != Some(id) {
            return;
        }
        st.last_push = Instant::now();
        self.counters
            .bytes_in
            .fetch_add(tag.body.len() as u64, Ordering::Relaxed);
        if !matches!(st.native, Native::Flv { .. }) {
            st.native = Native::Flv {
                remux: Box::new(FlvToTs::new()),
            };
        }
        // Outputs get timestamps that continue across publishers (see `FlvClock`).
        st.flv_clock.apply(&mut tag);
        if st.ts_wanted() {
            if let Native::Flv { remux } = &mut st.native {
                let mut chunks = Vec::new();
                let res = remux.on_tag(&tag, &mut chunks);
                for c in chunks {
                    st.ts.push(c);
                }
                if let Err(e) = res {
                    self.warn(st, &format!("cannot remux to MPEG-TS: {e}"));
                }
            }
        }
        match tag.kind {
            FlvKind::Meta => st.flv.set_header(SLOT_META, tag.clone()),
            FlvKind::Video if tag.config => {
                if let Ok(FlvVideo::Config(cfg)) = flv::parse_video(&tag.body, 0) {
                    st.video_codec = Some(cfg.codec);
                }
                st.flv.set_header(SLOT_VIDEO_CONFIG, tag.clone());
            }
            FlvKind::Audio if tag.config => st.flv.set_header(SLOT_AUDIO_CONFIG, tag.clone()),
            _ => {}
        }
        match tag.kind {
            FlvKind::Audio if st.flv_audio.is_none() => {
                st.flv_audio = crate::preflight::audio_of_flv(&tag.body);
            }
            FlvKind::Video if !tag.config && st.codecs.is_none() => {
                st.codecs = Some(StreamCodecs {
                    video: st
                        .video_codec
                        .map(|c| crate::preflight::video_name(c).to_owned()),
                    audio: st.flv_audio.clone(),
                });
            }
            _ => {}
        }
        st.flv.push(tag);
        st.ts.flush();
    }
}

impl State {
    fn ts_wanted(&self) -> bool {
        self.wants_ts || self.ts_holds > 0
    }
}

/// A reader's want of MPEG-TS (see [`Hub::want_ts`]); dropping it withdraws the want.
#[derive(Debug)]
pub struct TsWant {
    hub: Arc<Hub>,
}

impl Drop for TsWant {
    fn drop(&mut self) {
        let mut st = self.hub.lock();
        st.ts_holds = st.ts_holds.saturating_sub(1);
    }
}

/// One clock read per burst of SRT messages, shared by the chunks cut from them.
fn ts_chunk(data: &[u8], keyframe: bool, arrived: Instant) -> TsChunk {
    TsChunk {
        data: Bytes::copy_from_slice(data),
        keyframe,
        arrived: Some(arrived),
    }
}

/// A publisher's claim on a hub; dropping it ends the publication.
#[derive(Debug)]
pub struct Publisher {
    hub: Arc<Hub>,
    id: u64,
}

impl Publisher {
    /// SRT messages received together, each of whole 188-byte TS packets. Outputs send them
    /// in one go, which wakes each output's libsrt sender once instead of once per message.
    pub fn push_ts<'a>(&self, messages: impl IntoIterator<Item = &'a [u8]>) {
        self.hub.push_ts(self.id, messages);
    }

    pub fn push_flv(&self, tag: FlvTag) {
        self.hub.push_flv(self.id, tag);
    }
}

impl FlvIngest for Publisher {
    fn push(&mut self, tag: FlvTag) {
        self.push_flv(tag);
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.hub.detach(self.id);
    }
}

#[cfg(test)]
mod tests;
