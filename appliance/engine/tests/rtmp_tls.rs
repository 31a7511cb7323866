//! RTMPS: ffmpeg publishing over TLS, certificate renewal without restart, and our push over
//! TLS verifying the server against a test CA.

mod rtmp_support;

use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use relevo_engine::error::LinkError;
use relevo_engine::rtmp::{self, CertReloader, ClientTls, RtmpUrl};
use relevo_engine::unit::FlvKind;
use rtmp_support::*;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const LONG: Duration = Duration::from_secs(60);

async fn openssl(args: &[&str]) {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let mut all = vec![
        "-c".to_string(),
        "openssl \"$@\" 2>/dev/null; echo rc=$?".to_string(),
        "sh".to_string(),
    ];
    all.extend(args);
    let out = output("sh", all).await;
    assert!(out.trim_end().ends_with("rc=0"), "openssl failed: {out}");
}

async fn make_ca(dir: &TempDir) {
    let (key, pem) = (dir.path("ca.key"), dir.path("ca.pem"));
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=Relevo Test CA",
        "-keyout",
        &key.to_string_lossy(),
        "-out",
        &pem.to_string_lossy(),
    ])
    .await;
}

/// Issues a leaf certificate for localhost/127.0.0.1 named `cn` into `cert`/`key`.
async fn make_leaf(dir: &TempDir, cn: &str, cert: &Path, key: &Path) {
    openssl(&[
        "req",
        "-x509",
        "-CA",
        &dir.path("ca.pem").to_string_lossy(),
        "-CAkey",
        &dir.path("ca.key").to_string_lossy(),
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        &format!("/CN={cn}"),
        "-addext",
        "subjectAltName=DNS:localhost,IP:127.0.0.1",
        "-addext",
        "basicConstraints=critical,CA:FALSE",
        "-addext",
        "extendedKeyUsage=serverAuth",
        "-keyout",
        &key.to_string_lossy(),
        "-out",
        &cert.to_string_lossy(),
    ])
    .await;
}

/// The subject of the certificate a new TLS connection to `port` is served.
async fn served_subject(port: u16) -> String {
    let out = output(
        "sh",
        vec![
            "-c".into(),
            format!(
                "openssl s_client -connect 127.0.0.1:{port} -servername localhost </dev/null 2>/dev/null \
                 | openssl x509 -noout -subject"
            ),
        ],
    )
    .await;
    out.trim().to_string()
}

/// ffmpeg publishes over RTMPS and the router gets its tags; a renewed certificate written over
/// the files is served to the next connection without restarting the listener (an invalid one
/// in between is ignored, the old one kept); our push over RTMPS, trusting the test CA, reaches
/// the same listener, and without that CA it fails with a TLS error.
#[tokio::test]
async fn rtmps_publish_reload_and_push() {
    let dir = TempDir::new("rtmps");
    make_ca(&dir).await;
    let (cert, key) = (dir.path("cert.pem"), dir.path("key.pem"));
    make_leaf(&dir, "relevo-one", &cert, &key).await;
    let reloader = CertReloader::new(cert.clone(), key.clone())
        .expect("load cert")
        .with_check_interval(Duration::from_millis(100));
    let server = start_server(Some(Arc::new(reloader))).await;
    let port = server.port;

    // 1. A real encoder over RTMPS.
    let mut child = ffmpeg(
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=320x240:rate=25",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=1000",
            "-t",
            "2",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-g",
            "25",
            "-c:a",
            "aac",
            "-f",
            "flv",
            &format!("rtmps://127.0.0.1:{port}/live/in"),
        ],
        &dir.path("ffmpeg.log"),
    );
    assert!(wait(&mut child, LONG).await, "ffmpeg rtmps publish failed");
    server.router.wait_ended(1).await;
    let first = &server.router.publications()[0];
    assert!(
        video_frames(first) >= 49,
        "video over rtmps: {}",
        video_frames(first)
    );
    assert!(first.iter().any(|t| t.kind == FlvKind::Audio && t.config));
    assert!(served_subject(port).await.contains("relevo-one"));

    // 2. An invalid renewal keeps the old certificate serving.
    std::fs::write(&cert, b"-----BEGIN CERTIFICATE-----\nnot base64\n").expect("write");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(served_subject(port).await.contains("relevo-one"));
    wait_logged(&["RTMPS certificate not reloaded"]).await;

    // 3. A valid renewal (written elsewhere, renamed over the files) is served next.
    let (new_cert, new_key) = (dir.path("new-cert.pem"), dir.path("new-key.pem"));
    make_leaf(&dir, "relevo-two", &new_cert, &new_key).await;
    std::fs::rename(&new_key, &key).expect("rename key");
    std::fs::rename(&new_cert, &cert).expect("rename cert");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let subject = served_subject(port).await;
    assert!(
        subject.contains("relevo-two"),
        "served after renewal: {subject}"
    );

    // 4. Our push over RTMPS, verifying the renewed certificate against the test CA.
    let fixture = read_flv(&make_fixture(&dir).await);
    let url = RtmpUrl::parse(&format!("rtmps://127.0.0.1:{port}/live/in")).expect("url");
    let tls = ClientTls::with_extra_roots(&dir.path("ca.pem")).expect("ca");
    let (tx, mut rx) = mpsc::channel(fixture.len() + 1);
    for tag in &fixture {
        tx.try_send(tag.clone()).expect("queue");
    }
    drop(tx);
    let bytes = AtomicU64::new(0);
    let cancel = CancellationToken::new();
    rtmp::push(&url, &tls, &mut rx, &bytes, &cancel)
        .await
        .expect("push over rtmps");
    server.router.wait_ended(2).await;
    let pushed = &server.router.publications()[1];
    assert_eq!(video_frames(pushed), video_frames(&fixture));
    assert_eq!(
        pushed.iter().filter(|t| t.kind != FlvKind::Meta).count(),
        fixture.iter().filter(|t| t.kind != FlvKind::Meta).count()
    );

    // 5. Without the test CA the server is not trusted.
    let (_tx, mut rx) = mpsc::channel(1);
    let result = rtmp::push(&url, &ClientTls::new(), &mut rx, &bytes, &cancel).await;
    assert!(matches!(result, Err(LinkError::Tls(_))), "{result:?}");
}
