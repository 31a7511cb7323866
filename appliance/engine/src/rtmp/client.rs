//! The client side shared by push and pull: resolve, connect (TCP, then TLS for `rtmps://`),
//! handshake, `connect` to the application, and the classification of every failure into a
//! [`LinkError`].

use std::time::Duration;

use rml_rtmp::handshake::PeerType;
use rml_rtmp::rml_amf0::Amf0Value;
use rml_rtmp::sessions::{
    ClientSession, ClientSessionConfig, ClientSessionError, ClientSessionEvent, ClientSessionResult,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_util::sync::CancellationToken;

use super::guard::ChunkInspector;
use super::io::{self, BoxTransport, HandshakeError, WriteError, READ_BUFFER};
use super::tls::ClientTls;
use super::url::RtmpUrl;
use crate::error::LinkError;

/// Time allowed for each setup step: resolving, TCP connect, TLS, RTMP handshake, and each
/// answer to `connect`, `createStream` and `publish`/`play`.
pub(crate) const SETUP_TIMEOUT: Duration = Duration::from_secs(10);
/// A write that makes no progress, or a pull read that brings nothing, for this long is a stall.
pub(crate) const STALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Time allowed to say goodbye when a link ends on our side.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// An RTMP client connection with a `connect`ed session.
pub(crate) struct ClientConn {
    pub(crate) reader: ReadHalf<BoxTransport>,
    writer: WriteHalf<BoxTransport>,
    pub(crate) session: ClientSession,
    pub(crate) buf: Vec<u8>,
    /// Sees every byte from the server before the session does: `rml_rtmp` must not parse
    /// deep AMF0.
    inspector: ChunkInspector,
    /// The server, for the log line when the inspector refuses its input.
    peer: String,
}

/// What one read brought.
pub(crate) enum Inbound {
    Events(Vec<ClientSessionEvent>),
    Closed,
}

impl ClientConn {
    /// Connects to `url` and completes `connect(app)`.
    pub(crate) async fn open(
        url: &RtmpUrl,
        tls: &ClientTls,
        cancel: &CancellationToken,
    ) -> Result<Self, LinkError> {
        let stream = tokio::select! {
            _ = cancel.cancelled() => return Err(LinkError::Closed),
            s = transport(url, tls) => s?,
        };
        let mut stream = stream;
        let leftover = step(cancel, io::handshake(&mut stream, PeerType::Client))
            .await?
            .map_err(|e| match e {
                HandshakeError::Io(e) => LinkError::from_io(&e),
                HandshakeError::Closed => LinkError::Closed,
                HandshakeError::Invalid(why) => LinkError::Protocol(why),
            })?;
        let (reader, writer) = tokio::io::split(stream);
        let mut config = ClientSessionConfig::new();
        config.tc_url = Some(url.tc_url());
        let (session, initial) = ClientSession::new(config).map_err(protocol)?;
        let mut conn = Self {
            reader,
            writer,
            session,
            buf: vec![0u8; READ_BUFFER],
            inspector: ChunkInspector::new(),
            peer: url.redacted().to_string(),
        };
        conn.send_results(initial).await?;
        let request = conn
            .session
            .request_connection(url.app().to_string())
            .map_err(protocol)?;
        conn.send_results(vec![request]).await?;
        let mut pending = conn.process(&leftover).await?;
        loop {
            for event in pending {
                match event {
                    ClientSessionEvent::ConnectionRequestAccepted => return Ok(conn),
                    ClientSessionEvent::ConnectionRequestRejected { description } => {
                        return Err(LinkError::Rejected(format!(
                            "connect to application {:?} refused: {description}",
                            url.app()
                        )))
                    }
                    other => check_status(&other)?,
                }
            }
            pending = conn.read_setup(cancel).await?;
        }
    }

    /// Waits (bounded by [`SETUP_TIMEOUT`]) for the next events during setup.
    pub(crate) async fn read_setup(
        &mut self,
        cancel: &CancellationToken,
    ) -> Result<Vec<ClientSessionEvent>, LinkError> {
        match step(cancel, self.read()).await?? {
            Inbound::Events(events) => Ok(events),
            Inbound::Closed => Err(LinkError::Closed),
        }
    }

    /// One socket read, processed; outbound responses (acks, pongs) are written at once.
    pub(crate) async fn read(&mut self) -> Result<Inbound, LinkError> {
        let n = self
            .reader
            .read(&mut self.buf)
            .await
            .map_err(|e| LinkError::from_io(&e))?;
        if n == 0 {
            return Ok(Inbound::Closed);
        }
        let data = self.buf.get(..n).unwrap_or_default().to_vec();
        Ok(Inbound::Events(self.process(&data).await?))
    }

    /// Feeds bytes to the session; returns its events after writing its responses.
    pub(crate) async fn process(
        &mut self,
        bytes: &[u8],
    ) -> Result<Vec<ClientSessionEvent>, LinkError> {
        if bytes.is_empty() {
            return Ok(Vec::new());
        }
        if let Err(e) = self.inspector.inspect(bytes) {
            tracing::info!(peer = %self.peer, "RTMP connection closed: refused input: {e}");
            return Err(LinkError::Protocol(format!("refused input: {e}")));
        }
        let session = &mut self.session;
        let results = io::guard(|| session.handle_input(bytes))
            .ok_or_else(|| LinkError::Protocol(io::PANIC_REASON.to_string()))?
            .map_err(protocol)?;
        self.send_results(results).await
    }

    /// Writes the session's outbound packets; returns its events.
    pub(crate) async fn send_results(
        &mut self,
        results: Vec<ClientSessionResult>,
    ) -> Result<Vec<ClientSessionEvent>, LinkError> {
        let mut events = Vec::new();
        for result in results {
            match result {
                ClientSessionResult::OutboundResponse(packet) => {
                    self.write(&packet.bytes, |_| {}).await?;
                }
                ClientSessionResult::RaisedEvent(event) => events.push(event),
                ClientSessionResult::UnhandleableMessageReceived(_) => {}
            }
        }
        Ok(events)
    }

    /// Ends the stream politely (`deleteStream`/`FCUnpublish` as `rml_rtmp` sends them) and
    /// shuts the transport down, best effort and bounded in time.
    pub(crate) async fn close(mut self, publishing: bool) {
        let bye = async {
            let results = if publishing {
                self.session.stop_publishing()
            } else {
                self.session.stop_playback()
            };
            if let Ok(results) = results {
                let _ = self.send_results(results).await;
            }
            let _ = self.writer.shutdown().await;
        };
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, bye).await;
    }

    /// Writes bytes, failing with [`LinkError::Stalled`] if no progress for [`STALL_TIMEOUT`].
    pub(crate) async fn write(
        &mut self,
        bytes: &[u8],
        on_progress: impl FnMut(usize),
    ) -> Result<(), LinkError> {
        io::write_all_progress(&mut self.writer, bytes, STALL_TIMEOUT, on_progress)
            .await
            .map_err(|e| match e {
                WriteError::Stalled(d) => LinkError::Stalled(d.as_secs()),
                WriteError::Io(e) => LinkError::from_io(&e),
            })
    }
}

/// Classifies server messages during setup or streaming: a refusal is an error, anything else
/// (`NetStream.Play.Reset`, `NetStream.Data.Start`, notifications) is ignored. Refusals come as
/// an `onStatus` code, or as an `_error` answer to a command sent without a transaction (as
/// `publish` and `play` are), which `rml_rtmp` reports as an unknown transaction result.
pub(crate) fn check_status(event: &ClientSessionEvent) -> Result<(), LinkError> {
    const REFUSALS: [&str; 7] = [
        "BadName",
        "Failed",
        "Rejected",
        "StreamNotFound",
        "Unauthorized",
        "Forbidden",
        "BadConnection",
    ];
    match event {
        ClientSessionEvent::UnhandleableOnStatusCode { code }
            if REFUSALS.iter().any(|r| code.contains(r)) =>
        {
            Err(LinkError::Rejected(code.clone()))
        }
        ClientSessionEvent::UnknownTransactionResultReceived {
            additional_values, ..
        } => match additional_values.first() {
            Some(Amf0Value::Object(status)) if is_error(status) => {
                let text = |k: &str| match status.get(k) {
                    Some(Amf0Value::Utf8String(s)) => s.as_str(),
                    _ => "",
                };
                Err(LinkError::Rejected(
                    format!("{} {}", text("code"), text("description"))
                        .trim()
                        .to_string(),
                ))
            }
            _ => Ok(()),
        },
        _ => Ok(()),
    }
}

fn is_error(status: &std::collections::HashMap<String, Amf0Value>) -> bool {
    matches!(status.get("level"), Some(Amf0Value::Utf8String(l)) if l.contains("error"))
}

/// Maps a session error; an `_error` answer to `createStream` is a refusal by the server.
pub(crate) fn protocol(e: ClientSessionError) -> LinkError {
    match e {
        ClientSessionError::CreateStreamFailed => {
            LinkError::Rejected("the server refused createStream".to_string())
        }
        e => LinkError::Protocol(e.to_string()),
    }
}

/// Runs one setup step (after the connection is open) under [`SETUP_TIMEOUT`] and
/// `cancel`; silence is reported as [`LinkError::NoAnswer`], not as a network timeout.
async fn step<T>(
    cancel: &CancellationToken,
    fut: impl std::future::Future<Output = T>,
) -> Result<T, LinkError> {
    tokio::select! {
        _ = cancel.cancelled() => Err(LinkError::Closed),
        r = tokio::time::timeout(SETUP_TIMEOUT, fut) => r.map_err(|_| LinkError::NoAnswer(SETUP_TIMEOUT.as_secs())),
    }
}

async fn transport(url: &RtmpUrl, tls: &ClientTls) -> Result<BoxTransport, LinkError> {
    let host = url.host();
    let resolve = tokio::net::lookup_host((host, url.port()));
    let addrs: Vec<_> = tokio::time::timeout(SETUP_TIMEOUT, resolve)
        .await
        .map_err(|_| LinkError::Resolve(host.to_string()))?
        .map_err(|_| LinkError::Resolve(host.to_string()))?
        .collect();
    if addrs.is_empty() {
        return Err(LinkError::Resolve(host.to_string()));
    }
    let tcp = tokio::time::timeout(SETUP_TIMEOUT, TcpStream::connect(addrs.as_slice()))
        .await
        .map_err(|_| LinkError::Timeout)?
        .map_err(|e| LinkError::from_io(&e))?;
    let _ = tcp.set_nodelay(true);
    if !url.is_tls() {
        return Ok(Box::new(tcp));
    }
    let name = ServerName::try_from(host.to_string())
        .map_err(|e| LinkError::Tls(format!("invalid server name {host:?}: {e}")))?;
    let tls_stream = tokio::time::timeout(SETUP_TIMEOUT, tls.connector().connect(name, tcp))
        .await
        .map_err(|_| LinkError::Timeout)?
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::InvalidData | std::io::ErrorKind::Other => {
                LinkError::Tls(e.to_string())
            }
            _ => LinkError::from_io(&e),
        })?;
    Ok(Box::new(tls_stream))
}
