//! Rate limits kept in memory (they reset on restart, which is fine for throttling): login
//! lockouts against password guessing, and a token bucket per API key or address.
//!
//! The login policy has three layers, each with a cap so that an attacker can slow a
//! legitimate user down but never lock them out for good:
//! - per (account, address): 5 consecutive failures are free, then each failure locks the
//!   pair for 1 min, doubling up to 15 min; a success clears it. Keyed by the pair so an
//!   attacker elsewhere does not lock the admin out from their own address;
//! - per address, across accounts: more than 30 failures in a 10-min window block the
//!   address until the window ends (password spraying);
//! - per account, across addresses: more than 100 failures in an hour lock the account for
//!   15 min, at most once an hour (a distributed attack on one account).
//!
//! IPv6 addresses count per /64 (one customer's prefix; an attacker gets billions of
//! addresses inside it) and IPv4-mapped ones as IPv4. Time is passed in for testability.
//! Every map is pruned of stale entries and capped; when one is full the stalest entry
//! makes room.

use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Consecutive failures per (account, address) before the first lockout.
pub const PAIR_FREE_FAILURES: u32 = 5;
pub const PAIR_FIRST_LOCK: Duration = Duration::from_secs(60);
/// The longest any login lockout lasts.
pub const MAX_LOCK: Duration = Duration::from_secs(15 * 60);
/// A pair with no failure for this long (and no running lock) is forgotten.
const PAIR_FORGET: Duration = Duration::from_secs(60 * 60);
/// Failures from one address, across accounts, tolerated per window.
pub const IP_MAX_FAILURES: u32 = 30;
pub const IP_WINDOW: Duration = Duration::from_secs(10 * 60);
/// Failures on one account, across addresses, tolerated per window.
pub const ACCOUNT_MAX_FAILURES: u32 = 100;
pub const ACCOUNT_WINDOW: Duration = Duration::from_secs(60 * 60);
/// Entries per map: ~100 bytes each, so a few tens of MB in the worst case.
pub const MAX_ENTRIES: usize = 100_000;
/// How often stale entries are swept out.
const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// Accounts are emails: longer keys are cut so one entry's size stays bounded.
const ACCOUNT_KEY_MAX_CHARS: usize = 254;

/// Login lockouts; see the module documentation for the policy.
pub struct LoginLimiter {
    state: Mutex<LoginState>,
}

#[derive(Default)]
struct LoginState {
    pairs: HashMap<(IpAddr, String), Pair>,
    ips: HashMap<IpAddr, IpWindow>,
    accounts: HashMap<String, AccountWindow>,
    last_prune: Option<Instant>,
}

struct Pair {
    failures: u32,
    locked_until: Option<Instant>,
    last_failure: Instant,
}

struct IpWindow {
    start: Instant,
    failures: u32,
}

struct AccountWindow {
    start: Instant,
    failures: u32,
    locked_until: Option<Instant>,
    last_lock: Option<Instant>,
}

impl fmt::Debug for LoginLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = lock(&self.state);
        f.debug_struct("LoginLimiter")
            .field("pairs", &s.pairs.len())
            .field("ips", &s.ips.len())
            .field("accounts", &s.accounts.len())
            .finish()
    }
}

impl Default for LoginLimiter {
    fn default() -> Self {
        Self::new()
    }
}

impl LoginLimiter {
    pub fn new() -> Self {
        Self {
            state: Mutex::new(LoginState::default()),
        }
    }

    /// `Err(retry_after)` if a login for `account` from `ip` must not even be tried now.
    /// Call before verifying the password; a refused attempt counts as nothing.
    pub fn check(&self, ip: IpAddr, account: &str, now: Instant) -> Result<(), Duration> {
        let (ip, account) = (ip_key(ip), account_key(account));
        let mut s = lock(&self.state);
        s.prune(now, false);
        let pair = s
            .pairs
            .get(&(ip, account.clone()))
            .and_then(|p| p.locked_until);
        let by_ip = s
            .ips
            .get(&ip)
            .filter(|w| w.failures > IP_MAX_FAILURES)
            .map(|w| w.start + IP_WINDOW);
        let by_account = s.accounts.get(&account).and_then(|a| a.locked_until);
        let until = [pair, by_ip, by_account].into_iter().flatten().max();
        match until {
            Some(until) if until > now => Err(until - now),
            _ => Ok(()),
        }
    }

    /// A wrong password (or second factor) for `account` from `ip`.
    pub fn failure(&self, ip: IpAddr, account: &str, now: Instant) {
        let (ip, account) = (ip_key(ip), account_key(account));
        let mut s = lock(&self.state);
        s.prune(now, false);
        let full = s.pairs.len() >= MAX_ENTRIES
            || s.ips.len() >= MAX_ENTRIES
            || s.accounts.len() >= MAX_ENTRIES;
        if full {
            s.prune(now, true);
        }

        let pair = slot(
            &mut s.pairs,
            (ip, account.clone()),
            |p| p.last_failure,
            || Pair {
                failures: 0,
                locked_until: None,
                last_failure: now,
            },
        );
        pair.failures = pair.failures.saturating_add(1);
        pair.last_failure = now;
        if pair.failures >= PAIR_FREE_FAILURES {
            pair.locked_until = Some(now + pair_lock(pair.failures));
        }

        let window = slot(
            &mut s.ips,
            ip,
            |w| w.start,
            || IpWindow {
                start: now,
                failures: 0,
            },
        );
        if now >= window.start + IP_WINDOW {
            *window = IpWindow {
                start: now,
                failures: 0,
            };
        }
        window.failures = window.failures.saturating_add(1);

        let acc = slot(
            &mut s.accounts,
            account,
            |a| a.start,
            || AccountWindow {
                start: now,
                failures: 0,
                locked_until: None,
                last_lock: None,
            },
        );
        if now >= acc.start + ACCOUNT_WINDOW {
            acc.start = now;
            acc.failures = 0;
        }
        acc.failures = acc.failures.saturating_add(1);
        // At most one account lock per window's length, so a sustained attack leaves the
        // owner at least 45 minutes of every hour.
        let may_lock = acc.last_lock.is_none_or(|at| now >= at + ACCOUNT_WINDOW);
        if acc.failures > ACCOUNT_MAX_FAILURES && may_lock {
            acc.locked_until = Some(now + MAX_LOCK);
            acc.last_lock = Some(now);
        }
    }

    /// A successful login: the pair's consecutive failures are forgotten. (The address and
    /// account windows keep counting: one success does not excuse a spray.)
    pub fn success(&self, ip: IpAddr, account: &str, now: Instant) {
        let (ip, account) = (ip_key(ip), account_key(account));
        let mut s = lock(&self.state);
        s.pairs.remove(&(ip, account));
        s.prune(now, false);
    }
}

/// The lockout after the `failures`-th consecutive failure of a pair (≥ 5).
fn pair_lock(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(PAIR_FREE_FAILURES).min(10);
    (PAIR_FIRST_LOCK * 2u32.pow(doublings)).min(MAX_LOCK)
}

impl LoginState {
    /// Drops what no longer matters; every `PRUNE_EVERY` unless `force`.
    fn prune(&mut self, now: Instant, force: bool) {
        let due = self
            .last_prune
            .is_none_or(|at| now.saturating_duration_since(at) >= PRUNE_EVERY);
        if !force && !due {
            return;
        }
        self.last_prune = Some(now);
        let running = |until: Option<Instant>| until.is_some_and(|u| u > now);
        self.pairs.retain(|_, p| {
            running(p.locked_until) || now.saturating_duration_since(p.last_failure) < PAIR_FORGET
        });
        self.ips.retain(|_, w| now < w.start + IP_WINDOW);
        self.accounts.retain(|_, a| {
            now < a.start + ACCOUNT_WINDOW
                || running(a.locked_until)
                || a.last_lock.is_some_and(|at| now < at + ACCOUNT_WINDOW)
        });
    }
}

/// Token buckets per key (an address, a token id): `burst` requests at once, refilled at
/// `rate_per_sec`.
pub struct ApiLimiter {
    rate_per_sec: f64,
    burst: f64,
    state: Mutex<ApiState>,
}

#[derive(Default)]
struct ApiState {
    buckets: HashMap<String, Bucket>,
    last_prune: Option<Instant>,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

impl fmt::Debug for ApiLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiLimiter")
            .field("rate_per_sec", &self.rate_per_sec)
            .field("burst", &self.burst)
            .field("keys", &lock(&self.state).buckets.len())
            .finish()
    }
}

impl ApiLimiter {
    /// A limiter allowing `burst` requests at once and `rate_per_sec` sustained; both are
    /// raised to sane minimums (1 request, a positive rate).
    pub fn new(rate_per_sec: f64, burst: f64) -> Self {
        Self {
            rate_per_sec: if rate_per_sec > 0.0 {
                rate_per_sec
            } else {
                f64::MIN_POSITIVE
            },
            burst: burst.max(1.0),
            state: Mutex::new(ApiState::default()),
        }
    }

    /// Takes one token from `key`'s bucket, or says how long until one is available.
    pub fn check(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let mut s = lock(&self.state);
        self.prune(&mut s, now);
        let burst = self.burst;
        let bucket = slot(
            &mut s.buckets,
            key.to_owned(),
            |b| b.at,
            || Bucket {
                tokens: burst,
                at: now,
            },
        );
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.rate_per_sec).min(self.burst);
        bucket.at = bucket.at.max(now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - bucket.tokens) / self.rate_per_sec;
            Err(Duration::try_from_secs_f64(wait).unwrap_or(Duration::MAX))
        }
    }

    /// A bucket that has refilled is the same as no bucket: forget it.
    fn prune(&self, s: &mut ApiState, now: Instant) {
        let due = s
            .last_prune
            .is_none_or(|at| now.saturating_duration_since(at) >= PRUNE_EVERY);
        if !due && s.buckets.len() < MAX_ENTRIES {
            return;
        }
        s.last_prune = Some(now);
        s.buckets.retain(|_, b| {
            let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
            b.tokens + elapsed * self.rate_per_sec < self.burst
        });
    }
}

/// The entry for `key`, created by `new` — after evicting the entry with the oldest `age`
/// if the map is full.
fn slot<K: Eq + Hash + Clone, V>(
    map: &mut HashMap<K, V>,
    key: K,
    age: impl Fn(&V) -> Instant,
    new: impl FnOnce() -> V,
) -> &mut V {
    if !map.contains_key(&key) && map.len() >= MAX_ENTRIES {
        let stalest = map
            .iter()
            .min_by_key(|(_, v)| age(v))
            .map(|(k, _)| k.clone());
        if let Some(k) = stalest {
            map.remove(&k);
        }
    }
    map.entry(key).or_insert_with(new)
}

/// The state is counters only: a panic elsewhere cannot leave it inconsistent.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn ip_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

fn account_key(account: &str) -> String {
    account
        .trim()
        .chars()
        .take(ACCOUNT_KEY_MAX_CHARS)
        .flat_map(char::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    /// `n` failures, one second apart, starting at `t`; returns the time after the last.
    fn fail(l: &LoginLimiter, who: &str, account: &str, t: Instant, n: u32) -> Instant {
        let mut t = t;
        for _ in 0..n {
            l.failure(ip(who), account, t);
            t += Duration::from_secs(1);
        }
        t
    }

    #[test]
    fn pair_locks_after_five_failures_doubling_up_to_fifteen_minutes() {
        let l = LoginLimiter::new();
        let t0 = Instant::now();
        let a = "192.0.2.1";
        let t = fail(&l, a, "ana@example.org", t0, 4);
        assert_eq!(
            l.check(ip(a), "ana@example.org", t),
            Ok(()),
            "4 failures are free"
        );

        l.failure(ip(a), "ana@example.org", t);
        assert_eq!(l.check(ip(a), "ana@example.org", t), Err(MIN));
        assert_eq!(
            l.check(ip(a), "ANA@Example.org", t + MIN / 2),
            Err(MIN / 2),
            "any case"
        );
        assert_eq!(l.check(ip(a), "ana@example.org", t + MIN), Ok(()));

        let mut locks = Vec::new();
        let mut t = t + MIN;
        for _ in 0..6 {
            l.failure(ip(a), "ana@example.org", t);
            let lock = l.check(ip(a), "ana@example.org", t).expect_err("locked");
            locks.push(lock.as_secs() / 60);
            t += lock;
        }
        assert_eq!(locks, [2, 4, 8, 15, 15, 15], "doubling, never past 15 min");
    }

    #[test]
    fn success_clears_the_pair() {
        let l = LoginLimiter::new();
        let t = fail(&l, "192.0.2.1", "ana@example.org", Instant::now(), 4);
        l.success(ip("192.0.2.1"), "Ana@example.org", t);
        let t = fail(&l, "192.0.2.1", "ana@example.org", t, 4);
        assert_eq!(l.check(ip("192.0.2.1"), "ana@example.org", t), Ok(()));
    }

    #[test]
    fn another_address_is_not_locked_by_a_locked_pair() {
        let l = LoginLimiter::new();
        let t = fail(&l, "198.51.100.9", "admin@example.org", Instant::now(), 20);
        assert!(l.check(ip("198.51.100.9"), "admin@example.org", t).is_err());
        assert_eq!(l.check(ip("192.0.2.1"), "admin@example.org", t), Ok(()));
        assert_eq!(l.check(ip("198.51.100.9"), "other@example.org", t), Ok(()));
    }

    #[test]
    fn an_address_spraying_accounts_is_blocked_for_the_rest_of_the_window() {
        let l = LoginLimiter::new();
        let t0 = Instant::now();
        let spray = ip("203.0.113.5");
        let mut t = t0;
        for i in 0..IP_MAX_FAILURES {
            l.failure(spray, &format!("user{i}@example.org"), t);
            t += Duration::from_secs(1);
        }
        assert_eq!(
            l.check(spray, "new@example.org", t),
            Ok(()),
            "30 are tolerated"
        );
        l.failure(spray, "new@example.org", t);
        assert_eq!(
            l.check(spray, "fresh@example.org", t),
            Err(IP_WINDOW - (t - t0))
        );
        assert_eq!(l.check(spray, "fresh@example.org", t0 + IP_WINDOW), Ok(()));
        assert_eq!(l.check(ip("192.0.2.1"), "fresh@example.org", t), Ok(()));
    }

    #[test]
    fn ipv6_addresses_count_per_64() {
        let l = LoginLimiter::new();
        let mut t = Instant::now();
        for i in 0..=IP_MAX_FAILURES {
            l.failure(
                ip(&format!("2001:db8:1:2::{i:x}")),
                &format!("u{i}@x.org"),
                t,
            );
            t += Duration::from_secs(1);
        }
        assert!(l.check(ip("2001:db8:1:2:ffff::1"), "z@x.org", t).is_err());
        assert_eq!(l.check(ip("2001:db8:1:3::1"), "z@x.org", t), Ok(()));
    }

    /// A botnet: every failure from a fresh address, so only the account rule applies.
    fn distributed(l: &LoginLimiter, account: &str, t: Instant, n: u32, first: u32) -> Instant {
        let mut t = t;
        for i in first..first + n {
            l.failure(
                ip(&format!(
                    "10.{}.{}.{}",
                    i >> 16 & 255,
                    i >> 8 & 255,
                    i & 255
                )),
                account,
                t,
            );
            t += Duration::from_millis(100);
        }
        t
    }

    #[test]
    fn account_lock_lasts_fifteen_minutes_at_most_once_an_hour() {
        let l = LoginLimiter::new();
        let admin = ip("192.0.2.1");
        let t0 = Instant::now();
        let t = distributed(&l, "admin@example.org", t0, ACCOUNT_MAX_FAILURES, 0);
        assert_eq!(
            l.check(admin, "admin@example.org", t),
            Ok(()),
            "100 are tolerated"
        );

        let t = distributed(&l, "admin@example.org", t, 1, 100);
        assert_eq!(
            l.check(admin, "admin@example.org", t),
            Err(MAX_LOCK - Duration::from_millis(100))
        );
        assert_eq!(l.check(admin, "other@example.org", t), Ok(()));

        // The attack goes on right after the lock: no new lock within the hour.
        let t = t - Duration::from_millis(100) + MAX_LOCK;
        assert_eq!(l.check(admin, "admin@example.org", t), Ok(()));
        let t = distributed(&l, "admin@example.org", t, 500, 1000);
        assert_eq!(
            l.check(admin, "admin@example.org", t),
            Ok(()),
            "never longer"
        );

        // A later hour can lock again, again for 15 min only.
        let t = distributed(&l, "admin@example.org", t0 + ACCOUNT_WINDOW * 2, 101, 5000);
        let retry = l.check(admin, "admin@example.org", t).expect_err("locked");
        assert!(retry <= MAX_LOCK, "{retry:?}");
    }

    #[test]
    fn no_lockout_ever_exceeds_fifteen_minutes() {
        let l = LoginLimiter::new();
        let mut t = Instant::now();
        for _ in 0..1000 {
            l.failure(ip("198.51.100.1"), "admin@example.org", t);
            if let Err(retry) = l.check(ip("198.51.100.1"), "admin@example.org", t) {
                assert!(retry <= MAX_LOCK, "{retry:?}");
            }
            t += Duration::from_secs(7);
        }
    }

    #[test]
    fn stale_entries_are_pruned() {
        let l = LoginLimiter::new();
        let t = fail(&l, "192.0.2.1", "ana@example.org", Instant::now(), 3);
        let later = t + ACCOUNT_WINDOW + PAIR_FORGET;
        assert_eq!(l.check(ip("192.0.2.2"), "x@example.org", later), Ok(()));
        let s = lock(&l.state);
        assert!(s.pairs.is_empty() && s.ips.is_empty() && s.accounts.is_empty());
    }

    #[test]
    fn a_full_map_evicts_its_stalest_entry() {
        let mut map: HashMap<u32, Instant> = HashMap::new();
        let t0 = Instant::now();
        for i in 0..MAX_ENTRIES as u32 {
            map.insert(i, t0 + Duration::from_millis(u64::from(i)));
        }
        *slot(&mut map, u32::MAX, |v| *v, || t0) = t0 + Duration::from_secs(1000);
        assert_eq!(map.len(), MAX_ENTRIES);
        assert!(!map.contains_key(&0) && map.contains_key(&1) && map.contains_key(&u32::MAX));
    }

    #[test]
    fn api_bucket_allows_a_burst_then_the_rate() {
        let l = ApiLimiter::new(2.0, 5.0);
        let t = Instant::now();
        for _ in 0..5 {
            assert_eq!(l.check("token:7", t), Ok(()));
        }
        assert_eq!(l.check("token:7", t), Err(Duration::from_millis(500)));
        assert_eq!(l.check("192.0.2.1", t), Ok(()), "keys are independent");
        let t = t + Duration::from_millis(500);
        assert_eq!(l.check("token:7", t), Ok(()));
        assert!(l.check("token:7", t).is_err());
        let t = t + Duration::from_secs(60);
        for _ in 0..5 {
            assert_eq!(
                l.check("token:7", t),
                Ok(()),
                "refilled up to the burst only"
            );
        }
        assert!(l.check("token:7", t).is_err());
    }

    #[test]
    fn api_buckets_that_refilled_are_forgotten() {
        let l = ApiLimiter::new(1.0, 2.0);
        let t = Instant::now();
        assert_eq!(l.check("a", t), Ok(()));
        assert_eq!(l.check("b", t + Duration::from_secs(120)), Ok(()));
        assert_eq!(lock(&l.state).buckets.len(), 1, "only b remains");
    }
}
