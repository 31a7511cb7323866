//! Alerts delivered for real (issue #17): an input-down rule set through the API, a signed
//! webhook received by this test, email through a real SMTP server (Python's aiosmtpd,
//! writing a Maildir), and a webhook on a closed port. Stopping the encoder sends one
//! started message on each working channel, starting it again one resolved; flapping
//! within the repeat window sends nothing more (the starts and resolutions are still
//! events, marked suppressed); the closed port's deliveries are retried and end `failed`,
//! shown by `GET /api/v1/alerts/deliveries`; `/metrics` counts every attempt. RTMPS's
//! certificate, valid for five days, starts a `cert_expiry` alert (under 30 days).

#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

const SECRET: &str = "alert-hmac-secret";

/// One request received by the webhook receiver.
#[derive(Debug, Clone)]
struct Hook {
    signature: Option<String>,
    timestamp: Option<String>,
    body: Vec<u8>,
}

impl Hook {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// A tiny HTTP/1.1 server on loopback recording each POST; answers 204.
fn webhook_receiver() -> (u16, Arc<Mutex<Vec<Hook>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let hooks: Arc<Mutex<Vec<Hook>>> = Arc::default();
    let seen = hooks.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut reader = BufReader::new(conn);
            let (mut len, mut signature, mut timestamp) = (0usize, None, None);
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                let Some((name, value)) = line.trim_end().split_once(':') else {
                    continue;
                };
                let value = value.trim().to_owned();
                match name.to_ascii_lowercase().as_str() {
                    "content-length" => len = value.parse().unwrap_or(0),
                    "x-relevo-signature" => signature = Some(value),
                    "x-relevo-timestamp" => timestamp = Some(value),
                    _ => {}
                }
            }
            let mut body = vec![0; len];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            seen.lock().unwrap().push(Hook {
                signature,
                timestamp,
                body,
            });
            let mut conn = reader.into_inner();
            let _ = conn.write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
        }
    });
    (port, hooks)
}

/// Python's aiosmtpd (Debian's python3-aiosmtpd) writing each message to a Maildir.
fn smtp_server(dir: &TempDir, port: u16) -> (Proc, PathBuf) {
    let maildir = dir.path("maildir");
    let proc = Proc::spawn(
        "aiosmtpd",
        Command::new("/usr/bin/python3")
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path("aiosmtpd.log")).unwrap()),
    );
    wait_until("aiosmtpd to listen", Duration::from_secs(20), || {
        port_bound("tcp", port)
    });
    (proc, maildir)
}

/// The messages in the Maildir, as text.
fn mails(maildir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(maildir.join("new")) else {
        return Vec::new();
    };
    let mut mails: Vec<(PathBuf, String)> = entries
        .filter_map(|e| e.ok())
        .map(|e| {
            let text = std::fs::read_to_string(e.path()).unwrap_or_default();
            (e.path(), text)
        })
        .collect();
    mails.sort();
    mails.into_iter().map(|(_, t)| t).collect()
}

/// `sha256=<hex>` of `body` with the secret, by openssl (not by the code under test).
fn openssl_hmac(body: &[u8], dir: &TempDir) -> String {
    let file = dir.path("hook-body");
    std::fs::write(&file, body).unwrap();
    let out = Command::new("openssl")
        .args(["dgst", "-sha256", "-hmac", SECRET, "-r"])
        .arg(&file)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    format!("sha256={}", text.split_whitespace().next().unwrap())
}

fn events_of(hooks: &Arc<Mutex<Vec<Hook>>>) -> Vec<String> {
    hooks
        .lock()
        .unwrap()
        .iter()
        .map(|h| h.json()["event"].as_str().unwrap().to_owned())
        .collect()
}

fn input_state(relevo: &Relevo, input: &str) -> String {
    relevo.status()["inputs"]
        .as_array()
        .and_then(|a| a.iter().find(|i| i["name"] == input))
        .map(|i| i["state"].as_str().unwrap_or_default().to_owned())
        .unwrap_or_default()
}

fn metric(text: &str, line_start: &str) -> u64 {
    text.lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn alert_events(relevo: &Relevo) -> Vec<Value> {
    let (st, page) = relevo.api("GET", "/api/v1/events?input=cam&kind=alert.", None);
    assert_eq!(st, 200, "{page}");
    page["events"].as_array().cloned().unwrap_or_default()
}

#[test]
fn alerts_reach_webhook_and_email_once_and_failures_are_retried_and_shown() {
    let dir = TempDir::new("alerts");
    let smtp_port = free_tcp_port();
    let (_smtp, maildir) = smtp_server(&dir, smtp_port);
    let (hook_port, hooks) = webhook_receiver();
    let closed_port = free_tcp_port();

    // RTMPS's certificate, valid for 5 days: watched by cert_expiry rules.
    let (cert, key) = (dir.path("cert.pem"), dir.path("key.pem"));
    let st = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "5",
        ])
        .args(["-subj", "/CN=localhost", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "openssl could not make a certificate");
    // Two attempts make a delivery `failed` (the second 10 s after the first).
    let extra = format!(
        "[tls]\ncertificate = \"{}\"\nkey = \"{}\"\n\n[alerts]\ndelivery_attempts = 2\n",
        cert.display(),
        key.display()
    );
    let relevo = Relevo::start("alerts-relevo", &extra, &input_toml("cam", "cam-key"));
    let url = relevo.rtmp_url("cam-key");
    let mut publisher = publish("publisher", 300, "flv", &url, &dir.path("ffmpeg-1.log"));
    wait_until("the input to be live", Duration::from_secs(20), || {
        input_state(&relevo, "cam") == "live"
    });

    // Configured through the API while the input is live (no alert yet).
    let settings = json!({"repeat_minutes": 1, "panel_url": "https://relay.example.com"});
    let (st, body) = relevo.api("PATCH", "/api/v1/alerts/settings", Some(&settings));
    assert_eq!(st, 200, "{body}");
    let channels = [
        json!({"name": "hook", "kind": "webhook", "enabled": true, "lang": "en",
               "url": format!("http://127.0.0.1:{hook_port}/hook"), "secret": SECRET}),
        json!({"name": "mail", "kind": "email", "enabled": true, "lang": "es",
               "host": "127.0.0.1", "port": smtp_port, "security": "none",
               "from": "relevo@relay.test", "to": ["guardia@relay.test"]}),
        json!({"name": "dead", "kind": "webhook", "enabled": true, "lang": "es",
               "url": format!("http://127.0.0.1:{closed_port}/hook")}),
    ];
    let mut ids = Vec::new();
    for channel in &channels {
        let (st, created) = relevo.api("POST", "/api/v1/alerts/channels", Some(channel));
        assert_eq!(st, 201, "{created}");
        ids.push(created["id"].as_i64().unwrap());
    }
    let dead_id = ids[2];
    let rule = json!({"name": "cam down", "condition": "input_down", "input": "cam",
                      "for_secs": 2, "enabled": true});
    let (st, created) = relevo.api("POST", "/api/v1/alerts/rules", Some(&rule));
    assert_eq!(st, 201, "{created}");

    // The encoder stops: one started message on each working channel.
    publisher.child.kill().unwrap();
    let _ = publisher.child.wait();
    wait_until(
        "the started webhook and email",
        Duration::from_secs(20),
        || events_of(&hooks) == ["alert.started"] && mails(&maildir).len() == 1,
    );
    let started = hooks.lock().unwrap()[0].clone();
    let body = started.json();
    assert_eq!(
        (&body["rule"], &body["condition"], &body["input"]),
        (&json!("cam down"), &json!("input_down"), &json!("cam"))
    );
    assert_eq!(body["url"], "https://relay.example.com/history/cam");
    let text = body["text"].as_str().unwrap();
    assert!(text.contains("ALERT — cam down"), "{text}");
    assert!(text.contains("Input “cam” is not live."), "{text}");
    let mail = &mails(&maildir)[0];
    assert!(mail.contains("To: guardia@relay.test"), "{mail}");
    assert!(mail.contains("Subject: "), "{mail}");

    // The encoder returns: one resolved message on each.
    publisher = publish("publisher", 300, "flv", &url, &dir.path("ffmpeg-2.log"));
    wait_until(
        "the resolved webhook and email",
        Duration::from_secs(20),
        || events_of(&hooks) == ["alert.started", "alert.resolved"] && mails(&maildir).len() == 2,
    );

    // Flapping within the repeat window (a minute): the starts and resolutions are events,
    // marked suppressed, and no message goes out.
    for round in 0..2 {
        publisher.child.kill().unwrap();
        let _ = publisher.child.wait();
        let suppressed = |relevo: &Relevo| {
            alert_events(relevo)
                .iter()
                .filter(|e| e["detail"]["suppressed"] == true)
                .count()
        };
        wait_until("a suppressed start", Duration::from_secs(20), || {
            suppressed(&relevo) == 2 * round + 1
        });
        publisher = publish(
            "publisher",
            300,
            "flv",
            &url,
            &dir.path(&format!("ffmpeg-flap-{round}.log")),
        );
        wait_until("a suppressed resolution", Duration::from_secs(20), || {
            suppressed(&relevo) == 2 * round + 2
        });
    }
    let events = alert_events(&relevo);
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "alert.started").count(), 3);
    assert_eq!(kinds.iter().filter(|k| **k == "alert.resolved").count(), 3);
    assert!(events.iter().all(|e| e["detail"]["rule"] == "cam down"));

    // The closed port's two deliveries end failed after their two attempts.
    let deliveries = || {
        let (st, page) = relevo.api("GET", "/api/v1/alerts/deliveries?limit=50", None);
        assert_eq!(st, 200, "{page}");
        page["deliveries"].as_array().cloned().unwrap_or_default()
    };
    wait_until(
        "the dead channel's deliveries to fail",
        Duration::from_secs(40),
        || {
            let dead: Vec<Value> = deliveries()
                .into_iter()
                .filter(|d| d["channel_id"] == dead_id)
                .collect();
            dead.len() == 2 && dead.iter().all(|d| d["state"] == "failed")
        },
    );
    let all = deliveries();
    assert_eq!(all.len(), 6, "2 messages × 3 channels: {all:#?}");
    for d in &all {
        if d["channel_id"] == dead_id {
            assert_eq!(d["attempts"], 2, "{d}");
            assert!(
                d["last_error"].as_str().is_some_and(|e| !e.is_empty()),
                "{d}"
            );
        } else {
            assert_eq!(
                (&d["state"], &d["attempts"]),
                (&json!("sent"), &json!(1)),
                "{d}"
            );
        }
        assert!(d["payload"].get("secret").is_none());
    }
    // The email channel's messages are in Spanish.
    let mail_started = all
        .iter()
        .find(|d| d["channel_id"] == ids[1] && d["kind"] == "started")
        .unwrap();
    let text = mail_started["payload"]["text"].as_str().unwrap();
    assert!(text.contains("ALERTA — cam down"), "{text}");
    assert!(
        text.contains("La entrada «cam» no está en directo."),
        "{text}"
    );

    // Still only the first start and its resolution; every webhook signed.
    assert_eq!(events_of(&hooks), ["alert.started", "alert.resolved"]);
    assert_eq!(mails(&maildir).len(), 2);
    for hook in hooks.lock().unwrap().iter() {
        assert_eq!(
            hook.signature.as_deref(),
            Some(openssl_hmac(&hook.body, &dir).as_str())
        );
        assert!(hook
            .timestamp
            .as_deref()
            .is_some_and(|t| t.parse::<i64>().is_ok()));
    }

    // Paging: one at a time, newest first; a bad limit is a clear 400.
    let (st, page) = relevo.api("GET", "/api/v1/alerts/deliveries?limit=1", None);
    assert_eq!(st, 200, "{page}");
    let newest = page["deliveries"][0]["id"].as_i64().unwrap();
    assert_eq!(page["next_before_id"], newest);
    let path = format!("/api/v1/alerts/deliveries?limit=500&before_id={newest}");
    let (_, older) = relevo.api("GET", &path, None);
    assert_eq!(older["deliveries"].as_array().unwrap().len(), 5);
    assert_eq!(older["next_before_id"], Value::Null);
    for bad in ["limit=0", "limit=-1", "limit=501", "limit=x", "color=red"] {
        let (st, e) = relevo.api("GET", &format!("/api/v1/alerts/deliveries?{bad}"), None);
        assert_eq!(
            (st, &e["error"]["code"]),
            (400, &json!("invalid_query")),
            "{bad}: {e}"
        );
    }

    let metrics = relevo.get("/metrics").unwrap();
    let line = |kind: &str, result: &str| {
        format!("relevo_alert_deliveries_total{{channel_kind=\"{kind}\",result=\"{result}\"}} ")
    };
    assert_eq!(metric(&metrics, &line("webhook", "sent")), 2, "{metrics}");
    assert_eq!(metric(&metrics, &line("email", "sent")), 2, "{metrics}");
    assert_eq!(metric(&metrics, &line("webhook", "failed")), 4, "{metrics}");
    assert_eq!(metric(&metrics, &line("email", "failed")), 0, "{metrics}");
    assert_eq!(metric(&metrics, "relevo_alerts_firing "), 0, "{metrics}");

    // A certificate expiring within 30 days: told at once (no flow: the appliance's).
    let rule = json!({"name": "cert", "condition": "cert_expiry", "threshold": 30,
                      "for_secs": 0, "enabled": true});
    let (st, created) = relevo.api("POST", "/api/v1/alerts/rules", Some(&rule));
    assert_eq!(st, 201, "{created}");
    wait_until("the certificate alert", Duration::from_secs(20), || {
        hooks.lock().unwrap().len() == 3
    });
    let cert_hook = hooks.lock().unwrap()[2].json();
    assert_eq!(
        (
            &cert_hook["event"],
            &cert_hook["condition"],
            &cert_hook["input"]
        ),
        (&json!("alert.started"), &json!("cert_expiry"), &Value::Null)
    );
    let days = cert_hook["value"].as_f64().unwrap();
    assert!((4.9..=5.0).contains(&days), "{cert_hook}");

    wait_until("the certificate email", Duration::from_secs(20), || {
        mails(&maildir).len() == 3
    });

    // The test button sends at once: the email channel delivers; a channel that requires
    // STARTTLS of a server that does not offer it fails (no silent downgrade), and says so.
    let (st, ok) = relevo.api(
        "POST",
        &format!("/api/v1/alerts/channels/{}/test", ids[1]),
        None,
    );
    assert_eq!(st, 200, "{ok}");
    assert_eq!(mails(&maildir).len(), 4);
    let starttls = json!({"name": "mail-tls", "kind": "email", "enabled": false, "lang": "en",
                          "host": "127.0.0.1", "port": smtp_port, "security": "starttls",
                          "from": "relevo@relay.test", "to": ["guardia@relay.test"]});
    let (st, created) = relevo.api("POST", "/api/v1/alerts/channels", Some(&starttls));
    assert_eq!(st, 201, "{created}");
    let path = format!("/api/v1/alerts/channels/{}/test", created["id"]);
    let (st, e) = relevo.api("POST", &path, None);
    assert_eq!(
        (st, &e["error"]["code"]),
        (502, &json!("delivery_failed")),
        "{e}"
    );
    let message = e["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_lowercase();
    assert!(message.contains("tls"), "{e}");
    assert_eq!(mails(&maildir).len(), 4);
    let metrics = relevo.get("/metrics").unwrap();
    assert_eq!(metric(&metrics, &line("email", "sent")), 4, "{metrics}");
    // The certificate's alert goes on.
    assert_eq!(metric(&metrics, "relevo_alerts_firing "), 1, "{metrics}");
    assert_eq!(metric(&metrics, &line("email", "failed")), 1, "{metrics}");

    publisher.child.kill().unwrap();
    let _ = publisher.child.wait();
}
