//! Who may hold a connection to the RTMP and RTMPS listeners, and for how long before it
//! proves it knows a key.
//!
//! A connection starts *unauthenticated*: it holds one of [`RtmpLimits::max_unauthenticated`]
//! slots, counted also against its source address ([`RtmpLimits::max_per_address`]), and must
//! finish TLS, the RTMP handshake, `connect` and an accepted `publish` or `play` within
//! [`RtmpLimits::setup_timeout`]. Until then every byte it makes us buffer is charged to one
//! budget shared by all unauthenticated connections ([`RtmpLimits::max_unauthenticated_bytes`]).
//! Once the router accepts it, it moves to the *established* pool (the rest of
//! [`RtmpLimits::max_connections`]), which no unauthenticated peer can touch: publishers and
//! players already on the air keep their places while a flood fills the unauthenticated pool.
//!
//! The per-address cap applies to unauthenticated connections only. An encoder farm or a
//! room of players behind one NAT shares one address; once each of them has shown a key its
//! connection no longer counts against that address, so only how many of them set up *at the
//! same time* is capped, and a setup takes well under a second.
//!
//! Refusals are decided here without I/O; the listener closes the socket at once, so a full
//! pool never leaves a peer waiting in the kernel's accept queue.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Connections over both listeners. Far above any real load of one appliance (each
/// connection is a publisher or a player); it bounds memory and file descriptors. Each
/// connection is one descriptor: the process needs a limit well above this (systemd's
/// default soft limit for a service is 1024; `LimitNOFILE=` raises it).
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;
/// Connections that have not yet published or played: a quarter of the total, so that three
/// quarters stay reserved for authenticated publishers and players whatever a flood does.
/// A real setup lasts tens of milliseconds, so 1024 at once is far beyond honest use.
pub const DEFAULT_MAX_UNAUTHENTICATED: usize = 1024;
/// Unauthenticated connections from one IPv4 address (or one IPv6 /64, what one host or one
/// customer line usually gets). 32 encoders or players behind one NAT may all be setting up
/// at the same moment (after a network outage they reconnect together); with it, filling
/// the unauthenticated pool takes at least 32 addresses.
pub const DEFAULT_MAX_PER_ADDRESS: usize = 32;
/// Time from accept to an accepted `publish` or `play`: TLS, RTMP handshake, `connect`,
/// `createStream`, `publish`/`play`. Encoders do this in well under a second, even over a
/// long path (a handful of round trips); a peer that trickles bytes is gone after it.
pub const DEFAULT_SETUP_TIMEOUT: Duration = Duration::from_secs(10);
/// What all unauthenticated connections together may make us buffer (the messages they have
/// announced and not finished, each at most [`crate::rtmp::guard::MAX_SETUP_MESSAGE`]). 16 MiB lets 256
/// connections each hold a maximal message at once; honest ones hold a few hundred bytes.
pub const DEFAULT_MAX_UNAUTHENTICATED_BYTES: usize = 16 << 20;

/// The RTMP listeners' connection limits (the `[rtmp]` table of the configuration file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtmpLimits {
    pub max_connections: usize,
    pub max_unauthenticated: usize,
    pub max_per_address: usize,
    pub setup_timeout: Duration,
    pub max_unauthenticated_bytes: usize,
}

impl Default for RtmpLimits {
    fn default() -> Self {
        Self {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_unauthenticated: DEFAULT_MAX_UNAUTHENTICATED,
            max_per_address: DEFAULT_MAX_PER_ADDRESS,
            setup_timeout: DEFAULT_SETUP_TIMEOUT,
            max_unauthenticated_bytes: DEFAULT_MAX_UNAUTHENTICATED_BYTES,
        }
    }
}

/// Why a connection was not let in or not let on. `Display` is the log line's reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("{0} unauthenticated connections from this address already")]
    PerAddress(usize),
    #[error("all {0} slots for unauthenticated connections are taken")]
    Unauthenticated(usize),
    #[error("all {0} slots for publishers and players are taken")]
    Established(usize),
    #[error("unauthenticated connections buffer {0} bytes already")]
    Buffered(usize),
}

/// The pools of one relay's RTMP listeners (RTMP and RTMPS share them).
#[derive(Debug)]
pub struct Admission {
    limits: RtmpLimits,
    unauthenticated: Arc<Semaphore>,
    established: Arc<Semaphore>,
    per_address: Mutex<HashMap<AddressKey, usize>>,
    buffered: AtomicUsize,
}

/// An IPv4 address, or the /64 an IPv6 address lies in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct AddressKey(u128);

impl AddressKey {
    fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => Self(u128::from(u32::from(v4))),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self(u128::from(u32::from(v4))),
                None => Self(u128::from(v6) & !u128::from(u64::MAX)),
            },
        }
    }
}

impl Admission {
    pub fn new(limits: RtmpLimits) -> Arc<Self> {
        let unauthenticated = limits.max_unauthenticated.min(limits.max_connections);
        let established = limits.max_connections - unauthenticated;
        Arc::new(Self {
            unauthenticated: Arc::new(Semaphore::new(unauthenticated)),
            established: Arc::new(Semaphore::new(established)),
            per_address: Mutex::new(HashMap::new()),
            buffered: AtomicUsize::new(0),
            limits,
        })
    }

    pub fn limits(&self) -> &RtmpLimits {
        &self.limits
    }

    /// Lets a new connection from `ip` in as unauthenticated, or says why not.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Unauthenticated, Refusal> {
        let key = AddressKey::of(ip);
        {
            let mut counts = self.per_address.lock().unwrap_or_else(|e| e.into_inner());
            let count = counts.entry(key).or_insert(0);
            if *count >= self.limits.max_per_address {
                return Err(Refusal::PerAddress(*count));
            }
            *count += 1;
        }
        // From here the address is counted: the guard uncounts it on every path out.
        let address = AddressGuard {
            admission: self.clone(),
            key,
        };
        let permit = self
            .unauthenticated
            .clone()
            .try_acquire_owned()
            .map_err(|_| Refusal::Unauthenticated(self.limits.max_unauthenticated))?;
        Ok(Unauthenticated {
            _permit: permit,
            _address: address,
            charge: Charge {
                admission: self.clone(),
                held: 0,
            },
        })
    }

    /// A place among publishers and players for a connection the router is about to accept.
    pub fn establish(&self) -> Result<Established, Refusal> {
        let total = self.limits.max_connections;
        self.established
            .clone()
            .try_acquire_owned()
            .map(|permit| Established { _permit: permit })
            .map_err(|_| {
                Refusal::Established(total.saturating_sub(self.limits.max_unauthenticated))
            })
    }

    fn uncount(&self, key: AddressKey) {
        let mut counts = self.per_address.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = counts.get_mut(&key) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&key);
            }
        }
    }

    /// Bytes all unauthenticated connections are charged for now.
    pub fn buffered(&self) -> usize {
        self.buffered.load(Ordering::Relaxed)
    }
}

struct AddressGuard {
    admission: Arc<Admission>,
    key: AddressKey,
}

impl Drop for AddressGuard {
    fn drop(&mut self) {
        self.admission.uncount(self.key);
    }
}

impl std::fmt::Debug for AddressGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AddressGuard")
    }
}

/// An unauthenticated connection's place; dropping it frees the slot, the address count and
/// the bytes charged.
#[derive(Debug)]
pub struct Unauthenticated {
    _permit: OwnedSemaphorePermit,
    _address: AddressGuard,
    charge: Charge,
}

impl Unauthenticated {
    /// Raises what the connection is charged to `bytes` if that is more: it is charged for
    /// the largest message it announced, since `rml_rtmp` keeps the room it made for one.
    /// Refused when all unauthenticated connections together would exceed their budget.
    pub fn charge(&mut self, bytes: usize) -> Result<(), Refusal> {
        self.charge.raise(bytes)
    }
}

/// A publisher's or player's place.
#[derive(Debug)]
pub struct Established {
    _permit: OwnedSemaphorePermit,
}

#[derive(Debug)]
struct Charge {
    admission: Arc<Admission>,
    held: usize,
}

impl Charge {
    fn raise(&mut self, bytes: usize) -> Result<(), Refusal> {
        let buffered = &self.admission.buffered;
        let limit = self.admission.limits.max_unauthenticated_bytes;
        if bytes <= self.held {
            return Ok(());
        }
        let more = bytes - self.held;
        buffered
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |now| {
                (now + more <= limit).then_some(now + more)
            })
            .map_err(Refusal::Buffered)?;
        self.held = bytes;
        Ok(())
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.admission
            .buffered
            .fetch_sub(self.held, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;

    fn limits(total: usize, unauth: usize, per_address: usize, bytes: usize) -> RtmpLimits {
        RtmpLimits {
            max_connections: total,
            max_unauthenticated: unauth,
            max_per_address: per_address,
            setup_timeout: DEFAULT_SETUP_TIMEOUT,
            max_unauthenticated_bytes: bytes,
        }
    }

    fn v4(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
    }

    #[test]
    fn per_address_cap_holds_and_frees() {
        let a = Admission::new(limits(10, 8, 2, 0));
        let one = a.admit(v4(2)).expect("first");
        let _two = a.admit(v4(2)).expect("second");
        assert_eq!(a.admit(v4(2)).err(), Some(Refusal::PerAddress(2)));
        // Another address is not affected.
        let _other = a.admit(v4(3)).expect("other address");
        drop(one);
        let _again = a.admit(v4(2)).expect("a freed place");
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_v4_as_v4() {
        let a = Admission::new(limits(10, 8, 1, 0));
        let host = |low: u16| IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 0, 0, 0, low));
        let _x = a.admit(host(1)).expect("first of the /64");
        assert!(a.admit(host(2)).is_err(), "same /64");
        let _y = a
            .admit(IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 2, 0, 0, 0, 1)))
            .expect("another /64");
        let _z = a.admit(v4(9)).expect("v4");
        let mapped = IpAddr::V6(Ipv4Addr::new(127, 0, 0, 9).to_ipv6_mapped());
        assert!(
            a.admit(mapped).is_err(),
            "a v4-mapped address is that v4 address"
        );
    }

    #[test]
    fn established_pool_is_kept_apart() {
        let a = Admission::new(limits(5, 3, 10, 0));
        let pending: Vec<_> = (0..3).map(|i| a.admit(v4(i)).expect("pending")).collect();
        assert_eq!(a.admit(v4(50)).err(), Some(Refusal::Unauthenticated(3)));
        // The unauthenticated pool is full, yet two connections may still be established.
        let e1 = a.establish().expect("reserve");
        let _e2 = a.establish().expect("reserve");
        assert_eq!(a.establish().err(), Some(Refusal::Established(2)));
        drop(pending);
        drop(e1);
        let _e3 = a.establish().expect("freed");
    }

    #[test]
    fn the_byte_budget_is_shared_and_given_back() {
        let a = Admission::new(limits(10, 10, 10, 100));
        let mut x = a.admit(v4(1)).expect("x");
        let mut y = a.admit(v4(2)).expect("y");
        x.charge(60).expect("within");
        assert_eq!(y.charge(41), Err(Refusal::Buffered(60)));
        y.charge(40).expect("exactly the budget");
        x.charge(10).expect("less keeps the peak");
        assert_eq!(a.buffered(), 100);
        drop(y);
        assert_eq!(a.buffered(), 60);
        drop(x);
        assert_eq!(a.buffered(), 0);
    }
}
