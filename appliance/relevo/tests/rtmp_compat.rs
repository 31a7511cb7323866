//! RTMP compatibility with the encoders and servers platforms are tested with: a pull input
//! from ffmpeg acting as the RTMP server (`ffmpeg -f flv -listen 1 rtmp://…`), which sends
//! the media on message stream 0; a push output, which publishes as OBS and ffmpeg do
//! (`releaseStream`, `FCPublish`, …), to nginx-rtmp.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;

const SECS: u32 = 8;

/// The source is ffmpeg serving RTMP itself: it waits for Relevo's `play` before encoding,
/// then sends the stream on message stream 0 (where `rml_rtmp`'s client ignores it). The
/// input goes live and a push output delivers the whole stream to another ffmpeg.
#[test]
fn rtmp_pull_input_from_an_ffmpeg_listen_server() {
    let dir = TempDir::new("pull-rtmp-ffmpeg-server");
    let source_port = free_tcp_port();
    let rtmp_dest = free_tcp_port();
    let sink = rtmp_listener_sink(rtmp_dest, &dir.path("out.flv"), &dir.path("out.log"));
    let source_url = format!("rtmp://127.0.0.1:{source_port}/live/x");
    let mut args = source_args(SECS);
    args.extend(["-listen".to_owned(), "1".to_owned()]);
    let source = publish_with(
        "rtmp-ffmpeg-server",
        &args,
        "flv",
        &source_url,
        &dir.path("source.log"),
    );
    wait_until("ffmpeg to listen for RTMP", Duration::from_secs(20), || {
        port_bound("tcp", source_port)
    });
    let input = format!(
        r#"
[[input]]
name = "remote"
grace_period_s = 0
pull = "{source_url}"
"#
    );
    let flows = input + &push_toml("push", &rtmp_sink_url(rtmp_dest));
    let relevo = Relevo::start("pull-rtmp-ffmpeg-server", "", &flows);
    wait_until("the pull input to go live", Duration::from_secs(20), || {
        relevo.status()["inputs"]
            .as_array()
            .is_some_and(|inputs| inputs.iter().any(|i| i["state"] == "live"))
    });
    assert!(source
        .wait(Duration::from_secs(u64::from(SECS) + 30))
        .success());
    wait_file_stable(&dir.path("out.flv"));
    sink.wait(Duration::from_secs(10));
    assert_full_stream(
        "RTMP pull from ffmpeg -listen 1 → RTMP push",
        &dir.path("out.flv"),
        SECS,
    );
    drop(relevo);
}

/// A push output publishes to nginx-rtmp with the sequence OBS and ffmpeg send
/// (`releaseStream`, `FCPublish`, `createStream`, `publish`; the raw-server check of the
/// order is the engine's `rtmp_compat`), and a player of nginx gets the stream whole from
/// the keyframe it joined at; the push ends with `deleteStream` (nginx logs it).
#[test]
fn rtmp_push_output_to_nginx_rtmp() {
    let dir = TempDir::new("push-nginx-obs-sequence");
    let nginx_port = free_tcp_port();
    let _nginx = nginx_rtmp(&dir, nginx_port);
    let dest = format!("rtmp://127.0.0.1:{nginx_port}/live/dest");
    let nginx_log =
        || std::fs::read_to_string(dir.path("nginx/logs/error.log")).unwrap_or_default();
    let flows = input_toml("cam", "cam-key") + &push_toml("nginx", &dest);
    let relevo = Relevo::start("push-nginx-obs-sequence", "", &flows);
    let source = publish(
        "rtmp-source",
        SECS,
        "flv",
        &relevo.rtmp_url("cam-key"),
        &dir.path("source.log"),
    );
    wait_until(
        "the push to publish on nginx",
        Duration::from_secs(30),
        || nginx_log().contains("publish: name='dest'"),
    );
    // An ffmpeg player of nginx does not stop when the publisher leaves: a short read
    // timeout ends it (and its file) once the stream is over.
    let player = Proc::spawn(
        "nginx-player",
        ffmpeg()
            .args(["-rw_timeout", "3000000", "-i", &dest])
            .args(["-map", "0", "-c", "copy", "-f", "flv"])
            .arg(dir.path("out.flv"))
            .stderr(std::fs::File::create(dir.path("player.log")).unwrap()),
    );
    assert!(source
        .wait(Duration::from_secs(u64::from(SECS) + 30))
        .success());
    player.wait(Duration::from_secs(30));
    wait_until("the push to end on nginx", Duration::from_secs(30), || {
        nginx_log().contains("deleteStream")
    });
    assert_joined_stream(
        "RTMP push → nginx-rtmp",
        &dir.path("out.flv"),
        SECS,
        SECS / 2,
    );
    drop(relevo);
}
