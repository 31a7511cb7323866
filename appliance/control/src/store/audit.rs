//! The audit log: who changed what, when, from where, with before/after snapshots whose
//! secrets are masked before they reach the database. Rows are append-only (a trigger
//! refuses UPDATE, DELETE and TRUNCATE, migration 0011), with one exception: failed
//! sign-ins, which anyone can cause, are deleted after a retention period
//! ([`delete_failed_sign_ins`], migration 0019). [`query`] filters and pages the log for
//! the API.

use std::net::IpAddr;

use serde::Serialize;
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

impl<'a> Target<'a> {
    /// One row of a table, named as the API names it (an input's name, a user's email).
    pub fn row(kind: &'static str, id: i64, name: &'a str) -> Self {
        Self {
            kind,
            id: Some(id),
            name: Some(name),
        }
    }
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

/// Records a change made outside the database (a recorded file deleted from disk): the row
/// is written in a transaction around `change` and committed only when `change` succeeds,
/// so the log never shows what did not happen. `before` describes what the change removed.
pub async fn record_outside<T, E>(
    pool: &PgPool,
    actor: &Actor,
    action: &str,
    kind: &'static str,
    name: &str,
    before: Value,
    change: impl FnOnce() -> Result<T, E>,
) -> Result<Result<T, E>, StoreError> {
    let mut tx = pool.begin().await?;
    let target = Target {
        kind,
        id: None,
        name: Some(name),
    };
    record(&mut tx, actor, action, target, Some(before), None).await?;
    let done = change();
    if done.is_ok() {
        tx.commit().await?;
    }
    Ok(done)
}

/// The shortest retention [`delete_failed_sign_ins`] accepts: the trigger of migration 0019
/// refuses to delete rows younger than this whatever the caller asks.
pub const MIN_FAILED_SIGN_IN_RETENTION: time::Duration = time::Duration::DAY;

/// Retention housekeeping: deletes the `auth.login_failed` rows with no authenticated actor
/// (wrong passwords, unknown accounts, lockout summaries) older than `older_than` (at least
/// [`MIN_FAILED_SIGN_IN_RETENTION`]). Returns how many.
pub async fn delete_failed_sign_ins(
    pool: &PgPool,
    older_than: time::Duration,
) -> Result<u64, StoreError> {
    let older_than = older_than.max(MIN_FAILED_SIGN_IN_RETENTION);
    let mut tx = pool.begin().await?;
    // Declares this transaction the retention task to the append-only trigger; `true`:
    // local to the transaction.
    sqlx::query_scalar!("SELECT set_config('relevo.audit_retention', 'on', true)")
        .fetch_one(&mut *tx)
        .await?;
    let deleted = sqlx::query!(
        "DELETE FROM audit_log
          WHERE action = 'auth.login_failed' AND actor_user_id IS NULL
            AND created_at < now() - make_interval(secs => $1)",
        older_than.as_seconds_f64()
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(deleted)
}

/// `MASK` when a secret is set, `null` when not: the log shows that a key exists (and that
/// it changed, through the action) without showing it.
pub(crate) fn mask(secret: Option<&str>) -> Value {
    secret.map_or(Value::Null, |_| Value::String(MASK.to_owned()))
}

/// One row of the audit log. `from_addr` is the bare address (`192.0.2.7`), not the
/// `inet` text form with its prefix length.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    pub id: i64,
    #[serde(with = "time::serde::rfc3339")]
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

/// Largest page [`query`] returns.
pub const MAX_PAGE: i64 = 500;

/// Which entries [`query`] returns; `None` (or an empty string) does not filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// A part of the actor's label, any case.
    pub actor: Option<String>,
    /// The start of the action, such as `input.` or `settings.logo`.
    pub action: Option<String>,
    /// Exactly, such as `input`, `output`, `user`, `settings`.
    pub target_kind: Option<String>,
    /// From this moment, included.
    pub since: Option<OffsetDateTime>,
    /// Up to this moment, excluded (so that consecutive windows do not overlap).
    pub until: Option<OffsetDateTime>,
    /// Only entries older than this id: the previous page's `next_before_id`.
    pub before_id: Option<i64>,
    /// Page size, clamped to 1..=[`MAX_PAGE`].
    pub limit: i64,
}

/// One page of the log, newest first.
#[derive(Debug, Clone, Serialize)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    /// Where the next (older) page starts; `None` on the last page.
    pub next_before_id: Option<i64>,
}

/// The entries matching `filter`, newest first, one page at a time. Pages are keyed on the
/// id rather than an offset, so entries written meanwhile neither repeat nor skip rows.
pub async fn query(pool: &PgPool, filter: &AuditFilter) -> Result<AuditPage, StoreError> {
    let text = |s: &Option<String>| s.as_deref().filter(|s| !s.is_empty()).map(str::to_owned);
    let limit = filter.limit.clamp(1, MAX_PAGE);
    // One row past the page tells whether another page follows.
    let mut entries = sqlx::query_as!(
        AuditEntry,
        r#"SELECT id, created_at AS at, actor_user_id, actor, host(from_addr) AS from_addr,
                  action, target_kind, target_id, target_name, before, after
           FROM audit_log
           WHERE ($1::text IS NULL OR strpos(lower(actor), lower($1)) > 0)
             AND ($2::text IS NULL OR starts_with(action, $2))
             AND ($3::text IS NULL OR target_kind = $3)
             AND ($4::timestamptz IS NULL OR created_at >= $4)
             AND ($5::timestamptz IS NULL OR created_at < $5)
             AND ($6::bigint IS NULL OR id < $6)
           ORDER BY id DESC
           LIMIT $7"#,
        text(&filter.actor),
        text(&filter.action),
        text(&filter.target_kind),
        filter.since,
        filter.until,
        filter.before_id,
        limit + 1,
    )
    .fetch_all(pool)
    .await?;
    let more = entries.len() as i64 > limit;
    entries.truncate(limit as usize);
    let next_before_id = if more {
        entries.last().map(|e| e.id)
    } else {
        None
    };
    Ok(AuditPage {
        entries,
        next_before_id,
    })
}
