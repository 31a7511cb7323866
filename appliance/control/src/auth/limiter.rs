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
//! An attempt *reserves* its slot before the password is verified: [`LoginLimiter::reserve`]
//! counts it as a failure at once, under the same lock as the check, and
//! [`LoginLimiter::success`] or [`LoginLimiter::release`] give it back when the password
//! turns out right. So a burst of concurrent guesses gets exactly the free ones (checking
//! first and counting after the Argon2 work let 15–20 through), and an attempt abandoned
//! half-way stays counted.
//!
//! Attempts refused by a running lock are reported for the audit log and the service log,
//! but not each one (a brute force that goes on would flood both): the first refusal of a
//! lock, then at most one summary with a count every [`REFUSAL_SUMMARY_EVERY`].
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
/// While a lock runs, refused attempts are reported (audited and logged) once when the lock
/// is first hit, then at most once per this interval with a count: one row a minute per
/// locked address, account or pair, whatever the attacker's rate.
pub const REFUSAL_SUMMARY_EVERY: Duration = Duration::from_secs(60);

/// Login lockouts; see the module documentation for the policy.
pub struct LoginLimiter {
    state: Mutex<LoginState>,
}

#[derive(Default)]
struct LoginState {
    pairs: HashMap<(IpAddr, String), Pair>,
    ips: HashMap<IpAddr, IpWindow>,
    accounts: HashMap<String, AccountWindow>,
    /// Refusals counted per running lock, for [`RefusalReport`]s.
    reports: HashMap<LockKey, ReportState>,
    last_prune: Option<Instant>,
}

/// Which rule refused an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockScope {
    /// Too many consecutive failures for this account from this address.
    Pair,
    /// Too many failures from this address, across accounts.
    Address,
    /// Too many failures on this account, across addresses.
    Account,
}

impl LockScope {
    pub fn as_str(self) -> &'static str {
        match self {
            LockScope::Pair => "account_and_address",
            LockScope::Address => "address",
            LockScope::Account => "account",
        }
    }
}

/// An attempt refused without being tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    pub retry_after: Duration,
    pub scope: LockScope,
    /// `Some` when this refusal is to be audited and logged: it carries how many refusals
    /// of this lock (this one included) went unreported since the last report.
    pub report: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum LockKey {
    Pair(IpAddr, String),
    Address(IpAddr),
    Account(String),
}

struct ReportState {
    /// The lock this state counts for: a new lock starts a new count.
    lock_end: Instant,
    last_report: Instant,
    unreported: u32,
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
    /// Reads only: an attempt is made through [`LoginLimiter::reserve`].
    pub fn check(&self, ip: IpAddr, account: &str, now: Instant) -> Result<(), Duration> {
        let (ip, account) = (ip_key(ip), account_key(account));
        let mut s = lock(&self.state);
        s.prune(now, false);
        match s.running_lock(ip, &account, now) {
            Some((until, _)) => Err(until - now),
            None => Ok(()),
        }
    }

    /// Takes a slot for one attempt of `account` from `ip`, counted as a failure from now
    /// on, in the same step as the check (so concurrent attempts cannot all pass the check
    /// first). Give it back with [`LoginLimiter::success`] or [`LoginLimiter::release`] if
    /// the password is right. A refusal is counted in the lock's report, nothing else.
    pub fn reserve(&self, ip: IpAddr, account: &str, now: Instant) -> Result<(), Refusal> {
        let (ip, account) = (ip_key(ip), account_key(account));
        let mut s = lock(&self.state);
        s.prune(now, false);
        if let Some((until, scope)) = s.running_lock(ip, &account, now) {
            let key = match scope {
                LockScope::Pair => LockKey::Pair(ip, account),
                LockScope::Address => LockKey::Address(ip),
                LockScope::Account => LockKey::Account(account),
            };
            let report = s.note_refusal(key, until, now);
            return Err(Refusal {
                retry_after: until - now,
                scope,
                report,
            });
        }
        s.fail(ip, account, now);
        Ok(())
    }

    /// A wrong password (or second factor) for `account` from `ip` that was not reserved.
    pub fn failure(&self, ip: IpAddr, account: &str, now: Instant) {
        let (ip, account) = (ip_key(ip), account_key(account));
        let mut s = lock(&self.state);
        s.prune(now, false);
        s.fail(ip, account, now);
    }

    /// Gives back a reservation whose password was right although the sign-in is not done
    /// yet (a second factor is owed, which reserves its own slot): the attempt counts for
    /// nothing.
    pub fn release(&self, ip: IpAddr, account: &str, now: Instant) {
        let (ip, account) = (ip_key(ip), account_key(account));
        let mut s = lock(&self.state);
        // A reservation always counts in its pair: without one there is nothing to give back
        // (and the address's and account's other failures must stay).
        let Some(pair) = s
            .pairs
            .get_mut(&(ip, account.clone()))
            .filter(|p| p.failures > 0)
        else {
            return;
        };
        pair.failures -= 1;
        if pair.failures < PAIR_FREE_FAILURES {
            pair.locked_until = None;
        }
        if let Some(w) = s.ips.get_mut(&ip) {
            if now < w.start + IP_WINDOW {
                w.failures = w.failures.saturating_sub(1);
            }
        }
        if let Some(a) = s.accounts.get_mut(&account) {
            if now < a.start + ACCOUNT_WINDOW {
                a.failures = a.failures.saturating_sub(1);
            }
        }
    }

    /// A successful login (its reservation given back): the pair's consecutive failures
    /// are forgotten. (The address and account windows keep their other failures: one
    /// success does not excuse a spray.)
    pub fn success(&self, ip: IpAddr, account: &str, now: Instant) {
        self.release(ip, account, now);
        let (ip, account) = (ip_key(ip), account_key(account));
        let mut s = lock(&self.state);
        s.pairs.remove(&(ip, account));
        s.prune(now, false);
    }
}

impl LoginState {
    /// The latest end of the locks that apply now, and the rule behind it.
    fn running_lock(
        &self,
        ip: IpAddr,
        account: &str,
        now: Instant,
    ) -> Option<(Instant, LockScope)> {
        let pair = self
            .pairs
            .get(&(ip, account.to_owned()))
            .and_then(|p| p.locked_until)
            .map(|u| (u, LockScope::Pair));
        let by_ip = self
            .ips
            .get(&ip)
            .filter(|w| w.failures > IP_MAX_FAILURES)
            .map(|w| (w.start + IP_WINDOW, LockScope::Address));
        let by_account = self
            .accounts
            .get(account)
            .and_then(|a| a.locked_until)
            .map(|u| (u, LockScope::Account));
        [pair, by_ip, by_account]
            .into_iter()
            .flatten()
            .filter(|(until, _)| *until > now)
            .max_by_key(|(until, _)| *until)
    }

    /// Counts one refusal of the lock `key` ending at `lock_end`; `Some(count)` when it is
    /// to be reported (the lock's first refusal, or the first after the summary interval).
    fn note_refusal(&mut self, key: LockKey, lock_end: Instant, now: Instant) -> Option<u32> {
        if let Some(r) = self
            .reports
            .get_mut(&key)
            .filter(|r| r.lock_end == lock_end)
        {
            r.unreported = r.unreported.saturating_add(1);
            if now < r.last_report + REFUSAL_SUMMARY_EVERY {
                return None;
            }
            let n = r.unreported;
            r.unreported = 0;
            r.last_report = now;
            return Some(n);
        }
        let fresh = || ReportState {
            lock_end,
            last_report: now,
            unreported: 0,
        };
        let state = slot(&mut self.reports, key, |r| r.last_report, fresh);
        // An entry of an earlier lock starts over.
        state.lock_end = lock_end;
        state.last_report = now;
        state.unreported = 0;
        Some(1)
    }

    /// Counts one failure everywhere it counts.
    fn fail(&mut self, ip: IpAddr, account: String, now: Instant) {
        let s = self;
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
        self.reports.retain(|_, r| r.lock_end > now);
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

    /// Regression (issue 14, finding 8): checking first and counting after the password
    /// work let a burst through; a reservation counts at once, so only the free ones pass.
    #[test]
    fn reservations_let_only_the_free_attempts_through() {
        let l = LoginLimiter::new();
        let (t, a) = (Instant::now(), ip("192.0.2.1"));
        let passed = (0..50)
            .filter(|_| l.reserve(a, "ana@example.org", t).is_ok())
            .count();
        assert_eq!(passed, PAIR_FREE_FAILURES as usize);
        assert_eq!(l.check(a, "ana@example.org", t), Err(MIN));
    }

    #[test]
    fn a_right_password_gives_its_reservation_back() {
        let l = LoginLimiter::new();
        let (t, a) = (Instant::now(), ip("192.0.2.1"));
        for _ in 0..4 {
            l.reserve(a, "ana@example.org", t).expect("free");
        }
        // The fifth locks the pair while it runs; a right password gives it back.
        l.reserve(a, "ana@example.org", t).expect("free");
        assert!(l.check(a, "ana@example.org", t).is_err());
        l.release(a, "ana@example.org", t);
        assert_eq!(l.check(a, "ana@example.org", t), Ok(()));
        l.success(a, "ana@example.org", t);
        let s = lock(&l.state);
        assert!(s.pairs.is_empty());
        assert_eq!(
            s.ips[&a].failures, 3,
            "4 failures, then one given back by success"
        );
    }

    #[test]
    fn a_release_without_a_reservation_changes_nothing() {
        let l = LoginLimiter::new();
        let t = fail(&l, "192.0.2.1", "ana@example.org", Instant::now(), 3);
        l.release(ip("192.0.2.1"), "other@example.org", t);
        assert_eq!(lock(&l.state).ips[&ip("192.0.2.1")].failures, 3);
    }

    /// Regression (issue 14, finding C): refusals during a lock are reported, but only the
    /// first and then a summary with a count per interval.
    #[test]
    fn refusals_are_reported_first_then_summarised() {
        let l = LoginLimiter::new();
        let spray = ip("198.51.100.7");
        let mut t = Instant::now();
        for i in 0..=IP_MAX_FAILURES {
            l.failure(spray, &format!("user{i}@example.org"), t);
        }
        let mut reports = Vec::new();
        // 100 refusals a second for 30 s, to ever new accounts: one report.
        for i in 0..3000 {
            let r = l
                .reserve(spray, &format!("x{i}@example.org"), t)
                .expect_err("blocked");
            assert_eq!(r.scope, LockScope::Address);
            reports.extend(r.report);
            t += Duration::from_millis(10);
        }
        assert_eq!(reports, [1], "the first only, while the interval runs");
        // 30 s later (one interval after the first): a summary of the 3000 since.
        t += Duration::from_secs(30);
        let r = l.reserve(spray, "y@example.org", t).expect_err("blocked");
        assert_eq!(r.report, Some(3000));
        let r = l.reserve(spray, "y@example.org", t).expect_err("blocked");
        assert_eq!(r.report, None);
        // Another address's lock is reported on its own.
        let other = fail(&l, "192.0.2.1", "ana@example.org", t, PAIR_FREE_FAILURES);
        let r = l
            .reserve(ip("192.0.2.1"), "ana@example.org", other)
            .expect_err("locked");
        assert_eq!((r.scope, r.report), (LockScope::Pair, Some(1)));
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
