//! The configuration file as the NixOS module writes it (`modules/relevo.nix`:
//! `pkgs.formats.toml` renders `services.relevo.settings` with sorted keys, `[[input]]` and
//! `[[input.output]]` tables, the module's `grace` copied into each input, `[recording]` from
//! its recording options; the database comes
//! from `RELEVO_DATABASE_URL`, not the file). The VM test `streams` runs the same flows
//! between VMs; this runs them on the host: the build-time `relevo config check` passes, the
//! flows start, show in the API as managed by the file, and carry real streams.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;

use common::*;

/// `vm-tests/streams.nix`'s flows as the module renders them (keys sorted, as remarshal does),
/// with `services.relevo.grace = 5`; the SRT push goes to a local listener here.
fn module_flows(srt_sink: u16) -> String {
    format!(
        r#"
[[input]]
grace_period_s = 5
key = "studio-srt-key"
key_length = 32
latency_ms = 200
name = "studio-srt"
passphrase = "relevo-test-passphrase"

[[input.output]]
latency_ms = 200
name = "to-receiver"
push = "srt://127.0.0.1:{srt_sink}"

[[input.output]]
key = "studio-srt-view"
name = "srt-as-rtmp"
pull = "rtmp"

[[input]]
grace_period_s = 5
key = "studio-rtmp-key"
name = "studio-rtmp"

[[input.output]]
key = "studio-rtmp-view"
name = "rtmp-view"
pull = "rtmp"
"#
    )
}

#[test]
fn the_modules_file_runs_the_vm_tests_flows() {
    let dir = TempDir::new("module-config");
    let srt_sink = free_udp_port();
    let flows = module_flows(srt_sink);

    // The module's build step: `relevo config check` on the generated file.
    let file = dir.path("generated.toml");
    // `[recording]` as the module renders its recording options (defaults; keys sorted).
    let recording = format!(
        "[recording]\ndir = \"{}\"\nmin_free_gib = 2\nmin_free_percent = 5\n",
        dir.path("recordings").display()
    );
    std::fs::write(&file, format!("[listen]\nsrt = \"127.0.0.1:8890\"\nrtmp = \"127.0.0.1:1935\"\nhttp = \"127.0.0.1:8080\"\n{recording}{flows}")).unwrap();
    let check = Command::new(env!("CARGO_BIN_EXE_relevo"))
        .args(["config", "check"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "config check refused the module's file: {}",
        String::from_utf8_lossy(&check.stderr)
    );

    let relevo = Relevo::start("module-config-run", "", &flows);
    let (st, list) = relevo.api("GET", "/api/v1/inputs", None);
    assert_eq!(st, 200);
    let inputs = list["inputs"].as_array().unwrap();
    assert_eq!(inputs.len(), 2, "{list}");
    for input in inputs {
        assert_eq!(input["origin"], "config", "{input}");
        assert_eq!(input["grace_period_s"], 5, "the module's grace: {input}");
    }

    let _sink = srt_listener_sink(srt_sink, "", &dir.path("push.ts"), &dir.path("sink.log"));
    let srt_view = dir.path("srt-as-rtmp.flv");
    let rtmp_view = dir.path("rtmp-view.flv");
    let _srt_pub = publish(
        "srt-publisher",
        12,
        "mpegts",
        &relevo.srt_url(
            "publish:studio-srt-key",
            "&passphrase=relevo-test-passphrase&pbkeylen=32&latency=200000",
        ),
        &dir.path("srt-pub.log"),
    );
    let _rtmp_pub = publish(
        "rtmp-publisher",
        12,
        "flv",
        &relevo.rtmp_url("studio-rtmp-key"),
        &dir.path("rtmp-pub.log"),
    );
    wait_until(
        "both inputs live",
        std::time::Duration::from_secs(30),
        || {
            let st = relevo.status();
            st["inputs"]
                .as_array()
                .is_some_and(|a| a.iter().filter(|i| i["state"] == "live").count() == 2)
        },
    );
    let a = relevo.record_rtmp("studio-srt-view", &srt_view);
    let b = relevo.record_rtmp("studio-rtmp-view", &rtmp_view);
    a.wait(std::time::Duration::from_secs(60));
    b.wait(std::time::Duration::from_secs(60));
    wait_files_stable(&[dir.path("push.ts")]);
    for (what, file) in [
        ("SRT input pulled as RTMP", &srt_view),
        ("RTMP input pulled as RTMP", &rtmp_view),
        ("SRT push output", &dir.path("push.ts")),
    ] {
        let p = probe(file);
        let frames = p.frames("h264");
        assert!(frames > 100, "{what}: {frames} H.264 frames of 300");
        assert_eq!(p.count("aac"), 1, "{what}: one AAC track");
    }
}
