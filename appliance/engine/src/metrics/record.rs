//! Figures only record outputs have: files written and the file being written, and the
//! recordings filesystem's free space. Bytes written are the output's `bytes_out`.
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Duration;

/// Counters of a record output, updated by its writer.
#[derive(Debug, Default)]
pub struct RecordCounters {
    /// Files opened since the output was configured, the one being written included.
    pub files: AtomicU64,
    /// Media time in the file being written, in milliseconds; 0 between files.
    pub current_file_ms: AtomicU64,
    /// The name (not the path) of the file being written.
    pub current_file: Mutex<Option<String>>,
}

impl RecordCounters {
    /// A new file, `name`, is being written.
    pub fn file_opened(&self, name: String) {
        self.files.fetch_add(1, Relaxed);
        self.current_file_ms.store(0, Relaxed);
        if let Ok(mut f) = self.current_file.lock() {
            *f = Some(name);
        }
    }

    /// The media time the current file now holds.
    pub fn set_file_duration(&self, d: Duration) {
        let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        self.current_file_ms.store(ms, Relaxed);
    }

    /// No file is being written (stopped, disk full, between files).
    pub fn file_closed(&self) {
        self.current_file_ms.store(0, Relaxed);
        if let Ok(mut f) = self.current_file.lock() {
            *f = None;
        }
    }

    pub fn snapshot(&self) -> RecordSnapshot {
        let current_file = self.current_file.lock().ok().and_then(|f| f.clone());
        RecordSnapshot {
            files: self.files.load(Relaxed),
            current_file_secs: current_file
                .is_some()
                .then(|| self.current_file_ms.load(Relaxed) as f64 / 1000.0),
            current_file,
        }
    }
}

/// A record output at one instant.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RecordSnapshot {
    /// Files opened since the output was configured, the one being written included.
    pub files: u64,
    /// The name of the file being written, if one is.
    pub current_file: Option<String>,
    /// Media seconds in the file being written.
    pub current_file_secs: Option<f64>,
}

/// The filesystem recordings are written to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct RecordingDisk {
    /// Available to the service (`f_bavail`).
    pub free_bytes: u64,
    pub total_bytes: u64,
    /// Recording stops (state `disk_full`) rather than leave less free than this.
    pub floor_bytes: u64,
}
