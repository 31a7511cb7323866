//! Replays every input under `fuzz/regressions/<target>/` through the same entry points as
//! the fuzz target of that name (see `fuzz/fuzz_targets/`). A crashing input found by
//! fuzzing is committed there and becomes a test here.
#![allow(clippy::unwrap_used)]

use relevo_media::aac::{parse_asc, split_adts};
use relevo_media::flv::{
    parse_audio, parse_video, video_config_body, video_frame_body, video_is_config,
    video_is_keyframe, FlvVideo,
};
use relevo_media::streamid;
use relevo_media::ts::TsDemuxer;
use std::path::PathBuf;

fn run(target: &str, data: &[u8]) {
    match target {
        "ts_demux" => {
            let mut d = TsDemuxer::new();
            let mut events = Vec::new();
            let _ = d.push(data, &mut events);
            d.flush(&mut events);
        }
        "flv_video" => {
            // As the fuzz target: peek, parse, and re-encode whatever parses.
            let _ = (video_is_config(data), video_is_keyframe(data));
            match parse_video(data, 1000) {
                Ok(FlvVideo::Config(c)) => {
                    for enhanced in [false, true] {
                        let _ = parse_video(&video_config_body(&c, enhanced), 0);
                    }
                }
                Ok(FlvVideo::Frame(f)) => {
                    for enhanced in [false, true] {
                        let _ = parse_video(&video_frame_body(&f, 33, enhanced), 0);
                    }
                }
                _ => {}
            }
        }
        "flv_audio" => {
            let _ = parse_audio(data, 0);
        }
        "aac_adts" => {
            let _ = split_adts(data).count();
            let _ = parse_asc(data);
        }
        "streamid" => {
            let _ = std::str::from_utf8(data).map(streamid::parse);
        }
        other => panic!("no replay for fuzz target {other}"),
    }
}

#[test]
fn fuzz_regressions_do_not_panic() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions");
    let Ok(targets) = std::fs::read_dir(&root) else {
        return;
    };
    for target in targets {
        let target = target.unwrap().path();
        if !target.is_dir() {
            continue;
        }
        let name = target.file_name().unwrap().to_string_lossy().into_owned();
        for case in std::fs::read_dir(&target).unwrap() {
            let case = case.unwrap().path();
            run(&name, &std::fs::read(&case).unwrap());
        }
    }
}
