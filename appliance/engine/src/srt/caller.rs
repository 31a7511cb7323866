//! SRT as caller: one connection attempt of a push output or a pull input. The retry loop
//! around it is in `output` and `input`.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use relevo_srt::{Buffers, CallerOptions, SrtError, SrtStream};
use tokio_util::sync::CancellationToken;

use crate::error::LinkError;
use crate::hub::fanout::{Direct, Subscription};
use crate::hub::Publisher;
use crate::metrics::{FlowState, LinkDirection, OutputCounters, Peers};
use crate::spec::SrtCaller;
use crate::srt::recv::Burst;
use crate::srt::send::{send_feed, FeedEnd, STALL_AFTER};
use crate::unit::TsChunk;

/// How long a caller waits for the handshake (libsrt's own default is 3 s).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

impl From<SrtError> for LinkError {
    fn from(e: SrtError) -> Self {
        match e {
            SrtError::Rejected { reason, code } => {
                LinkError::Rejected(format!("{reason} (SRT code {code})"))
            }
            SrtError::Refused => LinkError::Refused,
            SrtError::Timeout => LinkError::Timeout,
            SrtError::Closed => LinkError::Closed,
            other => LinkError::Io(other.to_string()),
        }
    }
}

async fn resolve(c: &SrtCaller) -> Result<SocketAddr, LinkError> {
    let mut addrs = tokio::net::lookup_host((c.host.as_str(), c.port))
        .await
        .map_err(|_| LinkError::Resolve(c.host.clone()))?;
    let addr = addrs
        .next()
        .ok_or_else(|| LinkError::Resolve(c.host.clone()))?;
    // Checked on every attempt: the name may resolve elsewhere than when it was saved.
    crate::destination::check(addr.ip(), c.allow_private)?;
    Ok(addr)
}

/// `buffers`: `None` for a pull input (libsrt's defaults, sized for receiving).
async fn connect(c: &SrtCaller, buffers: Option<Buffers>) -> Result<SrtStream, LinkError> {
    let addr = resolve(c).await?;
    let opts = CallerOptions {
        stream_id: c.stream_id.clone(),
        encryption: c.security.as_ref().map(|s| s.to_srt()),
        latency_ms: c.latency.ms(),
        connect_timeout: CONNECT_TIMEOUT,
        buffers,
    };
    Ok(SrtStream::connect(addr, opts).await?)
}

/// Pushes the input's TS feed to a remote SRT listener until the publisher leaves (Ok) or
/// the link fails.
pub(crate) async fn push(
    c: &SrtCaller,
    subscribe: impl FnOnce(Arc<dyn Direct<TsChunk>>) -> Option<Subscription<TsChunk>>,
    counters: &OutputCounters,
    cancel: &CancellationToken,
) -> Result<(), LinkError> {
    // The rate this output sent at on its last connection; unknown (0) on the first one.
    let bps = crate::metrics::RateWindow::last_10s_of(&counters.rate);
    let buffers = Buffers::for_sender(c.latency.ms(), bps);
    let stream = Arc::new(connect(c, Some(buffers)).await?);
    let _peer = counters.connections.join(
        "srt",
        stream.peer_addr().to_string(),
        Some((&stream, LinkDirection::Sending)),
    );
    counters.peers.store(1, Ordering::Relaxed);
    counters.set_state(FlowState::Live);
    let ended = send_feed(&stream, subscribe, counters, cancel).await;
    counters.peers.store(0, Ordering::Relaxed);
    match ended {
        FeedEnd::Cancelled | FeedEnd::InputEnded => Ok(()),
        FeedEnd::PeerClosed => Err(LinkError::Closed),
        FeedEnd::Stalled => Err(LinkError::Stalled(STALL_AFTER.as_secs())),
        FeedEnd::Failed(e) => Err(e.into()),
    }
}

/// Reads from a remote SRT listener into the hub until the link ends.
pub(crate) async fn pull(
    c: &SrtCaller,
    attach: impl FnOnce(SocketAddr) -> Option<Publisher>,
    link: &Peers,
    cancel: &CancellationToken,
) -> Result<(), LinkError> {
    let addr = resolve(c).await?;
    let stream = Arc::new(connect(c, None).await?);
    let Some(publisher) = attach(addr) else {
        return Err(LinkError::Protocol("input already has a publisher".into()));
    };
    let _peer = link.join(
        "srt",
        addr.to_string(),
        Some((&stream, LinkDirection::Receiving)),
    );
    let mut burst = Burst::new();
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return Ok(()),
            r = tokio::time::timeout(STALL_AFTER, burst.recv(&stream)) => match r {
                Err(_) => return Err(LinkError::Stalled(STALL_AFTER.as_secs())),
                Ok(Err(SrtError::Closed)) => return Err(LinkError::Closed),
                Ok(Ok(())) => publisher.push_ts(burst.messages()),
                Ok(Err(e)) => return Err(e.into()),
            },
        }
    }
}
