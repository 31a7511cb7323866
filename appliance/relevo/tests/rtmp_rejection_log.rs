//! A flood of refused RTMP publishers costs a bounded number of short log lines and never
//! writes a key (issue #14, finding 12: 2701 lines in one second, each echoing a 57 KB
//! application name, and encoders that put the key in the server URL leaked it).
#![allow(clippy::unwrap_used)]

mod common;
mod rtmp_peer;

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use rtmp_peer::*;

/// Keys the refused peers use; none may reach the log.
const KEY_IN_APP: &str = "FakeKeyInTheApp7h3Qx9";
const UNKNOWN_KEY: &str = "FakeUnknownKeyZp4Lw2";
const FFMPEG_KEY: &str = "FakeFfmpegKeyMr8Tn5";
/// Refused connections of each kind: a few hundred in all.
const PER_KIND: usize = 150;
/// Connections at once (spread over four source addresses, well under the per-address cap).
const CONCURRENCY: usize = 24;
/// What the relay logs about refusals at most, a second (the README's promise).
const LINES_PER_SECOND: usize = 20;
/// Longest log line accepted: refusal reasons are cut at 200 bytes; the rest of a line is a
/// timestamp, a level, a target and the peer.
const MAX_LINE: usize = 600;

/// One refused peer: `connect` with a long application name holding a key (`bad_app`), or a
/// proper `connect` then `publish` of an unknown key.
async fn refused_peer(port: u16, src: Ipv4Addr, bad_app: bool) -> bool {
    let Ok(mut tcp) = connect_from(src, port).await else {
        return false;
    };
    if handshake(&mut tcp).await.is_err() {
        return false;
    }
    let limit = Duration::from_secs(20);
    if bad_app {
        // rtmp://host/live/KEY/… with 25 KB more (the application name is also in tcUrl: the
        // `connect` stays under the 64 KiB allowed before publish, so the name is read).
        let app = format!("live/{KEY_IN_APP}/{}", "x".repeat(25_000));
        return write(&mut tcp, &connect(&app)).await && closed_within(&mut tcp, limit).await;
    }
    write(&mut tcp, &connect("live")).await
        && read_until(&mut tcp, b"_result", 1, limit).await
        && write(&mut tcp, &create_stream()).await
        && read_until(&mut tcp, b"_result", 1, limit).await
        && write(&mut tcp, &publish_command(UNKNOWN_KEY)).await
        && closed_within(&mut tcp, limit).await
}

async fn write(tcp: &mut tokio::net::TcpStream, bytes: &[u8]) -> bool {
    use tokio::io::AsyncWriteExt;
    tcp.write_all(bytes).await.is_ok()
}

#[test]
fn a_flood_of_refused_publishers_logs_little_and_never_a_key() {
    let dir = TempDir::new("rtmp-reject-log");
    let relevo = Relevo::start("rtmp-reject-log", "", &input_toml("studio", "studio-key"));
    let before = relevo.log_text().lines().count();
    let started = Instant::now();

    // Two real peers first: ffmpeg with the key as a second part of the application name
    // (rtmp://host/live/KEY, the server URL of an encoder), and one with an unknown key.
    for (name, extra) in [
        (
            "ffmpeg-key-in-app",
            vec![
                "-rtmp_app",
                "live/FakeFfmpegKeyMr8Tn5",
                "-rtmp_playpath",
                "x",
            ],
        ),
        ("ffmpeg-unknown-key", vec![]),
    ] {
        let mut args = source_args(1);
        args.extend(extra.iter().map(|s| s.to_string()));
        let url = relevo.rtmp_url(FFMPEG_KEY);
        let p = publish_with(name, &args, "flv", &url, &dir.path(&format!("{name}.log")));
        assert!(
            !p.wait(Duration::from_secs(30)).success(),
            "{name} was accepted"
        );
    }

    // The flood: PER_KIND of each kind, CONCURRENCY at a time.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let refused = Arc::new(AtomicUsize::new(0));
    rt.block_on(async {
        let next = Arc::new(AtomicUsize::new(0));
        let workers: Vec<_> = (0..CONCURRENCY)
            .map(|w| {
                let (next, refused, port) = (next.clone(), refused.clone(), relevo.rtmp);
                let src = Ipv4Addr::new(127, 0, 0, 2 + (w % 4) as u8);
                tokio::spawn(async move {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= 2 * PER_KIND {
                            return;
                        }
                        if refused_peer(port, src, i % 2 == 0).await {
                            refused.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        for w in workers {
            w.await.unwrap();
        }
    });
    assert_eq!(
        refused.load(Ordering::Relaxed),
        2 * PER_KIND,
        "every flooding peer must have been answered and closed"
    );
    // One more refusal in a later second: its line reports what the limiter left out of
    // the last second of the flood.
    std::thread::sleep(Duration::from_millis(1100));
    assert!(rt.block_on(refused_peer(relevo.rtmp, Ipv4Addr::LOCALHOST, false)));
    // The last refusals may still be on their way to the log.
    std::thread::sleep(Duration::from_secs(1));
    // Every second begun since the first refusal may have its 20 lines.
    let elapsed = started.elapsed();
    let seconds = elapsed.as_secs() as usize + 1;

    let log = relevo.log_text();
    let lines: Vec<&str> = log.lines().skip(before).collect();
    let about_rtmp = lines.iter().filter(|l| l.contains("RTMP")).count();
    assert!(
        about_rtmp <= LINES_PER_SECOND * seconds + 5,
        "{about_rtmp} RTMP lines over {seconds} s for {} refused peers",
        2 * PER_KIND + 2
    );
    // The limiter says what it left out, so the count is not lost.
    let left_out: u64 = lines
        .iter()
        .filter_map(|l| l.split("suppressed=").nth(1))
        .filter_map(|v| {
            v.split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum();
    assert!(left_out > 0, "no line counts what was left out");
    assert!(relevo.log_count("wrong application name") >= 1);
    assert!(relevo.log_count("the stream key belongs in the stream name") >= 1);
    assert!(relevo.log_count("unknown stream key") >= 1);
    for key in [KEY_IN_APP, UNKNOWN_KEY, FFMPEG_KEY] {
        assert!(!log.contains(key), "a key reached the log: {key}");
    }
    let longest = log.lines().map(str::len).max().unwrap_or(0);
    eprintln!(
        "{} refused peers in {elapsed:?}: {about_rtmp} RTMP log lines ({left_out} left out), longest line {longest} bytes",
        2 * PER_KIND + 2
    );
    assert!(longest <= MAX_LINE, "a log line of {longest} bytes");
}
