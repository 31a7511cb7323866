//! Codec pre-flight: the codecs of an input's stream, by name, and what each destination
//! accepts of them, so a mismatch is shown on the output before a platform refuses the
//! push (issue #18).
//!
//! Relevo does not transcode: what a destination cannot carry is reported with what to
//! change on the encoder. Push outputs hold back on an error (`crate::output`); the others
//! only report. The rules follow what Relevo's own remux and muxers carry and what each
//! platform's ingest documentation states:
//! - legacy RTMP (FLV, Adobe's Video File Format Specification v10.1 §E.4.3) carries H.264
//!   video; Enhanced RTMP (Veovera's enhanced-rtmp v1) adds H.265 as `hvc1`. Audio: AAC,
//!   and MP3 from an RTMP publisher (the FLV tags pass through). From an SRT input, the TS
//!   demuxer reassembles only H.264/H.265 and ADTS AAC (`relevo_media::ts`), so
//!   `remux::ts_to_flv` leaves any other audio (Opus, AC-3, MPEG audio…) out of the RTMP
//!   stream: it is named here by its TS name (`mpeg_audio`, not `mp3`) and refused.
//! - YouTube, "Choose live encoder settings, bitrates, and resolutions"
//!   (support.google.com/youtube/answer/2853702): video H.264, HEVC and AV1 only over
//!   Enhanced RTMP; audio AAC or MP3.
//! - Twitch, "Broadcasting Guidelines" (help.twitch.tv/s/article/broadcasting-guidelines):
//!   video H.264, audio AAC-LC.
//! - Facebook, "Live API / Live Video Specs"
//!   (developers.facebook.com/docs/live-video-api/guides/streaming-setup): video H.264,
//!   audio AAC.
//! - A platform needs a video track; one without audio is taken (viewers hear nothing),
//!   so it is a warning.
//! - HLS and MP4 recordings go through the one fMP4 muxer (`record::mp4_writer`), which
//!   writes H.264, H.265 and AAC (`relevo_media::frame::Codec`): another track is left out.
//! - SRT push and pull and TS recordings carry the transport stream as it is: anything.

use relevo_media::frame::Codec;
use relevo_media::ts::TrackInfo;

use std::sync::Arc;

use crate::hub::Hub;
use crate::metrics::{CompatProblem, CompatSeverity, OutputCounters, StreamCodecs};
use crate::spec::{OutputKind, Platform, RecordFormat};

/// `code` of a [`CompatProblem`]: H.265 to an RTMP destination that would take it over
/// Enhanced RTMP, which is off on the output.
pub const H265_NEEDS_ENHANCED: &str = "h265_needs_enhanced";
/// The video codec is not one the destination takes.
pub const VIDEO_CODEC: &str = "video_codec";
/// The audio codec is not one the destination takes.
pub const AUDIO_CODEC: &str = "audio_codec";
/// A platform needs video and the input has none.
pub const NO_VIDEO: &str = "no_video";
/// A platform takes a stream without audio, but warns about it (warning).
pub const NO_AUDIO: &str = "no_audio";

/// What [`StreamCodecs::video`] or [`StreamCodecs::audio`] says as `found` when the
/// stream has no such track.
const NONE: &str = "none";

/// The name of a video codec in [`StreamCodecs`].
pub fn video_name(codec: Codec) -> &'static str {
    match codec {
        Codec::H264 => "h264",
        Codec::H265 => "h265",
        Codec::Aac => "aac",
    }
}

/// A PMT stream's codec, by name, and whether it is video; `None` for data, subtitles
/// and streams nobody can name (ISO/IEC 13818-1 Table 2-34; ATSC A/52 for 0x81/0x87; a
/// private stream by its registration descriptor, SMPTE-RA, or its DVB descriptor,
/// ETSI EN 300 468 §6.1).
fn track_name(t: &TrackInfo) -> Option<(bool, &'static str)> {
    let named = match t.stream_type {
        0x1B => (true, "h264"),
        0x24 => (true, "h265"),
        0x33 => (true, "h266"),
        0x01 => (true, "mpeg1video"),
        0x02 => (true, "mpeg2video"),
        0x10 => (true, "mpeg4"),
        0xEA => (true, "vc1"),
        0x0F => (false, "aac"),
        // LATM is not ADTS: the demuxer does not reassemble it.
        0x11 => (false, "aac_latm"),
        // MPEG-1/2 audio layers I-III: the layer is in each frame's header, not the PMT.
        0x03 | 0x04 => (false, "mpeg_audio"),
        0x81 => (false, "ac3"),
        0x82 => (false, "dts"),
        0x87 => (false, "eac3"),
        0x06 => return private_track_name(t),
        _ => return None,
    };
    Some(named)
}

fn private_track_name(t: &TrackInfo) -> Option<(bool, &'static str)> {
    let by_registration = match t.registration.as_ref() {
        Some(b"Opus") => Some("opus"),
        Some(b"AC-3") => Some("ac3"),
        Some(b"EAC3") => Some("eac3"),
        Some(b"BSSD") => Some("s302m"),
        Some(b"DTS1" | b"DTS2" | b"DTS3") => Some("dts"),
        _ => None,
    };
    let by_dvb = || {
        t.descriptor_tags.iter().find_map(|tag| match tag {
            0x6A => Some("ac3"),
            0x7A => Some("eac3"),
            0x7B => Some("dts"),
            0x7C => Some("aac"),
            _ => None,
        })
    };
    by_registration.or_else(by_dvb).map(|n| (false, n))
}

/// The codecs of a PMT's first video and first audio track.
pub fn codecs_of_program(tracks: &[TrackInfo]) -> StreamCodecs {
    let mut codecs = StreamCodecs {
        video: None,
        audio: None,
    };
    for (video, n) in tracks.iter().filter_map(track_name) {
        let slot = if video {
            &mut codecs.video
        } else {
            &mut codecs.audio
        };
        if slot.is_none() {
            *slot = Some(n.to_owned());
        }
    }
    codecs
}

/// SoundFormat of an Enhanced RTMP audio tag: a FourCC follows (enhanced-rtmp v2).
const SOUND_FORMAT_EX_HEADER: u8 = 9;
/// AudioPacketType of an Enhanced RTMP multitrack tag: a track type byte comes first.
const AUDIO_PACKET_MULTITRACK: u8 = 5;

/// The audio codec of an FLV audio tag, from its SoundFormat (FLV v10.1 §E.4.2.1), or from
/// the FourCC of an Enhanced RTMP v2 audio tag.
pub fn audio_of_flv(body: &[u8]) -> Option<String> {
    let first = *body.first()?;
    let name = match first >> 4 {
        10 => "aac",
        2 | 14 => "mp3",
        0 | 3 => "pcm",
        1 => "adpcm",
        4..=6 => "nellymoser",
        7 | 8 => "g711",
        11 => "speex",
        SOUND_FORMAT_EX_HEADER => {
            let at = if first & 0x0F == AUDIO_PACKET_MULTITRACK {
                2
            } else {
                1
            };
            match body.get(at..at + 4) {
                Some(b"Opus") => "opus",
                Some(b"ac-3") => "ac3",
                Some(b"ec-3") => "eac3",
                Some(b"fLaC") => "flac",
                Some(b"mp4a") => "aac",
                Some(b".mp3") => "mp3",
                _ => "other",
            }
        }
        _ => "other",
    };
    Some(name.to_owned())
}

/// VideoPacketType of an Enhanced RTMP multitrack tag: a track type byte comes first.
const VIDEO_PACKET_MULTITRACK: u8 = 6;

/// The video codec of an FLV video tag, from its CodecID (FLV v10.1 §E.4.3.1), or from the
/// FourCC of an Enhanced RTMP video tag (IsExHeader set): the name even of codecs the relay
/// does not parse (VP6, AV1…), so a destination's check can say which one it is.
pub fn video_of_flv(body: &[u8]) -> Option<String> {
    let first = *body.first()?;
    let name = if first & 0x80 != 0 {
        let at = if first & 0x0F == VIDEO_PACKET_MULTITRACK {
            2
        } else {
            1
        };
        match body.get(at..at + 4) {
            Some(b"avc1") => "h264",
            Some(b"hvc1") => "h265",
            Some(b"av01") => "av1",
            Some(b"vp09") => "vp9",
            _ => "other",
        }
    } else {
        match first & 0x0F {
            7 => "h264",
            // Not in the FLV specification; Chinese CDNs' pre-Enhanced-RTMP HEVC.
            12 => "h265",
            2 => "h263",
            4 | 5 => "vp6",
            3 | 6 => "screen",
            _ => "other",
        }
    };
    Some(name.to_owned())
}

/// The platform whose rules apply to an RTMP push: the one set on the output, else the
/// one its URL's host belongs to.
pub fn platform_of(kind: &OutputKind) -> Option<Platform> {
    match kind {
        OutputKind::PushRtmp { url, platform, .. } => {
            platform.or_else(|| Platform::from_host(url.host()))
        }
        _ => None,
    }
}

/// What one destination takes.
struct Accepts {
    /// Its name in messages.
    dest: &'static str,
    video: &'static [&'static str],
    audio: &'static [&'static str],
    /// A platform: it needs video, and a stream without audio is warned about.
    platform: bool,
    /// H.265 would be taken with Enhanced RTMP turned on for the output.
    h265_if_enhanced: bool,
    /// An RTMP destination: audio other than AAC from an SRT input is left out by the remux.
    rtmp: bool,
}

const H264: &[&str] = &["h264"];
const H264_H265: &[&str] = &["h264", "h265"];
const AAC: &[&str] = &["aac"];
const AAC_MP3: &[&str] = &["aac", "mp3"];

fn accepts(kind: &OutputKind) -> Option<Accepts> {
    let fmp4 = |dest| Accepts {
        dest,
        video: H264_H265,
        audio: AAC,
        platform: false,
        h265_if_enhanced: false,
        rtmp: false,
    };
    let rtmp = |dest, video, audio, platform, h265_if_enhanced| Accepts {
        dest,
        video,
        audio,
        platform,
        h265_if_enhanced,
        rtmp: true,
    };
    Some(match kind {
        OutputKind::PushSrt(_) | OutputKind::PullSrt { .. } => return None,
        OutputKind::Record(r) if r.format == RecordFormat::Ts => return None,
        OutputKind::Record(_) => fmp4("MP4 recording"),
        OutputKind::PullHls { .. } => fmp4("HLS"),
        OutputKind::PullRtmp { .. } => rtmp("RTMP playback", H264_H265, AAC_MP3, false, false),
        OutputKind::PushRtmp { enhanced, .. } => {
            let video = if *enhanced { H264_H265 } else { H264 };
            match platform_of(kind) {
                None if *enhanced => rtmp("Enhanced RTMP", video, AAC_MP3, false, false),
                None => rtmp("legacy RTMP", video, AAC_MP3, false, true),
                Some(Platform::YouTube) => rtmp("YouTube", video, AAC_MP3, true, !enhanced),
                Some(Platform::Twitch) => rtmp("Twitch", H264, AAC, true, false),
                Some(Platform::Facebook) => rtmp("Facebook", H264, AAC, true, false),
            }
        }
    })
}

/// What `kind` does not accept of `codecs`, errors first.
pub fn check(codecs: &StreamCodecs, kind: &OutputKind) -> Vec<CompatProblem> {
    let Some(a) = accepts(kind) else {
        return Vec::new();
    };
    let mut problems = Vec::new();
    match codecs.video.as_deref() {
        None if a.platform => problems.push(problem(
            CompatSeverity::Error,
            NO_VIDEO,
            ("video", NONE, a.video),
            format!(
                "{} needs a video track and the input has none: send video ({}) from the \
                 encoder.",
                a.dest,
                names(a.video)
            ),
        )),
        None => {}
        Some(v) if a.video.contains(&v) => {}
        Some("h265") if a.h265_if_enhanced => problems.push(problem(
            CompatSeverity::Error,
            H265_NEEDS_ENHANCED,
            ("video", "h265", a.video),
            format!(
                "The input's video is H.265 (HEVC), which {} carries only over Enhanced RTMP: \
                 turn on Enhanced RTMP on this output, or set the encoder's video codec to \
                 H.264.",
                a.dest
            ),
        )),
        Some(v) => problems.push(problem(
            CompatSeverity::Error,
            VIDEO_CODEC,
            ("video", v, a.video),
            format!(
                "{} takes {} video and the input's video is {}: set the encoder's video codec \
                 to H.264 (Relevo does not transcode).",
                a.dest,
                names(a.video),
                display(v)
            ),
        )),
    }
    match codecs.audio.as_deref() {
        None if a.platform => problems.push(problem(
            CompatSeverity::Warning,
            NO_AUDIO,
            ("audio", NONE, a.audio),
            format!(
                "The input has no audio track: {} takes the stream, but viewers hear nothing \
                 and it may warn about it. Add an audio track ({}) on the encoder.",
                a.dest,
                names(a.audio)
            ),
        )),
        None => {}
        Some(au) if a.audio.contains(&au) => {}
        Some(au) => {
            let remux = if a.rtmp {
                " From an SRT input, only AAC audio reaches an RTMP destination: the remux \
                 leaves other audio out."
            } else {
                " The fMP4 muxer leaves other audio out."
            };
            problems.push(problem(
                CompatSeverity::Error,
                AUDIO_CODEC,
                ("audio", au, a.audio),
                format!(
                    "{} takes {} audio and the input's audio is {}: set the encoder's audio \
                     codec to AAC (Relevo does not transcode).{remux}",
                    a.dest,
                    names(a.audio),
                    display(au)
                ),
            ));
        }
    }
    problems
}

/// What the snapshot reports of one output: a push output's own last pre-flight (it
/// checks before connecting and while pushing, `crate::output`); the others' checked
/// against the input's codecs now.
pub(crate) struct Reporter {
    kind: OutputKind,
    hub: Arc<Hub>,
}

impl Reporter {
    pub(crate) fn new(kind: &OutputKind, hub: &Arc<Hub>) -> Self {
        Self {
            kind: kind.clone(),
            hub: hub.clone(),
        }
    }

    pub(crate) fn report(&self, counters: &OutputCounters) -> Vec<CompatProblem> {
        match self.kind {
            OutputKind::PushRtmp { .. } | OutputKind::PushSrt(_) => counters.compat(),
            _ => self
                .hub
                .codecs()
                .map(|c| check(&c, &self.kind))
                .unwrap_or_default(),
        }
    }
}

/// Whether a stream can ever fall foul of `kind` (an SRT push takes anything).
pub fn checks_anything(kind: &OutputKind) -> bool {
    accepts(kind).is_some()
}

/// Whether any of `problems` holds a push back.
pub fn has_error(problems: &[CompatProblem]) -> bool {
    problems.iter().any(|p| p.severity == CompatSeverity::Error)
}

fn problem(
    severity: CompatSeverity,
    code: &'static str,
    (track, found, accepted): (&'static str, &str, &[&'static str]),
    message: String,
) -> CompatProblem {
    CompatProblem {
        severity,
        code,
        track,
        found: found.to_owned(),
        accepted: accepted.to_vec(),
        message,
    }
}

/// A codec's name as an engineer reads it in an encoder's menu.
fn display(name: &str) -> &str {
    match name {
        "h264" => "H.264",
        "h265" => "H.265 (HEVC)",
        "h266" => "H.266 (VVC)",
        "mpeg1video" => "MPEG-1 video",
        "mpeg2video" => "MPEG-2 video",
        "mpeg4" => "MPEG-4 Part 2",
        "vc1" => "VC-1",
        "aac" => "AAC",
        "aac_latm" => "AAC in LATM",
        "mp3" => "MP3",
        "mpeg_audio" => "MPEG audio (MP2/MP3 in MPEG-TS)",
        "opus" => "Opus",
        "ac3" => "AC-3 (Dolby Digital)",
        "eac3" => "E-AC-3 (Dolby Digital Plus)",
        "dts" => "DTS",
        "s302m" => "SMPTE 302M PCM",
        "flac" => "FLAC",
        "pcm" => "PCM",
        "g711" => "G.711",
        "speex" => "Speex",
        other => other,
    }
}

fn names(list: &[&str]) -> String {
    let shown: Vec<&str> = list.iter().map(|n| display(n)).collect();
    match shown.as_slice() {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests;
