//! Snapshots to fold in unit tests: an input and outputs with every counter at zero, to be
//! changed field by field.

use std::time::{Duration, SystemTime};

use relevo_engine::metrics::{
    Bitrate, FlowState, InputSnapshot, OutputSnapshot, PeerSnapshot, PublisherInfo, SrtLink,
};
use time::OffsetDateTime;

pub fn at(secs: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_800_000_000 + secs).expect("in range")
}

/// A live, meant second of a flow without SRT, at [`at`]`(secs)`.
pub fn live_second(secs: i64) -> super::Second {
    super::Second {
        at: at(secs),
        state: super::StateClass::Live,
        meant: true,
        bitrate: 0,
        reconnects: 0,
        dropped: 0,
        srt_rtt_ms: None,
        srt_packets: None,
        srt_lost: None,
        srt_retransmitted: None,
        peers: 0,
    }
}

pub fn since(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
}

pub fn input(name: &str, state: FlowState) -> InputSnapshot {
    InputSnapshot {
        name: name.into(),
        state,
        publisher: None,
        srt: None,
        bitrate: Bitrate::default(),
        bytes_in: 0,
        publishes: 0,
        rejections: 0,
        stream_errors: 0,
        uptime_secs: None,
        last_error: None,
        codecs: None,
        backup: None,
        on_air: None,
        on_air_since: None,
        last_switch: None,
        feed_switches: Default::default(),
        outputs: Vec::new(),
    }
}

pub fn output(name: &str, kind: &'static str, state: FlowState) -> OutputSnapshot {
    OutputSnapshot {
        name: name.into(),
        kind,
        state,
        bitrate: Bitrate::default(),
        bytes_out: 0,
        dropped: 0,
        reconnects: 0,
        peers: 0,
        connections: Vec::new(),
        uptime_secs: None,
        latency: None,
        last_error: None,
        record: None,
        hls: None,
        compat: Vec::new(),
    }
}

pub fn publisher(peer: &str, since_secs: u64) -> PublisherInfo {
    PublisherInfo {
        protocol: "srt",
        peer: peer.into(),
        since: since(since_secs),
    }
}

pub fn link(packets: u64, lost: u64, retransmitted: Option<u64>) -> SrtLink {
    SrtLink {
        rtt_ms: 20.0,
        packets,
        packets_lost: lost,
        packets_retransmitted: retransmitted,
        packets_dropped: 0,
        latency_ms: 120,
        buffer_ms: 0,
        bandwidth_mbps: 10.0,
    }
}

pub fn reader(addr: &str, since_secs: u64) -> PeerSnapshot {
    PeerSnapshot {
        protocol: "srt",
        addr: addr.into(),
        since: since(since_secs),
        srt: None,
    }
}
