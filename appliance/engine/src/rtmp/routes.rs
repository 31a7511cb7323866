//! The engine's answer to RTMP publishers and players: what each stream key means.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::engine::{Route, Shared};
use crate::hub::fanout::Direct;
use crate::metrics::PublisherInfo;
use crate::rtmp::direct::DirectSlot;
use crate::rtmp::router::{FlvIngest, FlvSubscription, Peer, PlayerGuard, Rejection, RtmpRouter};
use crate::spec::{InputSource, OutputKind};
use crate::unit::FlvTag;

/// The only RTMP application name we serve: `rtmp://HOST/live/KEY`.
pub const APP: &str = "live";

#[derive(Debug)]
pub(crate) struct Router {
    shared: Arc<Shared>,
}

impl Router {
    pub fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }
}

impl RtmpRouter for Router {
    fn publish(&self, app: &str, key: &str, peer: Peer) -> Result<Box<dyn FlvIngest>, Rejection> {
        if app != APP {
            return Err(Rejection::wrong_app(app));
        }
        let reg = self.shared.read();
        let Some(&Route::Input(ref name, feed)) = reg.keys.get(key) else {
            return Err(Rejection::UnknownKey);
        };
        let rt = reg.inputs.get(name).ok_or(Rejection::UnknownKey)?;
        if !matches!(rt.spec.source, InputSource::Listen { .. }) {
            return Err(Rejection::UnknownKey);
        }
        if !rt.spec.enabled {
            rt.hub.counters.rejections.fetch_add(1, Ordering::Relaxed);
            return Err(Rejection::Disabled);
        }
        let info = PublisherInfo {
            protocol: if peer.secure { "rtmps" } else { "rtmp" },
            peer: peer.addr.to_string(),
            since: std::time::SystemTime::now(),
        };
        match rt.hub.attach_feed(feed, info) {
            Ok(p) => {
                tracing::info!(input = %name, feed = feed.as_str(), peer = %peer.addr, "RTMP publisher connected");
                Ok(Box::new(p))
            }
            Err(e) => {
                rt.hub.counters.rejections.fetch_add(1, Ordering::Relaxed);
                Err(e)
            }
        }
    }

    fn play(&self, app: &str, key: &str, peer: Peer) -> Result<FlvSubscription, Rejection> {
        if app != APP {
            return Err(Rejection::wrong_app(app));
        }
        let reg = self.shared.read();
        let Some(Route::Output(input, output)) = reg.keys.get(key) else {
            return Err(Rejection::UnknownKey);
        };
        let i = reg.inputs.get(input).ok_or(Rejection::UnknownKey)?;
        let o = i.outputs.get(output).ok_or(Rejection::UnknownKey)?;
        if !matches!(o.spec.kind, OutputKind::PullRtmp { .. }) {
            return Err(Rejection::UnknownKey);
        }
        if !(o.spec.enabled && i.spec.enabled) {
            return Err(Rejection::Disabled);
        }
        // Plain TCP players may be written from the fan-out directly (see `rtmp::direct`).
        let direct = (!peer.secure).then(|| {
            Arc::new(DirectSlot::new(
                o.counters.bytes_out.clone(),
                o.counters.latency.clone(),
            ))
        });
        // Accepted whether the input is live or not: a player that arrives first waits for
        // the next publication's first keyframe (nginx-rtmp's `idle_streams on`).
        let sub = i.hub.subscribe_flv_early(
            o.counters.dropped.clone(),
            direct.clone().map(|d| d as Arc<dyn Direct<FlvTag>>),
        );
        tracing::info!(input = %input, output = %output, peer = %peer.addr, "RTMP player connected");
        // A pull output's state is not set here: the snapshot derives it from the input and
        // the peers (`live::output`), so a player waiting for the publisher shows `idle`
        // with one peer, and the output turns `live` only when the input does.
        let counters = o.counters.clone();
        counters.peers.fetch_add(1, Ordering::Relaxed);
        let on_leave = counters.clone();
        let protocol = if peer.secure { "rtmps" } else { "rtmp" };
        let conn = counters
            .connections
            .join(protocol, peer.addr.to_string(), None);
        Ok(FlvSubscription {
            rx: sub.rx,
            // Its own child of the output's token: a player waits on it without sharing a lock
            // with every other player of the output.
            stop: o.cancel.child_token(),
            bytes_out: counters.bytes_out.clone(),
            latency: counters.latency.clone(),
            guard: PlayerGuard(Some(Box::new(move || {
                drop(conn);
                on_leave.peers.fetch_sub(1, Ordering::Relaxed);
            }))),
            direct,
        })
    }
}
