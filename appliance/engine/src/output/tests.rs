//! The pre-flight gate of a push output against a hub fed by hand (RTMP tags).

use std::time::SystemTime;

use bytes::Bytes;
use relevo_media::flv;
use relevo_media::frame::Codec;

use super::*;
use crate::metrics::{CompatSeverity, PublisherInfo};
use crate::rtmp::RtmpUrl;
use crate::spec::Platform;
use crate::unit::FlvKind;

fn info() -> PublisherInfo {
    PublisherInfo {
        protocol: "rtmp",
        peer: "encoder".into(),
        since: SystemTime::now(),
    }
}

fn push_to(platform: Platform) -> OutputSpec {
    OutputSpec {
        name: Name::new("out").expect("name"),
        enabled: true,
        kind: OutputKind::PushRtmp {
            url: RtmpUrl::parse("rtmp://127.0.0.1:1935/app/key").expect("url"),
            enhanced: false,
            platform: Some(platform),
        },
    }
}

fn avc_config() -> FlvTag {
    let cfg = relevo_media::VideoConfig {
        codec: Codec::H264,
        vps: None,
        sps: Bytes::from_static(&[0x67, 0x64, 0x00, 0x0C, 0xAC, 0xD9]),
        pps: Bytes::from_static(&[0x68, 0xEB, 0xE3, 0xCB]),
    };
    FlvTag::new(
        FlvKind::Video,
        0,
        flv::video_config_body(&cfg, false),
        false,
        true,
    )
}

fn avc_keyframe() -> FlvTag {
    let frame = relevo_media::Frame {
        codec: Codec::H264,
        pts: 0,
        dts: 0,
        keyframe: true,
        data: Bytes::from_static(&[0, 0, 0, 1, 0x65, 0x88, 0x84, 0x00]),
    };
    FlvTag::new(
        FlvKind::Video,
        0,
        flv::video_frame_body(&frame, 0, false),
        true,
        false,
    )
}

/// An FLV audio tag of SoundFormat `format` (FLV v10.1 §E.4.2.1: 2 MP3, 10 AAC).
fn audio(format: u8) -> FlvTag {
    FlvTag::new(
        FlvKind::Audio,
        0,
        Bytes::from(vec![format << 4 | 0x0F, 0x01, 0x21, 0x10]),
        false,
        false,
    )
}

struct Gate1 {
    hub: Arc<Hub>,
    counters: OutputCounters,
    live: watch::Receiver<bool>,
    cancel: CancellationToken,
}

fn setup() -> Gate1 {
    let hub = Hub::new("in");
    hub.set_wants(false, true);
    hub.set_grace(Duration::ZERO);
    Gate1 {
        live: hub.live(),
        hub,
        counters: OutputCounters::default(),
        cancel: CancellationToken::new(),
    }
}

impl Gate1 {
    async fn run(&mut self, spec: &OutputSpec) -> Gate {
        let input = Name::new("in").expect("name");
        let mut log = HoldLog::default();
        gate(
            &self.hub,
            &input,
            spec,
            &self.counters,
            &mut self.live,
            &self.cancel,
            &mut log,
        )
        .await
    }
}

#[tokio::test]
async fn a_warning_lets_the_push_go_and_is_reported() {
    let mut g = setup();
    let publisher = g.hub.attach(info()).expect("publisher");
    publisher.push_flv(avc_config());
    publisher.push_flv(avc_keyframe());
    let checked = match g.run(&push_to(Platform::YouTube)).await {
        Gate::Go(c) => c,
        _ => panic!("held back"),
    };
    assert_eq!(
        checked,
        Some(StreamCodecs {
            video: Some("h264".into()),
            audio: None
        })
    );
    let compat = g.counters.compat();
    assert_eq!(
        compat
            .iter()
            .map(|p| (p.severity, p.code))
            .collect::<Vec<_>>(),
        [(CompatSeverity::Warning, preflight::NO_AUDIO)]
    );
    assert_ne!(g.counters.state(), FlowState::Incompatible);
}

#[tokio::test]
async fn an_error_holds_the_push_until_the_input_ends() {
    let mut g = setup();
    let publisher = g.hub.attach(info()).expect("publisher");
    // MP3 audio, which Twitch does not take.
    publisher.push_flv(avc_config());
    publisher.push_flv(audio(2));
    publisher.push_flv(avc_keyframe());
    let spec = push_to(Platform::Twitch);
    let counters = &g.counters;
    let held = async move {
        while counters.state() != FlowState::Incompatible {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let compat = counters.compat();
        drop(publisher);
        compat
    };
    let input = Name::new("in").expect("name");
    let mut log = HoldLog::default();
    let (outcome, compat) = tokio::join!(
        gate(
            &g.hub,
            &input,
            &spec,
            counters,
            &mut g.live,
            &g.cancel,
            &mut log
        ),
        held
    );
    assert!(matches!(outcome, Gate::InputEnded));
    assert_eq!(
        compat
            .iter()
            .map(|p| (p.severity, p.code, p.found.as_str()))
            .collect::<Vec<_>>(),
        [(CompatSeverity::Error, preflight::AUDIO_CODEC, "mp3")]
    );
}

#[tokio::test]
async fn a_publication_whose_codecs_stay_unknown_is_pushed_after_the_wait() {
    // RTMP audio without video: the hub names codecs at the first video frame, which never
    // comes. The output is pushed as before the pre-flight, without a report.
    let mut g = setup();
    let publisher = g.hub.attach(info()).expect("publisher");
    publisher.push_flv(audio(10));
    let started = Instant::now();
    assert!(matches!(
        g.run(&push_to(Platform::YouTube)).await,
        Gate::Go(None)
    ));
    assert!(started.elapsed() >= CODECS_WAIT);
    assert!(g.counters.compat().is_empty());
    drop(publisher);
}

#[tokio::test]
async fn an_srt_push_is_never_held() {
    let mut g = setup();
    let _publisher = g.hub.attach(info()).expect("publisher");
    let spec = OutputSpec {
        name: Name::new("out").expect("name"),
        enabled: true,
        kind: OutputKind::PushSrt(crate::spec::SrtCaller {
            host: "127.0.0.1".into(),
            port: 9000,
            stream_id: None,
            security: None,
            latency: crate::spec::Latency::DEFAULT,
            allow_private: true,
        }),
    };
    assert!(matches!(g.run(&spec).await, Gate::Go(None)));
}
