//! One hub per configured input: the meeting point of its publisher and its outputs.
//!
//! The hub keeps the stream in the publisher's native unit (TS chunks from SRT, FLV tags from
//! RTMP) and remuxes to the other unit only when an output of the other protocol is
//! configured, once for all of them. Publishers push synchronously under a short lock; each
//! output reads its own bounded queue (see [`fanout`]).

pub mod fanout;
mod psi;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use relevo_media::flv::{self, FlvVideo};
use relevo_media::frame::Codec;
use relevo_media::ts::{DemuxEvent, TsDemuxer, PACKET_SIZE};
use tokio::sync::watch;

use crate::metrics::{InputCounters, PublisherInfo};
use crate::remux::{FlvToTs, TsToFlv};
use crate::rtmp::router::{FlvIngest, Rejection};
use crate::unit::{FlvKind, FlvTag, TsChunk};
use fanout::{Fanout, HubItem, Subscription};

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
}

impl HubItem for FlvTag {
    fn keyframe(&self) -> bool {
        self.keyframe
    }
    fn size(&self) -> usize {
        self.body.len()
    }
}

#[derive(Debug)]
enum Native {
    Idle,
    Ts {
        demux: Box<TsDemuxer>,
        remux: TsToFlv,
        pmt_pids: Vec<u16>,
    },
    Flv {
        remux: FlvToTs,
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
    last_warn: Option<Instant>,
    events: Vec<DemuxEvent>,
    /// Codec of the current publication's video, once its configuration is known.
    video_codec: Option<Codec>,
}

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
                last_warn: None,
                events: Vec::new(),
                video_codec: None,
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
    /// native unit is not the wanted one.
    pub fn set_wants(&self, ts: bool, flv: bool) {
        let mut st = self.lock();
        st.wants_ts = ts;
        st.wants_flv = flv;
    }

    /// Claims the input for one publisher. A second publisher is turned away while the first
    /// is connected.
    pub fn attach(self: &Arc<Self>, info: PublisherInfo) -> Result<Publisher, Rejection> {
        let mut st = self.lock();
        if st.publisher.is_some() {
            return Err(Rejection::AlreadyPublishing);
        }
        let id = st.next_id;
        st.next_id += 1;
        st.native = Native::Idle;
        st.publisher = Some((id, info));
        drop(st);
        self.counters.publishes.fetch_add(1, Ordering::Relaxed);
        self.live.send_replace(true);
        Ok(Publisher {
            hub: self.clone(),
            id,
        })
    }

    fn detach(&self, id: u64) {
        let mut st = self.lock();
        if st.publisher.as_ref().map(|p| p.0) != Some(id) {
            return;
        }
        st.publisher = None;
        st.native = Native::Idle;
        st.video_codec = None;
        // Outputs see their queue close, finish what they hold and wait for the next
        // publisher.
        st.ts.reset();
        st.flv.reset();
        drop(st);
        self.live.send_replace(false);
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

    /// A TS feed starting at a keyframe; None while no one publishes.
    pub fn subscribe_ts(&self, dropped: Arc<AtomicU64>) -> Option<Subscription<TsChunk>> {
        let mut st = self.lock();
        st.publisher.as_ref()?;
        Some(st.ts.subscribe(dropped))
    }

    /// An FLV feed starting at a keyframe, sequence headers first; None while no one
    /// publishes.
    pub fn subscribe_flv(&self, dropped: Arc<AtomicU64>) -> Option<Subscription<FlvTag>> {
        let mut st = self.lock();
        st.publisher.as_ref()?;
        Some(st.flv.subscribe(dropped))
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

    fn push_ts(&self, id: u64, data: &[u8]) {
        let mut guard = self.lock();
        let st = &mut *guard;
        if st.publisher.as_ref().map(|p| p.0) != Some(id) {
            return;
        }
        self.counters
            .bytes_in
            .fetch_add(data.len() as u64, Ordering::Relaxed);
        if !matches!(st.native, Native::Ts { .. }) {
            st.native = Native::Ts {
                demux: Box::new(TsDemuxer::new()),
                remux: TsToFlv::new(),
                pmt_pids: Vec::new(),
            };
        }
        let Native::Ts {
            demux,
            remux,
            pmt_pids,
        } = &mut st.native
        else {
            return;
        };
        let mut events = std::mem::take(&mut st.events);
        events.clear();
        let demux_err = demux.push(data, &mut events).err();

        // Keep the latest PAT and PMT for joiners.
        for pkt in data.chunks_exact(PACKET_SIZE) {
            match psi::pid(pkt) {
                Some(0) => {
                    *pmt_pids = psi::pat_pmt_pids(pkt);
                    st.ts.set_header(SLOT_PAT, ts_chunk(pkt, false));
                }
                Some(pid) if pmt_pids.contains(&pid) => {
                    st.ts.set_header(SLOT_PMT, ts_chunk(pkt, false));
                }
                _ => {}
            }
        }

        for ev in &events {
            if let DemuxEvent::VideoConfig(cfg) = ev {
                st.video_codec = Some(cfg.codec);
            }
        }

        // Cut the message where a keyframe PES starts so joiners begin exactly there.
        let mut start = 0;
        let mut start_key = false;
        for ev in &events {
            if let DemuxEvent::KeyframeStart { offset } = ev {
                if *offset > start {
                    st.ts.push(ts_chunk(&data[start..*offset], start_key));
                }
                start = *offset;
                start_key = true;
            }
        }
        if start < data.len() {
            st.ts.push(ts_chunk(&data[start..], start_key));
        }

        if st.wants_flv {
            let mut tags = Vec::new();
            for ev in &events {
                remux.on_event(ev, &mut tags);
            }
            for tag in tags {
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

    fn push_flv(&self, id: u64, tag: FlvTag) {
        let mut guard = self.lock();
        let st = &mut *guard;
        if st.publisher.as_ref().map(|p| p.0) != Some(id) {
            return;
        }
        self.counters
            .bytes_in
            .fetch_add(tag.body.len() as u64, Ordering::Relaxed);
        if !matches!(st.native, Native::Flv { .. }) {
            st.native = Native::Flv {
                remux: FlvToTs::new(),
            };
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
        if st.wants_ts {
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
        st.flv.push(tag);
    }
}

fn ts_chunk(data: &[u8], keyframe: bool) -> TsChunk {
    TsChunk {
        data: Bytes::copy_from_slice(data),
        keyframe,
    }
}

/// A publisher's claim on a hub; dropping it ends the publication.
#[derive(Debug)]
pub struct Publisher {
    hub: Arc<Hub>,
    id: u64,
}

impl Publisher {
    /// Whole 188-byte TS packets, as received in one SRT message.
    pub fn push_ts(&self, data: &[u8]) {
        self.hub.push_ts(self.id, data);
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
