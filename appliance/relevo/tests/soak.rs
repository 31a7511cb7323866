//! Soak: minutes of flapping destinations, players and publishers; Relevo's memory stays
//! flat while it keeps relaying. RSS is sampled and printed; the bound is generous on
//! purpose (this is not a benchmark). `RELEVO_SOAK_SECS` sets the length (default 90 s:
//! eighteen rounds, enough for the thirds compared below, inside the suite's CI budget).
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;

#[test]
fn memory_stays_flat_while_everything_flaps() {
    let secs: u64 = std::env::var("RELEVO_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(90);
    let dir = TempDir::new("soak");
    let (srt_dest, rtmp_dest) = (free_udp_port(), free_tcp_port());
    let input = r#"
[[input]]
name = "cam"
key = "cam-soak"
grace_period_s = 3
"#;
    let flows = [
        input.to_owned(),
        push_toml("push-srt", &srt_sink_url(srt_dest)),
        push_toml("push-rtmp", &rtmp_sink_url(rtmp_dest)),
        pull_toml("pull-srt", "srt", "soak-srt"),
        pull_toml("pull-rtmp", "rtmp", "soak-rtmp"),
    ];
    let relevo = Relevo::start("soak", "", &flows.concat());
    let pid = relevo.proc.child.id();
    let start = Instant::now();
    let mut samples: Vec<(u64, u64)> = Vec::new();
    let mut publisher: Option<Proc> = None;
    let mut round = 0u64;
    while start.elapsed() < Duration::from_secs(secs) {
        round += 1;
        // Publisher: replaced every 4th round (blips within and beyond the grace period).
        if publisher.as_mut().is_none_or(|p| !p.is_running()) || round.is_multiple_of(4) {
            drop(publisher.take());
            publisher = Some(publish(
                "publisher",
                3600,
                "mpegts",
                &relevo.srt_url("publish:cam-soak", ""),
                &dir.path("publisher.log"),
            ));
        }
        // Destinations and players come and go for a few seconds each, each round
        // recording to files of its own.
        let file = |peer: &str, ext: &str| dir.path(&format!("{peer}-{round}.{ext}"));
        let mut flappers = vec![
            srt_listener_sink(
                srt_dest,
                "",
                &file("push-srt", "ts"),
                &file("push-srt", "log"),
            ),
            rtmp_listener_sink(
                rtmp_dest,
                &file("push-rtmp", "flv"),
                &file("push-rtmp", "log"),
            ),
            relevo.srt_reader("soak-srt", &file("pull-srt", "ts")),
            relevo.record_rtmp("soak-rtmp", &file("pull-rtmp", "flv")),
        ];
        std::thread::sleep(Duration::from_secs(5));
        for p in flappers.iter_mut() {
            let _ = p.child.kill();
        }
        drop(flappers);
        let rss = vm_kib(pid, "VmRSS");
        assert!(rss > 0, "relevo died:\n{}", relevo.log_text());
        samples.push((start.elapsed().as_secs(), rss));
    }
    drop(publisher);

    // Flat memory means nothing if nothing flowed: the destinations received the stream in
    // some rounds, the SRT reader in every one up to the last. (The RTMP player is left out:
    // ffmpeg writes nothing of an RTMP input within a 5 s round.)
    let delivered = |peer: &str, ext: &str| -> Vec<u64> {
        (1..=round)
            .filter(|r| file_len(&dir.path(&format!("{peer}-{r}.{ext}"))) > 0)
            .collect()
    };
    for (peer, ext) in [("push-srt", "ts"), ("push-rtmp", "flv"), ("pull-srt", "ts")] {
        let rounds = delivered(peer, ext);
        println!("{peer} received the stream in rounds {rounds:?} of {round}");
        assert!(!rounds.is_empty(), "{peer} never received the stream");
    }
    assert!(
        delivered("pull-srt", "ts").contains(&round),
        "the SRT reader no longer received the stream at the end"
    );
    println!("relevo RSS over the soak (s, KiB): {samples:?}");
    let third = (samples.len() / 3).max(1);
    let early = samples[..third].iter().map(|s| s.1).max().unwrap_or(0);
    let late = samples[samples.len() - third..]
        .iter()
        .map(|s| s.1)
        .max()
        .unwrap_or(0);
    println!("peak RSS: first third {early} KiB, last third {late} KiB");
    // Generous: bounded queues and GOP caches make memory a plateau, not a slope.
    assert!(
        late <= early + early / 2 + 16 * 1024,
        "memory grew from {early} KiB to {late} KiB"
    );
    assert!(
        late < 512 * 1024,
        "RSS {late} KiB is far above what a relay needs"
    );
}
