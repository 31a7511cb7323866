//! Record outputs (issue #15) in the store: their columns round-trip through the spec, the
//! audit snapshots carry them, and the database refuses rows of the wrong shape.

use relevo_control::store::{self, inputs, outputs, InputDef};
use relevo_control::StoreError;
use relevo_engine::spec::{OutputKind, RecordFormat, RecordSpec, Retention, SegmentDuration};

use crate::common::*;

fn studio() -> InputDef {
    InputDef {
        name: name("Estudio A"),
        enabled: true,
        source: listen("studio-a"),
        grace: grace(10),
        backup: None,
    }
}

fn record(
    format: RecordFormat,
    segment_s: u64,
    days: Option<u32>,
    gib: Option<u32>,
    files: Option<u32>,
) -> OutputKind {
    OutputKind::Record(RecordSpec {
        format,
        segment: SegmentDuration::from_secs(segment_s).expect("valid segment"),
        retention: Retention::new(days, gib, files).expect("valid retention"),
    })
}

#[tokio::test]
async fn record_outputs_round_trip_and_are_audited() {
    let db = test_db().await;
    let a = inputs::create(&db.pool, &actor(), &studio())
        .await
        .expect("input");
    let archive = output(
        "Archivo",
        record(RecordFormat::Mp4, 3600, Some(30), Some(500), None),
    );
    // The limits are u32 in the spec: the largest is kept whole.
    let plain = output(
        "Copia TS",
        record(RecordFormat::Ts, 10, Some(u32::MAX), None, Some(u32::MAX)),
    );
    let players = pull_rtmp_output("Players", "play-a");
    let archive_row = outputs::create(&db.pool, &actor(), a.id, &archive)
        .await
        .expect("record mp4");
    outputs::create(&db.pool, &actor(), a.id, &plain)
        .await
        .expect("record ts");
    outputs::create(&db.pool, &actor(), a.id, &players)
        .await
        .expect("a pull output beside them");

    // Change the file duration and the retention, then disable it.
    let mut changed = output(
        "Archivo",
        record(RecordFormat::Mp4, 600, None, Some(2), Some(48)),
    );
    changed.enabled = false;
    let updated = outputs::update(&db.pool, &actor(), archive_row.id, &changed)
        .await
        .expect("update");

    assert_eq!(archive_row.spec, archive);
    assert_eq!(updated.spec, changed);
    assert_eq!(
        outputs::get(&db.pool, archive_row.id)
            .await
            .expect("get")
            .spec,
        changed
    );
    let state = store::load_desired_state(&db.pool).await.expect("load");
    assert_eq!(state.inputs[0].outputs, vec![changed, plain, players]);
    let log = audit_log(&db.pool, 1).await;
    let entry = &log[0];
    assert_eq!(entry.action, "output.update");
    let (before, after) = (
        entry.before.clone().expect("before"),
        entry.after.clone().expect("after"),
    );
    assert_eq!(before["kind"], "Record");
    assert_eq!(before["record_format"], "mp4");
    assert_eq!(before["segment_s"], 3600);
    assert_eq!(before["keep_days"], 30);
    assert_eq!(before["keep_gib"], 500);
    assert_eq!(before["keep_files"], serde_json::Value::Null);
    assert_eq!(after["segment_s"], 600);
    assert_eq!(after["keep_days"], serde_json::Value::Null);
    assert_eq!(after["keep_gib"], 2);
    assert_eq!(after["keep_files"], 48);
    assert_eq!(after["enabled"], false);

    outputs::delete(&db.pool, &actor(), archive_row.id)
        .await
        .expect("delete");
    let log = audit_log(&db.pool, 1).await;
    assert_eq!(log[0].action, "output.delete");
    assert_eq!(
        log[0].before.as_ref().map(|b| b["record_format"].clone()),
        Some("mp4".into())
    );
    assert_eq!(outputs::list(&db.pool).await.expect("list").len(), 2);
}

/// The CHECK constraints mirror the spec: the database itself refuses what the spec would.
#[tokio::test]
async fn the_database_refuses_record_rows_of_the_wrong_shape() {
    let db = test_db().await;
    let a = inputs::create(&db.pool, &actor(), &studio())
        .await
        .expect("input");
    let rec = outputs::create(
        &db.pool,
        &actor(),
        a.id,
        &output("rec", record(RecordFormat::Ts, 3600, None, None, None)),
    )
    .await
    .expect("record");
    let pull = outputs::create(&db.pool, &actor(), a.id, &pull_rtmp_output("p", "p-key"))
        .await
        .expect("pull");
    let cases = [
        (
            rec.id,
            "record_format = 'avi'",
            "outputs_record_format_check",
        ),
        (rec.id, "segment_s = 9", "outputs_segment_s_check"),
        (rec.id, "segment_s = 86401", "outputs_segment_s_check"),
        (rec.id, "keep_days = 0", "outputs_keep_days_check"),
        (rec.id, "keep_gib = 0", "outputs_keep_gib_check"),
        (rec.id, "keep_files = 0", "outputs_keep_files_check"),
        (rec.id, "record_format = NULL", "outputs_kind_shape"),
        (rec.id, "segment_s = NULL", "outputs_kind_shape"),
        (rec.id, "latency_ms = 200", "outputs_kind_shape"),
        (rec.id, "key = 'k'", "outputs_kind_shape"),
        (pull.id, "segment_s = 60", "outputs_kind_shape"),
        (pull.id, "keep_days = 1", "outputs_kind_shape"),
        (pull.id, "keep_files = 1", "outputs_kind_shape"),
    ];

    for (id, set, constraint) in cases {
        let err = sqlx::query(&format!("UPDATE outputs SET {set} WHERE id = $1"))
            .bind(id)
            .execute(&db.pool)
            .await
            .expect_err(set);
        let got = err.as_database_error().and_then(|e| e.constraint());
        assert_eq!(got, Some(constraint), "{set}: {err}");
    }
    let state = store::load_desired_state(&db.pool)
        .await
        .expect("unchanged");
    assert_eq!(state.inputs[0].outputs[0], rec.spec);
}

/// A row that passes the database but not the spec (a constraint dropped by hand, an older
/// schema) is reported with its column, not loaded half-way.
#[tokio::test]
async fn a_bad_record_column_is_named() {
    let db = test_db().await;
    let a = inputs::create(&db.pool, &actor(), &studio())
        .await
        .expect("input");
    let rec = outputs::create(
        &db.pool,
        &actor(),
        a.id,
        &output(
            "rec",
            record(RecordFormat::Mp4, 3600, Some(7), Some(7), Some(7)),
        ),
    )
    .await
    .expect("record");
    sqlx::query(
        "ALTER TABLE outputs DROP CONSTRAINT outputs_record_format_check,
                             DROP CONSTRAINT outputs_segment_s_check,
                             DROP CONSTRAINT outputs_keep_days_check,
                             DROP CONSTRAINT outputs_keep_gib_check,
                             DROP CONSTRAINT outputs_keep_files_check",
    )
    .execute(&db.pool)
    .await
    .expect("loosen the table");

    for (set, column) in [
        ("record_format = 'avi'", "record_format"),
        ("segment_s = 5", "segment_s"),
        ("keep_days = 0", "keep_days"),
        ("keep_days = -3", "keep_days"),
        ("keep_gib = 4294967296", "keep_gib"),
        ("keep_gib = 0", "keep_gib"),
        ("keep_files = 0", "keep_files"),
        ("keep_files = -1", "keep_files"),
        ("keep_files = 4294967296", "keep_files"),
    ] {
        sqlx::query(
            "UPDATE outputs SET record_format = 'mp4', segment_s = 3600, keep_days = 7,
                                keep_gib = 7, keep_files = 7 WHERE id = $1",
        )
        .bind(rec.id)
        .execute(&db.pool)
        .await
        .expect("reset");
        sqlx::query(&format!("UPDATE outputs SET {set} WHERE id = $1"))
            .bind(rec.id)
            .execute(&db.pool)
            .await
            .expect("corrupt by hand");

        let loaded = store::load_desired_state(&db.pool).await;
        let got = outputs::get(&db.pool, rec.id).await;

        assert!(
            matches!(&loaded, Err(StoreError::Invalid { what: "output", id, field, .. }) if *id == rec.id && *field == column),
            "{set}: {loaded:?}"
        );
        assert!(
            matches!(&got, Err(StoreError::Invalid { field, .. }) if *field == column),
            "{set}: {got:?}"
        );
    }
}
