//! FLV video body parsing, peeks, and re-encoding of whatever parses.
#![no_main]

use libfuzzer_sys::fuzz_target;
use relevo_media::flv::{
    parse_video, video_config_body, video_frame_body, video_is_config, video_is_keyframe, FlvVideo,
};

fuzz_target!(|data: &[u8]| {
    let _ = (video_is_config(data), video_is_keyframe(data));
    match parse_video(data, 1000) {
        Ok(FlvVideo::Config(c)) => {
            for enhanced in [false, true] {
                let body = video_config_body(&c, enhanced);
                assert!(matches!(parse_video(&body, 0), Ok(FlvVideo::Config(_))));
            }
        }
        Ok(FlvVideo::Frame(f)) => {
            for enhanced in [false, true] {
                let _ = parse_video(&video_frame_body(&f, 33, enhanced), 0);
            }
        }
        _ => {}
    }
});
