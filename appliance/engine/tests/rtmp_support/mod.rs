//! Shared pieces of the engine's integration tests: a tiny RTMP router, an engine on
//! loopback, real-peer helpers (ffmpeg, ffprobe, openssl), a minimal FLV file reader for
//! fixtures, and a log capture.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use relevo_engine::hls::HlsConfig;
use relevo_engine::record::disk::DiskFloor;
use relevo_engine::record::RecordingConfig;
use relevo_engine::rtmp::{
    self, CertReloader, FlvIngest, FlvSubscription, Peer, Rejection, RtmpRouter,
};
use relevo_engine::rtmp::{ClientTls, RtmpLimits};
use relevo_engine::unit::{FlvKind, FlvTag};
use relevo_engine::{Engine, EngineConfig};
use std::process::{Child, Command};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// The router of the tests: key "in" publishes (its tags are recorded and fanned out to
/// players of "in"); playing "out" hands the test a sender that feeds that player.
#[derive(Default)]
pub struct TestRouter {
    publications: Mutex<Vec<Arc<Mutex<Vec<FlvTag>>>>>,
    players: Arc<Mutex<Vec<Player>>>,
    ended: Arc<AtomicUsize>,
    out_feeds: Mutex<Option<mpsc::UnboundedSender<mpsc::Sender<FlvTag>>>>,
}

impl TestRouter {
    /// Tags of every publication so far, in order.
    pub fn publications(&self) -> Vec<Vec<FlvTag>> {
        lock(&self.publications)
            .iter()
            .map(|p| lock(p).clone())
            .collect()
    }

    /// How many publications have ended (their ingest was dropped).
    pub fn ended(&self) -> usize {
        self.ended.load(Ordering::SeqCst)
    }

    pub async fn wait_ended(&self, n: usize) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while self.ended() < n {
            assert!(
                tokio::time::Instant::now() < deadline,
                "publication {n} did not end"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Players of "out" arrive here as the senders that feed them.
    pub fn out_feeds(&self) -> mpsc::UnboundedReceiver<mpsc::Sender<FlvTag>> {
        let (tx, rx) = mpsc::unbounded_channel();
        *lock(&self.out_feeds) = Some(tx);
        rx
    }
}

impl RtmpRouter for TestRouter {
    fn publish(&self, app: &str, key: &str, _peer: Peer) -> Result<Box<dyn FlvIngest>, Rejection> {
        assert_eq!(app, "live");
        if key != "in" {
            return Err(Rejection::UnknownKey);
        }
        let tags = Arc::new(Mutex::new(Vec::new()));
        lock(&self.publications).push(tags.clone());
        Ok(Box::new(RecIngest {
            tags,
            players: self.players.clone(),
            ended: self.ended.clone(),
        }))
    }

    fn play(&self, _app: &str, key: &str, _peer: Peer) -> Result<FlvSubscription, Rejection> {
        let (tx, rx) = mpsc::channel(4096);
        match key {
            "in" => {
                // Like a hub: sequence headers and metadata first, media from the next keyframe.
                if let Some(live) = lock(&self.publications).last() {
                    for tag in lock(live)
                        .iter()
                        .filter(|t| t.config || t.kind == FlvKind::Meta)
                    {
                        let _ = tx.try_send(tag.clone());
                    }
                }
                lock(&self.players).push(Player { tx, started: false });
            }
            "out" => match lock(&self.out_feeds).as_ref() {
                Some(feeds) => {
                    let _ = feeds.send(tx);
                }
                None => return Err(Rejection::Disabled),
            },
            _ => return Err(Rejection::UnknownKey),
        }
        Ok(FlvSubscription::new(rx))
    }
}

struct Player {
    tx: mpsc::Sender<FlvTag>,
    started: bool,
}

struct RecIngest {
    tags: Arc<Mutex<Vec<FlvTag>>>,
    players: Arc<Mutex<Vec<Player>>>,
    ended: Arc<AtomicUsize>,
}

impl FlvIngest for RecIngest {
    fn push(&mut self, tag: FlvTag) {
        lock(&self.players).retain_mut(|p| {
            p.started |= tag.kind == FlvKind::Video && tag.keyframe;
            let wanted = p.started || tag.config || tag.kind == FlvKind::Meta;
            !wanted || p.tx.try_send(tag.clone()).is_ok()
        });
        lock(&self.tags).push(tag);
    }
}

impl Drop for RecIngest {
    fn drop(&mut self) {
        self.ended.fetch_add(1, Ordering::SeqCst);
    }
}

pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A running server on 127.0.0.1, stopped on drop.
pub struct Server {
    pub port: u16,
    pub router: Arc<TestRouter>,
    cancel: CancellationToken,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

pub async fn start_server(tls: Option<Arc<CertReloader>>) -> Server {
    capture_logs();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("local addr").port();
    let router = Arc::new(TestRouter::default());
    let cancel = CancellationToken::new();
    tokio::spawn(rtmp::serve(listener, tls, router.clone(), cancel.clone()));
    Server {
        port,
        router,
        cancel,
    }
}

/// An engine on loopback ports of its own: SRT always, RTMP when `rtmp`; recordings under
/// `dir`; the log captured for [`logged`].
pub async fn start_engine(dir: &TempDir, rtmp: bool, hls: HlsConfig) -> Engine {
    capture_logs();
    let any: std::net::SocketAddr = "127.0.0.1:0".parse().expect("addr");
    Engine::start(EngineConfig {
        srt: Some(any),
        rtmp: rtmp.then_some(any),
        rtmps: None,
        tls: None,
        client_tls: ClientTls::new(),
        rtmp_limits: RtmpLimits::default(),
        recording: RecordingConfig {
            dir: dir.path("recordings"),
            floor: DiskFloor::default(),
        },
        hls,
    })
    .await
    .expect("engine starts")
}

/// A port with nothing listening (bound, then released).
pub async fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    l.local_addr().expect("local addr").port()
}

/// A scratch directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "relevo-{name}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        Self(dir)
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("RELEVO_KEEP_TMP").is_some() {
            eprintln!("kept {}", self.0.display());
            return;
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child process, killed and reaped on drop (the workspace's tokio has no `process`).
pub struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Spawns a tool with its stderr in `log`.
pub fn spawn(program: &str, args: &[&str], log: &Path) -> Proc {
    let stderr = std::fs::File::create(log).expect("log file");
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {program}: {e}"));
    Proc(child)
}

pub fn ffmpeg(args: &[&str], log: &Path) -> Proc {
    let mut all = vec!["-hide_banner", "-nostats", "-loglevel", "warning", "-y"];
    all.extend_from_slice(args);
    spawn("ffmpeg", &all, log)
}

/// Waits for a child; returns whether it exited successfully.
pub async fn wait(child: &mut Proc, limit: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match child.0.try_wait() {
            Ok(Some(status)) => return status.success(),
            Ok(None) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Ok(None) => panic!("child still running after {limit:?}"),
            Err(e) => panic!("wait: {e}"),
        }
    }
}

/// Runs a tool to completion off the runtime; returns its stdout.
pub async fn output(program: &str, args: Vec<String>) -> String {
    let program = program.to_string();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(&program)
            .args(&args)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("run {program}: {e}"))
    })
    .await
    .expect("join");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Makes a 2 s H.264 + AAC FLV file (25 fps, a keyframe every second).
pub async fn make_fixture(dir: &TempDir) -> PathBuf {
    let out = dir.path("fixture.flv");
    let out_str = out.to_string_lossy().into_owned();
    let mut child = ffmpeg(
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=320x240:rate=25",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=1000",
            "-t",
            "2",
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
            &out_str,
        ],
        &dir.path("fixture.log"),
    );
    assert!(
        wait(&mut child, Duration::from_secs(60)).await,
        "fixture encode failed"
    );
    out
}

/// Reads the tags of an FLV file (FLV spec v10.1, annex E.2–E.4): header, then
/// PreviousTagSize / tag pairs. Enough for files that ffmpeg writes.
pub fn read_flv(path: &Path) -> Vec<FlvTag> {
    let data = std::fs::read(path).expect("read flv");
    assert_eq!(data.get(..3), Some(&b"FLV"[..]), "not an FLV file");
    let header_len = u32::from_be_bytes([data[5], data[6], data[7], data[8]]) as usize;
    let mut pos = header_len + 4;
    let mut tags = Vec::new();
    while pos + 11 <= data.len() {
        let kind = match data[pos] & 0x1F {
            8 => Some(FlvKind::Audio),
            9 => Some(FlvKind::Video),
            18 => Some(FlvKind::Meta),
            _ => None,
        };
        let size = u32::from_be_bytes([0, data[pos + 1], data[pos + 2], data[pos + 3]]) as usize;
        let ts = u32::from_be_bytes([data[pos + 7], data[pos + 4], data[pos + 5], data[pos + 6]]);
        let start = pos + 11;
        if start + size > data.len() {
            break;
        }
        let body = Bytes::copy_from_slice(&data[start..start + size]);
        if let Some(kind) = kind {
            let (keyframe, config) = rtmp::tag_flags(kind, &body);
            tags.push(FlvTag::new(kind, ts, body, keyframe, config));
        }
        pos = start + size + 4;
    }
    tags
}

pub fn count(tags: &[FlvTag], kind: FlvKind) -> usize {
    tags.iter().filter(|t| t.kind == kind).count()
}

/// Video frames: video tags that are neither sequence headers nor the AVC end-of-sequence
/// tag (AVCPacketType 2) that ffmpeg's FLV muxer writes last.
pub fn video_frames(tags: &[FlvTag]) -> usize {
    tags.iter()
        .filter(|t| t.kind == FlvKind::Video && !t.config && t.body.get(1) != Some(&2))
        .count()
}

/// One stream as ffprobe sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probed {
    pub codec_type: String,
    pub codec_name: String,
    /// Packets (video: one per frame).
    pub packets: u64,
}

pub async fn ffprobe(path: &Path) -> Vec<Probed> {
    let args = [
        "-v",
        "error",
        "-count_packets",
        "-show_entries",
        "stream=codec_type,codec_name,nb_read_packets",
        "-of",
        "compact=p=0",
    ];
    let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    args.push(path.to_string_lossy().into_owned());
    output("ffprobe", args)
        .await
        .lines()
        .map(|line| {
            let field = |name: &str| {
                line.split('|')
                    .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
                    .unwrap_or_default()
                    .to_string()
            };
            Probed {
                codec_type: field("codec_type"),
                codec_name: field("codec_name"),
                packets: field("nb_read_packets").parse().unwrap_or(0),
            }
        })
        .collect()
}

pub fn stream<'a>(probed: &'a [Probed], codec_type: &str) -> &'a Probed {
    probed
        .iter()
        .find(|p| p.codec_type == codec_type)
        .unwrap_or_else(|| panic!("no {codec_type} stream in {probed:?}"))
}

// ---- log capture: a minimal tracing subscriber that keeps every event as a line ----

static LOGS: OnceLock<Mutex<Vec<String>>> = OnceLock::new();

/// Installs the capturing subscriber (once per test binary).
pub fn capture_logs() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let _ = tracing::subscriber::set_global_default(Capture::default());
    });
}

/// True when some captured log line contains every one of `parts`.
pub fn logged(parts: &[&str]) -> bool {
    lock(LOGS.get_or_init(Default::default))
        .iter()
        .any(|line| parts.iter().all(|p| line.contains(p)))
}

pub async fn wait_logged(parts: &[&str]) {
    for _ in 0..200 {
        if logged(parts) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let all = lock(LOGS.get_or_init(Default::default)).join("\n");
    panic!("no log line with {parts:?}; log:\n{all}");
}

#[derive(Default)]
struct Capture {
    next_id: AtomicUsize,
}

struct Line(String);

impl tracing::field::Visit for Line {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write;
        let _ = write!(self.0, " {}={:?}", field.name(), value);
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        use std::fmt::Write;
        let _ = write!(self.0, " {}={}", field.name(), value);
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        let _ = span;
        tracing::span::Id::from_u64(self.next_id.fetch_add(1, Ordering::SeqCst) as u64 + 1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut line = Line(format!("{}", event.metadata().level()));
        event.record(&mut line);
        lock(LOGS.get_or_init(Default::default)).push(line.0);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// RTMP spec 1.0 §5.2.3: C1/S1/C2/S2 are 1536 bytes.
pub const HANDSHAKE_SIZE: usize = 1536;
/// RTMP spec 1.0 §5.4.1: the chunk size until a Set Chunk Size message changes it.
pub const DEFAULT_CHUNK_SIZE: usize = 128;

/// Completes the simple (non-digest) handshake of RTMP spec 1.0 §5.2 by hand, as a raw
/// peer that then writes chunks of its own.
pub async fn handshake(port: u16) -> tokio::net::TcpStream {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let mut c0c1 = vec![3u8];
    c0c1.extend((0..HANDSHAKE_SIZE).map(|i| if i < 8 { 0 } else { (i * 7) as u8 }));
    tcp.write_all(&c0c1).await.expect("send C0+C1");
    let mut s0s1s2 = vec![0u8; 1 + 2 * HANDSHAKE_SIZE];
    tcp.read_exact(&mut s0s1s2).await.expect("read S0+S1+S2");
    assert_eq!(s0s1s2[0], 3, "S0 is RTMP version 3");
    tcp.write_all(&s0s1s2[1..1 + HANDSHAKE_SIZE])
        .await
        .expect("send C2");
    tcp
}

/// One message on chunk stream `csid` in chunks of [`DEFAULT_CHUNK_SIZE`] (spec §5.3.1: a
/// type 0 header, then type 3 headers).
pub fn message(csid: u8, type_id: u8, stream_id: u32, ts: u32, body: &[u8]) -> Vec<u8> {
    let mut out = vec![csid];
    out.extend_from_slice(&ts.to_be_bytes()[1..]);
    out.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    out.push(type_id);
    out.extend_from_slice(&stream_id.to_le_bytes());
    for (i, piece) in body.chunks(DEFAULT_CHUNK_SIZE).enumerate() {
        if i > 0 {
            out.push(0xC0 | csid);
        }
        out.extend_from_slice(piece);
    }
    out
}

/// An AMF0 string (type 0x02, 16-bit length).
pub fn amf_string(s: &str) -> Vec<u8> {
    let mut out = vec![0x02];
    out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
    out
}

/// An AMF0 number (type 0x00, big-endian f64).
pub fn amf_number(n: f64) -> Vec<u8> {
    let mut out = vec![0x00];
    out.extend_from_slice(&n.to_be_bytes());
    out
}

/// An AMF0 object (marker 0x03): name/value pairs, then an empty name and the end marker.
pub fn amf_object(pairs: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut out = vec![0x03];
    for (name, value) in pairs {
        out.extend_from_slice(&(name.len() as u16).to_be_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(value);
    }
    out.extend_from_slice(&[0, 0, 0x09]);
    out
}

/// Command bodies a publishing encoder sends, transaction ids 1 to 3: `connect` to app
/// `live` (with `tcUrl` when given), `createStream`, and `publish` of `key` on stream 1.
pub struct PublishCommands {
    pub connect: Vec<u8>,
    pub create: Vec<u8>,
    pub publish: Vec<u8>,
}

pub fn publish_commands(tc_url: Option<&str>, key: &str) -> PublishCommands {
    let mut props = vec![("app", amf_string("live"))];
    if let Some(url) = tc_url {
        props.push(("tcUrl", amf_string(url)));
    }
    let mut connect = amf_string("connect");
    connect.extend(amf_number(1.0));
    connect.extend(amf_object(&props));
    let mut create = amf_string("createStream");
    create.extend(amf_number(2.0));
    create.push(0x05);
    let mut publish = amf_string("publish");
    publish.extend(amf_number(3.0));
    publish.push(0x05);
    publish.extend(amf_string(key));
    publish.extend(amf_string("live"));
    PublishCommands {
        connect,
        create,
        publish,
    }
}
