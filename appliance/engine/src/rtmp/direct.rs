//! An RTMP socket written straight from the publisher's task, as nginx-rtmp does: a player's,
//! or a push output's.
//!
//! Waking one task per connection for every tag costs more than the write itself (the
//! channel, the scheduler, the task's poll). So while a plain-TCP peer keeps up, the hub's
//! fan-out writes each audio or video tag to its socket at once, without blocking
//! (`try_write`), and the connection's task sleeps. Everything else goes through the queue
//! and the task as before: a full socket, metadata, the session's own replies, TLS. A partial
//! write leaves its rest here for the task to finish first. The task's writes keep their
//! no-progress timeout, so a stalled peer is still detected (a player dropped, a push output
//! reopened).
//!
//! Order is kept by one rule: the fan-out writes only while nothing of this connection is
//! queued, being written by its task, or left over. The task writes through `write_own`
//! and `Batch`, which keep that rule.

use std::io::ErrorKind;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::io::AsyncWrite;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Notify};

use super::chunk::shared_media_wire;
use super::io::{self, WriteError};
use crate::hub::fanout::Direct;
use crate::metrics::LatencyHistogram;
use crate::unit::FlvTag;

/// Most tags a task writes in one go: what queued up while it waited, bounded so one write
/// stays a few MiB at most (a joiner's cached GOP goes out in a few batches).
const MAX_BATCH: usize = 64;

/// One connection's direct path: created with its subscription, given the socket once the
/// peer may receive media (a player's `play` answered, a push output's `publish` accepted).
#[derive(Debug)]
pub struct DirectSlot {
    state: Mutex<State>,
    /// Wakes the connection's task when a partial write left bytes for it.
    rest_left: Notify,
    bytes_out: Arc<AtomicU64>,
    latency: Arc<LatencyHistogram>,
}

#[derive(Debug, Default)]
struct State {
    /// Weak: a connection whose task ended, however it ended, is never written to again.
    writer: Option<Weak<OwnedWriteHalf>>,
    /// Tags in the connection's queue or being written by its task.
    queued: usize,
    /// The connection's task is writing (its session's bytes, or a rest).
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

    /// The connection is ending: no more direct writes.
    pub(crate) fn detach(&self) {
        self.lock().writer = None;
    }

    /// Before the connection's task writes: direct writes wait until [`DirectSlot::release`].
    /// Returns the rest of a partial direct write, which must go out first.
    fn hold(&self) -> Option<(Bytes, Option<Instant>)> {
        let mut st = self.lock();
        st.busy = true;
        st.rest.take()
    }

    /// After the connection's task wrote: `written` tags taken from its queue are out.
    fn release(&self, written: usize) {
        let mut st = self.lock();
        st.busy = false;
        st.queued = st.queued.saturating_sub(written);
    }

    /// Resolves when a partial direct write left bytes for the connection's task.
    async fn rest_left(&self) {
        self.rest_left.notified().await;
    }

    /// Writes what a partial direct write left, if anything, and holds direct writes off
    /// until [`DirectSlot::release`].
    async fn hold_and_finish<W>(&self, writer: &mut W, limit: Duration) -> Result<(), WriteError>
    where
        W: AsyncWrite + Unpin + ?Sized,
    {
        if let Some((rest, arrived)) = self.hold() {
            io::write_all_progress(writer, &rest, limit, |_| {}).await?;
            self.bytes_out
                .fetch_add(rest.len() as u64, Ordering::Relaxed);
            self.latency.record_since(arrived);
        }
        Ok(())
    }
}

/// Resolves when `slot` (if any) left bytes for its task: a wake-up for the task's loop.
pub(crate) async fn rest_left(slot: Option<&DirectSlot>) {
    match slot {
        Some(slot) => slot.rest_left().await,
        None => std::future::pending().await,
    }
}

/// Writes a task's own bytes (the session's replies, a status): after what a direct write
/// left, with direct writes held off meanwhile. `bytes` may be empty, to finish a rest only.
pub(crate) async fn write_own<W>(
    writer: &mut W,
    slot: Option<&DirectSlot>,
    bytes: &[u8],
    limit: Duration,
) -> Result<(), WriteError>
where
    W: AsyncWrite + Unpin + ?Sized,
{
    let own = if bytes.is_empty() {
        Vec::new()
    } else {
        vec![Bytes::copy_from_slice(bytes)]
    };
    write_after_rest(writer, slot, &own, 0, limit).await
}

/// The one way a task writes while its connection may have a direct path: what a direct
/// write left goes first, direct writes wait meanwhile, and afterwards `taken` tags of the
/// queue count as out.
async fn write_after_rest<W>(
    writer: &mut W,
    slot: Option<&DirectSlot>,
    parts: &[Bytes],
    taken: usize,
    limit: Duration,
) -> Result<(), WriteError>
where
    W: AsyncWrite + Unpin + ?Sized,
{
    if let Some(slot) = slot {
        slot.hold_and_finish(writer, limit).await?;
    }
    io::write_parts(writer, parts, limit).await?;
    if let Some(slot) = slot {
        slot.release(taken);
    }
    Ok(())
}

/// Tags a task took from its queue, written in one vectored write after what a direct write
/// left: one system call per wake-up, not per tag. Kept between wake-ups for its capacity.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    tags: Vec<FlvTag>,
    parts: Vec<Bytes>,
}

impl Batch {
    /// `first` and whatever else is queued, up to [`MAX_BATCH`] tags.
    pub(crate) fn take(&mut self, first: FlvTag, rx: &mut mpsc::Receiver<FlvTag>) {
        self.tags.push(first);
        while self.tags.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(tag) => self.tags.push(tag),
                Err(_) => break,
            }
        }
    }

    /// Writes the tags taken, each as `wire` gives it (`None`: left out), accounts for them
    /// in `bytes_out` and `latency`, and tells `slot` they are out of the queue.
    pub(crate) async fn write<W>(
        &mut self,
        writer: &mut W,
        slot: Option<&DirectSlot>,
        mut wire: impl FnMut(&FlvTag) -> Option<Bytes>,
        bytes_out: &AtomicU64,
        latency: &LatencyHistogram,
        limit: Duration,
    ) -> Result<(), WriteError>
    where
        W: AsyncWrite + Unpin + ?Sized,
    {
        self.parts.extend(self.tags.iter().filter_map(&mut wire));
        write_after_rest(writer, slot, &self.parts, self.tags.len(), limit).await?;
        let sent: usize = self.parts.iter().map(Bytes::len).sum();
        bytes_out.fetch_add(sent as u64, Ordering::Relaxed);
        for tag in &self.tags {
            latency.record_since(tag.arrived);
        }
        self.tags.clear();
        self.parts.clear();
        // A joiner's GOP fills a whole batch once; do not keep that for the whole session.
        self.tags.shrink_to(8);
        self.parts.shrink_to(8);
        Ok(())
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
            return false; // metadata: the connection's task writes it
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

    /// Nothing is held: a TCP socket's buffer already gathers a burst's writes.
    fn flush(&self) {}
}

/// The write half shared between the connection's task (this) and its [`DirectSlot`]. The
/// socket closes when both halves are dropped.
#[derive(Debug)]
pub(crate) struct SharedWriter(pub Arc<OwnedWriteHalf>);

impl SharedWriter {
    /// Splits a plain TCP connection: its read half, the task's writer, and the write half
    /// to attach to a [`DirectSlot`].
    pub(crate) fn split(socket: TcpStream) -> (OwnedReadHalf, Self, Arc<OwnedWriteHalf>) {
        let (reader, writer) = socket.into_split();
        let writer = Arc::new(writer);
        (reader, Self(writer.clone()), writer)
    }

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
