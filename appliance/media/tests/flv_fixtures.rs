//! FLV tag bodies from a real ffmpeg capture, and FLV body round trips for AVC, HEVC
//! (Enhanced RTMP and legacy codec id 12) and AAC.
#![allow(clippy::unwrap_used)]

mod common;

use common::{demux_all, fixture, flv_tags, frames};
use relevo_media::flv::{
    audio_config_body, audio_frame_body, audio_is_config, parse_audio, parse_video,
    video_config_body, video_frame_body, video_is_config, video_is_keyframe, FlvAudio, FlvError,
    FlvVideo,
};
use relevo_media::timestamp::ticks_to_ms;
use relevo_media::ts::DemuxEvent;
use relevo_media::Codec;

#[test]
fn ffmpeg_flv_parses_and_round_trips() {
    let tags = flv_tags(&fixture("h264_aac.flv"));
    let (mut video, mut audio, mut vcfg, mut acfg, mut keys) = (0, 0, None, None, 0);
    let mut last_dts = i64::MIN;
    for tag in &tags {
        match tag.kind {
            9 => match parse_video(&tag.body, tag.timestamp_ms).unwrap() {
                FlvVideo::Config(c) => {
                    assert!(video_is_config(&tag.body));
                    assert_eq!(
                        video_config_body(&c, false)[..],
                        tag.body[..],
                        "config body"
                    );
                    vcfg = Some(c);
                }
                FlvVideo::Frame(f) => {
                    assert!(!video_is_config(&tag.body));
                    assert_eq!(video_is_keyframe(&tag.body), f.keyframe);
                    assert!(f.dts > last_dts);
                    last_dts = f.dts;
                    keys += usize::from(f.keyframe);
                    video += 1;
                    let cts = i32::try_from(ticks_to_ms(f.pts - f.dts)).unwrap();
                    let body = video_frame_body(&f, cts, false);
                    assert_eq!(body[..], tag.body[..], "frame body round trip");
                }
                FlvVideo::EndOfSequence => {}
            },
            8 => match parse_audio(&tag.body, tag.timestamp_ms).unwrap() {
                FlvAudio::Config(c) => {
                    assert!(audio_is_config(&tag.body));
                    assert_eq!(audio_config_body(&c)[..], tag.body[..]);
                    acfg = Some(c);
                }
                FlvAudio::Frame(f) => {
                    assert_eq!(audio_frame_body(&f.data)[..], tag.body[..]);
                    audio += 1;
                }
            },
            _ => {}
        }
    }
    assert_eq!((video, audio, keys), (50, 88, 2));
    assert_eq!(vcfg.unwrap().codec, Codec::H264);
    assert_eq!(acfg.unwrap().sample_rate, 44100);
}

/// Real HEVC access units (from the TS fixture) through Enhanced RTMP and legacy id 12.
#[test]
fn hevc_bodies_round_trip() {
    let (events, _) = demux_all(&fixture("h265_aac.ts"));
    let cfg = events
        .iter()
        .find_map(|e| match e {
            DemuxEvent::VideoConfig(c) => Some(c.clone()),
            _ => None,
        })
        .unwrap();
    for enhanced in [true, false] {
        let body = video_config_body(&cfg, enhanced);
        assert_eq!(body[0] & 0x80 != 0, enhanced);
        if enhanced {
            assert_eq!(&body[..5], b"\x90hvc1");
        }
        assert!(video_is_config(&body));
        assert!(!video_is_keyframe(&body));
        assert_eq!(parse_video(&body, 0), Ok(FlvVideo::Config(cfg.clone())));
        for f in frames(&events, Codec::H265) {
            let ms = ticks_to_ms(f.dts);
            let cts = i32::try_from(ticks_to_ms(f.pts) - ms).unwrap();
            let body = video_frame_body(&f, cts, enhanced);
            assert_eq!(video_is_keyframe(&body), f.keyframe);
            let FlvVideo::Frame(back) = parse_video(&body, ms).unwrap() else {
                panic!("not a frame")
            };
            assert_eq!(back.keyframe, f.keyframe);
            assert_eq!(back.dts, ms * 90);
            assert_eq!(back.pts, (ms + i64::from(cts)) * 90);
            // AUDs are dropped on the way to FLV; everything else survives.
            let expect = relevo_media::annexb::from_length_prefixed(
                &relevo_media::annexb::to_length_prefixed(&f.data),
            )
            .unwrap();
            assert_eq!(back.data, expect);
        }
    }
}

#[test]
fn enhanced_packet_types_and_errors() {
    // CodedFramesX (no composition time) with avc1.
    let body = [0x81 | 0x02, b'a', b'v', b'c', b'1', 0, 0, 0, 2, 0x41, 0x9A];
    let FlvVideo::Frame(f) = parse_video(&body, 10).unwrap() else {
        panic!()
    };
    assert!(f.pts == 900 && f.dts == 900 && !f.keyframe && f.codec == Codec::H264);
    assert!(!video_is_keyframe(&body));
    // SequenceEnd.
    assert_eq!(parse_video(b"\x92hvc1", 0), Ok(FlvVideo::EndOfSequence));
    assert_eq!(
        parse_video(&[0x17, 2, 0, 0, 0], 0),
        Ok(FlvVideo::EndOfSequence)
    );
    assert_eq!(
        parse_video(b"\x91av01\0\0\0", 0),
        Err(FlvError::UnsupportedVideoCodec("fourcc \"av01\"".into()))
    );
    assert!(matches!(
        parse_video(&[0x22, 0], 0),
        Err(FlvError::UnsupportedVideoCodec(s)) if s.starts_with("id 2")
    ));
    assert_eq!(
        parse_video(b"\x94hvc1", 0),
        Err(FlvError::UnsupportedVideoPacketType(4))
    );
    assert_eq!(parse_video(&[0x57, 0], 0), Err(FlvError::CommandFrame));
    assert!(matches!(
        parse_video(&[0x17], 0),
        Err(FlvError::Truncated { .. })
    ));
    assert!(matches!(
        parse_video(&[0x17, 1, 0, 0, 0, 0, 0, 0, 9], 0),
        Err(FlvError::Nal(_))
    ));
    // Negative composition time.
    let FlvVideo::Frame(f) = parse_video(&[0x27, 1, 0xFF, 0xFF, 0xD8], 1000).unwrap() else {
        panic!()
    };
    assert_eq!(f.pts, (1000 - 40) * 90);
}
