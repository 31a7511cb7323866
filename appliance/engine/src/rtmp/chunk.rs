//! RTMP chunking of audio and video messages, done once per tag and shared by every player
//! and every push output.
//!
//! `rml_rtmp` serialises each message separately for each session, copying the payload for
//! every connection. A media message only needs self-contained type-0 chunks (RTMP 1.0
//! §5.3.1: basic header, 11-byte message header, extended timestamp when ≥ 0xFFFFFF, then
//! type-3 continuation chunks), which depend on nothing but the chunk size and the message
//! stream id — the same for every connection we open or accept — so the bytes are built
//! once and written to each socket. They travel on chunk streams of their own so
//! `rml_rtmp`'s header compression on its chunk streams (2–6) is never confused.

use bytes::{BufMut, Bytes, BytesMut};

use super::chunk_reader::EXTENDED_TIMESTAMP;
use super::guard::MessageType;
use crate::unit::{FlvKind, FlvTag};

/// Outgoing chunk size announced on every connection, server or client (`rml_rtmp`'s
/// default, stated here because media chunks are built outside the sessions with it).
pub const OUT_CHUNK_SIZE: usize = 4096;
/// The message stream id of the first stream of a connection: what `rml_rtmp`'s server gives
/// its players, and what servers (nginx-rtmp, YouTube, ffmpeg) answer a client's first
/// `createStream` with. Tags are chunked once for it; any other id gets its own copy.
pub const SHARED_STREAM_ID: u32 = 1;

/// Chunk stream ids for media and metadata written by us (`rml_rtmp` uses 2–6).
pub const AUDIO_CSID: u8 = 8;
pub const VIDEO_CSID: u8 = 9;
pub const META_CSID: u8 = 10;
/// Chunk stream for the commands a client sends beside `rml_rtmp`'s (`releaseStream`,
/// `FCPublish`, `FCUnpublish`), each a self-contained type-0 message.
pub const COMMAND_CSID: u8 = 11;
/// Chunk stream on which a client's session is handed the server's messages again, one
/// whole message at a time (any id works: the session reads nothing else).
pub const SESSION_CSID: u8 = 3;
/// Serialises one message as type-0 + type-3 chunks of at most `chunk_size` payload bytes.
/// Timestamps from 0xFFFFFF on go in the extended timestamp field.
pub fn media_message(
    csid: u8,
    kind: MessageType,
    stream_id: u32,
    timestamp: u32,
    payload: &[u8],
    chunk_size: usize,
) -> Bytes {
    let chunk_size = chunk_size.max(1);
    let extended = timestamp >= EXTENDED_TIMESTAMP;
    let chunks = payload.len().div_ceil(chunk_size).max(1);
    let per_chunk_ext = if extended { 4 } else { 0 };
    let mut out = BytesMut::with_capacity(payload.len() + 12 + chunks * (1 + per_chunk_ext));
    // Type 0: fmt 0 in the top two bits, csid (2..=63) in the low six.
    out.put_u8(csid & 0x3f);
    out.put_uint(u64::from(timestamp.min(EXTENDED_TIMESTAMP)), 3);
    out.put_uint(payload.len() as u64, 3);
    out.put_u8(kind.0);
    out.put_u32_le(stream_id);
    if extended {
        out.put_u32(timestamp);
    }
    let mut parts = payload.chunks(chunk_size);
    if let Some(first) = parts.next() {
        out.put_slice(first);
    }
    for part in parts {
        // Type 3: continuation of the same message; the extended timestamp is repeated.
        out.put_u8(0xc0 | (csid & 0x3f));
        if extended {
            out.put_u32(timestamp);
        }
        out.put_slice(part);
    }
    out.freeze()
}

/// An audio or video tag as chunks on [`SHARED_STREAM_ID`], built once and shared by every
/// connection (and the hub's direct writes); `None` for metadata.
pub fn shared_media_wire(tag: &FlvTag) -> Option<Bytes> {
    let (csid, kind) = media_ids(tag.kind)?;
    Some(
        tag.wire
            .get_or_init(|| tag_message(SHARED_STREAM_ID, tag, csid, kind)),
    )
}

/// An audio or video tag as chunks on `stream_id`: the shared bytes on the usual id, a copy
/// of its own on any other; `None` for metadata.
pub fn media_wire(stream_id: u32, tag: &FlvTag) -> Option<Bytes> {
    if stream_id == SHARED_STREAM_ID {
        return shared_media_wire(tag);
    }
    let (csid, kind) = media_ids(tag.kind)?;
    Some(tag_message(stream_id, tag, csid, kind))
}

fn media_ids(kind: FlvKind) -> Option<(u8, MessageType)> {
    match kind {
        FlvKind::Video => Some((VIDEO_CSID, MessageType::VIDEO)),
        FlvKind::Audio => Some((AUDIO_CSID, MessageType::AUDIO)),
        FlvKind::Meta => None,
    }
}

fn tag_message(stream_id: u32, tag: &FlvTag, csid: u8, kind: MessageType) -> Bytes {
    media_message(
        csid,
        kind,
        stream_id,
        tag.timestamp,
        &tag.body,
        OUT_CHUNK_SIZE,
    )
}

/// An Acknowledgement (RTMP 1.0 §5.4.3): `received` bytes so far, on the control chunk stream.
pub fn acknowledgement(received: u32) -> [u8; 16] {
    let mut out = [0u8; 16];
    // Type 0 header on csid 2, timestamp 0, length 4, type 3, message stream 0.
    out[..8].copy_from_slice(&[0x02, 0, 0, 0, 0, 0, 4, 3]);
    out[12..].copy_from_slice(&received.to_be_bytes());
    out
}

#[cfg(test)]
mod tests {
    use rml_rtmp::chunk_io::ChunkDeserializer;

    use super::*;

    fn roundtrip(ts: u32, len: usize, chunk_size: usize) {
        let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let wire = media_message(VIDEO_CSID, MessageType::VIDEO, 1, ts, &payload, chunk_size);
        let mut d = ChunkDeserializer::new();
        d.set_max_chunk_size(chunk_size).expect("chunk size");
        let msg = d
            .get_next_message(&wire)
            .expect("valid chunks")
            .expect("one whole message");
        assert_eq!(msg.timestamp.value, ts);
        assert_eq!(msg.type_id, MessageType::VIDEO.0);
        assert_eq!(msg.message_stream_id, 1);
        assert_eq!(&msg.data[..], &payload[..]);
        // Nothing left over.
        assert!(d.get_next_message(&[]).expect("ok").is_none());
    }

    #[test]
    fn rml_rtmp_reads_what_we_write() {
        roundtrip(0, 10, 4096);
        roundtrip(40, 4096, 4096);
        roundtrip(80, 4097, 4096);
        roundtrip(1_000, 20_000, 4096);
        roundtrip(123, 300, 128);
    }

    #[test]
    fn extended_timestamps_are_repeated_in_continuation_chunks() {
        roundtrip(0x00FF_FFFF, 9_000, 4096);
        roundtrip(u32::MAX, 9_000, 128);
    }

    #[test]
    fn a_tag_on_another_stream_gets_a_copy_of_its_own() {
        let tag = FlvTag::new(
            FlvKind::Video,
            40,
            Bytes::from_static(&[0x17, 1, 2]),
            true,
            false,
        );
        let read = |wire: &Bytes| {
            let msg = ChunkDeserializer::new()
                .get_next_message(wire)
                .expect("valid chunks")
                .expect("one whole message");
            (
                msg.message_stream_id,
                msg.timestamp.value,
                msg.data.to_vec(),
            )
        };
        let body = tag.body.to_vec();
        let other = media_wire(7, &tag).expect("media");
        assert_eq!(read(&other), (7, 40, body.clone()));
        // The shared chunks, cached on the tag, stay on the usual stream.
        let shared = media_wire(SHARED_STREAM_ID, &tag).expect("media");
        assert_eq!(read(&shared), (SHARED_STREAM_ID, 40, body));
        assert_eq!(shared, shared_media_wire(&tag).expect("media"));
        assert!(media_wire(
            7,
            &FlvTag::new(FlvKind::Meta, 0, Bytes::new(), false, false)
        )
        .is_none());
    }

    #[test]
    fn two_messages_in_a_row_on_the_same_chunk_stream() {
        let a = media_message(AUDIO_CSID, MessageType::AUDIO, 1, 10, &[1, 2, 3], 4096);
        let b = media_message(AUDIO_CSID, MessageType::AUDIO, 1, 31, &[4, 5], 4096);
        let mut d = ChunkDeserializer::new();
        let m1 = d.get_next_message(&a).expect("ok").expect("first");
        let m2 = d.get_next_message(&b).expect("ok").expect("second");
        assert_eq!((m1.timestamp.value, &m1.data[..]), (10, &[1u8, 2, 3][..]));
        assert_eq!((m2.timestamp.value, &m2.data[..]), (31, &[4u8, 5][..]));
    }
}
