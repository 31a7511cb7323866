//! Byte-level pieces shared by the server and the client links: the boxed halves of a
//! connection (TCP or TLS), the RTMP handshake, and writes bounded by a no-progress timeout.

use std::future::Future;
use std::io::IoSlice;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Size of one socket read. RTMP chunks are at most a few KiB; this keeps syscalls few.
pub(crate) const READ_BUFFER: usize = 64 * 1024;

/// The two halves of a connection (plain TCP or TLS over TCP), each owned by whoever reads
/// or writes it.
pub(crate) type BoxReader = Box<dyn AsyncRead + Unpin + Send>;
pub(crate) type BoxWriter = Box<dyn AsyncWrite + Unpin + Send>;

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
        let n = within(limit, writer.write(data)).await??;
        if n == 0 {
            return Err(std::io::Error::from(std::io::ErrorKind::WriteZero).into());
        }
        on_progress(n);
        data = data.get(n..).unwrap_or_default();
    }
    within(limit, writer.flush()).await??;
    Ok(())
}

/// Buffers handed to one vectored write; far below any system's `IOV_MAX` (1024 on Linux).
const MAX_SLICES: usize = 64;

/// Writes `parts` back to back, as few vectored writes as the transport takes, and flushes;
/// the same no-progress rule as [`write_all_progress`]. A player's queued tags go out in one
/// system call instead of one each.
pub(crate) async fn write_parts<W>(
    writer: &mut W,
    parts: &[Bytes],
    limit: Duration,
) -> Result<(), WriteError>
where
    W: AsyncWrite + Unpin + ?Sized,
{
    // The unwritten rest: from byte `offset` of `parts[first]` on.
    let mut first = 0;
    let mut offset = 0;
    loop {
        while parts.get(first).is_some_and(|p| offset >= p.len()) {
            first += 1;
            offset = 0;
        }
        let Some(rest) = parts.get(first..).filter(|r| !r.is_empty()) else {
            break;
        };
        let mut slices = [IoSlice::new(&[]); MAX_SLICES];
        let mut count = 0;
        for (slot, part) in slices.iter_mut().zip(rest) {
            let skip = if count == 0 { offset } else { 0 };
            *slot = IoSlice::new(part.get(skip..).unwrap_or_default());
            count += 1;
        }
        let mut n = match slices.get(..count).unwrap_or_default() {
            // One buffer: a plain write (`send`), lighter than `writev` in the kernel.
            [one] => within(limit, writer.write(one)).await??,
            slices => within(limit, writer.write_vectored(slices)).await??,
        };
        if n == 0 {
            return Err(std::io::Error::from(std::io::ErrorKind::WriteZero).into());
        }
        for part in rest {
            let left = part.len() - offset;
            if n < left {
                offset += n;
                break;
            }
            n -= left;
            first += 1;
            offset = 0;
        }
    }
    within(limit, writer.flush()).await??;
    Ok(())
}

/// Runs `op` (one write or flush) failing with [`WriteError::Stalled`] if it makes no progress
/// for `limit`. Nearly every write to a healthy peer completes at once, so the timer is armed
/// only when `op` has to wait for the socket.
async fn within<F: Future>(limit: Duration, op: F) -> Result<F::Output, WriteError> {
    let mut op = std::pin::pin!(op);
    if let Poll::Ready(out) = std::future::poll_fn(|cx| Poll::Ready(op.as_mut().poll(cx))).await {
        return Ok(out);
    }
    tokio::time::timeout(limit, op)
        .await
        .map_err(|_| WriteError::Stalled(limit))
}

/// Runs a session's `handle_input` so that a panic inside `rml_rtmp` on malformed input (it
/// indexes AMF0 argument lists without checking, e.g. a bare `@setDataFrame`) ends only this
/// connection. `None` means the session panicked and must not be used again.
pub(crate) fn guard<T>(f: impl FnOnce() -> T) -> Option<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).ok()
}

/// The reason logged when [`guard`] caught a panic.
pub(crate) const PANIC_REASON: &str = "malformed RTMP message (rml_rtmp panicked)";

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::task::Context;

    use super::*;

    /// Takes at most `step` bytes per write (`step == 0`: never anything, and nothing wakes
    /// it: a stalled peer). Vectored like a socket, or not (one buffer per write).
    #[derive(Debug, Default)]
    struct Narrow {
        step: usize,
        vectored: bool,
        got: Vec<u8>,
        writes: usize,
    }

    impl Narrow {
        fn new(step: usize, vectored: bool) -> Self {
            Self {
                step,
                vectored,
                ..Self::default()
            }
        }

        fn take(&mut self, bufs: &[IoSlice<'_>]) -> Poll<std::io::Result<usize>> {
            if self.step == 0 {
                return Poll::Pending;
            }
            let mut n = 0;
            for buf in bufs {
                let k = buf.len().min(self.step - n);
                self.got.extend_from_slice(buf.get(..k).unwrap_or_default());
                n += k;
            }
            self.writes += 1;
            Poll::Ready(Ok(n))
        }
    }

    impl AsyncWrite for Narrow {
        fn poll_write(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<std::io::Result<usize>> {
            self.get_mut().take(&[IoSlice::new(buf)])
        }
        fn poll_write_vectored(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            bufs: &[IoSlice<'_>],
        ) -> Poll<std::io::Result<usize>> {
            if self.vectored {
                return self.get_mut().take(bufs);
            }
            let first = bufs
                .iter()
                .find(|b| !b.is_empty())
                .map_or(&[][..], |b| &**b);
            self.poll_write(cx, first)
        }
        fn is_write_vectored(&self) -> bool {
            self.vectored
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    fn parts() -> Vec<Bytes> {
        [&b"abc"[..], b"", b"defgh", b"i", b""]
            .into_iter()
            .map(Bytes::from_static)
            .collect()
    }

    #[tokio::test]
    async fn parts_arrive_whole_and_in_order_through_short_writes() {
        for vectored in [false, true] {
            for step in [1, 2, 4, 100] {
                let mut w = Narrow::new(step, vectored);
                write_parts(&mut w, &parts(), Duration::from_secs(1))
                    .await
                    .expect("written");
                assert_eq!(w.got, b"abcdefghi", "step {step}, vectored {vectored}");
            }
        }
        let mut w = Narrow::new(1, true);
        write_parts(&mut w, &[], Duration::from_secs(1))
            .await
            .expect("nothing to write");
        assert_eq!(w.writes, 0);
    }

    #[tokio::test]
    async fn a_vectored_transport_takes_all_parts_in_one_write() {
        let mut w = Narrow::new(100, true);
        write_parts(&mut w, &parts(), Duration::from_secs(1))
            .await
            .expect("written");
        assert_eq!((w.got.as_slice(), w.writes), (&b"abcdefghi"[..], 1));
    }

    #[tokio::test]
    async fn a_peer_that_takes_nothing_is_a_stall() {
        let limit = Duration::from_millis(50);
        let mut w = Narrow::new(0, true);
        let err = write_parts(&mut w, &parts(), limit)
            .await
            .expect_err("stalled");
        assert!(matches!(err, WriteError::Stalled(d) if d == limit), "{err}");
        let err = write_all_progress(&mut w, b"x", limit, |_| {})
            .await
            .expect_err("stalled");
        assert!(matches!(err, WriteError::Stalled(d) if d == limit), "{err}");
    }
}
