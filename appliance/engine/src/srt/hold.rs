//! Sources refused late in the SRT handshake are refused early for a while.
//!
//! libsrt's listen callback sees the caller's address and streamid, not its key: the key
//! exchange comes after it. So a publisher whose key is weaker than the input requires, or
//! whose passphrase is wrong, is found out only once libsrt has set its connection up
//! (buffers and loss lists, about 1.5 MB each) and, for a weak key, completed the handshake.
//! srt-live-transmit retries at once: four such callers made about 200 set-ups a second and
//! took `relevo serve` from 32 MB to 275 MB resident in 5 s. After such a refusal the same
//! source asking for the same flow is refused inside the callback, before libsrt allocates
//! anything, until [`REFUSAL_HOLD`] has passed: one costly attempt per source and flow per
//! hold.
//!
//! The source is the caller's IPv4 address, or its IPv6 /64 (one host usually owns a whole
//! /64): a source cannot be forged, since the SRT handshake's cookie must come back from the
//! address it was sent to. Another source, or another flow, is never affected.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a source stays refused after a late refusal. An encoder whose setting was fixed
/// is let in at most this long after it was refused (its retries get "refused again" until
/// then); a misconfigured one costs one full handshake per hold instead of hundreds a second.
pub(crate) const REFUSAL_HOLD: Duration = Duration::from_secs(5);

/// Sources held at once at most; beyond it a new late refusal is not held (that source then
/// costs full handshakes, as before). 4096 entries of about 100 bytes: well under 1 MB.
pub(crate) const MAX_HELD: usize = 4096;

/// Where a caller comes from, as far as holding goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Source {
    V4(std::net::Ipv4Addr),
    /// The first 64 bits of an IPv6 address.
    V6Net(u64),
}

impl From<IpAddr> for Source {
    fn from(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => Source::V4(v4),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Source::V4(v4),
                None => Source::V6Net((u128::from(v6) >> 64) as u64),
            },
        }
    }
}

#[derive(Debug)]
struct Held {
    until: Instant,
    /// Why it was refused, said again to the retries.
    reason: Arc<str>,
}

/// The sources currently held, by (source, flow).
#[derive(Debug)]
pub(crate) struct RefusalHold {
    hold: Duration,
    held: Mutex<HashMap<(Source, Arc<str>), Held>>,
}

impl RefusalHold {
    pub(crate) fn new(hold: Duration) -> Self {
        Self {
            hold,
            held: Mutex::default(),
        }
    }

    /// Holds `peer` away from `flow` (such as "input main") for the hold, after a refusal
    /// for `reason`.
    pub(crate) fn hold(&self, peer: IpAddr, flow: &str, reason: &str) {
        let now = Instant::now();
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        if held.len() >= MAX_HELD {
            held.retain(|_, h| h.until > now);
            if held.len() >= MAX_HELD {
                return;
            }
        }
        held.insert(
            (peer.into(), flow.into()),
            Held {
                until: now + self.hold,
                reason: reason.into(),
            },
        );
    }

    /// The reason `peer` was refused for `flow`, while it is held.
    pub(crate) fn held(&self, peer: IpAddr, flow: &str) -> Option<Arc<str>> {
        let now = Instant::now();
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        let key = (Source::from(peer), Arc::<str>::from(flow));
        match held.get(&key) {
            Some(h) if h.until > now => Some(h.reason.clone()),
            Some(_) => {
                held.remove(&key);
                None
            }
            None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse()
            .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
    }

    #[test]
    fn holds_one_source_for_one_flow_until_the_hold_ends() {
        let h = RefusalHold::new(Duration::from_secs(3600));
        h.hold(ip("192.0.2.1"), "input main", "weak key");
        assert_eq!(
            h.held(ip("192.0.2.1"), "input main").as_deref(),
            Some("weak key")
        );
        assert_eq!(h.held(ip("192.0.2.2"), "input main"), None);
        assert_eq!(h.held(ip("192.0.2.1"), "input other"), None);
        let h0 = RefusalHold::new(Duration::ZERO);
        h0.hold(ip("192.0.2.1"), "input main", "weak key");
        assert_eq!(h0.held(ip("192.0.2.1"), "input main"), None);
    }

    #[test]
    fn an_ipv6_source_is_its_slash_64() {
        let h = RefusalHold::new(Duration::from_secs(3600));
        h.hold(ip("2001:db8:1:2::1"), "input main", "wrong passphrase");
        assert!(h.held(ip("2001:db8:1:2:ffff::9"), "input main").is_some());
        assert!(h.held(ip("2001:db8:1:3::1"), "input main").is_none());
        h.hold(ip("::ffff:192.0.2.7"), "input main", "weak key");
        assert!(h.held(ip("192.0.2.7"), "input main").is_some());
    }

    #[test]
    fn holds_at_most_max_held_sources() {
        let h = RefusalHold::new(Duration::from_secs(3600));
        for i in 0..=MAX_HELD as u32 {
            h.hold(IpAddr::V4(i.into()), "input main", "weak key");
        }
        assert_eq!(h.held.lock().map(|m| m.len()).unwrap_or(0), MAX_HELD);
        assert!(h
            .held(IpAddr::V4((MAX_HELD as u32).into()), "input main")
            .is_none());
    }
}
