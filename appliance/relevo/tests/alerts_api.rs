//! Issue #17, the alerts' configuration through the API of one real Relevo: rules and
//! channels created, read, replaced and deleted; a channel's secret answered masked and kept
//! when the mask comes back (proved by the HMAC of a test message received by a local
//! webhook receiver); bad bodies refused naming the field; Técnico and Visor refused; a test
//! message to a closed port answered 502 with the reason; the alert settings.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use common::*;
use serde_json::{json, Value};

/// The mask the API answers for a secret (`relevo_control::store::audit::MASK`).
const MASK: &str = relevo_control::store::audit::MASK;

/// A webhook receiver on loopback: every request's headers (lower-case names) and body.
type Received = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

fn receiver() -> (u16, Received) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let got: Received = Arc::default();
    let keep = got.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            // Headers, then Content-Length bytes of body.
            let (head, body) = loop {
                let Ok(n) = conn.read(&mut chunk) else {
                    break (String::new(), Vec::new());
                };
                if n == 0 {
                    break (String::new(), Vec::new());
                }
                buf.extend_from_slice(&chunk[..n]);
                let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                    continue;
                };
                let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                while buf.len() < end + 4 + len {
                    match conn.read(&mut chunk) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                break (head, buf[end + 4..].to_vec());
            };
            let _ = conn
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            keep.lock().unwrap().push((head, body));
        }
    });
    (port, got)
}

/// `sha256=<hex HMAC-SHA256>` of `body` with `key`, by OpenSSL (a peer we did not write).
fn openssl_hmac(key: &str, body: &[u8]) -> String {
    let mut child = Command::new("openssl")
        .args(["dgst", "-sha256", "-hmac", key])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("openssl");
    child.stdin.take().unwrap().write_all(body).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    format!("sha256={}", text.rsplit(' ').next().unwrap().trim())
}

fn as_user(relevo: &Relevo, token: &str, method: &str, path: &str, body: Option<&Value>) -> u16 {
    http_request(relevo.http, method, path, Some(token), body).0
}

/// A refused body: its status and the field it names.
fn refused(relevo: &Relevo, method: &str, path: &str, body: Value) -> (u16, String) {
    let (st, v) = relevo.api(method, path, Some(&body));
    (
        st,
        v["error"]["field"].as_str().unwrap_or_default().to_owned(),
    )
}

#[test]
fn alert_rules_channels_and_settings_through_the_api() {
    let relevo = Relevo::start("alerts-api", "", "");

    // ---- rules ----
    let rule = json!({"name": "Estudio caído", "condition": "input_down", "input": "estudio",
                      "for_secs": 30, "enabled": true});
    let (st, created) = relevo.api("POST", "/api/v1/alerts/rules", Some(&rule));
    assert_eq!(st, 201, "{created}");
    let id = created["id"].as_i64().unwrap();
    assert_eq!(created["condition"], "input_down");
    assert_eq!(created["threshold"], Value::Null);
    let path = format!("/api/v1/alerts/rules/{id}");
    let low = json!({"name": "Poca tasa", "condition": "low_bitrate", "input": "estudio",
                     "threshold": 800, "for_secs": 10, "enabled": false});
    let (st, updated) = relevo.api("PUT", &path, Some(&low));
    assert_eq!(st, 200, "{updated}");
    assert_eq!(
        (updated["threshold"].as_f64(), updated["enabled"].as_bool()),
        (Some(800.0), Some(false))
    );
    let (st, list) = relevo.api("GET", "/api/v1/alerts/rules", None);
    assert_eq!(st, 200);
    assert_eq!(list["rules"], json!([updated]));

    for (body, field) in [
        (
            json!({"name": "r", "condition": "input_down", "for_secs": 1, "severity": "x"}),
            "severity",
        ),
        (
            json!({"name": "r", "condition": "cpu_high", "for_secs": 1}),
            "condition",
        ),
        (
            json!({"name": "r", "condition": "low_bitrate", "for_secs": 1}),
            "threshold",
        ),
        (
            json!({"name": "r", "condition": "srt_loss", "threshold": 0.05, "for_secs": 1}),
            "threshold",
        ),
        (
            json!({"name": "r", "condition": "disk_low", "threshold": 100, "for_secs": 1}),
            "threshold",
        ),
        (
            json!({"name": "r", "condition": "cert_expiry", "threshold": 366, "for_secs": 1}),
            "threshold",
        ),
        (
            json!({"name": "r", "condition": "input_down", "for_secs": 86401}),
            "for_secs",
        ),
        (
            json!({"name": "r", "condition": "input_down", "for_secs": -1}),
            "for_secs",
        ),
        (json!({"name": "r", "condition": "input_down"}), "for_secs"),
        (
            json!({"name": "", "condition": "input_down", "for_secs": 1}),
            "name",
        ),
    ] {
        let (st, f) = refused(&relevo, "POST", "/api/v1/alerts/rules", body.clone());
        assert_eq!((st, f.as_str()), (422, field), "{body}");
    }

    // ---- channels: a webhook's secret masked, and kept when the mask comes back ----
    let (port, got) = receiver();
    let hook = json!({"name": "Guardia", "kind": "webhook", "enabled": true, "lang": "es",
                      "url": format!("http://127.0.0.1:{port}/hook"), "secret": "hmac-key-42"});
    let (st, channel) = relevo.api("POST", "/api/v1/alerts/channels", Some(&hook));
    assert_eq!(st, 201, "{channel}");
    assert_eq!(channel["secret"], MASK);
    let cid = channel["id"].as_i64().unwrap();
    let cpath = format!("/api/v1/alerts/channels/{cid}");
    let (_, read) = relevo.api("GET", &cpath, None);
    assert_eq!(read["secret"], MASK);
    assert!(!read.to_string().contains("hmac-key-42"));
    // The answer sent back as it came, renamed: the secret stays.
    let mut back = read.clone();
    back.as_object_mut().unwrap().remove("id");
    back["name"] = json!("Guardia nocturna");
    let (st, renamed) = relevo.api("PUT", &cpath, Some(&back));
    assert_eq!(st, 200, "{renamed}");
    assert_eq!(renamed["name"], "Guardia nocturna");
    let (st, sent) = relevo.api("POST", &format!("{cpath}/test"), None);
    assert_eq!((st, &sent), (200, &json!({"ok": true})));
    let (head, body) = got.lock().unwrap().last().cloned().expect("a test message");
    let signature = head
        .lines()
        .find_map(|l| l.strip_prefix("x-relevo-signature:"))
        .map(|v| v.trim().to_owned())
        .expect("signed");
    assert_eq!(
        signature,
        openssl_hmac("hmac-key-42", &body),
        "signed with the kept secret"
    );
    let audit = relevo
        .api("GET", "/api/v1/audit?action=alert_channel.update", None)
        .1;
    assert_eq!(audit["entries"][0]["after"]["secret"], MASK, "{audit}");
    assert!(!audit.to_string().contains("hmac-key-42"));

    // A test message to a port nobody listens on: 502 with the reason.
    let closed = free_tcp_port();
    let dead =
        json!({"name": "Muerto", "kind": "webhook", "url": format!("http://127.0.0.1:{closed}/")});
    let (st, dead) = relevo.api("POST", "/api/v1/alerts/channels", Some(&dead));
    assert_eq!(st, 201, "{dead}");
    let (st, failed) = relevo.api(
        "POST",
        &format!("/api/v1/alerts/channels/{}/test", dead["id"]),
        None,
    );
    assert_eq!(st, 502, "{failed}");
    assert_eq!(failed["error"]["code"], "delivery_failed");
    assert!(
        !failed["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .is_empty(),
        "{failed}"
    );
    let (st, _) = relevo.api("POST", "/api/v1/alerts/channels/999999/test", None);
    assert_eq!(st, 404);

    // Slack's URL is the secret; email with its fields.
    let slack = json!({"name": "Slack", "kind": "slack", "url": "https://hooks.slack.com/services/T/B/tok-9"});
    let (st, slack) = relevo.api("POST", "/api/v1/alerts/channels", Some(&slack));
    assert_eq!((st, slack["url"].as_str()), (201, Some(MASK)), "{slack}");
    let mail = json!({"name": "Correo", "kind": "email", "lang": "en", "host": "smtp.example.net",
                      "security": "tls", "username": "relevo", "password": "smtp-pw-7",
                      "from": "relevo@example.net", "to": ["ops@example.net"]});
    let (st, mail) = relevo.api("POST", "/api/v1/alerts/channels", Some(&mail));
    assert_eq!(st, 201, "{mail}");
    assert_eq!(
        (mail["port"].as_u64(), mail["password"].as_str()),
        (Some(465), Some(MASK))
    );
    let (_, all) = relevo.api("GET", "/api/v1/alerts/channels", None);
    assert_eq!(all["channels"].as_array().map(Vec::len), Some(4));
    for secret in ["hmac-key-42", "tok-9", "smtp-pw-7"] {
        assert!(
            !all.to_string().contains(secret),
            "{secret} answered: {all}"
        );
    }

    for (body, field) in [
        (json!({"name": "c", "kind": "sms"}), "kind"),
        (json!({"name": "c", "kind": "webhook"}), "url"),
        (
            json!({"name": "c", "kind": "webhook", "url": "ftp://example.net/"}),
            "url",
        ),
        (
            json!({"name": "c", "kind": "webhook", "url": "http:///nohost"}),
            "url",
        ),
        (
            json!({"name": "c", "kind": "slack", "url": "http://hooks.slack.com/x"}),
            "url",
        ),
        (
            json!({"name": "c", "kind": "webhook", "url": "https://a.example/", "host": "smtp"}),
            "host",
        ),
        (
            json!({"name": "c", "kind": "webhook", "url": "https://a.example/", "lang": "fr"}),
            "lang",
        ),
        (
            json!({"name": "c", "kind": "webhook", "url": "https://a.example/", "secret": MASK}),
            "secret",
        ),
        (
            json!({"name": "c", "kind": "email", "host": "smtp.example.net", "from": "a@example.net"}),
            "to",
        ),
        (
            json!({"name": "c", "kind": "email", "host": "smtp.example.net", "from": "a@example.net", "to": ["nobody"]}),
            "to",
        ),
        (
            json!({"name": "c", "kind": "email", "host": "smtp.example.net", "from": "a@example.net", "to": ["b@example.net"], "security": "ssl"}),
            "security",
        ),
        (
            json!({"name": "c", "kind": "email", "host": "smtp.example.net", "from": "a@example.net", "to": ["b@example.net"], "port": 70000}),
            "port",
        ),
        (
            json!({"name": "c", "kind": "webhook", "url": "https://a.example/", "hmac": "x"}),
            "hmac",
        ),
    ] {
        let (st, f) = refused(&relevo, "POST", "/api/v1/alerts/channels", body.clone());
        assert_eq!((st, f.as_str()), (422, field), "{body}");
    }

    // ---- settings ----
    let (st, settings) = relevo.api("GET", "/api/v1/alerts/settings", None);
    assert_eq!(
        (st, &settings),
        (200, &json!({"repeat_minutes": 15, "panel_url": null}))
    );
    let (st, settings) = relevo.api(
        "PATCH",
        "/api/v1/alerts/settings",
        Some(&json!({"repeat_minutes": 5, "panel_url": "https://relay.example.com"})),
    );
    assert_eq!(st, 200, "{settings}");
    let (_, settings) = relevo.api(
        "PATCH",
        "/api/v1/alerts/settings",
        Some(&json!({"panel_url": null})),
    );
    assert_eq!(settings, json!({"repeat_minutes": 5, "panel_url": null}));
    for (body, field) in [
        (json!({"repeat_minutes": 0}), "repeat_minutes"),
        (json!({"repeat_minutes": 1441}), "repeat_minutes"),
        (json!({"panel_url": "relay.example.com"}), "panel_url"),
        (json!({"panel": "x"}), "panel"),
    ] {
        let (st, f) = refused(&relevo, "PATCH", "/api/v1/alerts/settings", body.clone());
        assert_eq!((st, f.as_str()), (422, field), "{body}");
    }

    // ---- roles: only an admin ----
    relevo.add_user("tec@relevo.test", "tecnico");
    relevo.add_user("visor@relevo.test", "visor");
    for email in ["tec@relevo.test", "visor@relevo.test"] {
        let token = relevo.access_token(email);
        for (method, path, body) in [
            ("GET", "/api/v1/alerts/rules".to_owned(), None),
            (
                "POST",
                "/api/v1/alerts/rules".to_owned(),
                Some(rule.clone()),
            ),
            ("GET", cpath.clone(), None),
            ("POST", format!("{cpath}/test"), None),
            (
                "PATCH",
                "/api/v1/alerts/settings".to_owned(),
                Some(json!({"repeat_minutes": 2})),
            ),
        ] {
            assert_eq!(
                as_user(&relevo, &token, method, &path, body.as_ref()),
                403,
                "{email} {method} {path}"
            );
        }
    }

    // ---- deletes ----
    assert_eq!(relevo.api("DELETE", &path, None).0, 204);
    assert_eq!(relevo.api("GET", &path, None).0, 404);
    assert_eq!(relevo.api("DELETE", &cpath, None).0, 204);
    assert_eq!(relevo.api("GET", &cpath, None).0, 404);
    assert_eq!(relevo.api("PUT", &cpath, Some(&back)).0, 404);
}
