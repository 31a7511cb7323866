use serde_json::json;

use super::*;

fn input(v: serde_json::Value) -> InputDoc {
    serde_json::from_value(v).expect("input document")
}

fn output(v: serde_json::Value) -> OutputDoc {
    serde_json::from_value(v).expect("output document")
}

/// Every source kind survives document → definition → document unchanged.
#[test]
fn inputs_round_trip() {
    for v in [
        json!({"name": "cam", "enabled": true, "key": "cam1", "latency_ms": 200}),
        json!({"name": "enc", "enabled": false, "key": "k", "passphrase": "0123456789ab",
               "key_length": 32, "latency_ms": 400, "grace_period_s": 30}),
        json!({"name": "far", "enabled": true, "pull": "srt://[::1]:9000", "stream_id": "#!::r=x",
               "passphrase": "0123456789ab", "key_length": 16, "latency_ms": 120}),
        json!({"name": "rtmp", "enabled": true, "pull": "rtmps://example.org/live/abc"}),
    ] {
        let doc = input(v.clone());
        let def = doc.to_def().expect("valid");
        assert_eq!(InputDoc::from_def(&def), doc, "{v}");
        assert_eq!(serde_json::to_value(&doc).expect("json"), v);
    }
}

#[test]
fn outputs_round_trip() {
    for v in [
        json!({"name": "yt", "enabled": true, "push": "rtmp://a.rtmp.youtube.com:1935/live2/xxxx"}),
        json!({"name": "h265", "enabled": true, "push": "rtmps://x.example:443/app/k", "enhanced_rtmp": true}),
        json!({"name": "tw", "enabled": true, "push": "rtmp://127.0.0.1:1935/app/k", "platform": "twitch"}),
        json!({"name": "yt-hevc", "enabled": true, "push": "rtmp://10.0.0.2:1935/live2/k",
               "enhanced_rtmp": true, "platform": "youtube"}),
        json!({"name": "partner", "enabled": true, "push": "srt://10.0.0.1:9000", "stream_id": "s",
               "passphrase": "0123456789ab", "key_length": 24, "latency_ms": 800}),
        json!({"name": "srt-read", "enabled": false, "pull": "srt", "key": "r1", "latency_ms": 200}),
        json!({"name": "play", "enabled": true, "pull": "rtmp", "key": "p1"}),
        json!({"name": "rec", "enabled": true, "record": "mp4", "segment_s": 3600}),
        json!({"name": "archive", "enabled": false, "record": "ts", "segment_s": 10,
               "keep_days": 30, "keep_gib": 500}),
        json!({"name": "day", "enabled": true, "record": "mp4", "segment_s": 86400, "keep_gib": 1}),
        json!({"name": "last", "enabled": true, "record": "ts", "segment_s": 600, "keep_files": 1}),
        json!({"name": "all", "enabled": true, "record": "mp4", "segment_s": 60,
               "keep_days": 7, "keep_gib": 50, "keep_files": 4294967295u32}),
    ] {
        let doc = output(v.clone());
        let spec = doc.to_spec().expect("valid");
        assert_eq!(OutputDoc::from_spec(&spec), doc, "{v}");
        assert_eq!(serde_json::to_value(&doc).expect("json"), v);
    }
}

#[test]
fn errors_name_the_field() {
    let cases = [
        (
            json!({"name": "a", "key": "k", "latency_ms": 50}),
            "latency_ms",
        ),
        (
            json!({"name": "a", "key": "k", "passphrase": "short"}),
            "passphrase",
        ),
        (
            json!({"name": "a", "key": "k", "key_length": 16}),
            "key_length",
        ),
        (
            json!({"name": "a", "key": "k", "stream_id": "x"}),
            "stream_id",
        ),
        (
            json!({"name": "a", "pull": "rtmp://h/app/k", "latency_ms": 200}),
            "latency_ms",
        ),
        (json!({"name": "a", "pull": "srt://h:1/path"}), "pull"),
        (json!({"name": "a"}), "key"),
        (json!({"name": "", "key": "k"}), "name"),
        (
            json!({"name": "a", "key": "k", "grace_period_s": 301}),
            "grace_period_s",
        ),
    ];
    for (v, field) in cases {
        let err = input(v.clone()).to_def().expect_err("refused");
        assert_eq!(err.field, field, "{v}: {err}");
    }
    let cases = [
        (
            json!({"name": "o", "push": "rtmp://h/app/k", "key": "x"}),
            "key",
        ),
        (
            json!({"name": "o", "push": "srt://h:1", "enhanced_rtmp": true}),
            "enhanced_rtmp",
        ),
        (
            json!({"name": "o", "push": "rtmp://h/app/k", "platform": "YouTube"}),
            "platform",
        ),
        (
            json!({"name": "o", "push": "srt://h:1", "platform": "youtube"}),
            "platform",
        ),
        (
            json!({"name": "o", "pull": "rtmp", "key": "k", "platform": "twitch"}),
            "platform",
        ),
        (
            json!({"name": "o", "record": "mp4", "platform": "facebook"}),
            "platform",
        ),
        (json!({"name": "o", "pull": "rtmp"}), "key"),
        (json!({"name": "o", "pull": "dash", "key": "k"}), "pull"),
        (
            json!({"name": "o", "pull": "hls", "key": "k", "latency_ms": 200}),
            "latency_ms",
        ),
        (
            json!({"name": "o", "pull": "srt", "key": "k", "stream_id": "s"}),
            "stream_id",
        ),
        (json!({"name": "o"}), "push"),
        (json!({"name": "o", "record": "avi"}), "record"),
        (json!({"name": "o", "record": "MP4"}), "record"),
        (
            json!({"name": "o", "record": "mp4", "segment_s": 9}),
            "segment_s",
        ),
        (
            json!({"name": "o", "record": "mp4", "segment_s": 86401}),
            "segment_s",
        ),
        (
            json!({"name": "o", "record": "ts", "keep_days": 0}),
            "keep_days",
        ),
        (
            json!({"name": "o", "record": "ts", "keep_days": 1, "keep_gib": 0}),
            "keep_gib",
        ),
        (
            json!({"name": "o", "record": "ts", "keep_files": 0}),
            "keep_files",
        ),
        (
            json!({"name": "o", "record": "mp4", "keep_days": 1, "keep_gib": 1, "keep_files": 0}),
            "keep_files",
        ),
        (
            json!({"name": "o", "record": "mp4", "push": "rtmp://h/app/k"}),
            "push",
        ),
        (json!({"name": "o", "record": "mp4", "pull": "srt"}), "pull"),
        (json!({"name": "o", "record": "mp4", "key": "k"}), "key"),
        (
            json!({"name": "o", "record": "mp4", "latency_ms": 200}),
            "latency_ms",
        ),
        (
            json!({"name": "o", "record": "mp4", "passphrase": "0123456789ab"}),
            "passphrase",
        ),
        (
            json!({"name": "o", "record": "mp4", "stream_id": "s"}),
            "stream_id",
        ),
        (
            json!({"name": "o", "record": "mp4", "enhanced_rtmp": true}),
            "enhanced_rtmp",
        ),
        (
            json!({"name": "o", "push": "rtmp://h/app/k", "segment_s": 60}),
            "segment_s",
        ),
        (
            json!({"name": "o", "pull": "rtmp", "key": "k", "keep_days": 7}),
            "keep_days",
        ),
        (
            json!({"name": "o", "pull": "srt", "key": "k", "keep_gib": 7}),
            "keep_gib",
        ),
        (
            json!({"name": "o", "push": "srt://10.0.0.1:9000", "keep_files": 3}),
            "keep_files",
        ),
        (
            json!({"name": "o", "pull": "rtmp", "key": "k", "keep_files": 3}),
            "keep_files",
        ),
    ];
    for (v, field) in cases {
        let err = output(v.clone()).to_spec().expect_err("refused");
        assert_eq!(err.field, field, "{v}: {err}");
    }
}

/// A record output without `segment_s` gets the one-hour default; the limits are inclusive.
#[test]
fn record_defaults_and_limits() {
    let spec = output(json!({"name": "r", "record": "ts"}))
        .to_spec()
        .expect("valid");
    let OutputKind::Record(r) = spec.kind else {
        panic!("not a record output: {spec:?}");
    };
    assert_eq!(r.format, RecordFormat::Ts);
    assert_eq!(r.segment, SegmentDuration::DEFAULT);
    assert_eq!(r.segment.duration().as_secs(), 3600);
    assert_eq!(r.retention, Retention::default());
    for s in [SegmentDuration::MIN_S, SegmentDuration::MAX_S] {
        let doc = output(json!({"name": "r", "record": "mp4", "segment_s": s}));
        assert!(doc.to_spec().is_ok(), "{s} s");
    }
}

#[test]
fn unknown_fields_are_refused() {
    let err = serde_json::from_value::<InputDoc>(json!({"name": "a", "key": "k", "latency": 200}))
        .expect_err("unknown field");
    assert!(err.to_string().contains("latency"), "{err}");
}

#[test]
fn under_prefixes_the_path() {
    let e = FieldError::new("latency_ms", "too low").under("input[1]");
    assert_eq!(e.to_string(), "input[1].latency_ms: too low");
}
