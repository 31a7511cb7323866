//! The panel's HLS side in a real browser (issue #16): `e2e/preview.mjs` drives Debian's
//! headless Chromium with playwright-core against a Relevo started here (embedded
//! PostgreSQL, a real ffmpeg stream): the HLS output form and its connection details (the
//! playlist, the player and the iframe to copy), the live preview on the input's page and
//! on the dashboard card (hls.js from `/assets/`, with the session cookie), as an Admin
//! and as a Visor, on a phone, and the top bar's menu in one row at 1280 pixels.
//! Screenshots go to `e2e/screenshots/` (`preview-*.png`).
#![allow(clippy::unwrap_used)]

mod common;

use common::browser::{e2e_dir, run_script, script_failed, setup_token};
use common::*;

#[test]
fn panel_preview_in_chromium() {
    e2e_dir();
    let relevo = Relevo::start("panel-preview", "", "");
    let env = [
        ("RELEVO_URL", format!("http://127.0.0.1:{}", relevo.http)),
        ("RELEVO_SETUP_TOKEN", setup_token(&relevo.log_text())),
        ("RELEVO_RTMP_PORT", relevo.rtmp.to_string()),
    ];
    if let Err(output) = run_script("preview.mjs", &env, |_| false) {
        script_failed(&output, &relevo.log_text());
    }
}
