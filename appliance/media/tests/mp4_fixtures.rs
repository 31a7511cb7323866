//! The fMP4 muxer against real peers: the captured fixtures (and streams made by Debian's
//! ffmpeg here) are demuxed with the crate's own TS/FLV demuxers, muxed, written to a
//! temporary file and read back by ffprobe/ffmpeg and by mp4-atom.
#![allow(clippy::unwrap_used)]

mod common;

use bytes::Bytes;
use common::{demux_all, fixture, flv_tags};
use mp4_atom::{Any, DecodeMaybe, Moof, Moov};
use relevo_media::flv::{parse_audio, parse_video, FlvAudio, FlvVideo};
use relevo_media::mp4::{Fmp4Muxer, Fmp4Options, Fragment, Mp4Error, TrackConfig};
use relevo_media::ts::DemuxEvent;
use relevo_media::{Codec, Frame};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// Audio timestamps and durations may differ from the source by this much (ticks of
/// either clock): the source's 90 kHz or millisecond values are rounded to the sample rate.
const AUDIO_TOLERANCE: i64 = 64;

/// A demuxed source: track configs and (track index, frame) in arrival order.
struct Source {
    tracks: Vec<TrackConfig>,
    frames: Vec<(usize, Frame)>,
}

impl Source {
    fn of(&self, track: usize) -> Vec<&Frame> {
        self.frames
            .iter()
            .filter(|(t, _)| *t == track)
            .map(|(_, f)| f)
            .collect()
    }

    /// Keeps only the tracks in `keep` (renumbered in that order).
    fn only(&self, keep: &[usize]) -> Source {
        Source {
            tracks: keep.iter().map(|i| self.tracks[*i].clone()).collect(),
            frames: self
                .frames
                .iter()
                .filter_map(|(t, f)| keep.iter().position(|k| k == t).map(|i| (i, f.clone())))
                .collect(),
        }
    }
}

fn ts_source(data: &[u8]) -> Source {
    let (events, errors) = demux_all(data);
    assert_eq!(errors, 0);
    let video = events.iter().find_map(|e| match e {
        DemuxEvent::VideoConfig(c) => Some(c.clone()),
        _ => None,
    });
    let audio = events.iter().find_map(|e| match e {
        DemuxEvent::AudioConfig(c) => Some(c.clone()),
        _ => None,
    });
    let tracks = vec![
        TrackConfig::Video(video.unwrap()),
        TrackConfig::Audio(audio.unwrap()),
    ];
    let frames = events
        .into_iter()
        .filter_map(|e| match e {
            DemuxEvent::Frame(f) => Some((usize::from(f.codec == Codec::Aac), f)),
            _ => None,
        })
        .collect();
    Source { tracks, frames }
}

fn flv_source(data: &[u8]) -> Source {
    let (mut video, mut audio, mut frames) = (None, None, Vec::new());
    for tag in flv_tags(data) {
        match tag.kind {
            9 => match parse_video(&tag.body, tag.timestamp_ms).unwrap() {
                FlvVideo::Config(c) => video = Some(c),
                FlvVideo::Frame(f) => frames.push((0, f)),
                FlvVideo::EndOfSequence => {}
            },
            8 => match parse_audio(&tag.body, tag.timestamp_ms).unwrap() {
                FlvAudio::Config(c) => audio = Some(c),
                FlvAudio::Frame(f) => frames.push((1, f)),
            },
            _ => {}
        }
    }
    Source {
        tracks: vec![
            TrackConfig::Video(video.unwrap()),
            TrackConfig::Audio(audio.unwrap()),
        ],
        frames,
    }
}

/// Muxes the whole source; returns the init segment, the fragments and the muxer.
fn mux(source: &Source, options: Fmp4Options) -> (Bytes, Vec<Fragment>, Fmp4Muxer) {
    let mut m = Fmp4Muxer::new(source.tracks.clone(), options).unwrap();
    let init = m.init_segment().unwrap();
    let mut out = Vec::new();
    for (t, f) in &source.frames {
        m.push(*t, f, &mut out).unwrap();
    }
    m.flush(&mut out).unwrap();
    (init, out, m)
}

fn write(path: &Path, init: &Bytes, fragments: &[Fragment]) {
    let mut file = init.to_vec();
    for f in fragments {
        file.extend_from_slice(&f.data);
    }
    std::fs::write(path, file).unwrap();
}

fn ffprobe(path: &Path) -> Value {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_streams",
            "-show_packets",
            "-of",
            "json",
        ])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "",
        "ffprobe complained"
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `ffmpeg -c copy -f null`: its stderr (non-monotonic DTS warnings and the like).
fn ffmpeg_copy_stderr(path: &Path) -> String {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(path)
        .args(["-c", "copy", "-f", "null", "-"])
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

struct Packet {
    pts: i64,
    dts: i64,
    /// ffprobe leaves it out for the first AAC packet (its decoder priming).
    duration: Option<i64>,
    key: bool,
}

fn packets(probe: &Value, stream: u64) -> Vec<Packet> {
    probe["packets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["stream_index"].as_u64() == Some(stream))
        .map(|p| Packet {
            pts: p["pts"].as_i64().unwrap(),
            dts: p["dts"].as_i64().unwrap(),
            duration: p["duration"].as_i64(),
            key: p["flags"].as_str().unwrap().starts_with('K'),
        })
        .collect()
}

/// Stream index of `codec_type` in the probe.
fn stream(probe: &Value, codec_type: &str) -> Option<(u64, Value)> {
    probe["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["codec_type"] == codec_type)
        .map(|s| (s["index"].as_u64().unwrap(), s.clone()))
}

/// Top-level boxes of a file, decoded by mp4-atom.
fn boxes(mut data: &[u8]) -> Vec<Any> {
    let mut all = Vec::new();
    while let Some(b) = Any::decode_maybe(&mut data).unwrap() {
        all.push(b);
    }
    all
}

fn moofs(file: &[u8]) -> Vec<Moof> {
    boxes(file)
        .into_iter()
        .filter_map(|b| match b {
            Any::Moof(m) => Some(m),
            _ => None,
        })
        .collect()
}

/// Checks one probed stream against its source frames: same count, same flags, PTS and
/// DTS equal to the source's up to one constant offset (`tolerance` ticks for audio, whose
/// 90 kHz source is rounded to the sample rate), strictly increasing DTS, durations = DTS
/// steps (the last one the previous step; for audio ffprobe reports the AAC parser's 1024,
/// so `tolerance` applies there too, in samples).
fn check_stream(name: &str, got: &[Packet], src: &[&Frame], timescale: i64, tolerance: i64) {
    assert_eq!(got.len(), src.len(), "{name}: packet count");
    let to90 = |v: i64| v * 90_000 / timescale;
    let offset = to90(got[0].dts) - src[0].dts;
    for (i, (p, f)) in got.iter().zip(src).enumerate() {
        assert!(
            (to90(p.dts) - f.dts - offset).abs() <= tolerance,
            "{name} #{i} dts"
        );
        assert!(
            (to90(p.pts) - f.pts - offset).abs() <= tolerance,
            "{name} #{i} pts"
        );
        assert_eq!(p.key, f.keyframe, "{name} #{i} keyframe flag");
        if i > 0 {
            assert!(p.dts > got[i - 1].dts, "{name} #{i} DTS not increasing");
        }
        let step = match (got.get(i + 1), i) {
            (Some(next), _) => next.dts - p.dts,
            (None, 0) => continue,
            (None, _) => p.dts - got[i - 1].dts,
        };
        if i > 0 || p.duration.is_some() {
            let d = p.duration.unwrap_or_default();
            assert!(
                (d - step).abs() <= tolerance,
                "{name} #{i} duration {d} vs {step}"
            );
        }
    }
}

#[test]
fn fixtures_mux_to_files_ffprobe_reads_sample_for_sample() {
    let cases: [(&str, Source, &str, &str, i64); 3] = [
        (
            "h264_aac.ts",
            ts_source(&fixture("h264_aac.ts")),
            "h264",
            "avc1",
            48_000,
        ),
        (
            "h265_aac.ts",
            ts_source(&fixture("h265_aac.ts")),
            "hevc",
            "hvc1",
            44_100,
        ),
        (
            "h264_aac.flv",
            flv_source(&fixture("h264_aac.flv")),
            "h264",
            "avc1",
            44_100,
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (file, source, codec, tag, rate) in cases {
        let (init, fragments, m) = mux(&source, Fmp4Options::default());
        let path = dir.path().join(format!("{file}.mp4"));
        write(&path, &init, &fragments);
        let probe = ffprobe(&path);
        let (vi, vs) = stream(&probe, "video").unwrap();
        let (ai, as_) = stream(&probe, "audio").unwrap();
        assert_eq!(vs["codec_name"], codec, "{file}");
        assert_eq!(vs["codec_tag_string"], tag, "{file}");
        assert_eq!(
            (vs["width"].as_i64(), vs["height"].as_i64()),
            (Some(160), Some(120))
        );
        assert_eq!(as_["codec_name"], "aac", "{file}");
        assert_eq!(as_["sample_rate"], rate.to_string(), "{file}");

        let video = source.of(0);
        let audio = source.of(1);
        // The fixtures are x264/x265 with B-frames: composition offsets must survive.
        assert!(
            video.iter().filter(|f| f.pts != f.dts).count() > 10,
            "{file}"
        );
        check_stream(file, &packets(&probe, vi), &video, 90_000, 0);
        // FLV audio timestamps are whole milliseconds: up to 1 ms (44 samples) of jitter.
        check_stream(file, &packets(&probe, ai), &audio, rate, AUDIO_TOLERANCE);
        assert_eq!(m.stats().dropped_before_start, 0, "{file}");
        assert_eq!(ffmpeg_copy_stderr(&path), "", "{file}");

        // One fragment per GOP; each starts with a keyframe.
        assert_eq!(fragments.len(), 2, "{file}");
        assert!(fragments.iter().all(|f| f.independent));
    }
}

#[test]
fn hevc_is_hvc1_with_its_parameter_sets_in_hvcc() {
    let source = ts_source(&fixture("h265_aac.ts"));
    let (init, _, _) = mux(&source, Fmp4Options::default());
    let moov = boxes(&init)
        .into_iter()
        .find_map(|b| match b {
            Any::Moov(m) => Some(m),
            _ => None,
        })
        .unwrap();
    let Moov { trak, mvex, .. } = moov;
    assert_eq!(mvex.unwrap().trex.len(), 2);
    let entry = &trak[0].mdia.minf.stbl.stsd.codecs[0];
    let mp4_atom::Codec::Hvc1(hvc1) = entry else {
        panic!("sample entry is {entry:?}");
    };
    assert_eq!((hvc1.visual.width, hvc1.visual.height), (160, 120));
    let types: Vec<u8> = hvc1.hvcc.arrays.iter().map(|a| a.nal_unit_type).collect();
    assert_eq!(types, [32, 33, 34], "VPS, SPS, PPS");
    assert!(hvc1.hvcc.arrays.iter().all(|a| a.completeness));
    assert_eq!(trak[0].mdia.mdhd.timescale, 90_000);
    assert_eq!(trak[1].mdia.mdhd.timescale, 44_100);
}

#[test]
fn a_file_cut_inside_a_fragment_keeps_every_complete_fragment() {
    let source = ts_source(&fixture("h264_aac.ts"));
    let (init, fragments, _) = mux(&source, Fmp4Options::default());
    assert_eq!(fragments.len(), 2);
    let first = &moofs(&fragments[0].data)[0];
    let counts: Vec<usize> = first.traf.iter().map(|t| t.trun[0].samples.len()).collect();
    assert_eq!(counts[0], 25, "one GOP of video");
    let whole = init.len() + fragments[0].data.len();
    // Crash in the middle of the second fragment: inside its moof, then inside its mdat.
    let dir = tempfile::tempdir().unwrap();
    let second = &fragments[1].data;
    let moof_len = u32::from_be_bytes(second[..4].try_into().unwrap()) as usize;
    for (cut, opens_as_is) in [
        (moof_len / 2, false),
        (moof_len + (second.len() - moof_len) / 2, true),
    ] {
        let mut file = init.to_vec();
        file.extend_from_slice(&fragments[0].data);
        file.extend_from_slice(&second[..cut]);
        let path = dir.path().join(format!("cut{cut}.mp4"));
        std::fs::write(&path, &file).unwrap();
        // ffmpeg indexes every moof while opening: a half moof fails the file, a half mdat
        // does not.
        let status = Command::new("ffprobe")
            .args(["-v", "quiet"])
            .arg(&path)
            .status()
            .unwrap();
        assert_eq!(status.success(), opens_as_is, "cut at {cut}");
        // Recovery keeps exactly the complete fragment.
        let keep = relevo_media::mp4::complete_len(&file);
        assert_eq!(keep, whole, "cut at {cut}");
        file.truncate(keep);
        std::fs::write(&path, &file).unwrap();
        let probe = ffprobe(&path);
        let (vi, _) = stream(&probe, "video").unwrap();
        let (ai, _) = stream(&probe, "audio").unwrap();
        let pv = packets(&probe, vi);
        assert_eq!(pv.len(), counts[0], "cut at {cut}");
        assert_eq!(packets(&probe, ai).len(), counts[1], "cut at {cut}");
        let video = source.of(0);
        check_stream("recovered", &pv, &video[..counts[0]], 90_000, 0);
    }
}

/// 4 s of 25 fps H.264 with B-frames and a keyframe every 12 frames, with AAC, from
/// Debian's ffmpeg.
fn generated_ts() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gop12.ts");
    let status = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-f", "lavfi", "-i"])
        .arg("testsrc=size=160x120:rate=25")
        .args(["-f", "lavfi", "-i", "sine=sample_rate=48000", "-t", "4"])
        .args([
            "-pix_fmt", "yuv420p", "-c:v", "libx264", "-g", "12", "-bf", "2",
        ])
        .args([
            "-x264-params",
            "scenecut=0",
            "-c:a",
            "aac",
            "-b:a",
            "32k",
            "-f",
            "mpegts",
        ])
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::read(&path).unwrap()
}

#[test]
fn short_target_cuts_only_at_keyframes_and_fragments_join_without_gaps() {
    let source = ts_source(&generated_ts());
    let target = 90_000 * 9 / 10;
    let options = Fmp4Options {
        fragment_duration_90k: Some(target),
        ..Default::default()
    };
    let (init, fragments, _) = mux(&source, options);
    // 100 frames in GOPs of 12 (0.48 s): a cut every second GOP (0.96 s ≥ 0.9 s).
    assert_eq!(fragments.len(), 5);
    let mut next_tfdt = [None, None];
    let mut totals = [0usize, 0];
    let mut syncs = 0;
    let mut file = init.to_vec();
    for (k, fragment) in fragments.iter().enumerate() {
        file.extend_from_slice(&fragment.data);
        let moof = &moofs(&fragment.data)[0];
        assert_eq!(moof.mfhd.sequence_number, k as u32 + 1);
        assert!(fragment.independent);
        if k + 1 < fragments.len() {
            assert!(fragment.duration_90k >= target, "fragment {k}");
        }
        let tfdt_90k = |t: usize, scale: u64| {
            moof.traf
                .iter()
                .find(|tr| tr.tfhd.track_id as usize == t + 1)
                .map(|tr| tr.tfdt.as_ref().unwrap().base_media_decode_time * 90_000 / scale)
        };
        if k > 0 {
            // Audio is cut at the keyframe's DTS too: it starts within one AAC frame
            // (1024 samples at 48 kHz = 1920 ticks) at or after the video.
            let (v, a) = (tfdt_90k(0, 90_000).unwrap(), tfdt_90k(1, 48_000).unwrap());
            assert!(
                a + 2 >= v && a < v + 1920,
                "fragment {k}: audio {a} video {v}"
            );
        }
        for traf in &moof.traf {
            let t = traf.tfhd.track_id as usize - 1;
            assert!(traf.tfhd.default_base_is_moof);
            let samples: Vec<_> = traf.trun[0].samples.iter().collect();
            if t == 0 {
                assert_eq!(
                    samples[0].flags,
                    Some(0x0200_0000),
                    "sync first, fragment {k}"
                );
                syncs += samples
                    .iter()
                    .filter(|s| s.flags == Some(0x0200_0000))
                    .count();
            }
            let tfdt = traf.tfdt.as_ref().unwrap().base_media_decode_time;
            if let Some(expected) = next_tfdt[t] {
                assert_eq!(tfdt, expected, "track {t} gap before fragment {k}");
            }
            let sum: u64 = samples.iter().map(|s| u64::from(s.duration.unwrap())).sum();
            next_tfdt[t] = Some(tfdt + sum);
            totals[t] += samples.len();
        }
    }
    assert_eq!(totals, [source.of(0).len(), source.of(1).len()]);
    assert_eq!(source.of(0).len(), 100);
    let keyframes = source.of(0).iter().filter(|f| f.keyframe).count();
    assert_eq!((syncs, keyframes), (9, 9), "sync samples are the keyframes");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.mp4");
    std::fs::write(&path, &file).unwrap();
    let probe = ffprobe(&path);
    let (vi, _) = stream(&probe, "video").unwrap();
    check_stream("gop12", &packets(&probe, vi), &source.of(0), 90_000, 0);
    assert_eq!(ffmpeg_copy_stderr(&path), "");
}

#[test]
fn audio_only_and_video_only_inputs_mux() {
    let source = ts_source(&fixture("h264_aac.ts"));
    let dir = tempfile::tempdir().unwrap();
    for (keep, kind, count) in [([1], "audio", 95), ([0], "video", 50)] {
        let part = source.only(&keep);
        let (init, fragments, _) = mux(&part, Fmp4Options::default());
        let path = dir.path().join(format!("{kind}.mp4"));
        write(&path, &init, &fragments);
        let probe = ffprobe(&path);
        assert_eq!(probe["streams"].as_array().unwrap().len(), 1, "{kind}");
        let (i, _) = stream(&probe, kind).unwrap();
        assert_eq!(packets(&probe, i).len(), count, "{kind}");
        assert_eq!(ffmpeg_copy_stderr(&path), "", "{kind}");
    }
}

#[test]
fn a_dts_going_backwards_is_a_typed_error_and_changes_nothing() {
    let source = ts_source(&fixture("h264_aac.ts"));
    let mut m = Fmp4Muxer::new(source.tracks.clone(), Fmp4Options::default()).unwrap();
    let mut out = Vec::new();
    let video = source.of(0);
    for f in &video[..10] {
        m.push(0, f, &mut out).unwrap();
    }
    for dts in [video[9].dts, video[9].dts - 3600, video[0].dts - 1] {
        let mut bad = video[10].clone();
        bad.dts = dts;
        assert_eq!(
            m.push(0, &bad, &mut out),
            Err(Mp4Error::DtsNotIncreasing {
                track: 0,
                previous: video[9].dts,
                dts
            })
        );
    }
    // The stream goes on as if the bad frames never came.
    for f in &video[10..] {
        m.push(0, f, &mut out).unwrap();
    }
    for (i, f) in source.of(1).into_iter().enumerate() {
        m.push(1, f, &mut out).unwrap();
        if i == 0 {
            assert_eq!(
                m.push(1, f, &mut out),
                Err(Mp4Error::DtsNotIncreasing {
                    track: 1,
                    previous: f.dts,
                    dts: f.dts
                })
            );
        }
    }
    m.flush(&mut out).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("after_errors.mp4");
    write(&path, &m.init_segment().unwrap(), &out);
    let probe = ffprobe(&path);
    let (vi, _) = stream(&probe, "video").unwrap();
    check_stream("after errors", &packets(&probe, vi), &video, 90_000, 0);
}

#[test]
fn parts_cut_between_keyframes_and_say_which_are_independent() {
    let source = ts_source(&generated_ts());
    let part = 90_000 / 5;
    let options = Fmp4Options {
        part_duration_90k: Some(part),
        ..Default::default()
    };
    let (init, fragments, _) = mux(&source, options);
    let video = source.of(0);
    // Parts of 5 frames (0.2 s), restarted at every keyframe (every 12 frames): 5, 5, 2.
    let mut at = 0;
    let mut file = init.to_vec();
    for (k, fragment) in fragments.iter().enumerate() {
        file.extend_from_slice(&fragment.data);
        let moof = &moofs(&fragment.data)[0];
        let n = moof.traf[0].trun[0].samples.len();
        assert_eq!(n, [5, 5, 2][k % 3].min(video.len() - at), "part {k}");
        assert_eq!(fragment.independent, video[at].keyframe, "part {k}");
        assert!(fragment.duration_90k <= part, "part {k}");
        at += n;
    }
    assert_eq!(at, video.len());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("parts.mp4");
    std::fs::write(&path, &file).unwrap();
    let probe = ffprobe(&path);
    let (vi, _) = stream(&probe, "video").unwrap();
    check_stream("parts", &packets(&probe, vi), &video, 90_000, 0);
    let (ai, _) = stream(&probe, "audio").unwrap();
    check_stream(
        "parts audio",
        &packets(&probe, ai),
        &source.of(1),
        48_000,
        AUDIO_TOLERANCE,
    );
    assert_eq!(ffmpeg_copy_stderr(&path), "");
}
