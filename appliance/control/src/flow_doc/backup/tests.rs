use relevo_engine::spec::{BackupSource, FailoverDelay, RevertDelay};
use serde_json::json;

use super::super::InputDoc;

fn input(v: serde_json::Value) -> InputDoc {
    serde_json::from_value(v).expect("input document")
}

/// Every backup form, and an own SRT port, survive document → definition → document.
#[test]
fn backups_and_an_own_port_round_trip() {
    for v in [
        json!({"name": "a", "enabled": true, "key": "main", "passphrase": "0123456789ab",
               "key_length": 16, "latency_ms": 200, "srt_port": 9001,
               "backup": {"key": "spare", "failover_ms": 2000, "revert_s": 10}}),
        json!({"name": "b", "enabled": true, "key": "main", "latency_ms": 200,
               "backup": {"pull": "srt://[::1]:9000", "stream_id": "#!::r=x",
                          "passphrase": "0123456789ab", "key_length": 32, "latency_ms": 120,
                          "failover_ms": 500, "revert_s": 0}}),
        json!({"name": "c", "enabled": true, "pull": "srt://enc.example:9000", "latency_ms": 200,
               "backup": {"pull": "rtmps://example.org/live/abc", "failover_ms": 30000,
                          "revert_s": 600}}),
    ] {
        let doc = input(v.clone());
        let def = doc.to_def().expect("valid");
        assert_eq!(InputDoc::from_def(&def), doc, "{v}");
        assert_eq!(serde_json::to_value(&doc).expect("json"), v);
    }
}

#[test]
fn defaults_and_a_manual_only_return() {
    let doc = input(json!({"name": "a", "key": "main", "backup": {"key": "spare"}}));
    let b = doc.to_def().expect("valid").backup.expect("backup");
    assert_eq!(
        b.source,
        BackupSource::Key(relevo_engine::spec::StreamKey::new("spare").expect("key"))
    );
    assert_eq!(b.failover, FailoverDelay::DEFAULT);
    assert_eq!(b.revert, Some(RevertDelay::DEFAULT));

    let manual =
        input(json!({"name": "a", "key": "main", "backup": {"key": "spare", "revert_s": 0}}));
    assert_eq!(
        manual
            .to_def()
            .expect("valid")
            .backup
            .expect("backup")
            .revert,
        None
    );
    // `"backup": null` is no backup.
    let none = input(json!({"name": "a", "key": "main", "backup": null}));
    assert_eq!(none.to_def().expect("valid").backup, None);
}

/// The example of the README, as the configuration file has it.
#[test]
fn the_configuration_file_form_parses() {
    #[derive(serde::Deserialize)]
    struct File {
        input: Vec<InputDoc>,
    }
    let file: File = toml::from_str(
        r#"
        [[input]]
        name = "Estudio A"
        key = "estudio-a"
        passphrase = "una-frase-larga"
        srt_port = 9001

          [input.backup]
          key = "estudio-a-respaldo"
          failover_ms = 2000
          revert_s = 10

        [[input]]
        name = "Remoto"
        pull = "srt://encoder.example.net:9000"

          [input.backup]
          pull = "rtmp://backup.example.net/live/respaldo"
          revert_s = 0
        "#,
    )
    .expect("toml");
    let a = file.input[0].to_def().expect("valid");
    assert!(matches!(
        a.source,
        relevo_engine::spec::InputSource::Listen {
            srt_port: Some(9001),
            ..
        }
    ));
    assert!(matches!(
        a.backup.expect("backup").source,
        BackupSource::Key(_)
    ));
    let b = file.input[1]
        .to_def()
        .expect("valid")
        .backup
        .expect("backup");
    assert!(matches!(b.source, BackupSource::PullRtmp(_)));
    assert_eq!(b.revert, None);
}

#[test]
fn errors_name_the_field_inside_the_backup() {
    let cases = [
        (json!({"name": "a", "key": "k", "backup": {}}), "backup.key"),
        (
            json!({"name": "a", "key": "k", "backup": {"key": "b", "pull": "srt://h:1"}}),
            "backup.pull",
        ),
        (
            json!({"name": "a", "pull": "srt://h:1", "backup": {"key": "b"}}),
            "backup.key",
        ),
        (
            json!({"name": "a", "key": "k", "backup": {"key": "k"}}),
            "backup.key",
        ),
        (
            json!({"name": "a", "key": "k", "backup": {"key": "no spaces"}}),
            "backup.key",
        ),
        (
            json!({"name": "a", "key": "k", "backup": {"key": "b", "passphrase": "0123456789ab"}}),
            "backup.passphrase",
        ),
        (
            json!({"name": "a", "key": "k", "backup": {"key": "b", "latency_ms": 200}}),
            "backup.latency_ms",
        ),
        (
            json!({"name": "a", "key": "k", "backup": {"pull": "srt://h"}}),
            "backup.pull",
        ),
        (
            json!({"name": "a", "key": "k", "backup": {"pull": "srt://h:1", "latency_ms": 5}}),
            "backup.latency_ms",
        ),
        (
            json!({"name": "a", "key": "k", "backup": {"pull": "rtmp://h/app/k", "stream_id": "s"}}),
            "backup.stream_id",
        ),
        (
            json!({"name": "a", "key": "k", "backup": {"key": "b", "failover_ms": 499}}),
            "backup.failover_ms",
        ),
        (
            json!({"name": "a", "key": "k", "backup": {"key": "b", "failover_ms": 30001}}),
            "backup.failover_ms",
        ),
        (
            json!({"name": "a", "key": "k", "backup": {"key": "b", "revert_s": 601}}),
            "backup.revert_s",
        ),
        (
            json!({"name": "a", "key": "k", "srt_port": 9001}),
            "srt_port",
        ),
        (
            json!({"name": "a", "key": "k", "passphrase": "0123456789ab", "srt_port": 80}),
            "srt_port",
        ),
        (
            json!({"name": "a", "key": "k", "passphrase": "0123456789ab", "srt_port": 70000}),
            "srt_port",
        ),
        (
            json!({"name": "a", "pull": "srt://h:1", "passphrase": "0123456789ab", "srt_port": 9001}),
            "srt_port",
        ),
    ];
    for (v, field) in cases {
        let err = input(v.clone()).to_def().expect_err("refused");
        assert_eq!(err.field, field, "{v}: {err}");
    }
}

#[test]
fn unknown_backup_fields_are_refused_when_parsing() {
    let v = json!({"name": "a", "key": "k", "backup": {"key": "b", "revert": 10}});
    assert!(serde_json::from_value::<InputDoc>(v).is_err());
}
