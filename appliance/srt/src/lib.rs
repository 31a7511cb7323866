//! Relevo's binding of libsrt 1.5 (the SRT reference implementation), integrated with tokio.
//!
//! It is thin on purpose: live mode only (`SRTT_LIVE`, one message = one packet of up to 1316
//! bytes, i.e. 7 MPEG-TS packets), non-blocking sockets, one reactor thread for the whole
//! process. It is not a general SRT API: no file mode, no bonding, no rendezvous.
//!
//! Layout:
//! - `udp.rs`: the UDP socket under a listener, ours, lent to libsrt while callers come.
//! - `listener.rs`: [`SrtListener`], the per-connection [`Decision`] made in libsrt's listen
//!   callback (passphrase, key length, latency, reject code).
//! - `stream.rs`: [`SrtStream`], caller connect, `recv`/`send`, stats.
//! - `reactor.rs`: the thread that waits on one libsrt epoll and wakes tasks.
//! - `buffers.rs`: [`Buffers`], libsrt's buffer sizes for a socket that only sends.
//! - `socket.rs`: socket options and the owned socket (deregister + `srt_close` on drop).
//! - `error.rs`, `stats.rs`, `log.rs` (libsrt log -> `tracing` target `libsrt`), `addr.rs`.
//! - `msgctrl.rs`: [`TimedStream`], a caller whose messages carry libsrt's source time
//!   (`srt_recvmsg2`/`srt_sendmsg2`), with TSBPD optional on receive: the relay study of #19.
//! - `heap.rs`: hands the memory libsrt freed back to the system after a burst of connections.
//! - `ffi.rs`: the hand-written C declarations; the only place that names libsrt symbols.
//!
//! This is the one crate of the workspace allowed `unsafe`; every block says why it is sound.
//!
//! Behaviour of libsrt 1.5.1 worth knowing (all covered by the tests in `tests/`):
//! - **Key length: the caller decides.** The listener's `SRTO_PBKEYLEN` (set from
//!   [`Decision::Accept`]) is not enforced: a caller with the right passphrase and another
//!   key length (16 or 24 against our 32, or none, which means AES-128) is accepted with
//!   the caller's key length, and data decrypts. [`Accepted::key_len`] and
//!   [`SrtStream::key_len`] report the length in effect, so policy (log, or drop the
//!   stream) is the caller of `accept`'s choice. A caller that sets 32 against a listener
//!   set to 16 likewise gets AES-256.
//!   Nor can the listen callback refuse a weaker key: libsrt runs it before the key
//!   exchange (KMREQ), and `SRTO_PBKEYLEN` read on the new socket there is the listener's
//!   own value. Setting `SRTO_PBKEYLEN` = 32 on the listening socket itself (with enforced
//!   encryption) changes nothing for a caller that asks 16: it is accepted with AES-128
//!   (a caller that asks nothing then gets AES-256). Measured with libsrt 1.5.1.
//! - **Wrong passphrase**: rejected by libsrt after our decision accepted, code
//!   `SRT_REJ_BADSECRET` (10, "Incorrect passphrase"); **missing passphrase** on an
//!   encrypted input, or a passphrase on an unencrypted one: `SRT_REJ_UNSECURE` (11). Both
//!   reach [`SrtListener::rejections`] with the peer, stream id and tag.
//! - **Our reject codes** reach an SRT caller intact (e.g. 1404); srt-live-transmit and
//!   ffmpeg only print "Application-defined rejection reason" / "Input/output error".
//! - **Latency**: each direction negotiates max(receiver's, sender's): the decision's
//!   latency is set on the new socket in the callback, so a caller asking less gets ours.
//! - **Buffers**: a receiving socket keeps the defaults (`SRTO_RCVBUF` 8192 packets, about
//!   12 MB, `SRTO_FC` 25600), which hold about 4.9 s at 20 Mbit/s, above the 2 s needed for
//!   1000 ms latency plus a 1 s burst. A sending socket gets [`Buffers::for_sender`]: a send
//!   buffer for its latency and bit rate, and libsrt's minimum receive side (see
//!   `buffers.rs` for where libsrt's memory goes). They are pre-bind options: set on a
//!   caller before `srt_connect`, and on an accepted socket in the listen callback
//!   ([`Decision::Accept`]'s `buffers`), where libsrt has not opened it yet.
//! - **Close**: live mode has no linger; [`SrtStream::flush`] before dropping a stream
//!   whose tail matters.
//! - SRT over UDP cannot tell "no listener" from "no answer": connecting to a closed port
//!   is [`SrtError::Timeout`] after `connect_timeout`.

#![allow(unsafe_code)]

mod addr;
mod buffers;
mod error;
mod ffi;
mod heap;
mod listener;
mod log;
mod msgctrl;
mod reactor;
mod socket;
mod stats;
mod stream;
mod udp;

use std::sync::Once;

pub use buffers::Buffers;
pub use error::{reject_reason_str, SrtError};
pub use heap::release_free_memory;
pub use listener::{
    Accepted, ConnectRequest, Decision, ListenerOptions, RejectCode, Rejection, SrtListener,
    DORMANT_AFTER,
};
pub use log::{set_libsrt_log_level, share_log_budget, LibsrtLogLevel};
pub use msgctrl::{monotonic_now_us, TimedMessage, TimedOptions, TimedStream};
pub use reactor::epoll_waits;
pub use stats::SrtStats;
pub use stream::{CallerOptions, SrtStream, MAX_PAYLOAD, RECV_BUFFER_SIZE};

/// AES key length of an encrypted connection (`SRTO_PBKEYLEN`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyLen {
    Aes128,
    Aes192,
    Aes256,
}

impl KeyLen {
    /// The key length in bytes, the value of `SRTO_PBKEYLEN`.
    pub fn bytes(self) -> i32 {
        match self {
            KeyLen::Aes128 => 16,
            KeyLen::Aes192 => 24,
            KeyLen::Aes256 => 32,
        }
    }

    /// The inverse of [`KeyLen::bytes`]; `None` for 0 (unset/unencrypted) and other values.
    pub fn from_bytes(bytes: i32) -> Option<Self> {
        match bytes {
            16 => Some(KeyLen::Aes128),
            24 => Some(KeyLen::Aes192),
            32 => Some(KeyLen::Aes256),
            _ => None,
        }
    }
}

/// Passphrase (10 to 79 bytes) and key length of an encrypted connection.
#[derive(Clone, PartialEq, Eq)]
pub struct Encryption {
    pub passphrase: String,
    pub key_len: KeyLen,
}

impl std::fmt::Debug for Encryption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The passphrase is a secret: never in logs.
        f.debug_struct("Encryption")
            .field("passphrase", &"***")
            .field("key_len", &self.key_len)
            .finish()
    }
}

/// Initialises libsrt once (`srt_startup`) and routes its log to `tracing`. Every entry
/// point calls it; calling it again does nothing.
pub fn startup() {
    static START: Once = Once::new();
    START.call_once(|| {
        // SAFETY: srt_startup may be called at any time; Once makes it happen once.
        let rc = unsafe { ffi::srt_startup() };
        if rc < 0 {
            tracing::error!(target: "libsrt", "srt_startup failed");
        }
        log::install();
    });
}

/// The libsrt version linked, as (major, minor, patch).
pub fn libsrt_version() -> (u32, u32, u32) {
    startup();
    // SAFETY: srt_getversion only returns a constant.
    let v = unsafe { ffi::srt_getversion() };
    (v >> 16, (v >> 8) & 0xff, v & 0xff)
}
