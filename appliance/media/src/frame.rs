//! The codec-neutral access unit shared by every remux path, and codec configurations.
//!
//! This module holds plain data only; parsing lives in [`crate::annexb`], [`crate::aac`],
//! [`crate::ts`] and [`crate::flv`].

use bytes::Bytes;

/// Codecs Relevo carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// ITU-T H.264 / AVC.
    H264,
    /// ITU-T H.265 / HEVC.
    H265,
    /// MPEG-4 AAC (ISO/IEC 14496-3).
    Aac,
}

impl Codec {
    /// True for H.264 and H.265.
    pub fn is_video(self) -> bool {
        matches!(self, Codec::H264 | Codec::H265)
    }
}

/// One compressed access unit.
///
/// `pts`/`dts` are in 90 kHz ticks, unwrapped (monotonic `i64`, may exceed 33 bits).
/// Video `data` is one access unit in Annex B (`00 00 00 01` start codes); audio `data`
/// is one raw AAC frame (no ADTS header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub codec: Codec,
    pub pts: i64,
    pub dts: i64,
    pub keyframe: bool,
    pub data: Bytes,
}

/// H.264/H.265 parameter sets: NAL units without start codes; `vps` only for H.265.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoConfig {
    pub codec: Codec,
    pub vps: Option<Bytes>,
    pub sps: Bytes,
    pub pps: Bytes,
}

/// AAC decoder configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioConfig {
    /// AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1).
    pub asc: Bytes,
    /// Core sample rate in Hz (the rate one 1024-sample frame is timed against).
    pub sample_rate: u32,
    /// Channel count (0 when the configuration is in a program config element).
    pub channels: u8,
}
