//! HLS sessions of the real engine, fed by real ffmpeg publishers over RTMP and SRT, read
//! through `Engine::hls` and checked with ffprobe: playlists with segments and parts,
//! segments that start with a keyframe and decode, sessions only while asked for, blocking
//! reloads, refusals, players counted by address, publisher blips.

mod rtmp_support;

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use relevo_engine::hls::{
    BlockingReload, HlsConfig, HlsError, HlsFile, HlsFileKind, HlsReader, HlsRequest,
};
use relevo_engine::metrics::FlowState;
use relevo_engine::spec::{
    DesiredState, GracePeriod, InputSource, InputSpec, Latency, Name, OutputKind, OutputSpec,
    StreamKey,
};
use relevo_engine::Engine;
use rtmp_support::*;

const LONG: Duration = Duration::from_secs(60);
const INPUT: &str = "studio";
const INPUT_KEY: &str = "in-key";
const HLS_KEY: &str = "web-key";
const OFF_KEY: &str = "off-key";

fn client(n: u8) -> IpAddr {
    IpAddr::from([192, 0, 2, n])
}

fn config(idle: Duration) -> HlsConfig {
    HlsConfig {
        // Short segments make the tests quick; the publishers send a keyframe a second.
        segment: Duration::from_secs(1),
        idle,
        ..HlsConfig::default()
    }
}

fn desired(grace: u64) -> DesiredState {
    let out = |name: &str, key: &str, enabled: bool| OutputSpec {
        name: Name::new(name).expect("name"),
        enabled,
        kind: OutputKind::PullHls {
            key: StreamKey::new(key).expect("key"),
        },
    };
    DesiredState {
        inputs: vec![InputSpec {
            name: Name::new(INPUT).expect("name"),
            enabled: true,
            source: InputSource::Listen {
                key: StreamKey::new(INPUT_KEY).expect("key"),
                security: None,
                latency: Latency::new(120).expect("latency"),
                srt_port: None,
            },
            grace: GracePeriod::from_secs(grace).expect("grace"),
            backup: None,
            outputs: vec![out("web", HLS_KEY, true), out("off", OFF_KEY, false)],
        }],
    }
}

struct Relay {
    engine: Engine,
    rtmp: u16,
    srt: u16,
    dir: TempDir,
}

async fn start(name: &str, hls: HlsConfig, grace: u64) -> Relay {
    let dir = TempDir::new(name);
    let engine = start_engine(&dir, true, hls).await;
    engine.apply(&desired(grace)).expect("apply");
    let bound = engine.bound();
    Relay {
        rtmp: bound.rtmp.expect("rtmp").port(),
        srt: bound.srt.expect("srt").port(),
        engine,
        dir,
    }
}

/// The encoder's part of an ffmpeg command line: 25 fps with a keyframe a second, AAC.
fn encoder_args(seconds: u32) -> Vec<String> {
    let t = seconds.to_string();
    [
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
        &t,
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-g",
        "25",
        "-c:a",
        "aac",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

impl Relay {
    fn publish_rtmp(&self, log: &str) -> Proc {
        self.publish_rtmp_with(encoder_args(120), log)
    }

    fn publish_rtmp_with(&self, mut args: Vec<String>, log: &str) -> Proc {
        let url = format!("rtmp://127.0.0.1:{}/live/{INPUT_KEY}", self.rtmp);
        args.extend(["-f".into(), "flv".into(), url]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ffmpeg(&args, &self.dir.path(log))
    }

    fn publish_srt(&self, log: &str) -> Proc {
        self.publish_srt_with(encoder_args(120), log)
    }

    fn publish_srt_with(&self, mut args: Vec<String>, log: &str) -> Proc {
        let url = format!(
            "srt://127.0.0.1:{}?streamid=publish:{INPUT_KEY}&pkt_size=1316",
            self.srt
        );
        args.extend(["-f".into(), "mpegts".into(), url]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ffmpeg(&args, &self.dir.path(log))
    }

    fn input_state(&self) -> FlowState {
        self.engine
            .snapshot()
            .input(INPUT)
            .map_or(FlowState::Idle, |i| i.state)
    }

    async fn wait_input(&self, state: FlowState) {
        wait_for(&format!("input {state:?}"), || self.input_state() == state).await;
    }

    async fn get(&self, file: &str, from: u8) -> Result<HlsFile, HlsError> {
        self.request(HlsReader::Key(HLS_KEY), file, None, from)
            .await
    }

    async fn request(
        &self,
        reader: HlsReader<'_>,
        file: &str,
        block: Option<BlockingReload>,
        from: u8,
    ) -> Result<HlsFile, HlsError> {
        let request = HlsRequest {
            file,
            block,
            client: client(from),
        };
        self.engine.hls(reader, request).await
    }

    async fn playlist(&self) -> Playlist {
        let file = self.get("index.m3u8", 1).await.expect("playlist");
        assert_eq!(file.kind, HlsFileKind::Playlist);
        Playlist::parse(&file.body)
    }

    /// The playlist once it lists `n` whole segments (blocking reloads, as a player does).
    async fn playlist_with(&self, n: usize) -> Playlist {
        let mut p = self.playlist().await;
        for _ in 0..60 {
            if p.segments.len() >= n {
                return p;
            }
            let block = BlockingReload {
                msn: p.next_msn(),
                part: None,
            };
            let file = self
                .request(HlsReader::Key(HLS_KEY), "index.m3u8", Some(block), 1)
                .await
                .expect("blocking reload");
            p = Playlist::parse(&file.body);
        }
        panic!("the playlist never had {n} segments:\n{}", p.text);
    }

    fn hls_output(&self) -> relevo_engine::metrics::OutputSnapshot {
        self.engine
            .snapshot()
            .input(INPUT)
            .and_then(|i| i.output("web"))
            .cloned()
            .expect("web output")
    }
}

async fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + LONG;
    while !ok() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What the tests need of a media playlist.
#[derive(Debug)]
struct Playlist {
    text: String,
    media_sequence: u64,
    part_target: f64,
    /// (init URI in force, segment URI, EXTINF seconds).
    segments: Vec<(String, String, f64)>,
    /// (URI, DURATION).
    parts: Vec<(String, f64)>,
    /// `#EXT-X-PRELOAD-HINT`'s URI.
    hint: Option<String>,
    ended: bool,
}

impl Playlist {
    fn parse(body: &[u8]) -> Self {
        let text = String::from_utf8(body.to_vec()).expect("utf-8 playlist");
        let attr = |line: &str, name: &str| -> Option<String> {
            let at = line.find(&format!("{name}="))? + name.len() + 1;
            let rest = &line[at..];
            Some(match rest.strip_prefix('"') {
                Some(q) => q.split('"').next()?.to_owned(),
                None => rest.split(',').next()?.to_owned(),
            })
        };
        let mut p = Playlist {
            text: text.clone(),
            media_sequence: 0,
            part_target: 0.0,
            segments: Vec::new(),
            parts: Vec::new(),
            hint: None,
            ended: false,
        };
        let mut init = String::new();
        let mut extinf = None;
        for line in text.lines() {
            if let Some(v) = line.strip_prefix("#EXT-X-MEDIA-SEQUENCE:") {
                p.media_sequence = v.parse().expect("media sequence");
            } else if line.starts_with("#EXT-X-PART-INF:") {
                p.part_target = attr(line, "PART-TARGET")
                    .expect("target")
                    .parse()
                    .expect("f64");
            } else if line.starts_with("#EXT-X-MAP:") {
                init = attr(line, "URI").expect("map uri");
            } else if line.starts_with("#EXT-X-PART:") {
                let uri = attr(line, "URI").expect("part uri");
                let d = attr(line, "DURATION")
                    .expect("duration")
                    .parse()
                    .expect("f64");
                p.parts.push((uri, d));
            } else if let Some(v) = line.strip_prefix("#EXTINF:") {
                extinf = Some(v.trim_end_matches(',').parse::<f64>().expect("extinf"));
            } else if line.starts_with("#EXT-X-PRELOAD-HINT:") {
                p.hint = attr(line, "URI");
            } else if line == "#EXT-X-ENDLIST" {
                p.ended = true;
            } else if !line.starts_with('#') && !line.is_empty() {
                let d = extinf.take().expect("EXTINF before a segment");
                p.segments.push((init.clone(), line.to_owned(), d));
            }
        }
        p
    }

    /// MSN of the first segment not listed whole yet.
    fn next_msn(&self) -> u64 {
        self.media_sequence + self.segments.len() as u64
    }
}

/// init + segment in a file, as a player appends them.
fn concat(dir: &TempDir, name: &str, init: &HlsFile, segment: &HlsFile) -> std::path::PathBuf {
    let path = dir.path(name);
    let mut data = init.body.to_vec();
    data.extend_from_slice(&segment.body);
    std::fs::write(&path, data).expect("write");
    path
}

/// Whether the first video frame ffprobe decodes from `path` is a keyframe.
async fn starts_with_keyframe(path: &Path) -> bool {
    let args = [
        "-v",
        "error",
        "-select_streams",
        "v:0",
        "-show_entries",
        "frame=key_frame",
        "-read_intervals",
        "%+#1",
        "-of",
        "csv=p=0",
    ];
    let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    args.push(path.to_string_lossy().into_owned());
    let out = output("ffprobe", args).await;
    // `1,` (an empty side-data column follows).
    out.lines().next().and_then(|l| l.split(',').next()) == Some("1")
}

/// Fetches every listed segment (with its init) and checks that it decodes as H.264 + AAC
/// and starts with a keyframe; returns the bytes fetched.
async fn check_segments(relay: &Relay, p: &Playlist) -> usize {
    let mut bytes = 0;
    for (i, (init, seg, extinf)) in p.segments.iter().enumerate() {
        let init = relay.get(init, 1).await.expect("init segment");
        assert_eq!(init.kind, HlsFileKind::Init);
        let segment = relay.get(seg, 1).await.expect("segment");
        assert_eq!(segment.kind, HlsFileKind::Segment);
        assert_eq!(segment.etag, format!("\"{seg}\""));
        assert!(*extinf > 0.0, "{seg}: EXTINF {extinf}");
        bytes += init.body.len() + segment.body.len();
        let path = concat(&relay.dir, &format!("seg{i}.mp4"), &init, &segment);
        let probed = ffprobe(&path).await;
        assert_eq!(stream(&probed, "video").codec_name, "h264", "{seg}");
        assert_eq!(stream(&probed, "audio").codec_name, "aac", "{seg}");
        assert!(stream(&probed, "video").packets > 0, "{seg}");
        assert!(
            starts_with_keyframe(&path).await,
            "{seg} does not start with a keyframe"
        );
    }
    bytes
}

/// The checks shared by the RTMP and SRT inputs: segments and parts listed, parts within
/// PART-TARGET, every segment decodes and starts with a keyframe, bytes counted.
async fn serves_a_live_input(relay: &Relay) {
    assert_eq!(
        relay.engine.hls_sessions(),
        0,
        "no session before a request"
    );
    let p = relay.playlist_with(3).await;
    assert_eq!(relay.engine.hls_sessions(), 1);
    for tag in [
        "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES",
        "#EXT-X-PROGRAM-DATE-TIME:",
        "#EXT-X-PRELOAD-HINT:TYPE=PART",
    ] {
        assert!(p.text.contains(tag), "no {tag} in\n{}", p.text);
    }
    assert!(!p.parts.is_empty(), "no parts in\n{}", p.text);
    // Durations are printed rounded to 5 decimals.
    for (uri, d) in &p.parts {
        assert!(
            *d <= p.part_target + 0.000_01,
            "{uri}: {d} s > PART-TARGET {}",
            p.part_target
        );
    }
    let bytes = check_segments(relay, &p).await;
    let (uri, _) = p.parts.last().expect("a part");
    let part = relay.get(uri, 1).await.expect("part");
    assert_eq!(part.kind, HlsFileKind::Part);
    assert_eq!(part.kind.mime(), "video/iso.segment");

    let out = relay.hls_output();
    let hls = out.hls.expect("HLS figures");
    assert_eq!(hls.segments_served, p.segments.len() as u64);
    assert_eq!(hls.parts_served, 1);
    // Playlists, inits, segments and the part: everything this output served.
    assert!(out.bytes_out >= (bytes + part.body.len()) as u64);
    assert_eq!(out.state, FlowState::Live);

    // The hinted part, asked for before it exists, is answered once it does (or refused
    // when the segment closed before it: the next part is then part 0 of the next one).
    let mut hinted = 0;
    for _ in 0..5 {
        let hint = relay.playlist().await.hint.expect("a preload hint");
        match relay.get(&hint, 1).await {
            Ok(f) => {
                assert_eq!(f.kind, HlsFileKind::Part, "{hint}");
                hinted += 1;
            }
            Err(HlsError::NotFound) => {
                let p = relay.playlist().await;
                let msn = hint.rsplit('-').next().and_then(|s| s.split('.').next());
                let closed = format!("-{}.m4s", msn.expect("msn"));
                assert!(
                    p.segments.iter().any(|(_, s, _)| s.ends_with(&closed)),
                    "{hint}"
                );
            }
            Err(e) => panic!("{hint}: {e:?}"),
        }
    }
    assert!(hinted > 0, "no hinted part was served");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_rtmp_input_is_served_as_ll_hls() {
    let relay = start("hls-rtmp", config(Duration::from_secs(30)), 10).await;
    let _publisher = relay.publish_rtmp("rtmp.log");
    relay.wait_input(FlowState::Live).await;
    serves_a_live_input(&relay).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_srt_input_is_served_as_ll_hls() {
    let relay = start("hls-srt", config(Duration::from_secs(30)), 10).await;
    let _publisher = relay.publish_srt("srt.log");
    relay.wait_input(FlowState::Live).await;
    serves_a_live_input(&relay).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_runs_only_while_asked_for() {
    let relay = start("hls-idle", config(Duration::from_secs(2)), 10).await;
    let _publisher = relay.publish_rtmp("rtmp.log");
    relay.wait_input(FlowState::Live).await;
    // The input is live and has an HLS output, yet nothing is muxed until a request.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(relay.engine.hls_sessions(), 0);
    let asked = std::time::Instant::now();
    let first = relay.playlist().await;
    // A figure for the README, not a bound: the first whole segment, from the cached GOP.
    eprintln!("first playlist after {:?}", asked.elapsed());
    assert_eq!(relay.engine.hls_sessions(), 1);
    // Nobody asks any more: the session stops by itself.
    wait_for("the idle session stops", || {
        relay.engine.hls_sessions() == 0
    })
    .await;
    // The next request starts a new session, with new file names.
    let second = relay.playlist().await;
    assert_eq!(relay.engine.hls_sessions(), 1);
    let epoch = |p: &Playlist| p.segments[0].1.split('-').next().map(str::to_owned);
    assert_ne!(
        epoch(&first),
        epoch(&second),
        "a new session reused the old names"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_reload_answers_once_the_segment_exists() {
    let relay = start("hls-block", config(Duration::from_secs(30)), 10).await;
    let _publisher = relay.publish_rtmp("rtmp.log");
    relay.wait_input(FlowState::Live).await;
    let p = relay.playlist().await;
    let msn = p.next_msn();
    let block = |msn, part| Some(BlockingReload { msn, part });
    let file = relay
        .request(HlsReader::Key(HLS_KEY), "index.m3u8", block(msn, None), 1)
        .await
        .expect("blocking reload");
    let after = Playlist::parse(&file.body);
    assert!(
        after.next_msn() > msn,
        "answered before segment {msn} was whole:\n{}",
        after.text
    );
    assert!(after
        .segments
        .iter()
        .any(|(_, s, _)| s.ends_with(&format!("-{msn}.m4s"))));
    // A part of the segment in progress.
    let file = relay
        .request(
            HlsReader::Key(HLS_KEY),
            "index.m3u8",
            block(after.next_msn(), Some(1)),
            1,
        )
        .await
        .expect("blocking reload for a part");
    let with_part = Playlist::parse(&file.body);
    let wanted = format!("-{}.1.m4s", after.next_msn());
    assert!(
        with_part.parts.iter().any(|(u, _)| u.ends_with(&wanted))
            || with_part.next_msn() > after.next_msn(),
        "no part {wanted} in\n{}",
        with_part.text
    );
    // More than two segments ahead.
    let far = relay
        .request(
            HlsReader::Key(HLS_KEY),
            "index.m3u8",
            block(after.next_msn() + 3, None),
            1,
        )
        .await;
    assert!(matches!(far, Err(HlsError::BadRequest(_))), "{far:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_disabled_and_offline_are_told_apart_from_served() {
    let relay = start("hls-refused", config(Duration::from_secs(30)), 10).await;
    let get = |reader, file| relay.request(reader, file, None, 1);
    assert_eq!(
        get(HlsReader::Key("nope"), "index.m3u8").await,
        Err(HlsError::NotFound)
    );
    assert_eq!(
        get(HlsReader::Key(OFF_KEY), "index.m3u8").await,
        Err(HlsError::NotFound)
    );
    // The input's own key is not an HLS key.
    assert_eq!(
        get(HlsReader::Key(INPUT_KEY), "index.m3u8").await,
        Err(HlsError::NotFound)
    );
    assert_eq!(
        get(HlsReader::Preview("nope"), "index.m3u8").await,
        Err(HlsError::NotFound)
    );
    // Known, but nobody publishes.
    assert_eq!(
        get(HlsReader::Key(HLS_KEY), "index.m3u8").await,
        Err(HlsError::Offline)
    );
    assert_eq!(
        get(HlsReader::Preview(INPUT), "index.m3u8").await,
        Err(HlsError::Offline)
    );
    assert_eq!(
        relay.engine.hls_sessions(),
        0,
        "an offline input got a session"
    );
    let out = relay.hls_output();
    assert_eq!(out.state, FlowState::Idle);
    let off = relay.engine.snapshot();
    let off = off
        .input(INPUT)
        .and_then(|i| i.output("off"))
        .expect("off output");
    assert_eq!(off.state, FlowState::Stopped);
    assert_eq!(off.kind, "pull_hls");

    let _publisher = relay.publish_rtmp("rtmp.log");
    relay.wait_input(FlowState::Live).await;
    let p = relay.playlist().await;
    let seg = &p.segments[0].1;
    // Names that are not the session's.
    let (wrong_ext, long) = (seg.replace(".m4s", ".mp4"), "a".repeat(300));
    for name in [
        "../index.m3u8",
        "seg0-0.m4s",
        "init0-0.mp4",
        &wrong_ext,
        &long,
    ] {
        assert_eq!(
            get(HlsReader::Key(HLS_KEY), name).await,
            Err(HlsError::NotFound),
            "{name}"
        );
    }
    // The disabled output stays unreachable while the input is live.
    assert_eq!(
        get(HlsReader::Key(OFF_KEY), "index.m3u8").await,
        Err(HlsError::NotFound)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn players_are_distinct_addresses_and_previews_count_nowhere() {
    let relay = start("hls-players", config(Duration::from_secs(30)), 10).await;
    let _publisher = relay.publish_rtmp("rtmp.log");
    relay.wait_input(FlowState::Live).await;
    let p = relay.playlist().await;
    for from in [1, 2, 2, 3, 1] {
        relay.get("index.m3u8", from).await.expect("playlist");
    }
    let preview = relay
        .request(HlsReader::Preview(INPUT), &p.segments[0].1, None, 9)
        .await
        .expect("preview segment");
    assert_eq!(preview.kind, HlsFileKind::Segment);
    let out = relay.hls_output();
    let hls = out.hls.expect("HLS figures");
    assert_eq!(
        hls.players, 3,
        "addresses 1, 2 and 3 (the preview's 9 is nobody's)"
    );
    assert_eq!(out.peers, 3);
    assert_eq!(
        hls.segments_served, 0,
        "the preview's segment counts in no output"
    );
    // One session serves the output and the preview.
    assert_eq!(relay.engine.hls_sessions(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hls_keys_are_refused_by_rtmp_play_and_srt_read() {
    let relay = start("hls-keys", config(Duration::from_secs(30)), 10).await;
    let _publisher = relay.publish_rtmp("rtmp.log");
    relay.wait_input(FlowState::Live).await;
    let rtmp = format!("rtmp://127.0.0.1:{}/live/{HLS_KEY}", relay.rtmp);
    let mut play = ffmpeg(
        &["-i", &rtmp, "-t", "1", "-f", "null", "-"],
        &relay.dir.path("play.log"),
    );
    assert!(
        !wait(&mut play, LONG).await,
        "RTMP play with an HLS key succeeded"
    );
    wait_logged(&["RTMP request rejected", "unknown stream key"]).await;
    let srt = format!("srt://127.0.0.1:{}?streamid=read:{HLS_KEY}", relay.srt);
    let mut read = ffmpeg(
        &["-i", &srt, "-t", "1", "-f", "null", "-"],
        &relay.dir.path("read.log"),
    );
    assert!(
        !wait(&mut read, LONG).await,
        "SRT read with an HLS key succeeded"
    );
    wait_logged(&["SRT caller rejected", "unknown stream key"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blip_continues_the_playlist_and_the_end_closes_it() {
    let relay = start("hls-blip", config(Duration::from_secs(60)), 4).await;
    let publisher = relay.publish_rtmp("first.log");
    relay.wait_input(FlowState::Live).await;
    let before = relay.playlist_with(2).await;
    let epoch = |p: &Playlist| p.segments[0].1.split('-').next().map(str::to_owned);
    drop(publisher);
    relay.wait_input(FlowState::Waiting).await;
    assert_eq!(relay.hls_output().state, FlowState::Waiting);
    let second = relay.publish_rtmp("second.log");
    relay.wait_input(FlowState::Live).await;
    let during = relay.playlist_with(before.segments.len() + 4).await;
    assert_eq!(
        epoch(&before),
        epoch(&during),
        "the blip started a new session"
    );
    assert!(!during.ended);
    assert!(during.next_msn() > before.next_msn() + 3);
    let during_epoch = epoch(&during);
    // The same codec parameters: no new init segment, no discontinuity.
    assert!(
        !during.text.contains("#EXT-X-DISCONTINUITY"),
        "{}",
        during.text
    );
    // The newest segments (older ones may leave the window while ffprobe runs), the
    // returning publisher's included, decode from their keyframe.
    let newest = Playlist {
        segments: during.segments[during.segments.len() - 3..].to_vec(),
        ..during
    };
    check_segments(&relay, &newest).await;

    drop(second);
    relay.wait_input(FlowState::Idle).await;
    assert_eq!(relay.hls_output().state, FlowState::Idle);
    // After the grace period the window ends; it is served as it is.
    let deadline = tokio::time::Instant::now() + LONG;
    while !relay.playlist().await.ended {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the playlist never ended"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // An ended session is served until idle; a new publication starts a new one.
    let _publisher = relay.publish_rtmp("third.log");
    relay.wait_input(FlowState::Live).await;
    let after = relay.playlist().await;
    assert!(!after.ended);
    assert_ne!(
        epoch(&after),
        during_epoch,
        "a new publication kept the old session"
    );
}

#[tokio::test]
async fn hls_exists_names_only_enabled_hls_outputs() {
    let relay = start("hls-exists", config(Duration::from_secs(30)), 10).await;
    assert!(relay.engine.hls_exists(HLS_KEY), "offline, but it exists");
    assert!(!relay.engine.hls_exists(OFF_KEY), "a disabled output");
    assert!(!relay.engine.hls_exists(INPUT_KEY), "the input's key");
    assert!(!relay.engine.hls_exists("nope"));
    assert_eq!(relay.engine.hls_sessions(), 0, "asking starts nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_audio_only_input_is_cut_in_parts_of_the_target() {
    let relay = start("hls-audio", config(Duration::from_secs(30)), 10).await;
    let args = [
        "-re",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=1000:sample_rate=48000",
        "-t",
        "120",
        "-c:a",
        "aac",
    ];
    // Over SRT: the hub starts a reader of an audio-only MPEG-TS at any chunk (there is no
    // video keyframe to wait for).
    let args = args.iter().map(|s| s.to_string()).collect();
    let _publisher = relay.publish_srt_with(args, "audio.log");
    relay.wait_input(FlowState::Live).await;
    let p = relay.playlist_with(3).await;
    // Parts as long as PART-TARGET allows (RFC 8216bis: all but a segment's last at least
    // 85 % of it), not one per 21 ms AAC frame.
    let short = p
        .parts
        .iter()
        .filter(|(_, d)| *d < 0.85 * p.part_target)
        .count();
    assert!(
        short <= p.segments.len() + 1,
        "{short} short parts in\n{}",
        p.text
    );
    for (uri, d) in &p.parts {
        assert!(*d <= p.part_target + 0.000_01, "{uri}: {d} s");
    }
    let (init, seg, _) = &p.segments[0];
    let init = relay.get(init, 1).await.expect("init");
    let seg = relay.get(seg, 1).await.expect("segment");
    let path = concat(&relay.dir, "audio.mp4", &init, &seg);
    assert_eq!(stream(&ffprobe(&path).await, "audio").codec_name, "aac");
}
