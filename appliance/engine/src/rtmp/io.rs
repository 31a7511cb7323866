//! Byte-level pieces shared by the server and the client links: the boxed transport (TCP or
//! TLS), the RTMP handshake, and writes bounded by a no-progress timeout.

use std::time::Duration;

use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Size of one socket read. RTMP chunks are at most a few KiB; this keeps syscalls few.
pub(crate) const READ_BUFFER: usize = 64 * 1024;

/// A transport RTMP runs over: plain TCP or TLS over TCP.
pub(crate) trait Transport: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Transport for T {}

pub(crate) type BoxTransport = Box<dyn Transport>;

/// How an RTMP handshake failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HandshakeError {
    #[error("invalid RTMP handshake: {0}")]
    Invalid(String),
    #[error("peer closed the connection during the RTMP handshake")]
    Closed,
    #[error("I/O error during the RTMP handshake: {0}")]
    Io(#[from] std::io::Error),
}

/// Runs the RTMP handshake (Adobe RTMP spec 1.0 §5.2, with the FP9 digest variant that
/// `rml_rtmp` implements). Returns the bytes that arrived after it, which belong to the
/// chunk stream. The caller bounds the whole exchange with a timeout.
pub(crate) async fn handshake<S>(
    stream: &mut S,
    peer_type: PeerType,
) -> Result<Vec<u8>, HandshakeError>
where
    S: AsyncRead + AsyncWrite + Unpin + ?Sized,
{
    let client = peer_type == PeerType::Client;
    let mut handshake = Handshake::new(peer_type);
    if client {
        let c0c1 = handshake
            .generate_outbound_p0_and_p1()
            .map_err(|e| HandshakeError::Invalid(e.to_string()))?;
        stream.write_all(&c0c1).await?;
        stream.flush().await?;
    }
    let mut buf = vec![0u8; 4096];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Err(HandshakeError::Closed);
        }
        let data = buf.get(..n).unwrap_or_default();
        match handshake.process_bytes(data) {
            Ok(HandshakeProcessResult::InProgress { response_bytes }) => {
                if !response_bytes.is_empty() {
                    stream.write_all(&response_bytes).await?;
                    stream.flush().await?;
                }
            }
            Ok(HandshakeProcessResult::Completed {
                response_bytes,
                remaining_bytes,
            }) => {
                if !response_bytes.is_empty() {
                    stream.write_all(&response_bytes).await?;
                    stream.flush().await?;
                }
                return Ok(remaining_bytes);
            }
            Err(e) => return Err(HandshakeError::Invalid(e.to_string())),
        }
    }
}

/// A write that made no progress within its limit.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WriteError {
    #[error("no bytes could be written for {0:?}")]
    Stalled(Duration),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Writes all of `data` and flushes, failing only when a single write or the flush makes no
/// progress for `limit`: a big keyframe on a slow but moving link is not a stall. `on_progress`
/// is told every accepted byte count.
pub(crate) async fn write_all_progress<W>(
    writer: &mut W,
    mut data: &[u8],
    limit: Duration,
    mut on_progress: impl FnMut(usize),
) -> Result<(), WriteError>
where
    W: AsyncWrite + Unpin + ?Sized,
{
    while !data.is_empty() {
        let n = tokio::time::timeout(limit, writer.write(data))
            .await
            .map_err(|_| WriteError::Stalled(limit))??;
        if n == 0 {
            return Err(std::io::Error::from(std::io::ErrorKind::WriteZero).into());
        }
        on_progress(n);
        data = data.get(n..).unwrap_or_default();
    }
    tokio::time::timeout(limit, writer.flush())
        .await
        .map_err(|_| WriteError::Stalled(limit))??;
    Ok(())
}

/// Runs a session's `handle_input` so that a panic inside `rml_rtmp` on malformed input (it
/// indexes AMF0 argument lists without checking, e.g. a bare `@setDataFrame`) ends only this
/// connection. `None` means the session panicked and must not be used again.
pub(crate) fn guard<T>(f: impl FnOnce() -> T) -> Option<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).ok()
}

/// The reason logged when [`guard`] caught a panic.
pub(crate) const PANIC_REASON: &str = "malformed RTMP message (rml_rtmp panicked)";
