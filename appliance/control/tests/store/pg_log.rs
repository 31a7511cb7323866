//! What the embedded PostgreSQL writes to its log, and who may read it (issue 14, finding 5):
//! a stream key clash used to put the key in `postgres.log` (`DETAIL: Key (key)=(…)`), and
//! the log sat world-readable in a 0755 state directory.

use std::os::unix::fs::PermissionsExt;

use relevo_control::store::{inputs, outputs, InputDef};
use relevo_control::StoreError;

use crate::common::*;

#[tokio::test]
async fn a_stream_key_clash_leaves_no_key_in_the_postgres_log() {
    let db = test_db().await;
    // Distinct from every other test's keys: the cluster's log is shared.
    let secret = "clash-secret-7f3a9c";
    let input = |n: &str, k: &str| InputDef {
        name: name(n),
        enabled: true,
        source: listen(k),
        grace: grace(10),
        backup: None,
    };
    let a = inputs::create(&db.pool, &actor(), &input("Log A", secret))
        .await
        .expect("first input");
    let clash_input = inputs::create(&db.pool, &actor(), &input("Log B", secret)).await;
    let clash_output =
        outputs::create(&db.pool, &actor(), a.id, &pull_rtmp_output("p", secret)).await;

    for clash in [clash_input.map(|_| ()), clash_output.map(|_| ())] {
        assert!(
            matches!(clash, Err(StoreError::Conflict { field: "key" })),
            "{clash:?}"
        );
    }
    let log = std::fs::read_to_string(state_dir().join("postgres.log")).expect("postgres.log");
    assert!(
        log.contains("stream key already in use"),
        "the clash is logged, without its value:\n{log}"
    );
    assert!(!log.contains(secret), "the key is in postgres.log:\n{log}");
}

#[tokio::test]
async fn a_backup_key_clash_leaves_no_key_in_the_postgres_log() {
    let db = test_db().await;
    let secret = "backup-clash-secret-41d2e8";
    let input = |n: &str, k: &str, b: &str| InputDef {
        name: name(n),
        enabled: true,
        source: listen(k),
        grace: grace(10),
        backup: Some(backup(
            relevo_engine::spec::BackupSource::Key(key(b)),
            2000,
            Some(10),
        )),
    };
    inputs::create(&db.pool, &actor(), &input("Log C", "log-c-main", secret))
        .await
        .expect("first input");

    let clash = inputs::create(&db.pool, &actor(), &input("Log D", "log-d-main", secret)).await;

    assert!(
        matches!(
            clash,
            Err(StoreError::Conflict {
                field: "backup.key"
            })
        ),
        "{clash:?}"
    );
    let log = std::fs::read_to_string(state_dir().join("postgres.log")).expect("postgres.log");
    assert!(
        log.contains("backup stream key already in use"),
        "the clash is logged, without its value:\n{log}"
    );
    assert!(!log.contains(secret), "the key is in postgres.log:\n{log}");
}

#[tokio::test]
async fn the_state_directory_and_the_postgres_log_are_private() {
    let _db = test_db().await;
    let mode = |p: std::path::PathBuf| std::fs::metadata(&p).expect("stat").permissions().mode();
    assert_eq!(mode(state_dir()) & 0o777, 0o700);
    assert_eq!(mode(state_dir().join("postgres.log")) & 0o777, 0o600);
}
