//! API tokens: created once in plaintext, stored hashed, authenticated, revoked.

use relevo_control::domain::Role;
use relevo_control::domain::{Email, Password};
use relevo_control::store::{api_tokens, users, Actor};
use relevo_control::StoreError;
use secrecy::{ExposeSecret, SecretString};

use crate::common::{audit_log, test_db};

fn actor() -> Actor {
    Actor::cli()
}

#[tokio::test]
async fn create_authenticate_list_and_revoke() {
    let db = test_db().await;
    let email = Email::new("ops@example.org").expect("email");
    let password = Password::new(SecretString::from("correct horse battery")).expect("ok");
    let ops = users::create(&db.pool, &actor(), &email, &password, Role::Admin)
        .await
        .expect("user");
    let by_ops = Actor::user(ops.id, &ops.email, None);
    let (created, secret) = api_tokens::create(&db.pool, &by_ops, "  CI deploy ", Role::Tecnico)
        .await
        .expect("create");

    let found = api_tokens::authenticate(&db.pool, secret.expose_secret())
        .await
        .expect("authenticate");
    let listed = api_tokens::list(&db.pool).await.expect("list");
    api_tokens::revoke(&db.pool, &actor(), created.id)
        .await
        .expect("revoke");
    let after = api_tokens::authenticate(&db.pool, secret.expose_secret())
        .await
        .expect("authenticate");

    assert!(secret.expose_secret().starts_with("rlv_at_"));
    assert_eq!(created.name, "CI deploy");
    assert_eq!(
        (created.role, created.created_by),
        (Role::Tecnico, Some(ops.id))
    );
    let found = found.expect("the token authenticates");
    assert_eq!(found.id, created.id);
    assert!(found.last_used_at.is_some(), "use recorded");
    assert_eq!(listed.len(), 1);
    assert_eq!(after, None, "revoked");
    let listed = api_tokens::list(&db.pool).await.expect("list");
    assert!(listed[0].revoked, "revoked tokens stay listed");
}

#[tokio::test]
async fn wrong_and_foreign_tokens_do_not_authenticate() {
    let db = test_db().await;
    api_tokens::create(&db.pool, &actor(), "ci", Role::Admin)
        .await
        .expect("create");

    for presented in ["", "rlv_at_", "rlv_at_AAAA", "rlv_rt_whatever", "Bearer x"] {
        let found = api_tokens::authenticate(&db.pool, presented)
            .await
            .expect("authenticate");
        assert_eq!(found, None, "{presented:?}");
    }
}

#[tokio::test]
async fn the_secret_is_stored_hashed_and_never_audited() {
    let db = test_db().await;
    let (created, secret) = api_tokens::create(&db.pool, &actor(), "ci", Role::Visor)
        .await
        .expect("create");
    api_tokens::revoke(&db.pool, &actor(), created.id)
        .await
        .expect("revoke");
    api_tokens::revoke(&db.pool, &actor(), created.id)
        .await
        .expect("revoking twice is fine");

    let dump: String =
        sqlx::query_scalar("SELECT string_agg(t::text, ' ') FROM (SELECT * FROM api_tokens) t")
            .fetch_one(&db.pool)
            .await
            .expect("dump");
    let log = audit_log(&db.pool, 10).await;

    let plain = secret.expose_secret();
    assert!(!dump.contains(&plain["rlv_at_".len()..]));
    let actions: Vec<_> = log.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        ["api_token.revoke", "api_token.create"],
        "no-op not audited"
    );
    for e in &log {
        assert_eq!(
            (e.target_kind.as_str(), e.target_id),
            ("api_token", Some(created.id))
        );
        let text = format!("{:?} {:?}", e.before, e.after);
        assert!(!text.contains(&plain["rlv_at_".len()..]), "{text}");
    }
    assert_eq!(log[1].after.as_ref().expect("after")["token"], "***");
}

#[tokio::test]
async fn names_are_unique_and_missing_ids_are_not_found() {
    let db = test_db().await;
    api_tokens::create(&db.pool, &actor(), "ci", Role::Visor)
        .await
        .expect("create");

    let dup = api_tokens::create(&db.pool, &actor(), "ci", Role::Admin).await;
    let blank = api_tokens::create(&db.pool, &actor(), "   ", Role::Admin).await;
    let missing = api_tokens::revoke(&db.pool, &actor(), 999).await;

    assert!(
        matches!(dup, Err(StoreError::Conflict { field: "name" })),
        "{dup:?}"
    );
    assert!(matches!(blank, Err(StoreError::Check { .. })), "{blank:?}");
    assert!(
        matches!(missing, Err(StoreError::NotFound { id: 999, .. })),
        "{missing:?}"
    );
}

#[tokio::test]
async fn last_used_at_is_written_at_most_once_a_minute() {
    let db = test_db().await;
    let (created, secret) = api_tokens::create(&db.pool, &actor(), "poller", Role::Visor)
        .await
        .expect("create");
    let use_it = || api_tokens::authenticate(&db.pool, secret.expose_secret());

    let first = use_it().await.expect("auth").expect("found").last_used_at;
    let second = use_it().await.expect("auth").expect("found").last_used_at;
    sqlx::query("UPDATE api_tokens SET last_used_at = now() - interval '2 minutes' WHERE id = $1")
        .bind(created.id)
        .execute(&db.pool)
        .await
        .expect("age it");
    let aged: Option<time::OffsetDateTime> =
        sqlx::query_scalar("SELECT last_used_at FROM api_tokens")
            .fetch_one(&db.pool)
            .await
            .expect("read");
    let third = use_it().await.expect("auth").expect("found").last_used_at;

    assert!(first.is_some());
    assert_eq!(first, second, "no second write within the minute");
    assert!(third > aged, "written again once a minute has passed");
}

#[tokio::test]
async fn tokens_serialise_without_secrets_and_with_rfc3339_times() {
    let db = test_db().await;
    let (created, _) = api_tokens::create(&db.pool, &actor(), "ci", Role::Tecnico)
        .await
        .expect("create");

    let json = serde_json::to_value(&created).expect("json");

    assert_eq!(json["role"], "tecnico");
    assert_eq!(json["last_used_at"], serde_json::Value::Null);
    let at = json["created_at"].as_str().expect("string");
    assert!(
        time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339).is_ok(),
        "{at}"
    );
    assert!(json.get("token_hash").is_none());
}

/// Regression (issue 14, finding 15): a token kept working after the admin who created it
/// was disabled or deleted. It is revoked with them (audited with the reason); a console
/// token, created by nobody, is not tied to anyone.
#[tokio::test]
async fn tokens_die_with_their_creator() {
    use relevo_control::store::users::UserPatch;
    let db = test_db().await;
    let pool = &db.pool;
    let password = Password::new(SecretString::from("correct horse battery")).expect("ok");
    let mut admins = Vec::new();
    for email in [
        "keeper@example.org",
        "leaver@example.org",
        "gone@example.org",
    ] {
        let email = Email::new(email).expect("email");
        let u = users::create(pool, &actor(), &email, &password, Role::Admin)
            .await
            .expect("user");
        admins.push(u);
    }
    let by = |u: &users::User| Actor::user(u.id, &u.email, None);
    let (_, kept) = api_tokens::create(pool, &by(&admins[0]), "kept", Role::Tecnico)
        .await
        .expect("create");
    let (_, of_disabled) = api_tokens::create(pool, &by(&admins[1]), "disabled", Role::Admin)
        .await
        .expect("create");
    let (_, of_deleted) = api_tokens::create(pool, &by(&admins[2]), "deleted", Role::Visor)
        .await
        .expect("create");
    let (_, console) = api_tokens::create(pool, &actor(), "console", Role::Visor)
        .await
        .expect("create");

    let disable = UserPatch {
        disabled: Some(true),
        ..UserPatch::default()
    };
    users::update(pool, &by(&admins[0]), admins[1].id, disable)
        .await
        .expect("disable");
    users::delete(pool, &by(&admins[0]), admins[2].id)
        .await
        .expect("delete");

    let works = |t: SecretString| async move {
        api_tokens::authenticate(pool, t.expose_secret())
            .await
            .expect("authenticate")
            .is_some()
    };
    assert!(works(kept).await);
    assert!(works(console).await, "no creator: not tied to anyone");
    assert!(!works(of_disabled).await, "its creator is disabled");
    assert!(!works(of_deleted).await, "its creator is deleted");
    let listed = api_tokens::list(pool).await.expect("list");
    let revoked: Vec<&str> = listed
        .iter()
        .filter(|t| t.revoked)
        .map(|t| t.name.as_str())
        .collect();
    assert_eq!(revoked, ["disabled", "deleted"], "shown as revoked");
    let reasons: Vec<String> = audit_log(pool, 20)
        .await
        .into_iter()
        .filter(|e| e.action == "api_token.revoke")
        .map(|e| e.after.expect("after")["reason"].to_string())
        .collect();
    assert_eq!(reasons, ["\"creator_deleted\"", "\"creator_disabled\""]);
}
