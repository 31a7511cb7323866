//! Flows through the API with a real stream: create an input and outputs, push with
//! ffmpeg, read the live bit rate from the WebSocket, stop an output, restart Relevo and see
//! the flows come back from PostgreSQL; export and import into an empty appliance; bad
//! bodies get a 4xx naming the field and change nothing. Record outputs go the same way.
//! An input's backup feed and own SRT port (issue #18) likewise, and the manual switch of
//! feed with two real encoders, seen on the events socket and in the audit log.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

const LIMIT: Duration = Duration::from_secs(60);

/// Reads WebSocket snapshots until `cond` holds for one; returns it.
fn ws_until(relevo: &Relevo, what: &str, cond: impl Fn(&Value) -> bool) -> Value {
    use tungstenite::client::IntoClientRequest;
    let mut req = format!("ws://127.0.0.1:{}/api/v1/events", relevo.http)
        .into_client_request()
        .unwrap();
    let bearer = format!("Bearer {}", relevo.token());
    req.headers_mut()
        .insert("authorization", bearer.parse().unwrap());
    let (mut ws, _) = tungstenite::connect(req).unwrap();
    let deadline = Instant::now() + LIMIT;
    loop {
        assert!(
            Instant::now() < deadline,
            "WebSocket: no snapshot where {what}"
        );
        let msg = ws.read().unwrap();
        let Ok(text) = msg.to_text() else { continue };
        let Ok(v) = serde_json::from_str::<Value>(text) else {
            continue;
        };
        if v["type"] == "snapshot" && cond(&v) {
            let _ = ws.close(None);
            return v;
        }
    }
}

type Socket = tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<std::net::TcpStream>>;

/// An open `/api/v1/events` socket, as the admin.
fn events_socket(relevo: &Relevo) -> Socket {
    use tungstenite::client::IntoClientRequest;
    let mut req = format!("ws://127.0.0.1:{}/api/v1/events", relevo.http)
        .into_client_request()
        .unwrap();
    let bearer = format!("Bearer {}", relevo.token());
    req.headers_mut()
        .insert("authorization", bearer.parse().unwrap());
    tungstenite::connect(req).unwrap().0
}

/// The next message of `kind` on `ws` (others are skipped).
fn next_message(ws: &mut Socket, kind: &str) -> Value {
    let deadline = Instant::now() + LIMIT;
    loop {
        assert!(Instant::now() < deadline, "WebSocket: no {kind} message");
        let msg = ws.read().unwrap();
        let Ok(text) = msg.to_text() else { continue };
        if let Ok(v) = serde_json::from_str::<Value>(text) {
            if v["type"] == kind {
                return v;
            }
        }
    }
}

fn input<'a>(snap: &'a Value, name: &str) -> &'a Value {
    snap["inputs"]
        .as_array()
        .and_then(|a| a.iter().find(|i| i["name"] == name))
        .unwrap_or(&Value::Null)
}

fn strip_times(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.remove("exported_at");
    }
    v
}

#[test]
fn api_flows_carry_a_stream_survive_a_restart_and_export() {
    let dir = TempDir::new("api-flows");
    let state = dir.0.clone();
    let mut relevo = Relevo::start_in(dir, "", "");
    let (st, cam) = relevo.api(
        "POST",
        "/api/v1/inputs",
        Some(&json!({"name": "cam", "key": "cam-key", "latency_ms": 120})),
    );
    assert_eq!(st, 201, "{cam}");
    let cam_id = cam["id"].as_i64().unwrap();
    let (st, play) = relevo.api(
        "POST",
        &format!("/api/v1/inputs/{cam_id}/outputs"),
        Some(&json!({"name": "play", "pull": "rtmp", "key": "play-key"})),
    );
    assert_eq!(st, 201, "{play}");
    let (st, srt) = relevo.api(
        "POST",
        &format!("/api/v1/inputs/{cam_id}/outputs"),
        Some(&json!({"name": "srt-read", "pull": "srt", "key": "read-key", "passphrase": "reader-passphrase"})),
    );
    assert_eq!(st, 201, "{srt}");

    // Bad bodies: precise 4xx, nothing written.
    for (body, status, field) in [
        (
            json!({"name": "x", "key": "k", "latency_ms": 5000}),
            422,
            "latency_ms",
        ),
        (
            json!({"name": "x", "key": "k", "latncy_ms": 200}),
            422,
            "latncy_ms",
        ),
        (
            json!({"name": "x", "key": "k", "passphrase": "short"}),
            422,
            "passphrase",
        ),
        (json!({"name": "cam", "key": "other"}), 409, "name"),
        (json!({"name": "dup-key", "key": "play-key"}), 409, "key"),
    ] {
        let (st, e) = relevo.api("POST", "/api/v1/inputs", Some(&body));
        assert_eq!(
            (st, e["error"]["field"].as_str()),
            (status, Some(field)),
            "{body}: {e}"
        );
    }
    let (st, text) = http_request(
        relevo.http,
        "POST",
        "/api/v1/inputs",
        Some(relevo.token()),
        None,
    );
    assert_eq!(st, 415, "{text}");
    let (_, list) = relevo.api("GET", "/api/v1/inputs", None);
    assert_eq!(list["inputs"].as_array().unwrap().len(), 1, "{list}");

    // A real publisher: the WebSocket shows the input live with its bit rate.
    let publisher = publish(
        "publisher",
        600,
        "flv",
        &relevo.rtmp_url("cam-key"),
        &relevo.dir.path("pub.log"),
    );
    let snap = ws_until(&relevo, "cam is live with a bit rate", |s| {
        input(s, "cam")["state"] == "live"
            && input(s, "cam")["bitrate"]["last_1s"]
                .as_f64()
                .unwrap_or(0.0)
                > 100_000.0
    });
    println!("live: {}", input(&snap, "cam")["bitrate"]);

    // A player on the pull output, then the output stopped through the API.
    let mut rec = record(
        "player",
        &relevo.rtmp_url("play-key"),
        "flv",
        &relevo.dir.path("play.flv"),
        &relevo.dir.path("play.log"),
    );
    ws_until(&relevo, "the player is connected", |s| {
        input(s, "cam")["outputs"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|o| o["name"] == "play" && o["peers"] == 1)
    });
    let play_id = play["id"].as_i64().unwrap();
    let (st, stopped) = relevo.api("POST", &format!("/api/v1/outputs/{play_id}/stop"), None);
    assert_eq!(
        (st, stopped["enabled"].as_bool()),
        (200, Some(false)),
        "{stopped}"
    );
    ws_until(
        &relevo,
        "the output stopped without readers and cam still live",
        |s| {
            let cam = input(s, "cam");
            cam["state"] == "live"
                && cam["outputs"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|o| o["name"] == "play" && o["state"] == "stopped" && o["peers"] == 0)
        },
    );
    // Stopping the output closed its player's connection.
    wait_until("the player to be disconnected", LIMIT, || !rec.is_running());

    // The audit log has each change, secrets masked.
    let (_, audit) = relevo.api("GET", "/api/v1/audit?target_kind=output", None);
    let text = audit.to_string();
    assert!(
        text.contains("output.create") && text.contains("output.update"),
        "{text}"
    );
    assert!(
        !text.contains("reader-passphrase") && !text.contains("play-key"),
        "{text}"
    );

    // Restart: the flows come back by themselves from the database.
    let (_, export) = relevo.api("GET", "/api/v1/config/export", None);
    assert_eq!(relevo.stop().code(), Some(0));
    drop(publisher);
    let relevo = Relevo::start_in(TempDir(state.clone()), "", "");
    // The encoder reconnects (ffmpeg does not by itself): the input knows its key again.
    let publisher = publish(
        "publisher-2",
        600,
        "flv",
        &relevo.rtmp_url("cam-key"),
        &relevo.dir.path("pub2.log"),
    );
    ws_until(&relevo, "cam is live again after the restart", |s| {
        input(s, "cam")["state"] == "live"
    });
    let (_, list) = relevo.api("GET", "/api/v1/inputs", None);
    let outputs = &list["inputs"][0]["outputs"];
    assert_eq!(outputs.as_array().unwrap().len(), 2, "{list}");
    assert!(
        outputs
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["name"] == "play" && o["enabled"] == false),
        "{list}"
    );
    drop(publisher);

    // Export, import into an empty appliance, export again: the same configuration.
    let fresh = Relevo::start("api-flows-import", "", "");
    let (st, e) = fresh.api(
        "POST",
        "/api/v1/config/import",
        Some(&json!({"format": "relevo-config", "version": 1})),
    );
    assert_eq!(st, 422, "an incomplete document is refused: {e}");
    let (st, e) = fresh.api("POST", "/api/v1/config/import", Some(&export));
    assert_eq!(st, 204, "{e}");
    let (_, again) = fresh.api("GET", "/api/v1/config/export", None);
    assert_eq!(strip_times(again), strip_times(export.clone()));
    let (st, e) = fresh.api("POST", "/api/v1/config/import", Some(&export));
    assert_eq!(
        (st, e["error"]["code"].as_str()),
        (409, Some("not_empty")),
        "{e}"
    );
    let (st, _) = fresh.api("POST", "/api/v1/config/import?mode=replace", Some(&export));
    assert_eq!(st, 204);
}

/// A record output (issue #15) through the API and the configuration file: created, read
/// back, its file duration changed, disabled and deleted like any output, every change
/// audited with the record fields; malformed bodies are refused naming the field and change
/// nothing. No stream is published: the recorder itself is tested elsewhere.
#[test]
fn record_outputs_through_the_api_and_the_file() {
    let file_flows = format!(
        "{}\n  [[input.output]]\n  name = \"archive\"\n  record = \"ts\"\n  segment_s = 900\n  keep_gib = 20\n  keep_files = 48\n",
        input_toml("declared", "declared-key")
    );
    // The file's record fields obey the same rules: `relevo config check` names the field.
    let dir = TempDir::new("api-record-check");
    let bad = dir.path("bad.toml");
    std::fs::write(
        &bad,
        format!(
            "[listen]\nhttp = \"127.0.0.1:8080\"\n{}",
            file_flows.replace("segment_s = 900", "segment_s = 5")
        ),
    )
    .unwrap();
    let check = std::process::Command::new(env!("CARGO_BIN_EXE_relevo"))
        .args(["config", "check"])
        .arg(&bad)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&check.stderr);
    assert!(!check.status.success(), "segment_s = 5 was accepted");
    assert!(stderr.contains("output[0] (archive).segment_s"), "{stderr}");

    let relevo = Relevo::start("api-record", "", &file_flows);
    let (st, cam) = relevo.api(
        "POST",
        "/api/v1/inputs",
        Some(&json!({"name": "cam", "key": "cam-key"})),
    );
    assert_eq!(st, 201, "{cam}");
    let outputs_url = format!("/api/v1/inputs/{}/outputs", cam["id"]);
    let (st, rec) = relevo.api(
        "POST",
        &outputs_url,
        Some(&json!({"name": "grabación", "record": "mp4", "keep_days": 7, "keep_files": 24})),
    );
    assert_eq!(st, 201, "{rec}");
    let url = format!("/api/v1/outputs/{}", rec["id"]);

    // Read back: the default file duration is written out, nothing of push or pull.
    let (st, got) = relevo.api("GET", &url, None);
    assert_eq!(st, 200, "{got}");
    for (field, value) in [
        ("record", json!("mp4")),
        ("segment_s", json!(3600)),
        ("keep_days", json!(7)),
        ("keep_files", json!(24)),
        ("enabled", json!(true)),
    ] {
        assert_eq!(got[field], value, "{field}: {got}");
    }
    for absent in ["keep_gib", "push", "pull", "key", "latency_ms"] {
        assert!(got.get(absent).is_none(), "{absent}: {got}");
    }
    // The declared recording is listed as the configuration's, with its fields.
    let (_, list) = relevo.api("GET", "/api/v1/inputs", None);
    let declared = &list["inputs"][0];
    assert_eq!(declared["origin"], "config", "{list}");
    assert_eq!(
        (
            &declared["outputs"][0]["record"],
            &declared["outputs"][0]["segment_s"],
            &declared["outputs"][0]["keep_gib"],
            &declared["outputs"][0]["keep_files"]
        ),
        (&json!("ts"), &json!(900), &json!(20), &json!(48)),
        "{list}"
    );

    // Change its file duration (and drop the day and file limits), then disable it.
    let (st, changed) = relevo.api(
        "PUT",
        &url,
        Some(&json!({"name": "grabación", "record": "mp4", "segment_s": 600})),
    );
    assert_eq!(st, 200, "{changed}");
    assert_eq!(
        (
            &changed["segment_s"],
            changed.get("keep_days"),
            changed.get("keep_files")
        ),
        (&json!(600), None, None)
    );
    let (st, stopped) = relevo.api("POST", &format!("{url}/stop"), None);
    assert_eq!(
        (st, &stopped["enabled"], &stopped["segment_s"]),
        (200, &json!(false), &json!(600)),
        "{stopped}"
    );

    // Malformed bodies: 422 naming the field, on create and on update; nothing changes.
    let bad_bodies = [
        (json!({"name": "r2", "record": "avi"}), "record"),
        (
            json!({"name": "r2", "record": "mp4", "segment_s": 5}),
            "segment_s",
        ),
        (
            json!({"name": "r2", "record": "mp4", "segment_s": 90000}),
            "segment_s",
        ),
        (
            json!({"name": "r2", "record": "ts", "keep_gib": 0}),
            "keep_gib",
        ),
        (
            json!({"name": "r2", "record": "mp4", "keep_files": 0}),
            "keep_files",
        ),
        (
            json!({"name": "r2", "pull": "rtmp", "key": "k2", "keep_files": 5}),
            "keep_files",
        ),
        (
            json!({"name": "r2", "record": "mp4", "push": "rtmp://127.0.0.1/live/x"}),
            "push",
        ),
        (
            json!({"name": "r2", "record": "mp4", "pull": "srt", "key": "k2"}),
            "pull",
        ),
        (
            json!({"name": "r2", "record": "ts", "latency_ms": 200}),
            "latency_ms",
        ),
        (
            json!({"name": "r2", "pull": "rtmp", "key": "k2", "segment_s": 60}),
            "segment_s",
        ),
        (
            json!({"name": "r2", "record": "mp4", "keep_hours": 3}),
            "keep_hours",
        ),
    ];
    let (_, audit_before) = relevo.api("GET", "/api/v1/audit?target_kind=output", None);
    for (body, field) in &bad_bodies {
        for (method, at) in [("POST", outputs_url.as_str()), ("PUT", url.as_str())] {
            let (st, e) = relevo.api(method, at, Some(body));
            assert_eq!(
                (st, e["error"]["field"].as_str()),
                (422, Some(*field)),
                "{method} {body}: {e}"
            );
        }
    }
    let (_, still) = relevo.api("GET", &url, None);
    assert_eq!(still, stopped, "updated_at included");
    let (_, audit_after) = relevo.api("GET", "/api/v1/audit?target_kind=output", None);
    assert_eq!(
        audit_after, audit_before,
        "a refused body wrote an audit row"
    );
    let (_, list) = relevo.api("GET", "/api/v1/inputs", None);
    assert_eq!(list["inputs"][1]["outputs"].as_array().unwrap().len(), 1);

    // Every change is audited with the record fields; then delete it.
    let text = audit_after.to_string();
    for needle in [
        "output.create",
        "output.update",
        "\"record_format\":\"mp4\"",
        "\"segment_s\":600",
        "\"keep_files\":24",
    ] {
        assert!(text.contains(needle), "{needle} missing: {text}");
    }
    let (st, _) = relevo.api("DELETE", &url, None);
    assert_eq!(st, 204);
    let (st, _) = relevo.api("GET", &url, None);
    assert_eq!(st, 404);
    let (_, audit) = relevo.api("GET", "/api/v1/audit?target_kind=output&limit=1", None);
    assert_eq!(audit["entries"][0]["action"], "output.delete", "{audit}");
    assert_eq!(audit["entries"][0]["before"]["segment_s"], 600, "{audit}");
}

/// Issue #18 through the API and the file: an input's backup (a second key) and own SRT port
/// are written and read back in the file's shape; every wrong value is refused naming its
/// field (`backup.failover_ms`, `srt_port`…), a taken key or port too, the declared flow's
/// included; the manual switch answers 404 / 409 `no_backup` / 409 `feed_not_live` / 4xx
/// for a bad body and audits nothing it did not do; `"backup": null` removes the backup and
/// frees its key.
#[test]
fn backups_and_own_srt_ports_through_the_api_and_the_file() {
    let (own, declared_port) = (free_udp_port(), free_udp_port());
    let file_flows = format!(
        "{}passphrase = \"declared-passphrase\"\nsrt_port = {declared_port}\n\n  [input.backup]\n  key = \"declared-backup\"\n  revert_s = 0\n",
        input_toml("declared", "declared-key")
    );
    // The file's backup obeys the same rules: `relevo config check` names the field.
    let dir = TempDir::new("api-backup-check");
    let bad = dir.path("bad.toml");
    std::fs::write(
        &bad,
        format!(
            "[listen]\nhttp = \"127.0.0.1:8080\"\n{}failover_ms = 100\n",
            file_flows
        ),
    )
    .unwrap();
    let check = std::process::Command::new(env!("CARGO_BIN_EXE_relevo"))
        .args(["config", "check"])
        .arg(&bad)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&check.stderr);
    assert!(!check.status.success(), "failover_ms = 100 was accepted");
    assert!(stderr.contains("(declared).backup.failover_ms"), "{stderr}");
    // An own port that is the shared SRT listener's could never be bound.
    std::fs::write(
        &bad,
        format!("[listen]\nhttp = \"127.0.0.1:8080\"\nsrt = \"127.0.0.1:{declared_port}\"\n{file_flows}"),
    )
    .unwrap();
    let check = std::process::Command::new(env!("CARGO_BIN_EXE_relevo"))
        .args(["config", "check"])
        .arg(&bad)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&check.stderr);
    assert!(!check.status.success(), "the shared SRT port was accepted");
    assert!(stderr.contains("(declared).srt_port"), "{stderr}");

    let relevo = Relevo::start("api-backup", "", &file_flows);
    let (st, cam) = relevo.api(
        "POST",
        "/api/v1/inputs",
        Some(
            &json!({"name": "cam", "key": "cam-key", "passphrase": "cam-passphrase-1",
                     "srt_port": own, "backup": {"key": "cam-backup"}}),
        ),
    );
    assert_eq!(st, 201, "{cam}");
    assert_eq!(cam["srt_port"], own, "{cam}");
    assert_eq!(
        cam["backup"],
        json!({"key": "cam-backup", "failover_ms": 2000, "revert_s": 10}),
        "{cam}"
    );
    let cam_url = format!("/api/v1/inputs/{}", cam["id"]);
    let (st, plain) = relevo.api(
        "POST",
        "/api/v1/inputs",
        Some(&json!({"name": "plain", "key": "plain-key"})),
    );
    assert_eq!(st, 201, "{plain}");
    let (_, list) = relevo.api("GET", "/api/v1/inputs", None);
    assert_eq!(
        (&list["inputs"][0]["srt_port"], &list["inputs"][0]["backup"]),
        (
            &json!(declared_port),
            &json!({"key": "declared-backup", "failover_ms": 2000, "revert_s": 0})
        ),
        "{list}"
    );

    let with = |extra: Value| {
        let mut body = json!({"name": "x", "key": "x-key"});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    let secured = |port: Value| with(json!({"passphrase": "x-passphrase-1", "srt_port": port}));
    let bad_bodies = [
        (
            with(json!({"backup": {"key": "b", "failover_ms": 100}})),
            422,
            "backup.failover_ms",
        ),
        (
            with(json!({"backup": {"key": "b", "revert_s": 601}})),
            422,
            "backup.revert_s",
        ),
        (with(json!({"backup": {}})), 422, "backup.key"),
        (
            with(json!({"backup": {"key": "b", "passphrase": "b-passphrase-1"}})),
            422,
            "backup.passphrase",
        ),
        (
            json!({"name": "x", "pull": "srt://203.0.113.9:9000", "backup": {"key": "b"}}),
            422,
            "backup.key",
        ),
        (
            with(json!({"backup": {"pull": "srt://127.0.0.1:9000", "latency_ms": 5}})),
            422,
            "backup.latency_ms",
        ),
        (with(json!({"srt_port": 9001})), 422, "srt_port"),
        (secured(json!(80)), 422, "srt_port"),
        (secured(json!(relevo.srt)), 422, "srt_port"),
        (secured(json!(declared_port)), 422, "srt_port"),
        (secured(json!(own)), 409, "srt_port"),
        (
            with(json!({"backup": {"key": "cam-key"}})),
            409,
            "backup.key",
        ),
        (with(json!({"backup": {"key": "x-key"}})), 422, "backup.key"),
        (
            with(json!({"backup": {"key": "declared-backup"}})),
            422,
            "backup.key",
        ),
        (json!({"name": "x", "key": "cam-backup"}), 409, "key"),
        (json!({"name": "x", "key": "declared-backup"}), 422, "key"),
    ];
    for (body, status, field) in &bad_bodies {
        let (st, e) = relevo.api("POST", "/api/v1/inputs", Some(body));
        assert_eq!(
            (st, e["error"]["field"].as_str()),
            (*status, Some(*field)),
            "{body}: {e}"
        );
    }
    let (_, list) = relevo.api("GET", "/api/v1/inputs", None);
    assert_eq!(list["inputs"].as_array().unwrap().len(), 3, "{list}");

    // The manual switch: refused while nothing is live, and never audited when refused.
    let switch = |url: &str, body: &str| {
        let (st, text) = http_request(
            relevo.http,
            "POST",
            &format!("{url}/switch"),
            Some(relevo.token()),
            Some(&serde_json::from_str::<Value>(body).unwrap_or(Value::String(body.into()))),
        );
        (
            st,
            serde_json::from_str::<Value>(&text).unwrap_or(Value::Null),
        )
    };
    let plain_url = format!("/api/v1/inputs/{}", plain["id"]);
    for (url, body, status, code) in [
        (
            cam_url.as_str(),
            r#"{"feed": "backup"}"#,
            409,
            "feed_not_live",
        ),
        (
            cam_url.as_str(),
            r#"{"feed": "main"}"#,
            409,
            "feed_not_live",
        ),
        (
            plain_url.as_str(),
            r#"{"feed": "backup"}"#,
            409,
            "no_backup",
        ),
        (
            "/api/v1/inputs/999999",
            r#"{"feed": "backup"}"#,
            404,
            "not_found",
        ),
        (
            cam_url.as_str(),
            r#"{"feed": "spare"}"#,
            422,
            "invalid_body",
        ),
        (cam_url.as_str(), r#"{}"#, 422, "invalid_body"),
        (
            cam_url.as_str(),
            r#"{"feed": "main", "now": true}"#,
            422,
            "invalid_body",
        ),
    ] {
        let (st, e) = switch(url, body);
        assert_eq!(
            (st, e["error"]["code"].as_str()),
            (status, Some(code)),
            "{url} {body}: {e}"
        );
    }
    // By name: an input of the configuration file (no id) is reached too.
    for (url, status, code) in [
        ("/api/v1/feeds/declared", 409, "feed_not_live"),
        ("/api/v1/feeds/no%20such%20input", 404, "not_found"),
    ] {
        let (st, text) = http_request(
            relevo.http,
            "POST",
            url,
            Some(relevo.token()),
            Some(&json!({"feed": "backup"})),
        );
        let e = serde_json::from_str::<Value>(&text).unwrap_or(Value::Null);
        assert_eq!(
            (st, e["error"]["code"].as_str()),
            (status, Some(code)),
            "{url}: {e}"
        );
    }
    let (_, audit) = relevo.api("GET", "/api/v1/audit?action=input.switch", None);
    assert_eq!(audit["entries"], json!([]), "{audit}");

    // Both feeds live (two real encoders): a switch by hand goes through, the events
    // socket says so with a `feed` message, and the audit log has it.
    let _main = publish(
        "main",
        600,
        "flv",
        &relevo.rtmp_url("cam-key"),
        &relevo.dir.path("main.log"),
    );
    let _backup = publish(
        "backup",
        600,
        "flv",
        &relevo.rtmp_url("cam-backup"),
        &relevo.dir.path("backup.log"),
    );
    ws_until(&relevo, "cam's main on air and its backup live", |s| {
        input(s, "cam")["on_air"] == "main" && input(s, "cam")["backup"]["live"] == true
    });
    let mut events = events_socket(&relevo);
    let (st, switched) = switch(&cam_url, r#"{"feed": "backup"}"#);
    assert_eq!((st, &switched), (200, &json!({"feed": "backup"})));
    let feed = next_message(&mut events, "feed");
    assert_eq!(
        (&feed["input"], &feed["from"], &feed["to"], &feed["reason"]),
        (
            &json!("cam"),
            &json!("main"),
            &json!("backup"),
            &json!("manual")
        ),
        "{feed}"
    );
    let (_, audit) = relevo.api("GET", "/api/v1/audit?action=input.switch", None);
    let entry = &audit["entries"][0];
    assert_eq!(
        (&entry["target_name"], &entry["before"], &entry["after"]),
        (
            &json!("cam"),
            &json!({"feed": "main"}),
            &json!({"feed": "backup"})
        ),
        "{audit}"
    );
    // Back by name (`/api/v1/feeds/{input}`): the same switch, audited with the input's id.
    let (st, text) = http_request(
        relevo.http,
        "POST",
        "/api/v1/feeds/cam",
        Some(relevo.token()),
        Some(&json!({"feed": "main"})),
    );
    assert_eq!((st, text.as_str()), (200, r#"{"feed":"main"}"#));
    let feed = next_message(&mut events, "feed");
    assert_eq!(
        (&feed["to"], &feed["reason"]),
        (&json!("main"), &json!("manual"))
    );
    let (_, audit) = relevo.api("GET", "/api/v1/audit?action=input.switch", None);
    assert_eq!(audit["entries"][0]["target_id"], cam["id"], "{audit}");
    drop((_main, _backup));

    // `"backup": null` removes it (and the own port goes with its absence); its key is free.
    let (st, changed) = relevo.api(
        "PUT",
        &cam_url,
        Some(&json!({"name": "cam", "key": "cam-key", "backup": null})),
    );
    assert_eq!(st, 200, "{changed}");
    assert_eq!(
        (changed.get("backup"), changed.get("srt_port")),
        (None, None),
        "{changed}"
    );
    let (st, reused) = relevo.api(
        "POST",
        "/api/v1/inputs",
        Some(
            &json!({"name": "reuse", "key": "cam-backup", "passphrase": "reuse-passphrase",
                     "srt_port": own}),
        ),
    );
    assert_eq!(st, 201, "{reused}");
    // Every change is audited with the backup fields, the key masked.
    let (_, audit) = relevo.api("GET", "/api/v1/audit?target_kind=input&limit=50", None);
    let text = audit.to_string();
    assert!(text.contains("\"backup_key\":\"***\""), "{text}");
    assert!(!text.contains("cam-backup"), "{text}");
}
