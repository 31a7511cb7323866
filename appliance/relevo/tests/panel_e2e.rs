//! The panel in a real browser: `e2e/panel.mjs` drives Debian's headless Chromium with
//! playwright-core against a Relevo started here (embedded PostgreSQL, real ffmpeg stream):
//! first admin, 2FA enrolment and sign-in, input and output forms, the dashboard going live
//! without a reload, stopping an output, the connection lost and resumed across a restart
//! of Relevo, a Visor's view, branding on the login page; and (`e2e/panel_backup.mjs`, issue
//! #18) an input with a backup key, two encoders, «EN ANTENA» moved by the switch buttons,
//! a codec pre-flight warning on an output, the feeds on a phone.
//! Screenshots go to `e2e/screenshots/` (named in the README).
#![allow(clippy::unwrap_used)]

mod common;

use common::browser::{e2e_dir, run_script, script_failed, setup_token};
use common::*;

#[test]
fn panel_in_chromium() {
    e2e_dir();
    let mut relevo = Relevo::start("panel-e2e", "", "");
    let setup = setup_token(&relevo.log_text());
    let control = relevo.dir.path("e2e-control");
    std::fs::create_dir_all(&control).unwrap();
    let env = [
        ("RELEVO_URL", format!("http://127.0.0.1:{}", relevo.http)),
        ("RELEVO_SETUP_TOKEN", setup),
        ("RELEVO_RTMP_PORT", relevo.rtmp.to_string()),
        ("RELEVO_CONTROL_DIR", control.display().to_string()),
    ];
    // The script asks for Relevo to stop and start (to see the panel lose its connection
    // and resume) with a line on its output; a file in the control folder answers.
    let run = run_script("panel.mjs", &env, |line| match line {
        "RELEVO STOP" => {
            relevo.stop();
            std::fs::write(control.join("stopped"), "").unwrap();
            true
        }
        "RELEVO START" => {
            relevo.start_again();
            std::fs::write(control.join("started"), "").unwrap();
            true
        }
        _ => false,
    });
    if let Err(output) = run {
        script_failed(&output, &relevo.log_text());
    }
}
