//! Pull: play a stream from a remote RTMP(S) server into an input. One call is one connection
//! attempt; the input handler owns retries.

use rml_rtmp::sessions::ClientSessionEvent;
use tokio::io::AsyncReadExt;
use tokio_util::sync::CancellationToken;

use super::client::{check_status, protocol, ClientConn, STALL_TIMEOUT};
use super::flags::tag_flags;
use super::meta;
use super::router::FlvIngest;
use super::tls::ClientTls;
use super::url::RtmpUrl;
use crate::error::LinkError;
use crate::unit::{FlvKind, FlvTag};

/// `onStatus` codes with which a server ends playback normally.
const END_CODES: [&str; 3] = [
    "NetStream.Play.Complete",
    "NetStream.Play.Stop",
    "NetStream.Play.UnpublishNotify",
];

/// Connects to `url`, plays its stream key, and pushes every tag (flags as in
/// [`tag_flags`]) into `ingest`. Returns `Ok` when `cancel` fires or the server ends the
/// stream; a read that brings nothing for 10 s ends with [`LinkError::Stalled`].
pub async fn pull(
    url: &RtmpUrl,
    tls: &ClientTls,
    ingest: &mut dyn FlvIngest,
    cancel: &CancellationToken,
) -> Result<(), LinkError> {
    let mut conn = ClientConn::open(url, tls, cancel).await?;
    let request = conn
        .session
        .request_playback(url.key().to_string())
        .map_err(protocol)?;
    let mut events = conn.send_results(vec![request]).await?;
    let mut last_timestamp = 0;
    loop {
        for event in events {
            if handle(event, ingest, &mut last_timestamp)? {
                return Ok(());
            }
        }
        let read = tokio::select! {
            _ = cancel.cancelled() => break,
            read = tokio::time::timeout(STALL_TIMEOUT, conn.reader.read(&mut conn.buf)) => read,
        };
        let n = read
            .map_err(|_| LinkError::Stalled(STALL_TIMEOUT.as_secs()))?
            .map_err(|e| LinkError::from_io(&e))?;
        if n == 0 {
            return Err(LinkError::Closed);
        }
        let data = conn.buf.get(..n).unwrap_or_default().to_vec();
        events = conn.process(&data).await?;
    }
    conn.close(false).await;
    Ok(())
}

/// Returns true when the server ended the stream.
fn handle(
    event: ClientSessionEvent,
    ingest: &mut dyn FlvIngest,
    last_timestamp: &mut u32,
) -> Result<bool, LinkError> {
    let (kind, body, timestamp) = match event {
        ClientSessionEvent::VideoDataReceived { timestamp, data } => {
            (FlvKind::Video, data, timestamp.value)
        }
        ClientSessionEvent::AudioDataReceived { timestamp, data } => {
            (FlvKind::Audio, data, timestamp.value)
        }
        ClientSessionEvent::StreamMetadataReceived { metadata } => (
            FlvKind::Meta,
            meta::metadata_to_body(&metadata),
            *last_timestamp,
        ),
        ClientSessionEvent::UnhandleableOnStatusCode { code }
            if END_CODES.contains(&code.as_str()) =>
        {
            return Ok(true)
        }
        other => {
            check_status(&other)?;
            return Ok(false);
        }
    };
    if kind != FlvKind::Meta {
        *last_timestamp = timestamp;
    }
    let (keyframe, config) = tag_flags(kind, &body);
    ingest.push(FlvTag::new(kind, timestamp, body, keyframe, config));
    Ok(false)
}
