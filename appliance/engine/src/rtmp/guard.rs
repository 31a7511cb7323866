//! A guard in front of `rml_rtmp`: follows the incoming chunk stream and refuses AMF0 that
//! would overflow the stack.
//!
//! `rml_rtmp` 0.8 parses AMF0 with `rml_amf0`, which recurses once per nested object, ECMA
//! array or strict array with no depth limit: a few KB of nesting overflow the stack, and a
//! stack overflow aborts the whole process (it cannot be caught like a panic). The
//! [`ChunkInspector`] is fed exactly the bytes given to a session's `handle_input` after the
//! handshake, tracks the chunk stream (RTMP spec 1.0 §5.3) and Set Chunk Size (§5.4.1), and
//! scans the AMF0 of command and data messages iteratively before the session sees them.
//!
//! It is not a second RTMP implementation: it never changes or consumes bytes, skips audio and
//! video by length without buffering them, and only answers Ok or [`GuardError`] per slice.
//! Where `rml_rtmp` deviates from the spec the guard follows `rml_rtmp`, since what matters is
//! the message `rml_rtmp` will parse: its chunk deserializer keeps one payload buffer for all
//! chunk streams (interleaved messages are concatenated, typed by the chunk that completes
//! them), and it decodes AMF the way [`scan_amf0`] walks it.

use std::collections::HashMap;
use std::fmt;

use super::chunk_reader::{
    basic_len, csid, header_bytes_needed, header_len, u24, EXTENDED_TIMESTAMP, INITIAL_CHUNK_SIZE,
    MAX_HEADER, MAX_UNFINISHED,
};

/// Deepest AMF0 nesting accepted. Real clients use at most 3 (`connect`'s command object
/// holding an object); 32 leaves room for any plausible client while keeping `rml_amf0`'s
/// recursion a few KB deep.
pub const MAX_AMF_DEPTH: usize = 32;
/// Largest command, data or Set Chunk Size message accepted, in bytes. `connect`, `publish`
/// and `onMetaData` are a few hundred bytes; 1 MiB bounds what the guard buffers.
pub const MAX_AMF_MESSAGE: u32 = 1 << 20;
/// Largest message of any kind a server connection accepts before its `publish` or `play`
/// is accepted (see [`ChunkInspector::before_auth`]). ffmpeg's `connect` is about 200 bytes
/// and OBS's under 1 KiB; 64 KiB leaves room for any client's commands while bounding what
/// `rml_rtmp` buffers for a peer that has shown no key (it reserves a message's announced
/// length as soon as its first chunk arrives).
pub const MAX_SETUP_MESSAGE: u32 = 64 << 10;
/// Chunk streams a server connection may open before its `publish` or `play` is accepted.
/// Clients use a handful (ffmpeg and OBS: 2 to 8); each one costs a header kept by us and by
/// `rml_rtmp`, and ids run to 65599 (§5.3.1.1), so an unbounded count is memory a peer with
/// no key could pin.
pub const MAX_SETUP_CHUNK_STREAMS: usize = 64;
/// Largest chunk size a peer may set. The spec allows 0x7FFFFFFF, but a message length is 24
/// bits (§5.3.1.2.1), so a chunk never needs to exceed 16 MiB.
pub const MAX_CHUNK_SIZE: u32 = 1 << 24;

/// An RTMP message type id (§5.4, §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageType(pub u8);

impl MessageType {
    pub const SET_CHUNK_SIZE: Self = Self(1);
    pub const AUDIO: Self = Self(8);
    pub const VIDEO: Self = Self(9);
    pub const AMF3_DATA: Self = Self(15);
    pub const AMF3_COMMAND: Self = Self(17);
    pub const AMF0_DATA: Self = Self(18);
    pub const AMF0_COMMAND: Self = Self(20);

    /// Messages whose body `rml_rtmp` decodes as AMF0 (it decodes "AMF3" ones as AMF0 too).
    fn is_amf(self) -> bool {
        matches!(self.0, 15 | 17 | 18 | 20)
    }

    /// Messages whose body the guard needs to see.
    fn is_inspected(self) -> bool {
        self.is_amf() || self == Self::SET_CHUNK_SIZE
    }
}

impl fmt::Display for MessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::SET_CHUNK_SIZE => f.write_str("Set Chunk Size"),
            Self::AUDIO => f.write_str("audio"),
            Self::VIDEO => f.write_str("video"),
            Self::AMF3_DATA => f.write_str("AMF3 data"),
            Self::AMF3_COMMAND => f.write_str("AMF3 command"),
            Self::AMF0_DATA => f.write_str("AMF0 data"),
            Self::AMF0_COMMAND => f.write_str("AMF0 command"),
            Self(other) => write!(f, "type {other}"),
        }
    }
}

/// Why the peer's input was refused. The connection must be closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuardError {
    #[error("{kind} message nests AMF0 values deeper than {MAX_AMF_DEPTH}")]
    TooDeep { kind: MessageType },
    #[error("{kind} message of {len} bytes exceeds the limit of {MAX_AMF_MESSAGE}")]
    TooLarge { kind: MessageType, len: u32 },
    #[error("Set Chunk Size to {size} refused (allowed 1 to {MAX_CHUNK_SIZE})")]
    ChunkSize { size: u32 },
    #[error("chunk on stream {csid} continues a message that never started")]
    NoPreviousHeader { csid: u32 },
    #[error("{kind} message made of chunks from several chunk streams")]
    Interleaved { kind: MessageType },
    #[error("chunk on stream {csid} overruns its {kind} message")]
    Overrun { kind: MessageType, csid: u32 },
    #[error("{bytes} bytes announced by unfinished messages exceed the limit of {MAX_UNFINISHED}")]
    Unfinished { bytes: u64 },
    #[error("{kind} message of {len} bytes before publish or play (limit {MAX_SETUP_MESSAGE})")]
    TooLargeBeforeAuth { kind: MessageType, len: u32 },
    #[error("{kind} message before a publish was accepted")]
    MediaBeforePublish { kind: MessageType },
    #[error("more than {MAX_SETUP_CHUNK_STREAMS} chunk streams before publish or play")]
    TooManyChunkStreams,
}

/// The fields of a message header that later chunks on the same chunk stream inherit
/// (§5.3.1.2).
#[derive(Debug, Clone, Copy)]
struct Header {
    /// The 24-bit timestamp or delta as sent; [`EXTENDED_TIMESTAMP`] means an extended one
    /// follows, also in type 3 chunks of this stream (as `rml_rtmp` reads them).
    timestamp_field: u32,
    length: u32,
    kind: MessageType,
}

/// Follows an incoming RTMP chunk stream and checks every command and data message.
/// Sans-IO: [`inspect`](Self::inspect) takes each slice given to `handle_input`, in order.
#[derive(Debug)]
pub struct ChunkInspector {
    chunk_size: u32,
    /// Previous header per chunk stream id.
    streams: HashMap<u32, Header>,
    /// Bytes of a chunk header not complete yet.
    partial: Vec<u8>,
    /// The header of the chunk whose payload is arriving, and the payload bytes still due.
    current: Option<(u32, Header)>,
    payload_left: u32,
    /// Payload bytes since the last complete message, counted as `rml_rtmp` counts them.
    pending_len: u32,
    /// Those bytes, kept while they may still form a command, data or Set Chunk Size message.
    pending: Vec<u8>,
    /// Whether `pending` holds all `pending_len` bytes.
    pending_whole: bool,
    /// Largest message accepted; media refused (server side, before `publish` is accepted).
    message_limit: u32,
    media_refused: bool,
    max_streams: usize,
    /// Announced length of the message in progress (0 between messages).
    announced: u32,
    /// A command message was completed by the last chunk taken.
    command_done: bool,
    /// Where the current [`inspect`](Self::inspect) call is in its input.
    pos: usize,
    /// Offsets, in the input of the current call, of `@setDataFrame` strings to rename (see
    /// [`ChunkInspector::take_renames`]).
    renames: Vec<usize>,
}

/// The AMF0 string `"@setDataFrame"` (marker, 16-bit length 13, text) that starts a
/// publisher's metadata message.
const SET_DATA_FRAME: &[u8; 16] = b"\x02\x00\x0d@setDataFrame";
/// What it is renamed to, of the same length, so that `rml_rtmp`'s server session ignores
/// the message as unknown data.
const IGNORED_FRAME: &[u8; 13] = b"@ignoredFrame";

impl Default for ChunkInspector {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkInspector {
    pub fn new() -> Self {
        Self {
            chunk_size: INITIAL_CHUNK_SIZE,
            streams: HashMap::new(),
            partial: Vec::with_capacity(MAX_HEADER),
            current: None,
            payload_left: 0,
            pending_len: 0,
            pending: Vec::new(),
            pending_whole: true,
            message_limit: u32::MAX,
            media_refused: false,
            max_streams: usize::MAX,
            announced: 0,
            command_done: false,
            pos: 0,
            renames: Vec::new(),
        }
    }

    /// An inspector for a server connection that has not published or played yet: no audio
    /// or video, no message longer than [`MAX_SETUP_MESSAGE`], refused from its header
    /// alone, before `rml_rtmp` reserves room for it, and at most
    /// [`MAX_SETUP_CHUNK_STREAMS`] chunk streams.
    pub fn before_auth() -> Self {
        Self {
            message_limit: MAX_SETUP_MESSAGE,
            media_refused: true,
            max_streams: MAX_SETUP_CHUNK_STREAMS,
            ..Self::new()
        }
    }

    /// Lifts the limits of [`before_auth`](Self::before_auth) once a `publish` is accepted.
    pub fn authorize(&mut self) {
        self.message_limit = u32::MAX;
        self.media_refused = false;
        self.max_streams = usize::MAX;
    }

    /// Announced length of the message being received (what `rml_rtmp` may hold for it);
    /// 0 between messages.
    pub fn announced(&self) -> u32 {
        self.announced
    }

    /// Like [`inspect`](Self::inspect), but stops right after a command message completes
    /// (whose answer may change how the rest must be read) and returns how many bytes of
    /// `input` it took.
    pub fn inspect_command(&mut self, input: &[u8]) -> Result<usize, GuardError> {
        self.command_done = false;
        self.start();
        let mut rest = input;
        while !rest.is_empty() && !self.command_done {
            // One step at a time: a header byte run or one chunk's payload.
            let step = self.step(rest)?;
            rest = rest.get(step..).unwrap_or_default();
            self.pos += step;
        }
        Ok(input.len() - rest.len())
    }

    /// Checks the next slice of the peer's chunk stream. After an error the inspector is out
    /// of step and the connection must be closed.
    pub fn inspect(&mut self, mut input: &[u8]) -> Result<(), GuardError> {
        self.start();
        while !input.is_empty() {
            let step = self.step(input)?;
            input = input.get(step..).unwrap_or_default();
            self.pos += step;
        }
        Ok(())
    }

    fn start(&mut self) {
        self.pos = 0;
        self.renames.clear();
    }

    /// Renames, in the input of the last inspection, each `@setDataFrame` data message that
    /// `rml_rtmp`'s server session would panic on (a bare one, or one with no object after
    /// `onMetaData`: it indexes values that are not there) to `@ignoredFrame`, which it
    /// ignores. Only a message that came whole in that input is renamed; `None` when there
    /// is nothing to rename.
    pub fn take_renames(&mut self, input: &[u8]) -> Option<Vec<u8>> {
        if self.renames.is_empty() {
            return None;
        }
        let mut out = input.to_vec();
        for at in self.renames.drain(..) {
            if let Some(text) = out.get_mut(at + 3..at + SET_DATA_FRAME.len()) {
                text.copy_from_slice(IGNORED_FRAME);
            }
        }
        Some(out)
    }

    /// Takes the next piece of `input` (header bytes, or payload of the current chunk);
    /// returns its length, at least 1.
    fn step(&mut self, input: &[u8]) -> Result<usize, GuardError> {
        if self.current.is_none() {
            let take = header_bytes_needed(&self.partial, |c| self.extended(c));
            let head = input.get(..take.min(input.len())).unwrap_or_default();
            self.partial.extend_from_slice(head);
            self.try_header()?;
            Ok(head.len())
        } else {
            let n = (self.payload_left as usize).min(input.len());
            self.payload(input.get(..n).unwrap_or_default())?;
            Ok(n)
        }
    }

    /// Whether the last timestamp field on `csid` was extended (a type 3 header inherits it).
    fn extended(&self, csid: u32) -> bool {
        self.streams
            .get(&csid)
            .is_some_and(|h| h.timestamp_field >= EXTENDED_TIMESTAMP)
    }

    /// Applies the partial header once complete: updates the stream's state and works out the
    /// payload length of this chunk exactly as `rml_rtmp`'s deserializer does.
    fn try_header(&mut self) -> Result<(), GuardError> {
        let extended = |c| self.extended(c);
        let (Some(len), Some(csid)) = (header_len(&self.partial, extended), csid(&self.partial))
        else {
            return Ok(());
        };
        if self.partial.len() < len {
            return Ok(());
        }
        let fmt = self.partial[0] >> 6;
        // header_len() guarantees the whole message header is here.
        let m = &self.partial[basic_len(self.partial[0])..];
        let previous = self.streams.get(&csid).copied();
        let header = match (fmt, previous) {
            (0, _) | (1, Some(_)) => Header {
                timestamp_field: u24(&m[0..3]),
                length: u24(&m[3..6]),
                kind: MessageType(m[6]),
            },
            (2, Some(prev)) => Header {
                timestamp_field: u24(&m[0..3]),
                ..prev
            },
            (_, Some(prev)) => prev,
            (_, None) => return Err(GuardError::NoPreviousHeader { csid }),
        };
        self.partial.clear();
        if self.streams.insert(csid, header).is_none() && self.streams.len() > self.max_streams {
            return Err(GuardError::TooManyChunkStreams);
        }

        if header.kind.is_inspected() && header.length > MAX_AMF_MESSAGE {
            return Err(GuardError::TooLarge {
                kind: header.kind,
                len: header.length,
            });
        }
        let kind = header.kind;
        if self.media_refused && matches!(kind, MessageType::AUDIO | MessageType::VIDEO) {
            return Err(GuardError::MediaBeforePublish { kind });
        }
        if header.length > self.message_limit {
            let len = header.length;
            return Err(GuardError::TooLargeBeforeAuth { kind, len });
        }
        self.announced = header.length;
        // rml_rtmp: a message longer than the chunk size arrives in chunk-size pieces, the
        // last one shorter; a shorter message arrives whole.
        let remaining = header
            .length
            .checked_sub(self.pending_len)
            .ok_or(GuardError::Overrun {
                kind: header.kind,
                csid,
            })?;
        self.payload_left = if header.length > self.chunk_size {
            remaining.min(self.chunk_size)
        } else {
            header.length
        };
        if !header.kind.is_inspected() {
            self.pending_whole = false;
            self.pending = Vec::new();
        }
        self.current = Some((csid, header));
        // An empty payload completes (or continues) the message right away.
        self.payload(&[])
    }

    /// Takes payload bytes of the current chunk; on the chunk's last byte, checks whether it
    /// completes a message.
    fn payload(&mut self, body: &[u8]) -> Result<(), GuardError> {
        let Some((_, header)) = self.current else {
            return Ok(());
        };
        if self.pending_whole {
            self.pending.extend_from_slice(body);
        }
        let n = body.len() as u32; // at most payload_left, a u32
        self.payload_left -= n;
        self.pending_len += n;
        if self.payload_left > 0 {
            return Ok(());
        }
        self.current = None;
        if self.pending_len != header.length {
            return Ok(());
        }
        let message = std::mem::take(&mut self.pending);
        let whole = std::mem::replace(&mut self.pending_whole, true);
        self.pending_len = 0;
        self.announced = 0;
        self.command_done = matches!(
            header.kind,
            MessageType::AMF0_COMMAND | MessageType::AMF3_COMMAND
        );
        if header.kind.is_inspected() && !whole {
            return Err(GuardError::Interleaved { kind: header.kind });
        }
        // The whole message in this one piece of input: it can be renamed before the
        // session reads it.
        if header.kind == MessageType::AMF0_DATA
            && body.len() == message.len()
            && message.starts_with(SET_DATA_FRAME)
            && rml_rtmp::rml_amf0::deserialize(&mut std::io::Cursor::new(&message[..]))
                .is_ok_and(|values| values.len() < 3)
        {
            self.renames.push(self.pos);
        }
        self.complete(header.kind, &message)
    }

    fn complete(&mut self, kind: MessageType, body: &[u8]) -> Result<(), GuardError> {
        match kind {
            MessageType::SET_CHUNK_SIZE => {
                // Shorter bodies make rml_rtmp fail the session by itself.
                if let Some(b) = body.get(..4) {
                    let size = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
                    if size == 0 || size > MAX_CHUNK_SIZE {
                        return Err(GuardError::ChunkSize { size });
                    }
                    self.chunk_size = size;
                }
                Ok(())
            }
            _ => scan_amf0(kind, amf0_values(kind, body)),
        }
    }
}

/// Where the AMF0 values of a command or data message start: `rml_rtmp` drops one leading
/// 0x00 of an "AMF3" command, then reads AMF0.
pub(crate) fn amf0_values(kind: MessageType, body: &[u8]) -> &[u8] {
    match (kind, body.split_first()) {
        (MessageType::AMF3_COMMAND, Some((0, rest))) => rest,
        _ => body,
    }
}

/// AMF0 markers (AMF0 spec §2.1) that `rml_amf0` 0.3 understands.
mod marker {
    pub const NUMBER: u8 = 0x00;
    pub const BOOLEAN: u8 = 0x01;
    pub const STRING: u8 = 0x02;
    pub const OBJECT: u8 = 0x03;
    pub const NULL: u8 = 0x05;
    pub const UNDEFINED: u8 = 0x06;
    pub const ECMA_ARRAY: u8 = 0x08;
    pub const OBJECT_END: u8 = 0x09;
    pub const STRICT_ARRAY: u8 = 0x0A;
}

/// A container being read: an object (or ECMA array) reads name/value pairs until an empty
/// name and the end marker; a strict array reads its count of values.
enum Frame {
    Object,
    Array(u32),
}

/// Walks a message body the way `rml_amf0::deserialize` does, with an explicit stack, and
/// fails if containers nest deeper than [`MAX_AMF_DEPTH`]. Wherever `rml_amf0` would stop
/// with an error (unknown marker, truncated value) the walk stops with Ok: the session then
/// rejects the message itself, without recursing further.
pub(crate) fn scan_amf0(kind: MessageType, body: &[u8]) -> Result<(), GuardError> {
    let mut r = Reader(body);
    let mut stack: Vec<Frame> = Vec::new();
    loop {
        let marker = match stack.last_mut() {
            // Top level: values until the end of the body or an end marker.
            None => match r.u8() {
                Some(marker::OBJECT_END) | None => return Ok(()),
                Some(m) => m,
            },
            Some(Frame::Object) => {
                let Some(name_len) = r.u16() else {
                    return Ok(());
                };
                if name_len == 0 {
                    if r.u8() != Some(marker::OBJECT_END) {
                        return Ok(());
                    }
                    stack.pop();
                    continue;
                }
                r.skip(usize::from(name_len));
                match r.u8() {
                    Some(marker::OBJECT_END) | None => return Ok(()),
                    Some(m) => m,
                }
            }
            Some(Frame::Array(left)) => {
                if *left == 0 {
                    stack.pop();
                    continue;
                }
                *left -= 1;
                match r.u8() {
                    Some(marker::OBJECT_END) | None => {
                        stack.pop();
                        continue;
                    }
                    Some(m) => m,
                }
            }
        };
        let opened = match marker {
            marker::NUMBER => r.take(8).map(|_| None),
            marker::BOOLEAN => r.take(1).map(|_| None),
            marker::STRING => r.u16().map(|len| {
                r.skip(usize::from(len));
                None
            }),
            marker::NULL | marker::UNDEFINED => Some(None),
            marker::OBJECT => Some(Some(Frame::Object)),
            marker::ECMA_ARRAY => r.take(4).map(|_| Some(Frame::Object)),
            marker::STRICT_ARRAY => r.u32().map(|n| Some(Frame::Array(n))),
            _ => None,
        };
        match opened {
            None => return Ok(()),
            Some(None) => {}
            Some(Some(frame)) => {
                if stack.len() >= MAX_AMF_DEPTH {
                    return Err(GuardError::TooDeep { kind });
                }
                stack.push(frame);
            }
        }
    }
}

/// A cursor over a body; reads past its end give `None`.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    /// Skips up to `n` bytes: `rml_amf0` reads strings with a short read, not an error.
    fn skip(&mut self, n: usize) {
        self.0 = self.0.get(n..).unwrap_or_default();
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use rml_rtmp::chunk_io::ChunkSerializer;
    use rml_rtmp::messages::RtmpMessage;
    use rml_rtmp::rml_amf0::{self, Amf0Value};
    use rml_rtmp::time::RtmpTimestamp;

    use super::*;

    /// One message as chunks of `chunk_size` on `csid` (RTMP spec 1.0 §5.3.1): a type 0
    /// header, then type 3 headers, with the extended timestamp repeated in each as ffmpeg
    /// and `rml_rtmp` write it.
    fn chunks(csid: u32, type_id: u8, ts: u32, body: &[u8], chunk_size: usize) -> Vec<u8> {
        let basic = |fmt: u8| -> Vec<u8> {
            match csid {
                2..=63 => vec![fmt << 6 | csid as u8],
                64..=319 => vec![fmt << 6, (csid - 64) as u8],
                _ => vec![fmt << 6 | 1, (csid - 64) as u8, ((csid - 64) >> 8) as u8],
            }
        };
        let field = ts.min(EXTENDED_TIMESTAMP);
        let mut out = basic(0);
        out.extend_from_slice(&field.to_be_bytes()[1..]);
        out.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        out.push(type_id);
        out.extend_from_slice(&1u32.to_le_bytes());
        let ext = if field == EXTENDED_TIMESTAMP {
            ts.to_be_bytes().to_vec()
        } else {
            Vec::new()
        };
        out.extend_from_slice(&ext);
        for (i, piece) in body.chunks(chunk_size).enumerate() {
            if i > 0 {
                out.extend(basic(3));
                out.extend_from_slice(&ext);
            }
            out.extend_from_slice(piece);
        }
        out
    }

    #[test]
    fn set_data_frames_rml_rtmp_cannot_read_are_renamed() {
        let s = |v: &str| Amf0Value::Utf8String(v.into());
        let bare = amf(vec![s("@setDataFrame")]);
        let no_object = amf(vec![s("@setDataFrame"), s("onMetaData")]);
        let full = amf(vec![
            s("@setDataFrame"),
            s("onMetaData"),
            Amf0Value::Object(HashMap::new()),
        ]);
        let mut input = chunks(4, MessageType::AMF0_DATA.0, 0, &full, 128);
        let first = input.len();
        input.extend(chunks(4, MessageType::AMF0_DATA.0, 0, &bare, 128));
        let second = input.len();
        input.extend(chunks(4, MessageType::AMF0_DATA.0, 0, &no_object, 128));
        let mut inspector = ChunkInspector::new();
        inspector.inspect(&input).expect("inspected");
        let renamed = inspector.take_renames(&input).expect("two renamed");
        // Type 0 headers on csid 4 are 12 bytes; the string's text follows its 3-byte head.
        let text = |at: usize| &renamed[at + 12 + 3..at + 12 + 16];
        assert_eq!(
            &renamed[..first],
            &input[..first],
            "a full frame is left alone"
        );
        assert_eq!(text(first), IGNORED_FRAME);
        assert_eq!(text(second), IGNORED_FRAME);
        assert_eq!(renamed.len(), input.len());
        assert_eq!(inspector.take_renames(&input), None, "taken once");
    }

    fn amf(values: Vec<Amf0Value>) -> Vec<u8> {
        rml_amf0::serialize(&values).expect("serialize AMF0")
    }

    fn s(v: &str) -> Amf0Value {
        Amf0Value::Utf8String(v.to_string())
    }

    /// `connect` as ffmpeg (libavformat's rtmpproto.c) sends it.
    fn ffmpeg_connect() -> Vec<u8> {
        let object = HashMap::from([
            ("app".to_string(), s("live")),
            ("type".to_string(), s("nonprivate")),
            (
                "flashVer".to_string(),
                s("FMLE/3.0 (compatible; Lavf61.7.100)"),
            ),
            ("tcUrl".to_string(), s("rtmp://127.0.0.1:1935/live")),
        ]);
        amf(vec![
            s("connect"),
            Amf0Value::Number(1.0),
            Amf0Value::Object(object),
        ])
    }

    /// `levels` containers opened by `open`, each holding the next.
    fn nested(open: &[u8], levels: usize) -> Vec<u8> {
        let mut body = amf(vec![s("connect"), Amf0Value::Number(1.0)]);
        for _ in 0..levels {
            body.extend_from_slice(open);
        }
        body
    }

    const OBJECT: &[u8] = &[0x03, 0x00, 0x01, b'a'];
    const ECMA: &[u8] = &[0x08, 0, 0, 0, 1, 0x00, 0x01, b'a'];
    const STRICT: &[u8] = &[0x0A, 0, 0, 0, 1];

    /// What a publisher sends after the handshake, serialized by `rml_rtmp` itself: Set Chunk
    /// Size 4096, `connect`, `@setDataFrame`/`onMetaData`, and a 10 KB video message stamped
    /// past the 24-bit range.
    fn publisher_session() -> Vec<u8> {
        let mut ser = ChunkSerializer::new();
        let mut out = ser
            .set_max_chunk_size(4096, RtmpTimestamp::new(0))
            .expect("chunk size")
            .bytes;
        let messages = [
            (20, ffmpeg_connect(), 0),
            (
                18,
                amf(vec![
                    s("@setDataFrame"),
                    s("onMetaData"),
                    Amf0Value::Object(HashMap::from([(
                        "width".to_string(),
                        Amf0Value::Number(160.0),
                    )])),
                ]),
                0,
            ),
            (9, vec![0x17; 10_000], 0x0123_4567),
            (9, vec![0x27; 5_000], 0x0123_4580),
        ];
        for (type_id, data, ts) in messages {
            let message = RtmpMessage::Unknown {
                type_id,
                data: data.into(),
            }
            .into_message_payload(RtmpTimestamp::new(ts), 1)
            .expect("payload");
            out.extend(ser.serialize(&message, false, false).expect("chunks").bytes);
        }
        out
    }

    #[test]
    fn ffmpeg_like_connect_passes() {
        let mut g = ChunkInspector::new();
        assert_eq!(g.inspect(&chunks(3, 20, 0, &ffmpeg_connect(), 128)), Ok(()));
        assert_eq!(g.inspect(&publisher_session()), Ok(()));
    }

    #[test]
    fn any_split_passes() {
        let stream = publisher_session();
        for at in 0..stream.len().min(400) {
            let mut g = ChunkInspector::new();
            let (a, b) = stream.split_at(at);
            assert_eq!(
                g.inspect(a).and_then(|()| g.inspect(b)),
                Ok(()),
                "split {at}"
            );
        }
        for size in [1, 2, 3, 5, 17, 127, 4097] {
            let mut g = ChunkInspector::new();
            for piece in stream.chunks(size) {
                assert_eq!(g.inspect(piece), Ok(()), "pieces of {size}");
            }
        }
    }

    #[test]
    fn nesting_up_to_the_limit_passes_and_one_more_fails() {
        for open in [OBJECT, ECMA, STRICT] {
            for (type_id, prefix) in [(20u8, &[][..]), (17, &[0][..]), (18, &[]), (15, &[])] {
                let kind = MessageType(type_id);
                let body = |levels| [prefix, &nested(open, levels)].concat();
                let mut g = ChunkInspector::new();
                let ok = chunks(3, type_id, 0, &body(MAX_AMF_DEPTH), 128);
                assert_eq!(g.inspect(&ok), Ok(()), "{kind} at the limit");
                let deep = chunks(3, type_id, 0, &body(MAX_AMF_DEPTH + 1), 128);
                assert_eq!(g.inspect(&deep), Err(GuardError::TooDeep { kind }));
            }
        }
    }

    #[test]
    fn deep_nesting_fails_whatever_the_split() {
        let stream = chunks(3, 20, 0, &nested(OBJECT, 5000), 128);
        for size in [1, 7, 128, 129, 4096] {
            let mut g = ChunkInspector::new();
            let refused = stream
                .chunks(size)
                .map(|p| g.inspect(p))
                .find(Result::is_err);
            let kind = MessageType::AMF0_COMMAND;
            assert_eq!(refused, Some(Err(GuardError::TooDeep { kind })), "{size}");
        }
    }

    #[test]
    fn strings_hiding_markers_are_skipped() {
        // A label and a string full of object markers are data, not nesting.
        let mut body = amf(vec![
            s("connect"),
            Amf0Value::Number(1.0),
            s(&"\u{3}".repeat(500)),
        ]);
        body.extend_from_slice(&[0x03, 0x00, 0x40]);
        body.extend_from_slice(&[0x03; 0x40]);
        body.extend_from_slice(&[0x05, 0x00, 0x00, 0x09]);
        assert_eq!(
            ChunkInspector::new().inspect(&chunks(3, 20, 0, &body, 128)),
            Ok(())
        );
    }

    #[test]
    fn set_chunk_size_is_followed() {
        let set = |size: u32| chunks(2, 1, 0, &size.to_be_bytes(), 128);
        // After Set Chunk Size 4096 a 3 KB message is one chunk: the guard must not look for
        // a chunk header after 128 bytes, or it would miss the nesting.
        let deep = nested(OBJECT, 700);
        let mut g = ChunkInspector::new();
        assert_eq!(g.inspect(&set(4096)), Ok(()));
        let kind = MessageType::AMF0_COMMAND;
        let refused = g.inspect(&chunks(3, 20, 0, &deep, 4096));
        assert_eq!(refused, Err(GuardError::TooDeep { kind }));

        let mut g = ChunkInspector::new();
        assert_eq!(g.inspect(&set(MAX_CHUNK_SIZE)), Ok(()));
        for size in [0, MAX_CHUNK_SIZE + 1, 0x7FFF_FFFF] {
            let refused = ChunkInspector::new().inspect(&set(size));
            assert_eq!(refused, Err(GuardError::ChunkSize { size }));
        }
    }

    #[test]
    fn extended_timestamps_are_followed() {
        // Type 0 and type 3 chunks each carry the 4 extended bytes; losing track of them would
        // misread the rest of the stream, here two messages on 2- and 3-byte basic headers.
        let mut stream = chunks(3, 9, 0x0100_0000, &[0x17; 1000], 128);
        stream.extend(chunks(100, 20, EXTENDED_TIMESTAMP, &ffmpeg_connect(), 128));
        stream.extend(chunks(400, 18, 0xFFFF_FFFF, &nested(STRICT, 40), 128));
        let kind = MessageType::AMF0_DATA;
        for size in [1, 3, 128, stream.len()] {
            let mut g = ChunkInspector::new();
            let refused = stream
                .chunks(size)
                .map(|p| g.inspect(p))
                .find(Result::is_err);
            assert_eq!(refused, Some(Err(GuardError::TooDeep { kind })), "{size}");
        }
    }

    #[test]
    fn oversized_command_fails_and_the_limit_passes() {
        let mut g = ChunkInspector::new();
        let at_limit = vec![0x05; MAX_AMF_MESSAGE as usize];
        assert_eq!(g.inspect(&chunks(3, 20, 0, &at_limit, 128)), Ok(()));
        // Refused from the header alone: nothing of the body is buffered.
        let mut header = chunks(3, 20, 0, &[], 128);
        header[4..7].copy_from_slice(&(MAX_AMF_MESSAGE + 1).to_be_bytes()[1..]);
        let kind = MessageType::AMF0_COMMAND;
        let len = MAX_AMF_MESSAGE + 1;
        assert_eq!(g.inspect(&header), Err(GuardError::TooLarge { kind, len }));
        // Media of any length passes.
        let video = chunks(4, 9, 0, &vec![0x17; 2 * MAX_AMF_MESSAGE as usize], 128);
        assert_eq!(ChunkInspector::new().inspect(&video), Ok(()));
    }

    #[test]
    fn before_auth_refuses_media_and_large_messages_from_the_header() {
        // A command at the setup limit passes; one byte more is refused from its header.
        let at_limit = vec![0x05; MAX_SETUP_MESSAGE as usize];
        let mut g = ChunkInspector::before_auth();
        assert_eq!(g.inspect(&chunks(3, 20, 0, &at_limit, 128)), Ok(()));
        let mut header = chunks(3, 20, 0, &[], 128);
        header[4..7].copy_from_slice(&(MAX_SETUP_MESSAGE + 1).to_be_bytes()[1..]);
        let kind = MessageType::AMF0_COMMAND;
        let len = MAX_SETUP_MESSAGE + 1;
        let refused = ChunkInspector::before_auth().inspect(&header);
        assert_eq!(refused, Err(GuardError::TooLargeBeforeAuth { kind, len }));
        // Audio and video, whatever their length, before a publish is accepted.
        for kind in [MessageType::AUDIO, MessageType::VIDEO] {
            let media = chunks(4, kind.0, 0, &[0x17; 10], 128);
            let refused = ChunkInspector::before_auth().inspect(&media);
            assert_eq!(refused, Err(GuardError::MediaBeforePublish { kind }));
        }
        // An authorized inspector takes both.
        let mut g = ChunkInspector::before_auth();
        g.authorize();
        let video = chunks(4, 9, 0, &vec![0x17; 2 * MAX_SETUP_MESSAGE as usize], 128);
        assert_eq!(g.inspect(&video), Ok(()));
    }

    #[test]
    fn before_auth_caps_chunk_streams() {
        let empty = |csid| chunks(csid, 20, 0, &[], 128);
        let mut g = ChunkInspector::before_auth();
        for csid in 3..3 + MAX_SETUP_CHUNK_STREAMS as u32 {
            assert_eq!(g.inspect(&empty(csid)), Ok(()), "{csid}");
        }
        // Known streams again are fine; one more is not.
        assert_eq!(g.inspect(&empty(3)), Ok(()));
        let refused = g.inspect(&empty(3 + MAX_SETUP_CHUNK_STREAMS as u32));
        assert_eq!(refused, Err(GuardError::TooManyChunkStreams));
        let mut g = ChunkInspector::new();
        for csid in 3..400 {
            assert_eq!(g.inspect(&empty(csid)), Ok(()), "{csid}");
        }
    }

    #[test]
    fn announced_length_and_command_boundaries() {
        let connect = chunks(3, 20, 0, &ffmpeg_connect(), 128);
        let mut g = ChunkInspector::before_auth();
        // Half a command: its announced length is what rml_rtmp may hold.
        assert_eq!(g.inspect_command(&connect[..20]), Ok(20));
        assert_eq!(g.announced(), ffmpeg_connect().len() as u32);
        // The rest and what follows it: the inspector stops right after the command.
        let mut stream = connect[20..].to_vec();
        stream.extend(chunks(4, 9, 0, &[0x17; 10], 128));
        assert_eq!(g.inspect_command(&stream), Ok(connect.len() - 20));
        assert_eq!(g.announced(), 0);
    }

    #[test]
    fn broken_chunk_streams_fail() {
        // A type 3 chunk on a stream that never had a header.
        let refused = ChunkInspector::new().inspect(&[0xC5, 0x00]);
        assert_eq!(refused, Err(GuardError::NoPreviousHeader { csid: 5 }));
        // rml_rtmp appends a video chunk to a half-received command (one buffer for all chunk
        // streams), so the command would be parsed from bytes the guard did not keep.
        let body = amf(vec![
            s("connect"),
            Amf0Value::Number(1.0),
            s(&"x".repeat(1000)),
        ]);
        let command = chunks(3, 20, 0, &body, 128);
        let mut stream = command[..12 + 128].to_vec();
        stream.extend_from_slice(&chunks(4, 9, 0, &[0x17; 300], 128)[..12 + 128]);
        stream.extend_from_slice(&command[12 + 128..]);
        let kind = MessageType::AMF0_COMMAND;
        let refused = ChunkInspector::new().inspect(&stream);
        assert_eq!(refused, Err(GuardError::Interleaved { kind }));
        // A chunk whose message is shorter than what rml_rtmp already buffered would underflow
        // its length arithmetic.
        let mut stream = command[..12 + 128].to_vec();
        stream.extend(chunks(4, 9, 0, &[0x17; 10], 128));
        let refused = ChunkInspector::new().inspect(&stream);
        let kind = MessageType(9);
        assert_eq!(refused, Err(GuardError::Overrun { kind, csid: 4 }));
    }
}
