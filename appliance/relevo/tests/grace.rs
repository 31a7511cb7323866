//! Publisher blips: the encoder dies and comes back within the grace period; meanwhile the
//! held outputs show `waiting`; the push destination sees one connection and timestamps that
//! keep increasing.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;

#[test]
fn a_publisher_killed_and_restarted_within_the_grace_period_is_one_broadcast() {
    let dir = TempDir::new("grace");
    let rtmp_dest = free_tcp_port();
    // ffmpeg -listen takes exactly one connection: a reconnect would find nobody.
    let sink = rtmp_listener_sink(rtmp_dest, &dir.path("push.flv"), &dir.path("push.log"));
    let input = r#"
[[input]]
name = "studio"
key = "studio-blip"
grace_period_s = 6
"#;
    let flows = [
        input.to_owned(),
        push_toml("push", &rtmp_sink_url(rtmp_dest)),
        pull_toml("pull-srt", "srt", "studio-blip-read"),
    ];
    let relevo = Relevo::start("grace", "", &flows.concat());
    // srt-live-transmit without auto-reconnect: one connection, or its file stops.
    let reader = relevo.srt_reader("studio-blip-read", &dir.path("pull.ts"));
    relevo.wait_log("SRT reader connected", 1);

    // The first encoder runs for a while, then dies without a goodbye.
    let mut first = publish(
        "first",
        30,
        "flv",
        &relevo.rtmp_url("studio-blip"),
        &dir.path("first.log"),
    );
    relevo.wait_log("RTMP publisher connected", 1);
    wait_until("the destination to record", Duration::from_secs(20), || {
        file_len(&dir.path("push.flv")) > 150_000
    });
    first.child.kill().unwrap();
    let _ = first.child.wait();
    relevo.wait_log("publisher left: outputs held for the grace period", 1);
    // Operators see the input and the outputs that keep their connection waiting with it.
    wait_until(
        "the held flows to show waiting",
        Duration::from_secs(10),
        || {
            relevo.output_status("studio", "push")["state"] == "waiting"
                && relevo.output_status("studio", "pull-srt")["state"] == "waiting"
        },
    );
    assert_eq!(relevo.output_status("studio", "pull-srt")["peers"], 1);

    // Its replacement arrives within the grace period and finishes normally.
    let second = publish(
        "second",
        5,
        "flv",
        &relevo.rtmp_url("studio-blip"),
        &dir.path("second.log"),
    );
    relevo.wait_log("publisher back within the grace period", 1);
    assert!(second.wait(Duration::from_secs(40)).success());

    // After the grace period the outputs close and the destination finishes its file.
    relevo.wait_log("grace period over", 1);
    let st = sink.wait(Duration::from_secs(20));
    assert!(st.success(), "the destination saw an error: {st}");
    reader.wait(Duration::from_secs(20));

    let log = relevo.log_text();
    assert_eq!(
        log.matches("push failed").count(),
        0,
        "the push output reconnected:\n{log}"
    );
    for f in ["push.flv", "pull.ts"] {
        let p = probe(&dir.path(f));
        // The second encoder alone sent 125 frames; the first at least 2 s worth.
        let video = p.frames("h264");
        assert!(
            video > 125 + 50,
            "{f}: {video} frames cannot hold both encoders: {p:?}"
        );
        assert!(p.count("aac") == 1, "{f}: {p:?}");
        assert!(
            p.non_monotonic.is_empty(),
            "{f}: timestamps went back at the splice: {p:?}"
        );
    }
}
