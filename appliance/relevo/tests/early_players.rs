//! Pull players and SRT readers that connect before the publisher (as with nginx-rtmp's
//! `idle_streams on`): they are accepted, counted as peers of an idle output, and receive the
//! stream from the publication's first keyframe. Unknown keys and disabled flows are still
//! refused.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;

const SECS: u32 = 8;
const LIMIT: Duration = Duration::from_secs(30);

fn flows() -> String {
    [
        input_toml("studio", "early-in"),
        pull_toml("watch", "rtmp", "early-watch"),
        pull_toml("watch-srt", "srt", "early-watch-srt"),
        pull_toml("off", "rtmp", "early-off") + "  enabled = false\n",
        pull_toml("off-srt", "srt", "early-off-srt") + "  enabled = false\n",
        input_toml("closed", "closed-in") + "enabled = false\n",
        pull_toml("closed-watch", "rtmp", "closed-watch-key"),
        pull_toml("closed-watch-srt", "srt", "closed-watch-srt-key"),
    ]
    .concat()
}

/// The value of the first `/metrics` sample whose name and labels start with `prefix`.
fn metric(relevo: &Relevo, prefix: &str) -> Option<f64> {
    relevo
        .get("/metrics")?
        .lines()
        .filter(|l| l.starts_with(prefix))
        .find_map(|l| l.rsplit(' ').next()?.parse().ok())
}

/// Waits until the output has one connected peer while the input has no publisher, and
/// checks what operators see then: the peer listed, the output idle (not live).
fn assert_waiting_peer(relevo: &Relevo, output: &str, kind: &str, protocol: &str) {
    wait_until(
        &format!("{output}'s waiting peer in the status"),
        LIMIT,
        || relevo.output_status("studio", output)["peers"] == 1,
    );
    let out = relevo.output_status("studio", output);
    assert_eq!(out["state"], "idle", "waiting for the publisher: {out}");
    assert_eq!(out["connections"][0]["protocol"], protocol, "{out}");
    let status = relevo.status();
    let input = status["inputs"]
        .as_array()
        .and_then(|a| a.iter().find(|i| i["name"] == "studio"))
        .unwrap();
    assert_eq!(input["state"], "idle", "{input}");
    let labels = format!(r#"input="studio",output="{output}",kind="{kind}""#);
    wait_until(
        &format!("{output}'s waiting peer in /metrics"),
        LIMIT,
        || metric(relevo, &format!("relevo_output_peers{{{labels}}}")) == Some(1.0),
    );
    assert_eq!(
        metric(
            relevo,
            &format!(r#"relevo_output_state{{{labels},state="idle"}}"#)
        ),
        Some(1.0)
    );
    assert_eq!(
        metric(
            relevo,
            &format!(r#"relevo_output_state{{{labels},state="live"}}"#)
        ),
        Some(0.0)
    );
}

/// Publishes over RTMP once the peer has waited a little, and waits until its output is
/// live and the publisher finished.
fn publish_after_waiting(relevo: &Relevo, dir: &TempDir, output: &str, peer: &mut Proc) {
    // Scenario, not a measure: the peer stays connected while nothing is published.
    std::thread::sleep(Duration::from_secs(2));
    assert!(peer.is_running(), "{output}: the waiting peer was dropped");
    let publisher = publish(
        "publisher",
        SECS,
        "flv",
        &relevo.rtmp_url("early-in"),
        &dir.path("publisher.log"),
    );
    wait_until(&format!("{output} live"), LIMIT, || {
        relevo.output_status("studio", output)["state"] == "live"
    });
    let st = publisher.wait(Duration::from_secs(u64::from(SECS) + 30));
    assert!(
        st.success(),
        "publisher failed: {st}: {}",
        std::fs::read_to_string(dir.path("publisher.log")).unwrap_or_default()
    );
}

/// ffprobe's flags of the first video packet (`K` for a keyframe).
fn first_video_packet_flags(file: &Path) -> String {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0"])
        .args(["-show_entries", "packet=flags", "-of", "csv=p=0"])
        .arg(file)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// Decodes every frame of `file`; what the decoders complained about (empty when none).
fn decode_errors(file: &Path) -> String {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-v", "error", "-i"])
        .arg(file)
        .args(["-map", "0:v", "-map", "0:a", "-f", "null", "-"])
        .output()
        .unwrap();
    assert!(out.status.success(), "ffmpeg could not decode {file:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Everything a peer that waited must have got: the whole stream, decodable from its
/// first frame.
fn assert_decodable_from_the_start(what: &str, file: &Path) {
    assert_full_stream(what, file, SECS);
    let flags = first_video_packet_flags(file);
    assert!(
        flags.starts_with('K'),
        "{what}: the first video packet is not a keyframe ({flags:?})"
    );
    let errors = decode_errors(file);
    assert!(errors.is_empty(), "{what}: decoding errors:\n{errors}");
}

#[test]
fn an_rtmp_player_connected_before_the_publisher_gets_the_stream_from_a_keyframe() {
    let dir = TempDir::new("early-rtmp");
    let relevo = Relevo::start("early-rtmp", "", &flows());
    let file = dir.path("watch.flv");
    // ffmpeg as a partner's player: its 15 s read timeout is longer than the wait.
    let mut player = relevo.record_rtmp("early-watch", &file);
    relevo.wait_log("RTMP player connected", 1);
    assert_waiting_peer(&relevo, "watch", "pull_rtmp", "rtmp");
    publish_after_waiting(&relevo, &dir, "watch", &mut player);

    // The publication ends (no grace period): the player is closed and finishes its file.
    wait_file_stable(&file);
    let st = player.wait(LIMIT);
    assert!(
        st.success(),
        "the player failed: {st}: {}",
        std::fs::read_to_string(file.with_extension("log")).unwrap_or_default()
    );
    assert_decodable_from_the_start("early RTMP player", &file);
    assert_eq!(relevo.log_count("RTMP request rejected"), 0);
}

#[test]
fn an_srt_reader_connected_before_an_rtmp_publisher_gets_the_remuxed_stream() {
    let dir = TempDir::new("early-srt");
    let relevo = Relevo::start("early-srt", "", &flows());
    let file = dir.path("watch.ts");
    // srt-live-transmit writes exactly what Relevo sent, and exits when it is closed.
    let mut reader = relevo.srt_reader("early-watch-srt", &file);
    relevo.wait_log("SRT reader connected", 1);
    assert_waiting_peer(&relevo, "watch-srt", "pull_srt", "srt");
    publish_after_waiting(&relevo, &dir, "watch-srt", &mut reader);

    wait_file_stable(&file);
    reader.wait(LIMIT);
    // Closed at the end of the publication, as a reader that joined a live input.
    relevo.wait_log("SRT reader gone: input ended", 1);
    // The FLV → TS remux started for the waiting reader: PAT, then its PMT, come first.
    let ts = std::fs::read(&file).unwrap();
    assert!(ts.len() >= 2 * 188 && ts[0] == 0x47, "not MPEG-TS");
    let pid = |p: &[u8]| u16::from(p[1] & 0x1f) << 8 | u16::from(p[2]);
    assert_eq!(pid(&ts[..188]), 0, "the stream does not start with a PAT");
    let pmt_pid = u16::from(ts[15] & 0x1f) << 8 | u16::from(ts[16]);
    assert_eq!(
        pid(&ts[188..]),
        pmt_pid,
        "the PAT is not followed by its PMT"
    );
    assert_decodable_from_the_start("early SRT reader", &file);
}

/// One player or reader that must be refused: its process fails, and Relevo says why.
fn refused(proc: Proc, what: &str) {
    let st = proc.wait(LIMIT);
    assert!(!st.success(), "{what} was let in");
}

#[test]
fn unknown_keys_and_disabled_flows_are_still_refused() {
    let dir = TempDir::new("early-refused");
    let relevo = Relevo::start("early-refused", "", &flows());
    let out = |name: &str| dir.path(name);

    refused(
        relevo.record_rtmp("nope", &out("unknown.flv")),
        "unknown RTMP key",
    );
    relevo.wait_log("RTMP request rejected: unknown stream key", 1);
    refused(
        relevo.record_rtmp("early-off", &out("off.flv")),
        "disabled output",
    );
    refused(
        relevo.record_rtmp("closed-watch-key", &out("closed.flv")),
        "output of a disabled input",
    );
    relevo.wait_log("RTMP request rejected: input is disabled", 2);

    refused(
        relevo.record_srt("read:nope", &out("unknown.ts")),
        "unknown SRT key",
    );
    relevo.wait_log("SRT caller rejected: unknown stream key", 1);
    refused(
        relevo.record_srt("read:early-off-srt", &out("off.ts")),
        "disabled SRT output",
    );
    relevo.wait_log(
        "SRT caller rejected: output off-srt of studio is disabled",
        1,
    );
    refused(
        relevo.record_srt("read:closed-watch-srt-key", &out("closed.ts")),
        "SRT reader of a disabled input",
    );
    relevo.wait_log("SRT caller rejected: input closed is disabled", 1);

    assert_eq!(relevo.log_count("RTMP player connected"), 0);
    assert_eq!(relevo.log_count("SRT reader connected"), 0);
    for key in ["early-off", "closed-watch-key", "nope"] {
        assert!(
            !relevo.log_text().contains(key),
            "a stream key reached the log: {key}"
        );
    }
}
