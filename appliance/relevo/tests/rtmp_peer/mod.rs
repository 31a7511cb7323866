//! A raw RTMP peer written by hand for the flood tests: it can do what no encoder does (trickle
//! bytes, announce huge messages, put a key in the application name) from any 127.x.y.z
//! source address. Plain RTMP spec 1.0: the simple handshake (§5.2) and type 0 / type 3
//! chunks (§5.3), AMF0 (AMF0 spec §2) for commands.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// C1/S1/C2/S2 are 1536 bytes (§5.2.3).
const HANDSHAKE_SIZE: usize = 1536;
/// The chunk size until a Set Chunk Size message changes it (§5.4.1).
pub const DEFAULT_CHUNK_SIZE: usize = 128;

/// Message type ids (§5.4, §7.1).
pub const SET_CHUNK_SIZE: u8 = 1;
pub const VIDEO: u8 = 9;
pub const AMF0_COMMAND: u8 = 20;

/// A TCP connection to `127.0.0.1:port` from `src` (any 127.x.y.z works on Linux without
/// configuring anything: the whole 127/8 is loopback).
pub async fn connect_from(src: Ipv4Addr, port: u16) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from((src, 0)))?;
    socket
        .connect(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
        .await
}

/// The simple handshake: C0+C1, read S0+S1+S2, answer C2 (S1 echoed).
pub async fn handshake(tcp: &mut TcpStream) -> std::io::Result<()> {
    let mut c0c1 = vec![3u8];
    c0c1.extend((0..HANDSHAKE_SIZE).map(|i| if i < 8 { 0 } else { (i * 7) as u8 }));
    tcp.write_all(&c0c1).await?;
    let mut s0s1s2 = vec![0u8; 1 + 2 * HANDSHAKE_SIZE];
    tcp.read_exact(&mut s0s1s2).await?;
    tcp.write_all(&s0s1s2[1..1 + HANDSHAKE_SIZE]).await
}

/// The type 0 header of a message on chunk stream 3 announcing `len` bytes (no payload).
pub fn header(type_id: u8, stream_id: u32, len: u32) -> Vec<u8> {
    let mut out = vec![0x03, 0, 0, 0];
    out.extend_from_slice(&len.to_be_bytes()[1..]);
    out.push(type_id);
    out.extend_from_slice(&stream_id.to_le_bytes());
    out
}

/// One whole message on chunk stream 3 in chunks of `chunk_size`.
pub fn message(type_id: u8, stream_id: u32, body: &[u8], chunk_size: usize) -> Vec<u8> {
    let mut out = header(type_id, stream_id, body.len() as u32);
    for (i, piece) in body.chunks(chunk_size).enumerate() {
        if i > 0 {
            out.push(0xC3);
        }
        out.extend_from_slice(piece);
    }
    out
}

pub fn amf_string(s: &str) -> Vec<u8> {
    let mut out = vec![0x02];
    out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
    out
}

pub fn amf_number(n: f64) -> Vec<u8> {
    let mut out = vec![0x00];
    out.extend_from_slice(&n.to_be_bytes());
    out
}

/// An AMF0 object of string properties.
pub fn amf_object(props: &[(&str, &str)]) -> Vec<u8> {
    let mut out = vec![0x03];
    for (k, v) in props {
        out.extend_from_slice(&(k.len() as u16).to_be_bytes());
        out.extend_from_slice(k.as_bytes());
        out.extend(amf_string(v));
    }
    out.extend_from_slice(&[0, 0, 0x09]);
    out
}

/// `connect` to `app`, as a command message.
pub fn connect(app: &str) -> Vec<u8> {
    let tc_url = format!("rtmp://127.0.0.1/{app}");
    let mut body = amf_string("connect");
    body.extend(amf_number(1.0));
    body.extend(amf_object(&[
        ("app", app),
        ("type", "nonprivate"),
        ("tcUrl", &tc_url),
    ]));
    message(AMF0_COMMAND, 0, &body, DEFAULT_CHUNK_SIZE)
}

/// `createStream`, transaction 2.
pub fn create_stream() -> Vec<u8> {
    let mut body = amf_string("createStream");
    body.extend(amf_number(2.0));
    body.push(0x05);
    message(AMF0_COMMAND, 0, &body, DEFAULT_CHUNK_SIZE)
}

/// `publish` of `key` live on message stream 1, transaction 3.
pub fn publish_command(key: &str) -> Vec<u8> {
    let mut body = amf_string("publish");
    body.extend(amf_number(3.0));
    body.push(0x05);
    body.extend(amf_string(key));
    body.extend(amf_string("live"));
    message(AMF0_COMMAND, 1, &body, DEFAULT_CHUNK_SIZE)
}

/// Set Chunk Size to `size` (§5.4.1).
pub fn set_chunk_size(size: u32) -> Vec<u8> {
    let mut out = vec![0x02, 0, 0, 0, 0, 0, 4, SET_CHUNK_SIZE, 0, 0, 0, 0];
    out.extend_from_slice(&size.to_be_bytes());
    out
}

/// Reads until `needle` has appeared `times` times in what the server sent; false if the
/// connection ends first or nothing comes for `limit`.
pub async fn read_until(tcp: &mut TcpStream, needle: &[u8], times: usize, limit: Duration) -> bool {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let count = seen.windows(needle.len()).filter(|w| *w == needle).count();
        if count >= times {
            return true;
        }
        match tokio::time::timeout(limit, tcp.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => seen.extend_from_slice(&buf[..n]),
            _ => return false,
        }
    }
}

/// Reads until the server closes the connection (true) or `limit` passes (false).
pub async fn closed_within(tcp: &mut TcpStream, limit: Duration) -> bool {
    let mut buf = [0u8; 4096];
    let closed = async {
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(limit, closed).await.is_ok()
}
