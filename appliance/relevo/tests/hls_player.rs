//! The embeddable player (`/play/KEY`) in a real browser: `e2e/player.mjs` drives Debian's
//! headless Chromium with playwright-core against a Relevo started here with an HLS output.
//! The page opens while the input is offline (the Spanish message, retrying), the publisher
//! starts when the script asks, and the same page then plays the stream through hls.js in
//! low-latency mode, also framed by another origin; no console error. The latency behind
//! live the browser measures (`Date.now()` minus the playing frame's
//! `#EXT-X-PROGRAM-DATE-TIME`) is printed for the README, not asserted.
#![allow(clippy::unwrap_used)]

mod common;

use common::browser::{e2e_dir, run_script, script_failed};
use common::*;

/// Long enough for every step of the script; the publisher is stopped when the test ends.
const SECS: u32 = 120;

#[test]
fn player_page_plays_in_chromium() {
    e2e_dir();
    let flows = input_toml("cam", "player-in") + &pull_toml("web", "hls", "player-web-key");
    let relevo = Relevo::start("hls-player", "", &flows);
    let control = relevo.dir.path("e2e-control");
    std::fs::create_dir_all(&control).unwrap();
    let env = [
        ("RELEVO_URL", format!("http://127.0.0.1:{}", relevo.http)),
        ("RELEVO_HLS_KEY", "player-web-key".to_string()),
        ("RELEVO_CONTROL_DIR", control.display().to_string()),
    ];
    let mut publisher = None;
    let run = run_script("player.mjs", &env, |line| {
        if line != "PUBLISH" {
            return false;
        }
        publisher = Some(publish(
            "publisher",
            SECS,
            "flv",
            &relevo.rtmp_url("player-in"),
            &relevo.dir.path("publisher.log"),
        ));
        relevo.wait_log("RTMP publisher started", 1);
        std::fs::write(control.join("published"), "").unwrap();
        true
    });
    drop(publisher);
    let stdout = run.unwrap_or_else(|output| script_failed(&output, &relevo.log_text()));
    let latency = stdout
        .lines()
        .find(|l| l.starts_with("HLS latency behind live: "))
        .expect("the script prints the latency");
    println!("{latency}");
}
