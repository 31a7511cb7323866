//! Record outputs with real publishers (ffmpeg over SRT and RTMP) and the files read back
//! by ffprobe and ffmpeg: both formats, a crash, publisher blips and segmenting.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;

/// `[recording]` in the test's folder, with no floor: the small- and full-disk cases are
/// `recording_disk.rs`'s.
fn recording_toml(dir: &TempDir) -> String {
    format!(
        "[recording]\ndir = \"{}\"\nmin_free_percent = 0\nmin_free_gib = 0\n",
        dir.path("rec").display()
    )
}

fn record_toml(name: &str, format: &str, extra: &str) -> String {
    format!("\n  [[input.output]]\n  name = \"{name}\"\n  record = \"{format}\"\n{extra}")
}

/// The recorded files of one output, in sequence order.
fn files(dir: &TempDir, input: &str, output: &str) -> Vec<PathBuf> {
    let folder = dir.path("rec").join(input).join(output);
    let mut v: Vec<PathBuf> = std::fs::read_dir(&folder)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// What `ffmpeg -v warning -i FILE -c copy -f null -` says: empty for a clean file.
fn copy_warnings(file: &Path) -> String {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-v", "warning", "-i"])
        .arg(file)
        .args(["-map", "0", "-c", "copy", "-f", "null", "-"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Whether the first video packet of `file` is a keyframe.
fn starts_with_keyframe(file: &Path) -> bool {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries"])
        .args(["packet=flags", "-read_intervals", "%+#1", "-of", "csv=p=0"])
        .arg(file)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .trim_start()
        .starts_with('K')
}

/// DTS (seconds) of the first and last video packets.
fn video_dts_span(file: &Path) -> (f64, f64) {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries"])
        .args(["packet=dts_time", "-of", "csv=p=0"])
        .arg(file)
        .output()
        .unwrap();
    let dts: Vec<f64> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().trim_end_matches(',').parse().ok())
        .collect();
    (dts[0], dts[dts.len() - 1])
}

/// One whole recording of `secs` seconds: video and `audio` AAC tracks, duration within
/// 5 % of the time recorded, every frame sent, and ffmpeg reads it without a warning.
fn assert_recorded(what: &str, file: &Path, secs: u32, audio: usize) {
    let p = probe(file);
    assert_eq!(p.count("h264"), 1, "{what}: {p:?}");
    assert_eq!(p.count("aac"), audio, "{what}: {p:?}");
    let expected = f64::from(secs);
    assert!(
        (p.duration - expected).abs() <= expected * 0.05,
        "{what}: {} s recorded of {secs} s {p:?}",
        p.duration
    );
    let sent = u64::from(secs * FPS);
    let video = p.frames("h264");
    assert!(
        video + u64::from(GOP) >= sent && video <= sent,
        "{what}: {video} video frames of {sent} {p:?}"
    );
    assert!(p.non_monotonic.is_empty(), "{what}: {p:?}");
    assert!(starts_with_keyframe(file), "{what}: no keyframe first");
    let warnings = copy_warnings(file);
    assert!(warnings.is_empty(), "{what}: ffmpeg says:\n{warnings}");
}

/// The input's publication is over and every record output closed its file.
fn wait_closed(relevo: &Relevo, closed: usize) {
    wait_until("the files to close", Duration::from_secs(30), || {
        relevo.log_count("recorded file closed") >= closed
    });
}

/// Relevo with `[recording]` in its own folder and `flows`.
fn start(name: &str, flows: &[String]) -> Relevo {
    let dir = TempDir::new(name);
    let extra = recording_toml(&dir);
    Relevo::start_in(dir, &extra, &flows.concat())
}

#[test]
fn an_srt_publisher_with_two_audio_tracks_is_recorded_as_mp4_and_ts() {
    let flows = [
        input_toml("studio", "studio-key"),
        record_toml("mp4", "mp4", ""),
        record_toml("ts", "ts", ""),
    ];
    let relevo = start("rec-srt", &flows);
    let secs = 20;
    let publisher = publish_with(
        "publisher",
        &source_args_of("h264", 2, secs),
        "mpegts",
        &relevo.srt_url("studio-key", ""),
        &relevo.dir.path("publisher.log"),
    );
    assert!(publisher.wait(Duration::from_secs(60)).success());
    wait_closed(&relevo, 2);
    let mp4 = files(&relevo.dir, "studio", "mp4");
    let ts = files(&relevo.dir, "studio", "ts");
    assert_eq!((mp4.len(), ts.len()), (1, 1), "{mp4:?} {ts:?}");
    assert!(mp4[0].to_string_lossy().ends_with("_0001.mp4"), "{mp4:?}");
    // MP4 keeps the first audio track; TS keeps every PID as it came.
    assert_recorded("mp4", &mp4[0], secs, 1);
    assert_recorded("ts", &ts[0], secs, 2);
    let status = relevo.output_status("studio", "mp4");
    assert_eq!(status["state"], "idle", "{status}");
    assert_eq!(status["record"]["files"], 1, "{status}");
    assert!(status["bytes_out"].as_u64().unwrap() > 100_000, "{status}");
}

#[test]
fn an_rtmp_publisher_is_recorded_as_mp4_and_ts() {
    let flows = [
        input_toml("studio", "studio-key"),
        record_toml("mp4", "mp4", ""),
        record_toml("ts", "ts", ""),
    ];
    let relevo = start("rec-rtmp", &flows);
    let secs = 20;
    let publisher = publish(
        "publisher",
        secs,
        "flv",
        &relevo.rtmp_url("studio-key"),
        &relevo.dir.path("publisher.log"),
    );
    assert!(publisher.wait(Duration::from_secs(60)).success());
    wait_closed(&relevo, 2);
    let mp4 = files(&relevo.dir, "studio", "mp4");
    let ts = files(&relevo.dir, "studio", "ts");
    assert_eq!((mp4.len(), ts.len()), (1, 1), "{mp4:?} {ts:?}");
    assert_recorded("mp4", &mp4[0], secs, 1);
    assert_recorded("ts", &ts[0], secs, 1);
}
