use relevo_engine::metrics::{FlowState, Snapshot};

use super::*;
use crate::history::fixtures::*;

fn snap(inputs: Vec<InputSnapshot>) -> Snapshot {
    Snapshot {
        inputs,
        recording_disk: None,
    }
}

fn second_of<'a>(folded: &'a [Folded], input: &str, output: Option<&str>) -> &'a Folded {
    folded
        .iter()
        .find(|f| f.flow.input == input && f.flow.output.as_deref() == output)
        .expect("flow folded")
}

#[test]
fn the_first_snapshot_is_the_base_then_counters_give_deltas() {
    let mut folder = Folder::default();
    let mut i = input("studio", FlowState::Live);
    i.publishes = 5;
    i.bytes_in = 1_000_000;
    let mut o = output("cdn", "push_rtmp", FlowState::Live);
    o.reconnects = 3;
    o.dropped = 10;
    o.bytes_out = 500;
    i.outputs.push(o);
    let first = folder.fold(&snap(vec![i.clone()]), at(0));
    let s = &second_of(&first, "studio", None);
    assert_eq!((s.second.reconnects, s.bytes), (0, 0), "history starts now");

    i.publishes = 6;
    i.bytes_in = 1_250_000;
    i.bitrate.last_1s = 2_000_000;
    i.outputs[0].reconnects = 5;
    i.outputs[0].dropped = 14;
    i.outputs[0].bytes_out = 900;
    let next = folder.fold(&snap(vec![i]), at(1));
    let s = second_of(&next, "studio", None);
    assert_eq!(s.second.reconnects, 1);
    assert_eq!(s.bytes, 250_000);
    assert_eq!(s.second.bitrate, 2_000_000);
    assert_eq!(s.second.dropped, 0, "an input drops nothing");
    let o = second_of(&next, "studio", Some("cdn"));
    assert_eq!(
        (o.second.reconnects, o.second.dropped, o.bytes),
        (2, 4, 400)
    );
}

#[test]
fn a_counter_that_goes_down_was_reset_and_counts_from_zero() {
    assert_eq!(delta(100, 130), 30);
    assert_eq!(delta(100, 7), 7);
    let mut folder = Folder::default();
    let mut i = input("studio", FlowState::Live);
    i.publisher = Some(publisher("192.0.2.1:5000", 0));
    i.srt = Some(link(1000, 10, None));
    folder.fold(&snap(vec![i.clone()]), at(0));
    i.srt = Some(link(1100, 12, None));
    let s = folder.fold(&snap(vec![i.clone()]), at(1));
    let s = &second_of(&s, "studio", None).second;
    assert_eq!((s.srt_packets, s.srt_lost), (Some(100), Some(2)));
    assert_eq!(
        s.srt_retransmitted, None,
        "a receiving link has no resend count"
    );
    assert_eq!(s.srt_rtt_ms, Some(20.0));
    // The publisher reconnected: a new connection whose totals start again.
    i.publisher = Some(publisher("192.0.2.1:5001", 5));
    i.srt = Some(link(40, 1, None));
    let s = folder.fold(&snap(vec![i.clone()]), at(2));
    let s = &second_of(&s, "studio", None).second;
    assert_eq!((s.srt_packets, s.srt_lost), (Some(40), Some(1)));
    // No publisher: no SRT figures.
    i.publisher = None;
    i.srt = None;
    let s = folder.fold(&snap(vec![i]), at(3));
    let s = &second_of(&s, "studio", None).second;
    assert_eq!((s.srt_packets, s.srt_rtt_ms), (None, None));
}

#[test]
fn push_srt_outputs_sum_their_connections_resends() {
    let mut folder = Folder::default();
    let mut i = input("studio", FlowState::Live);
    let mut o = output("srt-out", "push_srt", FlowState::Live);
    let mut peer = reader("198.51.100.9:9000", 0);
    peer.srt = Some(link(500, 5, Some(7)));
    o.connections.push(peer.clone());
    i.outputs.push(o);
    folder.fold(&snap(vec![i.clone()]), at(0));
    peer.srt = Some(link(800, 6, Some(10)));
    i.outputs[0].connections = vec![peer];
    let s = folder.fold(&snap(vec![i]), at(1));
    let s = &second_of(&s, "studio", Some("srt-out")).second;
    assert_eq!(
        (s.srt_packets, s.srt_lost, s.srt_retransmitted),
        (Some(300), Some(1), Some(3))
    );
}

#[test]
fn state_classes_and_what_is_meant_to_run() {
    assert_eq!(StateClass::of(FlowState::Live), StateClass::Live);
    for s in [FlowState::Idle, FlowState::Connecting, FlowState::Waiting] {
        assert_eq!(StateClass::of(s), StateClass::Waiting);
    }
    for s in [
        FlowState::Retrying,
        FlowState::Incompatible,
        FlowState::DiskFull,
    ] {
        assert_eq!(StateClass::of(s), StateClass::Failing);
    }
    assert_eq!(StateClass::of(FlowState::Stopped), StateClass::Stopped);

    let mut folder = Folder::default();
    let mut live = input("live", FlowState::Live);
    live.outputs = vec![
        output("push", "push_rtmp", FlowState::Retrying),
        output("off", "push_rtmp", FlowState::Stopped),
        output("pull-idle", "pull_srt", FlowState::Idle),
        {
            let mut o = output("pull-read", "pull_srt", FlowState::Live);
            o.peers = 2;
            o
        },
        output("hls", "pull_hls", FlowState::Live),
    ];
    let mut idle = input("idle", FlowState::Idle);
    idle.outputs = vec![output("push", "push_rtmp", FlowState::Idle)];
    let stopped = input("stopped", FlowState::Stopped);
    let f = folder.fold(&snap(vec![live, idle, stopped]), at(0));
    let meant = |i: &str, o: Option<&str>| second_of(&f, i, o).second.meant;
    assert!(meant("live", None));
    assert!(
        meant("live", Some("push")),
        "a failing push is meant while its input is live"
    );
    assert!(!meant("live", Some("off")), "a stopped output is not meant");
    assert!(
        !meant("live", Some("pull-idle")),
        "no reader: nothing to serve"
    );
    assert!(meant("live", Some("pull-read")));
    assert!(meant("live", Some("hls")));
    assert!(
        meant("idle", None),
        "an enabled input without publisher is meant: it is down"
    );
    assert!(
        !meant("idle", Some("push")),
        "its outputs are not: their input is not live"
    );
    assert!(!meant("stopped", None));
    assert_eq!(
        second_of(&f, "stopped", None).second.state,
        StateClass::Stopped
    );
    assert_eq!(
        second_of(&f, "live", None).second.peers,
        2,
        "an input's peers are its outputs' readers"
    );
}

#[test]
fn a_flow_that_appears_later_counts_from_zero() {
    let mut folder = Folder::default();
    folder.fold(&snap(vec![]), at(0));
    let mut i = input("new", FlowState::Live);
    i.publishes = 1;
    i.bytes_in = 4000;
    let f = folder.fold(&snap(vec![i]), at(1));
    let s = second_of(&f, "new", None);
    assert_eq!((s.second.reconnects, s.bytes), (1, 4000));
}
