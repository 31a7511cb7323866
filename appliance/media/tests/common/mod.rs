//! Shared helpers for the integration tests: fixture loading and a minimal FLV file reader.
#![allow(dead_code, clippy::unwrap_used)]

use relevo_media::ts::{DemuxEvent, TsDemuxer};
use relevo_media::{Codec, Frame};
use std::path::PathBuf;

pub fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Demuxes a whole buffer in SRT-sized chunks (7 packets), then flushes.
pub fn demux_all(data: &[u8]) -> (Vec<DemuxEvent>, u64) {
    let mut d = TsDemuxer::new();
    let mut events = Vec::new();
    for chunk in data.chunks(7 * 188) {
        let _ = d.push(chunk, &mut events);
    }
    d.flush(&mut events);
    (events, d.error_count())
}

pub fn frames(events: &[DemuxEvent], codec: Codec) -> Vec<Frame> {
    events
        .iter()
        .filter_map(|e| match e {
            DemuxEvent::Frame(f) if f.codec == codec => Some(f.clone()),
            _ => None,
        })
        .collect()
}

/// One FLV tag: (type 8 audio / 9 video, timestamp ms, body).
#[derive(Debug, Clone)]
pub struct FlvTag {
    pub kind: u8,
    pub timestamp_ms: i64,
    pub body: Vec<u8>,
}

/// Reads the tags of an FLV file (FLV v10.1 §E.2–E.4.1).
pub fn flv_tags(file: &[u8]) -> Vec<FlvTag> {
    assert_eq!(&file[..3], b"FLV");
    let header_len = u32::from_be_bytes(file[5..9].try_into().unwrap()) as usize;
    let mut pos = header_len + 4;
    let mut tags = Vec::new();
    while pos + 11 <= file.len() {
        let h = &file[pos..pos + 11];
        let size = (usize::from(h[1]) << 16) | (usize::from(h[2]) << 8) | usize::from(h[3]);
        let ts = (i64::from(h[7]) << 24)
            | (i64::from(h[4]) << 16)
            | (i64::from(h[5]) << 8)
            | i64::from(h[6]);
        let body = file[pos + 11..pos + 11 + size].to_vec();
        tags.push(FlvTag {
            kind: h[0] & 0x1F,
            timestamp_ms: ts,
            body,
        });
        pos += 11 + size + 4;
    }
    tags
}
