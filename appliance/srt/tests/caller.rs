//! Our caller against srt-live-transmit listeners and against nothing (tests 3, 4).

mod common;

use std::time::{Duration, Instant};

use common::*;
use relevo_srt::{CallerOptions, Encryption, KeyLen, SrtError, SrtStream};
use tokio::io::AsyncReadExt;

fn opts(pass: Option<&str>) -> CallerOptions {
    CallerOptions {
        stream_id: Some("relevo-test".into()),
        encryption: pass.map(|p| Encryption {
            passphrase: p.into(),
            key_len: KeyLen::Aes256,
        }),
        latency_ms: 120,
        connect_timeout: Duration::from_secs(1),
        buffers: None,
    }
}

/// srt-live-transmit listening on `port` (query appended), writing to stdout.
fn slt_listener(port: u16, query: &str) -> tokio::process::Child {
    let url = format!("srt://127.0.0.1:{port}?mode=listener{query}");
    spawn("srt-live-transmit", &["-a:no", "-q", &url, "file://con"])
}

/// Connects, retrying while the child process is still starting up.
async fn connect_retrying(port: u16, pass: Option<&str>) -> Result<SrtStream, SrtError> {
    let addr = format!("127.0.0.1:{port}").parse().expect("addr");
    let start = Instant::now();
    loop {
        match SrtStream::connect(addr, opts(pass)).await {
            Err(SrtError::Timeout) if start.elapsed() < Duration::from_secs(8) => continue,
            other => return other,
        }
    }
}

/// Test 3: we send N messages to srt-live-transmit (AES-256), its stdout gets every byte
/// in order.
#[tokio::test]
async fn caller_sends_to_srt_live_transmit() {
    init_tracing();
    let port = free_port();
    let mut slt = slt_listener(port, "&passphrase=correct horse battery&pbkeylen=32");
    let mut stdout = slt.stdout.take().expect("stdout");
    let stream = connect_retrying(port, Some(PASS)).await.expect("connect");
    assert_eq!(stream.key_len(), Some(KeyLen::Aes256));

    const N: usize = 1000;
    let mut sent = Vec::with_capacity(N * 1316);
    let reader = tokio::spawn(async move {
        let mut got = Vec::new();
        let mut buf = vec![0u8; 65536];
        loop {
            match tokio::time::timeout(Duration::from_secs(10), stdout.read(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => got.extend_from_slice(&buf[..n]),
                _ => break,
            }
        }
        got
    });
    for i in 0..N {
        // 7 TS-like packets: sync byte, then a counter.
        let mut msg = [0u8; 1316];
        for (j, pkt) in msg.chunks_mut(188).enumerate() {
            pkt[0] = 0x47;
            pkt[1..9].copy_from_slice(&((i * 7 + j) as u64).to_be_bytes());
        }
        stream.send(&msg).await.expect("send");
        sent.extend_from_slice(&msg);
        if i % 10 == 0 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    stream.flush(Duration::from_secs(5)).await.expect("flush");
    let stats = stream.stats();
    assert_eq!(stats.pkt_drop_send, 0, "{stats:?}");
    // srt-live-transmit buffers stdout: closing makes it exit (-a:no) and flush.
    drop(stream);
    let got = reader.await.expect("reader");
    assert_eq!(got.len(), sent.len(), "srt-live-transmit wrote every byte");
    assert!(got == sent, "bytes differ");
    let _ = slt.kill().await;
}

/// Test 4a: nothing listens: Timeout within connect_timeout (+ grace).
#[tokio::test]
async fn caller_to_nothing_times_out() {
    init_tracing();
    let addr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    let start = Instant::now();
    let r = SrtStream::connect(addr, opts(None)).await;
    assert!(matches!(r, Err(SrtError::Timeout)), "{r:?}");
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "{took:?}"
    );
}

/// Test 4b: srt-live-transmit with another passphrase, or none, rejects us with a reason.
#[tokio::test]
async fn caller_rejected_by_srt_live_transmit() {
    init_tracing();
    let port = free_port();
    let _slt = slt_listener(port, "&passphrase=another passphrase");
    match connect_retrying(port, Some(PASS)).await {
        Err(SrtError::Rejected { code, reason }) => {
            assert_eq!(code, 10, "SRT_REJ_BADSECRET");
            assert_eq!(reason, "Incorrect passphrase");
        }
        other => panic!("expected rejection, got {other:?}"),
    }

    let port = free_port();
    let _slt = slt_listener(port, "");
    match connect_retrying(port, Some(PASS)).await {
        Err(SrtError::Rejected { code, .. }) => assert_eq!(code, 11, "SRT_REJ_UNSECURE"),
        other => panic!("expected rejection, got {other:?}"),
    }
}
