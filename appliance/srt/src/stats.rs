//! Link statistics of one connection, read with `srt_bstats` (totals since connect).

use crate::ffi::SRT_TRACEBSTATS;

/// A snapshot of one SRT connection's counters (totals since the connection started).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SrtStats {
    /// Time since the connection started.
    pub uptime_ms: i64,
    /// Smoothed round-trip time.
    pub rtt_ms: f64,
    /// Current sending / receiving rate.
    pub send_rate_mbps: f64,
    pub recv_rate_mbps: f64,
    /// Estimated link bandwidth.
    pub bandwidth_mbps: f64,
    /// Data packets sent, including retransmissions / received.
    pub pkt_sent: i64,
    pub pkt_recv: i64,
    /// Packets reported lost by the peer (sender side) / detected lost (receiver side).
    pub pkt_loss_sent: i64,
    pub pkt_loss_recv: i64,
    /// Packets retransmitted by us.
    pub pkt_retrans: i64,
    /// Packets dropped as too late to send / too late to play.
    pub pkt_drop_send: i64,
    pub pkt_drop_recv: i64,
    /// Packets received that could not be decrypted (wrong key).
    pub pkt_undecrypted: i64,
    /// Payload bytes sent including retransmissions / received.
    pub bytes_sent: u64,
    pub bytes_recv: u64,
    /// Negotiated latency of what we receive (TSBPD delay) and of what we send.
    pub recv_latency_ms: i32,
    pub send_latency_ms: i32,
    /// Unacknowledged data in the send buffer, and undelivered data in the receive buffer.
    pub send_buffer_ms: i32,
    pub recv_buffer_ms: i32,
    pub send_buffer_bytes: i32,
    /// Free space left in the send buffer.
    pub send_buffer_free_bytes: i32,
}

impl From<&SRT_TRACEBSTATS> for SrtStats {
    fn from(p: &SRT_TRACEBSTATS) -> Self {
        Self {
            uptime_ms: p.msTimeStamp,
            rtt_ms: p.msRTT,
            send_rate_mbps: p.mbpsSendRate,
            recv_rate_mbps: p.mbpsRecvRate,
            bandwidth_mbps: p.mbpsBandwidth,
            pkt_sent: p.pktSentTotal,
            pkt_recv: p.pktRecvTotal,
            pkt_loss_sent: p.pktSndLossTotal.into(),
            pkt_loss_recv: p.pktRcvLossTotal.into(),
            pkt_retrans: p.pktRetransTotal.into(),
            pkt_drop_send: p.pktSndDropTotal.into(),
            pkt_drop_recv: p.pktRcvDropTotal.into(),
            pkt_undecrypted: p.pktRcvUndecryptTotal.into(),
            bytes_sent: p.byteSentTotal,
            bytes_recv: p.byteRecvTotal,
            recv_latency_ms: p.msRcvTsbPdDelay,
            send_latency_ms: p.msSndTsbPdDelay,
            send_buffer_ms: p.msSndBuf,
            recv_buffer_ms: p.msRcvBuf,
            send_buffer_bytes: p.byteSndBuf,
            send_buffer_free_bytes: p.byteAvailSndBuf,
        }
    }
}
