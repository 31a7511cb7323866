//! RTMP and RTMPS in → every output kind, checked with ffprobe.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

const SECS: u32 = 8;

fn flows(rtmp_dest: u16, srt_dest: u16) -> String {
    [
        input_toml("studio", "studio-key"),
        push_toml("push-rtmp", &rtmp_sink_url(rtmp_dest)),
        push_toml("push-srt", &srt_sink_url(srt_dest)) + "latency_ms = 200\n",
        pull_toml("pull-srt", "srt", "studio-srt"),
        pull_toml("pull-rtmp", "rtmp", "studio-rtmp"),
    ]
    .concat()
}

/// Publishes with ffmpeg to `publish_url` and checks all four outputs.
fn run(name: &str, tls: &str, publish_url: impl Fn(&Relevo) -> String) {
    let dir = TempDir::new(name);
    let rtmp_dest = free_tcp_port();
    let srt_dest = free_udp_port();
    let rtmp_sink = rtmp_listener_sink(
        rtmp_dest,
        &dir.path("push-rtmp.flv"),
        &dir.path("push-rtmp.log"),
    );
    let srt_sink = srt_listener_sink(
        srt_dest,
        "",
        &dir.path("push-srt.ts"),
        &dir.path("push-srt.log"),
    );
    let relevo = Relevo::start(name, tls, &flows(rtmp_dest, srt_dest));
    let srt_reader = relevo.record_srt("#!::r=studio-srt,m=request", &dir.path("pull-srt.ts"));
    relevo.wait_log("SRT reader connected", 1);
    let publisher = publish(
        "publisher",
        SECS,
        "flv",
        &publish_url(&relevo),
        &dir.path("publisher.log"),
    );
    relevo.wait_log("RTMP publisher connected", 1);
    let rtmp_player = relevo.record_rtmp("studio-rtmp", &dir.path("pull-rtmp.flv"));
    let st = publisher.wait(Duration::from_secs(u64::from(SECS) + 30));
    assert!(
        st.success(),
        "publisher failed: {st}: {}",
        std::fs::read_to_string(dir.path("publisher.log")).unwrap_or_default()
    );
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
    srt_reader.wait(Duration::from_secs(10));
    rtmp_sink.wait(Duration::from_secs(10));
    srt_sink.interrupt();

    assert_full_stream("pull SRT", &dir.path("pull-srt.ts"), SECS);
    assert_full_stream("pull RTMP", &dir.path("pull-rtmp.flv"), SECS);
    assert_full_stream("push RTMP", &dir.path("push-rtmp.flv"), SECS);
    assert_full_stream("push SRT", &dir.path("push-srt.ts"), SECS);
}

#[test]
fn rtmp_publisher_reaches_every_output_kind() {
    run("rtmp-in", "", |r| r.rtmp_url("studio-key"));
}

#[test]
fn rtmps_publisher_reaches_every_output_kind() {
    let certs = TempDir::new("rtmps-cert");
    let (cert, key) = (certs.path("cert.pem"), certs.path("key.pem"));
    let st = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args([
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "openssl could not make a certificate");
    let tls = format!(
        "[tls]\ncertificate = \"{}\"\nkey = \"{}\"\n",
        cert.display(),
        key.display()
    );
    run("rtmps-in", &tls, |r| {
        format!(
            "rtmps://127.0.0.1:{}/live/studio-key",
            r.rtmps.expect("rtmps port")
        )
    });
}
