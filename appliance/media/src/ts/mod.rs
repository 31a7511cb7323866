//! MPEG transport stream (ISO/IEC 13818-1): a push-driven demuxer that turns packets into
//! [`DemuxEvent`]s, and a muxer that turns [`Frame`](crate::Frame)s into packets.
//!
//! Only the first program, its first H.264/H.265 stream and its first ADTS AAC stream are
//! reassembled; every elementary stream of the PMT is still reported in
//! [`DemuxEvent::Program`]. No clock recovery is done here: PCR is written, never read.
//!
//! Files: `packet` (§2.4.3.2 header, adaptation field), `psi` (§2.4.4 PAT/PMT, CRC),
//! `pes` (§2.4.3.6 PES header), `demux`, `mux`, `probe` (codecs and span of a recorded
//! file, for the recordings catalogue).

mod demux;
mod mux;
mod packet;
mod pes;
pub mod probe;
mod psi;

pub use demux::TsDemuxer;

/// PID of a TS packet (ISO/IEC 13818-1 §2.4.3.2), or None when `packet` does not start with
/// the sync byte.
pub fn packet_pid(packet: &[u8]) -> Option<u16> {
    match packet {
        [0x47, b1, b2, ..] => Some(u16::from(b1 & 0x1f) << 8 | u16::from(*b2)),
        _ => None,
    }
}
pub use mux::{TsMuxer, AUDIO_PID, PMT_PID, PROGRAM_NUMBER, VIDEO_PID};
pub use psi::{crc32_mpeg2, StreamType};

use crate::aac::AacError;
use crate::frame::{AudioConfig, Codec, Frame, VideoConfig};
use thiserror::Error;

/// Transport packet size (§2.4.3.2).
pub const PACKET_SIZE: usize = 188;

/// Sync byte (§2.4.3.3).
pub const SYNC_BYTE: u8 = 0x47;

/// Largest PES the demuxer buffers. An H.264 level 6.2 frame at the maximum CPB size is
/// ~100 Mbit, but real 4K keyframes stay below a few MiB; 16 MiB bounds memory against a
/// hostile stream that never ends a PES.
pub const MAX_PES_SIZE: usize = 16 * 1024 * 1024;

/// Largest PSI section (§2.4.4.1: section_length <= 1021 for PAT/PMT, plus 3 header bytes).
pub const MAX_SECTION_SIZE: usize = 1024;

/// One elementary stream of the PMT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackInfo {
    pub pid: u16,
    pub stream_type: u8,
    /// `None` for stream types Relevo does not reassemble (second audio, data, ...).
    pub codec: Option<Codec>,
    /// format_identifier of the stream's registration descriptor (§2.6.8, tag 5), such as
    /// `Opus`, `AC-3` or `EAC3`: what a private stream (stream_type 0x06) carries.
    pub registration: Option<[u8; 4]>,
    /// Tags of the stream's other descriptors, in order: DVB names a private stream's
    /// codec this way (ETSI EN 300 468 §6.1: AC-3 0x6A, E-AC-3 0x7A, DTS 0x7B, AAC 0x7C).
    pub descriptor_tags: Vec<u8>,
}

/// What the demuxer found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DemuxEvent {
    /// A new or changed PMT: all its elementary streams.
    Program(Vec<TrackInfo>),
    /// In-band parameter sets, first seen or changed.
    VideoConfig(VideoConfig),
    /// ADTS configuration, first seen or changed.
    AudioConfig(AudioConfig),
    Frame(Frame),
    /// The packet at byte `offset` of the pushed data starts a video PES a decoder can start
    /// from (random_access_indicator, or an IDR/IRAP/SPS NAL in that packet).
    KeyframeStart {
        offset: usize,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TsError {
    #[error("no sync byte: skipped {skipped} bytes at offset {offset}")]
    Sync { offset: usize, skipped: usize },
    #[error("{0} trailing bytes are not a whole packet")]
    PartialPacket(usize),
    #[error("transport_error_indicator set on PID {0:#x}")]
    TransportError(u16),
    #[error("adaptation_field_length {length} on PID {pid:#x} exceeds the packet")]
    AdaptationFieldLength { pid: u16, length: u8 },
    #[error("continuity_counter on PID {pid:#x} jumped from {expected} (expected) to {got}")]
    Continuity { pid: u16, expected: u8, got: u8 },
    #[error("PSI table_id {found:#x} on PID {pid:#x}, expected {expected:#x}")]
    TableId { pid: u16, expected: u8, found: u8 },
    #[error("PSI section_length {0} is out of range")]
    SectionLength(usize),
    #[error("PSI CRC_32 mismatch on table {table_id:#x}: carried {carried:#010x}, computed {computed:#010x}")]
    Crc {
        table_id: u8,
        carried: u32,
        computed: u32,
    },
    #[error("PMT es_info_length or program_info_length {0} overruns the section")]
    PmtLength(usize),
    #[error("PES on PID {pid:#x} does not start with 00 00 01 (found {found:02x?})")]
    PesStartCode { pid: u16, found: [u8; 3] },
    #[error("PES header on PID {pid:#x} is truncated ({len} bytes)")]
    PesHeaderTruncated { pid: u16, len: usize },
    #[error("PES on PID {pid:#x} has no PTS")]
    PesMissingPts { pid: u16 },
    #[error("PES on PID {pid:#x} grew past {size} bytes (limit {MAX_PES_SIZE})")]
    PesTooLarge { pid: u16, size: usize },
    #[error("ADTS in PES on PID {pid:#x}: {source}")]
    Adts { pid: u16, source: AacError },
}

#[cfg(test)]
mod packet_pid_tests {
    use super::packet_pid;

    #[test]
    fn reads_the_13_bit_pid_and_refuses_non_packets() {
        assert_eq!(packet_pid(&[0x47, 0x40, 0x00, 0x10]), Some(0));
        assert_eq!(packet_pid(&[0x47, 0x1f, 0xff]), Some(0x1fff));
        assert_eq!(packet_pid(&[0x00, 0x40, 0x00]), None);
        assert_eq!(packet_pid(&[0x47]), None);
    }
}
