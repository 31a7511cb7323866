//! The panel's HLS side in a real browser (issue #16): `e2e/preview.mjs` drives Debian's
//! headless Chromium with playwright-core against a Relevo started here (embedded
//! PostgreSQL, a real ffmpeg stream): the HLS output form and its connection details (the
//! playlist, the player and the iframe to copy), the live preview on the input's page and
//! on the dashboard card (hls.js from `/assets/`, with the session cookie), as an Admin
//! and as a Visor, on a phone, and the top bar's menu in one row at 1280 pixels.
//! Screenshots go to `e2e/screenshots/` (`preview-*.png`).
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};

use common::*;

#[test]
fn panel_preview_in_chromium() {
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
    let relevo = Relevo::start("panel-preview", "", "");
    let log = relevo.log_text();
    let setup: String = log
        .split("setup#token=")
        .nth(1)
        .expect("a first-admin link in the log")
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect();
    let mut node = Command::new("node")
        .arg(e2e.join("preview.mjs"))
        .current_dir(&e2e)
        .env("RELEVO_URL", format!("http://127.0.0.1:{}", relevo.http))
        .env("RELEVO_SETUP_TOKEN", setup)
        .env("RELEVO_RTMP_PORT", relevo.rtmp.to_string())
        .env("RELEVO_SCREENSHOTS", e2e.join("screenshots"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node runs");
    let mut stdout = String::new();
    for line in BufReader::new(node.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
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
    assert!(
        status.success(),
        "the browser test failed:\n{stdout}\n{stderr}\nrelevo log (tail):\n{}",
        tail(&relevo.log_text(), 40)
    );
}

fn tail(s: &str, lines: usize) -> String {
    let v: Vec<&str> = s.lines().collect();
    v[v.len().saturating_sub(lines)..].join("\n")
}
