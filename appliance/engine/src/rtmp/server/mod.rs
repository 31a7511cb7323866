//! The RTMP/RTMPS listener: an accept loop that admits connections (see [`admission`]) and
//! one task per connection.
//!
//! A connection is either a publisher (its tags go to the [`FlvIngest`] the router returns) or
//! a player (tags from its [`FlvSubscription`] are written to it). Only the application
//! [`APP_NAME`] is served. Whatever a peer sends can end only its own connection, with one log
//! line naming the peer and the reason. Keys are never logged, not even in part: a refused
//! stream name is not described at all (the peer's address tells which encoder it is), and a
//! refused application name only by its length, since encoders that take one server URL put
//! the key there ([`AppHint`]); tcUrl is never read. Until a connection has
//! published or played it is unauthenticated: it must finish its setup within the deadline,
//! may send no media and no message over [`MAX_SETUP_MESSAGE`], and what it makes us log goes
//! through one limiter shared by all such connections (a flood of refusals writes at most
//! [`REFUSALS_PER_SECOND`] lines a second). The player half (its loop and writes) is in `play`.
//!
//! [`FlvSubscription`]: super::router::FlvSubscription
//! [`MAX_SETUP_MESSAGE`]: super::guard::MAX_SETUP_MESSAGE
//! [`AppHint`]: super::router::AppHint

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rml_rtmp::chunk_io::Packet;
use rml_rtmp::handshake::PeerType;
use rml_rtmp::rml_amf0::{self, Amf0Value};
use rml_rtmp::sessions::{
    ServerSession, ServerSessionConfig, ServerSessionEvent, ServerSessionResult,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::chunk;
use super::chunk_reader::{self, ChunkReader};
use super::direct::{Batch, DirectSlot, SharedWriter};
use super::flags::tag_flags;
use super::guard::{self, ChunkInspector, GuardError, MessageType};
use super::io::{self, BoxReader, BoxWriter, WriteError, READ_BUFFER};
use super::meta;
use super::router::{FlvIngest, Peer, PlayerGuard, Rejection, RtmpRouter};
use super::tls::CertReloader;
use crate::log_limit::LogLimit;
use crate::metrics::LatencyHistogram;
use crate::unit::{FlvKind, FlvTag};

pub mod admission;
mod play;

pub use admission::{Admission, Refusal, RtmpLimits};
use admission::{Established, Unauthenticated};

/// The chunk stream `rml_rtmp` 0.8 sends AMF0 data messages on (its serializer's choice by
/// message type).
const RML_DATA_CSID: u8 = 3;

/// The only RTMP application served: `rtmp://host/live/KEY`.
pub const APP_NAME: &str = "live";
/// A publisher that sends nothing for this long is gone (encoders send media continuously).
pub const PUBLISH_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// A write to a peer that makes no progress for this long ends the connection.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Log lines a second about refused or failed unauthenticated connections, as on the SRT
/// side (the README promises at most 20 a second of repeated refusals); the next line
/// allowed says how many were left out.
pub const REFUSALS_PER_SECOND: u32 = 20;
/// Longest reason written to the log for one connection: reasons may quote what the peer
/// sent (through `rml_rtmp`'s errors), and a peer chooses its length.
pub const MAX_LOGGED_REASON: usize = 200;
/// Read buffer of a connection that has not published: it sends a few small commands.
/// A publisher's reads grow to [`READ_BUFFER`].
const SETUP_READ_BUFFER: usize = 4096;

/// Lines about unauthenticated connections, shared by all of them.
static REFUSAL_LOG: LogLimit = LogLimit::new(REFUSALS_PER_SECOND, 0, Duration::from_secs(1));

/// Accepts RTMP (or, with `tls`, RTMPS) connections until `cancel` fires, then waits for the
/// connection tasks, which also observe `cancel`, to end. Uses the default [`RtmpLimits`].
pub async fn serve(
    listener: TcpListener,
    tls: Option<Arc<CertReloader>>,
    router: Arc<dyn RtmpRouter>,
    cancel: CancellationToken,
) {
    let admission = Admission::new(RtmpLimits::default());
    serve_with(listener, tls, router, admission, cancel).await;
}

/// [`serve`] with the pools and limits of `admission` (which RTMP and RTMPS may share).
pub async fn serve_with(
    listener: TcpListener,
    tls: Option<Arc<CertReloader>>,
    router: Arc<dyn RtmpRouter>,
    admission: Arc<Admission>,
    cancel: CancellationToken,
) {
    let tasks = TaskTracker::new();
    loop {
        let (socket, addr) = tokio::select! {
            _ = cancel.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!("RTMP accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        // Decided without I/O; a refused socket is closed at once, so nobody waits for a
        // place in the kernel's accept queue.
        let slot = match admission.admit(addr.ip()) {
            Ok(slot) => slot,
            Err(why) => {
                log_refusal(addr, &format!("connection refused: {why}"));
                drop(socket);
                continue;
            }
        };
        let conn = Connection {
            peer: Peer {
                addr,
                secure: tls.is_some(),
            },
            router: router.clone(),
            admission: admission.clone(),
            deadline: Instant::now() + admission.limits().setup_timeout,
            cancel: cancel.child_token(),
        };
        let tls = tls.clone();
        let span = tracing::info_span!("rtmp_conn", peer = %addr, tls = tls.is_some());
        tasks.spawn(conn.run(socket, tls, slot).instrument(span));
    }
    tasks.close();
    tasks.wait().await;
}

/// One line about an unauthenticated connection, within [`REFUSALS_PER_SECOND`].
fn log_refusal(peer: std::net::SocketAddr, reason: &str) {
    if let Some(suppressed) = REFUSAL_LOG.allow(0) {
        let reason = truncate(reason, MAX_LOGGED_REASON);
        tracing::info!(%peer, suppressed, "RTMP {reason}");
    }
}

/// `s` cut to at most `max` bytes at a character boundary, with `…` when cut.
pub(crate) fn truncate(s: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if s.len() <= max {
        return s.into();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", s.get(..end).unwrap_or_default()).into()
}

/// Why a connection ended early. `Display` is the log line's reason.
#[derive(Debug, thiserror::Error)]
enum ConnError {
    #[error("TLS handshake failed: {0}")]
    Tls(std::io::Error),
    #[error("setup not finished within {0:?} (handshake, connect and publish or play)")]
    Deadline(Duration),
    #[error(transparent)]
    Handshake(#[from] io::HandshakeError),
    #[error("rejected: {0}")]
    Rejected(Rejection),
    #[error("RTMP session error: {0}")]
    Session(String),
    #[error("refused input: {0}")]
    Guard(#[from] GuardError),
    #[error("refused: {0}")]
    Admission(#[from] Refusal),
    #[error("write failed: {0}")]
    Write(#[from] WriteError),
    #[error("read failed: {0}")]
    Read(std::io::Error),
    #[error("peer silent for {0:?}")]
    Idle(Duration),
}

struct Connection {
    peer: Peer,
    router: Arc<dyn RtmpRouter>,
    admission: Arc<Admission>,
    /// When the setup must be over: an accepted `publish` or `play`.
    deadline: Instant,
    cancel: CancellationToken,
}

/// Where a connection stands with the [`Admission`] pools.
enum Slot {
    Unauthenticated(Unauthenticated),
    /// Held for its `Drop`, which gives the place back.
    Established {
        _place: Established,
    },
}

impl Connection {
    async fn run(self, socket: TcpStream, tls: Option<Arc<CertReloader>>, slot: Unauthenticated) {
        let _ = socket.set_nodelay(true);
        let mut slot = Slot::Unauthenticated(slot);
        let ended = self.run_inner(socket, tls, &mut slot).await;
        match (ended, slot) {
            (Ok(()), _) => tracing::debug!("RTMP connection closed"),
            (Err(ConnError::Rejected(reason)), _) => {
                log_refusal(self.peer.addr, &format!("request rejected: {reason}"));
            }
            (Err(e), Slot::Unauthenticated(_)) => {
                log_refusal(self.peer.addr, &format!("connection closed: {e}"));
            }
            (Err(e), Slot::Established { .. }) => {
                let e = e.to_string();
                let e = truncate(&e, MAX_LOGGED_REASON);
                tracing::info!(peer = %self.peer.addr, "RTMP connection closed: {e}");
            }
        }
    }

    async fn run_inner(
        &self,
        socket: TcpStream,
        tls: Option<Arc<CertReloader>>,
        slot: &mut Slot,
    ) -> Result<(), ConnError> {
        let deadline = self.deadline;
        let late = || ConnError::Deadline(self.admission.limits().setup_timeout);
        let (reader, writer, tcp, leftover): (BoxReader, BoxWriter, _, _) = match tls {
            Some(tls) => {
                let accept = tls.acceptor().accept(socket);
                let mut stream = tokio::time::timeout_at(deadline, accept)
                    .await
                    .map_err(|_| late())?
                    .map_err(ConnError::Tls)?;
                let leftover = server_handshake(&mut stream, deadline)
                    .await
                    .ok_or_else(late)??;
                let (reader, writer) = tokio::io::split(stream);
                (Box::new(reader), Box::new(writer), None, leftover)
            }
            None => {
                let mut socket = socket;
                let leftover = server_handshake(&mut socket, deadline)
                    .await
                    .ok_or_else(late)??;
                // Plain TCP: the write half is shared with the hub's direct path.
                let (reader, shared, writer) = SharedWriter::split(socket);
                (Box::new(reader), Box::new(shared), Some(writer), leftover)
            }
        };
        let mut config = ServerSessionConfig::new();
        config.chunk_size = chunk::OUT_CHUNK_SIZE as u32;
        let (session, initial) =
            ServerSession::new(config).map_err(|e| ConnError::Session(e.to_string()))?;
        let mut session = Session {
            session,
            writer,
            tcp,
            peer: self.peer,
            router: self.router.as_ref(),
            admission: &self.admission,
            slot,
            phase: Phase::Idle,
            last_timestamp: 0,
            inspector: ChunkInspector::before_auth(),
            reader: Some(ChunkReader::new()),
            messages: Vec::new(),
            received: 0,
            since_ack: 0,
            batch: Batch::default(),
        };
        // What followed the handshake (a pipelining client's `connect`…), within the deadline.
        let first = async {
            session.handle_results(initial).await?;
            Ok::<_, ConnError>(!leftover.is_empty() && session.input(&leftover).await?)
        };
        if tokio::time::timeout_at(deadline, first)
            .await
            .map_err(|_| late())??
        {
            return Ok(());
        }
        session.pump(reader, deadline, &self.cancel).await
    }
}

/// The RTMP handshake, `None` when `deadline` passes first; returns the bytes that followed
/// it.
async fn server_handshake<S>(
    stream: &mut S,
    deadline: Instant,
) -> Option<Result<Vec<u8>, ConnError>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    tokio::time::timeout_at(deadline, io::handshake(stream, PeerType::Server))
        .await
        .ok()
        .map(|r| r.map_err(ConnError::from))
}

/// What the connection is doing after `connect`.
enum Phase {
    Idle,
    Publishing(Box<dyn FlvIngest>),
    Playing {
        stream_id: u32,
        rx: mpsc::Receiver<FlvTag>,
        /// The output was stopped, changed or removed.
        stop: CancellationToken,
        bytes_out: Arc<AtomicU64>,
        latency: Arc<LatencyHistogram>,
        /// The hub writes to the socket itself while the player keeps up.
        direct: Option<Arc<DirectSlot>>,
        _guard: PlayerGuard,
    },
}

struct Session<'a> {
    session: ServerSession,
    writer: BoxWriter,
    /// The plain TCP write half, for the hub's direct path (`None` over TLS).
    tcp: Option<Arc<OwnedWriteHalf>>,
    peer: Peer,
    router: &'a dyn RtmpRouter,
    admission: &'a Admission,
    /// Unauthenticated until the router accepts a `publish` or `play`.
    slot: &'a mut Slot,
    phase: Phase,
    /// Timestamp of the last media tag, given to metadata (which carries none in `rml_rtmp`).
    last_timestamp: u32,
    /// Sees every byte before the session does: `rml_rtmp` must not parse deep AMF0, nor
    /// buffer large messages for a peer that has shown no key.
    inspector: ChunkInspector,
    /// Follows the chunk stream from the start and reads a publisher's messages once it
    /// publishes (see `chunk_reader`); dropped when the peer plays.
    reader: Option<ChunkReader>,
    messages: Vec<chunk_reader::Message>,
    /// Bytes received since the handshake, and since the last acknowledgement we sent
    /// (counted once the reader delivers; `rml_rtmp` acknowledges before).
    received: u32,
    since_ack: u32,
    /// A player's queued tags, written together.
    batch: Batch,
}

/// One wake-up of a player's loop.
enum Wake {
    Cancelled,
    /// A direct write left bytes for this task.
    Rest,
    Read(std::io::Result<usize>),
    Tag(Option<FlvTag>),
}

impl Session<'_> {
    /// Reads from the peer and, for a player, writes its feed, until either side ends.
    async fn pump(
        &mut self,
        mut reader: BoxReader,
        deadline: Instant,
        cancel: &CancellationToken,
    ) -> Result<(), ConnError> {
        let mut buf = vec![0u8; SETUP_READ_BUFFER];
        loop {
            match &self.phase {
                Phase::Playing { .. } => return self.play(reader, buf, cancel).await,
                Phase::Publishing(_) => {
                    buf.resize(READ_BUFFER, 0);
                    let limit = PUBLISH_IDLE_TIMEOUT;
                    let n = tokio::select! {
                        _ = cancel.cancelled() => return Ok(()),
                        n = tokio::time::timeout(limit, reader.read(&mut buf)) => match n {
                            Ok(n) => n.map_err(ConnError::Read)?,
                            Err(_) => return Err(ConnError::Idle(limit)),
                        },
                    };
                    if n == 0 || self.input(buf.get(..n).unwrap_or_default()).await? {
                        return Ok(());
                    }
                }
                // The whole setup, reads and our answers, within the one deadline: a peer
                // that trickles a byte at a time gains nothing.
                Phase::Idle => {
                    let timeout = self.admission.limits().setup_timeout;
                    let step = async {
                        let n = reader.read(&mut buf).await.map_err(ConnError::Read)?;
                        Ok::<_, ConnError>(
                            n == 0 || self.input(buf.get(..n).unwrap_or_default()).await?,
                        )
                    };
                    let finished = tokio::select! {
                        _ = cancel.cancelled() => return Ok(()),
                        step = tokio::time::timeout_at(deadline, step) => {
                            step.map_err(|_| ConnError::Deadline(timeout))??
                        }
                    };
                    if finished {
                        return Ok(());
                    }
                }
            }
        }
    }

    /// Feeds peer bytes to the session. Returns true when the peer finished its stream.
    /// Before a publish or play is accepted the bytes go in one command at a time, so that
    /// what follows an accepted `publish` (a pipelining encoder's media) is read as a
    /// publisher's, not refused as an unauthenticated peer's.
    async fn input(&mut self, mut bytes: &[u8]) -> Result<bool, ConnError> {
        while !bytes.is_empty() {
            let (take, inspected) = match self.phase {
                Phase::Idle => (self.inspector.inspect_command(bytes)?, true),
                _ => (bytes.len(), false),
            };
            let (now, rest) = bytes.split_at(take.min(bytes.len()));
            if self.input_piece(now, inspected).await? {
                return Ok(true);
            }
            bytes = rest;
        }
        Ok(false)
    }

    /// [`input`](Self::input) for one piece, which the inspector may have seen already.
    async fn input_piece(&mut self, bytes: &[u8], inspected: bool) -> Result<bool, ConnError> {
        // The acknowledgement's sequence number: all received, modulo 2^32 (RTMP 1.0 §5.4.3).
        self.received = self.received.wrapping_add(bytes.len() as u32);
        if self.reader.as_ref().is_some_and(ChunkReader::delivering) {
            return self.publisher_input(bytes).await;
        }
        if !inspected {
            self.inspector.inspect(bytes)?;
        }
        // A bare `@setDataFrame` would panic `rml_rtmp`'s session: it gets one renamed.
        let renamed = self.inspector.take_renames(bytes);
        let bytes = renamed.as_deref().unwrap_or(bytes);
        if let Slot::Unauthenticated(slot) = &mut *self.slot {
            // What rml_rtmp may hold for this peer: the message it is receiving.
            slot.charge(self.inspector.announced() as usize)?;
        }
        if let Some(reader) = &mut self.reader {
            reader.push(bytes, &mut self.messages)?;
        }
        let session = &mut self.session;
        let results = io::guard(|| session.handle_input(bytes))
            .ok_or_else(|| ConnError::Session(io::PANIC_REASON.to_string()))?
            .map_err(|e| ConnError::Session(e.to_string()))?;
        let finished = self.handle_results(results).await?;
        match (&self.phase, &mut self.reader) {
            // A publisher's chunks are read by the reader from the first whole message on.
            (Phase::Publishing(_), Some(reader)) if reader.at_boundary() => reader.deliver(),
            // A player sends next to nothing: it stays with the session.
            (Phase::Playing { .. }, _) => self.reader = None,
            _ => {}
        }
        Ok(finished)
    }

    /// A publisher's bytes once the [`ChunkReader`] delivers its messages: media and
    /// metadata go to the ingest, `deleteStream` ends the publication, the rest is ignored
    /// as `rml_rtmp` ignored it. Acknowledgements are sent as the peer's window asks.
    async fn publisher_input(&mut self, bytes: &[u8]) -> Result<bool, ConnError> {
        let Some(reader) = &mut self.reader else {
            return Ok(false);
        };
        let mut messages = std::mem::take(&mut self.messages);
        messages.clear();
        let pushed = reader.push(bytes, &mut messages);
        let window = reader.peer_window();
        let mut finished = false;
        for m in messages.drain(..) {
            finished |= self.publisher_message(m)?;
        }
        self.messages = messages;
        pushed?;
        self.since_ack = self.since_ack.saturating_add(bytes.len() as u32);
        if window.is_some_and(|w| self.since_ack >= w) {
            self.since_ack = 0;
            self.write(&chunk::acknowledgement(self.received)).await?;
        }
        Ok(finished)
    }

    /// One message of a publisher; true when it ends the publication.
    fn publisher_message(&mut self, m: chunk_reader::Message) -> Result<bool, ConnError> {
        if matches!(&self.phase, Phase::Publishing(ingest) if ingest.released()) {
            return Err(ConnError::Session(
                "the input let this publisher go (replaced, or its feed removed)".into(),
            ));
        }
        let kind = MessageType(m.kind);
        match kind {
            MessageType::AUDIO => self.ingest(FlvKind::Audio, m.body, m.timestamp),
            MessageType::VIDEO => self.ingest(FlvKind::Video, m.body, m.timestamp),
            // AMF0 data (and "AMF3" data, which rml_rtmp read as AMF0): onMetaData.
            MessageType::AMF0_DATA | MessageType::AMF3_DATA => {
                guard::scan_amf0(kind, &m.body)?;
                // Kept whole (custom keys too); a bare `@setDataFrame` is skipped.
                if let Some(body) = meta::script_body(&m.body) {
                    self.ingest(FlvKind::Meta, body, self.last_timestamp);
                }
            }
            MessageType::AMF0_COMMAND | MessageType::AMF3_COMMAND => {
                let body = guard::amf0_values(kind, &m.body);
                guard::scan_amf0(kind, body)?;
                let name = rml_amf0::deserialize(&mut std::io::Cursor::new(body))
                    .ok()
                    .and_then(|v| v.into_iter().next())
                    .and_then(Amf0Value::get_string);
                return Ok(matches!(
                    name.as_deref(),
                    Some("deleteStream" | "closeStream")
                ));
            }
            _ => {}
        }
        Ok(false)
    }

    async fn handle_results(
        &mut self,
        results: Vec<ServerSessionResult>,
    ) -> Result<bool, ConnError> {
        let mut finished = false;
        for result in results {
            match result {
                ServerSessionResult::OutboundResponse(packet) => self.write(&packet.bytes).await?,
                ServerSessionResult::RaisedEvent(event) => {
                    finished |= self.handle_event(event).await?;
                }
                ServerSessionResult::UnhandleableMessageReceived(_) => {}
            }
        }
        Ok(finished)
    }

    async fn handle_event(&mut self, event: ServerSessionEvent) -> Result<bool, ConnError> {
        match event {
            ServerSessionEvent::ConnectionRequested {
                request_id,
                app_name,
            } => {
                if app_name != APP_NAME {
                    let why = Rejection::wrong_app(&app_name);
                    self.reject(request_id, "NetConnection.Connect.Rejected", &why)
                        .await?;
                    return Err(ConnError::Rejected(why));
                }
                self.accept(request_id).await?;
            }
            ServerSessionEvent::PublishStreamRequested {
                request_id,
                app_name,
                stream_key,
                ..
            } => {
                let decision = match self.phase {
                    Phase::Idle => self.establish().and_then(|place| {
                        let ingest = self.router.publish(&app_name, &stream_key, self.peer)?;
                        Ok((ingest, place))
                    }),
                    _ => Err(Rejection::AlreadyPublishing),
                };
                match decision {
                    Ok((ingest, place)) => {
                        *self.slot = Slot::Established { _place: place };
                        self.inspector.authorize();
                        self.accept(request_id).await?;
                        tracing::info!(peer = %self.peer.addr, "RTMP publisher started");
                        self.phase = Phase::Publishing(ingest);
                    }
                    Err(why) => {
                        self.reject(request_id, "NetStream.Publish.BadName", &why)
                            .await?;
                        return Err(ConnError::Rejected(why));
                    }
                }
            }
            ServerSessionEvent::PlayStreamRequested {
                request_id,
                app_name,
                stream_key,
                stream_id,
                ..
            } => {
                let decision = match self.phase {
                    Phase::Idle => self.establish().and_then(|place| {
                        let sub = self.router.play(&app_name, &stream_key, self.peer)?;
                        Ok((sub, place))
                    }),
                    _ => Err(Rejection::AlreadyPublishing),
                };
                match decision {
                    Ok((sub, place)) => {
                        *self.slot = Slot::Established { _place: place };
                        self.accept_play(request_id).await?;
                        tracing::info!(peer = %self.peer.addr, "RTMP player started");
                        self.phase = Phase::Playing {
                            stream_id,
                            rx: sub.rx,
                            stop: sub.stop,
                            bytes_out: sub.bytes_out,
                            latency: sub.latency,
                            direct: sub.direct.clone(),
                            _guard: sub.guard,
                        };
                        // Only now, with the answer to `play` written, may the hub write
                        // tags itself; they are chunked for the usual stream id only.
                        if let (Some(slot), Some(tcp)) = (&sub.direct, &self.tcp) {
                            if stream_id == chunk::SHARED_STREAM_ID {
                                slot.attach(tcp);
                            }
                        }
                    }
                    Err(why) => {
                        self.reject(request_id, "NetStream.Play.StreamNotFound", &why)
                            .await?;
                        return Err(ConnError::Rejected(why));
                    }
                }
            }
            ServerSessionEvent::VideoDataReceived {
                data, timestamp, ..
            } => {
                self.ingest(FlvKind::Video, data, timestamp.value);
            }
            ServerSessionEvent::AudioDataReceived {
                data, timestamp, ..
            } => {
                self.ingest(FlvKind::Audio, data, timestamp.value);
            }
            ServerSessionEvent::StreamMetadataChanged { metadata, .. } => {
                let body = meta::metadata_to_body(&metadata);
                self.ingest(FlvKind::Meta, body, self.last_timestamp);
            }
            ServerSessionEvent::PublishStreamFinished { .. }
            | ServerSessionEvent::PlayStreamFinished { .. } => return Ok(true),
            _ => {}
        }
        Ok(false)
    }

    /// A place among publishers and players, taken before the router may accept (and
    /// attach) the connection; refused when that pool is full.
    fn establish(&self) -> Result<Established, Rejection> {
        self.admission.establish().map_err(|_| Rejection::NoRoom)
    }

    fn ingest(&mut self, kind: FlvKind, body: Bytes, timestamp: u32) {
        if let Phase::Publishing(ingest) = &mut self.phase {
            let (keyframe, config) = tag_flags(kind, &body);
            if kind != FlvKind::Meta {
                self.last_timestamp = timestamp;
            }
            ingest.push(FlvTag::new(kind, timestamp, body, keyframe, config));
        }
    }

    async fn accept(&mut self, request_id: u32) -> Result<(), ConnError> {
        self.accept_without(request_id, |_| false).await
    }

    /// Accepts a `play` without the two AMF0 data messages `rml_rtmp` adds to the answer
    /// (`|RtmpSampleAccess`, and `onStatus` NetStream.Data.Start sent as data): ffmpeg turns
    /// them into an extra subtitle stream and a data stream, which breaks a `-map 0` copy.
    /// Besides metadata, which players get from us on our own chunk stream (`play::wire`),
    /// they are the only messages `rml_rtmp` sends on its data chunk stream, so leaving them
    /// out cannot upset its header compression.
    async fn accept_play(&mut self, request_id: u32) -> Result<(), ConnError> {
        self.accept_without(request_id, |p| {
            p.bytes.first().map(|b| b & 0x3F) == Some(RML_DATA_CSID)
        })
        .await
    }

    /// Accepts `request_id`, writing the session's answer except the packets `left_out` picks.
    async fn accept_without(
        &mut self,
        request_id: u32,
        left_out: fn(&Packet) -> bool,
    ) -> Result<(), ConnError> {
        let mut results = self
            .session
            .accept_request(request_id)
            .map_err(|e| ConnError::Session(e.to_string()))?;
        results.retain(|r| !matches!(r, ServerSessionResult::OutboundResponse(p) if left_out(p)));
        Box::pin(self.handle_results(results)).await?;
        Ok(())
    }

    /// Tells the peer why (so an encoder shows a reason), best effort: the connection closes next.
    async fn reject(
        &mut self,
        request_id: u32,
        code: &str,
        why: &Rejection,
    ) -> Result<(), ConnError> {
        if let Ok(results) = self
            .session
            .reject_request(request_id, code, &why.to_string())
        {
            for result in results {
                if let ServerSessionResult::OutboundResponse(packet) = result {
                    self.write(&packet.bytes).await?;
                }
            }
        }
        Ok(())
    }
}
