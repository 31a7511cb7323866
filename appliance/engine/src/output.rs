//! Push output handlers: wait for the input to be live, connect, forward, and on failure
//! retry with capped exponential backoff, keeping state and the last error for operators.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use relevo_media::frame::Codec;
use tokio_util::sync::CancellationToken;

use crate::backoff::Backoff;
use crate::engine::Shared;
use crate::error::LinkError;
use crate::hub::fanout::Direct;
use crate::hub::Hub;
use crate::metrics::{FlowState, OutputCounters};
use crate::rtmp::direct::DirectSlot;
use crate::rtmp::push::PushFeed;
use crate::spec::{Name, OutputKind, OutputSpec};
use crate::unit::FlvTag;

pub(crate) async fn run_push(
    shared: Arc<Shared>,
    hub: Arc<Hub>,
    input: Name,
    spec: OutputSpec,
    counters: Arc<OutputCounters>,
    cancel: CancellationToken,
) {
    let mut backoff = Backoff::default();
    let mut live = hub.live();
    loop {
        counters.set_state(FlowState::Idle);
        tokio::select! {
            _ = cancel.cancelled() => break,
            r = live.wait_for(|l| *l) => if r.is_err() { break },
        }
        counters.set_state(FlowState::Connecting);
        let started = Instant::now();
        let result = tokio::select! {
            _ = cancel.cancelled() => break,
            r = attempt(&shared, &hub, &spec, &counters, &cancel) => r,
        };
        counters.peers.store(0, Ordering::Relaxed);
        match result {
            Ok(()) => {
                tracing::info!(input = %input, output = %spec.name, "input ended; output waits for it");
            }
            Err(e) => {
                let delay = backoff.next(started.elapsed());
                tracing::warn!(input = %input, output = %spec.name, retry_in = ?delay, "push failed: {e}");
                counters.set_error(e.to_string());
                counters.set_state(FlowState::Retrying);
                counters.reconnects.fetch_add(1, Ordering::Relaxed);
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    _ = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
    counters.set_state(FlowState::Stopped);
}

async fn attempt(
    shared: &Shared,
    hub: &Hub,
    spec: &OutputSpec,
    counters: &OutputCounters,
    cancel: &CancellationToken,
) -> Result<(), LinkError> {
    match &spec.kind {
        OutputKind::PushSrt(c) => {
            crate::srt::caller::push(
                c,
                |direct| hub.subscribe_ts(counters.dropped.clone(), Some(direct)),
                counters,
                cancel,
            )
            .await
        }
        OutputKind::PushRtmp { url, enhanced, .. } => {
            if hub.video_codec() == Some(Codec::H265) && !enhanced {
                return Err(LinkError::Codec(
                    "the input is H.265, which legacy RTMP cannot carry; set enhanced_rtmp = true \
                     on this output if the destination accepts Enhanced RTMP"
                        .into(),
                ));
            }
            // Over plain TCP the fan-out may write to the destination's socket itself (see
            // `rtmp::direct`), as to a player's.
            let direct = (!url.is_tls()).then(|| {
                Arc::new(DirectSlot::new(
                    counters.bytes_out.clone(),
                    counters.latency.clone(),
                ))
            });
            let offered = direct.clone().map(|d| d as Arc<dyn Direct<FlvTag>>);
            let Some(mut sub) = hub.subscribe_flv_direct(counters.dropped.clone(), offered) else {
                return Ok(());
            };
            let feed = PushFeed {
                rx: &mut sub.rx,
                direct,
                bytes_out: &counters.bytes_out,
                latency: &counters.latency,
            };
            // The destination counts as a connected peer once it accepted the stream.
            let peer = std::sync::Mutex::new(None);
            let result =
                crate::rtmp::push::push_with(url, &shared.client_tls, feed, cancel, || {
                    counters.set_state(FlowState::Live);
                    counters.peers.store(1, Ordering::Relaxed);
                    let guard = counters
                        .connections
                        .join("rtmp", url.redacted().to_string(), None);
                    if let Ok(mut p) = peer.lock() {
                        *p = Some(guard);
                    }
                })
                .await;
            drop(peer);
            result
        }
        OutputKind::PullSrt { .. }
        | OutputKind::PullRtmp { .. }
        | OutputKind::PullHls { .. }
        | OutputKind::Record(_) => Ok(()),
    }
}
