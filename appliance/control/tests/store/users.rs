use relevo_control::domain::{Email, Password, Role};
use relevo_control::store::{users, Actor};
use relevo_control::StoreError;
use secrecy::SecretString;

use crate::common::test_db;

fn email(s: &str) -> Email {
    Email::new(s).expect("valid email")
}

fn password(s: &str) -> Password {
    Password::new(SecretString::from(s)).expect("valid password")
}

#[tokio::test]
async fn create_then_verify_right_wrong_and_unknown() {
    let db = test_db().await;
    let created = users::create(
        &db.pool,
        &Actor::cli(),
        &email("Ana@Example.org"),
        &password("correct horse battery"),
        Role::Tecnico,
    )
    .await
    .expect("create");

    let ok = users::verify_password(&db.pool, "ana@EXAMPLE.org", &"correct horse battery".into())
        .await
        .expect("verify");
    let wrong = users::verify_password(&db.pool, "ana@example.org", &"wrong horse battery".into())
        .await
        .expect("verify");
    let unknown = users::verify_password(&db.pool, "nobody@example.org", &"whatever".into())
        .await
        .expect("verify");

    assert_eq!(ok.as_ref(), Some(&created));
    assert_eq!(created.email, "Ana@Example.org", "case kept for display");
    assert_eq!(created.role, Role::Tecnico);
    assert!(!created.totp_enrolled && !created.totp_required && !created.disabled);
    assert_eq!(wrong, None);
    assert_eq!(unknown, None);
}

#[tokio::test]
async fn password_is_stored_as_argon2id_only() {
    let db = test_db().await;
    users::create(
        &db.pool,
        &Actor::cli(),
        &email("ops@example.org"),
        &password("correct horse battery"),
        Role::Admin,
    )
    .await
    .expect("create");

    let hash: String = sqlx::query_scalar("SELECT password_hash FROM users")
        .fetch_one(&db.pool)
        .await
        .expect("hash");

    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    assert!(!hash.contains("horse"));
}

#[tokio::test]
async fn duplicate_email_in_another_case_is_a_conflict() {
    let db = test_db().await;
    let add = |e: &'static str| {
        let pool = db.pool.clone();
        async move {
            users::create(
                &pool,
                &Actor::cli(),
                &email(e),
                &password("correct horse battery"),
                Role::Visor,
            )
            .await
        }
    };
    add("ana@example.org").await.expect("first");

    let second = add("ANA@example.ORG").await;

    assert!(
        matches!(second, Err(StoreError::Conflict { field: "email" })),
        "{second:?}"
    );
}

#[tokio::test]
async fn disabled_user_cannot_log_in() {
    let db = test_db().await;
    users::create(
        &db.pool,
        &Actor::cli(),
        &email("gone@example.org"),
        &password("correct horse battery"),
        Role::Visor,
    )
    .await
    .expect("create");
    sqlx::query("UPDATE users SET disabled = true")
        .execute(&db.pool)
        .await
        .expect("disable");

    let login = users::verify_password(
        &db.pool,
        "gone@example.org",
        &"correct horse battery".into(),
    )
    .await
    .expect("verify");

    assert_eq!(login, None);
    let found = users::find_by_email(&db.pool, "GONE@example.org")
        .await
        .expect("find");
    assert!(found.is_some_and(|u| u.disabled));
}

/// Regression (issue 14, finding 9): the token generation (migration 0018's trigger) moves
/// on with the password, the role, disabling and a 2FA reset, so older access tokens die;
/// other changes leave it.
#[tokio::test]
async fn token_generation_moves_with_what_tokens_stand_for() {
    let db = test_db().await;
    let pool = &db.pool;
    let cli = Actor::cli();
    let (admin, ana) = (email("admin@example.org"), email("ana@example.org"));
    let pw = password("correct horse battery");
    users::create(pool, &cli, &admin, &pw, Role::Admin)
        .await
        .expect("admin");
    let ana = users::create(pool, &cli, &ana, &pw, Role::Tecnico)
        .await
        .expect("ana");
    let gen = || async {
        users::get_with_generation(pool, ana.id)
            .await
            .expect("user")
            .1
    };
    assert_eq!(gen().await, 0);
    let patch = |p: users::UserPatch| users::update(pool, &cli, ana.id, p);
    patch(users::UserPatch {
        totp_required: Some(true),
        ..Default::default()
    })
    .await
    .expect("require 2FA");
    assert_eq!(gen().await, 0, "requiring 2FA ends no token");
    users::set_password(pool, &cli, ana.id, &password("another horse battery"))
        .await
        .expect("password");
    assert_eq!(gen().await, 1);
    patch(users::UserPatch {
        role: Some(Role::Visor),
        ..Default::default()
    })
    .await
    .expect("role");
    assert_eq!(gen().await, 2);
    patch(users::UserPatch {
        disabled: Some(true),
        ..Default::default()
    })
    .await
    .expect("disable");
    assert_eq!(gen().await, 3);
    let kek = relevo_control::keys::TotpKek::from_bytes(&[5; 32]);
    users::totp_begin(pool, &kek, ana.id).await.expect("begin");
    sqlx::query("UPDATE users SET totp_secret = totp_pending WHERE id = $1")
        .bind(ana.id)
        .execute(pool)
        .await
        .expect("enrolled");
    assert_eq!(gen().await, 3, "turning 2FA on ends no token");
    users::totp_disable(pool, &cli, ana.id)
        .await
        .expect("reset");
    assert_eq!(gen().await, 4);
}
