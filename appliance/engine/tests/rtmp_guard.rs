//! The RTMP listener against a hostile peer: after a real handshake it sends command and data
//! messages of deeply nested AMF0 values, which `rml_rtmp` would parse recursively until the
//! stack overflows and the whole process aborts. Only that connection may end. The same
//! holds for our pull and push links facing a hostile server.

mod rtmp_support;

use std::time::Duration;

use relevo_engine::error::LinkError;
use relevo_engine::rtmp::{self, ClientTls, FlvIngest, RtmpUrl};
use relevo_engine::unit::FlvTag;
use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rtmp_support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

const LONG: Duration = Duration::from_secs(60);
/// RTMP spec 1.0 §5.2.3: C1/S1/C2/S2 are 1536 bytes.
const HANDSHAKE_SIZE: usize = 1536;
/// RTMP spec 1.0 §5.4.1: the chunk size until a Set Chunk Size message changes it.
const DEFAULT_CHUNK_SIZE: usize = 128;

/// Completes the simple (non-digest) handshake of RTMP spec 1.0 §5.2 by hand.
async fn handshake(port: u16) -> TcpStream {
    let mut tcp = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let mut c0c1 = vec![3u8];
    c0c1.extend((0..HANDSHAKE_SIZE).map(|i| if i < 8 { 0 } else { (i * 7) as u8 }));
    tcp.write_all(&c0c1).await.expect("send C0+C1");
    let mut s0s1s2 = vec![0u8; 1 + 2 * HANDSHAKE_SIZE];
    tcp.read_exact(&mut s0s1s2).await.expect("read S0+S1+S2");
    assert_eq!(s0s1s2[0], 3, "S0 is RTMP version 3");
    let s1 = &s0s1s2[1..1 + HANDSHAKE_SIZE];
    tcp.write_all(s1).await.expect("send C2");
    tcp
}

/// One message split into chunks of [`DEFAULT_CHUNK_SIZE`] on chunk stream 3, message
/// stream 0 (spec §5.3.1: a type 0 header, then type 3 headers).
fn chunked(type_id: u8, body: &[u8]) -> Vec<u8> {
    let len = body.len() as u32;
    let mut out = vec![0x03, 0, 0, 0];
    out.extend_from_slice(&len.to_be_bytes()[1..]);
    out.push(type_id);
    out.extend_from_slice(&[0, 0, 0, 0]);
    for (i, piece) in body.chunks(DEFAULT_CHUNK_SIZE).enumerate() {
        if i > 0 {
            out.push(0xC3);
        }
        out.extend_from_slice(piece);
    }
    out
}

fn amf_string(s: &str) -> Vec<u8> {
    let mut out = vec![0x02];
    out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
    out
}

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
    send_and_expect_close(port, &chunked(20, &command)).await;
    wait_logged(&[
        "RTMP connection closed",
        "127.0.0.1",
        "AMF0 command",
        "nest",
    ])
    .await;

    let data = nested_data(4000);
    assert!(data.len() > 20_000);
    send_and_expect_close(port, &chunked(18, &data)).await;
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
    let _ = tcp.write_all(&chunked(20, &body)).await;
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
