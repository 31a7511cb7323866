//! The audit log: who changed what, when, from where, with before/after snapshots whose
//! secrets are masked before they reach the database. Rows are append-only (a trigger
//! refuses UPDATE, DELETE and TRUNCATE, migration 0011).

use std::net::IpAddr;

use serde_json::Value;
use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;

use super::StoreError;

/// What a masked secret looks like in an audit snapshot.
pub const MASK: &str = "***";

/// Who makes a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub user_id: Option<i64>,
    /// The user's email, an API token's name, or `cli` / `system`.
    pub label: String,
    pub addr: Option<IpAddr>,
}

impl Actor {
    /// An operator at the appliance's console (`relevo user add`, `relevo migrate`).
    pub fn cli() -> Self {
        Self {
            user_id: None,
            label: "cli".to_owned(),
            addr: None,
        }
    }

    pub fn user(id: i64, email: &str, addr: Option<IpAddr>) -> Self {
        Self {
            user_id: Some(id),
            label: email.to_owned(),
            addr,
        }
    }
}

/// What a change is about.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target<'a> {
    pub kind: &'static str,
    pub id: Option<i64>,
    pub name: Option<&'a str>,
}

/// Writes one audit row on `conn`, which must be the change's own transaction.
pub(crate) async fn record(
    conn: &mut PgConnection,
    actor: &Actor,
    action: &str,
    target: Target<'_>,
    before: Option<Value>,
    after: Option<Value>,
) -> Result<(), StoreError> {
    sqlx::query!(
        "INSERT INTO audit_log
             (actor_user_id, actor, from_addr, action, target_kind, target_id, target_name,
              before, after)
         VALUES ($1, $2, $3::text::inet, $4, $5, $6, $7, $8, $9)",
        actor.user_id,
        actor.label,
        actor.addr.map(|a| a.to_string()),
        action,
        target.kind,
        target.id,
        target.name,
        before,
        after,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// `MASK` when a secret is set, `null` when not: the log shows that a key exists (and that
/// it changed, through the action) without showing it.
pub(crate) fn mask(secret: Option<&str>) -> Value {
    secret.map_or(Value::Null, |_| Value::String(MASK.to_owned()))
}

/// One row of the audit log.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub id: i64,
    pub at: OffsetDateTime,
    pub actor_user_id: Option<i64>,
    pub actor: String,
    pub from_addr: Option<String>,
    pub action: String,
    pub target_kind: String,
    pub target_id: Option<i64>,
    pub target_name: Option<String>,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// The newest `limit` entries, newest first. (Filtering and pagination come with the API.)
pub async fn recent(pool: &PgPool, limit: i64) -> Result<Vec<AuditEntry>, StoreError> {
    Ok(sqlx::query_as!(
        AuditEntry,
        r#"SELECT id, created_at AS at, actor_user_id, actor, from_addr::text AS from_addr,
                  action, target_kind, target_id, target_name, before, after
           FROM audit_log ORDER BY id DESC LIMIT $1"#,
        limit
    )
    .fetch_all(pool)
    .await?)
}
