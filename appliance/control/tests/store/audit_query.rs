use relevo_control::store::audit::{self, AuditFilter, MAX_PAGE};
use relevo_control::store::settings::{self, BrandingPatch};
use relevo_control::store::{inputs, outputs, Actor, InputDef};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::common::*;

fn filter(limit: i64) -> AuditFilter {
    AuditFilter {
        limit,
        ..AuditFilter::default()
    }
}

fn ids(page: &audit::AuditPage) -> Vec<i64> {
    page.entries.iter().map(|e| e.id).collect()
}

/// Seven entries: ana creates two inputs and an output; the CLI renames the product twice;
/// bob deletes an input; ana changes the colour.
async fn seed(db: &TestDb) {
    let bob = Actor::user(2, "Bob@Example.org", None);
    let def = |n: &str, k: &str| InputDef {
        name: name(n),
        enabled: true,
        source: listen(k),
        grace: grace(10),
        backup: None,
    };
    let a = inputs::create(&db.pool, &actor(), &def("a", "ka"))
        .await
        .expect("a");
    let b = inputs::create(&db.pool, &actor(), &def("b", "kb"))
        .await
        .expect("b");
    outputs::create(&db.pool, &actor(), a.id, &pull_rtmp_output("o", "ko"))
        .await
        .expect("o");
    for product in ["One", "Two"] {
        let patch = BrandingPatch {
            product_name: Some(product.to_owned()),
            primary_color: None,
        };
        settings::update(&db.pool, &Actor::cli(), patch)
            .await
            .expect("rename");
    }
    inputs::delete(&db.pool, &bob, b.id).await.expect("delete");
    let colour = BrandingPatch {
        product_name: None,
        primary_color: Some("#123456".to_owned()),
    };
    settings::update(&db.pool, &actor(), colour)
        .await
        .expect("colour");
}

async fn actions(db: &TestDb, f: AuditFilter) -> Vec<String> {
    let page = audit::query(&db.pool, &f).await.expect("query");
    page.entries.into_iter().map(|e| e.action).collect()
}

#[tokio::test]
async fn filters_combine_and_results_are_newest_first() {
    let db = test_db().await;
    seed(&db).await;

    let all = actions(&db, filter(100)).await;
    let by_actor = actions(
        &db,
        AuditFilter {
            actor: Some("bob@EXAMPLE".to_owned()),
            ..filter(100)
        },
    )
    .await;
    let by_prefix = actions(
        &db,
        AuditFilter {
            action: Some("input.".to_owned()),
            ..filter(100)
        },
    )
    .await;
    let by_kind_and_actor = actions(
        &db,
        AuditFilter {
            actor: Some("ana".to_owned()),
            target_kind: Some("settings".to_owned()),
            ..filter(100)
        },
    )
    .await;
    let empty_strings = actions(
        &db,
        AuditFilter {
            actor: Some(String::new()),
            action: Some(String::new()),
            target_kind: Some(String::new()),
            ..filter(100)
        },
    )
    .await;
    let nothing = actions(
        &db,
        AuditFilter {
            action: Some("user.".to_owned()),
            ..filter(100)
        },
    )
    .await;

    assert_eq!(
        all,
        [
            "settings.update",
            "input.delete",
            "settings.update",
            "settings.update",
            "output.create",
            "input.create",
            "input.create"
        ]
    );
    assert_eq!(by_actor, ["input.delete"]);
    assert_eq!(by_prefix, ["input.delete", "input.create", "input.create"]);
    assert_eq!(by_kind_and_actor, ["settings.update"]);
    assert_eq!(empty_strings, all, "an empty string does not filter");
    assert!(nothing.is_empty());
}

#[tokio::test]
async fn since_is_inclusive_and_until_exclusive() {
    let db = test_db().await;
    seed(&db).await;
    let all = audit::query(&db.pool, &filter(100)).await.expect("all");
    let middle = &all.entries[3];

    let since = audit::query(
        &db.pool,
        &AuditFilter {
            since: Some(middle.at),
            ..filter(100)
        },
    )
    .await
    .expect("since");
    let until = audit::query(
        &db.pool,
        &AuditFilter {
            until: Some(middle.at),
            ..filter(100)
        },
    )
    .await
    .expect("until");

    assert!(since.entries.iter().all(|e| e.at >= middle.at));
    assert!(ids(&since).contains(&middle.id));
    assert!(until.entries.iter().all(|e| e.at < middle.at));
    assert!(!ids(&until).contains(&middle.id));
    assert_eq!(
        since.entries.len() + until.entries.len(),
        all.entries.len(),
        "the two windows split the log"
    );
}

#[tokio::test]
async fn keyset_pages_cover_the_log_once() {
    let db = test_db().await;
    seed(&db).await;
    let all = ids(&audit::query(&db.pool, &filter(100)).await.expect("all"));

    let mut seen = Vec::new();
    let mut cursor = None;
    let mut sizes = Vec::new();
    loop {
        let page = audit::query(
            &db.pool,
            &AuditFilter {
                before_id: cursor,
                ..filter(3)
            },
        )
        .await
        .expect("page");
        sizes.push(page.entries.len());
        seen.extend(ids(&page));
        match page.next_before_id {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }

    assert_eq!(sizes, [3, 3, 1]);
    assert_eq!(seen, all);
    assert!(all.windows(2).all(|w| w[0] > w[1]), "newest first: {all:?}");
}

#[tokio::test]
async fn an_exactly_full_last_page_has_no_next_cursor() {
    let db = test_db().await;
    seed(&db).await;

    let page = audit::query(&db.pool, &filter(7)).await.expect("page");

    assert_eq!(page.entries.len(), 7);
    assert_eq!(page.next_before_id, None);
}

#[tokio::test]
async fn limit_is_clamped_to_one_and_max_page() {
    let db = test_db().await;
    sqlx::query(
        "INSERT INTO audit_log (actor, action, target_kind)
         SELECT 'bulk', 'test.bulk', 'test' FROM generate_series(1, 501)",
    )
    .execute(&db.pool)
    .await
    .expect("bulk rows");

    let huge = audit::query(&db.pool, &filter(10_000)).await.expect("huge");
    let zero = audit::query(&db.pool, &filter(0)).await.expect("zero");
    let negative = audit::query(&db.pool, &filter(-5)).await.expect("negative");

    assert_eq!(huge.entries.len() as i64, MAX_PAGE);
    assert!(huge.next_before_id.is_some());
    assert_eq!(zero.entries.len(), 1);
    assert_eq!(negative.entries.len(), 1);
}

#[tokio::test]
async fn entries_serialise_for_the_api() {
    let db = test_db().await;
    seed(&db).await;
    let page = audit::query(
        &db.pool,
        &AuditFilter {
            action: Some("output.".to_owned()),
            ..filter(1)
        },
    )
    .await
    .expect("page");

    let json = serde_json::to_value(&page).expect("json");

    let entry = &json["entries"][0];
    assert_eq!(entry["action"], "output.create");
    assert_eq!(entry["actor"], "ana@example.org");
    assert_eq!(entry["from_addr"], "192.0.2.7");
    assert_eq!(entry["after"]["key"], "***");
    let at =
        OffsetDateTime::parse(entry["at"].as_str().expect("string"), &Rfc3339).expect("RFC 3339");
    assert_eq!(at, page.entries[0].at);
    assert_eq!(json["next_before_id"], serde_json::Value::Null);
}
