//! SRT streamid parsing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use relevo_media::streamid::parse;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(id) = parse(s) {
            assert!(!id.resource.is_empty());
        }
    }
});
