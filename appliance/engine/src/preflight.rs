//! Codec pre-flight: the codecs of an input's stream, by name, and what each destination
//! accepts of them, so a mismatch is shown on the output before a platform refuses the
//! push (issue #18).

use relevo_media::frame::Codec;
use relevo_media::ts::TrackInfo;

use crate::metrics::{CompatProblem, StreamCodecs};
use crate::spec::OutputKind;

/// The name of a video codec in [`StreamCodecs`].
pub fn video_name(codec: Codec) -> &'static str {
    match codec {
        Codec::H264 => "h264",
        Codec::H265 => "h265",
        Codec::Aac => "aac",
    }
}

/// The codecs of a PMT's first video and first audio track.
pub fn codecs_of_program(tracks: &[TrackInfo]) -> StreamCodecs {
    let name = |t: &TrackInfo| -> Option<(bool, String)> {
        let (video, name) = match t.stream_type {
            0x1B => (true, "h264"),
            0x24 => (true, "h265"),
            0x01 => (true, "mpeg1video"),
            0x02 => (true, "mpeg2video"),
            0x10 => (true, "mpeg4"),
            0x0F | 0x11 => (false, "aac"),
            0x03 | 0x04 => (false, "mpeg_audio"),
            0x81 => (false, "ac3"),
            0x87 => (false, "eac3"),
            _ => return None,
        };
        Some((video, name.to_owned()))
    };
    let mut codecs = StreamCodecs {
        video: None,
        audio: None,
    };
    for (video, n) in tracks.iter().filter_map(name) {
        let slot = if video {
            &mut codecs.video
        } else {
            &mut codecs.audio
        };
        if slot.is_none() {
            *slot = Some(n);
        }
    }
    codecs
}

/// The audio codec of an FLV audio tag, from its SoundFormat (FLV v10.1 §E.4.2.1).
pub fn audio_of_flv(body: &[u8]) -> Option<String> {
    let name = match body.first()? >> 4 {
        10 => "aac",
        2 | 14 => "mp3",
        _ => "other",
    };
    Some(name.to_owned())
}

/// What `kind` does not accept of `codecs`. TEMPORARY (#18 contract): no rule yet.
pub fn check(_codecs: &StreamCodecs, _kind: &OutputKind) -> Vec<CompatProblem> {
    Vec::new()
}
