//! The RTMP listener against real ffmpeg publishers and players.

mod rtmp_support;

use std::time::Duration;

use relevo_engine::unit::{FlvKind, FlvTag};
use rtmp_support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const LONG: Duration = Duration::from_secs(60);

fn publish_args(url: &str, seconds: &str, realtime: bool) -> Vec<String> {
    let mut args: Vec<String> = Vec::new();
    if realtime {
        args.push("-re".into());
    }
    for a in [
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=320x240:rate=25",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=1000",
        "-t",
        seconds,
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        "-g",
        "25",
        "-c:a",
        "aac",
        "-f",
        "flv",
        url,
    ] {
        args.push(a.into());
    }
    args
}

fn publish(url: &str, seconds: &str, realtime: bool, log: &std::path::Path) -> Proc {
    let args = publish_args(url, seconds, realtime);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    ffmpeg(&args, log)
}

fn assert_non_decreasing(tags: &[FlvTag], kind: FlvKind) {
    let ts: Vec<u32> = tags
        .iter()
        .filter(|t| t.kind == kind)
        .map(|t| t.timestamp)
        .collect();
    assert!(
        ts.windows(2).all(|w| w[0] <= w[1]),
        "{kind:?} timestamps go back: {ts:?}"
    );
}

/// A real encoder (ffmpeg, 4 s at real time) publishing to /live/in reaches the router with
/// video and audio, the sequence headers flagged as config, keyframes flagged once a second,
/// metadata as an `onMetaData` script tag, and timestamps that never go back.
#[tokio::test]
async fn ffmpeg_publish_reaches_router_with_flags() {
    let dir = TempDir::new("rtmp-publish");
    let server = start_server(None).await;
    let url = format!("rtmp://127.0.0.1:{}/live/in", server.port);
    let mut child = publish(&url, "4", true, &dir.path("ffmpeg.log"));
    assert!(wait(&mut child, LONG).await, "ffmpeg publish failed");
    server.router.wait_ended(1).await;

    let pubs = server.router.publications();
    assert_eq!(pubs.len(), 1);
    let tags = &pubs[0];
    let first_video = tags
        .iter()
        .find(|t| t.kind == FlvKind::Video)
        .expect("video");
    assert!(
        first_video.config && first_video.keyframe,
        "first video tag is the AVC sequence header"
    );
    let first_audio = tags
        .iter()
        .find(|t| t.kind == FlvKind::Audio)
        .expect("audio");
    assert!(
        first_audio.config,
        "first audio tag is the AAC AudioSpecificConfig"
    );
    assert_eq!(tags.iter().filter(|t| t.config).count(), 2);

    let frames = video_frames(tags);
    assert!((95..=101).contains(&frames), "video frames: {frames}");
    assert!(
        count(tags, FlvKind::Audio) > 150,
        "audio tags: {}",
        count(tags, FlvKind::Audio)
    );
    let keyframes: Vec<u32> = tags
        .iter()
        .filter(|t| t.kind == FlvKind::Video && t.keyframe && !t.config)
        .map(|t| t.timestamp)
        .collect();
    // A keyframe every 25 frames (x264 may add one on the very last frame).
    assert!(keyframes.len() >= 4, "{keyframes:?}");
    assert_eq!(keyframes[..4], [0, 1000, 2000, 3000]);

    let meta = tags
        .iter()
        .find(|t| t.kind == FlvKind::Meta)
        .expect("metadata");
    let m = relevo_engine::rtmp::meta::body_to_metadata(&meta.body).expect("onMetaData");
    assert_eq!((m.video_width, m.video_height), (Some(320), Some(240)));
    assert_non_decreasing(tags, FlvKind::Video);
    assert_non_decreasing(tags, FlvKind::Audio);
}

/// Turned-away peers end only their own connection, with a reason in the log: an unknown key,
/// a wrong application, and garbage instead of a handshake. A good publisher, connected while
/// the garbage connection is open and after all of it, is served.
#[tokio::test]
async fn rejections_and_garbage_close_only_that_connection() {
    let dir = TempDir::new("rtmp-reject");
    let server = start_server(None).await;
    let port = server.port;

    let mut bad_key = publish(
        &format!("rtmp://127.0.0.1:{port}/live/nope"),
        "1",
        false,
        &dir.path("key.log"),
    );
    assert!(!wait(&mut bad_key, LONG).await, "unknown key must fail");
    wait_logged(&["RTMP request rejected", "unknown stream key", "127.0.0.1"]).await;

    let mut bad_app = publish(
        &format!("rtmp://127.0.0.1:{port}/other/in"),
        "1",
        false,
        &dir.path("app.log"),
    );
    assert!(!wait(&mut bad_app, LONG).await, "wrong app must fail");
    // Its length only: the name might hold a key (issue #14, finding 12).
    wait_logged(&["RTMP request rejected", "wrong application name", "5 bytes"]).await;
    assert!(server.router.publications().is_empty());

    // Garbage: not a handshake (C0 must be version 3).
    let mut garbage = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    garbage
        .write_all(&[0xEE; 3100])
        .await
        .expect("write garbage");

    // Meanwhile a real publisher is served.
    let mut good = publish(
        &format!("rtmp://127.0.0.1:{port}/live/in"),
        "1",
        false,
        &dir.path("good.log"),
    );
    assert!(
        wait(&mut good, LONG).await,
        "publisher next to garbage failed"
    );

    let mut sink = [0u8; 4096];
    let closed = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            match garbage.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "garbage connection was not closed");
    wait_logged(&["RTMP connection closed", "handshake", "127.0.0.1"]).await;

    let mut after = publish(
        &format!("rtmp://127.0.0.1:{port}/live/in"),
        "1",
        false,
        &dir.path("after.log"),
    );
    assert!(
        wait(&mut after, LONG).await,
        "publisher after rejections failed"
    );
    server.router.wait_ended(2).await;
    let pubs = server.router.publications();
    assert_eq!(pubs.len(), 2);
    assert!(
        pubs.iter().all(|p| video_frames(p) >= 24),
        "both publishers delivered video"
    );
}

/// A real player (ffmpeg) playing /live/out receives exactly the tags the engine feeds it:
/// ffprobe finds H.264 and AAC with as many video frames as the fixture has.
#[tokio::test]
async fn ffmpeg_plays_a_subscription() {
    let dir = TempDir::new("rtmp-play");
    let fixture = read_flv(&make_fixture(&dir).await);
    let server = start_server(None).await;
    let mut feeds = server.router.out_feeds();
    let out = dir.path("out.flv");
    let url = format!("rtmp://127.0.0.1:{}/live/out", server.port);
    let mut player = ffmpeg(
        &[
            "-i",
            &url,
            "-c",
            "copy",
            "-f",
            "flv",
            &out.to_string_lossy(),
        ],
        &dir.path("player.log"),
    );
    let feed = tokio::time::timeout(Duration::from_secs(20), feeds.recv())
        .await
        .expect("player did not arrive")
        .expect("feed");
    for tag in &fixture {
        feed.send(tag.clone()).await.expect("player gone");
    }
    drop(feed);
    assert!(wait(&mut player, LONG).await, "ffmpeg player failed");

    let probed = ffprobe(&out).await;
    assert_eq!(stream(&probed, "video").codec_name, "h264");
    assert_eq!(stream(&probed, "audio").codec_name, "aac");
    assert_eq!(
        stream(&probed, "video").packets,
        video_frames(&fixture) as u64
    );
}

/// A player of "in" gets a live publisher's tags through the router (the relay path).
#[tokio::test]
async fn ffmpeg_player_follows_ffmpeg_publisher() {
    let dir = TempDir::new("rtmp-relay");
    let server = start_server(None).await;
    let port = server.port;
    let mut publisher = publish(
        &format!("rtmp://127.0.0.1:{port}/live/in"),
        "6",
        true,
        &dir.path("pub.log"),
    );
    // Join once the publication is live.
    for _ in 0..200 {
        if !server.router.publications().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let out = dir.path("relay.flv");
    let url = format!("rtmp://127.0.0.1:{port}/live/in");
    // What a player sees: video and audio only. rml_rtmp's answer to `play` used to add
    // two AMF0 data messages that ffmpeg showed as a subtitle and a data stream.
    let args = [
        "-v",
        "error",
        "-analyzeduration",
        "1500000",
        "-show_entries",
    ];
    let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    args.extend(["stream=codec_type", "-of", "csv=p=0", &url].map(String::from));
    let probed = output("ffprobe", args).await;
    let mut kinds: Vec<&str> = probed.lines().map(str::trim).collect();
    kinds.sort_unstable();
    assert_eq!(
        kinds,
        ["audio", "video"],
        "ffprobe of the played stream: {probed}"
    );
    let mut player = ffmpeg(
        &[
            "-i",
            &url,
            "-t",
            "2",
            "-c",
            "copy",
            "-f",
            "flv",
            &out.to_string_lossy(),
        ],
        &dir.path("player.log"),
    );
    assert!(wait(&mut player, LONG).await, "relay player failed");
    assert!(wait(&mut publisher, LONG).await, "publisher failed");
    let probed = ffprobe(&out).await;
    assert_eq!(stream(&probed, "video").codec_name, "h264");
    assert!(stream(&probed, "video").packets >= 25, "{probed:?}");
}
