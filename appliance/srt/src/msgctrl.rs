//! [`TimedStream`]: a live-mode caller whose messages carry libsrt's source time, through
//! `srt_recvmsg2`/`srt_sendmsg2` and `SRT_MSGCTRL`, with TSBPD optional on receive. It is the
//! binding side of the low-latency relay study (#19 point 3); [`crate::SrtStream`] stays the
//! stream of the engine.
//!
//! What libsrt 1.5.1 does with the times (read in its source, checked by `tests/msgctrl.rs`):
//! - `srctime` is microseconds of libsrt's steady clock, `CLOCK_MONOTONIC` on Linux
//!   ([`monotonic_now_us`] reads the same clock).
//! - Received with TSBPD on, `srctime` is the packet's *delivery* time, source time plus the
//!   negotiated latency (`CRcvBufferNew::readMessage` sets it from `getPktTsbPdTime`), not the
//!   source time the API documentation promises: a relay passing it on unchanged adds the
//!   incoming latency again.
//! - Received with TSBPD off (`SRTO_TSBPDMODE` = false), the TSBPD time base is never set
//!   (`updateSrtRcvSettings` only sets it when TSBPD was negotiated), so `srctime` is the raw
//!   packet timestamp: microseconds since the *sender's* connection start, on no local
//!   clock. The caller maps it to the local clock itself. And since the sender only stamps
//!   origin times for a TSBPD receiver (`packData`), each transmission carries its own
//!   sending time: a retransmitted packet looks younger than the packets after it.
//! - Sending with a `srctime` older than the socket's start time is refused (`sendmsg2`:
//!   "Wrong source time"), and a `srctime` is ignored unless TSBPD was negotiated on the
//!   socket: [`TimedStream::try_send_timed`] clamps it to the moment the connection was made.
//! - With TSBPD off on receive, libsrt hands out messages sent with the "in order" flag
//!   clear (the default of `srt_sendmsg`, `srt_send`, ffmpeg and srt-live-transmit) as soon
//!   as they are complete, *ahead of a gap*: [`TimedMessage::seq`] lets the caller restore the
//!   order. Nothing on the receiving side drops a packet that never comes, and the handshake
//!   of a TSBPD-off caller does not offer too-late drop (`SRT_OPT_TLPKTDROP` is only sent
//!   with TSBPD), so the sender never gives up on it either. (A *listener* with TSBPD off
//!   still answers with the flag, so its sender drops after max(latency +
//!   `SRTO_SNDDROPDELAY`, 1000 ms) + 20 ms: `sndDropTooLate`.)

use std::net::SocketAddr;
use std::time::Duration;

use libc::{c_char, c_int};

use crate::error::{self, SrtError};
use crate::ffi;
use crate::socket::OwnedSocket;
use crate::stats::SrtStats;
use crate::stream::{connect_caller, CallerOptions, MAX_PAYLOAD};

/// Options of a [`TimedStream`] caller.
#[derive(Debug, Clone)]
pub struct TimedOptions {
    pub stream_id: Option<String>,
    /// `SRTO_LATENCY` (both directions; the handshake takes the larger of both peers').
    pub latency_ms: u32,
    /// `SRTO_TSBPDMODE`: false delivers each message as soon as it is complete.
    pub tsbpd: bool,
    pub connect_timeout: Duration,
}

impl Default for TimedOptions {
    fn default() -> Self {
        Self {
            stream_id: None,
            latency_ms: 120,
            tsbpd: true,
            connect_timeout: Duration::from_secs(3),
        }
    }
}

/// One received message: its length in the caller's buffer, libsrt's `srctime` (see the
/// module documentation for what it means) and its packet sequence number (31 bits,
/// wrapping).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimedMessage {
    pub len: usize,
    pub srctime_us: i64,
    pub seq: i32,
}

/// A live-mode SRT caller with source times. Dropping it closes the socket.
#[derive(Debug)]
pub struct TimedStream {
    sock: OwnedSocket,
    peer: SocketAddr,
    /// [`monotonic_now_us`] when the handshake completed: no earlier than libsrt's start
    /// time of the socket, so a `srctime` clamped to it is never refused.
    connected_at_us: i64,
}

impl TimedStream {
    /// Connects as caller; errors as [`crate::SrtStream::connect`].
    pub async fn connect(addr: SocketAddr, opts: TimedOptions) -> Result<Self, SrtError> {
        let caller = CallerOptions {
            stream_id: opts.stream_id,
            latency_ms: opts.latency_ms,
            connect_timeout: opts.connect_timeout,
            ..CallerOptions::default()
        };
        let tsbpd = i32::from(opts.tsbpd);
        let (sock, peer) = connect_caller(addr, &caller, |s| {
            s.set_int(ffi::SRTO_TSBPDMODE, tsbpd, "set SRTO_TSBPDMODE")
        })
        .await?;
        Ok(Self {
            sock,
            peer,
            connected_at_us: monotonic_now_us(),
        })
    }

    /// Receives one message with its source time and sequence number;
    /// [`SrtError::Closed`] once the connection is gone.
    pub async fn recv_timed(&self, buf: &mut [u8]) -> Result<TimedMessage, SrtError> {
        loop {
            match self.try_recv_timed(buf) {
                Err(SrtError::WouldBlock) => self.sock.ready.readable().await,
                other => return other,
            }
        }
    }

    /// Non-blocking [`TimedStream::recv_timed`].
    pub fn try_recv_timed(&self, buf: &mut [u8]) -> Result<TimedMessage, SrtError> {
        let len = c_int::try_from(buf.len()).unwrap_or(c_int::MAX);
        let mut mctrl = ffi::SRT_MSGCTRL::default();
        // SAFETY: buf is writable for `len` bytes (libsrt writes at most `len`); mctrl is a
        // live SRT_MSGCTRL with the C layout, written by libsrt during the call only.
        let n = unsafe {
            ffi::srt_recvmsg2(
                self.sock.id(),
                buf.as_mut_ptr().cast::<c_char>(),
                len,
                &mut mctrl,
            )
        };
        match n {
            ffi::SRT_ERROR => Err(error::last("srt_recvmsg2")),
            0 => Err(SrtError::Closed),
            n => Ok(TimedMessage {
                len: usize::try_from(n).unwrap_or(0),
                srctime_us: mctrl.srctime,
                seq: mctrl.pktseq,
            }),
        }
    }

    /// Sends one message stamped with `srctime_us` (libsrt's clock; `None`: now), waiting
    /// while the send buffer is full. The peer plays it at that time plus the latency.
    pub async fn send_timed(&self, msg: &[u8], srctime_us: Option<i64>) -> Result<(), SrtError> {
        loop {
            match self.try_send_timed(msg, srctime_us) {
                Err(SrtError::WouldBlock) => self.sock.ready.writable().await,
                other => return other,
            }
        }
    }

    /// Non-blocking [`TimedStream::send_timed`]. A source time from before the connection
    /// is sent as the connection's start (libsrt refuses older ones).
    pub fn try_send_timed(&self, msg: &[u8], srctime_us: Option<i64>) -> Result<(), SrtError> {
        if msg.len() > MAX_PAYLOAD {
            return Err(SrtError::MessageTooLarge {
                len: msg.len(),
                max: MAX_PAYLOAD,
            });
        }
        if msg.is_empty() {
            return Ok(());
        }
        let mut mctrl = ffi::SRT_MSGCTRL {
            srctime: srctime_us.map_or(0, |t| t.max(self.connected_at_us)),
            ..ffi::SRT_MSGCTRL::default()
        };
        // SAFETY: msg is readable for its length (<= 1316, fits c_int) and libsrt copies it;
        // mctrl is a live SRT_MSGCTRL with the C layout (no group data).
        let rc = unsafe {
            ffi::srt_sendmsg2(
                self.sock.id(),
                msg.as_ptr().cast(),
                msg.len() as c_int,
                &mut mctrl,
            )
        };
        if rc == ffi::SRT_ERROR {
            return Err(error::last("srt_sendmsg2"));
        }
        Ok(())
    }

    /// Whether TSBPD is on for what this socket receives (`SRTO_TSBPDMODE`).
    pub fn tsbpd(&self) -> bool {
        self.sock
            .sock
            .get_int(ffi::SRTO_TSBPDMODE, "get SRTO_TSBPDMODE")
            .is_ok_and(|v| v != 0)
    }

    /// The negotiated receive latency (`SRTO_RCVLATENCY`), in ms.
    pub fn recv_latency_ms(&self) -> u32 {
        let ms = self
            .sock
            .sock
            .get_int(ffi::SRTO_RCVLATENCY, "get SRTO_RCVLATENCY");
        ms.ok().and_then(|v| u32::try_from(v).ok()).unwrap_or(0)
    }

    /// Link statistics (totals since connect). All zero if the socket is gone.
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

    pub fn is_connected(&self) -> bool {
        self.sock.sock.state() == ffi::SRTS_CONNECTED
    }
}

/// Now on libsrt's steady clock (`CLOCK_MONOTONIC`), in microseconds: the unit and origin of
/// `SRT_MSGCTRL.srctime`.
pub fn monotonic_now_us() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a writable timespec; CLOCK_MONOTONIC is always available on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec.saturating_mul(1_000_000) + ts.tv_nsec / 1_000
}
