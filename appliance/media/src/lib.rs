//! Pure, sans-IO media containers for Relevo.
//!
//! Bytes go in, typed values or events come out: no sockets, no runtime, no logging, no
//! `unsafe`, and no panics on network input. Access units are [`bytes::Bytes`] so the hub
//! can share them between outputs without copying.
//!
//! Layout:
//! - [`frame`]: the codec-neutral access unit ([`frame::Frame`]) and codec configurations.
//! - [`timestamp`]: 90 kHz helpers and the 33-bit MPEG timestamp unwrapper.
//! - [`streamid`]: SRT `streamid` parsing (access-control syntax and common encoder forms).
//! - [`annexb`]: H.264/H.265 Annex B and length-prefixed NAL unit framing.
//! - `sps`: the fields of H.264/H.265 SPSs that containers repeat (chroma, depth, size).
//! - [`aac`]: ADTS framing and AudioSpecificConfig.
//! - [`ts`]: MPEG-TS (ISO/IEC 13818-1) demuxer and muxer.
//! - [`flv`]: FLV video/audio tag bodies (FLV v10.1 and Enhanced RTMP v1).
//! - [`mp4`]: fragmented MP4 (ISO BMFF / CMAF) muxer for recording and HLS.
//! - [`hls`]: the in-memory Low-Latency HLS window (parts, segments, media playlist).

mod bits;

pub mod aac;
pub mod annexb;
pub mod flv;
pub mod frame;
pub mod hls;
pub mod mp4;
mod sps;
pub mod streamid;
pub mod timestamp;
pub mod ts;

pub use frame::{AudioConfig, Codec, Frame, VideoConfig};
