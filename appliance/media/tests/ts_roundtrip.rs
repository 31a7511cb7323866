//! TsMuxer -> TsDemuxer round trips, and TsMuxer output checked by ffprobe (a real peer).
#![allow(clippy::unwrap_used)]

mod common;

use bytes::{Bytes, BytesMut};
use common::{demux_all, fixture, frames};
use relevo_media::aac::parse_asc;
use relevo_media::annexb::join;
use relevo_media::timestamp::TS_WRAP;
use relevo_media::ts::{DemuxEvent, TsMuxer};
use relevo_media::{AudioConfig, Codec, Frame, VideoConfig};
use std::process::Command;

const SPS: &[u8] = &[0x67, 0x64, 0x00, 0x0C, 0xAC, 0xD9, 0x42, 0x8F];
const PPS: &[u8] = &[0x68, 0xEB, 0xE3, 0xCB, 0x22, 0xC0];
const AUD: &[u8] = &[0x09, 0xF0];

fn video_frames(start: i64, n: usize) -> Vec<Frame> {
    (0..n)
        .map(|i| {
            let key = i % 10 == 0;
            // Slice data with no zero bytes, sized to cross packet boundaries.
            let slice: Vec<u8> = std::iter::once(if key { 0x65 } else { 0x41 })
                .chain((0..(if key { 900 } else { 150 + i * 7 })).map(|j| (j % 250 + 1) as u8))
                .collect();
            let data = if key {
                join([AUD, SPS, PPS, &slice[..]])
            } else {
                join([AUD, &slice[..]])
            };
            let dts = start + i as i64 * 3600;
            Frame {
                codec: Codec::H264,
                pts: dts + if key { 3600 } else { 7200 },
                dts,
                keyframe: key,
                data,
            }
        })
        .collect()
}

fn audio_config() -> AudioConfig {
    parse_asc(&[0x11, 0x90]).unwrap() // AAC-LC 48 kHz stereo
}

fn audio_frames(start: i64, n: usize) -> Vec<Frame> {
    (0..n)
        .map(|i| {
            let t = start + i as i64 * 1920; // 1024 samples at 48 kHz
            Frame {
                codec: Codec::Aac,
                pts: t,
                dts: t,
                keyframe: true,
                data: Bytes::from(vec![(i % 200) as u8 + 1; 100 + i % 50]),
            }
        })
        .collect()
}

fn interleave(mut frames: Vec<Frame>) -> Vec<Frame> {
    frames.sort_by_key(|f| f.dts);
    frames
}

fn mux(frames: &[Frame], video: Option<Codec>, vcfg: Option<VideoConfig>) -> BytesMut {
    let mut m = TsMuxer::new(video, Some(Codec::Aac));
    if let Some(c) = vcfg {
        m.set_video_config(c);
    }
    m.set_audio_config(audio_config());
    let mut out = BytesMut::new();
    for f in frames {
        m.mux(f, &mut out);
    }
    out
}

fn round_trip(start: i64) {
    let v = video_frames(start, 40);
    let a = audio_frames(start, 70);
    let out = mux(
        &interleave([v.clone(), a.clone()].concat()),
        Some(Codec::H264),
        None,
    );
    assert_eq!(out.len() % 188, 0);
    let (events, errors) = demux_all(&out);
    assert_eq!(errors, 0);
    assert_eq!(frames(&events, Codec::H264), v);
    assert_eq!(frames(&events, Codec::Aac), a);
    assert!(events
        .iter()
        .any(|e| matches!(e, DemuxEvent::AudioConfig(c) if *c == audio_config())));
}

#[test]
fn h264_aac_round_trip() {
    round_trip(900_000);
}

#[test]
fn h264_aac_round_trip_across_33_bit_wrap() {
    let start = TS_WRAP - 50_000;
    let v = video_frames(start, 40);
    assert!(v.last().unwrap().dts > TS_WRAP, "test crosses the wrap");
    round_trip(start);
}

#[test]
fn parameter_sets_and_aud_are_inserted_on_keyframes() {
    let idr = [0x65u8, 0x88, 0x84, 0x21];
    let frame = Frame {
        codec: Codec::H264,
        pts: 0,
        dts: 0,
        keyframe: true,
        data: join([&idr[..]]),
    };
    let cfg = VideoConfig {
        codec: Codec::H264,
        vps: None,
        sps: Bytes::from_static(SPS),
        pps: Bytes::from_static(PPS),
    };
    let out = mux(
        std::slice::from_ref(&frame),
        Some(Codec::H264),
        Some(cfg.clone()),
    );
    let (events, _) = demux_all(&out);
    let got = frames(&events, Codec::H264);
    assert_eq!(got[0].data, join([AUD, SPS, PPS, &idr[..]]));
    assert!(events.contains(&DemuxEvent::VideoConfig(cfg)));
}

#[test]
fn audio_without_config_is_skipped() {
    let mut m = TsMuxer::new(None, Some(Codec::Aac));
    let mut out = BytesMut::new();
    m.mux(&audio_frames(0, 1)[0], &mut out);
    assert!(out.is_empty());
}

fn ffprobe_counts(path: &std::path::Path) -> Option<Vec<(String, usize)>> {
    let out = match Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-show_entries"])
        .args(["stream=index,codec_name,nb_read_frames", "-of", "csv=p=0"])
        .arg(path)
        .output()
    {
        Ok(o) => o,
        Err(e) => {
            eprintln!("SKIPPED: ffprobe not runnable ({e}); install ffmpeg to run this test");
            return None;
        }
    };
    assert!(
        out.status.success(),
        "ffprobe failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "ffprobe complained: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // ffprobe lists each stream twice for TS (under the program and on its own).
    let by_index: std::collections::BTreeMap<usize, (String, usize)> =
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let f: Vec<&str> = l.trim().split(',').collect();
                (
                    f[0].parse().unwrap(),
                    (f[1].to_owned(), f[2].parse().unwrap()),
                )
            })
            .collect();
    Some(by_index.into_values().collect())
}

/// Demuxes a fixture, remuxes it with TsMuxer and lets ffprobe decode the result.
#[test]
fn ffprobe_accepts_remuxed_fixtures() {
    for (file, codec, name, video_n, audio_n) in [
        ("h264_aac.ts", Codec::H264, "h264", 50, 95),
        ("h265_aac.ts", Codec::H265, "hevc", 50, 88),
    ] {
        let (events, _) = demux_all(&fixture(file));
        let mut m = TsMuxer::new(Some(codec), Some(Codec::Aac));
        let mut out = BytesMut::new();
        for e in &events {
            match e {
                DemuxEvent::VideoConfig(c) => m.set_video_config(c.clone()),
                DemuxEvent::AudioConfig(c) => m.set_audio_config(c.clone()),
                DemuxEvent::Frame(f) => m.mux(f, &mut out),
                _ => {}
            }
        }
        let path = std::env::temp_dir().join(format!("relevo-media-{}-{file}", std::process::id()));
        std::fs::write(&path, &out).unwrap();
        let counts = ffprobe_counts(&path);
        let _ = std::fs::remove_file(&path);
        let Some(counts) = counts else { return };
        assert_eq!(
            counts,
            vec![(name.to_owned(), video_n), ("aac".to_owned(), audio_n)],
            "{file}"
        );
    }
}
