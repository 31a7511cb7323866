//! Soak: minutes of flapping destinations, players and publishers; Relevo's memory stays
//! flat. RSS is sampled and printed; the bound is generous on purpose (this is not a
//! benchmark). `RELEVO_SOAK_SECS` sets the length (default 150 s).
#![allow(clippy::unwrap_used)]

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn memory_stays_flat_while_everything_flaps() {
    let secs: u64 = std::env::var("RELEVO_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(150);
    let dir = TempDir::new("soak");
    let (srt_dest, rtmp_dest) = (free_udp_port(), free_tcp_port());
    let relevo = Relevo::start(
        "soak",
        "",
        &format!(
            r#"
[[input]]
name = "cam"
key = "cam-soak"
grace_period_s = 3

  [[input.output]]
  name = "push-srt"
  push = "srt://127.0.0.1:{srt_dest}"

  [[input.output]]
  name = "push-rtmp"
  push = "rtmp://127.0.0.1:{rtmp_dest}/live/dest"

  [[input.output]]
  name = "pull-srt"
  pull = "srt"
  key = "soak-srt"

  [[input.output]]
  name = "pull-rtmp"
  pull = "rtmp"
  key = "soak-rtmp"
"#
        ),
    );
    let pid = relevo.proc.child.id();
    let start = Instant::now();
    let mut samples: Vec<(u64, u64)> = Vec::new();
    let mut publisher: Option<Proc> = None;
    let mut round = 0u64;
    while start.elapsed() < Duration::from_secs(secs) {
        round += 1;
        // Publisher: replaced every 4th round (blips within and beyond the grace period).
        if publisher.as_mut().is_none_or(|p| !p.is_running()) || round.is_multiple_of(4) {
            drop(publisher.take());
            publisher = Some(publish(
                "publisher",
                3600,
                "mpegts",
                &relevo.srt_url("publish:cam-soak", ""),
                &dir.path("publisher.log"),
            ));
        }
        // Destinations and players come and go for a few seconds each.
        let mut flappers = vec![
            Proc::spawn(
                "srt-live-transmit",
                Command::new("srt-live-transmit")
                    .args([
                        "-q",
                        &format!("srt://127.0.0.1:{srt_dest}?mode=listener"),
                        "file://con",
                    ])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null()),
            ),
            Proc::spawn(
                "ffmpeg-rtmp-listen",
                ffmpeg()
                    .args(["-listen", "1", "-i"])
                    .arg(format!("rtmp://127.0.0.1:{rtmp_dest}/live/dest"))
                    .args(["-c", "copy", "-f", "null", "-"])
                    .stderr(Stdio::null()),
            ),
            Proc::spawn(
                "srt-reader",
                Command::new("srt-live-transmit")
                    .args(["-q", "-a:no"])
                    .arg(format!(
                        "srt://127.0.0.1:{}?streamid=read:soak-srt",
                        relevo.srt
                    ))
                    .arg("file://con")
                    .stdout(Stdio::null())
                    .stderr(Stdio::null()),
            ),
            Proc::spawn(
                "rtmp-player",
                ffmpeg()
                    .arg("-i")
                    .arg(relevo.rtmp_url("soak-rtmp"))
                    .args(["-c", "copy", "-f", "null", "-"])
                    .stderr(Stdio::null()),
            ),
        ];
        std::thread::sleep(Duration::from_secs(5));
        for p in flappers.iter_mut() {
            let _ = p.child.kill();
        }
        drop(flappers);
        let rss = rss_kib(pid);
        assert!(rss > 0, "relevo died:\n{}", relevo.log_text());
        samples.push((start.elapsed().as_secs(), rss));
    }
    drop(publisher);
    println!("relevo RSS over the soak (s, KiB): {samples:?}");
    let third = (samples.len() / 3).max(1);
    let early = samples[..third].iter().map(|s| s.1).max().unwrap_or(0);
    let late = samples[samples.len() - third..]
        .iter()
        .map(|s| s.1)
        .max()
        .unwrap_or(0);
    println!("peak RSS: first third {early} KiB, last third {late} KiB");
    // Generous: bounded queues and GOP caches make memory a plateau, not a slope.
    assert!(
        late <= early + early / 2 + 16 * 1024,
        "memory grew from {early} KiB to {late} KiB"
    );
    assert!(
        late < 512 * 1024,
        "RSS {late} KiB is far above what a relay needs"
    );
}
