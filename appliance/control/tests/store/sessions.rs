//! Refresh-token sessions: rotation, reuse detection, expiry, logout, and the JWT key.

use relevo_control::auth::token;
use relevo_control::domain::{Email, Password, Role};
use relevo_control::store::sessions::{self, SessionError};
use relevo_control::store::{users, Actor};
use secrecy::{ExposeSecret, SecretString};
use sqlx::PgPool;
use time::Duration;

use crate::common::test_db;

const TTL: Duration = Duration::days(30);

async fn user(pool: &PgPool, email: &str, role: Role) -> users::User {
    let email = Email::new(email).expect("valid email");
    let password = Password::new(SecretString::from("correct horse battery")).expect("valid");
    users::create(pool, &Actor::cli(), &email, &password, role)
        .await
        .expect("create user")
}

#[tokio::test]
async fn rotation_hands_out_a_successor_and_the_current_user() {
    let db = test_db().await;
    let ana = user(&db.pool, "ana@example.org", Role::Tecnico).await;
    let first = sessions::issue(&db.pool, ana.id, TTL).await.expect("issue");

    let (who, second) = sessions::rotate(&db.pool, first.expose_secret(), TTL)
        .await
        .expect("rotate");
    let (_, third) = sessions::rotate(&db.pool, second.expose_secret(), TTL)
        .await
        .expect("rotate again");

    assert_eq!(who, ana);
    assert!(second.expose_secret().starts_with("rlv_rt_"));
    assert_ne!(first.expose_secret(), second.expose_secret());
    assert_ne!(second.expose_secret(), third.expose_secret());
    let families: i64 = sqlx::query_scalar("SELECT count(DISTINCT family_id) FROM refresh_tokens")
        .fetch_one(&db.pool)
        .await
        .expect("count");
    assert_eq!(families, 1, "successors stay in the family");
}

#[tokio::test]
async fn only_the_hash_is_stored() {
    let db = test_db().await;
    let ana = user(&db.pool, "ana@example.org", Role::Visor).await;
    let t = sessions::issue(&db.pool, ana.id, TTL).await.expect("issue");

    let stored: Vec<u8> = sqlx::query_scalar("SELECT token_hash FROM refresh_tokens")
        .fetch_one(&db.pool)
        .await
        .expect("hash");

    assert_eq!(stored, token::hash(t.expose_secret()).to_vec());
}

#[tokio::test]
async fn reusing_a_replaced_token_revokes_the_whole_family() {
    let db = test_db().await;
    let ana = user(&db.pool, "ana@example.org", Role::Admin).await;
    let stolen = sessions::issue(&db.pool, ana.id, TTL).await.expect("issue");
    let (_, legit) = sessions::rotate(&db.pool, stolen.expose_secret(), TTL)
        .await
        .expect("rotate");
    let other = sessions::issue(&db.pool, ana.id, TTL).await.expect("issue");

    let reuse = sessions::rotate(&db.pool, stolen.expose_secret(), TTL).await;
    let after = sessions::rotate(&db.pool, legit.expose_secret(), TTL).await;
    let unrelated = sessions::rotate(&db.pool, other.expose_secret(), TTL).await;

    assert!(matches!(reuse, Err(SessionError::Reused)), "{reuse:?}");
    assert!(matches!(after, Err(SessionError::Reused)), "{after:?}");
    let (who, _) = unrelated.expect("another session is not touched");
    assert_eq!(who.id, ana.id);
}

#[tokio::test]
async fn unknown_and_expired_tokens_are_refused() {
    let db = test_db().await;
    let ana = user(&db.pool, "ana@example.org", Role::Visor).await;
    let expired = sessions::issue(&db.pool, ana.id, Duration::seconds(-1))
        .await
        .expect("issue");

    let unknown = sessions::rotate(&db.pool, "rlv_rt_nonsense", TTL).await;
    let late = sessions::rotate(&db.pool, expired.expose_secret(), TTL).await;

    assert!(matches!(unknown, Err(SessionError::Unknown)), "{unknown:?}");
    assert!(matches!(late, Err(SessionError::Expired)), "{late:?}");
}

#[tokio::test]
async fn a_disabled_user_cannot_refresh() {
    let db = test_db().await;
    let ana = user(&db.pool, "ana@example.org", Role::Visor).await;
    let t = sessions::issue(&db.pool, ana.id, TTL).await.expect("issue");
    sqlx::query("UPDATE users SET disabled = true")
        .execute(&db.pool)
        .await
        .expect("disable by hand");

    let refused = sessions::rotate(&db.pool, t.expose_secret(), TTL).await;

    assert!(
        matches!(refused, Err(SessionError::Disabled)),
        "{refused:?}"
    );
}

#[tokio::test]
async fn logout_revokes_the_family_and_unknown_logout_says_so() {
    let db = test_db().await;
    let ana = user(&db.pool, "ana@example.org", Role::Visor).await;
    let first = sessions::issue(&db.pool, ana.id, TTL).await.expect("issue");
    let (_, current) = sessions::rotate(&db.pool, first.expose_secret(), TTL)
        .await
        .expect("rotate");

    let known = sessions::revoke(&db.pool, first.expose_secret())
        .await
        .expect("revoke");
    let unknown = sessions::revoke(&db.pool, "rlv_rt_nonsense")
        .await
        .expect("revoke");
    let refresh = sessions::rotate(&db.pool, current.expose_secret(), TTL).await;

    assert!(known);
    assert!(!unknown);
    assert!(
        matches!(refresh, Err(SessionError::Reused)),
        "the current token died with its family: {refresh:?}"
    );
}

#[tokio::test]
async fn revoke_user_and_password_change_end_every_session() {
    let db = test_db().await;
    let ana = user(&db.pool, "ana@example.org", Role::Visor).await;
    let bea = user(&db.pool, "bea@example.org", Role::Visor).await;
    let a1 = sessions::issue(&db.pool, ana.id, TTL).await.expect("issue");
    let a2 = sessions::issue(&db.pool, ana.id, TTL).await.expect("issue");
    let b1 = sessions::issue(&db.pool, bea.id, TTL).await.expect("issue");

    let revoked = sessions::revoke_user(&db.pool, ana.id)
        .await
        .expect("revoke");
    let b2 = sessions::issue(&db.pool, bea.id, TTL).await.expect("issue");
    let new_password = Password::new(SecretString::from("another horse battery")).expect("ok");
    users::set_password(&db.pool, &Actor::cli(), bea.id, &new_password)
        .await
        .expect("set password");

    assert_eq!(revoked, 2);
    for t in [a1, a2, b1, b2] {
        let r = sessions::rotate(&db.pool, t.expose_secret(), TTL).await;
        assert!(matches!(r, Err(SessionError::Reused)), "{r:?}");
    }
}

#[tokio::test]
async fn expired_tokens_are_deleted_after_the_grace() {
    let db = test_db().await;
    let ana = user(&db.pool, "ana@example.org", Role::Visor).await;
    sessions::issue(&db.pool, ana.id, Duration::hours(-2))
        .await
        .expect("issue");
    let live = sessions::issue(&db.pool, ana.id, TTL).await.expect("issue");

    let deleted = sessions::delete_expired(&db.pool, Duration::hours(1))
        .await
        .expect("delete");

    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM refresh_tokens")
        .fetch_one(&db.pool)
        .await
        .expect("count");
    assert_eq!(deleted, 1);
    assert_eq!(left, 1, "only the expired token is gone");
    let (who, _) = sessions::rotate(&db.pool, live.expose_secret(), TTL)
        .await
        .expect("the live token still works");
    assert_eq!(who.id, ana.id);
}
