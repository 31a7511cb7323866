//! The conditions on crafted snapshots.

use std::time::{Duration, Instant, SystemTime};

use relevo_engine::metrics::{
    FlowState, InputSnapshot, PeerSnapshot, RecordingDisk, Snapshot, SrtLink,
};

use super::*;
use crate::alerts::{Condition, Rule};
use crate::history::fixtures::{self, input, output};

/// Receiving links of `packets` carried and `lost` lost (no retransmission count).
fn link(packets: u64, lost: u64) -> SrtLink {
    fixtures::link(packets, lost, None)
}

fn rule(condition: Condition, input: Option<&str>, threshold: Option<f64>, for_secs: u32) -> Rule {
    Rule {
        id: 1,
        name: "r".into(),
        condition,
        input: input.map(Into::into),
        output: None,
        threshold,
        for_secs,
        enabled: true,
    }
}

fn snapshot(inputs: Vec<InputSnapshot>) -> Snapshot {
    Snapshot {
        inputs,
        recording_disk: None,
    }
}

fn holds(obs: &[Observation]) -> Vec<(String, Option<String>, bool)> {
    obs.iter()
        .map(|o| (o.subject.input.clone(), o.subject.output.clone(), o.holds))
        .collect()
}

#[test]
fn input_down_counts_waiting_and_idle_not_stopped() {
    let snap = snapshot(vec![
        input("live", FlowState::Live),
        input("grace", FlowState::Waiting),
        input("idle", FlowState::Idle),
        input("off", FlowState::Stopped),
    ]);
    let ev = Evaluator::default();
    let all = ev.evaluate(
        &rule(Condition::InputDown, None, None, 5),
        &snap,
        &CertStatus::default(),
    );
    assert_eq!(
        holds(&all),
        vec![
            ("live".into(), None, false),
            ("grace".into(), None, true),
            ("idle".into(), None, true),
            ("off".into(), None, false),
        ]
    );
    let one = ev.evaluate(
        &rule(Condition::InputDown, Some("grace"), None, 5),
        &snap,
        &CertStatus::default(),
    );
    assert_eq!(holds(&one), vec![("grace".into(), None, true)]);
}

#[test]
fn output_failing_states_and_stall() {
    let mut cam = input("cam", FlowState::Live);
    cam.outputs = vec![
        output("yt", "push_rtmp", FlowState::Live),
        output("retry", "push_srt", FlowState::Retrying),
        output("codec", "push_rtmp", FlowState::Incompatible),
        output("conn", "push_rtmp", FlowState::Connecting),
        output("pull", "pull_srt", FlowState::Live),
    ];
    let r = rule(Condition::OutputFailing, None, None, 10);
    let mut ev = Evaluator::default();
    let t0 = Instant::now();
    let mut last = Vec::new();
    // `yt` moves its bytes for 3 s, then none for STALL_SECS: stalled; the pull output,
    // which never sends (no reader), is not.
    for s in 0..(3 + STALL_SECS as u64 + 1) {
        cam.outputs[0].bytes_out = 1000 * s.min(3);
        let snap = snapshot(vec![cam.clone()]);
        ev.observe(t0 + Duration::from_secs(s), &snap);
        last = holds(&ev.evaluate(&r, &snap, &CertStatus::default()));
        if s == 3 + u64::from(STALL_SECS) - 1 {
            assert!(!last[0].2, "not stalled yet at {s}");
        }
    }
    assert_eq!(
        last,
        vec![
            ("cam".into(), Some("yt".into()), true),
            ("cam".into(), Some("retry".into()), true),
            ("cam".into(), Some("codec".into()), true),
            ("cam".into(), Some("conn".into()), true),
            ("cam".into(), Some("pull".into()), false),
        ]
    );
    // Its input not live: no data to move, not stalled.
    cam.state = FlowState::Waiting;
    let snap = snapshot(vec![cam.clone()]);
    ev.observe(t0 + Duration::from_secs(20), &snap);
    assert!(!ev.evaluate(&r, &snap, &CertStatus::default())[0].holds);
}

#[test]
fn low_bitrate_only_while_live() {
    let mut slow = input("slow", FlowState::Live);
    slow.bitrate.last_1s = 400_000;
    let mut fast = input("fast", FlowState::Live);
    fast.bitrate.last_1s = 4_000_000;
    let down = input("down", FlowState::Waiting);
    let snap = snapshot(vec![slow, fast, down]);
    let obs = Evaluator::default().evaluate(
        &rule(Condition::LowBitrate, None, Some(1000.0), 5),
        &snap,
        &CertStatus::default(),
    );
    assert_eq!(
        holds(&obs),
        vec![
            ("slow".into(), None, true),
            ("fast".into(), None, false),
            ("down".into(), None, false),
        ]
    );
    assert_eq!(obs[0].value, Some(400.0));
}

#[test]
fn srt_loss_over_the_window_on_inputs_and_srt_outputs() {
    let r = rule(Condition::SrtLoss, Some("cam"), Some(2.0), 10);
    let mut ev = Evaluator::default();
    let t0 = Instant::now();
    let mut cam = input("cam", FlowState::Live);
    let mut out = output("srt", "push_srt", FlowState::Live);
    cam.outputs = vec![out.clone(), output("yt", "push_rtmp", FlowState::Live)];
    let mut obs = Vec::new();
    for s in 0..=10u64 {
        // Input: 1000 packets a second, 50 lost (5 %); output: 1000 sent, 10 lost (1 %).
        cam.srt = Some(link(1000 * s, 50 * s));
        out.connections = vec![PeerSnapshot {
            protocol: "srt",
            addr: "127.0.0.1:9000".into(),
            since: SystemTime::now(),
            srt: Some(link(1000 * s, 10 * s)),
        }];
        cam.outputs[0] = out.clone();
        let snap = snapshot(vec![cam.clone()]);
        ev.observe(t0 + Duration::from_secs(s), &snap);
        obs = ev.evaluate(&r, &snap, &CertStatus::default());
        if s < 10 {
            // The window is not full yet: no figure, no alert.
            assert!(
                obs.iter().all(|o| o.value.is_none() && !o.holds),
                "{s}: {obs:?}"
            );
        }
    }
    assert_eq!(
        holds(&obs),
        vec![
            ("cam".into(), None, true),
            ("cam".into(), Some("srt".into()), false)
        ]
    );
    let loss = obs[0].value.expect("input loss");
    assert!((loss - 50.0 / 10.5).abs() < 1e-9, "{loss}");
    assert_eq!(holds_for(&r), Duration::ZERO);
}

#[test]
fn disk_low_and_cert_expiry_watch_the_appliance() {
    let mut snap = snapshot(vec![]);
    snap.recording_disk = Some(RecordingDisk {
        free_bytes: 5,
        total_bytes: 100,
        floor_bytes: 1,
    });
    let ev = Evaluator::default();
    let obs = ev.evaluate(
        &rule(Condition::DiskLow, None, Some(10.0), 0),
        &snap,
        &CertStatus::default(),
    );
    assert_eq!(holds(&obs), vec![("".into(), None, true)]);
    assert_eq!(obs[0].value, Some(5.0));
    // No certificate watched: nothing to say.
    assert!(ev
        .evaluate(
            &rule(Condition::CertExpiry, None, Some(30.0), 0),
            &snap,
            &CertStatus::default()
        )
        .is_empty());
    let soon = CertStatus {
        expiries: vec![(
            "/etc/relevo/cert.pem".into(),
            time::OffsetDateTime::now_utc() + time::Duration::days(3),
        )],
    };
    let obs = ev.evaluate(
        &rule(Condition::CertExpiry, None, Some(30.0), 0),
        &snap,
        &soon,
    );
    assert_eq!(holds(&obs), vec![("".into(), None, true)]);
    let obs = ev.evaluate(
        &rule(Condition::CertExpiry, None, Some(2.0), 0),
        &snap,
        &soon,
    );
    assert!(!obs[0].holds);
}
