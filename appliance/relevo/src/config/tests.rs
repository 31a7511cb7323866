use std::path::Path;

use relevo_engine::spec::{self, InputSource, OutputKind};

use super::*;

fn check(text: &str) -> Result<Config, String> {
    parse(Path::new("relevo.toml"), text).map_err(|e| e.to_string())
}

fn err(text: &str) -> String {
    match check(text) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e,
    }
}

const FULL: &str = r##"
[listen]
srt = "0.0.0.0:8890"
rtmp = "0.0.0.0:1935"

[[input]]
name = "Estudio A"
key = "estudio-a-7f3c"
passphrase = "una-frase-larga"
key_length = 32
latency_ms = 200

  [[input.output]]
  name = "YouTube"
  push = "rtmp://a.rtmp.youtube.com/live2/abcd-efgh"

  [[input.output]]
  name = "Socio"
  push = "srt://decoder.example.net:9000"
  stream_id = "#!::r=feed1,m=publish"
  passphrase = "otra-frase-larga"
  latency_ms = 400

  [[input.output]]
  name = "Multiview"
  pull = "srt"
  key = "multiview-2b1d"

  [[input.output]]
  name = "Player"
  pull = "rtmp"
  key = "player-9e0a"

[[input]]
name = "Remoto"
pull = "srt://encoder.example.net:9001"
latency_ms = 800
"##;

#[test]
fn full_example_parses() {
    let cfg = check(FULL).expect("valid");
    assert_eq!(cfg.desired.inputs.len(), 2);
    let a = &cfg.desired.inputs[0];
    assert_eq!(a.outputs.len(), 4);
    match &a.source {
        InputSource::Listen {
            security, latency, ..
        } => {
            assert_eq!(latency.ms(), 200);
            assert_eq!(
                security.as_ref().map(|s| s.key_len),
                Some(spec::KeyLen::Aes256)
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        &cfg.desired.inputs[1].source,
        InputSource::PullSrt(c) if c.port == 9001 && c.latency.ms() == 800
    ));
    assert!(cfg.engine.rtmps.is_none());
}

#[test]
fn the_readme_example_is_valid() {
    let readme = include_str!("../../../../README.md");
    let start = readme.find("```toml").expect("README has a toml example") + 7;
    let end = start + readme[start..].find("```").expect("closed");
    check(&readme[start..end]).expect("README example must be valid");
}

#[test]
fn unknown_field_is_named_with_its_line() {
    let e = err("[[input]]\nname = \"a\"\nkey = \"k\"\nlatency = 200\n");
    assert!(e.contains("relevo.toml"), "{e}");
    assert!(e.contains("unknown field `latency`"), "{e}");
    assert!(e.contains("line 4"), "{e}");
}

#[test]
fn latency_out_of_range() {
    let e = err("[[input]]\nname = \"a\"\nkey = \"k\"\nlatency_ms = 50\n");
    assert_eq!(
        e,
        "relevo.toml: input[0] (a).latency_ms: 50 ms is outside the SRT latency range 80–1000 ms"
    );
    let e = err("[[input]]\nname = \"a\"\nkey = \"k\"\nlatency_ms = 1001\n");
    assert!(e.contains("1001 ms"), "{e}");
}

#[test]
fn passphrase_length() {
    let e = err("[[input]]\nname = \"a\"\nkey = \"k\"\npassphrase = \"short\"\n");
    assert!(e.contains("input[0] (a).passphrase"), "{e}");
    assert!(e.contains("10–79"), "{e}");
    let long = "x".repeat(80);
    let e = err(&format!(
        "[[input]]\nname = \"a\"\nkey = \"k\"\npassphrase = \"{long}\"\n"
    ));
    assert!(e.contains("has 80"), "{e}");
}

#[test]
fn key_length_values() {
    let e =
        err("[[input]]\nname = \"a\"\nkey = \"k\"\npassphrase = \"0123456789\"\nkey_length = 20\n");
    assert!(e.contains("key_length"), "{e}");
    let e = err("[[input]]\nname = \"a\"\nkey = \"k\"\nkey_length = 16\n");
    assert!(e.contains("no passphrase"), "{e}");
}

#[test]
fn duplicate_keys_and_names() {
    let e = err("[[input]]\nname = \"a\"\nkey = \"k\"\n[[input]]\nname = \"b\"\nkey = \"k\"\n");
    assert!(e.contains("stream key is used by both"), "{e}");
    let e = err(
        "[[input]]\nname = \"a\"\nkey = \"k\"\n[[input.output]]\nname = \"o\"\npull = \"rtmp\"\nkey = \"k\"\n",
    );
    assert!(e.contains("stream key is used by both"), "{e}");
    let e = err("[[input]]\nname = \"a\"\nkey = \"k1\"\n[[input]]\nname = \"a\"\nkey = \"k2\"\n");
    assert!(e.contains("input name \"a\" is used twice"), "{e}");
}

#[test]
fn bad_urls() {
    let base = "[[input]]\nname = \"a\"\nkey = \"k\"\n[[input.output]]\nname = \"o\"\n";
    for (url, why) in [
        ("http://x/live/k", "push"),
        ("srt://host", "port is missing"),
        ("srt://host:9000?latency=200", "as fields"),
        ("srt://host:99999", "1–65535"),
        ("rtmp://host", "push"),
    ] {
        let e = err(&format!("{base}push = \"{url}\"\n"));
        assert!(e.contains("input[0] (a).output[0] (o).push"), "{url}: {e}");
        assert!(e.contains(why), "{url}: {e}");
    }
}

#[test]
fn fields_that_would_be_ignored_are_refused() {
    let e = err(
        "[[input]]\nname = \"a\"\nkey = \"k\"\n[[input.output]]\nname = \"o\"\npush = \"rtmp://h/live/k\"\nlatency_ms = 200\n",
    );
    assert!(
        e.contains("output[0] (o).latency_ms: not used by an RTMP push output"),
        "{e}"
    );
    let e = err("[[input]]\nname = \"a\"\n");
    assert!(e.contains("input[0] (a).key: missing"), "{e}");
    let e = err("[[input]]\nname = \"a\"\nkey = \"k\"\n[[input.output]]\nname = \"o\"\npull = \"dash\"\nkey = \"x\"\n");
    assert!(e.contains("\"dash\" is not a protocol"), "{e}");
}

#[test]
fn grace_period() {
    let cfg = check("[[input]]\nname = \"a\"\nkey = \"k\"\ngrace_period_s = 0\n").expect("valid");
    assert!(cfg.desired.inputs[0].grace.duration().is_zero());
    let cfg = check("[[input]]\nname = \"a\"\nkey = \"k\"\n").expect("valid");
    assert_eq!(cfg.desired.inputs[0].grace.duration().as_secs(), 10);
    let e = err("[[input]]\nname = \"a\"\nkey = \"k\"\ngrace_period_s = 301\n");
    assert!(
        e.contains("input[0] (a).grace_period_s: 301 s is longer"),
        "{e}"
    );
}

#[test]
fn rtmps_without_tls_is_refused() {
    let e = err("[listen]\nrtmps = \"0.0.0.0:1936\"\n");
    assert!(e.contains("listen.rtmps"), "{e}");
}

#[test]
fn enhanced_rtmp_only_on_rtmp_push() {
    let base = "[[input]]\nname = \"a\"\nkey = \"k\"\n[[input.output]]\nname = \"o\"\n";
    let ok = check(&format!(
        "{base}push = \"rtmp://h/live/k\"\nenhanced_rtmp = true\n"
    ))
    .expect("valid");
    assert!(matches!(
        ok.desired.inputs[0].outputs[0].kind,
        OutputKind::PushRtmp { enhanced: true, .. }
    ));
    let e = err(&format!(
        "{base}push = \"srt://h:9000\"\nenhanced_rtmp = true\n"
    ));
    assert!(
        e.contains("output[0] (o).enhanced_rtmp: only for push RTMP(S) outputs"),
        "{e}"
    );
    let e = err(&format!(
        "{base}pull = \"rtmp\"\nkey = \"x\"\nenhanced_rtmp = true\n"
    ));
    assert!(e.contains("enhanced_rtmp"), "{e}");
}

#[test]
fn http_address_defaults_to_loopback_and_is_checked() {
    let cfg = check("").expect("valid");
    assert_eq!(cfg.http.to_string(), DEFAULT_HTTP);
    assert!(cfg.http.ip().is_loopback());
    let cfg = check("[listen]\nhttp = \"0.0.0.0:9100\"\n").expect("valid");
    assert_eq!(cfg.http.to_string(), "0.0.0.0:9100");
    let e = err("[listen]\nhttp = \"localhost\"\n");
    assert!(e.contains("listen.http"), "{e}");
}

#[test]
fn rtmp_limits_default_and_are_checked() {
    let cfg = check("").expect("valid");
    assert_eq!(cfg.engine.rtmp_limits, RtmpLimits::default());
    let cfg = check(
        "[rtmp]\nmax_connections = 100\nmax_unauthenticated = 40\n\
         max_unauthenticated_per_address = 4\nsetup_timeout_s = 3\n\
         max_unauthenticated_buffer_mib = 2\n",
    )
    .expect("valid");
    let l = &cfg.engine.rtmp_limits;
    assert_eq!(
        (l.max_connections, l.max_unauthenticated, l.max_per_address),
        (100, 40, 4)
    );
    assert_eq!(l.setup_timeout, std::time::Duration::from_secs(3));
    assert_eq!(l.max_unauthenticated_bytes, 2 << 20);
    // A lower total lowers the defaults under it.
    let cfg = check("[rtmp]\nmax_connections = 10\n").expect("valid");
    let l = &cfg.engine.rtmp_limits;
    assert_eq!((l.max_unauthenticated, l.max_per_address), (9, 9));
    for (bad, field) in [
        ("max_connections = 0", "rtmp.max_connections"),
        (
            "max_connections = 10\nmax_unauthenticated = 10",
            "rtmp.max_unauthenticated",
        ),
        (
            "max_unauthenticated = 8\nmax_unauthenticated_per_address = 9",
            "per_address",
        ),
        ("setup_timeout_s = 0", "rtmp.setup_timeout_s"),
        ("max_unauthenticated_buffer_mib = 0", "buffer_mib"),
        ("per_address = 3", "per_address"),
    ] {
        let e = err(&format!("[rtmp]\n{bad}\n"));
        assert!(e.contains(field), "{bad}: {e}");
    }
}

#[test]
fn http_section_sets_proxies_and_limits() {
    let c = check(
        "[http]\ntrusted_proxies = [\"127.0.0.1\", \"::1\"]\nheader_read_timeout_s = 5\n\
         idle_timeout_s = 30\nmax_connections = 200\nmax_connections_per_address = 20\n",
    )
    .expect("valid");
    let e = &c.api.edge;
    assert!(e.trusts("127.0.0.1".parse().expect("ip")));
    assert!(e.trusts("::ffff:127.0.0.1".parse().expect("ip")));
    assert!(!e.trusts("127.0.0.2".parse().expect("ip")));
    assert_eq!(e.header_read_timeout, std::time::Duration::from_secs(5));
    assert_eq!(e.idle_timeout, std::time::Duration::from_secs(30));
    assert_eq!(
        (e.max_connections, e.max_connections_per_address),
        (200, 20)
    );
    // None trusted by default: forwarded headers are text anyone can send.
    assert!(check("")
        .expect("valid")
        .api
        .edge
        .trusted_proxies
        .is_empty());
    assert!(err("[http]\ntrusted_proxies = [\"nginx\"]\n").contains("http.trusted_proxies[0]"));
    assert!(err("[http]\nheader_read_timeout_s = 0\n").contains("http.header_read_timeout_s"));
    assert!(err("[http]\nmax_connections = 0\n").contains("http.max_connections"));
}

#[test]
fn failed_sign_in_retention_is_read_and_bounded() {
    let default = check("").expect("valid");
    assert_eq!(
        default.api.failed_sign_in_retention,
        time::Duration::days(90)
    );
    let cfg = check("[api]\nfailed_sign_in_retention_days = 30\n").expect("valid");
    assert_eq!(cfg.api.failed_sign_in_retention, time::Duration::days(30));
    for bad in ["0", "3651"] {
        let e = err(&format!("[api]\nfailed_sign_in_retention_days = {bad}\n"));
        assert!(e.contains("api.failed_sign_in_retention_days"), "{e}");
    }
}

#[test]
fn history_retention_is_read_and_bounded() {
    let default = check("").expect("valid");
    assert_eq!(default.api.history.retention, time::Duration::days(30));
    let cfg = check("[history]\nretention_days = 400\n").expect("valid");
    assert_eq!(cfg.api.history.retention, time::Duration::days(400));
    for bad in ["0", "3651"] {
        let e = err(&format!("[history]\nretention_days = {bad}\n"));
        assert!(e.contains("history.retention_days"), "{e}");
    }
    // Refused by the TOML reader, which shows the line.
    assert!(err("[history]\nretention_days = -1\n").contains("retention_days = -1"));
    assert!(err("[history]\nretention = 3\n").contains("retention"));
}

#[test]
fn alerts_section_sets_attempts_and_watched_certificates() {
    let default = check("").expect("valid");
    assert_eq!(default.api.alerts.delivery_attempts, 6);
    assert!(default.api.alerts.certificates.is_empty());
    let cfg = check(
        "[tls]\ncertificate = \"/etc/relevo/cert.pem\"\nkey = \"/etc/relevo/key.pem\"\n\
         [alerts]\ndelivery_attempts = 2\ncertificates = [\"/var/lib/acme/panel/cert.pem\"]\n",
    )
    .expect("valid");
    assert_eq!(cfg.api.alerts.delivery_attempts, 2);
    assert_eq!(
        cfg.api.alerts.certificates,
        [
            Path::new("/etc/relevo/cert.pem"),
            Path::new("/var/lib/acme/panel/cert.pem")
        ]
    );
    for bad in ["0", "21"] {
        let e = err(&format!("[alerts]\ndelivery_attempts = {bad}\n"));
        assert!(e.contains("alerts.delivery_attempts"), "{e}");
    }
}

#[test]
fn recording_section_sets_dir_and_floor() {
    use relevo_engine::record::disk::DiskFloor;
    if std::env::var_os("RELEVO_STATE_DIR").is_none() {
        let cfg = check("[database]\nstate_dir = \"/srv/relevo\"\n").expect("valid");
        let r = &cfg.engine.recording;
        assert_eq!(r.dir, Path::new("/srv/relevo/recordings"));
        assert_eq!(r.floor, DiskFloor::default());
        assert_eq!((r.floor.percent, r.floor.gib), (5, 2));
    }
    let cfg = check("[recording]\ndir = \"/mnt/grab\"\nmin_free_percent = 10\nmin_free_gib = 0\n")
        .expect("valid");
    let r = &cfg.engine.recording;
    assert_eq!(r.dir, Path::new("/mnt/grab"));
    assert_eq!((r.floor.percent, r.floor.gib), (10, 0));
    for (bad, field) in [
        ("min_free_percent = 101", "recording.min_free_percent"),
        ("min_free_gib = 1000001", "recording.min_free_gib"),
        ("dir = \"\"", "recording.dir"),
        ("size = 3", "size"),
    ] {
        let e = err(&format!("[recording]\n{bad}\n"));
        assert!(e.contains(field), "{bad}: {e}");
    }
}

#[test]
fn hls_section_sets_origins_and_timing() {
    use relevo_control::api::hls::AllowedOrigins;
    use std::time::Duration;
    let cfg = check("").expect("valid");
    assert_eq!(cfg.api.hls.allowed_origins, AllowedOrigins::Any);
    let cfg = check(
        "[hls]\nallowed_origins = [\"https://Example.com\", \"http://10.0.0.1:8080\"]\n\
         segment_ms = 4000\npart_ms = 500\nwindow = 10\n",
    )
    .expect("valid");
    assert_eq!(
        cfg.api.hls.allowed_origins,
        AllowedOrigins::List(vec![
            "https://example.com".into(),
            "http://10.0.0.1:8080".into()
        ])
    );
    let h = &cfg.engine.hls;
    assert_eq!(
        (h.segment, h.part, h.window),
        (Duration::from_secs(4), Duration::from_millis(500), 10)
    );
    let d = check("").expect("valid").engine.hls;
    assert_eq!(
        (d.segment, d.part, d.window),
        (Duration::from_secs(2), Duration::from_millis(333), 6)
    );
    let cfg = check("[hls]\nallowed_origins = [\"https://a.es\", \"*\"]\n").expect("valid");
    assert_eq!(cfg.api.hls.allowed_origins, AllowedOrigins::Any);
    for (bad, field) in [
        (
            "allowed_origins = [\"example.com\"]",
            "hls.allowed_origins[0]",
        ),
        (
            "allowed_origins = [\"*\", \"https://a.es/path\"]",
            "hls.allowed_origins",
        ),
        ("segment_ms = 999", "hls.segment_ms"),
        ("segment_ms = 10001", "hls.segment_ms"),
        ("part_ms = 99", "hls.part_ms"),
        ("part_ms = 1001", "hls.part_ms"),
        ("segment_ms = 1000\npart_ms = 1000", "hls.part_ms"),
        ("window = 2", "hls.window"),
        ("window = 31", "hls.window"),
        ("idle_s = 3", "idle_s"),
    ] {
        let e = err(&format!("[hls]\n{bad}\n"));
        assert!(e.contains(field), "{bad}: {e}");
    }
}
