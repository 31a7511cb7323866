//! Pull: play a stream from a remote RTMP(S) server into an input. One call is one connection
//! attempt; the input handler owns retries.

use rml_rtmp::sessions::ClientSessionEvent;
use tokio::io::AsyncReadExt;
use tokio_util::sync::CancellationToken;

use super::chunk_reader::Message;
use super::client::{check_status, protocol, ClientConn, STALL_TIMEOUT};
use super::flags::tag_flags;
use super::guard::MessageType;
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
    conn.keep_media();
    let request = conn
        .session
        .request_playback(url.key().to_string())
        .map_err(protocol)?;
    let mut events = conn.send_results(vec![request]).await?;
    let mut last_timestamp = 0;
    loop {
        // Media before status: both came in the same read, and the media came first.
        for m in conn.take_media() {
            ingest_message(m, ingest, &mut last_timestamp);
        }
        for event in events {
            if ended(&event)? {
                conn.close(false).await;
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

/// Whether the server ended the stream; a refusal is an error.
fn ended(event: &ClientSessionEvent) -> Result<bool, LinkError> {
    match event {
        ClientSessionEvent::UnhandleableOnStatusCode { code }
            if END_CODES.contains(&code.as_str()) =>
        {
            Ok(true)
        }
        other => check_status(other).map(|()| false),
    }
}

/// One audio, video or data message from the server, whatever its message stream: the
/// connection plays one stream, and ffmpeg's `-listen 1` server sends it on stream 0, which
/// `rml_rtmp`'s session drops. Metadata keeps every field it came with ([`meta::script_body`]).
fn ingest_message(m: Message, ingest: &mut dyn FlvIngest, last_timestamp: &mut u32) {
    let (kind, body, timestamp) = match MessageType(m.kind) {
        MessageType::VIDEO => (FlvKind::Video, m.body, m.timestamp),
        MessageType::AUDIO => (FlvKind::Audio, m.body, m.timestamp),
        MessageType::AMF0_DATA => match meta::script_body(&m.body) {
            Some(body) => (FlvKind::Meta, body, *last_timestamp),
            None => return,
        },
        _ => return,
    };
    if kind != FlvKind::Meta {
        *last_timestamp = timestamp;
    }
    let (keyframe, config) = tag_flags(kind, &body);
    ingest.push(FlvTag::new(kind, timestamp, body, keyframe, config));
}
