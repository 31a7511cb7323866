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
//!
//! **Dormancy.** libsrt gives every bound UDP port a receive thread that wakes about a
//! hundred times a second whether or not a peer is there (and a send thread). So the UDP
//! socket is ours (`udp`), and libsrt listens on a duplicate of it (`srt_bind_acquire`) only
//! while it is needed: after [`ListenerOptions::dormant_after`] with no connection of this
//! listener left in libsrt, no handshake under way and no caller asking, the libsrt
//! listener is closed (*draining*) and, once libsrt has destroyed the multiplexer built on
//! our socket, the listener is *dormant*: only tokio watches the socket for readability,
//! without reading it. The first datagram (a caller's induction) wakes it: the libsrt
//! listener is opened again on the same socket and reads that very datagram, so no
//! handshake is lost. `accept` drives all of this: a listener is open from `bind` until
//! an `accept` that is awaited finds it idle, and dormant only while one is awaited (as the
//! engine's accept loops always are).
//!
//! When libsrt's multiplexer is really gone: it holds one reference per socket on it (the
//! listener and every socket spawned for a caller, each of which passes through our listen
//! callback), and libsrt's garbage collector destroys it (joining its threads, closing its
//! descriptor) in the same locked step that forgets its last socket. So once every one of
//! those socket ids reads `SRTS_NONEXIST`, no libsrt thread reads the socket any more.
//! Draining takes about five seconds (libsrt 1.5.1 keeps a closed listener 3 s for late
//! callers, then a closed socket 1 s, on a collector that runs once a second). A caller
//! arriving then has its inductions read and dropped by the closing multiplexer, and is
//! answered at the first one it repeats (every 250 ms) after the listener is dormant: it
//! is delayed by at most those seconds, and one whose connect timeout is shorter must
//! retry, as encoders do.

use std::collections::HashMap;
use std::ffi::CStr;
use std::fmt;
use std::net::{SocketAddr, UdpSocket};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use libc::{c_char, c_int, c_void, sockaddr};

use crate::error::{self, SrtError};
use crate::ffi::{self, SRTSOCKET};
use crate::reactor::Readiness;
use crate::socket::{CloseGuard, OwnedSocket, Sock};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::sync::broadcast;

use crate::{addr, udp, Buffers, Encryption, KeyLen, SrtStream};

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
/// Default [`ListenerOptions::dormant_after`]: long enough that a caller that reconnects at
/// once (an encoder's retry, a player's reload) finds the listener open, short enough that
/// an appliance with nobody on SRT stops paying libsrt's hundred wakeups a second per port.
pub const DORMANT_AFTER: Duration = Duration::from_secs(30);
/// How often an open listener checks whether it may go dormant (each check asks libsrt
/// the state of every socket spawned for its callers).
const IDLE_CHECK: Duration = Duration::from_secs(1);
/// How often a draining listener asks libsrt whether its sockets are gone: libsrt's
/// garbage collector runs once a second.
const DRAIN_POLL: Duration = Duration::from_millis(250);
/// A draining listener whose sockets libsrt has not forgotten by then goes dormant anyway
/// (with a warning): its callers must not wait forever. libsrt frees a closed socket after
/// about a second, and the sockets of its callers were all gone before draining began.
const DRAIN_LIMIT: Duration = Duration::from_secs(60);
/// Wait before opening libsrt's listener again after that failed.
const REOPEN_RETRY: Duration = Duration::from_secs(1);

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
    /// Idle time after which libsrt's listener is closed until the next datagram (see the
    /// module documentation); `None`: never. Default [`DORMANT_AFTER`].
    pub dormant_after: Option<Duration>,
}

impl Default for ListenerOptions {
    fn default() -> Self {
        Self {
            backlog: 64,
            latency_ms: 120,
            dormant_after: Some(DORMANT_AFTER),
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
    /// Every socket libsrt spawned for a caller of this listener (accepted by the decision
    /// or not) that libsrt may still hold: each keeps libsrt's multiplexer on our UDP socket
    /// alive, so the listener goes dormant only once they are all gone.
    spawned: Mutex<Vec<SRTSOCKET>>,
    /// When a caller last reached the decision.
    last_caller: Mutex<Instant>,
}

impl Shared {
    fn pending(&self) -> MutexGuard<'_, HashMap<SRTSOCKET, Pending>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn spawned(&self) -> MutexGuard<'_, Vec<SRTSOCKET>> {
        self.spawned.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn last_caller(&self) -> Instant {
        *self.last_caller.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Called by the listen hook for every socket libsrt spawns for a caller.
    fn caller_arrived(&self, ns: SRTSOCKET) {
        *self.last_caller.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        self.spawned().push(ns);
    }

    /// Forgets the spawned sockets libsrt no longer has; true when none is left.
    fn spawned_all_gone(&self) -> bool {
        // libsrt is not called under our lock: the listen hook takes it on libsrt's thread.
        let ids = std::mem::take(&mut *self.spawned());
        let alive: Vec<SRTSOCKET> = ids
            .into_iter()
            .filter(|&id| Sock(id).state() != ffi::SRTS_NONEXIST)
            .collect();
        let mut spawned = self.spawned();
        spawned.extend(alive);
        spawned.is_empty()
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
    // Field order matters: `phase` (which holds libsrt's listening socket while open) is
    // dropped (srt_close, which synchronously removes the listener from libsrt's receive
    // queue, so the callback cannot run any more) before `shared`, whose address the
    // callback holds.
    phase: Mutex<Phase>,
    /// Our UDP socket; libsrt listens on a duplicate of it while open.
    udp: UdpSocket,
    shared: Arc<Shared>,
    local_addr: SocketAddr,
    opts: ListenerOptions,
}

/// Where a listener is in its dormancy cycle (see the module documentation).
enum Phase {
    /// libsrt listens on a duplicate of our socket.
    Open {
        sock: Listening,
        next_idle_check: Instant,
    },
    /// libsrt's listener is closed; its multiplexer may still read our socket.
    Draining {
        listener: SRTSOCKET,
        since: Instant,
        next_poll: Instant,
    },
    /// Only tokio watches our socket (registered by the first `accept` that waits).
    Dormant {
        watch: Option<Arc<AsyncFd<UdpSocket>>>,
        retry_at: Option<Instant>,
    },
}

/// What `accept` does next, decided under the phase lock and awaited without it.
enum Step {
    Accepted(Box<(SrtStream, Accepted)>),
    /// Poll again after this long.
    Sleep(Duration),
    /// Wait for the decision to accept a caller (or the reactor's safety poll).
    Callers,
    /// Wait for a datagram on our socket, then open libsrt's listener.
    Watch(Arc<AsyncFd<UdpSocket>>),
}

impl fmt::Debug for SrtListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SrtListener")
            .field("local_addr", &self.local_addr)
            .field("dormant", &self.is_dormant())
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
        crate::startup();
        let bind_err = |e: std::io::Error| SrtError::Bind(format!("{addr}: {e}"));
        let udp = udp::bind(addr).map_err(bind_err)?;
        let shared = Arc::new_cyclic(|me| Shared {
            decide: Box::new(decide),
            pending: Mutex::default(),
            accepting: Arc::new(Readiness::default()),
            rejections: broadcast::channel(REJECTION_BACKLOG).0,
            me: me.clone(),
            spawned: Mutex::default(),
            last_caller: Mutex::new(Instant::now()),
        });
        // Open from the start: the options are checked here, and a listener whose `accept`
        // is not awaited yet (or ever) takes callers as before; it goes dormant from `accept`.
        let sock = open_libsrt(&udp, addr, &opts, &shared)?;
        // As libsrt sees it: the same socket.
        let local_addr = sock
            .0
            .local_addr()
            .map_err(|e| SrtError::Bind(format!("{addr}: {e}")))?;
        Ok(Self {
            phase: Mutex::new(Phase::Open {
                sock,
                next_idle_check: Instant::now() + IDLE_CHECK,
            }),
            udp,
            shared,
            local_addr,
            opts,
        })
    }

    fn phase(&self) -> MutexGuard<'_, Phase> {
        self.phase.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether libsrt's listener is closed and only our socket is watched (see the module
    /// documentation). For tests and diagnostics.
    pub fn is_dormant(&self) -> bool {
        matches!(*self.phase(), Phase::Dormant { .. })
    }

    /// Waits for the next caller that the decision accepted and that completed the handshake.
    /// Failed handshakes never surface here; the listener keeps going. Also opens and closes
    /// libsrt's listener as callers come and go (see the module documentation). Cancel-safe.
    pub async fn accept(&self) -> Result<(SrtStream, Accepted), SrtError> {
        loop {
            match self.step()? {
                Step::Accepted(accepted) => return Ok(*accepted),
                Step::Sleep(d) => tokio::time::sleep(d).await,
                // Woken by the decision accepting a caller, or by the reactor's safety poll.
                Step::Callers => self.shared.accepting.readable().await,
                Step::Watch(watch) => {
                    let readable = watch.readable().await.map(drop);
                    drop(watch);
                    self.wake(readable)?;
                }
            }
        }
    }

    /// One round of the phase machine, under the phase lock; never blocks.
    fn step(&self) -> Result<Step, SrtError> {
        let mut phase = self.phase();
        let now = Instant::now();
        match &mut *phase {
            Phase::Open {
                sock,
                next_idle_check,
            } => {
                if let Some(accepted) = self.try_accept(sock.id())? {
                    return Ok(Step::Accepted(Box::new(accepted)));
                }
                if self.shared.handshaking() {
                    return Ok(Step::Sleep(HANDSHAKE_POLL));
                }
                let Some(idle) = self.opts.dormant_after else {
                    return Ok(Step::Callers);
                };
                if now < *next_idle_check {
                    return Ok(Step::Callers);
                }
                *next_idle_check = now + IDLE_CHECK;
                let quiet = now.duration_since(self.shared.last_caller()) >= idle;
                if !quiet || !self.shared.spawned_all_gone() {
                    return Ok(Step::Callers);
                }
                let listener = sock.id();
                // Dropping the socket closes it (srt_close): the callback cannot run after
                // that. A caller it let in since the check above is in `spawned`, and
                // draining waits for it too.
                *phase = Phase::Draining {
                    listener,
                    since: now,
                    next_poll: now + DRAIN_POLL,
                };
                tracing::debug!(addr = %self.local_addr, "SRT listener idle: libsrt's listener closed");
                Ok(Step::Sleep(DRAIN_POLL))
            }
            Phase::Draining {
                listener,
                since,
                next_poll,
            } => {
                if now < *next_poll {
                    return Ok(Step::Sleep(*next_poll - now));
                }
                *next_poll = now + DRAIN_POLL;
                let gone =
                    Sock(*listener).state() == ffi::SRTS_NONEXIST && self.shared.spawned_all_gone();
                if !gone && now.duration_since(*since) < DRAIN_LIMIT {
                    return Ok(Step::Sleep(DRAIN_POLL));
                }
                if gone {
                    tracing::debug!(addr = %self.local_addr, "SRT listener dormant");
                } else {
                    tracing::warn!(
                        addr = %self.local_addr,
                        "libsrt still holds sockets of a closed SRT listener after {} s; \
                         watching its port anyway",
                        DRAIN_LIMIT.as_secs()
                    );
                }
                *phase = Phase::Dormant {
                    watch: None,
                    retry_at: None,
                };
                Ok(Step::Sleep(Duration::ZERO))
            }
            Phase::Dormant { watch, retry_at } => {
                if let Some(at) = *retry_at {
                    if now < at {
                        return Ok(Step::Sleep(at - now));
                    }
                }
                if let Some(w) = watch {
                    return Ok(Step::Watch(w.clone()));
                }
                let registered = self.udp.try_clone().and_then(|dup| {
                    // SAFETY: a UdpSocket owns its descriptor, keeps the same one for its
                    // whole life and closes it only on drop, after the AsyncFd deregistered.
                    // We are on a tokio runtime: `accept` runs in one.
                    unsafe { AsyncFd::register_with_interest(dup, Interest::READABLE) }
                        .map_err(std::io::Error::from)
                });
                match registered {
                    Ok(w) => {
                        let w = Arc::new(w);
                        *watch = Some(w.clone());
                        Ok(Step::Watch(w))
                    }
                    Err(e) => {
                        *retry_at = Some(now + REOPEN_RETRY);
                        Err(watch_error(&e))
                    }
                }
            }
        }
    }

    /// A datagram reached the dormant socket (or watching it failed): opens libsrt's
    /// listener on it, which reads that datagram.
    fn wake(&self, readable: std::io::Result<()>) -> Result<(), SrtError> {
        let mut phase = self.phase();
        if !matches!(*phase, Phase::Dormant { .. }) {
            return Ok(());
        }
        let now = Instant::now();
        // The watch goes first: still registered, it would wake tokio for every datagram
        // libsrt reads.
        *phase = Phase::Dormant {
            watch: None,
            retry_at: Some(now + REOPEN_RETRY),
        };
        if let Err(e) = readable {
            return Err(watch_error(&e));
        }
        let sock = open_libsrt(&self.udp, self.local_addr, &self.opts, &self.shared)?;
        *self
            .shared
            .last_caller
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = now;
        *phase = Phase::Open {
            sock,
            next_idle_check: now + IDLE_CHECK,
        };
        tracing::debug!(addr = %self.local_addr, "SRT listener woken by a datagram");
        Ok(())
    }

    /// One non-blocking round of `srt_accept`: `Ok(None)` when no connection is queued.
    fn try_accept(&self, listener: SRTSOCKET) -> Result<Option<(SrtStream, Accepted)>, SrtError> {
        loop {
            // SAFETY: sockaddr_storage is plain old data; all-zero is valid.
            let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
            let mut len = std::mem::size_of::<libc::sockaddr_storage>() as c_int;
            // SAFETY: we pass a writable sockaddr_storage and its size.
            let id = unsafe {
                ffi::srt_accept(
                    listener,
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

/// The error of a failed watch on a dormant listener's socket.
fn watch_error(e: &std::io::Error) -> SrtError {
    SrtError::Other {
        op: "watch the SRT port",
        code: e.raw_os_error().unwrap_or(-1),
        msg: e.to_string(),
    }
}

/// Opens libsrt's listener on a duplicate of `udp` with the listen callback and `opts`.
fn open_libsrt(
    udp: &UdpSocket,
    addr: SocketAddr,
    opts: &ListenerOptions,
    shared: &Arc<Shared>,
) -> Result<Listening, SrtError> {
    let bind_err = |e: SrtError| SrtError::Bind(format!("{addr}: {e}"));
    let guard = CloseGuard(Some(Sock::create().map_err(bind_err)?));
    let sock = guard.0.unwrap_or(Sock(ffi::SRT_INVALID_SOCK));
    sock.configure_live(opts.latency_ms).map_err(bind_err)?;
    if addr.is_ipv6() {
        sock.set_int(ffi::SRTO_IPV6ONLY, 0, "set SRTO_IPV6ONLY")
            .map_err(bind_err)?;
    }
    let fd = udp::duplicate_for_libsrt(udp)
        .map_err(|e| SrtError::Bind(format!("{addr}: duplicate the UDP socket: {e}")))?;
    // SAFETY: `fd` is a bound UDP socket descriptor we own and hand over to libsrt. If the
    // call fails it is not closed: whether libsrt took it depends on where it failed, and a
    // descriptor leaked on this never-seen path is harmless where closing one that libsrt
    // already closed (and the process reused) is not.
    let rc = unsafe { ffi::srt_bind_acquire(sock.0, fd) };
    if rc == ffi::SRT_ERROR {
        return Err(bind_err(error::last("srt_bind_acquire")));
    }
    let opaque = Arc::as_ptr(shared).cast_mut().cast::<c_void>();
    // SAFETY: listen_hook matches srt_listen_callback_fn; `opaque` points to the Shared
    // kept alive by the listener until after srt_close of this socket (see field order).
    let rc = unsafe { ffi::srt_listen_callback(sock.0, listen_hook, opaque) };
    if rc == ffi::SRT_ERROR {
        return Err(bind_err(error::last("srt_listen_callback")));
    }
    // SAFETY: plain call on a bound socket we own.
    let rc = unsafe { ffi::srt_listen(sock.0, opts.backlog.max(1)) };
    if rc == ffi::SRT_ERROR {
        return Err(bind_err(error::last("srt_listen")));
    }
    Ok(Listening(guard.disarm()))
}

/// libsrt's listening socket, closed on drop. Not in the reactor (see `reactor`), so not
/// an `OwnedSocket`: removing a socket that was never added from libsrt's epoll makes
/// libsrt log an internal error.
struct Listening(Sock);

impl Listening {
    fn id(&self) -> SRTSOCKET {
        self.0 .0
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        self.0.close();
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
        shared.caller_arrived(ns);
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
