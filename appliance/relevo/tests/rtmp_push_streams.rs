//! An RTMP hop adds nothing: an RTMP publisher pushed on to an RTMP destination arrives there
//! with exactly the publisher's streams (issue #14, finding A: the push output's metadata,
//! stamped with the session's age, made ffmpeg list an extra `Subtitle: text` stream).
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;

const SECS: u32 = 8;

/// Every stream ffprobe lists in `file`, as (codec_type, codec_name), data streams included.
fn all_streams(file: &Path) -> Vec<(String, String)> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_type,codec_name",
            "-of",
            "json",
        ])
        .arg(file)
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    json["streams"]
        .as_array()
        .map(|a| a.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|s| {
            let field = |k: &str| s[k].as_str().unwrap_or("").to_owned();
            (field("codec_type"), field("codec_name"))
        })
        .collect()
}

#[test]
fn rtmp_push_output_has_exactly_the_publishers_streams() {
    let dir = TempDir::new("rtmp-push-streams");
    let sink_port = free_tcp_port();
    let sink = rtmp_listener_sink(sink_port, &dir.path("dest.flv"), &dir.path("dest.log"));
    let flows = input_toml("studio", "studio-key") + &push_toml("dest", &rtmp_sink_url(sink_port));
    let relevo = Relevo::start("rtmp-push-streams", "", &flows);
    let publisher = publish(
        "publisher",
        SECS,
        "flv",
        &relevo.rtmp_url("studio-key"),
        &dir.path("publisher.log"),
    );
    let st = publisher.wait(Duration::from_secs(u64::from(SECS) + 30));
    assert!(st.success(), "publisher failed: {st}");
    wait_file_stable(&dir.path("dest.flv"));
    sink.wait(Duration::from_secs(20));

    // What the publisher sent, straight from the same kind of source: one video, one audio.
    let mut streams = all_streams(&dir.path("dest.flv"));
    streams.sort();
    assert_eq!(
        streams,
        [
            ("audio".to_owned(), "aac".to_owned()),
            ("video".to_owned(), "h264".to_owned()),
        ],
        "the destination must see the publisher's streams and nothing else"
    );
    assert_full_stream("push RTMP", &dir.path("dest.flv"), SECS);
}
