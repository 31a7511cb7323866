//! `TimedStream` against a real libsrt listener on loopback: what `srctime` means on receive
//! (TSBPD on and off), that a source time from before the connection is still sent, and that
//! a TSBPD-off receiver gets every message in order.

use std::net::SocketAddr;
use std::time::Duration;

use relevo_srt::{
    monotonic_now_us, Decision, ListenerOptions, SrtListener, SrtStream, TimedOptions, TimedStream,
    RECV_BUFFER_SIZE,
};

const LATENCY_MS: u32 = 200;
const LIMIT: Duration = Duration::from_secs(10);

fn listener() -> SrtListener {
    let any: SocketAddr = "127.0.0.1:0".parse().expect("literal");
    let opts = ListenerOptions {
        latency_ms: LATENCY_MS,
        ..ListenerOptions::default()
    };
    SrtListener::bind(any, opts, |_| Decision::Accept {
        encryption: None,
        latency_ms: LATENCY_MS,
        tag: 0,
        buffers: None,
    })
    .expect("bind listener")
}

async fn pair(tsbpd: bool) -> (SrtStream, TimedStream) {
    let lst = listener();
    let opts = TimedOptions {
        latency_ms: LATENCY_MS,
        tsbpd,
        ..TimedOptions::default()
    };
    let (accepted, caller) = tokio::join!(
        tokio::time::timeout(LIMIT, lst.accept()),
        TimedStream::connect(lst.local_addr(), opts)
    );
    let (server, _) = accepted.expect("accept in time").expect("accept");
    (server, caller.expect("connect"))
}

/// libsrt 1.5.1 returns the delivery time (source time + latency) as `srctime`, on its
/// monotonic clock: a relay must subtract the incoming latency to get the source time.
#[tokio::test]
async fn srctime_received_with_tsbpd_is_the_delivery_time() {
    let (server, caller) = pair(true).await;
    assert!(caller.tsbpd());
    assert_eq!(caller.recv_latency_ms(), LATENCY_MS);
    let sent_at = monotonic_now_us();
    server.send(b"one").await.expect("send");
    let mut buf = vec![0u8; RECV_BUFFER_SIZE];
    let msg = tokio::time::timeout(LIMIT, caller.recv_timed(&mut buf))
        .await
        .expect("in time")
        .expect("recv");
    let received_at = monotonic_now_us();
    assert_eq!(&buf[..msg.len], b"one");
    // Delivered at its play time, not before; the play time is the send time plus the
    // latency (give or take the handshake's estimate of the peer's start, RTT/2 here).
    let latency_us = i64::from(LATENCY_MS) * 1000;
    assert!(msg.srctime_us <= received_at, "{msg:?} at {received_at}");
    assert!(
        msg.srctime_us >= sent_at + latency_us - 20_000,
        "{msg:?} sent {sent_at}"
    );
}

/// With TSBPD off, `srctime` is the packet's raw timestamp (time since the sender's
/// connection start), and messages come in sending order with consecutive sequence numbers.
#[tokio::test]
async fn tsbpd_off_receiver_gets_every_message_in_order() {
    const COUNT: u32 = 300;
    let (server, caller) = pair(false).await;
    assert!(!caller.tsbpd());
    let sender = tokio::spawn(async move {
        for i in 0..COUNT {
            server.send(&i.to_be_bytes()).await.expect("send");
            if i % 50 == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        server
    });
    let mut buf = vec![0u8; RECV_BUFFER_SIZE];
    let mut last: Option<relevo_srt::TimedMessage> = None;
    for i in 0..COUNT {
        let msg = tokio::time::timeout(LIMIT, caller.recv_timed(&mut buf))
            .await
            .expect("in time")
            .expect("recv");
        assert_eq!(buf[..msg.len], i.to_be_bytes(), "message {i}");
        // A timestamp since the sender's start: seconds, not the local clock's uptime.
        assert!((0..60_000_000).contains(&msg.srctime_us), "{msg:?}");
        if let Some(prev) = last {
            assert_eq!(msg.seq, prev.seq.wrapping_add(1) & 0x7fff_ffff, "{msg:?}");
            assert!(msg.srctime_us >= prev.srctime_us, "{prev:?} then {msg:?}");
        }
        last = Some(msg);
    }
    let server = sender.await.expect("sender");
    drop(server);
}

/// A source time from before the outgoing connection (a packet that waited on another leg)
/// is sent, not refused by libsrt: it is clamped to the connection's start.
#[tokio::test]
async fn old_source_time_is_sent_not_refused() {
    let (server, caller) = pair(true).await;
    let now = monotonic_now_us();
    caller
        .send_timed(b"old", Some(now - 10_000_000))
        .await
        .expect("old srctime accepted");
    caller.send_timed(b"now", Some(now)).await.expect("send");
    caller.send_timed(b"default", None).await.expect("send");
    let mut buf = vec![0u8; RECV_BUFFER_SIZE];
    for want in [&b"old"[..], b"now", b"default"] {
        let n = tokio::time::timeout(LIMIT, server.recv(&mut buf))
            .await
            .expect("in time")
            .expect("recv");
        assert_eq!(&buf[..n], want);
    }
}
