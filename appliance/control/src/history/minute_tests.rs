//! The minute accumulator, the ring and the in-memory merge of rows.

use relevo_engine::metrics::{FlowState, Snapshot};
use std::sync::Arc;

use super::fixtures::*;
use super::*;

fn snap(inputs: Vec<relevo_engine::metrics::InputSnapshot>) -> Arc<Snapshot> {
    Arc::new(Snapshot {
        inputs,
        recording_disk: None,
    })
}

#[test]
fn seconds_make_one_row_per_flow_and_minute() {
    let mut state = task::State::default();
    let mut i = input("studio", FlowState::Live);
    i.outputs
        .push(output("cdn", "push_rtmp", FlowState::Retrying));
    // at(20) is 20 s into a minute: 40 seconds of it, then 5 of the next.
    assert_eq!(at(20).second(), 20);
    for s in 0..45 {
        i.bytes_in += 125_000;
        i.bitrate.last_1s = if s % 2 == 0 { 1_000_000 } else { 1_200_000 };
        i.state = if s < 30 {
            FlowState::Live
        } else {
            FlowState::Idle
        };
        state.apply(&snap(vec![i.clone()]), at(20 + s));
    }
    let rows: Vec<_> = state.minutes.pending.iter().cloned().collect();
    assert_eq!(rows.len(), 2, "the closed minute: the input and its output");
    let row = rows.iter().find(|r| r.output.is_none()).expect("input row");
    assert_eq!(row.minute, minute::minute_of(at(20)));
    assert_eq!(
        (row.secs_live, row.secs_waiting, row.secs_meant),
        (30, 10, 40)
    );
    assert_eq!((row.bitrate_min, row.bitrate_max), (1_000_000, 1_200_000));
    assert_eq!(row.bitrate_avg, 1_100_000);
    // The first snapshot is the base: 39 deltas of 125 000 bytes.
    assert_eq!(row.bytes, 39 * 125_000);
    let out = rows
        .iter()
        .find(|r| r.output.is_some())
        .expect("output row");
    assert_eq!((out.secs_failing, out.secs_meant), (40, 30));
    // The current minute, in memory, with the pending rows.
    let flow = FlowRef {
        input: "studio".into(),
        output: None,
    };
    let mem = state.memory_rows(&flow);
    assert_eq!(mem.len(), 2);
    assert_eq!(mem[1].secs_waiting, 5);
    assert_eq!(state.rings.seconds(&flow).len(), 45);
}

#[test]
fn rows_merge_like_the_database_merges_them() {
    let row = |live: i32, avg: i64, min: i64, max: i64| MinuteRow {
        minute: at(0),
        input: "i".into(),
        output: None,
        secs_live: live,
        secs_waiting: 0,
        secs_failing: 0,
        secs_stopped: 0,
        secs_meant: live,
        bitrate_avg: avg,
        bitrate_min: min,
        bitrate_max: max,
        bytes: 10,
        reconnects: 1,
        dropped: 0,
        srt_rtt_ms: None,
        srt_packets: Some(5),
        srt_lost: None,
        srt_retransmitted: None,
        peers_max: 1,
    };
    let mut a = row(30, 1000, 900, 1100);
    task::merge_row(&mut a, &row(10, 2000, 1500, 2500));
    assert_eq!((a.secs_live, a.bitrate_avg), (40, 1250));
    assert_eq!((a.bitrate_min, a.bitrate_max), (900, 2500));
    assert_eq!(
        (a.bytes, a.reconnects, a.srt_packets, a.srt_lost),
        (20, 2, Some(10), None)
    );
}

#[test]
fn the_ring_keeps_an_hour_and_forgets_flows_gone_for_an_hour() {
    let mut rings = ring::Rings::default();
    let a = FlowRef {
        input: "a".into(),
        output: None,
    };
    let b = FlowRef {
        input: "b".into(),
        output: None,
    };
    let second = live_second;
    rings.push(&b, second(0));
    for t in 0..(ring::RING_SECS as i64 + 100) {
        rings.push(&a, second(t));
    }
    let kept = rings.seconds(&a);
    assert_eq!(kept.len(), ring::RING_SECS);
    assert_eq!(kept[0].at, at(100));
    rings.prune(at(ring::RING_SECS as i64 + 100));
    assert_eq!(rings.len(), 1, "b's last second is over an hour old");
    assert!(rings.seconds(&b).is_empty());
}

#[test]
fn minutes_are_utc_minutes() {
    let t = time::macros::datetime!(2026-12-07 20:41:37.5 UTC);
    assert_eq!(
        minute::minute_of(t),
        time::macros::datetime!(2026-12-07 20:41 UTC)
    );
}
