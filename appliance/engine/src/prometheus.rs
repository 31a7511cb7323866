//! The live [`Snapshot`] in the Prometheus text exposition format, version 0.0.4
//! (<https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format>).
//!
//! A pure function: no registry, no global state. Inputs are labelled `input="…"`, outputs
//! `input="…",output="…",kind="push_srt"`; labels carry flow names and peer addresses only,
//! never stream keys or passphrases. Error messages are not labels (free text would make a
//! new series per message): `*_last_error_timestamp_seconds` tells when, and the snapshot's
//! JSON view tells what.

use std::fmt::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::metrics::{
    Bitrate, Feed, FeedSnapshot, FlowState, HlsSnapshot, InputSnapshot, OutputSnapshot,
    PeerSnapshot, RecordSnapshot, RecordingDisk, Snapshot, SrtLink,
};

/// The `Content-Type` of [`render`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Type {
    Gauge,
    Counter,
}

/// A sample value: integers are written exactly, floats as Rust prints them.
#[derive(Debug, Clone, Copy)]
enum Value {
    Int(u64),
    Float(f64),
}

/// Families in first-use order, each with its samples, so that every family's `# HELP` and
/// `# TYPE` come once, before all of its samples.
#[derive(Debug, Default)]
struct Families {
    list: Vec<(&'static str, &'static str, Type, String)>,
}

impl Families {
    fn add(
        &mut self,
        name: &'static str,
        help: &'static str,
        ty: Type,
        labels: &[(&str, &str)],
        value: Value,
    ) {
        let idx = match self.list.iter().position(|f| f.0 == name) {
            Some(i) => i,
            None => {
                self.list.push((name, help, ty, String::new()));
                self.list.len() - 1
            }
        };
        let out = &mut self.list[idx].3;
        out.push_str(name);
        if !labels.is_empty() {
            out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let _ = write!(out, "{k}=\"{}\"", escape_label(v));
            }
            out.push('}');
        }
        let _ = match value {
            Value::Int(n) => writeln!(out, " {n}"),
            Value::Float(f) => writeln!(out, " {}", float(f)),
        };
    }

    fn finish(self) -> String {
        let mut out = String::new();
        for (name, help, ty, samples) in self.list {
            let ty = match ty {
                Type::Gauge => "gauge",
                Type::Counter => "counter",
            };
            let _ = writeln!(out, "# HELP {name} {}", escape_help(help));
            let _ = writeln!(out, "# TYPE {name} {ty}");
            out.push_str(&samples);
        }
        out
    }
}

/// Label values escape backslash, double quote and line feed.
fn escape_label(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

/// Help text escapes backslash and line feed.
fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

fn float(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{f}")
    }
}

fn unix(t: SystemTime) -> Value {
    Value::Float(
        t.duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64(),
    )
}

/// Renders every input and output of `snap`.
pub fn render(snap: &Snapshot) -> String {
    let mut f = Families::default();
    for input in &snap.inputs {
        render_input(&mut f, input);
    }
    for input in &snap.inputs {
        for output in &input.outputs {
            render_output(&mut f, &input.name, output);
            if let Some(r) = &output.record {
                render_record(&mut f, &input.name, output, r);
            }
            if let Some(h) = &output.hls {
                render_hls(&mut f, &input.name, output, h);
            }
        }
    }
    if let Some(d) = &snap.recording_disk {
        render_disk(&mut f, d);
    }
    f.finish()
}

/// A record output's files; labelled by input and output only (the kind is implied). File
/// names are not labels: one series per file would grow without end.
fn render_record(f: &mut Families, input: &str, o: &OutputSnapshot, r: &RecordSnapshot) {
    use Type::{Counter, Gauge};
    let l: &[(&str, &str)] = &[("input", input), ("output", &o.name)];
    f.add(
        "relevo_record_bytes_written_total",
        "Bytes written to recorded files.",
        Counter,
        l,
        Value::Int(o.bytes_out),
    );
    f.add(
        "relevo_record_files_total",
        "Recorded files opened, the one being written included.",
        Counter,
        l,
        Value::Int(r.files),
    );
    f.add(
        "relevo_record_current_file_seconds",
        "Media seconds in the file being written (0 when none is).",
        Gauge,
        l,
        Value::Float(r.current_file_secs.unwrap_or(0.0)),
    );
}

/// An HLS output's players and files served; labelled by input and output only (the kind
/// is implied). Its bytes are in `relevo_output_sent_bytes_total`.
fn render_hls(f: &mut Families, input: &str, o: &OutputSnapshot, h: &HlsSnapshot) {
    use Type::{Counter, Gauge};
    let l: &[(&str, &str)] = &[("input", input), ("output", &o.name)];
    f.add(
        "relevo_hls_players",
        "Distinct client addresses that read the HLS output over its last playlist window.",
        Gauge,
        l,
        Value::Int(h.players),
    );
    f.add(
        "relevo_hls_segments_served_total",
        "HLS media segments served.",
        Counter,
        l,
        Value::Int(h.segments_served),
    );
    f.add(
        "relevo_hls_parts_served_total",
        "LL-HLS partial segments served.",
        Counter,
        l,
        Value::Int(h.parts_served),
    );
}

fn render_disk(f: &mut Families, d: &RecordingDisk) {
    use Type::Gauge;
    f.add(
        "relevo_recording_disk_free_bytes",
        "Free bytes of the recordings filesystem available to the relay.",
        Gauge,
        &[],
        Value::Int(d.free_bytes),
    );
    f.add(
        "relevo_recording_disk_total_bytes",
        "Size of the recordings filesystem.",
        Gauge,
        &[],
        Value::Int(d.total_bytes),
    );
    f.add(
        "relevo_recording_disk_floor_bytes",
        "Free bytes recording leaves alone: below them record outputs stop (disk_full).",
        Gauge,
        &[],
        Value::Int(d.floor_bytes),
    );
}

fn states(
    f: &mut Families,
    name: &'static str,
    help: &'static str,
    labels: &[(&str, &str)],
    state: FlowState,
) {
    for s in FlowState::ALL {
        let mut l = labels.to_vec();
        l.push(("state", s.as_str()));
        f.add(
            name,
            help,
            Type::Gauge,
            &l,
            Value::Int(u64::from(s == state)),
        );
    }
}

fn bitrate(
    f: &mut Families,
    name: &'static str,
    help: &'static str,
    labels: &[(&str, &str)],
    b: Bitrate,
) {
    for (window, v) in [("1s", b.last_1s), ("10s", b.last_10s)] {
        let mut l = labels.to_vec();
        l.push(("window", window));
        f.add(name, help, Type::Gauge, &l, Value::Int(v));
    }
}

/// The SRT link families of one connection; `names` are the input's or the output's.
struct SrtNames {
    rtt: &'static str,
    lost: &'static str,
    retrans: &'static str,
    dropped: &'static str,
    latency: &'static str,
    buffer: &'static str,
    bandwidth: &'static str,
}

const INPUT_SRT: SrtNames = SrtNames {
    rtt: "relevo_input_srt_rtt_seconds",
    lost: "relevo_input_srt_packets_lost_total",
    retrans: "relevo_input_srt_packets_retransmitted_total",
    dropped: "relevo_input_srt_packets_dropped_total",
    latency: "relevo_input_srt_latency_seconds",
    buffer: "relevo_input_srt_buffer_seconds",
    bandwidth: "relevo_input_srt_bandwidth_bits_per_second",
};

const OUTPUT_SRT: SrtNames = SrtNames {
    rtt: "relevo_output_srt_rtt_seconds",
    lost: "relevo_output_srt_packets_lost_total",
    retrans: "relevo_output_srt_packets_retransmitted_total",
    dropped: "relevo_output_srt_packets_dropped_total",
    latency: "relevo_output_srt_latency_seconds",
    buffer: "relevo_output_srt_buffer_seconds",
    bandwidth: "relevo_output_srt_bandwidth_bits_per_second",
};

fn srt_link(f: &mut Families, n: &SrtNames, labels: &[(&str, &str)], s: &SrtLink) {
    use Type::{Counter, Gauge};
    let ms = |v: f64| Value::Float(v / 1000.0);
    f.add(
        n.rtt,
        "Smoothed round-trip time of the SRT connection.",
        Gauge,
        labels,
        ms(s.rtt_ms),
    );
    f.add(
        n.lost,
        "SRT packets lost on the way (detected when receiving, reported by the peer when sending).",
        Counter,
        labels,
        Value::Int(s.packets_lost),
    );
    if let Some(r) = s.packets_retransmitted {
        f.add(
            n.retrans,
            "SRT packets retransmitted by the relay.",
            Counter,
            labels,
            Value::Int(r),
        );
    }
    f.add(
        n.dropped,
        "SRT packets dropped as too late to play or to send.",
        Counter,
        labels,
        Value::Int(s.packets_dropped),
    );
    f.add(
        n.latency,
        "Negotiated SRT latency (TSBPD delay) of the media's direction.",
        Gauge,
        labels,
        ms(f64::from(s.latency_ms)),
    );
    f.add(
        n.buffer,
        "Media held in the SRT buffer: undelivered when receiving, unacknowledged when sending.",
        Gauge,
        labels,
        ms(f64::from(s.buffer_ms)),
    );
    f.add(
        n.bandwidth,
        "libsrt's estimate of the SRT link's bandwidth.",
        Gauge,
        labels,
        Value::Float(s.bandwidth_mbps * 1e6),
    );
}

fn render_input(f: &mut Families, i: &InputSnapshot) {
    use Type::{Counter, Gauge};
    let l: &[(&str, &str)] = &[("input", &i.name)];
    states(
        f,
        "relevo_input_state",
        "Whether the input is in this state (1) or not (0).",
        l,
        i.state,
    );
    bitrate(
        f,
        "relevo_input_bitrate_bits_per_second",
        "Incoming bit rate over the window.",
        l,
        i.bitrate,
    );
    f.add(
        "relevo_input_received_bytes_total",
        "Media bytes received from publishers.",
        Counter,
        l,
        Value::Int(i.bytes_in),
    );
    f.add(
        "relevo_input_publishes_total",
        "Publishers accepted.",
        Counter,
        l,
        Value::Int(i.publishes),
    );
    f.add(
        "relevo_input_rejections_total",
        "Publishers or pull attempts turned away or failed.",
        Counter,
        l,
        Value::Int(i.rejections),
    );
    f.add(
        "relevo_input_stream_errors_total",
        "Container errors in the incoming stream.",
        Counter,
        l,
        Value::Int(i.stream_errors),
    );
    f.add(
        "relevo_input_uptime_seconds",
        "Seconds since the current publisher connected (0 when none).",
        Gauge,
        l,
        Value::Float(i.uptime_secs.unwrap_or(0.0)),
    );
    if let Some(e) = &i.last_error {
        f.add(
            "relevo_input_last_error_timestamp_seconds",
            "When the input's last error happened (the message is in the status API).",
            Gauge,
            l,
            unix(e.at),
        );
    }
    if let Some(p) = &i.publisher {
        let pl: &[(&str, &str)] = &[
            ("input", &i.name),
            ("protocol", p.protocol),
            ("peer", &p.peer),
        ];
        f.add(
            "relevo_input_publisher_connected_timestamp_seconds",
            "When the current publisher connected.",
            Gauge,
            pl,
            unix(p.since),
        );
        if let Some(s) = &i.srt {
            srt_link(f, &INPUT_SRT, pl, s);
        }
    }
    if let Some(b) = &i.backup {
        render_backup(f, i, b);
    }
}

/// An input's backup feed (issue #18): families of their own, so that the input's others
/// keep their names and labels (their figures are the main feed's).
fn render_backup(f: &mut Families, i: &InputSnapshot, b: &FeedSnapshot) {
    use Type::{Counter, Gauge};
    let l: &[(&str, &str)] = &[("input", &i.name)];
    for feed in [Feed::Main, Feed::Backup] {
        f.add(
            "relevo_input_on_air",
            "Whether this feed of an input with a backup is the one the outputs take (1) or not (0).",
            Gauge,
            &[("input", &i.name), ("feed", feed.as_str())],
            Value::Int(u64::from(i.on_air == Some(feed))),
        );
    }
    let s = i.feed_switches;
    for (reason, n) in [
        ("failover", s.failover),
        ("revert", s.revert),
        ("manual", s.manual),
    ] {
        f.add(
            "relevo_input_feed_switches_total",
            "Changes of the feed on air of an input with a backup, by reason.",
            Counter,
            &[("input", &i.name), ("reason", reason)],
            Value::Int(n),
        );
    }
    f.add(
        "relevo_input_backup_live",
        "Whether the input's backup feed has a publisher that is sending (1) or not (0).",
        Gauge,
        l,
        Value::Int(u64::from(b.live)),
    );
    bitrate(
        f,
        "relevo_input_backup_bitrate_bits_per_second",
        "Incoming bit rate of the input's backup feed over the window.",
        l,
        b.bitrate,
    );
    f.add(
        "relevo_input_backup_received_bytes_total",
        "Media bytes received from the input's backup feed.",
        Counter,
        l,
        Value::Int(b.bytes_in),
    );
    f.add(
        "relevo_input_backup_publishes_total",
        "Publishers of the input's backup feed accepted.",
        Counter,
        l,
        Value::Int(b.publishes),
    );
}

fn render_output(f: &mut Families, input: &str, o: &OutputSnapshot) {
    use Type::{Counter, Gauge};
    let l: &[(&str, &str)] = &[("input", input), ("output", &o.name), ("kind", o.kind)];
    states(
        f,
        "relevo_output_state",
        "Whether the output is in this state (1) or not (0).",
        l,
        o.state,
    );
    bitrate(
        f,
        "relevo_output_bitrate_bits_per_second",
        "Outgoing bit rate over the window, all peers together.",
        l,
        o.bitrate,
    );
    f.add(
        "relevo_output_sent_bytes_total",
        "Media bytes sent, all peers together.",
        Counter,
        l,
        Value::Int(o.bytes_out),
    );
    f.add(
        "relevo_output_dropped_total",
        "Media units (TS chunks or FLV tags) dropped because the output's queue was full.",
        Counter,
        l,
        Value::Int(o.dropped),
    );
    f.add(
        "relevo_output_reconnects_total",
        "Failed push attempts followed by a retry.",
        Counter,
        l,
        Value::Int(o.reconnects),
    );
    f.add(
        "relevo_output_peers",
        "Connected readers (pull) or destinations (push).",
        Gauge,
        l,
        Value::Int(o.peers),
    );
    f.add(
        "relevo_output_uptime_seconds",
        "Seconds since the output went live (0 when not live).",
        Gauge,
        l,
        Value::Float(o.uptime_secs.unwrap_or(0.0)),
    );
    if let Some(e) = &o.last_error {
        f.add(
            "relevo_output_last_error_timestamp_seconds",
            "When the output's last error happened (the message is in the status API).",
            Gauge,
            l,
            unix(e.at),
        );
    }
    if let Some(lat) = &o.latency {
        for (q, v) in [("0.5", lat.p50_ms), ("0.99", lat.p99_ms)] {
            let mut ql = l.to_vec();
            ql.push(("quantile", q));
            f.add(
                "relevo_output_latency_seconds",
                "Time from a packet's arrival in the relay to its departure through this output.",
                Gauge,
                &ql,
                Value::Float(v / 1000.0),
            );
        }
    }
    for p in &o.connections {
        peer(f, l, p);
    }
}

fn peer(f: &mut Families, labels: &[(&str, &str)], p: &PeerSnapshot) {
    let mut pl = labels.to_vec();
    pl.push(("protocol", p.protocol));
    pl.push(("peer", &p.addr));
    f.add(
        "relevo_output_peer_connected_timestamp_seconds",
        "When this peer connected.",
        Type::Gauge,
        &pl,
        unix(p.since),
    );
    if let Some(s) = &p.srt {
        srt_link(f, &OUTPUT_SRT, &pl, s);
    }
}

#[cfg(test)]
mod tests;
