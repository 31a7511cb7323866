//! Panel sessions: a cookie token stored hashed, pending while a 2FA code is owed, bounded
//! by idle and absolute lifetimes, ended by logout, a password change or disabling.

use relevo_control::domain::{Email, Password, Role};
use relevo_control::store::panel_sessions::{self, Lifetimes};
use relevo_control::store::users::{self, UserPatch};
use relevo_control::store::Actor;
use secrecy::{ExposeSecret, SecretString};
use sqlx::PgPool;
use time::Duration;

use crate::common::test_db;

async fn user(pool: &PgPool, email: &str) -> users::User {
    let email = Email::new(email).expect("valid email");
    let password = Password::new(SecretString::from("correct horse battery")).expect("valid");
    users::create(pool, &Actor::cli(), &email, &password, Role::Tecnico)
        .await
        .expect("create user")
}

#[tokio::test]
async fn a_session_is_found_by_its_token_only() {
    let db = test_db().await;
    let ana = user(&db.pool, "ana@example.org").await;
    let life = Lifetimes::default();
    let token = panel_sessions::create(&db.pool, ana.id, false, life)
        .await
        .expect("create");
    assert!(token.expose_secret().starts_with("rlv_ps_"));
    let found = panel_sessions::lookup(&db.pool, token.expose_secret(), life)
        .await
        .expect("lookup")
        .expect("a session");
    assert_eq!((found.user.id, found.totp_pending), (ana.id, false));
    // Only the hash is stored.
    let stored: i64 =
        sqlx::query_scalar("SELECT count(*) FROM panel_sessions WHERE token_hash = $1")
            .bind(token.expose_secret().as_bytes())
            .fetch_one(&db.pool)
            .await
            .expect("count");
    assert_eq!(stored, 0);
    let forged = format!("{}x", token.expose_secret());
    assert!(panel_sessions::lookup(&db.pool, &forged, life)
        .await
        .expect("lookup")
        .is_none());
    // Logout ends it.
    panel_sessions::delete(&db.pool, token.expose_secret())
        .await
        .expect("delete");
    assert!(
        panel_sessions::lookup(&db.pool, token.expose_secret(), life)
            .await
            .expect("lookup")
            .is_none()
    );
}

#[tokio::test]
async fn pending_and_expired_sessions() {
    let db = test_db().await;
    let ana = user(&db.pool, "ana@example.org").await;
    let life = Lifetimes::default();
    let pending = panel_sessions::create(&db.pool, ana.id, true, life)
        .await
        .expect("create");
    let found = panel_sessions::lookup(&db.pool, pending.expose_secret(), life)
        .await
        .expect("lookup")
        .expect("a pending session");
    assert!(found.totp_pending);
    let ttl: f64 = sqlx::query_scalar(
        "SELECT extract(epoch FROM expires_at - created_at)::float8 FROM panel_sessions WHERE id = $1",
    )
    .bind(found.id)
    .fetch_one(&db.pool)
    .await
    .expect("ttl");
    assert!(
        (ttl - 300.0).abs() < 5.0,
        "a pending sign-in lives five minutes, not {ttl} s"
    );

    // An idle deadline in the past ends a session; housekeeping forgets it.
    let short = Lifetimes {
        idle: Duration::seconds(1),
        absolute: Duration::days(1),
    };
    let token = panel_sessions::create(&db.pool, ana.id, false, short)
        .await
        .expect("create");
    sqlx::query(
        "UPDATE panel_sessions SET idle_until = now() - interval '1 second' WHERE NOT totp_pending",
    )
    .execute(&db.pool)
    .await
    .expect("age");
    assert!(
        panel_sessions::lookup(&db.pool, token.expose_secret(), short)
            .await
            .expect("lookup")
            .is_none()
    );
    assert_eq!(
        panel_sessions::delete_expired(&db.pool)
            .await
            .expect("forget"),
        1
    );
}

#[tokio::test]
async fn password_change_and_disabling_end_every_session() {
    let db = test_db().await;
    let ana = user(&db.pool, "ana@example.org").await;
    let life = Lifetimes::default();
    let a = panel_sessions::create(&db.pool, ana.id, false, life)
        .await
        .expect("a");
    let b = panel_sessions::create(&db.pool, ana.id, false, life)
        .await
        .expect("b");
    let password = Password::new(SecretString::from("another long password")).expect("valid");
    users::set_password(&db.pool, &Actor::cli(), ana.id, &password)
        .await
        .expect("set password");
    for t in [&a, &b] {
        assert!(panel_sessions::lookup(&db.pool, t.expose_secret(), life)
            .await
            .expect("lookup")
            .is_none());
    }
    let c = panel_sessions::create(&db.pool, ana.id, false, life)
        .await
        .expect("c");
    let patch = UserPatch {
        disabled: Some(true),
        ..UserPatch::default()
    };
    users::update(&db.pool, &Actor::cli(), ana.id, patch)
        .await
        .expect("disable");
    assert!(panel_sessions::lookup(&db.pool, c.expose_secret(), life)
        .await
        .expect("lookup")
        .is_none());
}
