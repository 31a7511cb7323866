//! Real encoders (ffmpeg, srt-live-transmit) publishing into our listener (tests 1, 2, 6).

mod common;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use common::*;
use relevo_srt::{KeyLen, Rejection, SrtListener};
use tokio::sync::broadcast;

const QUERY_OK: &str =
    "streamid=publish:abc&passphrase=correct horse battery&pbkeylen=32&latency=200000";

/// Next rejection event, within a few seconds.
async fn next_rejection(rx: &mut broadcast::Receiver<Rejection>) -> Rejection {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("no rejection event")
        .expect("rejection channel")
}

/// srt-live-transmit as a one-shot caller (no auto-reconnect) with stdin kept open.
fn slt_caller(port: u16, query: &str) -> tokio::process::Child {
    spawn(
        "srt-live-transmit",
        &[
            "-a:no",
            "file://con",
            &format!("srt://127.0.0.1:{port}?{query}"),
        ],
    )
}

/// Accepts one publisher from ffmpeg and checks the bytes; returns them.
async fn accept_and_receive(listener: &SrtListener, expect_key: KeyLen) -> Vec<u8> {
    let (stream, info) = tokio::time::timeout(Duration::from_secs(10), listener.accept())
        .await
        .expect("no caller accepted")
        .expect("accept");
    assert_eq!(info.stream_id, "publish:abc");
    assert_eq!(info.tag, 7);
    assert_eq!(info.key_len, Some(expect_key));
    let data = recv_all(&stream, Duration::from_secs(15)).await;
    assert_ts(&data);
    data
}

/// Test 1: ffmpeg (AES-256, 200 ms) publishes 3 s of H.264 in TS; we receive it all, it
/// decodes, and the decision saw the stream id.
#[tokio::test]
async fn ffmpeg_publishes_into_listener() {
    init_tracing();
    let file = temp_path("t1.ts");
    make_ts(&file, 3).await;
    let (listener, seen) = test_listener();
    let port = listener.local_addr().port();

    let ffmpeg = ffmpeg_publish(&file, port, QUERY_OK);
    let (stream, info) = tokio::time::timeout(Duration::from_secs(10), listener.accept())
        .await
        .expect("no caller accepted")
        .expect("accept");
    assert_eq!((info.stream_id.as_str(), info.tag), ("publish:abc", 7));
    assert_eq!(info.key_len, Some(KeyLen::Aes256));
    assert_eq!(seen.lock().expect("lock")[0].stream_id, "publish:abc");
    assert_eq!(seen.lock().expect("lock")[0].peer, info.peer);
    let mut stats = stream.stats();
    let mut data = Vec::new();
    let mut buf = [0u8; relevo_srt::RECV_BUFFER_SIZE];
    while let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(10), stream.recv(&mut buf)).await
    {
        data.extend_from_slice(&buf[..n]);
        // Once ffmpeg has closed, libsrt may drop the socket before this call, and the
        // figures read as zeros: keep the last real ones.
        let fresh = stream.stats();
        if fresh.pkt_recv >= stats.pkt_recv {
            stats = fresh;
        }
    }
    let (ok, _, stderr) = finish(ffmpeg, Duration::from_secs(30)).await;
    assert!(ok, "ffmpeg failed: {stderr}");

    assert_ts(&data);
    let sent = std::fs::metadata(&file).expect("file").len() as usize;
    // ffmpeg re-muxes (sizes differ slightly) and closes without waiting for the last
    // ~latency worth of packets to be played out: expect most of the file.
    assert!(
        data.len() * 10 >= sent * 8,
        "received {} of ~{sent} bytes",
        data.len()
    );
    assert_eq!(stats.recv_latency_ms, 200, "latency from the decision");
    assert_eq!(stats.pkt_undecrypted, 0);
    assert!(stats.pkt_recv > 150, "{stats:?}");

    let out = temp_path("t1-out.ts");
    std::fs::write(&out, &data).expect("write");
    let frames = count_frames(&out).await;
    assert!(frames >= 60, "only {frames} of 75 frames decode");
    let _ = std::fs::remove_file(&file);
    let _ = std::fs::remove_file(&out);
}

/// Test 2: wrong/missing passphrase and unknown stream id are rejected, each with a reason
/// the caller sees and a rejection event; callers with another key length (16 vs our 32, or
/// none) connect with *their* key length; the listener survives all and takes a good caller.
#[tokio::test]
async fn bad_callers_are_rejected_and_listener_survives() {
    init_tracing();
    let file = temp_path("t2.ts");
    make_ts(&file, 2).await;
    let (listener, _) = test_listener();
    let port = listener.local_addr().port();
    let mut rejections = listener.rejections();

    // Wrong passphrase: libsrt rejects after our decision accepted.
    let slt = slt_caller(
        port,
        "streamid=publish:abc&passphrase=wrong horse battery&pbkeylen=32",
    );
    let (_, _, stderr) = finish_rejected(slt, Duration::from_secs(30)).await;
    assert!(stderr.contains("Incorrect passphrase"), "{stderr}");
    let r = next_rejection(&mut rejections).await;
    assert_eq!(
        (r.code, r.tag, r.stream_id.as_str()),
        (10, Some(7), "publish:abc")
    );
    assert_eq!(r.reason, "Incorrect passphrase");

    // No passphrase on an encrypted input.
    let slt = slt_caller(port, "streamid=publish:abc");
    let (_, _, stderr) = finish_rejected(slt, Duration::from_secs(30)).await;
    assert!(
        stderr.contains("Password required or unexpected"),
        "{stderr}"
    );
    assert_eq!(next_rejection(&mut rejections).await.code, 11);

    // A passphrase on an unencrypted input.
    let slt = slt_caller(port, "streamid=open&passphrase=correct horse battery");
    let (_, _, stderr) = finish_rejected(slt, Duration::from_secs(30)).await;
    assert!(
        stderr.contains("Password required or unexpected"),
        "{stderr}"
    );
    let r = next_rejection(&mut rejections).await;
    assert_eq!((r.code, r.tag), (11, Some(8)));

    // Unknown stream id: our decision's code (srt-live-transmit prints only the category).
    let slt = slt_caller(port, "streamid=nope");
    let (_, _, stderr) = finish_rejected(slt, Duration::from_secs(30)).await;
    assert!(
        stderr.contains("Application-defined rejection reason"),
        "{stderr}"
    );
    let r = next_rejection(&mut rejections).await;
    assert_eq!((r.code, r.stream_id.as_str(), r.tag), (1404, "nope", None));

    // Same with ffmpeg: it fails.
    let ff = ffmpeg_publish(
        &file,
        port,
        "streamid=publish:abc&passphrase=wrong horse battery",
    );
    let (ok, _, _) = finish(ff, Duration::from_secs(30)).await;
    assert!(!ok, "ffmpeg with a wrong passphrase must fail");
    assert_eq!(next_rejection(&mut rejections).await.code, 10);

    // Key length 16 against our 32: libsrt 1.5.1 lets the caller's key length win.
    let ff = ffmpeg_publish(
        &file,
        port,
        "streamid=publish:abc&passphrase=correct horse battery&pbkeylen=16",
    );
    let data = accept_and_receive(&listener, KeyLen::Aes128).await;
    assert!(
        data.len() > 100_000,
        "AES-128 caller's data decrypts: {}",
        data.len()
    );
    assert!(finish(ff, Duration::from_secs(30)).await.0);

    // No pbkeylen on the caller: AES-128 as well.
    let ff = ffmpeg_publish(
        &file,
        port,
        "streamid=publish:abc&passphrase=correct horse battery",
    );
    let data = accept_and_receive(&listener, KeyLen::Aes128).await;
    assert!(data.len() > 100_000);
    assert!(finish(ff, Duration::from_secs(30)).await.0);

    // And the listener still takes a correct publisher.
    let ff = ffmpeg_publish(&file, port, QUERY_OK);
    let data = accept_and_receive(&listener, KeyLen::Aes256).await;
    assert!(data.len() > 100_000);
    assert!(finish(ff, Duration::from_secs(30)).await.0);
    let _ = std::fs::remove_file(&file);
}

/// Test 6: garbage UDP datagrams (random, SRT-control-looking, truncated handshakes) sent to
/// the listener port during a transfer disturb neither the transfer nor later callers.
#[tokio::test]
async fn garbage_udp_does_not_disturb_transfer() {
    init_tracing();
    let file = temp_path("t6.ts");
    make_ts(&file, 3).await;
    let (listener, _) = test_listener();
    let addr = listener.local_addr();

    let ff = ffmpeg_publish(&file, addr.port(), QUERY_OK);
    let (stream, _) = tokio::time::timeout(Duration::from_secs(10), listener.accept())
        .await
        .expect("accept timed out")
        .expect("accept");

    let junk = std::thread::spawn(move || {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let start = Instant::now();
        let mut seed: u32 = 0x1234_5678;
        let (mut sent, mut burst) = (0u32, 0u32);
        while start.elapsed() < Duration::from_secs(2) {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let len = (seed % 1500) as usize;
            let mut pkt: Vec<u8> = (0..len).map(|i| (seed >> (i % 24)) as u8).collect();
            match sent % 3 {
                // Control packet, type 0 (handshake), then junk.
                0 if len >= 16 => pkt[..4].copy_from_slice(&[0x80, 0, 0, 0]),
                // Data packet header with a random socket id.
                1 if len >= 16 => pkt[0] &= 0x7f,
                _ => {}
            }
            let _ = sock.send_to(&pkt, addr);
            sent += 1;
            burst += 1;
            if burst == 50 {
                burst = 0;
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        sent
    });

    let data = recv_all(&stream, Duration::from_secs(15)).await;
    let junk_sent = junk.join().expect("junk thread");
    assert!(junk_sent > 1000, "sent {junk_sent} junk datagrams");
    assert!(finish(ff, Duration::from_secs(30)).await.0);
    assert_ts(&data);
    let sent = std::fs::metadata(&file).expect("file").len() as usize;
    assert!(
        data.len() * 10 >= sent * 8,
        "received {} of ~{sent} bytes",
        data.len()
    );

    // The listener still accepts.
    let ff = ffmpeg_publish(&file, addr.port(), QUERY_OK);
    let data = accept_and_receive(&listener, KeyLen::Aes256).await;
    assert!(data.len() > 100_000);
    assert!(finish(ff, Duration::from_secs(30)).await.0);
    let _ = std::fs::remove_file(&file);
}
