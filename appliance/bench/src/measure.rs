//! The measurement shared by every subcommand: per-connection byte counters, the phases
//! (connect, warm-up, steady window) and the server process's CPU and memory read from /proc.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// Linux reports utime/stime in USER_HZ ticks, 100 per second on every mainstream platform.
const TICKS_PER_SECOND: f64 = 100.0;

/// Counters of one reader, player or sink connection.
#[derive(Debug, Default)]
pub struct Slot {
    /// Media bytes received so far (FLV tag bodies for RTMP, TS bytes for SRT).
    pub bytes: AtomicU64,
    /// Set when the first media byte arrives.
    pub connected: AtomicBool,
    /// Set when the connection ended or failed before the run was over.
    pub ended: AtomicBool,
    /// Packets lost / dropped as too late, as libsrt counts them (SRT only).
    pub srt_lost: AtomicU64,
    pub srt_dropped: AtomicU64,
    /// Milliseconds from the start of the attempt to the first media byte.
    pub first_byte_ms: AtomicU64,
}

impl Slot {
    pub fn add(&self, n: usize, started: Instant) {
        if !self.connected.swap(true, Ordering::Relaxed) {
            let ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            self.first_byte_ms.store(ms, Ordering::Relaxed);
        }
        self.bytes.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// All connections of a run; sinks add theirs as publishers arrive.
#[derive(Debug, Default)]
pub struct Slots(Mutex<Vec<Arc<Slot>>>);

impl Slots {
    pub fn with_count(count: usize) -> Self {
        Self(Mutex::new((0..count).map(|_| Arc::default()).collect()))
    }

    pub fn add(&self) -> Arc<Slot> {
        let slot = Arc::<Slot>::default();
        self.lock().push(slot.clone());
        slot
    }

    pub fn get(&self, i: usize) -> Option<Arc<Slot>> {
        self.lock().get(i).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Arc<Slot>>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn snapshot(&self) -> Vec<Arc<Slot>> {
        self.lock().clone()
    }

    fn connected(&self) -> usize {
        self.lock()
            .iter()
            .filter(|s| s.connected.load(Ordering::Relaxed))
            .count()
    }
}

/// How a run is timed and judged.
#[derive(Debug, Clone)]
pub struct Plan {
    pub mode: &'static str,
    /// Connections expected; the warm-up starts when all have brought media (or at the
    /// connect deadline).
    pub expected: usize,
    pub connect_timeout: Duration,
    pub warmup: Duration,
    pub window: Duration,
    /// Server whose CPU and memory are read, if any...
    pub pid: Option<u32>,
    /// ...or the file holding its pid, read when the window starts (a sink starts first).
    pub pid_file: Option<std::path::PathBuf>,
    /// A connection that receives less than 90 % of this in the window is incomplete.
    pub expect_mbps: Option<f64>,
}

#[derive(Debug, Clone, Copy)]
struct CpuSample {
    at: Instant,
    server_ticks: Option<u64>,
    own_ticks: Option<u64>,
    host: Option<(u64, u64)>,
}

fn sample(pid: Option<u32>) -> CpuSample {
    CpuSample {
        at: Instant::now(),
        server_ticks: pid.and_then(|p| proc_ticks(&format!("/proc/{p}/stat"))),
        own_ticks: proc_ticks("/proc/self/stat"),
        host: host_ticks(),
    }
}

/// utime + stime of a process, from the fields after the command name.
fn proc_ticks(path: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(path).ok()?;
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After ")" the first field is the state (field 3); utime and stime are fields 14, 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// (busy, total) ticks of the whole machine.
fn host_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: u64 = v.iter().sum();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    Some((total - idle, total))
}

/// A `kB` field of /proc/PID/status (VmRSS, VmHWM).
fn status_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn pct(ticks: Option<u64>, before: Option<u64>, secs: f64) -> Value {
    match (ticks, before) {
        (Some(a), Some(b)) if secs > 0.0 => {
            json!(round1(
                (a.saturating_sub(b)) as f64 / TICKS_PER_SECOND / secs * 100.0
            ))
        }
        _ => Value::Null,
    }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn mbps(bytes: u64, secs: f64) -> f64 {
    if secs > 0.0 {
        bytes as f64 * 8.0 / secs / 1e6
    } else {
        0.0
    }
}

/// Waits for the connections, lets them warm up, measures the steady window and returns the
/// report (one JSON object). The caller cancels its tasks afterwards.
pub async fn run(plan: &Plan, slots: &Slots) -> Value {
    let start = Instant::now();
    while slots.connected() < plan.expected && start.elapsed() < plan.connect_timeout {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let connect_s = start.elapsed().as_secs_f64();
    tokio::time::sleep(plan.warmup).await;
    let pid = plan.pid.or_else(|| {
        let file = plan.pid_file.as_ref()?;
        std::fs::read_to_string(file).ok()?.trim().parse().ok()
    });

    let before_slots = slots.snapshot();
    let before: Vec<u64> = before_slots
        .iter()
        .map(|s| s.bytes.load(Ordering::Relaxed))
        .collect();
    let ended_before: Vec<bool> = before_slots
        .iter()
        .map(|s| s.ended.load(Ordering::Relaxed))
        .collect();
    let cpu0 = sample(pid);
    let mut rss_max_kb = 0;
    let window_end = cpu0.at + plan.window;
    while Instant::now() < window_end {
        if let Some(kb) = pid.and_then(|p| status_kb(p, "VmRSS:")) {
            rss_max_kb = rss_max_kb.max(kb);
        }
        tokio::time::sleep(Duration::from_millis(250).min(window_end - Instant::now())).await;
    }
    let cpu1 = sample(pid);
    let secs = (cpu1.at - cpu0.at).as_secs_f64();

    // Connections that arrived during the window (sinks) count from zero.
    let after_slots = slots.snapshot();
    let mut window_bytes = Vec::with_capacity(after_slots.len());
    let mut first_byte_ms = Vec::new();
    let (mut failed, mut incomplete, mut lost, mut dropped) = (0, 0, 0, 0);
    for (i, s) in after_slots.iter().enumerate() {
        let b = s
            .bytes
            .load(Ordering::Relaxed)
            .saturating_sub(before.get(i).copied().unwrap_or(0));
        window_bytes.push(b);
        let connected = s.connected.load(Ordering::Relaxed);
        if connected {
            first_byte_ms.push(s.first_byte_ms.load(Ordering::Relaxed));
        }
        let ended =
            s.ended.load(Ordering::Relaxed) || ended_before.get(i).copied().unwrap_or(false);
        let short = plan.expect_mbps.is_some_and(|e| mbps(b, secs) < 0.9 * e);
        if !connected {
            failed += 1;
        } else if ended || short {
            incomplete += 1;
        }
        lost += s.srt_lost.load(Ordering::Relaxed);
        dropped += s.srt_dropped.load(Ordering::Relaxed);
    }
    // Expected connections that never showed up (sinks) are failures too.
    failed += plan.expected.saturating_sub(after_slots.len());

    let mut rates: Vec<f64> = window_bytes.iter().map(|&b| mbps(b, secs)).collect();
    rates.resize(rates.len().max(plan.expected), 0.0);
    rates.sort_by(f64::total_cmp);
    first_byte_ms.sort_unstable();
    let median = |v: &[f64]| v.get(v.len() / 2).copied().unwrap_or(0.0);

    let host = match (cpu0.host, cpu1.host) {
        (Some((b0, t0)), Some((b1, t1))) if t1 > t0 => {
            json!(round1((b1 - b0) as f64 / (t1 - t0) as f64 * 100.0))
        }
        _ => Value::Null,
    };
    let rss_end = pid.and_then(|p| status_kb(p, "VmRSS:"));
    let rss_hwm = pid.and_then(|p| status_kb(p, "VmHWM:"));
    json!({
        "mode": plan.mode,
        "expected": plan.expected,
        "connected": first_byte_ms.len(),
        "connect_s": round1(connect_s),
        "window_s": round1(secs),
        "failed": failed,
        "incomplete": incomplete,
        "min_mbps": round2(rates.first().copied().unwrap_or(0.0)),
        "median_mbps": round2(median(&rates)),
        "max_mbps": round2(rates.last().copied().unwrap_or(0.0)),
        "first_byte_ms_median": first_byte_ms.get(first_byte_ms.len() / 2),
        "first_byte_ms_max": first_byte_ms.last(),
        "srt_lost": lost,
        "srt_dropped": dropped,
        "server_cpu_pct": pct(cpu1.server_ticks, cpu0.server_ticks, secs),
        "server_rss_window_max_kb": pid.map(|_| rss_max_kb),
        "server_rss_end_kb": rss_end,
        "server_rss_peak_kb": rss_hwm,
        "tool_cpu_pct": pct(cpu1.own_ticks, cpu0.own_ticks, secs),
        "host_busy_pct": host,
        "window_bytes": window_bytes,
    })
}
