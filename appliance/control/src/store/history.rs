//! SQL of the flow history (`flow_minutes`, `flow_events`; migration 0027): the collector's
//! batched writes, retention, and the reads of the API and the panel.

use serde::Serialize;
use sqlx::PgPool;
use time::OffsetDateTime;

use super::StoreError;

/// One flow's figures over one minute (or a bucket of minutes). `output: None` is the
/// input's own row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MinuteRow {
    #[serde(with = "time::serde::rfc3339")]
    pub minute: OffsetDateTime,
    pub input: String,
    pub output: Option<String>,
    pub secs_live: i32,
    pub secs_waiting: i32,
    pub secs_failing: i32,
    pub secs_stopped: i32,
    pub secs_meant: i32,
    pub bitrate_avg: i64,
    pub bitrate_min: i64,
    pub bitrate_max: i64,
    pub bytes: i64,
    pub reconnects: i64,
    pub dropped: i64,
    pub srt_rtt_ms: Option<f32>,
    pub srt_packets: Option<i64>,
    pub srt_lost: Option<i64>,
    pub srt_retransmitted: Option<i64>,
    pub peers_max: i32,
}

/// How bad an event is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "info" => Some(Self::Info),
            "warning" => Some(Self::Warning),
            "error" => Some(Self::Error),
            _ => None,
        }
    }
}

/// An event to write. `input` = "" for the appliance as a whole.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub at: OffsetDateTime,
    pub input: String,
    pub output: Option<String>,
    /// Dotted lower-case name: `publisher.connected`, `output.failed`, `alert.started`…
    pub kind: String,
    pub severity: Severity,
    /// Details of the kind; never a secret.
    pub detail: serde_json::Value,
    pub audit_id: Option<i64>,
}

/// An event as read back.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FlowEvent {
    pub id: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub input: String,
    pub output: Option<String>,
    pub kind: String,
    pub severity: Severity,
    pub detail: serde_json::Value,
    pub audit_id: Option<i64>,
}

/// Which events to read, newest first.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// `None`: every flow; `Some("")`: the appliance's own events.
    pub input: Option<String>,
    /// With `input`: only this output's events (`Some("")`: only the input's own).
    pub output: Option<String>,
    /// Kinds, or prefixes ending in `.` (`"publisher."`); empty = every kind.
    pub kinds: Vec<String>,
    /// At least this severity.
    pub severity: Option<Severity>,
    pub from: Option<OffsetDateTime>,
    pub to: Option<OffsetDateTime>,
    /// Paging: only events with an id below this one.
    pub before_id: Option<i64>,
    /// At most this many (the caller bounds it).
    pub limit: u32,
}

/// One page of events, and where the next one starts.
#[derive(Debug, Clone, Serialize)]
pub struct EventPage {
    pub events: Vec<FlowEvent>,
    /// Pass as `before_id` for the next (older) page; `None` at the end.
    pub next_before_id: Option<i64>,
}

/// Writes every flow's row of one or more minutes in one statement. A row whose
/// (input, output, minute) exists is merged into it: seconds and counts add up, means are
/// weighted by the seconds sampled, extremes kept (a flush at shutdown and the rest of the
/// minute after a restart make one row).
pub async fn upsert_minutes(pool: &PgPool, rows: &[MinuteRow]) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let col = |f: fn(&MinuteRow) -> i16| rows.iter().map(f).collect::<Vec<i16>>();
    let big = |f: fn(&MinuteRow) -> i64| rows.iter().map(f).collect::<Vec<i64>>();
    let opt = |f: fn(&MinuteRow) -> Option<i64>| rows.iter().map(f).collect::<Vec<Option<i64>>>();
    let minutes: Vec<OffsetDateTime> = rows.iter().map(|r| r.minute).collect();
    let inputs: Vec<String> = rows.iter().map(|r| r.input.clone()).collect();
    let outputs: Vec<String> = rows
        .iter()
        .map(|r| r.output.clone().unwrap_or_default())
        .collect();
    let rtt: Vec<Option<f32>> = rows.iter().map(|r| r.srt_rtt_ms).collect();
    let reconnects: Vec<i32> = rows
        .iter()
        .map(|r| i32::try_from(r.reconnects).unwrap_or(i32::MAX))
        .collect();
    let peers: Vec<i32> = rows.iter().map(|r| r.peers_max.max(0)).collect();
    sqlx::query!(
        r#"INSERT INTO flow_minutes AS m
               (minute, input, output, secs_live, secs_waiting, secs_failing, secs_stopped,
                secs_meant, bitrate_avg, bitrate_min, bitrate_max, bytes, reconnects, dropped,
                srt_rtt_ms, srt_packets, srt_lost, srt_retransmitted, peers_max)
           SELECT * FROM UNNEST($1::timestamptz[], $2::text[], $3::text[], $4::int2[],
                                $5::int2[], $6::int2[], $7::int2[], $8::int2[], $9::int8[],
                                $10::int8[], $11::int8[], $12::int8[], $13::int4[],
                                $14::int8[], $15::float4[], $16::int8[], $17::int8[],
                                $18::int8[], $19::int4[])
           ON CONFLICT (input, output, minute) DO UPDATE SET
               bitrate_avg = (m.bitrate_avg * (m.secs_live + m.secs_waiting + m.secs_failing
                                               + m.secs_stopped)
                              + EXCLUDED.bitrate_avg * (EXCLUDED.secs_live + EXCLUDED.secs_waiting
                                                        + EXCLUDED.secs_failing
                                                        + EXCLUDED.secs_stopped))
                             / greatest(1, m.secs_live + m.secs_waiting + m.secs_failing
                                           + m.secs_stopped + EXCLUDED.secs_live
                                           + EXCLUDED.secs_waiting + EXCLUDED.secs_failing
                                           + EXCLUDED.secs_stopped),
               srt_rtt_ms = CASE
                   WHEN m.srt_rtt_ms IS NULL THEN EXCLUDED.srt_rtt_ms
                   WHEN EXCLUDED.srt_rtt_ms IS NULL THEN m.srt_rtt_ms
                   ELSE (m.srt_rtt_ms + EXCLUDED.srt_rtt_ms) / 2 END,
               -- Seconds are capped at 60: two collectors never count the same second,
               -- but a clock step could make the sum pass the minute.
               secs_live = least(60, m.secs_live + EXCLUDED.secs_live),
               secs_waiting = least(60, m.secs_waiting + EXCLUDED.secs_waiting),
               secs_failing = least(60, m.secs_failing + EXCLUDED.secs_failing),
               secs_stopped = least(60, m.secs_stopped + EXCLUDED.secs_stopped),
               secs_meant = least(60, m.secs_meant + EXCLUDED.secs_meant),
               bitrate_min = least(m.bitrate_min, EXCLUDED.bitrate_min),
               bitrate_max = greatest(m.bitrate_max, EXCLUDED.bitrate_max),
               bytes = m.bytes + EXCLUDED.bytes,
               reconnects = m.reconnects + EXCLUDED.reconnects,
               dropped = m.dropped + EXCLUDED.dropped,
               srt_packets = CASE WHEN m.srt_packets IS NULL AND EXCLUDED.srt_packets IS NULL
                   THEN NULL ELSE coalesce(m.srt_packets, 0) + coalesce(EXCLUDED.srt_packets, 0) END,
               srt_lost = CASE WHEN m.srt_lost IS NULL AND EXCLUDED.srt_lost IS NULL
                   THEN NULL ELSE coalesce(m.srt_lost, 0) + coalesce(EXCLUDED.srt_lost, 0) END,
               srt_retransmitted = CASE
                   WHEN m.srt_retransmitted IS NULL AND EXCLUDED.srt_retransmitted IS NULL
                   THEN NULL
                   ELSE coalesce(m.srt_retransmitted, 0) + coalesce(EXCLUDED.srt_retransmitted, 0)
                   END,
               peers_max = greatest(m.peers_max, EXCLUDED.peers_max)"#,
        &minutes,
        &inputs,
        &outputs,
        &col(|r| r.secs_live.clamp(0, 60) as i16),
        &col(|r| r.secs_waiting.clamp(0, 60) as i16),
        &col(|r| r.secs_failing.clamp(0, 60) as i16),
        &col(|r| r.secs_stopped.clamp(0, 60) as i16),
        &col(|r| r.secs_meant.clamp(0, 60) as i16),
        &big(|r| r.bitrate_avg.max(0)),
        &big(|r| r.bitrate_min.max(0)),
        &big(|r| r.bitrate_max.max(0)),
        &big(|r| r.bytes.max(0)),
        &reconnects,
        &big(|r| r.dropped.max(0)),
        &rtt as &[Option<f32>],
        &opt(|r| r.srt_packets) as &[Option<i64>],
        &opt(|r| r.srt_lost) as &[Option<i64>],
        &opt(|r| r.srt_retransmitted) as &[Option<i64>],
        &peers,
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// `flow`'s minute rows from `from` (included) to `to` (excluded), grouped into buckets of
/// `bucket_secs` seconds aligned on `origin` (`date_bin`): seconds and counts summed, means
/// weighted by the seconds sampled, minima and maxima kept. Oldest first.
pub async fn minutes(
    pool: &PgPool,
    input: &str,
    output: Option<&str>,
    from: OffsetDateTime,
    to: OffsetDateTime,
    bucket_secs: i64,
    origin: OffsetDateTime,
) -> Result<Vec<MinuteRow>, StoreError> {
    let rows = sqlx::query!(
        r#"SELECT date_bin(make_interval(secs => $5::int8), minute, $6) AS "minute!",
                  sum(secs_live)::int4 AS "secs_live!",
                  sum(secs_waiting)::int4 AS "secs_waiting!",
                  sum(secs_failing)::int4 AS "secs_failing!",
                  sum(secs_stopped)::int4 AS "secs_stopped!",
                  sum(secs_meant)::int4 AS "secs_meant!",
                  (sum(bitrate_avg * (secs_live + secs_waiting + secs_failing + secs_stopped))
                   / greatest(1, sum(secs_live + secs_waiting + secs_failing + secs_stopped)))::int8
                      AS "bitrate_avg!",
                  min(bitrate_min) AS "bitrate_min!",
                  max(bitrate_max) AS "bitrate_max!",
                  sum(bytes)::int8 AS "bytes!",
                  sum(reconnects)::int8 AS "reconnects!",
                  sum(dropped)::int8 AS "dropped!",
                  avg(srt_rtt_ms)::float4 AS srt_rtt_ms,
                  sum(srt_packets)::int8 AS srt_packets,
                  sum(srt_lost)::int8 AS srt_lost,
                  sum(srt_retransmitted)::int8 AS srt_retransmitted,
                  max(peers_max) AS "peers_max!"
           FROM flow_minutes
           WHERE input = $1 AND output = $2 AND minute >= $3 AND minute < $4
           GROUP BY 1
           ORDER BY 1"#,
        input,
        output.unwrap_or(""),
        from,
        to,
        bucket_secs,
        origin,
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| MinuteRow {
            minute: r.minute,
            input: input.to_owned(),
            output: output.map(str::to_owned),
            secs_live: r.secs_live,
            secs_waiting: r.secs_waiting,
            secs_failing: r.secs_failing,
            secs_stopped: r.secs_stopped,
            secs_meant: r.secs_meant,
            bitrate_avg: r.bitrate_avg,
            bitrate_min: r.bitrate_min,
            bitrate_max: r.bitrate_max,
            bytes: r.bytes,
            reconnects: r.reconnects,
            dropped: r.dropped,
            srt_rtt_ms: r.srt_rtt_ms,
            srt_packets: r.srt_packets,
            srt_lost: r.srt_lost,
            srt_retransmitted: r.srt_retransmitted,
            peers_max: r.peers_max,
        })
        .collect())
}

/// Seconds live and meant of `flow` over the minute rows from `from` (included) to `to`
/// (excluded).
pub async fn live_and_meant(
    pool: &PgPool,
    input: &str,
    output: Option<&str>,
    from: OffsetDateTime,
    to: OffsetDateTime,
) -> Result<(i64, i64), StoreError> {
    let r = sqlx::query!(
        r#"SELECT coalesce(sum(least(secs_live, secs_meant)), 0)::int8 AS "live!",
                  coalesce(sum(secs_meant), 0)::int8 AS "meant!"
           FROM flow_minutes
           WHERE input = $1 AND output = $2 AND minute >= $3 AND minute < $4"#,
        input,
        output.unwrap_or(""),
        from,
        to,
    )
    .fetch_one(pool)
    .await?;
    Ok((r.live, r.meant))
}

/// Writes events in one statement.
pub async fn insert_events(pool: &PgPool, events: &[NewEvent]) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    let at: Vec<OffsetDateTime> = events.iter().map(|e| e.at).collect();
    let input: Vec<String> = events.iter().map(|e| e.input.clone()).collect();
    let output: Vec<String> = events
        .iter()
        .map(|e| e.output.clone().unwrap_or_default())
        .collect();
    let kind: Vec<String> = events.iter().map(|e| e.kind.clone()).collect();
    let severity: Vec<String> = events
        .iter()
        .map(|e| e.severity.as_str().to_owned())
        .collect();
    let detail: Vec<serde_json::Value> = events.iter().map(|e| e.detail.clone()).collect();
    let audit: Vec<Option<i64>> = events.iter().map(|e| e.audit_id).collect();
    sqlx::query!(
        "INSERT INTO flow_events (at, input, output, kind, severity, detail, audit_id)
         SELECT * FROM UNNEST($1::timestamptz[], $2::text[], $3::text[], $4::text[],
                              $5::text[], $6::jsonb[], $7::int8[])",
        &at,
        &input,
        &output,
        &kind,
        &severity,
        &detail,
        &audit as &[Option<i64>],
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Reads a page of events, newest first. `kinds` match exactly, or by prefix when they end
/// in `.`; `severity` keeps that level and the ones above it.
pub async fn events(pool: &PgPool, filter: &EventFilter) -> Result<EventPage, StoreError> {
    let (exact, prefixes): (Vec<String>, Vec<String>) = filter
        .kinds
        .iter()
        .filter(|k| !k.is_empty())
        .cloned()
        .partition(|k| !k.ends_with('.'));
    let any_kind = exact.is_empty() && prefixes.is_empty();
    let severities: Option<Vec<String>> = filter.severity.map(|s| {
        let all = [Severity::Info, Severity::Warning, Severity::Error];
        all.iter()
            .filter(|x| rank(**x) >= rank(s))
            .map(|x| x.as_str().to_owned())
            .collect()
    });
    let limit = i64::from(filter.limit.max(1));
    // One row past the page tells whether another page follows.
    let rows = sqlx::query!(
        r#"SELECT id, at, input, output, kind, severity, detail, audit_id
           FROM flow_events
           WHERE ($1::text IS NULL OR input = $1)
             AND ($2::text IS NULL OR output = $2)
             AND ($3::bool OR kind = ANY($4::text[])
                  OR EXISTS (SELECT 1 FROM unnest($5::text[]) p WHERE starts_with(kind, p)))
             AND ($6::text[] IS NULL OR severity = ANY($6))
             AND ($7::timestamptz IS NULL OR at >= $7)
             AND ($8::timestamptz IS NULL OR at < $8)
             AND ($9::int8 IS NULL OR id < $9)
           ORDER BY id DESC
           LIMIT $10"#,
        filter.input.as_deref(),
        filter.input.as_ref().and(filter.output.as_deref()),
        any_kind,
        &exact,
        &prefixes,
        severities.as_deref(),
        filter.from,
        filter.to,
        filter.before_id,
        limit + 1,
    )
    .fetch_all(pool)
    .await?;
    let more = rows.len() as i64 > limit;
    let mut events: Vec<FlowEvent> = rows
        .into_iter()
        .map(|r| FlowEvent {
            id: r.id,
            at: r.at,
            input: r.input,
            output: Some(r.output).filter(|o| !o.is_empty()),
            kind: r.kind,
            severity: Severity::parse(&r.severity).unwrap_or(Severity::Info),
            detail: r.detail,
            audit_id: r.audit_id,
        })
        .collect();
    events.truncate(limit as usize);
    let next_before_id = if more {
        events.last().map(|e| e.id)
    } else {
        None
    };
    Ok(EventPage {
        events,
        next_before_id,
    })
}

fn rank(s: Severity) -> u8 {
    match s {
        Severity::Info => 0,
        Severity::Warning => 1,
        Severity::Error => 2,
    }
}

/// Deletes minute rows and events older than `before`; returns how many of each.
pub async fn delete_older_than(
    pool: &PgPool,
    before: OffsetDateTime,
) -> Result<(u64, u64), StoreError> {
    let minutes = sqlx::query!("DELETE FROM flow_minutes WHERE minute < $1", before)
        .execute(pool)
        .await?
        .rows_affected();
    let events = sqlx::query!("DELETE FROM flow_events WHERE at < $1", before)
        .execute(pool)
        .await?
        .rows_affected();
    Ok((minutes, events))
}
