//! What an HLS session's muxer makes, handed to its window: the [`Fmp4Sink`] of the one
//! TS → fMP4 path (`record::mp4_writer`), which turns fragments into LL-HLS parts with the
//! wall-clock time their first frame reached the relay.
//!
//! Wall clock: parts are placed on a media timeline (the sum of their durations, which
//! continues across init segments and publisher blips) and that timeline is tied to the
//! wall clock by the earliest arrival seen: a part leaves the muxer about when its last
//! frame arrived, so `now - end of the part` is an upper bound of the timeline's origin,
//! and the smallest such bound (network jitter only adds) is the best one. The GOP the hub
//! replays to a new session arrived earlier than it is handed out, so its parts are held
//! until the first live chunk fixes the origin. A publisher blip moves the wall clock but
//! not the media timeline, so the origin is found again after one.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use relevo_media::hls::{HlsWindow, Part};
use relevo_media::mp4::{Fragment, Mp4Error};

use crate::record::mp4_writer::Fmp4Sink;

/// Why a session stopped muxing (an encoder bug; input errors only skip frames).
#[derive(Debug, thiserror::Error)]
pub(crate) enum FeedError {
    #[error("cannot mux fMP4: {0}")]
    Mux(#[from] Mp4Error),
}

/// What waits for a wall clock.
#[derive(Debug)]
enum Held {
    Init(Bytes),
    /// A returning publisher's stream starts with the next part.
    Splice,
    Part {
        data: Bytes,
        /// Start on the session's media timeline, 90 kHz.
        start_90k: i64,
        duration_90k: i64,
        independent: bool,
    },
}

/// How much of the distance to a later (larger) origin estimate is taken at each part:
/// the origin follows a publisher whose clock runs slower than the wall clock, slowly
/// enough that network jitter barely moves it.
const ORIGIN_CREEP: u32 = 100;

/// See the [module docs](self).
#[derive(Debug, Default)]
pub(crate) struct WindowSink {
    held: Vec<Held>,
    /// End of the last part on the media timeline, 90 kHz.
    position_90k: i64,
    /// Wall-clock time of media timeline 0, once known.
    origin: Option<SystemTime>,
}

impl WindowSink {
    /// Whether anything waits for [`WindowSink::deliver`].
    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// Hands what is held to `window`, with wall clocks from the arrival at `now` of the
    /// stream up to the last part. False when nothing was held.
    pub fn deliver(&mut self, now: SystemTime, window: &mut HlsWindow) -> bool {
        if self.held.is_empty() {
            return false;
        }
        let estimate = now
            .checked_sub(ticks(self.position_90k))
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let origin = match self.origin {
            Some(o) if o <= estimate => {
                let later = estimate.duration_since(o).unwrap_or_default();
                o + later / ORIGIN_CREEP
            }
            _ => estimate,
        };
        self.origin = Some(origin);
        for held in self.held.drain(..) {
            match held {
                Held::Init(init) => window.set_init(init),
                Held::Splice => window.cut(),
                Held::Part {
                    data,
                    start_90k,
                    duration_90k,
                    independent,
                } => window.push_part(Part {
                    data,
                    duration_90k,
                    independent,
                    wall_clock: origin + ticks(start_90k),
                }),
            }
        }
        true
    }
}

/// 90 kHz ticks as a duration (negative as zero).
fn ticks(t: i64) -> Duration {
    let nanos = u128::try_from(t).unwrap_or(0) * 100_000 / 9;
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

impl Fmp4Sink for WindowSink {
    type Error = FeedError;

    fn start_file(&mut self, init: Bytes) -> Result<(), FeedError> {
        self.held.push(Held::Init(init));
        Ok(())
    }

    fn fragment(&mut self, fragment: Fragment, _file_90k: i64) -> Result<(), FeedError> {
        let duration_90k = fragment.duration_90k.max(0);
        self.held.push(Held::Part {
            data: fragment.data,
            start_90k: self.position_90k,
            duration_90k,
            independent: fragment.independent,
        });
        self.position_90k += duration_90k;
        Ok(())
    }

    fn end_file(&mut self) -> Result<(), FeedError> {
        Ok(())
    }

    fn splice(&mut self) {
        // A new publication: the wall clock jumped (see the module docs).
        self.origin = None;
        self.held.push(Held::Splice);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use relevo_media::hls::WindowConfig;

    fn window() -> HlsWindow {
        HlsWindow::new(
            WindowConfig {
                segment_target_90k: 180_000,
                part_target_90k: 30_000,
                max_segments: 6,
                max_bytes: 1 << 20,
            },
            1_700_000_000_000,
        )
    }

    fn fragment(duration_90k: i64, independent: bool) -> Fragment {
        Fragment {
            sequence: 1,
            data: Bytes::from_static(b"moof"),
            start_90k: 0,
            duration_90k,
            independent,
        }
    }

    #[test]
    fn ticks_are_exact() {
        assert_eq!(ticks(90_000), Duration::from_secs(1));
        assert_eq!(ticks(9), Duration::from_micros(100));
        assert_eq!(ticks(1), Duration::from_nanos(11_111));
        assert_eq!(ticks(-5), Duration::ZERO);
    }

    #[test]
    fn replayed_parts_get_their_wall_clock_from_the_first_live_one() {
        let mut sink = WindowSink::default();
        let mut w = window();
        sink.start_file(Bytes::from_static(b"init"))
            .expect("in memory");
        for _ in 0..6 {
            sink.fragment(fragment(30_000, false), 0)
                .expect("in memory");
        }
        // The whole 2 s arrived by `t`: the first part started 2 s before.
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        assert!(sink.deliver(t, &mut w));
        assert!(sink.is_empty());
        assert!(!sink.deliver(t, &mut w), "nothing left to deliver");
        // A later part that arrived late (jitter: 567 ms after its end) moves the origin
        // forward by only 1/ORIGIN_CREEP of that.
        sink.fragment(fragment(30_000, true), 0).expect("in memory");
        let late = t + Duration::from_millis(900);
        sink.deliver(late, &mut w);
        let first = t - Duration::from_secs(2);
        let estimate = late - ticks(7 * 30_000);
        let creep = estimate.duration_since(first).expect("later") / ORIGIN_CREEP;
        assert_eq!(sink.origin, Some(first + creep));
        assert!(creep < Duration::from_millis(6), "{creep:?}");
        // After a blip the wall clock is found again, and the window is told to start a
        // segment at the splice.
        sink.splice();
        sink.fragment(fragment(30_000, true), 0).expect("in memory");
        let back = t + Duration::from_secs(10);
        sink.deliver(back, &mut w);
        assert_eq!(sink.origin, Some(back - ticks(8 * 30_000)));
    }
}
