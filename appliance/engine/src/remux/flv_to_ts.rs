//! FLV tags from an RTMP publisher → MPEG-TS chunks for SRT outputs.

use bytes::BytesMut;
use relevo_media::flv::{self, FlvAudio, FlvError, FlvVideo};
use relevo_media::frame::{AudioConfig, Frame, VideoConfig};
use relevo_media::ts::{TsMuxer, PACKET_SIZE};

use crate::unit::{FlvKind, FlvTag, TsChunk};

/// Packets per SRT message: 7 × 188 = 1316 bytes, the SRT live-mode payload that fits an
/// Ethernet MTU (libsrt's SRTO_PAYLOADSIZE default).
pub const PACKETS_PER_CHUNK: usize = 7;

/// TS timestamps start one second after the RTMP ones so that PCR (a little before DTS)
/// never goes negative.
const TS_OFFSET_90K: i64 = 90_000;

#[derive(Debug, Default)]
pub struct FlvToTs {
    video: Option<VideoConfig>,
    audio: Option<AudioConfig>,
    muxer: Option<TsMuxer>,
    /// Extends RTMP's 32-bit millisecond clock.
    last_ms: Option<u32>,
    epoch_ms: i64,
    buf: BytesMut,
    /// Frames held until the program is known (see [`FlvToTs::mux`]).
    pending: Vec<Frame>,
}

/// How long frames wait for the other track's sequence header before the TS program is
/// fixed without it: servers such as nginx-rtmp send video first and audio a few ms later.
const PROGRAM_WAIT_90K: i64 = 90_000;

impl FlvToTs {
    pub fn new() -> Self {
        Self::default()
    }

    fn extend_ms(&mut self, ts: u32) -> i64 {
        if let Some(last) = self.last_ms {
            // A large backwards jump is the 32-bit wrap, not a reorder.
            if ts < last && last - ts > u32::MAX / 2 {
                self.epoch_ms += 1 << 32;
            }
        }
        self.last_ms = Some(ts);
        self.epoch_ms + i64::from(ts)
    }

    /// Converts one tag; unsupported codecs are reported, not fatal to the stream.
    pub fn on_tag(&mut self, tag: &FlvTag, out: &mut Vec<TsChunk>) -> Result<(), FlvError> {
        let ms = self.extend_ms(tag.timestamp);
        match tag.kind {
            FlvKind::Meta => Ok(()),
            FlvKind::Video => match flv::parse_video(&tag.body, ms)? {
                FlvVideo::Config(cfg) => {
                    if self.video.as_ref() != Some(&cfg) {
                        if self.video.as_ref().is_some_and(|v| v.codec != cfg.codec) {
                            self.muxer = None;
                        }
                        if let Some(m) = self.muxer.as_mut() {
                            m.set_video_config(cfg.clone());
                        }
                        self.video = Some(cfg);
                    }
                    Ok(())
                }
                FlvVideo::Frame(frame) => {
                    self.mux(frame, out);
                    Ok(())
                }
                FlvVideo::EndOfSequence => Ok(()),
            },
            FlvKind::Audio => match flv::parse_audio(&tag.body, ms)? {
                FlvAudio::Config(cfg) => {
                    if self.audio.as_ref() != Some(&cfg) {
                        if let Some(m) = self.muxer.as_mut() {
                            m.set_audio_config(cfg.clone());
                        }
                        self.audio = Some(cfg);
                    }
                    Ok(())
                }
                FlvAudio::Frame(frame) => {
                    self.mux(frame, out);
                    Ok(())
                }
            },
        }
    }

    fn mux(&mut self, frame: Frame, out: &mut Vec<TsChunk>) {
        if self.muxer.is_none() {
            // The program (which PIDs exist) is fixed once: wait until both sequence headers
            // are known, or until one track has waited long enough to be alone.
            let first = self.pending.first().map_or(frame.dts, |f| f.dts);
            let both = self.video.is_some() && self.audio.is_some();
            if !both && frame.dts - first < PROGRAM_WAIT_90K {
                self.pending.push(frame);
                return;
            }
            let mut m = TsMuxer::new(
                self.video.as_ref().map(|v| v.codec),
                self.audio.as_ref().map(|_| relevo_media::frame::Codec::Aac),
            );
            if let Some(v) = &self.video {
                m.set_video_config(v.clone());
            }
            if let Some(a) = &self.audio {
                m.set_audio_config(a.clone());
            }
            self.muxer = Some(m);
            for f in std::mem::take(&mut self.pending) {
                self.mux_one(f, out);
            }
        }
        self.mux_one(frame, out);
    }

    fn mux_one(&mut self, mut frame: Frame, out: &mut Vec<TsChunk>) {
        let Some(muxer) = self.muxer.as_mut() else {
            return;
        };
        frame.pts += TS_OFFSET_90K;
        frame.dts += TS_OFFSET_90K;
        self.buf.clear();
        muxer.mux(&frame, &mut self.buf);
        let data = self.buf.split().freeze();
        let is_video_key = frame.keyframe && frame.codec != relevo_media::frame::Codec::Aac;
        let audio_only = self.video.is_none();
        for (i, start) in (0..data.len())
            .step_by(PACKET_SIZE * PACKETS_PER_CHUNK)
            .enumerate()
        {
            let end = (start + PACKET_SIZE * PACKETS_PER_CHUNK).min(data.len());
            out.push(TsChunk {
                data: data.slice(start..end),
                keyframe: i == 0 && (is_video_key || audio_only),
                arrived: Some(std::time::Instant::now()),
            });
        }
    }
}
