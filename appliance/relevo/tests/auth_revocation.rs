//! What ends a credential, through the real service (issue 14): a password change, a role
//! change or a disable ends every access token of the user at once (finding 9); turning
//! 2FA on or off asks for the password (finding 10); an API token dies with the admin who
//! created it (finding 15).
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::{json, Value};

fn call(
    relevo: &Relevo,
    method: &str,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let (st, text) = http_request(relevo.http, method, path, Some(token), body.as_ref());
    (
        st,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Regression (issue 14, finding 9): access tokens stayed valid for their 15 minutes after
/// a password change although the user row is read on every request. Logging out of one
/// session, by design, ends only that session's refresh token.
#[test]
fn access_tokens_end_with_a_password_or_role_change() {
    let relevo = Relevo::start("auth-token-generation", "", "");
    relevo.token();
    relevo.add_user("tec@relevo.test", "tecnico");
    let (_, first) = relevo.login("tec@relevo.test", json!({}));
    let (_, second) = relevo.login("tec@relevo.test", json!({}));
    let a1 = first["access_token"].as_str().unwrap();
    let a2 = second["access_token"].as_str().unwrap();

    // Logout of the first session: the second goes on.
    let (st, _) = http_request(
        relevo.http,
        "POST",
        "/api/v1/auth/logout",
        None,
        Some(&json!({"refresh_token": first["refresh_token"]})),
    );
    assert_eq!(st, 204);
    assert_eq!(call(&relevo, "GET", "/api/v1/me", a2, None).0, 200);

    let change = json!({"current_password": ADMIN_PASSWORD,
                        "new_password": "another horse battery staple"});
    let (st, e) = call(&relevo, "POST", "/api/v1/me/password", a2, Some(change));
    assert_eq!(st, 204, "{e}");
    for token in [a1, a2] {
        let (st, e) = call(&relevo, "GET", "/api/v1/me", token, None);
        assert_eq!(st, 401, "an access token from before the change: {e}");
    }
    let body = json!({"email": "tec@relevo.test", "password": "another horse battery staple"});
    let (st, fresh) = http_request(relevo.http, "POST", "/api/v1/auth/login", None, Some(&body));
    assert_eq!(st, 200, "{fresh}");
    let fresh: Value = serde_json::from_str(&fresh).unwrap();
    let a3 = fresh["access_token"].as_str().unwrap();
    assert_eq!(call(&relevo, "GET", "/api/v1/inputs", a3, None).0, 200);

    // An admin demotes the user: the técnico token must not keep its rights.
    let id = fresh["user"]["id"].as_i64().unwrap();
    let (st, e) = relevo.api(
        "PATCH",
        &format!("/api/v1/users/{id}"),
        Some(&json!({"role": "visor"})),
    );
    assert_eq!(st, 200, "{e}");
    assert_eq!(call(&relevo, "GET", "/api/v1/inputs", a3, None).0, 401);
}

/// Regression (issue 14, finding 10): `POST /me/totp/begin` needed no password, so a stolen
/// access token could put the thief's second factor on the account. Begin and disable both
/// ask for it; a missing or wrong one changes nothing.
#[test]
fn turning_two_factor_on_or_off_asks_for_the_password() {
    let relevo = Relevo::start("auth-totp-password", "", "");
    let admin = relevo.token().to_owned();
    let begin = "/api/v1/me/totp/begin";
    let (st, e) = call(&relevo, "POST", begin, &admin, Some(json!({})));
    assert_eq!(st, 422, "no password: {e}");
    let (st, e) = call(&relevo, "POST", begin, &admin, None);
    assert_eq!(st, 415, "no body: {e}");
    let wrong = json!({"password": "not my password at all"});
    let (st, e) = call(&relevo, "POST", begin, &admin, Some(wrong.clone()));
    assert_eq!(
        (st, e["error"]["field"].as_str()),
        (422, Some("password")),
        "{e}"
    );
    // Nothing was started: there is no enrolment to confirm.
    let confirm = "/api/v1/me/totp/confirm";
    let (st, e) = call(
        &relevo,
        "POST",
        confirm,
        &admin,
        Some(json!({"code": "123456"})),
    );
    assert_eq!(
        (st, e["error"]["code"].as_str()),
        (409, Some("totp_not_started")),
        "{e}"
    );

    let right = json!({"password": ADMIN_PASSWORD});
    let (st, en) = call(&relevo, "POST", begin, &admin, Some(right));
    assert_eq!(st, 200, "{en}");
    let secret =
        relevo_control::auth::totp::Secret::from_base32(en["secret"].as_str().unwrap()).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let code = relevo_control::auth::totp::code_at(&secret, now);
    let (st, e) = call(
        &relevo,
        "POST",
        confirm,
        &admin,
        Some(json!({"code": code})),
    );
    assert_eq!(st, 200, "{e}");

    let disable = "/api/v1/me/totp/disable";
    let (st, _) = call(&relevo, "POST", disable, &admin, Some(json!({})));
    assert_eq!(st, 422);
    let (st, _) = call(&relevo, "POST", disable, &admin, Some(wrong));
    assert_eq!(st, 422);
    let (_, me) = call(&relevo, "GET", "/api/v1/me", &admin, None);
    assert_eq!(me["totp_enrolled"], true, "still on: {me}");
}

/// Regression (issue 14, finding 15): an API token outlived the admin who created it. Its
/// rights came from that admin: it is revoked when they are disabled or deleted, and shown
/// so in the token list.
#[test]
fn api_tokens_end_with_the_admin_who_created_them() {
    let relevo = Relevo::start("auth-token-creator", "", "");
    relevo.token();
    let mut tokens = Vec::new();
    for (email, name) in [("b@relevo.test", "of-b"), ("c@relevo.test", "of-c")] {
        let user = relevo.add_user(email, "admin");
        let access = relevo.access_token(email);
        let body = json!({"name": name, "role": "tecnico"});
        let (st, t) = call(&relevo, "POST", "/api/v1/tokens", &access, Some(body));
        assert_eq!(st, 201, "{t}");
        let secret = t["token"].as_str().unwrap().to_owned();
        assert_eq!(call(&relevo, "GET", "/api/v1/inputs", &secret, None).0, 200);
        tokens.push((user["id"].as_i64().unwrap(), secret));
    }
    let (st, e) = relevo.api(
        "PATCH",
        &format!("/api/v1/users/{}", tokens[0].0),
        Some(&json!({"disabled": true})),
    );
    assert_eq!(st, 200, "{e}");
    let (st, e) = relevo.api("DELETE", &format!("/api/v1/users/{}", tokens[1].0), None);
    assert_eq!(st, 204, "{e}");
    for (_, secret) in &tokens {
        let (st, e) = call(&relevo, "GET", "/api/v1/inputs", secret, None);
        assert_eq!(st, 401, "{e}");
    }
    let (_, list) = relevo.api("GET", "/api/v1/tokens", None);
    let revoked: Vec<bool> = list["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["revoked"].as_bool().unwrap())
        .collect();
    assert_eq!(revoked, [true, true], "{list}");
}
