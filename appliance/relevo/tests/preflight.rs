//! Codec pre-flight per destination (issue #18), with one Relevo and four real encoders
//! (ffmpeg over SRT): an H.265 input before a legacy RTMP push, AC-3 and Opus inputs before
//! YouTube pushes, an input without audio before a YouTube push. The refused pushes never
//! connect (a listener behind each counts connections), their state is `incompatible` with
//! the reason in `compat`; the other outputs of the same input run; the audio-less push goes
//! live with a `no_audio` warning. Outputs that are not pushes (HLS) report, without holding
//! anything back. Every URL is loopback: `platform = "youtube"` chooses the rules, never
//! the destination.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::TcpListener;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

/// Long enough for the checks below to see every output in its state while the encoders
/// send; short, as the suite's budget asks.
const SECS: u32 = 12;

/// ffmpeg arguments of the test picture (320x240, a keyframe a second) in `video`
/// (`h264` or `hevc`), with one sine in `audio` (an ffmpeg encoder's codec: `aac`,
/// `libopus`, `ac3`) or none.
fn source(video: &str, audio: Option<&str>) -> Vec<String> {
    let video = match video {
        "h264" => "-c:v libx264 -preset ultrafast -tune zerolatency",
        _ => "-c:v libx265 -preset ultrafast -x265-params log-level=error",
    };
    let mut args = format!("-re -f lavfi -i testsrc2=size=320x240:rate={FPS}");
    let mut maps = "-map 0:v".to_owned();
    let mut codec = String::new();
    if let Some(a) = audio {
        args += " -f lavfi -i sine=frequency=440:sample_rate=48000";
        maps += " -map 1:a";
        codec = format!(" -c:a {a} -b:a 96k");
    }
    format!("{args} -t {SECS} {maps} {video} -pix_fmt yuv420p -g {GOP}{codec}")
        .split(' ')
        .map(String::from)
        .collect()
}

/// A TCP port that accepts nothing but remembers who tried: the push of a refused output
/// must not even connect.
fn silent_destination() -> (TcpListener, u16) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.set_nonblocking(true).unwrap();
    let port = l.local_addr().unwrap().port();
    (l, port)
}

fn connections(l: &TcpListener) -> usize {
    std::iter::from_fn(|| l.accept().ok()).count()
}

/// Waits until the output's status satisfies `cond`; panics with the last one after 30 s
/// (readiness, not a timing assertion).
fn wait_output(relevo: &Relevo, input: &str, output: &str, cond: impl Fn(&Value) -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let o = relevo.output_status(input, output);
        if cond(&o) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{input}/{output} not in the expected state: {o}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn codes(o: &Value) -> Vec<(String, String, String)> {
    o["compat"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            let s = |k: &str| p[k].as_str().unwrap_or_default().to_owned();
            (s("severity"), s("code"), s("found"))
        })
        .collect()
}

fn problem(severity: &str, code: &str, found: &str) -> (String, String, String) {
    (severity.to_owned(), code.to_owned(), found.to_owned())
}

#[test]
fn each_destination_gets_what_it_accepts_or_a_clear_reason() {
    let dir = TempDir::new("preflight");
    let (legacy, legacy_port) = silent_destination();
    let (yt_ac3, yt_ac3_port) = silent_destination();
    let (yt_opus, yt_opus_port) = silent_destination();
    let sink_port = free_tcp_port();
    let sink = rtmp_listener_sink(sink_port, &dir.path("sink.flv"), &dir.path("sink.log"));
    let flows = [
        input_toml("hevc", "pf-hevc"),
        push_toml(
            "legacy",
            &format!("rtmp://127.0.0.1:{legacy_port}/live/dest"),
        ),
        pull_toml("reader", "srt", "pf-hevc-read"),
        input_toml("ac3", "pf-ac3"),
        push_toml("yt", &format!("rtmp://127.0.0.1:{yt_ac3_port}/live2/dest")),
        "  platform = \"youtube\"\n".to_owned(),
        pull_toml("web", "hls", "pf-ac3-web"),
        input_toml("mute", "pf-mute"),
        push_toml("yt", &rtmp_sink_url(sink_port)),
        "  platform = \"youtube\"\n".to_owned(),
    ];
    let relevo = Relevo::start("preflight", "", &flows.concat());
    // An input of the API, to create its output while it is live.
    let (st, input) = relevo.api(
        "POST",
        "/api/v1/inputs",
        Some(&json!({"name": "opus", "key": "pf-opus"})),
    );
    assert_eq!(st, 201, "{input}");
    let reader = relevo.record_srt("read:pf-hevc-read", &dir.path("reader.ts"));
    relevo.wait_log("SRT reader connected", 1);

    let publish = |name: &str, video: &str, audio: Option<&str>, key: &str| {
        publish_with(
            name,
            &source(video, audio),
            "mpegts",
            &relevo.srt_url(&format!("publish:{key}"), ""),
            &dir.path(&format!("{name}.log")),
        )
    };
    let publishers = [
        publish("hevc", "hevc", Some("aac"), "pf-hevc"),
        publish("ac3", "h264", Some("ac3"), "pf-ac3"),
        publish("mute", "h264", None, "pf-mute"),
        publish("opus", "h264", Some("libopus"), "pf-opus"),
    ];

    // H.265 to legacy RTMP: held back, told to turn on Enhanced RTMP or send H.264.
    wait_output(&relevo, "hevc", "legacy", |o| o["state"] == "incompatible");
    let o = relevo.output_status("hevc", "legacy");
    assert_eq!(
        codes(&o),
        [problem("error", "h265_needs_enhanced", "h265")],
        "{o}"
    );
    assert_eq!(o["compat"][0]["track"], "video", "{o}");
    assert_eq!(o["compat"][0]["accepted"], json!(["h264"]), "{o}");
    assert!(
        o["compat"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("Enhanced RTMP") && m.contains("H.264")),
        "{o}"
    );
    // AC-3 (ATSC stream type 0x81) to YouTube.
    wait_output(&relevo, "ac3", "yt", |o| o["state"] == "incompatible");
    let o = relevo.output_status("ac3", "yt");
    assert_eq!(codes(&o), [problem("error", "audio_codec", "ac3")], "{o}");
    assert_eq!(o["compat"][0]["accepted"], json!(["aac", "mp3"]), "{o}");
    // An HLS output of the same input reports what its fMP4 muxer leaves out, and holds
    // nothing back (it serves the video).
    let o = relevo.output_status("ac3", "web");
    assert_eq!(codes(&o), [problem("error", "audio_codec", "ac3")], "{o}");
    assert_eq!(o["compat"][0]["accepted"], json!(["aac"]), "{o}");
    assert_eq!(o["state"], "live", "{o}");
    // No audio to YouTube: pushed, with a warning.
    wait_output(&relevo, "mute", "yt", |o| o["state"] == "live");
    let o = relevo.output_status("mute", "yt");
    assert_eq!(codes(&o), [problem("warning", "no_audio", "none")], "{o}");

    // Opus (a private stream with the "Opus" registration descriptor), then a YouTube output
    // created through the API while the input is live: the answer carries the pre-flight.
    let opus_codecs = || {
        relevo.status()["inputs"]
            .as_array()
            .and_then(|a| a.iter().find(|i| i["name"] == "opus").cloned())
            .map(|i| i["codecs"].clone())
            .unwrap_or_default()
    };
    wait_until("the Opus input's codecs", Duration::from_secs(30), || {
        opus_codecs()["audio"] == "opus"
    });
    assert_eq!(opus_codecs(), json!({"video": "h264", "audio": "opus"}));
    let id = input["id"].as_i64().unwrap();
    let body = json!({"name": "yt", "platform": "youtube",
                      "push": format!("rtmp://127.0.0.1:{yt_opus_port}/live2/dest")});
    let (st, out) = relevo.api("POST", &format!("/api/v1/inputs/{id}/outputs"), Some(&body));
    assert_eq!(st, 201, "{out}");
    assert_eq!(
        codes(&out),
        [problem("error", "audio_codec", "opus")],
        "{out}"
    );
    assert_eq!(out["platform"], "youtube", "{out}");
    let (st, stored) = relevo.api("GET", &format!("/api/v1/outputs/{}", out["id"]), None);
    assert_eq!(
        (st, &stored["platform"]),
        (200, &json!("youtube")),
        "{stored}"
    );
    assert!(stored.get("compat").is_none(), "{stored}");
    wait_output(&relevo, "opus", "yt", |o| o["state"] == "incompatible");
    assert_eq!(
        codes(&relevo.output_status("opus", "yt")),
        [problem("error", "audio_codec", "opus")]
    );

    for p in publishers {
        assert!(p.wait(Duration::from_secs(60)).success());
    }
    wait_files_stable(&[dir.path("reader.ts"), dir.path("sink.flv")]);
    reader.wait(Duration::from_secs(10));
    sink.interrupt();

    // The refused pushes never connected; each said why once in the log.
    assert_eq!(connections(&legacy), 0, "legacy RTMP push connected");
    assert_eq!(connections(&yt_ac3), 0, "AC-3 push connected");
    assert_eq!(connections(&yt_opus), 0, "Opus push connected");
    for code in ["h265_needs_enhanced", "audio_codec"] {
        let needle = format!("the output waits: {code}");
        let n = relevo.log_count(&needle);
        let want = if code == "audio_codec" { 2 } else { 1 };
        assert_eq!(n, want, "{needle:?} logged {n} times");
    }
    // The other outputs ran: the SRT reader of the H.265 input got all of it, the
    // audio-less push its video.
    assert_full_stream_of(
        "hevc",
        "SRT reader of the H.265 input",
        &dir.path("reader.ts"),
        SECS,
    );
    let sink = probe(&dir.path("sink.flv"));
    assert!(
        sink.frames("h264") + u64::from(GOP) >= u64::from(SECS * FPS),
        "audio-less push: {sink:?}"
    );
    assert!(
        sink.streams.iter().all(|s| s.0 == "video"),
        "audio-less push: {sink:?}"
    );
}
