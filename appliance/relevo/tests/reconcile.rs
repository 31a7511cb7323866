//! `relevo serve` re-reads its file on SIGHUP and applies only the difference: adding or
//! removing an output never interrupts the input or another output, and a broken file
//! changes nothing.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

const SECS: u32 = 12;

fn hup(relevo: &Relevo) {
    let st = Command::new("kill")
        .args(["-HUP", &relevo.proc.child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
}

/// Whether the engine runs an input of that name.
fn has_input(relevo: &Relevo, name: &str) -> bool {
    relevo.status()["inputs"]
        .as_array()
        .is_some_and(|a| a.iter().any(|i| i["name"] == name))
}

#[test]
fn sighup_applies_only_the_difference() {
    let dir = TempDir::new("reconcile");
    let (p1, p2) = (free_udp_port(), free_udp_port());
    let sink1 = srt_listener_sink(p1, "", &dir.path("first.ts"), &dir.path("first.log"));
    let sink2 = srt_listener_sink(p2, "", &dir.path("second.ts"), &dir.path("second.log"));
    let base = input_toml("cam", "cam-rec") + &push_toml("first", &srt_sink_url(p1));
    let relevo = Relevo::start("reconcile", "", &base);
    let config = relevo.dir.path("relevo.toml");
    let original = std::fs::read_to_string(&config).unwrap();
    let listen = &original[..original.find("[[input]]").unwrap()];

    let publisher = publish(
        "publisher",
        SECS,
        "mpegts",
        &relevo.srt_url("publish:cam-rec", ""),
        &dir.path("publisher.log"),
    );
    relevo.wait_log("SRT publisher connected", 1);
    wait_until(
        "the first output to carry data",
        Duration::from_secs(20),
        || file_len(&dir.path("first.ts")) > 100_000,
    );

    // Add an output and a second input.
    let added = [
        listen,
        &base,
        &push_toml("second", &srt_sink_url(p2)),
        &input_toml("other", "other-key"),
    ];
    std::fs::write(&config, added.concat()).unwrap();
    hup(&relevo);
    relevo.wait_log("configuration reloaded", 1);
    wait_until(
        "the added output to carry data",
        Duration::from_secs(20),
        || file_len(&dir.path("second.ts")) > 50_000,
    );
    wait_until("the added input to run", Duration::from_secs(10), || {
        has_input(&relevo, "other")
    });

    // A broken file is refused as a whole: nothing stops.
    let broken = [
        listen,
        &base,
        &push_toml("x", "srt://h:1"),
        "latency_ms = 50\n",
    ];
    std::fs::write(&config, broken.concat()).unwrap();
    hup(&relevo);
    relevo.wait_log("configuration not reloaded", 1);
    assert!(relevo.log_text().contains("latency_ms: 50 ms is outside"));
    assert!(
        has_input(&relevo, "other"),
        "the refused file, which lacks it, stopped an input"
    );

    // Remove the added output again.
    std::fs::write(&config, format!("{listen}{base}")).unwrap();
    hup(&relevo);
    relevo.wait_log("configuration reloaded", 2);
    relevo.wait_log("output removed or changed", 1);
    wait_until("the removed input to stop", Duration::from_secs(10), || {
        !has_input(&relevo, "other")
    });

    assert!(publisher
        .wait(Duration::from_secs(u64::from(SECS) + 30))
        .success());
    wait_files_stable(&[dir.path("first.ts"), dir.path("second.ts")]);
    sink1.interrupt();
    sink2.interrupt();

    // The first output never noticed: one connection, the whole stream.
    assert_full_stream("untouched output", &dir.path("first.ts"), SECS);
    let log = relevo.log_text();
    assert_eq!(log.matches("push failed").count(), 0, "{log}");
    assert_eq!(relevo.log_count("SRT publisher connected"), 1);
    assert!(
        !log.lines()
            .any(|l| l.contains("output removed or changed") && l.contains("output=first")),
        "the untouched output was restarted:\n{log}"
    );
    let second = probe(&dir.path("second.ts"));
    assert!(
        second.frames("h264") > 0 && second.non_monotonic.is_empty(),
        "{second:?}"
    );
    assert!(second.frames("h264") < u64::from(SECS * FPS), "{second:?}");
}
