//! A destination that accepts the TCP connection but never reads nor answers is reported
//! plainly and reopened: an output can never look green while dead.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;

#[test]
fn a_destination_that_never_reads_is_reported_and_reopened() {
    let dir = TempDir::new("stall");
    let black_hole = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = black_hole.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in black_hole.incoming().flatten() {
            counter.fetch_add(1, Ordering::SeqCst);
            held.push(conn); // never read, never answer, never close
        }
    });
    let flows = input_toml("cam", "cam-stall")
        + &push_toml("hole", &format!("rtmp://127.0.0.1:{port}/live/k"));
    let relevo = Relevo::start("stall", "", &flows);
    let publisher = publish(
        "publisher",
        60,
        "mpegts",
        &relevo.srt_url("publish:cam-stall", ""),
        &dir.path("publisher.log"),
    );
    // Watched all along: connected but unanswered is never shown as live.
    let stall = "connected, but the destination did not answer for 10 s";
    let hole = || {
        let hole = relevo.output_status("cam", "hole");
        assert_ne!(
            hole["state"], "live",
            "a dead destination looks live: {hole}"
        );
        hole
    };
    wait_until("the stall to be logged", Duration::from_secs(30), || {
        hole();
        relevo.log_count(&format!("push failed: {stall}")) >= 1
    });
    wait_until(
        "the output to report the stall and reopen its connection",
        Duration::from_secs(40),
        || {
            let hole = hole();
            hole["last_error"]["message"] == stall
                && hole["reconnects"].as_u64() >= Some(1)
                && accepted.load(Ordering::SeqCst) >= 2
        },
    );
    drop(publisher);
}
