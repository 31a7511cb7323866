//! Frames demuxed from MPEG-TS → FLV tags for RTMP outputs.

use relevo_media::flv;
use relevo_media::frame::{AudioConfig, Codec, Frame, VideoConfig};
use relevo_media::ts::DemuxEvent;

use crate::unit::{FlvKind, FlvTag};

/// See [`TsToFlv::ms`].
const BASE_MARGIN_90K: i64 = 90_000;

/// Converts demux events of one publication; timestamps start near zero (RTMP servers such
/// as YouTube expect that) and keep the stream's own spacing.
#[derive(Debug, Default)]
pub struct TsToFlv {
    base_dts: Option<i64>,
    video: Option<VideoConfig>,
    audio: Option<AudioConfig>,
    /// Timestamp of the last frame, given to sequence headers that change mid-stream.
    last_ms: u32,
}

impl TsToFlv {
    pub fn new() -> Self {
        Self::default()
    }

    fn ms(&mut self, dts: i64) -> u32 {
        // Frames leave the demuxer in PES-completion order, not DTS order: audio may run up
        // to the muxer's max_delay (ffmpeg: 0.7 s) ahead of video. Starting the clock one
        // second before the first frame keeps every track's timestamps increasing.
        let base = *self.base_dts.get_or_insert(dts - BASE_MARGIN_90K);
        // RTMP timestamps are 32-bit milliseconds that wrap (after 49.7 days).
        self.last_ms = (relevo_media::timestamp::ticks_to_ms(dts - base).max(0)) as u32;
        self.last_ms
    }

    pub fn on_event(&mut self, ev: &DemuxEvent, out: &mut Vec<FlvTag>) {
        match ev {
            DemuxEvent::VideoConfig(cfg) => {
                if self.video.as_ref() != Some(cfg) {
                    self.video = Some(cfg.clone());
                    out.push(FlvTag::new(
                        FlvKind::Video,
                        self.last_ms,
                        flv::video_config_body(cfg, cfg.codec == Codec::H265),
                        false,
                        true,
                    ));
                }
            }
            DemuxEvent::AudioConfig(cfg) => {
                if self.audio.as_ref() != Some(cfg) {
                    self.audio = Some(cfg.clone());
                    out.push(FlvTag::new(
                        FlvKind::Audio,
                        self.last_ms,
                        flv::audio_config_body(cfg),
                        false,
                        true,
                    ));
                }
            }
            DemuxEvent::Frame(frame) => self.on_frame(frame, out),
            DemuxEvent::Program(_) | DemuxEvent::KeyframeStart { .. } => {}
        }
    }

    fn on_frame(&mut self, frame: &Frame, out: &mut Vec<FlvTag>) {
        match frame.codec {
            Codec::H264 | Codec::H265 => {
                if self.video.is_none() {
                    return; // no decoder configuration yet: a player could not use it
                }
                let timestamp = self.ms(frame.dts);
                let cts = relevo_media::timestamp::ticks_to_ms(frame.pts - frame.dts) as i32;
                out.push(FlvTag::new(
                    FlvKind::Video,
                    timestamp,
                    flv::video_frame_body(frame, cts, frame.codec == Codec::H265),
                    frame.keyframe,
                    false,
                ));
            }
            Codec::Aac => {
                if self.audio.is_none() {
                    return;
                }
                let timestamp = self.ms(frame.dts);
                // Audio-only streams have no video keyframes: every AAC frame is one.
                out.push(FlvTag::new(
                    FlvKind::Audio,
                    timestamp,
                    flv::audio_frame_body(&frame.data),
                    self.video.is_none(),
                    false,
                ));
            }
        }
    }
}
