//! Flow history of issue #17 against a real stream: an SRT publisher (ffmpeg) into an input
//! with a push output whose destination refuses (a closed port) and a pull output with a
//! reader (srt-live-transmit). The publisher runs, stops for about five seconds, and comes
//! back. While Relevo runs, the availability over the two publications is what the outage
//! leaves; after a graceful stop (SIGTERM: the partial minute is flushed) and a restart, the
//! database holds the events (publisher connected ×2 / disconnected, output failed with its
//! error text, reader joined/left) and minute rows whose bytes and mean bit rate are what
//! the publisher sent (its own copy of the stream, written beside it by ffmpeg's tee).
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

const KEY: &str = "history-key";

/// ffmpeg sending `secs` of the test source to Relevo over SRT and, through the tee
/// muxer, the same TS bytes to `copy`.
fn publish_and_keep(relevo: &Relevo, name: &str, secs: u32, copy: &std::path::Path) -> Proc {
    let dests = format!(
        "[f=mpegts]{}|[f=mpegts]{}",
        relevo.srt_url(KEY, ""),
        copy.display()
    );
    let log = copy.with_extension("log");
    publish_with(name, &source_args(secs), "tee", &dests, &log)
}

fn input_state(relevo: &Relevo) -> String {
    relevo.status()["inputs"][0]["state"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn events(relevo: &Relevo) -> Vec<Value> {
    let (st, page) = relevo.api("GET", "/api/v1/events?input=studio&limit=500", None);
    assert_eq!(st, 200, "{page}");
    let mut list = page["events"].as_array().unwrap().clone();
    list.reverse();
    list
}

fn of_kind<'a>(events: &'a [Value], kind: &str, output: Option<&str>) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e["kind"] == kind && e["output"].as_str() == output)
        .collect()
}

fn at(e: &Value) -> OffsetDateTime {
    OffsetDateTime::parse(e["at"].as_str().unwrap(), &Rfc3339).unwrap()
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap()
}

#[test]
fn a_stream_with_an_outage_leaves_its_events_minutes_and_availability() {
    let dir = TempDir::new("history");
    let closed = free_tcp_port();
    let flows = [
        input_toml("studio", KEY),
        push_toml(
            "dead",
            &format!("rtmp://127.0.0.1:{closed}/live/dest-secret"),
        ),
        pull_toml("pull-srt", "srt", "history-read"),
    ];
    let mut relevo = Relevo::start("history", "", &flows.concat());
    let reader = relevo.srt_reader("history-read", &dir.path("read.ts"));
    wait_until("the reader", Duration::from_secs(20), || {
        relevo.output_status("studio", "pull-srt")["peers"] == 1
    });

    let first = publish_and_keep(&relevo, "first", 10, &dir.path("first.ts"));
    assert!(
        first.wait(Duration::from_secs(40)).success(),
        "first publisher"
    );
    wait_until("the input idle", Duration::from_secs(20), || {
        input_state(&relevo) == "idle"
    });
    // The outage: about five seconds without a publisher.
    std::thread::sleep(Duration::from_secs(5));
    let second = publish_and_keep(&relevo, "second", 8, &dir.path("second.ts"));
    assert!(
        second.wait(Duration::from_secs(40)).success(),
        "second publisher"
    );
    drop(reader);
    wait_until(
        "both publications and the reader's leaving in the events",
        Duration::from_secs(20),
        || {
            let ev = events(&relevo);
            of_kind(&ev, "publisher.disconnected", None).len() == 2
                && !of_kind(&ev, "reader.left", Some("pull-srt")).is_empty()
        },
    );

    // Availability over the two publications, from the one-second ring: meant all along,
    // live but for the outage.
    let ev = events(&relevo);
    let connected = of_kind(&ev, "publisher.connected", None);
    let disconnected = of_kind(&ev, "publisher.disconnected", None);
    assert_eq!(connected.len(), 2, "{ev:?}");
    let (c1, d1, c2, d2) = (
        at(connected[0]),
        at(disconnected[0]),
        at(connected[1]),
        at(disconnected[1]),
    );
    let outage = (c2 - d1).whole_seconds();
    assert!(outage >= 5, "the outage lasted {outage} s");
    let path = format!(
        "/api/v1/availability/studio?from={}&to={}",
        rfc3339(c1),
        rfc3339(d2)
    );
    let (st, a) = relevo.api("GET", &path, None);
    assert_eq!(st, 200, "{a}");
    let meant = (d2 - c1).whole_seconds();
    let live = meant - outage;
    // The snapshot is taken once a second: a publisher's second of arrival or leaving may
    // fall on either side of it.
    let near = |v: &Value, want: i64| (v.as_i64().unwrap() - want).abs() <= 1;
    assert!(near(&a["meant_secs"], meant), "meant {meant}: {a}");
    assert!(near(&a["live_secs"], live), "live {live}: {a}");
    let ratio = a["ratio"].as_f64().unwrap();
    assert!((ratio - live as f64 / meant as f64).abs() < 0.05, "{a}");

    // A graceful stop writes the minute being counted; the restarted Relevo reads it back.
    assert!(relevo.stop().success(), "{}", relevo.log_text());
    relevo.start_again();
    let ev = events(&relevo);
    assert_eq!(of_kind(&ev, "publisher.connected", None).len(), 2);
    assert_eq!(of_kind(&ev, "publisher.disconnected", None).len(), 2);
    let p = &of_kind(&ev, "publisher.connected", None)[0]["detail"];
    assert_eq!(p["protocol"], "srt");
    assert!(p["peer"].as_str().unwrap().starts_with("127.0.0.1:"), "{p}");
    let failed = of_kind(&ev, "output.failed", Some("dead"));
    assert!(!failed.is_empty(), "{ev:?}");
    assert_eq!(failed[0]["severity"], "error");
    assert_eq!(failed[0]["detail"]["error"], "connection refused");
    assert_eq!(failed[0]["detail"]["class"], "network");
    let joined = of_kind(&ev, "reader.joined", Some("pull-srt"));
    let left = of_kind(&ev, "reader.left", Some("pull-srt"));
    assert!(!joined.is_empty() && !left.is_empty(), "{ev:?}");
    assert!(joined[0]["detail"]["peer"]
        .as_str()
        .unwrap()
        .starts_with("127.0.0.1:"));
    let all = serde_json::to_string(&ev).unwrap();
    for secret in [KEY, "history-read", "dest-secret"] {
        assert!(!all.contains(secret), "{secret} in the events");
    }

    // Minute rows: what the input received is what the publisher sent (its TS bytes).
    let sent = file_len(&dir.path("first.ts")) + file_len(&dir.path("second.ts"));
    let from = c1 - time::Duration::minutes(1);
    let to = OffsetDateTime::now_utc() + time::Duration::minutes(1);
    let rows = |flow: &str| {
        let path = format!(
            "/api/v1/history/{flow}?from={}&to={}&step=1m",
            rfc3339(from),
            rfc3339(to)
        );
        let (st, h) = relevo.api("GET", &path, None);
        assert_eq!(st, 200, "{h}");
        h["points"].as_array().unwrap().clone()
    };
    let input_rows = rows("studio");
    let sum = |rows: &[Value], f: &dyn Fn(&Value) -> i64| rows.iter().map(f).sum::<i64>();
    let bytes = sum(&input_rows, &|r| r["bytes"].as_i64().unwrap()) as f64;
    let within = |got: f64, want: f64| (got - want).abs() <= want * 0.05;
    assert!(
        within(bytes, sent as f64),
        "rows say {bytes} bytes, the publisher sent {sent}"
    );
    // The mean bit rate over each minute's seconds, times those seconds, is the same bytes.
    let bits = sum(&input_rows, &|r| {
        let secs = ["secs_live", "secs_waiting", "secs_failing", "secs_stopped"]
            .iter()
            .map(|k| r[*k].as_i64().unwrap())
            .sum::<i64>();
        r["bitrate_avg"].as_i64().unwrap() * secs
    }) as f64;
    assert!(
        within(bits / 8.0, sent as f64),
        "bit rates say {} bytes, the publisher sent {sent}",
        bits / 8.0
    );
    let live_secs = sum(&input_rows, &|r| r["secs_live"].as_i64().unwrap());
    assert!(
        (live_secs - live).abs() <= 2,
        "{live_secs} live seconds in rows, {live} seen"
    );
    assert!(input_rows
        .iter()
        .any(|r| r["srt_packets"].as_i64().unwrap_or(0) > 0));
    let dead = rows("studio/dead");
    assert!(
        sum(&dead, &|r| r["secs_failing"].as_i64().unwrap()) > 0,
        "{dead:?}"
    );
    assert!(
        sum(&dead, &|r| r["reconnects"].as_i64().unwrap()) > 0,
        "{dead:?}"
    );
    let pull = rows("studio/pull-srt");
    assert!(pull.iter().any(|r| r["peers_max"] == 1), "{pull:?}");
}
