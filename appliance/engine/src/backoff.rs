//! Capped exponential backoff with jitter for push outputs and pull inputs.
//!
//! 1 s, 2 s, 4 s … up to 30 s, each delay drawn between half and all of its step so that
//! many outputs failing together do not retry in lockstep. A connection that stayed up for a
//! minute resets it.

use std::time::Duration;

use rand::Rng;

pub const INITIAL: Duration = Duration::from_secs(1);
pub const MAX: Duration = Duration::from_secs(30);
/// A connection that lasted this long counts as healthy: the next failure starts over.
pub const STABLE_AFTER: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
pub struct Backoff {
    step: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { step: INITIAL }
    }
}

impl Backoff {
    /// The delay before the next attempt, given how long the last connection lasted.
    pub fn next(&mut self, last_uptime: Duration) -> Duration {
        if last_uptime >= STABLE_AFTER {
            self.step = INITIAL;
        }
        let step = self.step;
        self.step = (self.step * 2).min(MAX);
        let half = step / 2;
        half + rand::thread_rng().gen_range(Duration::ZERO..=half)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_to_the_cap_and_resets_after_a_stable_connection() {
        let mut b = Backoff::default();
        let delays: Vec<Duration> = (0..8).map(|_| b.next(Duration::ZERO)).collect();
        let steps = [1, 2, 4, 8, 16, 30, 30, 30];
        for (d, s) in delays.iter().zip(steps) {
            let s = Duration::from_secs(s);
            assert!(*d >= s / 2 && *d <= s, "{d:?} not within jitter of {s:?}");
        }
        let d = b.next(STABLE_AFTER);
        assert!(d <= INITIAL);
    }
}
