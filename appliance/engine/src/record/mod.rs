//! Recording outputs: the input written to files on this machine (issue #15), as
//! fragmented MP4 or as the MPEG-TS it arrived in, without transcoding.
//!
//! A record output is an output like the others (`task`): it waits for its input to be
//! live, subscribes to the hub's MPEG-TS (its bounded queue is the only buffer: a slow disk
//! loses this recording's data, counted in `dropped`, never the input's or another
//! output's), and writes on a blocking thread of its own.
//!
//! Layout:
//! - `files`: folder and file names, modes; `disk`: free space and the floor;
//!   `retention`: which old files go;
//! - `task`: the output's life (idle, live, disk full, stopped) and its blocking session;
//! - `sink`: one output's files (create, write whole units, sync, cut back, retention);
//! - `mp4_writer`, `ts_writer`: the two formats, which decide where files start and end
//!   (`mp4_writer` is also the TS → fMP4 path of HLS sessions, see `crate::hls`);
//! - `ts_time`: PCR/PTS/DTS inside TS packets; `recover`: a torn last file cut back at start.
use std::path::PathBuf;

pub mod catalog;
pub mod disk;
pub mod files;
pub(crate) mod mp4_writer;
mod recover;
pub mod retention;
mod sink;
pub(crate) mod task;
pub(crate) mod ts_time;
mod ts_writer;
#[cfg(test)]
mod writer_tests;

use disk::{DiskFloor, DiskFull};

/// Where recordings go and how much free space they leave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingConfig {
    /// `<recording dir>`: one folder per input inside, one per record output inside that.
    pub dir: PathBuf,
    pub floor: DiskFloor,
}

/// Added to the last written timestamp to place the first frame of a returning publisher
/// (90 kHz): one 25 fps frame, so the file has no hole and no overlap at the blip.
pub(crate) const REBASE_STEP_90K: i64 = 3600;

/// Why a recording stopped writing.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error(transparent)]
    DiskFull(#[from] DiskFull),
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write MP4: {0}")]
    Mux(#[from] relevo_media::mp4::Mp4Error),
}

/// Where a writer's files go (see `sink::FileSink`): it names and creates each file.
pub(crate) trait Sink {
    /// Starts a new file (the previous one, if any, was closed).
    fn open(&mut self) -> Result<(), RecordError>;
    /// Appends whole units (an init segment, a fragment, TS packets); `media_90k`: the
    /// file's duration once they are written.
    fn write(&mut self, data: &[u8], media_90k: i64) -> Result<(), RecordError>;
    /// Ends the file.
    fn close(&mut self) -> Result<(), RecordError>;
}
