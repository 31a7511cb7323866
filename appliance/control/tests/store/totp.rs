//! TOTP enrolment, second factor with replay protection, recovery codes, disabling.

use relevo_control::auth::totp;
use relevo_control::domain::{Email, Password, Role};
use relevo_control::keys::TotpKek;
use relevo_control::store::{users, Actor};
use relevo_control::StoreError;
use secrecy::{ExposeSecret, SecretString};
use sqlx::PgPool;

use crate::common::{audit_log, test_db};

/// A fixed "now" (2023-11-14T22:13:20Z), at the start of a time step.
const NOW: u64 = 1_700_000_010;

/// The key the secrets are sealed with (the service reads it from `keys/totp.key`).
fn kek() -> TotpKek {
    TotpKek::from_bytes(&[5; 32])
}

async fn user(pool: &PgPool) -> users::User {
    let email = Email::new("ana@example.org").expect("valid email");
    let password = Password::new(SecretString::from("correct horse battery")).expect("valid");
    users::create(pool, &Actor::cli(), &email, &password, Role::Tecnico)
        .await
        .expect("create user")
}

/// Enrols `id` at `NOW`; returns the secret and the recovery codes.
async fn enrol(pool: &PgPool, id: i64) -> (totp::Secret, Vec<SecretString>) {
    let secret = users::totp_begin(pool, &kek(), id).await.expect("begin");
    let code = totp::code_at(&secret, NOW);
    let codes = users::totp_confirm(pool, &kek(), &Actor::cli(), id, &code, NOW)
        .await
        .expect("confirm");
    (secret, codes)
}

#[tokio::test]
async fn begin_keeps_the_secret_pending_until_confirmed() {
    let db = test_db().await;
    let ana = user(&db.pool).await;

    let secret = users::totp_begin(&db.pool, &kek(), ana.id)
        .await
        .expect("begin");
    let pending = users::get(&db.pool, ana.id).await.expect("get");
    let wrong = users::totp_confirm(&db.pool, &kek(), &Actor::cli(), ana.id, "000000", NOW).await;
    let factor = users::second_factor(&db.pool, &kek(), ana.id, &totp::code_at(&secret, NOW), NOW)
        .await
        .expect("second factor");
    let codes = users::totp_confirm(
        &db.pool,
        &kek(),
        &Actor::cli(),
        ana.id,
        &totp::code_at(&secret, NOW),
        NOW,
    )
    .await
    .expect("confirm");
    let enrolled = users::get(&db.pool, ana.id).await.expect("get");

    assert!(!pending.totp_enrolled, "pending is not enrolled");
    assert!(matches!(wrong, Err(StoreError::TotpCode)), "{wrong:?}");
    assert!(!factor, "a pending secret is no second factor");
    assert!(enrolled.totp_enrolled);
    assert_eq!(codes.len(), users::RECOVERY_CODES);
    let mut distinct: Vec<_> = codes.iter().map(|c| c.expose_secret().to_owned()).collect();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 10);
}

#[tokio::test]
async fn confirm_without_begin_and_for_a_missing_user() {
    let db = test_db().await;
    let ana = user(&db.pool).await;

    let not_started =
        users::totp_confirm(&db.pool, &kek(), &Actor::cli(), ana.id, "123456", NOW).await;
    let missing = users::totp_begin(&db.pool, &kek(), 999).await;

    assert!(
        matches!(not_started, Err(StoreError::TotpNotStarted { .. })),
        "{not_started:?}"
    );
    assert!(matches!(missing, Err(StoreError::NotFound { id: 999, .. })));
}

#[tokio::test]
async fn begin_again_replaces_the_pending_secret() {
    let db = test_db().await;
    let ana = user(&db.pool).await;
    let old = users::totp_begin(&db.pool, &kek(), ana.id)
        .await
        .expect("begin");
    let new = users::totp_begin(&db.pool, &kek(), ana.id)
        .await
        .expect("begin again");

    let with_old = users::totp_confirm(
        &db.pool,
        &kek(),
        &Actor::cli(),
        ana.id,
        &totp::code_at(&old, NOW),
        NOW,
    )
    .await;

    assert_ne!(old.to_base32(), new.to_base32());
    assert!(
        matches!(with_old, Err(StoreError::TotpCode)),
        "{with_old:?}"
    );
}

#[tokio::test]
async fn a_code_is_accepted_once_and_never_an_older_one() {
    let db = test_db().await;
    let ana = user(&db.pool).await;
    let (secret, _) = enrol(&db.pool, ana.id).await;
    let pool = db.pool.clone();
    let check = move |code: String, now: u64| {
        let pool = pool.clone();
        async move { users::second_factor(&pool, &kek(), ana.id, &code, now).await }
    };

    let confirm_code_again = check(totp::code_at(&secret, NOW), NOW).await;
    let next = check(totp::code_at(&secret, NOW + 30), NOW + 30).await;
    let replay = check(totp::code_at(&secret, NOW + 30), NOW + 40).await;
    let older = check(totp::code_at(&secret, NOW), NOW + 40).await;
    let drifted = check(totp::code_at(&secret, NOW + 90), NOW + 60).await;
    let wrong = check("000000".to_owned(), NOW + 120).await;

    assert!(
        !confirm_code_again.expect("checked"),
        "the enrolment code is used up"
    );
    assert!(next.expect("checked"));
    assert!(!replay.expect("checked"), "replay");
    assert!(!older.expect("checked"), "older step");
    assert!(drifted.expect("checked"), "one step ahead is fine");
    assert!(!wrong.expect("checked"));
}

#[tokio::test]
async fn recovery_codes_work_once_each_and_are_stored_hashed() {
    let db = test_db().await;
    let ana = user(&db.pool).await;
    let (_, codes) = enrol(&db.pool, ana.id).await;
    let code = codes[3].expose_secret().to_owned();

    let first =
        users::second_factor(&db.pool, &kek(), ana.id, &code.to_uppercase(), NOW + 30).await;
    let again = users::second_factor(&db.pool, &kek(), ana.id, &code, NOW + 60).await;
    let left = users::recovery_codes_left(&db.pool, ana.id)
        .await
        .expect("count");
    let stored: String = sqlx::query_scalar(
        "SELECT string_agg(encode(code_hash, 'escape'), ' ') FROM totp_recovery_codes",
    )
    .fetch_one(&db.pool)
    .await
    .expect("dump");

    assert!(first.expect("checked"));
    assert!(!again.expect("checked"), "spent");
    assert_eq!(left, 9);
    assert!(!stored.contains(&code.replace('-', "")));
}

#[tokio::test]
async fn re_enrolment_replaces_the_recovery_codes() {
    let db = test_db().await;
    let ana = user(&db.pool).await;
    let (_, old_codes) = enrol(&db.pool, ana.id).await;
    let (_, _new_codes) = enrol(&db.pool, ana.id).await;

    let old = users::second_factor(
        &db.pool,
        &kek(),
        ana.id,
        old_codes[0].expose_secret(),
        NOW + 30,
    )
    .await
    .expect("checked");

    assert!(!old);
    assert_eq!(
        users::recovery_codes_left(&db.pool, ana.id)
            .await
            .expect("n"),
        10
    );
}

#[tokio::test]
async fn disable_removes_secret_and_codes_and_is_audited() {
    let db = test_db().await;
    let ana = user(&db.pool).await;
    let (secret, codes) = enrol(&db.pool, ana.id).await;

    users::totp_disable(&db.pool, &Actor::cli(), ana.id)
        .await
        .expect("disable");
    let by_code = users::second_factor(
        &db.pool,
        &kek(),
        ana.id,
        &totp::code_at(&secret, NOW + 30),
        NOW + 30,
    )
    .await
    .expect("checked");
    let by_recovery =
        users::second_factor(&db.pool, &kek(), ana.id, codes[0].expose_secret(), NOW + 30)
            .await
            .expect("checked");
    let after = users::get(&db.pool, ana.id).await.expect("get");
    let log = audit_log(&db.pool, 3).await;

    assert!(!by_code && !by_recovery);
    assert!(!after.totp_enrolled);
    assert_eq!(
        users::recovery_codes_left(&db.pool, ana.id)
            .await
            .expect("n"),
        0
    );
    let actions: Vec<_> = log.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        ["user.totp_disable", "user.totp_enable", "user.create"]
    );
    let b32 = secret.to_base32();
    for e in &log {
        let text = format!("{:?} {:?}", e.before, e.after);
        assert!(!text.contains(&b32), "{text}");
        for c in &codes {
            assert!(!text.contains(c.expose_secret()), "{text}");
        }
    }
}

#[tokio::test]
async fn second_factor_is_false_without_2fa_or_user() {
    let db = test_db().await;
    let ana = user(&db.pool).await;

    let none = users::second_factor(&db.pool, &kek(), ana.id, "123456", NOW).await;
    let missing = users::second_factor(&db.pool, &kek(), 999, "123456", NOW).await;

    assert!(!none.expect("checked"));
    assert!(!missing.expect("checked"));
}

/// Issue 14, finding 6: a database backup must not give second factors away.
#[tokio::test]
async fn secrets_are_stored_sealed_and_clear_ones_from_older_versions_get_sealed() {
    let db = test_db().await;
    let ana = user(&db.pool).await;
    let (secret, _) = enrol(&db.pool, ana.id).await;
    let stored = |pool: PgPool| async move {
        sqlx::query_scalar::<_, Option<String>>("SELECT totp_secret FROM users WHERE id = $1")
            .bind(ana.id)
            .fetch_one(&pool)
            .await
            .expect("read")
            .expect("enrolled")
    };
    let sealed = stored(db.pool.clone()).await;
    assert!(sealed.starts_with("enc1:"), "{sealed}");
    assert!(!sealed.contains(&secret.to_base32()));

    // Another appliance's key (or a lost key file): the TOTP code no longer opens, and
    // nothing else breaks.
    let other = TotpKek::from_bytes(&[6; 32]);
    let code = totp::code_at(&secret, NOW + 30);
    let with_other = users::second_factor(&db.pool, &other, ana.id, &code, NOW + 30).await;
    assert!(!with_other.expect("checked"));

    // A secret stored in clear by an older Relevo is sealed at start and keeps working.
    sqlx::query("UPDATE users SET totp_secret = $2 WHERE id = $1")
        .bind(ana.id)
        .bind(secret.to_base32())
        .execute(&db.pool)
        .await
        .expect("store in clear");
    let sealed_now = users::seal_clear_secrets(&db.pool, &kek())
        .await
        .expect("seal");
    assert_eq!(sealed_now, 1);
    assert!(stored(db.pool.clone()).await.starts_with("enc1:"));
    assert_eq!(
        users::seal_clear_secrets(&db.pool, &kek())
            .await
            .expect("again"),
        0
    );
    let ok = users::second_factor(&db.pool, &kek(), ana.id, &code, NOW + 30).await;
    assert!(ok.expect("checked"));
}
