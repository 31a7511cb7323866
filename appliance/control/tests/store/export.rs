use relevo_control::store::export::{self, ConfigExport, ImportError, ImportMode};
use relevo_control::store::settings::{self, BrandingPatch};
use relevo_control::store::{self, audit, inputs, outputs, InputDef};
use relevo_engine::spec::{
    BackupSource, InputSource, Latency, OutputKind, RecordFormat, RecordSpec, Retention,
    SegmentDuration,
};

use crate::common::*;
use crate::settings::PNG;

/// Inputs of every source kind (with and without SRT encryption), one with its own SRT
/// port, backups of every kind, outputs of every kind (a recording among them),
/// branding and a logo.
async fn fill(db: &TestDb) {
    let input = |n: &str, source: InputSource| InputDef {
        name: name(n),
        enabled: true,
        source,
        grace: grace(10),
        backup: None,
    };
    let studio = InputDef {
        backup: Some(backup(
            BackupSource::Key(key("studio-a-backup")),
            1500,
            Some(30),
        )),
        ..input(
            "Estudio A",
            InputSource::Listen {
                key: key("studio-a"),
                security: security("studio-passphrase", 24),
                latency: latency(300),
                srt_port: Some(9001),
            },
        )
    };
    let plain = InputDef {
        enabled: false,
        grace: grace(0),
        backup: None,
        ..input("Plain", listen("plain-key"))
    };
    let remote = InputDef {
        backup: Some(backup(
            BackupSource::PullRtmp(rtmp("rtmp://backup.example.net/app/backup-secret")),
            2000,
            None,
        )),
        ..input(
            "Remote SRT",
            InputSource::PullSrt(srt_caller("encoder.example.net", 9000, Some("#!::r=cam1"))),
        )
    };
    let rtmp_in = InputDef {
        grace: grace(300),
        backup: Some(backup(
            BackupSource::PullSrt(srt_caller("backup.example.net", 9100, Some("#!::r=cam2"))),
            30_000,
            Some(600),
        )),
        ..input(
            "Remote RTMP",
            InputSource::PullRtmp(rtmp("rtmps://ingest.example.net:4443/app/secret-key")),
        )
    };
    let mut ids = Vec::new();
    for def in [&studio, &plain, &remote, &rtmp_in] {
        ids.push(
            inputs::create(&db.pool, &actor(), def)
                .await
                .expect("input")
                .id,
        );
    }
    let outs = [
        output(
            "YouTube",
            OutputKind::PushRtmp {
                url: rtmp("rtmp://a.rtmp.youtube.com/live2/abcd-efgh"),
                enhanced: true,
                platform: None,
            },
        ),
        output(
            "Backup",
            OutputKind::PushSrt(srt_caller("10.0.0.9", 8890, None)),
        ),
        output(
            "Readers",
            OutputKind::PullSrt {
                key: key("read-a"),
                security: security("reader-passphrase", 16),
                latency: Latency::DEFAULT,
            },
        ),
        pull_rtmp_output("Players", "play-a"),
        output(
            "Archivo",
            OutputKind::Record(RecordSpec {
                format: RecordFormat::Ts,
                segment: SegmentDuration::from_secs(900).expect("segment"),
                retention: Retention::new(Some(14), None, Some(96)).expect("retention"),
            }),
        ),
    ];
    for spec in &outs {
        outputs::create(&db.pool, &actor(), ids[0], spec)
            .await
            .expect("output");
    }
    outputs::create(
        &db.pool,
        &actor(),
        ids[2],
        &pull_rtmp_output("Players", "play-c"),
    )
    .await
    .expect("output of another input");
    let branding = BrandingPatch {
        product_name: Some("Canal Sur Relay".to_owned()),
        primary_color: Some("#aa0033".to_owned()),
    };
    settings::update(&db.pool, &actor(), branding)
        .await
        .expect("branding");
    settings::set_logo(&db.pool, &actor(), PNG, "image/png")
        .await
        .expect("logo");
}

fn without_time(mut doc: ConfigExport) -> ConfigExport {
    doc.exported_at = time::OffsetDateTime::UNIX_EPOCH;
    doc
}

async fn audit_len(db: &TestDb) -> usize {
    audit_log(&db.pool, audit::MAX_PAGE).await.len()
}

async fn exported(db: &TestDb) -> ConfigExport {
    export::export(&db.pool).await.expect("export")
}

#[tokio::test]
async fn export_import_export_round_trips_through_json() {
    let source = test_db().await;
    fill(&source).await;
    let target = test_db().await;

    let doc = exported(&source).await;
    let text = serde_json::to_string_pretty(&doc).expect("json");
    let parsed: ConfigExport = serde_json::from_str(&text).expect("parse");
    let summary = export::import(&target.pool, &actor(), &parsed, ImportMode::Empty)
        .await
        .expect("import");
    let again = exported(&target).await;

    assert_eq!(parsed, doc);
    assert_eq!(without_time(again), without_time(doc.clone()));
    assert_eq!((summary.inputs, summary.outputs), (4, 6));
    assert_eq!(
        store::load_desired_state(&target.pool).await.expect("load"),
        store::load_desired_state(&source.pool).await.expect("load")
    );
    assert_eq!(
        settings::logo(&target.pool).await.expect("logo"),
        Some((PNG.to_vec(), "image/png".to_owned()))
    );
    // A backup: secrets are in the document, the backup feeds' too.
    for secret in [
        "studio-passphrase",
        "secret-key",
        "#!::r=cam1",
        "play-c",
        "studio-a-backup",
        "backup-secret",
        "#!::r=cam2",
    ] {
        assert!(text.contains(secret), "{secret} missing from the export");
    }
    assert_eq!(doc.format, "relevo-config");
    assert_eq!(doc.version, 1);
}

#[tokio::test]
async fn import_writes_one_audit_row_without_secrets() {
    let source = test_db().await;
    fill(&source).await;
    let target = test_db().await;
    let doc = exported(&source).await;

    export::import(&target.pool, &actor(), &doc, ImportMode::Empty)
        .await
        .expect("import");

    let log = audit_log(&target.pool, 10).await;
    assert_eq!(log.len(), 1, "{log:?}");
    let row = &log[0];
    assert_eq!(
        (row.action.as_str(), row.target_kind.as_str()),
        ("config.import", "config")
    );
    assert_eq!(
        row.after,
        Some(serde_json::json!({
            "mode": "empty", "inputs": 4, "outputs": 6, "replaced_inputs": 0, "logo": true,
            "alert_rules": 0, "alert_channels": 0
        }))
    );
}

#[tokio::test]
async fn import_empty_into_a_configured_appliance_changes_nothing() {
    let db = test_db().await;
    fill(&db).await;
    let doc = exported(&db).await;
    let mut other = doc.clone();
    other.settings.product_name = "Someone else".to_owned();
    other.inputs.truncate(1);
    let state = store::load_desired_state(&db.pool).await.expect("load");
    let rows = audit_len(&db).await;

    let refused = export::import(&db.pool, &actor(), &other, ImportMode::Empty).await;

    assert!(
        matches!(refused, Err(ImportError::NotEmpty { inputs: 4 })),
        "{refused:?}"
    );
    assert_eq!(
        store::load_desired_state(&db.pool).await.expect("load"),
        state
    );
    assert_eq!(without_time(exported(&db).await), without_time(doc));
    assert_eq!(audit_len(&db).await, rows);
}

#[tokio::test]
async fn a_bad_field_is_named_by_its_path_and_nothing_is_written() {
    let source = test_db().await;
    fill(&source).await;
    let target = test_db().await;
    let mut doc = exported(&source).await;
    // inputs[0] is "Estudio A"; its outputs[2] is the SRT pull output "Readers".
    doc.inputs[0].outputs[2].latency_ms = Some(5);
    let before = settings::get(&target.pool).await.expect("settings");

    let refused = export::import(&target.pool, &actor(), &doc, ImportMode::Empty).await;

    match &refused {
        Err(ImportError::Field(e)) => assert_eq!(e.field, "inputs[0].outputs[2].latency_ms"),
        other => panic!("expected a field error, got {other:?}"),
    }
    let message = refused.expect_err("refused").to_string();
    assert!(
        message.starts_with("inputs[0].outputs[2].latency_ms: "),
        "{message}"
    );
    assert!(inputs::list(&target.pool).await.expect("list").is_empty());
    assert_eq!(settings::get(&target.pool).await.expect("settings"), before);
    assert_eq!(audit_len(&target).await, 0);
}

/// Breaks one field of a valid document.
type Spoil = fn(&mut ConfigExport);

#[tokio::test]
async fn document_level_errors_name_their_field() {
    let source = test_db().await;
    fill(&source).await;
    let target = test_db().await;
    let doc = exported(&source).await;
    let variants: [(&str, Spoil); 6] = [
        ("format", |d| d.format = "something-else".to_owned()),
        ("version", |d| d.version = 2),
        ("settings.primary_color", |d| {
            d.settings.primary_color = "red".to_owned()
        }),
        ("settings.product_name", |d| {
            d.settings.product_name = String::new()
        }),
        ("settings.logo.data_base64", |d| {
            if let Some(logo) = &mut d.settings.logo {
                logo.data_base64 = "not base64!".to_owned();
            }
        }),
        ("inputs[1].input.name", |d| {
            d.inputs[1].input.name = String::new()
        }),
    ];

    for (field, spoil) in variants {
        let mut bad = doc.clone();
        spoil(&mut bad);
        let refused = export::import(&target.pool, &actor(), &bad, ImportMode::Empty).await;
        match refused {
            Err(ImportError::Field(e)) => assert_eq!(e.field, field),
            other => panic!("{field}: expected a field error, got {other:?}"),
        }
    }
    assert!(inputs::list(&target.pool).await.expect("list").is_empty());
}

#[tokio::test]
async fn logo_in_a_document_must_match_its_type() {
    let source = test_db().await;
    fill(&source).await;
    let target = test_db().await;
    let mut doc = exported(&source).await;
    if let Some(logo) = &mut doc.settings.logo {
        logo.mime = "image/jpeg".to_owned();
    }

    let refused = export::import(&target.pool, &actor(), &doc, ImportMode::Empty).await;

    match refused {
        Err(ImportError::Field(e)) => assert_eq!(e.field, "settings.logo.data_base64"),
        other => panic!("expected a field error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_key_used_twice_is_refused_as_a_whole() {
    let source = test_db().await;
    fill(&source).await;
    let target = test_db().await;
    let mut doc = exported(&source).await;
    // "Players" of input 2 takes the key of "Players" of input 0.
    doc.inputs[2].outputs[0].key = Some("play-a".to_owned());

    let refused = export::import(&target.pool, &actor(), &doc, ImportMode::Empty).await;

    // The flow at fault is named: the third input's outputs.
    match refused {
        Err(ImportError::Field(e)) => assert_eq!(e.field, "inputs[2].outputs", "{e}"),
        other => panic!("expected a field error, got {other:?}"),
    }
    assert!(inputs::list(&target.pool).await.expect("list").is_empty());
}

#[tokio::test]
async fn replace_deletes_existing_flows_first() {
    let source = test_db().await;
    fill(&source).await;
    let doc = exported(&source).await;
    let target = test_db().await;
    // Same name and key as flows in the document, plus one that is not in it.
    let clash = InputDef {
        name: name("Estudio A"),
        enabled: true,
        source: listen("play-a"),
        grace: grace(10),
        backup: None,
    };
    let extra = InputDef {
        name: name("Only here"),
        enabled: true,
        source: listen("only-here"),
        grace: grace(10),
        backup: None,
    };
    for def in [&clash, &extra] {
        inputs::create(&target.pool, &actor(), def)
            .await
            .expect("existing input");
    }

    let summary = export::import(&target.pool, &actor(), &doc, ImportMode::Replace)
        .await
        .expect("replace");

    assert_eq!(summary.replaced_inputs, 2);
    assert_eq!(
        store::load_desired_state(&target.pool).await.expect("load"),
        store::load_desired_state(&source.pool).await.expect("load")
    );
    assert_eq!(
        without_time(exported(&target).await),
        without_time(doc.clone())
    );
    let log = audit_log(&target.pool, 1).await;
    assert_eq!(
        log[0].after.as_ref().map(|a| a["mode"].clone()),
        Some("replace".into())
    );
}

#[tokio::test]
async fn importing_no_logo_clears_the_logo() {
    let db = test_db().await;
    fill(&db).await;
    let mut doc = exported(&db).await;
    doc.settings.logo = None;

    export::import(&db.pool, &actor(), &doc, ImportMode::Replace)
        .await
        .expect("replace");

    assert_eq!(settings::logo(&db.pool).await.expect("logo"), None);
}

#[tokio::test]
async fn unknown_fields_are_refused_when_parsing() {
    let db = test_db().await;
    let mut json = serde_json::to_value(exported(&db).await).expect("json");
    json["surprise"] = serde_json::json!(1);

    let parsed = serde_json::from_value::<ConfigExport>(json);

    let message = parsed.expect_err("refused").to_string();
    assert!(message.contains("unknown field `surprise`"), "{message}");
}
