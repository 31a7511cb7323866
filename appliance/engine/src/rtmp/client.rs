//! The client side shared by push and pull: resolve, connect (TCP, then TLS for `rtmps://`),
//! handshake, `connect` to the application, and the classification of every failure into a
//! [`LinkError`].

use std::sync::Arc;
use std::time::Duration;

use rml_rtmp::handshake::PeerType;
use rml_rtmp::rml_amf0::{self, Amf0Value};
use rml_rtmp::sessions::{
    ClientSession, ClientSessionConfig, ClientSessionError, ClientSessionEvent, ClientSessionResult,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_util::sync::CancellationToken;

use super::chunk;
use super::chunk_reader::{ChunkReader, Message, INITIAL_CHUNK_SIZE};
use super::direct::{self, DirectSlot, SharedWriter};
use super::guard::{ChunkInspector, MessageType};
use super::io::{self, BoxReader, BoxWriter, HandshakeError, WriteError, READ_BUFFER};
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

/// Transaction ids of the commands we send beside the session's (`releaseStream`,
/// `FCPublish`, `FCUnpublish`) start here: `rml_rtmp` numbers its own from 1 (`connect`,
/// `createStream`), so an answer to ours (SRS answers `releaseStream` with `_result`, some
/// servers with `_error` when nothing was published yet) is never taken for one of its own.
const OWN_TRANSACTION_BASE: f64 = 1_000_000.0;

/// An RTMP client connection with a `connect`ed session.
pub(crate) struct ClientConn {
    pub(crate) reader: BoxReader,
    pub(crate) writer: BoxWriter,
    /// The plain TCP write half, for the hub's direct path (`None` over TLS).
    tcp: Option<Arc<OwnedWriteHalf>>,
    /// The hub's direct path into this socket: our own writes go after what it left.
    pub(crate) direct: Option<Arc<DirectSlot>>,
    pub(crate) session: ClientSession,
    pub(crate) buf: Vec<u8>,
    /// Sees every byte from the server before the session does: `rml_rtmp` must not parse
    /// deep AMF0.
    inspector: ChunkInspector,
    /// The message stream media travel on, learnt from what the session sends.
    sent: SentStream,
    /// The server, for the log line when the inspector refuses its input.
    peer: String,
    /// Every byte from the server, reassembled into messages: media and data stay with us,
    /// the rest is handed to the session one whole message at a time (see
    /// [`ClientConn::process`]).
    inbound: ChunkReader,
    /// Media and data messages waiting for a pull (`None`: not kept).
    media: Option<Vec<Message>>,
    /// Bytes received in all (wrapping, as acknowledgements count them) and since the last
    /// acknowledgement.
    received: u32,
    since_ack: u32,
    /// The stream key announced with `FCPublish`, to withdraw with `FCUnpublish` at the end.
    announced: Option<String>,
}

/// Our own chunk stream, followed until the session's first command on a message stream of
/// its own: `publish` or `play` (`connect` and `createStream` go on stream 0). Its id is the
/// server's answer to `createStream`, which `rml_rtmp` keeps to itself, and media must travel
/// on it.
struct SentStream {
    reader: Option<ChunkReader>,
    stream_id: Option<u32>,
}

impl SentStream {
    fn new() -> Self {
        let mut reader = ChunkReader::new();
        reader.deliver();
        Self {
            reader: Some(reader),
            stream_id: None,
        }
    }

    /// Everything the session sends, in order, from the first byte after the handshake.
    fn follow(&mut self, bytes: &[u8]) {
        let Some(reader) = &mut self.reader else {
            return;
        };
        let mut messages = Vec::new();
        // Our own session's bytes: an error would be a bug in `rml_rtmp`; stop following.
        let followed = reader.push(bytes, &mut messages).is_ok();
        let command = |m: &&Message| m.kind == MessageType::AMF0_COMMAND.0 && m.stream_id != 0;
        if let Some(m) = messages.iter().find(command) {
            self.stream_id = Some(m.stream_id);
        }
        if !followed || self.stream_id.is_some() {
            self.reader = None;
        }
    }
}

/// Whether `rml_rtmp`'s session can be given this message: it panics on an AMF0 command of
/// fewer than three values (name, transaction, command object), and ffmpeg's own server
/// answers `FCPublish` with a bare `onFCPublish`.
fn session_reads(m: &Message) -> bool {
    if MessageType(m.kind) != MessageType::AMF0_COMMAND {
        return true;
    }
    rml_amf0::deserialize(&mut std::io::Cursor::new(&m.body[..])).is_ok_and(|v| v.len() >= 3)
}

/// A connected socket, before the RTMP handshake.
enum Link {
    Tcp(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
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
        let link = tokio::select! {
            _ = cancel.cancelled() => return Err(LinkError::Closed),
            s = transport(url, tls) => s?,
        };
        let (reader, writer, tcp, leftover): (BoxReader, BoxWriter, _, _) = match link {
            // Plain TCP: the write half can be shared with the hub's direct path.
            Link::Tcp(mut socket) => {
                let leftover = client_handshake(cancel, &mut socket).await?;
                let (reader, writer, tcp) = SharedWriter::split(socket);
                (Box::new(reader), Box::new(writer), Some(tcp), leftover)
            }
            Link::Tls(mut stream) => {
                let leftover = client_handshake(cancel, &mut stream).await?;
                let (reader, writer) = tokio::io::split(stream);
                (Box::new(reader), Box::new(writer), None, leftover)
            }
        };
        let mut config = ClientSessionConfig::new();
        config.tc_url = Some(url.tc_url());
        config.chunk_size = chunk::OUT_CHUNK_SIZE as u32;
        let (session, initial) = ClientSession::new(config).map_err(protocol)?;
        let mut conn = Self {
            reader,
            writer,
            tcp,
            direct: None,
            session,
            buf: vec![0u8; READ_BUFFER],
            inspector: ChunkInspector::new(),
            sent: SentStream::new(),
            peer: url.redacted().to_string(),
            announced: None,
            inbound: {
                let mut reader = ChunkReader::new();
                reader.deliver();
                reader
            },
            media: None,
            received: 0,
            since_ack: 0,
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

    /// The message stream the session publishes or plays on, once it sent `publish` or `play`.
    pub(crate) fn stream_id(&self) -> Option<u32> {
        self.sent.stream_id
    }

    /// Lets the hub write media to this socket itself while it has room (see
    /// [`DirectSlot`]): over plain TCP, once the server accepted what we publish, and only
    /// on the usual stream id, for which the bytes are chunked once for all connections.
    /// The slot is kept either way, so that our own writes keep its count.
    pub(crate) fn attach(&mut self, slot: Arc<DirectSlot>) {
        if let Some(tcp) = &self.tcp {
            if self.stream_id() == Some(chunk::SHARED_STREAM_ID) {
                slot.attach(tcp);
            }
        }
        self.direct = Some(slot);
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
        let mut messages = Vec::new();
        let read = self.inbound.push(bytes, &mut messages);
        self.received = self.received.wrapping_add(bytes.len() as u32);
        self.since_ack = self.since_ack.saturating_add(bytes.len() as u32);
        let mut events = Vec::new();
        for m in messages {
            match MessageType(m.kind) {
                MessageType::AUDIO
                | MessageType::VIDEO
                | MessageType::AMF0_DATA
                | MessageType::AMF3_DATA => {
                    if let Some(media) = &mut self.media {
                        media.push(m);
                    }
                }
                _ if !session_reads(&m) => {
                    tracing::debug!(peer = %self.peer, kind = m.kind, "RTMP message ignored: fewer than three AMF0 values");
                }
                kind => {
                    // Re-chunked as one type-0 message at the initial chunk size, which the
                    // session keeps: Set Chunk Size is applied by our reader, not passed on.
                    let wire = chunk::media_message(
                        chunk::SESSION_CSID,
                        kind,
                        m.stream_id,
                        m.timestamp,
                        &m.body,
                        INITIAL_CHUNK_SIZE as usize,
                    );
                    let session = &mut self.session;
                    let results = io::guard(|| session.handle_input(&wire))
                        .ok_or_else(|| LinkError::Protocol(io::PANIC_REASON.to_string()))?
                        .map_err(protocol)?;
                    events.extend(self.send_results(results).await?);
                }
            }
        }
        read.map_err(|e| LinkError::Protocol(format!("refused input: {e}")))?;
        // The session never sees Window Acknowledgement Size (the reader keeps it), so the
        // acknowledgements are ours: the total received, as RTMP 1.0 §5.4.3 says.
        if let Some(window) = self.inbound.peer_window() {
            if self.since_ack >= window {
                self.since_ack = 0;
                self.write(&chunk::acknowledgement(self.received)).await?;
            }
        }
        Ok(events)
    }

    /// From now on audio, video and data messages are kept for [`ClientConn::take_media`]
    /// (a pull); otherwise they are dropped (a push receives none worth reading).
    pub(crate) fn keep_media(&mut self) {
        self.media.get_or_insert_with(Vec::new);
    }

    /// Audio, video and data messages received since the last call, on whatever message
    /// stream the server sent them (ffmpeg's `-listen 1` server uses stream 0).
    pub(crate) fn take_media(&mut self) -> Vec<Message> {
        self.media.as_mut().map(std::mem::take).unwrap_or_default()
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
                    self.sent.follow(&packet.bytes);
                    self.write(&packet.bytes).await?;
                }
                ClientSessionResult::RaisedEvent(event) => events.push(event),
                ClientSessionResult::UnhandleableMessageReceived(_) => {}
            }
        }
        Ok(events)
    }

    /// Announces a publication as OBS and ffmpeg do before `createStream`: `releaseStream`
    /// then `FCPublish` with the stream key (commands from Flash Media Server that many
    /// ingests, as Twitch's and Facebook's, expect; servers that do not know them ignore them).
    pub(crate) async fn announce_publish(&mut self, key: &str) -> Result<(), LinkError> {
        self.own_command("releaseStream", 0.0, key).await?;
        self.own_command("FCPublish", 1.0, key).await?;
        self.announced = Some(key.to_string());
        Ok(())
    }

    /// One AMF0 command on message stream 0: `name`, a transaction id of ours, null, `key`.
    async fn own_command(&mut self, name: &str, offset: f64, key: &str) -> Result<(), LinkError> {
        let values = [
            Amf0Value::Utf8String(name.to_string()),
            Amf0Value::Number(OWN_TRANSACTION_BASE + offset),
            Amf0Value::Null,
            Amf0Value::Utf8String(key.to_string()),
        ];
        // Strings, a number and null always serialize.
        let body = rml_amf0::serialize(&values.to_vec()).unwrap_or_default();
        let bytes = chunk::media_message(
            chunk::COMMAND_CSID,
            MessageType::AMF0_COMMAND,
            0,
            0,
            &body,
            chunk::OUT_CHUNK_SIZE,
        );
        self.write(&bytes).await
    }

    /// Ends the stream politely (`FCUnpublish` for what was announced, then `deleteStream`, as
    /// OBS and ffmpeg do) and shuts the transport down, best effort and bounded in time.
    pub(crate) async fn close(mut self, publishing: bool) {
        if let Some(slot) = &self.direct {
            slot.detach();
        }
        let bye = async {
            if let (true, Some(key)) = (publishing, self.announced.take()) {
                let _ = self.own_command("FCUnpublish", 2.0, &key).await;
            }
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

    /// Writes the session's bytes (after what a direct write left), failing with
    /// [`LinkError::Stalled`] if no progress for [`STALL_TIMEOUT`].
    pub(crate) async fn write(&mut self, bytes: &[u8]) -> Result<(), LinkError> {
        direct::write_own(
            &mut self.writer,
            self.direct.as_deref(),
            bytes,
            STALL_TIMEOUT,
        )
        .await
        .map_err(write_error)
    }
}

/// A write that failed or made no progress, as a link error.
pub(crate) fn write_error(e: WriteError) -> LinkError {
    match e {
        WriteError::Stalled(d) => LinkError::Stalled(d.as_secs()),
        WriteError::Io(e) => LinkError::from_io(&e),
    }
}

/// The RTMP handshake as the client, bounded like every setup step.
async fn client_handshake<S>(
    cancel: &CancellationToken,
    stream: &mut S,
) -> Result<Vec<u8>, LinkError>
where
    S: AsyncRead + AsyncWrite + Unpin + ?Sized,
{
    step(cancel, io::handshake(stream, PeerType::Client))
        .await?
        .map_err(|e| match e {
            HandshakeError::Io(e) => LinkError::from_io(&e),
            HandshakeError::Closed => LinkError::Closed,
            HandshakeError::Invalid(why) => LinkError::Protocol(why),
        })
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
        // An answer to our own `releaseStream`/`FCPublish`/`FCUnpublish`, even `_error`, does
        // not refuse the publication: the `publish` answer says that.
        ClientSessionEvent::UnknownTransactionResultReceived { transaction_id, .. }
            if *transaction_id >= OWN_TRANSACTION_BASE =>
        {
            Ok(())
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

async fn transport(url: &RtmpUrl, tls: &ClientTls) -> Result<Link, LinkError> {
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
    // Checked on every attempt: the name may resolve elsewhere than when it was saved.
    for a in &addrs {
        crate::destination::check(a.ip(), url.private_allowed())?;
    }
    let tcp = tokio::time::timeout(SETUP_TIMEOUT, TcpStream::connect(addrs.as_slice()))
        .await
        .map_err(|_| LinkError::Timeout)?
        .map_err(|e| LinkError::from_io(&e))?;
    // Nagle stays on, as nginx-rtmp leaves it on its relays: a destination is an ingest
    // that buffers seconds, and letting the kernel join small writes to the tail of a frame
    // costs less than a segment per write (`bench/ab.sh --push 50`: 0.90 of the CPU taken
    // with TCP_NODELAY). Players, who may watch at low latency, keep TCP_NODELAY
    // (server/mod.rs).
    if !url.is_tls() {
        return Ok(Link::Tcp(tcp));
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
    Ok(Link::Tls(Box::new(tls_stream)))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use rml_rtmp::chunk_io::ChunkSerializer;
    use rml_rtmp::messages::RtmpMessage;
    use rml_rtmp::sessions::PublishRequestType;
    use rml_rtmp::time::RtmpTimestamp;

    use super::*;

    /// A server's answer to transaction `id`, as chunks.
    fn answer(chunks: &mut ChunkSerializer, id: f64, value: Amf0Value) -> Vec<u8> {
        let message = RtmpMessage::Amf0Command {
            command_name: "_result".into(),
            transaction_id: id,
            command_object: Amf0Value::Null,
            additional_arguments: vec![value],
        };
        let payload = message
            .into_message_payload(RtmpTimestamp::new(0), 0)
            .expect("payload");
        chunks
            .serialize(&payload, false, false)
            .expect("chunks")
            .bytes
    }

    /// Feeds what the session sends to `sent`.
    fn sends(sent: &mut SentStream, results: Vec<ClientSessionResult>) {
        for result in results {
            if let ClientSessionResult::OutboundResponse(packet) = result {
                sent.follow(&packet.bytes);
            }
        }
    }

    #[test]
    fn media_stream_is_the_one_the_server_created() {
        let (mut session, initial) = ClientSession::new(ClientSessionConfig::new()).expect("new");
        let mut sent = SentStream::new();
        let mut chunks = ChunkSerializer::new();
        sends(&mut sent, initial);
        let connect = session.request_connection("live".into()).expect("connect");
        sends(&mut sent, vec![connect]);
        let success = HashMap::from([(
            "code".to_string(),
            Amf0Value::Utf8String("NetConnection.Connect.Success".into()),
        )]);
        let input = answer(&mut chunks, 1.0, Amf0Value::Object(success));
        sends(&mut sent, session.handle_input(&input).expect("connected"));
        let publish = session
            .request_publishing("key".into(), PublishRequestType::Live)
            .expect("publish");
        sends(&mut sent, vec![publish]);
        assert_eq!(sent.stream_id, None, "createStream is on stream 0");
        // Not the usual 1: a server may number its streams as it likes.
        let input = answer(&mut chunks, 2.0, Amf0Value::Number(7.0));
        sends(
            &mut sent,
            session.handle_input(&input).expect("stream created"),
        );
        assert_eq!(sent.stream_id, Some(7));
        assert!(sent.reader.is_none(), "no longer followed");
    }
}
