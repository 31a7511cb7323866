//! The evaluator's task: on each engine snapshot (once a second), every enabled rule's
//! condition on each of its flows ([`super::evaluator`]) steps that alert's state machine
//! ([`super::state`]); each start and resolution is written as a flow event
//! (`alert.started` warning / `alert.resolved` info) together with one delivery per enabled
//! channel when a message goes out ([`crate::store::alert_deliveries::record_alert`]).
//!
//! Rules, channels, settings and the branding name are read again every [`RELOAD`] and at
//! once on [`super::Alerts::reload`]; certificates every [`super::certificates::RECHECK`]
//! and on reload. A rule deleted or disabled drops its alerts without a message; a flow
//! gone from the snapshot (input deleted) resolves its alerts.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use relevo_engine::metrics::Snapshot;
use relevo_engine::Engine;
use serde_json::json;
use time::OffsetDateTime;

use super::certificates::{self, CertStatus};
use super::evaluator::{holds_for, Evaluator, Observation, Subject};
use super::message::{AlertMessage, MessageEvent};
use super::state::{Track, Transition, TransitionKind};
use super::{Channel, Inner, Rule};
use crate::store::alert_deliveries::{self, DeliveryKind, NewDelivery};
use crate::store::alerts::AlertSettings;
use crate::store::history::{NewEvent, Severity};

/// How often the configuration is read again without a reload (a change made by hand in
/// the database, or a reload lost in a race, shows within this).
pub const RELOAD: Duration = Duration::from_secs(30);

/// What the evaluator works from, read from the store.
#[derive(Debug)]
struct Loaded {
    rules: Vec<Rule>,
    channels: Vec<Channel>,
    settings: AlertSettings,
    appliance: String,
}

impl Loaded {
    async fn read(inner: &Inner) -> Result<Self, crate::store::StoreError> {
        let pool = &inner.pool;
        Ok(Self {
            rules: crate::store::alerts::rules(pool).await?,
            channels: crate::store::alerts::channels(pool).await?,
            settings: crate::store::alerts::settings(pool).await?,
            appliance: crate::store::settings::get(pool).await?.product_name,
        })
    }
}

/// The evaluator's task; ends when the engine's snapshots end.
pub(super) async fn run(inner: Arc<Inner>, engine: Engine) {
    let mut snapshots = engine.subscribe();
    drop(engine);
    let mut watch = Watch {
        inner,
        loaded: None,
        certs: CertStatus::default(),
        evaluator: Evaluator::default(),
        tracks: HashMap::new(),
    };
    watch.reload(true).await;
    let mut reload = tokio::time::interval(RELOAD);
    let mut recheck = tokio::time::interval(certificates::RECHECK);
    loop {
        tokio::select! {
            changed = snapshots.changed() => {
                if changed.is_err() {
                    break;
                }
                let snapshot = snapshots.borrow_and_update().clone();
                watch.step(&snapshot).await;
            }
            () = watch.inner.reload.notified() => watch.reload(true).await,
            _ = reload.tick() => watch.reload(false).await,
            _ = recheck.tick() => watch.certs = CertStatus::read(&watch.inner.config.certificates),
        }
    }
    watch.inner.stop.cancel();
}

struct Watch {
    inner: Arc<Inner>,
    /// `None` until the store could be read.
    loaded: Option<Loaded>,
    certs: CertStatus,
    evaluator: Evaluator,
    tracks: HashMap<(i64, Subject), Track>,
}

impl Watch {
    async fn reload(&mut self, certs: bool) {
        match Loaded::read(&self.inner).await {
            Ok(loaded) => self.loaded = Some(loaded),
            Err(e) => tracing::warn!("alerts: reading the rules: {e}"),
        }
        if certs {
            self.certs = CertStatus::read(&self.inner.config.certificates);
        }
    }

    async fn step(&mut self, snapshot: &Snapshot) {
        let now = Instant::now();
        self.evaluator.observe(now, snapshot);
        let Some(loaded) = &self.loaded else {
            return;
        };
        let repeat = Duration::from_secs(u64::from(loaded.settings.repeat_minutes) * 60);
        let mut happened = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for rule in loaded.rules.iter().filter(|r| r.enabled) {
            for obs in self.evaluator.evaluate(rule, snapshot, &self.certs) {
                let key = (rule.id, obs.subject.clone());
                let track = self.tracks.entry(key.clone()).or_default();
                if let Some(t) = track.step(now, obs.holds, holds_for(rule), repeat) {
                    happened.push((rule.clone(), obs, t));
                }
                seen.insert(key);
            }
        }
        // Alerts of rules gone or disabled are dropped; of flows gone, resolved.
        let rules: HashMap<i64, &Rule> = loaded
            .rules
            .iter()
            .filter(|r| r.enabled)
            .map(|r| (r.id, r))
            .collect();
        self.tracks.retain(|(id, _), _| rules.contains_key(id));
        for ((id, subject), track) in &mut self.tracks {
            if seen.contains(&(*id, subject.clone())) {
                continue;
            }
            let rule = rules[id];
            if let Some(t) = track.step(now, false, holds_for(rule), repeat) {
                let obs = Observation {
                    subject: subject.clone(),
                    holds: false,
                    value: None,
                };
                happened.push((rule.clone(), obs, t));
            }
        }
        self.tracks.retain(|_, t| !t.idle(now, repeat));
        let firing = self.tracks.values().filter(|t| t.firing()).count();
        self.inner.metrics.set_firing(firing);
        if happened.is_empty() {
            return;
        }
        for (rule, obs, t) in happened {
            self.record(&rule, &obs, t).await;
        }
        self.inner.wake_sender.notify_one();
    }

    /// Writes one start or resolution as an event, with its deliveries when it is sent.
    async fn record(&self, rule: &Rule, obs: &Observation, t: Transition) {
        let Some(loaded) = &self.loaded else {
            return;
        };
        let at = OffsetDateTime::now_utc();
        let (event, kind, severity) = match t.kind {
            TransitionKind::Started => (
                MessageEvent::Started,
                DeliveryKind::Started,
                Severity::Warning,
            ),
            TransitionKind::Resolved => (
                MessageEvent::Resolved,
                DeliveryKind::Resolved,
                Severity::Info,
            ),
        };
        let flow = (!obs.subject.input.is_empty()).then(|| obs.subject.input.clone());
        let message = AlertMessage {
            event,
            rule: rule.name.clone(),
            condition: Some(rule.condition),
            input: flow,
            output: obs.subject.output.clone(),
            value: obs.value,
            threshold: rule.threshold,
            at,
            appliance: loaded.appliance.clone(),
            panel_url: loaded.settings.panel_url.clone(),
            still: t.late,
        };
        let mut detail = json!({
            "rule_id": rule.id,
            "rule": rule.name,
            "condition": rule.condition.as_str(),
            "value": obs.value,
            "threshold": rule.threshold,
            "for_secs": rule.for_secs,
        });
        if !t.sent {
            detail["suppressed"] = json!(true);
        }
        if t.late {
            detail["still"] = json!(true);
        }
        if rule.condition == super::Condition::CertExpiry {
            if let Some(path) = self.certs.earliest_path() {
                detail["certificate"] = json!(path.display().to_string());
            }
        }
        let deliveries: Vec<NewDelivery> = if t.sent {
            loaded
                .channels
                .iter()
                .filter(|c| c.enabled)
                .map(|c| NewDelivery {
                    channel_id: c.id,
                    kind,
                    payload: message.payload(c.lang),
                })
                .collect()
        } else {
            Vec::new()
        };
        let event = NewEvent {
            at,
            input: obs.subject.input.clone(),
            output: obs.subject.output.clone(),
            kind: event.as_str().to_owned(),
            severity,
            detail,
            audit_id: None,
        };
        tracing::info!(
            rule = %rule.name,
            input = %obs.subject.input,
            output = obs.subject.output.as_deref().unwrap_or(""),
            suppressed = !t.sent,
            "{}",
            event.kind
        );
        if let Err(e) = alert_deliveries::record_alert(&self.inner.pool, &event, &deliveries).await
        {
            tracing::warn!("alerts: recording {}: {e}", event.kind);
        }
    }
}
