//! HLS outputs (issue #16, `pull = "hls"`) in the store and in the API's document: they
//! round-trip through the spec, the audit, the export and the import; their key shares one
//! namespace with inputs and the other pull outputs; and the database refuses rows of the
//! wrong shape.

use relevo_control::flow_doc::OutputDoc;
use relevo_control::store::export::{self, ImportMode};
use relevo_control::store::{self, inputs, outputs, InputDef};
use relevo_control::StoreError;
use relevo_engine::spec::{OutputKind, OutputSpec};

use crate::common::*;

fn studio(n: &str, k: &str) -> InputDef {
    InputDef {
        name: name(n),
        enabled: true,
        source: listen(k),
        grace: grace(10),
        backup: None,
    }
}

fn hls(n: &str, k: &str) -> OutputSpec {
    output(n, OutputKind::PullHls { key: key(k) })
}

#[tokio::test]
async fn hls_outputs_round_trip_through_store_audit_export_and_import() {
    let db = test_db().await;
    let a = inputs::create(&db.pool, &actor(), &studio("Estudio A", "studio-a"))
        .await
        .expect("input");
    let web = hls("Web", "web-player-key");
    let row = outputs::create(&db.pool, &actor(), a.id, &web)
        .await
        .expect("hls output");
    let mut changed = hls("Web", "web-player-key-2");
    changed.enabled = false;
    let updated = outputs::update(&db.pool, &actor(), row.id, &changed)
        .await
        .expect("update");
    let got = outputs::get(&db.pool, row.id).await.expect("get");
    let doc = export::export(&db.pool).await.expect("export");
    let text = serde_json::to_string(&doc).expect("json");
    let target = test_db().await;
    let summary = export::import(&target.pool, &actor(), &doc, ImportMode::Empty)
        .await
        .expect("import");

    assert_eq!(row.spec, web);
    assert_eq!((&updated.spec, &got.spec), (&changed, &changed));
    let state = store::load_desired_state(&db.pool).await.expect("load");
    assert_eq!(state.inputs[0].outputs, vec![changed.clone()]);
    // The audit names the kind and masks the key.
    let log = audit_log(&db.pool, 1).await;
    let after = log[0].after.clone().expect("after");
    assert_eq!(log[0].action, "output.update");
    assert_eq!(after["kind"], "PullHls");
    assert_eq!(after["key"], "***");
    assert!(!format!("{log:?}").contains("web-player-key"), "{log:?}");
    // The export is a backup: the key is in it, under the document's fields.
    let exported = &doc.inputs[0].outputs[0];
    assert_eq!(
        (exported.pull.as_deref(), exported.key.as_deref()),
        (Some("hls"), Some("web-player-key-2"))
    );
    assert!(text.contains(r#""pull":"hls""#), "{text}");
    assert_eq!(summary.outputs, 1);
    assert_eq!(
        store::load_desired_state(&target.pool)
            .await
            .expect("load")
            .inputs[0]
            .outputs,
        vec![changed]
    );
}

#[tokio::test]
async fn hls_keys_share_one_namespace_with_inputs_and_pull_outputs() {
    let db = test_db().await;
    let a = inputs::create(&db.pool, &actor(), &studio("A", "input-key"))
        .await
        .expect("input");
    outputs::create(
        &db.pool,
        &actor(),
        a.id,
        &pull_rtmp_output("Players", "rtmp-key"),
    )
    .await
    .expect("pull rtmp");
    let web = outputs::create(&db.pool, &actor(), a.id, &hls("Web", "hls-key"))
        .await
        .expect("hls");

    // An HLS output cannot take the input's key, a pull output's key or another HLS key…
    for (n, taken) in [("h1", "input-key"), ("h2", "rtmp-key"), ("h3", "hls-key")] {
        let r = outputs::create(&db.pool, &actor(), a.id, &hls(n, taken)).await;
        assert!(is_key_conflict(&r), "{taken}: {r:?}");
    }
    // …nor be changed to one…
    let r = outputs::update(&db.pool, &actor(), web.id, &hls("Web", "rtmp-key")).await;
    assert!(is_key_conflict(&r), "{r:?}");
    // …and its key is refused to an input and to the other pull outputs.
    let r = inputs::create(&db.pool, &actor(), &studio("B", "hls-key")).await;
    assert!(is_key_conflict(&r), "{r:?}");
    let r = outputs::create(&db.pool, &actor(), a.id, &pull_rtmp_output("P2", "hls-key")).await;
    assert!(is_key_conflict(&r), "{r:?}");
    // Its own key again (an update of another field) is fine, and a freed key is free.
    let mut same = hls("Web", "hls-key");
    same.enabled = false;
    outputs::update(&db.pool, &actor(), web.id, &same)
        .await
        .expect("same key");
    outputs::delete(&db.pool, &actor(), web.id)
        .await
        .expect("delete");
    outputs::create(&db.pool, &actor(), a.id, &pull_rtmp_output("P3", "hls-key"))
        .await
        .expect("the key is free again");
}

fn is_key_conflict<T>(r: &Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::Conflict { field: "key" }))
}

/// The CHECK constraints mirror the spec: an HLS row has a key and nothing of SRT, push or
/// recording.
#[tokio::test]
async fn the_database_refuses_hls_rows_of_the_wrong_shape() {
    let db = test_db().await;
    let a = inputs::create(&db.pool, &actor(), &studio("A", "input-key"))
        .await
        .expect("input");
    let web = outputs::create(&db.pool, &actor(), a.id, &hls("Web", "hls-key"))
        .await
        .expect("hls");
    for set in [
        "key = NULL",
        "srt_host = 'decoder.example.net'",
        "latency_ms = 200",
        "record_format = 'mp4'",
        "segment_s = 60",
        "keep_days = 1",
    ] {
        let err = sqlx::query(&format!("UPDATE outputs SET {set} WHERE id = $1"))
            .bind(web.id)
            .execute(&db.pool)
            .await
            .expect_err(set);
        let got = err.as_database_error().and_then(|e| e.constraint());
        assert_eq!(got, Some("outputs_kind_shape"), "{set}: {err}");
    }
    let state = store::load_desired_state(&db.pool)
        .await
        .expect("unchanged");
    assert_eq!(state.inputs[0].outputs[0], web.spec);
}

/// The API's and the TOML's document: `pull = "hls"` with a key, nothing of SRT.
#[test]
fn the_document_takes_pull_hls_with_a_key_and_refuses_srt_fields() {
    let doc: OutputDoc =
        serde_json::from_str(r#"{"name": "Web", "pull": "hls", "key": "web-key"}"#).expect("doc");
    let spec = doc.to_spec().expect("valid");
    assert_eq!(
        spec.kind,
        OutputKind::PullHls {
            key: key("web-key")
        }
    );
    assert_eq!(OutputDoc::from_spec(&spec), doc);
    assert_eq!(spec.kind.pull_key().map(|k| k.expose()), Some("web-key"));

    for (extra, field) in [
        (r#""passphrase": "0123456789abc""#, "passphrase"),
        (r#""latency_ms": 200"#, "latency_ms"),
        (r#""enhanced_rtmp": true"#, "enhanced_rtmp"),
        (r#""segment_s": 60"#, "segment_s"),
    ] {
        let text = format!(r#"{{"name": "Web", "pull": "hls", "key": "web-key", {extra}}}"#);
        let doc: OutputDoc = serde_json::from_str(&text).expect("doc");
        let e = doc.to_spec().expect_err(&text);
        assert_eq!(e.field, field, "{text}");
    }
    let keyless: OutputDoc =
        serde_json::from_str(r#"{"name": "Web", "pull": "hls"}"#).expect("doc");
    assert_eq!(keyless.to_spec().expect_err("no key").field, "key");
}
