//! Forwards libsrt's own log lines to `tracing` (target `libsrt`).
//!
//! libsrt reports some handshake failures only in its log (e.g. a wrong passphrase is
//! detected after our listen callback accepted), so its warnings and errors must reach ours.
//! They are rate-limited, by our own budget or by one the application shares (see
//! [`share_log_budget`]), and a line the subscriber filters out spends no budget.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{LazyLock, Mutex, OnceLock};
use std::time::{Duration, Instant};

use libc::{c_char, c_int, c_void};

use crate::error::cstr_lossy;
use crate::ffi;

/// libsrt lines forwarded per second at most when the application shares no budget (see
/// [`share_log_budget`]): garbage datagrams from the internet make libsrt log an error each,
/// and must not flood our log. 20 a second is the figure the README promises for refusals.
const MAX_LINES_PER_SEC: u32 = 20;

/// (start of the current one-second window, lines forwarded in it, lines suppressed).
static BUDGET: LazyLock<Mutex<(Instant, u32, u64)>> =
    LazyLock::new(|| Mutex::new((Instant::now(), 0, 0)));

/// The budget shared with the application, if it set one.
static SHARED_BUDGET: OnceLock<fn() -> Option<u64>> = OnceLock::new();

/// Whether a line may be forwarded now; `Some(n)` reports `n` lines suppressed before it.
fn admit() -> Option<u64> {
    if let Some(shared) = SHARED_BUDGET.get() {
        return shared();
    }
    let mut b = BUDGET.lock().unwrap_or_else(|p| p.into_inner());
    let now = Instant::now();
    if now.duration_since(b.0) >= Duration::from_secs(1) {
        *b = (now, 0, b.2);
    }
    if b.1 >= MAX_LINES_PER_SEC {
        b.2 += 1;
        return None;
    }
    b.1 += 1;
    Some(std::mem::take(&mut b.2))
}

/// Makes libsrt's forwarded lines count against the application's own budget: `admit`
/// returns `Some(n)` when a line may be logged (`n` lines were dropped before it) and `None`
/// when it must be dropped. One budget for libsrt's lines and the application's refusal
/// lines keeps their sum, not each, under the limit. The first call wins.
pub fn share_log_budget(admit: fn() -> Option<u64>) {
    let _ = SHARED_BUDGET.set(admit);
}

/// Installs the handler and the default level (warnings and errors). Called once by
/// [`crate::startup`].
pub(crate) fn install() {
    // SAFETY: the handler is a plain function valid for the process lifetime; the opaque
    // pointer is unused (NULL). The level and flags calls only set global integers.
    unsafe {
        ffi::srt_setloghandler(std::ptr::null_mut(), handler);
        ffi::srt_setlogflags(
            ffi::SRT_LOGF_DISABLE_TIME
                | ffi::SRT_LOGF_DISABLE_THREADNAME
                | ffi::SRT_LOGF_DISABLE_SEVERITY
                | ffi::SRT_LOGF_DISABLE_EOL,
        );
        ffi::srt_setloglevel(ffi::LOG_WARNING);
    }
}

/// Most verbose libsrt level forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LibsrtLogLevel {
    Warning,
    Notice,
    Info,
}

/// Changes how verbose libsrt is (default [`LibsrtLogLevel::Warning`]). There is no level
/// below warnings: [`crate::SrtListener::rejections`] needs libsrt's warnings. Filter with
/// the `tracing` subscriber instead.
pub fn set_libsrt_log_level(level: LibsrtLogLevel) {
    crate::startup();
    let ll = match level {
        LibsrtLogLevel::Warning => ffi::LOG_WARNING,
        LibsrtLogLevel::Notice => ffi::LOG_NOTICE,
        LibsrtLogLevel::Info => ffi::LOG_INFO,
    };
    // SAFETY: sets a global integer inside libsrt.
    unsafe { ffi::srt_setloglevel(ll) };
}

unsafe extern "C" fn handler(
    _opaque: *mut c_void,
    level: c_int,
    _file: *const c_char,
    _line: c_int,
    area: *const c_char,
    message: *const c_char,
) {
    // A panic must not unwind into libsrt's C++ frames.
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: libsrt passes NUL-terminated strings valid for the duration of the call.
        let (area, message) = unsafe { (cstr_lossy(area), cstr_lossy(message)) };
        let message = message.trim_end();
        // libsrt 1.5 logs this as an error on every non-blocking srt_accept that finds the
        // queue empty, which is how the reactor-driven accept works: not an error for us.
        if area == "accept" && message.contains("no pending connection") {
            return;
        }
        if area == "newConnection" {
            crate::listener::on_rejection_log(message);
        }
        // A line the subscriber would drop must not spend the budget of the lines it shows.
        let shown = match level {
            ..=ffi::LOG_ERR => tracing::enabled!(target: "libsrt", tracing::Level::ERROR),
            ffi::LOG_WARNING => tracing::enabled!(target: "libsrt", tracing::Level::WARN),
            ffi::LOG_NOTICE => tracing::enabled!(target: "libsrt", tracing::Level::INFO),
            ffi::LOG_INFO => tracing::enabled!(target: "libsrt", tracing::Level::DEBUG),
            _ => tracing::enabled!(target: "libsrt", tracing::Level::TRACE),
        };
        if !shown {
            return;
        }
        let Some(suppressed) = admit() else { return };
        // `suppressed` is a field of the line itself: a line of its own would double the
        // volume under a flood.
        match level {
            ..=ffi::LOG_ERR => tracing::error!(target: "libsrt", area, suppressed, "{message}"),
            ffi::LOG_WARNING => tracing::warn!(target: "libsrt", area, suppressed, "{message}"),
            ffi::LOG_NOTICE => tracing::info!(target: "libsrt", area, suppressed, "{message}"),
            ffi::LOG_INFO => tracing::debug!(target: "libsrt", area, suppressed, "{message}"),
            _ => tracing::trace!(target: "libsrt", area, suppressed, "{message}"),
        }
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shared_budget_decides_for_libsrt_lines() {
        fn refuse_all() -> Option<u64> {
            None
        }
        assert_eq!(admit(), Some(0), "our own budget first");
        share_log_budget(refuse_all);
        assert_eq!(admit(), None);
    }
}
