//! The engine's HLS sessions, one per input at most, started by the first request and
//! stopped after [`HlsConfig::idle`] without one; and the cap on requests held waiting.
//!
//! The map's lock orders the two things that race: a request takes a session and marks
//! it asked-for under the lock, and an idle session leaves the map under the same lock
//! only if it is still unasked-for; so a request never gets a session that is stopping.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::session::{self, Session};
use super::{HlsConfig, HlsError};
use crate::hub::Hub;
use crate::spec::Name;

/// Requests held waiting at once in one engine (blocking playlist reloads, and first
/// playlists waiting for the first segment). A player holds one blocking reload at a
/// time, so this is 10 000 players at once on one relay, far past what it serves without
/// a CDN in front; each waiter holds a task, a connection and a file descriptor, and the
/// cap keeps a flood of held requests from exhausting the service's descriptors (65 536
/// under the NixOS unit) while leaving room for everything else.
pub const MAX_WAITING_REQUESTS: usize = 10_000;

/// See the [module docs](self).
#[derive(Debug)]
pub(crate) struct HlsSessions {
    pub config: HlsConfig,
    map: Mutex<HashMap<Name, Arc<Session>>>,
    waiting: AtomicUsize,
    /// Epoch (Unix ms) of the last session started: the next one is later.
    last_epoch: AtomicU64,
}

/// What a session is started for.
pub(crate) struct Target<'a> {
    pub input: &'a Name,
    pub hub: &'a Arc<Hub>,
    /// The input's token: removing or changing the input stops its session.
    pub cancel: &'a CancellationToken,
}

impl HlsSessions {
    pub fn new(config: HlsConfig) -> Self {
        Self {
            config,
            map: Mutex::default(),
            waiting: AtomicUsize::new(0),
            last_epoch: AtomicU64::new(0),
        }
    }

    fn map(&self) -> MutexGuard<'_, HashMap<Name, Arc<Session>>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How long back an HLS output's players are counted: the playlist's window.
    pub fn players_window(&self) -> Duration {
        self.config
            .segment
            .saturating_mul(u32::try_from(self.config.window).unwrap_or(u32::MAX))
    }

    /// Sessions running (muxing, or serving an ended window until idle).
    pub fn running(&self) -> usize {
        self.map().len()
    }

    /// The input's session, marked asked-for. With `start` (a playlist request) one is
    /// started when none runs, or when the one that runs has ended and the input is live
    /// again (a new publication: a new epoch). `None` when there is none to give.
    pub fn get_or_start(
        self: &Arc<Self>,
        target: &Target<'_>,
        start: bool,
        tasks: &TaskTracker,
    ) -> Option<Arc<Session>> {
        let mut map = self.map();
        let live = *target.hub.live().borrow();
        if let Some(s) = map.get(target.input) {
            // A file of an ended session is still served; its playlist is replaced.
            let current = Arc::ptr_eq(&s.hub, target.hub) && !(start && s.ended() && live);
            if current && !s.cancel.is_cancelled() {
                s.touch();
                return Some(s.clone());
            }
        }
        if !(live && start) {
            return None;
        }
        let not_before = self.last_epoch.load(Ordering::Relaxed) + 1;
        let s = Session::new(
            target.input.clone(),
            target.hub.clone(),
            &self.config,
            target.cancel.child_token(),
            not_before,
        );
        self.last_epoch.fetch_max(s.epoch, Ordering::Relaxed);
        if let Some(old) = map.insert(target.input.clone(), s.clone()) {
            old.cancel.cancel();
        }
        drop(map);
        tasks.spawn(session::run(self.clone(), s.clone(), self.config.part));
        Some(s)
    }

    /// Returns once `session` has had no request for [`HlsConfig::idle`], taken out of
    /// the map (or once another session replaced it there).
    pub async fn until_idle(&self, session: &Arc<Session>) {
        loop {
            let wait = {
                let mut map = self.map();
                if !map
                    .get(&session.input)
                    .is_some_and(|s| Arc::ptr_eq(s, session))
                {
                    return;
                }
                let idle = session.idle_for();
                if idle >= self.config.idle {
                    map.remove(&session.input);
                    return;
                }
                self.config.idle - idle
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// Takes `session` out of the map if it is there.
    pub fn remove(&self, session: &Arc<Session>) {
        let mut map = self.map();
        if map
            .get(&session.input)
            .is_some_and(|s| Arc::ptr_eq(s, session))
        {
            map.remove(&session.input);
        }
    }

    /// A place for one waiting request, or [`HlsError::Busy`].
    pub fn wait_slot(self: &Arc<Self>) -> Result<WaitSlot, HlsError> {
        let previous = self.waiting.fetch_add(1, Ordering::Relaxed);
        let slot = WaitSlot {
            sessions: self.clone(),
        };
        if previous >= MAX_WAITING_REQUESTS {
            return Err(HlsError::Busy); // `slot` gives the place back
        }
        Ok(slot)
    }
}

/// One waiting request's place (see [`MAX_WAITING_REQUESTS`]); freed on drop.
#[derive(Debug)]
pub(crate) struct WaitSlot {
    sessions: Arc<HlsSessions>,
}

impl Drop for WaitSlot {
    fn drop(&mut self) {
        self.sessions.waiting.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiting_requests_are_capped_and_their_places_come_back() {
        let s = Arc::new(HlsSessions::new(HlsConfig::default()));
        let mut slots: Vec<WaitSlot> = (0..MAX_WAITING_REQUESTS)
            .map(|_| s.wait_slot().expect("room"))
            .collect();
        assert!(matches!(s.wait_slot(), Err(HlsError::Busy)));
        assert!(
            matches!(s.wait_slot(), Err(HlsError::Busy)),
            "a refusal holds no place"
        );
        slots.pop();
        let last = s.wait_slot().expect("a place came back");
        assert!(matches!(s.wait_slot(), Err(HlsError::Busy)));
        drop(slots);
        drop(last);
        assert_eq!(s.waiting.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn players_are_counted_over_the_playlist_window() {
        let s = HlsSessions::new(HlsConfig::default());
        assert_eq!(s.players_window(), Duration::from_secs(12));
    }
}
