//! Events from the difference between two snapshots: publishers, outputs, readers, feed
//! switches, recordings, flows stopped and started. Each flow may write at most
//! [`MAX_EVENTS_PER_FLOW_MINUTE`] events a minute; the rest are counted and told by one
//! `events.suppressed` event when the minute ends, so a flood of players cannot fill the
//! database.
//!
//! Nothing here stores a secret: stream ids and keys never reach the snapshot's peer fields
//! (addresses only), and error texts are the engine's, which never carry credentials.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::SystemTime;

use relevo_engine::metrics::{
    CompatSeverity, Feed, FlowState, InputSnapshot, LastError, OutputSnapshot, PublisherInfo,
    Snapshot,
};
use serde_json::{json, Value};
use time::OffsetDateTime;

use super::collector::delta;
use crate::store::history::{NewEvent, Severity};

/// Events one flow may write in a minute: a publisher or destination that flaps every
/// second writes about two a second, so a minute of it is kept in full for a minute; a
/// player flood is cut there.
pub(crate) const MAX_EVENTS_PER_FLOW_MINUTE: u32 = 60;

/// Events kept while the database refuses them; beyond, the oldest go.
pub(crate) const MAX_PENDING_EVENTS: usize = 10_000;

/// The previous snapshot, and the events counted this minute per flow.
#[derive(Debug, Default)]
pub(crate) struct Differ {
    prev: Option<Arc<Snapshot>>,
    budget: HashMap<(String, String), u32>,
    suppressed: HashMap<(String, String), u64>,
}

/// What an event is about before it is stamped.
struct Ev {
    output: Option<String>,
    kind: &'static str,
    severity: Severity,
    detail: Value,
}

impl Differ {
    /// The events between the previous snapshot and `snap`, taken at `at`.
    pub fn diff(&mut self, snap: &Arc<Snapshot>, at: OffsetDateTime) -> Vec<NewEvent> {
        // The collector starts with the engine: whatever the first snapshot shows connected
        // or counted happened since, so it is compared with an empty engine.
        let prev = self.prev.replace(snap.clone()).unwrap_or_default();
        let mut out = Vec::new();
        for input in &snap.inputs {
            let before = prev.input(&input.name);
            let mut evs = input_events(before, input);
            for o in &input.outputs {
                let b = before.and_then(|i| i.output(&o.name));
                evs.extend(output_events(b, o));
            }
            for ev in evs {
                self.admit(&input.name, ev, at, &mut out);
            }
        }
        out
    }

    /// Keeps `ev` if its flow has budget left this minute, counts it otherwise.
    fn admit(&mut self, input: &str, ev: Ev, at: OffsetDateTime, out: &mut Vec<NewEvent>) {
        let key = (input.to_owned(), ev.output.clone().unwrap_or_default());
        let used = self.budget.entry(key.clone()).or_default();
        if *used >= MAX_EVENTS_PER_FLOW_MINUTE {
            *self.suppressed.entry(key).or_default() += 1;
            return;
        }
        *used += 1;
        out.push(NewEvent {
            at,
            input: input.to_owned(),
            output: ev.output,
            kind: ev.kind.to_owned(),
            severity: ev.severity,
            detail: ev.detail,
            audit_id: None,
        });
    }

    /// A new minute: budgets start again; the flows that lost events say how many.
    pub fn new_minute(&mut self, at: OffsetDateTime) -> Vec<NewEvent> {
        self.budget.clear();
        self.suppressed
            .drain()
            .map(|((input, output), count)| NewEvent {
                at,
                input,
                output: Some(output).filter(|o| !o.is_empty()),
                kind: "events.suppressed".to_owned(),
                severity: Severity::Warning,
                detail: json!({ "count": count, "limit_per_minute": MAX_EVENTS_PER_FLOW_MINUTE }),
                audit_id: None,
            })
            .collect()
    }
}

fn ev(output: Option<&str>, kind: &'static str, severity: Severity, detail: Value) -> Ev {
    Ev {
        output: output.map(str::to_owned),
        kind,
        severity,
        detail,
    }
}

fn same_publisher(a: Option<&PublisherInfo>, b: Option<&PublisherInfo>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a.peer == b.peer && a.since == b.since,
        (None, None) => true,
        _ => false,
    }
}

fn publisher_detail(p: Option<&PublisherInfo>, feed: Option<Feed>) -> Value {
    let mut d = json!({});
    if let Some(p) = p {
        d["protocol"] = json!(p.protocol);
        d["peer"] = json!(p.peer);
    }
    if let Some(f) = feed {
        d["feed"] = json!(f.as_str());
    }
    d
}

/// Publisher events of one feed: a publisher that changed, and publishes that came and
/// went between two snapshots (seen only through the `publishes` counter).
fn feed_events(
    feed: Option<Feed>,
    before: (Option<&PublisherInfo>, u64),
    now: (Option<&PublisherInfo>, u64),
    evs: &mut Vec<Ev>,
) {
    let mut seen = 0;
    if !same_publisher(before.0, now.0) {
        if before.0.is_some() {
            let d = publisher_detail(before.0, feed);
            evs.push(ev(None, "publisher.disconnected", Severity::Warning, d));
        }
        if now.0.is_some() {
            seen = 1;
            let d = publisher_detail(now.0, feed);
            evs.push(ev(None, "publisher.connected", Severity::Info, d));
        }
    }
    for _ in seen..delta(before.1, now.1) {
        let mut d = publisher_detail(None, feed);
        d["brief"] = json!(true);
        evs.push(ev(None, "publisher.connected", Severity::Info, d.clone()));
        evs.push(ev(None, "publisher.disconnected", Severity::Warning, d));
    }
}

fn input_events(before: Option<&InputSnapshot>, now: &InputSnapshot) -> Vec<Ev> {
    let mut evs = Vec::new();
    let was_stopped = before.is_some_and(|b| b.state == FlowState::Stopped);
    let is_stopped = now.state == FlowState::Stopped;
    if is_stopped && !was_stopped && before.is_some() {
        evs.push(ev(None, "flow.stopped", Severity::Info, json!({})));
    }
    if was_stopped && !is_stopped {
        evs.push(ev(None, "flow.started", Severity::Info, json!({})));
    }
    let has_backup = now.backup.is_some();
    let main = has_backup.then_some(Feed::Main);
    feed_events(
        main,
        (
            before.and_then(|b| b.publisher.as_ref()),
            before.map_or(0, |b| b.publishes),
        ),
        (now.publisher.as_ref(), now.publishes),
        &mut evs,
    );
    if let Some(backup) = &now.backup {
        let b = before.and_then(|b| b.backup.as_ref());
        feed_events(
            Some(Feed::Backup),
            (
                b.and_then(|b| b.publisher.as_ref()),
                b.map_or(0, |b| b.publishes),
            ),
            (backup.publisher.as_ref(), backup.publishes),
            &mut evs,
        );
    }
    let rejected = delta(before.map_or(0, |b| b.rejections), now.rejections);
    let error = changed_error(
        before.and_then(|b| b.last_error.as_ref()),
        now.last_error.as_ref(),
    );
    if rejected > 0 {
        let mut d = json!({ "count": rejected });
        if let Some(e) = error {
            d["error"] = json!(e.message);
        }
        evs.push(ev(None, "publisher.rejected", Severity::Warning, d));
    } else if let Some(e) = error {
        // A pull source that failed, or errors in the incoming stream (the engine notes
        // those at most once per interval).
        evs.push(ev(None, "input.error", Severity::Warning, error_detail(e)));
    }
    let switched = now.last_switch.as_ref().filter(|s| {
        before
            .and_then(|b| b.last_switch.as_ref())
            .is_none_or(|p| p.at != s.at)
    });
    if let Some(s) = switched {
        let severity = match s.reason {
            relevo_engine::metrics::SwitchReason::Failover => Severity::Warning,
            _ => Severity::Info,
        };
        let d = json!({ "from": s.from.as_str(), "to": s.to.as_str(), "reason": s.reason });
        evs.push(ev(None, "feed.switch", severity, d));
    }
    evs
}

/// The message of `now` when it is a new error since `before`.
fn changed_error<'a>(
    before: Option<&LastError>,
    now: Option<&'a LastError>,
) -> Option<&'a LastError> {
    now.filter(|n| before.is_none_or(|b| b.at != n.at || b.message != n.message))
}

/// An error's detail: the engine's text and, for a link failure, its class
/// (`relevo_engine::error::LinkError::class`): what the operator has to fix differs by class.
fn error_detail(e: &LastError) -> Value {
    let mut d = json!({ "error": e.message });
    if let Some(class) = e.class {
        d["class"] = json!(class);
    }
    d
}

fn is_pull(o: &OutputSnapshot) -> bool {
    matches!(o.kind, "pull_srt" | "pull_rtmp")
}

fn output_events(before: Option<&OutputSnapshot>, now: &OutputSnapshot) -> Vec<Ev> {
    let name = Some(now.name.as_str());
    let mut evs = Vec::new();
    let prev_state = before.map(|b| b.state);
    let state = now.state;
    if prev_state.is_some_and(|p| p != FlowState::Stopped) && state == FlowState::Stopped {
        evs.push(ev(name, "flow.stopped", Severity::Info, json!({})));
    }
    if prev_state == Some(FlowState::Stopped) && state != FlowState::Stopped {
        evs.push(ev(name, "flow.started", Severity::Info, json!({})));
    }
    let became = |s: FlowState| state == s && prev_state.is_some_and(|p| p != s);
    let push = !is_pull(now) && now.kind != "pull_hls";
    // Back from the grace period is the same connection: not a new one.
    if push && became(FlowState::Live) && prev_state != Some(FlowState::Waiting) {
        let kind = if now.kind == "record" {
            "record.started"
        } else {
            "output.connected"
        };
        evs.push(ev(name, kind, Severity::Info, json!({})));
    }
    if let Some(e) = changed_error(
        before.and_then(|b| b.last_error.as_ref()),
        now.last_error.as_ref(),
    ) {
        let d = error_detail(e);
        let kind = if now.kind == "record" {
            "record.failed"
        } else {
            "output.failed"
        };
        evs.push(ev(name, kind, Severity::Error, d));
    }
    if became(FlowState::Incompatible) {
        let problems: Vec<Value> = now
            .compat
            .iter()
            .filter(|p| p.severity == CompatSeverity::Error)
            .map(|p| json!({ "code": p.code, "track": p.track, "found": p.found, "message": p.message }))
            .collect();
        evs.push(ev(
            name,
            "output.incompatible",
            Severity::Error,
            json!({ "problems": problems }),
        ));
    }
    if became(FlowState::DiskFull) {
        evs.push(ev(name, "record.disk_full", Severity::Error, json!({})));
    }
    if let (Some(b), Some(n)) = (before.and_then(|b| b.record.as_ref()), now.record.as_ref()) {
        if n.files > b.files {
            let d = json!({ "file": n.current_file });
            evs.push(ev(name, "record.file", Severity::Info, d));
        }
    }
    if is_pull(now) {
        reader_events(before, now, &mut evs);
    }
    evs
}

/// Readers of a pull output that joined or left, by (address, connected since).
fn reader_events(before: Option<&OutputSnapshot>, now: &OutputSnapshot, evs: &mut Vec<Ev>) {
    let key = |p: &relevo_engine::metrics::PeerSnapshot| -> (String, SystemTime) {
        (p.addr.clone(), p.since)
    };
    let old: HashSet<_> = before
        .map(|b| b.connections.iter().map(key).collect())
        .unwrap_or_default();
    let new: HashSet<_> = now.connections.iter().map(key).collect();
    let name = Some(now.name.as_str());
    if let Some(b) = before {
        for p in b.connections.iter().filter(|p| !new.contains(&key(p))) {
            let d = json!({ "peer": p.addr, "protocol": p.protocol });
            evs.push(ev(name, "reader.left", Severity::Info, d));
        }
    }
    for p in now.connections.iter().filter(|p| !old.contains(&key(p))) {
        let d = json!({ "peer": p.addr, "protocol": p.protocol });
        evs.push(ev(name, "reader.joined", Severity::Info, d));
    }
}

#[cfg(test)]
#[path = "events_tests.rs"]
mod tests;
