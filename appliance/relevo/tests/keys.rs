//! The service's keys live in files outside the database (issue 14, finding 6): a database
//! backup can neither mint access tokens nor reveal TOTP secrets. The signing key survives a
//! restart, and deleting it (then SIGHUP) ends every access token at once.
#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::Duration;

use common::*;

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn me(relevo: &Relevo, token: &str) -> u16 {
    http_request(relevo.http, "GET", "/api/v1/me", Some(token), None).0
}

#[test]
fn keys_are_private_files_that_survive_a_restart_and_can_be_replaced() {
    let mut relevo = Relevo::start("keys", "", "");
    let token = relevo.token().to_owned();
    assert_eq!(me(&relevo, &token), 200);

    let keys = relevo.dir.path("state").join("keys");
    assert_eq!(mode(&keys), 0o700);
    for file in ["jwt.key", "totp.key"] {
        assert_eq!(mode(&keys.join(file)), 0o600, "{file}");
    }
    assert_eq!(std::fs::metadata(keys.join("jwt.key")).unwrap().len(), 64);
    assert_eq!(std::fs::metadata(keys.join("totp.key")).unwrap().len(), 32);

    // A restart reads the same key: the token still works.
    relevo.stop();
    relevo.start_again();
    assert_eq!(me(&relevo, &token), 200);

    // Emergency rotation: delete the key and send SIGHUP. Every access token ends at once
    // (clients sign in or refresh again).
    std::fs::remove_file(keys.join("jwt.key")).unwrap();
    let hup = Command::new("kill")
        .args(["-HUP", &relevo.proc.child.id().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    wait_until(
        "the old token to be refused",
        Duration::from_secs(10),
        || me(&relevo, &token) == 401,
    );
    assert_eq!(mode(&keys.join("jwt.key")), 0o600);
    let (status, _) = relevo.login(ADMIN_EMAIL, serde_json::json!({}));
    assert_eq!(status, 200, "signing in again works");
}
