//! An input's own SRT port (issue #18) on the real engine, with real peers: srt-live-transmit
//! publishing without a streamid (an encoder that cannot send one) fed by ffmpeg, read back
//! over the shared SRT port and checked with ffprobe; callers refused without the input's
//! passphrase, with a wrong one or a weaker key, and readers refused there; the port moved by
//! a new desired state; a port already taken, which leaves the shared port working.

mod rtmp_support;

use std::net::UdpSocket;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use relevo_engine::hls::HlsConfig;
use relevo_engine::metrics::{FlowState, InputSnapshot};
use relevo_engine::spec::{
    key_len, DesiredState, GracePeriod, InputSource, InputSpec, Latency, Name, OutputKind,
    OutputSpec, Passphrase, SrtSecurity, StreamKey,
};
use relevo_engine::Engine;
use rtmp_support::{ffprobe, logged, start_engine, stream, wait_logged, TempDir};

const PASS: &str = "own-port-passphrase";
const LONG: Duration = Duration::from_secs(30);

/// Ports handed out in this binary: the tests run in parallel, and the kernel may give a
/// just-released port to two of them.
static HANDED_OUT: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());

/// A UDP port with nothing bound to it (bound, then released).
fn free_udp_port() -> u16 {
    let mut handed = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let port = UdpSocket::bind("127.0.0.1:0")
            .and_then(|s| s.local_addr())
            .expect("bind")
            .port();
        if !handed.contains(&port) {
            handed.push(port);
            return port;
        }
    }
}

/// One listening input `name` (key `NAME-key`, [`PASS`] with a `key_bytes` key, its own
/// SRT port `port`) with a pull-SRT output read with `read:NAME-watch`.
fn desired(name: &str, port: u16, key_bytes: u32) -> DesiredState {
    DesiredState {
        inputs: vec![InputSpec {
            name: Name::new(name).expect("name"),
            enabled: true,
            source: InputSource::Listen {
                key: StreamKey::new(format!("{name}-key")).expect("key"),
                security: Some(SrtSecurity {
                    passphrase: Passphrase::new(PASS).expect("passphrase"),
                    key_len: key_len(key_bytes).expect("key length"),
                }),
                latency: Latency::new(120).expect("latency"),
                srt_port: Some(port),
            },
            grace: GracePeriod::from_secs(0).expect("grace"),
            backup: None,
            outputs: vec![OutputSpec {
                name: Name::new("watch").expect("name"),
                enabled: true,
                kind: OutputKind::PullSrt {
                    key: StreamKey::new(format!("{name}-watch")).expect("key"),
                    security: None,
                    latency: Latency::new(120).expect("latency"),
                },
            }],
        }],
    }
}

struct Relay {
    engine: Engine,
    name: &'static str,
    /// The shared SRT port.
    srt: u16,
    dir: TempDir,
}

async fn start(name: &'static str, port: u16, key_bytes: u32) -> Relay {
    let dir = TempDir::new(name);
    let engine = start_engine(&dir, false, HlsConfig::default()).await;
    engine
        .apply(&desired(name, port, key_bytes))
        .expect("apply");
    let srt = engine.bound().srt.expect("srt").port();
    Relay {
        engine,
        name,
        srt,
        dir,
    }
}

impl Relay {
    fn input(&self) -> InputSnapshot {
        self.engine
            .snapshot()
            .input(self.name)
            .cloned()
            .expect("input in the snapshot")
    }

    fn last_error(&self) -> String {
        self.input()
            .last_error
            .map(|e| e.message)
            .unwrap_or_default()
    }

    async fn wait_state(&self, state: FlowState) {
        wait_for(&format!("input {state:?}"), || self.input().state == state).await;
    }

    async fn wait_error(&self, part: &str) {
        wait_for(&format!("last error with {part:?}"), || {
            self.last_error().contains(part)
        })
        .await;
    }

    /// An encoder publishing to `url` through srt-live-transmit (ffmpeg's TS on its stdin).
    fn publish(&self, url: &str, log: &str) -> Encoder {
        Encoder::start(url, &self.dir.path(log))
    }

    /// The own port's SRT URL as an encoder without a streamid has it, calling from
    /// `source` (a loopback address: each one is its own source for the refusal hold).
    fn own_url(&self, port: u16, source: u8, query: &str) -> String {
        format!("srt://127.0.0.1:{port}?mode=caller&adapter=127.0.0.{source}{query}")
    }
}

/// Until the engine says it listens on `port` for an input of its own.
async fn wait_listening(port: u16) {
    let addr = format!("addr=127.0.0.1:{port}");
    wait_for(&format!("listening on {port}"), || {
        logged(&["SRT listening on an input's own port", &addr])
    })
    .await;
}

async fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + LONG;
    while !ok() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// ffmpeg's test pattern (25 fps, a keyframe a second, AAC) piped into srt-live-transmit
/// calling `url` once (`-a:no`: it exits when refused or dropped); killed on drop.
struct Encoder {
    ffmpeg: Child,
    transmit: Child,
    log: std::path::PathBuf,
}

impl Encoder {
    fn start(url: &str, log: &Path) -> Self {
        let log_file = || std::fs::File::create(log).expect("log file");
        let mut ffmpeg = Command::new("ffmpeg")
            .args(["-hide_banner", "-nostats", "-loglevel", "error", "-re"])
            .args(["-f", "lavfi", "-i", "testsrc=size=320x240:rate=25"])
            .args(["-f", "lavfi", "-i", "sine=frequency=1000:sample_rate=48000"])
            .args(["-t", "60", "-c:v", "libx264", "-preset", "ultrafast"])
            .args(["-pix_fmt", "yuv420p", "-g", "25", "-c:a", "aac"])
            .args(["-f", "mpegts", "-"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn ffmpeg");
        let ts = ffmpeg.stdout.take().expect("ffmpeg stdout");
        let transmit = Command::new("srt-live-transmit")
            // Seven TS packets per SRT message, as encoders send (its default is 1456 bytes).
            .args(["-a:no", "-chunk:1316", "file://con", url])
            .stdin(Stdio::from(ts))
            .stdout(Stdio::null())
            .stderr(log_file())
            .spawn()
            .expect("spawn srt-live-transmit");
        Self {
            ffmpeg,
            transmit,
            log: log.to_owned(),
        }
    }

    /// Its connection failed: it exited, or it reads on without sending (srt-live-transmit
    /// 1.5.1 sometimes stays up after a failed connection, counting what it reads as lost).
    fn gave_up(&mut self) -> bool {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        matches!(self.transmit.try_wait(), Ok(Some(_))) || log.contains(" 0 bytes sent")
    }
}

impl Drop for Encoder {
    fn drop(&mut self) {
        for child in [&mut self.transmit, &mut self.ffmpeg] {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// srt-live-transmit calling `url` once as a reader, its output discarded.
fn srt_reader(url: &str) -> Child {
    Command::new("srt-live-transmit")
        .args(["-a:no", url, "file://con"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn srt-live-transmit")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_encoder_without_a_streamid_publishes_on_the_input_own_port() {
    let port = free_udp_port();
    let relay = start("field", port, 16).await;
    wait_listening(port).await;

    let _encoder = relay.publish(
        &relay.own_url(port, 1, &format!("&passphrase={PASS}")),
        "enc.log",
    );
    relay.wait_state(FlowState::Live).await;
    let publisher = relay.input().publisher.expect("publisher");
    assert_eq!(publisher.protocol, "srt");

    // Read back through the shared port: the stream is the encoder's, video and audio.
    let out = relay.dir.path("read.ts");
    let url = format!(
        "srt://127.0.0.1:{}?streamid=read:field-watch&latency=120000",
        relay.srt
    );
    let args: Vec<String> = [
        "-hide_banner",
        "-nostats",
        "-loglevel",
        "error",
        "-y",
        "-i",
        &url,
        "-t",
        "3",
        "-map",
        "0",
        "-c",
        "copy",
        "-f",
        "mpegts",
    ]
    .iter()
    .map(|a| a.to_string())
    .chain([out.to_string_lossy().into_owned()])
    .collect();
    let status = tokio::task::spawn_blocking(move || {
        Command::new("ffmpeg")
            .args(args)
            .stdin(Stdio::null())
            .status()
            .expect("run ffmpeg reader")
    })
    .await
    .expect("join");
    assert!(status.success(), "the reader failed");
    let probed = ffprobe(&out).await;
    assert_eq!(stream(&probed, "video").codec_name, "h264");
    assert_eq!(stream(&probed, "audio").codec_name, "aac");
    assert!(stream(&probed, "video").packets >= 25, "{probed:?}");

    // A second encoder on the port is turned away while the first sends, as on the shared
    // port; and a reader is refused there even with the right streamid.
    let second = relay.publish(
        &relay.own_url(port, 2, &format!("&passphrase={PASS}")),
        "second.log",
    );
    wait_logged(&["input field already has a live publisher"]).await;
    drop(second);
    let mut reader = srt_reader(&relay.own_url(
        port,
        3,
        &format!("&passphrase={PASS}&streamid=read:field-watch"),
    ));
    wait_logged(&[&format!(
        "SRT port {port} of input field only takes publishers"
    )])
    .await;
    let _ = reader.kill();
    let _ = reader.wait();
    assert_eq!(
        relay.input().publisher.map(|p| p.peer),
        Some(publisher.peer)
    );
    relay.engine.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_without_the_passphrase_or_with_a_wrong_one_or_a_weak_key_are_refused() {
    let port = free_udp_port();
    let relay = start("locked", port, 32).await;
    wait_listening(port).await;

    let none = relay.publish(&relay.own_url(port, 11, ""), "none.log");
    relay.wait_error("Password required or unexpected").await;
    drop(none);

    let wrong = relay.publish(
        &relay.own_url(port, 12, "&passphrase=not-the-passphrase"),
        "wrong.log",
    );
    relay.wait_error("Incorrect passphrase").await;
    drop(wrong);

    let weak = relay.publish(
        &relay.own_url(port, 13, &format!("&passphrase={PASS}&pbkeylen=16")),
        "weak.log",
    );
    relay
        .wait_error("AES-128 is weaker than the input's AES-256 (set pbkeylen=32 on the encoder)")
        .await;
    drop(weak);
    assert_eq!(relay.input().state, FlowState::Idle);

    // The refusal hold of the shared port: a source refused late twice is refused at once,
    // even with the right settings, and another source is not.
    let refused = relay.input().rejections;
    let again = relay.publish(&relay.own_url(port, 11, ""), "again.log");
    wait_for("the second refusal of that source", || {
        relay.input().rejections > refused
    })
    .await;
    drop(again);
    let held = relay.publish(
        &relay.own_url(port, 11, &format!("&passphrase={PASS}&pbkeylen=32")),
        "held.log",
    );
    wait_logged(&[
        "this source is held",
        "flow=input locked",
        "peer=127.0.0.11:",
    ])
    .await;
    drop(held);
    assert_eq!(relay.input().state, FlowState::Idle);

    let _good = relay.publish(
        &relay.own_url(port, 14, &format!("&passphrase={PASS}&pbkeylen=32")),
        "good.log",
    );
    relay.wait_state(FlowState::Live).await;
    assert!(relay.input().rejections >= 5, "{:?}", relay.input());
    relay.engine.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_port_in_a_new_desired_state_rebinds_the_listener() {
    let (old, new) = (free_udp_port(), free_udp_port());
    let relay = start("moving", old, 16).await;
    wait_listening(old).await;
    let pass = format!("&passphrase={PASS}");

    let first = relay.publish(&relay.own_url(old, 21, &pass), "first.log");
    relay.wait_state(FlowState::Live).await;

    relay
        .engine
        .apply(&desired("moving", new, 16))
        .expect("apply");
    // The port is part of the input's source: its publisher is closed with the old port.
    wait_logged(&["SRT publisher gone: input stopped", "peer=127.0.0.21:"]).await;
    drop(first);
    relay.wait_state(FlowState::Idle).await;
    wait_listening(new).await;

    // Nothing answers on the old port any more (SRT over UDP: the caller times out).
    let mut stale = relay.publish(
        &relay.own_url(old, 22, &format!("{pass}&conntimeo=1000")),
        "stale.log",
    );
    wait_for("the caller of the old port to give up", || stale.gave_up()).await;
    assert_eq!(relay.input().state, FlowState::Idle);

    let _moved = relay.publish(&relay.own_url(new, 23, &pass), "moved.log");
    relay.wait_state(FlowState::Live).await;
    assert_eq!(
        relay
            .input()
            .publisher
            .map(|p| p.peer.starts_with("127.0.0.23:")),
        Some(true)
    );
    relay.engine.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_in_use_is_the_input_last_error_and_the_shared_port_still_works() {
    let taken = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let relay = start("busy", port, 16).await;
    relay
        .wait_error(&format!("cannot listen on the input's own SRT port {port}"))
        .await;
    assert!(logged(&["WARN", &format!("own SRT port {port}")]));

    let shared = format!(
        "srt://127.0.0.1:{}?mode=caller&streamid=publish:busy-key&passphrase={PASS}",
        relay.srt
    );
    let _encoder = relay.publish(&shared, "shared.log");
    relay.wait_state(FlowState::Live).await;

    // Once the port is free, the listener binds by itself (tried again with backoff).
    drop(taken);
    wait_listening(port).await;
    relay.engine.shutdown(Duration::from_secs(5)).await;
}
