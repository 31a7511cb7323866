use relevo_control::store::{audit, inputs, outputs, InputDef};
use relevo_engine::spec::{InputSource, OutputKind};

use crate::common::*;

#[tokio::test]
async fn changes_are_audited_with_secrets_masked() {
    let db = test_db().await;
    let def = InputDef {
        name: name("Secret input"),
        enabled: true,
        source: InputSource::Listen {
            key: key("topsecret-key"),
            security: security("topsecret-passphrase", 32),
            latency: latency(200),
            srt_port: None,
        },
        grace: grace(10),
        backup: None,
    };
    let input = inputs::create(&db.pool, &actor(), &def)
        .await
        .expect("input");
    let push = output(
        "yt",
        OutputKind::PushRtmp {
            url: rtmp("rtmp://a.rtmp.youtube.com/live2/topsecret-yt"),
            enhanced: false,
            platform: None,
        },
    );
    let out = outputs::create(&db.pool, &actor(), input.id, &push)
        .await
        .expect("output");
    let mut disabled = def.clone();
    disabled.enabled = false;
    inputs::update(&db.pool, &actor(), input.id, &disabled)
        .await
        .expect("update");
    outputs::delete(&db.pool, &actor(), out.id)
        .await
        .expect("delete");

    let log = audit_log(&db.pool, 10).await;

    let actions: Vec<&str> = log.iter().rev().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "input.create",
            "output.create",
            "input.update",
            "output.delete"
        ]
    );
    let everything = format!("{log:?}");
    assert!(
        !everything.contains("topsecret"),
        "a secret reached the audit log: {everything}"
    );
    let update = &log[1];
    assert_eq!(update.actor, "ana@example.org");
    assert_eq!(update.actor_user_id, Some(1));
    assert_eq!(update.from_addr.as_deref(), Some("192.0.2.7"));
    assert_eq!(update.target_id, Some(input.id));
    let (before, after) = (
        update.before.as_ref().expect("before"),
        update.after.as_ref().expect("after"),
    );
    assert_eq!(
        (before["enabled"].as_bool(), after["enabled"].as_bool()),
        (Some(true), Some(false))
    );
    assert_eq!(after["key"], "***");
    assert_eq!(after["passphrase"], "***");
    assert_eq!(after["key_length"], 32);
    let deleted = log[0].before.as_ref().expect("before");
    assert_eq!(deleted["rtmp_url"], "rtmp://a.rtmp.youtube.com/live2/****");
    assert!(log[0].after.is_none());
}

#[tokio::test]
async fn audit_log_refuses_update_delete_and_truncate() {
    let db = test_db().await;
    inputs::create(
        &db.pool,
        &actor(),
        &InputDef {
            name: name("x"),
            enabled: true,
            source: listen("x"),
            grace: grace(10),
            backup: None,
        },
    )
    .await
    .expect("input");

    for statement in [
        "UPDATE audit_log SET actor = 'someone else'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
    ] {
        let refused = sqlx::query(statement).execute(&db.pool).await;
        let message = refused.expect_err(statement).to_string();
        assert!(message.contains("append-only"), "{statement}: {message}");
    }
    assert_eq!(audit_log(&db.pool, 10).await.len(), 1);
}

/// One audit row written as the service would, `days` ago (INSERT is allowed).
async fn row_aged(pool: &sqlx::PgPool, actor_user_id: Option<i64>, action: &str, days: i32) {
    sqlx::query(
        "INSERT INTO audit_log (created_at, actor_user_id, actor, action, target_kind)
         VALUES (now() - make_interval(days => $1), $2, 'someone@example.org', $3, 'user')",
    )
    .bind(days)
    .bind(actor_user_id)
    .bind(action)
    .execute(pool)
    .await
    .expect("insert");
}

/// Regression (issue 14, finding 17): failed sign-ins, which anyone can add, were kept for
/// ever. Only they, once older than the retention, are deleted; every other row stays, and
/// any other change is still refused.
#[tokio::test]
async fn old_failed_sign_ins_are_deleted_and_nothing_else() {
    let db = test_db().await;
    let pool = &db.pool;
    row_aged(pool, None, "auth.login_failed", 100).await;
    row_aged(pool, None, "auth.login_failed", 100).await;
    row_aged(pool, None, "auth.login_failed", 10).await;
    row_aged(pool, Some(1), "auth.login", 100).await;
    row_aged(pool, None, "input.create", 100).await;
    row_aged(pool, Some(1), "auth.login_failed", 100).await;

    let deleted = audit::delete_failed_sign_ins(pool, time::Duration::days(90))
        .await
        .expect("retention");
    assert_eq!(deleted, 2);
    let left: Vec<(String, Option<i64>)> = audit_log(pool, 10)
        .await
        .into_iter()
        .map(|e| (e.action, e.actor_user_id))
        .collect();
    assert_eq!(
        left,
        [
            ("auth.login_failed".to_owned(), Some(1)),
            ("input.create".to_owned(), None),
            ("auth.login".to_owned(), Some(1)),
            ("auth.login_failed".to_owned(), None),
        ]
    );

    // Asking for less than the floor keeps a day: the recent failure stays.
    row_aged(pool, None, "auth.login_failed", 0).await;
    let deleted = audit::delete_failed_sign_ins(pool, time::Duration::ZERO)
        .await
        .expect("retention");
    assert_eq!(deleted, 1, "the 10-day-old row only");

    // Without the retention task's flag, or for any other row, the trigger still refuses.
    for statement in [
        "DELETE FROM audit_log WHERE action = 'auth.login_failed'",
        "BEGIN; SELECT set_config('relevo.audit_retention', 'on', true); \
         DELETE FROM audit_log WHERE action = 'input.create'; COMMIT",
        "BEGIN; SELECT set_config('relevo.audit_retention', 'on', true); \
         UPDATE audit_log SET actor = 'x' WHERE action = 'auth.login_failed'; COMMIT",
    ] {
        let mut conn = pool.acquire().await.expect("connection");
        let refused = sqlx::raw_sql(statement).execute(&mut *conn).await;
        let message = refused.expect_err(statement).to_string();
        assert!(message.contains("append-only"), "{statement}: {message}");
        let _ = sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await;
    }
    assert_eq!(audit_log(pool, 10).await.len(), 4);
}
