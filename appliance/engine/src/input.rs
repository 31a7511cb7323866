//! Pull inputs: call a remote SRT listener or play a remote RTMP stream, and publish what
//! arrives into the input's hub; retry with backoff when the source fails.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use tokio_util::sync::CancellationToken;

use crate::backoff::Backoff;
use crate::engine::Shared;
use crate::error::LinkError;
use crate::hub::Hub;
use crate::metrics::PublisherInfo;
use crate::rtmp::router::FlvIngest;
use crate::spec::{InputSource, InputSpec};
use crate::unit::FlvTag;

pub(crate) async fn run_pull(
    shared: Arc<Shared>,
    hub: Arc<Hub>,
    spec: InputSpec,
    cancel: CancellationToken,
) {
    let mut backoff = Backoff::default();
    loop {
        let started = Instant::now();
        let result = tokio::select! {
            _ = cancel.cancelled() => return,
            r = attempt(&shared, &hub, &spec, &cancel) => r,
        };
        let err = match result {
            Ok(()) => LinkError::Closed,
            Err(e) => e,
        };
        let delay = backoff.next(started.elapsed());
        tracing::warn!(input = %spec.name, retry_in = ?delay, "pull failed: {err}");
        hub.counters.rejections.fetch_add(1, Ordering::Relaxed);
        hub.counters.set_error(err.to_string());
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

async fn attempt(
    shared: &Shared,
    hub: &Arc<Hub>,
    spec: &InputSpec,
    cancel: &CancellationToken,
) -> Result<(), LinkError> {
    match &spec.source {
        InputSource::PullSrt(c) => {
            crate::srt::caller::pull(
                c,
                |addr| {
                    hub.attach(PublisherInfo {
                        protocol: "srt-pull",
                        peer: addr.to_string(),
                        since: SystemTime::now(),
                    })
                    .ok()
                },
                &hub.counters.link,
                cancel,
            )
            .await
        }
        InputSource::PullRtmp(url) => {
            let mut ingest = LazyPublisher {
                hub: hub.clone(),
                peer: url.redacted().to_string(),
                publisher: None,
            };
            crate::rtmp::pull::pull(url, &shared.client_tls, &mut ingest, cancel).await
        }
        InputSource::Listen { .. } => Ok(()),
    }
}

/// Claims the hub only when the first tag arrives, so the input is not shown live (and
/// push outputs do not connect) while the remote server is unreachable.
struct LazyPublisher {
    hub: Arc<Hub>,
    peer: String,
    publisher: Option<crate::hub::Publisher>,
}

impl FlvIngest for LazyPublisher {
    fn push(&mut self, tag: FlvTag) {
        if self.publisher.is_none() {
            self.publisher = self
                .hub
                .attach(PublisherInfo {
                    protocol: "rtmp-pull",
                    peer: self.peer.clone(),
                    since: SystemTime::now(),
                })
                .ok();
        }
        if let Some(p) = &self.publisher {
            p.push_flv(tag);
        }
    }
}
