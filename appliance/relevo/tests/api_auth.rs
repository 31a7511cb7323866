//! Authentication through the real service: refresh-token rotation and reuse detection,
//! logout, access-token expiry, API tokens, TOTP enrolment and sign-in with a code or a
//! recovery code, 2FA required by an admin, and the rate limit on wrong passwords.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use relevo_control::auth::totp;
use serde_json::{json, Value};

fn post(relevo: &Relevo, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
    let (st, text) = http_request(relevo.http, "POST", path, token, Some(&body));
    (
        st,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn get(relevo: &Relevo, path: &str, token: &str) -> (u16, Value) {
    let (st, text) = http_request(relevo.http, "GET", path, Some(token), None);
    (
        st,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn refresh_tokens_rotate_and_a_reused_one_revokes_the_session() {
    let relevo = Relevo::start("api-refresh", "", "");
    relevo.token();
    let (st, first) = relevo.login(ADMIN_EMAIL, json!({}));
    assert_eq!(st, 200, "{first}");
    let r1 = first["refresh_token"].as_str().unwrap();
    let (st, second) = post(
        &relevo,
        "/api/v1/auth/refresh",
        None,
        json!({"refresh_token": r1}),
    );
    assert_eq!(st, 200, "{second}");
    let r2 = second["refresh_token"].as_str().unwrap();
    assert_ne!(r1, r2, "a refresh token must rotate");
    let (st, _) = get(
        &relevo,
        "/api/v1/me",
        second["access_token"].as_str().unwrap(),
    );
    assert_eq!(st, 200);

    // r1 again: somebody replayed it. The whole family dies, r2 included.
    let (st, e) = post(
        &relevo,
        "/api/v1/auth/refresh",
        None,
        json!({"refresh_token": r1}),
    );
    assert_eq!(
        (st, e["error"]["code"].as_str()),
        (401, Some("refresh_reused")),
        "{e}"
    );
    let (st, _) = post(
        &relevo,
        "/api/v1/auth/refresh",
        None,
        json!({"refresh_token": r2}),
    );
    assert_eq!(st, 401, "the family of a reused token is revoked");

    // Logout revokes.
    let (_, third) = relevo.login(ADMIN_EMAIL, json!({}));
    let r3 = third["refresh_token"].as_str().unwrap();
    let (st, _) = post(
        &relevo,
        "/api/v1/auth/logout",
        None,
        json!({"refresh_token": r3}),
    );
    assert_eq!(st, 204);
    let (st, _) = post(
        &relevo,
        "/api/v1/auth/refresh",
        None,
        json!({"refresh_token": r3}),
    );
    assert_eq!(st, 401);
    let (st, _) = post(
        &relevo,
        "/api/v1/auth/refresh",
        None,
        json!({"refresh_token": "rlv_rt_forged"}),
    );
    assert_eq!(st, 401);
}

#[test]
fn access_tokens_expire() {
    let relevo = Relevo::start("api-expiry", "[api]\naccess_token_ttl_s = 1\n", "");
    let token = relevo.token().to_owned();
    wait_until(
        "the access token to expire",
        Duration::from_secs(30),
        || get(&relevo, "/api/v1/me", &token).0 == 401,
    );
    let (st, e) = get(&relevo, "/api/v1/me", &token);
    assert_eq!(st, 401);
    assert!(
        e["error"]["message"].as_str().unwrap().contains("expired"),
        "{e}"
    );
}

#[test]
fn api_tokens_work_until_revoked() {
    let relevo = Relevo::start("api-tokens", "", "");
    let (st, created) = relevo.api(
        "POST",
        "/api/v1/tokens",
        Some(&json!({"name": "automation", "role": "tecnico"})),
    );
    assert_eq!(st, 201, "{created}");
    let token = created["token"].as_str().unwrap().to_owned();
    let id = created["id"].as_i64().unwrap();
    let (st, body) = post(
        &relevo,
        "/api/v1/inputs",
        Some(&token),
        json!({"name": "cam", "key": "cam1"}),
    );
    assert_eq!(st, 201, "{body}");
    let (st, body) = get(&relevo, "/api/v1/users", &token);
    assert_eq!(st, 403, "a Técnico token reached users: {body}");
    let (_, list) = relevo.api("GET", "/api/v1/tokens", None);
    assert!(
        !list.to_string().contains(&token),
        "a token is shown once only"
    );
    let (st, _) = relevo.api("DELETE", &format!("/api/v1/tokens/{id}"), None);
    assert_eq!(st, 204);
    let (st, _) = get(&relevo, "/api/v1/inputs", &token);
    assert_eq!(st, 401, "a revoked token still works");
    // The audit names the token as the actor of its change.
    let (_, audit) = relevo.api("GET", "/api/v1/audit?action=input.", None);
    assert_eq!(audit["entries"][0]["actor"], "token:automation", "{audit}");
}

#[test]
fn totp_enrolment_codes_and_recovery_codes() {
    let relevo = Relevo::start("api-totp", "", "");
    let admin = relevo.token().to_owned();
    let (st, en) = post(
        &relevo,
        "/api/v1/me/totp/begin",
        Some(&admin),
        json!({"password": ADMIN_PASSWORD}),
    );
    assert_eq!(st, 200, "{en}");
    assert!(en["qr_svg"].as_str().unwrap().contains("<svg"));
    assert!(en["otpauth_uri"]
        .as_str()
        .unwrap()
        .starts_with("otpauth://totp/"));
    let secret = totp::Secret::from_base32(en["secret"].as_str().unwrap()).unwrap();
    let (st, e) = post(
        &relevo,
        "/api/v1/me/totp/confirm",
        Some(&admin),
        json!({"code": "000000"}),
    );
    assert_eq!(
        (st, e["error"]["field"].as_str()),
        (422, Some("code")),
        "{e}"
    );
    let t = now();
    let (st, codes) = post(
        &relevo,
        "/api/v1/me/totp/confirm",
        Some(&admin),
        json!({"code": totp::code_at(&secret, t)}),
    );
    assert_eq!(st, 200, "{codes}");
    let recovery: Vec<String> = codes["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(recovery.len(), 10);

    let (st, e) = relevo.login(ADMIN_EMAIL, json!({}));
    assert_eq!(
        (st, e["error"]["code"].as_str()),
        (401, Some("totp_required")),
        "{e}"
    );
    let (st, e) = relevo.login(ADMIN_EMAIL, json!({"totp_code": "123456"}));
    assert_eq!(
        (st, e["error"]["code"].as_str()),
        (401, Some("invalid_totp")),
        "{e}"
    );
    // The next time step: the confirmation's own code may not be replayed.
    let (st, ok) = relevo.login(
        ADMIN_EMAIL,
        json!({"totp_code": totp::code_at(&secret, t + 30)}),
    );
    assert_eq!(st, 200, "{ok}");
    let (st, e) = relevo.login(
        ADMIN_EMAIL,
        json!({"totp_code": totp::code_at(&secret, t + 30)}),
    );
    assert_eq!(st, 401, "a TOTP code was accepted twice: {e}");
    let (st, ok) = relevo.login(ADMIN_EMAIL, json!({"totp_code": recovery[0]}));
    assert_eq!(st, 200, "recovery code: {ok}");
    let (st, _) = relevo.login(ADMIN_EMAIL, json!({"totp_code": recovery[0]}));
    assert_eq!(st, 401, "a recovery code works once");

    // An admin makes 2FA mandatory for a Técnico: until enrolled, only enrolment works.
    let tec = relevo.add_user("tec@relevo.test", "tecnico");
    let (st, _) = post(
        &relevo,
        &format!("/api/v1/users/{}", tec["id"]),
        Some(&admin),
        json!({}),
    );
    assert_eq!(st, 405);
    let (st, body) = http_request(
        relevo.http,
        "PATCH",
        &format!("/api/v1/users/{}", tec["id"]),
        Some(&admin),
        Some(&json!({"totp_required": true})),
    );
    assert_eq!(st, 200, "{body}");
    let (st, session) = relevo.login("tec@relevo.test", json!({}));
    assert_eq!(st, 200, "{session}");
    assert_eq!(session["totp_enrollment_required"], true);
    let tec_token = session["access_token"].as_str().unwrap();
    let (st, e) = get(&relevo, "/api/v1/inputs", tec_token);
    assert_eq!(
        (st, e["error"]["code"].as_str()),
        (403, Some("totp_enrollment_required")),
        "{e}"
    );
    let (st, _) = post(
        &relevo,
        "/api/v1/me/totp/begin",
        Some(tec_token),
        json!({"password": ADMIN_PASSWORD}),
    );
    assert_eq!(st, 200);
}

#[test]
fn wrong_passwords_are_rate_limited_per_account_and_address() {
    let relevo = Relevo::start("api-limit", "", "");
    relevo.token();
    relevo.add_user("other@relevo.test", "visor");
    let wrong = json!({"email": ADMIN_EMAIL, "password": "not the password at all"});
    for _ in 0..5 {
        let (st, e) = post(&relevo, "/api/v1/auth/login", None, wrong.clone());
        assert_eq!(
            (st, e["error"]["code"].as_str()),
            (401, Some("invalid_credentials")),
            "{e}"
        );
    }
    let (st, e) = post(&relevo, "/api/v1/auth/login", None, wrong.clone());
    assert_eq!(
        (st, e["error"]["code"].as_str()),
        (429, Some("rate_limited")),
        "{e}"
    );
    // Locked even with the right password, from this address…
    let (st, _) = relevo.login(ADMIN_EMAIL, json!({}));
    assert_eq!(st, 429);
    // …while another account signs in from the same address.
    let (st, _) = relevo.login("other@relevo.test", json!({}));
    assert_eq!(st, 200);
    // Every failure is in the audit log, without the password.
    let (_, audit) = relevo.api("GET", "/api/v1/audit?action=auth.login_failed", None);
    let entries = audit["entries"].as_array().unwrap();
    assert!(entries.len() >= 5, "{audit}");
    assert!(!audit.to_string().contains("not the password"), "{audit}");
}
