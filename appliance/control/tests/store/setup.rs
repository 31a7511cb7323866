//! First-run setup: a one-time token creates the first admin, and only while no user exists.

use std::net::IpAddr;

use relevo_control::domain::{Email, Password, Role};
use relevo_control::store::setup::{self, SetupError};
use relevo_control::store::users::{self, User};
use relevo_control::store::Actor;
use secrecy::{ExposeSecret, SecretString};
use sqlx::PgPool;
use time::Duration;

use crate::common::{audit_log, test_db};

const TTL: Duration = Duration::hours(1);

fn email(s: &str) -> Email {
    Email::new(s).expect("valid email")
}

fn password() -> Password {
    Password::new(SecretString::from("correct horse battery")).expect("valid password")
}

/// A new setup token valid for `ttl`; there must be no user yet.
async fn token(pool: &PgPool, ttl: Duration) -> SecretString {
    setup::create_token(pool, ttl)
        .await
        .expect("create")
        .expect("no user yet")
}

/// Presents `token` to create the admin `admin`.
async fn consume(
    pool: &PgPool,
    token: &str,
    admin: &str,
    from: Option<IpAddr>,
) -> Result<User, SetupError> {
    setup::consume(pool, token, &email(admin), &password(), from).await
}

#[tokio::test]
async fn the_token_creates_the_first_admin_once() {
    let db = test_db().await;
    let token = token(&db.pool, TTL).await;
    let from = Some("192.0.2.50".parse().expect("ip"));

    let admin = consume(&db.pool, token.expose_secret(), "root@example.org", from)
        .await
        .expect("consume");
    let again = consume(&db.pool, token.expose_secret(), "eve@example.org", None).await;
    let later = setup::create_token(&db.pool, TTL).await.expect("create");
    let login = users::verify_password(
        &db.pool,
        "root@example.org",
        &"correct horse battery".into(),
    )
    .await
    .expect("verify");
    let log = audit_log(&db.pool, 5).await;

    assert!(token.expose_secret().starts_with("rlv_setup_"));
    assert_eq!(
        (admin.email.as_str(), admin.role),
        ("root@example.org", Role::Admin)
    );
    assert_eq!(
        login,
        Some(admin),
        "the admin logs in with the chosen password"
    );
    assert!(matches!(again, Err(SetupError::AlreadySetUp)), "{again:?}");
    assert!(later.is_none(), "no setup token once a user exists");
    assert_eq!(log.len(), 1);
    assert_eq!(
        (log[0].action.as_str(), log[0].actor.as_str()),
        ("user.create", "setup")
    );
    assert_eq!(log[0].from_addr.as_deref(), Some("192.0.2.50"));
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
    let expired = token(&db.pool, Duration::seconds(-1)).await;
    let late = consume(&db.pool, expired.expose_secret(), "a@example.org", None).await;
    let old = token(&db.pool, TTL).await;
    let new = token(&db.pool, TTL).await;

    let wrong = consume(&db.pool, "rlv_setup_guess", "a@example.org", None).await;
    let replaced = consume(&db.pool, old.expose_secret(), "a@example.org", None).await;
    let current = consume(&db.pool, new.expose_secret(), "a@example.org", None).await;

    assert!(matches!(late, Err(SetupError::InvalidToken)), "{late:?}");
    assert!(matches!(wrong, Err(SetupError::InvalidToken)), "{wrong:?}");
    assert!(
        matches!(replaced, Err(SetupError::InvalidToken)),
        "{replaced:?}"
    );
    let admin = current.expect("the current token works");
    assert_eq!(
        (admin.email.as_str(), admin.role),
        ("a@example.org", Role::Admin)
    );
}

#[tokio::test]
async fn a_user_created_meanwhile_ends_setup() {
    let db = test_db().await;
    let token = token(&db.pool, TTL).await;
    users::create(
        &db.pool,
        &Actor::cli(),
        &email("ops@example.org"),
        &password(),
        Role::Admin,
    )
    .await
    .expect("cli user");

    let refused = consume(&db.pool, token.expose_secret(), "eve@example.org", None).await;

    assert!(
        matches!(refused, Err(SetupError::AlreadySetUp)),
        "{refused:?}"
    );
    assert_eq!(users::count_admins(&db.pool).await.expect("n"), 1);
}

#[tokio::test]
async fn concurrent_setups_create_one_admin() {
    let db = test_db().await;
    let token = token(&db.pool, TTL).await;

    let (a, b) = tokio::join!(
        consume(&db.pool, token.expose_secret(), "a@example.org", None),
        consume(&db.pool, token.expose_secret(), "b@example.org", None),
    );

    let (won, lost) = if a.is_ok() { (a, b) } else { (b, a) };
    let admin = won.expect("one setup wins");
    assert!(matches!(lost, Err(SetupError::AlreadySetUp)), "{lost:?}");
    assert_eq!(admin.role, Role::Admin);
    assert_eq!(
        users::list(&db.pool).await.expect("list"),
        [admin],
        "exactly the winner exists"
    );
}
