//! Bad callers are turned away with their reason logged, while a running flow on the same
//! instance keeps delivering everything.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::net::{TcpStream, UdpSocket};
use std::time::Duration;

use common::*;

const SECS: u32 = 14;
const PASS: &str = "main-input-passphrase";

/// The input both tests publish to: AES-256 only.
fn main_input() -> String {
    input_toml("main", "main-key") + &format!("passphrase = \"{PASS}\"\nkey_length = 32\n")
}

/// One short ffmpeg publisher that must be refused.
fn attempt(dir: &TempDir, name: &str, format: &str, url: &str) {
    let p = publish(name, 2, format, url, &dir.path(&format!("{name}.log")));
    let st = p.wait(Duration::from_secs(30));
    assert!(
        !st.success(),
        "{name}: the relay accepted a publisher it must refuse"
    );
}

#[test]
fn bad_callers_are_rejected_while_a_flow_keeps_delivering() {
    let dir = TempDir::new("reject");
    let flows = [
        main_input(),
        pull_toml("watch", "rtmp", "main-watch"),
        pull_toml("watch-srt", "srt", "main-watch-srt") + "passphrase = \"reader-passphrase\"\n",
        // An idle input: a busy one refuses every second caller before libsrt checks
        // passphrases.
        input_toml("spare", "spare-key") + "passphrase = \"spare-passphrase\"\n",
    ];
    let relevo = Relevo::start("reject", "", &flows.concat());
    let good_srt = |extra: &str| relevo.srt_url("publish:main-key", extra);
    let publisher = publish(
        "publisher",
        SECS,
        "mpegts",
        &good_srt(&format!("&passphrase={PASS}&pbkeylen=32")),
        &dir.path("publisher.log"),
    );
    relevo.wait_log("SRT publisher connected", 1);
    let player = relevo.record_rtmp("main-watch", &dir.path("watch.flv"));
    relevo.wait_log("RTMP player connected", 1);

    // SRT: unknown key, wrong passphrase, no passphrase, weaker key, second publisher.
    attempt(
        &dir,
        "srt-unknown",
        "mpegts",
        &relevo.srt_url("publish:nope", ""),
    );
    relevo.wait_log("SRT caller rejected: unknown stream key", 1);

    let spare = |extra: &str| relevo.srt_url("#!::r=spare-key,m=publish", extra);
    attempt(
        &dir,
        "srt-wrong-pass",
        "mpegts",
        &spare("&passphrase=not-the-passphrase"),
    );
    relevo.wait_log("SRT caller rejected: Incorrect passphrase", 1);

    attempt(&dir, "srt-no-pass", "mpegts", &spare(""));
    relevo.wait_log("SRT caller rejected: Password required or unexpected", 1);

    attempt(
        &dir,
        "srt-second",
        "mpegts",
        &good_srt(&format!("&passphrase={PASS}&pbkeylen=32")),
    );
    relevo.wait_log("already has a live publisher", 1);

    // A reader that uses the input's key instead of its own is refused.
    let st = relevo
        .record_srt("read:main-key", &dir.path("read-input-key.ts"))
        .wait(Duration::from_secs(30));
    assert!(!st.success(), "a reader with the input's key was let in");
    relevo.wait_log("stream key not usable for Request", 1);

    // RTMP: unknown key, second publisher, wrong application.
    attempt(&dir, "rtmp-unknown", "flv", &relevo.rtmp_url("nope"));
    relevo.wait_log("RTMP request rejected: unknown stream key", 1);
    attempt(&dir, "rtmp-second", "flv", &relevo.rtmp_url("main-key"));
    relevo.wait_log(
        "RTMP request rejected: input already has a live publisher",
        1,
    );
    attempt(
        &dir,
        "rtmp-wrong-app",
        "flv",
        &format!("rtmp://127.0.0.1:{}/other/main-key", relevo.rtmp),
    );
    relevo.wait_log("RTMP request rejected: wrong application name", 1);

    // Garbage on every port.
    let mut tcp = TcpStream::connect(("127.0.0.1", relevo.rtmp)).unwrap();
    tcp.write_all(&[0x16; 4096]).unwrap();
    drop(tcp);
    relevo.wait_log("RTMP connection closed", 1);
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut x: u32 = 0x1234_5678;
    for i in 0..500u32 {
        let len = 16 + (i as usize * 7) % 1400;
        let buf = garbage(&mut x, len);
        udp.send_to(&buf, ("127.0.0.1", relevo.srt)).unwrap();
    }

    // The running flow delivered everything.
    let st = publisher.wait(Duration::from_secs(u64::from(SECS) + 30));
    assert!(st.success(), "the good publisher was disturbed: {st}");
    wait_file_stable(&dir.path("watch.flv"));
    player.wait(Duration::from_secs(10));
    assert_full_stream("running flow", &dir.path("watch.flv"), SECS);
    assert_eq!(
        relevo.log_count("SRT publisher connected"),
        1,
        "no refused caller may take the input"
    );
    assert!(
        !relevo.log_text().contains("main-input-passphrase"),
        "a passphrase reached the log"
    );
    for secret in [
        "main-key",
        "spare-key",
        "spare-passphrase",
        "not-the-passphrase",
    ] {
        assert!(
            !relevo.log_text().contains(secret),
            "a secret reached the log: {secret}"
        );
    }
}

#[test]
fn a_weaker_key_length_than_configured_is_refused() {
    let dir = TempDir::new("weak-key");
    let relevo = Relevo::start("weak-key", "", &main_input());
    let p = publish(
        "aes128",
        3,
        "mpegts",
        &relevo.srt_url(
            "publish:main-key",
            &format!("&passphrase={PASS}&pbkeylen=16"),
        ),
        &dir.path("aes128.log"),
    );
    relevo.wait_log("AES-128 is weaker than the input's AES-256", 1);
    let st = p.wait(Duration::from_secs(30));
    assert!(!st.success(), "the AES-128 publisher was not turned away");
    assert_eq!(relevo.log_count("SRT publisher connected"), 0);
}
