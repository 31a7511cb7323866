use std::sync::Arc;
use std::time::SystemTime;

use relevo_engine::metrics::{FlowState, LastError, Snapshot};

use super::*;
use crate::history::fixtures::*;

fn snap(inputs: Vec<InputSnapshot>) -> Arc<Snapshot> {
    Arc::new(Snapshot {
        inputs,
        recording_disk: None,
    })
}

fn kinds(events: &[NewEvent]) -> Vec<&str> {
    events.iter().map(|e| e.kind.as_str()).collect()
}

#[test]
fn publishers_connect_and_disconnect_even_between_two_snapshots() {
    let mut d = Differ::default();
    let mut i = input("studio", FlowState::Idle);
    assert!(d.diff(&snap(vec![i.clone()]), at(0)).is_empty());
    i.state = FlowState::Live;
    i.publisher = Some(publisher("192.0.2.1:5000", 1));
    i.publishes = 1;
    let e = d.diff(&snap(vec![i.clone()]), at(1));
    assert_eq!(kinds(&e), ["publisher.connected"]);
    assert_eq!(
        e[0].detail,
        serde_json::json!({"protocol": "srt", "peer": "192.0.2.1:5000"})
    );
    assert_eq!((e[0].input.as_str(), &e[0].output), ("studio", &None));
    i.state = FlowState::Waiting;
    i.publisher = None;
    let e = d.diff(&snap(vec![i.clone()]), at(2));
    assert_eq!(kinds(&e), ["publisher.disconnected"]);
    assert_eq!(e[0].severity, Severity::Warning);
    // Two publishes came and went between two snapshots: only the counter saw them.
    i.publishes = 3;
    let e = d.diff(&snap(vec![i]), at(3));
    assert_eq!(
        kinds(&e),
        [
            "publisher.connected",
            "publisher.disconnected",
            "publisher.connected",
            "publisher.disconnected"
        ]
    );
    assert_eq!(e[0].detail["brief"], true);
}

#[test]
fn an_input_with_a_backup_names_the_feed() {
    let mut d = Differ::default();
    let mut i = input("studio", FlowState::Idle);
    i.backup = Some(relevo_engine::metrics::FeedSnapshot {
        live: false,
        publisher: None,
        srt: None,
        bitrate: Default::default(),
        bytes_in: 0,
        publishes: 0,
        codecs: None,
    });
    d.diff(&snap(vec![i.clone()]), at(0));
    if let Some(b) = i.backup.as_mut() {
        b.publisher = Some(publisher("192.0.2.2:6000", 1));
        b.publishes = 1;
    }
    let e = d.diff(&snap(vec![i]), at(1));
    assert_eq!(kinds(&e), ["publisher.connected"]);
    assert_eq!(e[0].detail["feed"], "backup");
}

#[test]
fn an_output_failure_carries_its_error_text_and_class() {
    let mut d = Differ::default();
    let mut i = input("studio", FlowState::Live);
    i.outputs
        .push(output("cdn", "push_rtmp", FlowState::Connecting));
    d.diff(&snap(vec![i.clone()]), at(0));
    i.outputs[0].state = FlowState::Retrying;
    i.outputs[0].reconnects = 1;
    i.outputs[0].last_error = Some(LastError {
        message: "connection refused".into(),
        at: SystemTime::now(),
        class: Some("network"),
    });
    let e = d.diff(&snap(vec![i.clone()]), at(1));
    assert_eq!(kinds(&e), ["output.failed"]);
    assert_eq!(e[0].output.as_deref(), Some("cdn"));
    assert_eq!(e[0].severity, Severity::Error);
    assert_eq!(
        e[0].detail,
        serde_json::json!({"error": "connection refused", "class": "network"})
    );
    // The same error, unchanged in the next snapshot, is not news.
    assert!(d.diff(&snap(vec![i.clone()]), at(2)).is_empty());
    i.outputs[0].state = FlowState::Connecting;
    d.diff(&snap(vec![i.clone()]), at(3));
    i.outputs[0].state = FlowState::Live;
    assert_eq!(kinds(&d.diff(&snap(vec![i]), at(4))), ["output.connected"]);
}

#[test]
fn readers_of_a_pull_output_join_and_leave() {
    let mut d = Differ::default();
    let mut i = input("studio", FlowState::Live);
    i.outputs.push(output("pull", "pull_srt", FlowState::Idle));
    d.diff(&snap(vec![i.clone()]), at(0));
    i.outputs[0].connections = vec![reader("203.0.113.5:4000", 1), reader("203.0.113.6:4000", 1)];
    let e = d.diff(&snap(vec![i.clone()]), at(1));
    assert_eq!(kinds(&e), ["reader.joined", "reader.joined"]);
    assert_eq!(
        e[0].detail,
        serde_json::json!({"peer": "203.0.113.5:4000", "protocol": "srt"})
    );
    // One left; the same address came back with a new connection.
    i.outputs[0].connections = vec![reader("203.0.113.6:4000", 1), reader("203.0.113.5:4000", 2)];
    let e = d.diff(&snap(vec![i]), at(2));
    assert_eq!(kinds(&e), ["reader.left", "reader.joined"]);
}

#[test]
fn a_flood_is_cut_at_the_bound_and_counted_once_the_minute_ends() {
    let mut d = Differ::default();
    let mut i = input("studio", FlowState::Live);
    i.outputs.push(output("pull", "pull_rtmp", FlowState::Live));
    d.diff(&snap(vec![i.clone()]), at(0));
    // 200 players join at once: 60 events kept, 140 counted.
    i.outputs[0].connections = (0..200)
        .map(|n| reader(&format!("203.0.113.{}:{}", n % 250, 1000 + n), 1))
        .collect();
    let e = d.diff(&snap(vec![i.clone()]), at(1));
    assert_eq!(e.len(), MAX_EVENTS_PER_FLOW_MINUTE as usize);
    // The input's own events have their own budget.
    i.publishes = 1;
    assert_eq!(d.diff(&snap(vec![i]), at(2)).len(), 2);
    let s = d.new_minute(at(60));
    assert_eq!(kinds(&s), ["events.suppressed"]);
    assert_eq!(s[0].output.as_deref(), Some("pull"));
    assert_eq!(s[0].detail["count"], 140);
    assert!(d.new_minute(at(120)).is_empty());
}

#[test]
fn flows_stopped_and_started_and_feed_switches() {
    use relevo_engine::metrics::{Feed, FeedSwitch, SwitchReason};
    let mut d = Differ::default();
    let mut i = input("studio", FlowState::Live);
    d.diff(&snap(vec![i.clone()]), at(0));
    i.state = FlowState::Stopped;
    assert_eq!(
        kinds(&d.diff(&snap(vec![i.clone()]), at(1))),
        ["flow.stopped"]
    );
    i.state = FlowState::Idle;
    assert_eq!(
        kinds(&d.diff(&snap(vec![i.clone()]), at(2))),
        ["flow.started"]
    );
    i.last_switch = Some(FeedSwitch {
        from: Feed::Main,
        to: Feed::Backup,
        reason: SwitchReason::Failover,
        at: SystemTime::now(),
    });
    let e = d.diff(&snap(vec![i]), at(3));
    assert_eq!(kinds(&e), ["feed.switch"]);
    assert_eq!(
        e[0].detail,
        serde_json::json!({"from": "main", "to": "backup", "reason": "failover"})
    );
}

#[test]
fn what_the_first_snapshot_shows_connected_happened_since_the_service_started() {
    // A reader that connects within the first second of the service is news too.
    let mut d = Differ::default();
    let mut i = input("studio", FlowState::Idle);
    let mut o = output("pull", "pull_srt", FlowState::Idle);
    o.connections = vec![reader("203.0.113.5:4000", 1)];
    i.outputs.push(o);
    i.outputs.push(output("cdn", "push_rtmp", FlowState::Idle));
    assert_eq!(kinds(&d.diff(&snap(vec![i]), at(0))), ["reader.joined"]);
}

#[test]
fn rejections_and_input_errors_carry_the_engines_text() {
    let mut d = Differ::default();
    let mut i = input("studio", FlowState::Idle);
    d.diff(&snap(vec![i.clone()]), at(0));
    i.rejections = 2;
    i.last_error = Some(LastError {
        message: "SRT publisher 192.0.2.9:5000 rejected: wrong passphrase".into(),
        at: SystemTime::now(),
        class: None,
    });
    let e = d.diff(&snap(vec![i.clone()]), at(1));
    assert_eq!(kinds(&e), ["publisher.rejected"]);
    assert_eq!(e[0].detail["count"], 2);
    // A pull source that fails: an error without a rejection.
    i.last_error = Some(LastError {
        message: "connection timed out".into(),
        at: SystemTime::now() + std::time::Duration::from_secs(1),
        class: Some("network"),
    });
    let e = d.diff(&snap(vec![i]), at(2));
    assert_eq!(kinds(&e), ["input.error"]);
    assert_eq!(
        e[0].detail,
        serde_json::json!({"error": "connection timed out", "class": "network"})
    );
}
