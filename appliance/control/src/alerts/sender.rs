//! The deliveries' sender: takes the due rows of `alert_deliveries` (PostgreSQL is the
//! queue, so a restart loses no message), sends each through its channel and writes the
//! outcome. A failed attempt is retried after [`BACKOFF`] (10 s, 30 s, 1 min, 5 min, 15 min,
//! then 15 min) until `AlertsConfig::delivery_attempts` attempts have failed: the delivery
//! is then `failed`, and shown so. At most [`MAX_CONCURRENT`] deliveries are in flight, one
//! per channel at a time: a channel that hangs until its timeout holds one slot, never the
//! others' messages.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use secrecy::ExposeSecret;
use tokio::sync::Semaphore;

use super::email::{self, Smtp};
use super::{webhook, Channel, ChannelConfig, Inner};
use crate::store::alert_deliveries::{self, Delivery};

/// The wait before each retry, by the number of attempts already failed (the last one
/// repeats): quick at first for a receiver that blinked, then spaced out so a dead one is
/// not hammered.
pub const BACKOFF: [Duration; 5] = [
    Duration::from_secs(10),
    Duration::from_secs(30),
    Duration::from_secs(60),
    Duration::from_secs(300),
    Duration::from_secs(900),
];

/// Deliveries sent at the same time (two cores; messages are rare and small).
pub const MAX_CONCURRENT: usize = 4;

/// How often the queue is read when nothing wakes the sender (retries come due).
const POLL: Duration = Duration::from_secs(1);

/// Due rows read at a time.
const BATCH: i64 = 32;

/// The delay before the next attempt after `failed` failed attempts; `None`: give up.
pub fn retry_after(failed: u32, max_attempts: u32) -> Option<Duration> {
    if failed >= max_attempts {
        return None;
    }
    let i = (failed.saturating_sub(1) as usize).min(BACKOFF.len() - 1);
    Some(BACKOFF[i])
}

/// Sends one message (a delivery's payload) through a channel now.
pub async fn deliver(
    http: &reqwest::Client,
    channel: &Channel,
    payload: &serde_json::Value,
) -> Result<(), String> {
    let text = payload["text"].as_str().unwrap_or_default();
    match &channel.config {
        ChannelConfig::Webhook { url, secret } => {
            let body = serde_json::to_vec(payload).map_err(|e| e.to_string())?;
            webhook::post(http, url, body, secret.as_ref()).await
        }
        ChannelConfig::Slack { url } => {
            let body = serde_json::to_vec(&serde_json::json!({ "text": text }))
                .map_err(|e| e.to_string())?;
            webhook::post(http, url.expose_secret(), body, None).await
        }
        ChannelConfig::Email {
            host,
            port,
            security,
            username,
            password,
            from,
            to,
        } => {
            let smtp = Smtp {
                host,
                port: *port,
                security: *security,
                username: username.as_deref(),
                password: password.as_ref(),
                from,
                to,
            };
            email::send(&smtp, text).await
        }
    }
}

/// The sender's task; ends when `inner.stop` is cancelled.
pub(super) async fn run(inner: Arc<Inner>) {
    let permits = Arc::new(Semaphore::new(MAX_CONCURRENT));
    let busy: Arc<Mutex<HashSet<i64>>> = Arc::default();
    loop {
        tokio::select! {
            () = inner.stop.cancelled() => return,
            () = inner.wake_sender.notified() => {}
            () = tokio::time::sleep(POLL) => {}
        }
        let due = match alert_deliveries::due(&inner.pool, BATCH).await {
            Ok(due) => due,
            Err(e) => {
                tracing::warn!("alerts: reading the delivery queue: {e}");
                continue;
            }
        };
        let free: Vec<Delivery> = {
            let busy = busy.lock().unwrap_or_else(|e| e.into_inner());
            due.into_iter()
                .filter(|d| !busy.contains(&d.channel_id))
                .collect()
        };
        if free.is_empty() {
            continue;
        }
        let channels = match crate::store::alerts::channels(&inner.pool).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("alerts: reading the channels: {e}");
                continue;
            }
        };
        let mut taken = HashSet::new();
        for delivery in free {
            // One delivery per channel at a time (the rest wait for the next round).
            if !taken.insert(delivery.channel_id) {
                continue;
            }
            busy.lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(delivery.channel_id);
            let channel = channels
                .iter()
                .find(|c| c.id == delivery.channel_id)
                .cloned();
            let (inner, permits, busy) = (inner.clone(), permits.clone(), busy.clone());
            tokio::spawn(async move {
                let Ok(_permit) = permits.acquire_owned().await else {
                    return;
                };
                attempt(&inner, channel, &delivery).await;
                busy.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&delivery.channel_id);
            });
        }
    }
}

/// One attempt of one delivery, its outcome written and counted.
async fn attempt(inner: &Inner, channel: Option<Channel>, delivery: &Delivery) {
    let result = match &channel {
        Some(c) if c.enabled => deliver(&inner.http, c, &delivery.payload).await,
        Some(_) => Err("the channel is disabled".to_owned()),
        None => Err("the channel no longer exists".to_owned()),
    };
    let kind = channel
        .as_ref()
        .map(|c| c.config.kind())
        .unwrap_or(super::ChannelKind::Webhook);
    inner.metrics.count(kind, result.is_ok());
    let written = match result {
        Ok(()) => alert_deliveries::mark_sent(&inner.pool, delivery.id).await,
        Err(error) => {
            let failed = u32::try_from(delivery.attempts).unwrap_or(0) + 1;
            let retry = retry_after(failed, inner.config.delivery_attempts);
            tracing::warn!(
                delivery_id = delivery.id,
                channel = %delivery.channel_name,
                "alerts: delivery attempt {failed} failed: {error}{}",
                if retry.is_some() { "" } else { " (giving up)" }
            );
            alert_deliveries::mark_attempt_failed(&inner.pool, delivery.id, &error, retry).await
        }
    };
    if let Err(e) = written {
        tracing::warn!("alerts: writing delivery {}: {e}", delivery.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_then_repeats_and_gives_up_after_the_attempts() {
        let delays: Vec<Option<u64>> = (1..=7)
            .map(|n| retry_after(n, 7).map(|d| d.as_secs()))
            .collect();
        assert_eq!(
            delays,
            vec![
                Some(10),
                Some(30),
                Some(60),
                Some(300),
                Some(900),
                Some(900),
                None
            ]
        );
        assert_eq!(retry_after(1, 1), None);
        assert_eq!(retry_after(1, 2), Some(Duration::from_secs(10)));
    }
}
