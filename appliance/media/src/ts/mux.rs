//! MPEG-TS muxer: [`Frame`]s in, whole 188-byte packets out.

use super::packet::{write_packet, AdaptationOptions};
use super::pes::{write_header, STREAM_ID_AUDIO, STREAM_ID_VIDEO};
use super::psi::{build_pat, build_pmt, StreamType};
use super::PACKET_SIZE;
use crate::aac::{adts_header, ADTS_HEADER_LEN, MAX_ADTS_FRAME_LEN};
use crate::annexb::{is_aud, nal, nal_type, nal_units, START_CODE};
use crate::frame::{AudioConfig, Codec, Frame, VideoConfig};
use crate::timestamp::to_33;
use bytes::{BufMut, Bytes, BytesMut};

/// PID of the PMT (the value ffmpeg and most muxers use).
pub const PMT_PID: u16 = 0x1000;
pub const VIDEO_PID: u16 = 0x100;
pub const AUDIO_PID: u16 = 0x101;
pub const PROGRAM_NUMBER: u16 = 1;

/// PAT/PMT repetition: 100 ms of DTS. ETSI TR 101 290 (1.3/1.5) asks for at most 500 ms;
/// 100 ms lets a player that joins mid-stream start quickly.
const PSI_INTERVAL: i64 = 9_000;
/// PCR repetition: 40 ms (ETSI TR 101 290 2.3; ISO/IEC 13818-1 §2.7.2 allows 100 ms).
const PCR_INTERVAL: i64 = 3_600;
/// PCR runs 100 ms behind DTS so an access unit is in the decoder buffer before its
/// decode time (T-STD, §2.4.2); the same order as ffmpeg's default `muxdelay`.
const PCR_DELAY: i64 = 9_000;

const H264_AUD: [u8; 2] = [0x09, 0xF0]; // primary_pic_type 7 (any)
const H265_AUD: [u8; 3] = [0x46, 0x01, 0x50]; // pic_type 2 (any)

/// MPEG-TS muxer for one program with at most one video and one AAC stream.
#[derive(Debug)]
pub struct TsMuxer {
    video: Option<Codec>,
    audio: Option<Codec>,
    video_config: Option<VideoConfig>,
    audio_config: Option<AudioConfig>,
    cc_pat: u8,
    cc_pmt: u8,
    cc_video: u8,
    cc_audio: u8,
    last_psi: Option<i64>,
    last_pcr: Option<i64>,
}

impl TsMuxer {
    /// `video` must be H.264 or H.265 and `audio` AAC; anything else is treated as absent.
    pub fn new(video: Option<Codec>, audio: Option<Codec>) -> Self {
        Self {
            video: video.filter(|c| c.is_video()),
            audio: audio.filter(|c| *c == Codec::Aac),
            video_config: None,
            audio_config: None,
            cc_pat: 0,
            cc_pmt: 0,
            cc_video: 0,
            cc_audio: 0,
            last_psi: None,
            last_pcr: None,
        }
    }

    pub fn set_video_config(&mut self, c: VideoConfig) {
        self.video_config = Some(c);
    }

    pub fn set_audio_config(&mut self, c: AudioConfig) {
        self.audio_config = Some(c);
    }

    fn pcr_pid(&self) -> u16 {
        if self.video.is_some() {
            VIDEO_PID
        } else {
            AUDIO_PID
        }
    }

    /// Appends the packets of one frame. Frames of a codec this muxer was not created
    /// for, and audio frames before an [`AudioConfig`] is set, are skipped.
    pub fn mux(&mut self, frame: &Frame, out: &mut BytesMut) {
        let is_video = frame.codec.is_video();
        let es = if is_video {
            if self.video != Some(frame.codec) {
                return;
            }
            self.video_access_unit(frame)
        } else {
            let Some(cfg) = self.audio_config.as_ref().filter(|_| self.audio.is_some()) else {
                return;
            };
            if frame.data.len() > MAX_ADTS_FRAME_LEN - ADTS_HEADER_LEN {
                return;
            }
            let mut b = BytesMut::with_capacity(ADTS_HEADER_LEN + frame.data.len());
            b.put_slice(&adts_header(cfg, frame.data.len()));
            b.put_slice(&frame.data);
            b.freeze()
        };
        let dts = frame.dts;
        let due = |last: Option<i64>, interval: i64| {
            last.is_none_or(|t| dts < t || dts.saturating_sub(t) >= interval)
        };
        if due(self.last_psi, PSI_INTERVAL) || (is_video && frame.keyframe) {
            self.write_psi(out);
            self.last_psi = Some(dts);
        }
        let pid = if is_video { VIDEO_PID } else { AUDIO_PID };
        let pcr = if pid == self.pcr_pid() && due(self.last_pcr, PCR_INTERVAL) {
            self.last_pcr = Some(dts);
            Some(to_33(dts.saturating_sub(PCR_DELAY)))
        } else {
            None
        };
        let mut pes = BytesMut::with_capacity(19 + es.len());
        let stream_id = if is_video {
            STREAM_ID_VIDEO
        } else {
            STREAM_ID_AUDIO
        };
        write_header(
            &mut pes,
            stream_id,
            to_33(frame.pts),
            to_33(dts),
            es.len(),
            is_video,
        );
        pes.put_slice(&es);
        let cc = if is_video {
            &mut self.cc_video
        } else {
            &mut self.cc_audio
        };
        let mut rest = &pes[..];
        let mut af = AdaptationOptions {
            pcr,
            random_access: is_video && frame.keyframe,
        };
        let mut first = true;
        out.reserve((pes.len() / 176 + 2) * PACKET_SIZE);
        while first || !rest.is_empty() {
            let n = write_packet(out, pid, first, *cc, af, rest);
            *cc = (*cc + 1) & 0xF;
            rest = rest.get(n..).unwrap_or_default();
            af = AdaptationOptions::default();
            first = false;
        }
    }

    fn write_psi(&mut self, out: &mut BytesMut) {
        let mut streams = Vec::with_capacity(2);
        if let Some(v) = self.video {
            streams.push((StreamType::for_codec(v), VIDEO_PID));
        }
        if self.audio.is_some() {
            streams.push((StreamType::ADTS_AAC, AUDIO_PID));
        }
        let pat = build_pat(PROGRAM_NUMBER, PMT_PID);
        let pmt = build_pmt(PROGRAM_NUMBER, self.pcr_pid(), &streams);
        for (pid, section, cc) in [(0, pat, &mut self.cc_pat), (PMT_PID, pmt, &mut self.cc_pmt)] {
            let mut payload = BytesMut::with_capacity(PACKET_SIZE - 4);
            payload.put_u8(0); // pointer_field
            payload.put_slice(&section);
            let fill = (PACKET_SIZE - 4).saturating_sub(payload.len());
            payload.put_bytes(0xFF, fill);
            write_packet(out, pid, true, *cc, AdaptationOptions::default(), &payload);
            *cc = (*cc + 1) & 0xF;
        }
    }

    /// The access unit as written: an AUD first (ISO/IEC 13818-1 §2.14.1 requires one per
    /// AVC access unit) and, on keyframes, the parameter sets when the AU lacks them.
    fn video_access_unit(&self, frame: &Frame) -> Bytes {
        let codec = frame.codec;
        let (mut vps, mut sps, mut pps) = (false, false, false);
        for n in nal_units(&frame.data) {
            match (codec, nal_type(codec, n)) {
                (Codec::H265, Some(nal::H265_VPS)) => vps = true,
                (Codec::H264, Some(nal::H264_SPS)) | (Codec::H265, Some(nal::H265_SPS)) => {
                    sps = true
                }
                (Codec::H264, Some(nal::H264_PPS)) | (Codec::H265, Some(nal::H265_PPS)) => {
                    pps = true
                }
                _ => {}
            }
        }
        let has_params = sps && pps && (vps || codec != Codec::H265);
        let params = self
            .video_config
            .as_ref()
            .filter(|c| frame.keyframe && !has_params && c.codec == codec);
        let starts_with_aud = nal_units(&frame.data)
            .next()
            .is_some_and(|n| is_aud(codec, n));
        if starts_with_aud && params.is_none() {
            return frame.data.clone();
        }
        let mut au = BytesMut::with_capacity(frame.data.len() + 64);
        au.put_slice(&START_CODE);
        au.put_slice(if codec == Codec::H265 {
            &H265_AUD
        } else {
            &H264_AUD
        });
        if let Some(c) = params {
            for n in c.vps.iter().chain([&c.sps, &c.pps]) {
                au.put_slice(&START_CODE);
                au.put_slice(n);
            }
        }
        for n in nal_units(&frame.data).filter(|n| !is_aud(codec, n)) {
            au.put_slice(&START_CODE);
            au.put_slice(n);
        }
        au.freeze()
    }
}
