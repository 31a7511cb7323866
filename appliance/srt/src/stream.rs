//! [`SrtStream`]: one live-mode SRT connection, as caller ([`SrtStream::connect`]) or accepted
//! by an [`crate::SrtListener`].
//!
//! Every operation is a non-blocking libsrt call; on EAGAIN the task waits for the reactor.
//! `recv` and `send` take `&self`, so one task can receive while another sends (libsrt locks
//! each direction separately). All methods are cancel-safe: nothing is consumed or queued
//! unless the call returns it.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use libc::{c_char, c_int};

use crate::buffers::Buffers;
use crate::error::{self, reject_reason_str, SrtError};
use crate::ffi;
use crate::socket::{CloseGuard, OwnedSocket, Sock, MAX_STREAM_ID};
use crate::stats::SrtStats;
use crate::{Encryption, KeyLen};

/// Largest message [`SrtStream::send`] accepts: the live-mode payload size, 7 TS packets.
pub const MAX_PAYLOAD: usize = ffi::SRT_LIVE_DEF_PLSIZE;
/// A receive buffer of this size holds any live-mode message (MTU 1500 - headers).
pub const RECV_BUFFER_SIZE: usize = ffi::SRT_LIVE_MAX_PLSIZE;

/// Extra wait in `flush` on top of the latency, for the peer's delivery scheduling.
const FLUSH_MARGIN_MS: u64 = 50;
/// How long `connect` waits beyond `connect_timeout` for libsrt to report the outcome.
const CONNECT_GRACE: Duration = Duration::from_secs(1);

/// Options of an outgoing (caller) connection.
#[derive(Debug, Clone)]
pub struct CallerOptions {
    /// Sent in the handshake as `SRTO_STREAMID` (at most 512 bytes).
    pub stream_id: Option<String>,
    pub encryption: Option<Encryption>,
    /// Our receiver latency and the minimum we ask of the peer; the handshake takes the larger
    /// of ours and the peer's for each direction.
    pub latency_ms: u32,
    /// `SRTO_CONNTIMEO`: how long to wait for the handshake.
    pub connect_timeout: Duration,
    /// libsrt's buffer sizes; `None`: libsrt's defaults (for a connection that receives).
    pub buffers: Option<Buffers>,
}

impl Default for CallerOptions {
    fn default() -> Self {
        Self {
            stream_id: None,
            encryption: None,
            latency_ms: 120,
            connect_timeout: Duration::from_secs(3),
            buffers: None,
        }
    }
}

/// One SRT live-mode connection. Dropping it closes the socket (`srt_close`).
#[derive(Debug)]
pub struct SrtStream {
    sock: OwnedSocket,
    peer: SocketAddr,
    stream_id: String,
}

impl SrtStream {
    /// Connects as caller. A handshake refused by the peer gives [`SrtError::Rejected`] with
    /// libsrt's reason (wrong passphrase, or the listener's application code such as 1404);
    /// no answer within `connect_timeout` gives [`SrtError::Timeout`].
    pub async fn connect(addr: SocketAddr, opts: CallerOptions) -> Result<SrtStream, SrtError> {
        let (sock, peer) = connect_caller(addr, &opts, |_| Ok(())).await?;
        Ok(SrtStream {
            sock,
            peer,
            stream_id: opts.stream_id.unwrap_or_default(),
        })
    }

    pub(crate) fn from_accepted(sock: OwnedSocket, peer: SocketAddr, stream_id: String) -> Self {
        Self {
            sock,
            peer,
            stream_id,
        }
    }

    /// Receives one message (live mode: one packet, at most [`RECV_BUFFER_SIZE`] bytes; a
    /// smaller `buf` may fail). Returns [`SrtError::Closed`] once the peer closed or the
    /// connection broke; never `Ok(0)`.
    pub async fn recv(&self, buf: &mut [u8]) -> Result<usize, SrtError> {
        loop {
            match self.try_recv(buf) {
                Err(SrtError::WouldBlock) => self.sock.ready.readable().await,
                other => return other,
            }
        }
    }

    /// Non-blocking [`SrtStream::recv`]: [`SrtError::WouldBlock`] when nothing is ready.
    pub fn try_recv(&self, buf: &mut [u8]) -> Result<usize, SrtError> {
        let len = c_int::try_from(buf.len()).unwrap_or(c_int::MAX);
        // SAFETY: buf is writable for `len` bytes; libsrt writes at most `len`.
        let n = unsafe { ffi::srt_recvmsg(self.sock.id(), buf.as_mut_ptr().cast::<c_char>(), len) };
        match n {
            ffi::SRT_ERROR => Err(error::last("srt_recvmsg")),
            0 => Err(SrtError::Closed),
            n => Ok(usize::try_from(n).unwrap_or(0)),
        }
    }

    /// Sends one message of at most [`MAX_PAYLOAD`] bytes, waiting while the send buffer is
    /// full.
    pub async fn send(&self, msg: &[u8]) -> Result<(), SrtError> {
        loop {
            match self.try_send(msg) {
                Err(SrtError::WouldBlock) => self.sock.ready.writable().await,
                other => return other,
            }
        }
    }

    /// Sends one message without waiting: [`SrtError::WouldBlock`] when the send buffer is
    /// full.
    pub fn try_send(&self, msg: &[u8]) -> Result<(), SrtError> {
        if msg.len() > MAX_PAYLOAD {
            return Err(SrtError::MessageTooLarge {
                len: msg.len(),
                max: MAX_PAYLOAD,
            });
        }
        if msg.is_empty() {
            return Ok(());
        }
        // SAFETY: msg is readable for its length (<= 1316, fits c_int); libsrt copies it.
        let rc = unsafe {
            ffi::srt_sendmsg(
                self.sock.id(),
                msg.as_ptr().cast(),
                msg.len() as c_int,
                -1,
                0,
            )
        };
        if rc == ffi::SRT_ERROR {
            return Err(error::last("srt_sendmsg"));
        }
        Ok(())
    }

    /// Waits until everything sent has been acknowledged by the peer (send buffer empty) and
    /// then one more negotiated latency, by which the peer has delivered it, so that dropping
    /// the stream loses nothing. [`SrtError::Timeout`] if the acknowledgements take longer
    /// than `timeout`.
    pub async fn flush(&self, timeout: Duration) -> Result<(), SrtError> {
        let deadline = Instant::now() + timeout;
        loop {
            let (mut blocks, mut bytes) = (0usize, 0usize);
            // SAFETY: both out-pointers are valid, writable usize locations.
            let rc = unsafe { ffi::srt_getsndbuffer(self.sock.id(), &mut blocks, &mut bytes) };
            if rc == ffi::SRT_ERROR {
                return Err(error::last("srt_getsndbuffer"));
            }
            if blocks == 0 {
                // Acknowledged means in the peer's receive buffer, which delivers each packet
                // one latency after it was sent: wait that long so a close loses nothing.
                let latency = u64::try_from(self.stats().send_latency_ms).unwrap_or(0);
                tokio::time::sleep(Duration::from_millis(latency + FLUSH_MARGIN_MS)).await;
                return Ok(());
            }
            if self.sock.sock.state() != ffi::SRTS_CONNECTED {
                return Err(SrtError::Closed);
            }
            if Instant::now() >= deadline {
                return Err(SrtError::Timeout);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Link statistics (totals since connect, not cleared). All zero if the socket is gone.
    pub fn stats(&self) -> SrtStats {
        let mut perf = ffi::SRT_TRACEBSTATS::default();
        // SAFETY: perf is a writable struct with the exact layout of CBytePerfMon.
        let rc = unsafe { ffi::srt_bstats(self.sock.id(), &mut perf, 0) };
        if rc == ffi::SRT_ERROR {
            return SrtStats::default();
        }
        SrtStats::from(&perf)
    }

    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    /// The stream id: ours as caller, the caller's on an accepted stream.
    pub fn stream_id(&self) -> String {
        self.stream_id.clone()
    }

    /// The AES key length in effect (`None`: unencrypted).
    pub fn key_len(&self) -> Option<KeyLen> {
        self.sock.sock.key_len()
    }

    /// Whether libsrt still considers the connection established.
    /// libsrt's buffer sizes in effect on this connection (`SRTO_SNDBUF`, `SRTO_RCVBUF`,
    /// `SRTO_FC`, in packets).
    pub fn buffers(&self) -> Result<Buffers, SrtError> {
        self.sock.sock.buffers()
    }

    pub fn is_connected(&self) -> bool {
        self.sock.sock.state() == ffi::SRTS_CONNECTED
    }
}

/// A live-mode caller socket with `opts`, and whatever `configure` sets before the handshake,
/// connected to `addr`: the registered socket and the peer's address. Errors as
/// [`SrtStream::connect`]. Shared with [`crate::msgctrl::TimedStream`].
pub(crate) async fn connect_caller(
    addr: SocketAddr,
    opts: &CallerOptions,
    configure: impl FnOnce(Sock) -> Result<(), SrtError>,
) -> Result<(OwnedSocket, SocketAddr), SrtError> {
    let guard = CloseGuard(Some(Sock::create()?));
    let sock = guard.0.unwrap_or(Sock(ffi::SRT_INVALID_SOCK));
    sock.configure_live(opts.latency_ms)?;
    if let Some(sid) = &opts.stream_id {
        if sid.len() > MAX_STREAM_ID {
            return Err(SrtError::InvalidOption(format!(
                "stream id of {} bytes exceeds {MAX_STREAM_ID}",
                sid.len()
            )));
        }
        sock.set_str(ffi::SRTO_STREAMID, sid, "set SRTO_STREAMID")?;
    }
    if let Some(enc) = &opts.encryption {
        sock.set_encryption(enc)?;
    }
    if let Some(b) = &opts.buffers {
        sock.set_buffers(b)?;
    }
    configure(sock)?;
    let timeout_ms = i32::try_from(opts.connect_timeout.as_millis()).unwrap_or(i32::MAX);
    sock.set_int(ffi::SRTO_CONNTIMEO, timeout_ms.max(1), "set SRTO_CONNTIMEO")?;
    let owned = OwnedSocket::register(guard.disarm(), ffi::SRT_EPOLL_IN | ffi::SRT_EPOLL_OUT)?;

    let (raw, len) = crate::addr::to_raw(addr);
    // SAFETY: raw is a valid sockaddr of `len` bytes that outlives the call.
    let rc =
        unsafe { ffi::srt_connect(sock.0, (&raw as *const libc::sockaddr_storage).cast(), len) };
    if rc == ffi::SRT_ERROR {
        let (code, msg) = error::last_error();
        let reason = sock.reject_reason();
        if reason != ffi::SRT_REJ_UNKNOWN {
            return Err(connect_error(reason));
        }
        return Err(error::classify("srt_connect", code, msg));
    }

    let deadline = Instant::now() + opts.connect_timeout + CONNECT_GRACE;
    loop {
        match sock.state() {
            ffi::SRTS_CONNECTED => break,
            ffi::SRTS_INIT | ffi::SRTS_OPENED | ffi::SRTS_CONNECTING => {}
            _ => return Err(connect_error(sock.reject_reason())),
        }
        if Instant::now() >= deadline {
            return Err(SrtError::Timeout);
        }
        owned.ready.writable().await;
    }
    let peer = sock.peer_addr().unwrap_or(addr);
    Ok((owned, peer))
}

/// Maps a reject reason of a failed connection attempt to an error.
fn connect_error(reason: i32) -> SrtError {
    match reason {
        ffi::SRT_REJ_TIMEOUT => SrtError::Timeout,
        ffi::SRT_REJ_SYSTEM => SrtError::Refused,
        code => SrtError::Rejected {
            code,
            reason: reject_reason_str(code),
        },
    }
}
