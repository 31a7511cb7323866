//! The SRT listener: one UDP port for every publisher and every pull-output reader.
//!
//! The caller's streamid picks the input or output; unknown keys, wrong modes, disabled
//! flows and a second publisher are rejected inside libsrt's listen callback, before the
//! handshake completes. Wrong passphrases are rejected by libsrt itself (enforced
//! encryption) with the passphrase we set in the callback; a key weaker than the input's is
//! found out only after the handshake. A source refused that late twice is held (see
//! `hold`): its retries are refused in the callback. Every refusal line, ours and libsrt's, shares
//! one budget of [`REFUSALS_LOGGED_PER_SECOND`]. An input's own port (`input_port`) is served
//! by the same decision for publishers ([`decide_publisher`]) and accept loop ([`serve`]).
//!
//! While nobody is on a port for `relevo_srt::DORMANT_AFTER`, its listener is dormant: libsrt
//! lets it go (no thread, no wakeup) and the next caller's first datagram opens it again,
//! its handshake intact. [`serve`]'s accept loop drives that, as it always awaits `accept`.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use relevo_media::streamid::{self, StreamMode};
use relevo_srt::{
    Accepted, Buffers, ConnectRequest, Decision, KeyLen, ListenerOptions, RejectCode, Rejection,
    SrtError, SrtListener, SrtStream,
};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::engine::{InputRt, Route, Shared};
use crate::hub::Hub;
use crate::log_limit::LogLimit;
use crate::metrics::{Feed, LinkDirection, OutputCounters, PublisherInfo, RateWindow};
use crate::spec::{InputSource, OutputKind};
use crate::srt::hold::{RefusalHold, GUARDED_SETUPS_PER_SEC, REFUSAL_HOLD};
use crate::srt::reclaim::Reclaim;
use crate::srt::recv::Burst;
use crate::srt::send::{send_feed, FeedEnd, STALL_AFTER};

/// How long a closing sender waits for its last packets to be acknowledged.
pub(crate) const FLUSH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// libsrt's refusals that come from the caller's settings (`SRT_REJ_BADSECRET`: wrong
/// passphrase; `SRT_REJ_UNSECURE`: passphrase missing or unexpected; see
/// [`relevo_srt::Rejection::code`]): its retries would fail the same way, so it is held.
const CALLER_SETTING_REFUSALS: [i32; 2] = [10, 11];

/// The SRT listener and what its callback and its accept loop share.
pub(crate) struct Endpoint {
    listener: SrtListener,
    hold: Arc<RefusalHold>,
    reclaim: Arc<Reclaim>,
}

impl Endpoint {
    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr()
    }
}

pub(crate) fn bind(shared: &Arc<Shared>, addr: SocketAddr) -> Result<Endpoint, SrtError> {
    let decide_shared = shared.clone();
    let endpoint = listen(addr, move |hold, req| decide(&decide_shared, hold, req))?;
    tracing::info!(addr = %endpoint.local_addr(), "SRT listening");
    Ok(endpoint)
}

/// Binds an SRT listener whose callback is `decide`, with its own refusal hold (the shared
/// port's, or an input's own port's: `srt::input_port`).
pub(crate) fn listen(
    addr: SocketAddr,
    decide: impl Fn(&RefusalHold, &ConnectRequest) -> Decision + Send + Sync + 'static,
) -> Result<Endpoint, SrtError> {
    relevo_srt::share_log_budget(refusal_line_allowed);
    let hold = Arc::new(RefusalHold::new(REFUSAL_HOLD));
    let decide_hold = hold.clone();
    let listener = SrtListener::bind(addr, ListenerOptions::default(), move |req| {
        decide(&decide_hold, req)
    })?;
    Ok(Endpoint {
        listener,
        hold,
        reclaim: Arc::default(),
    })
}

/// What a caller asked for, resolved against the registry.
pub(crate) enum Target {
    Publish(Arc<Hub>, Feed),
    Read {
        hub: Arc<Hub>,
        counters: Arc<OutputCounters>,
        cancel: CancellationToken,
    },
}

/// SRT refusal lines (ours and libsrt's) logged per second at most, the figure the README
/// promises; the rest are counted in the next line's `suppressed` field.
pub(crate) const REFUSALS_LOGGED_PER_SECOND: u32 = 20;
/// Kept for the first line of each kind of refusal in a second, so a flood of one kind
/// (libsrt's own lines are several per refusal) cannot hide why another caller is refused.
const RESERVED_FOR_NEW_KINDS: u32 = 10;
static REJECT_LOG: LogLimit = LogLimit::new(
    REFUSALS_LOGGED_PER_SECOND,
    RESERVED_FOR_NEW_KINDS,
    std::time::Duration::from_secs(1),
);

/// Kinds of refusal lines ([`LogLimit`]): our own decisions add their SRT rejection code,
/// libsrt's handshake refusals theirs (below 1000, so the two never meet).
mod kind {
    use crate::log_limit::LineKind;
    pub const LIBSRT_LINE: LineKind = 1;
    pub const LAGGED: LineKind = 2;
    pub const ACCEPT_FAILED: LineKind = 3;
    pub const FLOW_REMOVED: LineKind = 4;
    pub const WEAK_KEY: LineKind = 5;
    pub const HELD: LineKind = 6;
    pub const RACE: LineKind = 7;
    pub const HANDSHAKE: LineKind = 100;
}

/// The budget libsrt's own lines share with ours.
fn refusal_line_allowed() -> Option<u64> {
    REJECT_LOG.allow(kind::LIBSRT_LINE)
}

pub(crate) fn log_reject(req: &ConnectRequest, reason: &str) -> Decision {
    let code = match reason {
        r if r.starts_with("unknown") => RejectCode::NotFound,
        r if r.contains("already") => RejectCode::Conflict,
        r if r.starts_with("bad streamid") => RejectCode::BadRequest,
        _ => RejectCode::Forbidden,
    };
    if let Some(suppressed) = REJECT_LOG.allow(code.code().unsigned_abs()) {
        tracing::info!(peer = %req.peer, suppressed, "SRT caller rejected: {reason}");
    }
    Decision::Reject(code)
}

/// Refuses a caller whose source was refused late for this flow a moment ago.
pub(crate) fn refuse_held(req: &ConnectRequest, flow: &str, reason: &str) -> Decision {
    if let Some(suppressed) = REJECT_LOG.allow(kind::HELD) {
        tracing::info!(
            peer = %req.peer,
            suppressed,
            flow,
            "SRT caller rejected: {reason} (again: this source is held for {} s after that refusal)",
            REFUSAL_HOLD.as_secs()
        );
    }
    Decision::Reject(RejectCode::Forbidden)
}

/// `accept`, unless the flow is guarded against costly handshakes and this second's are
/// spent (see `hold`).
fn accept_costly(
    hold: &RefusalHold,
    req: &ConnectRequest,
    flow: &str,
    accept: Decision,
) -> Decision {
    if hold.admit_setup(flow) {
        return accept;
    }
    if let Some(suppressed) = REJECT_LOG.allow(RejectCode::Unavailable.code().unsigned_abs()) {
        tracing::info!(
            peer = %req.peer,
            suppressed,
            flow,
            "SRT caller rejected: too many failed handshakes for this flow from several sources \
             ({GUARDED_SETUPS_PER_SEC} a second let through)"
        );
    }
    Decision::Reject(RejectCode::Unavailable)
}

fn decide(shared: &Shared, hold: &RefusalHold, req: &ConnectRequest) -> Decision {
    let sid = match streamid::parse(&req.stream_id) {
        Ok(s) => s,
        Err(e) => return log_reject(req, &format!("bad streamid: {e}")),
    };
    let reg = shared.read();
    let route = reg.keys.get(&sid.resource).cloned();
    let flow = match &route {
        Some(Route::Input(name, Feed::Main)) => format!("input {name}"),
        Some(Route::Input(name, Feed::Backup)) => format!("backup of input {name}"),
        Some(Route::Output(input, output)) => format!("output {output} of {input}"),
        None => String::new(),
    };
    if let Some(reason) = hold.held(req.peer.ip(), &flow) {
        if let Some(Route::Input(name, _)) = &route {
            if let Some(rt) = reg.inputs.get(name) {
                rt.hub.counters.rejections.fetch_add(1, Ordering::Relaxed);
            }
        }
        return refuse_held(req, &flow, &reason);
    }
    match (route, sid.mode) {
        (Some(Route::Input(name, feed)), None | Some(StreamMode::Publish)) => {
            let Some(rt) = reg.inputs.get(&name) else {
                return log_reject(req, "unknown stream key");
            };
            decide_publisher(rt, feed, &flow, hold, req)
        }
        (Some(Route::Output(input, output)), None | Some(StreamMode::Request)) => {
            let Some(i) = reg.inputs.get(&input) else {
                return log_reject(req, "unknown stream key");
            };
            let Some(o) = i.outputs.get(&output) else {
                return log_reject(req, "unknown stream key");
            };
            match &o.spec.kind {
                // A disabled input never goes live: its readers would wait for nothing.
                OutputKind::PullSrt { .. } if !i.spec.enabled => {
                    log_reject(req, &format!("input {input} is disabled"))
                }
                OutputKind::PullSrt {
                    security, latency, ..
                } if o.spec.enabled => accept_costly(
                    hold,
                    req,
                    &flow,
                    Decision::Accept {
                        encryption: security.as_ref().map(|s| s.to_srt()),
                        latency_ms: latency.ms(),
                        tag: 0,
                        // A reader only receives control packets: buffers for sending.
                        buffers: Some(Buffers::for_sender(
                            latency.ms(),
                            RateWindow::last_10s_of(&i.hub.counters.rate),
                        )),
                    },
                ),
                OutputKind::PullSrt { .. } => {
                    log_reject(req, &format!("output {output} of {input} is disabled"))
                }
                _ => log_reject(req, "unknown stream key"),
            }
        }
        // A reader must never learn, or use, the publisher's key, and the reverse.
        (Some(_), Some(mode)) => log_reject(req, &format!("stream key not usable for {mode:?}")),
        (None, _) => log_reject(req, "unknown stream key"),
    }
}

/// Whether a publisher may have `feed` of the input `rt` (named `flow` in the hold and the
/// log), and with which passphrase and latency: the input's, on every port it listens on.
pub(crate) fn decide_publisher(
    rt: &InputRt,
    feed: Feed,
    flow: &str,
    hold: &RefusalHold,
    req: &ConnectRequest,
) -> Decision {
    let name = &rt.spec.name;
    if !rt.spec.enabled {
        rt.hub.counters.rejections.fetch_add(1, Ordering::Relaxed);
        return log_reject(req, &format!("input {name} is disabled"));
    }
    if !rt.hub.can_publish(feed) {
        rt.hub.counters.rejections.fetch_add(1, Ordering::Relaxed);
        return log_reject(req, &format!("input {name} already has a live publisher"));
    }
    match &rt.spec.source {
        InputSource::Listen {
            security, latency, ..
        } => accept_costly(
            hold,
            req,
            flow,
            Decision::Accept {
                encryption: security.as_ref().map(|s| s.to_srt()),
                latency_ms: latency.ms(),
                tag: 0,
                buffers: None,
            },
        ),
        _ => log_reject(req, "unknown stream key"),
    }
}

fn resolve(shared: &Shared, stream_id: &str) -> Option<Target> {
    let sid = streamid::parse(stream_id).ok()?;
    let reg = shared.read();
    match reg.keys.get(&sid.resource)? {
        Route::Input(name, feed) => Some(Target::Publish(reg.inputs.get(name)?.hub.clone(), *feed)),
        Route::Output(input, output) => {
            let i = reg.inputs.get(input)?;
            let o = i.outputs.get(output)?;
            Some(Target::Read {
                hub: i.hub.clone(),
                counters: o.counters.clone(),
                cancel: o.cancel.clone(),
            })
        }
    }
}

/// What the accept loop needs of the input a publisher reached.
struct InputSide {
    /// "input NAME", as the hold and the log name it.
    flow: String,
    cancel: CancellationToken,
    /// The minimum key length its publishers must use (libsrt lets the caller's key length
    /// win, so it is checked after the handshake).
    min_key: Option<KeyLen>,
}

fn input_side(shared: &Shared, hub: &Arc<Hub>) -> Option<InputSide> {
    let reg = shared.read();
    let (name, rt) = reg
        .inputs
        .iter()
        .find(|(_, rt)| Arc::ptr_eq(&rt.hub, hub))?;
    let min_key = match &rt.spec.source {
        InputSource::Listen { security, .. } => security.as_ref().map(|s| s.key_len),
        _ => None,
    };
    Some(InputSide {
        flow: format!("input {name}"),
        cancel: rt.cancel.clone(),
        min_key,
    })
}

/// Logs the rejections libsrt makes after our decision accepted a caller: a wrong or
/// missing passphrase (SRT_REJ_BADSECRET, SRT_REJ_UNSECURE), attributed to the input or
/// output the streamid named.
async fn log_handshake_failures(
    shared: Arc<Shared>,
    hold: Arc<RefusalHold>,
    reclaim: Arc<Reclaim>,
    mut events: broadcast::Receiver<Rejection>,
    cancel: CancellationToken,
    refused_flow: impl Fn(&Shared, &Rejection) -> Option<String>,
) {
    loop {
        let ev = tokio::select! {
            _ = cancel.cancelled() => return,
            ev = events.recv() => ev,
        };
        let ev = match ev {
            Ok(ev) => ev,
            Err(broadcast::error::RecvError::Lagged(n)) => {
                reclaim.note_refusal();
                if let Some(suppressed) = REJECT_LOG.allow(kind::LAGGED) {
                    tracing::warn!(
                        suppressed,
                        "{n} SRT rejections not logged (too many at once)"
                    );
                }
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        reclaim.note_refusal();
        if ev.code >= 1000 {
            continue; // our own decision, logged by `decide`
        }
        let flow = refused_flow(&shared, &ev);
        if let Some(flow) = &flow {
            if CALLER_SETTING_REFUSALS.contains(&ev.code) {
                hold.refused(ev.peer.ip(), flow, &ev.reason);
            }
        }
        let line_kind = kind::HANDSHAKE + u32::try_from(ev.code).unwrap_or(0);
        let Some(suppressed) = REJECT_LOG.allow(line_kind) else {
            continue;
        };
        tracing::info!(
            peer = %ev.peer,
            suppressed,
            flow = flow.as_deref().unwrap_or("unknown"),
            "SRT caller rejected: {} (SRT code {})",
            ev.reason,
            ev.code
        );
    }
}

/// The flow a caller refused by libsrt after our decision had asked for, by its streamid.
fn refused_flow_by_key(shared: &Shared, ev: &Rejection) -> Option<String> {
    let sid = streamid::parse(&ev.stream_id).ok()?;
    let reg = shared.read();
    match reg.keys.get(&sid.resource)? {
        Route::Input(name, _) => Some(input_refused(reg.inputs.get(name)?, ev)),
        Route::Output(input, output) => Some(format!("output {output} of {input}")),
    }
}

/// Counts a caller of the input `rt` that libsrt refused after our decision, as its last
/// error; returns the flow's name.
pub(crate) fn input_refused(rt: &InputRt, ev: &Rejection) -> String {
    rt.hub.counters.rejections.fetch_add(1, Ordering::Relaxed);
    rt.hub
        .counters
        .set_error(format!("SRT caller {} rejected: {}", ev.peer, ev.reason));
    format!("input {}", rt.spec.name)
}

/// The shared port's accept loop: callers reach their flow by streamid.
pub(crate) async fn accept_loop(shared: Arc<Shared>, endpoint: Endpoint) {
    let cancel = shared.cancel.clone();
    serve(
        shared,
        endpoint,
        cancel,
        |shared, info| resolve(shared, &info.stream_id),
        refused_flow_by_key,
    )
    .await;
}

/// Accepts the callers of `endpoint` until `cancel`, then closes it: `target` finds what an
/// accepted caller reaches, `refused_flow` which flow a caller that libsrt refused after our
/// decision asked for (it counts the refusal there).
pub(crate) async fn serve(
    shared: Arc<Shared>,
    endpoint: Endpoint,
    cancel: CancellationToken,
    target: impl Fn(&Shared, &Accepted) -> Option<Target>,
    refused_flow: impl Fn(&Shared, &Rejection) -> Option<String> + Send + 'static,
) {
    let Endpoint {
        listener,
        hold,
        reclaim,
    } = endpoint;
    shared.tasks.spawn(log_handshake_failures(
        shared.clone(),
        hold.clone(),
        reclaim.clone(),
        listener.rejections(),
        cancel.clone(),
        refused_flow,
    ));
    let reclaimer = reclaim.clone();
    let reclaim_cancel = cancel.clone();
    shared
        .tasks
        .spawn(async move { reclaimer.run(reclaim_cancel).await });
    loop {
        let accepted = tokio::select! {
            _ = cancel.cancelled() => return,
            r = listener.accept() => r,
        };
        let (stream, info) = match accepted {
            Ok(a) => a,
            Err(e) => {
                if let Some(suppressed) = REJECT_LOG.allow(kind::ACCEPT_FAILED) {
                    tracing::warn!(suppressed, "SRT accept failed: {e}");
                }
                continue;
            }
        };
        let peer = info.peer;
        let Some(target) = target(&shared, &info) else {
            if let Some(suppressed) = REJECT_LOG.allow(kind::FLOW_REMOVED) {
                tracing::info!(
                    %peer,
                    suppressed,
                    "SRT caller dropped: its flow was removed during the handshake"
                );
            }
            continue;
        };
        match target {
            Target::Publish(hub, feed) => {
                let Some(input) = input_side(&shared, &hub) else {
                    continue;
                };
                if let Some(min) = input.min_key {
                    let got = info.key_len.map_or(0, KeyLen::bytes);
                    if got < min.bytes() {
                        hub.counters.rejections.fetch_add(1, Ordering::Relaxed);
                        let reason = format!(
                            "AES-{} is weaker than the input's AES-{} (set pbkeylen={} on the encoder)",
                            got * 8,
                            min.bytes() * 8,
                            min.bytes()
                        );
                        hold.refused(peer.ip(), &input.flow, &reason);
                        reclaim.note_refusal();
                        if let Some(suppressed) = REJECT_LOG.allow(kind::WEAK_KEY) {
                            tracing::info!(
                                %peer,
                                suppressed,
                                flow = input.flow,
                                "SRT publisher rejected: {reason}"
                            );
                        }
                        hub.counters
                            .set_error(format!("SRT publisher {peer} rejected: {reason}"));
                        continue;
                    }
                }
                shared
                    .tasks
                    .spawn(run_publisher(hub, feed, stream, peer, input.cancel));
            }
            Target::Read {
                hub,
                counters,
                cancel,
            } => {
                shared
                    .tasks
                    .spawn(run_reader(hub, stream, peer, counters, cancel));
            }
        }
    }
}

async fn run_publisher(
    hub: Arc<Hub>,
    feed: Feed,
    stream: SrtStream,
    peer: SocketAddr,
    cancel: CancellationToken,
) {
    let info = PublisherInfo {
        protocol: "srt",
        peer: peer.to_string(),
        since: std::time::SystemTime::now(),
    };
    let publisher = match hub.attach_feed(feed, info) {
        Ok(p) => p,
        Err(e) => {
            // Two callers raced past the listen callback; the second loses.
            hub.counters.rejections.fetch_add(1, Ordering::Relaxed);
            if let Some(suppressed) = REJECT_LOG.allow(kind::RACE) {
                tracing::info!(%peer, suppressed, "SRT publisher rejected: {e}");
            }
            return;
        }
    };
    tracing::info!(%peer, feed = feed.as_str(), "SRT publisher connected");
    let stream = Arc::new(stream);
    let _link = hub.feed_counters(feed).link.join(
        "srt",
        peer.to_string(),
        Some((&stream, LinkDirection::Receiving)),
    );
    let mut burst = Burst::new();
    let mut received = 0u64;
    let reason = loop {
        tokio::select! {
            _ = cancel.cancelled() => break "input stopped".to_owned(),
            _ = publisher.released().cancelled() => {
                break "let go by the input (replaced, or its feed removed)".to_owned()
            }
            r = burst.recv(&stream) => match r {
                Ok(()) => {}
                Err(SrtError::Closed) => break "closed by publisher".to_owned(),
                Err(e) => break e.to_string(),
            },
        }
        received += burst.bytes() as u64;
        publisher.push_ts(burst.messages());
    };
    tracing::info!(%peer, received, "SRT publisher gone: {reason}");
}

async fn run_reader(
    hub: Arc<Hub>,
    stream: SrtStream,
    peer: SocketAddr,
    counters: Arc<OutputCounters>,
    cancel: CancellationToken,
) {
    counters.peers.fetch_add(1, Ordering::Relaxed);
    tracing::info!(%peer, "SRT reader connected");
    let stream = Arc::new(stream);
    let _conn = counters.connections.join(
        "srt",
        peer.to_string(),
        Some((&stream, LinkDirection::Sending)),
    );
    // Subscribed at once, live input or not: a reader that arrives before the publisher
    // gets nothing until the publication's first keyframe (PAT/PMT first), and is closed
    // when that publication ends so that it sees the end of the stream.
    let ended = send_feed(
        &stream,
        |direct| Some(hub.subscribe_ts_early(counters.dropped.clone(), Some(direct))),
        &counters,
        &cancel,
    )
    .await;
    let reason = match ended {
        FeedEnd::Cancelled => "output stopped".to_owned(),
        FeedEnd::InputEnded => "input ended".to_owned(),
        FeedEnd::PeerClosed => "closed by reader".to_owned(),
        FeedEnd::Stalled => format!("stalled for {} s", STALL_AFTER.as_secs()),
        FeedEnd::Failed(e) => e.to_string(),
    };
    // Live mode has no linger: without this the reader would lose the last latency's worth.
    let _ = stream.flush(FLUSH_TIMEOUT).await;
    counters.peers.fetch_sub(1, Ordering::Relaxed);
    tracing::info!(%peer, "SRT reader gone: {reason}");
}
