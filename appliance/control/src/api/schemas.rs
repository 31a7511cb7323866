//! JSON Schemas of the request bodies, for the OpenAPI document: which route takes which
//! body ([`BODIES`]) and each body's schema ([`schemas`]). Tests check every schema against
//! the type that parses the body, so the document cannot drift from the code.

use serde_json::{json, Value};

/// (method, path, schema name) of every route that takes a JSON body.
pub const BODIES: &[(&str, &str, &str)] = &[
    ("POST", "/api/v1/setup", "Setup"),
    ("POST", "/api/v1/auth/login", "Login"),
    ("POST", "/api/v1/auth/refresh", "RefreshToken"),
    ("POST", "/api/v1/auth/logout", "RefreshToken"),
    ("POST", "/api/v1/me/password", "PasswordChange"),
    ("POST", "/api/v1/me/totp/begin", "CurrentPassword"),
    ("POST", "/api/v1/me/totp/confirm", "Code"),
    ("POST", "/api/v1/me/totp/disable", "CurrentPassword"),
    ("POST", "/api/v1/inputs", "Input"),
    ("PUT", "/api/v1/inputs/{id}", "Input"),
    ("POST", "/api/v1/inputs/{id}/switch", "FeedSwitch"),
    ("POST", "/api/v1/feeds/{input}", "FeedSwitch"),
    ("POST", "/api/v1/inputs/{id}/outputs", "Output"),
    ("PUT", "/api/v1/outputs/{id}", "Output"),
    ("POST", "/api/v1/users", "NewUser"),
    ("PATCH", "/api/v1/users/{id}", "UserPatch"),
    ("POST", "/api/v1/users/{id}/password", "Password"),
    ("POST", "/api/v1/tokens", "NewToken"),
    ("PATCH", "/api/v1/settings", "SettingsPatch"),
    ("POST", "/api/v1/config/import", "ConfigExport"),
    ("POST", "/api/v1/alerts/rules", "AlertRule"),
    ("PUT", "/api/v1/alerts/rules/{id}", "AlertRule"),
    ("POST", "/api/v1/alerts/channels", "AlertChannel"),
    ("PUT", "/api/v1/alerts/channels/{id}", "AlertChannel"),
    ("PATCH", "/api/v1/alerts/settings", "AlertSettingsPatch"),
];

/// (method, path, status, schema name) of the answers documented besides the error.
pub const ANSWERS: &[(&str, &str, &str, &str)] = &[
    (
        "POST",
        "/api/v1/inputs/{id}/outputs",
        "201",
        "WrittenOutput",
    ),
    ("PUT", "/api/v1/outputs/{id}", "200", "WrittenOutput"),
    ("POST", "/api/v1/outputs/{id}/start", "200", "WrittenOutput"),
    ("POST", "/api/v1/outputs/{id}/stop", "200", "WrittenOutput"),
    ("GET", "/api/v1/history/{input}", "200", "History"),
    ("GET", "/api/v1/history/{input}/{output}", "200", "History"),
    ("GET", "/api/v1/availability/{input}", "200", "Availability"),
    (
        "GET",
        "/api/v1/availability/{input}/{output}",
        "200",
        "Availability",
    ),
    ("GET", "/api/v1/events", "200", "EventPage"),
];

/// The schema name of a route's JSON body, if it takes one.
pub fn body_of(method: &str, path: &str) -> Option<&'static str> {
    BODIES
        .iter()
        .find(|(m, p, _)| *m == method && *p == path)
        .map(|(_, _, s)| *s)
}

fn object(required: &[&str], properties: Value) -> Value {
    json!({"type": "object", "additionalProperties": false, "required": required, "properties": properties})
}

/// The SRT fields inputs and outputs share.
fn srt_properties() -> Value {
    json!({
        "passphrase": {"type": "string", "minLength": 10, "maxLength": 79,
                       "description": "AES encryption (SRT); the peer uses the same phrase"},
        "key_length": {"enum": [16, 24, 32], "description": "AES key length in bytes (16 when only a passphrase is given)"},
        "latency_ms": {"type": "integer", "minimum": 80, "maximum": 1000, "default": 200},
        "stream_id": {"type": "string", "description": "SRT stream id sent by a caller (pull input, push output)"}
    })
}

fn with(mut base: Value, extra: Value) -> Value {
    if let (Some(b), Some(e)) = (base.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    base
}

const KEY: &str = "^[A-Za-z0-9._~-]{1,128}$";

/// Every body schema, by name (`#/components/schemas/<name>`).
pub fn schemas() -> Value {
    let backup = object(
        &[],
        with(
            json!({
                "key": {"type": "string", "pattern": KEY,
                        "description": "A second key on Relevo's listeners for a backup encoder (inputs that listen only; the input's passphrase and latency apply); either key or pull"},
                "pull": {"type": "string", "description": "srt://host:port or rtmp(s)://host[:port]/app/key: Relevo fetches the backup"},
                "failover_ms": {"type": "integer", "minimum": 500, "maximum": 30000, "default": 2000,
                                "description": "The main feed is lost after this long without data (or at once when it disconnects)"},
                "revert_s": {"type": "integer", "minimum": 0, "maximum": 600, "default": 10,
                             "description": "Back to the main feed once it has been live this long; 0: only by hand (POST /api/v1/inputs/{id}/switch)"}
            }),
            srt_properties(),
        ),
    );
    let input = object(
        &["name"],
        with(
            json!({
                "name": {"type": "string", "minLength": 1, "maxLength": 100},
                "enabled": {"type": "boolean", "default": true},
                "key": {"type": "string", "pattern": KEY,
                        "description": "Encoders publish with this key (SRT streamid publish:KEY, RTMP /live/KEY); either key or pull"},
                "pull": {"type": "string", "description": "srt://host:port or rtmp(s)://host[:port]/app/key: Relevo fetches the stream"},
                "grace_period_s": {"type": "integer", "minimum": 0, "maximum": 300, "default": 10,
                                   "description": "Seconds outputs wait for a dropped publisher"},
                "srt_port": {"type": "integer", "minimum": 1024, "maximum": 65535,
                             "description": "Listening inputs: an SRT port of the input's own, for encoders that send no stream id (any caller on it publishes to this input); requires a passphrase; unique"},
                "backup": {"oneOf": [{"type": "null"}, backup],
                           "description": "A redundant feed: the outputs switch to it when the main feed stops, at a keyframe, and back after revert_s; null: none"}
            }),
            srt_properties(),
        ),
    );
    let output = object(
        &["name"],
        with(
            json!({
                "name": {"type": "string", "minLength": 1, "maxLength": 100},
                "enabled": {"type": "boolean", "default": true},
                "push": {"type": "string", "description": "srt://host:port or rtmp(s)://host[:port]/app/streamkey: Relevo sends to it; exactly one of push, pull and record"},
                "pull": {"enum": ["srt", "rtmp"], "description": "Readers fetch the stream from Relevo with the output's key"},
                "key": {"type": "string", "pattern": KEY, "description": "Pull outputs: the readers' key (SRT streamid read:KEY, RTMP /live/KEY)"},
                "enhanced_rtmp": {"type": "boolean", "description": "Push RTMP(S): the destination accepts Enhanced RTMP (H.265)"},
                "platform": {"enum": ["youtube", "twitch", "facebook"], "description": "Push RTMP(S): the platform whose ingest rules the codec pre-flight applies (YouTube: H.264, H.265 with enhanced_rtmp, AAC or MP3; Twitch and Facebook: H.264 and AAC); unset: found from the URL's host, else generic RTMP"},
                "record": {"enum": ["mp4", "ts"], "description": "Relevo writes the input to files on its disk: fragmented MP4 or MPEG-TS, without transcoding"},
                "segment_s": {"type": "integer", "minimum": 10, "maximum": 86400, "default": 3600,
                              "description": "Record outputs: seconds one file lasts (a new file begins at the next keyframe)"},
                "keep_days": {"type": "integer", "minimum": 1, "description": "Record outputs: files older than this many days are removed"},
                "keep_gib": {"type": "integer", "minimum": 1, "description": "Record outputs: the oldest files are removed past this many GiB"},
                "keep_files": {"type": "integer", "minimum": 1, "description": "Record outputs: the oldest files are removed past this many files (the one being written counts and stays)"}
            }),
            srt_properties(),
        ),
    );
    let role = json!({"enum": ["admin", "tecnico", "visor"]});
    let compat = json!({"type": "object", "required": ["severity", "code", "track", "found", "accepted", "message"],
    "description": "Something in the input's stream the destination does not accept (codec pre-flight)",
    "properties": {
        "severity": {"enum": ["error", "warning"], "description": "error: a push output does not connect (state incompatible); warning: pushed anyway"},
        "code": {"enum": ["h265_needs_enhanced", "video_codec", "audio_codec", "no_video", "no_audio"]},
        "track": {"enum": ["video", "audio"]},
        "found": {"type": "string", "description": "The input's codec on that track (h264, h265, aac, mp3, opus, ac3, mpeg_audio…), none when it has none"},
        "accepted": {"type": "array", "items": {"type": "string"}, "description": "What the destination takes on that track"},
        "message": {"type": "string", "description": "In English: what to change on the encoder"}
    }});
    let written_output = json!({"type": "object",
    "description": "The output as written: the Output fields with id, input_id, created_at and updated_at, and compat when the input is live",
    "properties": {
        "id": {"type": "integer"},
        "input_id": {"type": "integer"},
        "compat": {"type": "array", "items": {"$ref": "#/components/schemas/CompatProblem"},
                   "description": "Present when the input is live: the codec pre-flight of this output against the stream on air; empty when the destination takes it"}
    }});
    let mut schemas = json!({
        "CompatProblem": compat,
        "WrittenOutput": written_output,
        "Input": input,
        "FeedSwitch": object(&["feed"], json!({
            "feed": {"enum": ["main", "backup"], "description": "The feed the outputs take from now on; it holds until switched back or lost"}
        })),
        "Output": output,
        "Setup": object(&["token", "email", "password"], json!({
            "token": {"type": "string", "description": "rlv_setup_…, from the link in the service log"},
            "email": {"type": "string", "format": "email"},
            "password": {"type": "string", "minLength": 12}
        })),
        "Login": object(&["email", "password"], json!({
            "email": {"type": "string"},
            "password": {"type": "string"},
            "totp_code": {"type": "string", "description": "6 digits, or a recovery code, when 2FA is on"}
        })),
        "RefreshToken": object(&["refresh_token"], json!({"refresh_token": {"type": "string"}})),
        "PasswordChange": object(&["current_password", "new_password"], json!({
            "current_password": {"type": "string"},
            "new_password": {"type": "string", "minLength": 12}
        })),
        "Code": object(&["code"], json!({"code": {"type": "string"}})),
        "Password": object(&["password"], json!({"password": {"type": "string", "minLength": 12}})),
        "CurrentPassword": object(&["password"], json!({"password": {"type": "string", "description": "the caller's current password"}})),
        "NewUser": object(&["email", "password", "role"], json!({
            "email": {"type": "string", "format": "email"},
            "password": {"type": "string", "minLength": 12},
            "role": role
        })),
        "UserPatch": object(&[], json!({
            "role": role,
            "disabled": {"type": "boolean"},
            "totp_required": {"type": "boolean"}
        })),
        "NewToken": object(&["name", "role"], json!({
            "name": {"type": "string", "minLength": 1, "maxLength": 100},
            "role": role
        })),
        "SettingsPatch": object(&[], json!({
            "product_name": {"type": "string", "minLength": 1, "maxLength": 100},
            "primary_color": {"type": "string", "pattern": "^#[0-9a-fA-F]{6}$"},
            "allow_private_destinations": {"type": "boolean"}
        })),
        "ConfigExport": {"type": "object", "description": "A document from GET /api/v1/config/export"},
        "AlertRule": object(&["name", "condition", "for_secs"], json!({
            "name": {"type": "string", "minLength": 1, "maxLength": 100},
            "condition": {"enum": ["input_down", "output_failing", "low_bitrate", "srt_loss", "disk_low", "cert_expiry"]},
            "input": {"type": "string", "description": "An input's name; absent: every input (not for disk_low, cert_expiry)"},
            "output": {"type": "string", "description": "An output's name within input (output_failing, srt_loss); absent: every output"},
            "threshold": {"type": "number", "description": "low_bitrate: kbit/s 1-1000000; srt_loss: % 0.1-100; disk_low: % free 1-99; cert_expiry: days 1-365; none for input_down, output_failing"},
            "for_secs": {"type": "integer", "minimum": 0, "maximum": 86400},
            "enabled": {"type": "boolean", "default": true}
        })),
        "AlertChannel": object(&["name", "kind"], json!({
            "name": {"type": "string", "minLength": 1, "maxLength": 100},
            "kind": {"enum": ["webhook", "slack", "email"]},
            "enabled": {"type": "boolean", "default": true},
            "lang": {"enum": ["es", "en"], "default": "es"},
            "url": {"type": "string", "description": "webhook: http(s) URL; slack: https incoming-webhook URL (a secret: answered masked)"},
            "secret": {"type": "string", "description": "webhook: HMAC-SHA256 key of the X-Relevo-Signature header (answered masked; send the mask back to keep it)"},
            "host": {"type": "string", "description": "email: SMTP server"},
            "port": {"type": "integer", "minimum": 1, "maximum": 65535, "description": "email: default 587 (starttls), 465 (tls), 25 (none)"},
            "security": {"enum": ["none", "starttls", "tls"], "default": "starttls"},
            "username": {"type": "string"},
            "password": {"type": "string", "description": "email: SMTP password (answered masked; send the mask back to keep it)"},
            "from": {"type": "string", "format": "email"},
            "to": {"type": "array", "minItems": 1, "maxItems": 50, "items": {"type": "string", "format": "email"}}
        })),
        "AlertSettingsPatch": object(&[], json!({
            "repeat_minutes": {"type": "integer", "minimum": 1, "maximum": 1440},
            "panel_url": {"type": ["string", "null"], "description": "http(s) URL of the panel for the link in messages; null: no link"}
        }))
    });
    // The history's answers (issue #17) are described beside their handlers.
    if let (Some(all), Value::Object(history)) =
        (schemas.as_object_mut(), super::history::answer_schemas())
    {
        all.extend(history);
    }
    schemas
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde::de::DeserializeOwned;
    use serde_json::Value;

    use super::*;
    use crate::api::{admin, session};
    use crate::flow_doc::{InputDoc, OutputDoc};

    fn properties(name: &str) -> BTreeSet<String> {
        schemas()[name]["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("schema {name}"))
            .keys()
            .cloned()
            .collect()
    }

    /// A body with every property of the schema, each with a value it allows.
    fn full_body(name: &str) -> Value {
        full_of(&schemas()[name])
    }

    /// [`full_body`] of one object schema; a nested object (the input's `backup`) is full too.
    fn full_of(schema: &Value) -> Value {
        let mut body = serde_json::Map::new();
        for (k, p) in schema["properties"].as_object().into_iter().flatten() {
            let nested = p["oneOf"]
                .as_array()
                .and_then(|alts| alts.iter().find(|a| a["properties"].is_object()));
            let v = if let Some(e) = p["enum"].as_array() {
                e[0].clone()
            } else if let Some(object) = nested {
                full_of(object)
            } else {
                match p["type"].as_str() {
                    Some("boolean") => Value::Bool(true),
                    Some("integer") => json!(p["minimum"].as_i64().unwrap_or(1)),
                    Some("array") => json!([]),
                    Some("number") => json!(1.0),
                    _ => json!("x".repeat(p["minLength"].as_u64().unwrap_or(1) as usize)),
                }
            };
            body.insert(k.clone(), v);
        }
        Value::Object(body)
    }

    /// The body type reads every property of its schema (they all deny unknown fields, so
    /// a property the type does not know fails here).
    fn reads<T: DeserializeOwned>(name: &str) {
        let body = full_body(name);
        if let Err(e) = serde_json::from_value::<T>(body.clone()) {
            panic!("schema {name}: {body} does not parse: {e}");
        }
    }

    #[test]
    fn flow_schemas_list_every_field_of_the_documents() {
        let input = InputDoc {
            name: "n".into(),
            enabled: true,
            key: Some("k".into()),
            pull: Some("p".into()),
            passphrase: Some("p".into()),
            key_length: Some(16),
            latency_ms: Some(200),
            stream_id: Some("s".into()),
            grace_period_s: Some(10),
            srt_port: Some(9001),
            backup: Some(crate::flow_doc::BackupDoc {
                key: Some("b".into()),
                pull: None,
                passphrase: None,
                key_length: None,
                latency_ms: None,
                stream_id: None,
                failover_ms: Some(2000),
                revert_s: Some(10),
            }),
        };
        let fields = |v: Value| -> BTreeSet<String> {
            v.as_object()
                .into_iter()
                .flatten()
                .map(|(k, _)| k.clone())
                .collect()
        };
        assert_eq!(
            fields(serde_json::to_value(input).unwrap_or_default()),
            properties("Input")
        );
        let output = OutputDoc {
            name: "n".into(),
            enabled: true,
            push: Some("p".into()),
            pull: Some("srt".into()),
            key: Some("k".into()),
            passphrase: Some("p".into()),
            key_length: Some(16),
            latency_ms: Some(200),
            stream_id: Some("s".into()),
            enhanced_rtmp: Some(true),
            platform: Some("youtube".into()),
            record: Some("mp4".into()),
            segment_s: Some(3600),
            keep_days: Some(7),
            keep_gib: Some(100),
            keep_files: Some(24),
        };
        assert_eq!(
            fields(serde_json::to_value(output).unwrap_or_default()),
            properties("Output")
        );
        reads::<InputDoc>("Input");
        reads::<OutputDoc>("Output");
    }

    #[test]
    fn the_backup_schema_lists_every_field_of_its_document() {
        let doc = crate::flow_doc::BackupDoc {
            key: Some("k".into()),
            pull: Some("p".into()),
            passphrase: Some("p".into()),
            key_length: Some(16),
            latency_ms: Some(200),
            stream_id: Some("s".into()),
            failover_ms: Some(2000),
            revert_s: Some(10),
        };
        let written: BTreeSet<String> = serde_json::to_value(doc)
            .unwrap_or_default()
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, _)| k.clone())
            .collect();
        let schema = &schemas()["Input"]["properties"]["backup"]["oneOf"][1];
        let listed: BTreeSet<String> = schema["properties"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, _)| k.clone())
            .collect();
        assert_eq!(written, listed);
    }

    #[test]
    fn every_body_type_reads_its_schema() {
        reads::<session::SetupBody>("Setup");
        reads::<session::LoginBody>("Login");
        reads::<session::RefreshBody>("RefreshToken");
        reads::<session::PasswordChange>("PasswordChange");
        reads::<session::CodeBody>("Code");
        reads::<session::PasswordBody>("CurrentPassword");
        reads::<admin::NewUser>("NewUser");
        reads::<admin::UserPatchBody>("UserPatch");
        reads::<admin::SetPassword>("Password");
        reads::<admin::NewToken>("NewToken");
        reads::<admin::SettingsPatch>("SettingsPatch");
        reads::<crate::api::flows::SwitchBody>("FeedSwitch");
        reads::<crate::api::alerts::RuleBody>("AlertRule");
        reads::<crate::api::alerts::ChannelBody>("AlertChannel");
        reads::<crate::api::alerts::SettingsPatch>("AlertSettingsPatch");
    }

    #[test]
    fn the_compat_schema_lists_every_field_of_a_problem() {
        use relevo_engine::metrics::{CompatProblem, CompatSeverity};
        let p = CompatProblem {
            severity: CompatSeverity::Error,
            code: "audio_codec",
            track: "audio",
            found: "opus".into(),
            accepted: vec!["aac"],
            message: "m".into(),
        };
        let written: BTreeSet<String> = serde_json::to_value(p)
            .unwrap_or_default()
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, _)| k.clone())
            .collect();
        assert_eq!(written, properties("CompatProblem"));
        let codes = &schemas()["CompatProblem"]["properties"]["code"]["enum"];
        for code in [
            relevo_engine::preflight::H265_NEEDS_ENHANCED,
            relevo_engine::preflight::VIDEO_CODEC,
            relevo_engine::preflight::AUDIO_CODEC,
            relevo_engine::preflight::NO_VIDEO,
            relevo_engine::preflight::NO_AUDIO,
        ] {
            assert!(
                codes.as_array().into_iter().flatten().any(|c| c == code),
                "{code}"
            );
        }
        for (method, path, _, schema) in ANSWERS {
            assert!(
                super::super::routes::ROUTES
                    .iter()
                    .any(|r| r.method == *method && r.path == *path),
                "{method} {path} is not a route"
            );
            assert!(schemas().get(schema).is_some(), "no schema {schema}");
        }
    }

    #[test]
    fn every_body_names_a_route_and_a_schema() {
        let all = schemas();
        for (method, path, schema) in BODIES {
            assert!(
                super::super::routes::ROUTES
                    .iter()
                    .any(|r| r.method == *method && r.path == *path),
                "{method} {path} is not a route"
            );
            assert!(all.get(schema).is_some(), "no schema {schema}");
        }
        // And every route that changes something either takes a documented body or none.
        let bodiless = ["/start", "/stop", "/totp/reset", "/settings/logo", "/test"];
        for r in super::super::routes::ROUTES {
            if matches!(r.method, "POST" | "PUT" | "PATCH")
                && !bodiless.iter().any(|b| r.path.ends_with(b))
            {
                assert!(
                    body_of(r.method, r.path).is_some(),
                    "{} {} has no body schema",
                    r.method,
                    r.path
                );
            }
        }
    }
}
