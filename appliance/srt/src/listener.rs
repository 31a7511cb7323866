//! [`SrtListener`]: accepts SRT callers, deciding per connection (from the caller's stream id
//! and address) whether to accept and with which passphrase, key length and latency.
//!
//! The decision runs inside libsrt's listen callback, on libsrt's receiver thread, before the
//! handshake is answered: it must be quick and must not block. A panic in it is caught and
//! the caller rejected with 1500 (internal server error). A caller whose passphrase is wrong
//! or missing is rejected by libsrt itself *after* the callback accepted; libsrt logs why
//! (forwarded to `tracing` target `libsrt`) and the connection never reaches `accept`.
//!
//! The listening socket is not in the reactor's epoll: a decision that accepts wakes
//! `accept`, which then polls briefly until libsrt has queued the connection (see
//! `reactor` for why).

use std::collections::HashMap;
use std::ffi::CStr;
use std::fmt;
use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use libc::{c_char, c_int, c_void, sockaddr};

use crate::error::{self, SrtError};
use crate::ffi::{self, SRTSOCKET};
use crate::reactor::Readiness;
use crate::socket::{CloseGuard, OwnedSocket, Sock};
use tokio::sync::broadcast;

use crate::{addr, Buffers, Encryption, KeyLen, SrtStream};

/// Accepted-by-callback handshakes not yet picked up by `accept` are forgotten after this
/// (they failed later in the handshake, e.g. wrong passphrase).
const PENDING_TTL: Duration = Duration::from_secs(30);
/// For this long after the decision accepted a caller, `accept` polls for it every
/// [`HANDSHAKE_POLL`]: libsrt queues the connection moments after the callback returns, and
/// the listening socket is not in the reactor's epoll (see `reactor`).
const HANDSHAKE_WINDOW: Duration = Duration::from_secs(1);
const HANDSHAKE_POLL: Duration = Duration::from_millis(2);
/// Rejection events kept for slow readers of [`SrtListener::rejections`].
const REJECTION_BACKLOG: usize = 256;

/// Handshakes accepted by a decision and still in progress, by new socket id, so that the
/// libsrt log line reporting their failure can be attributed (see `on_rejection_log`).
static IN_HANDSHAKE: LazyLock<Mutex<Registry>> = LazyLock::new(Mutex::default);

/// New socket id -> (its listener, when the decision accepted it).
type Registry = HashMap<SRTSOCKET, (Weak<Shared>, Instant)>;

fn in_handshake() -> MutexGuard<'static, Registry> {
    IN_HANDSHAKE.lock().unwrap_or_else(|p| p.into_inner())
}

/// Options of a listener; each accepted connection may override the latency.
#[derive(Debug, Clone)]
pub struct ListenerOptions {
    /// Connections fully handshaken but not yet accepted that libsrt queues.
    pub backlog: i32,
    /// Latency of the listener socket, the default before the decision sets its own.
    pub latency_ms: u32,
}

impl Default for ListenerOptions {
    fn default() -> Self {
        Self {
            backlog: 64,
            latency_ms: 120,
        }
    }
}

/// What the decision function sees of an incoming handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectRequest {
    pub peer: SocketAddr,
    /// `SRTO_STREAMID` of the caller, empty if none (lossy UTF-8).
    pub stream_id: String,
}

/// The answer to a [`ConnectRequest`].
#[derive(Debug, Clone)]
pub enum Decision {
    /// Accept with this passphrase and key length (`None`: unencrypted; a caller with a
    /// passphrase is then rejected) and this latency. `tag` comes back in [`Accepted`].
    /// `buffers`: libsrt's buffer sizes for this connection (`None`: libsrt's defaults, as a
    /// publisher needs; a reader gets [`Buffers::for_sender`]).
    Accept {
        encryption: Option<Encryption>,
        latency_ms: u32,
        tag: u64,
        buffers: Option<Buffers>,
    },
    Reject(RejectCode),
}

/// Rejection codes sent to the caller (`SRT_REJX_*`, HTTP codes + 1000).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectCode {
    /// 1404: unknown stream id.
    NotFound,
    /// 1403: access denied.
    Forbidden,
    /// 1409: the resource is busy (e.g. a second publisher).
    Conflict,
    /// 1400: malformed stream id.
    BadRequest,
    /// 1503: not now (e.g. too many failed handshakes for this resource); try again later.
    Unavailable,
}

impl RejectCode {
    /// The code on the wire (`SRT_REJX_*`).
    pub fn code(self) -> i32 {
        match self {
            RejectCode::NotFound => 1404,
            RejectCode::Forbidden => 1403,
            RejectCode::Conflict => 1409,
            RejectCode::BadRequest => 1400,
            RejectCode::Unavailable => 1503,
        }
    }

    /// The inverse of [`RejectCode::code`].
    pub fn from_code(code: i32) -> Option<Self> {
        match code {
            1404 => Some(RejectCode::NotFound),
            1403 => Some(RejectCode::Forbidden),
            1409 => Some(RejectCode::Conflict),
            1400 => Some(RejectCode::BadRequest),
            1503 => Some(RejectCode::Unavailable),
            _ => None,
        }
    }
}

/// What `accept` reports about a new connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub peer: SocketAddr,
    pub stream_id: String,
    /// The tag of the [`Decision::Accept`] that let it in.
    pub tag: u64,
    /// The key length in effect (`None`: unencrypted). The caller's choice may differ from
    /// the decision's: see the crate documentation.
    pub key_len: Option<KeyLen>,
    /// The latency the decision asked for (the negotiated one is in `stats()`).
    pub latency_ms: u32,
}

/// A caller refused at the handshake, by our decision or by libsrt after it (wrong or
/// missing passphrase, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub peer: SocketAddr,
    pub stream_id: String,
    /// The tag of the decision if it had accepted (the failure came later, from libsrt).
    pub tag: Option<u64>,
    /// Our [`RejectCode::code`], 1500 for a panicking decision, or an `SRT_REJ_*` value such
    /// as 10 (`SRT_REJ_BADSECRET`, wrong passphrase) or 11 (`SRT_REJ_UNSECURE`, missing
    /// passphrase); -1 if libsrt's text could not be mapped.
    pub code: i32,
    pub reason: String,
}

type DecideFn = dyn Fn(&ConnectRequest) -> Decision + Send + Sync + 'static;

struct Pending {
    peer: SocketAddr,
    tag: u64,
    stream_id: String,
    latency_ms: u32,
    since: Instant,
}

struct Shared {
    decide: Box<DecideFn>,
    pending: Mutex<HashMap<SRTSOCKET, Pending>>,
    /// The listening socket's readiness, woken when the decision accepts a caller.
    accepting: Arc<Readiness>,
    rejections: broadcast::Sender<Rejection>,
    me: Weak<Shared>,
}

impl Shared {
    fn pending(&self) -> MutexGuard<'_, HashMap<SRTSOCKET, Pending>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A caller accepted by the decision is finishing its handshake.
    fn handshaking(&self) -> bool {
        let now = Instant::now();
        self.pending()
            .values()
            .any(|p| now.duration_since(p.since) < HANDSHAKE_WINDOW)
    }

    fn reject(&self, rejection: Rejection) {
        // The stream id is not logged: it carries stream keys, which are secrets. The owner of
        // the listener reads the event and logs it with context.
        tracing::debug!(
            peer = %rejection.peer,
            code = rejection.code,
            reason = %rejection.reason,
            "SRT caller rejected"
        );
        let _ = self.rejections.send(rejection);
    }
}

/// An SRT listener. Dropping it closes the listening socket; accepted streams live on.
pub struct SrtListener {
    // Field order matters: `sock` is dropped (srt_close, which synchronously removes the
    // listener from libsrt's receive queue, so the callback cannot run any more) before
    // `shared`, whose address the callback holds.
    sock: OwnedSocket,
    shared: Arc<Shared>,
    local_addr: SocketAddr,
}

impl fmt::Debug for SrtListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SrtListener")
            .field("sock", &self.sock)
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

impl SrtListener {
    /// Binds and listens on `addr` (port 0 picks a free port, see [`Self::local_addr`]).
    /// `decide` is called for every handshake; see the module documentation.
    pub fn bind(
        addr: SocketAddr,
        opts: ListenerOptions,
        decide: impl Fn(&ConnectRequest) -> Decision + Send + Sync + 'static,
    ) -> Result<Self, SrtError> {
        let bind_err = |e: SrtError| SrtError::Bind(format!("{addr}: {e}"));
        let guard = CloseGuard(Some(Sock::create().map_err(bind_err)?));
        let sock = guard.0.unwrap_or(Sock(ffi::SRT_INVALID_SOCK));
        sock.configure_live(opts.latency_ms).map_err(bind_err)?;
        if addr.is_ipv6() {
            sock.set_int(ffi::SRTO_IPV6ONLY, 0, "set SRTO_IPV6ONLY")
                .map_err(bind_err)?;
        }
        let (raw, len) = addr::to_raw(addr);
        // SAFETY: raw is a valid sockaddr of `len` bytes that outlives the call.
        let rc =
            unsafe { ffi::srt_bind(sock.0, (&raw as *const libc::sockaddr_storage).cast(), len) };
        if rc == ffi::SRT_ERROR {
            return Err(bind_err(error::last("srt_bind")));
        }
        let ready = Arc::new(Readiness::default());
        let shared = Arc::new_cyclic(|me| Shared {
            decide: Box::new(decide),
            pending: Mutex::default(),
            accepting: ready.clone(),
            rejections: broadcast::channel(REJECTION_BACKLOG).0,
            me: me.clone(),
        });
        let opaque = Arc::as_ptr(&shared).cast_mut().cast::<c_void>();
        // SAFETY: listen_hook matches srt_listen_callback_fn; `opaque` points to the Shared
        // kept alive by the returned listener until after srt_close (see field order).
        let rc = unsafe { ffi::srt_listen_callback(sock.0, listen_hook, opaque) };
        if rc == ffi::SRT_ERROR {
            return Err(bind_err(error::last("srt_listen_callback")));
        }
        // SAFETY: plain call on a bound socket we own.
        let rc = unsafe { ffi::srt_listen(sock.0, opts.backlog.max(1)) };
        if rc == ffi::SRT_ERROR {
            return Err(bind_err(error::last("srt_listen")));
        }
        let local_addr = sock.local_addr().map_err(bind_err)?;
        let sock = OwnedSocket::unregistered(guard.disarm(), ready);
        Ok(Self {
            sock,
            shared,
            local_addr,
        })
    }

    /// Waits for the next caller that the decision accepted and that completed the handshake.
    /// Failed handshakes never surface here; the listener keeps going.
    pub async fn accept(&self) -> Result<(SrtStream, Accepted), SrtError> {
        loop {
            if let Some(accepted) = self.try_accept()? {
                return Ok(accepted);
            }
            if self.shared.handshaking() {
                tokio::time::sleep(HANDSHAKE_POLL).await;
            } else {
                // Woken by the decision accepting a caller, or by the reactor's safety poll.
                self.sock.ready.readable().await;
            }
        }
    }

    /// One non-blocking round of `srt_accept`: `Ok(None)` when no connection is queued.
    fn try_accept(&self) -> Result<Option<(SrtStream, Accepted)>, SrtError> {
        loop {
            // SAFETY: sockaddr_storage is plain old data; all-zero is valid.
            let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
            let mut len = std::mem::size_of::<libc::sockaddr_storage>() as c_int;
            // SAFETY: we pass a writable sockaddr_storage and its size.
            let id = unsafe {
                ffi::srt_accept(
                    self.sock.id(),
                    (&mut storage as *mut libc::sockaddr_storage).cast(),
                    &mut len,
                )
            };
            if id == ffi::SRT_INVALID_SOCK {
                return match error::last("srt_accept") {
                    SrtError::WouldBlock => Ok(None),
                    e => Err(e),
                };
            }
            let sock = Sock(id);
            // SAFETY: libsrt wrote the peer's sockaddr_in/in6 into the storage.
            let peer =
                unsafe { addr::from_raw((&storage as *const libc::sockaddr_storage).cast()) };
            in_handshake().remove(&id);
            let pending = self.shared.pending().remove(&id);
            let (Some(peer), Some(pending)) = (peer, pending) else {
                tracing::warn!(
                    socket = id,
                    ?peer,
                    "accepted SRT socket without a decision; closing"
                );
                sock.close();
                continue;
            };
            let owned = match OwnedSocket::register(sock, ffi::SRT_EPOLL_IN | ffi::SRT_EPOLL_OUT) {
                Ok(owned) => owned,
                Err(e) => {
                    tracing::warn!(%peer, error = %e, "cannot register accepted SRT socket");
                    continue;
                }
            };
            let key_len = sock.key_len();
            let accepted = Accepted {
                peer,
                stream_id: pending.stream_id.clone(),
                tag: pending.tag,
                key_len,
                latency_ms: pending.latency_ms,
            };
            let stream = SrtStream::from_accepted(owned, peer, pending.stream_id);
            return Ok(Some((stream, accepted)));
        }
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Callers refused at the handshake from now on: by the decision, or by libsrt after
    /// the decision accepted (wrong/missing passphrase). The latter is recovered from
    /// libsrt's log line and so needs libsrt logging at warning level or more (the default).
    pub fn rejections(&self) -> broadcast::Receiver<Rejection> {
        self.shared.rejections.subscribe()
    }
}

/// libsrt's listen callback. Returns 0 to go on with the handshake, -1 to reject it.
unsafe extern "C" fn listen_hook(
    opaque: *mut c_void,
    ns: SRTSOCKET,
    _hsversion: c_int,
    peeraddr: *const sockaddr,
    streamid: *const c_char,
) -> c_int {
    // Everything runs under catch_unwind: a panic must not unwind into libsrt's C++ frames.
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: `opaque` is the Shared registered in `bind`, alive until srt_close of the
        // listener returns, after which libsrt no longer calls this hook.
        let shared = unsafe { &*opaque.cast_const().cast::<Shared>() };
        // SAFETY: libsrt passes the caller's address as a valid sockaddr_in/in6.
        let peer = unsafe { addr::from_raw(peeraddr) };
        let stream_id = if streamid.is_null() {
            String::new()
        } else {
            // SAFETY: non-null streamid is a NUL-terminated string valid during the call.
            unsafe { CStr::from_ptr(streamid) }
                .to_string_lossy()
                .into_owned()
        };
        let request = (peer, stream_id.clone());
        match catch_unwind(AssertUnwindSafe(|| {
            decide(shared, Sock(ns), peer, stream_id)
        })) {
            Ok(verdict) => verdict,
            Err(_) => {
                tracing::error!("SRT connection decision panicked; rejecting the caller");
                if let (Some(peer), stream_id) = request {
                    shared.reject(Rejection {
                        peer,
                        stream_id,
                        tag: None,
                        code: ffi::SRT_REJX_ISE,
                        reason: "decision panicked".into(),
                    });
                }
                Err(ffi::SRT_REJX_ISE)
            }
        }
    }));
    let code = match outcome {
        Ok(Ok(())) => return 0,
        Ok(Err(code)) => code,
        Err(_) => ffi::SRT_REJX_ISE,
    };
    // SAFETY: ns is the socket libsrt is asking about; setting its reject reason is allowed.
    unsafe { ffi::srt_setrejectreason(ns, code) };
    -1
}

/// Runs the decision and configures the new socket; `Err` carries the reject code.
fn decide(
    shared: &Shared,
    ns: Sock,
    peer: Option<SocketAddr>,
    stream_id: String,
) -> Result<(), i32> {
    let Some(peer) = peer else {
        return Err(RejectCode::BadRequest.code());
    };
    let request = ConnectRequest { peer, stream_id };
    match (shared.decide)(&request) {
        Decision::Reject(code) => {
            shared.reject(Rejection {
                peer,
                stream_id: request.stream_id,
                tag: None,
                code: code.code(),
                reason: format!("{code:?}"),
            });
            Err(code.code())
        }
        Decision::Accept {
            encryption,
            latency_ms,
            tag,
            buffers,
        } => {
            // Pre-bind options: libsrt opens the new socket only after this callback.
            let configured = ns
                .set_latency(latency_ms)
                .and_then(|()| match &encryption {
                    Some(enc) => ns.set_encryption(enc),
                    None => Ok(()),
                })
                .and_then(|()| buffers.map_or(Ok(()), |b| ns.set_buffers(&b)));
            if let Err(e) = configured {
                shared.reject(Rejection {
                    peer,
                    stream_id: request.stream_id,
                    tag: Some(tag),
                    code: ffi::SRT_REJX_ISE,
                    reason: format!("cannot configure socket: {e}"),
                });
                return Err(ffi::SRT_REJX_ISE);
            }
            let now = Instant::now();
            {
                let mut pending = shared.pending();
                pending.retain(|_, p| now.duration_since(p.since) < PENDING_TTL);
                let p = Pending {
                    tag,
                    stream_id: request.stream_id,
                    latency_ms,
                    since: now,
                    peer,
                };
                pending.insert(ns.0, p);
            }
            let mut registry = in_handshake();
            registry.retain(|_, (_, since)| now.duration_since(*since) < PENDING_TTL);
            registry.insert(ns.0, (shared.me.clone(), now));
            shared.accepting.wake_reader();
            Ok(())
        }
    }
}

/// Reject reason names as libsrt prints them (`RequestTypeStr`), indexed by `SRT_REJ_*`.
const REJ_NAMES: [&str; 17] = [
    "UNKNOWN",
    "SYSTEM",
    "PEER",
    "RESOURCE",
    "ROGUE",
    "BACKLOG",
    "IPE",
    "CLOSE",
    "VERSION",
    "RDVCOOKIE",
    "BADSECRET",
    "UNSECURE",
    "MESSAGEAPI",
    "CONGESTION",
    "FILTER",
    "GROUP",
    "TIMEOUT",
];

/// Called by the log forwarder for each libsrt log line of area `newConnection`. libsrt
/// reports a handshake that failed after our callback accepted it (wrong passphrase...)
/// only as "@<socket>:newConnection: connection rejected due to: INTERNAL REJECTION -
/// ERROR:BADSECRET"; the socket id ties it to the pending decision.
pub(crate) fn on_rejection_log(message: &str) {
    let Some((id, reason_text)) = parse_rejection_log(message) else {
        return;
    };
    let Some((weak, _)) = in_handshake().remove(&id) else {
        return;
    };
    let Some(shared) = weak.upgrade() else { return };
    let Some(pending) = shared.pending().remove(&id) else {
        return;
    };
    let code = REJ_NAMES
        .iter()
        .position(|n| reason_text.ends_with(&format!("ERROR:{n}")));
    let (code, reason) = match code.and_then(|c| i32::try_from(c).ok()) {
        Some(c) => (c, error::reject_reason_str(c)),
        None => (-1, reason_text.to_owned()),
    };
    shared.reject(Rejection {
        peer: pending.peer,
        stream_id: pending.stream_id,
        tag: Some(pending.tag),
        code,
        reason,
    });
}

/// Splits "@123:newConnection: connection rejected due to: TEXT" into (123, "TEXT").
fn parse_rejection_log(message: &str) -> Option<(SRTSOCKET, &str)> {
    // With time, thread and severity disabled, libsrt still prefixes ": ".
    let rest = message.trim_start_matches([' ', ':']).strip_prefix('@')?;
    let (id, rest) = rest.split_once(':')?;
    let id = id.trim().parse().ok()?;
    let (_, text) = rest.split_once("connection rejected due to:")?;
    Some((id, text.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_libsrt_rejection_line() {
        let line = ": @695219607:newConnection: connection rejected due to: INTERNAL REJECTION - ERROR:BADSECRET";
        assert_eq!(
            parse_rejection_log(line),
            Some((695219607, "INTERNAL REJECTION - ERROR:BADSECRET"))
        );
        assert_eq!(
            parse_rejection_log("processConnectRequest: rsp(REJECT): 1010"),
            None
        );
        assert_eq!(REJ_NAMES[ffi::SRT_REJ_BADSECRET as usize], "BADSECRET");
        assert_eq!(REJ_NAMES[ffi::SRT_REJ_TIMEOUT as usize], "TIMEOUT");
    }

    #[test]
    fn reject_codes_round_trip() {
        for c in [
            RejectCode::NotFound,
            RejectCode::Forbidden,
            RejectCode::Conflict,
            RejectCode::BadRequest,
            RejectCode::Unavailable,
        ] {
            assert_eq!(RejectCode::from_code(c.code()), Some(c));
        }
        assert_eq!(RejectCode::NotFound.code(), 1404);
    }
}
