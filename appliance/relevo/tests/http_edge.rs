//! The HTTP edge as a client on the Internet meets it: redirects chosen by the visitor stay
//! on this site (`next` after sign-in, the `Referer` of a language switch), `/favicon.ico`
//! exists, every answer says `nosniff`, and `X-Forwarded-*` counts only from a configured
//! proxy (regression tests for findings D, 4, 11, 16 and part of 17 of issue #14).
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;

/// An HTTP answer: status, headers (lower-case names), body.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn cookie(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k == "set-cookie")
            .map(|(_, v)| v.as_str())
            .find(|c| c.starts_with(&format!("{name}=")))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One HTTP/1.0 request with `headers` (`Host` is added) and `body`.
fn request(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Answer {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body);
    s.write_all(&bytes).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let (status, headers, body) = parse_http_head(&raw);
    Answer {
        status,
        headers,
        body: raw[body..].to_vec(),
    }
}

/// The value of a `Set-Cookie` header.
fn cookie_value(set_cookie: &str) -> &str {
    let first = set_cookie.split(';').next().unwrap();
    first.split_once('=').unwrap().1
}

/// Signs the test admin in through the panel's form with `next`; the answer.
fn sign_in_with_next(relevo: &Relevo, next: &str) -> Answer {
    let page = request(relevo.http, "GET", "/login", &[], b"");
    let csrf = cookie_value(page.cookie("relevo_csrf").unwrap()).to_owned();
    let form = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("_csrf", &csrf)
        .append_pair("email", ADMIN_EMAIL)
        .append_pair("password", ADMIN_PASSWORD)
        .append_pair("next", next)
        .finish();
    let origin = format!("http://127.0.0.1:{}", relevo.http);
    let cookie = format!("relevo_csrf={csrf}");
    request(
        relevo.http,
        "POST",
        "/login",
        &[
            ("Origin", &origin),
            ("Cookie", &cookie),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        form.as_bytes(),
    )
}

/// Finding 4: `next=/<TAB>/evil.example` passed the check and Chromium followed it
/// off-site. Every known bypass now signs in to `/`; a path of ours is kept.
#[test]
fn sign_in_next_never_leaves_the_site() {
    let relevo = Relevo::start("http-next", "", "");
    relevo.token(); // the admin exists
    let ok = sign_in_with_next(&relevo, "/inputs/new?x=1");
    assert_eq!(ok.status, 303, "{}", ok.text());
    assert_eq!(ok.header("location"), Some("/inputs/new?x=1"));
    for bad in [
        "/\t/evil.example",
        "/%09/evil.example",
        "//evil.example",
        "/\\evil.example",
        "/%5Cevil.example",
        "%2F%2Fevil.example",
        "/%2F/evil.example",
        "https://evil.example/",
        "javascript:alert(1)",
        "/ /evil.example",
        "/\u{3000}/evil.example",
        "/\r\n/evil.example",
        "/..//evil.example",
        "",
    ] {
        let a = sign_in_with_next(&relevo, bad);
        assert_eq!(a.status, 303, "{bad:?}: {}", a.text());
        assert_eq!(a.header("location"), Some("/"), "next={bad:?}");
    }
    // The sign-in page itself never offers a bad `next` to its form either.
    let page = request(
        relevo.http,
        "GET",
        "/login?next=%2F%09%2Fevil.example",
        &[],
        b"",
    );
    assert!(!page.text().contains("evil.example"), "{}", page.text());
}

/// Finding 11: `/lang/{code}` went back to the `Referer`'s path when its host merely
/// prefixed ours, port ignored: `Location: //evil.example/x`.
#[test]
fn language_switch_goes_back_only_to_this_site() {
    let relevo = Relevo::start("http-lang", "", "");
    let here = format!("http://127.0.0.1:{}", relevo.http);
    let back = |referer: &str| {
        let a = request(relevo.http, "GET", "/lang/en", &[("Referer", referer)], b"");
        assert!(a.cookie("relevo_lang").is_some_and(|c| c.contains("en")));
        a.header("location").unwrap_or_default().to_owned()
    };
    assert_eq!(back(&format!("{here}/inputs/new?x=1")), "/inputs/new?x=1");
    assert_eq!(back(&format!("{here}//evil.example/x")), "/");
    assert_eq!(back(&format!("{here}/%2F/evil.example/x")), "/");
    assert_eq!(back(&format!("{here}/%5Cevil.example")), "/");
    // Another port or another host is another site.
    let other_port = if relevo.http == 9 { 10 } else { 9 };
    assert_eq!(back(&format!("http://127.0.0.1:{other_port}/inputs")), "/");
    assert_eq!(back("http://127.0.0.1.evil.example/inputs"), "/");
    assert_eq!(back("http://evil.example/inputs"), "/");
}

/// Finding D: the browser's first request for `/favicon.ico` was a 404 (a console error on
/// every first visit). Part of 17: `nosniff` on every answer, API, assets and 404s included.
#[test]
fn favicon_is_served_and_every_answer_says_nosniff() {
    let relevo = Relevo::start("http-favicon", "", "");
    let icon = request(relevo.http, "GET", "/favicon.ico", &[], b"");
    assert_eq!(icon.status, 200);
    assert_eq!(icon.header("content-type"), Some("image/svg+xml"));
    assert!(icon.text().contains("<svg"));

    // With a logo in the branding, the logo is the icon.
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";
    let auth = format!("Bearer {}", relevo.token());
    let put = request(
        relevo.http,
        "PUT",
        "/api/v1/settings/logo",
        &[("Authorization", &auth), ("Content-Type", "image/png")],
        png,
    );
    assert_eq!(put.status, 204, "{}", put.text());
    let icon = request(relevo.http, "GET", "/favicon.ico", &[], b"");
    assert_eq!(icon.status, 200);
    assert_eq!(icon.header("content-type"), Some("image/png"));
    assert_eq!(icon.body, png);

    let auth = auth.as_str();
    for (path, headers) in [
        ("/favicon.ico", vec![]),
        ("/assets/panel.css", vec![]),
        ("/assets/panel.js", vec![]),
        ("/healthz", vec![]),
        ("/api/v1/branding", vec![]),
        ("/api/v1/branding/logo", vec![]),
        ("/api/v1/inputs", vec![("Authorization", auth)]),
        ("/api/v1/inputs", vec![]),
        ("/metrics", vec![("Authorization", auth)]),
        ("/api/v1/no-such-route", vec![]),
        ("/no-such-page", vec![]),
        ("/login", vec![]),
    ] {
        let a = request(relevo.http, "GET", path, &headers, b"");
        assert_eq!(
            a.header("x-content-type-options"),
            Some("nosniff"),
            "GET {path} ({})",
            a.status
        );
    }
}

/// The address the audit log gives the test admin's last sign-in.
fn last_sign_in_addr(relevo: &Relevo) -> String {
    let (st, log) = relevo.api("GET", "/api/v1/audit?action=auth.login", None);
    assert_eq!(st, 200, "{log}");
    let rows = log["entries"]
        .as_array()
        .or_else(|| log.as_array())
        .cloned()
        .unwrap_or_default();
    rows.iter()
        .find(|r| r["action"] == "auth.login")
        .map(|r| r["from_addr"].as_str().unwrap_or_default().to_owned())
        .unwrap_or_else(|| panic!("no sign-in in the audit log: {log}"))
}

/// Signs in through the API with forwarded headers, as nginx would send them.
fn sign_in_forwarded(relevo: &Relevo) {
    let body = serde_json::json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}).to_string();
    let a = request(
        relevo.http,
        "POST",
        "/api/v1/auth/login",
        &[
            ("Content-Type", "application/json"),
            ("X-Forwarded-For", "198.51.100.1, 203.0.113.7"),
            ("X-Real-IP", "203.0.113.7"),
        ],
        body.as_bytes(),
    );
    assert_eq!(a.status, 200, "{}", a.text());
}

/// Finding 16: `X-Forwarded-For` was believed from any loopback peer. Without
/// `[http] trusted_proxies` it is ignored (the peer's address is logged, cookies are not
/// marked Secure on a forwarded `https`); with the proxy configured it counts.
#[test]
fn forwarded_headers_count_only_from_trusted_proxies() {
    let plain = Relevo::start("http-xff-none", "", "");
    plain.token();
    sign_in_forwarded(&plain);
    assert_eq!(last_sign_in_addr(&plain), "127.0.0.1");
    let page = request(
        plain.http,
        "GET",
        "/login",
        &[("X-Forwarded-Proto", "https")],
        b"",
    );
    assert!(!page.cookie("relevo_csrf").unwrap().contains("Secure"));

    let proxied = Relevo::start(
        "http-xff-trusted",
        "[http]\ntrusted_proxies = [\"127.0.0.1\"]\n",
        "",
    );
    proxied.token();
    sign_in_forwarded(&proxied);
    assert_eq!(last_sign_in_addr(&proxied), "203.0.113.7");
    let page = request(
        proxied.http,
        "GET",
        "/login",
        &[("X-Forwarded-Proto", "https")],
        b"",
    );
    assert!(page.cookie("relevo_csrf").unwrap().contains("Secure"));
}
