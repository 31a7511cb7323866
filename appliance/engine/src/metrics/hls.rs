//! Figures only HLS outputs have: players (distinct client addresses seen over the last
//! window), segments and parts served. Bytes served are the output's `bytes_out`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Client addresses remembered at most per output. Each is ~40 bytes, so this bounds the
/// table to a few MiB even when a flood (or a forged forwarded address per request) brings
/// a new address every time; 65 536 is far above the players one relay serves before a
/// CDN takes them. Past it, new addresses are not counted until old ones age out.
pub const MAX_TRACKED_PLAYERS: usize = 65_536;

/// Counters of an HLS output, updated by [`crate::Engine::hls`].
#[derive(Debug, Default)]
pub struct HlsCounters {
    pub segments_served: AtomicU64,
    pub parts_served: AtomicU64,
    /// When each client address last asked for something.
    seen: Mutex<HashMap<IpAddr, Instant>>,
}

impl HlsCounters {
    /// `client` asked for something at `now`; addresses not seen for `over` are forgotten.
    pub fn seen(&self, client: IpAddr, now: Instant, over: Duration) {
        let Ok(mut seen) = self.seen.lock() else {
            return;
        };
        if seen.len() >= MAX_TRACKED_PLAYERS && !seen.contains_key(&client) {
            seen.retain(|_, t| now.saturating_duration_since(*t) < over);
            if seen.len() >= MAX_TRACKED_PLAYERS {
                return;
            }
        }
        seen.insert(client, now);
    }

    /// Distinct addresses seen within `over` before `now`.
    pub fn players(&self, now: Instant, over: Duration) -> u64 {
        let Ok(mut seen) = self.seen.lock() else {
            return 0;
        };
        seen.retain(|_, t| now.saturating_duration_since(*t) < over);
        seen.len() as u64
    }

    pub fn snapshot(&self, now: Instant, over: Duration) -> HlsSnapshot {
        HlsSnapshot {
            players: self.players(now, over),
            segments_served: self.segments_served.load(Relaxed),
            parts_served: self.parts_served.load(Relaxed),
        }
    }
}

/// An HLS output at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct HlsSnapshot {
    /// Distinct client addresses that asked for anything over the last window (the
    /// playlist's segments' total target duration).
    pub players: u64,
    pub segments_served: u64,
    pub parts_served: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn players_are_distinct_addresses_within_the_window() {
        let c = HlsCounters::default();
        let t0 = Instant::now();
        let over = Duration::from_secs(12);
        let a: IpAddr = "192.0.2.1".parse().expect("address");
        let b: IpAddr = "2001:db8::1".parse().expect("address");
        c.seen(a, t0, over);
        c.seen(a, t0 + Duration::from_secs(1), over);
        c.seen(b, t0 + Duration::from_secs(2), over);
        assert_eq!(c.players(t0 + Duration::from_secs(3), over), 2);
        // `a` was last seen at 1 s: gone at 13 s; `b` stays until 14 s.
        assert_eq!(c.players(t0 + Duration::from_secs(13), over), 1);
        assert_eq!(c.players(t0 + Duration::from_secs(14), over), 0);
    }

    #[test]
    fn the_table_stops_at_its_limit() {
        let c = HlsCounters::default();
        let now = Instant::now();
        let over = Duration::from_secs(12);
        for i in 0..=MAX_TRACKED_PLAYERS as u32 {
            c.seen(IpAddr::from(i.to_be_bytes()), now, over);
        }
        assert_eq!(c.players(now, over), MAX_TRACKED_PLAYERS as u64);
        // Once the old ones age out, new addresses count again.
        let later = now + over;
        c.seen("198.51.100.7".parse().expect("address"), later, over);
        assert_eq!(c.players(later, over), 1);
    }
}
