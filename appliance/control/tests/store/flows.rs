use relevo_control::store::{self, inputs, outputs, InputDef};
use relevo_control::StoreError;
use relevo_engine::spec::{DesiredState, InputSource, Latency, OutputKind, Platform};

use crate::common::*;

fn studio() -> InputDef {
    InputDef {
        name: name("Estudio A"),
        enabled: true,
        source: InputSource::Listen {
            key: key("studio-a"),
            security: security("studio-passphrase", 24),
            latency: latency(300),
            srt_port: None,
        },
        grace: grace(30),
        backup: None,
    }
}

#[tokio::test]
async fn crud_round_trip_gives_back_the_desired_state() {
    let db = test_db().await;
    let a = inputs::create(&db.pool, &actor(), &studio())
        .await
        .expect("input a");
    let b_def = InputDef {
        name: name("Remote SRT"),
        enabled: false,
        source: InputSource::PullSrt(srt_caller("encoder.example.net", 9000, Some("#!::r=cam1"))),
        grace: grace(0),
        backup: None,
    };
    let b = inputs::create(&db.pool, &actor(), &b_def)
        .await
        .expect("input b");
    let c_def = InputDef {
        name: name("Remote RTMP"),
        enabled: true,
        source: InputSource::PullRtmp(rtmp("rtmps://[2001:db8::1]:4443/app/inst/key?s=1")),
        grace: grace(300),
        backup: None,
    };
    let c = inputs::create(&db.pool, &actor(), &c_def)
        .await
        .expect("input c");
    let yt = output(
        "YouTube",
        OutputKind::PushRtmp {
            url: rtmp("rtmp://a.rtmp.youtube.com/live2/abcd-efgh"),
            enhanced: true,
            platform: Some(Platform::YouTube),
        },
    );
    let srt_push = output(
        "Backup",
        OutputKind::PushSrt(srt_caller("10.0.0.9", 8890, None)),
    );
    let srt_pull = output(
        "Readers",
        OutputKind::PullSrt {
            key: key("read-a"),
            security: security("reader-passphrase", 16),
            latency: Latency::DEFAULT,
        },
    );
    let players = pull_rtmp_output("Players", "play-a");
    for spec in [&yt, &srt_push, &srt_pull, &players] {
        outputs::create(&db.pool, &actor(), a.id, spec)
            .await
            .expect("output");
    }
    let c_out = outputs::create(
        &db.pool,
        &actor(),
        c.id,
        &pull_rtmp_output("Players", "play-c"),
    )
    .await
    .expect("same output name in another input");

    // Update: disable one output, change an input's latency and grace.
    let mut yt_off = yt.clone();
    yt_off.enabled = false;
    let yt_id = outputs::list(&db.pool).await.expect("list")[0].id;
    outputs::update(&db.pool, &actor(), yt_id, &yt_off)
        .await
        .expect("update output");
    let mut a_def = studio();
    a_def.grace = grace(5);
    let a2 = inputs::update(&db.pool, &actor(), a.id, &a_def)
        .await
        .expect("update input");
    outputs::delete(&db.pool, &actor(), c_out.id)
        .await
        .expect("delete output");

    let state = store::load_desired_state(&db.pool).await.expect("load");

    let expected = DesiredState {
        inputs: vec![
            a_def
                .clone()
                .into_spec(vec![yt_off, srt_push, srt_pull, players]),
            b_def.clone().into_spec(vec![]),
            c_def.clone().into_spec(vec![]),
        ],
    };
    assert_eq!(state, expected);
    assert_eq!(a2.def, a_def);
    assert_eq!(inputs::get(&db.pool, b.id).await.expect("get").def, b_def);
    assert!(a2.updated_at >= a2.created_at);

    // Deleting an input takes its outputs with it and frees their keys.
    inputs::delete(&db.pool, &actor(), a.id)
        .await
        .expect("delete input");
    let left = store::load_desired_state(&db.pool).await.expect("load");
    assert_eq!(left.inputs.len(), 2);
    assert!(outputs::list(&db.pool).await.expect("list").is_empty());
    inputs::create(&db.pool, &actor(), &studio())
        .await
        .expect("key free again");
}

#[tokio::test]
async fn stream_key_shared_by_input_and_pull_output_is_a_conflict() {
    let db = test_db().await;
    let a = inputs::create(&db.pool, &actor(), &studio())
        .await
        .expect("input");
    let other = InputDef {
        name: name("Other"),
        enabled: true,
        source: listen("other-key"),
        grace: grace(10),
        backup: None,
    };
    let b = inputs::create(&db.pool, &actor(), &other)
        .await
        .expect("input b");

    let clash_out =
        outputs::create(&db.pool, &actor(), b.id, &pull_rtmp_output("p", "studio-a")).await;
    let out = outputs::create(&db.pool, &actor(), a.id, &pull_rtmp_output("p", "read-key"))
        .await
        .expect("distinct key");
    let mut clash_in = other.clone();
    clash_in.source = listen("read-key");
    let clash_update = inputs::update(&db.pool, &actor(), b.id, &clash_in).await;

    assert!(
        matches!(clash_out, Err(StoreError::Conflict { field: "key" })),
        "{clash_out:?}"
    );
    assert!(
        matches!(clash_update, Err(StoreError::Conflict { field: "key" })),
        "{clash_update:?}"
    );
    // Changing the output's key frees the old one.
    outputs::update(
        &db.pool,
        &actor(),
        out.id,
        &pull_rtmp_output("p", "read-key-2"),
    )
    .await
    .expect("rekey");
    inputs::update(&db.pool, &actor(), b.id, &clash_in)
        .await
        .expect("old key is free");
}

#[tokio::test]
async fn duplicate_names_are_conflicts_and_missing_rows_not_found() {
    let db = test_db().await;
    let a = inputs::create(&db.pool, &actor(), &studio())
        .await
        .expect("input");
    let mut same_name = studio();
    same_name.source = listen("another");
    outputs::create(&db.pool, &actor(), a.id, &pull_rtmp_output("o", "k1"))
        .await
        .expect("out");

    let dup_in = inputs::create(&db.pool, &actor(), &same_name).await;
    let dup_out = outputs::create(&db.pool, &actor(), a.id, &pull_rtmp_output("o", "k2")).await;
    let orphan = outputs::create(&db.pool, &actor(), 999_999, &pull_rtmp_output("o", "k3")).await;
    let gone = inputs::delete(&db.pool, &actor(), 999_999).await;

    assert!(
        matches!(dup_in, Err(StoreError::Conflict { field: "name" })),
        "{dup_in:?}"
    );
    assert!(
        matches!(dup_out, Err(StoreError::Conflict { field: "name" })),
        "{dup_out:?}"
    );
    assert!(
        matches!(orphan, Err(StoreError::NotFound { what: "input", .. })),
        "{orphan:?}"
    );
    assert!(
        matches!(gone, Err(StoreError::NotFound { what: "input", .. })),
        "{gone:?}"
    );
}

#[tokio::test]
async fn a_stored_row_that_no_longer_validates_is_named() {
    let db = test_db().await;
    let a = inputs::create(&db.pool, &actor(), &studio())
        .await
        .expect("input");
    sqlx::query("UPDATE inputs SET latency_ms = 5 WHERE id = $1")
        .bind(a.id)
        .execute(&db.pool)
        .await
        .expect("corrupt by hand");

    let loaded = store::load_desired_state(&db.pool).await;

    assert!(
        matches!(loaded, Err(StoreError::Invalid { what: "input", id, field: "latency_ms", .. }) if id == a.id),
        "{loaded:?}"
    );
}

/// Migration 0026: a platform is one of three names, and only on an RTMP push.
#[tokio::test]
async fn the_platform_column_takes_a_known_platform_on_rtmp_pushes_only() {
    let db = test_db().await;
    let a = inputs::create(&db.pool, &actor(), &studio())
        .await
        .expect("input");
    let push = outputs::create(
        &db.pool,
        &actor(),
        a.id,
        &output(
            "Twitch",
            OutputKind::PushRtmp {
                url: rtmp("rtmp://127.0.0.1/app/k"),
                enhanced: false,
                platform: Some(Platform::Twitch),
            },
        ),
    )
    .await
    .expect("push");
    let pull = outputs::create(
        &db.pool,
        &actor(),
        a.id,
        &pull_rtmp_output("Players", "p-1"),
    )
    .await
    .expect("pull");
    let set = |id: i64, platform: &'static str| {
        sqlx::query("UPDATE outputs SET platform = $2 WHERE id = $1")
            .bind(id)
            .bind(platform)
            .execute(&db.pool)
    };
    assert!(set(push.id, "facebook").await.is_ok());
    assert!(set(push.id, "vimeo").await.is_err(), "an unknown platform");
    assert!(
        set(pull.id, "youtube").await.is_err(),
        "a platform on a pull output"
    );
    let got = outputs::get(&db.pool, push.id).await.expect("get");
    assert!(matches!(
        got.spec.kind,
        OutputKind::PushRtmp {
            platform: Some(Platform::Facebook),
            ..
        }
    ));
}
