//! Keeps the MPEG-TS outputs' timeline continuous across a switch of feed (inputs with a
//! backup only): two encoders' clocks have nothing in common, and a reader such as ffmpeg
//! takes a jump of a few seconds for a hole in the recording. After a switch, every
//! packet's PCR, PTS and DTS are moved so that the new feed's first keyframe follows the
//! last timestamp sent by the wall-clock time in between (as `FlvClock` does for RTMP), and
//! continuity counters carry on (see `record::ts_time`, which does the same for a TS
//! recording across publishers). Before the first switch packets pass untouched.

use std::time::Instant;

use bytes::Bytes;
use relevo_media::ts::PACKET_SIZE;

use crate::record::ts_time::{pes_dts, shift, Continuity};

/// 2^33: PTS, DTS and the PCR base wrap there.
const WRAP: i64 = 1 << 33;

#[derive(Debug)]
pub(crate) struct TsClock {
    /// Added to every timestamp (90 kHz, modulo 2^33) once `shifting`.
    offset: i64,
    shifting: bool,
    /// The next keyframe starts the new feed's timeline.
    rebase: bool,
    /// Highest DTS sent (33-bit, shifted) and when.
    last: Option<(i64, Instant)>,
    cc: Continuity,
}

impl TsClock {
    pub fn new() -> Self {
        Self {
            offset: 0,
            shifting: false,
            rebase: false,
            last: None,
            cc: Continuity::new(),
        }
    }

    /// Another feed (or a returning publisher) continues the stream at its next keyframe.
    pub fn splice(&mut self) {
        self.rebase = true;
        self.shifting = true;
        self.cc.renumber();
    }

    /// One chunk on its way to the TS outputs, retimed. While a splice waits for its
    /// keyframe, what comes before it is not sent to anyone (the outputs wait for the
    /// keyframe) and passes untouched.
    pub fn apply(&mut self, data: &[u8], keyframe: bool, now: Instant) -> Bytes {
        if self.rebase && !keyframe {
            return Bytes::copy_from_slice(data);
        }
        let mut buf = data.to_vec();
        for p in buf.chunks_exact_mut(PACKET_SIZE) {
            if self.rebase {
                if let Some(dts) = pes_dts(p) {
                    self.rebase = false;
                    if let Some((last, at)) = self.last {
                        let gap = i64::try_from(now.duration_since(at).as_micros() * 9 / 100)
                            .unwrap_or(0)
                            .max(1);
                        self.offset = (last + gap - dts as i64).rem_euclid(WRAP);
                    }
                }
            }
            if self.shifting {
                shift(p, self.offset);
            }
            self.cc.apply(p);
            if let Some(d) = pes_dts(p) {
                let d = d as i64;
                // Ahead of the last one, modulo the 33-bit wrap.
                let ahead = self
                    .last
                    .is_none_or(|(l, _)| (d - l).rem_euclid(WRAP) < WRAP / 2);
                if ahead {
                    self.last = Some((d, now));
                }
            }
        }
        Bytes::from(buf)
    }
}
