//! Redundant ingest: which of a hub's two feeds is on air, and moving the outputs between
//! them at the incoming feed's keyframe (failover, revert, by hand), with the grace period's
//! continuity (fan-outs resynced, FLV clock rebased, the new feed's headers replayed).

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant, SystemTime};

use tokio::time::MissedTickBehavior;

use super::feed::{self, other, FeedState, Native};
use super::ts_clock::TsClock;
use super::{Hub, State};
use crate::engine::SwitchError;
use crate::metrics::{
    Feed, FeedSwitch, FeedSwitchCounts, PublisherInfo, StreamCodecs, SwitchReason,
};
use crate::remux::FlvToTs;

/// How often an input with a backup checks its feeds for silence and stability: a tenth of
/// the shortest failover delay (`FailoverDelay::MIN_MS`), so a switch is decided within
/// 100 ms of the delay.
const TICK: Duration = Duration::from_millis(100);

/// When the outputs move between feeds (from `crate::spec::BackupSpec`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackupTimes {
    /// A feed on air that sends nothing this long is lost.
    pub failover: Duration,
    /// A main feed back and sending this long goes on air again; `None`: only by hand.
    pub revert: Option<Duration>,
}

/// The feeds as the snapshot shows them.
#[derive(Debug, Clone)]
pub struct FeedsView {
    /// The feed the outputs take, while it has a publisher.
    pub on_air: Option<Feed>,
    pub on_air_since: Option<SystemTime>,
    pub last_switch: Option<FeedSwitch>,
    /// The codecs of the feed on air.
    pub codecs: Option<StreamCodecs>,
    /// A backup feed is configured.
    pub has_backup: bool,
    pub backup_publisher: Option<PublisherInfo>,
    /// The backup has a publisher that sent within the failover delay.
    pub backup_live: bool,
    pub backup_codecs: Option<StreamCodecs>,
    pub switches: FeedSwitchCounts,
}

fn reason_index(r: SwitchReason) -> usize {
    match r {
        SwitchReason::Failover => 0,
        SwitchReason::Revert => 1,
        SwitchReason::Manual => 2,
    }
}

/// The reason as the API and `/metrics` name it.
fn reason_name(r: SwitchReason) -> &'static str {
    match r {
        SwitchReason::Failover => "failover",
        SwitchReason::Revert => "revert",
        SwitchReason::Manual => "manual",
    }
}

impl Hub {
    /// Sets (or removes) the input's backup feed, live: the main feed and the outputs are
    /// not touched. Removing it lets its publisher go (its data is ignored from now on);
    /// if the backup was on air the main feed takes over at its next keyframe.
    pub fn set_backup(self: &Arc<Self>, times: Option<BackupTimes>) {
        let mut st = self.lock();
        st.backup = times;
        if times.is_some() {
            if st.ts_clock.is_none() {
                st.ts_clock = Some(Box::new(TsClock::new()));
            }
            if !st.timer {
                if let Ok(rt) = tokio::runtime::Handle::try_current() {
                    st.timer = true;
                    rt.spawn(run_timer(Arc::downgrade(self)));
                }
            }
            return;
        }
        st.pinned = false;
        let id = st.feed(Feed::Backup).id();
        st.feed(Feed::Backup).release.cancel();
        drop(st);
        if let Some(id) = id {
            tracing::info!(input = %self.name, "backup feed removed: its publisher is let go");
            self.detach(Feed::Backup, id);
        }
    }

    /// Puts `feed` on air at its next keyframe, by hand. A manual choice of the backup
    /// holds (no automatic return) until the main feed is chosen again or the backup is
    /// lost; choosing the main feed returns to automatic behaviour.
    pub fn switch_feed(&self, feed: Feed) -> Result<(), SwitchError> {
        let mut st = self.lock();
        let Some(times) = st.backup else {
            return Err(SwitchError::NoBackup(self.name.clone()));
        };
        if !sending(st.feed(feed), times.failover, Instant::now()) {
            return Err(SwitchError::NotLive(feed));
        }
        st.pinned = feed == Feed::Backup;
        if st.on_air == feed {
            st.pending = None;
        } else {
            st.pending = Some((feed, SwitchReason::Manual));
            tracing::info!(input = %self.name, to = feed.as_str(), "manual switch: at the feed's next keyframe");
        }
        Ok(())
    }

    /// One look at the feeds (see [`TICK`]): a feed on air that went silent fails over to
    /// the other if it is sending; a main feed stable for the revert delay goes back on air.
    /// False once the input has no backup (the timer ends).
    pub(super) fn tick(&self) -> bool {
        let mut st = self.lock();
        let Some(times) = st.backup else {
            st.timer = false;
            return false;
        };
        let now = Instant::now();
        let mut live = [false; 2];
        for (l, f) in live.iter_mut().zip(st.feeds.iter_mut()) {
            *l = sending(f, times.failover, now);
            if !*l {
                // A pause restarts the stability clock of a returning feed.
                f.sending_since = None;
            }
        }
        let cur = st.on_air;
        let alt = other(cur);
        match st.pending {
            // The feed a switch waits for went silent too: wait for whichever comes back.
            Some((to, _)) if !live[feed::index(to)] => st.pending = None,
            Some(_) => {}
            None if !live[feed::index(cur)] && live[feed::index(alt)] => {
                tracing::info!(input = %self.name, feed = cur.as_str(), silent = ?times.failover, "feed on air went silent: switching to the other at its next keyframe");
                st.pending = Some((alt, SwitchReason::Failover));
            }
            None => {
                let main = st.feed(Feed::Main);
                let stable = times.revert.is_some_and(|r| {
                    main.sending_since
                        .is_some_and(|s| now.duration_since(s) >= r)
                });
                if cur == Feed::Backup && !st.pinned && live[0] && stable {
                    st.pending = Some((Feed::Main, SwitchReason::Revert));
                }
            }
        }
        true
    }

    /// Moves the outputs to `feed` now (the caller has its keyframe, or it is a returning
    /// publisher whose first keyframe the resynced outputs wait for): as on a publisher's
    /// return within the grace period, every output skips to the keyframe, headers first,
    /// and RTMP timestamps continue. `reason`: a switch between feeds to record and log.
    pub(super) fn take_air(&self, st: &mut State, feed: Feed, reason: Option<SwitchReason>) {
        let from = st.on_air;
        st.ts.splice();
        st.flv.splice();
        st.ts.clear_headers();
        st.flv.clear_headers();
        st.flv_clock.rebase = true;
        if let Some(clock) = &mut st.ts_clock {
            clock.splice();
        }
        let stamp = st.flv_clock.last_sent();
        let wants_ts = st.ts_wanted();
        let f = &st.feeds[feed::index(feed)];
        for (slot, h) in f.ts_headers.iter().enumerate() {
            if let Some(h) = h {
                st.ts.set_header(slot as u8, h.clone());
            }
        }
        // The new feed's headers go out at the last timestamp sent, which the rebased
        // stream continues from.
        let headers: Vec<_> = f
            .flv_headers
            .iter()
            .enumerate()
            .filter_map(|(slot, h)| {
                let mut t = h.clone()?;
                t.timestamp = stamp;
                Some((slot as u8, t))
            })
            .collect();
        if matches!(f.native, Native::Flv) {
            if wants_ts {
                // FLV → TS continues across RTMP feeds (its clock is the outputs'); from a TS
                // feed it starts afresh. Either way it learns the new decoder configuration.
                let remux = st.flv_to_ts.get_or_insert_with(|| Box::new(FlvToTs::new()));
                let mut chunks = Vec::new();
                for (_, t) in headers.iter().filter(|(_, t)| t.config) {
                    let _ = remux.on_tag(t, &mut chunks);
                }
            }
        } else {
            st.flv_to_ts = None;
        }
        for (slot, t) in headers {
            st.flv.set_header(slot, t);
        }
        st.on_air = feed;
        st.pending = None;
        st.backup_first = false;
        let now = SystemTime::now();
        st.on_air_since = Some(now);
        if let Some(reason) = reason.filter(|_| from != feed) {
            if reason == SwitchReason::Failover {
                st.pinned = false; // the chosen feed was lost
            }
            st.last_switch = Some(FeedSwitch {
                from,
                to: feed,
                reason,
                at: now,
            });
            self.switches[reason_index(reason)].fetch_add(1, Ordering::Relaxed);
            tracing::info!(
                input = %self.name,
                from = from.as_str(),
                to = feed.as_str(),
                reason = reason_name(reason),
                "feed on air switched"
            );
        }
    }

    /// The feeds, for the snapshot.
    pub fn feeds(&self) -> FeedsView {
        let st = self.lock();
        let now = Instant::now();
        let on_air = st.feed(st.on_air);
        let backup = st.feed(Feed::Backup);
        let count = |r| self.switches[reason_index(r)].load(Ordering::Relaxed);
        FeedsView {
            on_air: on_air.publisher.is_some().then_some(st.on_air),
            on_air_since: st.on_air_since.filter(|_| on_air.publisher.is_some()),
            last_switch: st.last_switch.clone(),
            codecs: on_air.codecs.clone(),
            has_backup: st.backup.is_some(),
            backup_publisher: backup.publisher.as_ref().map(|p| p.1.clone()),
            backup_live: st.backup.is_some_and(|t| sending(backup, t.failover, now)),
            backup_codecs: backup.codecs.clone(),
            switches: FeedSwitchCounts {
                failover: count(SwitchReason::Failover),
                revert: count(SwitchReason::Revert),
                manual: count(SwitchReason::Manual),
            },
        }
    }

    /// Whether `feed` has a publisher that sent within the failover delay (or, with no
    /// backup configured, has a publisher).
    pub fn feed_live(&self, feed: Feed) -> bool {
        let st = self.lock();
        match st.backup {
            Some(t) => sending(st.feed(feed), t.failover, Instant::now()),
            None => st.feed(feed).publisher.is_some(),
        }
    }
}

fn sending(f: &FeedState, failover: Duration, now: Instant) -> bool {
    f.publisher.is_some() && now.duration_since(f.last_push) < failover
}

/// The switch timer of an input with a backup; ends with the backup or the hub.
async fn run_timer(hub: Weak<Hub>) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(hub) = hub.upgrade() else {
            return;
        };
        if !hub.tick() {
            return;
        }
    }
}
