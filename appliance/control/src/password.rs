//! Password hashing: Argon2id with explicit parameters, run on the blocking pool.
//!
//! Parameters are OWASP's first Argon2id recommendation (19 MiB, 2 passes, 1 lane): about
//! 30–60 ms on the appliance's CPU, cheap enough for login, expensive enough offline.
//! Unknown users are verified against a dummy hash with the same parameters, so the time
//! a login takes does not tell whether the account exists.
//!
//! Every hash and verification holds one of a few process-wide slots
//! ([`max_concurrent`]): each costs 19 MiB and a core for its duration, and without a bound
//! a few hundred requests at once took both CPUs and 4.5 GB. A call that gets no slot
//! within [`SLOT_WAIT`] fails with [`PasswordError::Busy`] (the API answers 503 with
//! `Retry-After`). [`hashes_total`] counts the Argon2 computations, for `/metrics`.
//!
//! The 19 MiB of working memory are allocated once per slot and reused, rather than by each
//! computation: freed from many blocking-pool threads, glibc kept them in per-thread arenas
//! and the process stayed large after a burst. So hashing never holds more than
//! [`max_concurrent`] × 19 MiB, and that memory stays the same after any number of calls.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{Output, ParamsString, PasswordHash, Salt, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Semaphore;

/// Memory cost in KiB (19 MiB).
pub const M_COST_KIB: u32 = 19 * 1024;
pub const T_COST: u32 = 2;
pub const P_COST: u32 = 1;

/// Most concurrent Argon2 computations: half the machine's cores, at most this many
/// (beyond 4 a login burst would only take more memory, 19 MiB each).
pub const MAX_CONCURRENT_CAP: usize = 4;
/// How long a call waits for a slot before giving up: a few hashes' time (30–60 ms each),
/// so an honest sign-in during a burst still gets through, while a flood waits briefly and
/// is turned away instead of queueing without end.
pub const SLOT_WAIT: Duration = Duration::from_secs(2);
/// What a caller turned away is told to wait (`Retry-After`).
pub const BUSY_RETRY_AFTER: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("password hashing failed: {0}")]
    Hash(argon2::password_hash::Error),
    #[error("password hashing task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// Every slot stayed taken for [`SLOT_WAIT`].
    #[error("too many password checks at once; try again shortly")]
    Busy,
}

/// How many hashes or verifications may run at once: half the cores, 1 to
/// [`MAX_CONCURRENT_CAP`]. A sign-in flood must never take every core from the relay: on
/// the appliance's 2 cores one hashes while the other carries the streams.
pub fn max_concurrent() -> usize {
    (std::thread::available_parallelism().map_or(1, usize::from) / 2).clamp(1, MAX_CONCURRENT_CAP)
}

fn slots() -> &'static Semaphore {
    static SLOTS: OnceLock<Semaphore> = OnceLock::new();
    SLOTS.get_or_init(|| Semaphore::new(max_concurrent()))
}

static HASHES: AtomicU64 = AtomicU64::new(0);
/// Computations running now, and the most ever seen at once (what the tests check).
static RUNNING: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

/// Argon2 computations done since the process started (hashes and verifications, the
/// dummy ones included).
pub fn hashes_total() -> u64 {
    HASHES.load(Ordering::Relaxed)
}

/// The counter in Prometheus text format, appended to `/metrics`.
pub fn metrics_text() -> String {
    format!(
        "# HELP relevo_password_hashes_total Argon2 password hashes and verifications computed.\n\
         # TYPE relevo_password_hashes_total counter\n\
         relevo_password_hashes_total {}\n",
        hashes_total()
    )
}

/// Runs `work` on the blocking pool once a slot is free.
async fn with_slot<T: Send + 'static>(
    work: impl FnOnce(&mut [Block]) -> T + Send + 'static,
) -> Result<T, PasswordError> {
    let permit = tokio::time::timeout(SLOT_WAIT, slots().acquire())
        .await
        .map_err(|_| PasswordError::Busy)?
        .unwrap_or_else(|_| unreachable!("the semaphore is never closed"));
    // The permit moves into the task: a caller that goes away does not free the slot while
    // the hash still runs.
    Ok(tokio::task::spawn_blocking(move || {
        let _permit = permit;
        HASHES.fetch_add(1, Ordering::Relaxed);
        let running = RUNNING.fetch_add(1, Ordering::SeqCst) + 1;
        PEAK.fetch_max(running, Ordering::SeqCst);
        let mut memory = take_memory();
        let done = work(&mut memory);
        give_back_memory(memory);
        RUNNING.fetch_sub(1, Ordering::SeqCst);
        done
    })
    .await?)
}

fn params() -> Params {
    Params::new(M_COST_KIB, T_COST, P_COST, None)
        .unwrap_or_else(|_| unreachable!("constant Argon2 parameters are valid"))
}

/// Working memories not in use: at most one per slot ever exists, since only a slot's
/// holder takes one.
static MEMORIES: Mutex<Vec<Vec<Block>>> = Mutex::new(Vec::new());

fn take_memory() -> Vec<Block> {
    let spare = MEMORIES
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .pop();
    spare.unwrap_or_else(|| vec![Block::new(); params().block_count()])
}

fn give_back_memory(memory: Vec<Block>) {
    MEMORIES
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .push(memory);
}

/// Argon2 of `password` with `salt`, as a PHC hash, computed in `memory`. (What
/// `PasswordHasher::hash_password` does, but without allocating its own memory.) A stored
/// hash with a larger memory cost than ours gets a temporary buffer.
fn compute<'a>(
    memory: &mut [Block],
    algorithm: Algorithm,
    version: Version,
    params: Params,
    password: &[u8],
    salt: Salt<'a>,
) -> argon2::password_hash::Result<PasswordHash<'a>> {
    let mut salt_bytes = [0u8; Salt::MAX_LENGTH];
    let salt_bytes = salt.decode_b64(&mut salt_bytes)?;
    let len = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    let mut larger;
    let blocks = if params.block_count() <= memory.len() {
        memory
    } else {
        larger = vec![Block::new(); params.block_count()];
        &mut larger[..]
    };
    let argon2 = Argon2::new(algorithm, version, params.clone());
    let output = Output::init_with(len, |out| {
        Ok(argon2.hash_password_into_with_memory(password, salt_bytes, out, &mut *blocks)?)
    })?;
    Ok(PasswordHash {
        algorithm: algorithm.ident(),
        version: Some(version.into()),
        params: ParamsString::try_from(&params)?,
        salt: Some(salt),
        hash: Some(output),
    })
}

/// Hashes `password` into a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`).
pub async fn hash(password: SecretString) -> Result<String, PasswordError> {
    with_slot(move |memory| hash_blocking(memory, &password))
        .await?
        .map_err(PasswordError::Hash)
}

fn hash_blocking(
    memory: &mut [Block],
    password: &SecretString,
) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    let (algorithm, version) = (Algorithm::Argon2id, Version::V0x13);
    let password = password.expose_secret().as_bytes();
    Ok(compute(
        memory,
        algorithm,
        version,
        params(),
        password,
        salt.as_salt(),
    )?
    .to_string())
}

/// Whether `password` matches the PHC hash `phc` (constant-time comparison of the outputs,
/// as `PasswordVerifier` does). Anything that does not parse is a mismatch.
fn verify_blocking(memory: &mut [Block], phc: &str, password: &[u8]) -> bool {
    let Ok(stored) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (stored.salt, stored.hash) else {
        return false;
    };
    let algorithm = Algorithm::try_from(stored.algorithm);
    let version = stored
        .version
        .map_or(Ok(Version::default()), Version::try_from);
    let (Ok(algorithm), Ok(version), Ok(params)) = (algorithm, version, Params::try_from(&stored))
    else {
        return false;
    };
    compute(memory, algorithm, version, params, password, salt)
        .is_ok_and(|computed| computed.hash == Some(expected))
}

/// Checks `password` against `phc`, or against a dummy hash when `phc` is `None` (unknown
/// user) so that both cases cost the same; the dummy case is always `false`. A stored hash
/// that does not parse counts as a mismatch.
pub async fn verify(phc: Option<String>, password: SecretString) -> Result<bool, PasswordError> {
    with_slot(move |memory| {
        let known = phc.is_some();
        let phc = match phc {
            Some(phc) => phc,
            None => dummy_hash(memory).to_owned(),
        };
        let ok = verify_blocking(memory, &phc, password.expose_secret().as_bytes());
        known && ok
    })
    .await
}

/// A hash of a random password, computed once per process.
fn dummy_hash(memory: &mut [Block]) -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let random = SaltString::generate(&mut OsRng);
        hash_blocking(memory, &SecretString::from(random.as_str().to_owned())).unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The slots are process-wide: a test that holds them all must not overlap another.
    static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

    #[tokio::test]
    async fn hash_uses_the_explicit_parameters_and_verifies() {
        let _serial = SERIAL.lock().await;
        let phc = hash(SecretString::from("correct horse battery"))
            .await
            .expect("hash");
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        let ok = verify(Some(phc.clone()), "correct horse battery".into()).await;
        assert!(ok.expect("verify"));
        let wrong = verify(Some(phc), "incorrect horse battery".into()).await;
        assert!(!wrong.expect("verify"));
        assert!(!verify(None, "anything".into()).await.expect("verify"));
    }

    /// The hashes are the argon2 crate's own: stored hashes from before verify, and ours
    /// verify with the crate's verifier.
    #[tokio::test]
    async fn hashes_are_the_argon2_crates_own() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let _serial = SERIAL.lock().await;
        let crate_own = Argon2::new(Algorithm::Argon2id, Version::V0x13, params());
        let salt = SaltString::generate(&mut OsRng);
        let old = crate_own
            .hash_password(b"correct horse battery", &salt)
            .expect("hash")
            .to_string();
        assert!(verify(Some(old.clone()), "correct horse battery".into())
            .await
            .expect("verify"));
        assert!(!verify(Some(old), "correct horse battery!".into())
            .await
            .expect("verify"));
        let ours = hash("correct horse battery".into()).await.expect("hash");
        let parsed = PasswordHash::new(&ours).expect("PHC");
        assert!(crate_own
            .verify_password(b"correct horse battery", &parsed)
            .is_ok());
        // A stored hash with a bigger memory cost still verifies (a temporary buffer).
        let bigger = Params::new(M_COST_KIB * 2, 1, 1, None).expect("params");
        let bigger = Argon2::new(Algorithm::Argon2id, Version::V0x13, bigger)
            .hash_password(b"correct horse battery", &salt)
            .expect("hash")
            .to_string();
        assert!(verify(Some(bigger), "correct horse battery".into())
            .await
            .expect("verify"));
        assert!(!verify(Some("$argon2id$garbage".into()), "x".into())
            .await
            .expect("verify"));
    }

    /// Regression (issue 14, finding 1): hashes ran without bound on the blocking pool (a
    /// burst took both CPUs and 4.5 GB). At most `max_concurrent()` run at once, and when
    /// every slot stays taken a call is turned away without hashing.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn hashes_run_a_few_at_a_time_and_a_flood_is_turned_away() {
        let _serial = SERIAL.lock().await;
        let n = max_concurrent();
        let burst: Vec<_> = (0..n * 2)
            .map(|_| tokio::spawn(verify(None, "guess".into())))
            .collect();
        for t in burst {
            assert!(!t.await.expect("task").expect("a slot within the wait"));
        }
        assert!(
            PEAK.load(Ordering::SeqCst) <= n,
            "never more than {n} at once"
        );
        let memories = MEMORIES.lock().expect("not poisoned").len();
        assert!(memories <= n, "{memories} working memories for {n} slots");

        let held = slots()
            .acquire_many(u32::try_from(n).expect("small"))
            .await
            .expect("open");
        let before = hashes_total();
        let refused = verify(None, "guess".into()).await;
        assert!(matches!(refused, Err(PasswordError::Busy)), "{refused:?}");
        assert_eq!(hashes_total(), before, "nothing hashed");
        drop(held);
        hash(SecretString::from("correct horse battery"))
            .await
            .expect("slots free again");
    }
}
