//! The panel in a real browser: `e2e/panel.mjs` drives Debian's headless Chromium with
//! playwright-core against a Relevo started here (embedded PostgreSQL, real ffmpeg stream):
//! first admin, 2FA enrolment and sign-in, input and output forms, the dashboard going live
//! without a reload, stopping an output, the connection lost and resumed across a restart
//! of Relevo, a Visor's view, branding on the login page.
//! Screenshots go to `e2e/screenshots/` (named in the README).
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};

use common::*;

#[test]
fn panel_in_chromium() {
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
    let mut relevo = Relevo::start("panel-e2e", "", "");
    let log = relevo.log_text();
    let setup: String = log
        .split("setup#token=")
        .nth(1)
        .expect("a first-admin link in the log")
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect();
    let control = relevo.dir.path("e2e-control");
    std::fs::create_dir_all(&control).unwrap();
    let mut node = Command::new("node")
        .arg(e2e.join("panel.mjs"))
        .current_dir(&e2e)
        .env("RELEVO_URL", format!("http://127.0.0.1:{}", relevo.http))
        .env("RELEVO_SETUP_TOKEN", setup)
        .env("RELEVO_RTMP_PORT", relevo.rtmp.to_string())
        .env("RELEVO_SCREENSHOTS", e2e.join("screenshots"))
        .env("RELEVO_CONTROL_DIR", &control)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node runs");
    // The script asks for Relevo to stop and start (to see the panel lose its connection
    // and resume) with a line on its output; a file in the control folder answers.
    let mut stdout = String::new();
    for line in BufReader::new(node.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        match line.as_str() {
            "RELEVO STOP" => {
                relevo.stop();
                std::fs::write(control.join("stopped"), "").unwrap();
            }
            "RELEVO START" => {
                relevo.start_again();
                std::fs::write(control.join("started"), "").unwrap();
            }
            _ => {
                println!("{line}");
                stdout.push_str(&line);
                stdout.push('\n');
            }
        }
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
