//! What a recordings catalogue shows of an MPEG-TS file without demuxing it: the stream
//! types of the first PMT and the timestamp span, from a chunk of the file's head and one
//! of its tail (ISO/IEC 13818-1 §2.4.3, §2.4.4). Sans-IO: the caller reads the chunks.
//!
//! The span is the last PES's DTS (PTS when it has none) minus the first's, on one PID
//! (the first video stream, else the first stream), modulo the 33-bit wrap.

use super::packet::Packet;
use super::pes::parse_header;
use super::psi::{parse_pat, parse_pmt, SectionBuffer};
use super::{TrackInfo, PACKET_SIZE, SYNC_BYTE};

/// The 33-bit PTS/DTS clock wraps (§2.4.3.7).
const TIMESTAMP_MODULO: u64 = 1 << 33;

/// Packets that must line up for an offset to count as the packet boundary: a 0x47 byte
/// inside a payload is common, three in a row at 188-byte steps is not.
const SYNC_RUN: usize = 3;

/// What the head of a file says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TsHead {
    /// The first PMT's elementary streams.
    pub streams: Vec<TrackInfo>,
    /// The PID the span is measured on.
    pub timing_pid: Option<u16>,
    /// Its first DTS (or PTS), 90 kHz.
    pub first: Option<u64>,
}

impl TsHead {
    /// Codec names as ffprobe prints them, one per elementary stream.
    pub fn codecs(&self) -> Vec<String> {
        self.streams
            .iter()
            .map(|s| stream_type_name(s.stream_type))
            .collect()
    }
}

/// ffprobe's name for a stream type (Table 2-34 and the usual private ones), else
/// `0x..`.
pub fn stream_type_name(stream_type: u8) -> String {
    match stream_type {
        0x01 => "mpeg1video",
        0x02 => "mpeg2video",
        0x03 | 0x04 => "mp2",
        0x0F => "aac",
        0x10 => "mpeg4",
        0x11 => "aac_latm",
        0x15 => "timed_id3",
        0x1B => "h264",
        0x24 => "hevc",
        0x81 => "ac3",
        0x86 => "scte_35",
        0x87 => "eac3",
        0x06 => "private_data",
        other => return format!("{other:#04x}"),
    }
    .to_owned()
}

/// Video stream types (§2.4.4.9): the span is measured on video when there is one.
fn is_video(stream_type: u8) -> bool {
    matches!(stream_type, 0x01 | 0x02 | 0x10 | 0x1B | 0x24)
}

/// The offset of the first packet boundary in `buf`.
fn packet_start(buf: &[u8]) -> Option<usize> {
    (0..PACKET_SIZE.min(buf.len())).find(|&o| {
        let run = SYNC_RUN.min((buf.len() - o).div_ceil(PACKET_SIZE).max(1));
        (0..run).all(|k| buf.get(o + k * PACKET_SIZE) == Some(&SYNC_BYTE))
    })
}

/// Whole packets of `buf` from its first boundary.
fn packets(buf: &[u8]) -> impl Iterator<Item = Packet<'_>> {
    let start = packet_start(buf).unwrap_or(buf.len());
    buf[start..]
        .chunks_exact(PACKET_SIZE)
        .filter_map(|p| Packet::parse(p).ok())
}

/// The DTS (or PTS) of a PES that starts in `p`.
fn pes_time(p: &Packet<'_>) -> Option<u64> {
    if !p.pusi {
        return None;
    }
    let h = parse_header(p.pid, p.payload).ok()?;
    h.dts.or(h.pts)
}

/// Reads the PMT and the first timestamp from the head of a file.
pub fn probe_head(buf: &[u8]) -> TsHead {
    let mut head = TsHead::default();
    let mut pat = SectionBuffer::default();
    let mut pmt = SectionBuffer::default();
    let mut pmt_pid = None;
    for p in packets(buf) {
        if p.pid == 0 && pmt_pid.is_none() {
            if let Some(s) = pat.push(p.pusi, p.payload) {
                pmt_pid = parse_pat(&s).ok().flatten();
            }
        } else if Some(p.pid) == pmt_pid && head.timing_pid.is_none() {
            if let Some(Ok(Some(streams))) =
                pmt.push(p.pusi, p.payload).map(|s| parse_pmt(p.pid, &s))
            {
                head.timing_pid = streams
                    .iter()
                    .find(|s| is_video(s.stream_type))
                    .or(streams.first())
                    .map(|s| s.pid);
                head.streams = streams;
            }
        } else if Some(p.pid) == head.timing_pid {
            if let Some(t) = pes_time(&p) {
                head.first = Some(t);
                break;
            }
        }
    }
    head
}

/// The last DTS (or PTS) of `pid` in a chunk of the file's tail.
pub fn last_time(buf: &[u8], pid: u16) -> Option<u64> {
    packets(buf)
        .filter(|p| p.pid == pid)
        .filter_map(|p| pes_time(&p))
        .last()
}

/// `last - first` on the 33-bit clock, in seconds.
pub fn span_s(first: u64, last: u64) -> f64 {
    let ticks = last.wrapping_sub(first) % TIMESTAMP_MODULO;
    ticks as f64 / 90_000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{Codec, Frame, VideoConfig};
    use crate::ts::TsMuxer;
    use bytes::{Bytes, BytesMut};

    #[test]
    fn names_and_spans() {
        assert_eq!(stream_type_name(0x1B), "h264");
        assert_eq!(stream_type_name(0x86), "scte_35");
        assert_eq!(stream_type_name(0x99), "0x99");
        assert_eq!(span_s(90_000, 180_000), 1.0);
        // Across the wrap: 0.5 s before it to 0.5 s after.
        assert_eq!(span_s(TIMESTAMP_MODULO - 45_000, 45_000), 1.0);
    }

    #[test]
    fn finds_the_boundary_past_a_cut_packet() {
        let mut buf = vec![0x47u8; 5];
        buf.extend(std::iter::repeat_n(0u8, 50));
        let mut pkt = vec![0u8; PACKET_SIZE];
        pkt[0] = SYNC_BYTE;
        pkt[3] = 0x10;
        for _ in 0..3 {
            buf.extend_from_slice(&pkt);
        }
        assert_eq!(packet_start(&buf), Some(55));
        assert_eq!(packet_start(&[1, 2, 3]), None);
        assert_eq!(packets(&buf).count(), 3);
    }

    /// A stream from the crate's own muxer: PMT, codecs and the DTS span of 50 frames.
    #[test]
    fn reads_what_the_muxer_writes() {
        let sps = Bytes::from_static(&[0x67, 0x42, 0xc0, 0x0d, 0xda, 0x05, 0x07, 0xe8]);
        let pps = Bytes::from_static(&[0x68, 0xce, 0x3c, 0x80]);
        let config = VideoConfig {
            codec: Codec::H264,
            vps: None,
            sps,
            pps,
        };
        let mut mux = TsMuxer::new(Some(Codec::H264), None);
        mux.set_video_config(config);
        let mut file = BytesMut::new();
        for i in 0..50i64 {
            let f = Frame {
                codec: Codec::H264,
                pts: 90_000 + i * 3600,
                dts: 90_000 + i * 3600,
                keyframe: i % 25 == 0,
                data: Bytes::from_static(&[0, 0, 0, 1, 0x65, 0x88, 0x80]),
            };
            mux.mux(&f, &mut file);
        }
        let head = probe_head(&file[..file.len().min(4096)]);
        assert_eq!(head.codecs(), vec!["h264".to_owned()]);
        assert_eq!(head.first, Some(90_000));
        let pid = head.timing_pid.expect("timing pid");
        // The tail starts mid-packet, as a read of the last bytes does.
        let tail = &file[file.len() - 2000..];
        let last = last_time(tail, pid).expect("last");
        assert_eq!(last, 90_000 + 49 * 3600);
        assert_eq!(span_s(90_000, last), 49.0 * 0.04);
    }
}
