//! The HTTP server's limits against a flood of silent connections (finding 13 of issue
//! #14: 2000 silent connections stayed open): a per-address cap refuses the excess at once
//! while another address is still served, and a silent connection is closed after the
//! header-read timeout, also when more arrive than the global cap lets in at a time.
//! Floods are a few hundred loopback connections, bounded, and end with the test.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// Silent connections opened by the flood.
const FLOOD: usize = 300;

/// A connection to `port` from the loopback address `from`.
async fn connect_from(from: [u8; 4], port: u16) -> TcpStream {
    let s = TcpSocket::new_v4().unwrap();
    s.bind(SocketAddr::from((from, 0))).unwrap();
    s.connect(SocketAddr::from(([127, 0, 0, 1], port)))
        .await
        .unwrap()
}

/// Whether the server has closed `s` (end of stream or reset), without waiting.
fn closed(s: &TcpStream) -> bool {
    let mut buf = [0u8; 256];
    match s.try_read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false, // an answer (408…) before the close: not closed yet
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => false,
        Err(_) => true,
    }
}

/// Waits (bounded) until at least `n` of `conns` are closed; the count then.
async fn wait_closed(conns: &[TcpStream], n: usize, limit: Duration) -> usize {
    let deadline = tokio::time::Instant::now() + limit;
    let mut done = vec![false; conns.len()];
    loop {
        for (i, c) in conns.iter().enumerate() {
            if !done[i] {
                done[i] = closed(c);
            }
        }
        let count = done.iter().filter(|d| **d).count();
        if count >= n || tokio::time::Instant::now() > deadline {
            return count;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `GET path` with a bearer token from the loopback address `from`: the status.
async fn get_from(from: [u8; 4], port: u16, path: &str, token: &str) -> u16 {
    let mut s = connect_from(from, port).await;
    let req =
        format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut raw))
        .await
        .expect("an answer")
        .unwrap();
    let text = String::from_utf8_lossy(&raw);
    text.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_address_cap_refuses_the_excess_and_others_are_still_served() {
    let relevo = Relevo::start(
        "http-cap",
        "[http]\nmax_connections_per_address = 50\nheader_read_timeout_s = 600\n",
        "",
    );
    let token = relevo.token().to_owned();
    let mut flood = Vec::with_capacity(FLOOD);
    for _ in 0..FLOOD {
        flood.push(connect_from([127, 0, 0, 1], relevo.http).await);
    }
    // Everything past the 50th is closed at once; the 50 stay (the header timeout is long).
    let refused = wait_closed(&flood, FLOOD - 50, Duration::from_secs(30)).await;
    assert_eq!(
        refused,
        FLOOD - 50,
        "connections closed by the per-address cap"
    );
    // A normal API request from another address is served meanwhile.
    assert_eq!(
        get_from([127, 0, 0, 2], relevo.http, "/api/v1/status", &token).await,
        200
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        wait_closed(&flood, FLOOD, Duration::ZERO).await,
        FLOOD - 50,
        "the 50 admitted connections are still open"
    );
    // 127.0.0.1 itself is at its cap: one more is refused until one of its 50 closes.
    let extra = connect_from([127, 0, 0, 1], relevo.http).await;
    assert_eq!(
        wait_closed(std::slice::from_ref(&extra), 1, Duration::from_secs(30)).await,
        1
    );
    // Once they close, 127.0.0.1 is served again.
    drop(flood);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while get_from([127, 0, 0, 1], relevo.http, "/api/v1/status", &token).await != 200 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "127.0.0.1 served again"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        relevo.log_count("HTTP connections refused") >= 1,
        "{}",
        relevo.log_text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_connections_are_closed_after_the_header_timeout() {
    let relevo = Relevo::start(
        "http-header-timeout",
        "[http]\nheader_read_timeout_s = 2\nmax_connections = 100\nmax_connections_per_address = 1000\n",
        "",
    );
    let token = relevo.token().to_owned();
    let mut flood = Vec::with_capacity(FLOOD);
    for _ in 0..FLOOD {
        flood.push(connect_from([127, 0, 0, 1], relevo.http).await);
    }
    // 100 at a time are let in (the rest wait in the kernel's queue); each is closed after
    // 2 s without a request head, so all 300 end.
    let ended = wait_closed(&flood, FLOOD, Duration::from_secs(60)).await;
    assert_eq!(ended, FLOOD, "silent connections closed by the server");
    // A request that does arrive is served as usual afterwards.
    assert_eq!(
        get_from([127, 0, 0, 2], relevo.http, "/api/v1/status", &token).await,
        200
    );
    // A half-sent request head is cut off the same way.
    let mut slow = connect_from([127, 0, 0, 1], relevo.http).await;
    slow.write_all(b"GET /api/v1/status HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), slow.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "a half-sent request head is closed");
}
