use std::time::{Duration, Instant};

use super::*;

#[test]
fn rate_window_reports_the_last_delta_and_the_ten_second_mean() {
    let mut w = RateWindow::default();
    let t0 = Instant::now();
    let sec = Duration::from_secs(1);
    w.sample(0, t0);
    assert_eq!(w.bitrate(), Bitrate::default(), "one sample is no rate yet");
    // 1000 bytes a second for 10 s, then 0 for one second.
    for n in 1..=10 {
        w.sample(n * 1000, t0 + sec * n as u32);
    }
    assert_eq!(
        w.bitrate(),
        Bitrate {
            last_1s: 8000,
            last_10s: 8000
        }
    );
    w.sample(10_000, t0 + sec * 11);
    assert_eq!(
        w.bitrate(),
        Bitrate {
            last_1s: 0,
            last_10s: 7200
        }
    );
    // Ten idle seconds empty the window exactly.
    for n in 12..=20 {
        w.sample(10_000, t0 + sec * n);
    }
    assert_eq!(w.bitrate(), Bitrate::default());
}

#[test]
fn rate_window_divides_by_the_real_interval() {
    let mut w = RateWindow::default();
    let t0 = Instant::now();
    w.sample(0, t0);
    w.sample(1000, t0 + Duration::from_millis(500));
    assert_eq!(w.bitrate().last_1s, 16_000);
}

#[test]
fn rate_window_restarts_when_the_counter_goes_back() {
    let mut w = RateWindow::default();
    let t0 = Instant::now();
    w.sample(5000, t0);
    w.sample(1000, t0 + Duration::from_secs(1));
    assert_eq!(w.bitrate(), Bitrate::default());
}

#[test]
fn peers_leave_when_their_guard_drops() {
    let peers = Peers::default();
    let a = peers.join("rtmp", "192.0.2.1:5000".into(), None);
    let b = peers.join("rtmps", "192.0.2.2:5000".into(), None);
    let list = peers.snapshot();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].addr, "192.0.2.1:5000");
    assert_eq!(list[1].protocol, "rtmps");
    assert!(list.iter().all(|p| p.srt.is_none()));
    drop(a);
    assert_eq!(peers.snapshot().len(), 1);
    drop(b);
    assert!(peers.snapshot().is_empty());
}

#[test]
fn a_guard_outliving_its_table_is_harmless() {
    let peers = Peers::default();
    let g = peers.join("srt", "192.0.2.1:5000".into(), None);
    drop(peers);
    drop(g);
}

#[test]
fn srt_link_takes_the_side_of_the_media_direction() {
    let s = SrtStats {
        rtt_ms: 12.5,
        pkt_loss_sent: 3,
        pkt_loss_recv: 4,
        pkt_retrans: 5,
        pkt_drop_send: 6,
        pkt_drop_recv: 7,
        recv_latency_ms: 200,
        send_latency_ms: 120,
        send_buffer_ms: 30,
        recv_buffer_ms: 180,
        ..SrtStats::default()
    };
    let rx = SrtLink::from_stats(&s, LinkDirection::Receiving);
    assert_eq!(
        (
            rx.packets_lost,
            rx.packets_retransmitted,
            rx.packets_dropped,
            rx.latency_ms,
            rx.buffer_ms
        ),
        (4, None, 7, 200, 180)
    );
    let tx = SrtLink::from_stats(&s, LinkDirection::Sending);
    assert_eq!(
        (
            tx.packets_lost,
            tx.packets_retransmitted,
            tx.packets_dropped,
            tx.latency_ms,
            tx.buffer_ms
        ),
        (3, Some(5), 6, 120, 30)
    );
    assert_eq!(tx.rtt_ms, 12.5);
}

#[test]
fn output_live_since_follows_the_state() {
    let c = OutputCounters::default();
    assert_eq!(c.live_since(), None);
    c.set_state(FlowState::Live);
    let since = c.live_since().expect("live");
    c.set_state(FlowState::Live);
    assert_eq!(c.live_since(), Some(since), "staying live keeps the start");
    c.set_state(FlowState::Retrying);
    assert_eq!(c.live_since(), None);
}

#[test]
fn record_counters_follow_the_file_being_written() {
    let c = OutputCounters::default();
    let empty = c.record.snapshot();
    assert_eq!(
        (empty.files, empty.current_file, empty.current_file_secs),
        (0, None, None)
    );
    c.record.file_opened("2026-12-07T10-00-00Z_0001.mp4".into());
    c.record.set_file_duration(Duration::from_millis(12_500));
    let s = c.record.snapshot();
    assert_eq!(s.files, 1);
    assert_eq!(
        s.current_file.as_deref(),
        Some("2026-12-07T10-00-00Z_0001.mp4")
    );
    assert_eq!(s.current_file_secs, Some(12.5));
    // The next file starts from zero and counts as the second.
    c.record.file_opened("2026-12-07T11-00-00Z_0002.mp4".into());
    let s = c.record.snapshot();
    assert_eq!((s.files, s.current_file_secs), (2, Some(0.0)));
    c.record.file_closed();
    let s = c.record.snapshot();
    assert_eq!(
        (s.files, s.current_file, s.current_file_secs),
        (2, None, None)
    );
}

#[test]
fn disk_full_is_a_state_with_its_own_name() {
    assert!(FlowState::ALL.contains(&FlowState::DiskFull));
    assert_eq!(FlowState::DiskFull.as_str(), "disk_full");
    // The API's JSON (serde) and `/metrics` (as_str) say the same.
    for state in FlowState::ALL {
        let json = serde_json::to_string(&state).expect("serialise");
        assert_eq!(json, format!("\"{}\"", state.as_str()));
    }
}
