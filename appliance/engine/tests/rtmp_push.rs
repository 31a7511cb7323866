//! Push and pull links against ffmpeg in listen mode, and the classification of failures.

mod rtmp_support;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use relevo_engine::error::LinkError;
use relevo_engine::hub::fanout::Direct;
use relevo_engine::hub::Hub;
use relevo_engine::metrics::{LatencyHistogram, PublisherInfo};
use relevo_engine::rtmp::direct::DirectSlot;
use relevo_engine::rtmp::push::{push_with, PushFeed};
use relevo_engine::rtmp::{self, ClientTls, FlvIngest, RtmpUrl};
use relevo_engine::unit::{FlvKind, FlvTag};
use rtmp_support::*;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const LONG: Duration = Duration::from_secs(60);

fn url(s: &str) -> RtmpUrl {
    RtmpUrl::parse(s).expect("url")
}

/// Pushes `tags` to `url`, retrying while the destination is not listening yet.
async fn push_all(url: &RtmpUrl, tls: &ClientTls, tags: &[FlvTag], bytes: &AtomicU64) {
    let (tx, mut rx) = mpsc::channel(tags.len() + 1);
    for tag in tags {
        tx.try_send(tag.clone()).expect("queue");
    }
    drop(tx);
    let cancel = CancellationToken::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match rtmp::push(url, tls, &mut rx, bytes, &cancel).await {
            Ok(()) => return,
            Err(LinkError::Refused) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("push failed: {e}"),
        }
    }
}

/// Our push publishes a fixture to a real RTMP server (ffmpeg -listen 1), which records it:
/// ffprobe finds H.264 + AAC and every video frame; `bytes_out` counts what left.
#[tokio::test]
async fn push_to_ffmpeg_listener() {
    let dir = TempDir::new("rtmp-push");
    let fixture = read_flv(&make_fixture(&dir).await);
    let port = free_port().await;
    let out = dir.path("out.flv");
    let listen = format!("rtmp://127.0.0.1:{port}/live/key");
    let mut server = ffmpeg(
        &[
            "-listen",
            "1",
            "-i",
            &listen,
            "-c",
            "copy",
            "-f",
            "flv",
            &out.to_string_lossy(),
        ],
        &dir.path("listener.log"),
    );
    let bytes = AtomicU64::new(0);
    push_all(&url(&listen), &ClientTls::new(), &fixture, &bytes).await;
    assert!(wait(&mut server, LONG).await, "ffmpeg listener failed");

    let media: u64 = fixture
        .iter()
        .filter(|t| t.kind != FlvKind::Meta)
        .map(|t| t.body.len() as u64)
        .sum();
    let sent = bytes.load(Ordering::Relaxed);
    assert!(sent >= media, "bytes_out {sent} < media payload {media}");
    let probed = ffprobe(&out).await;
    assert_eq!(stream(&probed, "video").codec_name, "h264");
    assert_eq!(stream(&probed, "audio").codec_name, "aac");
    assert_eq!(
        stream(&probed, "video").packets,
        video_frames(&fixture) as u64
    );
}

/// The fan-out's side of a push output's direct path, counting the tags it took at once.
#[derive(Debug)]
struct Counted {
    slot: Arc<DirectSlot>,
    taken: AtomicU64,
}

impl Direct<FlvTag> for Counted {
    fn offer_now(&self, tag: &FlvTag) -> bool {
        let taken = self.slot.offer_now(tag);
        if taken {
            self.taken.fetch_add(1, Ordering::Relaxed);
        }
        taken
    }

    fn queued(&self, added: usize, removed: usize) {
        self.slot.queued(added, removed);
    }

    fn flush(&self) {
        self.slot.flush();
    }
}

/// A push output fed by a hub, as the engine runs it: while the destination keeps up, the
/// publisher's side writes media to its socket itself (`rtmp::direct`), and metadata and
/// whatever queued go through the output's task. A real server (ffmpeg -listen 1) records
/// every video frame of the fixture, and most tags were written directly.
#[tokio::test]
async fn push_written_from_the_fan_out_reaches_ffmpeg_whole() {
    let dir = TempDir::new("rtmp-push-direct");
    let fixture = read_flv(&make_fixture(&dir).await);
    let port = free_port().await;
    let out = dir.path("out.flv");
    let listen = format!("rtmp://127.0.0.1:{port}/live/key");
    let out_arg = out.to_string_lossy();
    let mut server = ffmpeg(
        &[
            "-listen", "1", "-i", &listen, "-c", "copy", "-f", "flv", &out_arg,
        ],
        &dir.path("listener.log"),
    );

    let hub = Hub::new("in");
    hub.set_wants(false, true);
    hub.set_grace(Duration::ZERO);
    let info = PublisherInfo {
        protocol: "rtmp",
        peer: "test".into(),
        since: SystemTime::now(),
    };
    let publisher = hub.attach(info).expect("attach");
    let bytes = Arc::new(AtomicU64::new(0));
    let latency = Arc::new(LatencyHistogram::default());
    let slot = Arc::new(DirectSlot::new(bytes.clone(), latency.clone()));
    let counted = Arc::new(Counted {
        slot: slot.clone(),
        taken: AtomicU64::new(0),
    });
    let offered = counted.clone() as Arc<dyn Direct<FlvTag>>;
    let mut sub = hub
        .subscribe_flv_direct(Arc::default(), Some(offered))
        .expect("live");
    let publishing = Arc::new(AtomicBool::new(false));
    let pushed = {
        let (url, publishing, bytes) = (url(&listen), publishing.clone(), bytes.clone());
        tokio::spawn(async move {
            let cancel = CancellationToken::new();
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                let feed = PushFeed {
                    rx: &mut sub.rx,
                    direct: Some(slot.clone()),
                    bytes_out: &bytes,
                    latency: &latency,
                };
                let on_publishing = || publishing.store(true, Ordering::Relaxed);
                match push_with(&url, &ClientTls::new(), feed, &cancel, on_publishing).await {
                    Err(LinkError::Refused) if Instant::now() < deadline => {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    done => return done,
                }
            }
        })
    };
    while !publishing.load(Ordering::Relaxed) {
        assert!(!pushed.is_finished(), "push ended: {:?}", pushed.await);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Faster than real time, slow enough for loopback to keep up.
    for (i, tag) in fixture.iter().enumerate() {
        publisher.push_flv(tag.clone());
        if i % 8 == 7 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    drop(publisher); // no grace: the subscription ends and the push closes cleanly
    let result = tokio::time::timeout(LONG, pushed).await.expect("push ends");
    assert_eq!(result.expect("push task"), Ok(()));
    assert!(wait(&mut server, LONG).await, "ffmpeg listener failed");

    let taken = counted.taken.load(Ordering::Relaxed);
    let media = fixture.len() - count(&fixture, FlvKind::Meta);
    eprintln!("media tags written from the fan-out: {taken} of {media}");
    assert!(
        taken * 2 > media as u64,
        "only {taken} of {media} media tags were written directly"
    );
    let probed = ffprobe(&out).await;
    assert_eq!(stream(&probed, "video").codec_name, "h264");
    assert_eq!(stream(&probed, "audio").codec_name, "aac");
    assert_eq!(
        stream(&probed, "video").packets,
        video_frames(&fixture) as u64
    );
}

/// Nothing listening: the attempt fails fast and is classified as refused.
#[tokio::test]
async fn push_to_closed_port_is_refused() {
    let port = free_port().await;
    let (_tx, mut rx) = mpsc::channel(1);
    let started = Instant::now();
    let result = rtmp::push(
        &url(&format!("rtmp://127.0.0.1:{port}/live/key")),
        &ClientTls::new(),
        &mut rx,
        &AtomicU64::new(0),
        &CancellationToken::new(),
    )
    .await;
    assert_eq!(result, Err(LinkError::Refused));
    assert!(started.elapsed() < Duration::from_secs(2));
}

/// A host that does not resolve is its own class, naming the host.
#[tokio::test]
async fn push_to_unknown_host_is_resolve_error() {
    let (_tx, mut rx) = mpsc::channel(1);
    let result = rtmp::push(
        &url("rtmp://no-such-host.invalid/live/key"),
        &ClientTls::new(),
        &mut rx,
        &AtomicU64::new(0),
        &CancellationToken::new(),
    )
    .await;
    assert_eq!(
        result,
        Err(LinkError::Resolve("no-such-host.invalid".into()))
    );
}

/// Our own server turns an unknown key away; push reports the server's refusal as Rejected.
#[tokio::test]
async fn push_with_unknown_key_is_rejected() {
    let server = start_server(None).await;
    let (_tx, mut rx) = mpsc::channel(1);
    let result = rtmp::push(
        &url(&format!("rtmp://127.0.0.1:{}/live/wrong", server.port)),
        &ClientTls::new(),
        &mut rx,
        &AtomicU64::new(0),
        &CancellationToken::new(),
    )
    .await;
    assert!(matches!(result, Err(LinkError::Rejected(_))), "{result:?}");

    let result = rtmp::push(
        &url(&format!("rtmp://127.0.0.1:{}/wrongapp/in", server.port)),
        &ClientTls::new(),
        &mut rx,
        &AtomicU64::new(0),
        &CancellationToken::new(),
    )
    .await;
    assert!(
        matches!(&result, Err(LinkError::Rejected(r)) if r.contains("wrong application name")),
        "{result:?}"
    );
}

struct Collect(Vec<FlvTag>);

impl FlvIngest for Collect {
    fn push(&mut self, tag: FlvTag) {
        self.0.push(tag);
    }
}

/// Our pull plays a live stream that a real encoder (ffmpeg) publishes to our listener, and
/// gets video from a keyframe with the sequence headers flagged first, as the engine expects.
/// (Pulling from ffmpeg's own `-listen 1` server is in `rtmp_compat`.)
#[tokio::test]
async fn pull_from_live_publisher() {
    let dir = TempDir::new("rtmp-pull");
    let server = start_server(None).await;
    let port = server.port;
    let publish_url = format!("rtmp://127.0.0.1:{port}/live/in");
    let mut publisher = ffmpeg(
        &[
            "-re",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=320x240:rate=25",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=1000",
            "-t",
            "5",
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
            &publish_url,
        ],
        &dir.path("publisher.log"),
    );
    for _ in 0..200 {
        if !server.router.publications().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let cancel = CancellationToken::new();
    let mut ingest = Collect(Vec::new());
    let stop = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(2)).await;
        stop.cancel();
    });
    let result = rtmp::pull(&url(&publish_url), &ClientTls::new(), &mut ingest, &cancel).await;
    assert_eq!(result, Ok(()));
    assert!(wait(&mut publisher, LONG).await, "publisher failed");

    let tags = ingest.0;
    let video: Vec<&FlvTag> = tags.iter().filter(|t| t.kind == FlvKind::Video).collect();
    assert!(
        video.first().is_some_and(|t| t.config),
        "sequence header first"
    );
    assert!(
        video.get(1).is_some_and(|t| t.keyframe && !t.config),
        "then a keyframe"
    );
    assert!(tags.iter().any(|t| t.kind == FlvKind::Audio && t.config));
    assert!(tags.iter().any(|t| t.kind == FlvKind::Meta));
    assert!(
        video_frames(&tags) >= 10,
        "{} frames in 2 s (joined at a keyframe)",
        video_frames(&tags)
    );
}

/// A pull of a key the server does not know is classified as rejected.
#[tokio::test]
async fn pull_of_unknown_key_is_rejected() {
    let server = start_server(None).await;
    let mut ingest = Collect(Vec::new());
    let result = rtmp::pull(
        &url(&format!("rtmp://127.0.0.1:{}/live/nope", server.port)),
        &ClientTls::new(),
        &mut ingest,
        &CancellationToken::new(),
    )
    .await;
    assert!(
        matches!(&result, Err(LinkError::Rejected(r)) if r.contains("StreamNotFound")),
        "{result:?}"
    );
}
