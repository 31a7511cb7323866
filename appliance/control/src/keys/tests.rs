use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, SystemTime};

use super::*;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("relevo-keys-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("test setup");
    dir
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .expect("test setup")
        .permissions()
        .mode()
        & 0o777
}

fn set_age(path: &Path, age: Duration) {
    File::options()
        .write(true)
        .open(path)
        .expect("test setup")
        .set_modified(SystemTime::now() - age)
        .expect("test setup");
}

#[test]
fn keys_are_made_once_private_and_read_back() {
    let state = scratch("made");
    let keys = KeyDir::open(&state).expect("test setup");
    let ttl = Duration::from_secs(900);
    let jwt = keys.jwt(ttl).expect("test setup");
    assert_eq!(jwt.current.len(), JWT_KEY_LEN);
    assert!(jwt.previous.is_none());
    let kek = keys.totp_kek().expect("test setup");
    assert_eq!(mode(keys.path()), 0o700);
    assert_eq!(mode(&keys.path().join("jwt.key")), 0o600);
    assert_eq!(mode(&keys.path().join("totp.key")), 0o600);

    let again = KeyDir::open(&state).expect("test setup");
    assert_eq!(again.jwt(ttl).expect("test setup").current, jwt.current);
    let sealed = kek.seal(7, "JBSWY3DPEHPK3PXP");
    assert_eq!(
        again
            .totp_kek()
            .expect("test setup")
            .open(7, &sealed)
            .expect("test setup"),
        "JBSWY3DPEHPK3PXP"
    );
    // Nothing but the two keys is left behind (no temporary files).
    let mut names: Vec<_> = std::fs::read_dir(keys.path())
        .expect("test setup")
        .map(|e| {
            e.expect("test setup")
                .file_name()
                .into_string()
                .expect("test setup")
        })
        .collect();
    names.sort();
    assert_eq!(names, ["jwt.key", "totp.key"]);
    std::fs::remove_dir_all(state).expect("test setup");
}

#[test]
fn an_old_signing_key_is_rotated_and_stays_accepted_for_one_token_lifetime() {
    let state = scratch("rotate");
    let keys = KeyDir::open(&state).expect("test setup");
    let ttl = Duration::from_secs(900);
    let old = keys.jwt(ttl).expect("test setup").current;
    set_age(
        &keys.path().join("jwt.key"),
        JWT_ROTATE_AFTER + Duration::from_secs(60),
    );

    let rotated = keys.jwt(ttl).expect("test setup");
    assert_ne!(rotated.current, old);
    let (previous, until) = rotated.previous.expect("the old key is still accepted");
    assert_eq!(previous, old);
    let left = until.duration_since(SystemTime::now()).expect("test setup");
    assert!(
        left <= ttl && left > ttl - Duration::from_secs(60),
        "{left:?}"
    );

    // One token lifetime after the rotation, the old key is no longer accepted.
    set_age(
        &keys.path().join("jwt.previous"),
        ttl + Duration::from_secs(1),
    );
    let later = keys.jwt(ttl).expect("test setup");
    assert_eq!(later.current, rotated.current);
    assert!(later.previous.is_none());
    std::fs::remove_dir_all(state).expect("test setup");
}

#[test]
fn a_key_file_of_the_wrong_length_is_an_error_not_a_new_key() {
    let state = scratch("length");
    let keys = KeyDir::open(&state).expect("test setup");
    std::fs::write(keys.path().join("totp.key"), [1u8; 31]).expect("test setup");
    let err = keys.totp_kek().expect_err("an error");
    assert!(
        matches!(
            err,
            KeyError::Length {
                len: 31,
                expected: 32,
                ..
            }
        ),
        "{err}"
    );
    std::fs::remove_dir_all(state).expect("test setup");
}

#[test]
fn a_sealed_totp_secret_opens_only_with_its_key_and_for_its_user() {
    let kek = TotpKek::from_bytes(&[7; TOTP_KEY_LEN]);
    let other = TotpKek::from_bytes(&[8; TOTP_KEY_LEN]);
    let secret = "JBSWY3DPEHPK3PXP";
    let sealed = kek.seal(42, secret);
    assert!(sealed.starts_with(SEALED_PREFIX));
    assert!(!sealed.contains(secret));
    assert_ne!(kek.seal(42, secret), sealed, "a fresh nonce every time");
    assert_eq!(kek.open(42, &sealed).expect("test setup"), secret);
    for (who, key, value) in [
        ("another user's row", &kek, (43, sealed.as_str())),
        ("another key", &other, (42, sealed.as_str())),
        ("a secret in clear", &kek, (42, secret)),
        ("garbage", &kek, (42, "enc1:!!!")),
        ("a truncated value", &kek, (42, &sealed[..20])),
    ] {
        assert!(
            matches!(key.open(value.0, value.1), Err(KeyError::Decrypt)),
            "{who}"
        );
    }
}
