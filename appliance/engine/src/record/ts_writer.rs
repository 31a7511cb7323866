//! The `ts` recording: the hub's MPEG-TS written as it came, every program and PID kept
//! (a second audio, SCTE-35, teletext, data), starting at a keyframe.
//!
//! Each file starts with the latest PAT and PMTs and then a keyframe chunk, so it plays on
//! its own. Packets are handed to the [`Sink`] in blocks that end before a keyframe (or at
//! [`MAX_BLOCK`]), whole packets only. A publisher blip continues the file; the returning
//! publisher's PCR/PTS/DTS are moved to follow the last written ones (see `ts_time`).

use std::collections::BTreeMap;

use relevo_media::timestamp::Unwrapper33;
use relevo_media::ts::PACKET_SIZE;

use super::ts_time::{pat_pmt_pids, pes_dts, pid, shift, Continuity};
use super::{RecordError, Sink, REBASE_STEP_90K};
use crate::unit::TsChunk;

/// Largest block handed to the sink at once: 1 MiB, 1.4 s at 6 Mbit/s. Bounds what a crash
/// can lose of a long GOP and the memory one recording holds.
pub(crate) const MAX_BLOCK: usize = 1 << 20;

/// Packets of one PSI table kept for the next file's start (a PMT rarely spans more than
/// one packet; 8 is 1.3 KiB of section, past the 1 KiB a PMT may have, §2.4.4.8).
const MAX_PSI_PACKETS: usize = 8;

/// MPEG-TS muxers keep audio within about 0.7 s of the video it plays with (ffmpeg's
/// `max_delay`): a returning publisher's keyframe is placed 1 s after the last written
/// timestamp so that its audio, a little earlier, still follows the old audio.
const RESUME_LEAD_90K: i64 = 90_000;

/// See the [module docs](self).
#[derive(Debug)]
pub(crate) struct TsWriter {
    segment_90k: i64,
    /// Latest PAT (PID 0) and PMT packets, from the last section start.
    psi: BTreeMap<u16, Vec<u8>>,
    pmt_pids: Vec<u16>,
    clock: Unwrapper33,
    /// Keyframe DTS the open file started at (unwrapped); `None`: no file open.
    file_start: Option<i64>,
    /// Highest PTS/DTS written (unwrapped, after shifting).
    last: Option<i64>,
    block: Vec<u8>,
    /// Added to the returning publisher's timestamps (90 kHz).
    offset: i64,
    /// Waiting for the returning publisher's first keyframe to choose `offset`.
    rebase: bool,
    continuity: Continuity,
}

impl TsWriter {
    pub fn new(segment_90k: i64) -> Self {
        Self {
            segment_90k,
            psi: BTreeMap::new(),
            pmt_pids: Vec::new(),
            clock: Unwrapper33::new(),
            file_start: None,
            last: None,
            block: Vec::new(),
            offset: 0,
            rebase: false,
            continuity: Continuity::new(),
        }
    }

    /// The stream continues from another publisher (or after a loss).
    pub fn resume(&mut self) {
        self.rebase = true;
        self.continuity.renumber();
    }

    /// DTS span of the open file so far (90 kHz).
    pub fn file_duration_90k(&self) -> i64 {
        match (self.file_start, self.last) {
            (Some(s), Some(l)) => (l - s).max(0),
            _ => 0,
        }
    }

    pub fn push(&mut self, chunk: &TsChunk, sink: &mut dyn Sink) -> Result<(), RecordError> {
        // A keyframe chunk starts with the video PES, or (remuxed from RTMP) with the
        // PAT and PMT repeated before it.
        let key_dts = chunk
            .keyframe
            .then(|| chunk.data.chunks_exact(PACKET_SIZE).find_map(pes_dts))
            .flatten();
        if self.rebase {
            let Some(raw) = key_dts else {
                // Before the new publisher's first keyframe come its tables (the hub
                // replays them): written as they are, they carry no timestamps.
                let mut data = chunk.data.to_vec();
                for p in data.chunks_exact_mut(PACKET_SIZE) {
                    self.continuity.apply(p);
                }
                self.note_psi(&data);
                if self.file_start.is_some() {
                    self.block.extend_from_slice(&data);
                }
                return Ok(());
            };
            self.rebase = false;
            if let Some(last) = self.last {
                self.offset = last + REBASE_STEP_90K + RESUME_LEAD_90K - raw as i64;
                // The unwrapper follows the shifted clock, which continues the old one.
            } else {
                self.offset = 0;
            }
        }
        let mut data = chunk.data.to_vec();
        for p in data.chunks_exact_mut(PACKET_SIZE) {
            if self.offset != 0 {
                shift(p, self.offset);
            }
            self.continuity.apply(p);
        }
        if let Some(raw) = key_dts {
            let dts = self
                .clock
                .unwrap((raw as i64 + self.offset).rem_euclid(1 << 33) as u64);
            self.write_block(sink)?;
            if self.file_start.is_some_and(|s| dts - s >= self.segment_90k) {
                self.close(sink)?;
            }
            if self.file_start.is_none() {
                sink.open()?;
                self.file_start = Some(dts);
                self.last = self.last.max(Some(dts));
                for packets in self.psi.values() {
                    self.block.extend_from_slice(packets);
                }
            }
        }
        self.note_psi(&data);
        if self.file_start.is_none() {
            return Ok(()); // waiting for a keyframe
        }
        for p in data.chunks_exact(PACKET_SIZE) {
            if let Some(raw) = pes_dts(p) {
                let t = self.clock.unwrap(raw);
                self.last = self.last.max(Some(t));
            }
        }
        self.block.extend_from_slice(&data);
        if self.block.len() >= MAX_BLOCK {
            self.write_block(sink)?;
        }
        Ok(())
    }

    /// Hands what is held to the sink (the task calls it every few seconds, so a crash
    /// loses little of a long GOP).
    pub fn write_block(&mut self, sink: &mut dyn Sink) -> Result<(), RecordError> {
        if self.block.is_empty() || self.file_start.is_none() {
            return Ok(());
        }
        let media = self.file_duration_90k();
        let result = sink.write(&self.block, media);
        self.block.clear();
        result
    }

    /// The stream ended: the rest is written and the file closed.
    pub fn finish(&mut self, sink: &mut dyn Sink) -> Result<(), RecordError> {
        self.close(sink)
    }

    fn close(&mut self, sink: &mut dyn Sink) -> Result<(), RecordError> {
        if self.file_start.is_none() {
            return Ok(());
        }
        let written = self.write_block(sink);
        self.file_start = None;
        written?;
        sink.close()
    }

    /// Keeps the latest PAT and PMT packets for the next file's start.
    fn note_psi(&mut self, data: &[u8]) {
        for p in data.chunks_exact(PACKET_SIZE) {
            let Some(id) = pid(p) else { continue };
            if id == 0 {
                let pids = pat_pmt_pids(p);
                if !pids.is_empty() {
                    self.psi.retain(|k, _| *k == 0 || pids.contains(k));
                    self.pmt_pids = pids;
                }
            } else if !self.pmt_pids.contains(&id) {
                continue;
            }
            let starts = p[1] & 0x40 != 0;
            let kept = self.psi.entry(id).or_default();
            if starts {
                kept.clear();
            }
            if (!kept.is_empty() || starts) && kept.len() < MAX_PSI_PACKETS * PACKET_SIZE {
                kept.extend_from_slice(p);
            }
        }
    }
}
