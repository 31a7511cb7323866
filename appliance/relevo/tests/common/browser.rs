//! The browser tests' side of `e2e/*.mjs`: the checks that Node's playwright-core and
//! Debian's Chromium are installed, the first-admin link from Relevo's log, and one run of a
//! script whose output lines the test may answer (a control line such as "PUBLISH").

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Where Chromium is: the scripts launch this path (`e2e/lib.mjs`).
const CHROMIUM: &str = "/usr/bin/chromium";

/// The `e2e/` folder, after checking what its scripts need is installed.
pub fn e2e_dir() -> PathBuf {
    let e2e = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../e2e");
    assert!(
        e2e.join("node_modules/playwright-core").is_dir(),
        "playwright-core is missing: run `npm ci --prefix e2e` (./scripts/test does)"
    );
    assert!(
        Path::new(CHROMIUM).exists(),
        "Chromium is missing: run ./scripts/install-deps"
    );
    e2e
}

/// The first-admin setup token from the link Relevo logs on a fresh database.
pub fn setup_token(log: &str) -> String {
    log.split("setup#token=")
        .nth(1)
        .expect("a first-admin link in the log")
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect()
}

/// The last `lines` lines of `s`.
pub fn tail(s: &str, lines: usize) -> String {
    let v: Vec<&str> = s.lines().collect();
    v[v.len().saturating_sub(lines)..].join("\n")
}

/// Runs `node e2e/<script>` with `env` (and `RELEVO_SCREENSHOTS`, the folder for its
/// screenshots). Each line it prints goes to `on_line` first, which returns true when it
/// was a control line it answered; the others are printed and kept. Returns the kept
/// output, or, when the script fails, that output and its stderr.
pub fn run_script(
    script: &str,
    env: &[(&str, String)],
    mut on_line: impl FnMut(&str) -> bool,
) -> Result<String, String> {
    let e2e = e2e_dir();
    let mut node = Command::new("node")
        .arg(e2e.join(script))
        .current_dir(&e2e)
        .env("RELEVO_SCREENSHOTS", e2e.join("screenshots"))
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node runs");
    let mut stdout = String::new();
    for line in BufReader::new(node.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if on_line(&line) {
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
    if node.wait().unwrap().success() {
        Ok(stdout)
    } else {
        Err(format!("{stdout}\n{stderr}"))
    }
}

/// Fails the test with the script's output and the end of Relevo's log.
pub fn script_failed(output: &str, relevo_log: &str) -> ! {
    panic!(
        "the browser test failed:\n{output}\nrelevo log (tail):\n{}",
        tail(relevo_log, 40)
    )
}
