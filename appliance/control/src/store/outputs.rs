//! Outputs: create, read, update, delete, each in one transaction with its audit row. An
//! output belongs to one input for life (moving it means delete and create).

use relevo_engine::spec::OutputSpec;
use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;

use super::audit::{self, Actor, Target};
use super::columns::{OutputCols, OutputKindDb, OutputRow};
use super::StoreError;

/// An output as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredOutput {
    pub id: i64,
    pub input_id: i64,
    pub spec: OutputSpec,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

impl TryFrom<OutputRow> for StoredOutput {
    type Error = StoreError;
    fn try_from(row: OutputRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: row.id,
            input_id: row.input_id,
            spec: row.to_spec()?,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

pub async fn create(
    pool: &PgPool,
    actor: &Actor,
    input_id: i64,
    spec: &OutputSpec,
) -> Result<StoredOutput, StoreError> {
    let c = OutputCols::from_spec(spec);
    let mut tx = pool.begin().await?;
    // Lock the input so it cannot vanish between this check and the insert.
    let exists = sqlx::query_scalar!("SELECT id FROM inputs WHERE id = $1 FOR SHARE", input_id)
        .fetch_optional(&mut *tx)
        .await?;
    if exists.is_none() {
        return Err(StoreError::NotFound {
            what: "input",
            id: input_id,
        });
    }
    let row = insert(&mut tx, input_id, &c).await?;
    let after = c.audit(input_id);
    audit::record(
        &mut tx,
        actor,
        "output.create",
        Target::row("output", row.id, &c.name),
        None,
        Some(after),
    )
    .await?;
    tx.commit().await?;
    row.try_into()
}

/// Inserts the row only, on the caller's transaction, which writes the audit row: one per
/// [`create`], one for a whole configuration import.
pub(crate) async fn insert(
    conn: &mut PgConnection,
    input_id: i64,
    c: &OutputCols,
) -> Result<OutputRow, StoreError> {
    Ok(sqlx::query_as!(
        OutputRow,
        r#"INSERT INTO outputs (input_id, name, enabled, kind, key, srt_host, srt_port,
                                stream_id, rtmp_url, enhanced_rtmp, passphrase, key_length,
                                latency_ms, record_format, segment_s, keep_days, keep_gib,
                                keep_files, platform)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
                   $18, $19)
           RETURNING id, input_id, name, enabled, kind AS "kind: OutputKindDb", key, srt_host,
                     srt_port, stream_id, rtmp_url, enhanced_rtmp, platform, passphrase, key_length,
                     latency_ms, record_format, segment_s, keep_days, keep_gib, keep_files,
                     created_at, updated_at"#,
        input_id,
        c.name,
        c.enabled,
        c.kind as OutputKindDb,
        c.key,
        c.srt.srt_host,
        c.srt.srt_port,
        c.srt.stream_id,
        c.rtmp_url,
        c.enhanced_rtmp,
        c.srt.passphrase,
        c.srt.key_length,
        c.srt.latency_ms,
        c.record.record_format,
        c.record.segment_s,
        c.record.keep_days,
        c.record.keep_gib,
        c.record.keep_files,
        c.platform,
    )
    .fetch_one(conn)
    .await?)
}

pub async fn update(
    pool: &PgPool,
    actor: &Actor,
    id: i64,
    spec: &OutputSpec,
) -> Result<StoredOutput, StoreError> {
    let c = OutputCols::from_spec(spec);
    let mut tx = pool.begin().await?;
    let before = lock(&mut tx, id).await?;
    let row = sqlx::query_as!(
        OutputRow,
        r#"UPDATE outputs SET name = $2, enabled = $3, kind = $4, key = $5, srt_host = $6,
                  srt_port = $7, stream_id = $8, rtmp_url = $9, enhanced_rtmp = $10,
                  passphrase = $11, key_length = $12, latency_ms = $13, record_format = $14,
                  segment_s = $15, keep_days = $16, keep_gib = $17, keep_files = $18,
                  platform = $19
           WHERE id = $1
           RETURNING id, input_id, name, enabled, kind AS "kind: OutputKindDb", key, srt_host,
                     srt_port, stream_id, rtmp_url, enhanced_rtmp, platform, passphrase, key_length,
                     latency_ms, record_format, segment_s, keep_days, keep_gib, keep_files,
                     created_at, updated_at"#,
        id,
        c.name,
        c.enabled,
        c.kind as OutputKindDb,
        c.key,
        c.srt.srt_host,
        c.srt.srt_port,
        c.srt.stream_id,
        c.rtmp_url,
        c.enhanced_rtmp,
        c.srt.passphrase,
        c.srt.key_length,
        c.srt.latency_ms,
        c.record.record_format,
        c.record.segment_s,
        c.record.keep_days,
        c.record.keep_gib,
        c.record.keep_files,
        c.platform,
    )
    .fetch_one(&mut *tx)
    .await?;
    let (b, a) = (before.cols().audit(before.input_id), c.audit(row.input_id));
    audit::record(
        &mut tx,
        actor,
        "output.update",
        Target::row("output", id, &c.name),
        Some(b),
        Some(a),
    )
    .await?;
    tx.commit().await?;
    row.try_into()
}

pub async fn delete(pool: &PgPool, actor: &Actor, id: i64) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    let before = lock(&mut tx, id).await?;
    sqlx::query!("DELETE FROM outputs WHERE id = $1", id)
        .execute(&mut *tx)
        .await?;
    let b = before.cols().audit(before.input_id);
    audit::record(
        &mut tx,
        actor,
        "output.delete",
        Target::row("output", id, &before.name),
        Some(b),
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn get(pool: &PgPool, id: i64) -> Result<StoredOutput, StoreError> {
    sqlx::query_as!(
        OutputRow,
        r#"SELECT id, input_id, name, enabled, kind AS "kind: OutputKindDb", key, srt_host,
                  srt_port, stream_id, rtmp_url, enhanced_rtmp, platform, passphrase, key_length,
                  latency_ms, record_format, segment_s, keep_days, keep_gib, keep_files,
                  created_at, updated_at
           FROM outputs WHERE id = $1"#,
        id
    )
    .fetch_optional(pool)
    .await?
    .ok_or(StoreError::NotFound { what: "output", id })?
    .try_into()
}

/// Every output of every input, by input then oldest first.
pub async fn list(pool: &PgPool) -> Result<Vec<StoredOutput>, StoreError> {
    list_rows(pool)
        .await?
        .into_iter()
        .map(TryInto::try_into)
        .collect()
}

pub(crate) async fn list_rows<'e>(
    conn: impl sqlx::PgExecutor<'e>,
) -> Result<Vec<OutputRow>, StoreError> {
    Ok(sqlx::query_as!(
        OutputRow,
        r#"SELECT id, input_id, name, enabled, kind AS "kind: OutputKindDb", key, srt_host,
                  srt_port, stream_id, rtmp_url, enhanced_rtmp, platform, passphrase, key_length,
                  latency_ms, record_format, segment_s, keep_days, keep_gib, keep_files,
                  created_at, updated_at
           FROM outputs ORDER BY input_id, id"#
    )
    .fetch_all(conn)
    .await?)
}

async fn lock(conn: &mut PgConnection, id: i64) -> Result<OutputRow, StoreError> {
    sqlx::query_as!(
        OutputRow,
        r#"SELECT id, input_id, name, enabled, kind AS "kind: OutputKindDb", key, srt_host,
                  srt_port, stream_id, rtmp_url, enhanced_rtmp, platform, passphrase, key_length,
                  latency_ms, record_format, segment_s, keep_days, keep_gib, keep_files,
                  created_at, updated_at
           FROM outputs WHERE id = $1 FOR UPDATE"#,
        id
    )
    .fetch_optional(conn)
    .await?
    .ok_or(StoreError::NotFound { what: "output", id })
}
