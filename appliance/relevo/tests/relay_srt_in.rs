//! SRT in (AES-256, 200 ms) → every output kind, checked with ffprobe.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;

const SECS: u32 = 8;
const PASS: &str = "relevo-test-passphrase";

#[test]
fn srt_publisher_reaches_every_output_kind() {
    let dir = TempDir::new("srt-in");
    let rtmp_dest = free_tcp_port();
    let srt_dest = free_udp_port();
    let rtmp_sink = rtmp_listener_sink(
        rtmp_dest,
        &dir.path("push-rtmp.flv"),
        &dir.path("push-rtmp.log"),
    );
    let srt_sink = srt_listener_sink(
        srt_dest,
        "&passphrase=dest-passphrase&pbkeylen=32",
        &dir.path("push-srt.ts"),
        &dir.path("push-srt.log"),
    );
    let flows = [
        input_toml("cam", "cam1")
            + &format!("passphrase = \"{PASS}\"\nkey_length = 32\nlatency_ms = 200\n"),
        push_toml("push-rtmp", &rtmp_sink_url(rtmp_dest)),
        push_toml("push-srt", &srt_sink_url(srt_dest))
            + "passphrase = \"dest-passphrase\"\nkey_length = 32\n",
        pull_toml("pull-srt", "srt", "cam1-srt"),
        pull_toml("pull-rtmp", "rtmp", "cam1-rtmp"),
    ];
    let relevo = Relevo::start("srt-in", "", &flows.concat());

    // The SRT reader connects first and waits for the stream.
    let srt_reader = relevo.record_srt("read:cam1-srt", &dir.path("pull-srt.ts"));
    relevo.wait_log("SRT reader connected", 1);

    let publisher = publish(
        "publisher",
        SECS,
        "mpegts",
        &relevo.srt_url(
            "#!::r=cam1,m=publish",
            &format!("&passphrase={PASS}&pbkeylen=32&latency=200000"),
        ),
        &dir.path("publisher.log"),
    );
    relevo.wait_log("SRT publisher connected", 1);
    let rtmp_player = relevo.record_rtmp("cam1-rtmp", &dir.path("pull-rtmp.flv"));

    let st = publisher.wait(Duration::from_secs(SECS as u64 + 30));
    assert!(st.success(), "publisher failed: {st}");
    wait_files_stable(
        &[
            "pull-srt.ts",
            "pull-rtmp.flv",
            "push-rtmp.flv",
            "push-srt.ts",
        ]
        .map(|f| dir.path(f)),
    );
    rtmp_player.wait(Duration::from_secs(10));
    srt_reader.interrupt();
    rtmp_sink.wait(Duration::from_secs(10));
    srt_sink.interrupt();

    assert_full_stream("pull SRT", &dir.path("pull-srt.ts"), SECS);
    assert_full_stream("pull RTMP", &dir.path("pull-rtmp.flv"), SECS);
    assert_full_stream("push RTMP", &dir.path("push-rtmp.flv"), SECS);
    assert_full_stream("push SRT", &dir.path("push-srt.ts"), SECS);

    // Every output measured the time its packets spent in the relay.
    for o in ["push-rtmp", "push-srt", "pull-srt", "pull-rtmp"] {
        let lat = &relevo.output_status("cam", o)["latency"];
        let samples = lat["samples"].as_u64().unwrap_or(0);
        assert!(samples > 100, "{o}: latency not measured: {lat}");
        // Both percentiles present: `None <= None` would hold.
        let (p50, p99) = (lat["p50_ms"].as_f64(), lat["p99_ms"].as_f64());
        assert!(
            p50.zip(p99).is_some_and(|(p50, p99)| p50 <= p99),
            "{o}: {lat}"
        );
        println!("{o}: time through the relay {lat}");
    }
}

#[test]
fn srt_to_srt_keeps_a_second_audio_track() {
    let dir = TempDir::new("srt-2audio");
    let srt_dest = free_udp_port();
    let srt_sink = srt_listener_sink(srt_dest, "", &dir.path("push.ts"), &dir.path("push.log"));
    let flows = [
        input_toml("cam", "cam2"),
        push_toml("push", &srt_sink_url(srt_dest)),
        pull_toml("pull", "srt", "cam2-out"),
    ];
    let relevo = Relevo::start("srt-2audio", "", &flows.concat());
    // A bare key, without `read:`, reads too.
    let reader = relevo.record_srt("cam2-out", &dir.path("pull.ts"));
    relevo.wait_log("SRT reader connected", 1);
    // Two AAC tracks (440 Hz and 880 Hz) beside the video.
    let publisher = publish_with(
        "publisher",
        &source_args_of("h264", 2, SECS),
        "mpegts",
        &relevo.srt_url("publish:cam2", ""),
        &dir.path("publisher.log"),
    );
    assert!(publisher.wait(Duration::from_secs(40)).success());
    wait_files_stable(&[dir.path("pull.ts"), dir.path("push.ts")]);
    reader.interrupt();
    srt_sink.interrupt();
    for f in ["pull.ts", "push.ts"] {
        let p = probe(&dir.path(f));
        assert_eq!(
            p.count("aac"),
            2,
            "{f}: both audio tracks must arrive: {p:?}"
        );
        assert!(
            p.streams.iter().filter(|s| s.1 == "aac").all(|s| s.2 > 40),
            "{f}: every audio track carries frames: {p:?}"
        );
        assert_full_stream(f, &dir.path(f), SECS);
    }
}

/// The publisher's MPEG-TS clock wraps (33 bits, every 26.5 h) a second into the stream:
/// the remuxed RTMP timestamps keep increasing and SRT passes the stream through.
#[test]
fn timestamps_stay_monotonic_across_the_33_bit_wrap() {
    let dir = TempDir::new("wrap");
    let flows = [
        input_toml("cam", "cam-wrap"),
        pull_toml("pull-rtmp", "rtmp", "cam-wrap-rtmp"),
        pull_toml("pull-srt", "srt", "cam-wrap-srt"),
    ];
    let relevo = Relevo::start("wrap", "", &flows.concat());
    let reader = relevo.record_srt("read:cam-wrap-srt", &dir.path("pull-srt.ts"));
    relevo.wait_log("SRT reader connected", 1);
    // 2^33 / 90 kHz = 95443.72 s; ffmpeg's muxer adds 1.4 s, so the clock wraps ~1.3 s in.
    let mut args = source_args(SECS);
    args.extend(["-output_ts_offset", "95441"].map(String::from));
    let publisher = publish_with(
        "publisher",
        &args,
        "mpegts",
        &relevo.srt_url("publish:cam-wrap", ""),
        &dir.path("publisher.log"),
    );
    relevo.wait_log("SRT publisher connected", 1);
    let player = relevo.record_rtmp("cam-wrap-rtmp", &dir.path("pull-rtmp.flv"));
    assert!(publisher.wait(Duration::from_secs(60)).success());
    wait_files_stable(&[dir.path("pull-srt.ts"), dir.path("pull-rtmp.flv")]);
    player.wait(Duration::from_secs(10));
    reader.wait(Duration::from_secs(10));
    assert_full_stream("RTMP across the wrap", &dir.path("pull-rtmp.flv"), SECS);
    assert_full_stream("SRT across the wrap", &dir.path("pull-srt.ts"), SECS);
}
