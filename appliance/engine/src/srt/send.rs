//! How an SRT output sends: a push output's connection, or one reader of a pull output.
//!
//! As for RTMP (`rtmp::direct`), waking one task per output for every chunk costs more than
//! the send itself. So while an output keeps up, the hub's fan-out hands chunks to libsrt
//! itself (`srt_sendmsg`, non-blocking: libsrt copies the message into the socket's send
//! buffer and its own sender thread paces it out), and the output's task sleeps.
//!
//! The fan-out holds what it takes during a publisher's burst (the SRT messages read in one
//! go, or the chunks of one remuxed frame) and sends it at the burst's end, output by output:
//! each `srt_sendmsg` to an idle socket wakes that socket's libsrt sender thread, and a
//! burst sent together wakes it once instead of once per message.
//!
//! A chunk the socket cannot take (send buffer full, link broken) is left, with the rest of
//! the burst, for the output's task, which sends it first, waiting for room with its stall
//! timeout, or meets the error and ends. Order is kept by one rule: the fan-out takes chunks
//! only while nothing of this output is queued, left for the task, or being sent by it. A
//! live-mode message is taken whole or not at all, so nothing is ever half sent.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use relevo_srt::{SrtError, SrtStream};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::hub::fanout::{Direct, Subscription};
use crate::metrics::{LatencyHistogram, OutputCounters};
use crate::unit::TsChunk;

/// An SRT link on which a send (or a pull input's receive) makes no progress for this long
/// is stalled: the output is closed, or reopened.
pub(crate) const STALL_AFTER: Duration = Duration::from_secs(10);

/// Most chunks held for one output before they are sent anyway (a burst of a 25 Mbit/s
/// keyframe is larger; holding more would only delay its start).
const MAX_HELD: usize = 64;

/// Why an SRT output stopped sending.
#[derive(Debug)]
pub(crate) enum FeedEnd {
    /// The output was stopped.
    Cancelled,
    /// The input's publication ended (its feed closed).
    InputEnded,
    /// The peer closed the connection, or libsrt found it broken.
    PeerClosed,
    /// No room in the send buffer for [`STALL_AFTER`].
    Stalled,
    Failed(SrtError),
}

/// Sends the feed that `subscribe` gives (with the direct path it is handed) to `stream`
/// until the output is cancelled, the feed closes or the link fails. `None` from `subscribe`:
/// nothing to send (the input is not live).
pub(crate) async fn send_feed(
    stream: &Arc<SrtStream>,
    subscribe: impl FnOnce(Arc<dyn Direct<TsChunk>>) -> Option<Subscription<TsChunk>>,
    counters: &OutputCounters,
    cancel: &CancellationToken,
) -> FeedEnd {
    let direct = Arc::new(SrtDirect::new(
        stream,
        counters.bytes_out.clone(),
        counters.latency.clone(),
    ));
    let Some(mut sub) = subscribe(direct.clone()) else {
        return FeedEnd::InputEnded;
    };
    let mut scratch = [0u8; relevo_srt::RECV_BUFFER_SIZE];
    let ended = loop {
        tokio::select! {
            _ = cancel.cancelled() => break FeedEnd::Cancelled,
            // Outputs receive nothing but control; a receive tells that the peer left.
            r = stream.recv(&mut scratch) => match r {
                Ok(_) => {}
                Err(SrtError::Closed) => break FeedEnd::PeerClosed,
                Err(e) => break FeedEnd::Failed(e),
            },
            () = direct.rest_left.notified() => {
                if let Some(ended) = send_rest(stream, &direct, counters).await {
                    break ended;
                }
            }
            chunk = sub.rx.recv() => {
                let Some(chunk) = chunk else { break FeedEnd::InputEnded };
                // What a burst left comes before anything queued after it.
                if let Some(ended) = send_rest(stream, &direct, counters).await {
                    break ended;
                }
                if let Some(ended) = send_queued(stream, &direct, &chunk, counters).await {
                    break ended;
                }
            }
        }
    };
    // Whatever follows (a flush, a reconnect) sees no more sends from the fan-out.
    direct.detach();
    ended
}

/// Sends, from the task, what a burst left.
async fn send_rest(
    stream: &SrtStream,
    direct: &SrtDirect,
    counters: &OutputCounters,
) -> Option<FeedEnd> {
    while let Some(chunk) = direct.take_rest() {
        if let Some(ended) = send_queued(stream, direct, &chunk, counters).await {
            return Some(ended);
        }
    }
    None
}

/// Sends one chunk from the task: waits for room, up to [`STALL_AFTER`].
async fn send_queued(
    stream: &SrtStream,
    direct: &SrtDirect,
    chunk: &TsChunk,
    counters: &OutputCounters,
) -> Option<FeedEnd> {
    let sent = tokio::time::timeout(STALL_AFTER, stream.send(&chunk.data)).await;
    direct.sent_from_queue();
    match sent {
        Err(_) => Some(FeedEnd::Stalled),
        Ok(Err(SrtError::Closed)) => Some(FeedEnd::PeerClosed),
        Ok(Err(e)) => Some(FeedEnd::Failed(e)),
        Ok(Ok(())) => {
            counters.add_bytes(chunk.data.len());
            counters.latency.record_since(chunk.arrived);
            None
        }
    }
}

/// One SRT output's direct path, handed to the hub's fan-out with its subscription.
#[derive(Debug)]
struct SrtDirect {
    state: Mutex<State>,
    /// Wakes the output's task when a burst left chunks for it.
    rest_left: Notify,
    bytes_out: Arc<AtomicU64>,
    latency: Arc<LatencyHistogram>,
}

#[derive(Debug)]
struct State {
    /// Weak: an output whose task ended, however it ended, is never sent to again.
    stream: Option<Weak<SrtStream>>,
    /// Chunks in the output's queue, left in `rest`, or being sent by its task.
    queued: usize,
    /// Taken during the current burst, sent by `flush`.
    held: Vec<TsChunk>,
    /// What `flush` could not send, for the task.
    rest: VecDeque<TsChunk>,
}

impl SrtDirect {
    fn new(
        stream: &Arc<SrtStream>,
        bytes_out: Arc<AtomicU64>,
        latency: Arc<LatencyHistogram>,
    ) -> Self {
        Self {
            state: Mutex::new(State {
                stream: Some(Arc::downgrade(stream)),
                queued: 0,
                held: Vec::new(),
                rest: VecDeque::new(),
            }),
            rest_left: Notify::new(),
            bytes_out,
            latency,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The next chunk a burst left, in order.
    fn take_rest(&self) -> Option<TsChunk> {
        self.lock().rest.pop_front()
    }

    /// The task is done with one chunk it took from its queue or the rest (sent or not).
    fn sent_from_queue(&self) {
        let mut st = self.lock();
        st.queued = st.queued.saturating_sub(1);
    }

    fn detach(&self) {
        let mut st = self.lock();
        st.stream = None;
        st.held.clear();
    }

    /// Sends the held chunks in order; from the first the socket refuses on, they become
    /// the task's rest.
    fn send_held(&self, st: &mut State) {
        let Some(stream) = st.stream.as_ref().and_then(Weak::upgrade) else {
            st.held.clear(); // the output is gone, and its queue with it
            return;
        };
        let (mut bytes, mut left) = (0u64, false);
        for chunk in st.held.drain(..) {
            // A full send buffer (WouldBlock) or a broken link: the task meets it with its
            // timeout, or its error.
            if !left && stream.try_send(&chunk.data).is_ok() {
                bytes += chunk.data.len() as u64;
                self.latency.record_since(chunk.arrived);
            } else {
                left = true;
                st.queued += 1;
                st.rest.push_back(chunk);
            }
        }
        self.bytes_out.fetch_add(bytes, Ordering::Relaxed);
        if left {
            self.rest_left.notify_one();
        }
    }
}

impl Direct<TsChunk> for SrtDirect {
    fn offer_now(&self, chunk: &TsChunk) -> bool {
        let mut st = self.lock();
        if st.queued > 0 || st.stream.as_ref().is_none_or(|w| w.strong_count() == 0) {
            return false;
        }
        if st.held.len() == MAX_HELD {
            self.send_held(&mut st);
            if st.queued > 0 {
                return false; // the socket is full: this one goes through the queue too
            }
        }
        st.held.push(chunk.clone());
        true
    }

    fn queued(&self, added: usize, removed: usize) {
        let mut st = self.lock();
        st.queued = (st.queued + added).saturating_sub(removed);
    }

    fn flush(&self) {
        let mut st = self.lock();
        if !st.held.is_empty() {
            self.send_held(&mut st);
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::atomic::AtomicU64;

    use bytes::Bytes;
    use relevo_srt::{
        Buffers, CallerOptions, Decision, ListenerOptions, SrtListener, RECV_BUFFER_SIZE,
    };

    use super::*;
    use crate::hub::fanout::Fanout;

    /// A connected pair on loopback: (the caller's end, the listener's end).
    pub(crate) async fn pair() -> (Arc<SrtStream>, SrtStream) {
        pair_with(None).await
    }

    /// [`pair`], the caller's end with these libsrt buffers.
    async fn pair_with(buffers: Option<Buffers>) -> (Arc<SrtStream>, SrtStream) {
        let any = "127.0.0.1:0".parse().expect("addr");
        let listener = SrtListener::bind(any, ListenerOptions::default(), |_| Decision::Accept {
            encryption: None,
            latency_ms: 120,
            tag: 0,
            buffers: None,
        })
        .expect("bind");
        let addr = listener.local_addr();
        let opts = CallerOptions {
            buffers,
            ..CallerOptions::default()
        };
        let (caller, accepted) = tokio::join!(SrtStream::connect(addr, opts), listener.accept());
        let caller = caller.expect("connect");
        (Arc::new(caller), accepted.expect("accept").0)
    }

    /// Chunk `i`: 1316 bytes (7 TS packets) that say which one they are.
    fn chunk(i: u32, keyframe: bool) -> TsChunk {
        let mut data = vec![0x47u8; 1316];
        data[1..5].copy_from_slice(&i.to_be_bytes());
        TsChunk {
            data: Bytes::from(data),
            keyframe,
            arrived: Some(std::time::Instant::now()),
        }
    }

    /// Counts what the wrapped direct path took.
    #[derive(Debug)]
    struct Counted {
        inner: Arc<dyn Direct<TsChunk>>,
        taken: AtomicU64,
    }

    impl Direct<TsChunk> for Counted {
        fn offer_now(&self, chunk: &TsChunk) -> bool {
            let took = self.inner.offer_now(chunk);
            if took {
                self.taken.fetch_add(1, Ordering::Relaxed);
            }
            took
        }
        fn queued(&self, added: usize, removed: usize) {
            self.inner.queued(added, removed);
        }
        fn flush(&self) {
            self.inner.flush();
        }
    }

    /// A fan-out feeding a real libsrt link: every chunk arrives once, in order, and while
    /// the output keeps up the fan-out sends them itself, burst by burst (the first keyframe
    /// went through the queue, as a subscriber that joined before any keyframe starts there).
    #[tokio::test]
    async fn the_fan_out_sends_while_the_output_keeps_up_and_order_is_kept() {
        const N: u32 = 300;
        let (stream, reader) = pair().await;
        let fanout = Arc::new(Mutex::new(Fanout::<TsChunk>::new(64)));
        let counters = Arc::new(OutputCounters::default());
        let counted = Arc::new(std::sync::OnceLock::<Arc<Counted>>::new());
        let cancel = CancellationToken::new();
        let feeding = {
            let (fanout, counters, counted, cancel) = (
                fanout.clone(),
                counters.clone(),
                counted.clone(),
                cancel.clone(),
            );
            tokio::spawn(async move {
                let subscribe = |direct: Arc<dyn Direct<TsChunk>>| {
                    let c = counted.get_or_init(|| {
                        Arc::new(Counted {
                            inner: direct,
                            taken: AtomicU64::new(0),
                        })
                    });
                    let offered = c.clone() as Arc<dyn Direct<TsChunk>>;
                    let mut f = fanout.lock().expect("lock");
                    Some(f.subscribe_direct(Arc::default(), Some(offered)))
                };
                send_feed(&stream, subscribe, &counters, &cancel).await
            })
        };
        while counted.get().is_none() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let reading = tokio::spawn(async move {
            let mut buf = [0u8; RECV_BUFFER_SIZE];
            let mut got = Vec::new();
            while got.len() < N as usize {
                let Ok(r) =
                    tokio::time::timeout(Duration::from_secs(5), reader.recv(&mut buf)).await
                else {
                    panic!("no chunk within 5 s after {:?}", got);
                };
                let n = r.expect("recv");
                assert_eq!(n, 1316);
                got.push(u32::from_be_bytes(buf[1..5].try_into().expect("4 bytes")));
            }
            (got, reader) // kept open: the feed must end by its cancellation
        });
        // Bursts as a live input brings them (a frame's messages together), one of them
        // longer than what an output holds back.
        let mut i = 0;
        for burst in [1, 5, 20, 1, 150, 3].into_iter().cycle() {
            {
                let mut f = fanout.lock().expect("lock");
                for _ in 0..burst.min(N - i) {
                    f.push(chunk(i, i % 50 == 0));
                    i += 1;
                }
                f.flush();
            }
            if i == N {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let (got, _reader) = reading.await.expect("reader");
        assert_eq!(
            got,
            (0..N).collect::<Vec<_>>(),
            "every chunk once, in order"
        );
        let taken = counted
            .get()
            .expect("subscribed")
            .taken
            .load(Ordering::Relaxed);
        assert!(
            taken > u64::from(N) / 2,
            "only {taken} of {N} chunks were sent by the fan-out"
        );
        assert_eq!(
            counters.bytes_out.load(Ordering::Relaxed),
            u64::from(N) * 1316
        );
        cancel.cancel();
        assert!(matches!(feeding.await.expect("feed"), FeedEnd::Cancelled));
    }

    /// A reader that joins a live input gets the cached GOP at once, many times what a send
    /// buffer sized for its latency and bit rate holds: libsrt refuses the rest (EAGAIN),
    /// the output's task waits for room, and every chunk arrives once, in order, the GOP
    /// first and the live ones after it, with no stall.
    #[tokio::test]
    async fn a_joining_reader_gets_the_whole_gop_through_a_sized_send_buffer() {
        const GOP: u32 = 1000;
        const LIVE: u32 = 300;
        let sized = Buffers::for_sender(120, 100_000);
        assert_eq!(sized.send, 128, "the floor: an eighth of the GOP");
        let (stream, reader) = pair_with(Some(sized)).await;
        assert_eq!(stream.buffers().expect("read back").send, sized.send);
        let fanout = Arc::new(Mutex::new(Fanout::<TsChunk>::new(crate::hub::TS_QUEUE)));
        {
            let mut f = fanout.lock().expect("lock");
            for i in 0..GOP {
                f.push(chunk(i, i == 0));
            }
            f.flush();
        }
        let counters = Arc::new(OutputCounters::default());
        let cancel = CancellationToken::new();
        let feeding = {
            let (fanout, counters, cancel) = (fanout.clone(), counters.clone(), cancel.clone());
            tokio::spawn(async move {
                let subscribe = |direct: Arc<dyn Direct<TsChunk>>| {
                    let mut f = fanout.lock().expect("lock");
                    Some(f.subscribe_direct(Arc::default(), Some(direct)))
                };
                send_feed(&stream, subscribe, &counters, &cancel).await
            })
        };
        let reading = tokio::spawn(async move {
            let mut buf = [0u8; RECV_BUFFER_SIZE];
            let mut got = Vec::new();
            while got.len() < (GOP + LIVE) as usize {
                let r = tokio::time::timeout(Duration::from_secs(5), reader.recv(&mut buf)).await;
                let n = r.expect("a chunk within 5 s").expect("recv");
                assert_eq!(n, 1316);
                got.push(u32::from_be_bytes(buf[1..5].try_into().expect("4 bytes")));
            }
            (got, reader.stats().pkt_loss_recv, reader)
        });
        for burst in 0..LIVE / 10 {
            {
                let mut f = fanout.lock().expect("lock");
                for i in 0..10 {
                    f.push(chunk(GOP + burst * 10 + i, false));
                }
                f.flush();
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let (got, lost, _reader) = reading.await.expect("reader");
        assert_eq!(
            got,
            (0..GOP + LIVE).collect::<Vec<_>>(),
            "every chunk once, in order"
        );
        assert_eq!(lost, 0);
        assert_eq!(counters.dropped.load(Ordering::Relaxed), 0);
        assert_eq!(
            counters.bytes_out.load(Ordering::Relaxed),
            u64::from(GOP + LIVE) * 1316
        );
        cancel.cancel();
        assert!(matches!(feeding.await.expect("feed"), FeedEnd::Cancelled));
    }

    #[tokio::test]
    async fn sends_at_once_only_while_nothing_is_queued_and_never_after_detach() {
        let (stream, reader) = pair().await;
        let bytes = Arc::new(AtomicU64::new(0));
        let direct = SrtDirect::new(&stream, bytes.clone(), Arc::default());
        assert!(direct.offer_now(&chunk(0, true)));
        assert_eq!(
            bytes.load(Ordering::Relaxed),
            0,
            "held until the burst ends"
        );
        direct.flush();
        assert_eq!(bytes.load(Ordering::Relaxed), 1316);
        let mut buf = [0u8; RECV_BUFFER_SIZE];
        let n = tokio::time::timeout(Duration::from_secs(5), reader.recv(&mut buf))
            .await
            .expect("in time")
            .expect("recv");
        assert_eq!(&buf[..n], &chunk(0, true).data[..]);

        // One chunk queued: the next waits behind it, until the task is done with it.
        direct.queued(1, 0);
        assert!(!direct.offer_now(&chunk(1, false)));
        direct.sent_from_queue();
        assert!(direct.offer_now(&chunk(2, false)));
        direct.flush();
        assert_eq!(bytes.load(Ordering::Relaxed), 2 * 1316);

        // Held when the output ends: never sent.
        assert!(direct.offer_now(&chunk(3, false)));
        direct.detach();
        direct.flush();
        assert!(!direct.offer_now(&chunk(4, false)));
        assert_eq!(bytes.load(Ordering::Relaxed), 2 * 1316);
    }

    #[tokio::test]
    async fn an_output_whose_task_ended_is_not_sent_to() {
        let (stream, _reader) = pair().await;
        let direct = SrtDirect::new(&stream, Arc::default(), Arc::default());
        drop(stream); // its task ended (even by a panic): the socket is not kept alive
        assert!(!direct.offer_now(&chunk(0, true)));
    }

    /// A burst the socket refuses (here a broken link; a full send buffer takes the same
    /// path) is left whole, in order, to the task, and the fan-out takes nothing more until
    /// the task is done with it.
    #[tokio::test]
    async fn a_burst_the_socket_refuses_is_left_to_the_task_in_order() {
        let (stream, reader) = pair().await;
        drop(reader);
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while stream.is_connected() {
            assert!(
                std::time::Instant::now() < deadline,
                "libsrt never saw the close"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let bytes = Arc::new(AtomicU64::new(0));
        let direct = SrtDirect::new(&stream, bytes.clone(), Arc::default());
        assert!(direct.offer_now(&chunk(0, true)));
        assert!(direct.offer_now(&chunk(1, false)));
        direct.flush();
        assert_eq!(bytes.load(Ordering::Relaxed), 0, "nothing was sent");
        assert!(!direct.offer_now(&chunk(2, false)), "the rest goes first");
        let rest: Vec<TsChunk> = std::iter::from_fn(|| direct.take_rest()).collect();
        assert_eq!(rest.len(), 2);
        assert_eq!(rest[0].data, chunk(0, true).data);
        assert_eq!(rest[1].data, chunk(1, false).data);
        direct.sent_from_queue();
        assert!(
            !direct.offer_now(&chunk(2, false)),
            "one is still with the task"
        );
        direct.sent_from_queue();
        assert!(direct.offer_now(&chunk(2, false)));
    }

    /// The peer went away: the feed ends with the link's error, whichever side (the
    /// fan-out's sends, the task's, or its receive) meets it first.
    #[tokio::test]
    async fn a_broken_link_ends_the_feed() {
        let (stream, reader) = pair().await;
        let fanout = Arc::new(Mutex::new(Fanout::<TsChunk>::new(64)));
        let counters = OutputCounters::default();
        let cancel = CancellationToken::new();
        let subscribe = |direct: Arc<dyn Direct<TsChunk>>| {
            Some(
                fanout
                    .lock()
                    .expect("lock")
                    .subscribe_direct(Arc::default(), Some(direct)),
            )
        };
        let feeding = send_feed(&stream, subscribe, &counters, &cancel);
        let pushing = async {
            drop(reader);
            for i in 0..10_000 {
                {
                    let mut f = fanout.lock().expect("lock");
                    f.push(chunk(i, i % 50 == 0));
                    f.flush();
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        };
        let ended = tokio::select! {
            ended = feeding => ended,
            _ = pushing => panic!("the feed did not end after the peer left"),
        };
        assert!(
            matches!(ended, FeedEnd::PeerClosed | FeedEnd::Failed(_)),
            "{ended:?}"
        );
    }
}
