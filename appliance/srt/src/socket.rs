//! A borrowed SRT socket id with typed option accessors, and the owned socket that
//! deregisters from the reactor and closes on drop.
//!
//! Not public: `SrtStream` is built on [`OwnedSocket`]; `SrtListener` keeps its listening
//! socket out of the reactor (`listener::Listening`).

use std::net::SocketAddr;
use std::sync::Arc;

use libc::{c_int, c_void, sockaddr_storage};

use crate::buffers::{self, Buffers};
use crate::error::{self, SrtError};
use crate::ffi::{self, SRTSOCKET};
use crate::reactor::{self, Readiness};
use crate::{addr, KeyLen};

/// Longest stream id libsrt accepts (`MAX_SID_LENGTH`).
pub(crate) const MAX_STREAM_ID: usize = 512;
/// Passphrase bounds enforced by libsrt (`SRTO_PASSPHRASE`).
pub(crate) const PASSPHRASE_LEN: std::ops::RangeInclusive<usize> = 10..=79;

/// An SRT socket id, not owned: option setters and getters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sock(pub SRTSOCKET);

impl Sock {
    pub(crate) fn create() -> Result<Self, SrtError> {
        crate::startup();
        // SAFETY: srt_create_socket has no preconditions once srt_startup has run.
        let id = unsafe { ffi::srt_create_socket() };
        if id == ffi::SRT_INVALID_SOCK {
            return Err(error::last("srt_create_socket"));
        }
        Ok(Self(id))
    }

    pub(crate) fn set_int(self, opt: c_int, value: i32, op: &'static str) -> Result<(), SrtError> {
        let len = std::mem::size_of::<i32>() as c_int;
        // SAFETY: optval points to a live i32 of the given length for the call's duration.
        let rc = unsafe {
            ffi::srt_setsockflag(self.0, opt, (&value as *const i32).cast::<c_void>(), len)
        };
        if rc == ffi::SRT_ERROR {
            return Err(error::last(op));
        }
        Ok(())
    }

    pub(crate) fn set_str(self, opt: c_int, value: &str, op: &'static str) -> Result<(), SrtError> {
        let len = c_int::try_from(value.len())
            .map_err(|_| SrtError::InvalidOption(format!("{op}: value too long")))?;
        // SAFETY: optval points to `len` readable bytes (libsrt copies them, no NUL needed).
        let rc = unsafe { ffi::srt_setsockflag(self.0, opt, value.as_ptr().cast::<c_void>(), len) };
        if rc == ffi::SRT_ERROR {
            return Err(error::last(op));
        }
        Ok(())
    }

    pub(crate) fn get_int(self, opt: c_int, op: &'static str) -> Result<i32, SrtError> {
        let mut value: i32 = 0;
        let mut len = std::mem::size_of::<i32>() as c_int;
        // SAFETY: optval/optlen point to a live i32 and its size; libsrt writes at most that.
        let rc = unsafe {
            ffi::srt_getsockflag(
                self.0,
                opt,
                (&mut value as *mut i32).cast::<c_void>(),
                &mut len,
            )
        };
        if rc == ffi::SRT_ERROR {
            return Err(error::last(op));
        }
        Ok(value)
    }

    /// Options every socket of this crate gets: live mode, non-blocking, 1316-byte payloads.
    pub(crate) fn configure_live(self, latency_ms: u32) -> Result<(), SrtError> {
        self.set_int(ffi::SRTO_TRANSTYPE, ffi::SRTT_LIVE, "set SRTO_TRANSTYPE")?;
        self.set_int(ffi::SRTO_RCVSYN, 0, "set SRTO_RCVSYN")?;
        self.set_int(ffi::SRTO_SNDSYN, 0, "set SRTO_SNDSYN")?;
        self.set_int(
            ffi::SRTO_PAYLOADSIZE,
            ffi::SRT_LIVE_DEF_PLSIZE as i32,
            "set SRTO_PAYLOADSIZE",
        )?;
        self.set_latency(latency_ms)?;
        self.set_int(
            ffi::SRTO_ENFORCEDENCRYPTION,
            1,
            "set SRTO_ENFORCEDENCRYPTION",
        )
    }

    /// Sets both our receiver latency and the minimum we ask of the peer (`SRTO_LATENCY`);
    /// the handshake makes each direction max(receiver's, sender's).
    pub(crate) fn set_latency(self, latency_ms: u32) -> Result<(), SrtError> {
        let ms = i32::try_from(latency_ms)
            .map_err(|_| SrtError::InvalidOption(format!("latency {latency_ms} ms")))?;
        self.set_int(ffi::SRTO_LATENCY, ms, "set SRTO_LATENCY")
    }

    /// Applies [`Buffers`] (pre-bind options: before `srt_connect`, or in the listen callback
    /// on the new socket). `SRTO_FC` first: libsrt clamps `SRTO_RCVBUF` to it.
    pub(crate) fn set_buffers(self, b: &Buffers) -> Result<(), SrtError> {
        let bytes = |packets: u32| {
            i32::try_from(u64::from(packets) * u64::from(buffers::OPTION_BYTES_PER_PACKET))
                .map_err(|_| SrtError::InvalidOption(format!("{packets} packets")))
        };
        let fc = i32::try_from(b.flow)
            .map_err(|_| SrtError::InvalidOption(format!("flow window {}", b.flow)))?;
        self.set_int(ffi::SRTO_FC, fc, "set SRTO_FC")?;
        self.set_int(ffi::SRTO_RCVBUF, bytes(b.recv)?, "set SRTO_RCVBUF")?;
        self.set_int(ffi::SRTO_SNDBUF, bytes(b.send)?, "set SRTO_SNDBUF")
    }

    /// The buffer options in effect, in packets (read back with `srt_getsockflag`).
    pub(crate) fn buffers(self) -> Result<Buffers, SrtError> {
        let packets =
            |bytes: i32| u32::try_from(bytes).unwrap_or(0) / buffers::OPTION_BYTES_PER_PACKET;
        Ok(Buffers {
            send: packets(self.get_int(ffi::SRTO_SNDBUF, "get SRTO_SNDBUF")?),
            recv: packets(self.get_int(ffi::SRTO_RCVBUF, "get SRTO_RCVBUF")?),
            flow: u32::try_from(self.get_int(ffi::SRTO_FC, "get SRTO_FC")?).unwrap_or(0),
        })
    }

    pub(crate) fn set_encryption(self, enc: &crate::Encryption) -> Result<(), SrtError> {
        if !PASSPHRASE_LEN.contains(&enc.passphrase.len()) {
            return Err(SrtError::InvalidOption(format!(
                "passphrase must be {}..={} bytes, got {}",
                PASSPHRASE_LEN.start(),
                PASSPHRASE_LEN.end(),
                enc.passphrase.len()
            )));
        }
        self.set_int(ffi::SRTO_PBKEYLEN, enc.key_len.bytes(), "set SRTO_PBKEYLEN")?;
        self.set_str(ffi::SRTO_PASSPHRASE, &enc.passphrase, "set SRTO_PASSPHRASE")
    }

    /// The key length in effect after the handshake (`None`: not encrypted).
    pub(crate) fn key_len(self) -> Option<KeyLen> {
        let bytes = self.get_int(ffi::SRTO_PBKEYLEN, "get SRTO_PBKEYLEN").ok()?;
        KeyLen::from_bytes(bytes)
    }

    pub(crate) fn state(self) -> c_int {
        // SAFETY: srt_getsockstate accepts any id and returns SRTS_NONEXIST for unknown ones.
        unsafe { ffi::srt_getsockstate(self.0) }
    }

    pub(crate) fn reject_reason(self) -> i32 {
        // SAFETY: srt_getrejectreason accepts any id (returns SRT_REJ_UNKNOWN if unknown).
        unsafe { ffi::srt_getrejectreason(self.0) }
    }

    pub(crate) fn local_addr(self) -> Result<SocketAddr, SrtError> {
        self.addr_with(ffi::srt_getsockname, "srt_getsockname")
    }

    pub(crate) fn peer_addr(self) -> Result<SocketAddr, SrtError> {
        self.addr_with(ffi::srt_getpeername, "srt_getpeername")
    }

    fn addr_with(
        self,
        f: unsafe extern "C" fn(SRTSOCKET, *mut libc::sockaddr, *mut c_int) -> c_int,
        op: &'static str,
    ) -> Result<SocketAddr, SrtError> {
        // SAFETY: sockaddr_storage is plain old data; all-zero is valid.
        let mut storage: sockaddr_storage = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<sockaddr_storage>() as c_int;
        // SAFETY: we pass a writable sockaddr_storage and its size; libsrt writes within it.
        let rc = unsafe {
            f(
                self.0,
                (&mut storage as *mut sockaddr_storage).cast(),
                &mut len,
            )
        };
        if rc == ffi::SRT_ERROR {
            return Err(error::last(op));
        }
        // SAFETY: libsrt wrote a sockaddr_in or sockaddr_in6 into the storage.
        unsafe { addr::from_raw((&storage as *const sockaddr_storage).cast()) }.ok_or(
            SrtError::Other {
                op,
                code: 0,
                msg: "unknown address family".into(),
            },
        )
    }

    pub(crate) fn close(self) {
        // SAFETY: srt_close accepts any id; closing an already closed id only returns an error.
        unsafe { ffi::srt_close(self.0) };
    }
}

/// An SRT socket registered with the reactor; dropping it deregisters and closes it.
#[derive(Debug)]
pub(crate) struct OwnedSocket {
    pub(crate) sock: Sock,
    pub(crate) ready: Arc<Readiness>,
}

impl OwnedSocket {
    /// Takes ownership of `sock` (closing it on failure) and registers it for `events`.
    pub(crate) fn register(sock: Sock, events: c_int) -> Result<Self, SrtError> {
        match reactor::register(sock.0, events) {
            Ok(ready) => Ok(Self { sock, ready }),
            Err(e) => {
                sock.close();
                Err(e)
            }
        }
    }

    pub(crate) fn id(&self) -> SRTSOCKET {
        self.sock.0
    }
}

impl Drop for OwnedSocket {
    fn drop(&mut self) {
        // Deregister first: a late event for this id then finds nothing and is ignored, and
        // SRT ids are not reused soon, so no other socket's waiter can be woken by mistake.
        reactor::deregister(self.sock.0);
        self.sock.close();
    }
}

/// Closes a socket on drop unless disarmed: for setup paths that fail before registration.
pub(crate) struct CloseGuard(pub Option<Sock>);

impl CloseGuard {
    pub(crate) fn disarm(mut self) -> Sock {
        self.0.take().unwrap_or(Sock(ffi::SRT_INVALID_SOCK))
    }
}

impl Drop for CloseGuard {
    fn drop(&mut self) {
        if let Some(s) = self.0.take() {
            s.close();
        }
    }
}
