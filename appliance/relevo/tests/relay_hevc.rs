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
    // Nobody listens behind the legacy RTMP destination: the codec check comes first.
    let flows = [
        input_toml("cam", "cam-hevc"),
        push_toml("push-srt", &srt_sink_url(srt_dest)),
        pull_toml("pull-srt", "srt", "cam-hevc-read"),
        push_toml(
            "legacy-rtmp",
            &format!("rtmp://127.0.0.1:{legacy_rtmp}/live/dest"),
        ),
    ];
    let relevo = Relevo::start("hevc", "", &flows.concat());
    let reader = relevo.record_srt("read:cam-hevc-read", &dir.path("pull.ts"));
    relevo.wait_log("SRT reader connected", 1);
    let publisher = publish_with(
        "publisher",
        &source_args_of("hevc", 1, SECS),
        "mpegts",
        &relevo.srt_url("publish:cam-hevc", ""),
        &dir.path("publisher.log"),
    );
    relevo.wait_log(
        "the output waits: h265_needs_enhanced: The input's video is H.265 (HEVC), which legacy \
         RTMP carries only over Enhanced RTMP",
        1,
    );
    assert!(publisher.wait(Duration::from_secs(60)).success());
    wait_files_stable(&[dir.path("pull.ts"), dir.path("push.ts")]);
    reader.wait(Duration::from_secs(10));
    sink.interrupt();
    assert_full_stream_of("hevc", "pull SRT", &dir.path("pull.ts"), SECS);
    assert_full_stream_of("hevc", "push SRT", &dir.path("push.ts"), SECS);
}
