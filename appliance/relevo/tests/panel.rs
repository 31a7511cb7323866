//! The panel over plain HTTP: what a browser test would not show precisely. Cookies and
//! their attributes, CSRF and cross-origin refusals, the session cookie accepted by the API
//! only for reads from our own origin, roles in what pages show and refuse, the 2FA step,
//! form errors next to their field, languages, security headers. (The browser itself is
//! exercised by `panel_e2e.rs`.)
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;
use relevo_control::auth::totp;

/// An HTTP answer: status, headers (lower-case names), body.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn cookies(&self) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k == "set-cookie")
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The value a `Set-Cookie` gives `name`.
    fn cookie(&self, name: &str) -> Option<String> {
        self.cookies().into_iter().find_map(|c| {
            let first = c.split(';').next()?;
            let (k, v) = first.split_once('=')?;
            (k == name).then(|| v.to_owned())
        })
    }
}

/// A browser-like client: it keeps cookies and sends forms.
struct Browser {
    port: u16,
    cookies: Vec<(String, String)>,
}

impl Browser {
    fn new(relevo: &Relevo) -> Self {
        Browser {
            port: relevo.http,
            cookies: Vec::new(),
        }
    }

    fn request(&mut self, method: &str, path: &str, extra: &[(&str, &str)], body: &str) -> Answer {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut req = format!(
            "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{}\r\n",
            self.port
        );
        if !self.cookies.is_empty() {
            let jar: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            req.push_str(&format!("Cookie: {}\r\n", jar.join("; ")));
        }
        for (k, v) in extra {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        if method != "GET" {
            req.push_str(&format!(
                "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        req.push_str("\r\n");
        req.push_str(body);
        s.write_all(req.as_bytes()).unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).unwrap();
        let (status, headers, body) = parse_http_head(&raw);
        let body = String::from_utf8_lossy(&raw[body..]).into_owned();
        let answer = Answer {
            status,
            headers,
            body,
        };
        for c in answer.cookies() {
            let first = c.split(';').next().unwrap();
            let (k, v) = first.split_once('=').unwrap();
            self.cookies.retain(|(name, _)| name != k);
            if !c.contains("Max-Age=0") {
                self.cookies.push((k.to_owned(), v.to_owned()));
            }
        }
        answer
    }

    fn get(&mut self, path: &str) -> Answer {
        self.request("GET", path, &[], "")
    }

    fn csrf(&self) -> String {
        self.cookies
            .iter()
            .find(|(k, _)| k == "relevo_csrf")
            .map(|(_, v)| v.clone())
            .expect("a CSRF cookie from an earlier page")
    }

    /// Posts a form with the CSRF token, from our own origin.
    fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Answer {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.append_pair("_csrf", &self.csrf());
        for (k, v) in fields {
            form.append_pair(k, v);
        }
        let origin = format!("http://127.0.0.1:{}", self.port);
        self.request("POST", path, &[("Origin", &origin)], &form.finish())
    }

    fn sign_in(&mut self, email: &str) -> Answer {
        self.get("/login");
        self.post("/login", &[("email", email), ("password", ADMIN_PASSWORD)])
    }
}

fn location(a: &Answer) -> &str {
    a.header("location").unwrap_or("")
}

#[test]
fn sessions_csrf_and_origins() {
    // The appliance's nginx is a configured trusted proxy (see the `X-Forwarded-Proto` check).
    let relevo = Relevo::start(
        "panel-csrf",
        "[http]\ntrusted_proxies = [\"127.0.0.1\"]\n",
        "",
    );
    relevo.token(); // the admin exists
    let mut b = Browser::new(&relevo);

    // No session: every page sends the browser to sign in, and back afterwards.
    let a = b.get("/inputs/new");
    assert_eq!(a.status, 303);
    assert_eq!(location(&a), "/login?next=%2Finputs%2Fnew");

    // The first answer gives the browser a CSRF cookie (Strict); pages carry security headers.
    let csrf = a
        .cookies()
        .into_iter()
        .find(|c| c.starts_with("relevo_csrf="))
        .unwrap()
        .to_owned();
    assert!(
        csrf.contains("SameSite=Strict") && csrf.contains("HttpOnly"),
        "{csrf}"
    );
    let a = b.get("/login");
    assert_eq!(a.status, 200);
    assert!(
        a.cookie("relevo_csrf").is_none(),
        "the token stays the same"
    );
    assert_eq!(a.header("x-frame-options"), Some("DENY"));
    assert!(a
        .header("content-security-policy")
        .unwrap()
        .contains("frame-ancestors 'none'"));
    assert_eq!(a.header("cache-control"), Some("no-store"));

    // A form without the token, with a wrong one, or from another site is refused.
    let origin = format!("http://127.0.0.1:{}", relevo.http);
    let body = format!("email={ADMIN_EMAIL}&password=x");
    let a = b.request("POST", "/login", &[("Origin", &origin)], &body);
    assert_eq!(a.status, 403, "no token");
    let a = b.request(
        "POST",
        "/login",
        &[("Origin", &origin)],
        &format!("_csrf=wrong&{body}"),
    );
    assert_eq!(a.status, 403, "wrong token");
    let good = format!(
        "_csrf={}&email={ADMIN_EMAIL}&password={}",
        b.csrf(),
        ADMIN_PASSWORD.replace(' ', "+")
    );
    let a = b.request(
        "POST",
        "/login",
        &[("Origin", "http://evil.example")],
        &good,
    );
    assert_eq!(a.status, 403, "foreign origin");
    assert!(a.cookie("relevo_session").is_none());

    // A wrong password: the page again, in Spanish, with 401 and no session.
    let a = b.post(
        "/login",
        &[("email", ADMIN_EMAIL), ("password", "wrong password!")],
    );
    assert_eq!(a.status, 401);
    assert!(
        a.body.contains("Correo o contraseña incorrectos"),
        "{}",
        a.body
    );
    assert!(a.cookie("relevo_session").is_none());

    // The right one: a session cookie (HttpOnly, Lax, not Secure over plain HTTP).
    let a = b.sign_in(ADMIN_EMAIL);
    assert_eq!((a.status, location(&a)), (303, "/"));
    let cookie = a
        .cookies()
        .into_iter()
        .find(|c| c.starts_with("relevo_session="))
        .unwrap()
        .to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "{cookie}");
    let session = a.cookie("relevo_session").unwrap();
    assert!(b.get("/").body.contains("Panel de control"));

    // Behind the appliance's nginx (loopback, X-Forwarded-Proto: https) cookies are Secure.
    let mut tls = Browser::new(&relevo);
    let a = tls.request("GET", "/login", &[("X-Forwarded-Proto", "https")], "");
    assert!(a
        .cookies()
        .iter()
        .any(|c| c.starts_with("relevo_csrf=") && c.contains("Secure")));

    // The API takes the cookie for reads from our own origin only, never for changes.
    let a = b.get("/api/v1/inputs");
    assert_eq!(a.status, 200, "{}", a.body);
    let a = b.request(
        "GET",
        "/api/v1/inputs",
        &[("Origin", "http://evil.example")],
        "",
    );
    assert_eq!(a.status, 401, "a cross-site read with the cookie");
    let a = b.request("POST", "/api/v1/inputs", &[("Origin", &origin)], "{}");
    assert_eq!(a.status, 401, "a change with only the cookie");
    // The WebSocket upgrade from another site is refused too.
    let ws = [
        ("Connection", "Upgrade"),
        ("Upgrade", "websocket"),
        ("Sec-WebSocket-Version", "13"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("Origin", "http://evil.example"),
    ];
    assert_eq!(b.request("GET", "/api/v1/events", &ws, "").status, 401);

    // Signing out ends the session on the server, not only in this browser.
    let a = b.post("/logout", &[]);
    assert_eq!((a.status, location(&a)), (303, "/login?ok=signed_out"));
    let mut stolen = Browser::new(&relevo);
    stolen.cookies.push(("relevo_session".into(), session));
    assert_eq!(stolen.get("/").status, 303, "the old cookie opens nothing");
    assert_eq!(stolen.get("/api/v1/inputs").status, 401);
}

#[test]
fn two_factor_step_and_roles() {
    let relevo = Relevo::start("panel-roles", "", "");
    relevo.add_user("tecnico@relevo.test", "tecnico");
    relevo.add_user("visor@relevo.test", "visor");
    let (st, input) = relevo.api(
        "POST",
        "/api/v1/inputs",
        Some(&serde_json::json!({"name": "estudio", "key": "clave-secreta-1234", "passphrase": "frase-de-paso-larga"})),
    );
    assert_eq!(st, 201, "{input}");
    let id = input["id"].as_i64().unwrap();
    let (st, _) = relevo.api(
        "POST",
        &format!("/api/v1/inputs/{id}/outputs"),
        Some(&serde_json::json!({"name": "yt", "push": "rtmp://a.rtmp.youtube.com/live2/clave-youtube-9999"})),
    );
    assert_eq!(st, 201);

    // A Visor: pages without secrets or controls; forms and admin pages refused.
    let mut visor = Browser::new(&relevo);
    visor.sign_in("visor@relevo.test");
    for path in ["/", &format!("/inputs/{id}")] {
        let page = visor.get(path);
        assert_eq!(page.status, 200, "{path}");
        for secret in [
            "clave-secreta-1234",
            "frase-de-paso-larga",
            "clave-youtube-9999",
        ] {
            assert!(
                !page.body.contains(secret),
                "{path} shows {secret} to a Visor"
            );
        }
        assert!(
            !page.body.contains("/edit\""),
            "{path}: edit links for a Visor"
        );
        assert!(
            !page.body.contains("/stop\""),
            "{path}: stop buttons for a Visor"
        );
    }
    assert_eq!(visor.get("/inputs/new").status, 403);
    assert_eq!(visor.get(&format!("/inputs/{id}/edit")).status, 403);
    assert_eq!(visor.post(&format!("/inputs/{id}/stop"), &[]).status, 403);
    let refused = visor.get("/users");
    assert_eq!(refused.status, 403);
    assert!(
        refused.body.contains("Su rol no permite esta acción"),
        "{}",
        refused.body
    );
    visor.get("/lang/en");
    let refused = visor.get("/users");
    assert!(
        refused.body.contains("Your role does not allow this"),
        "in the visitor's language: {}",
        refused.body
    );

    // A Técnico: the connection details and controls, but no user or settings pages.
    let mut tecnico = Browser::new(&relevo);
    tecnico.sign_in("tecnico@relevo.test");
    let page = tecnico.get(&format!("/inputs/{id}"));
    assert!(
        page.body.contains("streamid=publish:clave-secreta-1234"),
        "SRT URL for the encoder"
    );
    assert!(page.body.contains("passphrase=frase-de-paso-larga"));
    assert!(
        !page.body.contains("href=\"/users\""),
        "no users menu entry"
    );
    assert!(
        !page.body.contains("href=\"/settings\""),
        "no settings menu entry"
    );
    assert_eq!(tecnico.get("/users").status, 403);
    assert_eq!(tecnico.get("/settings").status, 403);
    assert_eq!(tecnico.get("/tokens").status, 403);

    // A form error names the field and changes nothing; a good form redirects.
    let a = tecnico.post(
        &format!("/inputs/{id}/edit"),
        &[
            ("name", "estudio"),
            ("mode", "listen"),
            ("key", "clave-secreta-1234"),
            ("latency_ms", "5000"),
            ("grace_period_s", "10"),
            ("enabled", "on"),
        ],
    );
    assert_eq!(a.status, 422);
    assert!(
        a.body.contains("La latencia debe estar entre 80 y 1000 ms"),
        "{}",
        a.body
    );
    assert!(
        a.body
            .contains("value=\"5000\" aria-describedby=\"latency-hint\" aria-invalid=\"true\""),
        "the slider keeps the value and is marked invalid"
    );
    let (_, stored) = relevo.api("GET", &format!("/api/v1/inputs/{id}"), None);
    assert_eq!(stored["latency_ms"], 200, "nothing written");
    let a = tecnico.post(&format!("/inputs/{id}/stop"), &[]);
    assert_eq!(a.status, 303);
    let (_, stored) = relevo.api("GET", &format!("/api/v1/inputs/{id}"), None);
    assert_eq!(stored["enabled"], false);

    // The 2FA step: a password alone opens nothing but the code page.
    let (_, begin) = relevo.api(
        "POST",
        "/api/v1/me/totp/begin",
        Some(&serde_json::json!({"password": ADMIN_PASSWORD})),
    );
    let secret = begin["secret"].as_str().unwrap().to_owned();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let code = totp_code(&secret, now / 30);
    let (st, _) = relevo.api(
        "POST",
        "/api/v1/me/totp/confirm",
        Some(&serde_json::json!({"code": code})),
    );
    assert_eq!(st, 200);
    let mut admin = Browser::new(&relevo);
    let a = admin.sign_in(ADMIN_EMAIL);
    assert_eq!(location(&a), "/login/code?next=%2F");
    assert_eq!(location(&admin.get("/")), "/login/code");
    assert_eq!(
        admin.get("/api/v1/inputs").status,
        401,
        "a pending sign-in reads nothing"
    );
    let a = admin.post("/login/code", &[("code", "000000")]);
    assert_eq!(a.status, 401);
    assert!(a.body.contains("Código incorrecto o ya utilizado"));
    let a = admin.post(
        "/login/code",
        &[("code", &totp_code(&secret, now / 30 + 1))],
    );
    assert_eq!((a.status, location(&a)), (303, "/"));
    assert_eq!(admin.get("/users").status, 200);

    // English on request, for every page.
    let a = admin.get("/lang/en");
    assert!(a.cookie("relevo_lang").is_some_and(|v| v == "en"));
    assert!(admin.get("/").body.contains("Dashboard"));
}

fn totp_code(base32: &str, step: u64) -> String {
    let secret = totp::Secret::from_base32(base32).unwrap();
    totp::code_at(&secret, step * 30)
}

/// An input of the configuration file has no id: its card's switch buttons post by name
/// (`/feeds/{name}/{feed}`), refused with the panel's notice while the feed is not live, and
/// not a Visor's to press.
#[test]
fn an_input_of_the_configuration_file_is_switched_by_name() {
    let flows = format!(
        "{}\n  [input.backup]\n  key = \"fichero-respaldo\"\n",
        input_toml("Estudio fichero", "fichero-principal")
    );
    let relevo = Relevo::start("panel-declared-switch", "", &flows);
    relevo.add_user("visor@relevo.test", "visor");
    let mut admin = Browser::new(&relevo);
    admin.sign_in(ADMIN_EMAIL);
    let page = admin.get("/");
    assert!(
        page.body
            .contains(r#"action="/feeds/Estudio%20fichero/backup""#),
        "{}",
        page.body
    );
    let a = admin.post("/feeds/Estudio%20fichero/backup", &[]);
    assert_eq!((a.status, location(&a)), (303, "/?err=backup_not_live"));
    let a = admin.post("/feeds/Estudio%20fichero/spare", &[]);
    assert_eq!(a.status, 404);
    let mut viewer = Browser::new(&relevo);
    viewer.sign_in("visor@relevo.test");
    assert_eq!(
        viewer.post("/feeds/Estudio%20fichero/backup", &[]).status,
        403
    );
    // Its history page (issue #17) goes by name too, linked from its card; a Visor reads
    // it; an input nobody configured and without history is a 404.
    assert!(
        page.body
            .contains(r#"href="/history/Estudio%20fichero" class="history-link""#),
        "{}",
        page.body
    );
    let history = viewer.get("/history/Estudio%20fichero");
    assert_eq!(history.status, 200, "{}", history.body);
    assert!(history.body.contains("Historial: Estudio fichero"));
    assert!(history.body.contains(r#"src="/assets/history.js""#));
    assert_eq!(viewer.get("/history/nadie").status, 404);
}

#[test]
fn flow_actions_and_admin_pages() {
    let relevo = Relevo::start("panel-admin", "", "");
    let visor = relevo.add_user("visor@relevo.test", "visor");
    let visor_id = visor["id"].as_i64().unwrap();
    let mut admin = Browser::new(&relevo);
    admin.sign_in(ADMIN_EMAIL);

    // Inputs and outputs through the forms: create, a new key, start/stop, delete.
    let a = admin.post(
        "/inputs/new",
        &[
            ("name", "plato"),
            ("mode", "listen"),
            ("key", "clave-plato-0001"),
            ("latency_ms", "300"),
            ("grace_period_s", "10"),
            ("enabled", "on"),
        ],
    );
    assert_eq!(a.status, 303, "{}", a.body);
    let page = location(&a).split('?').next().unwrap().to_owned();
    let id: i64 = page.rsplit('/').next().unwrap().parse().unwrap();
    let a = admin.post(
        &format!("/inputs/{id}/outputs/new"),
        &[
            ("name", "yt"),
            ("kind", "push_rtmp"),
            ("preset", "youtube"),
            ("server", ""),
            ("stream_key", "abcd-efgh-ijkl"),
            ("enabled", "on"),
        ],
    );
    assert_eq!(a.status, 303, "{}", a.body);
    let (_, input) = relevo.api("GET", &format!("/api/v1/inputs/{id}"), None);
    assert_eq!(input["latency_ms"], 300);
    assert_eq!(
        input["outputs"][0]["push"], "rtmp://a.rtmp.youtube.com/live2/abcd-efgh-ijkl",
        "the preset's server: {input}"
    );
    let output = input["outputs"][0]["id"].as_i64().unwrap();

    assert_eq!(
        admin.post(&format!("/inputs/{id}/new-key"), &[]).status,
        303
    );
    let (_, after) = relevo.api("GET", &format!("/api/v1/inputs/{id}"), None);
    assert_ne!(after["key"], "clave-plato-0001", "a new key");
    assert_eq!(after["key"].as_str().unwrap().len(), 20);

    // The feed switch (issue #18): refused with a notice for an input without a backup, and
    // not a Visor's to press.
    let a = admin.post(&format!("/inputs/{id}/feed/backup"), &[]);
    assert_eq!(
        (a.status, location(&a)),
        (303, format!("/inputs/{id}?err=no_backup").as_str())
    );
    let shown = admin.get(&format!("/inputs/{id}?err=no_backup"));
    assert!(
        shown
            .body
            .contains("Esta entrada no tiene señal de respaldo."),
        "{}",
        shown.body
    );
    let mut viewer = Browser::new(&relevo);
    viewer.sign_in("visor@relevo.test");
    assert_eq!(
        viewer
            .post(&format!("/inputs/{id}/feed/backup"), &[])
            .status,
        403
    );

    assert_eq!(
        admin.post(&format!("/outputs/{output}/stop"), &[]).status,
        303
    );
    let (_, o) = relevo.api("GET", &format!("/api/v1/outputs/{output}"), None);
    assert_eq!(o["enabled"], false);
    assert_eq!(
        admin.post(&format!("/outputs/{output}/start"), &[]).status,
        303
    );
    let (_, o) = relevo.api("GET", &format!("/api/v1/outputs/{output}"), None);
    assert_eq!(o["enabled"], true);
    assert_eq!(
        admin.post(&format!("/outputs/{output}/delete"), &[]).status,
        303
    );
    assert_eq!(
        relevo
            .api("GET", &format!("/api/v1/outputs/{output}"), None)
            .0,
        404
    );
    assert_eq!(admin.post(&format!("/inputs/{id}/delete"), &[]).status, 303);
    assert_eq!(
        relevo.api("GET", &format!("/api/v1/inputs/{id}"), None).0,
        404
    );

    // Users: change a role, require 2FA; the user must then enrol before anything else.
    let a = admin.post(
        &format!("/users/{visor_id}"),
        &[("role", "tecnico"), ("totp_required", "on")],
    );
    assert_eq!(a.status, 303, "{}", a.body);
    let (_, u) = relevo.api("GET", &format!("/api/v1/users/{visor_id}"), None);
    assert_eq!(
        (u["role"].as_str(), u["totp_required"].as_bool()),
        (Some("tecnico"), Some(true))
    );
    let mut user = Browser::new(&relevo);
    user.sign_in("visor@relevo.test");
    let a = user.get("/");
    assert_eq!(
        location(&a),
        "/account?enrol=1",
        "2FA required: enrol first"
    );
    assert_eq!(user.get("/account?enrol=1").status, 200);
    // The last admin cannot be demoted: the error is shown on the page, nothing changes.
    let me = relevo.api("GET", "/api/v1/me", None).1["id"]
        .as_i64()
        .unwrap();
    let a = admin.post(&format!("/users/{me}"), &[("role", "visor")]);
    assert_eq!(a.status, 409);
    assert!(
        a.body
            .contains("Debe quedar al menos un administrador activo"),
        "{}",
        a.body
    );

    // API tokens: shown once at creation, usable, listed without the secret.
    let a = admin.post("/tokens", &[("name", "prometheus"), ("role", "visor")]);
    assert!(matches!(a.status, 200 | 201), "{} {}", a.status, a.body);
    let token = a.body.split("rlv_at_").nth(1).map(|rest| {
        let t: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        format!("rlv_at_{t}")
    });
    let token = token.expect("the new token on the page");
    let (st, _) = http_request(relevo.http, "GET", "/metrics", Some(&token), None);
    assert_eq!(st, 200, "the new token reads /metrics");
    assert!(
        !admin.get("/tokens").body.contains(&token),
        "the list never shows it again"
    );

    // The audit log page shows who did what, and filters.
    let all = admin.get("/audit");
    assert_eq!(all.status, 200);
    assert!(
        all.body.contains("input.delete") && all.body.contains("user.update"),
        "{}",
        all.body
    );
    let only_users = admin.get("/audit?target_kind=user");
    assert!(only_users.body.contains("user.update"));
    assert!(
        !only_users.body.contains("input.delete"),
        "the filter holds"
    );
}

/// The admin's switch for private destinations (issue #14, 17): shown ticked as the harness
/// left it, unticked by the form, and the API agrees.
#[test]
fn settings_page_switches_private_destinations() {
    let relevo = Relevo::start("panel-private", "", "");
    relevo.token(); // the admin exists; the harness allowed private destinations
    let mut b = Browser::new(&relevo);
    b.sign_in(ADMIN_EMAIL);
    let page = b.get("/settings");
    assert!(
        page.body
            .contains(r#"name="allow_private_destinations" value="on" checked"#),
        "{}",
        page.body
    );
    // An unticked checkbox sends nothing.
    let a = b.post("/settings/destinations", &[]);
    assert_eq!((a.status, location(&a)), (303, "/settings?ok=saved"));
    let (_, v) = relevo.api("GET", "/api/v1/settings", None);
    assert_eq!(v["allow_private_destinations"], false, "{v}");
    assert!(!b.get("/settings").body.contains("checked"));
    let a = b.post(
        "/settings/destinations",
        &[("allow_private_destinations", "on")],
    );
    assert_eq!(a.status, 303);
    let (_, v) = relevo.api("GET", "/api/v1/settings", None);
    assert_eq!(v["allow_private_destinations"], true, "{v}");
}
