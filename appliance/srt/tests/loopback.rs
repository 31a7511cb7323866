//! Our caller against our listener, in-process.

mod common;

use std::time::Duration;

use common::*;
use relevo_srt::{CallerOptions, KeyLen, SrtError, SrtStream, RECV_BUFFER_SIZE};

fn caller(stream_id: &str, key_len: Option<KeyLen>, pass: &str) -> CallerOptions {
    CallerOptions {
        stream_id: Some(stream_id.into()),
        encryption: key_len.map(|k| relevo_srt::Encryption {
            passphrase: pass.into(),
            key_len: k,
        }),
        latency_ms: 120,
        connect_timeout: Duration::from_secs(2),
        buffers: None,
    }
}

/// Test 5: messages flow both ways, stats move, latency is negotiated to max(ours, theirs).
#[tokio::test]
async fn caller_to_listener_with_stats() {
    init_tracing();
    let (listener, seen) = test_listener();
    let addr = listener.local_addr();
    let accept = tokio::spawn(async move {
        let r = listener.accept().await;
        (listener, r)
    });
    let stream = SrtStream::connect(addr, caller("publish:abc", Some(KeyLen::Aes256), PASS))
        .await
        .expect("connect");
    let (_listener, accepted) = accept.await.expect("join");
    let (server, info) = accepted.expect("accept");
    assert_eq!(info.stream_id, "publish:abc");
    assert_eq!(info.tag, 7);
    assert_eq!(info.key_len, Some(KeyLen::Aes256));
    assert_eq!(seen.lock().expect("lock")[0].stream_id, "publish:abc");
    assert_eq!(server.stream_id(), "publish:abc");
    assert_eq!(server.peer_addr(), info.peer);
    assert_eq!(stream.peer_addr(), addr);

    const N: usize = 500;
    let sender = async {
        for i in 0..N {
            let msg = vec![(i % 251) as u8; 1316];
            stream.send(&msg).await.expect("send");
            if i % 50 == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    };
    let receiver = async {
        let mut buf = [0u8; RECV_BUFFER_SIZE];
        let mut got = 0usize;
        while got < N {
            let n = tokio::time::timeout(Duration::from_secs(5), server.recv(&mut buf))
                .await
                .expect("recv timed out")
                .expect("recv");
            assert_eq!(n, 1316);
            assert_eq!(
                buf[0],
                (got % 251) as u8,
                "messages arrive in order, none lost"
            );
            got += 1;
        }
        got
    };
    let ((), got) = tokio::join!(sender, receiver);
    assert_eq!(got, N);

    // Reverse direction on the same connection, from the accepted side.
    server.send(b"pong").await.expect("send back");
    let mut buf = [0u8; RECV_BUFFER_SIZE];
    let n = tokio::time::timeout(Duration::from_secs(3), stream.recv(&mut buf))
        .await
        .expect("timeout")
        .expect("recv back");
    assert_eq!(&buf[..n], b"pong");

    tokio::time::sleep(Duration::from_millis(300)).await;
    let cs = stream.stats();
    let ss = server.stats();
    assert!(cs.pkt_sent >= N as i64, "caller sent {}", cs.pkt_sent);
    assert!(ss.pkt_recv >= N as i64, "listener received {}", ss.pkt_recv);
    assert!(cs.bytes_sent >= (N * 1316) as u64);
    assert!(cs.rtt_ms > 0.0 && cs.rtt_ms < 100.0, "rtt {}", cs.rtt_ms);
    // The listener's decision said 200 ms, the caller 120: both directions negotiate 200.
    assert_eq!(ss.recv_latency_ms, 200);
    assert_eq!(cs.send_latency_ms, 200);
    assert_eq!(cs.recv_latency_ms, 200);
    println!("caller stats {cs:?}\nlistener stats {ss:?}");

    // Peer close is reported as Closed.
    drop(stream);
    let r = tokio::time::timeout(Duration::from_secs(5), server.recv(&mut buf))
        .await
        .expect("timeout");
    assert!(matches!(r, Err(SrtError::Closed)), "{r:?}");
}

async fn connect_err(addr: std::net::SocketAddr, opts: CallerOptions) -> SrtError {
    match SrtStream::connect(addr, opts).await {
        Ok(_) => panic!("connect unexpectedly succeeded"),
        Err(e) => e,
    }
}

/// The caller sees our reject codes and libsrt's passphrase verdicts; a panicking decision
/// rejects with 1500; the listener keeps accepting throughout.
#[tokio::test]
async fn rejections_reach_the_caller_and_the_listener_survives() {
    init_tracing();
    let (listener, _) = test_listener();
    let addr = listener.local_addr();
    let mut events = listener.rejections();

    let e = connect_err(addr, caller("nope", None, PASS)).await;
    assert!(matches!(e, SrtError::Rejected { code: 1404, .. }), "{e:?}");
    assert_eq!(
        relevo_srt::RejectCode::from_code(1404),
        Some(relevo_srt::RejectCode::NotFound)
    );
    let r = events.recv().await.expect("event");
    assert_eq!((r.code, r.stream_id.as_str()), (1404, "nope"));

    let e = connect_err(
        addr,
        caller("publish:abc", Some(KeyLen::Aes256), WRONG_PASS),
    )
    .await;
    match e {
        SrtError::Rejected { code, reason } => {
            assert_eq!(code, 10, "SRT_REJ_BADSECRET");
            assert_eq!(reason, "Incorrect passphrase");
        }
        other => panic!("{other:?}"),
    }
    let r = tokio::time::timeout(Duration::from_secs(3), events.recv())
        .await
        .expect("t")
        .expect("e");
    assert_eq!((r.code, r.tag), (10, Some(7)));

    let e = connect_err(addr, caller("publish:abc", None, PASS)).await;
    assert!(matches!(e, SrtError::Rejected { code: 11, .. }), "{e:?}");

    let e = connect_err(addr, caller("panic", None, PASS)).await;
    assert!(matches!(e, SrtError::Rejected { code: 1500, .. }), "{e:?}");
    let r = loop {
        let r = events.recv().await.expect("event");
        if r.code == 1500 {
            break r;
        }
    };
    assert_eq!(r.stream_id, "panic");

    // Different key length: connects, with the caller's key length on both ends.
    let accept = async { listener.accept().await.expect("accept") };
    let connect = SrtStream::connect(addr, caller("publish:abc", Some(KeyLen::Aes192), PASS));
    let ((server, info), client) = tokio::join!(accept, connect);
    let client = client.expect("connect");
    assert_eq!(info.key_len, Some(KeyLen::Aes192));
    assert_eq!(client.key_len(), Some(KeyLen::Aes192));
    client.send(&[0x47; 188]).await.expect("send");
    let mut buf = [0u8; RECV_BUFFER_SIZE];
    let n = tokio::time::timeout(Duration::from_secs(3), server.recv(&mut buf))
        .await
        .expect("timeout")
        .expect("recv");
    assert_eq!(
        &buf[..n],
        &[0x47; 188][..],
        "decrypts with the negotiated key"
    );
}

/// Latency is max(listener decision, caller); `send` rejects oversize messages; the stream
/// is usable from two tasks through an Arc.
#[tokio::test]
async fn latency_negotiation_and_shared_stream() {
    init_tracing();
    let (listener, _) = test_listener();
    let addr = listener.local_addr();
    let mut opts = caller("open", None, PASS);
    opts.latency_ms = 500;
    let (accepted, client) = tokio::join!(listener.accept(), SrtStream::connect(addr, opts));
    let (server, _) = accepted.expect("accept");
    let client = std::sync::Arc::new(client.expect("connect"));
    assert_eq!(client.key_len(), None);
    assert!(matches!(
        client.try_send(&[0u8; 1317]),
        Err(SrtError::MessageTooLarge {
            len: 1317,
            max: 1316
        })
    ));

    let tx = std::sync::Arc::clone(&client);
    let sender = tokio::spawn(async move {
        for i in 0..100u8 {
            tx.send(&[i; 1316]).await.expect("send");
        }
    });
    let echo = tokio::spawn(async move {
        let mut buf = [0u8; RECV_BUFFER_SIZE];
        for _ in 0..100 {
            let n = server.recv(&mut buf).await.expect("recv");
            server.send(&buf[..n]).await.expect("echo");
        }
        server
    });
    let mut buf = [0u8; RECV_BUFFER_SIZE];
    for i in 0..100u8 {
        let n = tokio::time::timeout(Duration::from_secs(5), client.recv(&mut buf))
            .await
            .expect("timeout")
            .expect("recv");
        assert_eq!((n, buf[0]), (1316, i));
    }
    sender.await.expect("sender");
    let server = echo.await.expect("echo");
    assert_eq!(client.stats().recv_latency_ms, 500);
    assert_eq!(server.stats().recv_latency_ms, 500);
}

#[test]
fn stream_and_listener_are_send_sync() {
    fn check<T: Send + Sync>() {}
    check::<SrtStream>();
    check::<relevo_srt::SrtListener>();
}
