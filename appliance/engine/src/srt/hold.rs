//! Sources refused late in the SRT handshake are refused early for a while.
//!
//! libsrt's listen callback sees the caller's address and streamid, not its key: the key
//! exchange comes after it. So a publisher whose key is weaker than the input requires, or
//! whose passphrase is wrong, is found out only once libsrt has set its connection up
//! (buffers and loss lists sized by `SRTO_FC`/`SRTO_RCVBUF`, about a megabyte) and, for a
//! weak key, completed the handshake. Those sizes cannot be kept small until the caller is
//! accepted: libsrt fixes them when the connection is set up.
//! srt-live-transmit retries at once: four such callers made about 200 set-ups a second and
//! took `relevo serve` from 32 MB to 275 MB resident in 5 s. After [`STRIKES`] such
//! refusals within [`REFUSAL_HOLD`], the same source asking for the same flow is refused
//! inside the callback, before libsrt allocates anything, until [`REFUSAL_HOLD`] has passed
//! since the last of them: at most [`STRIKES`] costly attempts per source and flow per hold.
//! The first refusal alone holds nothing, so an operator who fixes a typo at once is not
//! kept waiting.
//!
//! The source is the caller's IPv4 address, or its IPv6 /64 (one host usually owns a whole
//! /64): a source cannot be forged, since the SRT handshake's cookie must come back from the
//! address it was sent to. Another source, or another flow, is not affected.
//!
//! Many sources together (an IPv6 host can use thousands of /64s) could still make many
//! costly attempts: a flow that sees [`FLOW_LATE_REFUSALS`] late refusals within
//! [`REFUSAL_HOLD`], from whatever sources, is guarded until [`REFUSAL_HOLD`] after the last
//! of them, and admits only [`GUARDED_SETUPS_PER_SEC`] costly attempts a second meanwhile
//! (the rest get 1503, "try again"). Only a caller that knows the flow's key gets this far,
//! and such a caller could already take an input by publishing first; the guard costs the
//! flow's legitimate callers some retries, not the relay its memory.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a source stays refused after a late refusal. An encoder whose setting was fixed
/// is let in at most this long after it was refused (its retries get "refused again" until
/// then); a misconfigured one costs one full handshake per hold instead of hundreds a second.
pub(crate) const REFUSAL_HOLD: Duration = Duration::from_secs(5);

/// Late refusals within [`REFUSAL_HOLD`] of each other that start the hold.
pub(crate) const STRIKES: u32 = 2;

/// Late refusals for one flow, from any sources, within [`REFUSAL_HOLD`] that guard it.
/// A misconfigured encoder makes [`STRIKES`] per hold: this takes five such sources.
pub(crate) const FLOW_LATE_REFUSALS: u32 = 5 * STRIKES;

/// Costly handshakes (those the listen callback lets through) a guarded flow admits per
/// second: a guarded flow's attempts cost at most this many connection set-ups a second.
pub(crate) const GUARDED_SETUPS_PER_SEC: u32 = 2;

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
    /// Late refusals in a row, each within the hold of the previous one.
    strikes: u32,
    /// When the last of them happened.
    last: Instant,
    /// Why it was refused, said again to the retries.
    reason: Arc<str>,
}

/// Late refusals of one flow, and what it admits while guarded.
#[derive(Debug)]
struct Guard {
    /// Start of the current count of late refusals, and the count.
    window: Instant,
    late: u32,
    /// Guarded until then, if guarded.
    until: Option<Instant>,
    /// Start of the current second of admitted set-ups, and their number.
    second: Instant,
    setups: u32,
}

/// The sources currently held, by (source, flow), and the flows guarded.
#[derive(Debug)]
pub(crate) struct RefusalHold {
    hold: Duration,
    held: Mutex<HashMap<(Source, Arc<str>), Held>>,
    guards: Mutex<HashMap<Arc<str>, Guard>>,
}

impl RefusalHold {
    pub(crate) fn new(hold: Duration) -> Self {
        Self {
            hold,
            held: Mutex::default(),
            guards: Mutex::default(),
        }
    }

    /// `peer` was refused late, for `reason`, when asking for `flow` (such as "input main").
    pub(crate) fn refused(&self, peer: IpAddr, flow: &str, reason: &str) {
        let now = Instant::now();
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        let key = (Source::from(peer), Arc::<str>::from(flow));
        if held.len() >= MAX_HELD && !held.contains_key(&key) {
            held.retain(|_, h| now.duration_since(h.last) < self.hold);
            if held.len() >= MAX_HELD {
                return;
            }
        }
        let h = held.entry(key).or_insert_with(|| Held {
            strikes: 0,
            last: now,
            reason: reason.into(),
        });
        if now.duration_since(h.last) >= self.hold {
            h.strikes = 0;
        }
        h.strikes = h.strikes.saturating_add(1);
        h.last = now;
        h.reason = reason.into();
        drop(held);
        self.count_late_refusal(flow, now);
    }

    fn count_late_refusal(&self, flow: &str, now: Instant) {
        let mut guards = self.guards.lock().unwrap_or_else(|e| e.into_inner());
        if guards.len() >= MAX_HELD && !guards.contains_key(flow) {
            // Flows are configured ones, so this takes a lot of flows removed over time.
            guards.retain(|_, g| now.duration_since(g.window) < self.hold);
            if guards.len() >= MAX_HELD {
                return;
            }
        }
        let g = guards.entry(flow.into()).or_insert_with(|| Guard {
            window: now,
            late: 0,
            until: None,
            second: now,
            setups: 0,
        });
        if now.duration_since(g.window) >= self.hold {
            g.window = now;
            g.late = 0;
        }
        g.late = g.late.saturating_add(1);
        if g.late >= FLOW_LATE_REFUSALS {
            g.until = Some(now + self.hold);
        }
    }

    /// Whether a caller of `flow` that the decision would accept may cost a connection set-up
    /// now; `false` while the flow is guarded and this second's set-ups are spent.
    pub(crate) fn admit_setup(&self, flow: &str) -> bool {
        let now = Instant::now();
        let mut guards = self.guards.lock().unwrap_or_else(|e| e.into_inner());
        let Some(g) = guards.get_mut(flow) else {
            return true;
        };
        if g.until.is_none_or(|until| now >= until) {
            g.until = None;
            return true;
        }
        if now.duration_since(g.second) >= Duration::from_secs(1) {
            g.second = now;
            g.setups = 0;
        }
        if g.setups < GUARDED_SETUPS_PER_SEC {
            g.setups += 1;
            true
        } else {
            false
        }
    }

    /// The reason `peer` was refused for `flow`, while it is held.
    pub(crate) fn held(&self, peer: IpAddr, flow: &str) -> Option<Arc<str>> {
        let now = Instant::now();
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        let key = (Source::from(peer), Arc::<str>::from(flow));
        match held.get(&key) {
            Some(h) if now.duration_since(h.last) >= self.hold => {
                held.remove(&key);
                None
            }
            Some(h) if h.strikes >= STRIKES => Some(h.reason.clone()),
            _ => None,
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

    fn strike_out(h: &RefusalHold, peer: &str, flow: &str, reason: &str) {
        for _ in 0..STRIKES {
            h.refused(ip(peer), flow, reason);
        }
    }

    #[test]
    fn holds_one_source_for_one_flow_after_the_strikes_until_the_hold_ends() {
        let h = RefusalHold::new(Duration::from_secs(3600));
        h.refused(ip("192.0.2.1"), "input main", "wrong passphrase");
        assert_eq!(h.held(ip("192.0.2.1"), "input main"), None, "one refusal");
        h.refused(ip("192.0.2.1"), "input main", "weak key");
        assert_eq!(
            h.held(ip("192.0.2.1"), "input main").as_deref(),
            Some("weak key")
        );
        assert_eq!(h.held(ip("192.0.2.2"), "input main"), None);
        assert_eq!(h.held(ip("192.0.2.1"), "input other"), None);
        let h0 = RefusalHold::new(Duration::ZERO);
        strike_out(&h0, "192.0.2.1", "input main", "weak key");
        assert_eq!(h0.held(ip("192.0.2.1"), "input main"), None);
    }

    #[test]
    fn an_ipv6_source_is_its_slash_64() {
        let h = RefusalHold::new(Duration::from_secs(3600));
        strike_out(&h, "2001:db8:1:2::1", "input main", "wrong passphrase");
        assert!(h.held(ip("2001:db8:1:2:ffff::9"), "input main").is_some());
        assert!(h.held(ip("2001:db8:1:3::1"), "input main").is_none());
        strike_out(&h, "::ffff:192.0.2.7", "input main", "weak key");
        assert!(h.held(ip("192.0.2.7"), "input main").is_some());
    }

    #[test]
    fn a_flow_refused_late_from_many_sources_admits_few_setups_a_second() {
        let h = RefusalHold::new(Duration::from_secs(3600));
        for i in 1..FLOW_LATE_REFUSALS {
            h.refused(IpAddr::V4(i.into()), "input main", "wrong passphrase");
        }
        assert!(
            (0..100).all(|_| h.admit_setup("input main")),
            "not guarded yet"
        );
        h.refused(ip("192.0.2.1"), "input main", "wrong passphrase");
        let admitted = (0..100).filter(|_| h.admit_setup("input main")).count();
        assert_eq!(admitted, GUARDED_SETUPS_PER_SEC as usize);
        assert!(h.admit_setup("input other"), "another flow is not guarded");
        let h0 = RefusalHold::new(Duration::ZERO);
        for i in 0..FLOW_LATE_REFUSALS {
            h0.refused(IpAddr::V4(i.into()), "input main", "wrong passphrase");
        }
        assert!(
            h0.admit_setup("input main"),
            "the guard ended with the hold"
        );
    }

    #[test]
    fn holds_at_most_max_held_sources() {
        let h = RefusalHold::new(Duration::from_secs(3600));
        for i in 0..=MAX_HELD as u32 {
            for _ in 0..STRIKES {
                h.refused(IpAddr::V4(i.into()), "input main", "weak key");
            }
        }
        assert_eq!(h.held.lock().map(|m| m.len()).unwrap_or(0), MAX_HELD);
        assert!(h.held(IpAddr::V4(0.into()), "input main").is_some());
        assert!(h
            .held(IpAddr::V4((MAX_HELD as u32).into()), "input main")
            .is_none());
    }
}
