//! `relevo-bench`: the load tool of `bench/run.sh`. Many light RTMP players or SRT readers in
//! one process, or a light sink for push outputs; each run waits for its connections, warms
//! up, measures a steady window and prints one JSON line: per-connection byte counts, their
//! min/median rate, failed and incomplete connections, and the CPU and memory of the server
//! process given with `--pid` (from /proc, over the same window). A recording counts as one
//! connection: the bytes written under its directory. HLS clients count the media bytes
//! (init and segments) they fetch.

mod files;
mod hls;
mod http;
mod measure;
mod relay_latency;
mod rtmp;
mod srt;

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "relevo-bench",
    about = "Load tool for Relevo's benchmark (bench/run.sh)"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// N concurrent RTMP players of one URL, counting FLV tag bytes per player.
    RtmpPlay {
        #[arg(long)]
        url: String,
        #[command(flatten)]
        common: Common,
    },
    /// N concurrent SRT callers reading, counting TS bytes per reader.
    SrtRead {
        #[arg(long)]
        addr: SocketAddr,
        /// The stream id of every reader.
        #[arg(long, conflicts_with = "streamid_prefix")]
        streamid: Option<String>,
        /// Reader i sends this prefix followed by i.
        #[arg(long)]
        streamid_prefix: Option<String>,
        /// Reader i calls the port of --addr plus i (one listener per reader).
        #[arg(long)]
        distinct_ports: bool,
        #[arg(long, default_value_t = 120)]
        latency_ms: u32,
        /// How long one connection attempt waits for the handshake; readers retry until
        /// accepted.
        #[arg(long, default_value_t = 1000)]
        attempt_ms: u64,
        #[command(flatten)]
        common: Common,
    },
    /// RTMP server accepting any number of publishers (any app/key); --count is how many
    /// are expected.
    RtmpSink {
        #[arg(long)]
        listen: SocketAddr,
        #[command(flatten)]
        common: Common,
    },
    /// The bytes a recorder writes under a directory, as one connection (use --count 1).
    FileGrowth {
        #[arg(long)]
        dir: std::path::PathBuf,
        #[command(flatten)]
        common: Common,
    },
    /// N light HLS clients of one media playlist: each reloads it every half target
    /// duration and fetches every new whole segment (and the init segment), on one
    /// keep-alive connection.
    HlsClients {
        /// `http://HOST:PORT/…/index.m3u8`.
        #[arg(long)]
        url: String,
        /// Client i connects from 127.0.0.(2 + i mod 250), as players on distinct machines
        /// (a server's per-address connection cap would otherwise count them as one).
        #[arg(long)]
        distinct_sources: bool,
        #[command(flatten)]
        common: Common,
    },
    /// SRT listener accepting any number of publishers (any stream id, unencrypted).
    SrtSink {
        #[arg(long)]
        listen: SocketAddr,
        #[arg(long, default_value_t = 120)]
        latency_ms: u32,
        #[command(flatten)]
        common: Common,
    },
    /// SRT → SRT relay latency (#19): source, relay (normal or low-latency) and sink roles,
    /// driven by bench/relay-latency.sh.
    RelayLatency {
        #[command(subcommand)]
        role: relay_latency::Role,
    },
}

#[derive(Debug, Args)]
struct Common {
    /// Connections (players, readers, HLS clients, or publishers expected at a sink).
    #[arg(long, visible_alias = "clients", default_value_t = 1)]
    count: usize,
    /// Length of the measured steady window.
    #[arg(long, default_value_t = 15.0)]
    seconds: f64,
    /// Time after all connections have media and before the window starts.
    #[arg(long, default_value_t = 3.0)]
    warmup: f64,
    /// The longest wait for all connections to bring media.
    #[arg(long, default_value_t = 30.0)]
    connect_timeout: f64,
    /// Delay between starting two connections (ms).
    #[arg(long, default_value_t = 5)]
    ramp_ms: u64,
    /// Server process whose CPU (utime+stime) and memory (VmRSS, VmHWM) are read.
    #[arg(long)]
    pid: Option<u32>,
    /// A file holding that pid, read when the window starts (for a sink started first).
    #[arg(long, conflicts_with = "pid")]
    pid_file: Option<std::path::PathBuf>,
    /// Source bit rate; a connection below 90 % of it in the window is incomplete.
    #[arg(long)]
    expect_mbps: Option<f64>,
}

impl Common {
    fn plan(&self, mode: &'static str) -> measure::Plan {
        measure::Plan {
            mode,
            expected: self.count,
            connect_timeout: Duration::from_secs_f64(self.connect_timeout),
            warmup: Duration::from_secs_f64(self.warmup),
            window: Duration::from_secs_f64(self.seconds),
            pid: self.pid,
            pid_file: self.pid_file.clone(),
            expect_mbps: self.expect_mbps,
        }
    }

    fn ramp(&self) -> Duration {
        Duration::from_millis(self.ramp_ms)
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // Two workers: the machine this runs on has few cores and the server under test needs them.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let report = runtime.block_on(async {
        match cli.cmd {
            Cmd::RtmpPlay { url, common } => {
                rtmp::play(&url, common.plan("rtmp-play"), common.ramp()).await
            }
            Cmd::SrtRead {
                addr,
                streamid,
                streamid_prefix,
                distinct_ports,
                latency_ms,
                attempt_ms,
                common,
            } => {
                let target = srt::Target {
                    addr,
                    distinct_ports,
                    stream_id: streamid,
                    stream_id_prefix: streamid_prefix,
                    latency_ms,
                    attempt: Duration::from_millis(attempt_ms),
                };
                srt::read(target, common.plan("srt-read"), common.ramp()).await
            }
            Cmd::RtmpSink { listen, common } => rtmp::sink(listen, common.plan("rtmp-sink")).await,
            Cmd::HlsClients {
                url,
                distinct_sources,
                common,
            } => {
                let target = hls::Target::parse(&url, distinct_sources)?;
                hls::clients(target, common.plan("hls-clients"), common.ramp()).await
            }
            Cmd::FileGrowth { dir, common } => files::watch(dir, common.plan("file-growth")).await,
            Cmd::SrtSink {
                listen,
                latency_ms,
                common,
            } => srt::sink(listen, latency_ms, common.plan("srt-sink")).await,
            Cmd::RelayLatency { role } => relay_latency::run(role).await,
        }
    })?;
    println!("{report}");
    // Connections still open are dropped with the runtime; do not wait for their tasks.
    runtime.shutdown_timeout(Duration::from_millis(500));
    Ok(())
}
