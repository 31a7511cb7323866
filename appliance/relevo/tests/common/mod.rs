//! Test harness: the real `relevo` binary on free loopback ports, real ffmpeg / ffprobe /
//! srt-live-transmit peers, and checks of what they received.
#![allow(dead_code, clippy::unwrap_used)]

pub mod browser;

use std::io::Read;
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Video frame rate and GOP of every test stream: one keyframe a second.
pub const FPS: u32 = 25;
pub const GOP: u32 = 25;

/// Ports already handed out in this test binary: tests run in parallel, and the kernel may
/// give the same just-released port to two of them before either child binds it.
static HANDED_OUT: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());

fn unique_port(bind: impl Fn() -> u16) -> u16 {
    let mut handed = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let port = bind();
        if !handed.contains(&port) {
            handed.push(port);
            return port;
        }
    }
}

pub fn free_tcp_port() -> u16 {
    unique_port(|| {
        TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    })
}

pub fn free_udp_port() -> u16 {
    unique_port(|| {
        UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    })
}

/// A scratch directory removed at the end of the test.
pub struct TempDir(pub PathBuf);

/// Directories already made by this test binary: a test and its Relevo often share a name,
/// and each must get a directory of its own.
static TEMP_DIRS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

impl TempDir {
    pub fn new(name: &str) -> Self {
        let n = TEMP_DIRS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("relevo-test-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("RELEVO_KEEP_TEST_FILES").is_none() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// A child process killed when the test ends, whatever happens.
pub struct Proc {
    pub child: Child,
}

impl Proc {
    pub fn spawn(name: &str, cmd: &mut Command) -> Self {
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Self { child }
    }

    /// Waits for the process to exit by itself; kills it after `limit`.
    pub fn wait(mut self, limit: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                return self.child.wait().unwrap();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Asks the process to finish (SIGINT lets ffmpeg write its trailer) and waits.
    pub fn interrupt(self) -> std::process::ExitStatus {
        unsafe_free_kill(self.child.id(), "INT");
        self.wait(Duration::from_secs(10))
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn unsafe_free_kill(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .args([format!("-{sig}"), pid.to_string()])
        .status();
}

/// Polls `cond` until it holds; panics with `what` after `limit`. This is readiness, not a
/// timing assertion: the limit only stops a broken test from hanging.
pub fn wait_until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The relay under test.
pub struct Relevo {
    pub proc: Proc,
    pub dir: TempDir,
    pub srt: u16,
    pub rtmp: u16,
    pub rtmps: Option<u16>,
    /// `/metrics`, `/healthz`, `/api/v1/…`.
    pub http: u16,
    pub log: PathBuf,
    /// An access token of the test admin, made on first use (see [`Relevo::token`]).
    token: std::sync::OnceLock<String>,
}

/// `relevo serve --config CONFIG`, logging to `log` (truncated).
fn spawn_relevo(config: &Path, log: &Path) -> Proc {
    Proc::spawn(
        "relevo",
        Command::new(env!("CARGO_BIN_EXE_relevo"))
            .args(["serve", "--config"])
            .arg(config)
            .env("RELEVO_LOG", "info,relevo_engine=debug,libsrt=error")
            .env_remove("JOURNAL_STREAM")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap()),
    )
}

/// The admin every test Relevo gets through its first-admin setup link.
pub const ADMIN_EMAIL: &str = "admin@relevo.test";
pub const ADMIN_PASSWORD: &str = "correct horse battery staple";

impl Relevo {
    /// Starts `relevo serve` with `flows` (TOML `[[input]]` blocks) appended to a generated
    /// `[listen]` section; `extra` goes before the flows (e.g. a `[tls]` section).
    pub fn start(name: &str, extra: &str, flows: &str) -> Self {
        Self::start_in(TempDir::new(name), extra, flows)
    }

    /// [`Relevo::start`] in a given directory: a second start in the same directory finds
    /// the first one's database (its embedded PostgreSQL lives in `DIR/state`).
    pub fn start_in(dir: TempDir, extra: &str, flows: &str) -> Self {
        let srt = free_udp_port();
        let rtmp = free_tcp_port();
        let rtmps = extra.contains("[tls]").then(free_tcp_port);
        let http = free_tcp_port();
        let mut listen = format!(
            "[listen]\nsrt = \"127.0.0.1:{srt}\"\nrtmp = \"127.0.0.1:{rtmp}\"\nhttp = \"127.0.0.1:{http}\"\n"
        );
        if let Some(p) = rtmps {
            listen.push_str(&format!("rtmps = \"127.0.0.1:{p}\"\n"));
        }
        listen.push_str(&format!(
            "\n[database]\nstate_dir = \"{}\"\n",
            dir.path("state").display()
        ));
        let config = dir.path("relevo.toml");
        std::fs::write(&config, format!("{listen}\n{extra}\n{flows}")).unwrap();
        let log = dir.path("relevo.log");
        let mut r = Self {
            proc: spawn_relevo(&config, &log),
            dir,
            srt,
            rtmp,
            rtmps,
            http,
            log,
            token: std::sync::OnceLock::new(),
        };
        r.wait_running();
        r
    }

    fn wait_running(&mut self) {
        wait_until("relevo to listen", Duration::from_secs(60), || {
            assert!(
                self.proc.is_running(),
                "relevo exited:\n{}",
                self.log_text()
            );
            self.log_text().contains("relevo running")
        });
    }

    /// Starts a stopped Relevo again with the same configuration, ports and database, as
    /// a restart of the service would.
    pub fn start_again(&mut self) {
        self.proc = spawn_relevo(&self.dir.path("relevo.toml"), &self.log);
        self.wait_running();
    }

    /// Stops Relevo as systemd would (SIGTERM), so that it stops its PostgreSQL; a Relevo
    /// that does not exit in time is killed.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        unsafe_free_kill(self.proc.child.id(), "TERM");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(st) = self.proc.child.try_wait().unwrap() {
                return st;
            }
            if Instant::now() > deadline {
                let _ = self.proc.child.kill();
                return self.proc.child.wait().unwrap();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// An access token of the test admin: the first call creates the admin through the
    /// one-time setup link Relevo logs when no account exists.
    pub fn token(&self) -> &str {
        self.token.get_or_init(|| {
            let log = self.log_text();
            if let Some(rest) = log.split("setup#token=").nth(1) {
                let setup: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
                    .collect();
                let body = serde_json::json!({"token": setup, "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD});
                let (st, text) = http_request(self.http, "POST", "/api/v1/setup", None, Some(&body));
                assert!(st == 201 || st == 409, "setup: {st} {text}");
            }
            let token = self.access_token(ADMIN_EMAIL);
            // Tests push to and pull from 127.0.0.1: private destinations are allowed for
            // API flows (off by default; `http_destinations` tests it off).
            let allow = serde_json::json!({"allow_private_destinations": true});
            let (st, text) =
                http_request(self.http, "PATCH", "/api/v1/settings", Some(&token), Some(&allow));
            assert_eq!(st, 200, "allowing private destinations: {text}");
            token
        })
    }

    /// Signs `email` in with the test password, plus the fields of `extra` (such as
    /// `totp_code`): (status, body).
    pub fn login(&self, email: &str, extra: serde_json::Value) -> (u16, serde_json::Value) {
        let mut body = serde_json::json!({"email": email, "password": ADMIN_PASSWORD});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        let (st, text) = http_request(self.http, "POST", "/api/v1/auth/login", None, Some(&body));
        (
            st,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
        )
    }

    /// An access token of `email`, which must sign in without 2FA.
    pub fn access_token(&self, email: &str) -> String {
        let (st, v) = self.login(email, serde_json::json!({}));
        assert_eq!(st, 200, "login {email}: {v}");
        v["access_token"].as_str().unwrap().to_owned()
    }

    /// Creates a user with the test password, as the test admin; returns it.
    pub fn add_user(&self, email: &str, role: &str) -> serde_json::Value {
        let body = serde_json::json!({"email": email, "password": ADMIN_PASSWORD, "role": role});
        let (st, user) = self.api("POST", "/api/v1/users", Some(&body));
        assert_eq!(st, 201, "creating {email}: {user}");
        user
    }

    /// A request to the API as the test admin: (status, body).
    pub fn api(
        &self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let (st, text) = http_request(self.http, method, path, Some(self.token()), body);
        (
            st,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
        )
    }

    pub fn log_text(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }

    pub fn log_count(&self, needle: &str) -> usize {
        self.log_text().matches(needle).count()
    }

    pub fn wait_log(&self, needle: &str, times: usize) {
        wait_until(
            &format!("{times}× {needle:?} in the relevo log"),
            Duration::from_secs(30),
            || self.log_count(needle) >= times,
        );
    }

    pub fn srt_url(&self, streamid: &str, extra: &str) -> String {
        format!(
            "srt://127.0.0.1:{}?streamid={}{extra}",
            self.srt,
            urlencode(streamid)
        )
    }

    pub fn rtmp_url(&self, key: &str) -> String {
        format!("rtmp://127.0.0.1:{}/live/{key}", self.rtmp)
    }
}

/// ffmpeg (5.1) passes the streamid query value to libsrt as written, without decoding, so
/// only the query separator needs escaping.
fn urlencode(s: &str) -> String {
    s.replace('&', "%26")
}

/// TOML of an `[[input]]` that publishers reach with `key`, without a grace period: its
/// outputs end with the test's publisher. Further lines added after it are the input's.
pub fn input_toml(name: &str, key: &str) -> String {
    format!("\n[[input]]\nname = \"{name}\"\ngrace_period_s = 0\nkey = \"{key}\"\n")
}

/// TOML of an `[[input.output]]` pushing to `url`. Further lines added after it are the
/// output's.
pub fn push_toml(name: &str, url: &str) -> String {
    format!("\n  [[input.output]]\n  name = \"{name}\"\n  push = \"{url}\"\n")
}

/// TOML of an `[[input.output]]` that readers play with `key` over `protocol` (`srt` or
/// `rtmp`).
pub fn pull_toml(name: &str, protocol: &str, key: &str) -> String {
    format!(
        "\n  [[input.output]]\n  name = \"{name}\"\n  pull = \"{protocol}\"\n  key = \"{key}\"\n"
    )
}

pub fn ffmpeg() -> Command {
    let mut c = Command::new("ffmpeg");
    c.args(["-hide_banner", "-nostdin", "-loglevel", "error", "-y"])
        .stdout(Stdio::null());
    c
}

/// Test source: `secs` seconds of 320x240 H.264 (keyframe every second) and AAC sine.
pub fn source_args(secs: u32) -> Vec<String> {
    source_args_of("h264", 1, secs)
}

/// [`source_args`] with another video codec (ffprobe's name: `h264` or `hevc`) and
/// `audio_tracks` AAC sines (440 Hz, 880 Hz, …).
pub fn source_args_of(video_codec: &str, audio_tracks: u32, secs: u32) -> Vec<String> {
    let encoder = match video_codec {
        "h264" => "-c:v libx264 -preset ultrafast -tune zerolatency",
        "hevc" => "-c:v libx265 -preset ultrafast -x265-params log-level=error",
        other => panic!("no test encoder for {other}"),
    };
    let mut inputs = format!("-re -f lavfi -i testsrc2=size=320x240:rate={FPS}");
    let mut maps = "-map 0:v".to_owned();
    for track in 1..=audio_tracks {
        let hz = 440 * track;
        inputs += &format!(" -f lavfi -i sine=frequency={hz}:sample_rate=48000");
        maps += &format!(" -map {track}:a");
    }
    // No argument holds a space.
    format!("{inputs} -t {secs} {maps} {encoder} -pix_fmt yuv420p -g {GOP} -c:a aac -b:a 96k")
        .split(' ')
        .map(String::from)
        .collect()
}

/// ffmpeg publishing the test source to `url` in `format` (`mpegts` or `flv`).
pub fn publish(name: &str, secs: u32, format: &str, url: &str, log: &Path) -> Proc {
    publish_with(name, &source_args(secs), format, url, log)
}

/// [`publish`] with other ffmpeg arguments: another source (see [`source_args_of`]), or
/// output options added to [`source_args`].
pub fn publish_with(name: &str, args: &[String], format: &str, url: &str, log: &Path) -> Proc {
    Proc::spawn(
        name,
        ffmpeg()
            .args(args)
            .args(["-f", format, url])
            .stderr(std::fs::File::create(log).unwrap()),
    )
}

/// ffmpeg reading `url` and copying every stream into `out`.
pub fn record(name: &str, url: &str, format: &str, out: &Path, log: &Path) -> Proc {
    Proc::spawn(
        name,
        ffmpeg()
            .args([
                "-rw_timeout",
                "15000000",
                "-i",
                url,
                "-map",
                "0",
                "-c",
                "copy",
                "-f",
                format,
            ])
            .arg(out)
            .stderr(std::fs::File::create(log).unwrap()),
    )
}

/// What ffprobe found in a recording.
#[derive(Debug)]
pub struct Probe {
    /// (codec_type, codec_name, frames) per stream.
    pub streams: Vec<(String, String, u64)>,
    pub duration: f64,
    /// Streams whose DTS ever went backwards or repeated.
    pub non_monotonic: Vec<String>,
    /// Longest step between two DTS of one audio or video stream, in seconds.
    pub max_gap: f64,
}

impl Probe {
    pub fn frames(&self, codec: &str) -> u64 {
        self.streams
            .iter()
            .filter(|s| s.1 == codec)
            .map(|s| s.2)
            .sum()
    }

    pub fn count(&self, codec: &str) -> usize {
        self.streams.iter().filter(|s| s.1 == codec).count()
    }
}

pub fn probe(file: &Path) -> Probe {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_packets",
            "-show_entries",
            "stream=index,codec_type,codec_name,nb_read_packets:format=duration",
            "-of",
            "json",
        ])
        .arg(file)
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let duration = json["format"]["duration"]
        .as_str()
        .and_then(|d| d.parse().ok())
        .unwrap_or(0.0);
    // Only audio and video: RTMP servers also send data messages (|RtmpSampleAccess) that
    // ffmpeg records as extra data streams.
    let av: Vec<&serde_json::Value> = json["streams"]
        .as_array()
        .map(|a| a.as_slice())
        .unwrap_or_default()
        .iter()
        .filter(|s| matches!(s["codec_type"].as_str(), Some("video" | "audio")))
        .collect();
    let av_index: Vec<String> = av.iter().map(|s| s["index"].to_string()).collect();
    let streams = av
        .iter()
        .map(|s| {
            (
                s["codec_type"].as_str().unwrap_or("").to_owned(),
                s["codec_name"].as_str().unwrap_or("").to_owned(),
                s["nb_read_packets"]
                    .as_str()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0),
            )
        })
        .collect();
    // DTS per stream must strictly increase; the largest step is the longest gap.
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "packet=stream_index,dts_time",
            "-of",
            "csv=p=0",
        ])
        .arg(file)
        .output()
        .unwrap();
    let mut last: std::collections::HashMap<String, f64> = Default::default();
    let mut non_monotonic = Vec::new();
    let mut max_gap = 0.0f64;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let mut f = line.split(',');
        let (Some(idx), Some(dts)) = (f.next(), f.next()) else {
            continue;
        };
        let Ok(dts) = dts.parse::<f64>() else {
            continue;
        };
        if !av_index.iter().any(|i| i == idx) {
            continue;
        }
        if let Some(prev) = last.insert(idx.to_owned(), dts) {
            if dts <= prev && !non_monotonic.contains(&idx.to_owned()) {
                non_monotonic.push(idx.to_owned());
            }
            max_gap = max_gap.max(dts - prev);
        }
    }
    Probe {
        streams,
        duration,
        non_monotonic,
        max_gap,
    }
}

/// The checks every received stream must pass: H.264 and AAC present, video frames as sent
/// within one GOP, duration likewise, DTS strictly increasing in every stream.
pub fn assert_full_stream(what: &str, file: &Path, secs: u32) {
    assert_full_stream_of("h264", what, file, secs);
}

/// [`assert_full_stream`] for another video codec (ffprobe's name: `hevc`).
pub fn assert_full_stream_of(video_codec: &str, what: &str, file: &Path, secs: u32) {
    let p = probe(file);
    let sent = u64::from(secs * FPS);
    assert!(
        p.count(video_codec) >= 1,
        "{what}: no {video_codec} in {p:?}"
    );
    assert!(p.count("aac") >= 1, "{what}: no AAC in {p:?}");
    let video = p.frames(video_codec);
    assert!(
        video + u64::from(GOP) >= sent && video <= sent,
        "{what}: {video} video frames, sent {sent} (allowed: one GOP of {GOP} less) {p:?}"
    );
    let audio = p.frames("aac");
    // 48 kHz AAC: 46.875 frames a second.
    let audio_sent = u64::from(secs) * 48_000 / 1024;
    assert!(
        audio + 2 * 47 >= audio_sent,
        "{what}: {audio} audio frames, sent about {audio_sent} {p:?}"
    );
    assert!(
        p.duration + 1.0 + f64::from(GOP) / f64::from(FPS) >= f64::from(secs),
        "{what}: duration {} s, sent {secs} s",
        p.duration
    );
    assert!(
        p.non_monotonic.is_empty(),
        "{what}: non-monotonic DTS in streams {:?}",
        p.non_monotonic
    );
}

/// A player that joins an input already live (RTMP pull): it starts at the keyframe before
/// it joined, which on a loaded machine can be seconds after the publisher started (ten
/// ffmpeg players take time to spawn). From there nothing may be missing: no step between
/// two DTS longer than two video frames, DTS strictly increasing, no more frames than sent,
/// and at least `min_secs` of them.
pub fn assert_joined_stream(what: &str, file: &Path, secs: u32, min_secs: u32) {
    let p = probe(file);
    let sent = u64::from(secs * FPS);
    let video = p.frames("h264");
    assert!(p.count("aac") >= 1, "{what}: no AAC in {p:?}");
    assert!(
        video >= u64::from(min_secs * FPS) && video <= sent,
        "{what}: {video} video frames, sent {sent}, at least {min_secs} s expected {p:?}"
    );
    assert!(
        p.max_gap <= 2.0 / f64::from(FPS),
        "{what}: a gap of {} s after joining {p:?}",
        p.max_gap
    );
    assert!(
        p.non_monotonic.is_empty(),
        "{what}: non-monotonic DTS in streams {:?}",
        p.non_monotonic
    );
}

/// The size of a recording; 0 while it does not exist.
pub fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// Waits until a recording stops growing (the writer finished or went idle).
pub fn wait_file_stable(path: &Path) {
    wait_files_stable(&[path.to_owned()]);
}

/// Waits until none of the recordings has grown for 1.5 s.
pub fn wait_files_stable(paths: &[PathBuf]) {
    let mut last: Vec<(u64, Instant)> = vec![(u64::MAX, Instant::now()); paths.len()];
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let pending: Vec<String> = paths
            .iter()
            .zip(last.iter_mut())
            .filter_map(|(p, l)| {
                let len = file_len(p);
                if len != l.0 {
                    *l = (len, Instant::now());
                }
                let stable = len > 0 && l.1.elapsed() > Duration::from_millis(1500);
                (!stable).then(|| format!("{} ({len} bytes)", p.display()))
            })
            .collect();
        if pending.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for recordings to stop growing: {pending:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Where Relevo pushes to reach the [`srt_listener_sink`] on `port` (without its options).
pub fn srt_sink_url(port: u16) -> String {
    format!("srt://127.0.0.1:{port}")
}

/// srt-live-transmit as an SRT listener destination writing what it receives to `out`.
pub fn srt_listener_sink(port: u16, query: &str, out: &Path, log: &Path) -> Proc {
    let p = Proc::spawn(
        "srt-live-transmit",
        Command::new("srt-live-transmit")
            .args([
                "-q",
                &format!("srt://127.0.0.1:{port}?mode=listener{query}"),
                "file://con",
            ])
            .stdout(std::fs::File::create(out).unwrap())
            .stderr(std::fs::File::create(log).unwrap()),
    );
    wait_until(
        "srt-live-transmit to listen",
        Duration::from_secs(10),
        || port_bound("udp", port),
    );
    p
}

/// Where Relevo pushes to reach the [`rtmp_listener_sink`] on `port`.
pub fn rtmp_sink_url(port: u16) -> String {
    format!("rtmp://127.0.0.1:{port}/live/dest")
}

/// ffmpeg as an RTMP server destination (`-listen 1`) recording to `out`.
pub fn rtmp_listener_sink(port: u16, out: &Path, log: &Path) -> Proc {
    let mut p = Proc::spawn(
        "ffmpeg-rtmp-listen",
        ffmpeg()
            .args([
                "-listen",
                "1",
                "-i",
                &rtmp_sink_url(port),
                "-map",
                "0",
                "-c",
                "copy",
                "-f",
                "flv",
            ])
            .arg(out)
            .stderr(std::fs::File::create(log).unwrap()),
    );
    // A probing connect would use up ffmpeg's single accept: read the socket table instead.
    // ffmpeg stops listening once its one caller is in, which a retrying push output may be
    // within milliseconds: an accepted connection counts as ready too. An ffmpeg that exited
    // (its port taken) is reported with its log, not waited for.
    wait_until("ffmpeg to listen for RTMP", Duration::from_secs(30), || {
        assert!(
            p.is_running(),
            "ffmpeg RTMP listener on {port} exited: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        port_bound("tcp", port) || tcp_port_in_state(port, TCP_ESTABLISHED)
    });
    p
}

/// Socket states as `/proc/net/tcp` writes them.
const TCP_ESTABLISHED: &str = "01";
const TCP_LISTEN: &str = "0A";

/// Whether a local port is bound: TCP in LISTEN state, or any UDP socket.
pub fn port_bound(proto: &str, port: u16) -> bool {
    match proto {
        "tcp" => tcp_port_in_state(port, TCP_LISTEN),
        _ => local_port_in(proto, port, |_| true),
    }
}

/// Whether a TCP socket on local `port` is in `state`.
fn tcp_port_in_state(port: u16, state: &str) -> bool {
    local_port_in("tcp", port, |s| s == state)
}

/// Whether `/proc/net/{proto}` (IPv4 or IPv6) has a socket on local `port` whose state
/// passes `state`.
fn local_port_in(proto: &str, port: u16, state: impl Fn(&str) -> bool) -> bool {
    let hex = format!(":{port:04X} ");
    ["", "6"].iter().any(|v| {
        std::fs::read_to_string(format!("/proc/net/{proto}{v}")).is_ok_and(|t| {
            t.lines().skip(1).any(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                f.get(1).is_some_and(|a| format!("{a} ").ends_with(&hex))
                    && f.get(3).is_some_and(|s| state(s))
            })
        })
    })
}

/// nginx with the RTMP module (Debian's libnginx-mod-rtmp) as a real remote RTMP server:
/// `rtmp://127.0.0.1:PORT/live/KEY`, players wait for publishers.
pub fn nginx_rtmp(dir: &TempDir, port: u16) -> Proc {
    let prefix = dir.path("nginx");
    std::fs::create_dir_all(prefix.join("logs")).unwrap();
    let conf = prefix.join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;\n\
             daemon off;\nmaster_process off;\nworker_processes 1;\n\
             error_log {prefix}/logs/error.log info;\npid {prefix}/nginx.pid;\n\
             events {{ worker_connections 256; }}\n\
             rtmp {{ server {{ listen 127.0.0.1:{port}; chunk_size 4096;\n\
               application live {{ live on; wait_key on; wait_video on; }} }} }}\n",
            prefix = prefix.display()
        ),
    )
    .unwrap();
    let p = Proc::spawn(
        "nginx",
        Command::new("nginx")
            .arg("-p")
            .arg(&prefix)
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(prefix.join("stderr.log")).unwrap()),
    );
    wait_until("nginx-rtmp to listen", Duration::from_secs(10), || {
        port_bound("tcp", port)
    });
    p
}

/// One HTTP/1.0 request (JSON body, optional bearer token): (status, body). Status 0 when
/// the server could not be reached.
pub fn http_request(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&serde_json::Value>,
) -> (u16, String) {
    use std::io::Write;
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return (0, String::new());
    };
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n");
    if let Some(t) = token {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    let payload = body.map(|b| b.to_string()).unwrap_or_default();
    if body.is_some() {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            payload.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(&payload);
    if s.write_all(req.as_bytes()).is_err() {
        return (0, String::new());
    }
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    let Some((head, body)) = resp.split_once("\r\n\r\n") else {
        return (0, resp);
    };
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, body.to_owned())
}

impl Drop for Relevo {
    fn drop(&mut self) {
        if self.proc.is_running() {
            self.stop();
        }
    }
}

impl Relevo {
    /// GET as the test admin; the body of a 200 answer.
    pub fn get(&self, path: &str) -> Option<String> {
        let (st, body) = http_request(self.http, "GET", path, Some(self.token()), None);
        (st == 200).then_some(body)
    }

    /// The engine's snapshot as served at `/api/v1/status`.
    pub fn status(&self) -> serde_json::Value {
        self.get("/api/v1/status")
            .and_then(|b| serde_json::from_str(&b).ok())
            .unwrap_or_default()
    }

    /// One output of the status, by input and output name.
    pub fn output_status(&self, input: &str, output: &str) -> serde_json::Value {
        let st = self.status();
        st["inputs"]
            .as_array()
            .and_then(|a| a.iter().find(|i| i["name"] == input))
            .and_then(|i| i["outputs"].as_array())
            .and_then(|a| a.iter().find(|o| o["name"] == output))
            .cloned()
            .unwrap_or_default()
    }
}

impl Relevo {
    /// srt-live-transmit reading `read:KEY` once (no auto-reconnect: if the connection
    /// drops, its recording stops) and writing the raw TS to `out`.
    pub fn srt_reader(&self, key: &str, out: &Path) -> Proc {
        Proc::spawn(
            "srt-live-transmit",
            Command::new("srt-live-transmit")
                .args(["-q", "-a:no"])
                .arg(format!("srt://127.0.0.1:{}?streamid=read:{key}", self.srt))
                .arg("file://con")
                .stdout(std::fs::File::create(out).unwrap())
                .stderr(Stdio::null()),
        )
    }

    /// ffmpeg reading `streamid` over SRT (a `read:KEY`, `#!::r=KEY,m=request` or bare
    /// key) and recording the TS to `out`, its log beside it (`.log`).
    pub fn record_srt(&self, streamid: &str, out: &Path) -> Proc {
        let url = self.srt_url(streamid, "");
        record(
            "srt-recorder",
            &url,
            "mpegts",
            out,
            &out.with_extension("log"),
        )
    }

    /// ffmpeg playing `key` over RTMP and recording the FLV to `out`, its log beside it
    /// (`.log`).
    pub fn record_rtmp(&self, key: &str, out: &Path) -> Proc {
        let url = self.rtmp_url(key);
        record(
            "rtmp-recorder",
            &url,
            "flv",
            out,
            &out.with_extension("log"),
        )
    }
}

/// A memory figure of process `pid` in KiB from `/proc/PID/status`: `VmRSS` (resident now)
/// or `VmHWM` (its peak); 0 once the process is gone.
pub fn vm_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// The status line and headers of a raw HTTP answer: (status, headers with lower-case
/// names, where the body starts).
pub fn parse_http_head(raw: &[u8]) -> (u16, Vec<(String, String)>, usize) {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete answer head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {head:?}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (status, headers, split + 4)
}

/// `len` bytes of garbage from a xorshift32 generator whose state is `x` (deterministic,
/// so a failing case can be replayed): what a port scanner or a broken sender writes.
pub fn garbage(x: &mut u32, len: usize) -> Vec<u8> {
    (0..len)
        .map(|_| {
            *x ^= *x << 13;
            *x ^= *x >> 17;
            *x ^= *x << 5;
            *x as u8
        })
        .collect()
}
