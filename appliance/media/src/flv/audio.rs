//! AUDIODATA with SoundFormat 10 (AAC), FLV v10.1 §E.4.2.

use super::FlvError;
use crate::aac::parse_asc;
use crate::frame::{AudioConfig, Codec, Frame};
use crate::timestamp::ms_to_90k;
use bytes::{BufMut, Bytes, BytesMut};

/// SoundFormat 10 (AAC), 44 kHz, 16-bit, stereo: the fixed header byte for AAC.
const AAC_HEADER: u8 = 0xAF;
const SOUND_FORMAT_AAC: u8 = 10;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlvAudio {
    Config(AudioConfig),
    Frame(Frame),
}

/// Parses an audio tag body. Only AAC is accepted.
pub fn parse_audio(body: &[u8], timestamp_ms: i64) -> Result<FlvAudio, FlvError> {
    let truncated = FlvError::Truncated {
        what: "audio",
        len: body.len(),
    };
    let b0 = *body.first().ok_or(truncated.clone())?;
    let format = b0 >> 4;
    if format != SOUND_FORMAT_AAC {
        return Err(FlvError::UnsupportedAudioCodec(format));
    }
    let packet_type = *body.get(1).ok_or(truncated)?;
    let data = body.get(2..).unwrap_or_default();
    match packet_type {
        0 => Ok(FlvAudio::Config(parse_asc(data)?)),
        1 => {
            let t = ms_to_90k(timestamp_ms);
            Ok(FlvAudio::Frame(Frame {
                codec: Codec::Aac,
                pts: t,
                dts: t,
                keyframe: true,
                data: Bytes::copy_from_slice(data),
            }))
        }
        n => Err(FlvError::UnsupportedAacPacketType(n)),
    }
}

/// `AF 00` + AudioSpecificConfig.
pub fn audio_config_body(cfg: &AudioConfig) -> Bytes {
    let mut b = BytesMut::with_capacity(2 + cfg.asc.len());
    b.put_slice(&[AAC_HEADER, 0]);
    b.put_slice(&cfg.asc);
    b.freeze()
}

/// `AF 01` + raw AAC frame.
pub fn audio_frame_body(raw: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(2 + raw.len());
    b.put_slice(&[AAC_HEADER, 1]);
    b.put_slice(raw);
    b.freeze()
}

/// True for an AAC sequence header (AudioSpecificConfig).
pub fn audio_is_config(body: &[u8]) -> bool {
    matches!(body, [b0, 0, ..] if b0 >> 4 == SOUND_FORMAT_AAC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aac_round_trip() {
        let cfg = parse_asc(&[0x12, 0x10]).expect("44.1k stereo");
        let body = audio_config_body(&cfg);
        assert!(audio_is_config(&body));
        assert_eq!(parse_audio(&body, 0), Ok(FlvAudio::Config(cfg)));
        let body = audio_frame_body(&[1, 2, 3]);
        assert!(!audio_is_config(&body));
        let FlvAudio::Frame(f) = parse_audio(&body, 1000).expect("frame") else {
            panic!("not a frame");
        };
        assert_eq!(
            (f.pts, f.dts, &f.data[..]),
            (90_000, 90_000, &[1u8, 2, 3][..])
        );
    }

    #[test]
    fn errors() {
        assert_eq!(
            parse_audio(&[0x2F, 1, 0], 0),
            Err(FlvError::UnsupportedAudioCodec(2))
        );
        assert!(matches!(
            parse_audio(&[], 0),
            Err(FlvError::Truncated { .. })
        ));
        assert!(matches!(
            parse_audio(&[0xAF], 0),
            Err(FlvError::Truncated { .. })
        ));
        assert_eq!(
            parse_audio(&[0xAF, 7], 0),
            Err(FlvError::UnsupportedAacPacketType(7))
        );
        assert!(matches!(
            parse_audio(&[0xAF, 0, 0x12], 0),
            Err(FlvError::Aac(_))
        ));
    }
}
