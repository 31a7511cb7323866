//! The embeddable player (`/play/KEY`) in a real browser: `e2e/player.mjs` drives Debian's
//! headless Chromium with playwright-core against a Relevo started here with an HLS output.
//! The page opens while the input is offline (the Spanish message, retrying), the publisher
//! starts when the script asks, and the same page then plays the stream through hls.js in
//! low-latency mode, also framed by another origin; no console error. The latency behind
//! live the browser measures (`Date.now()` minus the playing frame's
//! `#EXT-X-PROGRAM-DATE-TIME`) is printed for the README, not asserted.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};

use common::*;

/// Long enough for every step of the script; the publisher is stopped when the test ends.
const SECS: u32 = 120;

#[test]
fn player_page_plays_in_chromium() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let e2e = repo.join("e2e");
    assert!(
        e2e.join("node_modules/playwright-core").is_dir(),
        "playwright-core is missing: run `npm ci --prefix e2e` (./scripts/test does)"
    );
    assert!(
        Path::new("/usr/bin/chromium").exists(),
        "Chromium is missing: run ./scripts/install-deps"
    );
    let flows = input_toml("cam", "player-in") + &pull_toml("web", "hls", "player-web-key");
    let relevo = Relevo::start("hls-player", "", &flows);
    let control = relevo.dir.path("e2e-control");
    std::fs::create_dir_all(&control).unwrap();
    let mut node = Command::new("node")
        .arg(e2e.join("player.mjs"))
        .current_dir(&e2e)
        .env("RELEVO_URL", format!("http://127.0.0.1:{}", relevo.http))
        .env("RELEVO_HLS_KEY", "player-web-key")
        .env("RELEVO_SCREENSHOTS", e2e.join("screenshots"))
        .env("RELEVO_CONTROL_DIR", &control)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node runs");
    let mut publisher = None;
    let mut stdout = String::new();
    for line in BufReader::new(node.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if line == "PUBLISH" {
            publisher = Some(publish(
                "publisher",
                SECS,
                "flv",
                &relevo.rtmp_url("player-in"),
                &relevo.dir.path("publisher.log"),
            ));
            relevo.wait_log("RTMP publisher started", 1);
            std::fs::write(control.join("published"), "").unwrap();
            continue;
        }
        println!("{line}");
        stdout.push_str(&line);
        stdout.push('\n');
    }
    let mut stderr = String::new();
    node.stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = node.wait().unwrap();
    drop(publisher);
    assert!(
        status.success(),
        "the browser test failed:\n{stdout}\n{stderr}\nrelevo log (tail):\n{}",
        tail(&relevo.log_text(), 40)
    );
    let latency = stdout
        .lines()
        .find(|l| l.starts_with("HLS latency behind live: "))
        .expect("the script prints the latency");
    println!("{latency}");
}

fn tail(s: &str, lines: usize) -> String {
    let v: Vec<&str> = s.lines().collect();
    v[v.len().saturating_sub(lines)..].join("\n")
}
