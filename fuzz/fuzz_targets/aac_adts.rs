//! ADTS splitting and AudioSpecificConfig parsing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use relevo_media::aac::{adts_header, parse_asc, split_adts};

fuzz_target!(|data: &[u8]| {
    for (cfg, raw) in split_adts(data).flatten() {
        // Re-framing a parsed frame must give back the same frame.
        let mut again = adts_header(&cfg, raw.len()).to_vec();
        again.extend_from_slice(raw);
        let (cfg2, raw2) = split_adts(&again).next().expect("one").expect("valid");
        assert_eq!((&cfg2, raw2), (&cfg, raw));
    }
    if let Ok(cfg) = parse_asc(data) {
        let _ = adts_header(&cfg, 100);
    }
});
