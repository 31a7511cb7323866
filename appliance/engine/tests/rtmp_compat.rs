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

/// What [`record_commands`] received.
struct Received {
    /// The name of every command, in order.
    commands: Vec<String>,
    /// The body of every AMF0 data message, in order.
    data: Vec<Vec<u8>>,
}

/// A minimal RTMP server for one client: it accepts `connect`, `createStream` (stream 1) and
/// `publish`, answers `releaseStream` with `_error` when `refuse_release` (as servers do
/// when nothing is published under that key yet) and nothing else, and returns what it
/// received once the client hangs up.
async fn record_commands(listener: TcpListener, refuse_release: bool) -> Received {
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
    let mut data = Vec::new();
    loop {
        let mut input: &[u8] = &pending;
        while let Some(payload) = reader.get_next_message(input).expect("chunks") {
            input = &[];
            let stream_id = payload.message_stream_id;
            if payload.type_id == 18 {
                data.push(payload.data.to_vec());
            }
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
                        "releaseStream" if refuse_release => Some((
                            0,
                            "_error",
                            transaction_id,
                            vec![object(&[
                                ("level", "error"),
                                ("code", "NetConnection.Call.Failed"),
                                ("description", "no such stream"),
                            ])],
                        )),
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
            return Received {
                commands: names,
                data,
            };
        }
        pending = buf[..n].to_vec();
    }
}

/// A push output announces its stream as OBS and ffmpeg do (`releaseStream`, `FCPublish`,
/// then `createStream` and `publish`) and withdraws it the same way (`FCUnpublish`, then
/// `deleteStream`) when its feed ends.
#[tokio::test]
async fn push_sends_the_obs_publish_sequence() {
    publish_sequence(false).await;
}

/// A server that answers `releaseStream` with `_error` does not refuse the push: only the
/// answer to `publish` decides.
#[tokio::test]
async fn an_error_answer_to_release_stream_does_not_refuse_the_push() {
    publish_sequence(true).await;
}

async fn publish_sequence(refuse_release: bool) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let server = tokio::spawn(record_commands(listener, refuse_release));
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
    let received = tokio::time::timeout(LONG, server)
        .await
        .expect("server in time")
        .expect("server");
    assert_eq!(
        received.commands,
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

/// `onMetaData` as OBS writes it, with a key of its own that `rml_rtmp`'s `StreamMetadata`
/// has no field for, and a duration.
fn on_meta_data() -> Vec<u8> {
    let mut body = amf_string("onMetaData");
    body.extend(amf_object(&[
        ("width", amf_number(320.0)),
        ("height", amf_number(240.0)),
        ("duration", amf_number(0.0)),
        (
            "encoder",
            amf_string("obs-output module (libobs version 30.2.0)"),
        ),
        ("x_relevo_custom", amf_string("kept")),
    ]));
    body
}

/// The string properties of an FLV script-data body (`onMetaData`, object).
fn script_strings(body: &[u8]) -> Vec<(String, String)> {
    let values = rml_rtmp::rml_amf0::deserialize(&mut std::io::Cursor::new(body)).expect("AMF0");
    let mut values = values.into_iter();
    assert_eq!(
        values.next().and_then(Amf0Value::get_string).as_deref(),
        Some("onMetaData")
    );
    let mut strings: Vec<(String, String)> = values
        .next()
        .and_then(Amf0Value::get_object_properties)
        .expect("an object")
        .into_iter()
        .filter_map(|(k, v)| v.get_string().map(|v| (k, v)))
        .collect();
    strings.sort();
    strings
}

/// A publisher (raw chunks, everything in one write after the handshake, as a pipelining
/// encoder) sends a bare `@setDataFrame`, one without an object, one with an empty object,
/// then OBS's metadata with a custom key, then video: nothing panics, the stream goes on
/// (every video tag arrives), and the metadata reaches the input with every field, then a
/// player of ours (our pull, one hop further) with every field too.
#[tokio::test]
async fn bare_set_data_frame_is_skipped_and_metadata_fields_cross_hops() {
    let server = start_server(None).await;
    let mut tcp = handshake(server.port).await;
    let tc_url = format!("rtmp://127.0.0.1:{}/live", server.port);
    let PublishCommands {
        connect,
        create,
        publish,
    } = publish_commands(Some(&tc_url), "in");
    let frame = amf_string("@setDataFrame");
    let mut no_object = frame.clone();
    no_object.extend(amf_string("onMetaData"));
    let mut empty = no_object.clone();
    empty.extend(amf_object(&[]));
    let mut full = frame.clone();
    full.extend(on_meta_data());

    let mut bytes = message(3, 20, 0, 0, &connect);
    bytes.extend(message(3, 20, 0, 0, &create));
    bytes.extend(message(4, 20, 1, 0, &publish));
    for data in [&frame, &no_object, &empty, &full] {
        bytes.extend(message(5, 18, 1, 0, data));
    }
    // An AVC sequence header, then a keyframe and four frames (25 fps).
    bytes.extend(message(
        6,
        9,
        1,
        0,
        &[0x17, 0, 0, 0, 0, 1, 0x42, 0, 0x1e, 0xff],
    ));
    for i in 0..5u32 {
        let head = if i == 0 { 0x17 } else { 0x27 };
        bytes.extend(message(6, 9, 1, i * 40, &[head, 1, 0, 0, 0, i as u8]));
    }
    tcp.write_all(&bytes).await.expect("publish");

    let deadline = tokio::time::Instant::now() + LONG;
    let tags = loop {
        let tags = server.router.publications().pop().unwrap_or_default();
        if count(&tags, FlvKind::Video) == 6 {
            break tags;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the stream stopped: {} tags, logs: {:?}",
            tags.len(),
            logged(&["panicked"])
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let metas: Vec<&FlvTag> = tags.iter().filter(|t| t.kind == FlvKind::Meta).collect();
    let want = vec![
        (
            "encoder".to_string(),
            "obs-output module (libobs version 30.2.0)".to_string(),
        ),
        ("x_relevo_custom".to_string(), "kept".to_string()),
    ];
    // The empty object is metadata too (with no fields); the bare frames are skipped.
    assert_eq!(metas.len(), 2, "{metas:?}");
    assert_eq!(script_strings(&metas[1].body), want);
    assert_eq!(
        &metas[1].body[..],
        &on_meta_data()[..],
        "kept byte for byte"
    );

    // One hop further: our pull plays it from our server (the publisher still connected).
    let url = RtmpUrl::parse(&format!("{tc_url}/in")).expect("url");
    let (tls, cancel) = (ClientTls::new(), CancellationToken::new());
    let stop = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(2)).await;
        stop.cancel();
    });
    let mut ingest = Collect(Vec::new());
    let pulled = rtmp::pull(&url, &tls, &mut ingest, &cancel).await;
    assert_eq!(pulled, Ok(()));
    let last_meta = ingest
        .0
        .iter()
        .filter(|t| t.kind == FlvKind::Meta)
        .last()
        .expect("the player got metadata");
    assert_eq!(script_strings(&last_meta.body), want);
    drop(tcp);
    server.router.wait_ended(1).await;
}

/// A push output sends the metadata its input got with every field (as `@setDataFrame`,
/// `onMetaData`, the object byte for byte), not only those `rml_rtmp` has fields for.
#[tokio::test]
async fn push_keeps_every_metadata_field() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let server = tokio::spawn(record_commands(listener, false));
    let url = RtmpUrl::parse(&format!("rtmp://127.0.0.1:{port}/live/key")).expect("url");
    let (tx, mut rx) = mpsc::channel(2);
    let body = bytes::Bytes::from(on_meta_data());
    tx.try_send(FlvTag::new(FlvKind::Meta, 0, body, false, false))
        .expect("queue");
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
    let received = tokio::time::timeout(LONG, server)
        .await
        .expect("server in time")
        .expect("server");
    let mut want = amf_string("@setDataFrame");
    want.extend(on_meta_data());
    assert_eq!(received.data, [want]);
}

/// A bare `@setDataFrame` before `publish`, while `rml_rtmp`'s server session still reads
/// the connection (its `@setDataFrame` handler indexes a value that is not there): the
/// publication that follows is served whole.
#[tokio::test]
async fn bare_set_data_frame_before_publish_does_not_end_the_connection() {
    let server = start_server(None).await;
    let mut tcp = handshake(server.port).await;
    let tc_url = format!("rtmp://127.0.0.1:{}/live", server.port);
    let PublishCommands {
        connect,
        create,
        publish,
    } = publish_commands(Some(&tc_url), "in");
    let mut bytes = message(3, 20, 0, 0, &connect);
    bytes.extend(message(3, 20, 0, 0, &create));
    bytes.extend(message(5, 18, 1, 0, &amf_string("@setDataFrame")));
    bytes.extend(message(4, 20, 1, 0, &publish));
    let mut full = amf_string("@setDataFrame");
    full.extend(on_meta_data());
    bytes.extend(message(5, 18, 1, 0, &full));
    bytes.extend(message(
        6,
        9,
        1,
        0,
        &[0x17, 0, 0, 0, 0, 1, 0x42, 0, 0x1e, 0xff],
    ));
    for i in 0..5u32 {
        let head = if i == 0 { 0x17 } else { 0x27 };
        bytes.extend(message(6, 9, 1, i * 40, &[head, 1, 0, 0, 0, i as u8]));
    }
    tcp.write_all(&bytes).await.expect("publish");
    let deadline = tokio::time::Instant::now() + LONG;
    loop {
        let tags = server.router.publications().pop().unwrap_or_default();
        if count(&tags, FlvKind::Video) == 6 {
            assert_eq!(count(&tags, FlvKind::Meta), 1);
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the stream stopped: {} tags",
            tags.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!logged(&["panicked"]), "no panic was caught");
}
