//! One input's HLS session: its window, and the task that fills it while someone reads.
//!
//! The task makes the hub produce MPEG-TS ([`crate::hub::Hub::want_ts`]) for as long as it
//! muxes, subscribes like a record output (the cached GOP gives it the last keyframe at
//! once), and runs the hub's TS through the one TS → fMP4 path (`record::mp4_writer`, with
//! LL-HLS parts) into the window. A publisher blip inside the grace period keeps the
//! subscription, so the playlist continues (timestamps rebased; a new init segment only if
//! the codec parameters changed). When the publication ends (the hub closes the queue) the
//! window ends (`#EXT-X-ENDLIST`) and is served as it is until nobody has asked for
//! [`HlsConfig::idle`]; the next publication gets a new session (see `sessions`).

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use relevo_media::hls::{base36, HlsWindow, WindowConfig};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::feed::WindowSink;
use super::sessions::HlsSessions;
use super::HlsConfig;
use crate::hub::fanout::Subscription;
use crate::hub::Hub;
use crate::record::mp4_writer::Mp4Writer;
use crate::spec::Name;
use crate::unit::TsChunk;

/// Bytes one session's window holds at most (segments, the segment in progress, init
/// segments): 6 segments of 2 s at 25 Mbit/s, the highest contribution bitrate we expect,
/// are 37.5 MB; 64 MiB leaves room for a longer GOP. Past it the oldest segments go.
pub const MAX_WINDOW_BYTES: usize = 64 << 20;

/// A recording file never ends by duration in HLS: a "file" is one init segment.
const NO_SPLIT: i64 = i64::MAX;

/// See the [module docs](self).
#[derive(Debug)]
pub(crate) struct Session {
    pub input: Name,
    pub hub: Arc<Hub>,
    /// Start in Unix milliseconds: the names' epoch, unique per session.
    pub epoch: u64,
    /// `epoch` in base 36, as in the file names.
    pub epoch36: String,
    window: Mutex<HlsWindow>,
    /// The window's version, sent at every change: blocking requests wait on it.
    version: watch::Sender<u64>,
    last_request: Mutex<Instant>,
    pub cancel: CancellationToken,
}

impl Session {
    pub fn new(
        input: Name,
        hub: Arc<Hub>,
        config: &HlsConfig,
        cancel: CancellationToken,
        not_before: u64,
    ) -> Arc<Self> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        // Two sessions of one engine started in the same millisecond would share names.
        let epoch = now.max(not_before);
        let window = HlsWindow::new(
            WindowConfig {
                segment_target_90k: ticks_90k(config.segment),
                part_target_90k: ticks_90k(config.part),
                max_segments: config.window,
                max_bytes: MAX_WINDOW_BYTES,
            },
            epoch,
        );
        let version = watch::Sender::new(window.version());
        Arc::new(Self {
            input,
            hub,
            epoch,
            epoch36: base36(epoch),
            window: Mutex::new(window),
            version,
            last_request: Mutex::new(Instant::now()),
            cancel,
        })
    }

    /// The window, to read (never held across an await).
    pub fn window(&self) -> MutexGuard<'_, HlsWindow> {
        self.window.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Changes `f` makes to the window, announced to waiting requests.
    fn update(&self, f: impl FnOnce(&mut HlsWindow) -> bool) {
        let version = {
            let mut w = self.window();
            if !f(&mut w) {
                return;
            }
            w.version()
        };
        self.version.send_replace(version);
    }

    /// Follows the window's changes (subscribe before looking, then wait).
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.version.subscribe()
    }

    pub fn ended(&self) -> bool {
        self.window().is_ended()
    }

    /// A request came.
    pub fn touch(&self) {
        *self.last_request.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
    }

    /// Time since the last request.
    pub fn idle_for(&self) -> Duration {
        self.last_request
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .elapsed()
    }
}

/// The session's task: mux the publication, then serve the ended window, until idle.
pub(crate) async fn run(sessions: Arc<HlsSessions>, session: Arc<Session>, part: Duration) {
    tracing::info!(input = %session.input, epoch = %session.epoch36, "HLS session started");
    let want = session.hub.want_ts();
    let dropped = Arc::new(AtomicU64::new(0));
    let sub = session.hub.subscribe_ts(dropped.clone(), None);
    let stopped = tokio::select! {
        _ = session.cancel.cancelled() => true,
        _ = sessions.until_idle(&session) => true,
        _ = feed(&session, sub, ticks_90k(part)) => false,
    };
    drop(want);
    session.update(|w| {
        w.end();
        true
    });
    if !stopped {
        tokio::select! {
            _ = session.cancel.cancelled() => {}
            _ = sessions.until_idle(&session) => {}
        }
    }
    sessions.remove(&session);
    let lost = dropped.load(std::sync::atomic::Ordering::Relaxed);
    tracing::info!(input = %session.input, epoch = %session.epoch36, lost, "HLS session stopped");
}

/// Muxes the subscription into the window until the publication ends.
async fn feed(session: &Session, sub: Option<Subscription<TsChunk>>, part_90k: i64) {
    let Some(mut sub) = sub else {
        return; // the publication ended before the session could join it
    };
    let mut writer = Mp4Writer::new(NO_SPLIT).with_parts(part_90k);
    let mut sink = WindowSink::default();
    let mut after_live = false;
    while let Some(chunk) = sub.rx.recv().await {
        // Replayed chunks (no arrival time) after live ones: the hub resynced this reader
        // to a returning publisher's keyframe, or after a loss.
        let result = if chunk.arrived.is_none() && after_live {
            writer.resume(&mut sink)
        } else {
            Ok(())
        };
        after_live = chunk.arrived.is_some();
        if let Err(e) = result.and_then(|()| writer.push(&chunk.data, &mut sink)) {
            tracing::error!(input = %session.input, "HLS session stopped muxing: {e}");
            return;
        }
        // The GOP replayed at the start waits for the first live chunk (see `feed`).
        if after_live && !sink.is_empty() {
            let now = SystemTime::now();
            session.update(|w| sink.deliver(now, w));
        }
    }
    if let Err(e) = writer.finish(&mut sink) {
        tracing::warn!(input = %session.input, "HLS session: last fragments lost: {e}");
    }
    let now = SystemTime::now();
    session.update(|w| sink.deliver(now, w));
}

/// A duration in 90 kHz ticks.
pub(crate) fn ticks_90k(d: Duration) -> i64 {
    i64::try_from(d.as_micros() * 9 / 100).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_ticks() {
        assert_eq!(ticks_90k(Duration::from_secs(2)), 180_000);
        assert_eq!(ticks_90k(Duration::from_millis(333)), 29_970);
    }
}
