//! The recordings page (`/recordings`): the recordings' disk use and free space, then
//! every input's recorded files (start, duration, size, codecs) with a download link and,
//! for Admin and Técnico, a delete button that asks first. `?input=` shows one input (its
//! name or folder; the input's own page links here).
//!
//! Everything goes through the API's handlers ([`crate::api::recordings`]): the same
//! catalogue, role checks and audit rows. The download link is the API's URL itself, which
//! the browser fetches with the panel's session cookie (reads only, same origin).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::Json;
use relevo_engine::record::files::dir_name;
use relevo_engine::spec::Name;
use serde::Deserialize;
use time::OffsetDateTime;

use super::i18n::Words;
use super::web::{done, render, Page, PanelResult, Session};
use crate::api::auth::{Can, Permission, OPERATE, READ};
use crate::api::flows::list_inputs;
use crate::api::recordings::{self as api, RecordingUsage, RecordingView};
use crate::api::ApiState;

/// Bytes in a KiB, MiB, GiB, TiB.
const UNITS: [(u64, &str); 4] = [
    (1 << 40, "TiB"),
    (1 << 30, "GiB"),
    (1 << 20, "MiB"),
    (1 << 10, "KiB"),
];

/// A size as people read it, in the page's language (`1,50 GiB`).
pub fn size(bytes: u64, words: &Words) -> String {
    let s = match UNITS.iter().find(|(unit, _)| bytes >= *unit) {
        Some((unit, name)) => format!("{:.2} {name}", bytes as f64 / *unit as f64),
        None => format!("{bytes} B"),
    };
    if words.get("format.decimal") == "," {
        s.replace('.', ",")
    } else {
        s
    }
}

/// `h:mm:ss` (a recording's length; hours keep counting past 24).
pub fn duration(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// `2026-12-07 10:00:00 UTC`.
fn utc(t: OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// The disk figures as the page and the dashboard show them.
#[derive(Debug)]
pub struct DiskLine {
    pub used: String,
    pub free: String,
    pub total: String,
    /// Free space at or below the floor: recordings are stopped.
    pub full: bool,
}

impl DiskLine {
    pub fn new(u: &RecordingUsage, words: &Words) -> Self {
        DiskLine {
            used: size(u.used_bytes, words),
            free: size(u.free_bytes, words),
            total: size(u.total_bytes, words),
            full: u.free_bytes <= u.floor_bytes,
        }
    }
}

struct FileRow {
    output: String,
    file: String,
    start: String,
    duration: String,
    size: String,
    codecs: String,
    recording: bool,
    url: String,
    /// The panel's delete action.
    delete: String,
}

impl FileRow {
    fn new(folder: &str, v: RecordingView, words: &Words) -> Self {
        FileRow {
            delete: format!("/recordings/{folder}/{}/{}/delete", v.output, v.file),
            start: utc(v.start),
            duration: v.duration_s.map(duration).unwrap_or_default(),
            size: size(v.size_bytes, words),
            codecs: v.codecs.join(", "),
            recording: v.recording,
            url: v.url,
            output: v.output,
            file: v.file,
        }
    }
}

struct InputFiles {
    name: String,
    folder: String,
    size: String,
    files: Vec<FileRow>,
}

#[derive(Template)]
#[template(path = "recordings.html")]
struct RecordingsPage {
    page: Page,
    disk: Option<DiskLine>,
    inputs: Vec<InputFiles>,
    /// `?input=` was given: one input only.
    one: bool,
}

#[derive(Debug, Default, Deserialize)]
pub struct RecordingsQuery {
    #[serde(default)]
    input: Option<String>,
    #[serde(default)]
    ok: Option<String>,
}

/// `GET /recordings`: every role.
pub async fn page(
    State(s): State<ApiState>,
    session: Session,
    Query(q): Query<RecordingsQuery>,
) -> PanelResult<Response> {
    let reader = Can::<READ>(session.principal.clone());
    session.principal.require(Permission::Read)?;
    let page = Page::new(&s, &session, "recordings")
        .await?
        .with_notice(q.ok.as_deref());
    let Json(list) = list_inputs(State(s.clone()), reader).await?;
    let wanted = q.input.as_deref().map(str::trim).filter(|v| !v.is_empty());
    let mut inputs = Vec::new();
    for v in &list.inputs {
        let Ok(name) = Name::new(v.doc.name.as_str()) else {
            continue;
        };
        let folder = dir_name(&name);
        if wanted.is_some_and(|w| w != name.as_str() && w != folder) {
            continue;
        }
        let found = api::list_files(&s, &name).await?;
        // All inputs: only those with files; one input: even when it has none.
        if found.files.is_empty() && wanted.is_none() {
            continue;
        }
        inputs.push(InputFiles {
            name: name.as_str().to_owned(),
            size: size(found.size_bytes, page.words),
            files: found
                .files
                .into_iter()
                .map(|f| FileRow::new(&folder, f, page.words))
                .collect(),
            folder,
        });
    }
    // The figures are secondary: a filesystem that cannot be read leaves them out.
    let disk = api::disk_usage(&s)
        .await
        .ok()
        .map(|u| DiskLine::new(&u, page.words));
    Ok(render(&RecordingsPage {
        page,
        disk,
        inputs,
        one: wanted.is_some(),
    }))
}

/// `POST /recordings/{input}/{output}/{file}/delete`: Admin and Técnico (CSRF-checked).
pub async fn delete(
    State(s): State<ApiState>,
    session: Session,
    Path((input, output, file)): Path<(String, String, String)>,
) -> PanelResult<Response> {
    session.principal.require(Permission::Operate)?;
    let can = Can::<OPERATE>(session.principal.clone());
    api::delete(State(s), can, Ok(Path((input.clone(), output, file)))).await?;
    let folder = Name::new(input).map(|n| dir_name(&n)).unwrap_or_default();
    Ok(done(&format!("/recordings?input={folder}"), "deleted"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::panel::i18n::Lang;

    #[test]
    fn sizes_and_durations_read_well() {
        let es = Lang::Es.words();
        let en = Lang::En.words();
        assert_eq!(size(512, es), "512 B");
        assert_eq!(size(1536, es), "1,50 KiB");
        assert_eq!(size(3 << 30, en), "3.00 GiB");
        assert_eq!(size(5 << 40, en), "5.00 TiB");
        assert_eq!(duration(4.4), "0:00:04");
        assert_eq!(duration(3600.0), "1:00:00");
        assert_eq!(duration(90_061.0), "25:01:01");
        assert_eq!(duration(-1.0), "0:00:00");
    }
}
