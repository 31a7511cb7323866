//! One input to 50 outputs of mixed kinds: every one receives the full stream (RTMP players,
//! started once the input is live, everything from the moment they joined).
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;

const SECS: u32 = 8;
const PUSH_RTMP: usize = 12;
const PUSH_SRT: usize = 13;
const PULL_SRT: usize = 13;
const PULL_RTMP: usize = 12;

#[test]
fn one_input_to_fifty_mixed_outputs() {
    assert_eq!(PUSH_RTMP + PUSH_SRT + PULL_SRT + PULL_RTMP, 50);
    let dir = TempDir::new("fanout50");
    let mut sinks = Vec::new();
    let mut flows = input_toml("main", "main");
    for i in 0..PUSH_RTMP {
        let port = free_tcp_port();
        sinks.push(rtmp_listener_sink(
            port,
            &dir.path(&format!("push-rtmp-{i}.flv")),
            &dir.path(&format!("push-rtmp-{i}.log")),
        ));
        flows.push_str(&push_toml(&format!("push-rtmp-{i}"), &rtmp_sink_url(port)));
    }
    for i in 0..PUSH_SRT {
        let port = free_udp_port();
        sinks.push(srt_listener_sink(
            port,
            "",
            &dir.path(&format!("push-srt-{i}.ts")),
            &dir.path(&format!("push-srt-{i}.log")),
        ));
        flows.push_str(&push_toml(&format!("push-srt-{i}"), &srt_sink_url(port)));
    }
    for i in 0..PULL_SRT {
        flows.push_str(&pull_toml(
            &format!("pull-srt-{i}"),
            "srt",
            &format!("read-srt-{i}"),
        ));
    }
    for i in 0..PULL_RTMP {
        flows.push_str(&pull_toml(
            &format!("pull-rtmp-{i}"),
            "rtmp",
            &format!("read-rtmp-{i}"),
        ));
    }
    let relevo = Relevo::start("fanout50", "", &flows);

    // SRT readers are light srt-live-transmit callers that wait for the stream.
    let mut readers = Vec::new();
    for i in 0..PULL_SRT {
        readers.push(relevo.srt_reader(
            &format!("read-srt-{i}"),
            &dir.path(&format!("pull-srt-{i}.ts")),
        ));
    }
    relevo.wait_log("SRT reader connected", PULL_SRT);

    let publisher = publish(
        "publisher",
        SECS,
        "mpegts",
        &relevo.srt_url("publish:main", ""),
        &dir.path("publisher.log"),
    );
    relevo.wait_log("SRT publisher connected", 1);
    for i in 0..PULL_RTMP {
        readers.push(relevo.record_rtmp(
            &format!("read-rtmp-{i}"),
            &dir.path(&format!("pull-rtmp-{i}.flv")),
        ));
    }
    assert!(publisher
        .wait(Duration::from_secs(u64::from(SECS) + 60))
        .success());

    let mut files = Vec::new();
    files.extend((0..PUSH_RTMP).map(|i| format!("push-rtmp-{i}.flv")));
    files.extend((0..PUSH_SRT).map(|i| format!("push-srt-{i}.ts")));
    files.extend((0..PULL_SRT).map(|i| format!("pull-srt-{i}.ts")));
    files.extend((0..PULL_RTMP).map(|i| format!("pull-rtmp-{i}.flv")));
    let paths: Vec<_> = files.iter().map(|f| dir.path(f)).collect();
    wait_files_stable(&paths);
    for r in readers {
        r.wait(Duration::from_secs(10));
    }
    for s in sinks {
        s.interrupt();
    }
    for f in &files {
        if f.starts_with("pull-rtmp-") {
            assert_joined_stream(f, &dir.path(f), SECS, SECS - 4);
        } else {
            assert_full_stream(f, &dir.path(f), SECS);
        }
    }
}
