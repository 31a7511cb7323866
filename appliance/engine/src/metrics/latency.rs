//! Time through the relay, from the relay's own clock: from the moment a packet arrived
//! from the publisher to the moment an output finished handing it to its connection.
//!
//! A lock-free histogram with ten buckets per decade (each bucket 26 % wider than the one
//! before) from 1 µs to 100 s: enough resolution for p50/p99 without storing samples.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Buckets per factor of ten.
const PER_DECADE: usize = 10;
/// 1 µs … 100 s.
const BUCKETS: usize = 8 * PER_DECADE + 1;

#[derive(Debug)]
pub struct LatencyHistogram {
    counts: [AtomicU64; BUCKETS],
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self {
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

/// Percentiles of what a histogram holds, each the upper bound of its bucket.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct LatencySummary {
    pub samples: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

fn bucket(d: Duration) -> usize {
    let us = d.as_secs_f64() * 1e6;
    if us <= 1.0 {
        return 0;
    }
    ((us.log10() * PER_DECADE as f64).ceil() as usize).min(BUCKETS - 1)
}

fn upper_ms(i: usize) -> f64 {
    10f64.powf(i as f64 / PER_DECADE as f64) / 1000.0
}

impl LatencyHistogram {
    pub fn record(&self, d: Duration) {
        self.counts[bucket(d)].fetch_add(1, Ordering::Relaxed);
    }

    /// Records the time since `arrived`, when known (packets replayed from the GOP cache to
    /// a joining output carry no arrival time: they would measure the join, not the relay).
    pub fn record_since(&self, arrived: Option<Instant>) {
        if let Some(at) = arrived {
            self.record(at.elapsed());
        }
    }

    pub fn summary(&self) -> Option<LatencySummary> {
        let counts: Vec<u64> = self
            .counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        let samples: u64 = counts.iter().sum();
        if samples == 0 {
            return None;
        }
        let quantile = |q: f64| {
            let rank = ((samples as f64) * q).ceil().max(1.0) as u64;
            let mut seen = 0;
            for (i, c) in counts.iter().enumerate() {
                seen += c;
                if seen >= rank {
                    return upper_ms(i);
                }
            }
            upper_ms(BUCKETS - 1)
        };
        let max = counts.iter().rposition(|c| *c > 0).map_or(0.0, upper_ms);
        Some(LatencySummary {
            samples,
            p50_ms: quantile(0.5),
            p99_ms: quantile(0.99),
            max_ms: max,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_land_in_the_right_buckets() {
        let h = LatencyHistogram::default();
        assert_eq!(h.summary(), None);
        for _ in 0..98 {
            h.record(Duration::from_micros(300));
        }
        h.record(Duration::from_millis(20));
        h.record(Duration::from_millis(20));
        let s = h.summary().expect("samples");
        assert_eq!(s.samples, 100);
        // Bucket upper bounds are at most 26 % above the value.
        assert!(s.p50_ms >= 0.3 && s.p50_ms < 0.3 * 1.26, "{s:?}");
        assert!(s.p99_ms >= 20.0 && s.p99_ms < 20.0 * 1.26, "{s:?}");
        assert!(s.max_ms >= 20.0 && s.max_ms < 20.0 * 1.26, "{s:?}");
    }

    #[test]
    fn extremes_are_clamped() {
        let h = LatencyHistogram::default();
        h.record(Duration::ZERO);
        h.record(Duration::from_secs(10_000));
        let s = h.summary().expect("samples");
        assert!(s.p50_ms <= 0.001 + f64::EPSILON);
        assert!(s.max_ms >= 100_000.0 - 1.0);
    }
}
