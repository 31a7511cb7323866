//! VIDEODATA bodies: legacy AVC (FLV v10.1 §E.4.3.1, codec id 7), legacy HEVC (codec id
//! 12, the de-facto extension used before Enhanced RTMP) and Enhanced RTMP v1
//! ExVideoTagHeader (veovera enhanced-rtmp, FourCC `avc1` / `hvc1`).

use super::record::{avc_decoder_config, hevc_decoder_config, parse_avc_config, parse_hevc_config};
use super::FlvError;
use crate::annexb::{from_length_prefixed, to_length_prefixed};
use crate::frame::{Codec, Frame, VideoConfig};
use crate::timestamp::ms_to_90k;
use bytes::{BufMut, Bytes, BytesMut};

const CODEC_ID_AVC: u8 = 7;
const CODEC_ID_HEVC: u8 = 12;
const FRAME_TYPE_KEY: u8 = 1;
const FRAME_TYPE_INTER: u8 = 2;
const FRAME_TYPE_COMMAND: u8 = 5;
/// IsExHeader bit of the first byte (Enhanced RTMP).
const EX_HEADER: u8 = 0x80;
const FOURCC_AVC: [u8; 4] = *b"avc1";
const FOURCC_HEVC: [u8; 4] = *b"hvc1";

/// Enhanced RTMP VideoPacketType.
mod packet_type {
    pub const SEQUENCE_START: u8 = 0;
    pub const CODED_FRAMES: u8 = 1;
    pub const SEQUENCE_END: u8 = 2;
    pub const CODED_FRAMES_X: u8 = 3;
}

/// Legacy AVCPacketType.
mod avc_packet_type {
    pub const SEQUENCE_HEADER: u8 = 0;
    pub const NALU: u8 = 1;
    pub const END_OF_SEQUENCE: u8 = 2;
}

/// Composition time offsets are SI24 (FLV v10.1 §E.4.3.1).
const CTS_MIN: i32 = -(1 << 23);
const CTS_MAX: i32 = (1 << 23) - 1;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlvVideo {
    Config(VideoConfig),
    Frame(Frame),
    EndOfSequence,
}

fn truncated(body: &[u8]) -> FlvError {
    FlvError::Truncated {
        what: "video",
        len: body.len(),
    }
}

fn si24(b: &[u8]) -> Option<i32> {
    let b = b.get(..3)?;
    let v = (i32::from(b[0]) << 16) | (i32::from(b[1]) << 8) | i32::from(b[2]);
    Some((v << 8) >> 8)
}

fn codec_name(id: u8) -> String {
    let name = match id {
        2 => "Sorenson H.263",
        3 => "Screen video",
        4 => "On2 VP6",
        5 => "On2 VP6 with alpha",
        6 => "Screen video v2",
        _ => "unknown",
    };
    format!("id {id} ({name})")
}

/// Parses a video tag body. Frame data comes out in Annex B; `dts = ms * 90`,
/// `pts = (ms + cts) * 90`.
pub fn parse_video(body: &[u8], timestamp_ms: i64) -> Result<FlvVideo, FlvError> {
    let b0 = *body.first().ok_or_else(|| truncated(body))?;
    let (frame_type, codec, packet, cts, data) = if b0 & EX_HEADER != 0 {
        let frame_type = (b0 >> 4) & 0x7;
        let packet = b0 & 0x0F;
        if !matches!(packet, 0..=3) {
            return Err(FlvError::UnsupportedVideoPacketType(packet));
        }
        if frame_type == FRAME_TYPE_COMMAND {
            return Err(FlvError::CommandFrame);
        }
        let fourcc: [u8; 4] = body
            .get(1..5)
            .and_then(|f| f.try_into().ok())
            .ok_or_else(|| truncated(body))?;
        let codec = match fourcc {
            FOURCC_AVC => Codec::H264,
            FOURCC_HEVC => Codec::H265,
            other => {
                return Err(FlvError::UnsupportedVideoCodec(format!(
                    "fourcc {:?}",
                    String::from_utf8_lossy(&other)
                )))
            }
        };
        let (packet, cts, data) = match packet {
            packet_type::CODED_FRAMES => {
                let cts = si24(body.get(5..).unwrap_or_default()).ok_or_else(|| truncated(body))?;
                (avc_packet_type::NALU, cts, body.get(8..))
            }
            packet_type::CODED_FRAMES_X => (avc_packet_type::NALU, 0, body.get(5..)),
            packet_type::SEQUENCE_START => (avc_packet_type::SEQUENCE_HEADER, 0, body.get(5..)),
            packet_type::SEQUENCE_END => (avc_packet_type::END_OF_SEQUENCE, 0, body.get(5..)),
            other => return Err(FlvError::UnsupportedVideoPacketType(other)),
        };
        (frame_type, codec, packet, cts, data.unwrap_or_default())
    } else {
        let frame_type = b0 >> 4;
        let codec = match b0 & 0x0F {
            CODEC_ID_AVC => Codec::H264,
            CODEC_ID_HEVC => Codec::H265,
            id => return Err(FlvError::UnsupportedVideoCodec(codec_name(id))),
        };
        if frame_type == FRAME_TYPE_COMMAND {
            return Err(FlvError::CommandFrame);
        }
        let packet = *body.get(1).ok_or_else(|| truncated(body))?;
        let cts = si24(body.get(2..).unwrap_or_default()).ok_or_else(|| truncated(body))?;
        (
            frame_type,
            codec,
            packet,
            cts,
            body.get(5..).unwrap_or_default(),
        )
    };
    match packet {
        avc_packet_type::SEQUENCE_HEADER => Ok(FlvVideo::Config(match codec {
            Codec::H265 => parse_hevc_config(data)?,
            _ => parse_avc_config(data)?,
        })),
        avc_packet_type::NALU => {
            let dts = ms_to_90k(timestamp_ms);
            Ok(FlvVideo::Frame(Frame {
                codec,
                pts: ms_to_90k(timestamp_ms.saturating_add(i64::from(cts))),
                dts,
                keyframe: frame_type == FRAME_TYPE_KEY,
                data: from_length_prefixed(data)?,
            }))
        }
        avc_packet_type::END_OF_SEQUENCE => Ok(FlvVideo::EndOfSequence),
        n => Err(FlvError::UnsupportedVideoPacketType(n)),
    }
}

fn put_si24(b: &mut BytesMut, v: i32) {
    let v = v.clamp(CTS_MIN, CTS_MAX);
    b.put_slice(&v.to_be_bytes()[1..]);
}

/// Sequence-header body. H.264 always uses the legacy AVC header (every RTMP server
/// accepts it); H.265 uses Enhanced RTMP (`enhanced`) or the legacy codec id 12.
/// Returns an empty body for a non-video codec.
pub fn video_config_body(cfg: &VideoConfig, enhanced: bool) -> Bytes {
    let mut b = BytesMut::new();
    match (cfg.codec, enhanced) {
        (Codec::H264, _) => {
            b.put_slice(&[FRAME_TYPE_KEY << 4 | CODEC_ID_AVC, 0, 0, 0, 0]);
            b.put_slice(&avc_decoder_config(cfg));
        }
        (Codec::H265, true) => {
            b.put_u8(EX_HEADER | FRAME_TYPE_KEY << 4 | packet_type::SEQUENCE_START);
            b.put_slice(&FOURCC_HEVC);
            b.put_slice(&hevc_decoder_config(cfg));
        }
        (Codec::H265, false) => {
            b.put_slice(&[FRAME_TYPE_KEY << 4 | CODEC_ID_HEVC, 0, 0, 0, 0]);
            b.put_slice(&hevc_decoder_config(cfg));
        }
        (Codec::Aac, _) => {}
    }
    b.freeze()
}

/// Coded-frame body with 4-byte length-prefixed NAL units (AUDs dropped). H.264 is
/// always legacy; H.265 is Enhanced `CodedFrames` (`enhanced`) or legacy codec id 12.
/// Returns an empty body for a non-video frame.
pub fn video_frame_body(frame: &Frame, cts_ms: i32, enhanced: bool) -> Bytes {
    let ft = if frame.keyframe {
        FRAME_TYPE_KEY
    } else {
        FRAME_TYPE_INTER
    };
    let nals = to_length_prefixed(&frame.data);
    let mut b = BytesMut::with_capacity(8 + nals.len());
    match (frame.codec, enhanced) {
        (Codec::H265, true) => {
            b.put_u8(EX_HEADER | ft << 4 | packet_type::CODED_FRAMES);
            b.put_slice(&FOURCC_HEVC);
        }
        (Codec::H264, _) | (Codec::H265, false) => {
            let id = if frame.codec == Codec::H264 {
                CODEC_ID_AVC
            } else {
                CODEC_ID_HEVC
            };
            b.put_slice(&[ft << 4 | id, avc_packet_type::NALU]);
        }
        (Codec::Aac, _) => return Bytes::new(),
    }
    put_si24(&mut b, cts_ms);
    b.put_slice(&nals);
    b.freeze()
}

/// (frame type, "is a coded frame", "is a sequence header") from the first bytes.
fn peek(body: &[u8]) -> Option<(u8, bool, bool)> {
    let b0 = *body.first()?;
    if b0 & EX_HEADER != 0 {
        let packet = b0 & 0x0F;
        let coded = matches!(
            packet,
            packet_type::CODED_FRAMES | packet_type::CODED_FRAMES_X
        );
        Some((
            (b0 >> 4) & 0x7,
            coded,
            packet == packet_type::SEQUENCE_START,
        ))
    } else {
        match b0 & 0x0F {
            CODEC_ID_AVC | CODEC_ID_HEVC => {
                let packet = *body.get(1)?;
                Some((
                    b0 >> 4,
                    packet == avc_packet_type::NALU,
                    packet == avc_packet_type::SEQUENCE_HEADER,
                ))
            }
            _ => Some((b0 >> 4, true, false)),
        }
    }
}

/// True for a coded keyframe (not for sequence headers).
pub fn video_is_keyframe(body: &[u8]) -> bool {
    peek(body).is_some_and(|(ft, coded, _)| coded && ft == FRAME_TYPE_KEY)
}

/// True for a sequence header (decoder configuration record).
pub fn video_is_config(body: &[u8]) -> bool {
    peek(body).is_some_and(|(_, _, config)| config)
}
