//! RTMP: many players in one process (the engine's own `pull`, which drives `rml_rtmp`'s
//! client session), and a sink that accepts any number of publishers (the engine's own RTMP
//! server with a router that only counts).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use relevo_engine::rtmp::{
    pull, ClientTls, FlvIngest, FlvSubscription, Peer, Rejection, RtmpRouter, RtmpUrl,
};
use relevo_engine::unit::FlvTag;
use tokio_util::sync::CancellationToken;

use crate::measure::{self, Plan, Slot, Slots};

struct Counter {
    slot: Arc<Slot>,
    started: Instant,
}

impl FlvIngest for Counter {
    fn push(&mut self, tag: FlvTag) {
        self.slot.add(tag.body.len(), self.started);
    }
}

/// `count` players of `url`; each retries until it gets media (a server may turn a player
/// away before the stream is live) and counts FLV tag bodies.
pub async fn play(url: &str, plan: Plan, ramp: Duration) -> anyhow::Result<serde_json::Value> {
    let url = RtmpUrl::parse(url).map_err(|e| anyhow::anyhow!("{url}: {e}"))?;
    let slots = Arc::new(Slots::with_count(plan.expected));
    let cancel = CancellationToken::new();
    let tls = ClientTls::new();
    for i in 0..plan.expected {
        let (url, tls, cancel) = (url.clone(), tls.clone(), cancel.clone());
        let Some(slot) = slots.get(i) else { break };
        let started = Instant::now();
        tokio::spawn(async move {
            let mut ingest = Counter {
                slot: slot.clone(),
                started,
            };
            let mut attempts = 0u32;
            while !cancel.is_cancelled() {
                let result = pull(&url, &tls, &mut ingest, &cancel).await;
                attempts += 1;
                if cancel.is_cancelled() {
                    break;
                }
                if slot.connected.load(std::sync::atomic::Ordering::Relaxed) {
                    // A player that had media and lost it is not retried: it is incomplete.
                    eprintln!("player {i}: {}", describe(result));
                    slot.ended.store(true, std::sync::atomic::Ordering::Relaxed);
                    break;
                }
                if attempts == 1 {
                    eprintln!("player {i}: first attempt: {} (retrying)", describe(result));
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        });
        if !ramp.is_zero() {
            tokio::time::sleep(ramp).await;
        }
    }
    let report = measure::run(&plan, &slots).await;
    cancel.cancel();
    Ok(report)
}

fn describe(result: Result<(), relevo_engine::error::LinkError>) -> String {
    match result {
        Ok(()) => "stream ended".to_owned(),
        Err(e) => e.to_string(),
    }
}

struct SinkRouter {
    slots: Arc<Slots>,
}

impl RtmpRouter for SinkRouter {
    fn publish(
        &self,
        _app: &str,
        _key: &str,
        _peer: Peer,
    ) -> Result<Box<dyn FlvIngest>, Rejection> {
        Ok(Box::new(Counter {
            slot: self.slots.add(),
            started: Instant::now(),
        }))
    }

    fn play(&self, _app: &str, _key: &str, _peer: Peer) -> Result<FlvSubscription, Rejection> {
        Err(Rejection::UnknownKey)
    }
}

/// Accepts every publisher on `listen` (any app, any key, several on one key) and counts
/// FLV tag bodies per connection.
pub async fn sink(listen: SocketAddr, plan: Plan) -> anyhow::Result<serde_json::Value> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let slots = Arc::new(Slots::default());
    let cancel = CancellationToken::new();
    let router = Arc::new(SinkRouter {
        slots: slots.clone(),
    });
    let server = tokio::spawn(relevo_engine::rtmp::serve(
        listener,
        None,
        router,
        cancel.clone(),
    ));
    let report = measure::run(&plan, &slots).await;
    cancel.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(2), server).await;
    Ok(report)
}
