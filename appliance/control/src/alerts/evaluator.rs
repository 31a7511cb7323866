//! The conditions of the rules, read on the engine's one-second snapshot: for one rule, which
//! flows it watches and whether its condition holds on each, with the value measured.
//!
//! - `input_down`: an enabled input (disabled ones are `stopped`) that is not live; the
//!   grace period's `waiting` counts as not live.
//! - `output_failing`: an output `retrying`, `incompatible` or `disk_full`; `connecting`
//!   (so that `for_secs` of it fires); or stalled: live while its input is live, with
//!   `bytes_out` not moving for [`STALL_SECS`] (push and record outputs only: a pull
//!   output with no reader sends nothing, rightly).
//! - `low_bitrate`: a live input whose last-second bit rate is below the threshold (kbit/s).
//! - `srt_loss`: lost / (carried + lost) × 100 over the last `for_secs` (at least
//!   [`MIN_LOSS_WINDOW`]) above the threshold, from the SRT counters' deltas; inputs with an
//!   SRT publisher and SRT outputs (the sum of their connections). The window is the rule's
//!   `for_secs`, so the state machine starts such an alert at once ([`holds_for`]).
//! - `disk_low`: the recordings' filesystem below the threshold % free.
//! - `cert_expiry`: the earliest certificate expiring within the threshold in days
//!   ([`super::certificates`]).
//!
//! A rule with no input watches every input (and every output of them for output rules);
//! disk and certificate rules watch the appliance (input `""`).

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use relevo_engine::metrics::{FlowState, InputSnapshot, OutputSnapshot, Snapshot, SrtLink};

use super::certificates::CertStatus;
use super::{Condition, Rule};

/// Seconds without a byte leaving a live output, its input live, before it counts as
/// stalled: a live stream sends several packets a second; a few seconds of nothing is not
/// jitter. `for_secs` then applies on top.
pub const STALL_SECS: u32 = 5;

/// The shortest loss window: a percentage over one second of a few hundred packets says
/// little.
pub const MIN_LOSS_WINDOW: Duration = Duration::from_secs(5);

/// SRT counter samples kept per flow: an hour at one a second (the loss window of a rule
/// longer than that is cut to an hour).
const MAX_SRT_SAMPLES: usize = 3600;

/// One flow a rule watches: `input = ""` is the appliance itself.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Subject {
    pub input: String,
    pub output: Option<String>,
}

impl Subject {
    pub fn input(name: &str) -> Self {
        Self {
            input: name.to_owned(),
            output: None,
        }
    }

    pub fn output(input: &str, output: &str) -> Self {
        Self {
            input: input.to_owned(),
            output: Some(output.to_owned()),
        }
    }

    pub fn appliance() -> Self {
        Self::input("")
    }
}

/// Whether a rule's condition holds on one flow now, and the value measured (kbit/s, %,
/// days; `None` when the condition has no figure).
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub subject: Subject,
    pub holds: bool,
    pub value: Option<f64>,
}

/// How long the state machine waits before starting the rule's alert: `for_secs`, except
/// for SRT loss, whose `for_secs` is its measuring window.
pub fn holds_for(rule: &Rule) -> Duration {
    match rule.condition {
        Condition::SrtLoss | Condition::CertExpiry => Duration::ZERO,
        _ => Duration::from_secs(u64::from(rule.for_secs)),
    }
}

/// What the conditions need from past snapshots: whether outputs' bytes move, SRT counters.
#[derive(Debug, Default)]
pub struct Evaluator {
    /// Per output: the last `bytes_out` and for how many snapshots it has not moved.
    bytes: HashMap<Subject, (u64, u32)>,
    /// Per SRT flow: (when, carried, lost), oldest first.
    srt: HashMap<Subject, VecDeque<(Instant, u64, u64)>>,
}

impl Evaluator {
    /// Takes in one snapshot; call once per snapshot, before [`Evaluator::evaluate`].
    pub fn observe(&mut self, now: Instant, snapshot: &Snapshot) {
        let mut seen_bytes = HashMap::with_capacity(self.bytes.len());
        let mut seen_srt = HashMap::with_capacity(self.srt.len());
        for input in &snapshot.inputs {
            if let Some(link) = &input.srt {
                let subject = Subject::input(&input.name);
                let mut samples = self.srt.remove(&subject).unwrap_or_default();
                push_sample(&mut samples, now, link.packets, link.packets_lost);
                seen_srt.insert(subject, samples);
            }
            for output in &input.outputs {
                let subject = Subject::output(&input.name, &output.name);
                let still = match self.bytes.get(&subject) {
                    Some(&(last, n)) if last == output.bytes_out => n.saturating_add(1),
                    _ => 0,
                };
                if let Some((carried, lost)) = output_srt(output) {
                    let mut samples = self.srt.remove(&subject).unwrap_or_default();
                    push_sample(&mut samples, now, carried, lost);
                    seen_srt.insert(subject.clone(), samples);
                }
                seen_bytes.insert(subject, (output.bytes_out, still));
            }
        }
        // Flows gone from the snapshot are forgotten.
        self.bytes = seen_bytes;
        self.srt = seen_srt;
    }

    /// The rule's flows and whether its condition holds on each.
    pub fn evaluate(
        &self,
        rule: &Rule,
        snapshot: &Snapshot,
        certs: &CertStatus,
    ) -> Vec<Observation> {
        let inputs = snapshot
            .inputs
            .iter()
            .filter(|i| rule.input.as_deref().is_none_or(|name| name == i.name));
        match rule.condition {
            Condition::InputDown => inputs.map(input_down).collect(),
            Condition::LowBitrate => inputs.map(|i| low_bitrate(i, rule)).collect(),
            Condition::OutputFailing => inputs
                .flat_map(|i| self.outputs_of(i, rule).map(move |o| (i, o)))
                .map(|(i, o)| self.output_failing(i, o))
                .collect(),
            Condition::SrtLoss => inputs
                .flat_map(|i| {
                    let own =
                        (rule.output.is_none() && i.srt.is_some()).then(|| Subject::input(&i.name));
                    own.into_iter().chain(
                        self.outputs_of(i, rule)
                            .filter(|o| output_srt(o).is_some())
                            .map(|o| Subject::output(&i.name, &o.name)),
                    )
                })
                .map(|subject| self.srt_loss(subject, rule))
                .collect(),
            Condition::DiskLow => disk_low(snapshot, rule).into_iter().collect(),
            Condition::CertExpiry => cert_expiry(certs, rule).into_iter().collect(),
        }
    }

    fn outputs_of<'a>(
        &self,
        input: &'a InputSnapshot,
        rule: &'a Rule,
    ) -> impl Iterator<Item = &'a OutputSnapshot> + 'a {
        input
            .outputs
            .iter()
            .filter(move |o| rule.output.as_deref().is_none_or(|name| name == o.name))
    }

    fn output_failing(&self, input: &InputSnapshot, output: &OutputSnapshot) -> Observation {
        let subject = Subject::output(&input.name, &output.name);
        let failing = matches!(
            output.state,
            FlowState::Retrying
                | FlowState::Incompatible
                | FlowState::DiskFull
                | FlowState::Connecting
        );
        let sends = output.kind.starts_with("push_") || output.kind == "record";
        let still = self.bytes.get(&subject).map_or(0, |&(_, n)| n);
        let stalled = sends
            && output.state == FlowState::Live
            && input.state == FlowState::Live
            && still >= STALL_SECS;
        Observation {
            subject,
            holds: failing || stalled,
            value: None,
        }
    }

    fn srt_loss(&self, subject: Subject, rule: &Rule) -> Observation {
        let window = Duration::from_secs(u64::from(rule.for_secs)).max(MIN_LOSS_WINDOW);
        let value = self.srt.get(&subject).and_then(|samples| {
            let &(now, carried, lost) = samples.back()?;
            // The newest sample at least `window` old: the window is full, or no figure.
            let &(_, c0, l0) = samples
                .iter()
                .rev()
                .find(|(at, _, _)| now.saturating_duration_since(*at) >= window)?;
            let lost = lost.saturating_sub(l0);
            let total = carried.saturating_sub(c0) + lost;
            (total > 0).then(|| lost as f64 * 100.0 / total as f64)
        });
        Observation {
            holds: value.is_some_and(|v| rule.threshold.is_some_and(|t| v > t)),
            subject,
            value,
        }
    }
}

fn push_sample(samples: &mut VecDeque<(Instant, u64, u64)>, now: Instant, c: u64, l: u64) {
    // A counter going back is a new connection: its window starts again.
    if samples.back().is_some_and(|&(_, c0, l0)| c < c0 || l < l0) {
        samples.clear();
    }
    if samples.len() == MAX_SRT_SAMPLES {
        samples.pop_front();
    }
    samples.push_back((now, c, l));
}

/// An output's SRT counters: the sum over its connections, `None` when none is SRT.
fn output_srt(output: &OutputSnapshot) -> Option<(u64, u64)> {
    let links: Vec<&SrtLink> = output
        .connections
        .iter()
        .filter_map(|c| c.srt.as_ref())
        .collect();
    (!links.is_empty()).then(|| {
        links.iter().fold((0, 0), |(c, l), link| {
            (c + link.packets, l + link.packets_lost)
        })
    })
}

fn input_down(input: &InputSnapshot) -> Observation {
    Observation {
        subject: Subject::input(&input.name),
        holds: !matches!(input.state, FlowState::Live | FlowState::Stopped),
        value: None,
    }
}

fn low_bitrate(input: &InputSnapshot, rule: &Rule) -> Observation {
    let kbps = input.bitrate.last_1s as f64 / 1000.0;
    let live = input.state == FlowState::Live;
    Observation {
        subject: Subject::input(&input.name),
        holds: live && rule.threshold.is_some_and(|t| kbps < t),
        value: live.then_some(kbps),
    }
}

fn disk_low(snapshot: &Snapshot, rule: &Rule) -> Option<Observation> {
    let disk = snapshot.recording_disk.as_ref()?;
    if disk.total_bytes == 0 {
        return None;
    }
    let free = disk.free_bytes as f64 * 100.0 / disk.total_bytes as f64;
    Some(Observation {
        subject: Subject::appliance(),
        holds: rule.threshold.is_some_and(|t| free < t),
        value: Some(free),
    })
}

fn cert_expiry(certs: &CertStatus, rule: &Rule) -> Option<Observation> {
    let days = certs.earliest_days()?;
    Some(Observation {
        subject: Subject::appliance(),
        holds: rule.threshold.is_some_and(|t| days < t),
        value: Some(days),
    })
}

#[cfg(test)]
#[path = "evaluator_tests.rs"]
mod tests;
