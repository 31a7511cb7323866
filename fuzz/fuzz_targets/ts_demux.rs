//! TS demuxer on arbitrary bytes, split at an input-chosen point; muxes what comes out.
#![no_main]

use libfuzzer_sys::fuzz_target;
use relevo_media::ts::{DemuxEvent, TsDemuxer, TsMuxer};
use relevo_media::Codec;

fuzz_target!(|data: &[u8]| {
    let split = data
        .first()
        .map_or(0, |&b| usize::from(b) * 188)
        .min(data.len());
    let (a, b) = data.split_at(split);
    let mut d = TsDemuxer::new();
    let mut events = Vec::new();
    let _ = d.push(a, &mut events);
    let _ = d.push(b, &mut events);
    d.flush(&mut events);
    // Whatever the demuxer produced must be muxable.
    let mut m = TsMuxer::new(Some(Codec::H264), Some(Codec::Aac));
    let mut m5 = TsMuxer::new(Some(Codec::H265), None);
    let mut out = bytes::BytesMut::new();
    for e in events {
        match e {
            DemuxEvent::VideoConfig(c) => {
                m.set_video_config(c.clone());
                m5.set_video_config(c);
            }
            DemuxEvent::AudioConfig(c) => m.set_audio_config(c),
            DemuxEvent::Frame(f) => {
                m.mux(&f, &mut out);
                m5.mux(&f, &mut out);
            }
            _ => {}
        }
    }
    assert_eq!(out.len() % 188, 0);
});
