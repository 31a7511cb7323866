//! Push: publish a hub's FLV tags to a remote RTMP(S) server (YouTube, Facebook, Twitch, any
//! RTMP ingest). One call is one connection attempt; the output handler owns retries.

use std::sync::atomic::{AtomicU64, Ordering};

use rml_rtmp::sessions::{ClientSessionEvent, PublishRequestType};
use rml_rtmp::time::RtmpTimestamp;
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::client::{check_status, protocol, ClientConn};
use super::meta;
use super::tls::ClientTls;
use super::url::RtmpUrl;
use crate::error::LinkError;
use crate::metrics::LatencyHistogram;
use crate::unit::{FlvKind, FlvTag};

/// Connects to `url`, publishes its stream key live, and forwards tags from `rx` until `rx`
/// closes or `cancel` fires (both `Ok`). Media bytes written are added to `bytes_out` as they
/// leave. Inbound bytes (acknowledgements, pings, status) are processed meanwhile so the server
/// never waits on us. A write that makes no progress for 10 s ends with [`LinkError::Stalled`].
pub async fn push(
    url: &RtmpUrl,
    tls: &ClientTls,
    rx: &mut mpsc::Receiver<FlvTag>,
    bytes_out: &AtomicU64,
    cancel: &CancellationToken,
) -> Result<(), LinkError> {
    let latency = LatencyHistogram::default();
    push_with(url, tls, rx, bytes_out, &latency, cancel, || {}).await
}

/// [`push`], calling `on_publishing` once the destination has accepted the stream, so the
/// caller can show the output live only when it really is, and recording in `latency` the
/// time each tag spent in the relay.
pub async fn push_with(
    url: &RtmpUrl,
    tls: &ClientTls,
    rx: &mut mpsc::Receiver<FlvTag>,
    bytes_out: &AtomicU64,
    latency: &LatencyHistogram,
    cancel: &CancellationToken,
    on_publishing: impl FnOnce(),
) -> Result<(), LinkError> {
    let mut conn = ClientConn::open(url, tls, cancel).await?;
    let request = conn
        .session
        .request_publishing(url.key().to_string(), PublishRequestType::Live)
        .map_err(protocol)?;
    let mut pending = conn.send_results(vec![request]).await?;
    'setup: loop {
        for event in pending {
            match event {
                ClientSessionEvent::PublishRequestAccepted => break 'setup,
                other => check_status(&other)?,
            }
        }
        pending = conn.read_setup(cancel).await?;
    }
    tracing::debug!(url = %url.redacted(), "RTMP push publishing");
    on_publishing();

    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            read = conn.reader.read(&mut conn.buf) => {
                let n = read.map_err(|e| LinkError::from_io(&e))?;
                if n == 0 {
                    return Err(LinkError::Closed);
                }
                let data = conn.buf.get(..n).unwrap_or_default().to_vec();
                for event in conn.process(&data).await? {
                    check_status(&event)?;
                }
            }
            tag = rx.recv() => match tag {
                Some(tag) => send_tag(&mut conn, tag, bytes_out, latency).await?,
                None => break,
            },
        }
    }
    conn.close(true).await;
    Ok(())
}

async fn send_tag(
    conn: &mut ClientConn,
    tag: FlvTag,
    bytes_out: &AtomicU64,
    latency: &LatencyHistogram,
) -> Result<(), LinkError> {
    let ts = RtmpTimestamp::new(tag.timestamp);
    let arrived = tag.arrived;
    let session = &mut conn.session;
    let result = match tag.kind {
        FlvKind::Video => session.publish_video_data(tag.body, ts, false),
        FlvKind::Audio => session.publish_audio_data(tag.body, ts, false),
        FlvKind::Meta => match meta::body_to_metadata(&tag.body) {
            Some(m) => session.publish_metadata(&m),
            None => return Ok(()),
        },
    }
    .map_err(protocol)?;
    if let rml_rtmp::sessions::ClientSessionResult::OutboundResponse(packet) = result {
        conn.write(&packet.bytes, |n| {
            bytes_out.fetch_add(n as u64, Ordering::Relaxed);
        })
        .await?;
        latency.record_since(arrived);
    }
    Ok(())
}
