//! Redundant ingest (issue #18) with real peers: two ffmpeg encoders publish the same input,
//! one to its main key and one to its backup key (SRT and RTMP, both ways round); an ffmpeg
//! RTMP server (`-listen 1`) receives our push output and an ffmpeg SRT reader our pull
//! output, each writing one file. Killing the main encoder moves the outputs to the backup,
//! its return moves them back after the revert delay, a manual switch moves them by hand;
//! ffprobe then reads each recording as one continuous file.

mod rtmp_support;

use std::path::Path;
use std::time::Duration;

use relevo_engine::metrics::{Feed, InputSnapshot, SwitchReason};
use relevo_engine::rtmp::RtmpUrl;
use relevo_engine::spec::{
    BackupSource, BackupSpec, DesiredState, FailoverDelay, GracePeriod, InputSource, InputSpec,
    Latency, Name, OutputKind, OutputSpec, RevertDelay, SrtCaller, StreamKey,
};
use relevo_engine::Engine;
use rtmp_support::*;

const INPUT: &str = "studio";
const MAIN_KEY: &str = "main-key";
const BACKUP_KEY: &str = "backup-key";
const READ_KEY: &str = "read-key";
/// Short delays keep the test short: the failover after 1 s of silence, the return after
/// 3 s of a stable main feed.
const FAILOVER_MS: u64 = 1_000;
const REVERT_S: u64 = 3;
/// The encoders' GOP: a keyframe a second (`-g 25` at 25 fps).
const GOP_S: f64 = 1.0;
const LONG: Duration = Duration::from_secs(30);

#[derive(Clone, Copy)]
enum Proto {
    Srt,
    Rtmp,
}

struct Relay {
    engine: Engine,
    rtmp: u16,
    srt: u16,
    dir: TempDir,
}

/// The input with a backup; `outputs`: with the push output to `sink_port` and the pull
/// output (without them the peers see their stream end and close their files).
fn desired(sink_port: u16, outputs: bool) -> DesiredState {
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
                failover: FailoverDelay::from_ms(FAILOVER_MS).expect("failover"),
                revert: Some(RevertDelay::from_secs(REVERT_S).expect("revert")),
            }),
            outputs: [
                OutputSpec {
                    name: Name::new("cdn").expect("name"),
                    enabled: true,
                    kind: OutputKind::PushRtmp {
                        url: RtmpUrl::parse(&format!("rtmp://127.0.0.1:{sink_port}/live/sink"))
                            .expect("url"),
                        enhanced: false,
                        platform: None,
                    },
                },
                OutputSpec {
                    name: Name::new("reader").expect("name"),
                    enabled: true,
                    kind: OutputKind::PullSrt {
                        key: StreamKey::new(READ_KEY).expect("key"),
                        security: None,
                        latency: Latency::new(120).expect("latency"),
                    },
                },
            ]
            .into_iter()
            .filter(|_| outputs)
            .collect(),
        }],
    }
}

async fn start(name: &str) -> Relay {
    let dir = TempDir::new(name);
    let engine = start_engine(&dir, true, Default::default()).await;
    let bound = engine.bound();
    Relay {
        rtmp: bound.rtmp.expect("rtmp").port(),
        srt: bound.srt.expect("srt").port(),
        engine,
        dir,
    }
}

impl Relay {
    /// An encoder: 25 fps, a keyframe a second, AAC; `size` tells the feeds apart.
    fn publish(&self, proto: Proto, key: &str, size: &str, log: &str) -> Proc {
        let src = format!("testsrc=size={size}:rate=25");
        let mut args = vec![
            "-re",
            "-f",
            "lavfi",
            "-i",
            &src,
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=1000:sample_rate=48000",
            "-t",
            "120",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-tune",
            "zerolatency",
            "-pix_fmt",
            "yuv420p",
            "-g",
            "25",
            "-c:a",
            "aac",
        ];
        let url = match proto {
            Proto::Srt => format!(
                "srt://127.0.0.1:{}?streamid=publish:{key}&pkt_size=1316",
                self.srt
            ),
            Proto::Rtmp => format!("rtmp://127.0.0.1:{}/live/{key}", self.rtmp),
        };
        let format = match proto {
            Proto::Srt => "mpegts",
            Proto::Rtmp => "flv",
        };
        args.extend(["-f", format, &url]);
        ffmpeg(&args, &self.dir.path(log))
    }

    /// The SRT reader of our pull output, recording what it reads.
    fn read_srt(&self, file: &Path) -> Proc {
        let url = format!(
            "srt://127.0.0.1:{}?streamid=read:{READ_KEY}&latency=120000",
            self.srt
        );
        let file = file.to_string_lossy();
        ffmpeg(
            &["-i", &url, "-c", "copy", "-f", "mpegts", &file],
            &self.dir.path("reader.log"),
        )
    }

    fn input(&self) -> InputSnapshot {
        self.engine.snapshot().input(INPUT).cloned().expect("input")
    }

    /// Ends both outputs: the sink and the reader see their stream end and close their
    /// files (ffmpeg writes what it buffered).
    async fn finish(&self, sink_port: u16, sink: &mut Proc, reader: &mut Proc) {
        self.engine
            .apply(&desired(sink_port, false))
            .expect("apply");
        let _ = wait(sink, LONG).await;
        let _ = wait(reader, LONG).await;
    }

    async fn wait_for(&self, what: &str, ok: impl Fn(&InputSnapshot) -> bool) {
        let deadline = tokio::time::Instant::now() + LONG;
        loop {
            let snap = self.input();
            if ok(&snap) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}: {snap:#?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn wait_on_air(&self, feed: Feed, reason: Option<SwitchReason>) {
        self.wait_for(&format!("{feed:?} on air ({reason:?})"), |i| {
            i.on_air == Some(feed) && i.last_switch.as_ref().map(|s| s.reason) == reason
        })
        .await;
    }
}

/// An RTMP server that records what our push output sends it.
fn rtmp_sink(port: u16, file: &Path, log: &Path) -> Proc {
    let url = format!("rtmp://127.0.0.1:{port}/live/sink");
    let file = file.to_string_lossy();
    ffmpeg(
        &[
            "-listen", "1", "-i", &url, "-c", "copy", "-f", "mpegts", &file,
        ],
        log,
    )
}

/// The video packets' decoding times in a recording, in seconds.
async fn video_dts(file: &Path) -> Vec<f64> {
    video_entries(file, "packet=dts_time").await
}

/// The width of every video frame ffprobe decodes in a recording.
async fn frame_widths(file: &Path) -> Vec<u32> {
    video_entries(file, "frame=width").await
}

/// One ffprobe entry (`packet=…` or `frame=…`) of every packet or frame of the first video
/// stream, those that parse.
async fn video_entries<T: std::str::FromStr>(file: &Path, entry: &str) -> Vec<T> {
    let mut args: Vec<String> = ["-v", "error", "-select_streams", "v:0", "-show_entries"]
        .iter()
        .map(|a| a.to_string())
        .collect();
    args.extend([entry.to_owned(), "-of".into(), "csv=p=0".into()]);
    args.push(file.to_string_lossy().into_owned());
    output("ffprobe", args)
        .await
        .lines()
        .filter_map(|l| l.trim().trim_end_matches(',').parse().ok())
        .collect()
}

/// One continuous recording: increasing timestamps, and no hole longer than the failover
/// delay plus one GOP (the switch waits for the backup's next keyframe), plus half a second
/// for the switch timer's period (0.1 s), a frame, and a busy test machine.
async fn assert_continuous(file: &Path, min_seconds: f64) {
    let dts = video_dts(file).await;
    assert!(
        dts.len() as f64 >= min_seconds * 25.0 * 0.8,
        "{}: {} video packets",
        file.display(),
        dts.len()
    );
    let bound = FAILOVER_MS as f64 / 1000.0 + GOP_S + 0.5;
    let mut worst = 0.0f64;
    for w in dts.windows(2) {
        assert!(
            w[1] > w[0],
            "{}: dts went from {} to {}",
            file.display(),
            w[0],
            w[1]
        );
        worst = worst.max(w[1] - w[0]);
    }
    eprintln!(
        "{}: {} video packets over {:.1} s, longest hole {worst:.3} s (bound {bound:.2} s)",
        file.display(),
        dts.len(),
        dts.last().unwrap_or(&0.0) - dts.first().unwrap_or(&0.0)
    );
    assert!(worst <= bound, "{}: a hole of {worst:.3} s", file.display());
}

async fn settle(seconds: u64) {
    tokio::time::sleep(Duration::from_secs(seconds)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn srt_main_and_rtmp_backup_fail_over_return_and_switch_by_hand() {
    let relay = start("redundancy-srt-main").await;
    let sink_port = free_port().await;
    let pushed = relay.dir.path("pushed.ts");
    let read = relay.dir.path("read.ts");
    let mut sink = rtmp_sink(sink_port, &pushed, &relay.dir.path("sink.log"));
    relay
        .engine
        .apply(&desired(sink_port, true))
        .expect("apply");
    // The main encoder first, so the failover below starts from the main feed on air.
    let main = relay.publish(Proto::Srt, MAIN_KEY, "320x240", "main.log");
    relay
        .wait_for("the main feed", |i| i.on_air == Some(Feed::Main))
        .await;
    let mut backup = relay.publish(Proto::Rtmp, BACKUP_KEY, "320x240", "backup.log");
    relay
        .wait_for("both feeds live", |i| {
            i.on_air == Some(Feed::Main) && i.backup.as_ref().is_some_and(|b| b.live)
        })
        .await;
    let mut reader = relay.read_srt(&read);
    settle(3).await;
    let warm = relay.input();
    assert!(warm.last_switch.is_none(), "{:?}", warm.last_switch);
    assert!(warm.backup.as_ref().is_some_and(|b| b.bytes_in > 0));
    assert_eq!(warm.publisher.as_ref().map(|p| p.protocol), Some("srt"));
    assert_eq!(
        warm.backup
            .as_ref()
            .and_then(|b| b.publisher.as_ref())
            .map(|p| p.protocol),
        Some("rtmp")
    );

    // The main encoder dies: the backup goes on air.
    drop(main);
    relay
        .wait_on_air(Feed::Backup, Some(SwitchReason::Failover))
        .await;
    wait_logged(&[
        "feed on air switched",
        "from=main",
        "to=backup",
        "reason=failover",
    ])
    .await;
    settle(2).await;

    // It comes back: on air again once it has sent for the revert delay.
    let _main = relay.publish(Proto::Srt, MAIN_KEY, "320x240", "main2.log");
    relay
        .wait_for("the main feed back", |i| i.publisher.is_some())
        .await;
    assert_eq!(relay.input().on_air, Some(Feed::Backup), "not at once");
    relay
        .wait_on_air(Feed::Main, Some(SwitchReason::Revert))
        .await;
    settle(1).await;

    // By hand: the backup, and it holds.
    relay
        .engine
        .switch_feed(INPUT, Feed::Backup)
        .expect("switch");
    relay
        .wait_on_air(Feed::Backup, Some(SwitchReason::Manual))
        .await;
    settle(REVERT_S + 1).await;
    let held = relay.input();
    assert_eq!(held.on_air, Some(Feed::Backup), "a manual choice holds");
    assert_eq!(
        (
            held.feed_switches.failover,
            held.feed_switches.revert,
            held.feed_switches.manual
        ),
        (1, 1, 1)
    );
    let text = relevo_engine::prometheus::render(&relay.engine.snapshot());
    assert!(text.contains("relevo_input_on_air{input=\"studio\",feed=\"backup\"} 1\n"));

    // The backup is removed from the configuration: the main feed takes over, and neither
    // the input nor an output restarts.
    let mut without = desired(sink_port, true);
    without.inputs[0].backup = None;
    relay.engine.apply(&without).expect("apply");
    relay
        .wait_for("the main feed back without a backup", |i| {
            i.on_air == Some(Feed::Main) && i.backup.is_none()
        })
        .await;
    settle(1).await;
    let after = relay.input();
    assert_eq!(after.publishes, held.publishes, "the main publisher stayed");
    assert_eq!(after.output("cdn").map(|o| o.reconnects), Some(0));
    // The backup encoder's connection was closed (it ends; it would panic if it did not).
    let _ = wait(&mut backup, LONG).await;
    relay.finish(sink_port, &mut sink, &mut reader).await;

    assert_continuous(&pushed, 10.0).await;
    assert_continuous(&read, 10.0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtmp_main_and_srt_backup_of_another_resolution_switch_with_new_codec_headers() {
    let relay = start("redundancy-rtmp-main").await;
    let sink_port = free_port().await;
    let pushed = relay.dir.path("pushed.ts");
    let read = relay.dir.path("read.ts");
    let mut sink = rtmp_sink(sink_port, &pushed, &relay.dir.path("sink.log"));
    relay
        .engine
        .apply(&desired(sink_port, true))
        .expect("apply");
    let main = relay.publish(Proto::Rtmp, MAIN_KEY, "320x240", "main.log");
    relay
        .wait_for("the main feed", |i| i.on_air == Some(Feed::Main))
        .await;
    let _backup = relay.publish(Proto::Srt, BACKUP_KEY, "160x120", "backup.log");
    relay
        .wait_for("both feeds live", |i| {
            i.on_air == Some(Feed::Main) && i.backup.as_ref().is_some_and(|b| b.live)
        })
        .await;
    let mut reader = relay.read_srt(&read);
    settle(3).await;
    drop(main);
    relay
        .wait_on_air(Feed::Backup, Some(SwitchReason::Failover))
        .await;
    settle(3).await;
    relay.finish(sink_port, &mut sink, &mut reader).await;

    for file in [&pushed, &read] {
        assert_continuous(file, 5.0).await;
        // Every frame decodes, before and after the switch: the new SPS/PPS went out.
        let widths = frame_widths(file).await;
        let dts = video_dts(file).await;
        assert!(
            widths.len() + 2 >= dts.len(),
            "{}: {} frames decoded of {} packets",
            file.display(),
            widths.len(),
            dts.len()
        );
        let first_small = widths.iter().position(|w| *w == 160);
        assert!(
            first_small.is_some_and(|at| at > 0 && widths[..at].iter().all(|w| *w == 320)),
            "{}: the main feed's frames, then the backup's: {widths:?}",
            file.display()
        );
        assert!(
            widths[first_small.unwrap_or(0)..].iter().all(|w| *w == 160),
            "{}: {widths:?}",
            file.display()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_pulled_from_an_srt_listener_takes_over() {
    let relay = start("redundancy-pull").await;
    let pull_port = free_port().await;
    // The backup encoder is an SRT listener that Relevo calls.
    let listen = format!("srt://127.0.0.1:{pull_port}?mode=listener&pkt_size=1316");
    let _backup = ffmpeg(
        &[
            "-re",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=160x120:rate=25",
            "-t",
            "120",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-g",
            "25",
            "-f",
            "mpegts",
            &listen,
        ],
        &relay.dir.path("backup.log"),
    );
    let mut state = desired(0, false);
    state.inputs[0].backup = Some(BackupSpec {
        source: BackupSource::PullSrt(SrtCaller {
            host: "127.0.0.1".into(),
            port: pull_port,
            stream_id: None,
            security: None,
            latency: Latency::new(120).expect("latency"),
            allow_private: true,
        }),
        failover: FailoverDelay::from_ms(FAILOVER_MS).expect("failover"),
        revert: None,
    });
    relay.engine.apply(&state).expect("apply");
    let main = relay.publish(Proto::Rtmp, MAIN_KEY, "320x240", "main.log");
    relay
        .wait_for("the main feed on air and the pulled backup warm", |i| {
            i.on_air == Some(Feed::Main)
                && i.backup.as_ref().is_some_and(|b| {
                    b.live && b.publisher.as_ref().map(|p| p.protocol) == Some("srt-pull")
                })
        })
        .await;
    drop(main);
    relay
        .wait_on_air(Feed::Backup, Some(SwitchReason::Failover))
        .await;
    let i = relay.input();
    assert_eq!(i.state, relevo_engine::metrics::FlowState::Live);
    assert!(i.publisher.is_none(), "the main feed is gone");
    assert_eq!(
        i.codecs.and_then(|c| c.video),
        Some("h264".to_owned()),
        "the codecs of the feed on air"
    );
}
