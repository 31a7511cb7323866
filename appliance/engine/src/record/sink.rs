//! The files of one record output: the [`Sink`] the writers hand whole units to.
//!
//! It names and creates each file (`files`), checks the disk floor before every write
//! (`disk::SpaceCheck`), syncs, keeps a file ending at a whole unit when a write fails, and
//! applies retention when a file closes. It runs on the recording's blocking thread, never
//! on the async runtime.
//!
//! Durability: `fdatasync` after a write once [`SYNC_INTERVAL`] has passed since the last
//! one, and at close. Per fragment would be a sync every GOP (often twice a second) for
//! every recording, which a shared disk pays for in seek time; every 2 s bounds what a power
//! loss takes to the last 2 s plus the unit in flight, and crash recovery (`recover`) cuts a
//! torn unit off at the next start.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use super::disk::{self, DiskFull, SpaceCheck};
use super::{files, retention, RecordError, Sink};
use crate::metrics::OutputCounters;
use crate::spec::{RecordFormat, Retention};

/// Longest time written data waits for `fdatasync` (see the module docs).
pub(crate) const SYNC_INTERVAL: Duration = Duration::from_secs(2);

/// How often retention runs while a file is being written (and after each file closes).
pub(crate) const RETENTION_INTERVAL: Duration = Duration::from_secs(60);

#[derive(Debug)]
struct OpenFile {
    file: File,
    path: PathBuf,
    /// Bytes of whole units written: where the file is cut back to if a write fails.
    len: u64,
    last_sync: Instant,
}

/// The files of one record output; see the [module docs](self).
#[derive(Debug)]
pub(crate) struct FileSink {
    dir: PathBuf,
    format: RecordFormat,
    retention: Retention,
    space: Arc<SpaceCheck>,
    counters: Arc<OutputCounters>,
    open: Option<OpenFile>,
    last_retention: Instant,
}

impl FileSink {
    pub fn new(
        dir: PathBuf,
        format: RecordFormat,
        retention: Retention,
        space: Arc<SpaceCheck>,
        counters: Arc<OutputCounters>,
    ) -> Self {
        Self {
            dir,
            format,
            retention,
            space,
            counters,
            open: None,
            last_retention: Instant::now(),
        }
    }

    /// After a failure: the file ends at its last whole unit, synced and closed.
    pub fn abandon(&mut self) {
        if let Some(o) = self.open.take() {
            let _ = o.file.set_len(o.len);
            let _ = o.file.sync_data();
            self.closed(&o.path);
        }
    }

    /// Syncs what was written if [`SYNC_INTERVAL`] has passed (the task calls it while
    /// the stream is quiet, as in a grace period), and applies retention every
    /// [`RETENTION_INTERVAL`] (files also age while one file is being written).
    pub fn tick(&mut self) {
        if let Some(o) = self.open.as_mut() {
            if o.last_sync.elapsed() >= SYNC_INTERVAL {
                let _ = o.file.sync_data();
                o.last_sync = Instant::now();
            }
        }
        if self.last_retention.elapsed() >= RETENTION_INTERVAL {
            let writing = self.open.as_ref().map(|o| o.path.clone());
            self.enforce_retention(writing.as_deref());
        }
    }

    fn closed(&mut self, path: &Path) {
        self.counters.record.file_closed();
        tracing::info!(file = %path.display(), "recorded file closed");
        self.enforce_retention(None);
    }

    /// Retention with `writing` (the open file, or the one about to be created) kept.
    fn enforce_retention(&mut self, writing: Option<&Path>) {
        self.last_retention = Instant::now();
        match retention::enforce(&self.dir, &self.retention, SystemTime::now(), writing) {
            Ok(removed) => {
                for f in removed {
                    tracing::info!(file = %f.display(), "recorded file removed by retention");
                }
            }
            Err(e) => tracing::warn!(dir = %self.dir.display(), "retention: {e}"),
        }
    }

    fn io(&self, path: &Path, source: io::Error) -> RecordError {
        if is_no_space(&source) {
            let usage = disk::usage(&self.dir).ok();
            let free_bytes = usage.map_or(0, |u| u.free_bytes);
            let floor_bytes = usage.map_or(0, |u| self.space.floor().floor_bytes(u.total_bytes));
            return RecordError::DiskFull(DiskFull {
                free_bytes,
                floor_bytes,
            });
        }
        RecordError::Io {
            path: path.to_owned(),
            source,
        }
    }
}

fn is_no_space(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
    )
}

impl Sink for FileSink {
    fn open(&mut self) -> Result<(), RecordError> {
        self.abandon();
        self.space.ok(0)?;
        let dir = self.dir.clone();
        files::create_dir(&dir).map_err(|e| self.io(&dir, e))?;
        let seq = files::next_seq(&dir).map_err(|e| self.io(&dir, e))?;
        let path = dir.join(files::file_name(SystemTime::now(), seq, self.format));
        // The new file counts toward `keep_files` before it exists: the folder never holds
        // one more.
        self.enforce_retention(Some(&path));
        let file = files::create_file(&path).map_err(|e| self.io(&path, e))?;
        tracing::info!(file = %path.display(), "recording to a new file");
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        self.counters.record.file_opened(name.unwrap_or_default());
        self.open = Some(OpenFile {
            file,
            path,
            len: 0,
            last_sync: Instant::now(),
        });
        Ok(())
    }

    fn write(&mut self, data: &[u8], media_90k: i64) -> Result<(), RecordError> {
        let Some(o) = self.open.as_mut() else {
            return Ok(());
        };
        let len = data.len() as u64;
        if let Err(full) = self.space.ok(len) {
            self.abandon();
            return Err(full.into());
        }
        let written = o.file.write_all(data);
        if let Err(e) = written {
            let path = o.path.clone();
            self.abandon();
            return Err(self.io(&path, e));
        }
        o.len += len;
        self.counters.add_bytes(data.len());
        self.counters
            .record
            .set_file_duration(Duration::from_millis(
                u64::try_from(media_90k / 90).unwrap_or(0),
            ));
        if o.last_sync.elapsed() >= SYNC_INTERVAL {
            if let Err(e) = o.file.sync_data() {
                let path = o.path.clone();
                self.abandon();
                return Err(self.io(&path, e));
            }
            o.last_sync = Instant::now();
        }
        Ok(())
    }

    fn close(&mut self) -> Result<(), RecordError> {
        let Some(o) = self.open.take() else {
            return Ok(());
        };
        let synced = o.file.sync_data();
        let path = o.path.clone();
        drop(o.file);
        self.closed(&path);
        synced.map_err(|e| self.io(&path, e))
    }
}

impl Drop for FileSink {
    fn drop(&mut self) {
        self.abandon();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::disk::DiskFloor;

    fn sink(dir: &Path, floor: DiskFloor) -> (FileSink, Arc<OutputCounters>) {
        let counters = Arc::new(OutputCounters::default());
        let s = FileSink::new(
            dir.join("in").join("out"),
            RecordFormat::Ts,
            Retention::default(),
            Arc::new(SpaceCheck::new(dir, floor)),
            counters.clone(),
        );
        (s, counters)
    }

    #[test]
    fn files_are_numbered_written_whole_and_counted() {
        let root = tempfile::tempdir().expect("tempdir");
        let (mut s, counters) = sink(root.path(), DiskFloor { percent: 0, gib: 0 });
        for n in 0..2u8 {
            s.open().expect("open");
            s.write(&[n; 376], 90_000).expect("write");
            s.close().expect("close");
        }
        let mut names: Vec<String> = std::fs::read_dir(root.path().join("in/out"))
            .expect("folder")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names.len(), 2);
        assert!(names[0].ends_with("_0001.ts") && names[1].ends_with("_0002.ts"));
        assert_eq!(
            counters
                .bytes_out
                .load(std::sync::atomic::Ordering::Relaxed),
            752
        );
        assert_eq!(counters.record.snapshot().files, 2);
        assert_eq!(counters.record.snapshot().current_file, None);
    }

    #[test]
    fn below_the_floor_no_file_is_opened_and_nothing_more_is_written() {
        let root = tempfile::tempdir().expect("tempdir");
        // A floor of the whole disk: never enough room.
        let (mut s, _) = sink(
            root.path(),
            DiskFloor {
                percent: 100,
                gib: u32::MAX,
            },
        );
        let err = s.open().expect_err("disk full");
        assert!(matches!(err, RecordError::DiskFull(_)), "{err}");
        assert!(err.to_string().starts_with("disk full: "), "{err}");
        assert!(!root.path().join("in/out").exists());
    }
}
