//! The last hour of every flow at one-second resolution, in memory: one bounded ring per
//! flow. A flow that left the snapshot (deleted) keeps its ring until its newest second is
//! an hour old, then the ring goes.
//!
//! Seconds are kept packed ([`Packed`], 40 bytes instead of a [`Second`]'s 104): an hour of
//! 100 flows (50 inputs with one output each) is 14 MiB instead of 36. Per-second figures
//! fit 32 bits (4 Gbit/s, 4 billion packets a second); larger ones saturate.
//!
//! A flow's ring is allocated whole, and written through once, at its first second: the
//! process's memory then does not creep up for an hour after each start (a long run's RSS
//! stays flat and a leak shows), and a full ring is never copied to grow.

use std::collections::{HashMap, VecDeque};

use time::OffsetDateTime;

use super::{FlowRef, Second, StateClass};

/// Seconds kept per flow: one hour, the 1 s resolution the issue asks for.
pub(crate) const RING_SECS: usize = 3600;

/// Memory one flow's second takes in the ring (the cost figure of the README).
pub const BYTES_PER_SECOND: usize = std::mem::size_of::<Packed>();

#[derive(Debug, Default)]
pub(crate) struct Rings {
    flows: HashMap<FlowRef, VecDeque<Packed>>,
}

/// One [`Second`] as the ring keeps it.
#[derive(Debug, Clone, Copy)]
struct Packed {
    /// Unix seconds (the collector takes whole seconds).
    at: i64,
    bitrate: u32,
    dropped: u32,
    peers: u32,
    /// NaN: no SRT link.
    srt_rtt_ms: f32,
    srt_packets: u32,
    srt_lost: u32,
    srt_retransmitted: u32,
    reconnects: u16,
    state: StateClass,
    /// [`MEANT`], [`HAS_SRT`], [`HAS_RETRANSMITTED`].
    flags: u8,
}

/// What a ring's unused slots are first written with.
const BLANK: Packed = Packed {
    at: 0,
    bitrate: 0,
    dropped: 0,
    peers: 0,
    srt_rtt_ms: f32::NAN,
    srt_packets: 0,
    srt_lost: 0,
    srt_retransmitted: 0,
    reconnects: 0,
    state: StateClass::Stopped,
    flags: 0,
};

const MEANT: u8 = 1;
const HAS_SRT: u8 = 2;
const HAS_RETRANSMITTED: u8 = 4;

fn narrow(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl Packed {
    fn pack(s: &Second) -> Self {
        let mut flags = 0;
        if s.meant {
            flags |= MEANT;
        }
        if s.srt_packets.is_some() {
            flags |= HAS_SRT;
        }
        if s.srt_retransmitted.is_some() {
            flags |= HAS_RETRANSMITTED;
        }
        Self {
            at: s.at.unix_timestamp(),
            bitrate: narrow(s.bitrate),
            dropped: narrow(s.dropped),
            peers: s.peers,
            srt_rtt_ms: s.srt_rtt_ms.unwrap_or(f32::NAN),
            srt_packets: narrow(s.srt_packets.unwrap_or(0)),
            srt_lost: narrow(s.srt_lost.unwrap_or(0)),
            srt_retransmitted: narrow(s.srt_retransmitted.unwrap_or(0)),
            reconnects: u16::try_from(s.reconnects).unwrap_or(u16::MAX),
            state: s.state,
            flags,
        }
    }

    fn unpack(&self) -> Second {
        let srt = self.flags & HAS_SRT != 0;
        let when = |v: u32, has: bool| has.then_some(u64::from(v));
        Second {
            at: OffsetDateTime::from_unix_timestamp(self.at).unwrap_or(OffsetDateTime::UNIX_EPOCH),
            state: self.state,
            meant: self.flags & MEANT != 0,
            bitrate: u64::from(self.bitrate),
            reconnects: u32::from(self.reconnects),
            dropped: u64::from(self.dropped),
            srt_rtt_ms: (!self.srt_rtt_ms.is_nan()).then_some(self.srt_rtt_ms),
            srt_packets: when(self.srt_packets, srt),
            srt_lost: when(self.srt_lost, srt),
            srt_retransmitted: when(self.srt_retransmitted, self.flags & HAS_RETRANSMITTED != 0),
            peers: self.peers,
        }
    }
}

/// An empty ring with room for [`RING_SECS`], its pages already written (a reserved but
/// untouched allocation would still grow the RSS second by second).
fn hour() -> VecDeque<Packed> {
    let mut ring = VecDeque::with_capacity(RING_SECS);
    ring.resize(RING_SECS, BLANK);
    ring.clear();
    ring
}

impl Rings {
    pub fn push(&mut self, flow: &FlowRef, second: Second) {
        let ring = match self.flows.get_mut(flow) {
            Some(r) => r,
            None => self.flows.entry(flow.clone()).or_insert_with(hour),
        };
        if ring.len() == RING_SECS {
            ring.pop_front();
        }
        ring.push_back(Packed::pack(&second));
    }

    /// `flow`'s seconds, oldest first.
    pub fn seconds(&self, flow: &FlowRef) -> Vec<Second> {
        self.flows
            .get(flow)
            .map(|r| r.iter().map(Packed::unpack).collect())
            .unwrap_or_default()
    }

    /// `flow`'s seconds from `from` (included) to `to` (excluded).
    pub fn between(
        &self,
        flow: &FlowRef,
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> impl Iterator<Item = Second> + '_ {
        let (from, to) = (from.unix_timestamp(), to.unix_timestamp());
        self.flows
            .get(flow)
            .into_iter()
            .flat_map(|r| r.iter())
            .filter(move |s| s.at >= from && s.at < to)
            .map(Packed::unpack)
    }

    /// The oldest second kept of `flow`.
    pub fn oldest(&self, flow: &FlowRef) -> Option<OffsetDateTime> {
        self.flows
            .get(flow)
            .and_then(|r| r.front())
            .and_then(|s| OffsetDateTime::from_unix_timestamp(s.at).ok())
    }

    /// Drops the rings whose newest second is older than an hour before `now`.
    pub fn prune(&mut self, now: OffsetDateTime) {
        let horizon = (now - time::Duration::seconds(RING_SECS as i64)).unix_timestamp();
        self.flows
            .retain(|_, r| r.back().is_some_and(|s| s.at >= horizon));
    }

    /// Memory reserved for `flow`'s seconds.
    #[cfg(test)]
    fn capacity(&self, flow: &FlowRef) -> usize {
        self.flows.get(flow).map_or(0, VecDeque::capacity)
    }

    /// Flows with a ring.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.flows.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow() -> FlowRef {
        FlowRef {
            input: "cam".into(),
            output: None,
        }
    }

    #[test]
    fn a_ring_is_allocated_whole_at_its_first_second() {
        use crate::history::fixtures::{at, live_second};
        let mut rings = Rings::default();
        rings.push(&flow(), live_second(0));
        let reserved = rings.capacity(&flow());
        assert!(reserved >= RING_SECS, "{reserved}");
        assert_eq!(
            rings.seconds(&flow()).len(),
            1,
            "the blank slots are not seconds"
        );
        for i in 1..=(RING_SECS as i64 + 10) {
            rings.push(&flow(), live_second(i));
        }
        assert_eq!(rings.capacity(&flow()), reserved, "never grown");
        let kept = rings.seconds(&flow());
        assert_eq!(kept.len(), RING_SECS);
        assert_eq!(kept[0].at, at(11));
    }

    #[test]
    fn a_second_comes_back_as_it_went_in() {
        let with_srt = Second {
            at: time::macros::datetime!(2023-11-14 22:13:20 UTC),
            state: StateClass::Failing,
            meant: true,
            bitrate: 6_400_000,
            reconnects: 2,
            dropped: 17,
            srt_rtt_ms: Some(12.5),
            srt_packets: Some(600),
            srt_lost: Some(3),
            srt_retransmitted: Some(4),
            peers: 9,
        };
        let without = Second {
            at: with_srt.at + time::Duration::SECOND,
            state: StateClass::Stopped,
            meant: false,
            srt_rtt_ms: None,
            srt_packets: None,
            srt_lost: None,
            srt_retransmitted: None,
            ..with_srt.clone()
        };
        let receiving = Second {
            at: without.at + time::Duration::SECOND,
            srt_retransmitted: None,
            ..with_srt.clone()
        };
        let mut rings = Rings::default();
        for s in [&with_srt, &without, &receiving] {
            rings.push(&flow(), s.clone());
        }
        assert_eq!(rings.seconds(&flow()), vec![with_srt, without, receiving]);
        assert_eq!(std::mem::size_of::<Packed>(), 40);
    }

    #[test]
    fn figures_too_large_for_a_second_saturate() {
        let huge = Second {
            at: time::macros::datetime!(2023-11-14 22:13:20 UTC),
            state: StateClass::Live,
            meant: true,
            bitrate: u64::MAX,
            reconnects: u32::MAX,
            dropped: 0,
            srt_rtt_ms: None,
            srt_packets: None,
            srt_lost: None,
            srt_retransmitted: None,
            peers: 0,
        };
        let mut rings = Rings::default();
        rings.push(&flow(), huge);
        let back = &rings.seconds(&flow())[0];
        assert_eq!(back.bitrate, u64::from(u32::MAX));
        assert_eq!(back.reconnects, u32::from(u16::MAX));
    }
}
