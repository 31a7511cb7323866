use relevo_control::store::settings::{self, BrandingPatch, MAX_LOGO_BYTES};
use relevo_control::store::AuditEntry;
use relevo_control::StoreError;

use crate::common::*;

pub const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR-not-a-real-image";

fn patch(name: Option<&str>, color: Option<&str>) -> BrandingPatch {
    BrandingPatch {
        product_name: name.map(str::to_owned),
        primary_color: color.map(str::to_owned),
    }
}

async fn log(db: &TestDb) -> Vec<AuditEntry> {
    audit_log(&db.pool, 100).await
}

fn field_of(r: Result<settings::Branding, StoreError>) -> &'static str {
    match r {
        Err(StoreError::Field { field, .. }) => field,
        other => panic!("expected a field error, got {other:?}"),
    }
}

#[tokio::test]
async fn defaults_then_update_normalises_and_audits() {
    let db = test_db().await;
    let initial = settings::get(&db.pool).await.expect("get");

    let updated = settings::update(
        &db.pool,
        &actor(),
        patch(Some("  Canal Sur Relay "), Some("#A1B2C3")),
    )
    .await
    .expect("update");
    let color_only = settings::update(&db.pool, &actor(), patch(None, Some("#00ff00")))
        .await
        .expect("update colour only");
    let noop = settings::update(&db.pool, &actor(), patch(None, None))
        .await
        .expect("empty patch");

    assert_eq!(
        (
            initial.product_name.as_str(),
            initial.primary_color.as_str()
        ),
        ("Relevo", "#0b5fff")
    );
    assert!(!initial.has_logo);
    assert_eq!(updated.product_name, "Canal Sur Relay");
    assert_eq!(updated.primary_color, "#a1b2c3");
    assert_eq!(color_only.product_name, "Canal Sur Relay");
    assert_eq!(noop, color_only);
    assert_eq!(settings::get(&db.pool).await.expect("get"), color_only);
    let log = log(&db).await;
    assert_eq!(log.len(), 2, "an empty patch writes no audit row: {log:?}");
    let first = &log[1];
    assert_eq!(
        (first.action.as_str(), first.target_kind.as_str()),
        ("settings.update", "settings")
    );
    let (before, after) = (first.before.as_ref(), first.after.as_ref());
    assert_eq!(before.map(|b| &b["product_name"]), Some(&"Relevo".into()));
    assert_eq!(after.map(|a| &a["primary_color"]), Some(&"#a1b2c3".into()));
}

#[tokio::test]
async fn invalid_values_name_their_field_and_change_nothing() {
    let db = test_db().await;
    let hundred = "é".repeat(100);

    let results = [
        settings::update(&db.pool, &actor(), patch(Some("   "), None)).await,
        settings::update(&db.pool, &actor(), patch(Some(&"x".repeat(101)), None)).await,
        settings::update(&db.pool, &actor(), patch(Some("a\u{7}b"), None)).await,
        settings::update(&db.pool, &actor(), patch(Some("ok"), Some("#12345"))).await,
        settings::update(&db.pool, &actor(), patch(None, Some("blue"))).await,
        settings::update(&db.pool, &actor(), patch(None, Some("#12345g"))).await,
    ];
    let untouched = settings::get(&db.pool).await.expect("get");
    let at_limit = settings::update(&db.pool, &actor(), patch(Some(&hundred), None))
        .await
        .expect("100 characters is the limit, not over it");

    let fields: Vec<&str> = results.into_iter().map(field_of).collect();
    assert_eq!(
        fields,
        [
            "product_name",
            "product_name",
            "product_name",
            "primary_color",
            "primary_color",
            "primary_color"
        ]
    );
    assert_eq!(untouched.product_name, "Relevo");
    assert_eq!(at_limit.product_name, hundred);
    assert_eq!(log(&db).await.len(), 1);
}

#[tokio::test]
async fn logo_set_read_and_cleared_with_size_and_mime_audited() {
    let db = test_db().await;

    let with_logo = settings::set_logo(&db.pool, &actor(), PNG, "image/png")
        .await
        .expect("set logo");
    let stored = settings::logo(&db.pool).await.expect("logo");
    let cleared = settings::clear_logo(&db.pool, &actor())
        .await
        .expect("clear");
    let gone = settings::logo(&db.pool).await.expect("logo");

    assert!(with_logo.has_logo);
    assert_eq!(stored, Some((PNG.to_vec(), "image/png".to_owned())));
    assert!(!cleared.has_logo);
    assert_eq!(gone, None);
    let log = log(&db).await;
    let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["settings.logo", "settings.logo"]);
    let set = &log[1];
    assert_eq!(set.before, None);
    assert_eq!(
        set.after,
        Some(serde_json::json!({ "mime": "image/png", "size": PNG.len() }))
    );
    assert_eq!(log[0].before, set.after);
    assert_eq!(log[0].after, None);
}

#[tokio::test]
async fn logo_content_must_match_its_type() {
    let db = test_db().await;
    let jpeg: &[u8] = &[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, b'J', b'F', b'I', b'F'];
    let webp: &[u8] = b"RIFF\x24\0\0\0WEBPVP8 ";
    let svg: &[u8] = b"<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\"/>";
    for (bytes, mime) in [
        (PNG, "image/png"),
        (jpeg, "image/jpeg"),
        (webp, "image/webp"),
        (svg, "image/svg+xml"),
    ] {
        settings::set_logo(&db.pool, &actor(), bytes, mime)
            .await
            .unwrap_or_else(|e| panic!("{mime}: {e}"));
    }

    let refused = [
        settings::set_logo(&db.pool, &actor(), jpeg, "image/png").await,
        settings::set_logo(&db.pool, &actor(), PNG, "image/jpeg").await,
        settings::set_logo(&db.pool, &actor(), b"RIFF\0\0\0\0WAVEfmt ", "image/webp").await,
        settings::set_logo(&db.pool, &actor(), b"<html></html>", "image/svg+xml").await,
        settings::set_logo(&db.pool, &actor(), b"", "image/png").await,
        settings::set_logo(&db.pool, &actor(), PNG, "image/gif").await,
        settings::set_logo(&db.pool, &actor(), PNG, "IMAGE/PNG").await,
    ];

    let fields: Vec<&str> = refused.into_iter().map(field_of).collect();
    assert_eq!(
        fields,
        ["logo", "logo", "logo", "logo", "logo", "mime", "mime"]
    );
    let kept = settings::logo(&db.pool).await.expect("logo");
    assert_eq!(kept.map(|(_, m)| m).as_deref(), Some("image/svg+xml"));
}

#[tokio::test]
async fn logo_size_limit_is_one_mebibyte() {
    let db = test_db().await;
    let mut at_limit = PNG.to_vec();
    at_limit.resize(MAX_LOGO_BYTES, 0);
    let mut over = at_limit.clone();
    over.push(0);

    let ok = settings::set_logo(&db.pool, &actor(), &at_limit, "image/png").await;
    let refused = settings::set_logo(&db.pool, &actor(), &over, "image/png").await;

    assert!(ok.expect("at the limit").has_logo);
    assert_eq!(field_of(refused), "logo");
    let stored = settings::logo(&db.pool).await.expect("logo").expect("set");
    assert_eq!(stored.0.len(), MAX_LOGO_BYTES);
}

#[tokio::test]
async fn branding_serialises_with_an_rfc3339_timestamp() {
    let db = test_db().await;
    let branding = settings::get(&db.pool).await.expect("get");

    let json = serde_json::to_value(&branding).expect("json");

    assert_eq!(json["product_name"], "Relevo");
    assert_eq!(json["has_logo"], false);
    let at = json["updated_at"].as_str().expect("a string");
    let parsed = time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339)
        .expect("RFC 3339");
    assert_eq!(parsed, branding.updated_at);
}

#[tokio::test]
async fn clearing_no_logo_is_not_a_change() {
    let db = test_db().await;

    let branding = settings::clear_logo(&db.pool, &actor())
        .await
        .expect("clear");

    assert!(!branding.has_logo);
    assert!(log(&db).await.is_empty());
}
