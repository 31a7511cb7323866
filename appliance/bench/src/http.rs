//! A minimal HTTP/1.1 GET client over one keep-alive TCP connection, for the HLS load
//! clients: what a CDN edge or a set-top player does (one connection, requests one after
//! another), without a client library's per-request cost on the load tool's side. It reads
//! `Content-Length` and chunked bodies; anything else ends at the connection's close.

use std::net::{IpAddr, SocketAddr};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpSocket, TcpStream};

/// A response head larger than this is refused: real servers send well under 1 KiB.
const MAX_HEAD: usize = 16 * 1024;
/// A body kept in memory (a playlist) larger than this is refused: a 6-segment LL-HLS
/// playlist is a few KiB.
pub const MAX_KEPT_BODY: usize = 1024 * 1024;
/// The reader's buffer: bodies are counted straight out of it.
const READ_CHUNK: usize = 64 * 1024;

#[derive(Debug)]
pub enum HttpError {
    Io(std::io::Error),
    /// The server closed a reused connection before answering: retry on a new one.
    ClosedIdle,
    /// Something that is not HTTP/1.x, or over a limit.
    Protocol(String),
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Io(e) => write!(f, "i/o: {e}"),
            Self::ClosedIdle => f.write_str("connection closed before the answer"),
            Self::Protocol(m) => write!(f, "bad answer: {m}"),
        }
    }
}

impl std::error::Error for HttpError {}

impl From<std::io::Error> for HttpError {
    fn from(e: std::io::Error) -> Self {
        Self::Io(e)
    }
}

/// One answer: the status and (when asked for) the body; bodies are counted through the
/// caller's `on_bytes`.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

/// One client's connection, opened on first use and reopened after the server closes it.
#[derive(Debug)]
pub struct Conn {
    server: SocketAddr,
    /// Local address to connect from (distinct loopback addresses per client).
    from: Option<IpAddr>,
    host: String,
    stream: Option<BufReader<TcpStream>>,
    /// Requests answered on the current connection.
    reused: u32,
}

impl Conn {
    pub fn new(server: SocketAddr, from: Option<IpAddr>, host: String) -> Self {
        Self {
            server,
            from,
            host,
            stream: None,
            reused: 0,
        }
    }

    /// `GET path`; `keep` keeps the body (else it is only counted), `on_bytes` sees every
    /// body read as it arrives. A reused connection the server had closed is reopened once.
    pub async fn get(
        &mut self,
        path: &str,
        keep: bool,
        on_bytes: &mut (dyn FnMut(usize) + Send),
    ) -> Result<Response, HttpError> {
        match self.try_get(path, keep, on_bytes).await {
            Err(HttpError::ClosedIdle) => self.try_get(path, keep, on_bytes).await,
            other => other,
        }
    }

    async fn try_get(
        &mut self,
        path: &str,
        keep: bool,
        on_bytes: &mut (dyn FnMut(usize) + Send),
    ) -> Result<Response, HttpError> {
        let result = self.exchange(path, keep, on_bytes).await;
        match &result {
            Ok(_) => self.reused += 1,
            Err(_) => {
                self.stream = None;
            }
        }
        result
    }

    async fn connect(&self) -> std::io::Result<TcpStream> {
        let socket = match self.server {
            SocketAddr::V4(_) => TcpSocket::new_v4()?,
            SocketAddr::V6(_) => TcpSocket::new_v6()?,
        };
        if let Some(ip) = self.from {
            socket.bind(SocketAddr::new(ip, 0))?;
        }
        let stream = socket.connect(self.server).await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }

    async fn exchange(
        &mut self,
        path: &str,
        keep: bool,
        on_bytes: &mut (dyn FnMut(usize) + Send),
    ) -> Result<Response, HttpError> {
        if self.stream.is_none() {
            let s = self.connect().await?;
            self.stream = Some(BufReader::with_capacity(READ_CHUNK, s));
            self.reused = 0;
        }
        let reused = self.reused > 0;
        let Some(stream) = self.stream.as_mut() else {
            return Err(HttpError::ClosedIdle);
        };
        let request = format!("GET {path} HTTP/1.1\r\nHost: {}\r\n\r\n", self.host);
        if let Err(e) = stream.get_mut().write_all(request.as_bytes()).await {
            return Err(if reused {
                HttpError::ClosedIdle
            } else {
                e.into()
            });
        }
        let head = match read_head(stream).await {
            Err(HttpError::ClosedIdle) if !reused => {
                return Err(HttpError::Protocol("closed without an answer".into()))
            }
            other => other?,
        };
        let mut body = Vec::new();
        match head.framing {
            Framing::Length(n) => {
                read_exact_counted(stream, n, keep, &mut body, on_bytes).await?;
            }
            Framing::Chunked => read_chunked(stream, keep, &mut body, on_bytes).await?,
            Framing::UntilClose => {
                read_to_close(stream, keep, &mut body, on_bytes).await?;
                self.stream = None;
            }
        }
        if head.close {
            self.stream = None;
        }
        Ok(Response {
            status: head.status,
            body,
        })
    }
}

enum Framing {
    Length(u64),
    Chunked,
    UntilClose,
}

struct Head {
    status: u16,
    framing: Framing,
    close: bool,
}

async fn read_head(stream: &mut BufReader<TcpStream>) -> Result<Head, HttpError> {
    let mut total = 0;
    let mut line = String::new();
    let mut status = None;
    let (mut length, mut chunked, mut close) = (None, false, false);
    loop {
        line.clear();
        let n = stream.read_line(&mut line).await?;
        if n == 0 {
            return Err(if status.is_none() && total == 0 {
                HttpError::ClosedIdle
            } else {
                HttpError::Protocol("head cut short".into())
            });
        }
        total += n;
        if total > MAX_HEAD {
            return Err(HttpError::Protocol(format!("head over {MAX_HEAD} bytes")));
        }
        let l = line.trim_end();
        if status.is_none() {
            let code = l
                .strip_prefix("HTTP/1.")
                .and_then(|r| r.split_whitespace().nth(1))
                .and_then(|c| c.parse::<u16>().ok())
                .ok_or_else(|| HttpError::Protocol(format!("status line {l:?}")))?;
            status = Some(code);
            continue;
        }
        if l.is_empty() {
            break;
        }
        let Some((name, value)) = l.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => {
                length = Some(
                    value
                        .parse::<u64>()
                        .map_err(|_| HttpError::Protocol(format!("content-length {value:?}")))?,
                );
            }
            "transfer-encoding" => chunked = value.to_ascii_lowercase().contains("chunked"),
            "connection" => close = value.eq_ignore_ascii_case("close"),
            _ => {}
        }
    }
    let status = status.unwrap_or(0);
    let framing = if chunked {
        Framing::Chunked
    } else if let Some(n) = length {
        Framing::Length(n)
    } else if status == 204 || status == 304 || (100..200).contains(&status) {
        Framing::Length(0)
    } else {
        Framing::UntilClose
    };
    Ok(Head {
        status,
        framing,
        close,
    })
}

fn keep_bytes(keep: bool, body: &mut Vec<u8>, data: &[u8]) -> Result<(), HttpError> {
    if keep {
        if body.len() + data.len() > MAX_KEPT_BODY {
            return Err(HttpError::Protocol(format!(
                "body over {MAX_KEPT_BODY} bytes"
            )));
        }
        body.extend_from_slice(data);
    }
    Ok(())
}

async fn read_exact_counted(
    stream: &mut BufReader<TcpStream>,
    len: u64,
    keep: bool,
    body: &mut Vec<u8>,
    on_bytes: &mut (dyn FnMut(usize) + Send),
) -> Result<u64, HttpError> {
    let mut left = len;
    while left > 0 {
        // Straight from the reader's buffer: no copy of a segment the client only counts.
        let data = stream.fill_buf().await?;
        if data.is_empty() {
            return Err(HttpError::Protocol(format!(
                "body cut short: {} of {len} bytes",
                len - left
            )));
        }
        let n = usize::try_from(left).unwrap_or(usize::MAX).min(data.len());
        keep_bytes(keep, body, &data[..n])?;
        stream.consume(n);
        on_bytes(n);
        left -= n as u64;
    }
    Ok(len)
}

async fn read_chunked(
    stream: &mut BufReader<TcpStream>,
    keep: bool,
    body: &mut Vec<u8>,
    on_bytes: &mut (dyn FnMut(usize) + Send),
) -> Result<(), HttpError> {
    let mut line = String::new();
    loop {
        line.clear();
        stream.read_line(&mut line).await?;
        let size = line.trim().split(';').next().unwrap_or("");
        let size = u64::from_str_radix(size, 16)
            .map_err(|_| HttpError::Protocol(format!("chunk size {line:?}")))?;
        if size == 0 {
            // Trailers, up to the empty line.
            loop {
                line.clear();
                if stream.read_line(&mut line).await? == 0 || line.trim().is_empty() {
                    return Ok(());
                }
            }
        }
        read_exact_counted(stream, size, keep, body, on_bytes).await?;
        line.clear();
        stream.read_line(&mut line).await?;
    }
}

async fn read_to_close(
    stream: &mut BufReader<TcpStream>,
    keep: bool,
    body: &mut Vec<u8>,
    on_bytes: &mut (dyn FnMut(usize) + Send),
) -> Result<(), HttpError> {
    loop {
        let data = stream.fill_buf().await?;
        let n = data.len();
        if n == 0 {
            return Ok(());
        }
        keep_bytes(keep, body, data)?;
        stream.consume(n);
        on_bytes(n);
    }
}
