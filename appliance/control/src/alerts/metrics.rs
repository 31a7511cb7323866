//! The alerts' counters for `/metrics`: delivery attempts by channel kind and outcome, and
//! the alerts firing now.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use super::ChannelKind;

const KINDS: [ChannelKind; 3] = [ChannelKind::Webhook, ChannelKind::Slack, ChannelKind::Email];

#[derive(Debug, Default)]
pub struct Metrics {
    sent: [AtomicU64; 3],
    failed: [AtomicU64; 3],
    firing: AtomicU64,
}

fn index(kind: ChannelKind) -> usize {
    match kind {
        ChannelKind::Webhook => 0,
        ChannelKind::Slack => 1,
        ChannelKind::Email => 2,
    }
}

impl Metrics {
    /// One delivery attempt's outcome.
    pub fn count(&self, kind: ChannelKind, sent: bool) {
        let counters = if sent { &self.sent } else { &self.failed };
        counters[index(kind)].fetch_add(1, Ordering::Relaxed);
    }

    pub fn set_firing(&self, n: usize) {
        self.firing.store(n as u64, Ordering::Relaxed);
    }

    /// The Prometheus text lines.
    pub fn text(&self) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP relevo_alert_deliveries_total Alert message delivery attempts: result=\"sent\" \
             counts messages delivered, result=\"failed\" counts every failed attempt (a \
             message retried three times counts three).\n\
             # TYPE relevo_alert_deliveries_total counter\n",
        );
        for kind in KINDS {
            for (result, counters) in [("sent", &self.sent), ("failed", &self.failed)] {
                let _ = writeln!(
                    out,
                    "relevo_alert_deliveries_total{{channel_kind=\"{}\",result=\"{result}\"}} {}",
                    kind.as_str(),
                    counters[index(kind)].load(Ordering::Relaxed)
                );
            }
        }
        let _ = write!(
            out,
            "# HELP relevo_alerts_firing Alerts started and not resolved (one per rule and flow).\n\
             # TYPE relevo_alerts_firing gauge\n\
             relevo_alerts_firing {}\n",
            self.firing.load(Ordering::Relaxed)
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_counts_by_kind_and_result() {
        let m = Metrics::default();
        m.count(ChannelKind::Email, true);
        m.count(ChannelKind::Webhook, false);
        m.count(ChannelKind::Webhook, false);
        m.set_firing(3);
        let text = m.text();
        assert!(text
            .contains("relevo_alert_deliveries_total{channel_kind=\"email\",result=\"sent\"} 1\n"));
        assert!(text.contains(
            "relevo_alert_deliveries_total{channel_kind=\"webhook\",result=\"failed\"} 2\n"
        ));
        assert!(text
            .contains("relevo_alert_deliveries_total{channel_kind=\"slack\",result=\"sent\"} 0\n"));
        assert!(text.contains("relevo_alerts_firing 3\n"));
    }
}
