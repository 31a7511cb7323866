use relevo_control::store::{inputs, outputs, InputDef};
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
        },
        grace: grace(10),
    };
    let input = inputs::create(&db.pool, &actor(), &def)
        .await
        .expect("input");
    let push = output(
        "yt",
        OutputKind::PushRtmp {
            url: rtmp("rtmp://a.rtmp.youtube.com/live2/topsecret-yt"),
            enhanced: false,
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
