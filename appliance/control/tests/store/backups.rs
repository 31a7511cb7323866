//! Issue #18 in the store: an input's backup feed (a second key, or a pull source) and its
//! own SRT port round trip through the rows; the backup key shares the stream-key namespace;
//! an own port is unique and needs a passphrase; audit rows mask the backup's secrets.

use relevo_control::store::{self, inputs, outputs, InputDef};
use relevo_control::StoreError;
use relevo_engine::spec::{BackupSource, InputSource, Latency};

use crate::common::*;

fn studio(n: &str, k: &str) -> InputDef {
    InputDef {
        name: name(n),
        enabled: true,
        source: InputSource::Listen {
            key: key(k),
            security: security("studio-passphrase", 24),
            latency: latency(300),
            srt_port: None,
        },
        grace: grace(10),
        backup: None,
    }
}

fn with_port(mut def: InputDef, port: u16) -> InputDef {
    if let InputSource::Listen { srt_port, .. } = &mut def.source {
        *srt_port = Some(port);
    }
    def
}

#[tokio::test]
async fn each_backup_form_and_an_own_srt_port_round_trip() {
    let db = test_db().await;
    let forms = [
        (
            with_port(studio("Key backup", "main-a"), 9001),
            backup(BackupSource::Key(key("backup-a")), 2000, Some(10)),
        ),
        (
            studio("SRT backup", "main-b"),
            backup(
                BackupSource::PullSrt(srt_caller("backup.example.net", 9100, Some("#!::r=b"))),
                500,
                None,
            ),
        ),
        (
            studio("RTMP backup", "main-c"),
            backup(
                BackupSource::PullRtmp(rtmp("rtmps://backup.example.net/app/backup-key")),
                30_000,
                Some(600),
            ),
        ),
    ];
    for (def, b) in forms {
        let def = InputDef {
            backup: Some(b),
            ..def
        };
        let created = inputs::create(&db.pool, &actor(), &def)
            .await
            .expect("create");
        assert_eq!(created.def, def);
        assert_eq!(
            inputs::get(&db.pool, created.id).await.expect("get").def,
            def
        );
        // And away again: an update to no backup clears every backup column.
        let plain = InputDef {
            backup: None,
            ..def.clone()
        };
        let updated = inputs::update(&db.pool, &actor(), created.id, &plain)
            .await
            .expect("update");
        assert_eq!(updated.def, plain);
        inputs::update(&db.pool, &actor(), created.id, &def)
            .await
            .expect("back");
    }
    let state = store::load_desired_state(&db.pool).await.expect("load");
    assert_eq!(state.inputs.len(), 3);
    assert!(state.inputs.iter().all(|i| i.backup.is_some()));
    state.validate().expect("valid as a whole");
}

#[tokio::test]
async fn a_backup_key_shares_the_namespace_of_keys() {
    let db = test_db().await;
    let a = inputs::create(&db.pool, &actor(), &studio("A", "main-a"))
        .await
        .expect("a");
    outputs::create(&db.pool, &actor(), a.id, &pull_rtmp_output("p", "read-a"))
        .await
        .expect("pull output");
    let with_backup = |n: &str, k: &str, b: &str| InputDef {
        backup: Some(backup(BackupSource::Key(key(b)), 2000, Some(10))),
        ..studio(n, k)
    };

    // Another input's key, a pull output's key, and the input's own key.
    let on_input_key =
        inputs::create(&db.pool, &actor(), &with_backup("B", "main-b", "main-a")).await;
    let on_output_key =
        inputs::create(&db.pool, &actor(), &with_backup("B", "main-b", "read-a")).await;
    let on_own_key =
        inputs::create(&db.pool, &actor(), &with_backup("B", "main-b", "main-b")).await;
    for clash in [&on_input_key, &on_output_key, &on_own_key] {
        assert!(
            matches!(
                clash,
                Err(StoreError::Conflict {
                    field: "backup.key"
                })
            ),
            "{clash:?}"
        );
    }

    // A backup key taken: another input's key or a pull output's key may not use it.
    let b = inputs::create(&db.pool, &actor(), &with_backup("B", "main-b", "backup-b"))
        .await
        .expect("b");
    let key_on_backup = inputs::create(&db.pool, &actor(), &studio("C", "backup-b")).await;
    let output_on_backup =
        outputs::create(&db.pool, &actor(), a.id, &pull_rtmp_output("q", "backup-b")).await;
    for clash in [key_on_backup.map(|_| ()), output_on_backup.map(|_| ())] {
        assert!(
            matches!(clash, Err(StoreError::Conflict { field: "key" })),
            "{clash:?}"
        );
    }

    // Swapping the key and the backup key in one update is no clash with itself.
    let swapped = with_backup("B", "backup-b", "main-b");
    inputs::update(&db.pool, &actor(), b.id, &swapped)
        .await
        .expect("swap");
    // Dropping the backup frees its key; deleting the input frees both.
    inputs::update(&db.pool, &actor(), b.id, &studio("B", "backup-b"))
        .await
        .expect("no backup");
    inputs::create(&db.pool, &actor(), &studio("C", "main-b"))
        .await
        .expect("the old backup key is free");
    inputs::delete(&db.pool, &actor(), b.id)
        .await
        .expect("delete");
    inputs::create(&db.pool, &actor(), &studio("D", "backup-b"))
        .await
        .expect("the deleted input's key is free");
}

#[tokio::test]
async fn an_own_srt_port_is_unique_and_needs_a_passphrase() {
    let db = test_db().await;
    inputs::create(&db.pool, &actor(), &with_port(studio("A", "main-a"), 9001))
        .await
        .expect("a");

    let same_port =
        inputs::create(&db.pool, &actor(), &with_port(studio("B", "main-b"), 9001)).await;
    assert!(
        matches!(same_port, Err(StoreError::Conflict { field: "srt_port" })),
        "{same_port:?}"
    );
    // A pull input's srt_port is the remote listener's: two may share it, and an own port.
    let pull = |n: &str| InputDef {
        source: InputSource::PullSrt(srt_caller("encoder.example.net", 9001, None)),
        ..studio(n, "unused")
    };
    inputs::create(&db.pool, &actor(), &pull("P1"))
        .await
        .expect("p1");
    inputs::create(&db.pool, &actor(), &pull("P2"))
        .await
        .expect("p2");

    // Without a passphrase, the schema refuses the own port (the spec does first).
    let open = InputDef {
        source: InputSource::Listen {
            key: key("main-c"),
            security: None,
            latency: Latency::DEFAULT,
            srt_port: Some(9002),
        },
        ..studio("C", "main-c")
    };
    let refused = inputs::create(&db.pool, &actor(), &open).await;
    assert!(
        matches!(&refused, Err(StoreError::Check { constraint }) if constraint == "inputs_source_shape"),
        "{refused:?}"
    );
}

#[tokio::test]
async fn audit_rows_record_backup_changes_without_secrets() {
    let db = test_db().await;
    let def = InputDef {
        backup: Some(backup(
            BackupSource::PullSrt(srt_caller(
                "backup.example.net",
                9100,
                Some("#!::r=sid-secret"),
            )),
            2000,
            Some(10),
        )),
        ..with_port(studio("A", "main-secret"), 9001)
    };
    let a = inputs::create(&db.pool, &actor(), &def).await.expect("a");
    let keyed = InputDef {
        backup: Some(backup(
            BackupSource::Key(key("backup-key-secret")),
            4000,
            None,
        )),
        ..def.clone()
    };
    inputs::update(&db.pool, &actor(), a.id, &keyed)
        .await
        .expect("update");

    let log = audit_log(&db.pool, 10).await;
    let update = &log[0];
    assert_eq!(update.action, "input.update");
    let (before, after) = (
        update.before.clone().expect("before"),
        update.after.clone().expect("after"),
    );
    assert_eq!(before["backup_source"], "PullSrt");
    assert_eq!(before["backup_srt_host"], "backup.example.net");
    assert_eq!(before["backup_stream_id"], "***");
    assert_eq!(before["backup_passphrase"], "***");
    assert_eq!(after["backup_source"], "Listen");
    assert_eq!(after["backup_key"], "***");
    assert_eq!(
        (after["failover_ms"].as_i64(), after["revert_s"].as_i64()),
        (Some(4000), Some(0))
    );
    assert_eq!(after["srt_port"], 9001);
    let text = serde_json::to_string(&log).expect("json");
    for secret in [
        "main-secret",
        "sid-secret",
        "caller-passphrase",
        "backup-key-secret",
    ] {
        assert!(!text.contains(secret), "{secret} in the audit log: {text}");
    }
}
