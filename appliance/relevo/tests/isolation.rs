//! One input, five outputs: a frozen RTMP server (SIGSTOP) and a dead port must not touch
//! the three healthy outputs; the frozen one is reported stalled, loses what it cannot
//! send, and recovers after SIGCONT; the dead one retries with growing intervals, read
//! from the live status.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

/// Long enough to fill the kernel's socket buffers towards the frozen server, detect the
/// stall (10 s without progress) and recover.
const SECS: u32 = 60;

fn signal(pid: u32, sig: &str) {
    assert!(Command::new("kill")
        .args([format!("-{sig}"), pid.to_string()])
        .status()
        .unwrap()
        .success());
}

fn num(v: &serde_json::Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

/// Notes when the dead output's failure count changes: the times of its retries.
fn note_retries(relevo: &Relevo, failures: &mut Vec<(u64, Instant)>) {
    let n = num(&relevo.output_status("cam", "dead")["reconnects"]);
    if failures.last().is_none_or(|f| f.0 != n) {
        failures.push((n, Instant::now()));
    }
}

#[test]
fn a_frozen_and_a_dead_destination_do_not_disturb_the_others() {
    let dir = TempDir::new("isolation");
    let nginx_port = free_tcp_port();
    let nginx = nginx_rtmp(&dir, nginx_port);
    let dead_port = free_tcp_port();
    let (srt_dest, rtmp_dest) = (free_udp_port(), free_tcp_port());
    let srt_sink = srt_listener_sink(srt_dest, "", &dir.path("push-srt.ts"), &dir.path("s.log"));
    let rtmp_sink = rtmp_listener_sink(rtmp_dest, &dir.path("push-rtmp.flv"), &dir.path("r.log"));
    let flows = [
        input_toml("cam", "cam-iso"),
        push_toml("push-srt", &srt_sink_url(srt_dest)),
        push_toml("push-rtmp", &rtmp_sink_url(rtmp_dest)),
        pull_toml("pull-srt", "srt", "cam-iso-read"),
        push_toml(
            "frozen",
            &format!("rtmp://127.0.0.1:{nginx_port}/live/frozen"),
        ),
        push_toml("dead", &format!("rtmp://127.0.0.1:{dead_port}/live/dead")),
    ];
    let relevo = Relevo::start("isolation", "", &flows.concat());
    let reader = relevo.srt_reader("cam-iso-read", &dir.path("pull-srt.ts"));
    relevo.wait_log("SRT reader connected", 1);

    // 4 Mbit/s constant so the frozen server's socket buffers fill within seconds.
    let mut args = source_args(SECS);
    args.extend(["-b:v", "4M", "-minrate", "4M", "-maxrate", "4M"].map(String::from));
    args.extend(["-bufsize", "1M", "-x264-params", "nal-hrd=cbr"].map(String::from));
    let publisher = publish_with(
        "publisher",
        &args,
        "mpegts",
        &relevo.srt_url("publish:cam-iso", ""),
        &dir.path("publisher.log"),
    );
    let started = Instant::now();
    let frozen_live = || relevo.output_status("cam", "frozen")["state"] == "live";
    wait_until(
        "the nginx output to go live",
        Duration::from_secs(30),
        frozen_live,
    );

    // Freeze the RTMP server; meanwhile watch the dead output's failures.
    signal(nginx.child.id(), "STOP");
    let mut failures: Vec<(u64, Instant)> = Vec::new();
    wait_until(
        "the frozen output to be reported as failed",
        Duration::from_secs(60),
        || {
            note_retries(&relevo, &mut failures);
            let frozen = relevo.output_status("cam", "frozen");
            frozen["state"] != "live" && !frozen["last_error"].is_null()
        },
    );
    let frozen = relevo.output_status("cam", "frozen");
    let why = frozen["last_error"]["message"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    assert!(
        why.starts_with("stalled") || why.contains("did not answer"),
        "frozen output's error: {frozen}"
    );
    signal(nginx.child.id(), "CONT");
    wait_until(
        "the frozen output to recover",
        Duration::from_secs(45),
        || {
            note_retries(&relevo, &mut failures);
            frozen_live()
        },
    );
    println!(
        "frozen output recovered {:?} after the start; dead output failures at {:?}",
        started.elapsed(),
        failures
            .iter()
            .map(|f| f.1.duration_since(started))
            .collect::<Vec<_>>()
    );
    // Keep watching the dead output until it has failed often enough to show its backoff.
    wait_until(
        "the dead output to retry a few times",
        Duration::from_secs(60),
        || {
            note_retries(&relevo, &mut failures);
            failures.len() >= 5
        },
    );
    let dead = relevo.output_status("cam", "dead");
    assert_eq!(dead["state"], "retrying", "{dead}");
    assert_eq!(
        dead["last_error"]["message"], "connection refused",
        "{dead}"
    );
    // Growing intervals: each wait is at least the previous one (1 s, 2 s, 4 s … with
    // jitter), allowing the status poll's own resolution.
    let gaps: Vec<f64> = failures
        .windows(2)
        .skip(1) // the first sample is when watching began
        .map(|w| w[1].1.duration_since(w[0].1).as_secs_f64())
        .collect();
    assert!(gaps.len() >= 3, "too few retries observed: {gaps:?}");
    for w in gaps.windows(2) {
        assert!(w[1] + 0.3 >= w[0], "retry intervals must grow: {gaps:?}");
    }
    assert!(gaps[gaps.len() - 1] > 2.0 * gaps[0], "no backoff: {gaps:?}");

    assert!(publisher
        .wait(Duration::from_secs(u64::from(SECS) + 30))
        .success());
    wait_files_stable(&[
        dir.path("push-srt.ts"),
        dir.path("push-rtmp.flv"),
        dir.path("pull-srt.ts"),
    ]);
    reader.wait(Duration::from_secs(10));
    rtmp_sink.wait(Duration::from_secs(10));
    srt_sink.interrupt();
    for f in ["push-srt.ts", "push-rtmp.flv", "pull-srt.ts"] {
        assert_full_stream(f, &dir.path(f), SECS);
        let p = probe(&dir.path(f));
        assert!(p.max_gap < 0.5, "{f}: a {} s gap in the stream", p.max_gap);
    }
    let healthy_dropped: u64 = ["push-srt", "push-rtmp", "pull-srt"]
        .iter()
        .map(|o| num(&relevo.output_status("cam", o)["dropped"]))
        .sum();
    assert_eq!(healthy_dropped, 0, "a healthy output lost frames");
}
