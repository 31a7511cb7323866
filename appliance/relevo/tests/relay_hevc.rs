//! H.265 passes through SRT untouched; an RTMP destination that is not marked as accepting
//! Enhanced RTMP gets a clear codec error while the other outputs run.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;

const SECS: u32 = 6;

#[test]
fn h265_passes_through_srt_and_legacy_rtmp_reports_a_codec_error() {
    let dir = TempDir::new("hevc");
    let srt_dest = free_udp_port();
    let sink = srt_listener_sink(srt_dest, "", &dir.path("push.ts"), &dir.path("push.log"));
    let legacy_rtmp = free_tcp_port();
    let relevo = Relevo::start(
        "hevc",
        "",
        &format!(
            r#"
[[input]]
name = "cam"
grace_period_s = 0
key = "cam-hevc"

  [[input.output]]
  name = "push-srt"
  push = "srt://127.0.0.1:{srt_dest}"

  [[input.output]]
  name = "pull-srt"
  pull = "srt"
  key = "cam-hevc-read"

  [[input.output]]
  name = "legacy-rtmp"
  push = "rtmp://127.0.0.1:{legacy_rtmp}/live/dest"
"#
        ),
    );
    let reader = record(
        "reader",
        &relevo.srt_url("read:cam-hevc-read", ""),
        "mpegts",
        &dir.path("pull.ts"),
        &dir.path("pull.log"),
    );
    relevo.wait_log("SRT reader connected", 1);
    let publisher = Proc::spawn(
        "publisher",
        ffmpeg()
            .args(["-re", "-f", "lavfi", "-i"])
            .arg(format!("testsrc2=size=320x240:rate={FPS}"))
            .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
            .args(["-t", &SECS.to_string(), "-map", "0:v", "-map", "1:a"])
            .args([
                "-c:v",
                "libx265",
                "-preset",
                "ultrafast",
                "-pix_fmt",
                "yuv420p",
            ])
            .args(["-x265-params", "log-level=error"])
            .args(["-g", &GOP.to_string(), "-c:a", "aac", "-f", "mpegts"])
            .arg(relevo.srt_url("publish:cam-hevc", ""))
            .stderr(std::fs::File::create(dir.path("publisher.log")).unwrap()),
    );
    relevo.wait_log(
        "push failed: codec not accepted: the input is H.265, which legacy RTMP cannot carry",
        1,
    );
    assert!(publisher.wait(Duration::from_secs(60)).success());
    wait_files_stable(&[dir.path("pull.ts"), dir.path("push.ts")]);
    reader.wait(Duration::from_secs(10));
    sink.interrupt();
    assert_full_stream_of("hevc", "pull SRT", &dir.path("pull.ts"), SECS);
    assert_full_stream_of("hevc", "push SRT", &dir.path("push.ts"), SECS);
}
