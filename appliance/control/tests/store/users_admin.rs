//! The admin's user management: get/list, role and state changes, passwords, deletion,
//! the last-admin rule, login audit rows.

use relevo_control::domain::{Email, Password, Role};
use relevo_control::store::users::{self, User, UserPatch};
use relevo_control::store::Actor;
use relevo_control::StoreError;
use secrecy::SecretString;
use serde_json::json;
use sqlx::PgPool;

use crate::common::{audit_log, test_db};

fn password(s: &str) -> Password {
    Password::new(SecretString::from(s)).expect("valid password")
}

async fn user(pool: &PgPool, email: &str, role: Role) -> User {
    let email = Email::new(email).expect("valid email");
    users::create(
        pool,
        &Actor::cli(),
        &email,
        &password("correct horse battery"),
        role,
    )
    .await
    .expect("create user")
}

fn demote() -> UserPatch {
    UserPatch {
        role: Some(Role::Visor),
        ..UserPatch::default()
    }
}

fn disable() -> UserPatch {
    UserPatch {
        disabled: Some(true),
        ..UserPatch::default()
    }
}

#[tokio::test]
async fn get_list_and_counts() {
    let db = test_db().await;
    let ana = user(&db.pool, "ana@example.org", Role::Admin).await;
    let bea = user(&db.pool, "bea@example.org", Role::Visor).await;

    let got = users::get(&db.pool, bea.id).await.expect("get");
    let all = users::list(&db.pool).await.expect("list");
    let missing = users::get(&db.pool, 999).await;

    assert_eq!(got, bea);
    assert_eq!(all, [ana, bea]);
    assert!(matches!(
        missing,
        Err(StoreError::NotFound {
            what: "user",
            id: 999
        })
    ));
    assert_eq!(users::count_users(&db.pool).await.expect("n"), 2);
    assert_eq!(users::count_admins(&db.pool).await.expect("n"), 1);
}

#[tokio::test]
async fn update_changes_only_what_is_given_and_is_audited() {
    let db = test_db().await;
    user(&db.pool, "root@example.org", Role::Admin).await;
    let bea = user(&db.pool, "bea@example.org", Role::Visor).await;
    let by = Actor::user(
        1,
        "root@example.org",
        Some("192.0.2.7".parse().expect("ip")),
    );

    let changed = users::update(
        &db.pool,
        &by,
        bea.id,
        UserPatch {
            role: Some(Role::Tecnico),
            totp_required: Some(true),
            ..UserPatch::default()
        },
    )
    .await
    .expect("update");
    let log = audit_log(&db.pool, 1).await;

    assert_eq!(changed.role, Role::Tecnico);
    assert!(changed.totp_required && !changed.disabled);
    let e = &log[0];
    assert_eq!(e.action, "user.update");
    assert_eq!(
        (e.target_kind.as_str(), e.target_id),
        ("user", Some(bea.id))
    );
    assert_eq!(e.from_addr.as_deref(), Some("192.0.2.7"));
    assert_eq!(
        e.before,
        Some(json!({ "role": "visor", "disabled": false, "totp_required": false }))
    );
    assert_eq!(
        e.after,
        Some(json!({ "role": "tecnico", "disabled": false, "totp_required": true }))
    );
}

#[tokio::test]
async fn the_last_enabled_admin_cannot_be_removed_demoted_or_disabled() {
    let db = test_db().await;
    let ana = user(&db.pool, "ana@example.org", Role::Admin).await;
    let off = user(&db.pool, "off@example.org", Role::Admin).await;
    users::update(&db.pool, &Actor::cli(), off.id, disable())
        .await
        .expect("disabling a second admin is fine");

    let demoted = users::update(&db.pool, &Actor::cli(), ana.id, demote()).await;
    let disabled = users::update(&db.pool, &Actor::cli(), ana.id, disable()).await;
    let deleted = users::delete(&db.pool, &Actor::cli(), ana.id).await;
    let harmless = users::update(
        &db.pool,
        &Actor::cli(),
        ana.id,
        UserPatch {
            totp_required: Some(true),
            ..UserPatch::default()
        },
    )
    .await;

    for refused in [demoted.map(|_| ()), disabled.map(|_| ()), deleted] {
        assert!(matches!(refused, Err(StoreError::LastAdmin)), "{refused:?}");
    }
    assert!(
        harmless
            .expect("a change that keeps the admin")
            .totp_required
    );
    assert_eq!(users::count_admins(&db.pool).await.expect("n"), 1);
}

#[tokio::test]
async fn with_two_admins_one_may_go() {
    let db = test_db().await;
    let ana = user(&db.pool, "ana@example.org", Role::Admin).await;
    let bea = user(&db.pool, "bea@example.org", Role::Admin).await;

    users::delete(&db.pool, &Actor::cli(), bea.id)
        .await
        .expect("delete one of two");
    let last = users::delete(&db.pool, &Actor::cli(), ana.id).await;

    assert!(matches!(last, Err(StoreError::LastAdmin)), "{last:?}");
    assert!(matches!(
        users::get(&db.pool, bea.id).await,
        Err(StoreError::NotFound { .. })
    ));
}

/// Regression guard for a check-then-act race: two admins demoting each other at the same
/// moment must not leave the appliance without an admin.
#[tokio::test]
async fn concurrent_demotions_leave_an_admin() {
    let db = test_db().await;
    for round in 0..5 {
        let a = user(&db.pool, &format!("a{round}@example.org"), Role::Admin).await;
        let b = user(&db.pool, &format!("b{round}@example.org"), Role::Admin).await;
        // Only a and b are admins this round.
        sqlx::query("UPDATE users SET role = 'visor' WHERE id NOT IN ($1, $2)")
            .bind(a.id)
            .bind(b.id)
            .execute(&db.pool)
            .await
            .expect("demote the rest");

        let cli = Actor::cli();
        let (ra, rb) = tokio::join!(
            users::update(&db.pool, &cli, a.id, demote()),
            users::update(&db.pool, &cli, b.id, disable()),
        );

        let lost = match (ra, rb) {
            (Ok(_), Err(e)) | (Err(e), Ok(_)) => e,
            (ra, rb) => panic!("exactly one wins: {ra:?} {rb:?}"),
        };
        assert!(matches!(lost, StoreError::LastAdmin), "{lost:?}");
        assert_eq!(users::count_admins(&db.pool).await.expect("n"), 1);
    }
}

#[tokio::test]
async fn set_password_replaces_it_and_audits_no_secret() {
    let db = test_db().await;
    let ana = user(&db.pool, "ana@example.org", Role::Visor).await;

    users::set_password(
        &db.pool,
        &Actor::cli(),
        ana.id,
        &password("brand new passphrase"),
    )
    .await
    .expect("set");
    let old = users::verify_password(&db.pool, "ana@example.org", &"correct horse battery".into())
        .await
        .expect("verify");
    let new = users::verify_password(&db.pool, "ana@example.org", &"brand new passphrase".into())
        .await
        .expect("verify");
    let log = audit_log(&db.pool, 1).await;
    let missing =
        users::set_password(&db.pool, &Actor::cli(), 999, &password("whatever it is")).await;

    assert_eq!(old, None);
    assert_eq!(new.map(|u| u.id), Some(ana.id));
    assert_eq!(log[0].action, "user.password");
    assert_eq!(log[0].after, Some(json!({ "password": "***" })));
    assert!(matches!(missing, Err(StoreError::NotFound { .. })));
}

#[tokio::test]
async fn delete_is_audited_with_the_last_state() {
    let db = test_db().await;
    user(&db.pool, "root@example.org", Role::Admin).await;
    let bea = user(&db.pool, "bea@example.org", Role::Tecnico).await;

    users::delete(&db.pool, &Actor::cli(), bea.id)
        .await
        .expect("delete");
    let log = audit_log(&db.pool, 1).await;
    let again = users::delete(&db.pool, &Actor::cli(), bea.id).await;

    assert_eq!(log[0].action, "user.delete");
    assert_eq!(
        log[0].before,
        Some(json!({ "email": "bea@example.org", "role": "tecnico", "disabled": false }))
    );
    assert!(matches!(again, Err(StoreError::NotFound { .. })));
}

#[tokio::test]
async fn logins_are_audited() {
    let db = test_db().await;
    let ana = user(&db.pool, "Ana@example.org", Role::Visor).await;
    let from = Some("198.51.100.4".parse().expect("ip"));
    let anonymous = Actor {
        user_id: None,
        label: "nobody@example.org".to_owned(),
        addr: from,
    };

    users::record_login(
        &db.pool,
        &Actor::user(ana.id, &ana.email, from),
        "ana@example.org",
        users::LOGIN_OK,
    )
    .await
    .expect("record");
    users::record_login(&db.pool, &anonymous, "nobody@example.org", "bad_password")
        .await
        .expect("record");
    let log = audit_log(&db.pool, 2).await;

    assert_eq!(log[1].action, "auth.login");
    assert_eq!(
        (log[1].target_kind.as_str(), log[1].target_id),
        ("user", Some(ana.id))
    );
    assert_eq!(log[1].after, None);
    assert_eq!(log[0].action, "auth.login_failed");
    assert_eq!(log[0].target_id, None, "no such account");
    assert_eq!(log[0].target_name.as_deref(), Some("nobody@example.org"));
    assert_eq!(log[0].after, Some(json!({ "reason": "bad_password" })));
    assert_eq!(log[0].from_addr.as_deref(), Some("198.51.100.4"));
}

#[tokio::test]
async fn users_serialise_with_lowercase_roles_and_rfc3339_times() {
    let db = test_db().await;
    let ana = user(&db.pool, "ana@example.org", Role::Tecnico).await;

    let json = serde_json::to_value(&ana).expect("json");

    assert_eq!(json["role"], "tecnico");
    assert_eq!(json["email"], "ana@example.org");
    let at = json["created_at"].as_str().expect("string");
    assert!(
        time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339).is_ok(),
        "{at}"
    );
    assert!(json.get("password_hash").is_none());
}
