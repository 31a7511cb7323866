//! SRT: many callers reading in one process, and a listener sink that accepts any number of
//! publishers. Both through relevo-srt, the project's libsrt binding.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
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
    let cancel = CancellationToken::new();
    for i in 0..plan.expected {
        let Some(slot) = slots.get(i) else { break };
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
            receive(&stream, &slot, started, &cancel, &format!("reader {i}")).await;
        });
        if !ramp.is_zero() {
            tokio::time::sleep(ramp).await;
        }
    }
    let report = measure::run(&plan, &slots).await;
    cancel.cancel();
    Ok(report)
}

async fn receive(
    stream: &SrtStream,
    slot: &Slot,
    started: Instant,
    cancel: &CancellationToken,
    who: &str,
) {
    let mut buf = vec![0u8; RECV_BUFFER_SIZE];
    let mut packets = 0u32;
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
            Ok(n) => slot.add(n, started),
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
    let opts = ListenerOptions {
        backlog: 256,
        latency_ms,
        ..ListenerOptions::default()
    };
    let listener = SrtListener::bind(listen, opts, move |_| Decision::Accept {
        encryption: None,
        latency_ms,
        tag: 0,
        buffers: None,
    })?;
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
                    receive(&stream, &slot, Instant::now(), &cancel, &who).await;
                });
            }
        })
    };
    let report = measure::run(&plan, &slots).await;
    cancel.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(2), accept).await;
    Ok(report)
}
