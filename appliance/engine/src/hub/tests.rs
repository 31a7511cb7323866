use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;

use super::*;
use crate::engine::SwitchError;

fn info(peer: &str) -> PublisherInfo {
    PublisherInfo {
        protocol: "rtmp",
        peer: peer.into(),
        since: SystemTime::now(),
    }
}

fn tag(ts: u32, keyframe: bool) -> FlvTag {
    FlvTag::new(
        FlvKind::Video,
        ts,
        // A legacy AVC NALU packet; its content does not matter to the hub.
        Bytes::from_static(&[0x17, 0x01, 0, 0, 0]),
        keyframe,
        false,
    )
}

#[test]
fn flv_clock_continues_after_a_new_publisher() {
    let mut c = FlvClock::default();
    let mut t = tag(5_000, true);
    c.apply(&mut t);
    assert_eq!(t.timestamp, 5_000, "the first publication passes untouched");
    let mut t = tag(5_040, false);
    c.apply(&mut t);
    c.rebase = true;
    let mut t = tag(0, true);
    c.apply(&mut t);
    assert!(t.timestamp > 5_040, "went back to {}", t.timestamp);
    let first = t.timestamp;
    let mut t = tag(40, false);
    c.apply(&mut t);
    assert_eq!(t.timestamp, first + 40, "spacing is kept");
}

#[test]
fn flv_clock_wraps_like_rtmp() {
    let mut c = FlvClock {
        offset: i64::from(u32::MAX) - 10,
        ..FlvClock::default()
    };
    let mut t = tag(20, true);
    c.apply(&mut t);
    assert_eq!(t.timestamp, 9);
}

#[test]
fn a_second_publisher_is_refused_while_the_first_sends() {
    let hub = Hub::new("in");
    let first = hub.attach(info("a")).expect("first");
    assert_eq!(
        hub.attach(info("b")).err(),
        Some(Rejection::AlreadyPublishing)
    );
    assert!(!hub.can_publish(Feed::Main));
    drop(first);
}

#[test]
fn a_silent_publisher_is_replaced() {
    let hub = Hub::new("in");
    let _first = hub.attach(info("a")).expect("first");
    hub.lock().feeds[0].last_push = Instant::now() - STALE_PUBLISHER - Duration::from_millis(1);
    assert!(hub.can_publish(Feed::Main));
    let second = hub.attach(info("b")).expect("replacement");
    assert_eq!(hub.publisher().map(|p| p.peer), Some("b".into()));
    assert!(_first.released().is_cancelled(), "its connection is closed");
    assert!(!second.released().is_cancelled());
    // The old publisher's data is ignored from now on.
    _first.push_flv(tag(0, true));
    drop(second);
}

#[test]
fn without_grace_outputs_close_when_the_publisher_leaves() {
    let hub = Hub::new("in");
    hub.set_grace(Duration::ZERO);
    let p = hub.attach(info("a")).expect("attach");
    let mut sub = hub.subscribe_flv(Arc::default()).expect("live");
    drop(p);
    assert!(sub.rx.try_recv().is_err());
    assert!(sub.rx.is_closed());
    assert!(!*hub.live().borrow());
}

#[tokio::test]
async fn within_grace_outputs_are_held_and_resume_at_a_keyframe() {
    let hub = Hub::new("in");
    hub.set_grace(Duration::from_secs(3600));
    let p = hub.attach(info("a")).expect("attach");
    let mut sub = hub.subscribe_flv(Arc::default()).expect("live");
    p.push_flv(tag(1_000, true));
    p.push_flv(tag(1_040, false));
    drop(p);
    assert!(hub.in_grace());
    assert!(*hub.live().borrow(), "held outputs keep the input live");
    assert!(!sub.rx.is_closed());
    // A late joiner during the grace period is accepted too, and gets nothing stale.
    let mut late = hub.subscribe_flv(Arc::default()).expect("held");
    assert!(late.rx.try_recv().is_err());

    let p = hub.attach(info("b")).expect("back");
    assert!(!hub.in_grace());
    p.push_flv(tag(0, false)); // not a keyframe: skipped
    p.push_flv(tag(40, true));
    let got: Vec<u32> = std::iter::from_fn(|| sub.rx.try_recv().ok())
        .map(|t| t.timestamp)
        .collect();
    assert_eq!(got.len(), 3, "{got:?}");
    assert_eq!(&got[..2], &[1_000, 1_040]);
    assert!(got[2] > 1_040, "timestamps went back: {got:?}");
    // The late joiner starts at the returning publisher's first keyframe.
    assert_eq!(late.rx.try_recv().map(|t| t.timestamp).ok(), Some(got[2]));
}

/// A real H.264 sequence header (High profile, from the media crate's record tests).
fn avc_config(ts: u32) -> FlvTag {
    let cfg = relevo_media::VideoConfig {
        codec: Codec::H264,
        vps: None,
        sps: Bytes::from_static(&[0x67, 0x64, 0x00, 0x0C, 0xAC, 0xD9]),
        pps: Bytes::from_static(&[0x68, 0xEB, 0xE3, 0xCB]),
    };
    FlvTag::new(
        FlvKind::Video,
        ts,
        flv::video_config_body(&cfg, false),
        false,
        true,
    )
}

fn avc_frame(ts: u32, keyframe: bool) -> FlvTag {
    let nal: &'static [u8] = if keyframe {
        &[0, 0, 0, 1, 0x65, 0x88, 0x84, 0x00]
    } else {
        &[0, 0, 0, 1, 0x41, 0x9A, 0x02, 0x00]
    };
    let frame = relevo_media::Frame {
        codec: Codec::H264,
        pts: 0,
        dts: 0,
        keyframe,
        data: Bytes::from_static(nal),
    };
    FlvTag::new(
        FlvKind::Video,
        ts,
        flv::video_frame_body(&frame, 0, false),
        keyframe,
        false,
    )
}

/// AAC-LC, 48 kHz stereo.
fn aac_config(ts: u32) -> FlvTag {
    let cfg = relevo_media::aac::parse_asc(&[0x11, 0x90]).expect("valid ASC");
    FlvTag::new(
        FlvKind::Audio,
        ts,
        flv::audio_config_body(&cfg),
        false,
        true,
    )
}

fn aac_frame(ts: u32) -> FlvTag {
    FlvTag::new(
        FlvKind::Audio,
        ts,
        flv::audio_frame_body(&[0x21, 0x10, 0x04, 0x60, 0x8C]),
        false,
        false,
    )
}

fn drain<T>(rx: &mut tokio::sync::mpsc::Receiver<T>) -> Vec<T> {
    std::iter::from_fn(|| rx.try_recv().ok()).collect()
}

#[test]
fn a_player_that_arrives_before_the_publisher_starts_at_its_first_keyframe() {
    let hub = Hub::new("in");
    hub.set_grace(Duration::ZERO);
    hub.set_wants(false, true);
    assert!(
        hub.subscribe_flv(Arc::default()).is_none(),
        "push outputs still connect only to a live input"
    );
    let mut early = hub.subscribe_flv_early(Arc::default(), None);
    assert!(early.rx.try_recv().is_err(), "nothing while idle");
    assert!(!early.rx.is_closed());

    let p = hub.attach(info("a")).expect("attach");
    p.push_flv(avc_config(0));
    p.push_flv(aac_config(0));
    p.push_flv(avc_frame(0, false)); // no decoder can start here: skipped
    p.push_flv(aac_frame(10)); // before the first keyframe: skipped
    p.push_flv(avc_frame(40, true));
    p.push_flv(aac_frame(50));
    let got: Vec<(FlvKind, bool, bool, u32)> = drain(&mut early.rx)
        .into_iter()
        .map(|t| (t.kind, t.config, t.keyframe, t.timestamp))
        .collect();
    assert_eq!(
        got,
        [
            (FlvKind::Video, true, false, 0),
            (FlvKind::Audio, true, false, 0),
            (FlvKind::Video, false, true, 40),
            (FlvKind::Audio, false, false, 50),
        ]
    );
}

#[test]
fn a_ts_reader_that_arrives_before_an_rtmp_publisher_gets_the_remuxed_stream() {
    let hub = Hub::new("in");
    hub.set_grace(Duration::ZERO);
    // An SRT pull output is configured: FLV → TS runs for it from the first tag.
    hub.set_wants(true, false);
    let mut early = hub.subscribe_ts_early(Arc::default(), None);
    let p = hub.attach(info("a")).expect("attach");
    p.push_flv(avc_config(0));
    p.push_flv(aac_config(0));
    p.push_flv(avc_frame(0, true));
    p.push_flv(aac_frame(0));
    p.push_flv(avc_frame(40, false));
    let chunks = drain(&mut early.rx);
    assert!(chunks.len() >= 2, "{} chunks", chunks.len());
    assert!(chunks[0].keyframe, "starts at the keyframe");
    let pids: Vec<Option<u16>> = chunks[0]
        .data
        .chunks_exact(PACKET_SIZE)
        .take(2)
        .map(packet_pid)
        .collect();
    assert_eq!(pids[0], Some(0), "PAT first");
    assert_ne!(pids[1], Some(0), "then the PMT");
}

#[test]
fn readers_that_joined_while_idle_are_closed_when_the_publication_ends_and_may_wait_again() {
    let hub = Hub::new("in");
    hub.set_grace(Duration::ZERO);
    let mut early = hub.subscribe_flv_early(Arc::default(), None);
    let p = hub.attach(info("a")).expect("attach");
    p.push_flv(tag(0, true));
    drop(p);
    assert_eq!(drain(&mut early.rx).len(), 1);
    assert!(early.rx.is_closed(), "the end of the publication closes it");

    // Connecting again while idle waits for the next publication, nothing of the last one.
    let mut again = hub.subscribe_flv_early(Arc::default(), None);
    assert!(again.rx.try_recv().is_err());
    let p = hub.attach(info("b")).expect("attach");
    p.push_flv(tag(1_000, false));
    p.push_flv(tag(1_040, true));
    let got: Vec<u32> = drain(&mut again.rx).iter().map(|t| t.timestamp).collect();
    assert_eq!(got, [1_040]);
    drop(p);
}

#[test]
fn cached_tags_leave_the_delivery_chunks_behind_and_replays_share_theirs() {
    let live = tag(0, true);
    live.wire
        .get_or_init(|| Bytes::from_static(b"chunked for delivery"));
    let cached = live.cached();
    assert_eq!(cached.arrived, None);
    assert_eq!(cached.body, live.body);
    // A cache of its own: the GOP cache does not keep the delivered chunks alive.
    let wire = cached
        .wire
        .get_or_init(|| Bytes::from_static(b"for joiners"));
    assert_eq!(wire, Bytes::from_static(b"for joiners"));
    // Every joiner's replayed copy shares the cached tag's chunks: made once.
    let replayed = cached.replayed();
    let wire = replayed.wire.get_or_init(|| Bytes::from_static(b"again"));
    assert_eq!(wire, Bytes::from_static(b"for joiners"));
}

#[test]
fn a_ts_want_lasts_as_long_as_its_guard() {
    let hub = Hub::new("in");
    hub.set_wants(false, true);
    assert!(!hub.wants_ts());
    let first = hub.want_ts();
    let second = hub.want_ts();
    assert!(hub.wants_ts());
    drop(first);
    assert!(hub.wants_ts(), "one HLS session still runs");
    // The configuration changing meanwhile does not withdraw a session's want.
    hub.set_wants(false, true);
    assert!(hub.wants_ts());
    drop(second);
    assert!(!hub.wants_ts());
    hub.set_wants(true, false);
    assert!(hub.wants_ts());
}

/// The tags of the media crate's FLV fixture (2 s of H.264 + AAC, ffmpeg), from its
/// 11-byte tag headers (FLV spec v10.1, annex E.4.1).
fn fixture_tags() -> Vec<FlvTag> {
    let file: &[u8] = include_bytes!("../../../media/tests/fixtures/h264_aac.flv");
    let mut tags = Vec::new();
    let mut at = 9 + 4;
    while at + 11 <= file.len() {
        let h = &file[at..at + 11];
        let size = usize::from(h[1]) << 16 | usize::from(h[2]) << 8 | usize::from(h[3]);
        let ts =
            u32::from(h[7]) << 24 | u32::from(h[4]) << 16 | u32::from(h[5]) << 8 | u32::from(h[6]);
        let Some(body) = file.get(at + 11..at + 11 + size) else {
            break;
        };
        let body = Bytes::copy_from_slice(body);
        let tag = match h[0] {
            8 => {
                let config = body.get(1) == Some(&0);
                FlvTag::new(FlvKind::Audio, ts, body, false, config)
            }
            9 => {
                let key = body.first().is_some_and(|b| b >> 4 == 1);
                let config = body.get(1) == Some(&0);
                FlvTag::new(FlvKind::Video, ts, body, key && !config, config)
            }
            _ => FlvTag::new(FlvKind::Meta, ts, body, false, false),
        };
        tags.push(tag);
        at += 11 + size + 4;
    }
    tags
}

#[tokio::test]
async fn a_ts_want_on_an_rtmp_input_starts_at_the_cached_keyframe() {
    use relevo_media::ts::{DemuxEvent, TsDemuxer};
    let hub = Hub::new("in");
    // Only RTMP outputs configured: the publisher's tags are not remuxed.
    hub.set_wants(false, true);
    let publisher = hub.attach(info("a")).expect("publisher");
    let tags = fixture_tags();
    assert!(tags.len() > 50, "{} tags", tags.len());
    for tag in tags.iter().take(tags.len() * 3 / 4) {
        publisher.push_flv(tag.clone());
    }
    // An HLS session wants TS now: it gets the decoder configuration and the cached GOP
    // at once, without waiting for the publisher's next keyframe.
    let _want = hub.want_ts();
    let mut sub = hub.subscribe_ts(Arc::default(), None).expect("live");
    let mut demux = TsDemuxer::new();
    let mut events = Vec::new();
    while let Ok(chunk) = sub.rx.try_recv() {
        let _ = demux.push(&chunk.data, &mut events);
    }
    demux.flush(&mut events);
    assert!(events
        .iter()
        .any(|e| matches!(e, DemuxEvent::VideoConfig(_))));
    let first_video = events.iter().find_map(|e| match e {
        DemuxEvent::Frame(f) if f.codec.is_video() => Some(f.keyframe),
        _ => None,
    });
    assert_eq!(first_video, Some(true), "the replay starts at a keyframe");
    drop(publisher);
}

// --- Redundant ingest (issue #18) ---

const FAILOVER: Duration = Duration::from_secs(2);
const REVERT: Duration = Duration::from_secs(10);

/// A hub with a backup feed; its switch timer is driven by hand (`Hub::tick`).
fn hub_with_backup() -> Arc<Hub> {
    let hub = Hub::new("in");
    hub.set_grace(Duration::from_secs(3600));
    hub.lock().backup = Some(BackupTimes {
        failover: FAILOVER,
        revert: Some(REVERT),
    });
    hub
}

/// A sequence header whose SPS says which feed it comes from (a different resolution).
fn avc_config_of(marker: u8, ts: u32) -> FlvTag {
    let cfg = relevo_media::VideoConfig {
        codec: Codec::H264,
        vps: None,
        sps: Bytes::from(vec![0x67, 0x64, 0x00, 0x0C, 0xAC, marker]),
        pps: Bytes::from_static(&[0x68, 0xEB, 0xE3, 0xCB]),
    };
    FlvTag::new(
        FlvKind::Video,
        ts,
        flv::video_config_body(&cfg, false),
        false,
        true,
    )
}

/// (config, keyframe, timestamp, body) of what a subscriber got.
fn got(rx: &mut tokio::sync::mpsc::Receiver<FlvTag>) -> Vec<(bool, bool, u32, Bytes)> {
    drain(rx)
        .into_iter()
        .map(|t| (t.config, t.keyframe, t.timestamp, t.body))
        .collect()
}

#[test]
fn without_a_backup_the_backup_feed_is_refused() {
    let hub = Hub::new("in");
    assert!(!hub.can_publish(Feed::Backup));
    assert_eq!(
        hub.attach_feed(Feed::Backup, info("b")).err(),
        Some(Rejection::UnknownKey)
    );
    assert_eq!(
        hub.switch_feed(Feed::Backup),
        Err(SwitchError::NoBackup("in".into()))
    );
    let main = hub.attach(info("a")).expect("main");
    assert_eq!(hub.feeds().on_air, Some(Feed::Main));
    assert!(!hub.feeds().has_backup);
    drop(main);
}

#[tokio::test]
async fn the_backup_is_kept_warm_and_takes_over_at_its_next_keyframe_when_the_main_leaves() {
    let hub = hub_with_backup();
    let main = hub.attach(info("a")).expect("main");
    let backup = hub.attach_feed(Feed::Backup, info("b")).expect("backup");
    assert!(!hub.can_publish(Feed::Main) && !hub.can_publish(Feed::Backup));
    let mut sub = hub.subscribe_flv(Arc::default()).expect("live");
    main.push_flv(avc_config_of(1, 0));
    main.push_flv(avc_frame(1_000, true));
    backup.push_flv(avc_config_of(2, 0));
    backup.push_flv(avc_frame(7_000, true)); // standby: not sent
    main.push_flv(avc_frame(1_040, false));
    backup.push_flv(avc_frame(7_040, false));
    let before = got(&mut sub.rx);
    assert_eq!(
        before.iter().map(|t| t.2).collect::<Vec<_>>(),
        [0, 1_000, 1_040],
        "only the main feed's tags"
    );
    assert_eq!(hub.feeds().on_air, Some(Feed::Main));
    assert!(
        hub.backup_counters.bytes_in.load(Ordering::Relaxed) > 0,
        "the standby is received"
    );

    drop(main);
    assert!(!hub.in_grace(), "the backup is live: no grace period");
    backup.push_flv(avc_frame(7_080, false)); // not a keyframe: the outputs wait
    assert!(got(&mut sub.rx).is_empty());
    backup.push_flv(avc_frame(7_120, true));
    backup.push_flv(avc_frame(7_160, false));
    let after = got(&mut sub.rx);
    assert_eq!(after.len(), 3, "{after:?}");
    let (config, key, ts, body) = &after[0];
    assert!(*config, "the backup's sequence header first");
    assert_eq!(
        *body,
        avc_config_of(2, 0).body,
        "the new decoder configuration"
    );
    assert!(*ts >= 1_040, "headers at the last timestamp sent: {ts}");
    assert!(after[1].1 && !*key, "then its keyframe");
    assert!(after[1].2 > 1_040, "timestamps continue: {after:?}");
    assert_eq!(after[2].2, after[1].2 + 40, "spacing kept");
    let feeds = hub.feeds();
    assert_eq!(feeds.on_air, Some(Feed::Backup));
    let switch = feeds.last_switch.expect("switched");
    assert_eq!(
        (switch.from, switch.to, switch.reason),
        (Feed::Main, Feed::Backup, SwitchReason::Failover)
    );
    assert_eq!(feeds.switches.failover, 1);
    // A joiner gets the backup's headers too.
    let mut late = hub.subscribe_flv(Arc::default()).expect("live");
    let joined = got(&mut late.rx);
    assert_eq!(joined[0].3, avc_config_of(2, 0).body);
    drop(backup);
}

#[tokio::test]
async fn a_silent_main_feed_fails_over_and_returns_after_its_stable_time() {
    let hub = hub_with_backup();
    let main = hub.attach(info("a")).expect("main");
    let backup = hub.attach_feed(Feed::Backup, info("b")).expect("backup");
    let mut sub = hub.subscribe_flv(Arc::default()).expect("live");
    main.push_flv(avc_frame(0, true));
    backup.push_flv(avc_frame(0, true));
    hub.tick();
    backup.push_flv(avc_frame(40, true));
    assert_eq!(hub.feeds().on_air, Some(Feed::Main), "both send: no switch");

    // The main feed stays connected but sends nothing for the failover delay.
    hub.lock().feeds[0].last_push = Instant::now() - FAILOVER;
    hub.tick();
    backup.push_flv(avc_frame(80, true));
    assert_eq!(hub.feeds().on_air, Some(Feed::Backup));
    assert_eq!(
        hub.feeds().last_switch.map(|s| s.reason),
        Some(SwitchReason::Failover)
    );

    // It sends again: not back before the revert delay.
    main.push_flv(avc_frame(5_000, true));
    hub.tick();
    main.push_flv(avc_frame(5_040, true));
    assert_eq!(hub.feeds().on_air, Some(Feed::Backup));
    // Stable for the revert delay: back at its next keyframe, and only there.
    hub.lock().feeds[0].sending_since = Some(Instant::now() - REVERT);
    hub.tick();
    backup.push_flv(avc_frame(120, false));
    main.push_flv(avc_frame(5_080, false));
    assert_eq!(
        hub.feeds().on_air,
        Some(Feed::Backup),
        "waits for a keyframe"
    );
    main.push_flv(avc_frame(5_120, true));
    backup.push_flv(avc_frame(160, true)); // the standby now: not sent
    let feeds = hub.feeds();
    assert_eq!(feeds.on_air, Some(Feed::Main));
    assert_eq!(
        feeds.last_switch.map(|s| s.reason),
        Some(SwitchReason::Revert)
    );
    let ts: Vec<u32> = got(&mut sub.rx).iter().map(|t| t.2).collect();
    // Main's first keyframe, the backup's keyframe and frame, main's keyframe again.
    assert_eq!(ts.len(), 4, "{ts:?}");
    assert!(ts.windows(2).all(|w| w[0] < w[1]), "increasing: {ts:?}");
    drop((main, backup));
}

#[tokio::test]
async fn a_manual_choice_of_the_backup_holds_against_the_revert() {
    let hub = hub_with_backup();
    let main = hub.attach(info("a")).expect("main");
    assert_eq!(
        hub.switch_feed(Feed::Backup),
        Err(SwitchError::NotLive(Feed::Backup))
    );
    let backup = hub.attach_feed(Feed::Backup, info("b")).expect("backup");
    main.push_flv(avc_frame(0, true));
    backup.push_flv(avc_frame(0, true));
    hub.switch_feed(Feed::Backup).expect("backup is live");
    main.push_flv(avc_frame(40, true));
    assert_eq!(
        hub.feeds().on_air,
        Some(Feed::Main),
        "at the backup's keyframe"
    );
    backup.push_flv(avc_frame(40, true));
    assert_eq!(hub.feeds().on_air, Some(Feed::Backup));
    assert_eq!(
        hub.feeds().last_switch.map(|s| s.reason),
        Some(SwitchReason::Manual)
    );
    // The main feed is stable long past the revert delay: the choice holds.
    hub.lock().feeds[0].sending_since = Some(Instant::now() - REVERT * 3);
    hub.tick();
    main.push_flv(avc_frame(80, true));
    assert_eq!(hub.feeds().on_air, Some(Feed::Backup));
    // Back by hand.
    hub.switch_feed(Feed::Main).expect("main is live");
    main.push_flv(avc_frame(120, true));
    assert_eq!(hub.feeds().on_air, Some(Feed::Main));
    assert_eq!(hub.feeds().switches.manual, 2);
    drop((main, backup));
}

#[tokio::test]
async fn when_both_feeds_are_gone_the_grace_period_holds_the_outputs() {
    let hub = hub_with_backup();
    let main = hub.attach(info("a")).expect("main");
    let backup = hub.attach_feed(Feed::Backup, info("b")).expect("backup");
    let mut sub = hub.subscribe_flv(Arc::default()).expect("live");
    main.push_flv(avc_frame(1_000, true));
    drop(backup);
    assert!(!hub.in_grace(), "the main feed is still on air");
    drop(main);
    assert!(hub.in_grace());
    assert!(*hub.live().borrow());
    assert!(!sub.rx.is_closed());
    assert_eq!(hub.feeds().on_air, None);
    // The backup returns first: it continues the held outputs.
    let backup = hub.attach_feed(Feed::Backup, info("b2")).expect("back");
    assert!(!hub.in_grace());
    backup.push_flv(avc_frame(0, true));
    let ts: Vec<u32> = got(&mut sub.rx).iter().map(|t| t.2).collect();
    assert_eq!(ts.len(), 2, "{ts:?}");
    assert!(ts[1] > 1_000, "{ts:?}");
    assert_eq!(hub.feeds().on_air, Some(Feed::Backup));
    drop(backup);
}

#[tokio::test]
async fn a_switch_from_rtmp_to_srt_sends_the_srt_feeds_headers_to_rtmp_outputs() {
    use crate::remux::FlvToTs;
    let hub = hub_with_backup();
    hub.set_wants(false, true);
    let main = hub.attach(info("a")).expect("main");
    let backup = hub.attach_feed(Feed::Backup, info("b")).expect("backup");
    let mut sub = hub.subscribe_flv(Arc::default()).expect("live");
    main.push_flv(avc_config(0));
    main.push_flv(avc_frame(3_000, true));
    main.push_flv(avc_frame(3_040, false));
    // The SRT backup sends the fixture as MPEG-TS, whole, before the main leaves, then its
    // second half again after (a keyframe must come).
    let mut remux = FlvToTs::new();
    let mut chunks = Vec::new();
    for tag in fixture_tags() {
        let _ = remux.on_tag(&tag, &mut chunks);
    }
    for c in &chunks {
        backup.push_ts([&c.data[..]]);
    }
    assert_eq!(
        got(&mut sub.rx).len(),
        3,
        "nothing of the standby reaches the outputs"
    );
    drop(main);
    let mut remux = FlvToTs::new();
    let mut again = Vec::new();
    for mut tag in fixture_tags() {
        tag.timestamp += 10_000;
        let _ = remux.on_tag(&tag, &mut again);
    }
    for c in &again {
        backup.push_ts([&c.data[..]]);
    }
    let after = got(&mut sub.rx);
    assert!(after.len() > 10, "{} tags", after.len());
    assert!(after[0].0, "a sequence header first");
    assert_ne!(
        after[0].3,
        avc_config(0).body,
        "the SRT feed's own configuration"
    );
    let first_frame = after.iter().find(|t| !t.0).expect("frames");
    assert!(first_frame.1, "the first frame is a keyframe");
    assert!(
        first_frame.2 > 3_040,
        "timestamps continue: {}",
        first_frame.2
    );
    assert_eq!(hub.feeds().on_air, Some(Feed::Backup));
    assert_eq!(hub.codecs().and_then(|c| c.video), Some("h264".to_owned()));
    drop(backup);
}

#[tokio::test]
async fn removing_the_backup_lets_its_publisher_go_and_the_main_feed_takes_over() {
    let hub = hub_with_backup();
    let main = hub.attach(info("a")).expect("main");
    let backup = hub.attach_feed(Feed::Backup, info("b")).expect("backup");
    let mut sub = hub.subscribe_flv(Arc::default()).expect("live");
    main.push_flv(avc_frame(0, true));
    backup.push_flv(avc_frame(0, true));
    hub.switch_feed(Feed::Backup).expect("switch");
    backup.push_flv(avc_frame(40, true));
    assert_eq!(hub.feeds().on_air, Some(Feed::Backup));

    hub.set_backup(None);
    assert!(!hub.feeds().has_backup);
    assert_eq!(hub.feeds().backup_publisher, None, "let go");
    assert!(backup.released().is_cancelled(), "its connection is closed");
    assert!(!main.released().is_cancelled());
    assert!(!hub.can_publish(Feed::Backup), "no backup feed any more");
    backup.push_flv(avc_frame(80, true)); // ignored from now on
    main.push_flv(avc_frame(80, true)); // the main feed's next keyframe
    assert_eq!(hub.feeds().on_air, Some(Feed::Main));
    assert!(!hub.in_grace(), "the outputs never waited");
    let got: Vec<u32> = got(&mut sub.rx).iter().map(|t| t.2).collect();
    assert_eq!(got.len(), 3, "main, backup, main again: {got:?}");
    assert!(!sub.rx.is_closed());
    drop((main, backup));
}

#[tokio::test]
async fn a_main_feed_that_connects_just_after_the_backup_goes_on_air_at_its_first_keyframe() {
    let hub = hub_with_backup();
    let backup = hub.attach_feed(Feed::Backup, info("b")).expect("backup");
    backup.push_flv(avc_frame(0, true));
    assert_eq!(hub.feeds().on_air, Some(Feed::Backup), "the only feed");
    let main = hub.attach(info("a")).expect("main");
    main.push_flv(avc_frame(0, false));
    assert_eq!(hub.feeds().on_air, Some(Feed::Backup), "at a keyframe");
    main.push_flv(avc_frame(40, true));
    assert_eq!(hub.feeds().on_air, Some(Feed::Main), "no revert delay");

    // Once the main feed has failed, the revert delay applies again.
    drop(main);
    backup.push_flv(avc_frame(80, true));
    assert_eq!(hub.feeds().on_air, Some(Feed::Backup));
    let main = hub.attach(info("a2")).expect("main back");
    main.push_flv(avc_frame(0, true));
    assert_eq!(hub.feeds().on_air, Some(Feed::Backup));
    drop((main, backup));
}

#[test]
fn after_a_switch_the_ts_clock_continues_the_last_timestamps_sent() {
    use crate::remux::FlvToTs;
    use relevo_media::ts::{DemuxEvent, TsDemuxer};
    // Two encoders of the same programme whose clocks are 40 s apart.
    let encode = |shift_ms: u32| {
        let mut remux = FlvToTs::new();
        let mut chunks = Vec::new();
        for mut tag in fixture_tags() {
            tag.timestamp += shift_ms;
            let _ = remux.on_tag(&tag, &mut chunks);
        }
        chunks
    };
    let (first, second) = (encode(40_000), encode(0));
    let mut clock = ts_clock::TsClock::new();
    let now = Instant::now();
    let mut out = Vec::new();
    for c in &first {
        out.push(clock.apply(&c.data, c.keyframe, now));
    }
    clock.splice();
    let later = now + Duration::from_millis(500);
    for c in second.iter().skip_while(|c| !c.keyframe) {
        out.push(clock.apply(&c.data, c.keyframe, later));
    }
    let mut demux = TsDemuxer::new();
    let mut events = Vec::new();
    for chunk in &out {
        let _ = demux.push(chunk, &mut events);
    }
    demux.flush(&mut events);
    let dts: Vec<i64> = events
        .iter()
        .filter_map(|e| match e {
            DemuxEvent::Frame(f) if f.codec.is_video() => Some(f.dts),
            _ => None,
        })
        .collect();
    assert!(dts.len() > 50, "{} frames", dts.len());
    let worst = dts.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0);
    let least = dts.windows(2).map(|w| w[1] - w[0]).min().unwrap_or(0);
    assert!(least > 0, "timestamps went back: {dts:?}");
    // The wall-clock half second between the two, plus a frame and how far the audio ran
    // ahead of the video in the mux (the clock follows the highest timestamp sent), not the
    // 40 s between the encoders' clocks.
    assert!(worst <= 90 * 700, "a hole of {} ms", worst / 90);
}

#[test]
fn an_flv_publication_names_its_codecs_audio_only_ones_included() {
    let aac = |ts: u32, config: bool| {
        let body = if config {
            Bytes::from_static(&[0xAF, 0x00, 0x11, 0x90])
        } else {
            Bytes::from_static(&[0xAF, 0x01, 0x21])
        };
        FlvTag::new(FlvKind::Audio, ts, body, false, config)
    };
    // Audio only: unknown for the first frames (video may still come), then named.
    let hub = Hub::new("radio");
    let p = hub.attach(info("a")).expect("attach");
    p.push_flv(aac(0, true));
    for n in 0..feed::AUDIO_ONLY_FRAMES - 1 {
        p.push_flv(aac(n * 21, false));
    }
    assert_eq!(hub.codecs(), None, "named too early");
    p.push_flv(aac(2_000, false));
    assert_eq!(
        hub.codecs(),
        Some(StreamCodecs {
            video: None,
            audio: Some("aac".into())
        })
    );
    drop(p);

    // A video codec the relay does not parse (VP6) is still named, for the destinations'
    // checks, and audio that came first does not make it audio only.
    let hub = Hub::new("vp6");
    let p = hub.attach(info("a")).expect("attach");
    p.push_flv(aac(0, false));
    p.push_flv(FlvTag::new(
        FlvKind::Video,
        0,
        Bytes::from_static(&[0x14, 0x00]),
        true,
        false,
    ));
    assert_eq!(
        hub.codecs(),
        Some(StreamCodecs {
            video: Some("vp6".into()),
            audio: Some("aac".into())
        })
    );
}

#[test]
fn with_a_backup_a_main_silent_for_the_failover_delay_may_be_replaced() {
    let hub = Hub::new("in");
    hub.lock().backup = Some(BackupTimes {
        failover: Duration::from_secs(1),
        revert: None,
    });
    let _first = hub.attach(info("a")).expect("first");
    // Silent for the failover delay, not yet for STALE_PUBLISHER: the input has given this
    // feed up, so its encoder reconnecting is let in at once.
    hub.lock().feeds[0].last_push = Instant::now() - Duration::from_millis(1_100);
    assert!(hub.can_publish(Feed::Main));
    let second = hub.attach(info("b")).expect("replacement");
    assert_eq!(hub.publisher().map(|p| p.peer), Some("b".into()));
    // A main that sends is still not replaced.
    assert!(!hub.can_publish(Feed::Main));
    drop(second);
}
