//! The sink role: the final player. An SRT listener with TSBPD at leg 2's latency; for each
//! measurement packet, the delay from the source's send to this delivery (same machine,
//! same monotonic clock), and what arrived missing, twice or out of order.

use std::net::SocketAddr;
use std::time::Duration;

use relevo_srt::{monotonic_now_us, ListenerOptions, SrtError, RECV_BUFFER_SIZE};
use serde_json::{json, Value};

use super::{parse, ACCEPT_TIMEOUT};

/// Packets between two snapshots of libsrt's counters.
const STATS_EVERY: usize = 256;
/// The first packets (about 1.75 s at 6 Mbit/s), left out of the steady-state figures: the
/// start of a connection (handshakes, first estimates of the clocks) is reported apart.
const START_PACKETS: usize = 1000;

pub async fn run(
    listen: SocketAddr,
    latency_ms: u32,
    idle: Duration,
    expect: Option<u64>,
) -> anyhow::Result<Value> {
    let listener = crate::srt::accept_all(listen, latency_ms, ListenerOptions::default().backlog)?;
    eprintln!("sink: listening on {}", listener.local_addr());
    let (stream, _) = tokio::time::timeout(ACCEPT_TIMEOUT, listener.accept()).await??;
    let mut buf = vec![0u8; RECV_BUFFER_SIZE];
    let mut delays_us: Vec<i64> = Vec::new();
    let mut seen: Vec<bool> = Vec::new();
    let (mut duplicates, mut reordered, mut foreign) = (0u64, 0u64, 0u64);
    let mut highest: Option<u64> = None;
    // libsrt's counters, read while connected (a closed socket has none left).
    let mut stats = stream.stats();
    loop {
        let n = match tokio::time::timeout(idle, stream.recv(&mut buf)).await {
            Err(_) | Ok(Err(SrtError::Closed)) => break,
            Ok(Err(e)) => return Err(e.into()),
            Ok(Ok(n)) => n,
        };
        let now = monotonic_now_us();
        let Some((seq, sent_us)) = parse(&buf[..n]) else {
            foreign += 1;
            continue;
        };
        let i = usize::try_from(seq)?;
        if seen.len() <= i {
            seen.resize(i + 1, false);
        }
        if seen[i] {
            duplicates += 1;
            continue;
        }
        seen[i] = true;
        if highest.is_some_and(|h| seq < h) {
            reordered += 1;
        }
        highest = Some(highest.map_or(seq, |h| h.max(seq)));
        delays_us.push(now - sent_us);
        if delays_us.len().is_multiple_of(STATS_EVERY) {
            stats = stream.stats();
        }
    }
    let received = delays_us.len() as u64;
    let span = expect.unwrap_or(seen.len() as u64);
    let all = percentiles(delays_us.clone());
    let steady = percentiles(delays_us.get(START_PACKETS..).unwrap_or(&[]).to_vec());
    Ok(json!({
        "role": "sink",
        "received": received,
        "lost": span.saturating_sub(received),
        "duplicates": duplicates,
        "reordered": reordered,
        "foreign": foreign,
        "delay_ms": all,
        "delay_ms_after_start": steady,
        "pkt_drop_recv": stats.pkt_drop_recv,
        "pkt_loss_recv": stats.pkt_loss_recv,
        "recv_latency_ms": stats.recv_latency_ms,
    }))
}

/// min, p50, p99, p99.9 and max of delays in µs, as milliseconds.
fn percentiles(mut delays_us: Vec<i64>) -> Value {
    delays_us.sort_unstable();
    let pct = |p: f64| -> f64 {
        let Some(last) = delays_us.len().checked_sub(1) else {
            return 0.0;
        };
        let i = ((last as f64) * p).round() as usize;
        delays_us.get(i.min(last)).copied().unwrap_or(0) as f64 / 1000.0
    };
    json!({
        "min": pct(0.0),
        "p50": pct(0.5),
        "p99": pct(0.99),
        "p999": pct(0.999),
        "max": pct(1.0),
    })
}
