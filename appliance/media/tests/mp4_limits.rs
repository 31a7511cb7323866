//! The fMP4 muxer's limits and refusals, with synthetic H.264 access units (real SPS/PPS
//! from the h264_aac.ts fixture; the slices are not decoded here, the boxes are read back
//! with mp4-atom).
#![allow(clippy::unwrap_used)]

mod common;

use bytes::Bytes;
use common::{demux_all, fixture};
use mp4_atom::{Any, DecodeMaybe, Moof};
use relevo_media::mp4::{
    Fmp4Muxer, Fmp4Options, Fragment, Mp4Error, TrackConfig, MAX_FRAGMENT_BYTES,
    MAX_FRAGMENT_SAMPLES,
};
use relevo_media::timestamp::TS_WRAP;
use relevo_media::ts::DemuxEvent;
use relevo_media::{AudioConfig, Codec, Frame, VideoConfig};

fn h264_config() -> VideoConfig {
    let (events, _) = demux_all(&fixture("h264_aac.ts"));
    events
        .into_iter()
        .find_map(|e| match e {
            DemuxEvent::VideoConfig(c) => Some(c),
            _ => None,
        })
        .unwrap()
}

/// An Annex B access unit of one slice NAL (IDR or not) with `len` bytes in all.
fn au(keyframe: bool, len: usize) -> Bytes {
    let mut v = vec![0, 0, 0, 1, if keyframe { 0x65 } else { 0x41 }];
    v.resize(len.max(6), 0x5A);
    Bytes::from(v)
}

fn video(dts: i64, keyframe: bool, len: usize) -> Frame {
    Frame {
        codec: Codec::H264,
        pts: dts,
        dts,
        keyframe,
        data: au(keyframe, len),
    }
}

fn video_muxer() -> Fmp4Muxer {
    Fmp4Muxer::new(
        vec![TrackConfig::Video(h264_config())],
        Fmp4Options::default(),
    )
    .unwrap()
}

fn moof(f: &Fragment) -> Moof {
    let mut data = f.data.as_ref();
    match Any::decode_maybe(&mut data).unwrap() {
        Some(Any::Moof(m)) => m,
        other => panic!("not a moof: {other:?}"),
    }
}

#[test]
fn a_gop_longer_than_the_sample_limit_is_cut_without_a_keyframe() {
    let mut m = video_muxer();
    let mut out = Vec::new();
    m.push(0, &video(0, true, 16), &mut out).unwrap();
    for i in 1..=MAX_FRAGMENT_SAMPLES as i64 {
        m.push(0, &video(i * 3600, false, 16), &mut out).unwrap();
    }
    assert_eq!(out.len(), 1);
    assert_eq!(
        moof(&out[0]).traf[0].trun[0].samples.len(),
        MAX_FRAGMENT_SAMPLES
    );
    assert!(out[0].independent);
    m.flush(&mut out).unwrap();
    assert_eq!(out.len(), 2);
    assert!(!out[1].independent, "starts with a non-sync sample");
    assert_eq!(m.stats().forced_cuts, 1);
    assert_eq!(out[1].start_90k, MAX_FRAGMENT_SAMPLES as i64 * 3600);
}

#[test]
fn the_byte_limit_cuts_and_a_larger_sample_is_refused() {
    let mut m = video_muxer();
    let mut out = Vec::new();
    // Exactly at the limit: accepted.
    m.push(0, &video(0, true, MAX_FRAGMENT_BYTES), &mut out)
        .unwrap();
    // The next sample would take the fragment past the limit: forced cut before it.
    m.push(0, &video(3600, false, 100), &mut out).unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(m.stats().forced_cuts, 1);
    assert!(out[0].data.len() > MAX_FRAGMENT_BYTES);
    let too_big = video(7200, false, MAX_FRAGMENT_BYTES + 1);
    assert_eq!(
        m.push(0, &too_big, &mut out),
        Err(Mp4Error::SampleTooLarge {
            track: 0,
            len: MAX_FRAGMENT_BYTES + 1,
            max: MAX_FRAGMENT_BYTES
        })
    );
    m.push(0, &video(7200, false, 100), &mut out).unwrap();
    m.flush(&mut out).unwrap();
    assert_eq!(moof(&out[1]).traf[0].trun[0].samples.len(), 2);
}

#[test]
fn timestamps_past_the_33_bit_wrap_keep_counting() {
    let mut m = video_muxer();
    let mut out = Vec::new();
    // Unwrapped DTS (as the TS demuxer gives them) crossing 2^33.
    let first = TS_WRAP - 5 * 3600;
    for i in 0..20 {
        m.push(0, &video(first + i * 3600, i % 5 == 0, 32), &mut out)
            .unwrap();
    }
    m.flush(&mut out).unwrap();
    let starts: Vec<i64> = out.iter().map(|f| f.start_90k).collect();
    assert_eq!(starts, [0, 18_000, 36_000, 54_000]);
    let tfdts: Vec<u64> = out
        .iter()
        .map(|f| {
            moof(f).traf[0]
                .tfdt
                .as_ref()
                .unwrap()
                .base_media_decode_time
        })
        .collect();
    assert_eq!(tfdts, [0, 18_000, 36_000, 54_000]);
}

#[test]
fn bad_tracks_and_changed_parameter_sets_are_typed_errors() {
    assert_eq!(
        Fmp4Muxer::new(vec![], Fmp4Options::default()).err(),
        Some(Mp4Error::NoTracks)
    );
    let v = TrackConfig::Video(h264_config());
    assert_eq!(
        Fmp4Muxer::new(vec![v.clone(), v.clone()], Fmp4Options::default()).err(),
        Some(Mp4Error::TooManyTracks { video: 2, audio: 0 })
    );
    let silent = TrackConfig::Audio(AudioConfig {
        asc: Bytes::from_static(&[0x11, 0x90]),
        sample_rate: 0,
        channels: 2,
    });
    assert_eq!(
        Fmp4Muxer::new(vec![silent], Fmp4Options::default()).err(),
        Some(Mp4Error::SampleRate(0))
    );
    let mut m = video_muxer();
    let mut out = Vec::new();
    assert_eq!(
        m.push(3, &video(0, true, 16), &mut out),
        Err(Mp4Error::UnknownTrack {
            track: 3,
            tracks: 1
        })
    );
    let mut audio = video(0, true, 16);
    audio.codec = Codec::Aac;
    assert_eq!(
        m.push(0, &audio, &mut out),
        Err(Mp4Error::CodecMismatch {
            track: 0,
            expected: Codec::H264,
            got: Codec::Aac
        })
    );
    // A keyframe carrying a different SPS in-band: refused, the muxer goes on.
    m.push(0, &video(0, true, 16), &mut out).unwrap();
    let mut changed = video(3600, true, 16).data.to_vec();
    changed.extend_from_slice(&[0, 0, 0, 1, 0x67, 0x4D, 0x00, 0x28, 0xAA]);
    let frame = Frame {
        data: Bytes::from(changed),
        ..video(3600, true, 16)
    };
    assert_eq!(
        m.push(0, &frame, &mut out),
        Err(Mp4Error::ParameterSetsChanged {
            track: 0,
            what: "SPS"
        })
    );
    m.push(0, &video(3600, false, 16), &mut out).unwrap();
    m.flush(&mut out).unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(moof(&out[0]).traf[0].trun[0].samples.len(), 2);
}

#[test]
fn a_silent_track_delays_fragments_by_at_most_the_skew_bound() {
    let silent = TrackConfig::Audio(AudioConfig {
        asc: Bytes::from_static(&[0x11, 0x90]),
        sample_rate: 48_000,
        channels: 2,
    });
    let tracks = vec![TrackConfig::Video(h264_config()), silent];
    let mut m = Fmp4Muxer::new(tracks, Fmp4Options::default()).unwrap();
    let mut out = Vec::new();
    // 4 s at 25 fps, a keyframe every 10 frames; the audio track never sends anything.
    for i in 0..100 {
        m.push(0, &video(i * 3600, i % 10 == 0, 32), &mut out)
            .unwrap();
    }
    // Cuts at 0.4 s, 0.8 s ... 3.6 s; a fragment waits until the video is
    // MAX_TRACK_SKEW_90K (1 s) past its cut: the last DTS is 3.96 s, so cuts up to 2.8 s.
    let skew = relevo_media::mp4::MAX_TRACK_SKEW_90K;
    let ready = (1..10).filter(|k| 99 * 3600 - k * 36_000 >= skew).count();
    assert_eq!(ready, 7);
    assert_eq!(out.len(), ready);
    m.flush(&mut out).unwrap();
    assert_eq!(out.len(), 10);
    assert!(out
        .iter()
        .all(|f| f.independent && f.duration_90k == 36_000));
    assert_eq!(m.stats().samples, 100);
}
