//! An input's history page (`/history/{input}`, by name so inputs of the configuration
//! file have one too): window buttons (1 h, 24 h, 7 d, 30 d), charts of bit rate (input
//! and each output), SRT round trip and loss when there is SRT, and reconnects; the
//! availability of the input and each output over the window; the events timeline with
//! kind and severity filters and an "older" link; CSV links to the API.
//!
//! Everything is rendered on the server from the API's own functions
//! ([`crate::api::history`]); the page works without script except for the charts, which
//! `assets/history.js` draws on canvases from a JSON block (no inline script: the CSP
//! forbids it). The dashboard's live view is untouched.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use time::OffsetDateTime;

use super::dashboard::FlowCard;
use super::i18n::Words;
use super::web::{render, Page, PanelResult, Session};
use crate::api::auth::{Can, Permission, READ};
use crate::api::history::{self as api, Point, Step};
use crate::api::ApiState;
use crate::history::FlowRef;
use crate::store::history::{EventFilter, FlowEvent, Severity};

/// The windows offered, as `?w=` codes with their width.
const WINDOWS: [(&str, time::Duration); 4] = [
    ("1h", time::Duration::hours(1)),
    ("24h", time::Duration::hours(24)),
    ("7d", time::Duration::days(7)),
    ("30d", time::Duration::days(30)),
];

/// The 1 h window's resolution: seconds from memory folded into ten-second points (360),
/// finer than the API's minutes and lighter than 3600 seconds per flow and chart.
const HOUR_BUCKET_SECS: i64 = 10;

/// Events per page of the timeline: a screenful or two on a phone.
const TIMELINE_PAGE: u32 = 50;

/// The kind filters offered: prefixes of the kinds the collector writes, and `config` (one
/// kind, written by the audit log's trigger).
const KINDS: [&str; 8] = [
    "publisher.",
    "output.",
    "reader.",
    "feed.",
    "flow.",
    "record.",
    "config",
    "alert.",
];

/// The page's query: window, timeline filters and paging. Values not offered fall back to
/// the defaults (the page is reached by its own links).
#[derive(Debug, Default, Deserialize)]
pub struct HistoryQuery {
    #[serde(default)]
    w: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    severity: Option<String>,
    #[serde(default)]
    before: Option<i64>,
}

/// A link choice (window, filter value) and whether it is the current one.
#[derive(Debug)]
pub struct Choice {
    pub value: String,
    pub label: String,
    pub href: String,
    pub current: bool,
}

/// One flow's availability over the window.
#[derive(Debug)]
pub struct AvailRow {
    pub name: String,
    pub is_input: bool,
    /// «99,95 %», «–» when the flow was never meant to run.
    pub percent: String,
    pub live: String,
    pub meant: String,
    pub csv_href: String,
}

/// One row of the timeline.
#[derive(Debug)]
pub struct EventRow {
    pub at: String,
    pub at_text: String,
    pub kind: String,
    pub kind_text: String,
    pub severity: &'static str,
    pub output: String,
    pub detail: String,
}

#[derive(Template)]
#[template(path = "history.html")]
struct HistoryPage {
    page: Page,
    name: String,
    back_href: String,
    windows: Vec<Choice>,
    window: &'static str,
    avail: Vec<AvailRow>,
    has_srt: bool,
    charts_json: String,
    events: Vec<EventRow>,
    kinds: Vec<Choice>,
    severities: Vec<Choice>,
    older_href: Option<String>,
    events_csv_href: String,
}

impl FlowCard {
    /// This input's history page.
    pub fn history_href(&self) -> String {
        format!("/history/{}", path_segment(&self.name))
    }
}

/// `s` as one path segment: everything but RFC 3986's unreserved characters
/// percent-encoded (a name may hold `/`, spaces, anything).
pub fn path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `s` as a query value.
fn q(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// A duration as «2 h 05 min», «45 min», «30 s».
pub fn duration_text(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{s} s"),
        (0, m) => format!("{m} min"),
        (h, m) => format!("{h} h {m:02} min"),
    }
}

/// A ratio as «99,95 %» in the page's language.
pub fn percent_text(ratio: Option<f64>, words: &Words) -> String {
    match ratio {
        None => "–".to_owned(),
        Some(r) => format!("{:.2} %", r * 100.0).replace('.', words.get("format.decimal")),
    }
}

/// An event's detail in one line (`protocol: srt · address: 127.0.0.1:5000`).
fn detail_text(detail: &Value) -> String {
    match detail {
        Value::Object(m) => m
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| match v {
                Value::String(s) => format!("{k}: {s}"),
                other => format!("{k}: {other}"),
            })
            .collect::<Vec<_>>()
            .join(" · "),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

impl EventRow {
    fn new(e: &FlowEvent, words: &Words) -> Self {
        EventRow {
            at: rfc3339(e.at),
            at_text: format!(
                "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
                e.at.year(),
                u8::from(e.at.month()),
                e.at.day(),
                e.at.hour(),
                e.at.minute(),
                e.at.second()
            ),
            kind_text: words
                .find(&format!("event.{}", e.kind.replace('.', "_")))
                .map_or_else(|| e.kind.clone(), str::to_owned),
            kind: e.kind.clone(),
            severity: e.severity.as_str(),
            output: e.output.clone().unwrap_or_default(),
            detail: detail_text(&e.detail),
        }
    }
}

/// Consecutive points folded into buckets of `secs` seconds (aligned on the epoch): sums
/// of seconds and counts, mean of the mean bit rates and round trips, min of minima, max
/// of maxima, loss from the summed packets.
fn fold(points: &[Point], secs: i64) -> Vec<Point> {
    let mut out: Vec<(Point, i64, i64, usize)> = Vec::new();
    for p in points {
        let start = p.at.unix_timestamp().div_euclid(secs) * secs;
        let at = OffsetDateTime::from_unix_timestamp(start).unwrap_or(p.at);
        let rtt = p.srt_rtt_ms.map(f64::from);
        match out.last_mut() {
            Some((b, rate_sum, n, rtt_n)) if b.at == at => {
                *rate_sum += p.bitrate_avg;
                *n += 1;
                b.secs_live += p.secs_live;
                b.secs_waiting += p.secs_waiting;
                b.secs_failing += p.secs_failing;
                b.secs_stopped += p.secs_stopped;
                b.secs_meant += p.secs_meant;
                b.bitrate_min = b.bitrate_min.min(p.bitrate_min);
                b.bitrate_max = b.bitrate_max.max(p.bitrate_max);
                b.bytes += p.bytes;
                b.reconnects += p.reconnects;
                b.dropped += p.dropped;
                if let Some(r) = rtt {
                    let sum = b.srt_rtt_ms.map_or(0.0, f64::from) * *rtt_n as f64 + r;
                    *rtt_n += 1;
                    b.srt_rtt_ms = Some((sum / *rtt_n as f64) as f32);
                }
                let add = |a: Option<i64>, b: Option<i64>| match (a, b) {
                    (None, None) => None,
                    (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
                };
                b.srt_packets = add(b.srt_packets, p.srt_packets);
                b.srt_lost = add(b.srt_lost, p.srt_lost);
                b.srt_retransmitted = add(b.srt_retransmitted, p.srt_retransmitted);
                b.peers_max = b.peers_max.max(p.peers_max);
            }
            _ => {
                let mut b = p.clone();
                b.at = at;
                out.push((b, p.bitrate_avg, 1, usize::from(rtt.is_some())));
            }
        }
    }
    out.into_iter()
        .map(|(mut b, rate_sum, n, _)| {
            b.bitrate_avg = rate_sum / n.max(1);
            b.srt_loss_pct = match (b.srt_packets, b.srt_lost) {
                (Some(p), Some(l)) if p > 0 => Some(l as f64 * 100.0 / p as f64),
                _ => None,
            };
            b
        })
        .collect()
}

/// A flow's points for the page: ten-second points over the last hour, else the API's
/// default step for the window.
async fn page_points(
    s: &ApiState,
    flow: &FlowRef,
    from: OffsetDateTime,
    to: OffsetDateTime,
    step: Step,
) -> Result<Vec<Point>, crate::api::error::ApiError> {
    let points = api::points(s, flow, from, to, step).await?;
    Ok(if step == Step::Second {
        fold(&points, HOUR_BUCKET_SECS)
    } else {
        points
    })
}

/// One chart's series: a name and `[ms, value]` points (`null` for no value).
fn series(name: &str, points: &[Point], value: impl Fn(&Point) -> Option<f64>) -> Value {
    let pts: Vec<Value> = points
        .iter()
        .map(|p| {
            let ms = p.at.unix_timestamp_nanos() / 1_000_000;
            json!([ms as i64, value(p)])
        })
        .collect();
    json!({"name": name, "points": pts})
}

/// `GET /history/{input}`.
pub async fn page(
    State(s): State<ApiState>,
    session: Session,
    Path(name): Path<String>,
    Query(query): Query<HistoryQuery>,
) -> PanelResult<Response> {
    session.principal.require(Permission::Read)?;
    let page = Page::new(&s, &session, "dashboard").await?;
    let now = OffsetDateTime::now_utc();
    let (window, width) = WINDOWS
        .iter()
        .copied()
        .find(|(w, _)| Some(*w) == query.w.as_deref())
        .unwrap_or(WINDOWS[0]);
    let (from, to) = (now - width, now);
    let step = if window == "1h" {
        Step::Second
    } else {
        Step::auto(from, to, now)
    };
    let base = format!("/history/{}", path_segment(&name));

    // The input's outputs as configured now; a deleted input shows its own row only.
    let desired = s.control.desired().await.map_err(|e| {
        tracing::error!("history page: {e}");
        crate::api::error::ApiError::internal()
    })?;
    let spec = desired.inputs.iter().find(|i| i.name.as_str() == name);
    let outputs: Vec<String> = spec
        .map(|i| {
            i.outputs
                .iter()
                .map(|o| o.name.as_str().to_owned())
                .collect()
        })
        .unwrap_or_default();

    let input_ref = FlowRef {
        input: name.clone(),
        output: None,
    };
    let input_points = page_points(&s, &input_ref, from, to, step).await?;
    let mut flows = vec![(input_ref, input_points)];
    for o in &outputs {
        let flow = FlowRef {
            input: name.clone(),
            output: Some(o.clone()),
        };
        let pts = page_points(&s, &flow, from, to, step).await?;
        flows.push((flow, pts));
    }

    let kind = query
        .kind
        .as_deref()
        .filter(|k| KINDS.contains(k))
        .map(str::to_owned);
    let severity = query.severity.as_deref().and_then(Severity::parse);
    let filter = EventFilter {
        input: Some(name.clone()),
        output: None,
        kinds: kind.iter().cloned().collect(),
        severity,
        from: Some(from),
        to: None,
        before_id: query.before.filter(|b| *b > 0),
        limit: TIMELINE_PAGE,
    };
    let events = crate::store::history::events(s.control.pool(), &filter).await?;

    let has_data = flows.iter().any(|(_, p)| !p.is_empty()) || !events.events.is_empty();
    if spec.is_none() && !has_data && !api::configured(&s, &flows[0].0).await? {
        return Err(crate::api::error::ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            "unknown_flow",
            format!("input {name:?} is not configured and has no history"),
        )
        .into());
    }

    let range = format!("from={}&to={}", q(&rfc3339(from)), q(&rfc3339(to)));
    let mut avail = Vec::new();
    for (flow, _) in &flows {
        let a = s.history.availability(flow, from, to).await?;
        let api_path = match &flow.output {
            Some(o) => format!("{}/{}", path_segment(&flow.input), path_segment(o)),
            None => path_segment(&flow.input),
        };
        avail.push(AvailRow {
            name: flow.output.clone().unwrap_or_else(|| flow.input.clone()),
            is_input: flow.output.is_none(),
            percent: percent_text(a.ratio, page.words),
            live: duration_text(a.live_secs),
            meant: duration_text(a.meant_secs),
            csv_href: format!("/api/v1/history/{api_path}?{range}&format=csv"),
        });
    }

    let label = |f: &FlowRef| f.output.clone().unwrap_or_else(|| f.input.clone());
    let bitrate: Vec<Value> = flows
        .iter()
        .map(|(f, p)| series(&label(f), p, |x| Some(x.bitrate_avg as f64)))
        .collect();
    let srt_flows: Vec<&(FlowRef, Vec<Point>)> = flows
        .iter()
        .filter(|(_, p)| p.iter().any(|x| x.srt_rtt_ms.is_some()))
        .collect();
    let rtt: Vec<Value> = srt_flows
        .iter()
        .map(|(f, p)| series(&label(f), p, |x| x.srt_rtt_ms.map(f64::from)))
        .collect();
    let loss: Vec<Value> = srt_flows
        .iter()
        .map(|(f, p)| series(&label(f), p, |x| x.srt_loss_pct))
        .collect();
    let reconnects: Vec<Value> = flows
        .iter()
        .map(|(f, p)| series(&label(f), p, |x| Some(x.reconnects as f64)))
        .collect();
    let ms = |t: OffsetDateTime| (t.unix_timestamp_nanos() / 1_000_000) as i64;
    let charts = json!({
        "from": ms(from),
        "to": ms(to),
        "step_ms": match step { Step::Second => HOUR_BUCKET_SECS * 1000, Step::Minutes(m) => i64::from(m) * 60_000 },
        "charts": {
            "bitrate": {"unit": "bps", "series": bitrate},
            "rtt": {"unit": "ms", "series": rtt},
            "loss": {"unit": "%", "series": loss},
            "reconnects": {"unit": "n", "bars": true, "series": reconnects},
        }
    });
    // `</script>` inside the JSON would end the block.
    let charts_json = charts.to_string().replace("</", "<\\/");

    let filters = |k: Option<&str>, sev: Option<&str>| {
        let mut href = format!("{base}?w={window}");
        if let Some(k) = k {
            href.push_str(&format!("&kind={}", q(k)));
        }
        if let Some(v) = sev {
            href.push_str(&format!("&severity={v}"));
        }
        href
    };
    let sev_str = severity.map(Severity::as_str);
    let windows = WINDOWS
        .iter()
        .map(|(w, _)| Choice {
            value: (*w).to_owned(),
            label: page.t(&format!("history.window_{w}")).to_owned(),
            href: format!("{base}?w={w}"),
            current: *w == window,
        })
        .collect();
    let kinds = std::iter::once(None)
        .chain(KINDS.iter().map(|k| Some(*k)))
        .map(|k| Choice {
            value: k.unwrap_or("").to_owned(),
            label: match k {
                None => page.t("history.all_kinds").to_owned(),
                Some(k) => page
                    .t(&format!("history.kind_{}", k.trim_end_matches('.')))
                    .to_owned(),
            },
            href: filters(k, sev_str),
            current: k == kind.as_deref(),
        })
        .collect();
    let severities = [None, Some("info"), Some("warning"), Some("error")]
        .into_iter()
        .map(|v| Choice {
            value: v.unwrap_or("").to_owned(),
            label: page
                .t(&format!("history.severity_{}", v.unwrap_or("all")))
                .to_owned(),
            href: filters(kind.as_deref(), v),
            current: v == sev_str,
        })
        .collect();
    let older_href = events
        .next_before_id
        .map(|id| format!("{}&before={id}", filters(kind.as_deref(), sev_str)));
    let mut events_csv_href = format!(
        "/api/v1/events?input={}&from={}&limit={}&format=csv",
        q(&name),
        q(&rfc3339(from)),
        api::MAX_LIMIT
    );
    if let Some(k) = &kind {
        events_csv_href.push_str(&format!("&kind={}", q(k)));
    }
    if let Some(v) = sev_str {
        events_csv_href.push_str(&format!("&severity={v}"));
    }

    // Back to the input's own page when it has one (an input of the database).
    let Json(list) =
        crate::api::flows::list_inputs(State(s.clone()), Can::<READ>(session.principal.clone()))
            .await?;
    let back_href = list
        .inputs
        .iter()
        .find(|i| i.doc.name == name)
        .and_then(|i| i.id)
        .map_or_else(|| "/".to_owned(), |id| format!("/inputs/{id}"));

    let rows = events
        .events
        .iter()
        .map(|e| EventRow::new(e, page.words))
        .collect();
    Ok(render(&HistoryPage {
        has_srt: !srt_flows.is_empty(),
        page,
        name,
        back_href,
        windows,
        window,
        avail,
        charts_json,
        events: rows,
        kinds,
        severities,
        older_href,
        events_csv_href,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_one_path_segment() {
        // Unreserved characters stay as they are.
        let plain = "cam-1_a.b~";
        assert_eq!(path_segment(plain), plain);
        assert_eq!(path_segment("a/b c"), "a%2Fb%20c");
        assert_eq!(path_segment("cámara"), "c%C3%A1mara");
    }

    #[test]
    fn durations_and_percentages_read_well() {
        assert_eq!(duration_text(30), "30 s");
        assert_eq!(duration_text(45 * 60 + 10), "45 min");
        assert_eq!(duration_text(2 * 3600 + 5 * 60), "2 h 05 min");
        let es = super::super::i18n::Lang::Es.words();
        assert_eq!(percent_text(Some(0.9995), es), "99,95 %");
        assert_eq!(percent_text(None, es), "–");
    }

    #[test]
    fn seconds_fold_into_ten_second_points() {
        let at = |s: i64| OffsetDateTime::from_unix_timestamp(1_800_000_000 + s).expect("a time");
        let second = |s: i64, rate: i64, rtt: Option<f32>| Point {
            at: at(s),
            secs_live: 1,
            secs_waiting: 0,
            secs_failing: 0,
            secs_stopped: 0,
            secs_meant: 1,
            bitrate_avg: rate,
            bitrate_min: rate,
            bitrate_max: rate,
            bytes: rate / 8,
            reconnects: i64::from(s == 3),
            dropped: 0,
            srt_rtt_ms: rtt,
            srt_packets: rtt.map(|_| 100),
            srt_lost: rtt.map(|_| 1),
            srt_retransmitted: None,
            srt_loss_pct: None,
            peers_max: 1,
        };
        let points = vec![
            second(0, 1000, Some(10.0)),
            second(3, 3000, Some(30.0)),
            second(9, 2000, None),
            second(10, 5000, None),
        ];
        let folded = fold(&points, 10);
        assert_eq!(folded.len(), 2);
        let b = &folded[0];
        assert_eq!(b.at, at(0));
        assert_eq!((b.secs_live, b.secs_meant, b.reconnects), (3, 3, 1));
        assert_eq!(
            (b.bitrate_avg, b.bitrate_min, b.bitrate_max),
            (2000, 1000, 3000)
        );
        assert_eq!(b.srt_rtt_ms, Some(20.0));
        assert_eq!((b.srt_packets, b.srt_lost), (Some(200), Some(2)));
        assert_eq!(b.srt_loss_pct, Some(1.0));
        assert_eq!((folded[1].at, folded[1].bitrate_avg), (at(10), 5000));
    }

    #[test]
    fn details_read_as_one_line() {
        let d = json!({"protocol": "srt", "address": "127.0.0.1:5000", "stream_id": null});
        let text = detail_text(&d);
        assert!(text.contains("address: 127.0.0.1:5000"), "{text}");
        assert!(text.contains(" · protocol: srt") || text.starts_with("protocol: srt · "));
        assert!(!text.contains("stream_id"), "{text}");
    }
}
