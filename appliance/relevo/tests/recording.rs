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

/// The one file of each record output (`mp4`, `ts`) of input `studio`.
fn one_file_each(relevo: &Relevo) -> (PathBuf, PathBuf) {
    let mp4 = files(&relevo.dir, "studio", "mp4");
    let ts = files(&relevo.dir, "studio", "ts");
    assert_eq!((mp4.len(), ts.len()), (1, 1), "{mp4:?} {ts:?}");
    (mp4[0].clone(), ts[0].clone())
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
    let (mp4, ts) = one_file_each(&relevo);
    assert!(mp4.to_string_lossy().ends_with("_0001.mp4"), "{mp4:?}");
    // MP4 keeps the first audio track; TS keeps every PID as it came.
    assert_recorded("mp4", &mp4, secs, 1);
    assert_recorded("ts", &ts, secs, 2);
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
    let (mp4, ts) = one_file_each(&relevo);
    assert_recorded("mp4", &mp4, secs, 1);
    assert_recorded("ts", &ts, secs, 1);
}

#[test]
fn a_relevo_killed_during_an_mp4_recording_leaves_a_file_that_plays() {
    let flows = [
        input_toml("studio", "studio-key"),
        record_toml("mp4", "mp4", ""),
    ];
    let mut relevo = start("rec-kill", &flows);
    let publisher = publish(
        "publisher",
        30,
        "mpegts",
        &relevo.srt_url("studio-key", ""),
        &relevo.dir.path("publisher.log"),
    );
    wait_until("a few fragments", Duration::from_secs(30), || {
        files(&relevo.dir, "studio", "mp4")
            .first()
            .is_some_and(|f| file_len(f) > 400_000)
    });
    relevo.proc.child.kill().unwrap();
    relevo.proc.child.wait().unwrap();
    drop(publisher);
    let file = files(&relevo.dir, "studio", "mp4").remove(0);
    let killed_len = file_len(&file);
    // As the kill left it: it opens and plays up to its last fragment.
    let p = probe(&file);
    assert!(p.frames("h264") >= 2 * u64::from(GOP), "{p:?}");
    assert!(p.non_monotonic.is_empty(), "{p:?}");

    // A power loss can also tear the last fragment's moof, which ffmpeg cannot open:
    // the next start cuts it off.
    let mut torn = std::fs::read(&file).unwrap();
    let at = torn.windows(4).rposition(|w| w == b"moof").unwrap() - 4;
    let size = u32::from_be_bytes(torn[at..at + 4].try_into().unwrap()) as usize;
    let half = torn[at..at + size / 2].to_vec();
    torn.extend_from_slice(&half);
    std::fs::write(&file, &torn).unwrap();
    assert!(
        !copy_warnings(&file).is_empty(),
        "a torn moof is not noticed"
    );
    relevo.start_again();
    wait_until("the torn file to be cut", Duration::from_secs(20), || {
        relevo.log_text().contains("last file of the previous run")
    });
    let len = file_len(&file);
    assert!(len <= killed_len && len > 0, "{len} of {killed_len}");
    let p = probe(&file);
    assert!(p.frames("h264") >= 2 * u64::from(GOP), "{p:?}");
    let warnings = copy_warnings(&file);
    assert!(warnings.is_empty(), "ffmpeg says:\n{warnings}");
}

/// A publisher over SRT for `secs` seconds.
fn srt_publisher(relevo: &Relevo, name: &str, secs: u32) -> Proc {
    publish(
        name,
        secs,
        "mpegts",
        &relevo.srt_url("studio-key", ""),
        &relevo.dir.path(&format!("{name}.log")),
    )
}

#[test]
fn a_blip_inside_the_grace_period_continues_the_file_and_a_later_one_starts_another() {
    let flows = [
        "\n[[input]]\nname = \"studio\"\nkey = \"studio-key\"\ngrace_period_s = 4\n".to_owned(),
        record_toml("mp4", "mp4", ""),
        record_toml("ts", "ts", ""),
    ];
    let relevo = start("rec-grace", &flows);
    // The first encoder dies without a goodbye; its replacement comes back at once.
    let mut first = srt_publisher(&relevo, "first", 30);
    wait_until(
        "the first encoder's recording",
        Duration::from_secs(30),
        || {
            files(&relevo.dir, "studio", "ts")
                .first()
                .is_some_and(|f| file_len(f) > 600_000)
        },
    );
    first.child.kill().unwrap();
    let _ = first.child.wait();
    // SRT notices a dead caller only after its idle timeout; a new publisher may replace a
    // silent one after `STALE_PUBLISHER` (2 s), as a rebooted encoder does.
    std::thread::sleep(Duration::from_secs(3));
    let second = srt_publisher(&relevo, "second", 8);
    relevo.wait_log("publisher back within the grace period", 1);
    assert!(second.wait(Duration::from_secs(40)).success());
    // After the grace period the files close; the next publication starts new ones.
    relevo.wait_log("grace period over", 1);
    wait_closed(&relevo, 2);
    let third = srt_publisher(&relevo, "third", 8);
    assert!(third.wait(Duration::from_secs(40)).success());
    relevo.wait_log("grace period over", 2);
    wait_closed(&relevo, 4);

    for output in ["mp4", "ts"] {
        let f = files(&relevo.dir, "studio", output);
        assert_eq!(f.len(), 2, "{output}: {f:?}");
        let p = probe(&f[0]);
        // Both encoders in one file: the second alone sent 8 s.
        assert!(p.duration > 10.0, "{output}: {p:?}");
        assert!(p.frames("h264") > 200, "{output}: {p:?}");
        assert!(p.non_monotonic.is_empty(), "{output}: {p:?}");
        // At the splice: a frame's step in MP4, the TS muxer's audio lead in TS.
        assert!(p.max_gap < 1.5, "{output}: {p:?}");
        let warnings = copy_warnings(&f[0]);
        assert!(warnings.is_empty(), "{output}: ffmpeg says:\n{warnings}");
        assert_recorded(output, &f[1], 8, 1);
    }
}

#[test]
fn files_of_10_s_start_with_a_keyframe_and_add_up_to_the_recording() {
    let flows = [
        input_toml("studio", "studio-key"),
        record_toml("mp4", "mp4", "  segment_s = 10\n"),
        record_toml("ts", "ts", "  segment_s = 10\n"),
    ];
    let relevo = start("rec-segments", &flows);
    let secs = 25;
    let publisher = srt_publisher(&relevo, "publisher", secs);
    assert!(publisher.wait(Duration::from_secs(60)).success());
    wait_closed(&relevo, 6);
    for output in ["mp4", "ts"] {
        let f = files(&relevo.dir, "studio", output);
        assert_eq!(f.len(), 3, "{output}: {f:?}");
        let (mut duration, mut frames) = (0.0, 0);
        for file in &f {
            assert!(starts_with_keyframe(file), "{}", file.display());
            let warnings = copy_warnings(file);
            assert!(warnings.is_empty(), "{}: {warnings}", file.display());
            let p = probe(file);
            duration += p.duration;
            frames += p.frames("h264");
        }
        let sent = u64::from(secs * FPS);
        assert!(
            frames + u64::from(GOP) >= sent && frames <= sent,
            "{output}: {frames} frames of {sent}"
        );
        let expected = f64::from(secs);
        assert!(
            (duration - expected).abs() <= expected * 0.05,
            "{output}: {duration} s of {secs} s"
        );
        // The first two files hold 10 s each (the next keyframe after 10 s).
        for file in &f[..2] {
            let d = probe(file).duration;
            assert!((d - 10.0).abs() < 0.1, "{}: {d} s", file.display());
        }
    }
    // TS keeps the stream's clock: each file begins one frame after the last ended.
    let ts = files(&relevo.dir, "studio", "ts");
    for pair in ts.windows(2) {
        let (_, end) = video_dts_span(&pair[0]);
        let (start, _) = video_dts_span(&pair[1]);
        let step = start - end;
        assert!(
            (step - 1.0 / f64::from(FPS)).abs() < 0.005,
            "a gap of {step} s between {pair:?}"
        );
    }
}

#[test]
fn h265_is_recorded_and_a_new_resolution_after_a_blip_starts_a_new_mp4_file() {
    let flows = [
        "\n[[input]]\nname = \"studio\"\nkey = \"studio-key\"\ngrace_period_s = 5\n".to_owned(),
        record_toml("mp4", "mp4", ""),
        record_toml("ts", "ts", ""),
    ];
    let relevo = start("rec-hevc", &flows);
    let secs = 8;
    let url = relevo.srt_url("studio-key", "");
    let first = publish_with(
        "first",
        &source_args_of("hevc", 1, secs),
        "mpegts",
        &url,
        &relevo.dir.path("first.log"),
    );
    assert!(first.wait(Duration::from_secs(40)).success());
    // The encoder comes back at once with another picture size: new parameter sets.
    let larger: Vec<String> = source_args_of("hevc", 1, secs)
        .into_iter()
        .map(|a| a.replace("size=320x240", "size=480x272"))
        .collect();
    let second = publish_with(
        "second",
        &larger,
        "mpegts",
        &url,
        &relevo.dir.path("second.log"),
    );
    relevo.wait_log("publisher back within the grace period", 1);
    assert!(second.wait(Duration::from_secs(40)).success());
    relevo.wait_log("grace period over", 1);
    wait_closed(&relevo, 3);

    // An init segment describes one set of parameter sets: one MP4 file per size.
    let mp4 = files(&relevo.dir, "studio", "mp4");
    assert_eq!(mp4.len(), 2, "{mp4:?}");
    for f in &mp4 {
        let p = probe(f);
        assert_eq!((p.count("hevc"), p.count("aac")), (1, 1), "{p:?}");
        // Within one GOP of what each encoder sent: an x265 publisher's last half second
        // may not reach the input (the TS recording lacks it too).
        let d = f64::from(secs);
        let gop = f64::from(GOP) / f64::from(FPS);
        assert!(
            p.duration >= d - gop && p.duration <= d * 1.05,
            "{}: {p:?}",
            f.display()
        );
        assert!(starts_with_keyframe(f));
        let warnings = copy_warnings(f);
        assert!(warnings.is_empty(), "{}: {warnings}", f.display());
    }
    // TS carries the change in-band: one file through the blip.
    let ts = files(&relevo.dir, "studio", "ts");
    assert_eq!(ts.len(), 1, "{ts:?}");
    let p = probe(&ts[0]);
    assert!(
        p.frames("hevc") > u64::from(2 * secs * FPS - 2 * GOP),
        "{p:?}"
    );
    assert!(p.non_monotonic.is_empty(), "{p:?}");
}

#[test]
fn a_changed_record_output_closes_its_file_and_starts_another_that_plays() {
    let flows = [
        input_toml("studio", "studio-key"),
        record_toml("mp4", "mp4", ""),
    ];
    let relevo = start("rec-change", &flows);
    let publisher = srt_publisher(&relevo, "publisher", 16);
    wait_until("the first file", Duration::from_secs(30), || {
        files(&relevo.dir, "studio", "mp4")
            .first()
            .is_some_and(|f| file_len(f) > 300_000)
    });
    // A new segment duration restarts the output (SIGHUP re-reads the file).
    let config = relevo.dir.path("relevo.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{text}  segment_s = 600\n")).unwrap();
    let st = Command::new("kill")
        .args(["-HUP", &relevo.proc.child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    wait_until("a second file", Duration::from_secs(20), || {
        files(&relevo.dir, "studio", "mp4").len() == 2
    });
    assert!(publisher.wait(Duration::from_secs(40)).success());
    wait_closed(&relevo, 2);
    let f = files(&relevo.dir, "studio", "mp4");
    assert_eq!(f.len(), 2, "{f:?}");
    let mut frames = 0;
    for file in &f {
        let p = probe(file);
        frames += p.frames("h264");
        assert!(starts_with_keyframe(file), "{}", file.display());
        let warnings = copy_warnings(file);
        assert!(warnings.is_empty(), "{}: {warnings}", file.display());
    }
    // The new output starts at the keyframe the old one's file may already hold.
    assert!(
        frames + u64::from(GOP) >= u64::from(16 * FPS),
        "{frames} frames"
    );
}

#[test]
fn a_recordings_dir_that_cannot_be_made_stops_the_start_with_a_clear_error() {
    let dir = TempDir::new("rec-baddir");
    std::fs::write(dir.path("file"), b"not a folder").unwrap();
    let config = dir.path("relevo.toml");
    std::fs::write(
        &config,
        format!(
            "[listen]\nsrt = \"127.0.0.1:{}\"\nrtmp = \"127.0.0.1:{}\"\nhttp = \"127.0.0.1:{}\"\n\
             [database]\nstate_dir = \"{}\"\n[recording]\ndir = \"{}\"\n",
            free_udp_port(),
            free_tcp_port(),
            free_tcp_port(),
            dir.path("state").display(),
            dir.path("file").join("rec").display(),
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_relevo"))
        .args(["serve", "--config"])
        .arg(&config)
        .env_remove("JOURNAL_STREAM")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("cannot create the recordings directory")
            && stderr.contains(&dir.path("file").join("rec").display().to_string()),
        "{stderr}"
    );
}
