//! Record outputs and the disk, with real publishers and readers: a small real filesystem
//! (a tmpfs mounted by the test, as root like CI) filled by a recording stops that recording
//! alone at the floor, a pull output of the same input keeps the whole stream, and the
//! recording resumes by itself once files are deleted; retention runs in the live recorder
//! (by age, by size and by count, oldest first, leaving other files alone).
//!
//! Retention's arithmetic (many files, the file being written, ties) is unit-tested in
//! `relevo_engine::record::retention`; here it is the recorder that must call it.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use common::*;
use relevo_engine::record::{disk, files};
use relevo_engine::spec::RecordFormat;

/// A tmpfs mounted for one test, unmounted (lazily if still busy) when it ends.
struct Tmpfs {
    dir: TempDir,
}

impl Tmpfs {
    fn mount(name: &str, size: &str) -> Self {
        let dir = TempDir::new(name);
        let st = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0750"),
                "tmpfs",
            ])
            .arg(&dir.0)
            .status()
            .unwrap();
        assert!(
            st.success(),
            "mounting a tmpfs at {} (the test runs as root, as in CI)",
            dir.0.display()
        );
        Self { dir }
    }

    fn path(&self) -> &Path {
        &self.dir.0
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.dir.0)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = Command::new("umount").arg("-l").arg(&self.dir.0).status();
        }
    }
}

/// Gives `path` (recursively) to the service user when the test runs as root: Relevo then
/// drops root and must own the folders it writes in.
fn give_to_service_user(path: &Path) {
    let uid = Command::new("id").arg("-u").output().unwrap();
    if String::from_utf8_lossy(&uid.stdout).trim() == "0" {
        let st = Command::new("chown")
            .args(["-R", "relevo:"])
            .arg(path)
            .status()
            .unwrap();
        assert!(st.success(), "chown {}", path.display());
    }
}

fn record_toml(name: &str, format: &str, extra: &str) -> String {
    format!("\n  [[input.output]]\n  name = \"{name}\"\n  record = \"{format}\"\n{extra}")
}

/// Names of the files in `dir`, sorted.
fn names(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Every regular file under `dir`, at any depth.
fn all_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap().filter_map(|e| e.ok()) {
            let t = e.file_type().unwrap();
            if t.is_dir() {
                todo.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    out
}

fn seq_of(name: &str) -> u32 {
    files::parse_file_name(name)
        .unwrap_or_else(|| panic!("{name} is not a recording's name"))
        .1
}

/// The `/metrics` line `name{labels} value`'s value.
fn metric(relevo: &Relevo, line_start: &str) -> Option<String> {
    let text = relevo.get("/metrics")?;
    text.lines()
        .find_map(|l| l.strip_prefix(line_start))
        .map(|v| v.trim().to_owned())
}

/// 24 MiB of disk with a floor of half of it: 12 MiB may be recorded, which the 6 Mbit/s
/// publisher fills in about 16 s (two 10 s files, the second cut short).
const DISK: &str = "24m";
const DISK_BYTES: u64 = 24 << 20;
const FLOOR_PERCENT: u64 = 50;
/// Long enough to fill the disk, delete, resume and fill it again.
const SECS: u32 = 50;

#[test]
fn a_full_disk_stops_only_the_recording_and_it_resumes_when_files_are_deleted() {
    let disk_mount = Tmpfs::mount("rec-disk-mnt", DISK);
    let rec = disk_mount.path().to_owned();
    let flows = [
        input_toml("studio", "studio-disk"),
        record_toml("archive", "ts", "  segment_s = 10\n"),
        pull_toml("readers", "srt", "studio-disk-read"),
    ];
    // The floor is the smaller of the share and the GiB: 1 GiB does not bind on 24 MiB.
    let extra = format!(
        "[recording]\ndir = \"{}\"\nmin_free_percent = {FLOOR_PERCENT}\nmin_free_gib = 1\n",
        rec.display()
    );
    let relevo = Relevo::start("rec-disk-full", &extra, &flows.concat());
    let dir = &relevo.dir;
    let reader = relevo.srt_reader("studio-disk-read", &dir.path("pull.ts"));
    relevo.wait_log("SRT reader connected", 1);

    let mut args = source_args(SECS);
    args.extend(["-b:v", "6M", "-minrate", "6M", "-maxrate", "6M"].map(String::from));
    args.extend(["-bufsize", "1M", "-x264-params", "nal-hrd=cbr"].map(String::from));
    let publisher = publish_with(
        "publisher",
        &args,
        "mpegts",
        &relevo.srt_url("publish:studio-disk", ""),
        &dir.path("publisher.log"),
    );

    let folder = files::output_dir(
        &rec,
        &relevo_engine::spec::Name::new("studio").unwrap(),
        &relevo_engine::spec::Name::new("archive").unwrap(),
    );
    let state = || relevo.output_status("studio", "archive")["state"].clone();
    wait_until("the recording to start", Duration::from_secs(30), || {
        state() == "live"
    });
    wait_until(
        "the recording to reach the floor",
        Duration::from_secs(60),
        || state() == "disk_full",
    );

    // Said in the API, the metrics and the log.
    let archive = relevo.output_status("studio", "archive");
    let why = archive["last_error"]["message"].as_str().unwrap_or("");
    assert!(why.starts_with("disk full: "), "{archive}");
    assert!(why.contains("floor 12 MiB"), "{archive}");
    assert!(
        archive["record"]["files"].as_u64().unwrap() >= 1,
        "{archive}"
    );
    let labels = "input=\"studio\",output=\"archive\",kind=\"record\"";
    assert_eq!(
        metric(
            &relevo,
            &format!("relevo_output_state{{{labels},state=\"disk_full\"}}")
        )
        .as_deref(),
        Some("1")
    );
    assert_eq!(
        metric(&relevo, "relevo_recording_disk_total_bytes").as_deref(),
        Some(DISK_BYTES.to_string().as_str())
    );
    assert_eq!(
        metric(&relevo, "relevo_recording_disk_floor_bytes").as_deref(),
        Some((DISK_BYTES * FLOOR_PERCENT / 100).to_string().as_str())
    );
    assert!(relevo.log_text().contains("disk full: "));
    let rl = "input=\"studio\",output=\"archive\"";
    let files_metric = metric(&relevo, &format!("relevo_record_files_total{{{rl}}}"));
    assert!(
        files_metric.is_some_and(|n| n.parse::<u64>().unwrap() >= 1),
        "relevo_record_files_total"
    );
    let written = metric(
        &relevo,
        &format!("relevo_record_bytes_written_total{{{rl}}}"),
    );
    assert!(
        written.is_some_and(|n| n.parse::<u64>().unwrap() > 0),
        "relevo_record_bytes_written_total"
    );
    let api_disk = relevo.status()["recording_disk"].clone();
    assert_eq!(api_disk["total_bytes"], DISK_BYTES, "{api_disk}");

    // Nothing else touched: the floor is left free, nothing outside the output's folder
    // was written, the input and its pull output go on.
    let usage = disk::usage(&rec).unwrap();
    let floor = DISK_BYTES * FLOOR_PERCENT / 100;
    assert!(
        usage.free_bytes >= floor,
        "{} bytes free, floor {floor}",
        usage.free_bytes
    );
    for f in all_files(&rec) {
        assert_eq!(f.parent(), Some(folder.as_path()), "{}", f.display());
    }
    let full_files = names(&folder);
    let recorded: u64 = full_files.iter().map(|n| file_len(&folder.join(n))).sum();
    assert!(
        recorded <= DISK_BYTES - floor,
        "{recorded} bytes recorded on a disk that allows {}",
        DISK_BYTES - floor
    );
    let input = relevo.status()["inputs"][0].clone();
    assert_eq!(input["state"], "live", "{input}");
    assert_eq!(relevo.output_status("studio", "readers")["state"], "live");

    // Make room: every file but the newest goes. The recording resumes by itself in a new
    // file numbered after it.
    let newest = full_files.iter().max_by_key(|n| seq_of(n)).unwrap().clone();
    for n in &full_files {
        if *n != newest || full_files.len() == 1 {
            std::fs::remove_file(folder.join(n)).unwrap();
        }
    }
    wait_until(
        "the recording to resume in a new file",
        Duration::from_secs(30),
        || state() == "live" && names(&folder).iter().any(|n| !full_files.contains(n)),
    );
    let resumed: Vec<String> = names(&folder)
        .into_iter()
        .filter(|n| !full_files.contains(n))
        .collect();
    if full_files.len() > 1 {
        assert!(
            resumed.iter().all(|n| seq_of(n) > seq_of(&newest)),
            "{resumed:?} after {newest}"
        );
    }
    println!("disk full with {full_files:?} ({recorded} bytes), resumed in {resumed:?}");

    // The pull output's reader got the whole stream throughout.
    assert!(publisher
        .wait(Duration::from_secs(u64::from(SECS) + 30))
        .success());
    wait_file_stable(&dir.path("pull.ts"));
    reader.wait(Duration::from_secs(10));
    assert_full_stream("pull output beside a full disk", &dir.path("pull.ts"), SECS);
    let readers = relevo.output_status("studio", "readers");
    assert_eq!(readers["dropped"], 0, "{readers}");
}

/// Whole 188-byte TS packets, so that crash recovery (which cuts the newest file back to
/// whole packets at start) leaves the prepared files as they are.
const TS_600_MIB: u64 = 188 * 3_346_520;

/// A prepared recording `age` old with sequence `seq`, `len` bytes (sparse: no disk used).
fn prepared(folder: &Path, age: Duration, seq: u32, len: u64) -> String {
    let name = files::file_name(SystemTime::now() - age, seq, RecordFormat::Ts);
    let f = std::fs::File::create(folder.join(&name)).unwrap();
    f.set_len(len).unwrap();
    name
}

#[test]
fn the_live_recorder_applies_retention_by_age_then_size_oldest_first() {
    let dir = TempDir::new("rec-retention");
    let rec = dir.path("rec");
    let folder = files::output_dir(
        &rec,
        &relevo_engine::spec::Name::new("studio").unwrap(),
        &relevo_engine::spec::Name::new("archive").unwrap(),
    );
    std::fs::create_dir_all(&folder).unwrap();
    let hour = Duration::from_secs(3600);
    // Older than keep_days: goes by age.
    let ancient = prepared(&folder, 400 * 24 * hour, 1, 188);
    // Within the day, but both together exceed keep_gib: the older goes by size.
    let older = prepared(&folder, 3 * hour, 2, TS_600_MIB);
    let newer = prepared(&folder, 2 * hour, 3, TS_600_MIB);
    // Not a recording's name: never touched.
    std::fs::write(folder.join("notes.txt"), b"keep me").unwrap();
    give_to_service_user(&rec);

    let extra = format!(
        "[recording]\ndir = \"{}\"\nmin_free_percent = 0\nmin_free_gib = 0\n",
        rec.display()
    );
    let flows = [
        input_toml("studio", "studio-ret"),
        record_toml(
            "archive",
            "ts",
            "  segment_s = 10\n  keep_days = 1\n  keep_gib = 1\n",
        ),
    ];
    let relevo = Relevo::start_in(dir, &extra, &flows.concat());
    let publisher = publish(
        "publisher",
        25,
        "mpegts",
        &relevo.srt_url("publish:studio-ret", ""),
        &relevo.dir.path("publisher.log"),
    );
    let recorded = |n: &String| *n != newer && n.as_str() != "notes.txt" && seq_of(n) > 3;
    wait_until(
        "retention to remove the old files while recording",
        Duration::from_secs(60),
        || {
            let now = names(&folder);
            !now.contains(&ancient) && !now.contains(&older) && now.iter().any(recorded)
        },
    );
    let now = names(&folder);
    assert!(now.contains(&newer), "{now:?}");
    assert!(now.contains("notes.txt"), "{now:?}");
    // The recorder continued the numbering after the prepared files, and nothing else is
    // in the folder.
    assert_eq!(
        now.iter().filter(|n| recorded(n)).count() + 2,
        now.len(),
        "{now:?}"
    );
    // Each removal is logged with the file.
    for gone in [&ancient, &older] {
        let logged = relevo
            .log_text()
            .lines()
            .any(|l| l.contains("removed by retention") && l.contains(gone.as_str()));
        assert!(logged, "no log line for {gone}");
    }
    assert!(publisher.wait(Duration::from_secs(60)).success());
}

/// `keep_files`: past it the oldest files go, the prepared ones first and then the
/// recorder's own, and once the last file is closed exactly `keep_files` remain, the
/// newest; a file that is not a recording does not count.
#[test]
fn the_live_recorder_applies_retention_by_count_oldest_first() {
    const KEEP: usize = 3;
    // 36 s in 10 s files: at least four files of its own, so one of them goes too.
    const SECS: u32 = 36;
    let dir = TempDir::new("rec-retention-files");
    let rec = dir.path("rec");
    let folder = files::output_dir(
        &rec,
        &relevo_engine::spec::Name::new("studio").unwrap(),
        &relevo_engine::spec::Name::new("archive").unwrap(),
    );
    std::fs::create_dir_all(&folder).unwrap();
    let hour = Duration::from_secs(3600);
    // Within any age or size: only the count removes them.
    let old: Vec<String> = (1..=4)
        .map(|seq| prepared(&folder, (5 - seq) * hour, seq, 188))
        .collect();
    std::fs::write(folder.join("notes.txt"), b"keep me").unwrap();
    give_to_service_user(&rec);

    let extra = format!(
        "[recording]\ndir = \"{}\"\nmin_free_percent = 0\nmin_free_gib = 0\n",
        rec.display()
    );
    let flows = [
        input_toml("studio", "studio-files"),
        record_toml("archive", "ts", "  segment_s = 10\n  keep_files = 3\n"),
    ];
    let relevo = Relevo::start_in(dir, &extra, &flows.concat());
    let publisher = publish(
        "publisher",
        SECS,
        "mpegts",
        &relevo.srt_url("publish:studio-files", ""),
        &relevo.dir.path("publisher.log"),
    );
    // The output applies retention when it starts: the oldest prepared file goes.
    wait_until(
        "retention at the output's start",
        Duration::from_secs(30),
        || names(&folder).len() - 1 <= KEEP,
    );
    // From then on the folder never holds more than KEEP recordings: a new file counts
    // before it is created.
    let done = std::sync::atomic::AtomicBool::new(false);
    let peak = std::thread::scope(|s| {
        let watcher = s.spawn(|| {
            let mut peak = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let n = names(&folder).len().saturating_sub(1);
                peak = peak.max(n);
                std::thread::sleep(Duration::from_millis(50));
            }
            peak
        });
        let ok = publisher
            .wait(Duration::from_secs(u64::from(SECS) + 30))
            .success();
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(ok);
        watcher.join().unwrap()
    });
    let own = |now: &BTreeSet<String>| -> Vec<String> {
        now.iter()
            .filter(|n| n.as_str() != "notes.txt" && seq_of(n) > 4)
            .cloned()
            .collect()
    };
    // The grace period is 0: the last file closes when the publisher leaves, and retention
    // runs once it is closed.
    wait_until(
        "the last file to close and retention to run",
        Duration::from_secs(30),
        || {
            let now = names(&folder);
            let log = relevo.log_text();
            own(&now).last().is_some_and(|last| {
                log.lines()
                    .any(|l| l.contains("recorded file closed") && l.contains(last.as_str()))
            }) && own(&now).len() == KEEP
        },
    );
    let now = names(&folder);
    let kept = own(&now);
    let newest = seq_of(kept.last().unwrap());
    assert!(newest >= 8, "only {} files recorded: {now:?}", newest - 4);
    // The newest KEEP, in sequence, and the notes; nothing of the prepared ones.
    assert_eq!(
        kept.iter().map(|n| seq_of(n)).collect::<Vec<_>>(),
        ((newest - 2)..=newest).collect::<Vec<_>>(),
        "{now:?}"
    );
    assert_eq!(now.len(), KEEP + 1, "{now:?}");
    assert!(now.contains("notes.txt"), "{now:?}");
    // Every removal is logged, oldest first: the prepared files, then the recorder's own.
    let log = relevo.log_text();
    let removed: Vec<u32> = log
        .lines()
        .filter(|l| l.contains("removed by retention"))
        .filter_map(|l| {
            l.split(|c: char| c == '/' || c.is_whitespace() || c == '"')
                .find_map(files::parse_file_name)
                .map(|(_, seq, _)| seq)
        })
        .collect();
    assert_eq!(
        removed,
        (1..newest - 2).collect::<Vec<_>>(),
        "{old:?}: {log}"
    );
    println!("kept {kept:?}, removed {removed:?}, at most {peak} recordings seen while recording");
    assert!(peak <= KEEP, "{peak} recordings at once while recording");
}
