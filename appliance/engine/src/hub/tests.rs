use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;

use super::*;

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
    assert!(!hub.can_publish());
    drop(first);
}

#[test]
fn a_silent_publisher_is_replaced() {
    let hub = Hub::new("in");
    let _first = hub.attach(info("a")).expect("first");
    hub.lock().last_push = Instant::now() - STALE_PUBLISHER - Duration::from_millis(1);
    assert!(hub.can_publish());
    let second = hub.attach(info("b")).expect("replacement");
    assert_eq!(hub.publisher().map(|p| p.peer), Some("b".into()));
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
