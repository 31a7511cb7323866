//! Push-driven MPEG-TS demuxer: packets in, [`DemuxEvent`]s out.

use super::packet::Packet;
use super::pes::parse_header;
use super::psi::{parse_pat, parse_pmt, SectionBuffer};
use super::{DemuxEvent, TrackInfo, TsError, MAX_PES_SIZE, PACKET_SIZE, SYNC_BYTE};
use crate::aac::{split_adts, SAMPLES_PER_FRAME};
use crate::annexb::{extract_config, is_keyframe, is_random_access};
use crate::frame::{AudioConfig, Codec, Frame, VideoConfig};
use crate::timestamp::Unwrapper33;
use bytes::{Bytes, BytesMut};

/// Reassembly state of one elementary stream.
#[derive(Debug)]
struct EsState {
    pid: u16,
    codec: Codec,
    buf: BytesMut,
    active: bool,
    last_cc: Option<u8>,
}

impl EsState {
    fn new(pid: u16, codec: Codec) -> Self {
        Self {
            pid,
            codec,
            buf: BytesMut::new(),
            active: false,
            last_cc: None,
        }
    }

    /// Total PES size when PES_packet_length is set.
    fn expected_len(&self) -> Option<usize> {
        es_len(&self.buf)
    }
}

/// MPEG-TS demuxer for the first program; see the [module docs](super).
///
/// Errors never stop the demuxer: a bad packet, section or PES is skipped and counted
/// ([`error_count`](Self::error_count)), and the rest of the data is still processed.
#[derive(Debug, Default)]
pub struct TsDemuxer {
    pat: SectionBuffer,
    pmt: SectionBuffer,
    pmt_pid: Option<u16>,
    tracks: Option<Vec<TrackInfo>>,
    video: Option<EsState>,
    audio: Option<EsState>,
    clock: Unwrapper33,
    video_config: Option<VideoConfig>,
    audio_config: Option<AudioConfig>,
    errors: u64,
    first_error: Option<TsError>,
    last_error: Option<TsError>,
}

impl TsDemuxer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds whole 188-byte packets. Every valid packet is processed and its events are
    /// appended to `out`; the first problem met in this call is returned (after processing
    /// everything), so a caller can count or log it and keep going.
    pub fn push(&mut self, data: &[u8], out: &mut Vec<DemuxEvent>) -> Result<(), TsError> {
        let mut pos = 0;
        while let Some(rest) = data.get(pos..).filter(|r| !r.is_empty()) {
            if rest.len() < PACKET_SIZE {
                self.record(TsError::PartialPacket(rest.len()));
                break;
            }
            if rest.first() != Some(&SYNC_BYTE) {
                let skipped = resync(rest);
                self.record(TsError::Sync {
                    offset: pos,
                    skipped,
                });
                pos += skipped;
                continue;
            }
            let packet = rest.get(..PACKET_SIZE).unwrap_or_default();
            match Packet::parse(packet) {
                Ok(p) => self.packet(&p, pos, out),
                Err(e) => self.record(e),
            }
            pos += PACKET_SIZE;
        }
        match self.first_error.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Emits the PES in progress on each stream (end of input).
    pub fn flush(&mut self, out: &mut Vec<DemuxEvent>) {
        self.finish_pending(out);
        self.first_error = None;
    }

    fn finish_pending(&mut self, out: &mut Vec<DemuxEvent>) {
        if let Some(mut es) = self.video.take() {
            if es.active {
                self.finish(&mut es, out);
            }
            self.video = Some(es);
        }
        if let Some(mut es) = self.audio.take() {
            if es.active {
                self.finish(&mut es, out);
            }
            self.audio = Some(es);
        }
    }

    /// Problems met since creation (bad packets, sections, PES, ADTS frames).
    pub fn error_count(&self) -> u64 {
        self.errors
    }

    /// The most recent problem.
    pub fn last_error(&self) -> Option<&TsError> {
        self.last_error.as_ref()
    }

    /// The elementary streams of the current PMT.
    pub fn tracks(&self) -> Option<&[TrackInfo]> {
        self.tracks.as_deref()
    }

    /// The PMT PID named by the last PAT seen, once one has been.
    pub fn pmt_pid(&self) -> Option<u16> {
        self.pmt_pid
    }

    fn record(&mut self, e: TsError) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(e.clone());
        }
        self.last_error = Some(e);
    }

    fn packet(&mut self, p: &Packet<'_>, offset: usize, out: &mut Vec<DemuxEvent>) {
        if p.pid == 0 {
            if let Some(section) = self.pat.push(p.pusi, p.payload) {
                match parse_pat(&section) {
                    Ok(Some(pid)) if self.pmt_pid != Some(pid) => {
                        self.pmt_pid = Some(pid);
                        self.pmt = SectionBuffer::default();
                    }
                    Ok(_) => {}
                    Err(e) => self.record(e),
                }
            }
        } else if Some(p.pid) == self.pmt_pid {
            if let Some(section) = self.pmt.push(p.pusi, p.payload) {
                match parse_pmt(p.pid, &section) {
                    Ok(Some(tracks)) => self.on_pmt(tracks, out),
                    Ok(None) => {}
                    Err(e) => self.record(e),
                }
            }
        } else if self.video.as_ref().is_some_and(|v| v.pid == p.pid) {
            if let Some(mut es) = self.video.take() {
                self.on_es(&mut es, p, offset, out);
                self.video = Some(es);
            }
        } else if self.audio.as_ref().is_some_and(|a| a.pid == p.pid) {
            if let Some(mut es) = self.audio.take() {
                self.on_es(&mut es, p, offset, out);
                self.audio = Some(es);
            }
        }
    }

    fn on_pmt(&mut self, tracks: Vec<TrackInfo>, out: &mut Vec<DemuxEvent>) {
        if self.tracks.as_ref() == Some(&tracks) {
            return;
        }
        let video = tracks.iter().find(|t| t.codec.is_some_and(Codec::is_video));
        let audio = tracks.iter().find(|t| t.codec == Some(Codec::Aac));
        let same = |es: &Option<EsState>, t: Option<&TrackInfo>| match (es, t) {
            (Some(es), Some(t)) => Some(es.pid) == Some(t.pid) && Some(es.codec) == t.codec,
            (None, None) => true,
            _ => false,
        };
        if !same(&self.video, video) || !same(&self.audio, audio) {
            self.finish_pending(out);
        }
        if !same(&self.video, video) {
            self.video = video.and_then(|t| Some(EsState::new(t.pid, t.codec?)));
        }
        if !same(&self.audio, audio) {
            self.audio = audio.and_then(|t| Some(EsState::new(t.pid, t.codec?)));
        }
        out.push(DemuxEvent::Program(tracks.clone()));
        self.tracks = Some(tracks);
    }

    fn on_es(
        &mut self,
        es: &mut EsState,
        p: &Packet<'_>,
        offset: usize,
        out: &mut Vec<DemuxEvent>,
    ) {
        if !p.has_payload {
            return; // continuity_counter does not advance (§2.4.3.3)
        }
        if let Some(last) = es.last_cc {
            let expected = (last + 1) & 0xF;
            if p.cc == last && !p.discontinuity {
                return; // duplicate packet
            }
            if p.cc != expected && !p.discontinuity {
                es.active = false;
                es.buf.clear();
                self.record(TsError::Continuity {
                    pid: p.pid,
                    expected,
                    got: p.cc,
                });
            }
        }
        es.last_cc = Some(p.cc);
        if p.pusi {
            if es.active {
                self.finish(es, out);
            }
            es.buf.clear();
            es.buf.extend_from_slice(p.payload);
            es.active = true;
            if es.codec.is_video() && (p.random_access || self.starts_keyframe(es, p.payload)) {
                out.push(DemuxEvent::KeyframeStart { offset });
            }
        } else if es.active {
            let size = es.buf.len() + p.payload.len();
            if size > MAX_PES_SIZE {
                es.active = false;
                es.buf.clear();
                self.record(TsError::PesTooLarge { pid: p.pid, size });
                return;
            }
            es.buf.extend_from_slice(p.payload);
        } else {
            return; // joined mid-PES, or after an error
        }
        if es.expected_len().is_some_and(|total| es.buf.len() >= total) {
            self.finish(es, out);
        }
    }

    fn starts_keyframe(&self, es: &EsState, payload: &[u8]) -> bool {
        parse_header(es.pid, payload)
            .ok()
            .and_then(|h| payload.get(h.payload_offset..))
            .is_some_and(|data| is_random_access(es.codec, data))
    }

    fn finish(&mut self, es: &mut EsState, out: &mut Vec<DemuxEvent>) {
        es.active = false;
        let mut pes = es.buf.split().freeze();
        if let Some(total) = es_len(&pes) {
            pes.truncate(total);
        }
        let header = match parse_header(es.pid, &pes) {
            Ok(h) => h,
            Err(e) => return self.record(e),
        };
        let Some(pts) = header.pts else {
            return self.record(TsError::PesMissingPts { pid: es.pid });
        };
        let payload = pes.slice(header.payload_offset.min(pes.len())..);
        let pts = self.clock.unwrap(pts);
        let dts = header.dts.map_or(pts, |d| self.clock.unwrap(d));
        if es.codec.is_video() {
            self.emit_video(es.codec, pts, dts, payload, out);
        } else {
            self.emit_audio(es.pid, pts, payload, out);
        }
    }

    fn emit_video(
        &mut self,
        codec: Codec,
        pts: i64,
        dts: i64,
        data: Bytes,
        out: &mut Vec<DemuxEvent>,
    ) {
        if let Some(cfg) = extract_config(codec, &data) {
            if self.video_config.as_ref() != Some(&cfg) {
                self.video_config = Some(cfg.clone());
                out.push(DemuxEvent::VideoConfig(cfg));
            }
        }
        let keyframe = is_keyframe(codec, &data);
        out.push(DemuxEvent::Frame(Frame {
            codec,
            pts,
            dts,
            keyframe,
            data,
        }));
    }

    fn emit_audio(&mut self, pid: u16, pts: i64, payload: Bytes, out: &mut Vec<DemuxEvent>) {
        for (i, item) in split_adts(&payload).enumerate() {
            let (cfg, raw) = match item {
                Ok(f) => f,
                Err(source) => {
                    self.record(TsError::Adts { pid, source });
                    continue;
                }
            };
            let rate = i64::from(cfg.sample_rate.max(1));
            let offset = (i as i64).saturating_mul(i64::from(SAMPLES_PER_FRAME) * 90_000) / rate;
            if self.audio_config.as_ref() != Some(&cfg) {
                self.audio_config = Some(cfg.clone());
                out.push(DemuxEvent::AudioConfig(cfg));
            }
            let t = pts.saturating_add(offset);
            out.push(DemuxEvent::Frame(Frame {
                codec: Codec::Aac,
                pts: t,
                dts: t,
                keyframe: true,
                data: payload.slice_ref(raw),
            }));
        }
    }
}

fn es_len(pes: &[u8]) -> Option<usize> {
    let len = u16::from_be_bytes([*pes.get(4)?, *pes.get(5)?]);
    (len != 0).then_some(6 + usize::from(len))
}

/// Bytes to skip to the next sync byte that is followed by another one a packet later
/// (or by the end of the data).
fn resync(data: &[u8]) -> usize {
    (1..data.len())
        .find(|&i| {
            data.get(i) == Some(&SYNC_BYTE)
                && data.get(i + PACKET_SIZE).is_none_or(|&b| b == SYNC_BYTE)
        })
        .unwrap_or(data.len())
}
