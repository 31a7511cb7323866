//! First-run setup: a one-time token creates the first admin, and only while no user exists.

use relevo_control::domain::{Email, Password, Role};
use relevo_control::store::setup::{self, SetupError};
use relevo_control::store::{audit, users, Actor};
use secrecy::{ExposeSecret, SecretString};
use time::Duration;

use crate::common::test_db;

const TTL: Duration = Duration::hours(1);

fn email(s: &str) -> Email {
    Email::new(s).expect("valid email")
}

fn password() -> Password {
    Password::new(SecretString::from("correct horse battery")).expect("valid password")
}

#[tokio::test]
async fn the_token_creates_the_first_admin_once() {
    let db = test_db().await;
    let token = setup::create_token(&db.pool, TTL)
        .await
        .expect("create")
        .expect("no user yet");
    let from = Some("192.0.2.50".parse().expect("ip"));

    let admin = setup::consume(
        &db.pool,
        token.expose_secret(),
        &email("root@example.org"),
        &password(),
        from,
    )
    .await
    .expect("consume");
    let again = setup::consume(
        &db.pool,
        token.expose_secret(),
        &email("eve@example.org"),
        &password(),
        None,
    )
    .await;
    let later = setup::create_token(&db.pool, TTL).await.expect("create");
    let log = audit::recent(&db.pool, 5).await.expect("audit");

    assert!(token.expose_secret().starts_with("rlv_setup_"));
    assert_eq!(admin.role, Role::Admin);
    assert!(matches!(again, Err(SetupError::AlreadySetUp)), "{again:?}");
    assert!(later.is_none(), "no setup token once a user exists");
    assert_eq!(log.len(), 1);
    assert_eq!(
        (log[0].action.as_str(), log[0].actor.as_str()),
        ("user.create", "setup")
    );
    assert_eq!(log[0].from_addr.as_deref(), Some("192.0.2.50/32"));
    assert_eq!(users::count_users(&db.pool).await.expect("n"), 1);
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM setup_tokens")
        .fetch_one(&db.pool)
        .await
        .expect("count");
    assert_eq!(left, 0);
}

#[tokio::test]
async fn wrong_expired_and_replaced_tokens_are_invalid() {
    let db = test_db().await;
    let expired = setup::create_token(&db.pool, Duration::seconds(-1))
        .await
        .expect("create")
        .expect("token");
    let late = setup::consume(
        &db.pool,
        expired.expose_secret(),
        &email("a@example.org"),
        &password(),
        None,
    )
    .await;
    let old = setup::create_token(&db.pool, TTL)
        .await
        .expect("create")
        .expect("token");
    let new = setup::create_token(&db.pool, TTL)
        .await
        .expect("create")
        .expect("token");

    let wrong = setup::consume(
        &db.pool,
        "rlv_setup_guess",
        &email("a@example.org"),
        &password(),
        None,
    )
    .await;
    let replaced = setup::consume(
        &db.pool,
        old.expose_secret(),
        &email("a@example.org"),
        &password(),
        None,
    )
    .await;
    let current = setup::consume(
        &db.pool,
        new.expose_secret(),
        &email("a@example.org"),
        &password(),
        None,
    )
    .await;

    assert!(matches!(late, Err(SetupError::InvalidToken)), "{late:?}");
    assert!(matches!(wrong, Err(SetupError::InvalidToken)), "{wrong:?}");
    assert!(
        matches!(replaced, Err(SetupError::InvalidToken)),
        "{replaced:?}"
    );
    assert!(current.is_ok(), "{current:?}");
}

#[tokio::test]
async fn a_user_created_meanwhile_ends_setup() {
    let db = test_db().await;
    let token = setup::create_token(&db.pool, TTL)
        .await
        .expect("create")
        .expect("token");
    users::create(
        &db.pool,
        &Actor::cli(),
        &email("ops@example.org"),
        &password(),
        Role::Admin,
    )
    .await
    .expect("cli user");

    let refused = setup::consume(
        &db.pool,
        token.expose_secret(),
        &email("eve@example.org"),
        &password(),
        None,
    )
    .await;

    assert!(
        matches!(refused, Err(SetupError::AlreadySetUp)),
        "{refused:?}"
    );
    assert_eq!(users::count_admins(&db.pool).await.expect("n"), 1);
}

#[tokio::test]
async fn concurrent_setups_create_one_admin() {
    let db = test_db().await;
    let token = setup::create_token(&db.pool, TTL)
        .await
        .expect("create")
        .expect("token");

    let (ea, eb, pw) = (email("a@example.org"), email("b@example.org"), password());
    let (a, b) = tokio::join!(
        setup::consume(&db.pool, token.expose_secret(), &ea, &pw, None),
        setup::consume(&db.pool, token.expose_secret(), &eb, &pw, None),
    );

    assert!(a.is_ok() != b.is_ok(), "{a:?} {b:?}");
    assert_eq!(users::count_users(&db.pool).await.expect("n"), 1);
}
