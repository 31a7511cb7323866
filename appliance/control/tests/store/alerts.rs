//! Issue #17 in the store: alert rules, channels and settings round trip; each change writes
//! its audit row with the channel's secrets masked; values are refused naming the field; the
//! CHECKs of migration 0028 refuse shapes the evaluator could not read, whoever writes them.

use relevo_control::alerts::{ChannelConfig, Condition, SmtpSecurity};
use relevo_control::panel::i18n::Lang;
use relevo_control::store::alerts::{self, AlertSettings, ChannelDef, RuleDef};
use relevo_control::store::audit::MASK;
use relevo_control::StoreError;
use secrecy::{ExposeSecret, SecretString};

use crate::common::*;

fn rule(condition: Condition, threshold: Option<f64>) -> RuleDef {
    RuleDef {
        name: " Estudio caído ".into(),
        condition,
        input: Some("estudio-a".into()),
        output: None,
        threshold,
        for_secs: 30,
        enabled: true,
    }
}

fn webhook(secret: Option<&str>) -> ChannelDef {
    ChannelDef {
        name: "Guardia".into(),
        enabled: true,
        lang: Lang::Es,
        config: ChannelConfig::Webhook {
            url: "https://hooks.example.net/relevo".into(),
            secret: secret.map(|s| SecretString::from(s.to_owned())),
        },
    }
}

fn email() -> ChannelDef {
    ChannelDef {
        name: "Correo".into(),
        enabled: true,
        lang: Lang::En,
        config: ChannelConfig::Email {
            host: "smtp.example.net".into(),
            port: 587,
            security: SmtpSecurity::StartTls,
            username: Some("relevo".into()),
            password: Some(SecretString::from("smtp-password-1".to_owned())),
            from: "relevo@example.net".into(),
            to: vec!["ops@example.net".into(), "guardia@example.net".into()],
        },
    }
}

fn field_of<T: std::fmt::Debug>(r: Result<T, StoreError>) -> &'static str {
    match r {
        Err(StoreError::Field { field, .. }) => field,
        other => panic!("expected a field error, got {other:?}"),
    }
}

#[tokio::test]
async fn rules_round_trip_with_audit_rows() {
    let db = test_db().await;
    let created = alerts::create_rule(
        &db.pool,
        &actor(),
        &rule(Condition::LowBitrate, Some(500.0)),
    )
    .await
    .expect("create");
    assert_eq!(created.name, "Estudio caído");
    assert_eq!(created.threshold, Some(500.0));
    let mut changed = rule(Condition::InputDown, None);
    changed.enabled = false;
    let updated = alerts::update_rule(&db.pool, &actor(), created.id, &changed)
        .await
        .expect("update");
    assert_eq!(updated.condition, Condition::InputDown);
    assert!(!updated.enabled);
    assert_eq!(
        alerts::rules(&db.pool).await.expect("rules"),
        vec![updated.clone()]
    );
    alerts::delete_rule(&db.pool, &actor(), created.id)
        .await
        .expect("delete");
    assert!(alerts::rules(&db.pool).await.expect("rules").is_empty());
    assert!(matches!(
        alerts::delete_rule(&db.pool, &actor(), created.id).await,
        Err(StoreError::NotFound { .. })
    ));
    let log = audit_log(&db.pool, 10).await;
    let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "alert_rule.delete",
            "alert_rule.update",
            "alert_rule.create"
        ]
    );
    assert_eq!(log[2].after.as_ref().expect("after")["threshold"], 500.0);
    assert_eq!(
        log[1].before.as_ref().expect("before")["condition"],
        "low_bitrate"
    );
    assert_eq!(log[0].target_name.as_deref(), Some("Estudio caído"));
}

#[tokio::test]
async fn rule_values_are_refused_naming_the_field() {
    let db = test_db().await;
    let cases: Vec<(RuleDef, &str)> = vec![
        (rule(Condition::LowBitrate, None), "threshold"),
        (rule(Condition::LowBitrate, Some(0.5)), "threshold"),
        (rule(Condition::SrtLoss, Some(100.5)), "threshold"),
        (rule(Condition::InputDown, Some(5.0)), "threshold"),
        (
            RuleDef {
                input: None,
                ..rule(Condition::CertExpiry, Some(400.0))
            },
            "threshold",
        ),
        (rule(Condition::DiskLow, Some(10.0)), "input"),
        (
            RuleDef {
                for_secs: 86_401,
                ..rule(Condition::InputDown, None)
            },
            "for_secs",
        ),
        (
            RuleDef {
                name: "  ".into(),
                ..rule(Condition::InputDown, None)
            },
            "name",
        ),
        (
            RuleDef {
                output: Some("youtube".into()),
                ..rule(Condition::LowBitrate, Some(100.0))
            },
            "output",
        ),
    ];
    for (def, want) in cases {
        assert_eq!(
            field_of(alerts::create_rule(&db.pool, &actor(), &def).await),
            want,
            "{def:?}"
        );
    }
    assert!(alerts::rules(&db.pool).await.expect("rules").is_empty());
    assert!(audit_log(&db.pool, 10).await.is_empty());
}

#[tokio::test]
async fn channels_round_trip_with_secrets_masked_in_audit() {
    let db = test_db().await;
    let hook = alerts::create_channel(&db.pool, &actor(), &webhook(Some("hmac-key-1")))
        .await
        .expect("webhook");
    let mail = alerts::create_channel(&db.pool, &actor(), &email())
        .await
        .expect("email");
    let slack = ChannelDef {
        name: "Slack".into(),
        enabled: false,
        lang: Lang::Es,
        config: ChannelConfig::Slack {
            url: SecretString::from(
                "https://hooks.slack.com/services/T0/B0/slack-token-1".to_owned(),
            ),
        },
    };
    let slack = alerts::create_channel(&db.pool, &actor(), &slack)
        .await
        .expect("slack");
    let all = alerts::channels(&db.pool).await.expect("channels");
    assert_eq!(
        all.iter().map(|c| c.id).collect::<Vec<_>>(),
        [hook.id, mail.id, slack.id]
    );
    match &all[0].config {
        ChannelConfig::Webhook { url, secret } => {
            assert_eq!(url, "https://hooks.example.net/relevo");
            assert_eq!(
                secret.as_ref().map(|s| s.expose_secret()),
                Some("hmac-key-1")
            );
        }
        other => panic!("{other:?}"),
    }
    match &all[1].config {
        ChannelConfig::Email { to, password, .. } => {
            assert_eq!(to.len(), 2);
            assert_eq!(
                password.as_ref().map(|s| s.expose_secret()),
                Some("smtp-password-1")
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(all[1].lang, Lang::En);

    // An update that keeps the secret (the API's masked answer sent back).
    let mut renamed = webhook(Some(MASK));
    renamed.name = "Guardia 2".into();
    alerts::update_channel(&db.pool, &actor(), hook.id, &renamed, &["secret"])
        .await
        .expect("update keeping the secret");
    let kept = alerts::channel(&db.pool, hook.id).await.expect("channel");
    match &kept.config {
        ChannelConfig::Webhook { secret, .. } => {
            assert_eq!(
                secret.as_ref().map(|s| s.expose_secret()),
                Some("hmac-key-1")
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(kept.name, "Guardia 2");
    alerts::delete_channel(&db.pool, &actor(), mail.id)
        .await
        .expect("delete");

    let log = audit_log(&db.pool, 10).await;
    let text = serde_json::to_string(&log).expect("json");
    for secret in ["hmac-key-1", "smtp-password-1", "slack-token-1"] {
        assert!(
            !text.contains(secret),
            "{secret} reached the audit log: {text}"
        );
    }
    let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "alert_channel.delete",
            "alert_channel.update",
            "alert_channel.create",
            "alert_channel.create",
            "alert_channel.create"
        ]
    );
    assert_eq!(log[0].before.as_ref().expect("before")["password"], MASK);
    assert_eq!(log[1].after.as_ref().expect("after")["secret"], MASK);
    assert_eq!(log[2].after.as_ref().expect("after")["url"], MASK);
}

#[tokio::test]
async fn channel_values_are_refused_naming_the_field() {
    let db = test_db().await;
    let with = |config: ChannelConfig| ChannelDef { config, ..email() };
    let mail = |f: &dyn Fn(&mut ChannelConfig)| {
        let mut c = email().config;
        f(&mut c);
        with(c)
    };
    let cases: Vec<(ChannelDef, &str)> = vec![
        (
            with(ChannelConfig::Webhook {
                url: "ftp://example.net/x".into(),
                secret: None,
            }),
            "url",
        ),
        (
            with(ChannelConfig::Webhook {
                url: "http://user:pw@example.net/x".into(),
                secret: None,
            }),
            "url",
        ),
        (
            with(ChannelConfig::Slack {
                url: SecretString::from("http://hooks.slack.com/x".to_owned()),
            }),
            "url",
        ),
        (
            mail(&|c| {
                if let ChannelConfig::Email { to, .. } = c {
                    to.clear();
                }
            }),
            "to",
        ),
        (
            mail(&|c| {
                if let ChannelConfig::Email { to, .. } = c {
                    to.push("not-an-address".into());
                }
            }),
            "to",
        ),
        (
            mail(&|c| {
                if let ChannelConfig::Email { from, .. } = c {
                    *from = "relevo at example".into();
                }
            }),
            "from",
        ),
        (
            mail(&|c| {
                if let ChannelConfig::Email { host, .. } = c {
                    *host = "smtp example".into();
                }
            }),
            "host",
        ),
    ];
    for (def, want) in cases {
        assert_eq!(
            field_of(alerts::create_channel(&db.pool, &actor(), &def).await),
            want,
            "{:?}",
            def.config
        );
    }
    // A mask sent back where no secret is stored has nothing to keep.
    let hook = alerts::create_channel(&db.pool, &actor(), &webhook(None))
        .await
        .expect("webhook");
    assert_eq!(
        field_of(
            alerts::update_channel(
                &db.pool,
                &actor(),
                hook.id,
                &webhook(Some(MASK)),
                &["secret"]
            )
            .await
        ),
        "secret"
    );
}

#[tokio::test]
async fn settings_default_update_and_audit() {
    let db = test_db().await;
    let initial = alerts::settings(&db.pool).await.expect("settings");
    assert_eq!(
        initial,
        AlertSettings {
            repeat_minutes: 15,
            panel_url: None
        }
    );
    let new = AlertSettings {
        repeat_minutes: 30,
        panel_url: Some("https://relay.example.com".into()),
    };
    assert_eq!(
        alerts::update_settings(&db.pool, &actor(), &new)
            .await
            .expect("update"),
        new
    );
    // The same values again: no change, no audit row.
    alerts::update_settings(&db.pool, &actor(), &new)
        .await
        .expect("same");
    assert_eq!(alerts::settings(&db.pool).await.expect("settings"), new);
    for bad in [
        AlertSettings {
            repeat_minutes: 0,
            panel_url: None,
        },
        AlertSettings {
            repeat_minutes: 1441,
            panel_url: None,
        },
    ] {
        assert_eq!(
            field_of(alerts::update_settings(&db.pool, &actor(), &bad).await),
            "repeat_minutes"
        );
    }
    let bad_url = AlertSettings {
        repeat_minutes: 15,
        panel_url: Some("javascript:alert(1)".into()),
    };
    assert_eq!(
        field_of(alerts::update_settings(&db.pool, &actor(), &bad_url).await),
        "panel_url"
    );
    let log = audit_log(&db.pool, 10).await;
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0].action, "alert_settings.update");
    assert_eq!(log[0].after.as_ref().expect("after")["repeat_minutes"], 30);
}

/// Rows written around the store (by hand, or by a bug) in shapes the evaluator could not
/// read are refused by the schema itself.
#[tokio::test]
async fn checks_refuse_bad_shapes_written_by_hand() {
    let db = test_db().await;
    let refused = [
        // Unknown condition.
        "INSERT INTO alert_rules (name, condition, for_secs) VALUES ('r', 'cpu_high', 10)",
        // Threshold required by condition, and in range.
        "INSERT INTO alert_rules (name, condition, for_secs) VALUES ('r', 'low_bitrate', 10)",
        "INSERT INTO alert_rules (name, condition, threshold, for_secs) VALUES ('r', 'srt_loss', 0, 10)",
        "INSERT INTO alert_rules (name, condition, threshold, for_secs) VALUES ('r', 'input_down', 5, 10)",
        "INSERT INTO alert_rules (name, condition, for_secs) VALUES ('r', 'input_down', 86401)",
        "INSERT INTO alert_rules (name, condition, for_secs) VALUES ('r', 'input_down', -1)",
        // A webhook with SMTP columns, an email without recipients, a Slack URL over http.
        "INSERT INTO alert_channels (name, kind, url, smtp_host) VALUES ('c', 'webhook', 'https://a.example', 'smtp')",
        "INSERT INTO alert_channels (name, kind, smtp_host, smtp_port, smtp_security, mail_from) VALUES ('c', 'email', 'smtp', 25, 'none', 'a@b')",
        "INSERT INTO alert_channels (name, kind, url) VALUES ('c', 'slack', 'http://hooks.slack.com/x')",
        // Email addresses: an empty one among the recipients.
        "INSERT INTO alert_channels (name, kind, smtp_host, smtp_port, smtp_security, mail_from, mail_to) VALUES ('c', 'email', 'smtp', 25, 'none', 'a@b', ARRAY['x@y', ''])",
        // URLs: http(s) with a host only.
        "INSERT INTO alert_channels (name, kind, url) VALUES ('c', 'webhook', 'file:///etc/passwd')",
        "UPDATE alert_settings SET panel_url = 'javascript:alert(1)'",
        "UPDATE alert_settings SET repeat_minutes = 0",
    ];
    for sql in refused {
        let e = sqlx::query(sql)
            .execute(&db.pool)
            .await
            .map_err(StoreError::from);
        assert!(matches!(e, Err(StoreError::Check { .. })), "{sql}: {e:?}");
    }
    let accepted = [
        "INSERT INTO alert_rules (name, condition, threshold, for_secs) VALUES ('r', 'srt_loss', 0.5, 10)",
        "INSERT INTO alert_channels (name, kind, smtp_host, smtp_port, smtp_security, mail_from, mail_to) VALUES ('c', 'email', 'smtp', 25, 'none', 'a@b', ARRAY['x@y'])",
    ];
    for sql in accepted {
        sqlx::query(sql).execute(&db.pool).await.expect(sql);
    }
}

/// A backup brings the alerts back: rules, channels with their secrets (an export carries
/// secrets in clear, like the flows' keys) and settings; an export made before alerts
/// existed leaves them as they are; a masked secret is refused, located in the document.
#[tokio::test]
async fn alerts_travel_in_the_configuration_export() {
    use relevo_control::store::alerts::{ChannelDoc, RuleDoc};
    use relevo_control::store::export::{self, ImportError, ImportMode};

    let source = test_db().await;
    alerts::create_rule(&source.pool, &actor(), &rule(Condition::SrtLoss, Some(2.5)))
        .await
        .expect("rule");
    alerts::create_channel(&source.pool, &actor(), &webhook(Some("hmac-key-1")))
        .await
        .expect("webhook");
    alerts::create_channel(&source.pool, &actor(), &email())
        .await
        .expect("email");
    let settings = AlertSettings {
        repeat_minutes: 7,
        panel_url: Some("https://relay.example.com".into()),
    };
    alerts::update_settings(&source.pool, &actor(), &settings)
        .await
        .expect("settings");

    let doc = export::export(&source.pool).await.expect("export");
    let text = serde_json::to_string(&doc).expect("json");
    for secret in ["hmac-key-1", "smtp-password-1"] {
        assert!(text.contains(secret), "a backup keeps {secret}");
    }
    let target = test_db().await;
    let parsed: export::ConfigExport = serde_json::from_str(&text).expect("parse");
    export::import(&target.pool, &actor(), &parsed, ImportMode::Empty)
        .await
        .expect("import");
    assert_eq!(
        alerts::settings(&target.pool).await.expect("settings"),
        settings
    );
    let docs = |rules: Vec<relevo_control::alerts::Rule>| {
        rules.iter().map(RuleDoc::of).collect::<Vec<_>>()
    };
    assert_eq!(
        docs(alerts::rules(&target.pool).await.expect("rules")),
        docs(alerts::rules(&source.pool).await.expect("rules"))
    );
    let channels = |c: Vec<relevo_control::alerts::Channel>| {
        c.iter().map(ChannelDoc::revealed).collect::<Vec<_>>()
    };
    assert_eq!(
        channels(alerts::channels(&target.pool).await.expect("channels")),
        channels(alerts::channels(&source.pool).await.expect("channels"))
    );

    // An older export (no "alerts"): the target's alerts stay.
    let mut old = parsed.clone();
    old.alerts = None;
    export::import(&target.pool, &actor(), &old, ImportMode::Replace)
        .await
        .expect("import an older export");
    assert_eq!(alerts::rules(&target.pool).await.expect("rules").len(), 1);
    assert_eq!(
        alerts::channels(&target.pool)
            .await
            .expect("channels")
            .len(),
        2
    );

    // A masked secret has nothing behind it in a backup.
    let mut masked = parsed.clone();
    if let Some(a) = masked.alerts.as_mut() {
        a.channels[0].secret = Some(MASK.to_owned());
    }
    match export::import(&target.pool, &actor(), &masked, ImportMode::Replace).await {
        Err(ImportError::Field(f)) => assert_eq!(f.field, "alerts.channels[0].secret"),
        other => panic!("expected a field error, got {other:?}"),
    }
    assert_eq!(
        alerts::channels(&target.pool)
            .await
            .expect("channels")
            .len(),
        2
    );
}
