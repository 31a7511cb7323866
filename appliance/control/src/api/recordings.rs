//! Recorded files: `/api/v1/recordings…`.
//!
//! - `GET /api/v1/recordings`: disk use of all recordings, free and total space of their
//!   filesystem, and the floor recording stops at;
//! - `GET /api/v1/recordings/{input}`: an input's files, newest first (`{input}` is the
//!   input's name, percent-encoded, or its folder: the folder of a folder is itself);
//! - `GET /api/v1/recordings/{input}/{output}/{file}`: the file, with HTTP range requests
//!   (RFC 9110 §14) so a player can seek and a download resume; streamed, never read whole;
//! - `DELETE` on the same path: admin and técnico only, audited (`recording.delete`). The
//!   file being written is refused (409): its writer would go on filling a nameless file.
//!
//! Every file goes through [`Recordings`], which accepts only names the recorder writes
//! and never follows a link out of the recordings folder. A download needs a bearer token
//! or the panel's cookie (reads only), never a token in the URL.

use std::io::SeekFrom;
use std::sync::Arc;
use std::time::SystemTime;

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::Json;
use relevo_engine::metrics::Snapshot;
use relevo_engine::record::catalog::{CatalogError, OpenedRecording, RecordingFile};
use relevo_engine::record::files::dir_name;
use relevo_engine::spec::{Name, RecordFormat};
use serde::Serialize;
use serde_json::json;
use time::OffsetDateTime;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::auth::{Can, OPERATE, READ};
use super::error::{ApiError, ApiResult};
use super::ApiState;
use crate::store::audit;

/// Read size of a download: large enough that a 1 Gbit/s link needs few reads, small
/// enough that a thousand slow downloads hold 64 MiB at most.
const DOWNLOAD_CHUNK: usize = 64 * 1024;

/// One recorded file as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct RecordingView {
    /// The output's folder (its name when the name is plain, see `files::dir_name`).
    pub output: String,
    pub file: String,
    /// `mp4` or `ts`.
    pub format: &'static str,
    /// UTC time of the first frame, to the second (from the file's name).
    #[serde(with = "time::serde::rfc3339")]
    pub start: OffsetDateTime,
    /// Media duration read from the file; `null` when unreadable (empty file).
    pub duration_s: Option<f64>,
    pub size_bytes: u64,
    /// ffprobe's names: `h264`, `hevc`, `aac`, …
    pub codecs: Vec<String>,
    /// The recorder is writing this file now (it grows; it cannot be deleted).
    pub recording: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub modified: OffsetDateTime,
    /// Where to download (GET) or delete (DELETE) it.
    pub url: String,
}

#[derive(Debug, Serialize)]
pub struct RecordingList {
    /// As asked for.
    pub input: String,
    /// The input's folder under the recordings directory.
    pub folder: String,
    /// Bytes of all the files listed.
    pub size_bytes: u64,
    pub files: Vec<RecordingView>,
}

/// Disk figures of the recordings.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct RecordingUsage {
    /// Bytes of every recorded file.
    pub used_bytes: u64,
    /// Free to the service on the recordings filesystem, and its size.
    pub free_bytes: u64,
    pub total_bytes: u64,
    /// Recording stops rather than leave less free than this.
    pub floor_bytes: u64,
}

fn bad_path(field: &str, message: String) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "bad_path", message).field(field)
}

impl From<CatalogError> for ApiError {
    fn from(e: CatalogError) -> Self {
        match e {
            CatalogError::BadFolder(_) => bad_path("output", e.to_string()),
            CatalogError::BadFileName(_) => bad_path("file", e.to_string()),
            CatalogError::NotFound(what) => ApiError::not_found(&format!("recording {what}")),
            CatalogError::NotRegular(_) => {
                ApiError::new(StatusCode::NOT_FOUND, "not_found", e.to_string())
            }
            CatalogError::Io { .. } => {
                tracing::error!("recordings: {e}");
                ApiError::internal()
            }
        }
    }
}

fn input_name(raw: &str) -> ApiResult<Name> {
    Name::new(raw).map_err(|e| bad_path("input", e.to_string()))
}

fn path_error(e: PathRejection) -> ApiError {
    bad_path("path", e.body_text())
}

/// The files the engine is writing now, as (output folder, file name), for `input`.
pub fn files_being_written(snap: &Snapshot, input: &Name) -> Vec<(String, String)> {
    let folder = dir_name(input);
    snap.inputs
        .iter()
        .filter(|i| Name::new(i.name.as_str()).is_ok_and(|n| dir_name(&n) == folder))
        .flat_map(|i| &i.outputs)
        .filter_map(|o| {
            let file = o.record.as_ref()?.current_file.clone()?;
            Some((dir_name(&Name::new(o.name.as_str()).ok()?), file))
        })
        .collect()
}

fn format_name(f: RecordFormat) -> &'static str {
    match f {
        RecordFormat::Mp4 => "mp4",
        RecordFormat::Ts => "ts",
    }
}

/// The view of one file of the input whose folder is `folder`.
pub fn view(folder: &str, f: RecordingFile, writing: &[(String, String)]) -> RecordingView {
    let recording = writing.iter().any(|(o, n)| *o == f.output && *n == f.file);
    RecordingView {
        url: format!("/api/v1/recordings/{folder}/{}/{}", f.output, f.file),
        format: format_name(f.format),
        start: OffsetDateTime::from(f.start),
        modified: OffsetDateTime::from(f.modified),
        duration_s: f.duration_s.map(|d| (d * 1000.0).round() / 1000.0),
        size_bytes: f.size_bytes,
        codecs: f.codecs,
        recording,
        output: f.output,
        file: f.file,
    }
}

/// An input's files (blocking reads on a worker thread).
pub async fn list_files(s: &ApiState, input: &Name) -> ApiResult<RecordingList> {
    let catalog = Arc::clone(&s.recordings);
    let name = input.clone();
    let files = tokio::task::spawn_blocking(move || catalog.list(&name))
        .await
        .map_err(|e| {
            tracing::error!("recordings: listing task failed: {e}");
            ApiError::internal()
        })??;
    let writing = files_being_written(&s.control.engine().subscribe().borrow(), input);
    let folder = dir_name(input);
    let views: Vec<RecordingView> = files
        .into_iter()
        .map(|f| view(&folder, f, &writing))
        .collect();
    Ok(RecordingList {
        input: input.as_str().to_owned(),
        size_bytes: views.iter().map(|v| v.size_bytes).sum(),
        folder,
        files: views,
    })
}

/// Disk figures (blocking reads on a worker thread).
pub async fn disk_usage(s: &ApiState) -> ApiResult<RecordingUsage> {
    let catalog = Arc::clone(&s.recordings);
    let floor = s.control.engine().recording_space().floor();
    tokio::task::spawn_blocking(move || {
        let used_bytes = catalog.total_bytes()?;
        let disk = catalog.disk().map_err(|e| CatalogError::Io {
            path: catalog.root().to_owned(),
            source: e,
        })?;
        Ok::<_, CatalogError>(RecordingUsage {
            used_bytes,
            free_bytes: disk.free_bytes,
            total_bytes: disk.total_bytes,
            floor_bytes: floor.floor_bytes(disk.total_bytes),
        })
    })
    .await
    .map_err(|e| {
        tracing::error!("recordings: usage task failed: {e}");
        ApiError::internal()
    })?
    .map_err(ApiError::from)
}

pub async fn usage(State(s): State<ApiState>, _: Can<READ>) -> ApiResult<Json<RecordingUsage>> {
    Ok(Json(disk_usage(&s).await?))
}

pub async fn list(
    State(s): State<ApiState>,
    _: Can<READ>,
    path: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<RecordingList>> {
    let Path(input) = path.map_err(path_error)?;
    Ok(Json(list_files(&s, &input_name(&input)?).await?))
}

/// What part of a file of `len` bytes a request gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span {
    Whole,
    /// Bytes `start..=end`.
    Part {
        start: u64,
        end: u64,
    },
    Unsatisfiable,
}

/// Reads a `Range` header (RFC 9110 §14.1.2). A header that is not one byte range is
/// ignored (the whole file is sent), as §14.2 allows; several ranges likewise, since a
/// multipart answer helps no player or download tool.
pub fn span(range: Option<&str>, len: u64) -> Span {
    let Some(spec) = range.and_then(|r| r.trim().strip_prefix("bytes=")) else {
        return Span::Whole;
    };
    if spec.contains(',') {
        return Span::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Span::Whole;
    };
    let num = |s: &str| -> Option<u64> {
        let s = s.trim();
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let (first, last) = (first.trim(), last.trim());
    if first.is_empty() {
        // `-N`: the last N bytes.
        return match num(last) {
            Some(0) => Span::Unsatisfiable,
            Some(_) if len == 0 => Span::Unsatisfiable,
            Some(n) => Span::Part {
                start: len - n.min(len),
                end: len - 1,
            },
            None => Span::Whole,
        };
    }
    let Some(start) = num(first) else {
        return Span::Whole;
    };
    let end = match (last.is_empty(), num(last)) {
        (true, _) => None,
        (false, Some(l)) if l >= start => Some(l),
        _ => return Span::Whole,
    };
    if start >= len {
        return Span::Unsatisfiable;
    }
    Span::Part {
        start,
        end: end.map_or(len - 1, |l| l.min(len - 1)),
    }
}

/// A strong validator for `If-Range`: the size and modification time, which a file being
/// written changes, so a resumed download of a grown file starts again whole.
fn etag(len: u64, modified: SystemTime) -> String {
    let t = modified
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    format!("\"{len:x}-{:x}-{:x}\"", t.as_secs(), t.subsec_nanos())
}

fn content_type(f: RecordFormat) -> &'static str {
    match f {
        RecordFormat::Mp4 => "video/mp4",
        RecordFormat::Ts => "video/mp2t",
    }
}

pub async fn download(
    State(s): State<ApiState>,
    _: Can<READ>,
    path: Result<Path<(String, String, String)>, PathRejection>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let Path((input, output, file)) = path.map_err(path_error)?;
    let input = input_name(&input)?;
    let opened = s.recordings.open(&input, &output, &file)?;
    let tag = etag(opened.len, opened.modified);
    let header_str = |h| headers.get(h).and_then(|v: &HeaderValue| v.to_str().ok());
    let range = match header_str(header::IF_RANGE) {
        Some(v) if v.trim() != tag => None,
        _ => header_str(header::RANGE),
    };
    let part = span(range, opened.len);
    stream(opened, part, &file, &tag).await
}

/// The answer for `part` of an opened file: 200, 206 or 416, streamed in chunks.
async fn stream(opened: OpenedRecording, part: Span, file: &str, tag: &str) -> ApiResult<Response> {
    let len = opened.len;
    let mut res = Response::builder()
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::ETAG, tag)
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    let (start, count) = match part {
        Span::Unsatisfiable => {
            let body = json!({"error": {"code": "range_not_satisfiable",
                "message": format!("the file has {len} bytes")}});
            return res
                .status(StatusCode::RANGE_NOT_SATISFIABLE)
                .header(header::CONTENT_RANGE, format!("bytes */{len}"))
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string()))
                .map_err(|_| ApiError::internal());
        }
        Span::Whole => (0, len),
        Span::Part { start, end } => {
            res = res
                .status(StatusCode::PARTIAL_CONTENT)
                .header(header::CONTENT_RANGE, format!("bytes {start}-{end}/{len}"));
            (start, end - start + 1)
        }
    };
    let mut f = tokio::fs::File::from_std(opened.file);
    f.seek(SeekFrom::Start(start)).await.map_err(|e| {
        tracing::error!("recordings: seek in {file}: {e}");
        ApiError::internal()
    })?;
    // `take`: a file still being written may grow; the answer stops at the length sent.
    let body = tokio_util::io::ReaderStream::with_capacity(f.take(count), DOWNLOAD_CHUNK);
    res.header(header::CONTENT_TYPE, content_type(opened.format))
        .header(header::CONTENT_LENGTH, count)
        .header(
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{file}\""),
        )
        .body(Body::from_stream(body))
        .map_err(|_| ApiError::internal())
}

pub async fn delete(
    State(s): State<ApiState>,
    Can(p): Can<OPERATE>,
    path: Result<Path<(String, String, String)>, PathRejection>,
) -> ApiResult<StatusCode> {
    let Path((input, output, file)) = path.map_err(path_error)?;
    let input = input_name(&input)?;
    // Checked (names, links, existence) before the audit row is begun.
    let size = s.recordings.open(&input, &output, &file)?.len;
    let writing = files_being_written(&s.control.engine().subscribe().borrow(), &input);
    if writing.iter().any(|(o, f)| *o == output && *f == file) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "recording_in_progress",
            format!("{output}/{file} is being recorded: stop the output or wait for the next file"),
        ));
    }
    let folder = dir_name(&input);
    let before = json!({
        "input": input.as_str(), "output": output, "file": file, "size_bytes": size,
    });
    audit::record_outside(
        s.control.pool(),
        &p.actor(),
        "recording.delete",
        "recording",
        &format!("{folder}/{output}/{file}"),
        before,
        || s.recordings.delete(&input, &output, &file),
    )
    .await??;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let part = |start, end| Span::Part { start, end };
        assert_eq!(span(None, 100), Span::Whole);
        assert_eq!(span(Some("bytes=0-9"), 100), part(0, 9));
        assert_eq!(span(Some("bytes=90-"), 100), part(90, 99));
        assert_eq!(span(Some("bytes=90-1000"), 100), part(90, 99));
        assert_eq!(span(Some("bytes=-10"), 100), part(90, 99));
        assert_eq!(span(Some("bytes=-1000"), 100), part(0, 99));
        assert_eq!(span(Some("bytes=99-99"), 100), part(99, 99));
        assert_eq!(span(Some("bytes=100-"), 100), Span::Unsatisfiable);
        assert_eq!(span(Some("bytes=100-200"), 100), Span::Unsatisfiable);
        assert_eq!(span(Some("bytes=-0"), 100), Span::Unsatisfiable);
        assert_eq!(span(Some("bytes=0-"), 0), Span::Unsatisfiable);
        // Not one valid byte range: ignored.
        for h in [
            "bytes=9-0",
            "bytes=0-9,20-29",
            "items=0-9",
            "bytes=a-9",
            "bytes=0-9x",
            "bytes=",
            "bytes=-",
            "bytes=+1-2",
        ] {
            assert_eq!(span(Some(h), 100), Span::Whole, "{h}");
        }
    }
}
