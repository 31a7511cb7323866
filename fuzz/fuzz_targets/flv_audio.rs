//! FLV audio body parsing and re-encoding.
#![no_main]

use libfuzzer_sys::fuzz_target;
use relevo_media::aac::adts_header;
use relevo_media::flv::{audio_config_body, audio_is_config, parse_audio, FlvAudio};

fuzz_target!(|data: &[u8]| {
    let _ = audio_is_config(data);
    if let Ok(FlvAudio::Config(c)) = parse_audio(data, i64::MAX) {
        assert_eq!(
            parse_audio(&audio_config_body(&c), 0),
            Ok(FlvAudio::Config(c.clone()))
        );
        let _ = adts_header(&c, data.len());
    }
});
