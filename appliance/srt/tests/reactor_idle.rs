//! The reactor thread parks while no connected socket is open: an appliance with only its
//! SRT listener (idle, or relaying RTMP) has no thread of ours waking 100 times a second.
//! Its own test binary, so that no other test's sockets keep the reactor busy.

mod common;

use std::time::{Duration, Instant};

use common::*;
use relevo_srt::{epoll_waits, CallerOptions, SrtListener, SrtStream, RECV_BUFFER_SIZE};

fn open_caller() -> CallerOptions {
    CallerOptions {
        stream_id: Some("open".into()),
        encryption: None,
        latency_ms: 120,
        connect_timeout: Duration::from_secs(2),
        buffers: None,
    }
}

/// Connects through `listener`, sends one message each way, and closes both ends.
async fn one_connection(listener: &SrtListener) {
    let addr = listener.local_addr();
    let (called, accepted) = tokio::join!(SrtStream::connect(addr, open_caller()), async {
        tokio::time::timeout(Duration::from_secs(5), listener.accept()).await
    });
    let caller = called.expect("connect");
    let (server, info) = accepted.expect("accepted in time").expect("accept");
    assert_eq!(info.stream_id, "open");
    caller.send(b"ping").await.expect("send");
    let mut buf = [0u8; RECV_BUFFER_SIZE];
    let n = tokio::time::timeout(Duration::from_secs(3), server.recv(&mut buf))
        .await
        .expect("recv in time")
        .expect("recv");
    assert_eq!(buf.get(..n), Some(&b"ping"[..]));
}

/// Whether the reactor stops waiting on libsrt's epoll within `limit`: two readings of its
/// wait count half a second apart are equal (it waits at least every 100 ms while running).
async fn parks_within(limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        let before = epoll_waits();
        tokio::time::sleep(Duration::from_millis(500)).await;
        if epoll_waits() == before {
            return true;
        }
    }
    false
}

#[tokio::test]
async fn reactor_parks_with_only_a_listener_open_and_accepts_still_work() {
    init_tracing();
    let (listener, _seen) = test_listener();
    one_connection(&listener).await;
    assert!(epoll_waits() > 0, "the reactor served the connection");
    assert!(
        parks_within(Duration::from_secs(10)).await,
        "the reactor kept waking with only the listener open"
    );

    // A caller arriving now is accepted through the listen callback, and the reactor
    // serves its connection, then parks again.
    let parked_at = epoll_waits();
    one_connection(&listener).await;
    assert!(
        epoll_waits() > parked_at,
        "the reactor woke for the connection"
    );
    assert!(parks_within(Duration::from_secs(10)).await);
}
