//! The crate's error type and the reading of libsrt's thread-local last error.
//!
//! libsrt keeps the last error per thread, so [`last_error`] must be called on the thread
//! that made the failing call, right after it, before any other libsrt call.

use std::ffi::CStr;

use crate::ffi;

/// Everything that can go wrong with an SRT socket.
#[derive(Debug, thiserror::Error)]
pub enum SrtError {
    /// The peer (or libsrt on its behalf, e.g. wrong passphrase) rejected the handshake.
    /// `code` is an `SRT_REJ_*` value (< 1000) or an application code (>= 1000, e.g. 1404).
    #[error("connection rejected: {reason} (code {code})")]
    Rejected { code: i32, reason: String },
    /// The connection attempt failed at once without an answer from an SRT peer.
    #[error("connection refused")]
    Refused,
    /// No answer within the connect timeout (also: nothing listens at that address, since
    /// SRT over UDP cannot tell "no listener" from "no answer").
    #[error("timed out")]
    Timeout,
    /// The connection is closed or broken (peer closed, peer idle timeout, local close).
    #[error("connection closed")]
    Closed,
    /// [`crate::SrtStream::try_send`] found the send buffer full.
    #[error("operation would block")]
    WouldBlock,
    /// Creating, configuring, binding or listening on the listener socket failed.
    #[error("bind failed: {0}")]
    Bind(String),
    /// A message larger than the configured payload size (1316 bytes) was given to `send`.
    #[error("message of {len} bytes exceeds the maximum payload of {max} bytes")]
    MessageTooLarge { len: usize, max: usize },
    /// An option was refused before use (e.g. passphrase not 10..=79 bytes).
    #[error("invalid option: {0}")]
    InvalidOption(String),
    /// Any other libsrt failure: the operation, libsrt's error code and its message.
    #[error("{op} failed: {msg} (srt error {code})")]
    Other {
        op: &'static str,
        code: i32,
        msg: String,
    },
}

/// libsrt's last error of this thread: `(SRT_ERRNO, message)`.
pub(crate) fn last_error() -> (i32, String) {
    let mut sys_errno = 0;
    // SAFETY: srt_getlasterror only writes an int through the valid pointer we pass.
    let code = unsafe { ffi::srt_getlasterror(&mut sys_errno) };
    // SAFETY: srt_getlasterror_str returns a pointer to a thread-local NUL-terminated buffer
    // that stays valid until the next libsrt call on this thread; we copy it at once.
    let msg = unsafe { cstr_lossy(ffi::srt_getlasterror_str()) };
    (code, msg)
}

/// The error of the failing call `op` just made on this thread, classified.
pub(crate) fn last(op: &'static str) -> SrtError {
    let mut sys_errno = 0;
    // SAFETY: srt_getlasterror only writes an int through the valid pointer we pass.
    let code = unsafe { ffi::srt_getlasterror(&mut sys_errno) };
    // "Would block" is the common case of every non-blocking call: libsrt formats its message
    // through a C++ stringstream, which would cost more than the call itself.
    if matches!(code, ffi::SRT_EASYNCSND | ffi::SRT_EASYNCRCV) {
        return SrtError::WouldBlock;
    }
    // SAFETY: as in `last_error`: a thread-local NUL-terminated buffer, copied at once.
    let msg = unsafe { cstr_lossy(ffi::srt_getlasterror_str()) };
    classify(op, code, msg)
}

pub(crate) fn classify(op: &'static str, code: i32, msg: String) -> SrtError {
    match code {
        ffi::SRT_EASYNCSND | ffi::SRT_EASYNCRCV => SrtError::WouldBlock,
        ffi::SRT_ECONNLOST | ffi::SRT_ENOCONN | ffi::SRT_ECONNFAIL | ffi::SRT_EINVSOCK => {
            SrtError::Closed
        }
        ffi::SRT_ETIMEOUT | ffi::SRT_ENOSERVER => SrtError::Timeout,
        _ => SrtError::Other { op, code, msg },
    }
}

/// The text libsrt gives for a reject reason (`srt_rejectreason_str`).
pub fn reject_reason_str(code: i32) -> String {
    // SAFETY: srt_rejectreason_str returns a pointer to a static string for any value
    // (an "unknown" text for out-of-range codes); we copy it.
    unsafe { cstr_lossy(ffi::srt_rejectreason_str(code)) }
}

/// Copies a C string, tolerating NULL and invalid UTF-8.
///
/// # Safety
/// `p` must be NULL or point to a NUL-terminated string valid for the duration of the call.
pub(crate) unsafe fn cstr_lossy(p: *const libc::c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: guaranteed by the caller (non-null, NUL-terminated, valid).
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}
