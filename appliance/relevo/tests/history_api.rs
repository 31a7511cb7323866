//! The history API of issue #17 against a real stream: one Relevo with an input of the
//! configuration file (no id: history goes by name) and a pull output, a real ffmpeg SRT
//! publisher for a few seconds, then `GET /api/v1/history/…` (per second, per minute, CSV),
//! `/api/v1/availability/…` and the events list on `/api/v1/events` (filters, paging, CSV),
//! bad queries answered 400 naming the parameter, an unknown flow 404, a Visor reading,
//! an anonymous caller refused, and the WebSocket still on the same path.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;
use serde_json::Value;

/// Seconds the publisher sends: enough for several live seconds and a disconnection.
const PUBLISH_SECS: u32 = 8;

/// One GET with every header of the answer: (status, headers, body).
fn get_raw(port: u16, path: &str, token: Option<&str>) -> (u16, Vec<(String, String)>, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let auth = token.map_or_else(String::new, |t| format!("Authorization: Bearer {t}\r\n"));
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n{auth}\r\n").unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let (status, headers, body_at) = parse_http_head(&raw);
    (
        status,
        headers,
        String::from_utf8_lossy(&raw[body_at..]).into_owned(),
    )
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map_or("", |(_, v)| v.as_str())
}

/// A refused request: its status, code and the parameter it names.
fn refused(relevo: &Relevo, path: &str) -> (u16, String, String) {
    let (st, body) = relevo.api("GET", path, None);
    let e = &body["error"];
    (
        st,
        e["code"].as_str().unwrap_or_default().to_owned(),
        e["field"].as_str().unwrap_or_default().to_owned(),
    )
}

fn kinds(page: &Value) -> Vec<String> {
    page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn history_availability_and_events_of_a_real_stream() {
    let flows = format!(
        "{}{}",
        input_toml("cam", "cam-key"),
        pull_toml("play", "srt", "play-key")
    );
    let relevo = Relevo::start("history-api", "", &flows);
    let log = relevo.dir.path("ffmpeg.log");
    let ffmpeg = publish(
        "ffmpeg",
        PUBLISH_SECS,
        "mpegts",
        &relevo.srt_url("publish:cam-key", ""),
        &log,
    );

    // Per second, from memory: live seconds with a bit rate and the SRT round trip.
    let mut seconds = Value::Null;
    wait_until(
        "five live seconds in the history",
        Duration::from_secs(30),
        || {
            let (st, body) = relevo.api("GET", "/api/v1/history/cam?step=1s", None);
            assert_eq!(st, 200, "{body}");
            let live = body["points"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|p| p["secs_live"] == 1 && p["bitrate_avg"].as_i64().unwrap() > 0)
                .count();
            seconds = body;
            live >= 5
        },
    );
    assert_eq!(seconds["input"], "cam");
    assert_eq!(seconds["output"], Value::Null);
    assert_eq!(seconds["step"], "1s");
    let points = seconds["points"].as_array().unwrap();
    assert!(
        points.iter().any(|p| p["srt_rtt_ms"].is_number()),
        "an SRT publisher's round trip: {seconds}"
    );
    let peak = points
        .iter()
        .map(|p| p["bitrate_avg"].as_i64().unwrap())
        .max()
        .unwrap();
    // The test source is 320x240 H.264 and 96 kbit/s AAC: tens of kbit/s to a few Mbit/s.
    assert!((50_000..20_000_000).contains(&peak), "peak {peak} bit/s");

    // The default for the last hour: minutes, the one being counted included.
    let (st, minutes) = relevo.api("GET", "/api/v1/history/cam", None);
    assert_eq!(st, 200, "{minutes}");
    assert_eq!(minutes["step"], "1m");
    let rows = minutes["points"].as_array().unwrap();
    assert!(!rows.is_empty(), "the minute in memory: {minutes}");
    assert!(
        rows.iter()
            .any(|r| r["secs_live"].as_i64().unwrap() > 0 && r["bitrate_avg"].as_i64().unwrap() > 0),
        "{minutes}"
    );

    // CSV: a download with a header row and the same columns on every row.
    let (st, headers, csv) = get_raw(
        relevo.http,
        "/api/v1/history/cam?step=1s&format=csv",
        Some(relevo.token()),
    );
    assert_eq!(st, 200, "{csv}");
    assert!(header(&headers, "content-type").starts_with("text/csv"));
    assert_eq!(
        header(&headers, "content-disposition"),
        "attachment; filename=\"history-cam.csv\""
    );
    let lines: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert!(
        lines[0].starts_with("at,secs_live,secs_waiting,"),
        "{}",
        lines[0]
    );
    let columns = lines[0].split(',').count();
    assert_eq!(columns, 18, "{}", lines[0]);
    assert!(lines.len() >= 6, "a header and the live seconds: {csv}");
    assert!(
        lines[1..].iter().all(|l| l.split(',').count() == columns),
        "{csv}"
    );

    // An output of the input, configured: its history is there even while nobody reads.
    let (st, out) = relevo.api("GET", "/api/v1/history/cam/play?step=1s", None);
    assert_eq!(st, 200, "{out}");
    assert_eq!(out["output"], "play");

    // The publisher ends: the events tell the story.
    ffmpeg.wait(Duration::from_secs(30));
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let events = loop {
        let (st, body) = relevo.api("GET", "/api/v1/events?input=cam", None);
        assert_eq!(st, 200, "{body}");
        let k = kinds(&body);
        if k.iter().any(|k| k == "publisher.connected")
            && k.iter().any(|k| k == "publisher.disconnected")
        {
            break body;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the publisher's two events: {body}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let list = events["events"].as_array().unwrap();
    let connected = list
        .iter()
        .find(|e| e["kind"] == "publisher.connected")
        .unwrap();
    assert_eq!(connected["input"], "cam");
    assert_eq!(connected["severity"], "info");
    let ids: Vec<i64> = list.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");

    // Filters and paging.
    let (_, only) = relevo.api("GET", "/api/v1/events?input=cam&kind=publisher.", None);
    assert!(
        kinds(&only).iter().all(|k| k.starts_with("publisher.")),
        "{only}"
    );
    assert!(kinds(&only).len() >= 2, "{only}");
    let (_, warnings) = relevo.api("GET", "/api/v1/events?input=cam&severity=warning", None);
    assert!(
        warnings["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["severity"] != "info"),
        "{warnings}"
    );
    assert!(kinds(&warnings).contains(&"publisher.disconnected".to_owned()));
    let (_, first) = relevo.api("GET", "/api/v1/events?input=cam&limit=1", None);
    assert_eq!(first["events"].as_array().unwrap().len(), 1, "{first}");
    let next = first["next_before_id"].as_i64().expect("a next page");
    let (_, second) = relevo.api(
        "GET",
        &format!("/api/v1/events?input=cam&limit=1&before_id={next}"),
        None,
    );
    assert!(
        second["events"][0]["id"].as_i64().unwrap() < first["events"][0]["id"].as_i64().unwrap()
    );
    let (st, headers, csv) = get_raw(
        relevo.http,
        "/api/v1/events?input=cam&format=csv",
        Some(relevo.token()),
    );
    assert_eq!(st, 200, "{csv}");
    assert!(header(&headers, "content-type").starts_with("text/csv"));
    assert!(
        csv.starts_with("id,at,input,output,kind,severity,detail,audit_id\r\n"),
        "{csv}"
    );
    assert!(csv.contains(",publisher.connected,info,"), "{csv}");

    // Availability over the last hour: the live seconds, all of them meant.
    let (st, a) = relevo.api(
        "GET",
        "/api/v1/availability/cam?from=2000-01-01T00:00:00Z",
        None,
    );
    assert_eq!(
        (st, a["error"]["code"].as_str()),
        (400, Some("range_too_wide")),
        "{a}"
    );
    let (st, a) = relevo.api("GET", "/api/v1/availability/cam", None);
    assert_eq!(st, 200, "{a}");
    let (live, meant) = (
        a["live_secs"].as_u64().unwrap(),
        a["meant_secs"].as_u64().unwrap(),
    );
    assert!(live >= 5 && meant >= live, "{a}");
    let ratio = a["ratio"].as_f64().unwrap();
    assert!(ratio > 0.0 && ratio <= 1.0, "{a}");
    let (st, a) = relevo.api("GET", "/api/v1/availability/cam/play", None);
    assert_eq!(st, 200, "{a}");

    // Bad input: a clear 400 naming the parameter, or 404 for an unknown flow.
    let ten_years = "/api/v1/history/cam?from=2016-01-01T00:00:00Z&to=2026-01-01T00:00:00Z";
    assert_eq!(
        refused(&relevo, ten_years),
        (400, "range_too_wide".into(), "from".into())
    );
    for limit in ["-1", "0", "501", "many"] {
        let path = format!("/api/v1/events?limit={limit}");
        assert_eq!(
            refused(&relevo, &path),
            (400, "invalid_query".into(), "limit".into())
        );
    }
    assert_eq!(
        refused(&relevo, "/api/v1/history/cam?from=yesterday"),
        (400, "invalid_query".into(), "from".into())
    );
    assert_eq!(
        refused(
            &relevo,
            "/api/v1/history/cam?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z"
        ),
        (400, "bad_range".into(), "from".into())
    );
    assert_eq!(
        refused(&relevo, "/api/v1/history/cam?since=1h"),
        (400, "invalid_query".into(), "since".into())
    );
    assert_eq!(
        refused(&relevo, "/api/v1/history/cam?step=5m"),
        (400, "invalid_query".into(), "step".into())
    );
    let old_seconds =
        "/api/v1/history/cam?step=1s&from=2020-01-01T00:00:00Z&to=2020-01-01T00:10:00Z";
    assert_eq!(
        refused(&relevo, old_seconds),
        (400, "invalid_query".into(), "step".into())
    );
    assert_eq!(
        refused(&relevo, "/api/v1/events?severity=fatal"),
        (400, "invalid_query".into(), "severity".into())
    );
    for path in [
        "/api/v1/history/nope",
        "/api/v1/history/cam/nope",
        "/api/v1/availability/nope",
        "/api/v1/events?input=nope",
    ] {
        assert_eq!(
            refused(&relevo, path),
            (404, "unknown_flow".into(), String::new()),
            "{path}"
        );
    }

    // Every role reads; nobody anonymous.
    relevo.add_user("visor@relevo.test", "visor");
    let visor = relevo.access_token("visor@relevo.test");
    for path in [
        "/api/v1/history/cam",
        "/api/v1/availability/cam",
        "/api/v1/events?input=cam",
    ] {
        let (st, body) = http_request(relevo.http, "GET", path, Some(&visor), None);
        assert_eq!(st, 200, "{path} as a Visor: {body}");
        let (st, _) = http_request(relevo.http, "GET", path, None, None);
        assert_eq!(st, 401, "{path} without a token");
    }

    // The same path still upgrades to the live WebSocket.
    let mut s = TcpStream::connect(("127.0.0.1", relevo.http)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Authorization: Bearer {}\r\n\r\n",
        relevo.token()
    )
    .unwrap();
    let mut head = [0u8; 12];
    s.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 101", "{}", String::from_utf8_lossy(&head));
}
