//! SRT streamid parsing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use relevo_media::streamid::parse;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(id) = parse(s) {
            assert!(!id.resource.is_empty());
            // Whatever the form (percent-decoded or not), no control character gets through.
            for part in [Some(&id.resource), id.user.as_ref(), id.session.as_ref()]
                .into_iter()
                .flatten()
            {
                assert!(!part.bytes().any(|b| b < 0x20 || b == 0x7f), "{s:?}");
            }
        }
    }
});
