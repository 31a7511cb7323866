//! RTMP client behaviour as OBS and ffmpeg show it to servers: the publish sequence of push
//! outputs, seen by a raw server that records every command it receives; pulling from
//! ffmpeg's own RTMP server (`-listen 1`), which sends media on message stream 0.

mod rtmp_support;

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use relevo_engine::error::LinkError;
use relevo_engine::rtmp::{self, ClientTls, FlvIngest, RtmpUrl};
use relevo_engine::unit::{FlvKind, FlvTag};
use rml_rtmp::chunk_io::{ChunkDeserializer, ChunkSerializer};
use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rml_rtmp::messages::RtmpMessage;
use rml_rtmp::rml_amf0::Amf0Value;
use rml_rtmp::time::RtmpTimestamp;
use rtmp_support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const LONG: Duration = Duration::from_secs(30);

/// An AMF0 object of string properties.
fn object(pairs: &[(&str, &str)]) -> Amf0Value {
    Amf0Value::Object(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Amf0Value::Utf8String(v.to_string())))
            .collect(),
    )
}

/// A minimal RTMP server for one client: it accepts `connect`, `createStream` (stream 1) and
/// `publish`, answers nothing else, and returns the name of every command it received, in
/// order, once the client hangs up.
async fn record_commands(listener: TcpListener) -> Vec<String> {
    let (mut tcp, _) = listener.accept().await.expect("accept");
    let mut handshake = Handshake::new(PeerType::Server);
    let p0p1 = handshake.generate_outbound_p0_and_p1().expect("S0+S1");
    tcp.write_all(&p0p1).await.expect("send S0+S1");
    let mut buf = vec![0u8; 65536];
    let mut pending = loop {
        let n = tcp.read(&mut buf).await.expect("read handshake");
        assert!(n > 0, "closed during the handshake");
        match handshake.process_bytes(&buf[..n]).expect("handshake") {
            HandshakeProcessResult::InProgress { response_bytes } => {
                tcp.write_all(&response_bytes).await.expect("send");
            }
            HandshakeProcessResult::Completed {
                response_bytes,
                remaining_bytes,
            } => {
                tcp.write_all(&response_bytes).await.expect("send");
                break remaining_bytes;
            }
        }
    };
    let mut reader = ChunkDeserializer::new();
    let mut writer = ChunkSerializer::new();
    let mut names = Vec::new();
    loop {
        let mut input: &[u8] = &pending;
        while let Some(payload) = reader.get_next_message(input).expect("chunks") {
            input = &[];
            let stream_id = payload.message_stream_id;
            let message = payload.to_rtmp_message().expect("message");
            let reply = match message {
                RtmpMessage::SetChunkSize { size } => {
                    reader.set_max_chunk_size(size as usize).expect("size");
                    None
                }
                RtmpMessage::Amf0Command {
                    command_name,
                    transaction_id,
                    ..
                } => {
                    names.push(command_name.clone());
                    let status = |code: &str| {
                        object(&[("level", "status"), ("code", code), ("description", code)])
                    };
                    match command_name.as_str() {
                        "connect" => Some((
                            0,
                            "_result",
                            transaction_id,
                            vec![status("NetConnection.Connect.Success")],
                        )),
                        "createStream" => {
                            Some((0, "_result", transaction_id, vec![Amf0Value::Number(1.0)]))
                        }
                        "publish" => Some((
                            stream_id,
                            "onStatus",
                            0.0,
                            vec![status("NetStream.Publish.Start")],
                        )),
                        _ => None,
                    }
                }
                _ => None,
            };
            if let Some((stream, name, transaction_id, additional_arguments)) = reply {
                let message = RtmpMessage::Amf0Command {
                    command_name: name.to_string(),
                    transaction_id,
                    command_object: Amf0Value::Null,
                    additional_arguments,
                };
                let payload = message
                    .into_message_payload(RtmpTimestamp::new(0), stream)
                    .expect("payload");
                let packet = writer.serialize(&payload, true, false).expect("chunks");
                tcp.write_all(&packet.bytes).await.expect("reply");
            }
        }
        let n = tcp.read(&mut buf).await.unwrap_or(0);
        if n == 0 {
            return names;
        }
        pending = buf[..n].to_vec();
    }
}

/// A push output announces its stream as OBS and ffmpeg do (`releaseStream`, `FCPublish`,
/// then `createStream` and `publish`) and withdraws it the same way (`FCUnpublish`, then
/// `deleteStream`) when its feed ends.
#[tokio::test]
async fn push_sends_the_obs_publish_sequence() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let server = tokio::spawn(record_commands(listener));
    let url = RtmpUrl::parse(&format!("rtmp://127.0.0.1:{port}/live/key")).expect("url");
    let (tx, mut rx) = mpsc::channel(1);
    drop(tx);
    let (bytes, tls, cancel) = (
        AtomicU64::new(0),
        ClientTls::new(),
        CancellationToken::new(),
    );
    let pushed = rtmp::push(&url, &tls, &mut rx, &bytes, &cancel);
    tokio::time::timeout(LONG, pushed)
        .await
        .expect("push in time")
        .expect("push");
    let names = tokio::time::timeout(LONG, server)
        .await
        .expect("server in time")
        .expect("server");
    assert_eq!(
        names,
        [
            "connect",
            "releaseStream",
            "FCPublish",
            "createStream",
            "publish",
            "FCUnpublish",
            "deleteStream"
        ]
    );
}

struct Collect(Vec<FlvTag>);

impl FlvIngest for Collect {
    fn push(&mut self, tag: FlvTag) {
        self.0.push(tag);
    }
}

/// Our pull plays from ffmpeg acting as the RTMP server (`-f flv -listen 1`), which answers
/// `play` on stream 1 but sends the media on message stream 0 (`rml_rtmp`'s client drops
/// it) and answers `FCPublish`-style commands with one-value commands: every video frame
/// and audio packet of the file arrives, sequence headers first, with the metadata.
#[tokio::test]
async fn pull_from_ffmpeg_listen_server_gets_every_frame() {
    let dir = TempDir::new("rtmp-pull-ffmpeg-server");
    let fixture_path = make_fixture(&dir).await;
    let fixture = read_flv(&fixture_path);
    let port = free_port().await;
    let listen = format!("rtmp://127.0.0.1:{port}/live/x");
    let mut server = ffmpeg(
        &[
            "-re",
            "-i",
            &fixture_path.to_string_lossy(),
            "-c",
            "copy",
            "-f",
            "flv",
            "-listen",
            "1",
            &listen,
        ],
        &dir.path("server.log"),
    );
    let url = RtmpUrl::parse(&listen).expect("url");
    let (tls, cancel) = (ClientTls::new(), CancellationToken::new());
    let mut ingest = Collect(Vec::new());
    let deadline = std::time::Instant::now() + LONG;
    let result = loop {
        match rtmp::pull(&url, &tls, &mut ingest, &cancel).await {
            Err(LinkError::Refused) if std::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => break other,
        }
    };
    // ffmpeg closes the connection when the file ends, without a status.
    assert!(
        matches!(result, Ok(()) | Err(LinkError::Closed)),
        "{result:?}"
    );
    assert!(wait(&mut server, LONG).await, "ffmpeg server failed");
    let tags = ingest.0;
    let video: Vec<&FlvTag> = tags.iter().filter(|t| t.kind == FlvKind::Video).collect();
    assert!(
        video.first().is_some_and(|t| t.config),
        "sequence header first"
    );
    assert_eq!(video_frames(&tags), video_frames(&fixture));
    assert_eq!(
        count(&tags, FlvKind::Audio),
        count(&fixture, FlvKind::Audio)
    );
    assert!(tags.iter().any(|t| t.kind == FlvKind::Meta));
}
