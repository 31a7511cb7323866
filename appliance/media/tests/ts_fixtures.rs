//! Demuxing real MPEG-TS captured from Debian's ffmpeg (see tests/fixtures/README.md);
//! expected counts are what `ffprobe -count_frames` reports.
#![allow(clippy::unwrap_used)]

mod common;

use common::{demux_all, fixture, frames};
use relevo_media::ts::{DemuxEvent, TsDemuxer, PACKET_SIZE};
use relevo_media::Codec;

struct Case {
    file: &'static str,
    video: Codec,
    video_frames: usize,
    audio_frames: usize,
    sample_rate: u32,
    keyframes: usize,
}

const CASES: &[Case] = &[
    Case {
        file: "h264_aac.ts",
        video: Codec::H264,
        video_frames: 50,
        audio_frames: 95,
        sample_rate: 48000,
        keyframes: 2,
    },
    Case {
        file: "h265_aac.ts",
        video: Codec::H265,
        video_frames: 50,
        audio_frames: 88,
        sample_rate: 44100,
        keyframes: 2,
    },
];

#[test]
fn fixtures_demux_to_expected_frames() {
    for case in CASES {
        let data = fixture(case.file);
        let (events, errors) = demux_all(&data);
        assert_eq!(errors, 0, "{}", case.file);
        let Some(DemuxEvent::Program(tracks)) = events.first() else {
            panic!("{}: first event is not Program", case.file);
        };
        assert_eq!(tracks.len(), 2);
        assert_eq!(tracks[0].codec, Some(case.video));
        assert_eq!(tracks[1].codec, Some(Codec::Aac));

        let video = frames(&events, case.video);
        let audio = frames(&events, Codec::Aac);
        assert_eq!(video.len(), case.video_frames, "{} video", case.file);
        assert_eq!(audio.len(), case.audio_frames, "{} audio", case.file);
        assert_eq!(video.iter().filter(|f| f.keyframe).count(), case.keyframes);
        assert!(video[0].keyframe, "{}: starts at a keyframe", case.file);
        for w in video.windows(2).chain(audio.windows(2)) {
            assert!(w[1].dts > w[0].dts, "{}: DTS not monotonic", case.file);
        }
        // AAC frames inside one PES are spaced 1024 samples apart.
        let step = 1024 * 90_000 / i64::from(case.sample_rate);
        for w in audio.windows(2) {
            assert!((w[1].pts - w[0].pts - step).abs() <= 2, "{}", case.file);
        }
        let configs = events
            .iter()
            .filter(|e| matches!(e, DemuxEvent::VideoConfig(_)))
            .count();
        assert_eq!(configs, 1, "{}: one VideoConfig", case.file);
        let audio_cfg = events.iter().find_map(|e| match e {
            DemuxEvent::AudioConfig(c) => Some(c.clone()),
            _ => None,
        });
        assert_eq!(audio_cfg.map(|c| c.sample_rate), Some(case.sample_rate));
    }
}

#[test]
fn keyframe_start_points_at_the_keyframe_packet() {
    for case in CASES {
        let data = fixture(case.file);
        let mut d = TsDemuxer::new();
        let mut seen = 0;
        for chunk in data.chunks(7 * PACKET_SIZE) {
            let mut events = Vec::new();
            d.push(chunk, &mut events).unwrap();
            for e in &events {
                if let DemuxEvent::KeyframeStart { offset } = e {
                    let pkt = &chunk[*offset..*offset + PACKET_SIZE];
                    assert_eq!(pkt[0], 0x47);
                    assert!(pkt[1] & 0x40 != 0, "PUSI set");
                    let pid = (u16::from(pkt[1] & 0x1F) << 8) | u16::from(pkt[2]);
                    assert_eq!(Some(pid), video_pid(&d));
                    seen += 1;
                }
            }
        }
        assert_eq!(seen, case.keyframes, "{}", case.file);
    }
}

#[test]
fn garbage_between_packets_is_skipped_and_counted() {
    let data = fixture("h264_aac.ts");
    let mut dirty = Vec::new();
    for (i, pkt) in data.chunks(PACKET_SIZE).enumerate() {
        if i == 40 {
            dirty.extend_from_slice(&[0x12, 0x47, 0x00, 0x47]);
        }
        dirty.extend_from_slice(pkt);
    }
    let mut d = TsDemuxer::new();
    let mut events = Vec::new();
    assert!(d.push(&dirty, &mut events).is_err());
    d.flush(&mut events);
    assert!(d.error_count() >= 1);
    assert_eq!(frames(&events, Codec::H264).len(), 50);
}

#[test]
fn truncated_and_random_input_never_panics() {
    let data = fixture("h265_aac.ts");
    let mut d = TsDemuxer::new();
    let mut events = Vec::new();
    for cut in [1usize, 187, 189, 1000, 5000] {
        let _ = d.push(&data[..cut.min(data.len())], &mut events);
    }
    let mut x: u32 = 1;
    let noise: Vec<u8> = (0..20_000)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            if i % 188 == 0 {
                0x47
            } else {
                x as u8
            }
        })
        .collect();
    let _ = d.push(&noise, &mut events);
    d.flush(&mut events);
}

fn video_pid(d: &TsDemuxer) -> Option<u16> {
    d.tracks()?
        .iter()
        .find(|t| t.codec.is_some_and(Codec::is_video))
        .map(|t| t.pid)
}
