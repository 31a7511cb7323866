//! The past of every flow (issue #17): `GET /api/v1/history/{input}[/{output}]` (per-second
//! or bucketed per-minute figures), `GET /api/v1/availability/{input}[/{output}]`, and the
//! events list on `GET /api/v1/events` (the same path's WebSocket upgrade stays the live
//! feed, see [`events_or_socket`]). JSON by default, CSV with `format=csv`.
//!
//! This module only reads: the collector ([`crate::history::History`]) and the event store
//! ([`crate::store::history`]) own the data. Query strings are strict: an unknown or
//! malformed parameter is a 400 that names it. The panel's history page
//! ([`crate::panel::history`]) calls the same functions.

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::auth::{Can, READ};
use super::error::{ApiError, ApiResult};
use super::ApiState;
use crate::history::{Availability, FlowRef, Second, StateClass};
use crate::store::history::{EventFilter, EventPage, MinuteRow, Severity};

/// The widest window one request may ask for: the default retention (30 days) plus a day,
/// so "the last 30 days" always fits whatever the clock's minute.
pub const MAX_RANGE: time::Duration = time::Duration::days(31);

/// How many points a chart wants at most: about one per pixel of a wide screen. The
/// default step is the finest one that stays under it.
pub const MAX_POINTS: i64 = 1500;

/// How far back the collector keeps seconds in memory (`History::seconds`).
pub const SECONDS_KEPT: time::Duration = time::Duration::hours(1);

/// Events per page: the default, and the most one request may ask for (a page of the
/// panel's timeline; a CSV export pages with `before_id`).
pub const DEFAULT_LIMIT: u32 = 100;
pub const MAX_LIMIT: u32 = 500;

/// The longest `kind` filter accepted (kinds are short dotted names: `publisher.connected`).
const MAX_KIND_LEN: usize = 64;

/// The resolution of a history answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// One point per second, from memory (the last hour only).
    Second,
    /// Buckets of this many minutes, from the database and the minute being counted.
    Minutes(u32),
}

impl Step {
    /// Every step, finest first, with its name in the query string.
    pub const ALL: [(Step, &'static str); 5] = [
        (Step::Second, "1s"),
        (Step::Minutes(1), "1m"),
        (Step::Minutes(10), "10m"),
        (Step::Minutes(30), "30m"),
        (Step::Minutes(60), "1h"),
    ];

    pub fn as_str(self) -> &'static str {
        Step::ALL
            .iter()
            .find(|(s, _)| *s == self)
            .map_or("1m", |(_, n)| n)
    }

    pub fn parse(s: &str) -> Option<Step> {
        Step::ALL.iter().find(|(_, n)| *n == s).map(|(s, _)| *s)
    }

    fn seconds(self) -> i64 {
        match self {
            Step::Second => 1,
            Step::Minutes(m) => i64::from(m) * 60,
        }
    }

    /// The finest step that gives at most [`MAX_POINTS`] over `from..to` (seconds only
    /// inside the last hour).
    pub fn auto(from: OffsetDateTime, to: OffsetDateTime, now: OffsetDateTime) -> Step {
        let width = (to - from).whole_seconds().max(1);
        Step::ALL
            .iter()
            .map(|(s, _)| *s)
            .find(|s| {
                width / s.seconds() <= MAX_POINTS && (*s != Step::Second || recent(from, now))
            })
            .unwrap_or(Step::Minutes(60))
    }
}

/// Whether a window starting at `from` is inside the seconds kept in memory.
fn recent(from: OffsetDateTime, now: OffsetDateTime) -> bool {
    // A second of slack: "the last hour" asked a moment ago is still the last hour.
    from >= now - SECONDS_KEPT - time::Duration::seconds(1)
}

/// One point of a history answer: a second or a bucket of minutes, with the same columns
/// (a second counts as one second in its state class; its bit rate is its min, mean and
/// max).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Point {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub secs_live: i64,
    pub secs_waiting: i64,
    pub secs_failing: i64,
    pub secs_stopped: i64,
    pub secs_meant: i64,
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
    /// `srt_lost / srt_packets` in percent, when packets were counted.
    pub srt_loss_pct: Option<f64>,
    pub peers_max: i64,
}

/// The CSV header: the [`Point`] fields in order.
const POINT_COLUMNS: &[&str] = &[
    "at",
    "secs_live",
    "secs_waiting",
    "secs_failing",
    "secs_stopped",
    "secs_meant",
    "bitrate_avg",
    "bitrate_min",
    "bitrate_max",
    "bytes",
    "reconnects",
    "dropped",
    "srt_rtt_ms",
    "srt_packets",
    "srt_lost",
    "srt_retransmitted",
    "srt_loss_pct",
    "peers_max",
];

fn loss_pct(packets: Option<i64>, lost: Option<i64>) -> Option<f64> {
    match (packets, lost) {
        (Some(p), Some(l)) if p > 0 => Some(l as f64 * 100.0 / p as f64),
        _ => None,
    }
}

impl From<&Second> for Point {
    fn from(s: &Second) -> Self {
        let one = |c: StateClass| i64::from(s.state == c);
        let bitrate = i64::try_from(s.bitrate).unwrap_or(i64::MAX);
        let opt = |v: Option<u64>| v.map(|v| i64::try_from(v).unwrap_or(i64::MAX));
        Point {
            at: s.at,
            secs_live: one(StateClass::Live),
            secs_waiting: one(StateClass::Waiting),
            secs_failing: one(StateClass::Failing),
            secs_stopped: one(StateClass::Stopped),
            secs_meant: i64::from(s.meant),
            bitrate_avg: bitrate,
            bitrate_min: bitrate,
            bitrate_max: bitrate,
            bytes: bitrate / 8,
            reconnects: i64::from(s.reconnects),
            dropped: i64::try_from(s.dropped).unwrap_or(i64::MAX),
            srt_rtt_ms: s.srt_rtt_ms,
            srt_packets: opt(s.srt_packets),
            srt_lost: opt(s.srt_lost),
            srt_retransmitted: opt(s.srt_retransmitted),
            srt_loss_pct: loss_pct(opt(s.srt_packets), opt(s.srt_lost)),
            peers_max: i64::from(s.peers),
        }
    }
}

impl From<&MinuteRow> for Point {
    fn from(r: &MinuteRow) -> Self {
        Point {
            at: r.minute,
            secs_live: r.secs_live.into(),
            secs_waiting: r.secs_waiting.into(),
            secs_failing: r.secs_failing.into(),
            secs_stopped: r.secs_stopped.into(),
            secs_meant: r.secs_meant.into(),
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
            srt_loss_pct: loss_pct(r.srt_packets, r.srt_lost),
            peers_max: r.peers_max.into(),
        }
    }
}

impl Point {
    fn csv_fields(&self) -> Vec<String> {
        fn o<T: ToString>(v: Option<T>) -> String {
            v.map_or_else(String::new, |v| v.to_string())
        }
        vec![
            rfc3339(self.at),
            self.secs_live.to_string(),
            self.secs_waiting.to_string(),
            self.secs_failing.to_string(),
            self.secs_stopped.to_string(),
            self.secs_meant.to_string(),
            self.bitrate_avg.to_string(),
            self.bitrate_min.to_string(),
            self.bitrate_max.to_string(),
            self.bytes.to_string(),
            self.reconnects.to_string(),
            self.dropped.to_string(),
            o(self.srt_rtt_ms),
            o(self.srt_packets),
            o(self.srt_lost),
            o(self.srt_retransmitted),
            o(self.srt_loss_pct.map(|p| format!("{p:.3}"))),
            self.peers_max.to_string(),
        ]
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

// ---- Query strings -------------------------------------------------------------------

/// A query string as name → values, refusing names not in `allowed`.
#[derive(Debug)]
pub struct Params(HashMap<String, Vec<String>>);

/// A refused query parameter: 400 `invalid_query` naming it.
pub fn bad(field: &str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", message).field(field)
}

impl Params {
    pub fn new(pairs: Vec<(String, String)>, allowed: &[&str]) -> ApiResult<Params> {
        let mut map: HashMap<String, Vec<String>> = HashMap::new();
        for (k, v) in pairs {
            if !allowed.contains(&k.as_str()) {
                return Err(bad(
                    &k,
                    format!("unknown parameter {k:?} (known: {})", allowed.join(", ")),
                ));
            }
            map.entry(k).or_default().push(v);
        }
        Ok(Params(map))
    }

    /// The one value of `name`; given twice is refused (which one would win?).
    pub fn one(&self, name: &str) -> ApiResult<Option<&str>> {
        match self.0.get(name).map(Vec::as_slice) {
            None | Some([]) => Ok(None),
            Some([v]) => Ok(Some(v.as_str())),
            Some(_) => Err(bad(name, format!("{name} is given more than once"))),
        }
    }

    fn all(&self, name: &str) -> &[String] {
        self.0.get(name).map_or(&[], Vec::as_slice)
    }

    fn time(&self, name: &str) -> ApiResult<Option<OffsetDateTime>> {
        self.one(name)?
            .map(|v| {
                OffsetDateTime::parse(v, &Rfc3339).map_err(|e| {
                    bad(
                        name,
                        format!(
                            "{name}: {v:?} is not an RFC 3339 time (2026-12-07T20:00:00Z): {e}"
                        ),
                    )
                })
            })
            .transpose()
    }

    fn csv(&self) -> ApiResult<bool> {
        match self.one("format")? {
            None | Some("json") => Ok(false),
            Some("csv") => Ok(true),
            Some(other) => Err(bad(
                "format",
                format!("format: {other:?} is not json or csv"),
            )),
        }
    }
}

/// A window of time asked for: `from`/`to`, at most [`MAX_RANGE`] wide, `from` before `to`.
pub fn window(
    p: &Params,
    now: OffsetDateTime,
    default_width: time::Duration,
) -> ApiResult<(OffsetDateTime, OffsetDateTime)> {
    let to = p.time("to")?.unwrap_or(now);
    let from = p.time("from")?.unwrap_or(to - default_width);
    if from >= to {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_range",
            "from must be before to",
        )
        .field("from"));
    }
    if to - from > MAX_RANGE {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "range_too_wide",
            format!(
                "a window is at most {} days wide; ask for several",
                MAX_RANGE.whole_days()
            ),
        )
        .field("from"));
    }
    Ok((from, to))
}

/// The `step` asked for, or the default for the window.
pub fn step(
    p: &Params,
    from: OffsetDateTime,
    to: OffsetDateTime,
    now: OffsetDateTime,
) -> ApiResult<Step> {
    match p.one("step")? {
        None => Ok(Step::auto(from, to, now)),
        Some(v) => match Step::parse(v) {
            Some(Step::Second) if !recent(from, now) => Err(bad(
                "step",
                "step 1s is kept for the last hour only; use 1m or more",
            )),
            Some(s) => Ok(s),
            None => Err(bad(
                "step",
                format!("step: {v:?} is not one of 1s, 1m, 10m, 30m, 1h"),
            )),
        },
    }
}

// ---- Flows ---------------------------------------------------------------------------

/// Whether `flow` is configured now (database or configuration file), or running.
pub async fn configured(s: &ApiState, flow: &FlowRef) -> ApiResult<bool> {
    let desired = s.control.desired().await.map_err(|e| {
        tracing::error!("history: reading the desired state: {e}");
        ApiError::internal()
    })?;
    let in_spec = desired.inputs.iter().any(|i| {
        i.name.as_str() == flow.input
            && flow
                .output
                .as_deref()
                .is_none_or(|o| i.outputs.iter().any(|out| out.name.as_str() == o))
    });
    if in_spec {
        return Ok(true);
    }
    let snap = s.control.engine().subscribe().borrow().clone();
    Ok(snap.input(&flow.input).is_some_and(|i| {
        flow.output
            .as_deref()
            .is_none_or(|o| i.outputs.iter().any(|out| out.name == o))
    }))
}

fn unknown_flow(flow: &FlowRef) -> ApiError {
    let what = match &flow.output {
        Some(o) => format!("output {o:?} of input {:?}", flow.input),
        None => format!("input {:?}", flow.input),
    };
    ApiError::new(
        StatusCode::NOT_FOUND,
        "unknown_flow",
        format!("{what} is not configured and has no history"),
    )
}

/// `flow`'s points between `from` and `to` at `step`.
pub async fn points(
    s: &ApiState,
    flow: &FlowRef,
    from: OffsetDateTime,
    to: OffsetDateTime,
    step: Step,
) -> ApiResult<Vec<Point>> {
    Ok(match step {
        Step::Second => s
            .history
            .seconds(flow)
            .iter()
            .filter(|sec| sec.at >= from && sec.at < to)
            .map(Point::from)
            .collect(),
        Step::Minutes(m) => s
            .history
            .minutes(flow, from, to, Duration::from_secs(u64::from(m) * 60))
            .await?
            .iter()
            .map(Point::from)
            .collect(),
    })
}

/// The answer of `GET /api/v1/history/…`.
#[derive(Debug, Serialize)]
pub struct HistoryAnswer {
    pub input: String,
    pub output: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub from: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub to: OffsetDateTime,
    pub step: &'static str,
    pub points: Vec<Point>,
}

pub async fn input_history(
    State(s): State<ApiState>,
    _: Can<READ>,
    Path(input): Path<String>,
    q: Result<Query<Vec<(String, String)>>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    history(
        s,
        FlowRef {
            input,
            output: None,
        },
        q,
    )
    .await
}

pub async fn output_history(
    State(s): State<ApiState>,
    _: Can<READ>,
    Path((input, output)): Path<(String, String)>,
    q: Result<Query<Vec<(String, String)>>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    let flow = FlowRef {
        input,
        output: Some(output),
    };
    history(s, flow, q).await
}

fn query(
    q: Result<Query<Vec<(String, String)>>, axum::extract::rejection::QueryRejection>,
    allowed: &[&str],
) -> ApiResult<Params> {
    let Query(pairs) =
        q.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", e.body_text()))?;
    Params::new(pairs, allowed)
}

async fn history(
    s: ApiState,
    flow: FlowRef,
    q: Result<Query<Vec<(String, String)>>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    let p = query(q, &["from", "to", "step", "format"])?;
    let now = OffsetDateTime::now_utc();
    let (from, to) = window(&p, now, time::Duration::hours(1))?;
    let step = step(&p, from, to, now)?;
    let csv = p.csv()?;
    let points = points(&s, &flow, from, to, step).await?;
    if points.is_empty() && !configured(&s, &flow).await? {
        return Err(unknown_flow(&flow));
    }
    if csv {
        let rows = points.iter().map(Point::csv_fields);
        let name = match &flow.output {
            Some(o) => format!("history-{}-{o}", flow.input),
            None => format!("history-{}", flow.input),
        };
        return Ok(csv_response(&name, POINT_COLUMNS, rows));
    }
    Ok(Json(HistoryAnswer {
        input: flow.input,
        output: flow.output,
        from,
        to,
        step: step.as_str(),
        points,
    })
    .into_response())
}

/// The answer of `GET /api/v1/availability/…`.
#[derive(Debug, Serialize)]
pub struct AvailabilityAnswer {
    pub input: String,
    pub output: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub from: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub to: OffsetDateTime,
    #[serde(flatten)]
    pub availability: Availability,
}

pub async fn input_availability(
    State(s): State<ApiState>,
    _: Can<READ>,
    Path(input): Path<String>,
    q: Result<Query<Vec<(String, String)>>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<AvailabilityAnswer>> {
    availability(
        s,
        FlowRef {
            input,
            output: None,
        },
        q,
    )
    .await
}

pub async fn output_availability(
    State(s): State<ApiState>,
    _: Can<READ>,
    Path((input, output)): Path<(String, String)>,
    q: Result<Query<Vec<(String, String)>>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<AvailabilityAnswer>> {
    let flow = FlowRef {
        input,
        output: Some(output),
    };
    availability(s, flow, q).await
}

async fn availability(
    s: ApiState,
    flow: FlowRef,
    q: Result<Query<Vec<(String, String)>>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<AvailabilityAnswer>> {
    let p = query(q, &["from", "to"])?;
    let (from, to) = window(&p, OffsetDateTime::now_utc(), time::Duration::hours(24))?;
    let availability = s.history.availability(&flow, from, to).await?;
    if availability.meant_secs == 0 && availability.live_secs == 0 && !configured(&s, &flow).await?
    {
        return Err(unknown_flow(&flow));
    }
    Ok(Json(AvailabilityAnswer {
        input: flow.input,
        output: flow.output,
        from,
        to,
        availability,
    }))
}

// ---- Events --------------------------------------------------------------------------

/// `GET /api/v1/events`: a WebSocket upgrade is the live feed ([`super::events::events`]);
/// a plain GET is the list of past events ([`list_events`]).
pub async fn events_or_socket(State(s): State<ApiState>, req: Request) -> Response {
    use axum::handler::Handler;
    let upgrade = req
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if upgrade {
        Handler::call(super::events::events, req, s).await
    } else {
        Handler::call(list_events, req, s).await
    }
}

/// The filter of an events query (the panel's timeline builds the same).
pub fn event_filter(p: &Params) -> ApiResult<EventFilter> {
    let input = p.one("input")?.map(str::to_owned);
    let output = p.one("output")?.map(str::to_owned);
    if output.is_some() && input.is_none() {
        return Err(bad("output", "output needs input"));
    }
    let mut kinds = Vec::new();
    for v in p.all("kind") {
        for k in v.split(',').map(str::trim).filter(|k| !k.is_empty()) {
            let ok = k.len() <= MAX_KIND_LEN
                && k.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.');
            if !ok {
                return Err(bad(
                    "kind",
                    format!("kind: {k:?} is not a kind like publisher.connected or a prefix like publisher."),
                ));
            }
            kinds.push(k.to_owned());
        }
    }
    let severity = p
        .one("severity")?
        .map(|v| {
            Severity::parse(v).ok_or_else(|| {
                bad(
                    "severity",
                    format!("severity: {v:?} is not info, warning or error"),
                )
            })
        })
        .transpose()?;
    let from = p.time("from")?;
    let to = p.time("to")?;
    if let (Some(f), Some(t)) = (from, to) {
        if f >= t {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_range",
                "from must be before to",
            )
            .field("from"));
        }
    }
    let before_id = p
        .one("before_id")?
        .map(|v| {
            v.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                bad(
                    "before_id",
                    format!("before_id: {v:?} is not a positive id"),
                )
            })
        })
        .transpose()?;
    let limit = match p.one("limit")? {
        None => DEFAULT_LIMIT,
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                bad(
                    "limit",
                    format!("limit: {v:?} is not a number from 1 to {MAX_LIMIT}"),
                )
            })?,
    };
    Ok(EventFilter {
        input,
        output,
        kinds,
        severity,
        from,
        to,
        before_id,
        limit,
    })
}

/// Reads a page of events; 404 `unknown_flow` for an input (or output) that is neither
/// configured nor in any event.
pub async fn event_page(s: &ApiState, filter: &EventFilter) -> ApiResult<EventPage> {
    let page = crate::store::history::events(s.control.pool(), filter).await?;
    if let Some(input) = filter.input.as_deref().filter(|i| !i.is_empty()) {
        let flow = FlowRef {
            input: input.to_owned(),
            output: filter.output.clone().filter(|o| !o.is_empty()),
        };
        // A page past the end of a known flow's events is empty, not unknown.
        let filtered =
            !filter.kinds.is_empty() || filter.severity.is_some() || filter.before_id.is_some();
        if page.events.is_empty() && !filtered && !configured(s, &flow).await? {
            return Err(unknown_flow(&flow));
        }
    }
    Ok(page)
}

const EVENT_COLUMNS: &[&str] = &[
    "id", "at", "input", "output", "kind", "severity", "detail", "audit_id",
];

pub async fn list_events(
    State(s): State<ApiState>,
    _: Can<READ>,
    q: Result<Query<Vec<(String, String)>>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    let p = query(
        q,
        &[
            "input",
            "output",
            "kind",
            "severity",
            "from",
            "to",
            "before_id",
            "limit",
            "format",
        ],
    )?;
    let filter = event_filter(&p)?;
    let csv = p.csv()?;
    let page = event_page(&s, &filter).await?;
    if csv {
        let rows = page.events.iter().map(|e| {
            vec![
                e.id.to_string(),
                rfc3339(e.at),
                e.input.clone(),
                e.output.clone().unwrap_or_default(),
                e.kind.clone(),
                e.severity.as_str().to_owned(),
                e.detail.to_string(),
                e.audit_id.map_or_else(String::new, |a| a.to_string()),
            ]
        });
        let name = match &filter.input {
            Some(i) if !i.is_empty() => format!("events-{i}"),
            _ => "events".to_owned(),
        };
        let mut res = csv_response(&name, EVENT_COLUMNS, rows);
        if let Some(next) = page.next_before_id {
            // The next (older) page, for a script that exports everything.
            if let Ok(v) = HeaderValue::from_str(&next.to_string()) {
                res.headers_mut().insert("x-next-before-id", v);
            }
        }
        return Ok(res);
    }
    Ok(Json(page).into_response())
}

// ---- OpenAPI ---------------------------------------------------------------------

/// The answers' schemas for the OpenAPI document ([`super::schemas`]).
pub fn answer_schemas() -> Value {
    let int = json!({"type": "integer"});
    let opt_int = json!({"type": ["integer", "null"]});
    let opt_num = json!({"type": ["number", "null"]});
    let time = json!({"type": "string", "format": "date-time"});
    let mut point = serde_json::Map::new();
    for c in POINT_COLUMNS {
        let schema = match *c {
            "at" => time.clone(),
            "srt_rtt_ms" | "srt_loss_pct" => opt_num.clone(),
            "srt_packets" | "srt_lost" | "srt_retransmitted" => opt_int.clone(),
            _ => int.clone(),
        };
        point.insert((*c).to_owned(), schema);
    }
    let flow = json!({
        "input": {"type": "string"},
        "output": {"type": ["string", "null"]},
        "from": time, "to": time,
    });
    let mut history = flow.clone();
    history["step"] = json!({"type": "string", "enum": ["1s", "1m", "10m", "30m", "1h"]});
    history["points"] = json!({"type": "array", "items": {"type": "object", "properties": point}});
    let mut availability = flow;
    availability["live_secs"] = int.clone();
    availability["meant_secs"] = int.clone();
    availability["ratio"] = json!({"type": ["number", "null"], "description": "live_secs / meant_secs; null when never meant to run"});
    json!({
        "History": {"type": "object", "properties": history},
        "Availability": {"type": "object", "properties": availability},
        "EventPage": {"type": "object", "properties": {
            "events": {"type": "array", "items": {"type": "object", "properties": {
                "id": int, "at": time, "input": {"type": "string", "description": "'' for the appliance"},
                "output": {"type": ["string", "null"]},
                "kind": {"type": "string", "description": "publisher.connected, output.failed, config, alert.started…"},
                "severity": {"type": "string", "enum": ["info", "warning", "error"]},
                "detail": {"type": "object"}, "audit_id": opt_int
            }}},
            "next_before_id": {"type": ["integer", "null"], "description": "before_id of the next (older) page"}
        }}
    })
}

// ---- CSV -----------------------------------------------------------------------------

/// One CSV field (RFC 4180 §2): quoted when it holds a comma, a quote or a line break,
/// quotes doubled.
pub fn csv_field(v: &str) -> String {
    if v.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v.to_owned()
    }
}

/// A CSV download: a header row, CRLF line ends, `name.csv` as the file name (only
/// letters, digits, `-`, `_` and `.` kept: a flow's name may hold anything).
pub fn csv_response(
    name: &str,
    columns: &[&str],
    rows: impl Iterator<Item = Vec<String>>,
) -> Response {
    let mut text = columns.join(",");
    text.push_str("\r\n");
    for row in rows {
        let line: Vec<String> = row.iter().map(|f| csv_field(f)).collect();
        text.push_str(&line.join(","));
        text.push_str("\r\n");
    }
    let file: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let disposition = format!("attachment; filename=\"{file}.csv\"");
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&disposition)
                    .unwrap_or(HeaderValue::from_static("attachment")),
            ),
        ],
        text,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> OffsetDateTime {
        OffsetDateTime::parse(s, &Rfc3339).expect("a time")
    }

    fn params(pairs: &[(&str, &str)]) -> Params {
        Params::new(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            &[
                "from",
                "to",
                "step",
                "format",
                "input",
                "output",
                "kind",
                "severity",
                "before_id",
                "limit",
            ],
        )
        .expect("known parameters")
    }

    #[test]
    fn schemas_and_csv_list_every_field_of_a_point() {
        let second = Second {
            at: t("2026-12-07T20:00:00Z"),
            state: StateClass::Live,
            meant: true,
            bitrate: 1000,
            reconnects: 0,
            dropped: 0,
            srt_rtt_ms: Some(1.0),
            srt_packets: Some(10),
            srt_lost: Some(1),
            srt_retransmitted: Some(0),
            peers: 0,
        };
        let point = Point::from(&second);
        assert_eq!(point.srt_loss_pct, Some(10.0));
        let json = serde_json::to_value(&point).expect("a point");
        let written: Vec<&str> = POINT_COLUMNS.to_vec();
        let mut keys: Vec<&str> = json
            .as_object()
            .expect("an object")
            .keys()
            .map(String::as_str)
            .collect();
        let mut sorted = written.clone();
        keys.sort_unstable();
        sorted.sort_unstable();
        assert_eq!(keys, sorted);
        assert_eq!(point.csv_fields().len(), POINT_COLUMNS.len());
        let schema = &answer_schemas()["History"]["properties"]["points"]["items"]["properties"];
        let mut documented: Vec<&str> = schema
            .as_object()
            .expect("properties")
            .keys()
            .map(String::as_str)
            .collect();
        documented.sort_unstable();
        assert_eq!(documented, sorted);
    }

    #[test]
    fn csv_quoting_follows_rfc_4180() {
        assert_eq!(csv_field("cam"), "cam");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("two\r\nlines"), "\"two\r\nlines\"");
    }

    #[test]
    fn default_step_keeps_charts_under_the_point_limit() {
        let now = t("2026-12-07T20:00:00Z");
        for (width, step) in [
            (time::Duration::minutes(20), Step::Second),
            (time::Duration::hours(1), Step::Minutes(1)),
            (time::Duration::hours(24), Step::Minutes(1)),
            (time::Duration::days(7), Step::Minutes(10)),
            (time::Duration::days(30), Step::Minutes(30)),
            (MAX_RANGE, Step::Minutes(30)),
        ] {
            assert_eq!(Step::auto(now - width, now, now), step, "{width}");
            assert!(width.whole_seconds() / step.seconds() <= MAX_POINTS);
        }
        // Twenty minutes of yesterday: no seconds left in memory.
        let old = now - time::Duration::days(1);
        assert_eq!(
            Step::auto(old - time::Duration::minutes(20), old, now),
            Step::Minutes(1)
        );
    }

    #[test]
    fn ranges_are_checked() {
        let now = t("2026-12-07T20:00:00Z");
        let wide = params(&[
            ("from", "2016-12-07T20:00:00Z"),
            ("to", "2026-12-07T20:00:00Z"),
        ]);
        assert_eq!(
            window(&wide, now, time::Duration::hours(1))
                .expect_err("wide")
                .code,
            "range_too_wide"
        );
        let backwards = params(&[
            ("from", "2026-12-07T20:00:00Z"),
            ("to", "2026-12-07T19:00:00Z"),
        ]);
        assert_eq!(
            window(&backwards, now, time::Duration::hours(1))
                .expect_err("backwards")
                .code,
            "bad_range"
        );
        let garbage = params(&[("from", "yesterday")]);
        let e = window(&garbage, now, time::Duration::hours(1)).expect_err("garbage");
        assert_eq!(
            (e.status, e.field.as_deref()),
            (StatusCode::BAD_REQUEST, Some("from"))
        );
        let (from, to) = window(&params(&[]), now, time::Duration::hours(1)).expect("default");
        assert_eq!((to - from, to), (time::Duration::hours(1), now));
        let old = params(&[("step", "1s")]);
        let e = step(&old, now - time::Duration::days(1), now, now).expect_err("1s of a day");
        assert_eq!(e.field.as_deref(), Some("step"));
    }

    #[test]
    fn event_queries_name_the_bad_field() {
        for (pairs, field) in [
            (vec![("limit", "-1")], "limit"),
            (vec![("limit", "0")], "limit"),
            (vec![("limit", "501")], "limit"),
            (vec![("severity", "fatal")], "severity"),
            (vec![("kind", "Publisher;drop")], "kind"),
            (vec![("before_id", "x")], "before_id"),
            (vec![("output", "yt")], "output"),
            (vec![("limit", "5"), ("limit", "6")], "limit"),
        ] {
            let e = event_filter(&params(&pairs)).expect_err("refused");
            assert_eq!(e.status, StatusCode::BAD_REQUEST);
            assert_eq!(e.field.as_deref(), Some(field), "{pairs:?}");
        }
        let f = event_filter(&params(&[
            ("input", "cam"),
            ("kind", "publisher.,output.failed"),
            ("severity", "warning"),
            ("limit", "500"),
        ]))
        .expect("good");
        assert_eq!(f.kinds, ["publisher.", "output.failed"]);
        assert_eq!((f.limit, f.severity), (500, Some(Severity::Warning)));
        let e = Params::new(vec![("since".into(), "x".into())], &["from"]).err();
        assert_eq!(e.and_then(|e| e.field).as_deref(), Some("since"));
    }
}
