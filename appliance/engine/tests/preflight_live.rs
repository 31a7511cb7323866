//! Codec pre-flight while pushing (issue #18), with real peers: a legacy RTMP push output
//! (ffmpeg `-listen 1` behind it) of an input whose main encoder sends H.264 and whose
//! backup encoder sends H.265. When the backup goes on air the output stops pushing and
//! waits in `incompatible`; when the main feed returns it connects again by itself.

mod rtmp_support;

use std::path::Path;
use std::time::Duration;

use relevo_engine::metrics::{CompatSeverity, Feed, FlowState, OutputSnapshot};
use relevo_engine::rtmp::RtmpUrl;
use relevo_engine::spec::{
    BackupSource, BackupSpec, DesiredState, FailoverDelay, GracePeriod, InputSource, InputSpec,
    Latency, Name, OutputKind, OutputSpec, RevertDelay, StreamKey,
};
use relevo_engine::Engine;
use rtmp_support::*;

const INPUT: &str = "studio";
const OUTPUT: &str = "cdn";
const MAIN_KEY: &str = "pf-main-key";
const BACKUP_KEY: &str = "pf-backup-key";
const LONG: Duration = Duration::from_secs(30);

fn desired(sink_port: u16) -> DesiredState {
    DesiredState {
        inputs: vec![InputSpec {
            name: Name::new(INPUT).expect("name"),
            enabled: true,
            source: InputSource::Listen {
                key: StreamKey::new(MAIN_KEY).expect("key"),
                security: None,
                latency: Latency::new(120).expect("latency"),
                srt_port: None,
            },
            grace: GracePeriod::from_secs(10).expect("grace"),
            backup: Some(BackupSpec {
                source: BackupSource::Key(StreamKey::new(BACKUP_KEY).expect("key")),
                failover: FailoverDelay::from_ms(1_000).expect("failover"),
                revert: Some(RevertDelay::from_secs(2).expect("revert")),
            }),
            outputs: vec![OutputSpec {
                name: Name::new(OUTPUT).expect("name"),
                enabled: true,
                kind: OutputKind::PushRtmp {
                    url: RtmpUrl::parse(&format!("rtmp://127.0.0.1:{sink_port}/live/sink"))
                        .expect("url"),
                    enhanced: false,
                    platform: None,
                },
            }],
        }],
    }
}

async fn start(dir: &TempDir) -> (Engine, u16) {
    let engine = start_engine(dir, true, Default::default()).await;
    let srt = engine.bound().srt.expect("srt").port();
    (engine, srt)
}

/// An SRT encoder: 25 fps, a keyframe a second, AAC, in `codec` (`libx264`, `libx265`).
fn publish(dir: &TempDir, srt: u16, key: &str, codec: &str, log: &str) -> Proc {
    let url = format!("srt://127.0.0.1:{srt}?streamid=publish:{key}&pkt_size=1316");
    ffmpeg(
        &[
            "-re",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=320x240:rate=25",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=1000:sample_rate=48000",
            "-t",
            "60",
            "-c:v",
            codec,
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-g",
            "25",
            "-c:a",
            "aac",
            "-f",
            "mpegts",
            &url,
        ],
        &dir.path(log),
    )
}

/// An RTMP server that records what our push output sends it, and exits when it leaves.
fn rtmp_sink(port: u16, file: &Path, log: &Path) -> Proc {
    let url = format!("rtmp://127.0.0.1:{port}/live/sink");
    let file = file.to_string_lossy();
    ffmpeg(
        &["-listen", "1", "-i", &url, "-c", "copy", "-f", "flv", &file],
        log,
    )
}

fn output(engine: &Engine) -> OutputSnapshot {
    let snap = engine.snapshot();
    let input = snap.input(INPUT).expect("input");
    input
        .outputs
        .iter()
        .find(|o| o.name == OUTPUT)
        .cloned()
        .expect("output")
}

async fn wait_output(engine: &Engine, what: &str, ok: impl Fn(&OutputSnapshot) -> bool) {
    let deadline = tokio::time::Instant::now() + LONG;
    loop {
        let o = output(engine);
        if ok(&o) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}: {o:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn on_air(engine: &Engine) -> Option<Feed> {
    engine.snapshot().input(INPUT).and_then(|i| i.on_air)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feed_the_destination_refuses_stops_the_push_and_a_good_one_resumes_it() {
    let dir = TempDir::new("preflight-live");
    let (engine, srt) = start(&dir).await;
    let sink_port = free_port().await;
    let mut first = rtmp_sink(sink_port, &dir.path("first.flv"), &dir.path("first.log"));
    engine.apply(&desired(sink_port)).expect("apply");

    let main = publish(&dir, srt, MAIN_KEY, "libx264", "main.log");
    wait_output(&engine, "the push live on H.264", |o| {
        o.state == FlowState::Live && o.compat.is_empty()
    })
    .await;
    let _backup = publish(&dir, srt, BACKUP_KEY, "libx265", "backup.log");
    tokio::time::sleep(Duration::from_secs(2)).await; // the backup warm
    assert_eq!(on_air(&engine), Some(Feed::Main));

    // The main encoder dies: the H.265 backup goes on air, which legacy RTMP cannot take.
    drop(main);
    wait_output(&engine, "the push held back", |o| {
        o.state == FlowState::Incompatible
    })
    .await;
    assert_eq!(on_air(&engine), Some(Feed::Backup));
    let o = output(&engine);
    let problems: Vec<_> = o.compat.iter().map(|p| (p.severity, p.code)).collect();
    assert_eq!(
        problems,
        [(CompatSeverity::Error, "h265_needs_enhanced")],
        "{o:#?}"
    );
    assert_eq!(o.peers, 0);
    // It disconnected: the destination's ffmpeg ends with its one connection (`wait` panics
    // if it does not; how it ends is ffmpeg's business).
    let _ = wait(&mut first, LONG).await;
    wait_logged(&[
        "the output waits: h265_needs_enhanced",
        "input=studio",
        "output=cdn",
    ])
    .await;
    let reconnects = o.reconnects;

    // The main encoder returns: after the revert delay it is on air and the output, whose
    // destination takes H.264, connects again by itself.
    let second_file = dir.path("second.flv");
    let mut second = rtmp_sink(sink_port, &second_file, &dir.path("second.log"));
    let _main = publish(&dir, srt, MAIN_KEY, "libx264", "main2.log");
    wait_output(&engine, "the push live again", |o| {
        o.state == FlowState::Live && o.compat.is_empty()
    })
    .await;
    assert_eq!(on_air(&engine), Some(Feed::Main));
    // Holding back is not a failure: no retry was counted for it.
    assert_eq!(output(&engine).reconnects, reconnects);
    tokio::time::sleep(Duration::from_secs(3)).await;
    engine.shutdown(Duration::from_secs(5)).await;
    let _ = wait(&mut second, LONG).await;
    let probed = ffprobe(&second_file).await;
    assert_eq!(stream(&probed, "video").codec_name, "h264");
    assert!(stream(&probed, "video").packets >= 25, "{probed:?}");
}
