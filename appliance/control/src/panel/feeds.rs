//! An input's two feeds in the panel (issue #18): for an input with a backup, the main and
//! the backup feed as two rows, each with its state, publisher and bit rate and the
//! «EN ANTENA» marker on the one the outputs take, and the last switch (from → to, why,
//! when). Rendered from the snapshot here; `panel.js` keeps them live with the same words
//! (`feed.*`). Times are UTC on the server's page; the script shows the browser's time.

use std::time::SystemTime;

use relevo_engine::metrics::{Feed, FeedSwitch, InputSnapshot, SwitchReason};

use super::dashboard::bitrate;
use super::i18n::Words;

/// One feed of an input with a backup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedRow {
    /// `main` or `backup` (the row's `data-feed`, the switch route's last segment).
    pub feed: &'static str,
    /// A publisher is attached and sending.
    pub live: bool,
    /// «SRT 203.0.113.7:50000», or «Sin origen conectado».
    pub publisher: String,
    pub bitrate: String,
    pub on_air: bool,
    /// «desde 17:45:03 UTC» on the feed on air, else empty.
    pub since: String,
}

/// Both feeds and the last switch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feeds {
    pub rows: [FeedRow; 2],
    /// Where the switch buttons post, followed by `/main` or `/backup`: by id for a stored
    /// input, by name for one of the configuration file (it has no id).
    pub switch_url: String,
    /// «Principal → Respaldo (conmutación automática) a las 17:45:03 UTC», if any switch.
    pub last_switch: Option<String>,
}

impl Feeds {
    /// Whether a feed is on air: the switch buttons are only offered then.
    pub fn any_on_air(&self) -> bool {
        self.rows.iter().any(|r| r.on_air)
    }
}

/// `HH:MM:SS UTC`.
pub fn clock(t: SystemTime) -> String {
    let t = time::OffsetDateTime::from(t);
    format!("{:02}:{:02}:{:02} UTC", t.hour(), t.minute(), t.second())
}

fn feed_name(feed: Feed, words: &Words) -> &str {
    words.get(match feed {
        Feed::Main => "feed.main",
        Feed::Backup => "feed.backup",
    })
}

/// The last switch in words.
pub fn switch_text(s: &FeedSwitch, words: &Words) -> String {
    let reason = words.get(match s.reason {
        SwitchReason::Failover => "feed.reason_failover",
        SwitchReason::Revert => "feed.reason_revert",
        SwitchReason::Manual => "feed.reason_manual",
    });
    words
        .get("feed.switch_text")
        .replace("{from}", feed_name(s.from, words))
        .replace("{to}", feed_name(s.to, words))
        .replace("{reason}", reason)
        .replace("{time}", &clock(s.at))
}

/// The two feeds of an input with a backup, from its snapshot (`None`: not running now,
/// both rows without signal).
pub fn feeds(live: Option<&InputSnapshot>, switch_url: String, words: &Words) -> Feeds {
    let none = || words.get("live.no_publisher").to_owned();
    let on_air = live.and_then(|s| s.on_air);
    let since = |feed| match (on_air, live.and_then(|s| s.on_air_since)) {
        (Some(f), Some(at)) if f == feed => words.get("feed.since").replace("{time}", &clock(at)),
        _ => String::new(),
    };
    let main = FeedRow {
        feed: Feed::Main.as_str(),
        live: live.is_some_and(|s| s.publisher.is_some()),
        publisher: live
            .and_then(|s| s.publisher.as_ref())
            .map_or_else(none, |p| {
                format!("{} {}", p.protocol.to_uppercase(), p.peer)
            }),
        bitrate: bitrate(live.map_or(0, |s| s.bitrate.last_1s), words),
        on_air: on_air == Some(Feed::Main),
        since: since(Feed::Main),
    };
    let b = live.and_then(|s| s.backup.as_ref());
    let backup = FeedRow {
        feed: Feed::Backup.as_str(),
        live: b.is_some_and(|b| b.live),
        publisher: b.and_then(|b| b.publisher.as_ref()).map_or_else(none, |p| {
            format!("{} {}", p.protocol.to_uppercase(), p.peer)
        }),
        bitrate: bitrate(b.map_or(0, |b| b.bitrate.last_1s), words),
        on_air: on_air == Some(Feed::Backup),
        since: since(Feed::Backup),
    };
    Feeds {
        rows: [main, backup],
        switch_url,
        last_switch: live
            .and_then(|s| s.last_switch.as_ref())
            .map(|s| switch_text(s, words)),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::panel::i18n::Lang;

    #[test]
    fn the_last_switch_reads_from_to_why_and_when() {
        // 2026-12-07 17:45:03 UTC.
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_665_503);
        let s = FeedSwitch {
            from: Feed::Main,
            to: Feed::Backup,
            reason: SwitchReason::Failover,
            at,
        };
        assert_eq!(
            switch_text(&s, Lang::Es.words()),
            "Principal → Respaldo (conmutación automática) a las 17:45:03 UTC"
        );
        let back = FeedSwitch {
            from: Feed::Backup,
            to: Feed::Main,
            reason: SwitchReason::Revert,
            at,
        };
        assert_eq!(
            switch_text(&back, Lang::En.words()),
            "Backup → Main (back to main) at 17:45:03 UTC"
        );
    }

    #[test]
    fn without_a_snapshot_both_feeds_are_without_signal() {
        let f = feeds(None, "/inputs/1/feed".into(), Lang::Es.words());
        assert!(f
            .rows
            .iter()
            .all(|r| !r.live && !r.on_air && r.since.is_empty()));
        assert_eq!(f.rows[0].feed, "main");
        assert_eq!(f.rows[1].publisher, "Sin origen conectado");
        assert_eq!(f.last_switch, None);
    }
}
