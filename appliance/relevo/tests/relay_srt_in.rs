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
    let relevo = Relevo::start(
        "srt-in",
        "",
        &format!(
            r#"
[[input]]
name = "cam"
grace_period_s = 0
key = "cam1"
passphrase = "{PASS}"
key_length = 32
latency_ms = 200

  [[input.output]]
  name = "push-rtmp"
  push = "rtmp://127.0.0.1:{rtmp_dest}/live/dest"

  [[input.output]]
  name = "push-srt"
  push = "srt://127.0.0.1:{srt_dest}"
  passphrase = "dest-passphrase"
  key_length = 32

  [[input.output]]
  name = "pull-srt"
  pull = "srt"
  key = "cam1-srt"

  [[input.output]]
  name = "pull-rtmp"
  pull = "rtmp"
  key = "cam1-rtmp"
"#
        ),
    );

    // The SRT reader connects first and waits for the stream.
    let srt_reader = record(
        "srt-reader",
        &relevo.srt_url("read:cam1-srt", ""),
        "mpegts",
        &dir.path("pull-srt.ts"),
        &dir.path("pull-srt.log"),
    );
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
    let rtmp_player = record(
        "rtmp-player",
        &relevo.rtmp_url("cam1-rtmp"),
        "flv",
        &dir.path("pull-rtmp.flv"),
        &dir.path("pull-rtmp.log"),
    );

    let st = publisher.wait(Duration::from_secs(SECS as u64 + 30));
    assert!(st.success(), "publisher failed: {st}");
    for f in [
        "pull-srt.ts",
        "pull-rtmp.flv",
        "push-rtmp.flv",
        "push-srt.ts",
    ] {
        wait_file_stable(&dir.path(f));
    }
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
        assert!(
            lat["p50_ms"].as_f64() <= lat["p99_ms"].as_f64(),
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
    let relevo = Relevo::start(
        "srt-2audio",
        "",
        &format!(
            r#"
[[input]]
name = "cam"
grace_period_s = 0
key = "cam2"

  [[input.output]]
  name = "push"
  push = "srt://127.0.0.1:{srt_dest}"

  [[input.output]]
  name = "pull"
  pull = "srt"
  key = "cam2-out"
"#
        ),
    );
    let reader = record(
        "reader",
        &relevo.srt_url("cam2-out", ""),
        "mpegts",
        &dir.path("pull.ts"),
        &dir.path("pull.log"),
    );
    relevo.wait_log("SRT reader connected", 1);
    // Two AAC tracks (440 Hz and 880 Hz) beside the video.
    let publisher = Proc::spawn(
        "publisher",
        ffmpeg()
            .args(["-re", "-f", "lavfi", "-i"])
            .arg(format!("testsrc2=size=320x240:rate={FPS}"))
            .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
            .args(["-f", "lavfi", "-i", "sine=frequency=880:sample_rate=48000"])
            .args([
                "-t",
                &SECS.to_string(),
                "-map",
                "0:v",
                "-map",
                "1:a",
                "-map",
                "2:a",
            ])
            .args([
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-tune",
                "zerolatency",
            ])
            .args(["-pix_fmt", "yuv420p", "-g", &GOP.to_string(), "-c:a", "aac"])
            .args(["-f", "mpegts"])
            .arg(relevo.srt_url("publish:cam2", ""))
            .stderr(std::fs::File::create(dir.path("publisher.log")).unwrap()),
    );
    assert!(publisher.wait(Duration::from_secs(40)).success());
    wait_file_stable(&dir.path("pull.ts"));
    wait_file_stable(&dir.path("push.ts"));
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
    let relevo = Relevo::start(
        "wrap",
        "",
        r#"
[[input]]
name = "cam"
grace_period_s = 0
key = "cam-wrap"

  [[input.output]]
  name = "pull-rtmp"
  pull = "rtmp"
  key = "cam-wrap-rtmp"

  [[input.output]]
  name = "pull-srt"
  pull = "srt"
  key = "cam-wrap-srt"
"#,
    );
    let reader = record(
        "srt-reader",
        &relevo.srt_url("read:cam-wrap-srt", ""),
        "mpegts",
        &dir.path("pull.ts"),
        &dir.path("pull.log"),
    );
    relevo.wait_log("SRT reader connected", 1);
    // 2^33 / 90 kHz = 95443.72 s; ffmpeg's muxer adds 1.4 s, so the clock wraps ~1.3 s in.
    let publisher = Proc::spawn(
        "publisher",
        ffmpeg()
            .args(source_args(SECS))
            .args(["-output_ts_offset", "95441", "-f", "mpegts"])
            .arg(relevo.srt_url("publish:cam-wrap", ""))
            .stderr(std::fs::File::create(dir.path("publisher.log")).unwrap()),
    );
    relevo.wait_log("SRT publisher connected", 1);
    let player = record(
        "rtmp-player",
        &relevo.rtmp_url("cam-wrap-rtmp"),
        "flv",
        &dir.path("pull.flv"),
        &dir.path("pull-rtmp.log"),
    );
    assert!(publisher.wait(Duration::from_secs(60)).success());
    wait_files_stable(&[dir.path("pull.ts"), dir.path("pull.flv")]);
    player.wait(Duration::from_secs(10));
    reader.wait(Duration::from_secs(10));
    assert_full_stream("RTMP across the wrap", &dir.path("pull.flv"), SECS);
    assert_full_stream("SRT across the wrap", &dir.path("pull.ts"), SECS);
}
