//! SRT as caller: one connection attempt of a push output or a pull input. The retry loop
//! around it is in `output` and `input`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use relevo_srt::{CallerOptions, SrtError, SrtStream};
use tokio_util::sync::CancellationToken;

use crate::error::LinkError;
use crate::hub::fanout::Subscription;
use crate::hub::Publisher;
use crate::metrics::{LinkDirection, OutputCounters, Peers};
use crate::spec::SrtCaller;
use crate::unit::TsChunk;

/// How long a caller waits for the handshake (libsrt's own default is 3 s).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// A send that cannot make progress for this long means the destination stopped reading.
pub const STALL_AFTER: Duration = Duration::from_secs(10);

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
    addrs
        .next()
        .ok_or_else(|| LinkError::Resolve(c.host.clone()))
}

async fn connect(c: &SrtCaller) -> Result<SrtStream, LinkError> {
    let addr = resolve(c).await?;
    let opts = CallerOptions {
        stream_id: c.stream_id.clone(),
        encryption: c.security.as_ref().map(|s| s.to_srt()),
        latency_ms: c.latency.ms(),
        connect_timeout: CONNECT_TIMEOUT,
    };
    Ok(SrtStream::connect(addr, opts).await?)
}

/// Pushes one subscription to a remote SRT listener until the publisher leaves (Ok) or
/// the link fails.
pub(crate) async fn push(
    c: &SrtCaller,
    make_sub: impl FnOnce() -> Option<Subscription<TsChunk>>,
    counters: &OutputCounters,
    cancel: &CancellationToken,
) -> Result<(), LinkError> {
    let stream = connect(c).await?;
    let Some(mut sub) = make_sub() else {
        return Ok(());
    };
    let stream = Arc::new(stream);
    let _peer = counters.connections.join(
        "srt",
        stream.peer_addr().to_string(),
        Some((&stream, LinkDirection::Sending)),
    );
    counters
        .peers
        .store(1, std::sync::atomic::Ordering::Relaxed);
    counters.set_state(crate::metrics::FlowState::Live);
    let mut scratch = [0u8; 1500];
    let res = loop {
        tokio::select! {
            _ = cancel.cancelled() => break Ok(()),
            r = stream.recv(&mut scratch) => match r {
                Ok(0) | Err(SrtError::Closed) => break Err(LinkError::Closed),
                Ok(_) => {}
                Err(e) => break Err(e.into()),
            },
            chunk = sub.rx.recv() => {
                let Some(chunk) = chunk else { break Ok(()) };
                match tokio::time::timeout(STALL_AFTER, stream.send(&chunk.data)).await {
                    Err(_) => break Err(LinkError::Stalled(STALL_AFTER.as_secs())),
                    Ok(Err(e)) => break Err(e.into()),
                    Ok(Ok(())) => {
                        counters.add_bytes(chunk.data.len());
                        counters.latency.record_since(chunk.arrived);
                    }
                }
            }
        }
    };
    counters
        .peers
        .store(0, std::sync::atomic::Ordering::Relaxed);
    res
}

/// Reads from a remote SRT listener into the hub until the link ends.
pub(crate) async fn pull(
    c: &SrtCaller,
    attach: impl FnOnce(SocketAddr) -> Option<Publisher>,
    link: &Peers,
    cancel: &CancellationToken,
) -> Result<(), LinkError> {
    let addr = resolve(c).await?;
    let stream = Arc::new(connect(c).await?);
    let Some(publisher) = attach(addr) else {
        return Err(LinkError::Protocol("input already has a publisher".into()));
    };
    let _peer = link.join(
        "srt",
        addr.to_string(),
        Some((&stream, LinkDirection::Receiving)),
    );
    let mut buf = [0u8; 1500];
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return Ok(()),
            r = tokio::time::timeout(STALL_AFTER, stream.recv(&mut buf)) => match r {
                Err(_) => return Err(LinkError::Stalled(STALL_AFTER.as_secs())),
                Ok(Ok(0)) | Ok(Err(SrtError::Closed)) => return Err(LinkError::Closed),
                Ok(Ok(n)) => publisher.push_ts(&buf[..n]),
                Ok(Err(e)) => return Err(e.into()),
            },
        }
    }
}
