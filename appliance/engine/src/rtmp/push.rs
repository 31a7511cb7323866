//! Push: publish a hub's FLV tags to a remote RTMP(S) server (YouTube, Facebook, Twitch, any
//! RTMP ingest). One call is one connection attempt; the output handler owns retries.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use bytes::Bytes;
use rml_rtmp::sessions::{ClientSessionEvent, PublishRequestType};
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::chunk;
use super::client::{check_status, protocol, write_error, ClientConn, STALL_TIMEOUT};
use super::direct::{self, Batch, DirectSlot};
use super::guard::MessageType;
use super::meta;
use super::tls::ClientTls;
use super::url::RtmpUrl;
use crate::error::LinkError;
use crate::metrics::LatencyHistogram;
use crate::unit::{FlvKind, FlvTag};

/// What a push forwards, and where it accounts for what left.
#[derive(Debug)]
pub struct PushFeed<'a> {
    pub rx: &'a mut mpsc::Receiver<FlvTag>,
    /// The subscription's direct path, if it has one: while the destination keeps up over
    /// plain TCP, the hub writes media to the socket itself (see [`DirectSlot`]).
    pub direct: Option<Arc<DirectSlot>>,
    /// Bytes written, added as they leave.
    pub bytes_out: &'a AtomicU64,
    /// Time each tag spent in the relay.
    pub latency: &'a LatencyHistogram,
}

/// Connects to `url`, publishes its stream key live, and forwards tags from `rx` until `rx`
/// closes or `cancel` fires (both `Ok`). Bytes written are added to `bytes_out` as they
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
    let feed = PushFeed {
        rx,
        direct: None,
        bytes_out,
        latency: &latency,
    };
    push_with(url, tls, feed, cancel, || {}).await
}

/// [`push`] from a [`PushFeed`], calling `on_publishing` once the destination has accepted
/// the stream, so the caller can show the output live only when it really is.
pub async fn push_with(
    url: &RtmpUrl,
    tls: &ClientTls,
    mut feed: PushFeed<'_>,
    cancel: &CancellationToken,
    on_publishing: impl FnOnce(),
) -> Result<(), LinkError> {
    let mut conn = ClientConn::open(url, tls, cancel).await?;
    conn.announce_publish(url.key()).await?;
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
    let stream_id = conn.stream_id().ok_or_else(|| {
        LinkError::Protocol("the server accepted a publication that was not sent".into())
    })?;
    tracing::debug!(url = %url.redacted(), stream_id, "RTMP push publishing");
    if let Some(slot) = feed.direct.take() {
        conn.attach(slot);
    }
    on_publishing();

    let mut batch = Batch::default();
    let mut cancelled = std::pin::pin!(cancel.cancelled());
    loop {
        let wake = tokio::select! {
            biased;
            _ = &mut cancelled => break,
            () = direct::rest_left(conn.direct.as_deref()) => Wake::Rest,
            read = conn.reader.read(&mut conn.buf) => Wake::Read(read),
            tag = feed.rx.recv() => Wake::Tag(tag),
        };
        match wake {
            Wake::Rest => conn.write(&[]).await?,
            Wake::Read(read) => {
                let n = read.map_err(|e| LinkError::from_io(&e))?;
                if n == 0 {
                    return Err(LinkError::Closed);
                }
                let data = conn.buf.get(..n).unwrap_or_default().to_vec();
                for event in conn.process(&data).await? {
                    check_status(&event)?;
                }
            }
            Wake::Tag(Some(tag)) => {
                batch.take(tag, feed.rx);
                send_batch(&mut conn, &mut batch, stream_id, &feed).await?;
            }
            Wake::Tag(None) => break,
        }
    }
    conn.close(true).await;
    Ok(())
}

/// One wake-up of the push loop.
enum Wake {
    /// A direct write left bytes for this task.
    Rest,
    Read(std::io::Result<usize>),
    Tag(Option<FlvTag>),
}

/// Writes the tags taken from the queue: media chunked once for every connection on the
/// usual stream id (see [`chunk::media_wire`]), metadata by [`metadata_wire`].
async fn send_batch(
    conn: &mut ClientConn,
    batch: &mut Batch,
    stream_id: u32,
    feed: &PushFeed<'_>,
) -> Result<(), LinkError> {
    let wire = |tag: &FlvTag| match tag.kind {
        FlvKind::Meta => metadata_wire(stream_id, tag),
        FlvKind::Video | FlvKind::Audio => chunk::media_wire(stream_id, tag),
    };
    batch
        .write(
            &mut conn.writer,
            conn.direct.as_deref(),
            wire,
            feed.bytes_out,
            feed.latency,
            STALL_TIMEOUT,
        )
        .await
        .map_err(write_error)
}

/// Metadata as a publisher sends it (`@setDataFrame`, `onMetaData`), stamped 0 on a chunk
/// stream of ours, every property as the input got it; `None` for a script tag that is not
/// `onMetaData`. Not through
/// `rml_rtmp`'s `publish_metadata`: it stamps the message with the session's age, and ffmpeg
/// reads metadata with a timestamp other than 0 as a data packet of an extra `Subtitle: text`
/// stream (which also stalls a `-t` recording: that stream never advances). ffmpeg and
/// nginx-rtmp stamp it 0.
fn metadata_wire(stream_id: u32, tag: &FlvTag) -> Option<Bytes> {
    let body = meta::data_frame(&tag.body)?;
    Some(chunk::media_message(
        chunk::META_CSID,
        MessageType::AMF0_DATA,
        stream_id,
        0,
        &body,
        chunk::OUT_CHUNK_SIZE,
    ))
}
