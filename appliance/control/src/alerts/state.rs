//! The life of one alert: one rule on one flow (an input, an output, or the appliance for
//! disk and certificate rules), fed once a second with whether the rule's condition holds.
//!
//! Exact behaviour:
//! - **Ok → Pending** the first second the condition holds; back to Ok (nothing said) if it
//!   stops holding before `for_secs` have passed.
//! - **Pending → Firing** once it has held for `for_secs` (at once for 0): an
//!   `alert.started` transition.
//! - **Firing → Ok** the first second it no longer holds: an `alert.resolved` transition.
//! - **No storm**: a started message is *sent* only if no started message was sent for this
//!   rule and flow within the last `repeat` window; otherwise the start is *suppressed*, and
//!   so is its resolution (a resolved message goes out only when its start did). Sent
//!   messages are therefore at most one started (plus its resolved) per window.
//! - **Still broken**: when the window after the last sent start ends and the alert is
//!   firing with its start suppressed (the last message the channel saw was a resolved
//!   one), a started message is sent then (`late`), and its resolution will be sent too.
//! - Every transition, sent or suppressed, is returned: the evaluator records each one as an
//!   event (`suppressed: true` when no message went out).
//!
//! The state lives in memory only: a restart of the service evaluates from scratch (an
//! outage that goes on across it starts a new alert after `for_secs`, and the repeat window
//! starts empty).

use std::time::{Duration, Instant};

/// What a second of evaluation changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub kind: TransitionKind,
    /// A message goes out (false: suppressed by the repeat window).
    pub sent: bool,
    /// A start sent at the end of the repeat window for an alert already firing.
    pub late: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransitionKind {
    Started,
    Resolved,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Ok,
    Pending { since: Instant },
    Firing { start_sent: bool },
}

/// One rule on one flow.
#[derive(Debug, Clone)]
pub struct Track {
    phase: Phase,
    /// When the last started message was sent (the repeat window's start).
    last_start_sent: Option<Instant>,
}

impl Default for Track {
    fn default() -> Self {
        Self::new()
    }
}

impl Track {
    pub fn new() -> Self {
        Self {
            phase: Phase::Ok,
            last_start_sent: None,
        }
    }

    /// Whether the alert is firing (started and not resolved).
    pub fn firing(&self) -> bool {
        matches!(self.phase, Phase::Firing { .. })
    }

    /// Whether nothing is going on (the track may be forgotten).
    pub fn idle(&self, now: Instant, repeat: Duration) -> bool {
        self.phase == Phase::Ok && !self.in_window(now, repeat)
    }

    fn in_window(&self, now: Instant, repeat: Duration) -> bool {
        self.last_start_sent
            .is_some_and(|at| now.saturating_duration_since(at) < repeat)
    }

    /// One evaluation: `holds` is whether the condition holds at `now`.
    pub fn step(
        &mut self,
        now: Instant,
        holds: bool,
        for_secs: Duration,
        repeat: Duration,
    ) -> Option<Transition> {
        match (self.phase, holds) {
            (Phase::Ok, false) => None,
            (Phase::Ok, true) => {
                self.phase = Phase::Pending { since: now };
                self.fire_if_due(now, now, for_secs, repeat)
            }
            (Phase::Pending { .. }, false) => {
                self.phase = Phase::Ok;
                None
            }
            (Phase::Pending { since }, true) => self.fire_if_due(now, since, for_secs, repeat),
            (Phase::Firing { start_sent }, false) => {
                self.phase = Phase::Ok;
                Some(Transition {
                    kind: TransitionKind::Resolved,
                    sent: start_sent,
                    late: false,
                })
            }
            (Phase::Firing { start_sent: true }, true) => None,
            (Phase::Firing { start_sent: false }, true) => {
                if self.in_window(now, repeat) {
                    return None;
                }
                self.phase = Phase::Firing { start_sent: true };
                self.last_start_sent = Some(now);
                Some(Transition {
                    kind: TransitionKind::Started,
                    sent: true,
                    late: true,
                })
            }
        }
    }

    fn fire_if_due(
        &mut self,
        now: Instant,
        since: Instant,
        for_secs: Duration,
        repeat: Duration,
    ) -> Option<Transition> {
        if now.saturating_duration_since(since) < for_secs {
            return None;
        }
        let sent = !self.in_window(now, repeat);
        if sent {
            self.last_start_sent = Some(now);
        }
        self.phase = Phase::Firing { start_sent: sent };
        Some(Transition {
            kind: TransitionKind::Started,
            sent,
            late: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FOR: Duration = Duration::from_secs(5);
    const REPEAT: Duration = Duration::from_secs(60);

    /// Feeds one value per second from `t0 + from` and returns the transitions with their
    /// second.
    fn run(track: &mut Track, t0: Instant, from: u64, values: &[bool]) -> Vec<(u64, Transition)> {
        values
            .iter()
            .enumerate()
            .filter_map(|(i, &holds)| {
                let s = from + i as u64;
                track
                    .step(t0 + Duration::from_secs(s), holds, FOR, REPEAT)
                    .map(|t| (s, t))
            })
            .collect()
    }

    fn started(sent: bool, late: bool) -> Transition {
        Transition {
            kind: TransitionKind::Started,
            sent,
            late,
        }
    }

    fn resolved(sent: bool) -> Transition {
        Transition {
            kind: TransitionKind::Resolved,
            sent,
            late: false,
        }
    }

    #[test]
    fn starts_after_for_secs_and_resolves() {
        let t0 = Instant::now();
        let mut track = Track::new();
        let got = run(&mut track, t0, 0, &[true; 8]);
        assert_eq!(got, vec![(5, started(true, false))]);
        assert!(track.firing());
        let got = run(&mut track, t0, 8, &[false, false]);
        assert_eq!(got, vec![(8, resolved(true))]);
        assert!(!track.firing());
    }

    #[test]
    fn a_blip_shorter_than_for_secs_says_nothing() {
        let t0 = Instant::now();
        let mut track = Track::new();
        let got = run(
            &mut track,
            t0,
            0,
            &[true, true, true, false, true, true, false],
        );
        assert!(got.is_empty(), "{got:?}");
        assert!(track.idle(t0 + Duration::from_secs(7), REPEAT));
    }

    #[test]
    fn zero_for_secs_starts_at_once() {
        let t0 = Instant::now();
        let mut track = Track::new();
        assert_eq!(
            track.step(t0, true, Duration::ZERO, REPEAT),
            Some(started(true, false))
        );
    }

    #[test]
    fn flapping_within_the_repeat_window_is_suppressed() {
        let t0 = Instant::now();
        let mut track = Track::new();
        // Sent start at 5, sent resolve at 6.
        let mut got = run(&mut track, t0, 0, &[true; 6]);
        got.extend(run(&mut track, t0, 6, &[false]));
        // Two more outages within the minute: both suppressed, with their resolutions.
        got.extend(run(&mut track, t0, 7, &[true; 6]));
        got.extend(run(&mut track, t0, 13, &[false]));
        got.extend(run(&mut track, t0, 14, &[true; 6]));
        got.extend(run(&mut track, t0, 20, &[false]));
        assert_eq!(
            got,
            vec![
                (5, started(true, false)),
                (6, resolved(true)),
                (12, started(false, false)),
                (13, resolved(false)),
                (19, started(false, false)),
                (20, resolved(false)),
            ]
        );
        // After the window, a new outage is told again.
        let got = run(&mut track, t0, 70, &[true; 6]);
        assert_eq!(got, vec![(75, started(true, false))]);
    }

    #[test]
    fn still_firing_at_the_end_of_the_window_is_told() {
        let t0 = Instant::now();
        let mut track = Track::new();
        let mut got = run(&mut track, t0, 0, &[true; 6]);
        got.extend(run(&mut track, t0, 6, &[false]));
        // Broken again from 10 on, for good: suppressed at 15, told when the window that
        // began at 5 ends (65).
        got.extend(run(&mut track, t0, 10, &[true; 60]));
        assert_eq!(
            got,
            vec![
                (5, started(true, false)),
                (6, resolved(true)),
                (15, started(false, false)),
                (65, started(true, true)),
            ]
        );
        // Its resolution goes out, since its start did.
        let got = run(&mut track, t0, 70, &[false]);
        assert_eq!(got, vec![(70, resolved(true))]);
    }

    #[test]
    fn resolved_before_the_window_ends_sends_nothing_more() {
        let t0 = Instant::now();
        let mut track = Track::new();
        let mut got = run(&mut track, t0, 0, &[true; 6]);
        got.extend(run(&mut track, t0, 6, &[false]));
        got.extend(run(&mut track, t0, 10, &[true; 6]));
        got.extend(run(&mut track, t0, 16, &[false; 60]));
        assert_eq!(
            got,
            vec![
                (5, started(true, false)),
                (6, resolved(true)),
                (15, started(false, false)),
                (16, resolved(false)),
            ]
        );
        assert!(track.idle(t0 + Duration::from_secs(76), REPEAT));
    }
}
