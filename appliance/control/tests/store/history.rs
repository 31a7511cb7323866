//! Flow history in the store (issue #17): minute rows merge on conflict and bucket with
//! `date_bin`; events filter by flow, kind prefix, severity and time and page by id;
//! configuration changes become `config` events through the audit trigger; retention
//! deletes by age. The ignored `history_cost_of_50_flows` measures the cost of 50 flows.

use std::sync::Arc;
use std::time::{Duration, Instant};

use relevo_control::history::bench_fold;
use relevo_control::store::history::{self as h, EventFilter, MinuteRow, NewEvent, Severity};
use relevo_control::store::{inputs, outputs, InputDef};
use relevo_engine::metrics::{
    Bitrate, FlowState, InputSnapshot, OutputSnapshot, PeerSnapshot, PublisherInfo, Snapshot,
    SrtLink,
};
use serde_json::json;
use time::macros::datetime;
use time::OffsetDateTime;

use crate::common::*;

fn row(input: &str, output: Option<&str>, minute: OffsetDateTime, live: i32) -> MinuteRow {
    MinuteRow {
        minute,
        input: input.into(),
        output: output.map(str::to_owned),
        secs_live: live,
        secs_waiting: 0,
        secs_failing: 0,
        secs_stopped: 0,
        secs_meant: live,
        bitrate_avg: 1_000_000,
        bitrate_min: 900_000,
        bitrate_max: 1_100_000,
        bytes: 125_000 * i64::from(live),
        reconnects: 1,
        dropped: 2,
        srt_rtt_ms: Some(20.0),
        srt_packets: Some(100),
        srt_lost: Some(1),
        srt_retransmitted: None,
        peers_max: 3,
    }
}

#[tokio::test]
async fn minute_rows_merge_on_conflict_and_group_into_buckets() {
    let db = test_db().await;
    let m = datetime!(2026-12-07 10:00 UTC);
    // A flush at shutdown wrote 20 s of the minute; the restarted collector writes the rest.
    h::upsert_minutes(
        &db.pool,
        &[
            row("studio", None, m, 20),
            row("studio", Some("cdn"), m, 20),
        ],
    )
    .await
    .expect("first write");
    let mut rest = row("studio", None, m, 40);
    rest.bitrate_avg = 2_500_000;
    rest.bitrate_min = 2_000_000;
    rest.bitrate_max = 3_000_000;
    rest.srt_retransmitted = Some(4);
    h::upsert_minutes(&db.pool, &[rest]).await.expect("merge");
    let rows = h::minutes(
        &db.pool,
        "studio",
        None,
        m,
        m + time::Duration::MINUTE,
        60,
        OffsetDateTime::UNIX_EPOCH,
    )
    .await
    .expect("read");
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!((r.secs_live, r.secs_meant), (60, 60));
    assert_eq!(
        r.bitrate_avg, 2_000_000,
        "weighted by seconds: (20×1 M + 40×2.5 M) / 60"
    );
    assert_eq!((r.bitrate_min, r.bitrate_max), (900_000, 3_000_000));
    assert_eq!((r.bytes, r.reconnects, r.dropped), (60 * 125_000, 2, 4));
    assert_eq!(
        (r.srt_packets, r.srt_lost, r.srt_retransmitted),
        (Some(200), Some(2), Some(4))
    );
    assert_eq!(r.peers_max, 3);
    // The output's own row is apart.
    let out = h::minutes(
        &db.pool,
        "studio",
        Some("cdn"),
        m,
        m + time::Duration::MINUTE,
        60,
        OffsetDateTime::UNIX_EPOCH,
    )
    .await
    .expect("read output");
    assert_eq!(out[0].secs_live, 20);

    // 25 minutes from 10:00 in buckets of 10: 10:00, 10:10, 10:20.
    let many: Vec<MinuteRow> = (1..25)
        .map(|i| row("studio", None, m + time::Duration::minutes(i), 60))
        .collect();
    h::upsert_minutes(&db.pool, &many).await.expect("batch");
    let buckets = h::minutes(
        &db.pool,
        "studio",
        None,
        m,
        m + time::Duration::hours(1),
        600,
        OffsetDateTime::UNIX_EPOCH,
    )
    .await
    .expect("buckets");
    let starts: Vec<_> = buckets.iter().map(|b| (b.minute, b.secs_live)).collect();
    assert_eq!(
        starts,
        [
            (m, 600),
            (m + time::Duration::minutes(10), 600),
            (m + time::Duration::minutes(20), 300)
        ]
    );
    let (live, meant) =
        h::live_and_meant(&db.pool, "studio", None, m, m + time::Duration::hours(1))
            .await
            .expect("availability");
    assert_eq!((live, meant), (25 * 60, 25 * 60));
}

#[tokio::test]
async fn a_row_past_the_minute_is_refused_by_the_schema() {
    let db = test_db().await;
    let mut r = row("studio", None, datetime!(2026-12-07 10:00:30 UTC), 10);
    assert!(
        h::upsert_minutes(&db.pool, &[r.clone()]).await.is_err(),
        "not a whole minute"
    );
    r.minute = datetime!(2026-12-07 10:00 UTC);
    h::upsert_minutes(&db.pool, &[r])
        .await
        .expect("a whole minute");
}

fn event(
    at: OffsetDateTime,
    input: &str,
    output: Option<&str>,
    kind: &str,
    severity: Severity,
) -> NewEvent {
    NewEvent {
        at,
        input: input.into(),
        output: output.map(str::to_owned),
        kind: kind.into(),
        severity,
        detail: json!({ "peer": "192.0.2.1:5000" }),
        audit_id: None,
    }
}

#[tokio::test]
async fn events_filter_by_flow_kind_severity_and_time_and_page_newest_first() {
    let db = test_db().await;
    let t = datetime!(2026-12-07 10:00 UTC);
    let s = |n: i64| t + time::Duration::seconds(n);
    h::insert_events(
        &db.pool,
        &[
            event(s(0), "studio", None, "publisher.connected", Severity::Info),
            event(
                s(1),
                "studio",
                Some("cdn"),
                "output.failed",
                Severity::Error,
            ),
            event(
                s(2),
                "studio",
                None,
                "publisher.disconnected",
                Severity::Warning,
            ),
            event(s(3), "other", None, "publisher.connected", Severity::Info),
            event(
                s(4),
                "studio",
                Some("pull"),
                "reader.joined",
                Severity::Info,
            ),
            event(s(5), "", None, "disk.low", Severity::Warning),
        ],
    )
    .await
    .expect("insert");
    let read = |f: EventFilter| {
        let pool = db.pool.clone();
        async move {
            h::events(
                &pool,
                &EventFilter {
                    limit: f.limit.max(1),
                    ..f
                },
            )
            .await
            .expect("events")
        }
    };
    let kinds = |p: &h::EventPage| p.events.iter().map(|e| e.kind.clone()).collect::<Vec<_>>();
    let all = read(EventFilter {
        limit: 100,
        ..Default::default()
    })
    .await;
    assert_eq!(all.events.len(), 6);
    assert_eq!(all.events[0].kind, "disk.low", "newest first");
    assert_eq!(all.next_before_id, None);
    let studio = read(EventFilter {
        input: Some("studio".into()),
        limit: 100,
        ..Default::default()
    })
    .await;
    assert_eq!(studio.events.len(), 4);
    let own = read(EventFilter {
        input: Some("studio".into()),
        output: Some(String::new()),
        limit: 100,
        ..Default::default()
    })
    .await;
    assert_eq!(
        kinds(&own),
        ["publisher.disconnected", "publisher.connected"]
    );
    assert_eq!(own.events[0].output, None);
    let cdn = read(EventFilter {
        input: Some("studio".into()),
        output: Some("cdn".into()),
        limit: 100,
        ..Default::default()
    })
    .await;
    assert_eq!(kinds(&cdn), ["output.failed"]);
    assert_eq!(cdn.events[0].output.as_deref(), Some("cdn"));
    let appliance = read(EventFilter {
        input: Some(String::new()),
        limit: 100,
        ..Default::default()
    })
    .await;
    assert_eq!(kinds(&appliance), ["disk.low"]);
    // Prefix and exact kinds; "publisher" alone (no dot) is an exact kind: nothing.
    let prefix = read(EventFilter {
        kinds: vec!["publisher.".into()],
        limit: 100,
        ..Default::default()
    })
    .await;
    assert_eq!(prefix.events.len(), 3);
    let mixed = read(EventFilter {
        kinds: vec!["publisher.disconnected".into(), "reader.".into()],
        limit: 100,
        ..Default::default()
    })
    .await;
    assert_eq!(kinds(&mixed), ["reader.joined", "publisher.disconnected"]);
    let bare = read(EventFilter {
        kinds: vec!["publisher".into()],
        limit: 100,
        ..Default::default()
    })
    .await;
    assert!(bare.events.is_empty());
    let warn = read(EventFilter {
        severity: Some(Severity::Warning),
        limit: 100,
        ..Default::default()
    })
    .await;
    assert_eq!(
        kinds(&warn),
        ["disk.low", "publisher.disconnected", "output.failed"]
    );
    let window = read(EventFilter {
        from: Some(s(1)),
        to: Some(s(3)),
        limit: 100,
        ..Default::default()
    })
    .await;
    assert_eq!(kinds(&window), ["publisher.disconnected", "output.failed"]);
    // Pages of two, following next_before_id to the end.
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = read(EventFilter {
            before_id: before,
            limit: 2,
            ..Default::default()
        })
        .await;
        assert!(page.events.len() <= 2);
        seen.extend(kinds(&page));
        match page.next_before_id {
            Some(id) => before = Some(id),
            None => break,
        }
    }
    assert_eq!(seen, kinds(&all));
}

fn studio() -> InputDef {
    InputDef {
        name: name("Estudio A"),
        enabled: true,
        source: listen("studio-a"),
        grace: grace(10),
        backup: None,
    }
}

#[tokio::test]
async fn configuration_changes_become_config_events_linked_to_their_audit_row() {
    let db = test_db().await;
    let input = inputs::create(&db.pool, &actor(), &studio())
        .await
        .expect("input");
    let out = outputs::create(
        &db.pool,
        &actor(),
        input.id,
        &pull_rtmp_output("Sala", "sala-key"),
    )
    .await
    .expect("output");
    outputs::delete(&db.pool, &actor(), out.id)
        .await
        .expect("delete output");
    let page = h::events(
        &db.pool,
        &EventFilter {
            kinds: vec!["config".into()],
            limit: 10,
            ..Default::default()
        },
    )
    .await
    .expect("events");
    let audit = audit_log(&db.pool, 10).await;
    let got: Vec<_> = page
        .events
        .iter()
        .map(|e| {
            (
                e.input.as_str(),
                e.output.as_deref(),
                e.detail["action"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("Estudio A", Some("Sala"), "output.delete"),
            ("Estudio A", Some("Sala"), "output.create"),
            ("Estudio A", None, "input.create"),
        ]
    );
    for (e, a) in page.events.iter().zip(&audit) {
        assert_eq!(e.audit_id, Some(a.id), "linked to its audit row");
        assert_eq!(e.at, a.at);
        assert_eq!(e.detail["actor"], "ana@example.org");
        assert!(
            !e.detail.to_string().contains("sala-key"),
            "no secret in the event"
        );
    }
    // Something that is not a flow (a user) writes no flow event.
    let before = page.events.len();
    sqlx::query(
        "INSERT INTO audit_log (actor, action, target_kind) VALUES ('cli', 'user.create', 'user')",
    )
    .execute(&db.pool)
    .await
    .expect("audit row");
    let again = h::events(
        &db.pool,
        &EventFilter {
            limit: 100,
            ..Default::default()
        },
    )
    .await
    .expect("events");
    assert_eq!(again.events.len(), before);
}

#[tokio::test]
async fn retention_deletes_rows_and_events_older_than_the_cut() {
    let db = test_db().await;
    let old = datetime!(2026-10-01 10:00 UTC);
    let new = datetime!(2026-12-07 10:00 UTC);
    h::upsert_minutes(
        &db.pool,
        &[row("studio", None, old, 60), row("studio", None, new, 60)],
    )
    .await
    .expect("rows");
    h::insert_events(
        &db.pool,
        &[
            event(old, "studio", None, "publisher.connected", Severity::Info),
            event(new, "studio", None, "publisher.connected", Severity::Info),
        ],
    )
    .await
    .expect("events");
    let cut = new - time::Duration::days(30);
    assert_eq!(
        h::delete_older_than(&db.pool, cut).await.expect("delete"),
        (1, 1)
    );
    let rows = h::minutes(
        &db.pool,
        "studio",
        None,
        old,
        new + time::Duration::MINUTE,
        60,
        OffsetDateTime::UNIX_EPOCH,
    )
    .await
    .expect("rows");
    assert_eq!(rows.iter().map(|r| r.minute).collect::<Vec<_>>(), [new]);
    let left = h::events(
        &db.pool,
        &EventFilter {
            limit: 10,
            ..Default::default()
        },
    )
    .await
    .expect("events");
    assert_eq!(left.events.iter().map(|e| e.at).collect::<Vec<_>>(), [new]);
}

/// 50 inputs, each with one push SRT output, as the engine would show them at second `t`.
fn fifty_flows(t: u64) -> Snapshot {
    let since = std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let link = |n: u64| SrtLink {
        rtt_ms: 12.0,
        packets: n * 400,
        packets_lost: n / 10,
        packets_retransmitted: Some(n / 5),
        packets_dropped: 0,
        latency_ms: 120,
        buffer_ms: 10,
        bandwidth_mbps: 50.0,
    };
    let inputs = (0..50)
        .map(|i| InputSnapshot {
            name: format!("input-{i:02}"),
            state: FlowState::Live,
            publisher: Some(PublisherInfo {
                protocol: "srt",
                peer: format!("192.0.2.{i}:5000"),
                since,
            }),
            srt: Some(link(t)),
            bitrate: Bitrate {
                last_1s: 4_000_000,
                last_10s: 4_000_000,
            },
            bytes_in: t * 500_000,
            publishes: 1,
            rejections: 0,
            stream_errors: 0,
            uptime_secs: Some(t as f64),
            last_error: None,
            codecs: None,
            backup: None,
            on_air: None,
            on_air_since: None,
            last_switch: None,
            feed_switches: Default::default(),
            outputs: vec![OutputSnapshot {
                name: "cdn".into(),
                kind: "push_srt",
                state: FlowState::Live,
                bitrate: Bitrate {
                    last_1s: 4_000_000,
                    last_10s: 4_000_000,
                },
                bytes_out: t * 500_000,
                dropped: 0,
                reconnects: 0,
                peers: 1,
                connections: vec![PeerSnapshot {
                    protocol: "srt",
                    addr: format!("198.51.100.{i}:9000"),
                    since,
                    srt: Some(link(t)),
                }],
                uptime_secs: Some(t as f64),
                latency: None,
                last_error: None,
                record: None,
                hls: None,
                compat: Vec::new(),
            }],
        })
        .collect();
    Snapshot {
        inputs,
        recording_disk: None,
    }
}

/// The cost of history with 50 inputs (each with one output: 100 flows): CPU time to fold
/// an hour of snapshots, and database bytes for a day of minute rows. Run with
/// `cargo test -p relevo-control --test store --release -- --ignored --nocapture history_cost`.
#[tokio::test]
#[ignore = "a measurement, not a check: run by hand"]
async fn history_cost_of_50_flows() {
    let db = test_db().await;
    let snapshots: Vec<Arc<Snapshot>> = (0..3600).map(|t| Arc::new(fifty_flows(t))).collect();
    let start = datetime!(2026-12-07 00:00 UTC);
    let cpu = cpu_time();
    let (rows, events) = bench_fold(&snapshots, start);
    let folded = cpu_time() - cpu;
    assert_eq!(rows.len(), 60 * 100, "one row per flow and minute");
    assert_eq!(
        events, 50,
        "each input's publisher, connected since the start"
    );
    // One minute of 100 flows is one statement.
    let minute: Vec<MinuteRow> = rows.iter().filter(|r| r.minute == start).cloned().collect();
    let wall = Instant::now();
    h::upsert_minutes(&db.pool, &minute)
        .await
        .expect("one minute");
    let one_insert = wall.elapsed();
    // A day: 1440 such statements.
    for m in 1..1440 {
        let at = start + time::Duration::minutes(m);
        let batch: Vec<MinuteRow> = minute
            .iter()
            .cloned()
            .map(|mut r| {
                r.minute = at;
                r
            })
            .collect();
        h::upsert_minutes(&db.pool, &batch).await.expect("a minute");
    }
    sqlx::query("VACUUM ANALYZE flow_minutes")
        .execute(&db.pool)
        .await
        .expect("vacuum");
    let bytes: i64 = sqlx::query_scalar("SELECT pg_total_relation_size('flow_minutes')")
        .fetch_one(&db.pool)
        .await
        .expect("size");
    println!(
        "history cost, 50 inputs + 50 outputs: folding 3600 snapshots took {:.3} s of CPU \
         ({:.1} µs per one-second snapshot, {:.4} % of one core); one minute's insert of 100 rows \
         {:.1} ms wall; a day of minute rows = {:.1} MiB in flow_minutes (indexes included), \
         {:.0} bytes per row; the 1 s ring: {} bytes a second, {:.1} MiB for an hour of \
         100 flows",
        folded.as_secs_f64(),
        folded.as_secs_f64() * 1e6 / 3600.0,
        folded.as_secs_f64() / 3600.0 * 100.0,
        one_insert.as_secs_f64() * 1e3,
        bytes as f64 / 1048576.0,
        bytes as f64 / (1440.0 * 100.0),
        relevo_control::history::BYTES_PER_SECOND,
        (relevo_control::history::BYTES_PER_SECOND * 3600 * 100) as f64 / 1048576.0
    );
}

/// CPU time of this process (user + system).
fn cpu_time() -> Duration {
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF)
        .expect("getrusage");
    let tv = |t: nix::sys::time::TimeVal| {
        Duration::from_secs(t.tv_sec() as u64) + Duration::from_micros(t.tv_usec() as u64)
    };
    tv(usage.user_time()) + tv(usage.system_time())
}
