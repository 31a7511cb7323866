//! FLV tag bodies for RTMP: video (FLV v10.1 §E.4.3 AVC, the de-facto HEVC codec id 12,
//! and Enhanced RTMP v1 ExVideoTagHeader with `avc1`/`hvc1`) and audio (§E.4.2, AAC only).
//!
//! Works on tag *bodies* (an RTMP message payload or an FLV tag's data), not on FLV file
//! headers or RTMP chunks. Stateless: NAL units are assumed to use 4-byte lengths, which
//! is what every RTMP encoder sends and what [`video_config_body`] declares.

mod audio;
mod record;
mod video;

pub use audio::{audio_config_body, audio_frame_body, audio_is_config, parse_audio, FlvAudio};
pub use record::{avc_decoder_config, hevc_decoder_config, parse_avc_config, parse_hevc_config};
pub use video::{
    parse_video, video_config_body, video_frame_body, video_is_config, video_is_keyframe, FlvVideo,
};

use crate::aac::AacError;
use crate::annexb::AnnexbError;
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FlvError {
    #[error("{what} body is truncated ({len} bytes)")]
    Truncated { what: &'static str, len: usize },
    #[error("unsupported video codec {0}")]
    UnsupportedVideoCodec(String),
    #[error("unsupported audio SoundFormat {0}")]
    UnsupportedAudioCodec(u8),
    #[error("unsupported video packet type {0}")]
    UnsupportedVideoPacketType(u8),
    #[error("unsupported AACPacketType {0}")]
    UnsupportedAacPacketType(u8),
    #[error("video command frame (FrameType 5) carries no picture")]
    CommandFrame,
    #[error("decoder configuration record: {0}")]
    ConfigRecord(&'static str),
    #[error("NAL units: {0}")]
    Nal(#[from] AnnexbError),
    #[error("AAC: {0}")]
    Aac(#[from] AacError),
}
