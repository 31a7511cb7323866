//! Inputs: create, read, update, delete. Each change runs in one transaction with its
//! audit row. Outputs are managed on their own (see `outputs`); deleting an input deletes
//! its outputs (ON DELETE CASCADE).

use relevo_engine::spec::{BackupSpec, GracePeriod, InputSource, InputSpec, Name, OutputSpec};
use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;

use super::audit::{self, Actor, Target};
use super::columns::{InputCols, InputRow, SourceKind};
use super::StoreError;

/// An input without its outputs: what the input's own row holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputDef {
    pub name: Name,
    pub enabled: bool,
    pub source: InputSource,
    pub grace: GracePeriod,
    /// The backup feed (issue #18); `None`: one feed only.
    pub backup: Option<BackupSpec>,
}

impl InputDef {
    /// The input part of a spec (its outputs are ignored).
    pub fn from_spec(spec: &InputSpec) -> Self {
        Self {
            name: spec.name.clone(),
            enabled: spec.enabled,
            source: spec.source.clone(),
            grace: spec.grace,
            backup: spec.backup.clone(),
        }
    }

    pub fn into_spec(self, outputs: Vec<OutputSpec>) -> InputSpec {
        InputSpec {
            name: self.name,
            enabled: self.enabled,
            source: self.source,
            grace: self.grace,
            backup: self.backup,
            outputs,
        }
    }
}

/// An input as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredInput {
    pub id: i64,
    pub def: InputDef,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

impl TryFrom<InputRow> for StoredInput {
    type Error = StoreError;
    fn try_from(row: InputRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: row.id,
            def: row.to_def()?,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

pub async fn create(
    pool: &PgPool,
    actor: &Actor,
    def: &InputDef,
) -> Result<StoredInput, StoreError> {
    let c = InputCols::from_def(def);
    let mut tx = pool.begin().await?;
    let row = insert(&mut tx, &c).await?;
    let t = Target::row("input", row.id, &c.name);
    audit::record(&mut tx, actor, "input.create", t, None, Some(c.audit())).await?;
    tx.commit().await?;
    row.try_into()
}

/// Inserts the row only, on the caller's transaction, which writes the audit row: one per
/// [`create`], one for a whole configuration import.
pub(crate) async fn insert(conn: &mut PgConnection, c: &InputCols) -> Result<InputRow, StoreError> {
    Ok(sqlx::query_as!(
        InputRow,
        r#"INSERT INTO inputs (name, enabled, source, key, srt_host, srt_port, stream_id,
                               rtmp_url, passphrase, key_length, latency_ms, grace_period_s,
                               backup_source, backup_key, backup_srt_host, backup_srt_port,
                               backup_stream_id, backup_rtmp_url, backup_passphrase,
                               backup_key_length, backup_latency_ms, failover_ms, revert_s)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                   $17, $18, $19, $20, $21, $22, $23)
           RETURNING id, name, enabled, source AS "source: SourceKind", key, srt_host,
                     srt_port, stream_id, rtmp_url, passphrase, key_length, latency_ms,
                     grace_period_s, backup_source AS "backup_source: SourceKind",
                     backup_key, backup_srt_host, backup_srt_port, backup_stream_id,
                     backup_rtmp_url, backup_passphrase, backup_key_length,
                     backup_latency_ms, failover_ms, revert_s, created_at, updated_at"#,
        c.name,
        c.enabled,
        c.source as SourceKind,
        c.key,
        c.srt.srt_host,
        c.srt.srt_port,
        c.srt.stream_id,
        c.rtmp_url,
        c.srt.passphrase,
        c.srt.key_length,
        c.srt.latency_ms,
        c.grace_period_s,
        c.backup.source as Option<SourceKind>,
        c.backup.key,
        c.backup.srt.srt_host,
        c.backup.srt.srt_port,
        c.backup.srt.stream_id,
        c.backup.rtmp_url,
        c.backup.srt.passphrase,
        c.backup.srt.key_length,
        c.backup.srt.latency_ms,
        c.backup.failover_ms,
        c.backup.revert_s,
    )
    .fetch_one(conn)
    .await?)
}

pub async fn update(
    pool: &PgPool,
    actor: &Actor,
    id: i64,
    def: &InputDef,
) -> Result<StoredInput, StoreError> {
    let c = InputCols::from_def(def);
    let mut tx = pool.begin().await?;
    let before = lock(&mut tx, id).await?;
    let row = sqlx::query_as!(
        InputRow,
        r#"UPDATE inputs SET name = $2, enabled = $3, source = $4, key = $5, srt_host = $6,
                  srt_port = $7, stream_id = $8, rtmp_url = $9, passphrase = $10,
                  key_length = $11, latency_ms = $12, grace_period_s = $13,
                  backup_source = $14, backup_key = $15, backup_srt_host = $16,
                  backup_srt_port = $17, backup_stream_id = $18, backup_rtmp_url = $19,
                  backup_passphrase = $20, backup_key_length = $21, backup_latency_ms = $22,
                  failover_ms = $23, revert_s = $24
           WHERE id = $1
           RETURNING id, name, enabled, source AS "source: SourceKind", key, srt_host,
                     srt_port, stream_id, rtmp_url, passphrase, key_length, latency_ms,
                     grace_period_s, backup_source AS "backup_source: SourceKind",
                     backup_key, backup_srt_host, backup_srt_port, backup_stream_id,
                     backup_rtmp_url, backup_passphrase, backup_key_length,
                     backup_latency_ms, failover_ms, revert_s, created_at, updated_at"#,
        id,
        c.name,
        c.enabled,
        c.source as SourceKind,
        c.key,
        c.srt.srt_host,
        c.srt.srt_port,
        c.srt.stream_id,
        c.rtmp_url,
        c.srt.passphrase,
        c.srt.key_length,
        c.srt.latency_ms,
        c.grace_period_s,
        c.backup.source as Option<SourceKind>,
        c.backup.key,
        c.backup.srt.srt_host,
        c.backup.srt.srt_port,
        c.backup.srt.stream_id,
        c.backup.rtmp_url,
        c.backup.srt.passphrase,
        c.backup.srt.key_length,
        c.backup.srt.latency_ms,
        c.backup.failover_ms,
        c.backup.revert_s,
    )
    .fetch_one(&mut *tx)
    .await?;
    let (b, a) = (before.cols().audit(), c.audit());
    audit::record(
        &mut tx,
        actor,
        "input.update",
        Target::row("input", id, &c.name),
        Some(b),
        Some(a),
    )
    .await?;
    tx.commit().await?;
    row.try_into()
}

/// Deletes the input and, through the foreign key, its outputs.
pub async fn delete(pool: &PgPool, actor: &Actor, id: i64) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    let before = lock(&mut tx, id).await?;
    sqlx::query!("DELETE FROM inputs WHERE id = $1", id)
        .execute(&mut *tx)
        .await?;
    let b = before.cols().audit();
    audit::record(
        &mut tx,
        actor,
        "input.delete",
        Target::row("input", id, &before.name),
        Some(b),
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn get(pool: &PgPool, id: i64) -> Result<StoredInput, StoreError> {
    sqlx::query_as!(
        InputRow,
        r#"SELECT id, name, enabled, source AS "source: SourceKind", key, srt_host, srt_port,
                  stream_id, rtmp_url, passphrase, key_length, latency_ms, grace_period_s,
                  backup_source AS "backup_source: SourceKind", backup_key, backup_srt_host,
                  backup_srt_port, backup_stream_id, backup_rtmp_url, backup_passphrase,
                  backup_key_length, backup_latency_ms, failover_ms, revert_s,
                  created_at, updated_at
           FROM inputs WHERE id = $1"#,
        id
    )
    .fetch_optional(pool)
    .await?
    .ok_or(StoreError::NotFound { what: "input", id })?
    .try_into()
}

/// Every input, oldest first.
pub async fn list(pool: &PgPool) -> Result<Vec<StoredInput>, StoreError> {
    list_rows(pool)
        .await?
        .into_iter()
        .map(TryInto::try_into)
        .collect()
}

pub(crate) async fn list_rows<'e>(
    conn: impl sqlx::PgExecutor<'e>,
) -> Result<Vec<InputRow>, StoreError> {
    Ok(sqlx::query_as!(
        InputRow,
        r#"SELECT id, name, enabled, source AS "source: SourceKind", key, srt_host, srt_port,
                  stream_id, rtmp_url, passphrase, key_length, latency_ms, grace_period_s,
                  backup_source AS "backup_source: SourceKind", backup_key, backup_srt_host,
                  backup_srt_port, backup_stream_id, backup_rtmp_url, backup_passphrase,
                  backup_key_length, backup_latency_ms, failover_ms, revert_s,
                  created_at, updated_at
           FROM inputs ORDER BY id"#
    )
    .fetch_all(conn)
    .await?)
}

/// Reads and locks the row for the rest of the transaction, so `before` is what changes.
async fn lock(conn: &mut PgConnection, id: i64) -> Result<InputRow, StoreError> {
    sqlx::query_as!(
        InputRow,
        r#"SELECT id, name, enabled, source AS "source: SourceKind", key, srt_host, srt_port,
                  stream_id, rtmp_url, passphrase, key_length, latency_ms, grace_period_s,
                  backup_source AS "backup_source: SourceKind", backup_key, backup_srt_host,
                  backup_srt_port, backup_stream_id, backup_rtmp_url, backup_passphrase,
                  backup_key_length, backup_latency_ms, failover_ms, revert_s,
                  created_at, updated_at
           FROM inputs WHERE id = $1 FOR UPDATE"#,
        id
    )
    .fetch_optional(conn)
    .await?
    .ok_or(StoreError::NotFound { what: "input", id })
}

/// Audits a manual change of the feed on air (`crate::feed_switch`): `input.switch`, with the
/// feed before (`null` when neither was on air) and after. `id` is `None` for an input of the
/// configuration file.
pub async fn record_switch(
    pool: &PgPool,
    actor: &Actor,
    id: Option<i64>,
    name: &str,
    before: Option<&str>,
    after: &str,
) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    let target = Target {
        kind: "input",
        id,
        name: Some(name),
    };
    let (b, a) = (
        serde_json::json!({ "feed": before }),
        serde_json::json!({ "feed": after }),
    );
    audit::record(&mut tx, actor, "input.switch", target, Some(b), Some(a)).await?;
    tx.commit().await?;
    Ok(())
}
