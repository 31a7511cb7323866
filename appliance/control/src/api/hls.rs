//! HLS over HTTP: `GET|HEAD|OPTIONS /hls/{key}/{file}` for players (public: the key is the
//! secret), and [`respond`], which the panel's preview calls too. The engine keeps the
//! files in memory ([`relevo_engine::hls`]); this module only maps a request onto
//! [`relevo_engine::Engine::hls`] and its answer onto HTTP: status, MIME type, caching,
//! validators (304), single byte ranges (206/416), HEAD and CORS.
//!
//! - An unknown key, a file that left the window, a name that is not ours: one and the same
//!   404, so a client cannot tell a known key from an unknown one.
//! - Names are checked before the engine sees them: a key of [`StreamKey`] characters and a
//!   file of lower-case letters, digits, `.` and `-` (what the engine names files), no
//!   `..`, bounded lengths. Anything else is that 404.
//! - Nothing here logs above debug: these routes are public and a flood must not become
//!   a flood of log lines.

use std::net::{IpAddr, Ipv6Addr};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::Response;
use relevo_engine::hls::{BlockingReload, HlsError, HlsFile, HlsFileKind, HlsReader, HlsRequest};
use relevo_engine::spec::StreamKey;

use super::recordings::{span, Span};
use super::ApiState;

/// The media playlist's name inside an output's folder.
pub const PLAYLIST: &str = "index.m3u8";
/// The longest file name we pass on. The engine's longest is a part:
/// `part` + base36 epoch (9 characters until the year 5188) + `-` + msn (20 digits at most)
/// + `.` + part index (10) + `.m4s` = 48; 64 leaves room and bounds the work per request.
pub const MAX_FILE_LEN: usize = 64;
/// Segments, parts and init segments never change under their name (the name carries the
/// session's epoch): a browser or CDN may keep them for a year (RFC 8246 `immutable`).
pub const CACHE_IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// The live playlist changes with every part: a cache may serve it for one second, which
/// is what LL-HLS origins usually send (e.g. AWS MediaPackage: "Media playlists (LL-HLS) -
/// 1 second"), so a CDN in front collapses many players into one request per second.
pub const CACHE_PLAYLIST: &str = "public, max-age=1";
/// A blocking reload's answer (`?_HLS_msn=M&_HLS_part=P`) holds at least part P of
/// segment M and stays a correct answer to that URL for as long as the part is in the
/// window, and no player asks that URL again once it has moved on: a CDN may keep it a
/// little longer, which lets it answer the players that ask the same URL a moment late
/// without going back to the origin. One default segment (2 s).
pub const CACHE_BLOCKING_PLAYLIST: &str = "public, max-age=2";
/// The panel's preview (`private`): signed-in users only, never stored by anyone.
pub const CACHE_PRIVATE: &str = "private, no-store";
/// Errors are never cached: an unknown key may be created a second later, an offline input
/// may go live.
pub const CACHE_ERROR: &str = "no-store";
/// How long a browser may reuse a CORS preflight answer: a day (Chromium caps it at 2 h,
/// Firefox at 24 h).
pub const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(86_400);
/// Retry-After on a 503: the stream is starting or offline; players retry soon anyway.
pub const RETRY_AFTER_S: u32 = 1;

/// The body of every 404 (unknown key, expired file, bad name): identical bytes.
const NOT_FOUND_BODY: &str = "not found\n";

/// `[hls]` settings the HTTP side uses.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HlsHttpConfig {
    /// Which web pages may read the streams with `fetch`/XHR (hls.js): `Access-Control-
    /// Allow-Origin`.
    pub allowed_origins: AllowedOrigins,
}

/// The origins allowed to read HLS files from a script.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AllowedOrigins {
    /// `*`: any page may embed the stream (the default: the key is the secret, not the
    /// page).
    #[default]
    Any,
    /// Only these origins (normalised by [`parse_origin`]).
    List(Vec<String>),
}

/// A value of `allowed_origins` that is neither `*` nor an origin.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OriginError {
    #[error("{0:?} is not \"*\" or an origin like https://example.com or http://host:8080 (scheme, host and optional port; no path)")]
    Invalid(String),
}

/// Normalises one origin, `scheme://host[:port]` with scheme http or https, as browsers
/// send it in `Origin` (lower case, no default port, no path, no trailing slash).
pub fn parse_origin(s: &str) -> Result<String, OriginError> {
    let bad = || OriginError::Invalid(s.to_owned());
    let (scheme, rest) = s.split_once("://").ok_or_else(bad)?;
    if !matches!(scheme, "http" | "https")
        || rest.is_empty()
        || rest.contains(['/', '?', '#', '@', ' '])
    {
        return Err(bad());
    }
    let url = url::Url::parse(s).map_err(|_| bad())?;
    let host = url.host_str().filter(|h| !h.is_empty()).ok_or_else(bad)?;
    Ok(match url.port() {
        Some(p) => format!("{}://{host}:{p}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    })
}

impl AllowedOrigins {
    /// From the configuration's list: `*` anywhere allows any origin; an empty list
    /// allows none (only the appliance's own pages, which need no CORS). Every entry is
    /// checked; the error names the first bad one's index.
    pub fn from_list(list: &[String]) -> Result<Self, (usize, OriginError)> {
        let mut out = Vec::with_capacity(list.len());
        for (i, o) in list.iter().enumerate() {
            if o != "*" {
                out.push(parse_origin(o).map_err(|e| (i, e))?);
            }
        }
        Ok(if list.iter().any(|o| o == "*") {
            Self::Any
        } else {
            Self::List(out)
        })
    }

    /// The CORS headers for a request with this `Origin` (if any).
    fn headers(&self, origin: Option<&HeaderValue>) -> Vec<(header::HeaderName, HeaderValue)> {
        let allow = match self {
            Self::Any => Some(HeaderValue::from_static("*")),
            Self::List(list) => origin
                .and_then(|o| o.to_str().ok())
                .and_then(|o| parse_origin(o).ok())
                .filter(|o| list.contains(o))
                .and_then(|o| HeaderValue::from_str(&o).ok()),
        };
        let mut h = Vec::with_capacity(3);
        if let Self::List(_) = self {
            // The answer depends on Origin: a cache must keep one copy per origin.
            h.push((header::VARY, HeaderValue::from_static("Origin")));
        }
        if let Some(v) = allow {
            h.push((header::ACCESS_CONTROL_ALLOW_ORIGIN, v));
            h.push((
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static("Content-Length, Content-Range, ETag, Age"),
            ));
        }
        h
    }
}

/// Whether `key` may be a stream key ([`StreamKey`]'s characters and length); `.` and `..`
/// are refused although their characters are allowed.
pub fn valid_key(key: &str) -> bool {
    key != "." && key != ".." && StreamKey::new(key).is_ok()
}

/// Whether `file` may be one of the engine's names: 1–[`MAX_FILE_LEN`] bytes of `a-z`,
/// `0-9`, `.` and `-`, not starting with `.`, no `..`.
pub fn valid_file(file: &str) -> bool {
    !file.is_empty()
        && file.len() <= MAX_FILE_LEN
        && !file.starts_with('.')
        && !file.contains("..")
        && file
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
}

/// `/hls/KEY/FILE` → (key, file), from the raw path (no percent-decoding: no valid name
/// holds a `%`).
fn split_path(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix("/hls/")?;
    let (key, file) = rest.split_once('/')?;
    (valid_key(key) && valid_file(file)).then_some((key, file))
}

/// A blocking-reload query that is not `_HLS_msn=M[&_HLS_part=P]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("_HLS_msn must be a whole number")]
    Msn,
    #[error("_HLS_part must be a whole number")]
    Part,
    #[error("_HLS_part needs _HLS_msn")]
    PartWithoutMsn,
    #[error("_HLS_msn or _HLS_part given twice")]
    Repeated,
}

/// Reads `_HLS_msn` and `_HLS_part` from a query string; other parameters (cache busters,
/// `_HLS_skip`, which we do not offer) are ignored.
pub fn blocking_reload(query: Option<&str>) -> Result<Option<BlockingReload>, QueryError> {
    let (mut msn, mut part) = (None, None);
    for pair in query.unwrap_or("").split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let digits = !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit());
        match k {
            "_HLS_msn" => {
                let n = v.parse().ok().filter(|_| digits).ok_or(QueryError::Msn)?;
                if msn.replace(n).is_some() {
                    return Err(QueryError::Repeated);
                }
            }
            "_HLS_part" => {
                let n = v.parse().ok().filter(|_| digits).ok_or(QueryError::Part)?;
                if part.replace(n).is_some() {
                    return Err(QueryError::Repeated);
                }
            }
            _ => {}
        }
    }
    match (msn, part) {
        (None, None) => Ok(None),
        (None, Some(_)) => Err(QueryError::PartWithoutMsn),
        (Some(msn), part) => Ok(Some(BlockingReload { msn, part })),
    }
}

/// `GET|HEAD|OPTIONS /hls/{key}/{file}`: players. The client's address is the peer's, or
/// the forwarded one behind a trusted proxy (for the output's player count).
pub async fn serve(State(s): State<ApiState>, req: Request) -> Response {
    let (parts, _) = req.into_parts();
    let client = super::auth::client_addr(&parts).unwrap_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED));
    let Some((key, file)) = split_path(parts.uri.path()) else {
        tracing::debug!(%client, "hls: refused name");
        let cors = s
            .config
            .hls
            .allowed_origins
            .headers(parts.headers.get(header::ORIGIN));
        return error(HlsError::NotFound, &cors);
    };
    respond(
        &s,
        HlsReader::Key(key),
        file,
        parts.uri.query(),
        &parts.method,
        &parts.headers,
        client,
        false,
    )
    .await
}

/// One HLS request, answered. `private` is the panel's preview: `Cache-Control: private,
/// no-store` and no CORS headers (same origin only). Callers pass the request's method,
/// headers, query and client address as they got them; `file` is checked here.
#[allow(clippy::too_many_arguments)] // one call per caller; a struct would only rename them
pub async fn respond(
    state: &ApiState,
    reader: HlsReader<'_>,
    file: &str,
    query: Option<&str>,
    method: &Method,
    headers: &HeaderMap,
    client: IpAddr,
    private: bool,
) -> Response {
    let cors = if private {
        Vec::new()
    } else {
        state
            .config
            .hls
            .allowed_origins
            .headers(headers.get(header::ORIGIN))
    };
    if *method == Method::OPTIONS && !private {
        return preflight(&cors);
    }
    if *method != Method::GET && *method != Method::HEAD {
        return plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed\n",
            &cors,
        )
        .header(header::ALLOW, "GET, HEAD")
        .body(Body::from("method not allowed\n"))
        .expect("static headers");
    }
    let key_ok = match reader {
        HlsReader::Key(k) => valid_key(k),
        HlsReader::Preview(_) => true,
    };
    if !key_ok || !valid_file(file) {
        tracing::debug!(%client, "hls: refused name");
        return error(HlsError::NotFound, &cors);
    }
    let block = match blocking_reload(query) {
        Ok(b) => b,
        Err(e) => return bad_request(&e.to_string(), &cors),
    };
    if block.is_some() && file != PLAYLIST {
        return bad_request("_HLS_msn and _HLS_part are for the playlist only", &cors);
    }
    let request = HlsRequest {
        file,
        block,
        client,
    };
    match state.control.engine().hls(reader, request).await {
        Ok(f) => {
            let cache = match (private, f.kind, block) {
                (true, _, _) => CACHE_PRIVATE,
                (false, HlsFileKind::Playlist, Some(_)) => CACHE_BLOCKING_PLAYLIST,
                (false, HlsFileKind::Playlist, None) => CACHE_PLAYLIST,
                (false, _, _) => CACHE_IMMUTABLE,
            };
            send(f, *method == Method::HEAD, headers, cache, &cors)
        }
        Err(e) => {
            tracing::debug!(%client, "hls: {e}");
            error(e, &cors)
        }
    }
}

type Cors = [(header::HeaderName, HeaderValue)];

fn with_cors(mut b: axum::http::response::Builder, cors: &Cors) -> axum::http::response::Builder {
    for (k, v) in cors {
        b = b.header(k, v);
    }
    b
}

/// A text answer's head (the caller adds the body).
fn plain(status: StatusCode, body: &'static str, cors: &Cors) -> axum::http::response::Builder {
    with_cors(Response::builder().status(status), cors)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .header(header::CONTENT_LENGTH, body.len())
        .header(header::CACHE_CONTROL, CACHE_ERROR)
}

/// The answer to an engine error: identical for NotFound and Expired.
fn error(e: HlsError, cors: &Cors) -> Response {
    let (status, body) = match e {
        HlsError::NotFound | HlsError::Expired => (StatusCode::NOT_FOUND, NOT_FOUND_BODY),
        HlsError::NotReady => (StatusCode::SERVICE_UNAVAILABLE, "the stream is starting\n"),
        HlsError::Offline => (StatusCode::SERVICE_UNAVAILABLE, "the stream is offline\n"),
        HlsError::Busy => (
            StatusCode::SERVICE_UNAVAILABLE,
            "too many waiting requests\n",
        ),
        HlsError::BadRequest(why) => return bad_request(why, cors),
    };
    let mut b = plain(status, body, cors);
    if status == StatusCode::SERVICE_UNAVAILABLE {
        b = b.header(header::RETRY_AFTER, RETRY_AFTER_S);
    }
    b.body(Body::from(body)).expect("static headers")
}

fn bad_request(why: &str, cors: &Cors) -> Response {
    let body = format!("bad request: {why}\n");
    with_cors(Response::builder().status(StatusCode::BAD_REQUEST), cors)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .header(header::CACHE_CONTROL, CACHE_ERROR)
        .body(Body::from(body))
        .expect("static headers")
}

/// CORS preflight: which methods and request headers a page may use. No engine call: a
/// preflight must not tell a known key from an unknown one either.
fn preflight(cors: &Cors) -> Response {
    with_cors(Response::builder().status(StatusCode::NO_CONTENT), cors)
        .header(header::ACCESS_CONTROL_ALLOW_METHODS, "GET, HEAD, OPTIONS")
        .header(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            "Range, If-None-Match, If-Modified-Since, If-Range",
        )
        .header(header::ACCESS_CONTROL_MAX_AGE, PREFLIGHT_MAX_AGE.as_secs())
        .header(header::CACHE_CONTROL, CACHE_ERROR)
        .body(Body::empty())
        .expect("static headers")
}

/// A file: 200, 206, 304 or 416.
fn send(f: HlsFile, head: bool, req: &HeaderMap, cache: &'static str, cors: &Cors) -> Response {
    let modified = http_date(f.modified);
    let common = |status| {
        let mut b = with_cors(Response::builder().status(status), cors)
            .header(header::CACHE_CONTROL, cache)
            .header(header::ACCEPT_RANGES, "bytes");
        if let Ok(v) = HeaderValue::from_str(&f.etag) {
            b = b.header(header::ETAG, v);
        }
        if let Some(m) = &modified {
            b = b.header(header::LAST_MODIFIED, m);
        }
        b
    };
    if not_modified(req, &f.etag, f.modified) {
        return common(StatusCode::NOT_MODIFIED)
            .body(Body::empty())
            .expect("checked headers");
    }
    let len = f.body.len() as u64;
    let text = |h| req.get(h).and_then(|v: &HeaderValue| v.to_str().ok());
    // If-Range: the range only applies to the copy the client has (its ETag or date).
    let range = match text(header::IF_RANGE) {
        Some(v) if v.trim() != f.etag && Some(v.trim()) != modified.as_deref() => None,
        _ => text(header::RANGE),
    };
    let (b, body): (_, Bytes) = match span(range, len) {
        Span::Whole => (common(StatusCode::OK), f.body.clone()),
        Span::Part { start, end } => (
            common(StatusCode::PARTIAL_CONTENT)
                .header(header::CONTENT_RANGE, format!("bytes {start}-{end}/{len}")),
            // start <= end < len, both fit a usize since the body is in memory.
            f.body.slice(start as usize..=end as usize),
        ),
        Span::Unsatisfiable => {
            return common(StatusCode::RANGE_NOT_SATISFIABLE)
                .header(header::CONTENT_RANGE, format!("bytes */{len}"))
                .header(header::CONTENT_LENGTH, 0)
                .body(Body::empty())
                .expect("checked headers");
        }
    };
    let b = b
        .header(header::CONTENT_TYPE, f.kind.mime())
        .header(header::CONTENT_LENGTH, body.len());
    let body = if head {
        Body::empty()
    } else {
        Body::from(body)
    };
    b.body(body).expect("checked headers")
}

/// RFC 9110 §13.1.2 and §13.1.3: If-None-Match (weak comparison) wins over
/// If-Modified-Since.
fn not_modified(req: &HeaderMap, etag: &str, modified: SystemTime) -> bool {
    let strip = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    if let Some(inm) = req.get(header::IF_NONE_MATCH) {
        let Ok(inm) = inm.to_str() else { return false };
        let ours = strip(etag);
        return inm.split(',').any(|t| t.trim() == "*" || strip(t) == ours);
    }
    let since = req
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_http_date);
    let secs = |t: SystemTime| {
        t.duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    };
    since.is_some_and(|since| secs(modified) <= secs(since))
}

/// IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), RFC 9110 §5.6.7.
fn date_format() -> &'static [time::format_description::BorrowedFormatItem<'static>] {
    static F: OnceLock<Vec<time::format_description::BorrowedFormatItem<'static>>> =
        OnceLock::new();
    F.get_or_init(|| {
        time::format_description::parse_borrowed::<2>(
            "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT",
        )
        .expect("a valid format description")
    })
}

pub fn http_date(t: SystemTime) -> Option<String> {
    time::OffsetDateTime::from(t).format(date_format()).ok()
}

fn parse_http_date(s: &str) -> Option<SystemTime> {
    time::PrimitiveDateTime::parse(s.trim(), date_format())
        .ok()
        .map(|t| t.assume_utc().into())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(valid_key("abc-DEF_1.2~"));
        for k in ["", ".", "..", "a/b", "a%2e", "é", &"k".repeat(129)] {
            assert!(!valid_key(k), "{k}");
        }
        for f in [
            "index.m3u8",
            "init0mabc12-0.mp4",
            "seg0mabc12-17.m4s",
            "part0mabc12-17.3.m4s",
        ] {
            assert!(valid_file(f), "{f}");
        }
        for f in [
            "",
            ".",
            "..",
            "../x",
            "a/b",
            "a..b",
            ".hidden",
            "Index.m3u8",
            "a%2f",
            "a b",
            "a\0",
            &"a".repeat(MAX_FILE_LEN + 1),
        ] {
            assert!(!valid_file(f), "{f:?}");
        }
        assert_eq!(
            split_path("/hls/key/index.m3u8"),
            Some(("key", "index.m3u8"))
        );
        for p in [
            "/hls/../index.m3u8",
            "/hls/key/../x",
            "/hls/key/a/b",
            "/hls/key/",
            "/hls//x",
            "/hls/k%65y/index.m3u8",
        ] {
            assert_eq!(split_path(p), None, "{p}");
        }
    }

    #[test]
    fn blocking_reload_query() {
        assert_eq!(blocking_reload(None), Ok(None));
        assert_eq!(blocking_reload(Some("t=1&x")), Ok(None));
        assert_eq!(
            blocking_reload(Some("_HLS_msn=5&_HLS_part=2")),
            Ok(Some(BlockingReload {
                msn: 5,
                part: Some(2)
            }))
        );
        assert_eq!(
            blocking_reload(Some("_HLS_msn=5")),
            Ok(Some(BlockingReload { msn: 5, part: None }))
        );
        for (q, e) in [
            ("_HLS_msn=x", QueryError::Msn),
            ("_HLS_msn=", QueryError::Msn),
            ("_HLS_msn=-1", QueryError::Msn),
            ("_HLS_msn=+1", QueryError::Msn),
            ("_HLS_msn=99999999999999999999999", QueryError::Msn),
            ("_HLS_msn=1&_HLS_part=4294967296", QueryError::Part),
            ("_HLS_part=1", QueryError::PartWithoutMsn),
            ("_HLS_msn=1&_HLS_msn=2", QueryError::Repeated),
        ] {
            assert_eq!(blocking_reload(Some(q)), Err(e), "{q}");
        }
    }

    #[test]
    fn origins() {
        assert_eq!(
            parse_origin("https://Example.COM").unwrap(),
            "https://example.com"
        );
        assert_eq!(
            parse_origin("https://example.com:443").unwrap(),
            "https://example.com"
        );
        assert_eq!(
            parse_origin("http://10.0.0.1:8080").unwrap(),
            "http://10.0.0.1:8080"
        );
        for bad in [
            "",
            "*.example.com",
            "example.com",
            "ftp://x",
            "https://",
            "https://x/",
            "https://x/path",
            "https://u@x",
            "https://x?q",
        ] {
            assert!(parse_origin(bad).is_err(), "{bad}");
        }
        assert_eq!(
            AllowedOrigins::from_list(&["*".into()]),
            Ok(AllowedOrigins::Any)
        );
        assert!(matches!(
            AllowedOrigins::from_list(&["https://a.es".into(), "nope".into()]),
            Err((1, _))
        ));
        let list = AllowedOrigins::from_list(&["https://a.es".into()]).unwrap();
        let h = list.headers(Some(&HeaderValue::from_static("https://a.es")));
        assert!(h.contains(&(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("https://a.es")
        )));
        assert!(h.contains(&(header::VARY, HeaderValue::from_static("Origin"))));
        let h = list.headers(Some(&HeaderValue::from_static("https://b.es")));
        assert_eq!(h, vec![(header::VARY, HeaderValue::from_static("Origin"))]);
        let h = AllowedOrigins::Any.headers(None);
        assert!(h.contains(&(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*")
        )));
    }

    #[test]
    fn dates_and_validators() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis(784_111_777_500);
        let d = http_date(t).unwrap();
        assert_eq!(d, "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(
            parse_http_date(&d),
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777))
        );
        let mut h = HeaderMap::new();
        assert!(!not_modified(&h, "\"a\"", t));
        h.insert(
            header::IF_MODIFIED_SINCE,
            HeaderValue::from_str(&d).unwrap(),
        );
        assert!(not_modified(&h, "\"a\"", t));
        h.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_static("\"b\", W/\"a\""),
        );
        assert!(not_modified(&h, "\"a\"", t));
        // If-None-Match decides alone when present.
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"b\""));
        assert!(!not_modified(&h, "\"a\"", t));
    }

    fn file(kind: HlsFileKind, body: &'static [u8]) -> HlsFile {
        HlsFile {
            kind,
            body: Bytes::from_static(body),
            modified: SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777),
            etag: "\"e1\"".into(),
        }
    }

    fn hdr(res: &Response, name: header::HeaderName) -> Option<&str> {
        res.headers().get(name).and_then(|v| v.to_str().ok())
    }

    #[test]
    fn ranges_heads_and_304() {
        let cors = AllowedOrigins::Any.headers(None);
        let seg = || file(HlsFileKind::Segment, b"0123456789");
        let get = |h: &[(header::HeaderName, &'static str)], head: bool| {
            let mut m = HeaderMap::new();
            for (k, v) in h {
                m.insert(k, HeaderValue::from_static(v));
            }
            send(seg(), head, &m, CACHE_IMMUTABLE, &cors)
        };
        let r = get(&[], false);
        assert_eq!(r.status(), 200);
        assert_eq!(hdr(&r, header::CONTENT_TYPE), Some("video/iso.segment"));
        assert_eq!(hdr(&r, header::CONTENT_LENGTH), Some("10"));
        assert_eq!(hdr(&r, header::ACCEPT_RANGES), Some("bytes"));
        assert_eq!(hdr(&r, header::ETAG), Some("\"e1\""));
        assert_eq!(
            hdr(&r, header::LAST_MODIFIED),
            Some("Sun, 06 Nov 1994 08:49:37 GMT")
        );
        assert_eq!(hdr(&r, header::ACCESS_CONTROL_ALLOW_ORIGIN), Some("*"));
        let r = get(&[], true);
        assert_eq!(
            (r.status(), hdr(&r, header::CONTENT_LENGTH)),
            (StatusCode::OK, Some("10"))
        );
        let r = get(&[(header::RANGE, "bytes=2-4")], false);
        assert_eq!(r.status(), 206);
        assert_eq!(hdr(&r, header::CONTENT_RANGE), Some("bytes 2-4/10"));
        assert_eq!(hdr(&r, header::CONTENT_LENGTH), Some("3"));
        let r = get(&[(header::RANGE, "bytes=10-")], false);
        assert_eq!(r.status(), 416);
        assert_eq!(hdr(&r, header::CONTENT_RANGE), Some("bytes */10"));
        for h in [
            "bytes=0-99999999999999999999999",
            "bytes=0-1,4-5",
            "bytes=x",
            "lines=1-2",
        ] {
            let r = get(&[(header::RANGE, h)], false);
            assert_eq!(
                (r.status(), hdr(&r, header::CONTENT_LENGTH)),
                (StatusCode::OK, Some("10")),
                "{h}"
            );
        }
        // If-Range with another copy's tag: the whole new file.
        let r = get(
            &[(header::RANGE, "bytes=2-4"), (header::IF_RANGE, "\"old\"")],
            false,
        );
        assert_eq!(r.status(), 200);
        let r = get(&[(header::IF_NONE_MATCH, "\"e1\"")], false);
        assert_eq!(r.status(), 304);
        assert_eq!(hdr(&r, header::CACHE_CONTROL), Some(CACHE_IMMUTABLE));
    }

    #[test]
    fn not_found_and_expired_are_one_answer() {
        let cors = AllowedOrigins::Any.headers(None);
        let parts = |r: Response| {
            let (p, b) = r.into_parts();
            (p.status, format!("{:?}", p.headers), b)
        };
        let (s1, h1, _) = parts(error(HlsError::NotFound, &cors));
        let (s2, h2, _) = parts(error(HlsError::Expired, &cors));
        assert_eq!((s1, &h1), (s2, &h2));
        assert_eq!(s1, 404);
        let r = error(HlsError::Offline, &cors);
        assert_eq!(
            (r.status(), hdr(&r, header::RETRY_AFTER)),
            (StatusCode::SERVICE_UNAVAILABLE, Some("1"))
        );
        assert_eq!(error(HlsError::NotReady, &cors).status(), 503);
        assert_eq!(error(HlsError::Busy, &cors).status(), 503);
        assert_eq!(error(HlsError::BadRequest("x"), &cors).status(), 400);
    }
}
