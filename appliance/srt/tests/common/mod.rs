//! Helpers shared by the integration tests: free ports, child processes, listeners.
#![allow(dead_code)]

use std::net::{SocketAddr, UdpSocket};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use relevo_srt::{
    ConnectRequest, Decision, Encryption, KeyLen, ListenerOptions, RejectCode, SrtListener,
};
use tokio::process::{Child, Command};

pub const PASS: &str = "correct horse battery";
pub const WRONG_PASS: &str = "wrong horse battery";

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("debug")
        .with_test_writer()
        .try_init();
}

/// A UDP port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    let s = UdpSocket::bind("127.0.0.1:0").expect("bind ephemeral UDP port");
    s.local_addr().expect("local addr").port()
}

pub fn any_local() -> SocketAddr {
    "127.0.0.1:0".parse().expect("literal")
}

pub fn enc(key_len: KeyLen) -> Option<Encryption> {
    Some(Encryption {
        passphrase: PASS.into(),
        key_len,
    })
}

/// A listener that accepts stream id `publish:abc` with PASS/AES-256 (tag 7), `open` without
/// encryption (tag 8), and rejects anything else with NotFound. Records every request.
pub fn test_listener() -> (SrtListener, Arc<Mutex<Vec<ConnectRequest>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let listener = SrtListener::bind(any_local(), ListenerOptions::default(), move |req| {
        log.lock().expect("lock").push(req.clone());
        match req.stream_id.as_str() {
            "publish:abc" => Decision::Accept {
                encryption: enc(KeyLen::Aes256),
                latency_ms: 200,
                tag: 7,
                buffers: None,
            },
            "open" => Decision::Accept {
                encryption: None,
                latency_ms: 200,
                tag: 8,
                buffers: None,
            },
            "panic" => panic!("decision panics on purpose"),
            _ => Decision::Reject(RejectCode::NotFound),
        }
    })
    .expect("bind listener");
    (listener, seen)
}

/// Spawns a child with piped stdio, killed when dropped.
pub fn spawn(program: &str, args: &[&str]) -> Child {
    Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {program}: {e}"))
}

/// Waits for a child with a timeout and returns (success, stdout, stderr). The limit only
/// stops a hung peer from hanging the suite: callers give it room for a loaded machine.
pub async fn finish(child: Child, limit: Duration) -> (bool, Vec<u8>, String) {
    let (status, out, err) = collect(child, limit).await;
    let success = status.expect("child did not exit in time");
    (success, out, err)
}

/// [`finish`] for a rejected caller, whose only job is to report the rejection: what it
/// wrote is returned even if it does not exit by itself within `limit` (it is then killed).
/// A CI run once saw srt-live-transmit linger after printing its rejection; the callers
/// assert on what it printed, which is what the tests are about.
pub async fn finish_rejected(child: Child, limit: Duration) -> (bool, Vec<u8>, String) {
    let (status, out, err) = collect(child, limit).await;
    (status.unwrap_or(false), out, err)
}

/// Everything a child writes, and whether it exited successfully within `limit` (`None`:
/// it did not exit and was killed).
async fn collect(mut child: Child, limit: Duration) -> (Option<bool>, Vec<u8>, String) {
    use tokio::io::AsyncReadExt;
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let read = async {
        if let Some(s) = stdout.as_mut() {
            let _ = s.read_to_end(&mut out).await;
        }
    };
    let read_err = async {
        if let Some(s) = stderr.as_mut() {
            let _ = s.read_to_end(&mut err).await;
        }
    };
    let status = async {
        match tokio::time::timeout(limit, child.wait()).await {
            Ok(st) => Some(st.expect("wait child").success()),
            Err(_) => {
                let _ = child.kill().await;
                None
            }
        }
    };
    let (status, (), ()) = tokio::join!(status, read, read_err);
    (status, out, String::from_utf8_lossy(&err).into_owned())
}

/// An MPEG-TS file of `secs` seconds of test pattern, made once per call with ffmpeg.
pub async fn make_ts(path: &std::path::Path, secs: u32) {
    let status = Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
        ])
        .arg(format!("testsrc=size=320x240:rate=25:duration={secs}"))
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-b:v",
            "1M",
            "-f",
            "mpegts",
        ])
        .arg(path)
        .kill_on_drop(true)
        .status()
        .await
        .expect("run ffmpeg");
    assert!(status.success(), "ffmpeg could not make the test file");
}

/// A unique path in the temp directory for this test process.
pub fn temp_path(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("relevo-srt-{}-{name}", std::process::id()))
}

/// Receives until the peer closes (or `limit` passes) and returns everything received.
pub async fn recv_all(stream: &relevo_srt::SrtStream, limit: Duration) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; relevo_srt::RECV_BUFFER_SIZE];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, stream.recv(&mut buf)).await {
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Ok(Err(relevo_srt::SrtError::Closed)) | Err(_) => return out,
            Ok(Err(e)) => panic!("recv failed: {e}"),
        }
    }
}

/// Asserts `data` is whole MPEG-TS packets, each starting with the sync byte.
pub fn assert_ts(data: &[u8]) {
    assert!(!data.is_empty(), "nothing received");
    assert_eq!(
        data.len() % 188,
        0,
        "{} bytes is not whole TS packets",
        data.len()
    );
    assert!(
        data.chunks(188).all(|p| p[0] == 0x47),
        "TS sync byte missing"
    );
}

/// Number of video frames ffprobe decodes from a TS file.
pub async fn count_frames(path: &std::path::Path) -> u32 {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
        .args(["-show_entries", "stream=nb_read_frames", "-of", "csv=p=0"])
        .arg(path)
        .kill_on_drop(true)
        .output()
        .await
        .expect("run ffprobe");
    // ffprobe prints the count once per program and once per stream: take the first.
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.trim().parse().ok())
        .unwrap_or(0)
}

/// ffmpeg publishing `file` in real time to our listener with the given SRT URL query.
pub fn ffmpeg_publish(file: &std::path::Path, port: u16, query: &str) -> Child {
    let url = format!("srt://127.0.0.1:{port}?{query}");
    let file = file.to_str().expect("utf-8 path");
    spawn(
        "ffmpeg",
        &[
            "-hide_banner",
            "-loglevel",
            "warning",
            "-re",
            "-i",
            file,
            "-c",
            "copy",
            "-f",
            "mpegts",
            &url,
        ],
    )
}
