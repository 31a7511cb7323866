//! Push output handlers: wait for the input to be live, check that the destination takes
//! its codecs (`crate::preflight`), connect, forward, and on failure retry with capped
//! exponential backoff, keeping state and the last error for operators.
//!
//! The codec pre-flight runs before connecting and again while pushing, whenever the
//! codecs on air change (a new publisher, a backup feed encoded otherwise): an output whose
//! destination cannot take them does not connect, or disconnects, and waits in
//! [`FlowState::Incompatible`] until they change; warnings are reported and pushed anyway.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::backoff::Backoff;
use crate::engine::Shared;
use crate::error::LinkError;
use crate::hub::fanout::Direct;
use crate::hub::Hub;
use crate::metrics::{CompatProblem, FlowState, OutputCounters, StreamCodecs};
use crate::preflight;
use crate::rtmp::direct::DirectSlot;
use crate::rtmp::push::PushFeed;
use crate::spec::{Name, OutputKind, OutputSpec};
use crate::unit::FlvTag;

/// How long a push output waits, once its input is live, for the input's codecs before it
/// connects without a pre-flight. A TS publication names them in its first PMT (ffmpeg
/// repeats it every 100 ms), an RTMP one at its first video frame, which the hub's cached
/// GOP gives at once; an RTMP publication without video never does, and is pushed as
/// before the pre-flight existed.
const CODECS_WAIT: Duration = Duration::from_secs(3);
/// How often a push output looks at the codecs on air, before connecting and while
/// pushing: a change is seen within this, a few frames.
const CODECS_POLL: Duration = Duration::from_millis(250);
/// An output that holds back for its codecs says why in the log at most this often, or
/// when the reason changes (its state and `compat` say it all the time).
const HOLD_LOG_INTERVAL: Duration = Duration::from_secs(60);

/// What one round of the pre-flight decided.
enum Gate {
    /// Connect; the codecs checked, if they were known.
    Go(Option<StreamCodecs>),
    /// The input's publication ended while the output waited.
    InputEnded,
    /// The output is cancelled.
    Stop,
}

/// The output's pre-flight lines in the log, rate-limited.
#[derive(Default)]
struct HoldLog {
    last: Option<(Instant, Vec<&'static str>)>,
}

impl HoldLog {
    fn report(&mut self, input: &Name, output: &Name, problems: &[CompatProblem]) {
        let codes: Vec<&'static str> = problems.iter().map(|p| p.code).collect();
        let now = Instant::now();
        if self
            .last
            .as_ref()
            .is_some_and(|(at, last)| *last == codes && now.duration_since(*at) < HOLD_LOG_INTERVAL)
        {
            return;
        }
        self.last = Some((now, codes));
        // Messages name codecs and settings only: no URL, no key.
        let text = problems
            .iter()
            .map(|p| format!("{}: {}", p.code, p.message))
            .collect::<Vec<_>>()
            .join(" | ");
        if preflight::has_error(problems) {
            tracing::warn!(input = %input, output = %output, "codec pre-flight: the destination does not accept the input's codecs; the output waits: {text}");
        } else {
            tracing::info!(input = %input, output = %output, "codec pre-flight: pushed with a warning: {text}");
        }
    }
}

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
    let mut log = HoldLog::default();
    loop {
        if !*live.borrow() {
            counters.set_state(FlowState::Idle);
            counters.set_compat(Vec::new());
        }
        tokio::select! {
            _ = cancel.cancelled() => break,
            r = live.wait_for(|l| *l) => if r.is_err() { break },
        }
        let checked = match gate(&hub, &input, &spec, &counters, &mut live, &cancel, &mut log).await
        {
            Gate::Go(checked) => checked,
            Gate::InputEnded => continue,
            Gate::Stop => break,
        };
        counters.set_state(FlowState::Connecting);
        let started = Instant::now();
        let result = tokio::select! {
            _ = cancel.cancelled() => break,
            r = attempt(&shared, &hub, &spec, &counters, &cancel) => Some(r),
            () = watch_codecs(&hub, &spec, &counters, checked, &mut log, &input) => None,
        };
        counters.peers.store(0, Ordering::Relaxed);
        match result {
            // The codecs on air changed to ones the destination refuses: disconnected; the
            // next round holds the output back until they change again.
            None => {}
            Some(Ok(())) => {
                tracing::info!(input = %input, output = %spec.name, "input ended; output waits for it");
            }
            Some(Err(e)) => {
                let delay = backoff.next(started.elapsed());
                tracing::warn!(input = %input, output = %spec.name, retry_in = ?delay, "push failed: {e}");
                counters.set_link_error(&e);
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

/// The pre-flight before connecting: waits for the input's codecs (at most
/// [`CODECS_WAIT`] while a publisher sends), and holds the output in
/// [`FlowState::Incompatible`] while the destination refuses them.
async fn gate(
    hub: &Hub,
    input: &Name,
    spec: &OutputSpec,
    counters: &OutputCounters,
    live: &mut watch::Receiver<bool>,
    cancel: &CancellationToken,
    log: &mut HoldLog,
) -> Gate {
    if !preflight::checks_anything(&spec.kind) {
        return Gate::Go(None);
    }
    let mut deadline = Instant::now() + CODECS_WAIT;
    let mut held = false;
    loop {
        match hub.codecs() {
            Some(codecs) => {
                let problems = preflight::check(&codecs, &spec.kind);
                if !preflight::has_error(&problems) {
                    if !problems.is_empty() {
                        log.report(input, &spec.name, &problems);
                    }
                    counters.set_compat(problems);
                    return Gate::Go(Some(codecs));
                }
                log.report(input, &spec.name, &problems);
                counters.set_compat(problems);
                counters.set_state(FlowState::Incompatible);
                held = true;
            }
            // A publisher that left (grace period) or one whose codecs are not known
            // yet: the wait for them starts again once one sends.
            None if hub.in_grace() => deadline = Instant::now() + CODECS_WAIT,
            None if Instant::now() >= deadline => {
                if held {
                    counters.set_compat(Vec::new());
                }
                return Gate::Go(None);
            }
            None => {}
        }
        tokio::select! {
            _ = cancel.cancelled() => return Gate::Stop,
            r = live.wait_for(|l| !*l) => {
                return if r.is_err() { Gate::Stop } else { Gate::InputEnded };
            }
            _ = tokio::time::sleep(CODECS_POLL) => {}
        }
    }
}

/// While pushing: follows the codecs on air and returns once they change to ones the
/// destination refuses (warnings are reported and the push goes on).
async fn watch_codecs(
    hub: &Hub,
    spec: &OutputSpec,
    counters: &OutputCounters,
    mut checked: Option<StreamCodecs>,
    log: &mut HoldLog,
    input: &Name,
) {
    if !preflight::checks_anything(&spec.kind) {
        return std::future::pending().await;
    }
    loop {
        tokio::time::sleep(CODECS_POLL).await;
        let Some(codecs) = hub.codecs() else {
            continue; // between publishers: the next one's are checked when known
        };
        if checked.as_ref() == Some(&codecs) {
            continue;
        }
        let problems = preflight::check(&codecs, &spec.kind);
        checked = Some(codecs);
        if !problems.is_empty() {
            log.report(input, &spec.name, &problems);
        }
        let stop = preflight::has_error(&problems);
        counters.set_compat(problems);
        if stop {
            counters.set_state(FlowState::Incompatible);
            return;
        }
    }
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
        // Codecs the destination refuses never get here (`gate`, `watch_codecs`).
        OutputKind::PushRtmp { url, .. } => {
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

#[cfg(test)]
mod tests;
