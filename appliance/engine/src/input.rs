//! Pull inputs: call a remote SRT listener or play a remote RTMP stream, and publish what
//! arrives into one of the input's feeds (its main feed, or a backup pull source); retry
//! with backoff when the source fails.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use tokio_util::sync::CancellationToken;

use crate::backoff::Backoff;
use crate::engine::Shared;
use crate::error::LinkError;
use crate::hub::Hub;
use crate::metrics::{Feed, PublisherInfo};
use crate::rtmp::router::FlvIngest;
use crate::rtmp::url::RtmpUrl;
use crate::spec::{BackupSource, InputSource, InputSpec, Name, SrtCaller};
use crate::unit::FlvTag;

/// A remote source one feed pulls from.
#[derive(Debug, Clone)]
pub(crate) enum PullFrom {
    Srt(SrtCaller),
    Rtmp(RtmpUrl),
}

impl PullFrom {
    /// The input's main source, when it pulls.
    pub fn main(spec: &InputSpec) -> Option<Self> {
        match &spec.source {
            InputSource::PullSrt(c) => Some(Self::Srt(c.clone())),
            InputSource::PullRtmp(u) => Some(Self::Rtmp(u.clone())),
            InputSource::Listen { .. } => None,
        }
    }

    /// The input's backup source, when it pulls.
    pub fn backup(spec: &InputSpec) -> Option<Self> {
        match &spec.backup.as_ref()?.source {
            BackupSource::PullSrt(c) => Some(Self::Srt(c.clone())),
            BackupSource::PullRtmp(u) => Some(Self::Rtmp(u.clone())),
            BackupSource::Key(_) => None,
        }
    }
}

pub(crate) async fn run_pull(
    shared: Arc<Shared>,
    hub: Arc<Hub>,
    name: Name,
    feed: Feed,
    from: PullFrom,
    cancel: CancellationToken,
) {
    let mut backoff = Backoff::default();
    loop {
        let started = Instant::now();
        let result = tokio::select! {
            _ = cancel.cancelled() => return,
            r = attempt(&shared, &hub, feed, &from, &cancel) => r,
        };
        let err = match result {
            Ok(()) => LinkError::Closed,
            Err(e) => e,
        };
        let delay = backoff.next(started.elapsed());
        tracing::warn!(input = %name, feed = feed.as_str(), retry_in = ?delay, "pull failed: {err}");
        hub.counters.rejections.fetch_add(1, Ordering::Relaxed);
        hub.counters.set_link_error(&err);
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

async fn attempt(
    shared: &Shared,
    hub: &Arc<Hub>,
    feed: Feed,
    from: &PullFrom,
    cancel: &CancellationToken,
) -> Result<(), LinkError> {
    match from {
        PullFrom::Srt(c) => {
            crate::srt::caller::pull(
                c,
                |addr| {
                    hub.attach_feed(
                        feed,
                        PublisherInfo {
                            protocol: "srt-pull",
                            peer: addr.to_string(),
                            since: SystemTime::now(),
                        },
                    )
                    .ok()
                },
                &hub.feed_counters(feed).link,
                cancel,
            )
            .await
        }
        PullFrom::Rtmp(url) => {
            let mut ingest = LazyPublisher {
                hub: hub.clone(),
                feed,
                peer: url.redacted().to_string(),
                publisher: None,
            };
            crate::rtmp::pull::pull(url, &shared.client_tls, &mut ingest, cancel).await
        }
    }
}

/// Claims the hub only when the first tag arrives, so the input is not shown live (and
/// push outputs do not connect) while the remote server is unreachable.
struct LazyPublisher {
    hub: Arc<Hub>,
    feed: Feed,
    peer: String,
    publisher: Option<crate::hub::Publisher>,
}

impl FlvIngest for LazyPublisher {
    fn push(&mut self, tag: FlvTag) {
        if self.publisher.is_none() {
            self.publisher = self
                .hub
                .attach_feed(
                    self.feed,
                    PublisherInfo {
                        protocol: "rtmp-pull",
                        peer: self.peer.clone(),
                        since: SystemTime::now(),
                    },
                )
                .ok();
        }
        if let Some(p) = &self.publisher {
            p.push_flv(tag);
        }
    }
}
