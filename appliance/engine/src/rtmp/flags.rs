//! Keyframe and sequence-header flags read from the first bytes of an FLV tag body.
//!
//! Legacy layout: FLV spec v10.1, E.4.2.1 (AUDIODATA) and E.4.3.1 (VIDEODATA). Enhanced RTMP
//! (veovera enhanced-rtmp v1/v2): bit 7 of the first video byte is `IsExHeader`, bits 4–6 the
//! frame type and bits 0–3 the `PacketType`; audio `SoundFormat` 9 is `ExHeader` with the
//! `AudioPacketType` in bits 0–3.

use crate::unit::FlvKind;

/// FLV VIDEODATA FrameType 1: a keyframe (seekable frame).
const FRAME_TYPE_KEY: u8 = 1;
/// Legacy CodecID 7: AVC (H.264).
const VIDEO_CODEC_AVC: u8 = 7;
/// Legacy CodecID 12: HEVC as sent by pre-Enhanced-RTMP encoders (the "Chinese" extension).
const VIDEO_CODEC_HEVC_LEGACY: u8 = 12;
/// AVCPacketType 0 / Enhanced PacketType SequenceStart 0: decoder configuration record.
const PACKET_SEQUENCE_HEADER: u8 = 0;
/// SoundFormat 10: AAC.
const SOUND_FORMAT_AAC: u8 = 10;
/// SoundFormat 9: Enhanced RTMP ExHeader (FourCC audio).
const SOUND_FORMAT_EX_HEADER: u8 = 9;

/// Returns `(keyframe, config)` for a tag body; short or unknown bodies give `(false, false)`.
///
/// `keyframe` is only ever true for video; `config` marks AVC/HEVC sequence headers (legacy and
/// Enhanced RTMP `SequenceStart`) and the AAC AudioSpecificConfig (or an Enhanced audio
/// `SequenceStart`).
pub fn tag_flags(kind: FlvKind, body: &[u8]) -> (bool, bool) {
    match kind {
        FlvKind::Video => video_flags(body),
        FlvKind::Audio => (false, audio_config(body)),
        FlvKind::Meta => (false, false),
    }
}

fn video_flags(body: &[u8]) -> (bool, bool) {
    let Some(&first) = body.first() else {
        return (false, false);
    };
    if first & 0x80 != 0 {
        // Enhanced RTMP: IsExHeader | FrameType(3 bits) | PacketType(4 bits), then a FourCC.
        let frame_type = (first >> 4) & 0x07;
        let packet_type = first & 0x0F;
        return (
            frame_type == FRAME_TYPE_KEY,
            packet_type == PACKET_SEQUENCE_HEADER,
        );
    }
    let frame_type = first >> 4;
    let codec = first & 0x0F;
    let config = matches!(codec, VIDEO_CODEC_AVC | VIDEO_CODEC_HEVC_LEGACY)
        && body.get(1) == Some(&PACKET_SEQUENCE_HEADER);
    (frame_type == FRAME_TYPE_KEY, config)
}

fn audio_config(body: &[u8]) -> bool {
    let Some(&first) = body.first() else {
        return false;
    };
    match first >> 4 {
        SOUND_FORMAT_AAC => body.get(1) == Some(&PACKET_SEQUENCE_HEADER),
        SOUND_FORMAT_EX_HEADER => first & 0x0F == PACKET_SEQUENCE_HEADER,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_avc() {
        assert_eq!(
            tag_flags(FlvKind::Video, &[0x17, 0x00, 0, 0, 0]),
            (true, true)
        );
        assert_eq!(
            tag_flags(FlvKind::Video, &[0x17, 0x01, 0, 0, 0]),
            (true, false)
        );
        assert_eq!(
            tag_flags(FlvKind::Video, &[0x27, 0x01, 0, 0, 0]),
            (false, false)
        );
        // A legacy HEVC (codec 12) sequence header.
        assert_eq!(tag_flags(FlvKind::Video, &[0x1C, 0x00]), (true, true));
        // Sorenson H.263 (codec 2) has no sequence header.
        assert_eq!(tag_flags(FlvKind::Video, &[0x12, 0x00]), (true, false));
    }

    #[test]
    fn enhanced_hevc() {
        // IsExHeader | key frame | SequenceStart, FourCC "hvc1".
        assert_eq!(
            tag_flags(FlvKind::Video, &[0x90, b'h', b'v', b'c', b'1']),
            (true, true)
        );
        // IsExHeader | key frame | CodedFramesX (3).
        assert_eq!(
            tag_flags(FlvKind::Video, &[0x93, b'h', b'v', b'c', b'1']),
            (true, false)
        );
        // IsExHeader | inter frame (2) | CodedFrames (1).
        assert_eq!(
            tag_flags(FlvKind::Video, &[0xA1, b'h', b'v', b'c', b'1']),
            (false, false)
        );
    }

    #[test]
    fn audio() {
        assert_eq!(
            tag_flags(FlvKind::Audio, &[0xAF, 0x00, 0x12, 0x10]),
            (false, true)
        );
        assert_eq!(
            tag_flags(FlvKind::Audio, &[0xAF, 0x01, 0x21]),
            (false, false)
        );
        assert_eq!(tag_flags(FlvKind::Audio, &[0x2F, 0x00]), (false, false)); // MP3
        assert_eq!(
            tag_flags(FlvKind::Audio, &[0x90, b'O', b'p', b'u', b's']),
            (false, true)
        );
    }

    #[test]
    fn short_bodies_are_plain() {
        assert_eq!(tag_flags(FlvKind::Video, &[]), (false, false));
        assert_eq!(tag_flags(FlvKind::Video, &[0x17]), (true, false));
        assert_eq!(tag_flags(FlvKind::Audio, &[]), (false, false));
        assert_eq!(tag_flags(FlvKind::Audio, &[0xAF]), (false, false));
        assert_eq!(tag_flags(FlvKind::Meta, &[0x02]), (false, false));
    }
}
