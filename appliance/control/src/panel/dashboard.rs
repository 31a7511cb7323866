//! The dashboard: every input with its outputs, live. The page is rendered with the current
//! snapshot (so it is right before any script runs); `panel.js` then follows the WebSocket
//! `/api/v1/events` with the session cookie and updates states, bit rates, charts, peers and
//! errors every second, and shows a lost connection until it is back. Each card of an input
//! that is live shows a small muted preview (`/preview/{id}/…`, see [`super::preview`]),
//! loaded only while the card is on screen.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use relevo_engine::metrics::{InputSnapshot, OutputSnapshot, Snapshot};
use relevo_engine::rtmp::RtmpUrl;

use super::compat::{codecs_line, compat_line, CompatLine};
use super::feeds::{feeds, Feeds};
use super::i18n::Words;
use super::recordings::DiskLine;
use super::web::{render, Notice, Page, PanelResult, Session};
use crate::api::auth::{Can, READ};
use crate::api::flows::{list_inputs, InputView, OutputView};
use crate::api::ApiState;

/// An input as a card of the dashboard (and the head of its own page).
#[derive(Debug)]
pub struct FlowCard {
    /// `None` for a flow of the configuration file (read-only here).
    pub id: Option<i64>,
    pub name: String,
    pub enabled: bool,
    /// How the stream arrives, in words.
    pub source: String,
    pub state: &'static str,
    pub bitrate: String,
    pub publisher: String,
    /// The codecs on air («H.264 · AAC»), «–» until known.
    pub codecs: String,
    /// The main and backup feeds, for an input with a backup (issue #18).
    pub feeds: Option<Feeds>,
    pub outputs: Vec<OutputRow>,
    /// Whether the card shows a small live preview (the dashboard; the input's own page
    /// has a large one of its own).
    pub small_preview: bool,
}

impl FlowCard {
    pub fn from_config(&self) -> bool {
        self.id.is_none()
    }

    /// This input's recordings page (its folder name needs no escaping in a URL).
    pub fn recordings_href(&self) -> String {
        relevo_engine::spec::Name::new(self.name.as_str()).map_or_else(
            |_| "/recordings".to_owned(),
            |n| {
                format!(
                    "/recordings?input={}",
                    relevo_engine::record::files::dir_name(&n)
                )
            },
        )
    }
}

#[derive(Debug)]
pub struct OutputRow {
    pub id: Option<i64>,
    pub name: String,
    pub kind: String,
    /// The destination without its key, or how readers fetch it.
    pub target: String,
    pub enabled: bool,
    pub state: &'static str,
    pub bitrate: String,
    pub reconnects: u64,
    pub peers: u64,
    pub error: String,
    /// What the destination does not accept of the input's codecs (pre-flight).
    pub compat: Vec<CompatLine>,
}

/// A bit rate as people read it, in the page's language (`6,02 Mbit/s`).
pub fn bitrate(bps: u64, words: &Words) -> String {
    let (v, unit) = if bps >= 1_000_000 {
        (bps as f64 / 1e6, "Mbit/s")
    } else {
        (bps as f64 / 1e3, "kbit/s")
    };
    let s = format!("{v:.2} {unit}");
    if words.get("format.decimal") == "," {
        s.replace('.', ",")
    } else {
        s
    }
}

fn state_of(enabled: bool, live: Option<&'static str>) -> &'static str {
    match live {
        Some(s) => s,
        None if !enabled => "stopped",
        None => "idle",
    }
}

/// The destination of an output in words, never with a stream key.
pub fn output_kind(o: &OutputView, words: &Words) -> (String, String) {
    if let Some(format) = o.doc.record.as_deref() {
        // "Fragmented MP4 · 60 min files": what is written, where a push shows its URL.
        let s = o.doc.segment_s.unwrap_or(3600);
        let minutes = if s.is_multiple_of(60) {
            (s / 60).to_string()
        } else {
            format!("{:.1}", s as f64 / 60.0).replace('.', words.get("format.decimal"))
        };
        let target = words
            .get("flows.record_target")
            .replace("{format}", words.get(&format!("flows.record_{format}")))
            .replace("{minutes}", &minutes);
        return (words.get("kind.record").to_owned(), target);
    }
    match (&o.doc.push, o.doc.pull.as_deref()) {
        (Some(url), _) if url.starts_with("srt://") => {
            (words.get("kind.push_srt").to_owned(), url.clone())
        }
        (Some(url), _) => {
            let shown =
                RtmpUrl::parse(url).map_or_else(|_| url.clone(), |u| u.redacted().to_string());
            (words.get("kind.push_rtmp").to_owned(), shown)
        }
        (None, Some("srt")) => (words.get("kind.pull_srt").to_owned(), String::new()),
        (None, Some("hls")) => (words.get("kind.pull_hls").to_owned(), String::new()),
        _ => (words.get("kind.pull_rtmp").to_owned(), String::new()),
    }
}

fn output_row(o: &OutputView, snap: Option<&OutputSnapshot>, words: &Words) -> OutputRow {
    let (kind, target) = output_kind(o, words);
    OutputRow {
        id: o.id,
        name: o.doc.name.clone(),
        kind,
        target,
        enabled: o.doc.enabled,
        state: state_of(o.doc.enabled, snap.map(|s| s.state.as_str())),
        bitrate: bitrate(snap.map_or(0, |s| s.bitrate.last_1s), words),
        reconnects: snap.map_or(0, |s| s.reconnects),
        peers: snap.map_or(0, |s| s.peers),
        error: snap
            .and_then(|s| s.last_error.as_ref())
            .map(|e| e.message.clone())
            .unwrap_or_default(),
        compat: snap.map_or_else(Vec::new, |s| {
            s.compat.iter().map(|p| compat_line(p, words)).collect()
        }),
    }
}

/// A card for `view`, with its figures from `snap`.
pub fn card(view: &InputView, snap: &Snapshot, words: &Words) -> FlowCard {
    let live: Option<&InputSnapshot> = snap.input(&view.doc.name);
    let source = match &view.doc.pull {
        Some(url) => format!("{} {}", words.get("kind.pull_input"), url),
        None => words.get("kind.listen").to_owned(),
    };
    FlowCard {
        id: view.id,
        name: view.doc.name.clone(),
        enabled: view.doc.enabled,
        source,
        state: state_of(view.doc.enabled, live.map(|s| s.state.as_str())),
        bitrate: bitrate(live.map_or(0, |s| s.bitrate.last_1s), words),
        publisher: live.and_then(|s| s.publisher.as_ref()).map_or_else(
            || words.get("live.no_publisher").to_owned(),
            |p| format!("{} {}", p.protocol.to_uppercase(), p.peer),
        ),
        codecs: live.and_then(|s| s.codecs.as_ref()).map_or_else(
            || words.get("live.no_codecs").to_owned(),
            |c| codecs_line(c, words),
        ),
        feeds: has_backup(view, live).then(|| {
            let url = match view.id {
                Some(id) => format!("/inputs/{id}/feed"),
                None => format!(
                    "/feeds/{}",
                    url::form_urlencoded::byte_serialize(view.doc.name.as_bytes())
                        .collect::<String>()
                        .replace('+', "%20")
                ),
            };
            feeds(live, url, words)
        }),
        outputs: view
            .outputs
            .iter()
            .map(|o| output_row(o, live.and_then(|s| s.output(&o.doc.name)), words))
            .collect(),
        small_preview: false,
    }
}

/// Whether the input has a backup feed: configured in its document, or reported by the
/// engine.
fn has_backup(view: &InputView, live: Option<&InputSnapshot>) -> bool {
    view.doc.backup.is_some() || live.is_some_and(|s| s.backup.is_some())
}

/// The words the script needs (states, error explanations, units), as JSON for a
/// `<script type="application/json">` block.
pub fn script_words(words: &Words) -> String {
    let map: serde_json::Map<String, serde_json::Value> = words
        .keys()
        .filter(|k| {
            [
                "state.", "lasterr.", "live.", "format.", "common.", "feed.", "compat.", "codec.",
            ]
            .iter()
            .any(|p| k.starts_with(p))
        })
        .map(|k| (k.to_owned(), words.get(k).into()))
        .collect();
    // `</script>` inside the JSON would end the block.
    serde_json::Value::Object(map)
        .to_string()
        .replace("</", "<\\/")
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    page: Page,
    flows: Vec<FlowCard>,
    words_json: String,
    /// Recordings' disk use and free space (`None` if the filesystem cannot be read).
    disk: Option<DiskLine>,
}

pub async fn page(
    State(s): State<ApiState>,
    session: Session,
    Query(q): Query<Notice>,
) -> PanelResult<Response> {
    let axum::Json(list) =
        list_inputs(State(s.clone()), Can::<READ>(session.principal.clone())).await?;
    let page = Page::new(&s, &session, "dashboard")
        .await?
        .with_notice(q.ok.as_deref())
        .with_alert(q.err.as_deref());
    let snap = s.control.engine().subscribe().borrow().clone();
    let flows = list
        .inputs
        .iter()
        .map(|v| FlowCard {
            small_preview: true,
            ..card(v, &snap, page.words)
        })
        .collect();
    let words_json = script_words(page.words);
    let disk = crate::api::recordings::disk_usage(&s)
        .await
        .ok()
        .map(|u| DiskLine::new(&u, page.words));
    Ok(render(&DashboardPage {
        page,
        flows,
        words_json,
        disk,
    }))
}
