//! Push outputs and pull inputs to loopback, private and link-local addresses (part of
//! finding 17 of issue #14: a técnico could probe the internal network through
//! `last_error`). With the admin setting `allow_private_destinations` off, the API refuses
//! them with 422 naming the field (before any connection: `10.0.0.1` is never dialled), the
//! engine refuses them at connect time when the setting is turned off later, and a flow of
//! the configuration file still reaches 127.0.0.1.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};

const LIMIT: Duration = Duration::from_secs(60);

fn allow(relevo: &Relevo, allowed: bool) {
    let (st, v) = relevo.api(
        "PATCH",
        "/api/v1/settings",
        Some(&json!({"allow_private_destinations": allowed})),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["allow_private_destinations"], allowed, "{v}");
}

fn create_output(relevo: &Relevo, input: i64, name: &str, push: &str) -> (u16, Value) {
    relevo.api(
        "POST",
        &format!("/api/v1/inputs/{input}/outputs"),
        Some(&json!({"name": name, "push": push})),
    )
}

#[test]
fn private_destinations_need_the_admin() {
    let cfg_sink = free_tcp_port();
    let flows = input_toml("cfg", "cfg-key") + &push_toml("local", &rtmp_sink_url(cfg_sink));
    let relevo = Relevo::start("http-private", "", &flows);
    let dir = &relevo.dir;

    // The harness allows them; an admin turns it off (the default of a fresh appliance).
    allow(&relevo, false);
    let (st, v) = relevo.api("GET", "/api/v1/settings", None);
    assert_eq!((st, &v["allow_private_destinations"]), (200, &json!(false)));

    let (st, input) = relevo.api(
        "POST",
        "/api/v1/inputs",
        Some(&json!({"name": "api", "key": "api-key"})),
    );
    assert_eq!(st, 201, "{input}");
    let input_id = input["id"].as_i64().unwrap();
    for (i, push) in [
        "rtmp://127.0.0.1:1935/live/x".to_owned(),
        "srt://10.0.0.1:9000".to_owned(),
        "rtmp://169.254.169.254/live/x".to_owned(),
        "rtmp://[::1]:1935/live/x".to_owned(),
        "srt://192.168.1.20:9000".to_owned(),
        "rtmps://100.64.0.1/live/x".to_owned(),
        // A host name is resolved and checked the same way.
        "rtmp://localhost:1935/live/x".to_owned(),
    ]
    .iter()
    .enumerate()
    {
        let (st, e) = create_output(&relevo, input_id, &format!("o{i}"), push);
        assert_eq!(st, 422, "{push}: {e}");
        assert_eq!(e["error"]["code"], "private_destination", "{push}: {e}");
        assert_eq!(e["error"]["field"], "push", "{push}: {e}");
    }
    for pull in ["srt://127.0.0.1:9000", "rtmp://10.1.2.3/live/x"] {
        let (st, e) = relevo.api(
            "POST",
            "/api/v1/inputs",
            Some(&json!({"name": "pulled", "pull": pull})),
        );
        assert_eq!(st, 422, "{pull}: {e}");
        assert_eq!(e["error"]["field"], "pull", "{pull}: {e}");
        // A backup's pull source likewise (issue #18).
        let (st, e) = relevo.api(
            "POST",
            "/api/v1/inputs",
            Some(&json!({"name": "pulled", "key": "pulled-key", "backup": {"pull": pull}})),
        );
        assert_eq!(st, 422, "backup {pull}: {e}");
        assert_eq!(e["error"]["code"], "private_destination", "{pull}: {e}");
        assert_eq!(e["error"]["field"], "backup.pull", "backup {pull}: {e}");
    }
    // Nothing was written.
    let (_, inputs) = relevo.api("GET", "/api/v1/inputs", None);
    let api_input = inputs["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "api")
        .unwrap();
    assert_eq!(api_input["outputs"], json!([]), "{inputs}");
    assert!(!inputs.to_string().contains("pulled"), "{inputs}");

    // Allowed, the same output is saved; turned off again, the engine refuses to connect.
    allow(&relevo, true);
    let api_sink = free_tcp_port();
    let (st, out) = create_output(&relevo, input_id, "api-out", &rtmp_sink_url(api_sink));
    assert_eq!(st, 201, "{out}");
    allow(&relevo, false);
    let _api_pub = publish(
        "ffmpeg-api",
        60,
        "flv",
        &relevo.rtmp_url("api-key"),
        &dir.path("pub-api.log"),
    );
    wait_until(
        "the engine to refuse the private destination",
        LIMIT,
        || {
            relevo.output_status("api", "api-out")["last_error"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("refused: ") && m.contains("private"))
        },
    );

    // The configuration file's flow to 127.0.0.1 is the admin's own: it works.
    let out = dir.path("cfg-sink.flv");
    let _sink = rtmp_listener_sink(cfg_sink, &out, &dir.path("sink.log"));
    let _cfg_pub = publish(
        "ffmpeg-cfg",
        60,
        "flv",
        &relevo.rtmp_url("cfg-key"),
        &dir.path("pub-cfg.log"),
    );
    wait_until("the configuration file's output to go live", LIMIT, || {
        relevo.output_status("cfg", "local")["state"] == "live"
    });
    wait_until("the sink to receive the stream", LIMIT, || {
        file_len(&out) > 10_000
    });
}
