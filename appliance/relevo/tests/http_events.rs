//! The WebSocket at `/api/v1/events` under abuse (finding 14 of issue #14: one visor token
//! opened 1500 sockets): a cap per principal with a clear refusal, another principal still
//! served, a large client message closing its socket; the token only in the `Authorization`
//! header (part of 17: never `?access_token=` in a URL); and a socket outliving the HTTP
//! idle timeout (finding 13).
#![allow(clippy::unwrap_used)]

mod common;

use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;
use tungstenite::client::IntoClientRequest;
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

/// `relevo_control::api::events::sockets::MAX_SOCKETS_PER_PRINCIPAL`.
const CAP: usize = 16;

type Ws = WebSocket<MaybeTlsStream<TcpStream>>;

/// Opens the event socket with `token` in the `Authorization` header.
fn open(relevo: &Relevo, token: &str) -> Result<Ws, tungstenite::Error> {
    let mut req = format!("ws://127.0.0.1:{}/api/v1/events", relevo.http)
        .into_client_request()
        .unwrap();
    let bearer = format!("Bearer {token}");
    req.headers_mut()
        .insert("authorization", bearer.parse().unwrap());
    let (ws, _) = tungstenite::connect(req)?;
    if let MaybeTlsStream::Plain(s) = ws.get_ref() {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    }
    Ok(ws)
}

/// The HTTP status and body of a refused upgrade.
fn refusal(e: tungstenite::Error) -> (u16, String) {
    match e {
        tungstenite::Error::Http(res) => (
            res.status().as_u16(),
            String::from_utf8_lossy(res.body().as_deref().unwrap_or_default()).into_owned(),
        ),
        other => panic!("not an HTTP refusal: {other}"),
    }
}

/// Reads until a snapshot arrives.
fn next_snapshot(ws: &mut Ws) -> serde_json::Value {
    loop {
        let msg = ws.read().unwrap();
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(msg.to_text().unwrap_or("")) {
            if v["type"] == "snapshot" {
                return v;
            }
        }
    }
}

#[test]
fn sockets_are_capped_per_principal_and_large_messages_close() {
    let relevo = Relevo::start("http-ws-cap", "", "");
    relevo.add_user("visor@relevo.test", "visor");
    let visor = relevo.access_token("visor@relevo.test");

    let mut mine = Vec::new();
    for _ in 0..CAP {
        let mut ws = open(&relevo, &visor).unwrap();
        next_snapshot(&mut ws);
        mine.push(ws);
    }
    let (status, body) = refusal(open(&relevo, &visor).unwrap_err());
    assert_eq!(status, 429, "{body}");
    assert!(body.contains("too_many_sockets"), "{body}");

    // Another principal (the admin) is not affected.
    let mut admin = open(&relevo, relevo.token()).unwrap();
    assert_eq!(next_snapshot(&mut admin)["type"], "snapshot");

    // Closing one of the visor's sockets frees its place.
    let mut first = mine.remove(0);
    first.close(None).unwrap();
    while first.read().is_ok() {}
    wait_until(
        "a freed socket place",
        Duration::from_secs(30),
        || match open(&relevo, &visor) {
            Ok(ws) => {
                mine.push(ws);
                true
            }
            Err(_) => false,
        },
    );

    // A client message over the limit closes that socket, and only that one.
    admin
        .send(Message::Text("x".repeat(64 * 1024).into()))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(
            Instant::now() < deadline,
            "the large message closed nothing"
        );
        match admin.read() {
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(_) => {}
        }
    }
    let other = mine.last_mut().unwrap();
    assert_eq!(next_snapshot(other)["type"], "snapshot");
}

#[test]
fn tokens_are_taken_from_the_header_only() {
    let relevo = Relevo::start("http-ws-token", "", "");
    let url = format!(
        "ws://127.0.0.1:{}/api/v1/events?access_token={}",
        relevo.http,
        relevo.token()
    );
    let (status, body) = refusal(tungstenite::connect(url).unwrap_err());
    assert_eq!(status, 401, "{body}");
    let mut ws = open(&relevo, relevo.token()).unwrap();
    assert_eq!(next_snapshot(&mut ws)["type"], "snapshot");
}

#[test]
fn a_socket_outlives_the_http_idle_timeout() {
    let relevo = Relevo::start(
        "http-ws-idle",
        "[http]\nidle_timeout_s = 1\nheader_read_timeout_s = 1\n",
        "",
    );
    let mut ws = open(&relevo, relevo.token()).unwrap();
    let start = Instant::now();
    let mut snapshots = 0;
    while start.elapsed() < Duration::from_secs(5) {
        next_snapshot(&mut ws);
        snapshots += 1;
    }
    assert!(snapshots >= 3, "{snapshots} snapshots in 5 s");
}
