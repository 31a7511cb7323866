//! Gives the memory of refused SRT callers back to the system once a burst of them is over.
//!
//! libsrt frees a refused connection's buffers, but glibc keeps the freed memory in the
//! arenas of libsrt's threads (see [`relevo_srt::release_free_memory`]): without this, a
//! flood of refused callers leaves the process at its peak size for good.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Quiet time after the last refusal before memory is returned. libsrt's garbage collector
/// (one pass a second) deletes a closed socket at least 1 s after its closure, so after 5 s
/// the burst's sockets are gone.
pub(crate) const QUIET: Duration = Duration::from_secs(5);
/// During a flood that does not stop, memory is returned at least this often.
pub(crate) const MAX_BETWEEN: Duration = Duration::from_secs(30);
/// How often the task looks while refusals are pending (idle, it sleeps until one comes).
const TICK: Duration = Duration::from_secs(1);

/// Refusals seen since memory was last returned.
#[derive(Debug, Default)]
pub(crate) struct Reclaim {
    refused: AtomicBool,
    last_refusal: Mutex<Option<Instant>>,
    /// Wakes the idle task at the first refusal.
    wake: Notify,
}

impl Reclaim {
    /// A caller was refused (by the callback or later).
    pub(crate) fn note_refusal(&self) {
        self.refused.store(true, Ordering::Relaxed);
        *self.last_refusal.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        self.wake.notify_one();
    }

    /// Whether memory should be returned now, given when it last was.
    fn due(&self, now: Instant, last_trim: Instant) -> bool {
        if !self.refused.load(Ordering::Relaxed) {
            return false;
        }
        let last = *self.last_refusal.lock().unwrap_or_else(|e| e.into_inner());
        let quiet = last.is_none_or(|t| now.duration_since(t) >= QUIET);
        quiet || now.duration_since(last_trim) >= MAX_BETWEEN
    }

    /// Returns memory after each burst of refusals until `cancel`.
    pub(crate) async fn run(&self, cancel: CancellationToken) {
        let mut last_trim = Instant::now();
        loop {
            if self.refused.load(Ordering::Relaxed) {
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(TICK) => {}
                }
            } else {
                // No timer while nothing was refused: an idle relay stays asleep.
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = self.wake.notified() => continue,
                }
            }
            let now = Instant::now();
            if self.due(now, last_trim) {
                self.refused.store(false, Ordering::Relaxed);
                last_trim = now;
                let returned = tokio::task::spawn_blocking(relevo_srt::release_free_memory)
                    .await
                    .unwrap_or(false);
                tracing::debug!(returned, "memory of refused SRT callers returned");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_after_a_quiet_time_or_a_long_flood_only() {
        let r = Reclaim::default();
        let start = Instant::now();
        assert!(!r.due(start, start), "nothing refused");
        r.note_refusal();
        let t = Instant::now();
        assert!(!r.due(t, t), "the burst may go on");
        assert!(r.due(t + QUIET, t));
        assert!(r.due(t, t - MAX_BETWEEN));
    }
}
