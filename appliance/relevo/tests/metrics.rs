//! Live metrics through the real HTTP server: `/metrics`, `/api/v1/status` and `/healthz`
//! follow an SRT publisher, an SRT reader and a push output whose destination is down.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;

/// An input name that needs escaping in a Prometheus label.
const NAME: &str = r#"cam "A" \ 1"#;
const IN: &str = r#"input="cam \"A\" \\ 1""#;
const LIMIT: Duration = Duration::from_secs(60);

/// The value of the first sample whose name and labels start with `prefix`.
fn sample(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(prefix))
        .find_map(|l| l.rsplit(' ').next()?.parse().ok())
}

/// One output of the status JSON, by name.
fn output<'a>(status: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    status["inputs"][0]["outputs"]
        .as_array()
        .and_then(|a| a.iter().find(|o| o["name"] == name))
        .unwrap_or_else(|| panic!("no output {name} in {status}"))
}

struct Http<'a>(&'a Relevo);

impl Http<'_> {
    fn metric(&self, prefix: &str) -> Option<f64> {
        sample(&self.0.get("/metrics")?, prefix)
    }

    fn status(&self) -> serde_json::Value {
        self.0.status()
    }

    fn wait_metric(&self, what: &str, prefix: &str, cond: impl Fn(f64) -> bool) -> f64 {
        let mut last = None;
        wait_until(what, LIMIT, || {
            last = self.metric(prefix);
            last.is_some_and(&cond)
        });
        last.unwrap()
    }
}

#[test]
fn metrics_follow_publisher_reader_and_dead_push() {
    let dead = free_tcp_port();
    // `'…'`: a TOML literal string, as the name holds `"` and `\`. The default grace period.
    let flows = [
        format!("\n[[input]]\nname = '{NAME}'\nkey = \"cam1\"\n"),
        pull_toml("readers", "srt", "cam1-read"),
        push_toml(
            "dead",
            &format!("rtmp://127.0.0.1:{dead}/live/secret-dest-key"),
        ),
    ];
    let relevo = Relevo::start("metrics", "", &flows.concat());
    let http = Http(&relevo);
    wait_until("/healthz", LIMIT, || {
        http_request(relevo.http, "GET", "/healthz", None, None) == (200, "ok".to_owned())
    });
    // Nothing but health answers without credentials.
    for path in ["/metrics", "/api/v1/status"] {
        let (st, _) = http_request(relevo.http, "GET", path, None, None);
        assert_eq!(st, 401, "{path} without a token");
    }
    let readers = format!(r#"{IN},output="readers",kind="pull_srt""#);
    let push = format!(r#"{IN},output="dead",kind="push_rtmp""#);
    // The first snapshot with the flows is published within a second of their start.
    http.wait_metric(
        "the idle input in /metrics",
        &format!(r#"relevo_input_state{{{IN},state="idle"}}"#),
        |v| v == 1.0,
    );

    // A publisher: bit rate, SRT link figures and who it is.
    let publisher = publish(
        "publisher",
        600,
        "mpegts",
        &relevo.srt_url("#!::r=cam1,m=publish", ""),
        &relevo.dir.path("publisher.log"),
    );
    http.wait_metric(
        "the input's 1 s bit rate",
        &format!(r#"relevo_input_bitrate_bits_per_second{{{IN},window="1s"}}"#),
        |v| v > 0.0,
    );
    let peer = format!(r#"{IN},protocol="srt",peer="127.0.0.1:"#);
    http.wait_metric(
        "the publisher's SRT RTT",
        &format!("relevo_input_srt_rtt_seconds{{{peer}"),
        |v| v >= 0.0,
    );
    http.wait_metric(
        "the publisher's negotiated latency",
        &format!("relevo_input_srt_latency_seconds{{{peer}"),
        |v| v > 0.0,
    );
    http.wait_metric(
        "the publisher",
        &format!("relevo_input_publisher_connected_timestamp_seconds{{{peer}"),
        |v| v > 0.0,
    );
    assert_eq!(
        http.metric(&format!(r#"relevo_input_state{{{IN},state="live"}}"#)),
        Some(1.0)
    );

    // An SRT reader of the pull output.
    let reader = relevo.record_srt("read:cam1-read", &relevo.dir.path("reader.ts"));
    http.wait_metric(
        "one reader",
        &format!("relevo_output_peers{{{readers}}}"),
        |v| v == 1.0,
    );
    let sent = http.wait_metric(
        "bytes to the reader",
        &format!("relevo_output_sent_bytes_total{{{readers}}}"),
        |v| v > 0.0,
    );
    http.wait_metric(
        "more bytes to the reader",
        &format!("relevo_output_sent_bytes_total{{{readers}}}"),
        |v| v > sent,
    );
    http.wait_metric(
        "the reader's 10 s bit rate",
        &format!(r#"relevo_output_bitrate_bits_per_second{{{readers},window="10s"}}"#),
        |v| v > 0.0,
    );
    http.wait_metric(
        "the reader's SRT RTT",
        &format!(r#"relevo_output_srt_rtt_seconds{{{readers},protocol="srt",peer="127.0.0.1:"#),
        |v| v >= 0.0,
    );
    http.wait_metric(
        "the pull output live",
        &format!(r#"relevo_output_state{{{readers},state="live"}}"#),
        |v| v == 1.0,
    );
    let status = http.status();
    let out = output(&status, "readers");
    assert_eq!(out["connections"][0]["protocol"], "srt", "{status}");

    // The push output's destination is down: it retries, counts and says why.
    http.wait_metric(
        "the push output retrying",
        &format!(r#"relevo_output_state{{{push},state="retrying"}}"#),
        |v| v == 1.0,
    );
    let reconnects = http.wait_metric(
        "a reconnect",
        &format!("relevo_output_reconnects_total{{{push}}}"),
        |v| v >= 1.0,
    );
    http.wait_metric(
        "another reconnect",
        &format!("relevo_output_reconnects_total{{{push}}}"),
        |v| v > reconnects,
    );
    http.wait_metric(
        "the push output's error time",
        &format!("relevo_output_last_error_timestamp_seconds{{{push}}}"),
        |v| v > 0.0,
    );
    let status = http.status();
    let out = output(&status, "dead");
    assert_eq!(
        out["last_error"]["message"], "connection refused",
        "{status}"
    );
    let text = relevo.get("/metrics").unwrap();
    for secret in ["cam1", "secret-dest-key"] {
        assert!(!text.contains(secret), "{secret} in /metrics");
        assert!(
            !status.to_string().contains(secret),
            "{secret} in the status"
        );
    }

    // The publisher stops: the input goes idle and its rates fall to zero.
    publisher.interrupt();
    http.wait_metric(
        "the input idle",
        &format!(r#"relevo_input_state{{{IN},state="idle"}}"#),
        |v| v == 1.0,
    );
    for window in ["1s", "10s"] {
        http.wait_metric(
            &format!("the input's {window} bit rate at 0"),
            &format!(r#"relevo_input_bitrate_bits_per_second{{{IN},window="{window}"}}"#),
            |v| v == 0.0,
        );
    }
    assert!(
        http.metric(&format!("relevo_input_srt_rtt_seconds{{{IN}"))
            .is_none(),
        "no link figures without a publisher"
    );
    drop(reader);
}
