//! `relay-latency`: the end-to-end latency of an SRT → SRT relay, for #19 point 3. Three
//! roles, each its own process so that `bench/relay-latency.sh` can put the source in a
//! network namespace whose nftables rule drops part of leg 1:
//! - `source`: an SRT listener sending paced 1316-byte packets, each carrying its sequence
//!   number and its send time on the machine's monotonic clock.
//! - `relay` (`relay.rs`): calls the source (leg 1) and the sink (leg 2) and forwards,
//!   either as Relevo does today (`normal`: TSBPD on both legs) or in the low-latency mode
//!   under study (`low`: no TSBPD on leg 1, each packet re-sent with its source time).
//! - `sink` (`sink.rs`): an SRT listener with TSBPD (the final player) that records each
//!   packet's end-to-end delay and the lost, duplicated and reordered sequence numbers.
//!
//! Each role prints one JSON line. All clocks are the same machine's `CLOCK_MONOTONIC`.

mod relay;
mod sink;

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Subcommand, ValueEnum};
use relevo_srt::{monotonic_now_us, ListenerOptions};
use serde_json::{json, Value};

/// Live payload: 7 MPEG-TS packets, as a real SRT source sends.
pub const PAYLOAD: usize = 1316;
/// Marks a measurement packet (the first 8 bytes), so nothing else is mistaken for one.
const MAGIC: u64 = 0x5245_4c45_564f_4c41;
/// How long the source waits for its caller.
const ACCEPT_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Subcommand)]
pub enum Role {
    /// SRT listener sending paced, stamped packets to the one caller it accepts.
    Source {
        #[arg(long)]
        listen: SocketAddr,
        #[arg(long, default_value_t = 200)]
        latency_ms: u32,
        #[arg(long, default_value_t = 6.0)]
        mbps: f64,
        /// How long to send.
        #[arg(long, default_value_t = 25.0)]
        seconds: f64,
    },
    /// Calls the source and the sink and forwards between them.
    Relay {
        #[arg(long)]
        from: SocketAddr,
        #[arg(long)]
        to: SocketAddr,
        #[arg(long, value_enum)]
        mode: Mode,
        /// Leg 1's latency (and, in `low` mode, the longest wait for a lost packet).
        #[arg(long, default_value_t = 200)]
        in_latency_ms: u32,
        #[arg(long, default_value_t = 200)]
        out_latency_ms: u32,
    },
    /// SRT listener (TSBPD on) recording the delay of every packet of one caller.
    Sink {
        #[arg(long)]
        listen: SocketAddr,
        #[arg(long, default_value_t = 200)]
        latency_ms: u32,
        /// Stop after this long without a packet (once packets have come).
        #[arg(long, default_value_t = 3.0)]
        idle_seconds: f64,
        /// Packets the source sent (from its report): the ones never received are lost.
        #[arg(long)]
        expect: Option<u64>,
    },
}

/// How the relay forwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Relevo today: TSBPD on leg 1 (delivery at source time + leg 1's latency), packets
    /// re-sent "now" on leg 2.
    Normal,
    /// TSBPD off on leg 1, the relay restores the order by sequence number (waiting at most
    /// leg 1's latency for a lost packet) and re-sends each packet with its source time.
    Low,
    /// As `low` without restoring the order: packets leave in the order libsrt hands them
    /// out, to show what TSBPD off does on its own.
    LowUnordered,
}

pub async fn run(role: Role) -> anyhow::Result<Value> {
    relevo_srt::startup();
    match role {
        Role::Source {
            listen,
            latency_ms,
            mbps,
            seconds,
        } => source(listen, latency_ms, mbps, Duration::from_secs_f64(seconds)).await,
        Role::Relay {
            from,
            to,
            mode,
            in_latency_ms,
            out_latency_ms,
        } => relay::run(from, to, mode, in_latency_ms, out_latency_ms).await,
        Role::Sink {
            listen,
            latency_ms,
            idle_seconds,
            expect,
        } => {
            sink::run(
                listen,
                latency_ms,
                Duration::from_secs_f64(idle_seconds),
                expect,
            )
            .await
        }
    }
}

/// A measurement packet: magic, sequence number, send time (µs, monotonic), padding.
pub fn stamp(seq: u64, sent_us: i64) -> [u8; PAYLOAD] {
    let mut p = [0u8; PAYLOAD];
    p[..8].copy_from_slice(&MAGIC.to_be_bytes());
    p[8..16].copy_from_slice(&seq.to_be_bytes());
    p[16..24].copy_from_slice(&sent_us.to_be_bytes());
    p
}

/// The sequence number and send time of a measurement packet.
pub fn parse(p: &[u8]) -> Option<(u64, i64)> {
    let word = |r: std::ops::Range<usize>| -> Option<[u8; 8]> { p.get(r)?.try_into().ok() };
    if u64::from_be_bytes(word(0..8)?) != MAGIC {
        return None;
    }
    Some((
        u64::from_be_bytes(word(8..16)?),
        i64::from_be_bytes(word(16..24)?),
    ))
}

async fn source(
    listen: SocketAddr,
    latency_ms: u32,
    mbps: f64,
    length: Duration,
) -> anyhow::Result<Value> {
    let listener = crate::srt::accept_all(listen, latency_ms, ListenerOptions::default().backlog)?;
    eprintln!("source: listening on {}", listener.local_addr());
    let (stream, _) = tokio::time::timeout(ACCEPT_TIMEOUT, listener.accept()).await??;
    let period = Duration::from_secs_f64((PAYLOAD * 8) as f64 / (mbps * 1e6));
    let start = tokio::time::Instant::now();
    let mut seq = 0u64;
    while start.elapsed() < length {
        tokio::time::sleep_until(start + period.mul_f64(seq as f64)).await;
        stream.send(&stamp(seq, monotonic_now_us())).await?;
        seq += 1;
    }
    let stats = stream.stats();
    // Let the last packets be acknowledged and played before the connection closes.
    let _ = stream.flush(Duration::from_secs(5)).await;
    Ok(json!({
        "role": "source",
        "sent": seq,
        "pkt_sent": stats.pkt_sent,
        "pkt_retrans": stats.pkt_retrans,
        "pkt_loss_sent": stats.pkt_loss_sent,
        "pkt_drop_send": stats.pkt_drop_send,
        "send_latency_ms": stats.send_latency_ms,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamp_round_trips() {
        let p = stamp(42, 1_234_567);
        assert_eq!(parse(&p), Some((42, 1_234_567)));
        assert_eq!(parse(&p[..20]), None);
        assert_eq!(parse(&[0u8; PAYLOAD]), None);
    }
}
