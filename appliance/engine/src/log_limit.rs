//! A cap on repetitive log lines. A misconfigured encoder retries every few milliseconds
//! (srt-live-transmit: every 10 ms); each refusal is worth a line, but not a hundred a
//! second.

use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub(crate) struct LogLimit {
    per_window: u32,
    window: Duration,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    start: Option<Instant>,
    count: u32,
    suppressed: u64,
}

impl LogLimit {
    pub const fn new(per_window: u32, window: Duration) -> Self {
        Self {
            per_window,
            window,
            state: Mutex::new(State {
                start: None,
                count: 0,
                suppressed: 0,
            }),
        }
    }

    /// `Some(n)` when this line may be logged, `n` being how many were dropped before it.
    pub fn allow(&self) -> Option<u64> {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if st
            .start
            .is_none_or(|s| now.duration_since(s) >= self.window)
        {
            st.start = Some(now);
            st.count = 0;
        }
        if st.count < self.per_window {
            st.count += 1;
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
        let l = LogLimit::new(2, Duration::from_secs(3600));
        assert_eq!(l.allow(), Some(0));
        assert_eq!(l.allow(), Some(0));
        assert_eq!(l.allow(), None);
        assert_eq!(l.allow(), None);
        let l0 = LogLimit::new(1, Duration::ZERO);
        assert_eq!(l0.allow(), Some(0));
        assert_eq!(l0.allow(), Some(0));
    }
}
