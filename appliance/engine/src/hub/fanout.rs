//! Fan-out of one stream to many subscribers, each behind its own bounded queue.
//!
//! The publisher calls [`Fanout::push`] synchronously; it never waits. A subscriber with a
//! [`Direct`] path takes items at once when it can (an RTMP or SRT socket that has room), so
//! neither its queue nor its task is involved. A subscriber whose
//! queue is full loses that item and everything after it up to the next keyframe (a decoder
//! cannot use frames that reference lost ones), and the loss is counted. The last GOP is kept
//! so that a new subscriber starts at a keyframe at once.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc;

/// What the fan-out needs to know of an item.
pub trait HubItem: Clone {
    /// A decoder can start here.
    fn keyframe(&self) -> bool;
    /// Bytes held, for the GOP cache limit.
    fn size(&self) -> usize;
    /// A copy for replay (from the GOP cache, headers): it carries no arrival time, so the
    /// output's latency figures measure the relay, not how old the cached GOP is.
    fn replayed(&self) -> Self;
    /// A copy for the GOP cache: replayed, and sharing nothing prepared for the live
    /// delivery of `self`, which the cache would otherwise keep alive for a whole GOP.
    fn cached(&self) -> Self {
        self.replayed()
    }
}

/// A subscriber that can take an item at once, with no queue and no wake-up of its task: an
/// RTMP or SRT output's socket, written from the publisher's task as nginx-rtmp does. Items it
/// refuses go through the queue as usual; it is told how many are queued so that it never
/// overtakes them.
pub trait Direct<T>: Send + Sync + std::fmt::Debug {
    /// Takes `item` now; false when it cannot. It may hold what it took until
    /// [`Direct::flush`], to send a publisher's burst in one go.
    fn offer_now(&self, item: &T) -> bool;
    /// `added` items are about to be queued, or `removed` ones were not after all.
    fn queued(&self, added: usize, removed: usize);
    /// The publisher's burst is over: send what was held.
    fn flush(&self);
}

/// Largest GOP kept for joining subscribers. 32 MiB holds 10 s at 25 Mbit/s; a stream whose
/// keyframes are further apart than that is not cached (joiners wait for the next keyframe).
pub const MAX_GOP_BYTES: usize = 32 << 20;

/// A subscriber's end: items in order, starting at a keyframe.
#[derive(Debug)]
pub struct Subscription<T> {
    pub rx: mpsc::Receiver<T>,
    /// Items this subscriber lost to a full queue.
    pub dropped: Arc<AtomicU64>,
}

#[derive(Debug)]
struct Subscriber<T> {
    tx: mpsc::Sender<T>,
    /// Skipping items until a keyframe: at the start (nothing cached) or after a loss.
    waiting: bool,
    /// Resuming after [`Fanout::splice`]: the keyframe is delivered as a replayed copy when
    /// there are no headers to mark the splice (see `HubItem::replayed`).
    spliced: bool,
    dropped: Arc<AtomicU64>,
    direct: Option<Arc<dyn Direct<T>>>,
}

impl<T: HubItem> Subscriber<T> {
    /// Queues one item, keeping the direct path's count right.
    fn try_send(&self, item: T) -> Result<(), mpsc::error::TrySendError<T>> {
        if let Some(d) = &self.direct {
            d.queued(1, 0);
        }
        let sent = self.tx.try_send(item);
        if let (Err(_), Some(d)) = (&sent, &self.direct) {
            d.queued(0, 1);
        }
        sent
    }

    /// Offers one item; returns false when the subscriber is gone.
    fn offer(&mut self, item: &T, headers: &[(u8, T)]) -> bool {
        // Taken directly, the item never touches the queue (a departed subscriber detaches
        // first, so it is still found closed below).
        if !self.waiting && self.direct.as_ref().is_some_and(|d| d.offer_now(item)) {
            return true;
        }
        if self.tx.is_closed() {
            return false;
        }
        if self.waiting {
            if !item.keyframe() {
                return true;
            }
            // Resume at this keyframe, decoder configuration first.
            if self.tx.capacity() < headers.len() + 1 {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                return true;
            }
            for (_, h) in headers {
                let _ = self.try_send(h.replayed());
            }
            self.waiting = false;
            if std::mem::take(&mut self.spliced) && headers.is_empty() {
                // A reader finds a splice by a replayed item after live ones.
                return !matches!(
                    self.try_send(item.replayed()),
                    Err(mpsc::error::TrySendError::Closed(_))
                );
            }
        }
        match self.try_send(item.clone()) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.waiting = true;
                self.dropped.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }
}

/// One stream's subscribers, GOP cache and decoder headers.
#[derive(Debug)]
pub struct Fanout<T> {
    subs: Vec<Subscriber<T>>,
    gop: VecDeque<T>,
    gop_bytes: usize,
    /// Sent before the first keyframe to every subscriber (PAT/PMT, sequence headers).
    headers: Vec<(u8, T)>,
    capacity: usize,
    gop_limit: usize,
}

impl<T: HubItem> Fanout<T> {
    /// `capacity` is each subscriber's queue length, in items.
    pub fn new(capacity: usize) -> Self {
        Self {
            subs: Vec::new(),
            gop: VecDeque::new(),
            gop_bytes: 0,
            headers: Vec::new(),
            capacity,
            gop_limit: MAX_GOP_BYTES,
        }
    }

    #[cfg(test)]
    fn with_gop_limit(mut self, bytes: usize) -> Self {
        self.gop_limit = bytes;
        self
    }

    /// Keeps `item` as the header in `slot` (replacing the previous one) for joiners.
    pub fn set_header(&mut self, slot: u8, item: T) {
        match self.headers.iter_mut().find(|(s, _)| *s == slot) {
            Some(h) => h.1 = item,
            None => {
                self.headers.push((slot, item));
                self.headers.sort_by_key(|(s, _)| *s);
            }
        }
    }

    /// Hands one item to every subscriber; never blocks. Direct subscribers may hold it until
    /// [`Fanout::flush`].
    pub fn push(&mut self, item: T) {
        if item.keyframe() {
            self.gop.clear();
            self.gop_bytes = 0;
        }
        if item.keyframe() || !self.gop.is_empty() {
            if self.gop_bytes + item.size() <= self.gop_limit {
                self.gop_bytes += item.size();
                self.gop.push_back(item.cached());
            } else {
                self.gop.clear();
                self.gop_bytes = 0;
            }
        }
        if self.subs.is_empty() {
            return;
        }
        let headers = &self.headers;
        self.subs.retain_mut(|s| s.offer(&item, headers));
    }

    /// A new subscriber, fed at once with the headers and the cached GOP when they fit.
    /// Its losses are added to `dropped` (the output's own counter).
    pub fn subscribe(&mut self, dropped: Arc<AtomicU64>) -> Subscription<T> {
        self.subscribe_direct(dropped, None)
    }

    /// [`Fanout::subscribe`], with a direct path that takes items when it can.
    pub fn subscribe_direct(
        &mut self,
        dropped: Arc<AtomicU64>,
        direct: Option<Arc<dyn Direct<T>>>,
    ) -> Subscription<T> {
        // Departed subscribers are otherwise noticed only by the next push, and an idle
        // input has none while readers come and go: prune here, so the list never holds
        // more than the subscribers still connected.
        self.subs.retain(|s| !s.tx.is_closed());
        let (tx, rx) = mpsc::channel(self.capacity);
        let mut sub = Subscriber {
            tx,
            waiting: true,
            spliced: false,
            dropped: dropped.clone(),
            direct,
        };
        if !self.gop.is_empty() && self.headers.len() + self.gop.len() <= self.capacity {
            let headers = self.headers.iter().map(|(_, h)| h);
            for item in headers.chain(self.gop.iter()) {
                let _ = sub.try_send(item.replayed());
            }
            sub.waiting = false;
        }
        self.subs.push(sub);
        Subscription { rx, dropped }
    }

    /// A new publisher continues the stream: every subscriber skips to its first keyframe
    /// (decoder configuration first) and the old GOP is forgotten.
    pub fn resync(&mut self) {
        for s in &mut self.subs {
            s.waiting = true;
        }
        self.gop.clear();
        self.gop_bytes = 0;
    }

    /// [`Fanout::resync`] where another stream is spliced on (a switch of feed): readers
    /// that find splices by replayed items (recordings, HLS) see one even when the new
    /// stream has no headers to replay.
    pub fn splice(&mut self) {
        self.resync();
        for s in &mut self.subs {
            s.spliced = true;
        }
    }

    /// Forgets the headers (another stream's are set next).
    pub fn clear_headers(&mut self) {
        self.headers.clear();
    }

    /// Ends a burst of [`Fanout::push`]: direct subscribers send what they held back. The
    /// hub calls it after every publisher's push, however short.
    pub fn flush(&self) {
        for d in self.subs.iter().filter_map(|s| s.direct.as_ref()) {
            d.flush();
        }
    }

    /// The headers, then the cached GOP, as a joiner would get them.
    pub fn cached(&self) -> impl Iterator<Item = &T> {
        self.headers.iter().map(|(_, h)| h).chain(self.gop.iter())
    }

    pub fn subscribers(&self) -> usize {
        self.subs.len()
    }

    /// Ends every subscription (their channels close) and forgets the stream.
    pub fn reset(&mut self) {
        self.subs.clear();
        self.gop.clear();
        self.gop_bytes = 0;
        self.headers.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq)]
    struct Item(u32, bool);

    impl HubItem for Item {
        fn keyframe(&self) -> bool {
            self.1
        }
        fn size(&self) -> usize {
            1
        }
        fn replayed(&self) -> Self {
            self.clone()
        }
    }

    fn drain(rx: &mut mpsc::Receiver<Item>) -> Vec<u32> {
        let mut v = Vec::new();
        while let Ok(i) = rx.try_recv() {
            v.push(i.0);
        }
        v
    }

    #[test]
    fn joiner_starts_at_last_keyframe_after_headers() {
        let mut f = Fanout::new(16);
        f.set_header(0, Item(100, false));
        for (n, k) in [(1, true), (2, false), (3, true), (4, false)] {
            f.push(Item(n, k));
        }
        let mut s = f.subscribe(Arc::default());
        f.push(Item(5, false));
        assert_eq!(drain(&mut s.rx), vec![100, 3, 4, 5]);
    }

    #[test]
    fn joiner_without_cache_waits_for_keyframe() {
        let mut f = Fanout::new(16);
        let mut s = f.subscribe(Arc::default());
        f.push(Item(1, false));
        f.push(Item(2, true));
        assert_eq!(drain(&mut s.rx), vec![2]);
    }

    #[test]
    fn full_queue_drops_until_next_keyframe_and_counts() {
        let mut f = Fanout::new(2);
        let mut slow = f.subscribe(Arc::default());
        let mut fast = f.subscribe(Arc::default());
        f.push(Item(1, true));
        f.push(Item(2, false));
        assert_eq!(drain(&mut fast.rx), vec![1, 2]);
        f.push(Item(3, false)); // slow is full: dropped, now waiting
        f.push(Item(4, false)); // skipped while waiting
        assert_eq!(drain(&mut fast.rx), vec![3, 4]);
        assert_eq!(drain(&mut slow.rx), vec![1, 2]);
        f.push(Item(5, true)); // resumes here
        assert_eq!(drain(&mut slow.rx), vec![5]);
        assert_eq!(slow.dropped.load(Ordering::Relaxed), 1);
        assert_eq!(drain(&mut fast.rx), vec![5]);
    }

    #[test]
    fn resync_waits_for_the_next_keyframe() {
        let mut f = Fanout::new(16);
        let mut s = f.subscribe(Arc::default());
        f.push(Item(1, true));
        f.push(Item(2, false));
        f.resync();
        f.push(Item(3, false));
        f.push(Item(4, true));
        assert_eq!(drain(&mut s.rx), vec![1, 2, 4]);
        assert_eq!(s.dropped.load(Ordering::Relaxed), 0);
    }

    /// Takes odd items while nothing it refused is still queued; counts what is queued.
    #[derive(Debug, Default)]
    struct OddDirect {
        taken: std::sync::Mutex<Vec<u32>>,
        queued: AtomicU64,
    }

    impl Direct<Item> for OddDirect {
        fn offer_now(&self, item: &Item) -> bool {
            let ok = item.0 % 2 == 1 && self.queued.load(Ordering::Relaxed) == 0;
            if ok {
                self.taken.lock().expect("lock").push(item.0);
            }
            ok
        }
        fn queued(&self, added: usize, removed: usize) {
            self.queued.fetch_add(added as u64, Ordering::Relaxed);
            self.queued.fetch_sub(removed as u64, Ordering::Relaxed);
        }
        fn flush(&self) {}
    }

    #[test]
    fn a_direct_path_takes_what_it_can_and_the_queue_the_rest() {
        let mut f = Fanout::new(2);
        f.set_header(0, Item(100, false));
        let direct = Arc::new(OddDirect::default());
        let mut s = f.subscribe_direct(Arc::default(), Some(direct.clone()));
        f.push(Item(1, true)); // waiting for a keyframe: header and keyframe queued
        assert_eq!(direct.queued.load(Ordering::Relaxed), 2);
        assert_eq!(drain(&mut s.rx), vec![100, 1]);
        direct.queued.store(0, Ordering::Relaxed); // the player wrote them
        f.push(Item(3, false)); // direct
        f.push(Item(4, false)); // refused: queued
        f.push(Item(5, false)); // refused: 4 is still queued
        f.push(Item(6, false)); // queue full: dropped (counted) until the next keyframe
        assert_eq!(*direct.taken.lock().expect("lock"), vec![3]);
        assert_eq!(drain(&mut s.rx), vec![4, 5]);
        assert_eq!(direct.queued.load(Ordering::Relaxed), 2);
        assert_eq!(s.dropped.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn closed_subscribers_are_removed() {
        let mut f = Fanout::new(4);
        let s = f.subscribe(Arc::default());
        drop(s);
        f.push(Item(1, true));
        assert_eq!(f.subscribers(), 0);
    }

    #[test]
    fn subscribers_that_left_without_a_push_are_pruned_at_the_next_subscribe() {
        let mut f = Fanout::<Item>::new(4);
        let _stays = f.subscribe(Arc::default());
        for _ in 0..100 {
            drop(f.subscribe(Arc::default()));
        }
        assert_eq!(
            f.subscribers(),
            2,
            "the one that stays and the last one to leave"
        );
        let _another = f.subscribe(Arc::default());
        assert_eq!(f.subscribers(), 2);
    }

    #[test]
    fn gop_cache_is_bounded() {
        let mut f = Fanout::new(4).with_gop_limit(10);
        f.push(Item(1, true));
        for n in 0..100 {
            f.push(Item(n, false));
            assert!(f.gop_bytes <= 10);
        }
        // Past the limit nothing is cached until the next keyframe.
        assert!(f.gop.is_empty());
        f.push(Item(7, true));
        assert_eq!(f.gop.len(), 1);
    }
}
