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
mod feed;
mod switch;
mod ts_clock;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use relevo_media::flv::{self, FlvVideo};
use relevo_media::frame::Codec;
use relevo_media::ts::{packet_pid, DemuxEvent, TsDemuxer, PACKET_SIZE};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::metrics::{Feed, FeedSwitch, InputCounters, PublisherInfo, StreamCodecs, SwitchReason};
use crate::remux::{FlvToTs, TsToFlv};
use crate::rtmp::router::{FlvIngest, Rejection};
use crate::unit::{FlvKind, FlvTag, TsChunk, WireCache};
use fanout::{Direct, Fanout, HubItem, Subscription};
use feed::{other, FeedState, FlvClock, Native};
pub use switch::{BackupTimes, FeedsView};
use ts_clock::TsClock;

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
struct State {
    /// The main feed and the backup (see [`feed::index`]).
    feeds: [FeedState; 2],
    /// The feed whose stream reaches the outputs (the main one unless a switch moved them).
    on_air: Feed,
    /// A switch waiting for the next keyframe of that feed, and why.
    pending: Option<(Feed, SwitchReason)>,
    /// The operator put the backup on air by hand: no automatic return to the main feed.
    pinned: bool,
    /// The backup went on air only because it connected first (nothing failed): the main
    /// feed takes over as soon as it arrives.
    backup_first: bool,
    /// The backup's delays; `None`: the input has no backup feed.
    backup: Option<BackupTimes>,
    /// The switch timer task runs (see `switch::run_timer`).
    timer: bool,
    on_air_since: Option<SystemTime>,
    last_switch: Option<FeedSwitch>,
    next_id: u64,
    ts: Fanout<TsChunk>,
    flv: Fanout<FlvTag>,
    /// FLV → TS of the feed on air when it is an RTMP one: shared by every FLV feed in turn,
    /// so a switch between two of them continues the TS outputs' clock.
    flv_to_ts: Option<Box<FlvToTs>>,
    wants_ts: bool,
    wants_flv: bool,
    /// Readers that want TS whatever the configuration says: running HLS sessions (see
    /// [`Hub::want_ts`]).
    ts_holds: usize,
    last_warn: Option<Instant>,
    events: Vec<DemuxEvent>,
    /// How long outputs are held after the publisher leaves.
    grace: Duration,
    /// Set while outputs are held for a returning publisher: the token of the timer that
    /// will close them.
    held: Option<u64>,
    flv_clock: FlvClock,
    /// The TS outputs' clock across switches; only for an input with a backup.
    ts_clock: Option<Box<TsClock>>,
}

/// A publisher that has sent nothing for this long may be replaced by a new one with the
/// right credentials. An encoder that lost its link reconnects before SRT or TCP notice the
/// old connection is dead (SRT's peer idle timeout is 5 s); refusing it would turn a blip
/// into an outage.
pub const STALE_PUBLISHER: Duration = Duration::from_secs(2);

/// The meeting point of one input's publishers and outputs.
#[derive(Debug)]
pub struct Hub {
    name: String,
    state: Mutex<State>,
    live: watch::Sender<bool>,
    /// The input's counters; their publisher figures are the main feed's.
    pub counters: Arc<InputCounters>,
    /// The backup feed's bytes, publishers and SRT link (the rest stays in `counters`).
    pub backup_counters: Arc<InputCounters>,
    /// Switches of feed by reason: failover, revert, manual.
    switches: [AtomicU64; 3],
}

impl Hub {
    pub fn new(name: &str) -> Arc<Self> {
        Arc::new(Self {
            name: name.to_owned(),
            state: Mutex::new(State {
                feeds: [FeedState::new(), FeedState::new()],
                on_air: Feed::Main,
                pending: None,
                pinned: false,
                backup_first: false,
                backup: None,
                timer: false,
                on_air_since: None,
                last_switch: None,
                next_id: 1,
                ts: Fanout::new(TS_QUEUE),
                flv: Fanout::new(FLV_QUEUE),
                flv_to_ts: None,
                wants_ts: false,
                wants_flv: false,
                ts_holds: 0,
                last_warn: None,
                events: Vec::new(),
                grace: crate::spec::GracePeriod::DEFAULT.duration(),
                held: None,
                flv_clock: FlvClock::default(),
                ts_clock: None,
            }),
            live: watch::channel(false).0,
            counters: Arc::new(InputCounters::default()),
            backup_counters: Arc::new(InputCounters::default()),
            switches: Default::default(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the fan-out half-updated in a way that
        // matters more than stopping the relay, so keep serving.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The counters of one feed's publisher (bytes in, publishes, SRT link).
    pub fn feed_counters(&self, feed: Feed) -> &Arc<InputCounters> {
        match feed {
            Feed::Main => &self.counters,
            Feed::Backup => &self.backup_counters,
        }
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

    /// TS is wanted from now on while an RTMP publisher is on air: a fresh remux is fed
    /// the FLV decoder configuration and cached GOP, so a TS subscriber that joins now
    /// starts at once at that keyframe instead of waiting for the next one (and the remux
    /// knows the sequence headers, which were sent only at the start of the publication).
    fn start_ts_remux(st: &mut State) {
        if !matches!(st.feed(st.on_air).native, Native::Flv) {
            return;
        }
        let mut remux = Box::new(FlvToTs::new());
        let mut chunks = Vec::new();
        for tag in st.flv.cached() {
            // A tag the remux refuses was reported when it arrived.
            let _ = remux.on_tag(tag, &mut chunks);
        }
        st.flv_to_ts = Some(remux);
        for c in chunks {
            Self::push_ts_out(st, c);
        }
    }

    pub fn set_grace(&self, grace: Duration) {
        self.lock().grace = grace;
    }

    /// Whether a publisher may take the input's `feed` now: none is attached, or the
    /// attached one has gone silent (see [`STALE_PUBLISHER`]). The backup feed only while
    /// one is configured.
    pub fn can_publish(&self, feed: Feed) -> bool {
        let st = self.lock();
        if feed == Feed::Backup && st.backup.is_none() {
            return false;
        }
        let f = st.feed(feed);
        f.publisher.is_none() || f.last_push.elapsed() >= st.stale_after()
    }

    /// Claims the input's main feed ([`Hub::attach_feed`]).
    pub fn attach(self: &Arc<Self>, info: PublisherInfo) -> Result<Publisher, Rejection> {
        self.attach_feed(Feed::Main, info)
    }

    /// Claims one of the input's feeds for a publisher. A second publisher is turned away
    /// while the first is connected and sending; a silent one is replaced. A publisher that
    /// arrives while outputs are held (grace period) continues their stream; one that
    /// arrives while the other feed is on air is kept warm beside it.
    pub fn attach_feed(
        self: &Arc<Self>,
        feed: Feed,
        info: PublisherInfo,
    ) -> Result<Publisher, Rejection> {
        let mut st = self.lock();
        if feed == Feed::Backup && st.backup.is_none() {
            return Err(Rejection::UnknownKey);
        }
        let mut replaced = false;
        if let Some((_, old)) = &st.feed(feed).publisher {
            if st.feed(feed).last_push.elapsed() < st.stale_after() {
                return Err(Rejection::AlreadyPublishing);
            }
            tracing::info!(input = %self.name, feed = feed.as_str(), old = %old.peer, new = %info.peer, "replacing a publisher that went silent");
            replaced = true;
        }
        let id = st.next_id;
        st.next_id += 1;
        let now = Instant::now();
        let f = st.feed_mut(feed);
        // A silent publisher replaced is let go: its connection closes.
        f.release.cancel();
        f.release = CancellationToken::new();
        let release = f.release.clone();
        f.clear();
        f.last_push = now;
        f.sending_since = Some(now);
        f.publisher = Some((id, info.clone()));
        if st.pending.is_some_and(|(p, _)| p == feed) {
            st.pending = None;
        }
        let other_live = st.feed(other(feed)).publisher.is_some();
        let held = st.held.take().is_some();
        if st.on_air == feed || !other_live {
            // This feed takes the outputs now: they continue at its first keyframe if
            // they were held for it (grace period, a replaced or failed-over publisher).
            let resuming = held || replaced || (st.on_air == feed && other_live);
            if resuming {
                let reason = (st.on_air != feed).then_some(SwitchReason::Failover);
                self.take_air(&mut st, feed, reason);
                tracing::info!(input = %self.name, feed = feed.as_str(), peer = %info.peer, "publisher back within the grace period: outputs continue");
            } else {
                st.flv_clock = FlvClock::default();
                st.flv_to_ts = None;
                st.on_air = feed;
                st.pending = None;
                st.on_air_since = Some(SystemTime::now());
                st.backup_first = feed == Feed::Backup;
            }
        } else if feed == Feed::Main && st.backup_first && !st.pinned {
            // Both encoders started together and the backup was a moment quicker: the main
            // one goes on air at its first keyframe, without waiting for the revert delay.
            st.pending = Some((Feed::Main, SwitchReason::Revert));
            tracing::info!(input = %self.name, peer = %info.peer, "main feed connected after the backup: on air at its first keyframe");
        } else {
            tracing::info!(input = %self.name, feed = feed.as_str(), peer = %info.peer, "feed connected and kept warm beside the one on air");
        }
        drop(st);
        self.feed_counters(feed)
            .publishes
            .fetch_add(1, Ordering::Relaxed);
        self.live.send_replace(true);
        Ok(Publisher {
            hub: self.clone(),
            feed,
            id,
            release,
        })
    }

    fn detach(self: &Arc<Self>, feed: Feed, id: u64) {
        let mut st = self.lock();
        if st.feed(feed).id() != Some(id) {
            return;
        }
        let f = st.feed_mut(feed);
        f.publisher = None;
        f.clear();
        if st.pending.is_some_and(|(p, _)| p == feed) {
            st.pending = None;
        }
        let other = other(feed);
        if st.feed(other).publisher.is_some() {
            if st.on_air == feed {
                // The other feed takes over at its next keyframe; meanwhile joiners get
                // nothing stale.
                st.pending = Some((other, SwitchReason::Failover));
                st.ts.resync();
                st.flv.resync();
                tracing::info!(input = %self.name, feed = feed.as_str(), "feed on air left: switching to the other at its next keyframe");
            }
            return;
        }
        if st.held.is_some() {
            return; // already waiting for a publisher
        }
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
        st.ts.reset();
        st.flv.reset();
        st.flv_to_ts = None;
        st.flv_clock = FlvClock::default();
        st.ts_clock = st.backup.map(|_| Box::new(TsClock::new()));
        st.pending = None;
        st.on_air_since = None;
    }

    /// A chunk for the TS outputs, retimed after a switch of feed (see `ts_clock`).
    fn push_ts_out(st: &mut State, mut chunk: TsChunk) {
        if let Some(clock) = &mut st.ts_clock {
            let now = chunk.arrived.unwrap_or_else(Instant::now);
            chunk.data = clock.apply(&chunk.data, chunk.keyframe, now);
        }
        st.ts.push(chunk);
    }

    /// A piece of an SRT message for the TS outputs (see [`Hub::push_ts_out`]).
    fn push_ts_slice(st: &mut State, data: &[u8], keyframe: bool, now: Instant) {
        let chunk = match &mut st.ts_clock {
            Some(clock) => TsChunk {
                data: clock.apply(data, keyframe, now),
                keyframe,
                arrived: Some(now),
            },
            None => ts_chunk(data, keyframe, now),
        };
        st.ts.push(chunk);
    }

    /// Whether outputs are being held for a publisher that left.
    pub fn in_grace(&self) -> bool {
        self.lock().held.is_some()
    }

    /// The codecs of the feed on air, once known (`crate::preflight`).
    pub fn codecs(&self) -> Option<StreamCodecs> {
        let st = self.lock();
        st.feed(st.on_air).codecs.clone()
    }

    /// The video codec of the feed on air, once known.
    pub fn video_codec(&self) -> Option<Codec> {
        let st = self.lock();
        st.feed(st.on_air).video_codec
    }

    /// The main feed's publisher.
    pub fn publisher(&self) -> Option<PublisherInfo> {
        self.lock().feeds[0].publisher.as_ref().map(|p| p.1.clone())
    }

    /// Follows the input's liveness (a publisher is attached, or outputs are held).
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
        if !st.is_live() {
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
        if !st.is_live() {
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
    fn push_ts<'a>(&self, feed: Feed, id: u64, messages: impl IntoIterator<Item = &'a [u8]>) {
        let mut guard = self.lock();
        let st = &mut *guard;
        let f = st.feed_mut(feed);
        if f.id() != Some(id) {
            return;
        }
        let now = Instant::now();
        f.last_push = now;
        if f.sending_since.is_none() {
            f.sending_since = Some(now);
        }
        let counters = self.feed_counters(feed);
        for data in messages {
            counters
                .bytes_in
                .fetch_add(data.len() as u64, Ordering::Relaxed);
            self.push_ts_message(st, feed, data, now);
        }
        st.ts.flush();
    }

    fn push_ts_message(&self, st: &mut State, feed: Feed, data: &[u8], now: Instant) {
        let i = feed::index(feed);
        if !matches!(st.feeds[i].native, Native::Ts { .. }) {
            st.feeds[i].native = Native::Ts {
                demux: Box::new(TsDemuxer::new()),
                remux: TsToFlv::new(),
            };
        }
        let mut events = std::mem::take(&mut st.events);
        events.clear();
        let f = &mut st.feeds[i];
        let Native::Ts { demux, .. } = &mut f.native else {
            return;
        };
        let demux_err = demux.push(data, &mut events).err();

        // Keep the latest PAT and PMT for joiners (the demuxer has read the PAT by now).
        let pmt_pid = demux.pmt_pid();
        for pkt in data.chunks_exact(PACKET_SIZE) {
            let slot = match packet_pid(pkt) {
                Some(0) => SLOT_PAT,
                pid if pid.is_some() && pid == pmt_pid => SLOT_PMT,
                _ => continue,
            };
            let chunk = ts_chunk(pkt, false, now);
            f.ts_headers[usize::from(slot)] = Some(chunk.clone());
            if st.on_air == feed {
                st.ts.set_header(slot, chunk);
            }
        }

        let mut keyframe = false;
        for ev in &events {
            match ev {
                DemuxEvent::VideoConfig(cfg) => f.video_codec = Some(cfg.codec),
                DemuxEvent::Program(tracks) => {
                    f.codecs = Some(crate::preflight::codecs_of_program(tracks));
                    let has = |f: fn(Codec) -> bool| tracks.iter().any(|t| t.codec.is_some_and(f));
                    f.audio_only = !has(Codec::is_video) && has(|c| c == Codec::Aac);
                }
                DemuxEvent::KeyframeStart { .. } => keyframe = true,
                _ => {}
            }
        }

        let switch_now = st.pending.is_some_and(|(to, _)| to == feed) && (keyframe || f.audio_only);
        if switch_now {
            let reason = st.pending.map(|(_, r)| r);
            self.take_air(st, feed, reason);
        }
        if st.on_air == feed {
            Self::deliver_ts(st, i, data, &events, now);
        } else if let Native::Ts { remux, .. } = &mut st.feeds[i].native {
            // Kept warm: the decoder configuration reaches the feed's TS → FLV (its FLV
            // headers for a switch); frames are not remuxed, nothing reaches the outputs.
            let mut tags = Vec::new();
            for ev in &events {
                if matches!(ev, DemuxEvent::VideoConfig(_) | DemuxEvent::AudioConfig(_)) {
                    remux.on_event(ev, &mut tags);
                }
            }
            for tag in tags {
                Self::keep_flv_header(&mut st.feeds[i], tag);
            }
        }
        st.events = events;
        if let Some(e) = demux_err {
            self.warn(st, &format!("MPEG-TS error: {e}"));
        }
    }

    /// The on-air feed's message to the outputs: TS cut at keyframes, and remuxed to FLV
    /// (frames only when FLV outputs want them; the decoder configuration always, which a
    /// switch or a later FLV output needs).
    fn deliver_ts(st: &mut State, i: usize, data: &[u8], events: &[DemuxEvent], now: Instant) {
        // Cut the message where a keyframe PES starts so joiners begin exactly there.
        let mut start = 0;
        let mut start_key = st.feeds[i].audio_only;
        for ev in events {
            if let DemuxEvent::KeyframeStart { offset } = ev {
                if *offset > start {
                    Self::push_ts_slice(st, &data[start..*offset], start_key, now);
                }
                start = *offset;
                start_key = true;
            }
        }
        if start < data.len() {
            Self::push_ts_slice(st, &data[start..], start_key, now);
        }

        let wants_flv = st.wants_flv;
        if let Native::Ts { remux, .. } = &mut st.feeds[i].native {
            let mut tags = Vec::new();
            for ev in events {
                if wants_flv
                    || matches!(ev, DemuxEvent::VideoConfig(_) | DemuxEvent::AudioConfig(_))
                {
                    remux.on_event(ev, &mut tags);
                }
            }
            for mut tag in tags {
                st.flv_clock.apply(&mut tag);
                if tag.config {
                    Self::keep_flv_header(&mut st.feeds[i], tag.clone());
                    let slot = flv_slot(&tag);
                    st.flv.set_header(slot, tag.clone());
                }
                if wants_flv {
                    st.flv.push(tag);
                }
            }
        }
    }

    /// Keeps a feed's own copy of an FLV header (see `FeedState::flv_headers`).
    fn keep_flv_header(f: &mut FeedState, tag: FlvTag) {
        let slot = usize::from(flv_slot(&tag));
        f.flv_headers[slot] = Some(tag);
    }

    /// Names an FLV publication's codecs once every track has shown itself: at its first
    /// video frame after the sequence headers, or after [`feed::AUDIO_ONLY_FRAMES`] audio
    /// frames and no video tag (audio only).
    fn note_flv_codecs(f: &mut FeedState, tag: &FlvTag) {
        match tag.kind {
            FlvKind::Audio => {
                if f.flv_audio.is_none() {
                    f.flv_audio = crate::preflight::audio_of_flv(&tag.body);
                }
                if !tag.config && f.flv_video.is_none() {
                    f.flv_audio_frames += 1;
                }
            }
            FlvKind::Video if f.flv_video.is_none() => {
                f.flv_video = crate::preflight::video_of_flv(&tag.body);
            }
            _ => {}
        }
        let video_frame = tag.kind == FlvKind::Video && !tag.config;
        if video_frame || f.flv_audio_frames >= feed::AUDIO_ONLY_FRAMES {
            f.codecs = Some(StreamCodecs {
                video: f
                    .video_codec
                    .map(|c| crate::preflight::video_name(c).to_owned())
                    .or_else(|| f.flv_video.clone()),
                audio: f.flv_audio.clone(),
            });
        }
    }

    fn push_flv(&self, feed: Feed, id: u64, mut tag: FlvTag) {
        let mut guard = self.lock();
        let st = &mut *guard;
        let i = feed::index(feed);
        let f = &mut st.feeds[i];
        if f.id() != Some(id) {
            return;
        }
        let now = Instant::now();
        f.last_push = now;
        if f.sending_since.is_none() {
            f.sending_since = Some(now);
        }
        self.feed_counters(feed)
            .bytes_in
            .fetch_add(tag.body.len() as u64, Ordering::Relaxed);
        if !matches!(f.native, Native::Flv) {
            f.native = Native::Flv;
        }
        match tag.kind {
            FlvKind::Meta => f.flv_headers[usize::from(SLOT_META)] = Some(tag.clone()),
            FlvKind::Video if tag.config => {
                if let Ok(FlvVideo::Config(cfg)) = flv::parse_video(&tag.body, 0) {
                    f.video_codec = Some(cfg.codec);
                }
                f.flv_headers[usize::from(SLOT_VIDEO_CONFIG)] = Some(tag.clone());
            }
            FlvKind::Audio if tag.config => {
                f.flv_headers[usize::from(SLOT_AUDIO_CONFIG)] = Some(tag.clone());
            }
            _ => {}
        }
        if f.codecs.is_none() {
            Self::note_flv_codecs(f, &tag);
        }
        if st.on_air != feed || st.pending.is_some() {
            match st.pending {
                Some((to, reason)) if to == feed && tag.keyframe => {
                    self.take_air(st, feed, Some(reason));
                }
                // Kept warm (its headers above), or the feed on air until the switch.
                _ if st.on_air != feed => return,
                _ => {}
            }
        }
        // Outputs get timestamps that continue across publishers (see `FlvClock`).
        st.flv_clock.apply(&mut tag);
        if st.ts_wanted() {
            let remux = st.flv_to_ts.get_or_insert_with(Default::default);
            let mut chunks = Vec::new();
            let res = remux.on_tag(&tag, &mut chunks);
            for c in chunks {
                Self::push_ts_out(st, c);
            }
            if let Err(e) = res {
                self.warn(st, &format!("cannot remux to MPEG-TS: {e}"));
            }
        }
        if tag.kind == FlvKind::Meta || tag.config {
            st.flv.set_header(flv_slot(&tag), tag.clone());
        }
        st.flv.push(tag);
        st.ts.flush();
    }
}

/// The FLV header slot of a metadata or sequence-header tag.
fn flv_slot(tag: &FlvTag) -> u8 {
    match tag.kind {
        FlvKind::Meta => SLOT_META,
        FlvKind::Video => SLOT_VIDEO_CONFIG,
        FlvKind::Audio => SLOT_AUDIO_CONFIG,
    }
}

impl State {
    /// How long a publisher may be silent before a new one may replace it: the failover
    /// delay when it is shorter (the input already treats such a feed as lost and has
    /// switched away from it: its encoder coming back must not be refused until SRT's own
    /// idle timeout closes the dead connection), else [`STALE_PUBLISHER`].
    fn stale_after(&self) -> Duration {
        self.backup
            .as_ref()
            .map_or(STALE_PUBLISHER, |b| b.failover.min(STALE_PUBLISHER))
    }

    fn ts_wanted(&self) -> bool {
        self.wants_ts || self.ts_holds > 0
    }

    fn feed(&self, feed: Feed) -> &FeedState {
        &self.feeds[feed::index(feed)]
    }

    fn feed_mut(&mut self, feed: Feed) -> &mut FeedState {
        &mut self.feeds[feed::index(feed)]
    }

    /// A publisher is attached to a feed, or outputs are held for one.
    fn is_live(&self) -> bool {
        self.held.is_some() || self.feeds.iter().any(|f| f.publisher.is_some())
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
    feed: Feed,
    id: u64,
    release: CancellationToken,
}

impl Publisher {
    /// SRT messages received together, each of whole 188-byte TS packets. Outputs send them
    /// in one go, which wakes each output's libsrt sender once instead of once per message.
    pub fn push_ts<'a>(&self, messages: impl IntoIterator<Item = &'a [u8]>) {
        self.hub.push_ts(self.feed, self.id, messages);
    }

    pub fn push_flv(&self, tag: FlvTag) {
        self.hub.push_flv(self.feed, self.id, tag);
    }

    /// Cancelled when the hub has let this publisher go (a replacement took its feed, or
    /// the feed was removed): what it sends is ignored, and its connection should close.
    pub fn released(&self) -> &CancellationToken {
        &self.release
    }
}

impl FlvIngest for Publisher {
    fn push(&mut self, tag: FlvTag) {
        self.push_flv(tag);
    }

    fn released(&self) -> bool {
        self.release.is_cancelled()
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.hub.detach(self.feed, self.id);
    }
}

#[cfg(test)]
mod tests;
