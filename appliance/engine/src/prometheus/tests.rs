use std::time::{Duration, UNIX_EPOCH};

use super::*;
use crate::metrics::{
    FeedSnapshot, FeedSwitchCounts, HlsSnapshot, LastError, PublisherInfo, RecordSnapshot,
    RecordingDisk,
};

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn link() -> SrtLink {
    SrtLink {
        rtt_ms: 12.5,
        packets: 1000,
        packets_lost: 3,
        packets_retransmitted: Some(4),
        packets_dropped: 5,
        latency_ms: 120,
        buffer_ms: 40,
        bandwidth_mbps: 2.5,
    }
}

fn snapshot() -> Snapshot {
    Snapshot {
        inputs: vec![InputSnapshot {
            name: r#"studio "A" \ main"#.into(),
            state: FlowState::Live,
            publisher: Some(PublisherInfo {
                protocol: "srt",
                peer: "192.0.2.7:4000".into(),
                since: at(1_700_000_000),
            }),
            srt: Some(SrtLink {
                packets_retransmitted: None,
                ..link()
            }),
            bitrate: Bitrate {
                last_1s: 4_000_000,
                last_10s: 3_500_000,
            },
            bytes_in: 123_456_789_012,
            publishes: 2,
            rejections: 1,
            stream_errors: 0,
            uptime_secs: Some(61.5),
            last_error: None,
            codecs: None,
            backup: None,
            on_air: None,
            on_air_since: None,
            last_switch: None,
            feed_switches: Default::default(),
            outputs: vec![
                OutputSnapshot {
                    name: "cdn".into(),
                    kind: "push_rtmp",
                    state: FlowState::Retrying,
                    bitrate: Bitrate::default(),
                    bytes_out: 0,
                    dropped: 7,
                    reconnects: 3,
                    peers: 0,
                    connections: vec![],
                    uptime_secs: None,
                    last_error: Some(LastError {
                        message: "connection refused".into(),
                        at: at(1_700_000_100),
                        class: Some("network"),
                    }),
                    latency: None,
                    record: None,
                    hls: None,
                    compat: Vec::new(),
                },
                OutputSnapshot {
                    name: "readers".into(),
                    kind: "pull_srt",
                    state: FlowState::Live,
                    bitrate: Bitrate {
                        last_1s: 8,
                        last_10s: 16,
                    },
                    bytes_out: 1000,
                    dropped: 0,
                    reconnects: 0,
                    peers: 1,
                    connections: vec![PeerSnapshot {
                        protocol: "srt",
                        addr: "198.51.100.1:9000".into(),
                        since: at(1_700_000_050),
                        srt: Some(link()),
                    }],
                    uptime_secs: Some(2.0),
                    last_error: None,
                    latency: None,
                    record: None,
                    hls: None,
                    compat: Vec::new(),
                },
                OutputSnapshot {
                    name: "archive".into(),
                    kind: "record",
                    state: FlowState::DiskFull,
                    bitrate: Bitrate::default(),
                    bytes_out: 3_000_000_000,
                    dropped: 0,
                    reconnects: 0,
                    peers: 0,
                    connections: vec![],
                    uptime_secs: None,
                    last_error: Some(LastError {
                        message: "disk full: 900 MiB free, floor 1024 MiB".into(),
                        class: None,
                        at: at(1_700_000_200),
                    }),
                    latency: None,
                    record: Some(RecordSnapshot {
                        files: 4,
                        current_file: None,
                        current_file_secs: None,
                    }),
                    hls: None,
                    compat: Vec::new(),
                },
                OutputSnapshot {
                    name: "backup".into(),
                    kind: "record",
                    state: FlowState::Live,
                    bitrate: Bitrate::default(),
                    bytes_out: 5000,
                    dropped: 0,
                    reconnects: 0,
                    peers: 0,
                    connections: vec![],
                    uptime_secs: Some(12.0),
                    last_error: None,
                    latency: None,
                    record: Some(RecordSnapshot {
                        files: 1,
                        current_file: Some("2023-11-14T22-13-20Z_0001.ts".into()),
                        current_file_secs: Some(11.5),
                    }),
                    hls: None,
                    compat: Vec::new(),
                },
                OutputSnapshot {
                    name: "web".into(),
                    kind: "pull_hls",
                    state: FlowState::Live,
                    bitrate: Bitrate::default(),
                    bytes_out: 7_654_321,
                    dropped: 0,
                    reconnects: 0,
                    peers: 3,
                    connections: vec![],
                    uptime_secs: Some(30.0),
                    last_error: None,
                    latency: None,
                    record: None,
                    hls: Some(HlsSnapshot {
                        players: 3,
                        segments_served: 40,
                        parts_served: 250,
                    }),
                    compat: Vec::new(),
                },
            ],
        }],
        recording_disk: Some(RecordingDisk {
            free_bytes: 900 << 20,
            total_bytes: 20 << 30,
            floor_bytes: 1 << 30,
        }),
    }
}

const IN: &str = r#"input="studio \"A\" \\ main""#;

#[test]
fn label_values_escape_quote_backslash_and_newline() {
    assert_eq!(escape_label("a\"b\\c\nd"), r#"a\"b\\c\nd"#);
    let text = render(&snapshot());
    assert!(
        text.contains(&format!(
            "relevo_input_received_bytes_total{{{IN}}} 123456789012\n"
        )),
        "{text}"
    );
}

#[test]
fn every_family_has_help_and_type_once_before_its_samples() {
    let text = render(&snapshot());
    let mut seen = std::collections::HashSet::new();
    let mut current = String::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap_or_default().to_owned();
            assert!(seen.insert(name.clone()), "{name} described twice");
            current = name;
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut f = rest.split(' ');
            assert_eq!(f.next(), Some(current.as_str()));
            assert!(matches!(f.next(), Some("gauge" | "counter")), "{line}");
        } else {
            let name = line.split(['{', ' ']).next().unwrap_or_default();
            assert_eq!(name, current, "sample outside its family: {line}");
            let value = line.rsplit(' ').next().unwrap_or_default();
            assert!(value.parse::<f64>().is_ok(), "bad value in {line}");
        }
    }
    assert!(text.ends_with('\n'));
}

#[test]
fn inputs_report_state_rates_publisher_and_srt_link() {
    let text = render(&snapshot());
    for line in [
        format!("relevo_input_state{{{IN},state=\"live\"}} 1"),
        format!("relevo_input_state{{{IN},state=\"idle\"}} 0"),
        format!("relevo_input_bitrate_bits_per_second{{{IN},window=\"1s\"}} 4000000"),
        format!("relevo_input_bitrate_bits_per_second{{{IN},window=\"10s\"}} 3500000"),
        format!("relevo_input_uptime_seconds{{{IN}}} 61.5"),
        format!(
            "relevo_input_publisher_connected_timestamp_seconds{{{IN},protocol=\"srt\",peer=\"192.0.2.7:4000\"}} 1700000000"
        ),
        format!("relevo_input_srt_rtt_seconds{{{IN},protocol=\"srt\",peer=\"192.0.2.7:4000\"}} 0.0125"),
        format!("relevo_input_srt_latency_seconds{{{IN},protocol=\"srt\",peer=\"192.0.2.7:4000\"}} 0.12"),
        format!(
            "relevo_input_srt_packets_lost_total{{{IN},protocol=\"srt\",peer=\"192.0.2.7:4000\"}} 3"
        ),
    ] {
        assert!(text.contains(&format!("{line}\n")), "missing {line} in\n{text}");
    }
    // Unknown when receiving: not exported rather than exported as 0.
    assert!(!text.contains("relevo_input_srt_packets_retransmitted_total"));
    assert!(!text.contains("relevo_input_last_error"));
}

#[test]
fn outputs_report_errors_by_time_and_peers_with_their_link() {
    let text = render(&snapshot());
    let cdn = format!("{IN},output=\"cdn\",kind=\"push_rtmp\"");
    let rd = format!("{IN},output=\"readers\",kind=\"pull_srt\"");
    let peer = format!("{rd},protocol=\"srt\",peer=\"198.51.100.1:9000\"");
    for line in [
        format!("relevo_output_state{{{cdn},state=\"retrying\"}} 1"),
        format!("relevo_output_reconnects_total{{{cdn}}} 3"),
        format!("relevo_output_dropped_total{{{cdn}}} 7"),
        format!("relevo_output_last_error_timestamp_seconds{{{cdn}}} 1700000100"),
        format!("relevo_output_uptime_seconds{{{cdn}}} 0"),
        format!("relevo_output_peers{{{rd}}} 1"),
        format!("relevo_output_bitrate_bits_per_second{{{rd},window=\"10s\"}} 16"),
        format!("relevo_output_peer_connected_timestamp_seconds{{{peer}}} 1700000050"),
        format!("relevo_output_srt_packets_retransmitted_total{{{peer}}} 4"),
        format!("relevo_output_srt_buffer_seconds{{{peer}}} 0.04"),
        format!("relevo_output_srt_bandwidth_bits_per_second{{{peer}}} 2500000"),
    ] {
        assert!(
            text.contains(&format!("{line}\n")),
            "missing {line} in\n{text}"
        );
    }
    // The message is free text: not a label.
    assert!(!text.contains("connection refused"));
}

#[test]
fn an_empty_engine_renders_nothing() {
    assert_eq!(render(&Snapshot::default()), "");
}

#[test]
fn record_outputs_report_files_and_the_disk() {
    let text = render(&snapshot());
    let ar = format!("{IN},output=\"archive\"");
    let bk = format!("{IN},output=\"backup\"");
    for line in [
        format!("relevo_output_state{{{ar},kind=\"record\",state=\"disk_full\"}} 1"),
        format!("relevo_output_state{{{ar},kind=\"record\",state=\"live\"}} 0"),
        format!("relevo_output_state{{{bk},kind=\"record\",state=\"disk_full\"}} 0"),
        format!("relevo_output_last_error_timestamp_seconds{{{ar},kind=\"record\"}} 1700000200"),
        format!("relevo_record_bytes_written_total{{{ar}}} 3000000000"),
        format!("relevo_record_files_total{{{ar}}} 4"),
        format!("relevo_record_current_file_seconds{{{ar}}} 0"),
        format!("relevo_record_bytes_written_total{{{bk}}} 5000"),
        format!("relevo_record_files_total{{{bk}}} 1"),
        format!("relevo_record_current_file_seconds{{{bk}}} 11.5"),
        "relevo_recording_disk_free_bytes 943718400".to_owned(),
        "relevo_recording_disk_total_bytes 21474836480".to_owned(),
        "relevo_recording_disk_floor_bytes 1073741824".to_owned(),
    ] {
        assert!(
            text.contains(&format!("{line}\n")),
            "missing {line} in\n{text}"
        );
    }
    // Only record outputs have record families; file names and messages are not labels.
    assert!(!text.contains(&format!("relevo_record_files_total{{{IN},output=\"cdn\"")));
    assert_eq!(text.matches("relevo_record_files_total{").count(), 2);
    assert!(!text.contains("2023-11-14T22-13-20Z"));
    assert!(!text.contains("disk full:"));
}

#[test]
fn no_recording_folder_no_disk_families() {
    let snap = Snapshot {
        recording_disk: None,
        ..snapshot()
    };
    assert!(!render(&snap).contains("relevo_recording_disk"));
}

#[test]
fn hls_outputs_report_players_segments_parts_and_bytes() {
    let text = render(&snapshot());
    let web = format!("{IN},output=\"web\"");
    for line in [
        format!("relevo_output_state{{{web},kind=\"pull_hls\",state=\"live\"}} 1"),
        format!("relevo_output_sent_bytes_total{{{web},kind=\"pull_hls\"}} 7654321"),
        format!("relevo_hls_players{{{web}}} 3"),
        format!("relevo_hls_segments_served_total{{{web}}} 40"),
        format!("relevo_hls_parts_served_total{{{web}}} 250"),
    ] {
        assert!(
            text.contains(&format!("{line}\n")),
            "missing {line} in\n{text}"
        );
    }
    // Only HLS outputs have HLS families.
    assert_eq!(text.matches("relevo_hls_players{").count(), 1);
}

#[test]
fn an_input_with_a_backup_reports_the_feed_on_air_its_switches_and_the_backups_figures() {
    let single = render(&snapshot());
    for family in [
        "relevo_input_on_air",
        "relevo_input_feed_switches_total",
        "relevo_input_backup_",
    ] {
        assert!(!single.contains(family), "{family} on a single-feed input");
    }
    let mut snap = snapshot();
    let input = &mut snap.inputs[0];
    input.on_air = Some(Feed::Backup);
    input.feed_switches = FeedSwitchCounts {
        failover: 2,
        revert: 1,
        manual: 0,
    };
    input.backup = Some(FeedSnapshot {
        live: true,
        publisher: None,
        srt: None,
        bitrate: Bitrate {
            last_1s: 2_000_000,
            last_10s: 1_000_000,
        },
        bytes_in: 4_096,
        publishes: 3,
        codecs: None,
    });
    let text = render(&snap);
    for line in [
        format!("relevo_input_on_air{{{IN},feed=\"main\"}} 0"),
        format!("relevo_input_on_air{{{IN},feed=\"backup\"}} 1"),
        format!("relevo_input_feed_switches_total{{{IN},reason=\"failover\"}} 2"),
        format!("relevo_input_feed_switches_total{{{IN},reason=\"revert\"}} 1"),
        format!("relevo_input_feed_switches_total{{{IN},reason=\"manual\"}} 0"),
        format!("relevo_input_backup_live{{{IN}}} 1"),
        format!("relevo_input_backup_bitrate_bits_per_second{{{IN},window=\"1s\"}} 2000000"),
        format!("relevo_input_backup_received_bytes_total{{{IN}}} 4096"),
        format!("relevo_input_backup_publishes_total{{{IN}}} 3"),
        // The main feed's figures keep their names and labels.
        format!("relevo_input_received_bytes_total{{{IN}}} 123456789012"),
    ] {
        assert!(
            text.contains(&format!("{line}\n")),
            "missing {line} in\n{text}"
        );
    }
}
