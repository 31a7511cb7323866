//! libsrt's buffer options sized for sending ([`Buffers::for_sender`]) reach the socket:
//! before `srt_connect` on a caller, in the listen callback on an accepted socket; a
//! connection accepted without them keeps libsrt's defaults. Read back with
//! `srt_getsockflag` on the connected sockets.

mod common;

use std::time::Duration;

use common::any_local;
use relevo_srt::{
    Buffers, CallerOptions, Decision, ListenerOptions, SrtListener, SrtStream, RECV_BUFFER_SIZE,
};

/// libsrt 1.5.1's defaults (`SRTO_SNDBUF`/`SRTO_RCVBUF` 8192 packets, `SRTO_FC` 25600).
const DEFAULTS: Buffers = Buffers {
    send: 8192,
    recv: 8192,
    flow: 25600,
};

/// Accepts `read` with buffers for sending at 6 Mbit/s and 200 ms, anything else with
/// libsrt's defaults.
fn listener() -> SrtListener {
    SrtListener::bind(any_local(), ListenerOptions::default(), |req| {
        Decision::Accept {
            encryption: None,
            latency_ms: 200,
            tag: 0,
            buffers: (req.stream_id == "read").then(|| Buffers::for_sender(200, 6_000_000)),
        }
    })
    .expect("bind")
}

async fn connect(
    listener: &SrtListener,
    stream_id: &str,
    buffers: Option<Buffers>,
) -> (SrtStream, SrtStream) {
    let opts = CallerOptions {
        stream_id: Some(stream_id.into()),
        latency_ms: 200,
        connect_timeout: Duration::from_secs(2),
        buffers,
        ..CallerOptions::default()
    };
    let (caller, accepted) = tokio::join!(
        SrtStream::connect(listener.local_addr(), opts),
        listener.accept()
    );
    (caller.expect("connect"), accepted.expect("accept").0)
}

#[tokio::test]
async fn sized_buffers_reach_a_caller_and_an_accepted_reader() {
    let listener = listener();
    let sized = Buffers::for_sender(200, 6_000_000);
    assert_eq!(
        sized.send, 1086,
        "6 Mbit/s × (1020 + 250) ms × 1.5 in 1316-byte packets"
    );

    // A push output: the caller sends, with its own sized buffers.
    let (caller, accepted) = connect(&listener, "publish", Some(sized)).await;
    assert_eq!(caller.buffers().expect("caller"), sized);
    assert_eq!(accepted.buffers().expect("publisher side"), DEFAULTS);

    // A reader: the accepted socket sends, sized in the listen callback.
    let (reader, accepted) = connect(&listener, "read", None).await;
    assert_eq!(accepted.buffers().expect("reader side"), sized);
    assert_eq!(reader.buffers().expect("reader"), DEFAULTS);

    // And data flows through the small receive side: a burst four times the send buffer.
    let sender = tokio::spawn(async move {
        for i in 0..4 * sized.send {
            let mut msg = [0x47u8; 1316];
            msg[1..5].copy_from_slice(&i.to_be_bytes());
            accepted.send(&msg).await.expect("send");
        }
        accepted
    });
    let mut buf = [0u8; RECV_BUFFER_SIZE];
    for i in 0..4 * sized.send {
        let n = tokio::time::timeout(Duration::from_secs(5), reader.recv(&mut buf))
            .await
            .expect("in time")
            .expect("recv");
        assert_eq!(n, 1316);
        assert_eq!(buf[1..5], i.to_be_bytes(), "message {i} in order");
    }
    let _accepted = sender.await.expect("sender");
    assert_eq!(reader.stats().pkt_loss_recv, 0);
}
