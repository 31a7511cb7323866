//! The one reactor thread: waits on a single libsrt epoll for every socket of the process
//! and wakes the tokio tasks waiting on them.
//!
//! Each registered socket has a [`Readiness`] with one `Notify` per direction. Sockets are
//! registered edge-triggered for IN, OUT and ERR; an event stores a `Notify` permit, so an
//! event that arrives between a task's failed non-blocking call and its `await` is not lost.
//! ERR wakes both directions, and the next call then reports the error. Waiters also re-poll
//! after [`SAFETY_POLL`] so that a missed edge can only delay, never hang, a task.
//!
//! libsrt's epoll wait wakes every 10 ms whatever happens (its `CGlobEvent` poll), so the
//! thread parks instead while no socket is registered. Listening sockets are not registered:
//! libsrt's listen callback tells their accept loop that a caller is coming (see
//! `listener`). An appliance with only its SRT listeners open (idle, or relaying RTMP) then
//! has no thread of ours waking 100 times a second.
//!
//! Not here: any socket operation; callers loop "try the call, on EAGAIN wait".

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, LazyLock, Mutex, MutexGuard};
use std::time::Duration;

use libc::c_int;
use tokio::sync::Notify;

use crate::error::{self, SrtError};
use crate::ffi::{self, SRTSOCKET, SRT_EPOLL_EVENT};

/// How long a waiter sleeps before retrying even without an event.
const SAFETY_POLL: Duration = Duration::from_millis(250);
/// How long one `srt_epoll_uwait` blocks; registration does not need to interrupt it.
const WAIT_MS: i64 = 100;
/// Events fetched per `srt_epoll_uwait` call.
const BATCH: usize = 256;

/// Wakers of one socket.
#[derive(Debug, Default)]
pub(crate) struct Readiness {
    read: Notify,
    write: Notify,
}

impl Readiness {
    /// Wakes a task waiting for [`Readiness::readable`] (or the next one to wait).
    pub(crate) fn wake_reader(&self) {
        self.read.notify_one();
    }

    /// Waits until the socket may be readable (or acceptable, or in error).
    pub(crate) async fn readable(&self) {
        let _ = tokio::time::timeout(SAFETY_POLL, self.read.notified()).await;
    }

    /// Waits until the socket may be writable (or connected, or in error).
    pub(crate) async fn writable(&self) {
        let _ = tokio::time::timeout(SAFETY_POLL, self.write.notified()).await;
    }
}

struct Reactor {
    eid: c_int,
    sockets: Mutex<HashMap<SRTSOCKET, Arc<Readiness>>>,
    /// Signalled when the first socket is registered, to unpark the thread.
    occupied: Condvar,
}

impl Reactor {
    fn sockets(&self) -> MutexGuard<'_, HashMap<SRTSOCKET, Arc<Readiness>>> {
        // A panic while holding this lock cannot leave the map inconsistent; keep going.
        self.sockets.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Returns once at least one socket is registered.
    fn wait_for_sockets(&self) {
        let mut sockets = self.sockets();
        while sockets.is_empty() {
            sockets = self
                .occupied
                .wait(sockets)
                .unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// Calls of `srt_epoll_uwait` so far, for tests that check the thread parks.
static WAITS: AtomicU64 = AtomicU64::new(0);

/// How many times the reactor thread has waited on libsrt's epoll since the process started.
pub fn epoll_waits() -> u64 {
    WAITS.load(Ordering::Relaxed)
}

static REACTOR: LazyLock<Result<Arc<Reactor>, String>> = LazyLock::new(start);

fn start() -> Result<Arc<Reactor>, String> {
    crate::startup();
    // SAFETY: srt_epoll_create has no preconditions after srt_startup.
    let eid = unsafe { ffi::srt_epoll_create() };
    if eid < 0 {
        return Err(error::last_error().1);
    }
    // SAFETY: eid is the epoll just created; the flag lets uwait block on an empty set.
    unsafe { ffi::srt_epoll_set(eid, ffi::SRT_EPOLL_ENABLE_EMPTY) };
    let reactor = Arc::new(Reactor {
        eid,
        sockets: Mutex::new(HashMap::new()),
        occupied: Condvar::new(),
    });
    let r = Arc::clone(&reactor);
    std::thread::Builder::new()
        .name("srt-reactor".into())
        .spawn(move || run(&r))
        .map_err(|e| format!("spawn srt-reactor thread: {e}"))?;
    Ok(reactor)
}

fn reactor() -> Result<&'static Reactor, SrtError> {
    match &*REACTOR {
        Ok(r) => Ok(r),
        Err(msg) => Err(SrtError::Other {
            op: "start srt reactor",
            code: -1,
            msg: msg.clone(),
        }),
    }
}

fn run(reactor: &Reactor) {
    let mut events = [SRT_EPOLL_EVENT::default(); BATCH];
    loop {
        reactor.wait_for_sockets();
        WAITS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the buffer holds BATCH events and we pass that size; libsrt writes within it.
        let n = unsafe {
            ffi::srt_epoll_uwait(reactor.eid, events.as_mut_ptr(), BATCH as c_int, WAIT_MS)
        };
        if n < 0 {
            let (code, msg) = error::last_error();
            tracing::warn!(target: "libsrt", code, %msg, "srt_epoll_uwait failed");
            std::thread::sleep(Duration::from_millis(WAIT_MS as u64));
            continue;
        }
        // uwait returns BATCH + 1 when more events were ready than fit; the rest come next.
        let n = usize::try_from(n).unwrap_or(0).min(BATCH);
        let sockets = reactor.sockets();
        for ev in &events[..n] {
            let Some(ready) = sockets.get(&ev.fd) else {
                continue;
            };
            if ev.events & (ffi::SRT_EPOLL_IN | ffi::SRT_EPOLL_ERR) != 0 {
                ready.read.notify_one();
            }
            if ev.events & (ffi::SRT_EPOLL_OUT | ffi::SRT_EPOLL_ERR) != 0 {
                ready.write.notify_one();
            }
        }
    }
}

/// Registers `sock` edge-triggered for `events` (ERR is always added).
pub(crate) fn register(sock: SRTSOCKET, events: c_int) -> Result<Arc<Readiness>, SrtError> {
    let reactor = reactor()?;
    let ready = Arc::new(Readiness::default());
    reactor.sockets().insert(sock, Arc::clone(&ready));
    reactor.occupied.notify_one();
    let flags = events | ffi::SRT_EPOLL_ERR | ffi::SRT_EPOLL_ET;
    // SAFETY: eid is valid for the process lifetime; flags points to a live int.
    let rc = unsafe { ffi::srt_epoll_add_usock(reactor.eid, sock, &flags) };
    if rc == ffi::SRT_ERROR {
        let err = error::last("srt_epoll_add_usock");
        reactor.sockets().remove(&sock);
        return Err(err);
    }
    Ok(ready)
}

/// Removes `sock` from the epoll and the table; harmless if it was never registered.
pub(crate) fn deregister(sock: SRTSOCKET) {
    let Ok(reactor) = reactor() else { return };
    reactor.sockets().remove(&sock);
    // SAFETY: eid is valid; removing an unknown or closed socket only returns an error.
    unsafe { ffi::srt_epoll_remove_usock(reactor.eid, sock) };
}
