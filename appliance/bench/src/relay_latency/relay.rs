//! The relay role: leg 1 from the source, leg 2 to the sink, both as caller.
//!
//! `normal` is Relevo's path today: leg 1 with TSBPD delivers each packet at its source time
//! plus leg 1's latency, and leg 2 stamps it "now", so the sink plays it a second latency
//! later. `low` receives with TSBPD off and re-stamps each packet with its source time, so
//! the sink plays it at source time plus leg 2's latency. With TSBPD off libsrt stamps the
//! packet with its raw timestamp (time since the source's connection start), so the relay
//! maps it to the local clock itself, as TSBPD does: the offset is the smallest
//! (arrival − timestamp) seen, i.e. the least-delayed packet's. The source's libsrt stamps
//! each transmission with its own sending time when its peer has no TSBPD (`packData`), so
//! a retransmission looks younger than it is: its time is capped by the packets after it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use relevo_srt::{
    monotonic_now_us, SrtError, SrtStats, TimedMessage, TimedOptions, TimedStream, RECV_BUFFER_SIZE,
};
use serde_json::{json, Value};

use super::Mode;

/// Packets between two snapshots of libsrt's counters (a closed socket has none left).
const STATS_EVERY: u64 = 256;
/// Handshake wait; long because leg 1 may drop the source's handshake answers too.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Kept open after leg 1 closes so the sink plays the tail.
const TAIL: Duration = Duration::from_secs(1);

/// What the low-latency forwarder did, for the report.
#[derive(Debug, Default)]
struct Counters {
    forwarded: u64,
    /// Messages libsrt handed out ahead of an earlier one (TSBPD off, "in order" flag clear).
    out_of_order_reads: u64,
    /// Sequence numbers given up after waiting leg 1's latency.
    skipped: u64,
    /// Messages that came after their number had been given up, or twice.
    discarded: u64,
    /// The largest wait of a packet in the relay (µs), from its arrival to its sending.
    max_hold_us: i64,
    /// The last counters of both legs read while connected.
    leg1: SrtStats,
    leg2: SrtStats,
}

impl Counters {
    fn forwarded_one(&mut self, inp: &TimedStream, out: &TimedStream) {
        self.forwarded += 1;
        if self.forwarded.is_multiple_of(STATS_EVERY) {
            self.leg1 = inp.stats();
            self.leg2 = out.stats();
        }
    }
}

pub async fn run(
    from: SocketAddr,
    to: SocketAddr,
    mode: Mode,
    in_latency_ms: u32,
    out_latency_ms: u32,
) -> anyhow::Result<Value> {
    // Leg 2 first, so that nothing waits once the source starts sending.
    let out = TimedStream::connect(to, options(out_latency_ms, true)).await?;
    let inp = TimedStream::connect(from, options(in_latency_ms, mode == Mode::Normal)).await?;
    eprintln!(
        "relay: {mode:?}, leg 1 TSBPD {} latency {} ms",
        inp.tsbpd(),
        inp.recv_latency_ms()
    );
    let counters = match mode {
        Mode::Normal => normal(&inp, &out).await?,
        Mode::Low | Mode::LowUnordered => {
            let budget_us = i64::from(in_latency_ms) * 1000;
            low(&inp, &out, budget_us, mode == Mode::Low).await?
        }
    };
    tokio::time::sleep(TAIL + Duration::from_millis(u64::from(out_latency_ms))).await;
    Ok(json!({
        "role": "relay",
        "mode": format!("{mode:?}"),
        "forwarded": counters.forwarded,
        "out_of_order_reads": counters.out_of_order_reads,
        "skipped": counters.skipped,
        "discarded": counters.discarded,
        "max_hold_ms": counters.max_hold_us as f64 / 1000.0,
        "leg1": leg_json(&counters.leg1),
        "leg2": leg_json(&counters.leg2),
    }))
}

fn options(latency_ms: u32, tsbpd: bool) -> TimedOptions {
    TimedOptions {
        stream_id: None,
        latency_ms,
        tsbpd,
        connect_timeout: CONNECT_TIMEOUT,
    }
}

fn leg_json(s: &SrtStats) -> Value {
    json!({
        "pkt_recv": s.pkt_recv,
        "pkt_loss_recv": s.pkt_loss_recv,
        "pkt_drop_recv": s.pkt_drop_recv,
        "pkt_sent": s.pkt_sent,
        "pkt_retrans": s.pkt_retrans,
        "pkt_drop_send": s.pkt_drop_send,
        "recv_latency_ms": s.recv_latency_ms,
        "send_latency_ms": s.send_latency_ms,
    })
}

/// Relevo today: receive at the play time, send "now".
async fn normal(inp: &TimedStream, out: &TimedStream) -> anyhow::Result<Counters> {
    let mut c = Counters::default();
    let mut buf = vec![0u8; RECV_BUFFER_SIZE];
    loop {
        match inp.recv_timed(&mut buf).await {
            Ok(m) => {
                out.send_timed(&buf[..m.len], None).await?;
                c.forwarded_one(inp, out);
            }
            Err(SrtError::Closed) => return Ok(c),
            Err(e) => return Err(e.into()),
        }
    }
}

/// A received packet waiting for its turn.
struct Held {
    data: Vec<u8>,
    /// Source time on the local clock (µs).
    source_us: i64,
    arrived_us: i64,
}

/// The low-latency path: TSBPD off on leg 1, source times on leg 2.
async fn low(
    inp: &TimedStream,
    out: &TimedStream,
    budget_us: i64,
    reorder: bool,
) -> anyhow::Result<Counters> {
    let mut c = Counters::default();
    let mut buf = vec![0u8; RECV_BUFFER_SIZE];
    let mut offset_us = i64::MAX;
    let mut seqs = Unwrap::default();
    let mut highest: Option<i64> = None;
    let mut next: Option<i64> = None;
    let mut held: BTreeMap<i64, Held> = BTreeMap::new();
    loop {
        // Wake for the oldest waiting packet's deadline even when nothing arrives.
        let wait = held.first_key_value().map(|(_, h)| {
            let us = h.source_us + budget_us - monotonic_now_us();
            Duration::from_micros(u64::try_from(us).unwrap_or(0))
        });
        let received = tokio::select! {
            r = inp.recv_timed(&mut buf) => Some(r),
            () = tokio::time::sleep(wait.unwrap_or(Duration::from_secs(3600))), if wait.is_some() => None,
        };
        if let Some(r) = received {
            let m: TimedMessage = match r {
                Ok(m) => m,
                Err(SrtError::Closed) => return Ok(c),
                Err(e) => return Err(e.into()),
            };
            let now = monotonic_now_us();
            offset_us = offset_us.min(now - m.srctime_us);
            let seq = seqs.unwrap(m.seq);
            if highest.is_some_and(|h| seq < h) {
                c.out_of_order_reads += 1;
            }
            highest = Some(highest.map_or(seq, |h| h.max(seq)));
            let h = Held {
                data: buf[..m.len].to_vec(),
                source_us: m.srctime_us + offset_us,
                arrived_us: now,
            };
            if !reorder {
                send(out, &h, &mut c).await?;
                c.forwarded_one(inp, out);
                continue;
            }
            if next.is_some_and(|n| seq < n) || held.contains_key(&seq) {
                c.discarded += 1;
                continue;
            }
            next.get_or_insert(seq);
            held.insert(seq, h);
        }
        // Release in order; give up a gap once the packet after it has waited the budget.
        while let Some((&first, h)) = held.first_key_value() {
            let n = next.unwrap_or(first);
            if first != n {
                if monotonic_now_us() < h.source_us + budget_us {
                    break;
                }
                c.skipped += u64::try_from(first - n).unwrap_or(0);
            }
            if let Some(mut h) = held.remove(&first) {
                // A retransmitted packet carries its retransmission time (the source only
                // stamps origin times for a TSBPD receiver): it was made before the packets
                // already waiting behind it.
                if let Some((_, after)) = held.first_key_value() {
                    h.source_us = h.source_us.min(after.source_us);
                }
                send(out, &h, &mut c).await?;
                c.forwarded_one(inp, out);
            }
            next = Some(first + 1);
        }
    }
}

async fn send(out: &TimedStream, h: &Held, c: &mut Counters) -> anyhow::Result<()> {
    out.send_timed(&h.data, Some(h.source_us)).await?;
    c.max_hold_us = c.max_hold_us.max(monotonic_now_us() - h.arrived_us);
    Ok(())
}

/// Extends libsrt's 31-bit packet sequence numbers to a monotonic i64.
#[derive(Debug, Default)]
struct Unwrap {
    last: Option<(i32, i64)>,
}

impl Unwrap {
    fn unwrap(&mut self, seq: i32) -> i64 {
        let value = match self.last {
            None => i64::from(seq),
            Some((raw, value)) => {
                // Signed 31-bit distance: shift the sign bit into place and back.
                let d = (seq.wrapping_sub(raw) << 1) >> 1;
                value + i64::from(d)
            }
        };
        if self.last.is_none_or(|(_, v)| value > v) {
            self.last = Some((seq, value));
        }
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_numbers_unwrap_across_the_31_bit_wrap() {
        let mut u = Unwrap::default();
        let top = 0x7fff_ffff;
        assert_eq!(u.unwrap(top - 1), i64::from(top - 1));
        assert_eq!(u.unwrap(0), i64::from(top) + 1);
        // A late one from before the wrap.
        assert_eq!(u.unwrap(top), i64::from(top));
        assert_eq!(u.unwrap(1), i64::from(top) + 2);
    }
}
