//! The HTTP listener: the control plane's router (`/api/v1`, the panel, `/metrics`,
//! `/healthz`) served by hyper from our own accept loop, so that the edge has limits a
//! client on the Internet cannot wear down (`[http]`, `relevo_control::api::edge`):
//!
//! - a header-read timeout (hyper's): a connection that sends no complete request head in
//!   time, or idles between keep-alive requests, is closed;
//! - an idle timeout: no byte either way for that long and the connection is closed
//!   (a WebSocket leaves this loop once upgraded, and keeps itself alive);
//! - a global cap (a semaphore taken before `accept`: beyond it new connections wait in the
//!   kernel's queue) and a per-address cap (beyond it a new connection is closed at once),
//!   which does not apply to a trusted proxy since it carries every client.
//!
//! Each request gets the peer's address (`ConnectInfo`) and, from a trusted proxy, the
//! [`ViaTrustedProxy`] marker that lets the control plane believe `X-Forwarded-*`.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use relevo_control::api::edge::{EdgeConfig, ViaTrustedProxy};
use relevo_control::api::ApiState;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// After an `accept` error (out of file descriptors, usually) wait this long before the
/// next one instead of spinning.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// At most one log line per this interval about connections refused by the per-address
/// cap: a flood must not become a flood of log lines.
const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Binds `addr`; a failure is fatal at start like any other listener's.
pub async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    let l = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen for HTTP on {addr}"))?;
    tracing::info!(addr = %l.local_addr().unwrap_or(addr), "HTTP listening");
    Ok(l)
}

/// Serves until `shutdown` completes, then lets requests in flight finish.
pub async fn serve(
    listener: TcpListener,
    api: ApiState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let edge = api.config.edge.clone();
    let app = relevo_control::app(api);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(edge.header_read_timeout);
    let slots = Arc::new(Semaphore::new(edge.max_connections));
    let per_address = PerAddress::new(edge.max_connections_per_address);
    let stopping = CancellationToken::new();
    let tasks = TaskTracker::new();
    let mut refusals = Refusals::default();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => p.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(v) => v,
                Err(e) => {
                    tracing::warn!("HTTP accept failed: {e}");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let trusted = edge.trusts(peer.ip());
        let slot = if trusted {
            None
        } else {
            match per_address.take(peer.ip()) {
                Some(slot) => Some(slot),
                None => {
                    refusals.count(peer.ip(), &edge);
                    continue;
                }
            }
        };
        let _ = stream.set_nodelay(true);
        let activity = Arc::new(Activity::new());
        let io = Tracked {
            stream,
            activity: activity.clone(),
            _slots: (permit, slot),
        };
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<_>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            if trusted {
                req.extensions_mut().insert(ViaTrustedProxy);
            }
            tower::ServiceExt::oneshot(app.clone(), req)
        });
        let mut conn = http
            .serve_connection(TokioIo::new(io), service)
            .with_upgrades();
        let idle = edge.idle_timeout;
        let stopping = stopping.clone();
        tasks.spawn(async move {
            // Once upgraded (WebSocket) the connection future ends and the socket lives on
            // in the handler; the idle watch ends with it.
            tokio::select! {
                r = &mut conn => return log_end(peer, r),
                () = activity.idle_for(idle) => {
                    tracing::debug!(%peer, "HTTP connection idle for {idle:?}: closed");
                    return;
                }
                () = stopping.cancelled() => {}
            }
            // Shutting down: finish the request in flight, then close.
            Pin::new(&mut conn).graceful_shutdown();
            log_end(peer, conn.await);
        });
    }
    drop(listener);
    stopping.cancel();
    tasks.close();
    tasks.wait().await;
}

fn log_end(peer: SocketAddr, r: Result<(), hyper::Error>) {
    if let Err(e) = r {
        tracing::debug!(%peer, "HTTP connection: {e}");
    }
}

/// Open connections per peer address (trusted proxies are not counted).
#[derive(Clone)]
struct PerAddress {
    max: usize,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl PerAddress {
    fn new(max: usize) -> Self {
        Self {
            max,
            open: Arc::default(),
        }
    }

    /// A slot for one more connection from `ip`, or `None` when it has `max` open.
    fn take(&self, ip: IpAddr) -> Option<AddressSlot> {
        let ip = ip.to_canonical();
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let n = open.entry(ip).or_default();
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(AddressSlot {
            ip,
            owner: self.clone(),
        })
    }
}

/// One open connection of an address; dropped with the socket.
struct AddressSlot {
    ip: IpAddr,
    owner: PerAddress,
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut open = self.owner.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// Counts connections refused by the per-address cap and logs them at most once per
/// [`REFUSAL_LOG_INTERVAL`].
#[derive(Default)]
struct Refusals {
    since_log: u64,
    last_log: Option<Instant>,
}

impl Refusals {
    fn count(&mut self, ip: IpAddr, edge: &EdgeConfig) {
        self.since_log += 1;
        if self
            .last_log
            .is_some_and(|t| t.elapsed() < REFUSAL_LOG_INTERVAL)
        {
            return;
        }
        tracing::warn!(
            addr = %ip,
            refused = self.since_log,
            "HTTP connections refused: more than {} open from one address \
             (http.max_connections_per_address)",
            edge.max_connections_per_address
        );
        self.since_log = 0;
        self.last_log = Some(Instant::now());
    }
}

/// When a connection last moved a byte, in milliseconds since it opened.
struct Activity {
    opened: Instant,
    last_ms: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Self {
            opened: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    /// Completes once no byte has moved for `limit`.
    async fn idle_for(&self, limit: Duration) {
        loop {
            let last = self.opened + Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
            let deadline = last + limit;
            if Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep_until(deadline.into()).await;
        }
    }
}

/// The socket, noting activity, and holding the connection's slots until it closes (also
/// after an upgrade hands it to the WebSocket handler).
struct Tracked {
    stream: TcpStream,
    activity: Arc<Activity>,
    _slots: (OwnedSemaphorePermit, Option<AddressSlot>),
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        r
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.stream).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
