//! Pull inputs: Relevo calls a remote SRT listener (ffmpeg) or plays from a remote RTMP
//! server (nginx-rtmp), and relays what it gets.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;

const SECS: u32 = 8;

#[test]
fn srt_pull_input_from_an_ffmpeg_listener() {
    let dir = TempDir::new("pull-srt");
    let source_port = free_udp_port();
    let rtmp_dest = free_tcp_port();
    let sink = rtmp_listener_sink(rtmp_dest, &dir.path("out.flv"), &dir.path("out.log"));
    // ffmpeg waits for Relevo's call before it starts encoding, so nothing is lost.
    let source = publish(
        "srt-source",
        SECS,
        "mpegts",
        &format!(
            "srt://127.0.0.1:{source_port}?mode=listener&passphrase=remote-passphrase&pbkeylen=32&latency=300000"
        ),
        &dir.path("source.log"),
    );
    wait_until("ffmpeg to listen for SRT", Duration::from_secs(10), || {
        port_bound("udp", source_port)
    });
    let input = format!(
        r#"
[[input]]
name = "remote"
grace_period_s = 0
pull = "srt://127.0.0.1:{source_port}"
passphrase = "remote-passphrase"
key_length = 32
latency_ms = 300
"#
    );
    let flows = input + &push_toml("push", &rtmp_sink_url(rtmp_dest));
    let relevo = Relevo::start("pull-srt", "", &flows);
    assert!(source
        .wait(Duration::from_secs(u64::from(SECS) + 30))
        .success());
    wait_file_stable(&dir.path("out.flv"));
    sink.wait(Duration::from_secs(10));
    assert_full_stream("SRT pull → RTMP push", &dir.path("out.flv"), SECS);
    drop(relevo);
}

#[test]
fn rtmp_pull_input_from_nginx_rtmp() {
    let dir = TempDir::new("pull-rtmp");
    let nginx_port = free_tcp_port();
    let _nginx = nginx_rtmp(&dir, nginx_port);
    let srt_dest = free_udp_port();
    let sink = srt_listener_sink(srt_dest, "", &dir.path("out.ts"), &dir.path("out.log"));
    let input = format!(
        r#"
[[input]]
name = "origin"
grace_period_s = 0
pull = "rtmp://127.0.0.1:{nginx_port}/live/feed"
"#
    );
    let flows = input + &push_toml("push", &srt_sink_url(srt_dest));
    let relevo = Relevo::start("pull-rtmp", "", &flows);
    // Relevo's player waits on nginx; the publisher arrives after it.
    wait_until("Relevo to play from nginx", Duration::from_secs(20), || {
        std::fs::read_to_string(dir.path("nginx/logs/error.log"))
            .is_ok_and(|l| l.contains("play: name='feed'"))
    });
    let source = publish(
        "rtmp-source",
        SECS,
        "flv",
        &format!("rtmp://127.0.0.1:{nginx_port}/live/feed"),
        &dir.path("source.log"),
    );
    assert!(source
        .wait(Duration::from_secs(u64::from(SECS) + 30))
        .success());
    wait_file_stable(&dir.path("out.ts"));
    sink.interrupt();
    assert_full_stream("RTMP pull → SRT push", &dir.path("out.ts"), SECS);
    drop(relevo);
}
