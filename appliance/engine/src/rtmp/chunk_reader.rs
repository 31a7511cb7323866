//! A publisher's incoming chunk stream reassembled into messages without `rml_rtmp`.
//!
//! `rml_rtmp` 0.8 copies every incoming message twice (into its input buffer, then into a
//! payload buffer that grows chunk by chunk, reallocating as it goes) and clones the stream
//! key and application name into every media event. For a publisher that is nearly every byte
//! the relay receives, so once a publish is accepted the connection reads its chunks here
//! instead: one copy of each payload, into a buffer of the message's exact size.
//!
//! The reader follows RTMP 1.0 §5.3 from the first byte after the handshake, in one of two
//! modes. While `rml_rtmp`'s session still parses the connection (connect, createStream,
//! publish) the reader only *tracks*: chunk headers, timestamps, and the control messages
//! that change how chunks are read (Set Chunk Size, Abort, Window Acknowledgement Size). It
//! switches to *delivering* complete messages only at a point where no message is half
//! received ([`ChunkReader::at_boundary`]), so the bytes `rml_rtmp` parsed and the messages
//! delivered here never overlap.
//!
//! Unlike `rml_rtmp` each chunk stream has its own payload buffer, so interleaved messages
//! (allowed by the spec) are reassembled correctly. Timestamps follow `rml_rtmp` and ffmpeg:
//! a type 3 chunk that starts a message adds the chunk stream's last timestamp field again.

use std::collections::HashMap;

use bytes::{Bytes, BytesMut};

use super::guard::{GuardError, MessageType, MAX_AMF_MESSAGE, MAX_CHUNK_SIZE};

/// The chunk size until the peer sets another (§5.4.1).
pub(super) const INITIAL_CHUNK_SIZE: u32 = 128;
/// A timestamp field of this value means a 4-byte extended timestamp follows (§5.3.1.3).
pub(super) const EXTENDED_TIMESTAMP: u32 = 0xFF_FFFF;
/// Longest chunk header: 3-byte basic header, 11-byte message header, extended timestamp.
pub(super) const MAX_HEADER: usize = 3 + 11 + 4;
/// Most payload bytes announced by messages still in progress, over all chunk streams. An
/// encoder has one message in progress at a time (a keyframe of a few MiB at most); this
/// bounds what a peer announcing many large messages can make us hold.
pub const MAX_UNFINISHED: u64 = 32 << 20;

/// Control messages the reader acts on itself (§5.4).
const SET_CHUNK_SIZE: u8 = 1;
const ABORT: u8 = 2;
const WINDOW_ACK_SIZE: u8 = 5;

/// One complete message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub kind: u8,
    pub stream_id: u32,
    pub timestamp: u32,
    pub body: Bytes,
}

/// What a chunk stream remembers (§5.3.1.2): later headers inherit from it.
#[derive(Debug, Default)]
struct Stream {
    /// Absolute timestamp of the message in progress, or of the last one.
    timestamp: u32,
    /// The last timestamp field as a number to add (a delta; for a type 0 header, the
    /// absolute timestamp, as `rml_rtmp` and ffmpeg read a type 3 header after it).
    delta: u32,
    /// The last timestamp field was 0xFFFFFF: type 3 chunks carry an extended timestamp too.
    extended: bool,
    length: u32,
    kind: u8,
    stream_id: u32,
    /// Payload bytes of the message in progress received so far (0: none in progress).
    received: u32,
    /// The payload being gathered (delivering, or a control message while tracking).
    body: Option<BytesMut>,
}

/// Whether messages are handed out or only followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Track,
    Deliver,
}

/// Sans-IO: feed it every byte after the handshake, in order, with [`ChunkReader::push`].
/// After an error the reader is out of step and the connection must be closed.
#[derive(Debug)]
pub struct ChunkReader {
    mode: Mode,
    chunk_size: u32,
    peer_window: Option<u32>,
    streams: HashMap<u32, Stream>,
    /// Bytes of a chunk header not complete yet.
    partial: Vec<u8>,
    /// The chunk whose payload is arriving: its chunk stream and the bytes still due.
    current: Option<(u32, u32)>,
    /// Payload bytes announced by the messages in progress.
    unfinished: u64,
}

impl Default for ChunkReader {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkReader {
    /// A reader that only tracks the chunk stream.
    pub fn new() -> Self {
        Self {
            mode: Mode::Track,
            chunk_size: INITIAL_CHUNK_SIZE,
            peer_window: None,
            streams: HashMap::new(),
            partial: Vec::with_capacity(MAX_HEADER),
            current: None,
            unfinished: 0,
        }
    }

    /// No chunk header or message is half received: everything fed so far forms whole
    /// messages.
    pub fn at_boundary(&self) -> bool {
        self.partial.is_empty() && self.current.is_none() && self.unfinished == 0
    }

    /// From now on complete messages are delivered. Call only [`at_boundary`](Self::at_boundary).
    pub fn deliver(&mut self) {
        debug_assert!(self.at_boundary());
        self.mode = Mode::Deliver;
    }

    /// Whether complete messages are being delivered.
    pub fn delivering(&self) -> bool {
        self.mode == Mode::Deliver
    }

    /// The acknowledgement window the peer asked for (Window Acknowledgement Size, §5.4.4).
    pub fn peer_window(&self) -> Option<u32> {
        self.peer_window
    }

    /// Reads the next slice of the chunk stream; complete messages are appended to `out`
    /// (only when delivering; control messages are applied, not delivered).
    pub fn push(&mut self, mut input: &[u8], out: &mut Vec<Message>) -> Result<(), GuardError> {
        while !input.is_empty() {
            match self.current {
                None => {
                    let streams = &self.streams;
                    let take = header_bytes_needed(&self.partial, |c| {
                        streams.get(&c).is_some_and(|s| s.extended)
                    });
                    let (head, rest) = input.split_at(take.min(input.len()));
                    self.partial.extend_from_slice(head);
                    input = rest;
                    self.try_header(out)?;
                }
                Some((csid, left)) => {
                    let n = (left as usize).min(input.len());
                    let (body, rest) = input.split_at(n);
                    input = rest;
                    self.payload(csid, body, out)?;
                }
            }
        }
        Ok(())
    }

    /// Applies a complete header to its chunk stream and starts the chunk's payload.
    fn try_header(&mut self, out: &mut Vec<Message>) -> Result<(), GuardError> {
        let streams = &self.streams;
        let extended = |c| streams.get(&c).is_some_and(|s: &Stream| s.extended);
        let (Some(len), Some(csid)) = (header_len(&self.partial, extended), csid(&self.partial))
        else {
            return Ok(());
        };
        if self.partial.len() < len {
            return Ok(());
        }
        let fmt = self.partial[0] >> 6;
        let h = &self.partial[basic_len(self.partial[0])..];
        let ext = |at: usize| h.get(at..at + 4).map(be32);
        if fmt != 0 && !self.streams.contains_key(&csid) {
            return Err(GuardError::NoPreviousHeader { csid });
        }
        let stream = self.streams.entry(csid).or_default();
        if fmt < 3 && stream.received > 0 {
            // A new message header in the middle of a message: the peer gave it up.
            self.unfinished -= u64::from(stream.length);
            stream.received = 0;
            stream.body = None;
        }
        match fmt {
            0..=2 => {
                let field = u24(&h[0..3]);
                stream.extended = field == EXTENDED_TIMESTAMP;
                let at = [11, 7, 3][usize::from(fmt)];
                let value = if stream.extended {
                    ext(at).unwrap_or(field)
                } else {
                    field
                };
                if fmt == 0 {
                    stream.timestamp = value;
                    stream.stream_id = u32::from_le_bytes([h[7], h[8], h[9], h[10]]);
                } else {
                    stream.timestamp = stream.timestamp.wrapping_add(value);
                }
                stream.delta = value;
                if fmt < 2 {
                    stream.length = u24(&h[3..6]);
                    stream.kind = h[6];
                }
            }
            _ => {
                // Type 3 starting a message repeats the last delta (an extended one is
                // given again); continuing a message it changes nothing.
                if stream.received == 0 {
                    let delta = match stream.extended {
                        true => ext(0).unwrap_or(stream.delta),
                        false => stream.delta,
                    };
                    stream.timestamp = stream.timestamp.wrapping_add(delta);
                }
            }
        }
        self.partial.clear();

        let kind = MessageType(stream.kind);
        let is_amf = matches!(stream.kind, 15 | 17 | 18 | 20);
        if (is_amf || stream.kind == SET_CHUNK_SIZE) && stream.length > MAX_AMF_MESSAGE {
            return Err(GuardError::TooLarge {
                kind,
                len: stream.length,
            });
        }
        if stream.received == 0 {
            self.unfinished += u64::from(stream.length);
            if self.unfinished > MAX_UNFINISHED {
                return Err(GuardError::Unfinished {
                    bytes: self.unfinished,
                });
            }
            let keep = self.mode == Mode::Deliver
                || matches!(stream.kind, SET_CHUNK_SIZE | ABORT | WINDOW_ACK_SIZE);
            stream.body = keep.then(|| BytesMut::with_capacity(stream.length as usize));
        }
        let left = (stream.length - stream.received).min(self.chunk_size);
        self.current = Some((csid, left));
        // An empty payload completes the message at once.
        self.payload(csid, &[], out)
    }

    /// Takes payload bytes of the current chunk; on the message's last byte, hands it out.
    fn payload(
        &mut self,
        csid: u32,
        bytes: &[u8],
        out: &mut Vec<Message>,
    ) -> Result<(), GuardError> {
        let Some((_, left)) = self.current else {
            return Ok(());
        };
        let Some(stream) = self.streams.get_mut(&csid) else {
            return Ok(());
        };
        if let Some(body) = &mut stream.body {
            body.extend_from_slice(bytes);
        }
        let n = bytes.len() as u32; // at most `left`, a u32
        stream.received += n;
        let left = left - n;
        self.current = (left > 0).then_some((csid, left));
        if left > 0 || stream.received < stream.length {
            return Ok(());
        }
        // The message is complete.
        self.unfinished -= u64::from(stream.length);
        stream.received = 0;
        let body = stream.body.take().map(BytesMut::freeze).unwrap_or_default();
        let message = Message {
            kind: stream.kind,
            stream_id: stream.stream_id,
            timestamp: stream.timestamp,
            body,
        };
        self.apply(message, out)
    }

    /// Applies a control message, or hands the message out when delivering.
    fn apply(&mut self, message: Message, out: &mut Vec<Message>) -> Result<(), GuardError> {
        let word = message.body.get(..4).map(be32);
        match (message.kind, word) {
            (SET_CHUNK_SIZE, Some(size)) => {
                // The top bit is reserved (§5.4.1).
                let size = size & 0x7FFF_FFFF;
                if size == 0 || size > MAX_CHUNK_SIZE {
                    return Err(GuardError::ChunkSize { size });
                }
                self.chunk_size = size;
            }
            (ABORT, Some(csid)) => {
                if let Some(s) = self.streams.get_mut(&csid) {
                    if s.received > 0 {
                        self.unfinished -= u64::from(s.length);
                        s.received = 0;
                        s.body = None;
                    }
                }
            }
            (WINDOW_ACK_SIZE, Some(size)) => self.peer_window = Some(size),
            (SET_CHUNK_SIZE | ABORT | WINDOW_ACK_SIZE, None) => {}
            _ if self.mode == Mode::Deliver => out.push(message),
            _ => {}
        }
        Ok(())
    }
}

/// How many more bytes a partial chunk header needs, as far as its bytes so far tell
/// (unknown lengths are resolved one byte at a time; headers are at most 18 bytes).
/// `extended(csid)`: whether that chunk stream's last timestamp field was 0xFFFFFF, which a
/// type 3 header inherits.
pub(super) fn header_bytes_needed(partial: &[u8], extended: impl Fn(u32) -> bool) -> usize {
    header_len(partial, extended).map_or(1, |len| len - partial.len())
}

/// The full length of a partial chunk header once its basic header (and, for types 0–2, its
/// timestamp field) is known (§5.3.1.1–5.3.1.3).
pub(super) fn header_len(partial: &[u8], extended: impl Fn(u32) -> bool) -> Option<usize> {
    let first = *partial.first()?;
    let basic = basic_len(first);
    let fmt = first >> 6;
    let message = [11, 7, 3, 0][usize::from(fmt)];
    let csid = csid(partial)?;
    let extended = if fmt == 3 {
        extended(csid)
    } else {
        u24(partial.get(basic..basic + 3)?) == EXTENDED_TIMESTAMP
    };
    Some(basic + message + if extended { 4 } else { 0 })
}

/// The chunk stream id, once the basic header is complete (§5.3.1.1).
pub(super) fn csid(partial: &[u8]) -> Option<u32> {
    let p = partial;
    match p.first()? & 0x3F {
        0 => Some(u32::from(*p.get(1)?) + 64),
        1 => Some(u32::from(*p.get(2)?) * 256 + u32::from(*p.get(1)?) + 64),
        id => Some(u32::from(id)),
    }
}

/// Length of the basic header from its first byte: csid 0 and 1 announce 1 or 2 more bytes.
pub(super) fn basic_len(first: u8) -> usize {
    match first & 0x3F {
        0 => 2,
        1 => 3,
        _ => 1,
    }
}

pub(super) fn u24(b: &[u8]) -> u32 {
    b.iter().take(3).fold(0, |acc, &x| acc << 8 | u32::from(x))
}

fn be32(b: &[u8]) -> u32 {
    b.iter().take(4).fold(0, |acc, &x| acc << 8 | u32::from(x))
}

#[cfg(test)]
mod tests {
    use rml_rtmp::chunk_io::{ChunkDeserializer, ChunkSerializer};
    use rml_rtmp::messages::{MessagePayload, RtmpMessage};
    use rml_rtmp::time::RtmpTimestamp;

    use super::*;

    /// A publisher's stream as `rml_rtmp`'s own serializer writes it (header compression on,
    /// as encoders do): Set Chunk Size, then `messages` as (type, timestamp, length).
    fn wire(chunk_size: u32, messages: &[(u8, u32, usize)]) -> (Vec<u8>, Vec<Message>) {
        let mut ser = ChunkSerializer::new();
        let mut out = Vec::new();
        if chunk_size != INITIAL_CHUNK_SIZE {
            let p = ser
                .set_max_chunk_size(chunk_size, RtmpTimestamp::new(0))
                .expect("chunk size");
            out.extend_from_slice(&p.bytes);
        }
        let mut expected = Vec::new();
        for (i, &(kind, ts, len)) in messages.iter().enumerate() {
            let body: Bytes = (0..len).map(|b| (b + i) as u8).collect::<Vec<u8>>().into();
            let payload = RtmpMessage::Unknown {
                type_id: kind,
                data: body.clone(),
            }
            .into_message_payload(RtmpTimestamp::new(ts), 1)
            .expect("payload");
            out.extend_from_slice(
                &ser.serialize(&payload, false, false)
                    .expect("serialize")
                    .bytes,
            );
            expected.push(Message {
                kind,
                stream_id: 1,
                timestamp: ts,
                body,
            });
        }
        (out, expected)
    }

    /// Messages as (type, stream, timestamp, length, sum of bytes): failures stay readable.
    fn brief(messages: &[Message]) -> Vec<(u8, u32, u32, usize, u64)> {
        messages
            .iter()
            .map(|m| {
                let sum = m.body.iter().map(|&b| u64::from(b)).sum();
                (m.kind, m.stream_id, m.timestamp, m.body.len(), sum)
            })
            .collect()
    }

    fn read_all(reader: &mut ChunkReader, bytes: &[u8], step: usize) -> Vec<Message> {
        let mut out = Vec::new();
        for piece in bytes.chunks(step.max(1)) {
            reader.push(piece, &mut out).expect("valid chunk stream");
        }
        out
    }

    fn delivering() -> ChunkReader {
        let mut r = ChunkReader::new();
        r.deliver();
        r
    }

    /// Audio and video as an encoder sends them, with sizes above and below the chunk size.
    const SESSION: &[(u8, u32, usize)] = &[
        (18, 0, 300),
        (9, 0, 60_000),
        (8, 0, 400),
        (9, 33, 9_000),
        (8, 21, 400),
        (8, 42, 400),
        (9, 66, 4_096),
        (9, 100, 4_097),
        (8, 64, 371),
    ];

    #[test]
    fn reassembles_what_rml_rtmp_serializes_whatever_the_split() {
        for chunk_size in [128, 4096, 60_000] {
            let (bytes, expected) = wire(chunk_size, SESSION);
            for step in [1, 7, 128, 1000, 4096, bytes.len()] {
                let got = read_all(&mut delivering(), &bytes, step);
                assert_eq!(
                    brief(&got),
                    brief(&expected),
                    "chunk size {chunk_size}, step {step}"
                );
                assert_eq!(got, expected);
            }
        }
    }

    #[test]
    fn agrees_with_rml_rtmp_on_timestamps_and_bodies() {
        // rml_rtmp's deserializer is the reference for what the session used to deliver.
        let mut messages: Vec<(u8, u32, usize)> = Vec::new();
        let mut ts = 0xFF_FF00; // crosses into extended timestamps
        for i in 0..300 {
            ts += [33, 0, 34, 0x0100_0000][i % 4];
            messages.push((if i % 3 == 0 { 8 } else { 9 }, ts, 50 + i * 37));
        }
        let (bytes, _) = wire(4096, &messages);
        let mut reference = ChunkDeserializer::new();
        let mut want = Vec::new();
        let mut next = reference.get_next_message(&bytes).expect("rml reads it");
        while let Some(MessagePayload {
            type_id,
            message_stream_id,
            timestamp,
            data,
        }) = next
        {
            if type_id == SET_CHUNK_SIZE {
                let size = be32(&data);
                reference.set_max_chunk_size(size as usize).expect("size");
            } else {
                want.push(Message {
                    kind: type_id,
                    stream_id: message_stream_id,
                    timestamp: timestamp.value,
                    body: data,
                });
            }
            next = reference.get_next_message(&[]).expect("rml reads it");
        }
        assert_eq!(want.len(), messages.len());
        let got = read_all(&mut delivering(), &bytes, 1500);
        assert_eq!(brief(&got), brief(&want));
        assert_eq!(got, want);
    }

    #[test]
    fn tracks_until_a_boundary_then_delivers_the_rest() {
        let (bytes, expected) = wire(4096, SESSION);
        let mut r = ChunkReader::new();
        let mut out = Vec::new();
        // Cut in the middle of the big video message: not a boundary.
        let cut = bytes.len() / 3;
        r.push(&bytes[..cut], &mut out).expect("ok");
        assert!(out.is_empty(), "tracking delivers nothing");
        assert!(!r.at_boundary());
        // Feed up to the end of that message, one byte at a time, until a boundary.
        let mut at = cut;
        while !r.at_boundary() {
            r.push(&bytes[at..at + 1], &mut out).expect("ok");
            at += 1;
        }
        r.deliver();
        r.push(&bytes[at..], &mut out).expect("ok");
        // Everything after the first two messages.
        assert_eq!(brief(&out), brief(&expected[2..]));
    }

    #[test]
    fn interleaved_chunk_streams_are_kept_apart() {
        // Video on csid 6 split in 128-byte chunks with an audio message on csid 4 between.
        let video: Vec<u8> = (0..300).map(|i| i as u8).collect();
        let mut bytes = vec![0x06, 0, 0, 40, 0, 1, 44, 9, 1, 0, 0, 0];
        bytes.extend_from_slice(&video[..128]);
        bytes.extend_from_slice(&[0x04, 0, 0, 30, 0, 0, 3, 8, 1, 0, 0, 0, 0xAF, 1, 2]);
        bytes.push(0xC6);
        bytes.extend_from_slice(&video[128..256]);
        bytes.push(0xC6);
        bytes.extend_from_slice(&video[256..]);
        let got = read_all(&mut delivering(), &bytes, 5);
        assert_eq!(got.len(), 2);
        assert_eq!(
            (got[0].kind, got[0].timestamp, &got[0].body[..]),
            (8, 30, &[0xAF, 1, 2][..])
        );
        assert_eq!(
            (got[1].kind, got[1].timestamp, &got[1].body[..]),
            (9, 40, &video[..])
        );
    }

    #[test]
    fn window_size_and_abort_are_applied() {
        let mut bytes = vec![
            0x02,
            0,
            0,
            0,
            0,
            0,
            4,
            WINDOW_ACK_SIZE,
            0,
            0,
            0,
            0,
            0,
            0x26,
            0x25,
            0xA0,
        ];
        // A video message on csid 6 abandoned after its first chunk, then a whole one.
        bytes.extend_from_slice(&[0x06, 0, 0, 0, 0, 0, 200, 9, 1, 0, 0, 0]);
        bytes.extend_from_slice(&[0u8; 128]);
        bytes.extend_from_slice(&[0x02, 0, 0, 0, 0, 0, 4, ABORT, 0, 0, 0, 0, 0, 0, 0, 6]);
        bytes.extend_from_slice(&[0x06, 0, 0, 0, 0, 0, 2, 9, 1, 0, 0, 0, 0x17, 0]);
        // An empty message (rml_rtmp's serializer cannot write one) completes at its header.
        bytes.extend_from_slice(&[0x46, 0, 0, 5, 0, 0, 0, 9]);
        let mut r = delivering();
        let got = read_all(&mut r, &bytes, 3);
        assert_eq!(r.peer_window(), Some(2_500_000));
        assert_eq!(brief(&got), [(9, 1, 0, 2, 0x17), (9, 1, 5, 0, 0)]);
        assert!(r.at_boundary());
    }

    #[test]
    fn bad_streams_are_refused() {
        let mut out = Vec::new();
        // A continuation on a chunk stream never opened.
        assert_eq!(
            delivering().push(&[0xC5, 1, 2], &mut out),
            Err(GuardError::NoPreviousHeader { csid: 5 })
        );
        // Chunk size 0.
        let zero = [
            0x02,
            0,
            0,
            0,
            0,
            0,
            4,
            SET_CHUNK_SIZE,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
        ];
        assert_eq!(
            delivering().push(&zero, &mut out),
            Err(GuardError::ChunkSize { size: 0 })
        );
        // An AMF0 command announced larger than the limit.
        let big = [0x03, 0, 0, 0, 0x20, 0, 0, 20, 0, 0, 0, 0];
        assert!(matches!(
            delivering().push(&big, &mut out),
            Err(GuardError::TooLarge { .. })
        ));
        // Many large video messages begun on different chunk streams and never finished.
        let mut r = delivering();
        let mut refused = None;
        for csid in 3..63u8 {
            let header = [csid, 0, 0, 0, 0xFF, 0xFF, 0xFF, 9, 1, 0, 0, 0, 0];
            if let Err(e) = r.push(&header, &mut out) {
                refused = Some(e);
                break;
            }
            // Finish the chunk (128 bytes) so the next header can start.
            r.push(&[0u8; 127], &mut out).expect("ok");
        }
        assert!(matches!(refused, Some(GuardError::Unfinished { .. })));
        assert!(out.is_empty());
    }
}
