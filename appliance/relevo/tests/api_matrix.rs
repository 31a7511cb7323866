//! Every route of the API against every role: anonymous callers reach only the public
//! routes, a Visor changes nothing, a Técnico touches no user, token or setting, and every
//! route the table lists is served. The table is the one the router and the OpenAPI
//! document are built from (`relevo_control::api::routes::ROUTES`).
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use relevo_control::api::routes::{Access, ROUTES};
use serde_json::json;

/// A caller of the matrix.
struct Caller {
    name: &'static str,
    token: Option<String>,
    /// Which accesses this caller must be granted.
    granted: fn(Access) -> bool,
}

#[test]
fn every_route_against_every_role() {
    let relevo = Relevo::start("api-matrix", "", "");
    for (email, role) in [
        ("tec@relevo.test", "tecnico"),
        ("visor@relevo.test", "visor"),
    ] {
        relevo.add_user(email, role);
    }
    let (st, body) = relevo.api(
        "POST",
        "/api/v1/tokens",
        Some(&json!({"name": "grafana", "role": "visor"})),
    );
    assert_eq!(st, 201, "{body}");
    let visor_token = body["token"].as_str().unwrap().to_owned();
    let (st, body) = relevo.api(
        "POST",
        "/api/v1/tokens",
        Some(&json!({"name": "ci", "role": "tecnico"})),
    );
    assert_eq!(st, 201, "{body}");
    let tecnico_token = body["token"].as_str().unwrap().to_owned();

    let callers = [
        Caller {
            name: "anonymous",
            token: None,
            granted: |a| a == Access::Public,
        },
        Caller {
            name: "visor",
            token: Some(relevo.access_token("visor@relevo.test")),
            granted: |a| matches!(a, Access::Public | Access::Signed | Access::Read),
        },
        Caller {
            name: "visor API token",
            token: Some(visor_token),
            granted: |a| matches!(a, Access::Public | Access::Read),
        },
        Caller {
            name: "tecnico",
            token: Some(relevo.access_token("tec@relevo.test")),
            granted: |a| !matches!(a, Access::Admin),
        },
        Caller {
            name: "tecnico API token",
            token: Some(tecnico_token),
            granted: |a| matches!(a, Access::Public | Access::Read | Access::Operate),
        },
        Caller {
            name: "admin",
            token: Some(relevo.token().to_owned()),
            granted: |_| true,
        },
    ];

    let mut failures = Vec::new();
    for route in ROUTES {
        // Ids that do not exist: an allowed call answers 404 (or 422 for its body), so the
        // matrix changes nothing it would have to undo.
        let path = route.path.replace("{id}", "999999");
        let body = matches!(route.method, "POST" | "PUT" | "PATCH").then(|| json!({}));
        for caller in &callers {
            // Signing out a caller would spoil the rows after it.
            if route.path == "/api/v1/auth/logout" && caller.token.is_some() {
                continue;
            }
            let (st, text) = http_request(
                relevo.http,
                route.method,
                &path,
                caller.token.as_deref(),
                body.as_ref(),
            );
            let granted = (caller.granted)(route.access);
            let ok = match (granted, caller.token.is_some()) {
                (true, _) => !matches!(st, 0 | 401 | 403 | 405) && !text.contains("\"no_route\""),
                (false, false) => st == 401,
                // An API token asking for a user's own account is refused as such.
                (false, true) => st == 403,
            };
            if !ok {
                failures.push(format!(
                    "{} {} as {}: {st} {text}",
                    route.method, route.path, caller.name
                ));
            }
        }
    }
    assert!(failures.is_empty(), "role matrix:\n{}", failures.join("\n"));

    // The OpenAPI document lists exactly the table.
    let (st, text) = http_request(relevo.http, "GET", "/api/v1/openapi.json", None, None);
    assert_eq!(st, 200);
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    for route in ROUTES {
        assert!(
            doc["paths"][route.path][route.method.to_lowercase()].is_object(),
            "{} {} missing from the OpenAPI document",
            route.method,
            route.path
        );
    }
}

/// A Visor sees flows without their secrets; a Técnico sees them to copy into an encoder.
#[test]
fn visor_sees_no_secrets() {
    let relevo = Relevo::start("api-visor", "", "");
    relevo.add_user("visor@relevo.test", "visor");
    let (st, input) = relevo.api(
        "POST",
        "/api/v1/inputs",
        Some(&json!({"name": "cam", "key": "publisher-secret", "passphrase": "srt-passphrase-1"})),
    );
    assert_eq!(st, 201, "{input}");
    let id = input["id"].as_i64().unwrap();
    let (st, out) = relevo.api(
        "POST",
        &format!("/api/v1/inputs/{id}/outputs"),
        Some(&json!({"name": "yt", "push": "rtmp://a.rtmp.youtube.com/live2/destination-secret"})),
    );
    assert_eq!(st, 201, "{out}");
    // Backups' secrets too (issue #18): a second key, a pull source's stream id and
    // passphrase, an RTMP pull URL's key.
    for body in [
        json!({"name": "spare", "key": "spare-key", "backup": {"key": "backup-key-secret"}}),
        json!({"name": "far", "key": "far-key", "enabled": false, "backup": {
            "pull": "srt://203.0.113.5:9000", "stream_id": "#!::r=sid-secret",
            "passphrase": "backup-passphrase-1"}}),
        json!({"name": "rtmp-far", "key": "rtmp-far-key", "enabled": false, "backup": {
            "pull": "rtmp://203.0.113.5/live/backup-url-secret"}}),
    ] {
        let (st, created) = relevo.api("POST", "/api/v1/inputs", Some(&body));
        assert_eq!(st, 201, "{created}");
    }
    let visor = relevo.access_token("visor@relevo.test");
    let (st, text) = http_request(relevo.http, "GET", "/api/v1/inputs", Some(&visor), None);
    assert_eq!(st, 200);
    for secret in [
        "publisher-secret",
        "srt-passphrase-1",
        "destination-secret",
        "backup-key-secret",
        "sid-secret",
        "backup-passphrase-1",
        "backup-url-secret",
    ] {
        assert!(!text.contains(secret), "{secret} shown to a Visor: {text}");
    }
    let list: serde_json::Value = serde_json::from_str(&text).unwrap();
    let push = list["inputs"][0]["outputs"][0]["push"].as_str().unwrap();
    assert!(
        push.starts_with("rtmp://a.rtmp.youtube.com") && push.ends_with("/live2/****"),
        "{push}"
    );
    assert_eq!(list["inputs"][1]["backup"]["key"], "***", "{list}");
    let backup_pull = list["inputs"][3]["backup"]["pull"].as_str().unwrap();
    assert!(
        backup_pull.starts_with("rtmp://203.0.113.5") && backup_pull.ends_with("/live/****"),
        "{backup_pull}"
    );
    let (_, admin_view) = relevo.api("GET", &format!("/api/v1/inputs/{id}"), None);
    assert_eq!(admin_view["key"], "publisher-secret");
    let (_, admin_list) = relevo.api("GET", "/api/v1/inputs", None);
    assert_eq!(
        admin_list["inputs"][1]["backup"]["key"],
        "backup-key-secret"
    );
    // The audit log never holds them either.
    let (st, audit) = relevo.api("GET", "/api/v1/audit?limit=50", None);
    assert_eq!(st, 200);
    let audit = audit.to_string();
    for secret in [
        "publisher-secret",
        "srt-passphrase-1",
        "destination-secret",
        "backup-key-secret",
        "sid-secret",
        "backup-passphrase-1",
        "backup-url-secret",
        ADMIN_PASSWORD,
    ] {
        assert!(!audit.contains(secret), "{secret} in the audit log");
    }
    assert!(
        audit.contains("input.create") && audit.contains("output.create"),
        "{audit}"
    );
}
