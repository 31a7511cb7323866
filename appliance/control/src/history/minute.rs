//! The minute being counted: one accumulator per flow, turned into `flow_minutes` rows at
//! each minute boundary (or at a flush), and the rows waiting to be written.

use std::collections::{HashMap, VecDeque};

use time::OffsetDateTime;

use super::collector::Folded;
use super::{FlowRef, StateClass};
use crate::store::history::MinuteRow;

/// Rows kept while the database refuses them: an hour of 50 flows (100 rows with their
/// outputs, a minute). Beyond, the oldest go: memory stays bounded through a long outage.
pub(crate) const MAX_PENDING_ROWS: usize = 6000;

/// The start of `at`'s minute (UTC, like `date_trunc('minute', …)`).
pub(crate) fn minute_of(at: OffsetDateTime) -> OffsetDateTime {
    let secs = at.unix_timestamp();
    OffsetDateTime::from_unix_timestamp(secs - secs.rem_euclid(60)).unwrap_or(at)
}

/// One flow's seconds in the minute so far.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Acc {
    live: i32,
    waiting: i32,
    failing: i32,
    stopped: i32,
    meant: i32,
    bitrate_sum: u64,
    bitrate_min: Option<u64>,
    bitrate_max: u64,
    bytes: u64,
    reconnects: u64,
    dropped: u64,
    rtt_sum: f64,
    rtt_n: u32,
    packets: Option<u64>,
    lost: Option<u64>,
    retransmitted: Option<u64>,
    peers_max: u32,
}

impl Acc {
    pub fn add(&mut self, f: &Folded) {
        let s = &f.second;
        match s.state {
            StateClass::Live => self.live += 1,
            StateClass::Waiting => self.waiting += 1,
            StateClass::Failing => self.failing += 1,
            StateClass::Stopped => self.stopped += 1,
        }
        self.meant += i32::from(s.meant);
        self.bitrate_sum += s.bitrate;
        self.bitrate_min = Some(self.bitrate_min.map_or(s.bitrate, |m| m.min(s.bitrate)));
        self.bitrate_max = self.bitrate_max.max(s.bitrate);
        self.bytes += f.bytes;
        self.reconnects += u64::from(s.reconnects);
        self.dropped += s.dropped;
        if let Some(rtt) = s.srt_rtt_ms {
            self.rtt_sum += f64::from(rtt);
            self.rtt_n += 1;
        }
        let add = |sum: &mut Option<u64>, v: Option<u64>| {
            if let Some(v) = v {
                *sum.get_or_insert(0) += v;
            }
        };
        add(&mut self.packets, s.srt_packets);
        add(&mut self.lost, s.srt_lost);
        add(&mut self.retransmitted, s.srt_retransmitted);
        self.peers_max = self.peers_max.max(s.peers);
    }

    fn sampled(&self) -> i32 {
        self.live + self.waiting + self.failing + self.stopped
    }

    pub fn row(&self, flow: &FlowRef, minute: OffsetDateTime) -> MinuteRow {
        let i = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        let n = self.sampled().max(1) as u64;
        MinuteRow {
            minute,
            input: flow.input.clone(),
            output: flow.output.clone(),
            secs_live: self.live,
            secs_waiting: self.waiting,
            secs_failing: self.failing,
            secs_stopped: self.stopped,
            secs_meant: self.meant,
            bitrate_avg: i(self.bitrate_sum / n),
            bitrate_min: i(self.bitrate_min.unwrap_or(0)),
            bitrate_max: i(self.bitrate_max),
            bytes: i(self.bytes),
            reconnects: i(self.reconnects),
            dropped: i(self.dropped),
            srt_rtt_ms: (self.rtt_n > 0).then(|| (self.rtt_sum / f64::from(self.rtt_n)) as f32),
            srt_packets: self.packets.map(i),
            srt_lost: self.lost.map(i),
            srt_retransmitted: self.retransmitted.map(i),
            peers_max: i32::try_from(self.peers_max).unwrap_or(i32::MAX),
        }
    }
}

/// The minute being counted, and the rows of past minutes not written yet.
#[derive(Debug, Default)]
pub(crate) struct Minutes {
    pub current: Option<OffsetDateTime>,
    pub flows: HashMap<FlowRef, Acc>,
    pub pending: VecDeque<MinuteRow>,
}

impl Minutes {
    /// Adds one snapshot's seconds, taken at `at`; when `at` is in a new minute, the
    /// previous one is closed into rows first.
    pub fn add(&mut self, at: OffsetDateTime, folded: &[Folded]) {
        let minute = minute_of(at);
        if self.current != Some(minute) {
            self.close();
            self.current = Some(minute);
        }
        for f in folded {
            match self.flows.get_mut(&f.flow) {
                Some(acc) => acc.add(f),
                None => self.flows.entry(f.flow.clone()).or_default().add(f),
            }
        }
    }

    /// Turns the minute being counted into pending rows (the next seconds start a fresh
    /// count of the same minute, merged by the database).
    pub fn close(&mut self) {
        if let Some(minute) = self.current {
            for (flow, acc) in self.flows.drain() {
                self.pending.push_back(acc.row(&flow, minute));
            }
        }
        while self.pending.len() > MAX_PENDING_ROWS {
            self.pending.pop_front();
        }
    }

    /// Rows to write now.
    pub fn take_pending(&mut self) -> Vec<MinuteRow> {
        self.pending.drain(..).collect()
    }

    /// Rows that could not be written go back in front, for the next attempt (bounded).
    pub fn restore(&mut self, rows: Vec<MinuteRow>) {
        for r in rows.into_iter().rev() {
            self.pending.push_front(r);
        }
        while self.pending.len() > MAX_PENDING_ROWS {
            self.pending.pop_front();
        }
    }
}
