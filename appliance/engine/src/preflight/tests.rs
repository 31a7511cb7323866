use relevo_media::ts::TrackInfo;

use super::*;
use crate::metrics::CompatSeverity::{Error, Warning};
use crate::rtmp::RtmpUrl;
use crate::spec::{Latency, RecordSpec, Retention, SegmentDuration, SrtCaller, StreamKey};

fn codecs(video: Option<&str>, audio: Option<&str>) -> StreamCodecs {
    StreamCodecs {
        video: video.map(str::to_owned),
        audio: audio.map(str::to_owned),
    }
}

fn push(url: &str, enhanced: bool, platform: Option<Platform>) -> OutputKind {
    OutputKind::PushRtmp {
        url: RtmpUrl::parse(url).expect("url"),
        enhanced,
        platform,
    }
}

fn legacy() -> OutputKind {
    push("rtmp://127.0.0.1/live/k", false, None)
}

fn youtube(enhanced: bool) -> OutputKind {
    push("rtmp://127.0.0.1/live/k", enhanced, Some(Platform::YouTube))
}

fn record(format: RecordFormat) -> OutputKind {
    OutputKind::Record(RecordSpec {
        format,
        segment: SegmentDuration::DEFAULT,
        retention: Retention::default(),
    })
}

fn key() -> StreamKey {
    StreamKey::new("reader-key-1").expect("key")
}

/// (severity, code, track, found, accepted) of each problem.
fn summary(
    p: &[CompatProblem],
) -> Vec<(
    CompatSeverity,
    &'static str,
    &'static str,
    &str,
    Vec<&'static str>,
)> {
    p.iter()
        .map(|p| {
            (
                p.severity,
                p.code,
                p.track,
                p.found.as_str(),
                p.accepted.clone(),
            )
        })
        .collect()
}

#[test]
fn legacy_rtmp_takes_h264_with_aac_or_mp3_and_tells_how_to_send_h265() {
    for audio in [Some("aac"), Some("mp3"), None] {
        assert!(check(&codecs(Some("h264"), audio), &legacy()).is_empty());
    }
    // Audio only is fine for a generic RTMP server.
    assert!(check(&codecs(None, Some("aac")), &legacy()).is_empty());
    let p = check(&codecs(Some("h265"), Some("aac")), &legacy());
    assert_eq!(
        summary(&p),
        [(Error, H265_NEEDS_ENHANCED, "video", "h265", vec!["h264"])]
    );
    assert!(p[0].message.contains("Enhanced RTMP"), "{}", p[0].message);
    assert!(p[0].message.contains("H.264"), "{}", p[0].message);
    let p = check(&codecs(Some("mpeg2video"), Some("aac")), &legacy());
    assert_eq!(
        summary(&p),
        [(Error, VIDEO_CODEC, "video", "mpeg2video", vec!["h264"])]
    );
    assert!(p[0].message.contains("MPEG-2 video"), "{}", p[0].message);
}

#[test]
fn rtmp_refuses_audio_the_remux_cannot_carry() {
    for audio in ["opus", "ac3", "eac3", "mpeg_audio", "aac_latm"] {
        let p = check(&codecs(Some("h264"), Some(audio)), &legacy());
        assert_eq!(
            summary(&p),
            [(Error, AUDIO_CODEC, "audio", audio, vec!["aac", "mp3"])],
            "{audio}"
        );
        assert!(p[0]
            .message
            .contains("set the encoder's audio codec to AAC"));
        assert!(p[0].message.contains("remux"), "{}", p[0].message);
    }
    // Both tracks wrong: both reported, video first.
    let p = check(&codecs(Some("vc1"), Some("opus")), &legacy());
    assert_eq!(
        p.iter().map(|p| p.code).collect::<Vec<_>>(),
        [VIDEO_CODEC, AUDIO_CODEC]
    );
}

#[test]
fn enhanced_rtmp_also_takes_h265() {
    let enhanced = push("rtmp://127.0.0.1/live/k", true, None);
    assert!(check(&codecs(Some("h265"), Some("aac")), &enhanced).is_empty());
    assert!(check(&codecs(Some("h264"), Some("mp3")), &enhanced).is_empty());
    let p = check(&codecs(Some("h266"), Some("aac")), &enhanced);
    assert_eq!(
        summary(&p),
        [(Error, VIDEO_CODEC, "video", "h266", vec!["h264", "h265"])]
    );
}

#[test]
fn youtube_takes_h264_h265_over_enhanced_rtmp_and_aac_or_mp3() {
    assert!(check(&codecs(Some("h264"), Some("aac")), &youtube(false)).is_empty());
    assert!(check(&codecs(Some("h264"), Some("mp3")), &youtube(false)).is_empty());
    assert!(check(&codecs(Some("h265"), Some("aac")), &youtube(true)).is_empty());
    let p = check(&codecs(Some("h265"), Some("aac")), &youtube(false));
    assert_eq!(p[0].code, H265_NEEDS_ENHANCED);
    assert!(p[0].message.starts_with("The input's video is H.265"));
    assert!(p[0].message.contains("YouTube"), "{}", p[0].message);
    for audio in ["opus", "ac3"] {
        let p = check(&codecs(Some("h264"), Some(audio)), &youtube(true));
        assert_eq!(
            summary(&p),
            [(Error, AUDIO_CODEC, "audio", audio, vec!["aac", "mp3"])]
        );
        assert!(p[0].message.starts_with("YouTube takes AAC or MP3 audio"));
    }
}

#[test]
fn twitch_and_facebook_take_h264_and_aac_only() {
    for platform in [Platform::Twitch, Platform::Facebook] {
        for enhanced in [false, true] {
            let out = push("rtmp://127.0.0.1/app/k", enhanced, Some(platform));
            assert!(check(&codecs(Some("h264"), Some("aac")), &out).is_empty());
            // Enhanced RTMP does not help: the platform's ingest takes H.264.
            let p = check(&codecs(Some("h265"), Some("aac")), &out);
            assert_eq!(
                summary(&p),
                [(Error, VIDEO_CODEC, "video", "h265", vec!["h264"])]
            );
            let p = check(&codecs(Some("h264"), Some("mp3")), &out);
            assert_eq!(
                summary(&p),
                [(Error, AUDIO_CODEC, "audio", "mp3", vec!["aac"])]
            );
        }
    }
}

#[test]
fn platforms_need_video_and_warn_without_audio() {
    for platform in Platform::ALL {
        let out = push("rtmp://127.0.0.1/app/k", false, Some(platform));
        let p = check(&codecs(Some("h264"), None), &out);
        assert_eq!(
            summary(&p),
            [(Warning, NO_AUDIO, "audio", "none", out_audio(platform))]
        );
        assert!(!has_error(&p));
        let p = check(&codecs(None, Some("aac")), &out);
        assert_eq!(
            summary(&p),
            [(Error, NO_VIDEO, "video", "none", vec!["h264"])]
        );
        assert!(has_error(&p));
    }
}

fn out_audio(platform: Platform) -> Vec<&'static str> {
    match platform {
        Platform::YouTube => vec!["aac", "mp3"],
        _ => vec!["aac"],
    }
}

#[test]
fn the_platform_is_found_from_the_url_host_unless_set() {
    let yt = push("rtmp://a.rtmp.youtube.com/live2/k", false, None);
    assert_eq!(platform_of(&yt), Some(Platform::YouTube));
    assert_eq!(check(&codecs(Some("h264"), None), &yt)[0].code, NO_AUDIO);
    let twitch = push("rtmp://live.twitch.tv/app/k", true, None);
    assert_eq!(platform_of(&twitch), Some(Platform::Twitch));
    assert_eq!(
        check(&codecs(Some("h265"), Some("aac")), &twitch)[0].code,
        VIDEO_CODEC
    );
    // Set on the output, it wins over the host.
    let set = push(
        "rtmp://live.twitch.tv/app/k",
        false,
        Some(Platform::Facebook),
    );
    assert_eq!(platform_of(&set), Some(Platform::Facebook));
    assert_eq!(platform_of(&legacy()), None);
}

#[test]
fn srt_and_ts_recordings_take_anything() {
    let caller = SrtCaller {
        host: "127.0.0.1".into(),
        port: 9000,
        stream_id: None,
        security: None,
        latency: Latency::DEFAULT,
        allow_private: true,
    };
    let pull = OutputKind::PullSrt {
        key: key(),
        security: None,
        latency: Latency::DEFAULT,
    };
    for kind in [OutputKind::PushSrt(caller), pull, record(RecordFormat::Ts)] {
        for c in [
            codecs(Some("mpeg2video"), Some("opus")),
            codecs(None, None),
            codecs(Some("h265"), Some("ac3")),
        ] {
            assert!(check(&c, &kind).is_empty(), "{kind:?} {c:?}");
        }
    }
}

#[test]
fn hls_and_mp4_recordings_take_what_the_fmp4_muxer_writes() {
    for kind in [
        OutputKind::PullHls { key: key() },
        record(RecordFormat::Mp4),
    ] {
        for v in ["h264", "h265"] {
            assert!(check(&codecs(Some(v), Some("aac")), &kind).is_empty());
        }
        // Audio-only and video-only streams are muxed.
        assert!(check(&codecs(None, Some("aac")), &kind).is_empty());
        assert!(check(&codecs(Some("h264"), None), &kind).is_empty());
        let p = check(&codecs(Some("h264"), Some("mp3")), &kind);
        assert_eq!(
            summary(&p),
            [(Error, AUDIO_CODEC, "audio", "mp3", vec!["aac"])]
        );
        assert!(p[0].message.contains("fMP4"), "{}", p[0].message);
        let p = check(&codecs(Some("mpeg2video"), Some("aac")), &kind);
        assert_eq!(
            summary(&p),
            [(
                Error,
                VIDEO_CODEC,
                "video",
                "mpeg2video",
                vec!["h264", "h265"]
            )]
        );
    }
}

#[test]
fn rtmp_playback_takes_h264_h265_and_aac_or_mp3() {
    let kind = OutputKind::PullRtmp { key: key() };
    assert!(check(&codecs(Some("h265"), Some("mp3")), &kind).is_empty());
    assert!(check(&codecs(None, None), &kind).is_empty());
    assert_eq!(
        check(&codecs(Some("h264"), Some("opus")), &kind)[0].code,
        AUDIO_CODEC
    );
}

fn track(stream_type: u8, registration: Option<&[u8; 4]>, tags: &[u8]) -> TrackInfo {
    TrackInfo {
        pid: 0x100,
        stream_type,
        codec: None,
        registration: registration.copied(),
        descriptor_tags: tags.to_vec(),
    }
}

#[test]
fn program_codecs_name_private_streams_by_their_descriptors() {
    let c = codecs_of_program(&[
        track(0x86, None, &[]), // SCTE-35: data, not a track here
        track(0x24, None, &[]),
        track(0x06, Some(b"Opus"), &[0x7F]),
        track(0x0F, None, &[]), // a second audio track: the first one counts
    ]);
    assert_eq!(c, codecs(Some("h265"), Some("opus")));
    // AC-3 the ATSC way (0x81), the DVB way (0x06 + AC-3 descriptor) and by registration.
    for t in [
        track(0x81, None, &[]),
        track(0x06, None, &[0x0A, 0x6A]),
        track(0x06, Some(b"AC-3"), &[]),
    ] {
        let c = codecs_of_program(&[track(0x1B, None, &[]), t]);
        assert_eq!(c, codecs(Some("h264"), Some("ac3")));
    }
    // A private stream nobody names (teletext, KLV) is not an audio track.
    let c = codecs_of_program(&[track(0x1B, None, &[]), track(0x06, Some(b"KLVA"), &[0x56])]);
    assert_eq!(c, codecs(Some("h264"), None));
    assert_eq!(
        codecs_of_program(&[track(0x03, None, &[])]),
        codecs(None, Some("mpeg_audio"))
    );
}

#[test]
fn flv_video_is_named_from_the_codec_id_or_the_enhanced_fourcc() {
    assert_eq!(video_of_flv(&[0x17, 0x00]).as_deref(), Some("h264"));
    assert_eq!(video_of_flv(&[0x24]).as_deref(), Some("vp6"));
    assert_eq!(video_of_flv(&[0x22]).as_deref(), Some("h263"));
    // Enhanced RTMP: keyframe, sequence start, FourCC.
    assert_eq!(
        video_of_flv(&[0x90, b'h', b'v', b'c', b'1']).as_deref(),
        Some("h265")
    );
    assert_eq!(
        video_of_flv(&[0x91, b'a', b'v', b'0', b'1']).as_deref(),
        Some("av1")
    );
    // Multitrack: a track type byte before the FourCC.
    assert_eq!(
        video_of_flv(&[0x96, 0x00, b'v', b'p', b'0', b'9']).as_deref(),
        Some("vp9")
    );
    assert_eq!(video_of_flv(&[0x90, b'a']).as_deref(), Some("other"));
    assert_eq!(video_of_flv(&[]), None);
}

#[test]
fn flv_audio_is_named_from_the_sound_format_or_the_enhanced_fourcc() {
    assert_eq!(audio_of_flv(&[0xAF, 0x00]).as_deref(), Some("aac"));
    assert_eq!(audio_of_flv(&[0x2F]).as_deref(), Some("mp3"));
    assert_eq!(audio_of_flv(&[0xBF]).as_deref(), Some("speex"));
    assert_eq!(
        audio_of_flv(&[0x90, b'O', b'p', b'u', b's']).as_deref(),
        Some("opus")
    );
    assert_eq!(
        audio_of_flv(&[0x91, b'a', b'c', b'-', b'3']).as_deref(),
        Some("ac3")
    );
    // Multitrack: a track type byte before the FourCC.
    assert_eq!(
        audio_of_flv(&[0x95, 0x00, b'e', b'c', b'-', b'3']).as_deref(),
        Some("eac3")
    );
    assert_eq!(audio_of_flv(&[0x90, b'O']).as_deref(), Some("other"));
    assert_eq!(audio_of_flv(&[]), None);
}
