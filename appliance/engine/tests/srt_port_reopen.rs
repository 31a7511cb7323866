//! An input's own SRT port closed and opened again at once (the input disabled, then
//! enabled): libsrt still holds the port for a few seconds after its listener closed (its
//! multiplexer on our UDP socket goes with its garbage collector), and the new listener waits
//! for it quietly instead of reporting the port as taken.

mod rtmp_support;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use relevo_engine::hls::HlsConfig;
use relevo_engine::spec::{
    key_len, DesiredState, GracePeriod, InputSource, InputSpec, Latency, Name, Passphrase,
    SrtSecurity, StreamKey,
};
use relevo_srt::{CallerOptions, Encryption, KeyLen, SrtStream};
use rtmp_support::{logged, start_engine, wait_logged, TempDir};

const PASS: &str = "reopen-passphrase";
/// Bound on the wait for the port to answer again; libsrt frees it within about 5 s.
const LIMIT: Duration = Duration::from_secs(30);

fn desired(port: u16, enabled: bool) -> DesiredState {
    DesiredState {
        inputs: vec![InputSpec {
            name: Name::new("reopen").expect("name"),
            enabled,
            source: InputSource::Listen {
                key: StreamKey::new("reopen-key").expect("key"),
                security: Some(SrtSecurity {
                    passphrase: Passphrase::new(PASS).expect("passphrase"),
                    key_len: key_len(16).expect("key length"),
                }),
                latency: Latency::new(120).expect("latency"),
                srt_port: Some(port),
            },
            grace: GracePeriod::from_secs(0).expect("grace"),
            backup: None,
            outputs: vec![],
        }],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_own_port_closed_and_opened_again_at_once_is_not_reported_taken() {
    let port = UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("free port")
        .port();
    let dir = TempDir::new("reopen");
    let engine = start_engine(&dir, false, HlsConfig::default()).await;
    engine.apply(&desired(port, true)).expect("apply");
    let addr = format!("addr=127.0.0.1:{port}");
    wait_logged(&["SRT listening on an input's own port", &addr]).await;

    engine.apply(&desired(port, false)).expect("disable");
    wait_logged(&["input's own SRT port closed", &addr]).await;
    engine.apply(&desired(port, true)).expect("enable again");

    // A publisher gets in once libsrt has let the port go.
    let opts = CallerOptions {
        encryption: Some(Encryption {
            passphrase: PASS.into(),
            key_len: KeyLen::Aes128,
        }),
        connect_timeout: Duration::from_secs(1),
        ..CallerOptions::default()
    };
    let deadline = Instant::now() + LIMIT;
    let target = ([127, 0, 0, 1], port).into();
    let publisher = loop {
        match SrtStream::connect(target, opts.clone()).await {
            Ok(stream) => break stream,
            Err(e) => assert!(Instant::now() < deadline, "the port never answered: {e}"),
        }
    };
    drop(publisher);
    assert!(
        !logged(&["cannot listen on the input's own SRT port"]),
        "the port was reported taken while libsrt released it"
    );
    engine.shutdown(Duration::from_secs(5)).await;
}
