//! A player's socket written straight from the publisher's task, as nginx-rtmp does.
//!
//! Waking one task per player for every tag costs more than the write itself (the channel,
//! the scheduler, the task's poll). So while a plain-TCP player keeps up, the hub's fan-out
//! writes each audio or video tag to its socket at once, without blocking (`try_write`), and
//! its task sleeps. Everything else goes through the player's queue and task as before: a
//! full socket, metadata, a player's own replies, TLS. A partial
//! write leaves its rest here for the task to finish first. The task's writes keep their
//! no-progress timeout, so a stalled player is still detected and dropped.
//!
//! Order is kept by one rule: the fan-out writes only while nothing of this player is queued,
//! being written by its task, or left over.

use std::io::ErrorKind;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{ready, Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use tokio::io::AsyncWrite;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::Notify;

use super::server::shared_media_wire;
use crate::hub::fanout::Direct;
use crate::metrics::LatencyHistogram;
use crate::unit::FlvTag;

/// One player's direct path: created with its subscription, given the socket once the
/// player's `play` is answered.
#[derive(Debug)]
pub struct DirectSlot {
    state: Mutex<State>,
    /// Wakes the player's task when a partial write left bytes for it.
    rest_left: Notify,
    bytes_out: Arc<AtomicU64>,
    latency: Arc<LatencyHistogram>,
}

#[derive(Debug, Default)]
struct State {
    /// Weak: a player whose task ended, however it ended, is never written to again.
    writer: Option<Weak<OwnedWriteHalf>>,
    /// Tags in the player's queue or being written by its task.
    queued: usize,
    /// The player's task is writing (its replies, or a rest).
    busy: bool,
    /// What a partial direct write left, and when its tag arrived.
    rest: Option<(Bytes, Option<Instant>)>,
}

impl DirectSlot {
    pub fn new(bytes_out: Arc<AtomicU64>, latency: Arc<LatencyHistogram>) -> Self {
        Self {
            state: Mutex::default(),
            rest_left: Notify::new(),
            bytes_out,
            latency,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// From now on the fan-out may write to `writer`.
    pub(crate) fn attach(&self, writer: &Arc<OwnedWriteHalf>) {
        self.lock().writer = Some(Arc::downgrade(writer));
    }

    /// The player is leaving: no more direct writes.
    pub(crate) fn detach(&self) {
        self.lock().writer = None;
    }

    /// Before the player's task writes: direct writes wait until [`DirectSlot::release`].
    /// Returns the rest of a partial direct write, which must go out first.
    pub(crate) fn hold(&self) -> Option<(Bytes, Option<Instant>)> {
        let mut st = self.lock();
        st.busy = true;
        st.rest.take()
    }

    /// After the player's task wrote: `written` tags taken from its queue are out.
    pub(crate) fn release(&self, written: usize) {
        let mut st = self.lock();
        st.busy = false;
        st.queued = st.queued.saturating_sub(written);
    }

    /// Resolves when a partial direct write left bytes for the player's task.
    pub(crate) async fn rest_left(&self) {
        self.rest_left.notified().await;
    }
}

impl Direct<FlvTag> for DirectSlot {
    fn offer_now(&self, tag: &FlvTag) -> bool {
        let mut st = self.lock();
        if st.queued > 0 || st.busy || st.rest.is_some() {
            return false;
        }
        let Some(writer) = st.writer.as_ref().and_then(Weak::upgrade) else {
            return false;
        };
        let Some(bytes) = shared_media_wire(tag) else {
            return false; // metadata: the player's task writes it
        };
        // A full socket (WouldBlock) or a broken one: the task meets it with its timeout.
        let n = match writer.try_write(&bytes) {
            Ok(n) if n > 0 => n,
            _ => return false,
        };
        self.bytes_out.fetch_add(n as u64, Ordering::Relaxed);
        if n < bytes.len() {
            st.rest = Some((bytes.slice(n..), tag.arrived));
            drop(st);
            self.rest_left.notify_one();
        } else {
            drop(st);
            self.latency.record_since(tag.arrived);
        }
        true
    }

    fn queued(&self, added: usize, removed: usize) {
        let mut st = self.lock();
        st.queued = (st.queued + added).saturating_sub(removed);
    }
}

/// The write half shared between the player's task (this) and its [`DirectSlot`]. The
/// socket closes when both halves are dropped.
#[derive(Debug)]
pub(crate) struct SharedWriter(pub Arc<OwnedWriteHalf>);

impl SharedWriter {
    fn tcp(&self) -> &TcpStream {
        (*self.0).as_ref()
    }
}

impl AsyncWrite for SharedWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        loop {
            ready!(self.tcp().poll_write_ready(cx))?;
            match self.tcp().try_write(buf) {
                Err(e) if e.kind() == ErrorKind::WouldBlock => continue,
                done => return Poll::Ready(done),
            }
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        loop {
            ready!(self.tcp().poll_write_ready(cx))?;
            match self.tcp().try_write_vectored(bufs) {
                Err(e) if e.kind() == ErrorKind::WouldBlock => continue,
                done => return Poll::Ready(done),
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(())) // TCP has no user-space buffer
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(())) // the socket closes when dropped
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use tokio::io::AsyncReadExt;
    use tokio::net::TcpListener;

    use super::*;
    use crate::unit::FlvKind;

    /// A slot attached to a real socket, and the peer end of it.
    async fn attached() -> (DirectSlot, TcpStream, Arc<OwnedWriteHalf>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (peer, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
        let (_, writer) = accepted.expect("accept").0.into_split();
        let writer = Arc::new(writer);
        let slot = DirectSlot::new(Arc::default(), Arc::default());
        slot.attach(&writer);
        (slot, peer.expect("connect"), writer)
    }

    fn tag(kind: FlvKind, len: usize) -> FlvTag {
        FlvTag::new(kind, 40, Bytes::from(vec![7u8; len]), false, false)
    }

    #[tokio::test]
    async fn writes_at_once_only_when_nothing_is_ahead_of_the_tag() {
        let (slot, mut peer, _writer) = attached().await;
        let audio = tag(FlvKind::Audio, 10);
        let wire = shared_media_wire(&audio).expect("media");
        assert!(slot.offer_now(&audio));
        assert_eq!(slot.bytes_out.load(Ordering::Relaxed), wire.len() as u64);
        let mut got = vec![0u8; wire.len()];
        peer.read_exact(&mut got).await.expect("read");
        assert_eq!(got, wire);

        // Something queued, the task writing, metadata: all go through the queue.
        slot.queued(1, 0);
        assert!(!slot.offer_now(&audio));
        slot.release(1);
        assert!(slot.hold().is_none());
        assert!(!slot.offer_now(&audio));
        slot.release(0);
        assert!(!slot.offer_now(&tag(FlvKind::Meta, 10)));
        assert!(slot.offer_now(&audio));
        slot.detach();
        assert!(!slot.offer_now(&audio));
    }

    #[tokio::test]
    async fn a_player_gone_without_detaching_is_not_written() {
        let (slot, _peer, writer) = attached().await;
        drop(writer); // its task ended (even by a panic): the socket is not kept alive
        assert!(!slot.offer_now(&tag(FlvKind::Audio, 10)));
    }

    #[tokio::test]
    async fn a_player_that_stops_reading_falls_back_to_its_queue() {
        let (slot, _peer, _writer) = attached().await;
        let video = tag(FlvKind::Video, 256 * 1024);
        // The peer never reads: the socket fills, the last direct write is cut short and
        // leaves its rest for the player's task, then nothing more is taken.
        let mut taken = 0;
        while slot.offer_now(&video) {
            taken += 1;
            assert!(taken < 1000, "the socket never filled");
        }
        let (rest, arrived) = slot.hold().expect("a partial write left its rest");
        assert!(!rest.is_empty() && rest.len() < video.body.len() + 100);
        assert_eq!(arrived, video.arrived);
        assert!(!slot.offer_now(&video), "held for the task");
    }
}
