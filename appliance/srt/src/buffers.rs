//! [`Buffers`]: libsrt's per-socket buffer options (`SRTO_SNDBUF`, `SRTO_RCVBUF`, `SRTO_FC`)
//! sized for a socket that only sends (a reader of a pull output, a push output), from its
//! latency and the stream's bit rate instead of libsrt's defaults.
//!
//! Where a socket's memory goes in libsrt 1.5.1 (`srtcore/core.cpp` `prepareBuffers`,
//! `buffer_snd.cpp`, `list.cpp`, `buffer_rcv.cpp`):
//! - the send buffer grows by blocks of 32 packets (32 × 1456 bytes) as messages wait for
//!   their ACK, up to `SRTO_SNDBUF`, and never shrinks: a reader that joins with the GOP
//!   cache's burst (2 s of video: about 1200 packets at 6 Mbit/s) keeps a buffer that size
//!   for its whole life;
//! - the receiver's loss list has one 16-byte slot per `SRTO_FC` packet (25600 by default:
//!   400 KiB, written at creation, so resident), and the receive buffer one 16-byte entry per
//!   `SRTO_RCVBUF` packet (8192: 128 KiB): a socket that receives nothing but control
//!   packets needs neither;
//! - the sender's loss list has 2 × the peer's flow window (its `SRTO_FC`/`SRTO_RCVBUF`),
//!   which only the peer decides.
//!
//! These are not for a socket that receives a stream (a publisher, a pull input): libsrt's
//! defaults stay there.

/// Bytes libsrt counts per packet in `SRTO_SNDBUF`/`SRTO_RCVBUF`: MSS 1500 minus the UDP
/// and IP headers (`CPacket::UDP_HDR_SIZE`, 28), as `socketconfig.cpp` divides them.
pub(crate) const OPTION_BYTES_PER_PACKET: u32 = 1472;
/// libsrt's smallest `SRTO_FC` and `SRTO_RCVBUF`, in packets (`DEF_MIN_FLIGHT_PKT`).
pub const MIN_FLIGHT_PACKETS: u32 = 32;
/// libsrt's default `SRTO_SNDBUF`, in packets (8192): never asked above it.
pub const DEFAULT_SEND_PACKETS: u32 = 8192;
/// Smallest send buffer, in packets: two of the fan-out's bursts of 64 messages
/// (`MAX_HELD` in the engine's `srt::send`), so that a burst never waits on the previous one.
pub const MIN_SEND_PACKETS: u32 = 128;
/// Time beyond the latency that a sent packet may wait for its ACK: a round trip on a long
/// path (about 200 ms) and libsrt's 10 ms ACK interval, rounded up.
pub const SEND_MARGIN_MS: u32 = 250;
/// libsrt's sender drops a packet still unacknowledged this long after it was handed over
/// when the latency is shorter (`core.cpp` `sndDropTooLate`: max(peer latency +
/// `SRTO_SNDDROPDELAY`, `SRT_TLPKTDROP_MINTHRESHOLD_MS` 1000) + 2 × 10 ms). The send buffer
/// must hold at least that long: a smaller one says EAGAIN before libsrt's own too-late drop,
/// and an output whose reader lags (a saturated host) then falls behind through our queue
/// instead of staying live with libsrt's drops. Measured: with 50 readers on a busy 2-core
/// host, a 450 ms buffer left every reader at 3.3–5.6 of 6.3 Mbit/s, 400–500 ms behind,
/// where libsrt's defaults kept them at full rate (`bench/run.sh --srt-readers 50`).
pub const SENDER_DROP_FLOOR_MS: u32 = 1020;
/// Headroom over the mean rate, in percent: a keyframe arrives faster than the mean.
pub const SEND_HEADROOM_PCT: u64 = 150;
/// Bit rate assumed when the stream's is not known yet (a push output's first connection):
/// a 1080p60 contribution stream.
pub const FALLBACK_BPS: u64 = 10_000_000;
/// Payload of a live-mode message (7 TS packets).
const PAYLOAD_BYTES: u64 = 1316;

/// libsrt buffer sizes of one socket, in packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Buffers {
    /// `SRTO_SNDBUF`: most messages held for (re)transmission; more makes `srt_sendmsg`
    /// say EAGAIN until ACKs free room.
    pub send: u32,
    /// `SRTO_RCVBUF`: most packets the receive buffer holds.
    pub recv: u32,
    /// `SRTO_FC`: most packets the peer may have in flight to us.
    pub flow: u32,
}

impl Buffers {
    /// For a socket that only sends a stream of `bitrate_bps` (0: unknown, [`FALLBACK_BPS`])
    /// with `latency_ms`: the send buffer holds everything sent within the latency (at least
    /// libsrt's own too-late threshold, [`SENDER_DROP_FLOOR_MS`]) and the ACK margin
    /// ([`SEND_MARGIN_MS`]), with [`SEND_HEADROOM_PCT`] of headroom, at least
    /// [`MIN_SEND_PACKETS`]; the receive side gets libsrt's minimum, since the peer sends us
    /// nothing but control packets.
    ///
    /// A burst larger than that (the GOP cache that a new reader gets at once) is not lost:
    /// `srt_sendmsg` says EAGAIN and the output's queue, which shares the cache's memory,
    /// holds the rest until ACKs make room, a few round trips later.
    pub fn for_sender(latency_ms: u32, bitrate_bps: u64) -> Self {
        let bps = if bitrate_bps == 0 {
            FALLBACK_BPS
        } else {
            bitrate_bps
        };
        let window_ms = u64::from(latency_ms.max(SENDER_DROP_FLOOR_MS)) + u64::from(SEND_MARGIN_MS);
        // packets = bytes/s × window / payload × headroom, in integers, rounded up.
        let bytes = bps / 8 * window_ms / 1000 * SEND_HEADROOM_PCT / 100;
        let packets = bytes.div_ceil(PAYLOAD_BYTES);
        let send = u32::try_from(packets)
            .unwrap_or(u32::MAX)
            .clamp(MIN_SEND_PACKETS, DEFAULT_SEND_PACKETS);
        Self {
            send,
            recv: MIN_FLIGHT_PACKETS,
            flow: MIN_FLIGHT_PACKETS,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn six_megabits_at_200_ms_holds_libsrts_drop_window_with_headroom() {
        let b = Buffers::for_sender(200, 6_000_000);
        // 750 000 B/s × (1.02 + 0.25) s × 1.5 = 1 428 750 B = 1086 packets of 1316.
        assert_eq!(b.send, 1086);
        // Above libsrt's floor the latency counts: 750 000 × 2.25 × 1.5 = 1924 packets.
        assert_eq!(Buffers::for_sender(2000, 6_000_000).send, 1924);
        assert_eq!((b.recv, b.flow), (32, 32));
    }

    #[test]
    fn bounds_hold_at_the_extremes() {
        assert_eq!(Buffers::for_sender(80, 10_000).send, MIN_SEND_PACKETS);
        assert_eq!(
            Buffers::for_sender(1000, 1_000_000_000).send,
            DEFAULT_SEND_PACKETS
        );
        assert_eq!(
            Buffers::for_sender(200, 0),
            Buffers::for_sender(200, FALLBACK_BPS)
        );
    }
}
