//! The WebSocket's `feed` message (issue #18): which of an input's feeds is on air changed
//! between two snapshots. Each socket keeps the last [`FeedState`] it saw per input and
//! compares it with the new snapshot's; a change of `last_switch` (a failover, a return to
//! the main feed, a manual switch) is one message with the switch's own `from`, `to`,
//! `reason` and `at`. An input that merely goes live or idle changes `on_air` from or to
//! `null`: that is the `state` message's news, not a switch.

use std::collections::HashMap;
use std::time::SystemTime;

use relevo_engine::metrics::{Feed, FeedSwitch, InputSnapshot};
use serde_json::{json, Value};

/// What a socket last saw of an input's feeds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedState {
    pub on_air: Option<Feed>,
    pub on_air_since: Option<SystemTime>,
    pub last_switch: Option<FeedSwitch>,
}

impl FeedState {
    pub fn of(input: &InputSnapshot) -> Self {
        Self {
            on_air: input.on_air,
            on_air_since: input.on_air_since,
            last_switch: input.last_switch.clone(),
        }
    }
}

/// Per input name, what a socket last saw.
pub type FeedStates = HashMap<String, FeedState>;

/// The `feed` message for `input` going from `before` to `now`, if its feed on air changed.
pub fn change(input: &str, before: &FeedState, now: &FeedState) -> Option<Value> {
    let msg = |from: Feed, to: Feed, reason: Value, at: Value| json!({"type": "feed", "input": input, "from": from, "to": to, "reason": reason, "at": at});
    if now.last_switch != before.last_switch {
        if let Some(s) = &now.last_switch {
            return Some(msg(s.from, s.to, json!(s.reason), json!(s.at)));
        }
    }
    // A change of feed the engine gave no switch record for (it should not happen): still
    // said, without a reason.
    match (before.on_air, now.on_air) {
        (Some(from), Some(to)) if from != to => {
            Some(msg(from, to, Value::Null, json!(now.on_air_since)))
        }
        _ => None,
    }
}

/// The `feed` messages of `inputs` since `seen`, which is updated. An input seen for the
/// first time gives none (a socket's first snapshot is the whole truth already).
pub fn changes<'a>(
    seen: &mut FeedStates,
    inputs: impl IntoIterator<Item = &'a InputSnapshot>,
) -> Vec<Value> {
    let mut out = Vec::new();
    for input in inputs {
        let now = FeedState::of(input);
        if let Some(before) = seen.insert(input.name.clone(), now.clone()) {
            out.extend(change(&input.name, &before, &now));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use relevo_engine::metrics::SwitchReason;

    use super::*;

    fn at(s: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(s)
    }

    fn state(on_air: Option<Feed>, since: u64, last: Option<FeedSwitch>) -> FeedState {
        FeedState {
            on_air,
            on_air_since: on_air.map(|_| at(since)),
            last_switch: last,
        }
    }

    fn switch(from: Feed, to: Feed, reason: SwitchReason, s: u64) -> Option<FeedSwitch> {
        Some(FeedSwitch {
            from,
            to,
            reason,
            at: at(s),
        })
    }

    #[test]
    fn a_failover_then_a_revert_are_two_messages_with_their_reasons() {
        let main = state(Some(Feed::Main), 100, None);
        let failed = state(
            Some(Feed::Backup),
            200,
            switch(Feed::Main, Feed::Backup, SwitchReason::Failover, 200),
        );
        let back = state(
            Some(Feed::Main),
            300,
            switch(Feed::Backup, Feed::Main, SwitchReason::Revert, 300),
        );

        let first = change("cam", &main, &failed).expect("failover");
        let second = change("cam", &failed, &back).expect("revert");

        assert_eq!(
            first,
            json!({"type": "feed", "input": "cam", "from": "main", "to": "backup",
                   "reason": "failover", "at": json!(at(200))})
        );
        assert_eq!(
            (&second["from"], &second["to"], &second["reason"]),
            (&json!("backup"), &json!("main"), &json!("revert"))
        );
    }

    #[test]
    fn a_manual_switch_to_the_feed_already_named_is_still_news() {
        // Switched by hand to the backup and back between two snapshots: on_air is the
        // same, the last switch is new.
        let before = state(
            Some(Feed::Main),
            100,
            switch(Feed::Main, Feed::Backup, SwitchReason::Failover, 50),
        );
        let now = state(
            Some(Feed::Main),
            160,
            switch(Feed::Backup, Feed::Main, SwitchReason::Manual, 160),
        );
        let msg = change("cam", &before, &now).expect("message");
        assert_eq!(msg["reason"], "manual");
    }

    #[test]
    fn going_live_or_idle_and_unchanged_snapshots_are_no_feed_message() {
        let idle = state(None, 0, None);
        let live = state(Some(Feed::Main), 100, None);
        assert_eq!(change("cam", &idle, &live), None);
        assert_eq!(change("cam", &live, &idle), None);
        assert_eq!(change("cam", &live, &live.clone()), None);
    }

    #[test]
    fn a_change_of_feed_without_a_switch_record_has_no_reason() {
        let main = state(Some(Feed::Main), 100, None);
        let backup = state(Some(Feed::Backup), 200, None);
        let msg = change("cam", &main, &backup).expect("message");
        assert_eq!(msg["reason"], Value::Null);
        assert_eq!(msg["at"], json!(at(200)));
    }
}
