//! HLS: many light clients in one process, each doing what a CDN edge or a non-LL player
//! does: reload the media playlist every half target duration and fetch every new whole
//! segment once (parts, blocking reloads and preload hints are ignored), plus the init
//! segment whenever `#EXT-X-MAP` changes. One keep-alive connection per client (see
//! [`crate::http`]); client `i` connects from its own loopback address when asked, as 200
//! players on 200 machines would.
//!
//! Media bytes (init and segments, not playlists) feed the shared per-connection counters, so
//! the window, rate and server CPU/memory figures are those of the other subcommands; the
//! report adds segments fetched, MiB, errors, segments missed and the longest segment fetch.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::http::Conn;
use crate::measure::{self, Plan, Slot, Slots};

/// A request taking longer than this fails (and counts as an error): far above the
/// fetch of a 2 s segment at any sane rate, short enough not to hide a stall.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Wait before asking again while the stream is not ready (404/503 before the first segment)
/// or after an error.
const RETRY: Duration = Duration::from_millis(500);
/// Distinct loopback source addresses: 127.0.0.2 … 127.0.0.251 (client i uses i mod this).
const LOOPBACK_SOURCES: usize = 250;

/// Where the clients read.
#[derive(Debug, Clone)]
pub struct Target {
    pub server: SocketAddr,
    pub host: String,
    /// Absolute path of the playlist, with its query.
    pub playlist: String,
    /// Client i connects from 127.0.0.(2 + i mod 250) (the server must be on loopback).
    pub distinct_sources: bool,
}

impl Target {
    /// From `http://HOST:PORT/path/index.m3u8`.
    pub fn parse(url: &str, distinct_sources: bool) -> anyhow::Result<Self> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| anyhow::anyhow!("{url}: only http:// URLs"))?;
        let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let hostport = if host.contains(':') {
            host.to_owned()
        } else {
            format!("{host}:80")
        };
        let server = hostport
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| anyhow::anyhow!("{host}: no address"))?;
        anyhow::ensure!(
            !distinct_sources || server.ip().is_loopback(),
            "--distinct-sources needs a loopback server, not {server}"
        );
        Ok(Self {
            server,
            host: host.to_owned(),
            playlist: if path.is_empty() {
                "/".into()
            } else {
                path.into()
            },
            distinct_sources,
        })
    }

    fn source(&self, i: usize) -> Option<IpAddr> {
        let last = u8::try_from(2 + i % LOOPBACK_SOURCES).unwrap_or(2);
        self.distinct_sources
            .then_some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)))
    }

    /// A playlist URI as a path on the server: relative ones beside the playlist.
    fn resolve(&self, uri: &str) -> String {
        if uri.starts_with('/') {
            return uri.to_owned();
        }
        let dir_end = self
            .playlist
            .split('?')
            .next()
            .and_then(|p| p.rfind('/'))
            .unwrap_or(0);
        format!("{}/{uri}", &self.playlist[..dir_end])
    }
}

/// What a client needs of a media playlist (RFC 8216 §4.4).
#[derive(Debug, Default, PartialEq)]
pub struct Playlist {
    pub target_duration: Option<f64>,
    pub media_sequence: u64,
    /// The last `#EXT-X-MAP` URI.
    pub map: Option<String>,
    /// Whole segments: (media sequence number, URI).
    pub segments: Vec<(u64, String)>,
    pub ended: bool,
}

impl Playlist {
    pub fn parse(text: &str) -> Self {
        let mut p = Self::default();
        let mut uris = Vec::new();
        for line in text.lines().map(str::trim) {
            if let Some(v) = line.strip_prefix("#EXT-X-TARGETDURATION:") {
                p.target_duration = v.parse().ok();
            } else if let Some(v) = line.strip_prefix("#EXT-X-MEDIA-SEQUENCE:") {
                p.media_sequence = v.parse().unwrap_or(0);
            } else if let Some(v) = line.strip_prefix("#EXT-X-MAP:") {
                p.map = attribute(v, "URI");
            } else if line == "#EXT-X-ENDLIST" {
                p.ended = true;
            } else if !line.is_empty() && !line.starts_with('#') {
                uris.push(line.to_owned());
            }
        }
        p.segments = (p.media_sequence..).zip(uris).collect();
        p
    }
}

/// A quoted attribute of an attribute list (`URI="init.mp4",BYTERANGE=…`).
fn attribute(list: &str, name: &str) -> Option<String> {
    let start = list.find(&format!("{name}=\""))? + name.len() + 2;
    let len = list[start..].find('"')?;
    Some(list[start..start + len].to_owned())
}

/// Totals over the whole run, all clients.
#[derive(Debug, Default)]
struct Totals {
    playlists: AtomicU64,
    segments: AtomicU64,
    media_bytes: AtomicU64,
    /// Failed requests and answers other than 200, after the client's first segment.
    errors: AtomicU64,
    /// Segments that left the playlist before the client fetched them.
    missed: AtomicU64,
    /// Milliseconds per segment fetch (request sent to last byte).
    fetch_ms: Mutex<Vec<u32>>,
}

/// `plan.expected` clients of `target`, started `ramp` apart.
pub async fn clients(
    target: Target,
    plan: Plan,
    ramp: Duration,
) -> anyhow::Result<serde_json::Value> {
    let slots = Arc::new(Slots::with_count(plan.expected));
    let totals = Arc::new(Totals::default());
    let cancel = CancellationToken::new();
    let target = Arc::new(target);
    for i in 0..plan.expected {
        let Some(slot) = slots.get(i) else { break };
        let client = Client {
            conn: Conn::new(target.server, target.source(i), target.host.clone()),
            target: target.clone(),
            slot,
            totals: totals.clone(),
            started: Instant::now(),
            id: i,
        };
        tokio::spawn(client.run(cancel.clone()));
        if !ramp.is_zero() {
            tokio::time::sleep(ramp).await;
        }
    }
    let mut report = measure::run(&plan, &slots).await;
    cancel.cancel();
    let mut ms = totals
        .fetch_ms
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    ms.sort_unstable();
    let summary = serde_json::json!({
        "hls_playlists": totals.playlists.load(Ordering::Relaxed),
        "hls_segments": totals.segments.load(Ordering::Relaxed),
        "hls_mib": (totals.media_bytes.load(Ordering::Relaxed) as f64 / 1048576.0 * 10.0).round() / 10.0,
        "hls_errors": totals.errors.load(Ordering::Relaxed),
        "hls_missed_segments": totals.missed.load(Ordering::Relaxed),
        "segment_fetch_ms_median": ms.get(ms.len() / 2),
        "segment_fetch_ms_max": ms.last(),
    });
    eprintln!(
        "hls-clients: {} clients ({} with media), {} segments, {} MiB, {} errors, {} missed, segment fetch max {} ms (whole run)",
        plan.expected,
        report["connected"],
        summary["hls_segments"],
        summary["hls_mib"],
        summary["hls_errors"],
        summary["hls_missed_segments"],
        summary["segment_fetch_ms_max"],
    );
    if let (Some(r), Some(s)) = (report.as_object_mut(), summary.as_object()) {
        r.extend(s.clone());
    }
    Ok(report)
}

struct Client {
    conn: Conn,
    target: Arc<Target>,
    slot: Arc<Slot>,
    totals: Arc<Totals>,
    started: Instant,
    id: usize,
}

/// What one GET brought.
enum Got {
    Ok(Vec<u8>),
    /// Not 200 (the status) or failed.
    Status(u16),
    Failed(String),
}

impl Client {
    async fn run(mut self, cancel: CancellationToken) {
        tokio::select! {
            () = cancel.cancelled() => {}
            () = self.play() => {}
        }
    }

    fn has_media(&self) -> bool {
        self.slot.connected.load(Ordering::Relaxed)
    }

    /// Counts an error once the client is playing (before, the stream may still be starting).
    fn error(&self, what: &str, why: &str) {
        if self.has_media() {
            if self.totals.errors.fetch_add(1, Ordering::Relaxed) < 10 {
                eprintln!("client {}: {what}: {why}", self.id);
            }
            self.slot.ended.store(true, Ordering::Relaxed);
        }
    }

    async fn get(&mut self, path: &str, media: bool) -> Got {
        let (slot, totals, started) = (self.slot.clone(), self.totals.clone(), self.started);
        let mut count = move |n: usize| {
            if media {
                slot.add(n, started);
                totals.media_bytes.fetch_add(n as u64, Ordering::Relaxed);
            }
        };
        match tokio::time::timeout(REQUEST_TIMEOUT, self.conn.get(path, !media, &mut count)).await {
            Err(_) => Got::Failed(format!("no answer in {REQUEST_TIMEOUT:?}")),
            Ok(Err(e)) => Got::Failed(e.to_string()),
            Ok(Ok(r)) if r.status == 200 => Got::Ok(r.body),
            Ok(Ok(r)) => Got::Status(r.status),
        }
    }

    async fn play(&mut self) {
        let playlist_path = self.target.playlist.clone();
        let mut next: Option<u64> = None;
        let mut init: Option<String> = None;
        loop {
            let reload_at = Instant::now();
            let text = match self.get(&playlist_path, false).await {
                Got::Ok(body) => String::from_utf8_lossy(&body).into_owned(),
                Got::Status(s) => {
                    self.error("playlist", &format!("status {s}"));
                    tokio::time::sleep(RETRY).await;
                    continue;
                }
                Got::Failed(e) => {
                    self.error("playlist", &e);
                    tokio::time::sleep(RETRY).await;
                    continue;
                }
            };
            self.totals.playlists.fetch_add(1, Ordering::Relaxed);
            let pl = Playlist::parse(&text);
            let Some(last) = pl.segments.last().map(|s| s.0) else {
                tokio::time::sleep(RETRY).await;
                continue;
            };
            if pl.map.is_some() && pl.map != init {
                let uri = pl.map.clone().unwrap_or_default();
                if !self.fetch(&uri, "init segment").await {
                    tokio::time::sleep(RETRY).await;
                    continue;
                }
                init = pl.map.clone();
            }
            // Start at the newest segment; after a gap or a new session, resume in the window.
            let first = pl.media_sequence;
            let mut want = match next {
                None => last,
                Some(n) if n > last + 1 => last,
                Some(n) if n < first => {
                    let missed = first - n;
                    self.totals.missed.fetch_add(missed, Ordering::Relaxed);
                    self.error("segments", &format!("{missed} left the window unfetched"));
                    first
                }
                Some(n) => n,
            };
            let from = want;
            for (msn, uri) in pl.segments.iter().filter(|s| s.0 >= from) {
                if !self.fetch(uri, "segment").await {
                    break;
                }
                self.totals.segments.fetch_add(1, Ordering::Relaxed);
                want = msn + 1;
            }
            next = Some(want);
            if pl.ended {
                // The session ended: wait for a new one as a player would.
                tokio::time::sleep(RETRY).await;
                continue;
            }
            // Reload every half target duration (RFC 8216 §6.3.4 without changes).
            let half = Duration::from_secs_f64(pl.target_duration.unwrap_or(2.0).max(0.2) / 2.0);
            tokio::time::sleep_until((reload_at + half).into()).await;
        }
    }

    /// GETs one media file (counted); false when it failed.
    async fn fetch(&mut self, uri: &str, what: &str) -> bool {
        let path = self.target.resolve(uri);
        let t0 = Instant::now();
        match self.get(&path, true).await {
            Got::Ok(_) => {
                if what == "segment" {
                    let ms = u32::try_from(t0.elapsed().as_millis()).unwrap_or(u32::MAX);
                    self.totals
                        .fetch_ms
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(ms);
                }
                true
            }
            Got::Status(s) => {
                self.error(what, &format!("{path}: status {s}"));
                false
            }
            Got::Failed(e) => {
                self.error(what, &format!("{path}: {e}"));
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_low_latency_playlist_gives_whole_segments_only() {
        let text = "#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-TARGETDURATION:2\n\
            #EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.0\n\
            #EXT-X-PART-INF:PART-TARGET=0.333\n#EXT-X-MEDIA-SEQUENCE:7\n\
            #EXT-X-MAP:URI=\"init1a-0.mp4\"\n\
            #EXT-X-PROGRAM-DATE-TIME:2026-12-07T15:00:00.000Z\n#EXTINF:2.000,\nseg1a-7.m4s\n\
            #EXTINF:2.000,\nseg1a-8.m4s\n\
            #EXT-X-PART:DURATION=0.333,URI=\"part1a-9.0.m4s\",INDEPENDENT=YES\n\
            #EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part1a-9.1.m4s\"\n";
        let p = Playlist::parse(text);
        assert_eq!(p.target_duration, Some(2.0));
        assert_eq!(p.map.as_deref(), Some("init1a-0.mp4"));
        assert_eq!(
            p.segments,
            vec![(7, "seg1a-7.m4s".to_owned()), (8, "seg1a-8.m4s".to_owned())]
        );
        assert!(!p.ended);
        assert!(Playlist::parse("#EXTM3U\n#EXT-X-ENDLIST\n").ended);
    }

    #[test]
    fn uris_resolve_beside_the_playlist() {
        let t = Target::parse("http://127.0.0.1:8080/hls/k/index.m3u8?x=1", false)
            .expect("a valid URL");
        assert_eq!(t.playlist, "/hls/k/index.m3u8?x=1");
        assert_eq!(t.resolve("seg1-2.m4s"), "/hls/k/seg1-2.m4s");
        assert_eq!(t.resolve("/other/a.m4s"), "/other/a.m4s");
        assert_eq!(t.host, "127.0.0.1:8080");
    }
}
