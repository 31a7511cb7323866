//! Folding: one engine snapshot into one [`Second`] per flow, from the difference with the
//! previous snapshot (counters are totals since a flow or a connection began; history keeps
//! what happened during each second).
//!
//! Not here: keeping the seconds (`ring`), summing them into minutes (`minute`), events
//! (`events`).

use std::collections::HashMap;

use relevo_engine::metrics::{
    FlowState, InputSnapshot, OutputSnapshot, PeerSnapshot, Snapshot, SrtLink,
};
use time::OffsetDateTime;

use super::{FlowRef, Second, StateClass};

/// What one snapshot says of one flow, folded.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Folded {
    pub flow: FlowRef,
    pub second: Second,
    /// Bytes carried during this second (in for an input, out for an output).
    pub bytes: u64,
}

/// The counters of the previous snapshot, per flow and per SRT connection.
#[derive(Debug, Default)]
pub(crate) struct Folder {
    /// `None` before the first snapshot: that one only sets the base (what happened before
    /// the collector started is not this second's).
    prev: Option<HashMap<FlowRef, Totals>>,
}

/// Totals of one flow at the previous snapshot.
#[derive(Debug, Clone, Default)]
struct Totals {
    /// Publishes (input) or reconnects (output).
    reconnects: u64,
    dropped: u64,
    bytes: u64,
    /// SRT totals of each connection, by (address, connected since).
    links: HashMap<LinkKey, SrtLink>,
}

type LinkKey = (String, std::time::SystemTime);

/// SRT figures of one second over one flow's connections.
#[derive(Debug, Default, PartialEq)]
struct SrtSecond {
    rtt_ms: Option<f32>,
    packets: Option<u64>,
    lost: Option<u64>,
    retransmitted: Option<u64>,
}

/// Increase of a total since the previous snapshot; a total that went down was reset (a
/// publisher reconnected, a flow was recreated), so all of it is new.
pub(crate) fn delta(prev: u64, now: u64) -> u64 {
    if now >= prev {
        now - prev
    } else {
        now
    }
}

impl Folder {
    /// Folds `snap`, taken at `at`, into one second per input and output.
    pub fn fold(&mut self, snap: &Snapshot, at: OffsetDateTime) -> Vec<Folded> {
        let first = self.prev.is_none();
        let prev = self.prev.take().unwrap_or_default();
        let mut next = HashMap::with_capacity(prev.len());
        let mut out = Vec::new();
        for input in &snap.inputs {
            let input_live = input.state == FlowState::Live;
            let mut peers = 0u64;
            for o in &input.outputs {
                peers += o.peers;
                let flow = FlowRef {
                    input: input.name.clone(),
                    output: Some(o.name.clone()),
                };
                let totals = Totals {
                    reconnects: o.reconnects,
                    dropped: o.dropped,
                    bytes: o.bytes_out,
                    links: links(&o.connections),
                };
                let base = base(&prev, &flow, first, &totals);
                let srt = srt_second(&base.links, &totals.links);
                out.push(Folded {
                    second: Second {
                        at,
                        state: StateClass::of(o.state),
                        meant: output_meant(o, input_live),
                        bitrate: o.bitrate.last_1s,
                        reconnects: clamp32(delta(base.reconnects, totals.reconnects)),
                        dropped: delta(base.dropped, totals.dropped),
                        srt_rtt_ms: srt.rtt_ms,
                        srt_packets: srt.packets,
                        srt_lost: srt.lost,
                        srt_retransmitted: srt.retransmitted,
                        peers: clamp32(o.peers),
                    },
                    bytes: delta(base.bytes, totals.bytes),
                    flow: flow.clone(),
                });
                next.insert(flow, totals);
            }
            let flow = FlowRef {
                input: input.name.clone(),
                output: None,
            };
            let totals = Totals {
                reconnects: input.publishes,
                // Container errors (`stream_errors`) are the encoder's, not drops by the
                // relay: an input drops nothing.
                dropped: 0,
                bytes: input.bytes_in,
                links: input_link(input),
            };
            let base = base(&prev, &flow, first, &totals);
            let srt = srt_second(&base.links, &totals.links);
            out.push(Folded {
                second: Second {
                    at,
                    state: StateClass::of(input.state),
                    meant: input.state != FlowState::Stopped,
                    bitrate: input.bitrate.last_1s,
                    reconnects: clamp32(delta(base.reconnects, totals.reconnects)),
                    dropped: 0,
                    srt_rtt_ms: srt.rtt_ms,
                    srt_packets: srt.packets,
                    srt_lost: srt.lost,
                    srt_retransmitted: srt.retransmitted,
                    peers: clamp32(peers),
                },
                bytes: delta(base.bytes, totals.bytes),
                flow: flow.clone(),
            });
            next.insert(flow, totals);
        }
        self.prev = Some(next);
        out
    }
}

/// The previous totals of `flow`: the current ones for the very first snapshot (nothing
/// happened yet), zero for a flow that appears later (it began since the last one).
fn base(prev: &HashMap<FlowRef, Totals>, flow: &FlowRef, first: bool, now: &Totals) -> Totals {
    match prev.get(flow) {
        Some(t) => t.clone(),
        None if first => now.clone(),
        None => Totals::default(),
    }
}

/// Whether an output is meant to run this second: not stopped, and its input live. A pull
/// output (SRT or RTMP) runs only for its readers: without one it is idle, not down, so it
/// is meant only while someone reads it. An HLS output is live with its input.
fn output_meant(o: &OutputSnapshot, input_live: bool) -> bool {
    let pull = matches!(o.kind, "pull_srt" | "pull_rtmp");
    o.state != FlowState::Stopped && input_live && (!pull || o.peers > 0)
}

/// The SRT links of an output's connections (a push SRT output's destination, a pull SRT
/// output's readers).
fn links(connections: &[PeerSnapshot]) -> HashMap<LinkKey, SrtLink> {
    connections
        .iter()
        .filter_map(|p| p.srt.map(|l| ((p.addr.clone(), p.since), l)))
        .collect()
}

/// The SRT link of an input's publisher (main feed).
fn input_link(input: &InputSnapshot) -> HashMap<LinkKey, SrtLink> {
    match (&input.publisher, input.srt) {
        (Some(p), Some(l)) => HashMap::from([((p.peer.clone(), p.since), l)]),
        _ => HashMap::new(),
    }
}

/// One second of SRT over every connection: mean RTT, packets carried, lost and resent
/// since the previous snapshot (a new connection counts from zero). `None` without an SRT
/// connection.
fn srt_second(prev: &HashMap<LinkKey, SrtLink>, now: &HashMap<LinkKey, SrtLink>) -> SrtSecond {
    if now.is_empty() {
        return SrtSecond::default();
    }
    let (mut rtt, mut packets, mut lost) = (0.0, 0, 0);
    let mut retransmitted: Option<u64> = None;
    for (key, link) in now {
        let before = prev.get(key);
        rtt += link.rtt_ms;
        packets += delta(before.map_or(0, |b| b.packets), link.packets);
        lost += delta(before.map_or(0, |b| b.packets_lost), link.packets_lost);
        if let Some(r) = link.packets_retransmitted {
            let b = before.and_then(|b| b.packets_retransmitted).unwrap_or(0);
            *retransmitted.get_or_insert(0) += delta(b, r);
        }
    }
    SrtSecond {
        rtt_ms: Some((rtt / now.len() as f64) as f32),
        packets: Some(packets),
        lost: Some(lost),
        retransmitted,
    }
}

fn clamp32(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
#[path = "collector_tests.rs"]
mod tests;
