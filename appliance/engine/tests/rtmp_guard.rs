//! The RTMP listener against a hostile peer: after a real handshake it sends command and data
//! messages of deeply nested AMF0 values, which `rml_rtmp` would parse recursively until the
//! stack overflows and the whole process aborts. Only that connection may end. The same
//! holds for our pull and push links facing a hostile server.

mod rtmp_support;

use std::time::Duration;

use relevo_engine::error::LinkError;
use relevo_engine::rtmp::{self, ClientTls, FlvIngest, RtmpUrl};
use relevo_engine::unit::{FlvKind, FlvTag};
use rml_rtmp::chunk_io::ChunkDeserializer;
use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rml_rtmp::sessions::{
    ClientSession, ClientSessionConfig, ClientSessionEvent, ClientSessionResult, PublishRequestType,
};
use rml_rtmp::time::RtmpTimestamp;
use rtmp_support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

const LONG: Duration = Duration::from_secs(60);

/// `connect`, transaction 1, then objects nested `levels` deep: `{a: {a: {a: …}}}`.
fn nested_connect(levels: usize) -> Vec<u8> {
    let mut body = amf_string("connect");
    body.push(0x00);
    body.extend_from_slice(&1f64.to_be_bytes());
    for _ in 0..levels {
        body.extend_from_slice(&[0x03, 0x00, 0x01, b'a']);
    }
    body.push(0x05);
    body
}

/// `@setDataFrame` followed by strict arrays nested `levels` deep: `[[[…]]]`.
fn nested_data(levels: usize) -> Vec<u8> {
    let mut body = amf_string("@setDataFrame");
    for _ in 0..levels {
        body.extend_from_slice(&[0x0A, 0, 0, 0, 1]);
    }
    body.push(0x05);
    body
}

/// Sends `bytes` after a handshake and waits until the server closes the connection.
async fn send_and_expect_close(port: u16, bytes: &[u8]) {
    let mut tcp = handshake(port).await;
    // The server may close before reading everything; a reset is a close as well.
    let _ = tcp.write_all(bytes).await;
    let mut buf = vec![0u8; 4096];
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "the server kept the hostile connection open"
    );
}

/// A 20 KB `connect` of nested objects and a 20 KB data message of nested strict arrays each
/// close only their own connection, with the peer and the reason logged; the process survives
/// and an ffmpeg publisher is served afterwards.
#[tokio::test]
async fn deep_amf0_nesting_closes_only_that_connection() {
    let dir = TempDir::new("rtmp-guard");
    let server = start_server(None).await;
    let port = server.port;

    let command = nested_connect(5000);
    assert!(command.len() > 20_000);
    send_and_expect_close(port, &message(3, 20, 0, 0, &command)).await;
    wait_logged(&[
        "RTMP connection closed",
        "127.0.0.1",
        "AMF0 command",
        "nest",
    ])
    .await;

    let data = nested_data(4000);
    assert!(data.len() > 20_000);
    send_and_expect_close(port, &message(3, 18, 0, 0, &data)).await;
    wait_logged(&["RTMP connection closed", "127.0.0.1", "AMF0 data", "nest"]).await;

    let url = format!("rtmp://127.0.0.1:{port}/live/in");
    let mut child = ffmpeg(
        &[
            "-re",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=160x120:rate=25",
            "-t",
            "2",
            "-c:v",
            "libx264",
            "-f",
            "flv",
            &url,
        ],
        &dir.path("ffmpeg.log"),
    );
    assert!(wait(&mut child, LONG).await, "ffmpeg publish failed");
    server.router.wait_ended(1).await;
    let pubs = server.router.publications();
    assert_eq!(pubs.len(), 1);
    assert!(
        video_frames(&pubs[0]) >= 45,
        "video frames: {}",
        video_frames(&pubs[0])
    );
}

struct Discard;

impl FlvIngest for Discard {
    fn push(&mut self, _tag: FlvTag) {}
}

/// A hostile server: completes the handshake, then answers with a deeply nested `_result`.
async fn hostile_server(listener: TcpListener) {
    let (mut tcp, _) = listener.accept().await.expect("accept");
    let mut handshake = Handshake::new(PeerType::Server);
    let mut buf = vec![0u8; 4096];
    loop {
        let n = tcp.read(&mut buf).await.expect("read handshake");
        assert!(n > 0, "client left during the handshake");
        match handshake.process_bytes(&buf[..n]).expect("handshake") {
            HandshakeProcessResult::InProgress { response_bytes } => {
                tcp.write_all(&response_bytes).await.expect("write S0-S2");
            }
            HandshakeProcessResult::Completed { response_bytes, .. } => {
                tcp.write_all(&response_bytes).await.expect("write");
                break;
            }
        }
    }
    let mut body = amf_string("_result");
    body.push(0x00);
    body.extend_from_slice(&1f64.to_be_bytes());
    for _ in 0..5000 {
        body.extend_from_slice(&[0x03, 0x00, 0x01, b'a']);
    }
    let _ = tcp.write_all(&message(3, 20, 0, 0, &body)).await;
    // Hold the connection until the client drops it.
    while matches!(tcp.read(&mut buf).await, Ok(n) if n > 0) {}
}

/// A pull link facing a server that answers `connect` with deeply nested AMF0 ends with a
/// protocol error naming the reason; the process survives.
#[tokio::test]
async fn deep_amf0_nesting_from_a_server_ends_only_the_link() {
    capture_logs();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let server = tokio::spawn(hostile_server(listener));
    let url = RtmpUrl::parse(&format!("rtmp://127.0.0.1:{port}/live/key")).expect("url");
    let result = rtmp::pull(
        &url,
        &ClientTls::new(),
        &mut Discard,
        &CancellationToken::new(),
    )
    .await;
    assert!(
        matches!(&result, Err(LinkError::Protocol(why)) if why.contains("deeper than")),
        "{result:?}"
    );
    wait_logged(&[
        "RTMP connection closed",
        "127.0.0.1",
        "AMF0 command",
        "nest",
    ])
    .await;
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("hostile server ends")
        .expect("hostile server");
}

/// A publisher driven by `rml_rtmp`'s client session over a real socket. The session
/// consumes acknowledgements silently, so the server's bytes are also read here.
struct ClientPublisher {
    tcp: TcpStream,
    session: ClientSession,
    server: ChunkDeserializer,
    /// Bytes sent after the handshake.
    sent: usize,
    /// Sequence numbers of the server's acknowledgements.
    acks: Vec<u32>,
}

impl ClientPublisher {
    async fn connect(port: u16, window_ack_size: u32) -> Self {
        let tcp = handshake(port).await;
        let mut config = ClientSessionConfig::new();
        config.window_ack_size = window_ack_size;
        let (session, initial) = ClientSession::new(config).expect("client session");
        let mut p = Self {
            tcp,
            session,
            server: ChunkDeserializer::new(),
            sent: 0,
            acks: Vec::new(),
        };
        p.send(initial).await;
        p
    }

    /// Sends every packet of the session's results; returns its events.
    async fn send(&mut self, results: Vec<ClientSessionResult>) -> Vec<ClientSessionEvent> {
        let mut events = Vec::new();
        for r in results {
            match r {
                ClientSessionResult::OutboundResponse(p) => {
                    self.tcp.write_all(&p.bytes).await.expect("send");
                    self.sent += p.bytes.len();
                }
                ClientSessionResult::RaisedEvent(e) => events.push(e),
                ClientSessionResult::UnhandleableMessageReceived(_) => {}
            }
        }
        events
    }

    /// Reads the server's answers until one raises an event that `wanted` accepts.
    async fn wait_event(&mut self, wanted: fn(&ClientSessionEvent) -> bool) {
        self.read_until(|events, _| events.iter().any(wanted)).await;
    }

    /// Reads from the server until `done` holds for the events and acknowledgements so far.
    async fn read_until(&mut self, done: impl Fn(&[ClientSessionEvent], &[u32]) -> bool) {
        let mut events = Vec::new();
        let mut buf = vec![0u8; 65536];
        let read = async {
            while !done(&events, &self.acks) {
                let n = self.tcp.read(&mut buf).await.expect("read");
                assert!(n > 0, "the server closed the connection");
                self.note_acks(&buf[..n]);
                let results = self
                    .session
                    .handle_input(&buf[..n])
                    .expect("client session");
                events.extend(self.send(results).await);
            }
        };
        tokio::time::timeout(Duration::from_secs(30), read)
            .await
            .expect("the server answered in time");
    }

    /// Follows the server's chunk stream (its Set Chunk Size applied) for acknowledgements.
    fn note_acks(&mut self, bytes: &[u8]) {
        let mut next = self.server.get_next_message(bytes).expect("server chunks");
        while let Some(m) = next {
            let word = m
                .data
                .get(..4)
                .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
            match (m.type_id, word) {
                (1, Some(size)) => self.server.set_max_chunk_size(size as usize).expect("size"),
                (3, Some(sequence)) => self.acks.push(sequence),
                _ => {}
            }
            next = self.server.get_next_message(&[]).expect("server chunks");
        }
    }
}

/// Once a publish is accepted the engine reads the publisher's chunks itself
/// (`rtmp::chunk_reader`), not through `rml_rtmp`: here a publisher driven by `rml_rtmp`'s
/// client session asks for an acknowledgement every 20 000 bytes and gets them with the
/// total received so far (the last one within a window of everything sent); its 40 video
/// messages of 5 000 bytes arrive whole, in order, with their timestamps; and deeply nested
/// AMF0 sent after publishing still closes only that connection (the AMF0 check runs on the
/// reader's messages too).
#[tokio::test]
async fn a_publishing_connection_is_read_by_the_engine_itself() {
    capture_logs();
    let server = start_server(None).await;
    let mut p = ClientPublisher::connect(server.port, 20_000).await;
    let r = p
        .session
        .request_connection("live".into())
        .expect("connect");
    p.send(vec![r]).await;
    p.wait_event(|e| matches!(e, ClientSessionEvent::ConnectionRequestAccepted))
        .await;
    let r = p
        .session
        .request_publishing("in".into(), PublishRequestType::Live)
        .expect("publish");
    p.send(vec![r]).await;
    p.wait_event(|e| matches!(e, ClientSessionEvent::PublishRequestAccepted))
        .await;

    for i in 0..40u32 {
        // An AVC NAL unit tag: keyframe every 10th.
        let mut body = vec![if i % 10 == 0 { 0x17 } else { 0x27 }, 1, 0, 0, 0];
        body.resize(5_000, i as u8);
        let r = p
            .session
            .publish_video_data(body.into(), RtmpTimestamp::new(i * 40), false)
            .expect("video");
        p.send(vec![r]).await;
    }
    let total = p.sent as u32;
    p.read_until(|_, acks| acks.last().is_some_and(|&a| a + 20_000 > total))
        .await;
    let acks = &p.acks;
    // One acknowledgement per read that completes a window, as nginx-rtmp sends them.
    assert!(
        acks.len() >= 2
            && acks.windows(2).all(|w| w[1] >= w[0] + 20_000)
            && acks.iter().all(|&a| a <= total),
        "acknowledgements count what was received, at most once per window: {acks:?} of {total}"
    );

    let tags = &server.router.publications()[0];
    let video: Vec<(u32, usize, bool)> = tags
        .iter()
        .filter(|t| t.kind == FlvKind::Video)
        .map(|t| (t.timestamp, t.body.len(), t.keyframe))
        .collect();
    let want: Vec<(u32, usize, bool)> = (0..40).map(|i| (i * 40, 5_000, i % 10 == 0)).collect();
    assert_eq!(video, want);

    // Deep AMF0 after publishing, on a chunk stream of its own at the client's chunk size.
    let data = nested_data(4000);
    let mut bytes = vec![0x0A, 0, 0, 0];
    bytes.extend_from_slice(&(data.len() as u32).to_be_bytes()[1..]);
    bytes.extend_from_slice(&[18, 1, 0, 0, 0]);
    for (i, piece) in data.chunks(4096).enumerate() {
        if i > 0 {
            bytes.push(0xCA);
        }
        bytes.extend_from_slice(piece);
    }
    let _ = p.tcp.write_all(&bytes).await;
    let mut buf = vec![0u8; 4096];
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        while matches!(p.tcp.read(&mut buf).await, Ok(n) if n > 0) {}
    })
    .await;
    assert!(closed.is_ok(), "the server kept the hostile publisher");
    wait_logged(&["RTMP connection closed", "127.0.0.1", "AMF0 data", "nest"]).await;
    server.router.wait_ended(1).await;
}
