//! Per-track state of the muxer: the sample waiting for its duration, and the queue of
//! completed samples not yet written in a fragment.

use super::fragment::{SampleEntry, TrackRun, FLAGS_NON_SYNC, FLAGS_SYNC};
use super::init::{timescale, track_id};
use super::muxer::TrackConfig;
use super::sample::append_avcc;
use super::{Mp4Error, MAX_FRAGMENT_BYTES};
use crate::frame::Frame;
use bytes::{Bytes, BytesMut};
use std::collections::VecDeque;

/// A frame converted to its sample form, not yet placed on the file's timeline.
#[derive(Debug, Clone)]
pub(crate) struct Prepared {
    /// 90 kHz DTS as pushed.
    pub(crate) dts: i64,
    /// PTS - DTS in the track timescale.
    pub(crate) cto: i32,
    pub(crate) sync: bool,
    pub(crate) data: Bytes,
}

/// The last sample of a track, waiting for its successor to know its duration.
#[derive(Debug, Clone)]
pub(crate) struct Held {
    pub(crate) decode_time: u64,
    pub(crate) sample: Prepared,
}

/// A sample with its duration, queued for the next fragment(s).
#[derive(Debug, Clone)]
struct Done {
    dts: i64,
    decode_time: u64,
    entry: SampleEntry,
    data: Bytes,
}

#[derive(Debug)]
pub(crate) struct Track {
    pub(crate) config: TrackConfig,
    pub(crate) id: u32,
    pub(crate) timescale: u32,
    pub(crate) held: Option<Held>,
    pub(crate) last_duration: Option<u32>,
    pub(crate) last_dts: Option<i64>,
    done: VecDeque<Done>,
    done_bytes: usize,
}

impl Track {
    pub(crate) fn new(index: usize, config: TrackConfig) -> Self {
        Self {
            timescale: timescale(&config),
            id: track_id(index),
            config,
            held: None,
            last_duration: None,
            last_dts: None,
            done: VecDeque::new(),
            done_bytes: 0,
        }
    }

    pub(crate) fn is_video(&self) -> bool {
        matches!(self.config, TrackConfig::Video(_))
    }

    /// Bytes and samples queued.
    pub(crate) fn queued(&self) -> (usize, usize) {
        (self.done_bytes, self.done.len())
    }

    /// Queues the held sample with its now known duration.
    pub(crate) fn complete(&mut self, held: Held, duration: u32) {
        let s = held.sample;
        self.done_bytes += s.data.len();
        self.done.push_back(Done {
            dts: s.dts,
            decode_time: held.decode_time,
            entry: SampleEntry {
                duration,
                // Bounded by MAX_FRAGMENT_BYTES in `prepare`.
                size: u32::try_from(s.data.len()).unwrap_or(u32::MAX),
                flags: if s.sync { FLAGS_SYNC } else { FLAGS_NON_SYNC },
                cto: s.cto,
            },
            data: s.data,
        });
        self.last_duration = Some(duration);
    }

    /// Takes the queued samples with a DTS before `limit` (all when `None`).
    pub(crate) fn take_run(&mut self, limit: Option<i64>) -> TrackRun {
        let mut run = TrackRun {
            track_id: self.id,
            ..Default::default()
        };
        while let Some(d) = self.done.front() {
            if limit.is_some_and(|l| d.dts >= l) {
                break;
            }
            let Some(d) = self.done.pop_front() else {
                break;
            };
            if run.samples.is_empty() {
                run.base_decode_time = d.decode_time;
            }
            self.done_bytes -= d.data.len();
            run.samples.push(d.entry);
            run.data.extend_from_slice(&d.data);
        }
        run
    }

    /// Converts a frame to its sample bytes and composition offset, without changing state.
    pub(crate) fn prepare(&self, index: usize, frame: &Frame) -> Result<Prepared, Mp4Error> {
        let data = match &self.config {
            TrackConfig::Video(config) => {
                let mut buf = BytesMut::with_capacity(frame.data.len());
                append_avcc(index, config, &frame.data, &mut buf)?;
                buf.freeze()
            }
            TrackConfig::Audio(_) => frame.data.clone(),
        };
        if data.len() > MAX_FRAGMENT_BYTES {
            return Err(Mp4Error::SampleTooLarge {
                track: index,
                len: data.len(),
                max: MAX_FRAGMENT_BYTES,
            });
        }
        let offset = frame.pts.saturating_sub(frame.dts);
        let cto = i64::try_from(i128::from(offset) * i128::from(self.timescale) / 90_000)
            .ok()
            .and_then(|c| i32::try_from(c).ok())
            .ok_or(Mp4Error::CompositionOffset {
                track: index,
                offset,
            })?;
        Ok(Prepared {
            dts: frame.dts,
            cto,
            // Every AAC frame is a sync sample.
            sync: frame.keyframe || !self.is_video(),
            data,
        })
    }
}

/// 90 kHz ticks since the origin in `timescale` units, rounded to nearest.
pub(crate) fn to_timescale(ticks: i64, timescale: u32) -> Option<u64> {
    let scaled = (i128::from(ticks) * i128::from(timescale) + 45_000) / 90_000;
    u64::try_from(scaled).ok()
}
