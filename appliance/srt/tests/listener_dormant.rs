//! A listener with nobody on it goes dormant: libsrt's listener and the multiplexer on its
//! port are closed (no libsrt receive thread left), and the first datagram opens them again
//! without losing the handshake. Its own test binary, so that no other test's SRT sockets
//! add libsrt threads to the count.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use relevo_srt::{
    CallerOptions, Decision, Encryption, KeyLen, ListenerOptions, RejectCode, SrtError,
    SrtListener, SrtStream, RECV_BUFFER_SIZE,
};
use tokio::sync::mpsc;

/// The idle time of the listener under test: short, so the test takes seconds.
const IDLE: Duration = Duration::from_secs(1);
/// Bound on any wait below; only a hung listener reaches it.
const LIMIT: Duration = Duration::from_secs(20);
/// Messages a caller sends, numbered, to check nothing is lost or reordered.
const MESSAGES: u32 = 300;

/// libsrt's receive-queue threads alive in this process (one per bound UDP port).
fn libsrt_receive_threads() -> usize {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(Result::ok)
        .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
        .filter(|name| name.starts_with("SRT:RcvQ"))
        .count()
}

async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + LIMIT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn caller(stream_id: &str, passphrase: Option<&str>) -> CallerOptions {
    CallerOptions {
        stream_id: Some(stream_id.into()),
        encryption: passphrase.map(|p| Encryption {
            passphrase: p.into(),
            key_len: KeyLen::Aes128,
        }),
        latency_ms: 120,
        connect_timeout: Duration::from_secs(3),
        ..CallerOptions::default()
    }
}

/// `open` is accepted unencrypted, `publish:abc` with PASS, anything else refused (1404).
fn dormant_listener(bind: SocketAddr) -> SrtListener {
    let opts = ListenerOptions {
        dormant_after: Some(IDLE),
        ..ListenerOptions::default()
    };
    SrtListener::bind(bind, opts, |req| match req.stream_id.as_str() {
        "open" => Decision::Accept {
            encryption: None,
            latency_ms: 120,
            tag: 1,
            buffers: None,
        },
        "publish:abc" => Decision::Accept {
            encryption: enc(KeyLen::Aes128),
            latency_ms: 120,
            tag: 2,
            buffers: None,
        },
        _ => Decision::Reject(RejectCode::NotFound),
    })
    .expect("bind listener")
}

/// Waits until the listener is dormant and no libsrt receive thread is left (callers'
/// closed sockets go within a second or two; the listener's multiplexer must go too).
async fn wait_dormant(listener: &SrtListener) {
    wait_until("the listener is dormant with no libsrt thread left", || {
        listener.is_dormant() && libsrt_receive_threads() == 0
    })
    .await;
}

/// Connects while the listener is dormant and checks that every numbered message arrives
/// once and in order; then both ends close.
async fn connect_and_stream(
    addr: SocketAddr,
    listener: &SrtListener,
    accepted: &mut mpsc::Receiver<SrtStream>,
) {
    let client = SrtStream::connect(addr, caller("open", None))
        .await
        .expect("a caller connects to a dormant listener");
    let server = tokio::time::timeout(LIMIT, accepted.recv())
        .await
        .expect("accepted in time")
        .expect("accept loop alive");
    assert!(!listener.is_dormant());
    let send = async {
        for i in 0..MESSAGES {
            let mut msg = i.to_be_bytes().to_vec();
            msg.resize(1316, (i % 251) as u8);
            client.send(&msg).await.expect("send");
        }
        client.flush(Duration::from_secs(3)).await.expect("flush");
    };
    let recv = async {
        let mut buf = [0u8; RECV_BUFFER_SIZE];
        for i in 0..MESSAGES {
            let n = tokio::time::timeout(LIMIT, server.recv(&mut buf))
                .await
                .expect("recv in time")
                .expect("recv");
            assert_eq!(n, 1316, "message {i} whole");
            let got = buf
                .get(..4)
                .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
            assert_eq!(got, Some(i), "messages arrive once and in order");
        }
    };
    tokio::join!(send, recv);
    drop(client);
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_listener_goes_dormant_and_wakes_for_callers() {
    init_tracing();
    // Dual stack, like the appliance's listeners can be: IPv4 callers reach [::].
    let listener = Arc::new(dormant_listener("[::]:0".parse().expect("literal")));
    let port = listener.local_addr().port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut rejections = listener.rejections();
    let (tx, mut accepted) = mpsc::channel(4);
    let accept_loop = {
        let listener = listener.clone();
        tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((stream, _)) => {
                        if tx.send(stream).await.is_err() {
                            return;
                        }
                    }
                    Err(e) => panic!("accept failed: {e}"),
                }
            }
        })
    };

    // Open from bind, dormant after the idle time with nobody on it: no libsrt thread left.
    assert!(!listener.is_dormant());
    wait_dormant(&listener).await;

    // A stray datagram wakes it; libsrt discards it and the listener sleeps again.
    let stray = UdpSocket::bind("127.0.0.1:0").expect("bind UDP");
    stray.send_to(b"not srt", addr).expect("send datagram");
    wait_until("the datagram wakes the listener", || !listener.is_dormant()).await;
    wait_dormant(&listener).await;

    // A caller wakes it; its data arrives whole and in order. Once it has left, dormant
    // again.
    assert!(listener.is_dormant());
    connect_and_stream(addr, &listener, &mut accepted).await;
    wait_dormant(&listener).await;

    // Callers refused while it sleeps get the right answer: the decision's 1404, and
    // libsrt's wrong-passphrase refusal after the decision accepted. A second caller is
    // then served.
    let refused = SrtStream::connect(addr, caller("nobody", None)).await;
    assert!(
        matches!(refused, Err(SrtError::Rejected { code: 1404, .. })),
        "{refused:?}"
    );
    let event = tokio::time::timeout(LIMIT, rejections.recv())
        .await
        .expect("rejection event in time")
        .expect("rejection event");
    assert_eq!((event.code, event.stream_id.as_str()), (1404, "nobody"));
    let wrong = SrtStream::connect(addr, caller("publish:abc", Some(WRONG_PASS))).await;
    assert!(
        matches!(wrong, Err(SrtError::Rejected { code: 10, .. })),
        "{wrong:?}"
    );
    connect_and_stream(addr, &listener, &mut accepted).await;

    accept_loop.abort();
}
