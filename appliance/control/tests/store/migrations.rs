use relevo_control::store::{self, MIGRATOR};

use crate::common::test_db;

#[tokio::test]
async fn migrations_apply_twice_idempotently() {
    let db = test_db().await; // applied once here

    store::migrate(&db.pool)
        .await
        .expect("second run is a no-op");

    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(&db.pool)
        .await
        .expect("count");
    assert_eq!(applied, MIGRATOR.iter().count() as i64);
    let settings: i64 = sqlx::query_scalar("SELECT count(*) FROM settings")
        .fetch_one(&db.pool)
        .await
        .expect("count");
    assert_eq!(settings, 1, "the settings row exists once");
}

#[tokio::test]
async fn settings_has_a_single_row() {
    let db = test_db().await;

    let second = sqlx::query("INSERT INTO settings (id) VALUES (false)")
        .execute(&db.pool)
        .await;

    let err = second.expect_err("only one settings row may exist");
    let constraint = err.as_database_error().and_then(|e| e.constraint());
    assert_eq!(constraint, Some("settings_id_check"), "{err}");
}
