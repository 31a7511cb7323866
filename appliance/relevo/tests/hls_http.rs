//! HLS's HTTP side (issue #16) against the real binary: a live input with HLS outputs, read
//! over raw HTTP/1.0 as a CDN or a browser would. Headers (MIME, Cache-Control, ETag,
//! Last-Modified, Accept-Ranges), conditional requests (304), HEAD, byte ranges (206, 416,
//! and the whole file for a malformed, multiple or huge range), CORS (allowed and refused
//! origins, preflight), and the 404 an unknown key, a disabled output, a file that left the
//! window and a name that is not ours all share, byte for byte. Meanwhile an RTMP reader of
//! the same input gets the whole stream.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::*;

const ALLOWED: &str = "https://allowed.example";
const SECS: u32 = 30;

/// One raw HTTP/1.0 request: (status, headers with lower-case names, body).
fn request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let (status, headers, start) = parse_http_head(&raw);
    (status, headers, raw[start..].to_vec())
}

fn header<'a>(h: &'a [(String, String)], name: &str) -> Option<&'a str> {
    h.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// The headers of an answer that must not differ between two 404s (`date` may).
fn stable(h: &[(String, String)]) -> Vec<(String, String)> {
    let mut v: Vec<_> = h.iter().filter(|(k, _)| k != "date").cloned().collect();
    v.sort();
    v
}

/// The URIs a media playlist names: (init, segments, parts).
fn uris(playlist: &str) -> (Option<String>, Vec<String>, Vec<String>) {
    let attr = |line: &str| {
        line.split("URI=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .map(str::to_owned)
    };
    let mut init = None;
    let (mut segs, mut parts) = (Vec::new(), Vec::new());
    for line in playlist.lines() {
        if line.starts_with("#EXT-X-MAP:") {
            init = attr(line);
        } else if line.starts_with("#EXT-X-PART:") {
            parts.extend(attr(line));
        } else if !line.starts_with('#') && !line.trim().is_empty() {
            segs.push(line.trim().to_owned());
        }
    }
    (init, segs, parts)
}

fn flows() -> String {
    input_toml("cam", "hls-http-in")
        + &pull_toml("web", "hls", "hls-web-key")
        + &pull_toml("off", "hls", "hls-off-key")
        + "  enabled = false\n"
        + &pull_toml("watch", "rtmp", "hls-http-watch")
}

#[test]
fn hls_answers_like_a_cdn_origin_and_leaves_other_outputs_whole() {
    let dir = TempDir::new("hls-http");
    let extra = format!("[hls]\nallowed_origins = [\"{ALLOWED}\"]\n");
    let relevo = Relevo::start("hls-http", &extra, &flows());
    let port = relevo.http;
    let get = |path: &str, h: &[(&str, &str)]| request(port, "GET", path, h);
    let playlist = "/hls/hls-web-key/index.m3u8";

    // Not live yet: 503 and come back in a second; an unknown key is a 404.
    let (st, h, _) = get(playlist, &[]);
    assert_eq!(st, 503);
    assert_eq!(header(&h, "retry-after"), Some("1"));
    let (st, unknown_h, unknown_body) = get("/hls/no-such-key/index.m3u8", &[]);
    assert_eq!(st, 404);
    assert_eq!(header(&unknown_h, "cache-control"), Some("no-store"));

    let watch = dir.path("watch.flv");
    let reader = relevo.record_rtmp("hls-http-watch", &watch);
    relevo.wait_log("RTMP player connected", 1);
    let publisher = publish(
        "publisher",
        SECS,
        "flv",
        &relevo.rtmp_url("hls-http-in"),
        &dir.path("publisher.log"),
    );
    wait_until("the playlist", Duration::from_secs(30), || {
        get(playlist, &[]).0 == 200
    });

    // The playlist: its MIME type, one second of caching, validators, CORS for the
    // allowed origin only (and Vary: Origin either way).
    let (st, h, body) = get(playlist, &[("Origin", ALLOWED)]);
    assert_eq!(st, 200);
    assert_eq!(
        header(&h, "content-type"),
        Some("application/vnd.apple.mpegurl")
    );
    assert_eq!(header(&h, "cache-control"), Some("public, max-age=1"));
    assert!(
        header(&h, "etag").is_some_and(|e| e.starts_with('"')),
        "{h:?}"
    );
    assert!(header(&h, "last-modified").is_some_and(|d| d.ends_with(" GMT")));
    assert_eq!(header(&h, "access-control-allow-origin"), Some(ALLOWED));
    assert_eq!(header(&h, "vary"), Some("Origin"));
    let exposed = header(&h, "access-control-expose-headers").unwrap();
    for name in ["Content-Length", "Content-Range", "ETag"] {
        assert!(exposed.contains(name), "{exposed}");
    }
    let (_, h, _) = get(playlist, &[("Origin", "https://elsewhere.example")]);
    assert_eq!(header(&h, "access-control-allow-origin"), None);
    assert_eq!(header(&h, "vary"), Some("Origin"));
    let text = String::from_utf8(body).unwrap();
    assert!(text.starts_with("#EXTM3U"), "{text}");
    let (init, segs, parts) = uris(&text);
    let (init, first_seg) = (init.expect("an EXT-X-MAP"), segs[0].clone());
    assert!(!parts.is_empty(), "no LL-HLS parts in\n{text}");

    // Preflight: 204, the allowed origin, methods and request headers.
    let (st, h, body) = request(
        port,
        "OPTIONS",
        playlist,
        &[
            ("Origin", ALLOWED),
            ("Access-Control-Request-Method", "GET"),
            ("Access-Control-Request-Headers", "range"),
        ],
    );
    assert_eq!((st, body.len()), (204, 0));
    assert_eq!(header(&h, "access-control-allow-origin"), Some(ALLOWED));
    assert!(header(&h, "access-control-allow-methods").is_some_and(|m| m.contains("GET")));
    assert!(header(&h, "access-control-allow-headers").is_some_and(|m| m.contains("Range")));

    // The init segment and a segment: immutable for a year, their MIME types.
    let (st, h, _) = get(&format!("/hls/hls-web-key/{init}"), &[]);
    assert_eq!(st, 200);
    assert_eq!(header(&h, "content-type"), Some("video/mp4"));
    assert_eq!(
        header(&h, "cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    let seg_path = format!("/hls/hls-web-key/{first_seg}");
    let (st, h, seg) = get(&seg_path, &[]);
    assert_eq!(st, 200);
    assert_eq!(header(&h, "content-type"), Some("video/iso.segment"));
    assert_eq!(
        header(&h, "cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    assert_eq!(header(&h, "accept-ranges"), Some("bytes"));
    let len = seg.len();
    assert!(len > 200, "a segment of {len} bytes");
    assert_eq!(header(&h, "content-length"), Some(len.to_string().as_str()));
    let etag = header(&h, "etag").unwrap().to_owned();
    let modified = header(&h, "last-modified").unwrap().to_owned();

    // Conditional requests: 304 without a body.
    let (st, h, body) = get(&seg_path, &[("If-None-Match", &etag)]);
    assert_eq!((st, body.len()), (304, 0));
    assert_eq!(header(&h, "etag"), Some(etag.as_str()));
    let (st, _, _) = get(&seg_path, &[("If-Modified-Since", &modified)]);
    assert_eq!(st, 304);
    let (st, _, _) = get(&seg_path, &[("If-None-Match", "\"other\"")]);
    assert_eq!(st, 200);

    // HEAD: the GET's headers, no body.
    let (st, h, body) = request(port, "HEAD", &seg_path, &[]);
    assert_eq!((st, body.len()), (200, 0));
    assert_eq!(header(&h, "content-length"), Some(len.to_string().as_str()));
    assert_eq!(header(&h, "etag"), Some(etag.as_str()));

    // Ranges: one range is served; past the end is 416; malformed, multiple or huge
    // ranges are ignored (the whole segment, 200), as RFC 9110 §14.2 allows.
    let (st, h, body) = get(&seg_path, &[("Range", "bytes=0-99")]);
    assert_eq!(st, 206);
    assert_eq!(
        header(&h, "content-range"),
        Some(format!("bytes 0-99/{len}").as_str())
    );
    assert_eq!(body, seg[..100]);
    let (st, h, body) = get(&seg_path, &[("Range", "bytes=-10")]);
    assert_eq!((st, body.as_slice()), (206, &seg[len - 10..]));
    assert_eq!(
        header(&h, "content-range"),
        Some(format!("bytes {}-{}/{len}", len - 10, len - 1).as_str())
    );
    let (st, h, _) = get(&seg_path, &[("Range", &format!("bytes={len}-"))]);
    assert_eq!(st, 416);
    assert_eq!(
        header(&h, "content-range"),
        Some(format!("bytes */{len}").as_str())
    );
    for range in [
        "bytes=0-99999999999999999999999",
        "bytes=0-9,20-29",
        "bytes=abc",
        "pages=1-2",
    ] {
        let (st, _, body) = get(&seg_path, &[("Range", range)]);
        assert_eq!((st, body.len()), (200, len), "{range}");
    }

    // Bad blocking-reload parameters: 400.
    for q in [
        "_HLS_msn=abc",
        "_HLS_msn=-1",
        "_HLS_part=1",
        "_HLS_msn=1&_HLS_msn=2",
    ] {
        let (st, _, _) = get(&format!("{playlist}?{q}"), &[]);
        assert_eq!(st, 400, "{q}");
    }
    // A blocking reload for the next segment: answered once it is there, cached 2 s.
    let next = text
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-MEDIA-SEQUENCE:"))
        .and_then(|n| n.trim().parse::<u64>().ok())
        .unwrap()
        + segs.len() as u64;
    let (st, h, body) = get(&format!("{playlist}?_HLS_msn={next}"), &[]);
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(header(&h, "cache-control"), Some("public, max-age=2"));

    // One 404 for everything that is not a file of a live output: the same status, body
    // and headers for an unknown key, a disabled output, names that are not ours.
    let same_404 = |path: &str| {
        let (st, h, body) = get(path, &[]);
        assert_eq!(st, 404, "{path}");
        assert_eq!(body, unknown_body, "{path}");
        assert_eq!(stable(&h), stable(&unknown_h), "{path}");
    };
    let long = "a".repeat(300);
    for path in [
        "/hls/hls-off-key/index.m3u8".to_owned(),
        "/hls/../index.m3u8".to_owned(),
        "/hls/hls-web-key/..".to_owned(),
        "/hls/hls-web-key/..%2f..%2fetc%2fpasswd".to_owned(),
        "/hls/hls-web-key/%00index.m3u8".to_owned(),
        "/hls/hls-web-key/INDEX.M3U8".to_owned(),
        format!("/hls/hls-web-key/{long}.m4s"),
        format!("/hls/{long}{long}/index.m3u8"),
        "/hls/hls-web-key/seg0-999999999.m4s".to_owned(),
        // The input's own key and the RTMP reader's are not HLS keys.
        "/hls/hls-http-in/index.m3u8".to_owned(),
        "/hls/hls-http-watch/index.m3u8".to_owned(),
    ] {
        same_404(&path);
    }
    // The first segment leaves the window: the same 404 again.
    wait_until(
        "the first segment to leave the window",
        Duration::from_secs(40),
        || {
            let (_, _, body) = get(playlist, &[]);
            !String::from_utf8_lossy(&body).contains(&first_seg)
        },
    );
    same_404(&seg_path);

    // The RTMP reader of the same input got every frame meanwhile.
    publisher.wait(Duration::from_secs(u64::from(SECS) + 30));
    wait_file_stable(&watch);
    reader.wait(Duration::from_secs(30));
    assert_full_stream("the RTMP reader beside HLS", &watch, SECS);
}

/// Without `[hls] allowed_origins` any page may read the streams (`*`, no Vary); checked
/// on the answers that need no stream: a preflight and a 404.
#[test]
fn any_origin_by_default() {
    let relevo = Relevo::start("hls-cors-any", "", &input_toml("cam", "any-in"));
    let origin = [("Origin", "https://anyone.example")];
    let (st, h, _) = request(relevo.http, "OPTIONS", "/hls/k/index.m3u8", &origin);
    assert_eq!(st, 204);
    assert_eq!(header(&h, "access-control-allow-origin"), Some("*"));
    assert_eq!(header(&h, "vary"), None);
    let (st, h, _) = request(relevo.http, "GET", "/hls/k/index.m3u8", &origin);
    assert_eq!(st, 404);
    assert_eq!(header(&h, "access-control-allow-origin"), Some("*"));
    // Not the API's: no JSON error, and the answer is the HLS route's own.
    assert_eq!(
        header(&h, "content-type"),
        Some("text/plain; charset=utf-8")
    );
}
