//! The recordings API against a real Relevo and PostgreSQL, on files made by Debian's
//! ffmpeg in the recordings folder with the recorder's names: the list shows their
//! duration and codecs, range requests return exactly the bytes asked for (a download
//! resumed in two parts is the file), roles are enforced (Visor lists and downloads but
//! cannot delete; no download without signing in), deletions are audited, and names that
//! try to leave the folder (`../`, absolute, percent-encoded, links) reach nothing.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

const MP4: &str = "2026-12-07T10-00-00Z_0001.mp4";
const TS: &str = "2026-12-07T11-00-00Z_0002.ts";
/// Seconds of media in each test file.
const SECS: f64 = 4.0;

/// `SECS` seconds of H.264 + AAC written by ffmpeg (no `-re`: as fast as it encodes).
fn make_file(out: &Path, format_args: &[&str]) {
    let args = format!(
        "-f lavfi -i testsrc2=size=320x240:rate={FPS} -f lavfi -i sine=frequency=440:sample_rate=48000 \
         -t {SECS} -map 0:v -map 1:a -c:v libx264 -preset ultrafast -pix_fmt yuv420p -g {GOP} -c:a aac"
    );
    let st = ffmpeg()
        .args(args.split(' '))
        .args(format_args)
        .arg(out)
        .status()
        .unwrap();
    assert!(st.success(), "ffmpeg making {}", out.display());
}

/// A GET with extra headers: (status, headers, body bytes).
fn get_raw(
    port: u16,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut req = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n");
    if let Some(t) = token {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let (status, headers, body_at) = parse_http_head(&raw);
    (status, headers, raw[body_at..].to_vec())
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Started as root, Relevo runs as its service user (see `privileges.rs`), who owns the
/// recordings it writes: the files placed here are given to it likewise (links included,
/// not what they point to).
fn give_to_relevo(relevo: &Relevo, dir: &Path) {
    let status =
        std::fs::read_to_string(format!("/proc/{}/status", relevo.proc.child.id())).unwrap();
    let uid: u32 = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|u| u.parse().ok())
        .unwrap();
    let mut stack = vec![dir.to_owned()];
    while let Some(p) = stack.pop() {
        std::os::unix::fs::lchown(&p, Some(uid), None).unwrap();
        if p.symlink_metadata().unwrap().is_dir() {
            stack.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        }
    }
}

struct Setup {
    relevo: Relevo,
    /// `<recordings>/estudio-a/grabacion`.
    folder: PathBuf,
    /// A file outside the recordings folder that nothing may read or delete.
    outside: PathBuf,
}

fn setup(name: &str) -> Setup {
    let dir = TempDir::new(name);
    let recordings = dir.path("recordings");
    let folder = recordings.join("estudio-a").join("grabacion");
    std::fs::create_dir_all(&folder).unwrap();
    make_file(
        &folder.join(MP4),
        &["-movflags", "frag_keyframe+empty_moov", "-f", "mp4"],
    );
    make_file(&folder.join(TS), &["-f", "mpegts"]);
    // Outside: owned by Relevo's user too, so only the API's checks keep it safe.
    let outside_dir = dir.path("outside");
    let outside = outside_dir.join("secret.mp4");
    std::fs::create_dir_all(outside_dir.join("elsewhere")).unwrap();
    std::fs::write(&outside, b"outside the recordings folder").unwrap();
    std::fs::copy(folder.join(MP4), outside_dir.join("elsewhere").join(MP4)).unwrap();
    let extra = format!("[recording]\ndir = \"{}\"\n", recordings.display());
    let flows = input_toml("estudio-a", "estudio-a-key");
    let relevo = Relevo::start_in(dir, &extra, &flows);
    give_to_relevo(&relevo, &recordings);
    give_to_relevo(&relevo, &outside_dir);
    Setup {
        relevo,
        folder,
        outside,
    }
}

#[test]
fn lists_downloads_with_ranges_and_deletes_by_role() {
    let Setup {
        relevo,
        folder,
        outside,
    } = setup("rec-api");
    relevo.add_user("tec@relevo.test", "tecnico");
    relevo.add_user("visor@relevo.test", "visor");
    let visor = relevo.access_token("visor@relevo.test");
    let tec = relevo.access_token("tec@relevo.test");

    // The list: newest first, each with its duration, codecs and size.
    let (st, list) = relevo.api("GET", "/api/v1/recordings/estudio-a", None);
    assert_eq!(st, 200, "{list}");
    let files = list["files"].as_array().unwrap();
    let names: Vec<&str> = files.iter().map(|f| f["file"].as_str().unwrap()).collect();
    assert_eq!(names, vec![TS, MP4], "{list}");
    for f in files {
        let name = f["file"].as_str().unwrap();
        let d = f["duration_s"].as_f64().unwrap_or(-1.0);
        assert!((d - SECS).abs() < 0.25, "{name}: duration {d}");
        let codecs: Vec<&str> = f["codecs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        assert_eq!(codecs, vec!["h264", "aac"], "{name}");
        assert_eq!(f["size_bytes"], file_len(&folder.join(name)), "{name}");
        assert_eq!(f["output"], "grabacion");
        assert_eq!(f["recording"], false);
    }
    assert_eq!(files[1]["start"], "2026-12-07T10:00:00Z");
    assert_eq!(files[1]["format"], "mp4");
    assert_eq!(files[0]["format"], "ts");
    let mp4_url = files[1]["url"].as_str().unwrap().to_owned();
    let ts_url = files[0]["url"].as_str().unwrap().to_owned();
    assert_eq!(
        mp4_url,
        format!("/api/v1/recordings/estudio-a/grabacion/{MP4}")
    );

    // Disk figures.
    let (st, usage) = relevo.api("GET", "/api/v1/recordings", None);
    assert_eq!(st, 200, "{usage}");
    let both = file_len(&folder.join(MP4)) + file_len(&folder.join(TS));
    assert_eq!(usage["used_bytes"], both, "{usage}");
    let (free, total) = (
        usage["free_bytes"].as_u64().unwrap(),
        usage["total_bytes"].as_u64().unwrap(),
    );
    assert!(total > 0 && free <= total, "{usage}");
    assert!(usage["floor_bytes"].as_u64().unwrap() <= total);

    // Whole, then in two ranges that add up to the file.
    let original = std::fs::read(folder.join(MP4)).unwrap();
    let len = original.len();
    let token = relevo.token().to_owned();
    let (st, h, body) = get_raw(relevo.http, &mp4_url, Some(&token), &[]);
    assert_eq!(st, 200);
    assert_eq!(body, original);
    assert_eq!(header(&h, "accept-ranges"), Some("bytes"));
    assert_eq!(header(&h, "content-type"), Some("video/mp4"));
    assert_eq!(
        header(&h, "content-disposition"),
        Some(format!("attachment; filename=\"{MP4}\"").as_str())
    );
    let half = len / 2;
    let (st, h, first) = get_raw(
        relevo.http,
        &mp4_url,
        Some(&token),
        &[("Range", &format!("bytes=0-{}", half - 1))],
    );
    assert_eq!(st, 206);
    assert_eq!(
        header(&h, "content-range"),
        Some(format!("bytes 0-{}/{len}", half - 1).as_str())
    );
    assert_eq!(first, original[..half]);
    let etag = header(&h, "etag").unwrap().to_owned();
    let (st, _, rest) = get_raw(
        relevo.http,
        &mp4_url,
        Some(&token),
        &[("Range", &format!("bytes={half}-")), ("If-Range", &etag)],
    );
    assert_eq!(st, 206);
    assert_eq!([first, rest].concat(), original, "resumed download");
    // A range in the middle, and the last bytes.
    let (st, _, mid) = get_raw(
        relevo.http,
        &mp4_url,
        Some(&token),
        &[("Range", "bytes=100-1123")],
    );
    assert_eq!((st, mid.as_slice()), (206, &original[100..1124]));
    let (st, _, tail) = get_raw(
        relevo.http,
        &mp4_url,
        Some(&token),
        &[("Range", "bytes=-10")],
    );
    assert_eq!((st, tail.as_slice()), (206, &original[len - 10..]));
    // Past the end: 416 naming the length.
    let (st, h, _) = get_raw(
        relevo.http,
        &mp4_url,
        Some(&token),
        &[("Range", &format!("bytes={len}-"))],
    );
    assert_eq!(st, 416);
    assert_eq!(
        header(&h, "content-range"),
        Some(format!("bytes */{len}").as_str())
    );
    // An outdated If-Range gets the whole file.
    let (st, _, body) = get_raw(
        relevo.http,
        &mp4_url,
        Some(&token),
        &[("Range", "bytes=0-9"), ("If-Range", "\"stale\"")],
    );
    assert_eq!((st, body.len()), (200, len));
    let (st, h, _) = get_raw(
        relevo.http,
        &ts_url,
        Some(&token),
        &[("Range", "bytes=0-187")],
    );
    assert_eq!((st, header(&h, "content-type")), (206, Some("video/mp2t")));

    // Without signing in: nothing.
    let (st, _, body) = get_raw(relevo.http, &mp4_url, None, &[]);
    assert_eq!(st, 401, "{}", String::from_utf8_lossy(&body));
    let (st, _) = http_request(
        relevo.http,
        "GET",
        "/api/v1/recordings/estudio-a",
        None,
        None,
    );
    assert_eq!(st, 401);
    let (st, _) = http_request(relevo.http, "DELETE", &mp4_url, None, None);
    assert_eq!(st, 401);

    // Visor: lists and downloads, cannot delete.
    let (st, _) = http_request(
        relevo.http,
        "GET",
        "/api/v1/recordings/estudio-a",
        Some(&visor),
        None,
    );
    assert_eq!(st, 200);
    let (st, _, body) = get_raw(relevo.http, &mp4_url, Some(&visor), &[]);
    assert_eq!((st, body.len()), (200, len));
    let (st, text) = http_request(relevo.http, "DELETE", &mp4_url, Some(&visor), None);
    assert_eq!(st, 403, "{text}");
    assert!(folder.join(MP4).exists());

    // Técnico and admin delete; each deletion is audited with who and which file.
    let (st, text) = http_request(relevo.http, "DELETE", &ts_url, Some(&tec), None);
    assert_eq!(st, 204, "{text}");
    assert!(!folder.join(TS).exists());
    let (st, text) = http_request(relevo.http, "DELETE", &ts_url, Some(&tec), None);
    assert_eq!(st, 404, "{text}");
    let (st, text) = relevo.api("DELETE", &mp4_url, None);
    assert_eq!(st, 204, "{text}");
    assert!(!folder.join(MP4).exists());
    let (st, audit) = relevo.api("GET", "/api/v1/audit?action=recording.delete", None);
    assert_eq!(st, 200, "{audit}");
    let rows = audit["entries"].as_array().unwrap();
    let seen: Vec<(String, String)> = rows
        .iter()
        .map(|r| {
            (
                r["actor"].as_str().unwrap().to_owned(),
                r["target_name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        seen.contains(&(
            "tec@relevo.test".to_owned(),
            format!("estudio-a/grabacion/{TS}")
        )),
        "{audit}"
    );
    assert!(
        seen.contains(&(ADMIN_EMAIL.to_owned(), format!("estudio-a/grabacion/{MP4}"))),
        "{audit}"
    );
    assert_eq!(rows.len(), 2, "only what was deleted: {audit}");
    let (_, list) = relevo.api("GET", "/api/v1/recordings/estudio-a", None);
    assert_eq!(list["files"], json!([]));
    assert!(outside.exists());
}

#[test]
fn names_that_leave_the_folder_reach_nothing() {
    let Setup {
        relevo,
        folder,
        outside,
    } = setup("rec-escape");
    let token = relevo.token().to_owned();
    // A link named like a recording, pointing outside; an output folder that is a link
    // to a folder outside holding a file with a recording's name.
    let link = "2026-12-07T12-00-00Z_0003.mp4";
    std::os::unix::fs::symlink(&outside, folder.join(link)).unwrap();
    let elsewhere = outside.with_file_name("elsewhere");
    std::os::unix::fs::symlink(&elsewhere, folder.parent().unwrap().join("copia")).unwrap();

    let base = "/api/v1/recordings/estudio-a";
    let refused = [
        format!("{base}/grabacion/{link}"),
        format!("{base}/copia/{MP4}"),
        format!("{base}/grabacion/..%2f..%2f..%2foutside%2fsecret.mp4"),
        format!("{base}/grabacion/..%2F..%2F..%2Frelevo.toml"),
        format!("{base}/..%2f..%2foutside/secret.mp4"),
        format!("{base}/..%2fgrabacion/{MP4}"),
        format!("{base}/grabacion/%2Fetc%2Fpasswd"),
        format!("{base}/%2Fetc/passwd"),
        format!("{base}/grabacion/{MP4}%2f..%2f..%2f..%2f..%2foutside%2fsecret.mp4"),
        format!("/api/v1/recordings/..%2f..%2fetc/grabacion/{MP4}"),
        format!("/api/v1/recordings/..%2Frecordings%2Festudio-a/grabacion/{MP4}"),
        format!("{base}/grabacion/../../../outside/secret.mp4"),
        format!("{base}/grabacion/%2e%2e"),
        format!("{base}/%2e%2e/{MP4}"),
    ];
    for path in &refused {
        for method in ["GET", "DELETE"] {
            let (st, text) = http_request(relevo.http, method, path, Some(&token), None);
            assert!(st == 404 || st == 400, "{method} {path}: {st} {text}");
            assert!(!text.contains("outside the recordings"), "{path}: {text}");
        }
    }
    // Nothing outside was read or deleted, and the links are not listed.
    assert!(outside.exists() && elsewhere.join(MP4).exists());
    assert!(folder.join(link).symlink_metadata().is_ok());
    let (st, list) = relevo.api("GET", base, None);
    assert_eq!(st, 200);
    let names: Vec<&str> = list["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["file"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec![TS, MP4], "{list}");
    let (st, usage) = relevo.api("GET", "/api/v1/recordings", None);
    assert_eq!(st, 200);
    assert_eq!(
        usage["used_bytes"],
        file_len(&folder.join(MP4)) + file_len(&folder.join(TS)),
        "links count for nothing: {usage}"
    );
    // An input that never recorded has an empty list; no audit row was written.
    let (st, list) = relevo.api("GET", "/api/v1/recordings/otra%20entrada", None);
    assert_eq!((st, &list["files"]), (200, &json!([])), "{list}");
    let (_, audit) = relevo.api("GET", "/api/v1/audit?action=recording.delete", None);
    assert_eq!(audit["entries"], Value::Array(vec![]), "{audit}");
}

/// A real recording (ffmpeg over RTMP into a `record = "mp4"` output): listed while it is
/// written (`recording: true`, and a DELETE is refused with 409), then, once the publisher
/// has gone, with the duration published, served whole and deleted.
#[test]
fn a_real_recording_is_listed_while_written_then_served_and_deleted() {
    let dir = TempDir::new("rec-live");
    let recordings = dir.path("rec");
    let extra = format!(
        "[recording]\ndir = \"{}\"\nmin_free_percent = 0\nmin_free_gib = 0\n",
        recordings.display()
    );
    let flows = format!(
        "{}\n  [[input.output]]\n  name = \"grabacion\"\n  record = \"mp4\"\n",
        input_toml("estudio-a", "estudio-a-key")
    );
    let relevo = Relevo::start_in(dir, &extra, &flows);
    let secs = 6;
    let log = relevo.dir.path("ffmpeg.log");
    let publisher = publish(
        "ffmpeg",
        secs,
        "flv",
        &relevo.rtmp_url("estudio-a-key"),
        &log,
    );
    let list = || relevo.api("GET", "/api/v1/recordings/estudio-a", None).1;
    wait_until(
        "the file being written is listed",
        Duration::from_secs(20),
        || list()["files"][0]["recording"] == true,
    );
    let url = list()["files"][0]["url"].as_str().unwrap().to_owned();
    let (st, text) = relevo.api("DELETE", &url, None);
    assert_eq!(st, 409, "{text}");
    assert_eq!(text["error"]["code"], "recording_in_progress");

    publisher.wait(Duration::from_secs(30));
    wait_until("the file is closed", Duration::from_secs(20), || {
        list()["files"][0]["recording"] == false
    });
    let files = list();
    let files = files["files"].as_array().unwrap();
    assert_eq!(files.len(), 1, "{files:?}");
    let f = &files[0];
    let d = f["duration_s"].as_f64().unwrap();
    // Within 5 % of the time published, as the recorder's own tests ask of ffprobe.
    assert!(
        (d - f64::from(secs)).abs() <= 0.05 * f64::from(secs),
        "duration {d}"
    );
    assert_eq!(f["codecs"], json!(["h264", "aac"]));
    let path = recordings
        .join("estudio-a")
        .join("grabacion")
        .join(f["file"].as_str().unwrap());
    let (st, _, body) = get_raw(relevo.http, &url, Some(relevo.token()), &[]);
    assert_eq!(st, 200);
    assert_eq!(body, std::fs::read(&path).unwrap());
    let (st, text) = relevo.api("DELETE", &url, None);
    assert_eq!(st, 204, "{text}");
    assert!(!path.exists());
}
