//! SIGTERM closes connections cleanly; a restarted Relevo brings every configured flow back
//! by itself (here: a pull input from nginx-rtmp feeding an SRT push output).
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;

#[test]
fn flows_come_back_after_a_restart() {
    let dir = TempDir::new("restart");
    let nginx_port = free_tcp_port();
    let _nginx = nginx_rtmp(&dir, nginx_port);
    let source = publish(
        "source",
        120,
        "flv",
        &format!("rtmp://127.0.0.1:{nginx_port}/live/feed"),
        &dir.path("source.log"),
    );
    let srt_dest = free_udp_port();
    // srt-live-transmit listens again after each disconnection (its default).
    let _sink = srt_listener_sink(srt_dest, "", &dir.path("out.ts"), &dir.path("out.log"));
    let flows = format!(
        "[[input]]\nname = \"origin\"\npull = \"rtmp://127.0.0.1:{nginx_port}/live/feed\"\n{}",
        push_toml("push", &srt_sink_url(srt_dest))
    );

    let mut first = Relevo::start("restart-a", "", &flows);
    wait_until("the flow to deliver", Duration::from_secs(30), || {
        file_len(&dir.path("out.ts")) > 100_000
    });
    let asked = Instant::now();
    let st = first.stop();
    assert!(st.success(), "relevo did not exit cleanly on SIGTERM: {st}");
    println!("SIGTERM to exit: {:?}", asked.elapsed());

    let before = file_len(&dir.path("out.ts"));
    let second = Relevo::start("restart-b", "", &flows);
    wait_until("the flow to come back", Duration::from_secs(40), || {
        file_len(&dir.path("out.ts")) > before + 100_000
    });
    assert!(second.log_text().contains("input configured"));
    drop(source);
}

/// A Relevo killed outright (SIGKILL, the OOM killer) cannot stop its embedded PostgreSQL;
/// the next start finds that server orphaned, stops it and starts normally, with the data.
/// A second Relevo on a state directory in use is refused with a clear error instead.
#[test]
fn a_killed_relevo_starts_again_and_a_second_one_is_refused() {
    let mut relevo = Relevo::start("killed", "", &input_toml("cam", "cam-key"));
    relevo.token();
    let (st, _) = relevo.api(
        "POST",
        "/api/v1/inputs",
        Some(&serde_json::json!({"name": "api-flow", "key": "api-key"})),
    );
    assert_eq!(st, 201);

    // Another Relevo on the same state directory while the first runs.
    let second = std::process::Command::new(env!("CARGO_BIN_EXE_relevo"))
        .args(["serve", "--config"])
        .arg(relevo.dir.path("relevo.toml"))
        .env_remove("JOURNAL_STREAM")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success());
    assert!(
        stderr.contains("is in use by another Relevo"),
        "refused with a clear error: {stderr}"
    );

    relevo.proc.child.kill().unwrap();
    relevo.proc.child.wait().unwrap();
    relevo.start_again();
    assert!(
        relevo.log_text().contains("did not exit cleanly"),
        "{}",
        relevo.log_text()
    );
    let (st, list) = relevo.api("GET", "/api/v1/inputs", None);
    assert_eq!(st, 200);
    let names: Vec<_> = list["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        names,
        ["cam", "api-flow"],
        "the file's flow and the API's, back"
    );
}
