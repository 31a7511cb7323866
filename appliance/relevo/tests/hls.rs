//! HLS outputs end to end (issue #16) with real peers: ffmpeg publishers over SRT and RTMP,
//! ffprobe and ffmpeg reading `/hls/KEY/index.m3u8` as players do, and the segments read
//! back one by one. The HTTP details (headers, CORS, conditional and range requests) are
//! `hls_http.rs`'s; here: what a player gets (streams, keyframes, durations), a publisher
//! blip inside and beyond the grace period, bad requests with a live stream beside them, and
//! a player and an RTMP reader of one input at once.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;

/// TOML of an `[[input.output]]` that players read at `/hls/KEY/index.m3u8`.
fn hls_toml(name: &str, key: &str) -> String {
    pull_toml(name, "hls", key)
}

/// The test source with a keyframe every `gop_s` seconds (no scene-cut keyframes between).
fn source_with_gop(secs: u32, gop_s: u32) -> Vec<String> {
    let mut args = source_args(secs);
    let g = args.iter().position(|a| a == "-g").unwrap();
    args[g + 1] = (gop_s * FPS).to_string();
    args.extend(["-sc_threshold", "0"].map(String::from));
    args
}

/// `GET path` over HTTP/1.0 with extra header lines: (status, headers, body bytes).
fn get(port: u16, path: &str, headers: &[&str]) -> (u16, Vec<(String, String)>, Vec<u8>) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let mut req = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n");
    for h in headers {
        req.push_str(h);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let (status, headers, start) = parse_http_head(&raw);
    (status, headers, raw[start..].to_vec())
}

fn hls_url(relevo: &Relevo, key: &str, file: &str) -> String {
    format!("http://127.0.0.1:{}/hls/{key}/{file}", relevo.http)
}

/// A media playlist as a test reads it.
#[derive(Debug, Default)]
struct Playlist {
    text: String,
    target: u64,
    media_sequence: u64,
    /// The last `#EXT-X-MAP` URI.
    map: String,
    /// Whole segments: (EXTINF seconds, URI).
    segments: Vec<(f64, String)>,
    ended: bool,
    /// `#EXT-X-PART-INF:PART-TARGET`, seconds.
    part_target: f64,
    /// Parts listed: (DURATION seconds, URI).
    parts: Vec<(f64, String)>,
}

impl Playlist {
    fn parse(text: &str) -> Self {
        let mut p = Self {
            text: text.to_owned(),
            ..Self::default()
        };
        let mut extinf = None;
        for line in text.lines().map(str::trim) {
            if let Some(v) = line.strip_prefix("#EXT-X-TARGETDURATION:") {
                p.target = v.parse().unwrap();
            } else if let Some(v) = line.strip_prefix("#EXT-X-MEDIA-SEQUENCE:") {
                p.media_sequence = v.parse().unwrap();
            } else if let Some(v) = line.strip_prefix("#EXT-X-MAP:URI=\"") {
                p.map = v.split('"').next().unwrap().to_owned();
            } else if let Some(v) = line.strip_prefix("#EXTINF:") {
                extinf = Some(
                    v.trim_end_matches(',')
                        .split(',')
                        .next()
                        .unwrap()
                        .parse()
                        .unwrap(),
                );
            } else if let Some(v) = line.strip_prefix("#EXT-X-PART-INF:PART-TARGET=") {
                p.part_target = v.parse().unwrap();
            } else if let Some(v) = line.strip_prefix("#EXT-X-PART:DURATION=") {
                let (duration, rest) = v.split_once(',').unwrap();
                let uri = rest
                    .split("URI=\"")
                    .nth(1)
                    .unwrap()
                    .split('"')
                    .next()
                    .unwrap();
                p.parts.push((duration.parse().unwrap(), uri.to_owned()));
            } else if line == "#EXT-X-ENDLIST" {
                p.ended = true;
            } else if !line.is_empty() && !line.starts_with('#') {
                p.segments.push((extinf.take().unwrap(), line.to_owned()));
            }
        }
        p
    }

    /// The media sequence number of the last whole segment.
    fn last_msn(&self) -> Option<u64> {
        let n = self.segments.len() as u64;
        (n > 0).then(|| self.media_sequence + n - 1)
    }

    /// The session epoch of every segment name (`seg<epoch>-<msn>.m4s`), deduplicated.
    fn epochs(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .segments
            .iter()
            .map(|(_, uri)| epoch_of(uri).to_owned())
            .collect();
        v.dedup();
        v
    }
}

/// `<epoch>` of `seg<epoch>-<msn>.m4s`.
fn epoch_of(uri: &str) -> &str {
    uri.strip_prefix("seg")
        .and_then(|r| r.split('-').next())
        .unwrap_or_else(|| panic!("not a segment name: {uri}"))
}

/// The playlist of `key` when the answer is 200.
fn playlist(relevo: &Relevo, key: &str) -> Option<Playlist> {
    let (st, _, body) = get(relevo.http, &format!("/hls/{key}/index.m3u8"), &[]);
    (st == 200).then(|| Playlist::parse(&String::from_utf8_lossy(&body)))
}

/// Polls the playlist of `key` until `cond` holds; returns it.
fn wait_playlist(
    relevo: &Relevo,
    key: &str,
    what: &str,
    limit: Duration,
    mut cond: impl FnMut(&Playlist) -> bool,
) -> Playlist {
    let mut last = None;
    wait_until(&format!("{key}: {what}"), limit, || {
        last = playlist(relevo, key);
        last.as_ref().is_some_and(&mut cond)
    });
    last.unwrap()
}

/// The body of a 200 answer.
fn fetch(relevo: &Relevo, key: &str, file: &str) -> Vec<u8> {
    let (st, _, body) = get(relevo.http, &format!("/hls/{key}/{file}"), &[]);
    assert_eq!(st, 200, "{key}/{file}: {}", String::from_utf8_lossy(&body));
    body
}

/// What ffprobe finds in a playlist (or file): (codec_type, codec_name, width, height).
fn probe_streams(url: &str) -> Vec<(String, String, u64, u64)> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-rw_timeout", "15000000", "-show_entries"])
        .args([
            "stream=codec_type,codec_name,width,height",
            "-of",
            "json",
            url,
        ])
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    json["streams"]
        .as_array()
        .map(|a| a.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|s| {
            (
                s["codec_type"].as_str().unwrap_or("").to_owned(),
                s["codec_name"].as_str().unwrap_or("").to_owned(),
                s["width"].as_u64().unwrap_or(0),
                s["height"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

/// ffprobe reads the playlist: one H.264 320x240 video stream and one AAC audio stream.
fn assert_plays(what: &str, url: &str) {
    assert_plays_codec(what, url, "h264");
}

/// [`assert_plays`] with `codec` video.
fn assert_plays_codec(what: &str, url: &str, codec: &str) {
    let streams = probe_streams(url);
    let video: Vec<_> = streams.iter().filter(|s| s.0 == "video").collect();
    let audio: Vec<_> = streams.iter().filter(|s| s.0 == "audio").collect();
    assert_eq!(video.len(), 1, "{what}: {streams:?}");
    assert_eq!(audio.len(), 1, "{what}: {streams:?}");
    assert_eq!(
        (video[0].1.as_str(), video[0].2, video[0].3),
        (codec, 320, 240),
        "{what}: {streams:?}"
    );
    assert_eq!(audio[0].1, "aac", "{what}: {streams:?}");
}

/// Flags of the video packets of a file (`K_`, `__`, …), in order.
fn video_packet_flags(file: &Path) -> Vec<String> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries"])
        .args(["packet=flags", "-of", "csv=p=0"])
        .arg(file)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect()
}

/// The init segment followed by `segments`, written to `out` (what a player feeds its
/// decoder).
fn concat(relevo: &Relevo, key: &str, pl: &Playlist, segments: &[String], out: &Path) {
    let mut bytes = fetch(relevo, key, &pl.map);
    for s in segments {
        bytes.extend(fetch(relevo, key, s));
    }
    std::fs::write(out, bytes).unwrap();
}

/// Every segment of the playlist starts with a keyframe, holds video and audio, lasts
/// about `gop_s` (one GOP; segments are cut at the first keyframe past the 2 s target), and
/// no EXTINF rounds above `#EXT-X-TARGETDURATION`.
fn assert_segments(
    relevo: &Relevo,
    dir: &TempDir,
    key: &str,
    pl: &Playlist,
    gop_s: u32,
    codec: &str,
) {
    assert!(!pl.map.is_empty(), "{key}: no EXT-X-MAP:\n{}", pl.text);
    assert!(
        pl.target >= u64::from(gop_s),
        "{key}: target duration {} below the {gop_s} s GOP:\n{}",
        pl.target,
        pl.text
    );
    for (extinf, uri) in &pl.segments {
        assert!(
            extinf.round() as u64 <= pl.target,
            "{key}: {uri} lasts {extinf} s, over the target {}:\n{}",
            pl.target,
            pl.text
        );
        // One GOP per segment, give or take a frame.
        assert!(
            (extinf - f64::from(gop_s)).abs() <= 1.5 / f64::from(FPS),
            "{key}: {uri} lasts {extinf} s with a {gop_s} s GOP:\n{}",
            pl.text
        );
        let file = dir.path(&format!("{key}-{uri}.mp4"));
        concat(relevo, key, pl, std::slice::from_ref(uri), &file);
        let flags = video_packet_flags(&file);
        assert!(
            flags.first().is_some_and(|f| f.starts_with('K')),
            "{key}: {uri} does not start with a keyframe: {flags:?}"
        );
        // A keyframe only at the start: the segment is one GOP.
        assert_eq!(
            flags.iter().filter(|f| f.starts_with('K')).count(),
            1,
            "{key}: {uri}: {flags:?}"
        );
        let p = probe(&file);
        assert_eq!(p.frames(codec), flags.len() as u64, "{key}: {uri}: {p:?}");
        assert!(p.frames("aac") > 0, "{key}: {uri} has no audio: {p:?}");
        assert!(p.non_monotonic.is_empty(), "{key}: {uri}: {p:?}");
    }
}

#[test]
fn ffprobe_reads_the_playlist_of_srt_and_rtmp_inputs_segments_start_with_keyframes() {
    let dir = TempDir::new("hls-probe");
    let flows = [
        input_toml("srt-in", "hls-srt-in"),
        hls_toml("web", "hls-srt"),
        input_toml("rtmp-in", "hls-rtmp-in"),
        hls_toml("web", "hls-rtmp"),
        // A GOP longer than the 2 s target: longer segments, and the playlist says so.
        input_toml("long-gop", "hls-gop3-in"),
        hls_toml("web", "hls-gop3"),
        // H.265 (hvc1 in CMAF), no transcoding.
        input_toml("hevc-in", "hls-hevc-in"),
        hls_toml("web", "hls-hevc"),
    ];
    let relevo = Relevo::start("hls-probe", "", &flows.concat());
    let secs = 24;
    let _srt = publish_with(
        "srt publisher",
        &source_with_gop(secs, 2),
        "mpegts",
        &relevo.srt_url("publish:hls-srt-in", ""),
        &dir.path("srt-pub.log"),
    );
    let _rtmp = publish_with(
        "rtmp publisher",
        &source_with_gop(secs, 2),
        "flv",
        &relevo.rtmp_url("hls-rtmp-in"),
        &dir.path("rtmp-pub.log"),
    );
    let _gop3 = publish_with(
        "rtmp publisher, 3 s GOP",
        &source_with_gop(secs, 3),
        "flv",
        &relevo.rtmp_url("hls-gop3-in"),
        &dir.path("gop3-pub.log"),
    );
    let mut hevc = source_args_of("hevc", 1, secs);
    let g = hevc.iter().position(|a| a == "-g").unwrap() + 1;
    hevc[g] = (2 * FPS).to_string(); // a 2 s GOP, as the others, without scene cuts
    let x = hevc.iter().position(|a| a == "log-level=error").unwrap();
    hevc[x] = "log-level=error:scenecut=0".to_owned();
    let _hevc = publish_with(
        "srt publisher, H.265",
        &hevc,
        "mpegts",
        &relevo.srt_url("publish:hls-hevc-in", ""),
        &dir.path("hevc-pub.log"),
    );
    relevo.wait_log("publisher connected", 4);
    let keys = [
        ("hls-hevc", 2),
        ("hls-srt", 2),
        ("hls-rtmp", 2),
        ("hls-gop3", 3),
    ];
    // A first request starts each session; they run together from here.
    for (key, _) in keys {
        let _ = playlist(&relevo, key);
    }

    for (key, gop_s) in keys {
        // The first request starts the session; three whole segments make a window.
        let pl = wait_playlist(
            &relevo,
            key,
            "three segments",
            Duration::from_secs(30),
            |p| p.segments.len() >= 3,
        );
        assert_eq!(pl.epochs().len(), 1, "{key}: one session:\n{}", pl.text);
        assert!(!pl.ended, "{key}: ended while live:\n{}", pl.text);
        let codec = if key == "hls-hevc" { "hevc" } else { "h264" };
        assert_plays_codec(key, &hls_url(&relevo, key, "index.m3u8"), codec);
        assert_segments(&relevo, &dir, key, &pl, gop_s, codec);
    }
    let pl = playlist(&relevo, "hls-gop3").unwrap();
    assert!(
        pl.target >= 3,
        "3 s GOP, target {}:\n{}",
        pl.target,
        pl.text
    );
    assert!(
        !relevo.log_text().contains("panicked"),
        "{}",
        relevo.log_text()
    );
}

#[test]
fn a_publisher_blip_inside_the_grace_period_continues_the_playlist_and_after_it_ends() {
    let dir = TempDir::new("hls-blip");
    let input = "\n[[input]]\nname = \"studio\"\nkey = \"hls-blip-in\"\ngrace_period_s = 5\n";
    let flows = [input.to_owned(), hls_toml("web", "hls-blip")];
    let relevo = Relevo::start("hls-blip", "", &flows.concat());
    let key = "hls-blip";
    let url = relevo.rtmp_url("hls-blip-in");

    let mut first = publish_with(
        "first",
        &source_with_gop(60, 2),
        "flv",
        &url,
        &dir.path("first.log"),
    );
    let before = wait_playlist(&relevo, key, "two segments", Duration::from_secs(30), |p| {
        p.segments.len() >= 2
    });
    let epoch = before.epochs();
    assert_eq!(epoch.len(), 1, "{}", before.text);

    // The encoder dies without a goodbye; its replacement arrives within the grace period.
    first.child.kill().unwrap();
    let _ = first.child.wait();
    relevo.wait_log("publisher left: outputs held for the grace period", 1);
    let _second = publish_with(
        "second",
        &source_with_gop(12, 2),
        "flv",
        &url,
        &dir.path("second.log"),
    );
    relevo.wait_log("publisher back within the grace period", 1);
    let last_before = before.last_msn().unwrap();
    let after = wait_playlist(
        &relevo,
        key,
        "segments of the second publisher",
        Duration::from_secs(30),
        |p| p.last_msn().is_some_and(|m| m >= last_before + 3),
    );
    // One playlist: the same session (epoch), the sequence goes on, still live.
    assert_eq!(
        after.epochs(),
        epoch,
        "a new session after a blip:\n{}",
        after.text
    );
    assert!(
        after.media_sequence >= before.media_sequence,
        "{}",
        after.text
    );
    assert!(
        !after.ended,
        "ended within the grace period:\n{}",
        after.text
    );
    assert_plays("after the blip", &hls_url(&relevo, key, "index.m3u8"));
    // Same encoder settings: one init segment, so the window reads as one stream across the
    // splice, timestamps increasing.
    if !after.text.contains("#EXT-X-DISCONTINUITY\n") {
        let uris: Vec<String> = after.segments.iter().map(|s| s.1.clone()).collect();
        let file = dir.path("across-the-blip.mp4");
        concat(&relevo, key, &after, &uris, &file);
        let p = probe(&file);
        assert!(p.non_monotonic.is_empty(), "timestamps went back: {p:?}");
        assert!(p.frames("aac") > 0 && p.frames("h264") > 0, "{p:?}");
    }

    // The second publisher finishes; after the grace period the playlist ends.
    relevo.wait_log("grace period over", 1);
    let ended = wait_playlist(
        &relevo,
        key,
        "EXT-X-ENDLIST",
        Duration::from_secs(20),
        |p| p.ended,
    );
    assert_eq!(ended.epochs(), epoch, "{}", ended.text);

    // A new publication is a new session: a new epoch in every name.
    let _third = publish_with(
        "third",
        &source_with_gop(20, 2),
        "flv",
        &url,
        &dir.path("third.log"),
    );
    let fresh = wait_playlist(
        &relevo,
        key,
        "a new session",
        Duration::from_secs(40),
        |p| !p.ended && !p.segments.is_empty() && p.epochs() != epoch,
    );
    assert_eq!(fresh.epochs().len(), 1, "{}", fresh.text);
    assert_ne!(fresh.map, ended.map, "the init segment's name was reused");
    assert_plays("a new session", &hls_url(&relevo, key, "index.m3u8"));
}

/// Status and body of a GET; the status must be one a client can act on (never a 5xx).
fn status_of(relevo: &Relevo, path: &str, headers: &[&str]) -> (u16, Vec<u8>) {
    let (st, _, body) = get(relevo.http, path, headers);
    assert!(
        st != 0 && st < 500,
        "{path} {headers:?}: {st} {}",
        String::from_utf8_lossy(&body)
    );
    (st, body)
}

#[test]
fn bad_requests_get_clear_statuses_while_a_player_and_an_rtmp_reader_get_the_whole_stream() {
    let dir = TempDir::new("hls-bad");
    let flows = [
        input_toml("cam", "hls-bad-in"),
        hls_toml("web", "hls-bad"),
        pull_toml("reader", "rtmp", "hls-bad-rtmp"),
    ];
    let relevo = Relevo::start("hls-bad", "", &flows.concat());
    let key = "hls-bad";
    // Segments of 2 s in a window of 6: the first leaves it after about 14 s.
    let secs = 24;

    // An RTMP player waits for the publisher, and gets every frame.
    let rtmp = relevo.record_rtmp("hls-bad-rtmp", &dir.path("rtmp.flv"));
    relevo.wait_log("RTMP player connected", 1);
    let publisher = publish(
        "publisher",
        secs,
        "mpegts",
        &relevo.srt_url("publish:hls-bad-in", ""),
        &dir.path("pub.log"),
    );
    let first = wait_playlist(&relevo, key, "a segment", Duration::from_secs(30), |p| {
        !p.segments.is_empty()
    });
    // An HLS player (ffmpeg's HLS demuxer, from the oldest segment of the window) records
    // what it plays until the playlist ends.
    let player = Proc::spawn(
        "hls player",
        ffmpeg()
            .args(["-live_start_index", "0", "-rw_timeout", "15000000", "-i"])
            .arg(hls_url(&relevo, key, "index.m3u8"))
            .args(["-map", "0", "-c", "copy", "-f", "mpegts"])
            .arg(dir.path("hls.ts"))
            .stderr(std::fs::File::create(dir.path("hls.log")).unwrap()),
    );

    // An unknown key, and a file of a known key that was never there: the same 404.
    let (st, unknown) = status_of(&relevo, "/hls/no-such-key/index.m3u8", &[]);
    assert_eq!(st, 404);
    for path in [
        "/hls/no-such-key/seg1-1.m4s",
        &format!("/hls/{key}/seg1-1.m4s"),
    ] {
        let (st, body) = status_of(&relevo, path, &[]);
        assert_eq!((st, &body), (404, &unknown), "{path}");
    }
    // The input's own key and the RTMP output's key are not HLS keys.
    for k in ["hls-bad-in", "hls-bad-rtmp"] {
        let (st, body) = status_of(&relevo, &format!("/hls/{k}/index.m3u8"), &[]);
        assert_eq!((st, &body), (404, &unknown), "{k}");
    }
    // Paths that climb out, raw or percent-encoded, and odd names.
    for path in [
        format!("/hls/{key}/../index.m3u8"),
        format!("/hls/{key}/../../etc/passwd"),
        format!("/hls/{key}/%2e%2e"),
        format!("/hls/{key}/%2e%2e%2findex.m3u8"),
        format!("/hls/{key}/..%2f..%2fetc%2fpasswd"),
        "/hls/%2e%2e/index.m3u8".to_owned(),
        format!("/hls/{key}/index.m3u8%00"),
        format!("/hls/{key}/{}", "a".repeat(5000)),
    ] {
        let (st, _) = status_of(&relevo, &path, &[]);
        assert_eq!(st, 404, "{path}");
    }
    // Ranges a CDN or a scanner may send: the whole body or 416, never an error.
    let seg = format!("/hls/{key}/{}", first.segments[0].1);
    let whole = fetch(&relevo, key, &first.segments[0].1);
    for range in [
        "Range: bytes=0-99999999999999999999999999",
        "Range: bytes=99999999999999999999-",
        "Range: bytes=abc",
        "Range: bytes=5-1",
        "Range: bytes=-0",
        "Range: lines=1-2",
        &format!("Range: bytes={}", vec!["0-0"; 500].join(",")),
    ] {
        let (st, body) = status_of(&relevo, &seg, &[range]);
        assert!(st == 200 || st == 206 || st == 416, "{range}: {st}");
        if st == 200 {
            assert_eq!(body, whole, "{range}: a 200 carries the whole segment");
        }
    }
    // A blocking reload for a segment far ahead: refused at once, not held.
    let (st, _) = status_of(
        &relevo,
        &format!("/hls/{key}/index.m3u8?_HLS_msn=999999"),
        &[],
    );
    assert_eq!(st, 400);

    // The first segment leaves the window: then it is gone, with the unknown key's answer.
    let oldest = first.segments[0].1.clone();
    let path = format!("/hls/{key}/{oldest}");
    wait_until(
        "the first segment to leave the window",
        Duration::from_secs(40),
        || status_of(&relevo, &path, &[]).0 == 404,
    );
    let (_, body) = status_of(&relevo, &path, &[]);
    assert_eq!(
        body, unknown,
        "an expired segment tells more than an unknown key"
    );
    let pl = playlist(&relevo, key).unwrap();
    assert!(
        !pl.segments.iter().any(|s| s.1 == oldest),
        "{oldest} is still listed:\n{}",
        pl.text
    );

    // Nothing else was disturbed: the RTMP reader and the HLS player got the stream whole.
    assert!(publisher.wait(Duration::from_secs(60)).success());
    rtmp.wait(Duration::from_secs(30));
    assert_full_stream("RTMP reader beside HLS", &dir.path("rtmp.flv"), secs);
    let st = player.wait(Duration::from_secs(30));
    assert!(
        st.success(),
        "the HLS player failed: {st}\n{}",
        std::fs::read_to_string(dir.path("hls.log")).unwrap_or_default()
    );
    // It joined at the oldest segment of the window (a few seconds in); from there nothing
    // is missing.
    assert_joined_stream("HLS player", &dir.path("hls.ts"), secs, secs - 8);
    assert!(
        !relevo.log_text().contains("panicked"),
        "{}",
        relevo.log_text()
    );
}

/// What breaks the LL-HLS rules in a playlist reloaded after one whose target duration was
/// `target`: a part longer than PART-TARGET (RFC 8216bis §4.4.4.9: it is the maximum), an
/// EXTINF that rounds above the target duration (§4.4.3.1), and a target duration that
/// changed (§6.2.1: it MUST NOT).
fn ll_violations(pl: &Playlist, target: u64) -> Vec<String> {
    let mut v = Vec::new();
    if pl.target != target {
        v.push(format!(
            "EXT-X-TARGETDURATION went from {target} to {}",
            pl.target
        ));
    }
    // Durations are written with 5 decimals; allow their rounding.
    for (d, uri) in pl.parts.iter().filter(|p| p.0 > pl.part_target + 1e-4) {
        v.push(format!("{uri}: {d} s, over PART-TARGET {}", pl.part_target));
    }
    for (d, uri) in pl
        .segments
        .iter()
        .filter(|s| s.0.round() as u64 > pl.target)
    {
        v.push(format!("{uri}: EXTINF {d}, over the target {}", pl.target));
    }
    v
}

#[test]
fn a_publisher_blip_keeps_parts_within_part_target_and_the_target_duration_unchanged() {
    let dir = TempDir::new("hls-blip-ll");
    let input = "\n[[input]]\nname = \"studio\"\nkey = \"hls-ll-in\"\ngrace_period_s = 5\n";
    let flows = [input.to_owned(), hls_toml("web", "hls-ll")];
    let relevo = Relevo::start("hls-blip-ll", "", &flows.concat());
    let (key, url) = ("hls-ll", relevo.rtmp_url("hls-ll-in"));
    let mut first = publish_with(
        "first",
        &source_with_gop(40, 2),
        "flv",
        &url,
        &dir.path("1.log"),
    );
    let before = wait_playlist(&relevo, key, "two segments", Duration::from_secs(30), |p| {
        p.segments.len() >= 2
    });
    assert!(before.part_target > 0.0, "no PART-TARGET:\n{}", before.text);
    assert!(
        ll_violations(&before, before.target).is_empty(),
        "{}",
        before.text
    );

    first.child.kill().unwrap();
    let _ = first.child.wait();
    relevo.wait_log("publisher left: outputs held for the grace period", 1);
    let _second = publish_with(
        "second",
        &source_with_gop(12, 2),
        "flv",
        &url,
        &dir.path("2.log"),
    );
    // Every reload from the blip until three segments of the second publisher are whole.
    let last_before = before.last_msn().unwrap();
    let mut broken: Vec<String> = Vec::new();
    let mut example = String::new();
    wait_playlist(
        &relevo,
        key,
        "the second publisher's segments",
        Duration::from_secs(40),
        |p| {
            for v in ll_violations(p, before.target) {
                if example.is_empty() {
                    example = p.text.clone();
                }
                if !broken.contains(&v) {
                    broken.push(v);
                }
            }
            p.last_msn().is_some_and(|m| m >= last_before + 3)
        },
    );
    assert!(
        broken.is_empty(),
        "LL-HLS rules broken across the blip: {broken:#?}\nfirst such playlist:\n{example}"
    );
}
