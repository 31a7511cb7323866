//! The listener's rules for a connection that has not published yet (issue #14, findings 2
//! and 3), seen from a hand-written peer: media before `publish` is refused, while an encoder
//! that sends its whole setup and its first media in one go, without waiting for answers, is
//! served; the same limits apply whatever the peer's write boundaries are.

mod rtmp_support;

use std::time::Duration;

use relevo_engine::unit::FlvKind;
use rtmp_support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const LONG: Duration = Duration::from_secs(20);

/// `connect` to `live`, as a command message.
fn connect() -> Vec<u8> {
    message(3, 20, 0, 0, &publish_commands(None, "in").connect)
}

/// `connect`, `createStream` and `publish` of key `in`.
fn setup() -> Vec<u8> {
    let cmds = publish_commands(None, "in");
    let mut out = message(3, 20, 0, 0, &cmds.connect);
    out.extend(message(3, 20, 0, 0, &cmds.create));
    out.extend(message(3, 20, 1, 0, &cmds.publish));
    out
}

/// An AVC keyframe tag body of `len` bytes (FLV spec E.4.3.1: frame type 1, codec 7, NALU).
fn keyframe(len: usize) -> Vec<u8> {
    let mut body = vec![0x17, 0x01, 0, 0, 0];
    body.resize(len, 0xAB);
    body
}

async fn closed(tcp: &mut TcpStream) -> bool {
    let mut sink = [0u8; 4096];
    tokio::time::timeout(LONG, async {
        loop {
            match tcp.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

#[tokio::test]
async fn media_before_publish_is_refused() {
    let server = start_server(None).await;
    let mut tcp = handshake(server.port).await;
    let mut bytes = connect();
    bytes.extend(message(6, 9, 1, 0, &keyframe(300)));
    tcp.write_all(&bytes).await.expect("write");
    assert!(closed(&mut tcp).await, "the connection stayed open");
    wait_logged(&[
        "RTMP connection closed",
        "video message before a publish was accepted",
    ])
    .await;
    assert!(server.router.publications().is_empty());
}

#[tokio::test]
async fn a_publisher_that_sends_everything_at_once_is_served() {
    let server = start_server(None).await;
    let mut tcp = handshake(server.port).await;
    // Setup and a 100 KB keyframe in one write: no answer awaited. The keyframe is larger
    // than anything allowed before publish, so it must be read as the publisher's.
    let mut bytes = setup();
    bytes.extend(message(6, 9, 1, 0, &keyframe(100_000)));
    bytes.extend(message(6, 9, 1, 40, &keyframe(1_000)));
    tcp.write_all(&bytes).await.expect("write");
    for _ in 0..200 {
        let pubs = server.router.publications();
        if pubs.first().is_some_and(|p| p.len() >= 2) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pubs = server.router.publications();
    let tags = pubs.first().expect("a publication");
    let video: Vec<usize> = tags
        .iter()
        .filter(|t| t.kind == FlvKind::Video)
        .map(|t| t.body.len())
        .collect();
    assert_eq!(video, [100_000, 1_000]);
}
