//! An input's own SRT port (issue #18), for encoders that cannot send a stream id: every
//! caller on it publishes to that input's main feed.
//!
//! Each enabled listening input with a `srt_port` gets an SRT listener on that port, on the
//! shared SRT listener's host. Its rules are the shared port's, by the same code
//! (`endpoint::decide_publisher`, `endpoint::serve`): the input's passphrase (required with
//! an own port, see `DesiredState::validate`), its minimum key length and latency, one
//! publisher at a time, the refusal hold and the one log budget. A streamid, if the caller
//! sends one, is not needed to route (the port names the input), but one that asks to read
//! is refused: this port only takes publishers.
//!
//! Listeners are kept by port: while an enabled input wants a port, it stays bound and its
//! callers reach whichever input has it now. A port no longer wanted is closed. The port is
//! part of the input's source, so changing or removing it restarts the input, which closes
//! the publisher that came through it. A port that cannot be bound (in use, privileged) is
//! the input's last error and a warning, and is tried again with backoff; the input still
//! takes publishers on the shared port, and other inputs are not affected.
//!
//! Cost of an idle port: while a caller is on it, libsrt's own for any bound UDP port (two
//! queue threads, whose receiver wakes about a hundred times a second); once nobody has been
//! on it for `relevo_srt::DORMANT_AFTER`, only a UDP socket that tokio watches (the
//! listener is dormant, see `relevo_srt`'s listener; the shared port likewise). Ours is three
//! tasks that sleep until a caller comes (accept loop, refusal logger, memory reclaim). A
//! closed port is freed by libsrt's garbage collector a few seconds later if libsrt was
//! listening on it then: a listener opened again on it meanwhile retries quietly for
//! [`PORT_RELEASE`] before it reports the port as taken.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use relevo_media::streamid::{self, StreamMode};
use relevo_srt::{ConnectRequest, Decision};
use tokio_util::sync::CancellationToken;

use crate::backoff::Backoff;
use crate::engine::{InputRt, Registry, Shared};
use crate::metrics::Feed;
use crate::spec::InputSource;
use crate::srt::endpoint::{self, Target};
use crate::srt::hold::RefusalHold;

/// How long a port stays taken after its listener closed: libsrt 1.5.1 frees it with the
/// listener's multiplexer, about 5 s after the close (3 s kept for late callers, 1 s closed,
/// a collector that runs once a second), later while its callers' sockets close (within
/// 16 s measured).
const PORT_RELEASE: Duration = Duration::from_secs(20);
/// How often a listener reopened on a port that is still being released tries to bind it.
const RELEASE_RETRY: Duration = Duration::from_millis(500);

/// A port's turn (see [`Ports::turns`]): when its last listener closed, if one did.
type Turn = Arc<tokio::sync::Mutex<Option<Instant>>>;

/// The inputs' own SRT ports that are open, or being opened.
#[derive(Debug)]
pub(crate) struct InputPorts {
    /// The shared SRT listener's address: own ports listen on its host. `None`: SRT is off,
    /// and so are the own ports.
    shared_srt: Option<SocketAddr>,
    ports: Mutex<Ports>,
}

#[derive(Debug, Default)]
struct Ports {
    /// Ports served now, with what stops their listener.
    running: HashMap<u16, CancellationToken>,
    /// A lock per port, held by its listener's task while it lives: a listener opened again
    /// on a port whose previous one is still closing waits for it instead of failing to bind.
    /// It keeps when that listener closed, for [`PORT_RELEASE`].
    turns: HashMap<u16, Turn>,
}

impl InputPorts {
    pub(crate) fn new(shared_srt: Option<SocketAddr>) -> Self {
        Self {
            shared_srt,
            ports: Mutex::default(),
        }
    }

    /// Opens the ports that the enabled inputs of `reg` want and are not open, and closes
    /// those no input wants any more. Called by `Engine::apply` with the new registry.
    pub(crate) fn reconcile(&self, shared: &Arc<Shared>, reg: &Registry) {
        let wanted: HashMap<u16, &InputRt> = reg
            .inputs
            .values()
            .filter(|rt| rt.spec.enabled)
            .filter_map(|rt| own_port(rt).map(|p| (p, rt)))
            .collect();
        let mut ports = self.ports.lock().unwrap_or_else(|e| e.into_inner());
        ports.running.retain(|port, cancel| {
            let keep = wanted.contains_key(port);
            if !keep {
                tracing::info!(port, "closing an input's own SRT port");
                cancel.cancel();
            }
            keep
        });
        ports.turns.retain(|_, turn| {
            Arc::strong_count(turn) > 1
                || turn.try_lock().map_or(true, |closed| {
                    closed.is_some_and(|at| at.elapsed() < PORT_RELEASE)
                })
        });
        for (port, rt) in wanted {
            if ports.running.contains_key(&port) {
                continue;
            }
            let addr = match self.shared_srt {
                None => Err("SRT is disabled on this server".to_owned()),
                Some(s) if s.port() == port => Err("it is the shared SRT port".to_owned()),
                Some(s) => Ok(SocketAddr::new(s.ip(), port)),
            };
            let addr = match addr {
                Ok(addr) => addr,
                Err(why) => {
                    let message = format!("the input's own SRT port {port} is not opened: {why}");
                    tracing::warn!(input = %rt.spec.name, "{message}");
                    rt.hub.counters.set_error(message);
                    continue;
                }
            };
            let cancel = shared.cancel.child_token();
            let turn = ports.turns.entry(port).or_default().clone();
            shared
                .tasks
                .spawn(run_port(shared.clone(), addr, turn, cancel.clone()));
            ports.running.insert(port, cancel);
        }
    }
}

/// The own SRT port of the input `rt`, if it has one.
fn own_port(rt: &InputRt) -> Option<u16> {
    match &rt.spec.source {
        InputSource::Listen { srt_port, .. } => *srt_port,
        _ => None,
    }
}

/// The input whose own SRT port is `port`.
fn owner(reg: &Registry, port: u16) -> Option<&InputRt> {
    reg.inputs.values().find(|rt| own_port(rt) == Some(port))
}

/// Serves `addr` until `cancel`: binds (again with backoff while it cannot), then accepts.
async fn run_port(shared: Arc<Shared>, addr: SocketAddr, turn: Turn, cancel: CancellationToken) {
    // Held until this task ends, after its listener is closed (declared first, dropped last).
    let mut turn = tokio::select! {
        _ = cancel.cancelled() => return,
        t = turn.lock_owned() => t,
    };
    // The port may still be held by libsrt for the previous listener: quiet retries until then.
    let released_by = turn.map(|closed| closed + PORT_RELEASE);
    let port = addr.port();
    let mut backoff = Backoff::default();
    let mut failures = 0u32;
    loop {
        let decide_shared = shared.clone();
        match endpoint::listen(addr, move |hold, req| {
            decide(&decide_shared, port, hold, req)
        }) {
            Ok(ep) => {
                let input = owner(&shared.read(), port).map(|rt| rt.spec.name.to_string());
                tracing::info!(%addr, input, "SRT listening on an input's own port");
                endpoint::serve(
                    shared.clone(),
                    ep,
                    cancel.clone(),
                    move |shared, _| target(shared, port),
                    move |shared, ev| {
                        owner(&shared.read(), port).map(|rt| endpoint::input_refused(rt, ev))
                    },
                )
                .await;
                *turn = Some(Instant::now());
                tracing::info!(%addr, "input's own SRT port closed");
                return;
            }
            Err(e) if released_by.is_some_and(|by| Instant::now() < by) => {
                tracing::debug!(%addr, "own SRT port not released yet by its last listener: {e}");
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(RELEASE_RETRY) => {}
                }
                continue;
            }
            Err(e) => {
                failures += 1;
                let message = format!(
                    "cannot listen on the input's own SRT port {port} ({e}); its publishers \
                     can still use the shared SRT port with its stream id"
                );
                let input = {
                    let reg = shared.read();
                    owner(&reg, port).map(|rt| {
                        rt.hub.counters.set_error(message.clone());
                        rt.spec.name.to_string()
                    })
                };
                // Said once; the retries (up to every `backoff::MAX`) stay in the last error.
                if failures == 1 {
                    tracing::warn!(input, "{message}");
                } else {
                    tracing::debug!(input, failures, "{message}");
                }
            }
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(backoff.next(Duration::ZERO)) => {}
        }
    }
}

/// The listen callback of an own port: any caller publishes to the port's input, by the
/// shared port's rules, unless its streamid asks to read.
fn decide(shared: &Shared, port: u16, hold: &RefusalHold, req: &ConnectRequest) -> Decision {
    let reg = shared.read();
    let Some(rt) = owner(&reg, port) else {
        return endpoint::log_reject(req, &format!("unknown input: none has SRT port {port}"));
    };
    if asks_to_read(&req.stream_id) {
        rt.hub.counters.rejections.fetch_add(1, Ordering::Relaxed);
        return endpoint::log_reject(
            req,
            &format!(
                "SRT port {port} of input {} only takes publishers (the streamid asks to read)",
                rt.spec.name
            ),
        );
    }
    let flow = format!("input {}", rt.spec.name);
    if let Some(reason) = hold.held(req.peer.ip(), &flow) {
        rt.hub.counters.rejections.fetch_add(1, Ordering::Relaxed);
        return endpoint::refuse_held(req, &flow, &reason);
    }
    endpoint::decide_publisher(rt, Feed::Main, &flow, hold, req)
}

/// What an accepted caller of `port` reaches: its input's main feed.
fn target(shared: &Shared, port: u16) -> Option<Target> {
    owner(&shared.read(), port).map(|rt| Target::Publish(rt.hub.clone(), Feed::Main))
}

/// Whether a streamid asks to read (`m=request`, `read:KEY`). One that does not parse is
/// looked at as text, since on this port it need not name a key at all.
fn asks_to_read(stream_id: &str) -> bool {
    match streamid::parse(stream_id) {
        Ok(sid) => sid.mode == Some(StreamMode::Request),
        Err(_) => {
            let s = stream_id.to_ascii_lowercase();
            s.starts_with("read:") || s.contains("m=request")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_streamid_that_asks_to_read_is_told_apart() {
        for read in ["read:abc", "#!::r=abc,m=request", "#!::m=request", "read:"] {
            assert!(asks_to_read(read), "{read}");
        }
        for publish in [
            "",
            "abc",
            "publish:abc",
            "#!::r=abc,m=publish",
            "#!::r=abc",
            "some encoder's own text",
        ] {
            assert!(!asks_to_read(publish), "{publish}");
        }
    }
}
