//! A cap on repetitive log lines. A misconfigured encoder retries every few milliseconds
//! (srt-live-transmit: every 10 ms); each refusal is worth a line, but not a hundred a
//! second.
//!
//! Lines have a kind (why the caller was refused). Part of each window's budget is kept for
//! kinds not yet seen in it, so one flooding kind cannot hide the one line that tells an
//! operator why their own encoder is refused.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What a line is about; lines of one kind share the part of the budget that repeats.
pub(crate) type LineKind = u32;

#[derive(Debug)]
pub(crate) struct LogLimit {
    per_window: u32,
    /// Of `per_window`, the lines only a kind's first line in the window may take.
    reserved: u32,
    window: Duration,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    start: Option<Instant>,
    count: u32,
    suppressed: u64,
    /// Kinds logged in this window: at most `per_window` entries.
    seen: Vec<LineKind>,
}

impl LogLimit {
    /// `reserved` of the `per_window` lines are kept for first lines of a kind.
    pub const fn new(per_window: u32, reserved: u32, window: Duration) -> Self {
        Self {
            per_window,
            reserved,
            window,
            state: Mutex::new(State {
                start: None,
                count: 0,
                suppressed: 0,
                seen: Vec::new(),
            }),
        }
    }

    /// `Some(n)` when a line of `kind` may be logged, `n` being how many were dropped
    /// before it.
    pub fn allow(&self, kind: LineKind) -> Option<u64> {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if st
            .start
            .is_none_or(|s| now.duration_since(s) >= self.window)
        {
            st.start = Some(now);
            st.count = 0;
            st.seen.clear();
        }
        let first_of_kind = !st.seen.contains(&kind);
        let room = if first_of_kind {
            self.per_window
        } else {
            self.per_window.saturating_sub(self.reserved)
        };
        if st.count < room {
            st.count += 1;
            if first_of_kind {
                st.seen.push(kind);
            }
            Some(std::mem::take(&mut st.suppressed))
        } else {
            st.suppressed += 1;
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_lines_per_window_and_reports_what_it_dropped() {
        let l = LogLimit::new(2, 0, Duration::from_secs(3600));
        assert_eq!(l.allow(0), Some(0));
        assert_eq!(l.allow(0), Some(0));
        assert_eq!(l.allow(0), None);
        assert_eq!(l.allow(1), None);
        let l0 = LogLimit::new(1, 0, Duration::ZERO);
        assert_eq!(l0.allow(0), Some(0));
        assert_eq!(l0.allow(0), Some(0));
    }

    #[test]
    fn a_flooding_kind_leaves_room_for_the_first_line_of_others() {
        let l = LogLimit::new(5, 3, Duration::from_secs(3600));
        // Kind 0 floods: it gets the unreserved two lines and nothing more.
        let flood: Vec<_> = (0..100).map(|_| l.allow(0)).collect();
        assert_eq!(flood.iter().filter(|a| a.is_some()).count(), 2);
        // Three other kinds each still get their first line, the first one told how many
        // were dropped; then the window is spent for everyone.
        assert_eq!(l.allow(1), Some(98));
        assert_eq!(l.allow(1), None);
        assert_eq!(l.allow(2), Some(1));
        assert_eq!(l.allow(3), Some(0));
        assert_eq!(l.allow(4), None);
    }
}
