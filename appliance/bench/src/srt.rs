//! SRT: many callers reading in one process, and a listener sink that accepts any number of
//! publishers. Both through relevo-srt, the project's libsrt binding.
//!
//! Each reader also checks the MPEG-TS continuity counters of the elementary streams it
//! receives: a message lost anywhere (in libsrt, or dropped by the relay's queue) breaks
//! them, which libsrt's own loss counters do not always see.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use relevo_srt::{
    CallerOptions, Decision, ListenerOptions, SrtError, SrtListener, SrtStream, RECV_BUFFER_SIZE,
};
use tokio_util::sync::CancellationToken;

use crate::measure::{self, Plan, Slot, Slots};

/// Packets between two reads of libsrt's counters.
const STATS_EVERY: u32 = 256;

/// How reader `i` connects.
#[derive(Debug, Clone)]
pub struct Target {
    pub addr: SocketAddr,
    /// Reader `i` calls port + i (one listener per reader, as ffmpeg's tee muxer offers).
    pub distinct_ports: bool,
    /// The same stream id for every reader, or `prefix` + i.
    pub stream_id: Option<String>,
    pub stream_id_prefix: Option<String>,
    pub latency_ms: u32,
    /// `connect_timeout` of one attempt.
    pub attempt: Duration,
}

impl Target {
    fn for_reader(&self, i: usize) -> (SocketAddr, Option<String>) {
        let mut addr = self.addr;
        if self.distinct_ports {
            let port = usize::from(addr.port()) + i;
            addr.set_port(u16::try_from(port).unwrap_or(u16::MAX));
        }
        let sid = match (&self.stream_id, &self.stream_id_prefix) {
            (Some(s), _) => Some(s.clone()),
            (None, Some(p)) => Some(format!("{p}{i}")),
            (None, None) => None,
        };
        (addr, sid)
    }
}

/// `count` SRT callers; each retries its connection until it is accepted, then counts TS bytes.
pub async fn read(target: Target, plan: Plan, ramp: Duration) -> anyhow::Result<serde_json::Value> {
    relevo_srt::startup();
    let slots = Arc::new(Slots::with_count(plan.expected));
    let cc_errors: Vec<Arc<AtomicU64>> = (0..plan.expected).map(|_| Arc::default()).collect();
    let cancel = CancellationToken::new();
    for i in 0..plan.expected {
        let Some(slot) = slots.get(i) else { break };
        let cc = cc_errors.get(i).cloned().unwrap_or_default();
        let (addr, stream_id) = target.for_reader(i);
        let opts = CallerOptions {
            stream_id,
            encryption: None,
            latency_ms: target.latency_ms,
            connect_timeout: target.attempt,
            buffers: None,
        };
        let cancel = cancel.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let stream = loop {
                let attempt = tokio::select! {
                    _ = cancel.cancelled() => return,
                    r = SrtStream::connect(addr, opts.clone()) => r,
                };
                match attempt {
                    Ok(s) => break s,
                    // A listener that is not up yet (ffmpeg's tee opens them one by one) is
                    // tried again at once; a refusal (stream not live yet) a little later.
                    Err(SrtError::Timeout) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                }
            };
            let who = format!("reader {i}");
            receive(&stream, &slot, started, &cancel, &who, Some(&cc)).await;
        });
        if !ramp.is_zero() {
            tokio::time::sleep(ramp).await;
        }
    }
    let mut report = measure::run(&plan, &slots).await;
    cancel.cancel();
    // Per reader, over the whole run (joining included): any loss is a failure of the case.
    let errors: Vec<u64> = cc_errors
        .iter()
        .map(|c| c.load(Ordering::Relaxed))
        .collect();
    let dropped_by: usize = (0..plan.expected)
        .filter_map(|i| slots.get(i))
        .filter(|s| s.srt_dropped.load(Ordering::Relaxed) > 0)
        .count();
    report["ts_cc_errors"] = errors.iter().sum::<u64>().into();
    report["readers_with_cc_errors"] = errors.iter().filter(|&&e| e > 0).count().into();
    report["readers_with_srt_drops"] = dropped_by.into();
    Ok(report)
}

/// MPEG-TS continuity of the elementary streams (PIDs whose payload starts a PES packet):
/// the decoder headers a relay replays to a joiner (PAT, PMT) are not continuous with the
/// live ones, by design, so they are not checked.
struct Continuity {
    /// Last counter per PID; `NONE` until its first PES start.
    last: Vec<u8>,
}

impl Continuity {
    const NONE: u8 = 0xff;
    const TS: usize = 188;

    fn new() -> Self {
        Self {
            last: vec![Self::NONE; 8192],
        }
    }

    /// Counts the breaks in `msg` (whole TS packets).
    fn check(&mut self, msg: &[u8]) -> u64 {
        let mut errors = 0;
        for p in msg.chunks_exact(Self::TS).filter(|p| p[0] == 0x47) {
            let pid = usize::from(p[1] & 0x1f) << 8 | usize::from(p[2]);
            let (afc, cc) = ((p[3] >> 4) & 3, p[3] & 0x0f);
            let af_len = if afc & 2 != 0 {
                usize::from(p[4]) + 1
            } else {
                0
            };
            let discontinuity = afc & 2 != 0 && p[4] > 0 && p[5] & 0x80 != 0;
            let payload = p.get(4 + af_len..).unwrap_or(&[]);
            let Some(last) = self.last.get_mut(pid) else {
                continue;
            };
            if *last == Self::NONE || discontinuity {
                let pes_start = p[1] & 0x40 != 0 && payload.starts_with(&[0, 0, 1]);
                if afc & 1 != 0 && (pes_start || *last != Self::NONE) {
                    *last = cc;
                }
                continue;
            }
            let expected = if afc & 1 != 0 {
                (*last + 1) & 0x0f
            } else {
                *last
            };
            if cc != expected && cc != *last {
                errors += 1;
            }
            *last = cc;
        }
        errors
    }
}

async fn receive(
    stream: &SrtStream,
    slot: &Slot,
    started: Instant,
    cancel: &CancellationToken,
    who: &str,
    cc_errors: Option<&AtomicU64>,
) {
    let mut buf = vec![0u8; RECV_BUFFER_SIZE];
    let mut packets = 0u32;
    let mut continuity = Continuity::new();
    loop {
        let r = tokio::select! {
            _ = cancel.cancelled() => break,
            r = stream.recv(&mut buf) => r,
        };
        match r {
            Ok(0) | Err(SrtError::Closed) => {
                slot.ended.store(true, Ordering::Relaxed);
                eprintln!("{who}: closed by peer");
                break;
            }
            Ok(n) => {
                slot.add(n, started);
                if let (Some(c), Some(msg)) = (cc_errors, buf.get(..n)) {
                    let e = continuity.check(msg);
                    if e > 0 {
                        c.fetch_add(e, Ordering::Relaxed);
                    }
                }
            }
            Err(e) => {
                slot.ended.store(true, Ordering::Relaxed);
                eprintln!("{who}: {e}");
                break;
            }
        }
        packets = packets.wrapping_add(1);
        if packets.is_multiple_of(STATS_EVERY) {
            store_stats(stream, slot);
        }
    }
    store_stats(stream, slot);
}

fn store_stats(stream: &SrtStream, slot: &Slot) {
    let stats = stream.stats();
    let count = |v: i64| u64::try_from(v).unwrap_or(0);
    slot.srt_lost
        .store(count(stats.pkt_loss_recv), Ordering::Relaxed);
    slot.srt_dropped
        .store(count(stats.pkt_drop_recv), Ordering::Relaxed);
}

/// Accepts every caller on `listen` (any stream id, unencrypted) and counts TS bytes per
/// connection.
pub async fn sink(
    listen: SocketAddr,
    latency_ms: u32,
    plan: Plan,
) -> anyhow::Result<serde_json::Value> {
    relevo_srt::startup();
    let listener = accept_all(listen, latency_ms, 256)?;
    let slots = Arc::new(Slots::default());
    let cancel = CancellationToken::new();
    let accept = {
        let (slots, cancel) = (slots.clone(), cancel.clone());
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    _ = cancel.cancelled() => break,
                    a = listener.accept() => a,
                };
                let Ok((stream, info)) = accepted else {
                    continue;
                };
                let slot = slots.add();
                let cancel = cancel.clone();
                tokio::spawn(async move {
                    let who = format!("publisher {}", info.stream_id);
                    receive(&stream, &slot, Instant::now(), &cancel, &who, None).await;
                });
            }
        })
    };
    let report = measure::run(&plan, &slots).await;
    cancel.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(2), accept).await;
    Ok(report)
}

/// An SRT listener on `listen` accepting every caller, unencrypted, at `latency_ms`.
pub fn accept_all(
    listen: SocketAddr,
    latency_ms: u32,
    backlog: i32,
) -> Result<SrtListener, relevo_srt::SrtError> {
    let opts = ListenerOptions {
        backlog,
        latency_ms,
        ..ListenerOptions::default()
    };
    SrtListener::bind(listen, opts, move |_| Decision::Accept {
        encryption: None,
        latency_ms,
        tag: 0,
        buffers: None,
    })
}

#[cfg(test)]
mod tests {
    use super::Continuity;

    /// One TS packet of `pid` with counter `cc`, starting a PES packet or not.
    fn packet(pid: u16, cc: u8, pes_start: bool) -> [u8; 188] {
        let mut p = [0xffu8; 188];
        p[0] = 0x47;
        p[1] = (pid >> 8) as u8 & 0x1f | if pes_start { 0x40 } else { 0 };
        p[2] = pid as u8;
        p[3] = 0x10 | cc; // payload only
        p[4..7].copy_from_slice(if pes_start { &[0, 0, 1] } else { &[9, 9, 9] });
        p
    }

    #[test]
    fn counts_a_missing_packet_of_an_elementary_stream_only() {
        let mut c = Continuity::new();
        let mut msg = Vec::new();
        for (pid, cc, start) in [(0u16, 5, false), (256, 3, true), (256, 4, false)] {
            msg.extend_from_slice(&packet(pid, cc, start));
        }
        assert_eq!(c.check(&msg), 0);
        // PAT replayed out of sequence: not checked. Video 5 lost: one break.
        let msg: Vec<u8> = [
            packet(0, 9, false),
            packet(256, 6, false),
            packet(256, 6, false),
        ]
        .concat();
        assert_eq!(
            c.check(&msg),
            1,
            "a gap counts once, a duplicate not at all"
        );
    }
}
