//! The recordings catalogue: which files an input's record outputs left on disk, with what
//! an operator looks for (start, duration, size, codecs), and the only way the control
//! plane opens or deletes one.
//!
//! Safety: a file is named by three components, the input (whose folder is
//! [`files::dir_name`]), an output folder and a file name. The output folder must look like
//! one `dir_name` makes and the file name must be one [`files::parse_file_name`] accepts,
//! so no component is empty, `.`, `..`, absolute or holds a `/`. Folders and files that are
//! symbolic links are refused (`symlink_metadata`, `O_NOFOLLOW`), and an opened file's real
//! path (`/proc/self/fd`) must lie inside the recordings folder: nothing outside it is ever
//! listed, served or deleted, even if a link is slipped in while a request runs.
//!
//! Durations are read from the file, never loaded whole: an MP4 file's box headers are
//! walked with positioned reads and only `moov`/`moof` bodies are read (a fragment's table
//! is a few KiB); a TS file's first and last [`TS_PROBE_BYTES`]. Results are cached by
//! path, size and modification time, so a listing re-reads only files that changed.
//!
//! It knows nothing of HTTP: the API maps [`CatalogError`] to answers.

use std::collections::HashMap;
use std::fs::{File, Metadata, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use relevo_media::mp4::probe::{BoxHeader, Mp4Summary, MAX_HEADER_LEN};
use relevo_media::ts::probe::{last_time, probe_head, span_s};

use super::disk::{self, DiskUsage};
use super::files;
use crate::spec::{Name, RecordFormat};

/// Bytes read from each end of a TS file: at 20 Mbit/s, 0.4 s of stream, which holds a
/// PAT/PMT (muxers repeat them every 0.1 s or so) and several PES starts of every track.
pub const TS_PROBE_BYTES: u64 = 1 << 20;

/// Largest `moov` read: an init segment is a few KiB; a plain (not fragmented) file's
/// sample tables for hours of video stay within a few MiB.
pub const MAX_MOOV_BYTES: u64 = 32 << 20;

/// Largest `moof` read. The recorder's fragments hold at most 3000 samples per track
/// (`relevo_media::mp4::MAX_FRAGMENT_SAMPLES`, 16 bytes each in `trun`) for 9 tracks:
/// ~430 KiB; 4 MiB leaves room for other writers.
pub const MAX_MOOF_BYTES: u64 = 4 << 20;

/// Probes kept in the cache; past it the cache starts again (a listing refills it).
const MAX_CACHED: usize = 10_000;

/// One recorded file.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordingFile {
    /// The output's folder (see [`files::dir_name`]).
    pub output: String,
    pub file: String,
    /// From the name: the UTC time of the file's first frame, to the second.
    pub start: SystemTime,
    pub seq: u32,
    pub format: RecordFormat,
    pub size_bytes: u64,
    pub modified: SystemTime,
    /// Media duration read from the file; `None` when it cannot be read (an empty file,
    /// a file without timestamps).
    pub duration_s: Option<f64>,
    /// ffprobe's names (`h264`, `hevc`, `aac`, …), one per track.
    pub codecs: Vec<String>,
}

/// Why a recording cannot be listed, opened or deleted.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("{0:?} is not an output folder of the recordings")]
    BadFolder(String),
    #[error("{0:?} is not the name of a recorded file")]
    BadFileName(String),
    #[error("no recording {0}")]
    NotFound(String),
    #[error("{0} is not a regular file or folder of the recordings (a link?)")]
    NotRegular(String),
    #[error("{}: {source}", .path.display())]
    Io { path: PathBuf, source: io::Error },
}

impl CatalogError {
    fn io(path: &Path, source: io::Error) -> Self {
        CatalogError::Io {
            path: path.to_owned(),
            source,
        }
    }
}

/// A file opened for reading (download).
#[derive(Debug)]
pub struct OpenedRecording {
    pub file: File,
    pub len: u64,
    pub format: RecordFormat,
    pub modified: SystemTime,
}

#[derive(Debug, Clone)]
struct Probe {
    len: u64,
    modified: SystemTime,
    duration_s: Option<f64>,
    codecs: Vec<String>,
}

/// The recordings folder.
#[derive(Debug)]
pub struct Recordings {
    root: PathBuf,
    cache: Mutex<HashMap<PathBuf, Probe>>,
}

/// Whether `s` is a folder name [`files::dir_name`] can produce: only `[A-Za-z0-9._-]`,
/// not empty, not starting with `.` (so never `.` or `..`).
pub fn is_folder_name(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('.')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

impl Recordings {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            cache: Mutex::new(HashMap::new()),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Every file of every output of `input`, newest first. An input that never recorded
    /// has none.
    pub fn list(&self, input: &Name) -> Result<Vec<RecordingFile>, CatalogError> {
        let folder = files::dir_name(input);
        let input_dir = self.root.join(&folder);
        match std::fs::symlink_metadata(&input_dir) {
            Ok(m) if m.is_dir() => {}
            // `read_dir` would follow a link.
            Ok(_) => return Err(CatalogError::NotRegular(folder)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(CatalogError::io(&input_dir, e)),
        }
        let mut out = Vec::new();
        for (output, dir) in subfolders(&input_dir)? {
            for (file, meta) in recorded_files(&dir)? {
                let Some((start, seq, format)) = files::parse_file_name(&file) else {
                    continue;
                };
                let path = dir.join(&file);
                let probe = self.probe(&path, &meta, format);
                out.push(RecordingFile {
                    output: output.clone(),
                    file,
                    start,
                    seq,
                    format,
                    size_bytes: meta.len(),
                    modified: probe.modified,
                    duration_s: probe.duration_s,
                    codecs: probe.codecs,
                });
            }
        }
        out.sort_by(|a, b| (b.start, b.seq, &b.output).cmp(&(a.start, a.seq, &a.output)));
        Ok(out)
    }

    /// Bytes of every recorded file under the recordings folder (files whose names
    /// [`files::parse_file_name`] accepts, in `<input>/<output>/`; links not followed).
    pub fn total_bytes(&self) -> Result<u64, CatalogError> {
        let mut total = 0u64;
        for (_, input_dir) in subfolders(&self.root)? {
            for (_, dir) in subfolders(&input_dir)? {
                for (name, meta) in recorded_files(&dir)? {
                    if files::parse_file_name(&name).is_some() {
                        total = total.saturating_add(meta.len());
                    }
                }
            }
        }
        Ok(total)
    }

    /// Free and total space of the recordings filesystem (of the nearest existing folder
    /// above it while it does not exist yet).
    pub fn disk(&self) -> io::Result<DiskUsage> {
        let mut at = self.root.as_path();
        loop {
            match disk::usage(at) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    at = at.parent().ok_or(e)?;
                }
                other => return other,
            }
        }
    }

    /// Opens one recorded file for reading.
    pub fn open(
        &self,
        input: &Name,
        output: &str,
        file: &str,
    ) -> Result<OpenedRecording, CatalogError> {
        let (path, format) = self.checked_path(input, output, file)?;
        let f = open_no_follow(&path).map_err(|e| not_found_or(e, &path, output, file))?;
        let meta = f.metadata().map_err(|e| CatalogError::io(&path, e))?;
        if !meta.is_file() {
            return Err(CatalogError::NotRegular(shown(output, file)));
        }
        self.check_inside(&f, output, file)?;
        Ok(OpenedRecording {
            len: meta.len(),
            modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            file: f,
            format,
        })
    }

    /// Deletes one recorded file; returns its size.
    pub fn delete(&self, input: &Name, output: &str, file: &str) -> Result<u64, CatalogError> {
        let (path, _) = self.checked_path(input, output, file)?;
        let f = open_no_follow(&path).map_err(|e| not_found_or(e, &path, output, file))?;
        let meta = f.metadata().map_err(|e| CatalogError::io(&path, e))?;
        if !meta.is_file() {
            return Err(CatalogError::NotRegular(shown(output, file)));
        }
        self.check_inside(&f, output, file)?;
        drop(f);
        // `remove_file` unlinks the name itself: were it swapped for a link since the
        // check, the link would go, never what it points to.
        std::fs::remove_file(&path).map_err(|e| not_found_or(e, &path, output, file))?;
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&path);
        Ok(meta.len())
    }

    /// The path of a file named by its components, each checked, its folders checked to
    /// be real folders (not links).
    fn checked_path(
        &self,
        input: &Name,
        output: &str,
        file: &str,
    ) -> Result<(PathBuf, RecordFormat), CatalogError> {
        let input_dir = files::dir_name(input);
        if !is_folder_name(&input_dir) {
            return Err(CatalogError::BadFolder(input_dir));
        }
        if !is_folder_name(output) {
            return Err(CatalogError::BadFolder(output.to_owned()));
        }
        let (_, _, format) =
            files::parse_file_name(file).ok_or_else(|| CatalogError::BadFileName(file.into()))?;
        let mut dir = self.root.join(input_dir);
        for step in [None, Some(output)] {
            if let Some(s) = step {
                dir = dir.join(s);
            }
            match std::fs::symlink_metadata(&dir) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => return Err(CatalogError::NotRegular(shown(output, file))),
                Err(e) => return Err(not_found_or(e, &dir, output, file)),
            }
        }
        Ok((dir.join(file), format))
    }

    /// The opened file's real path must be inside the real recordings folder.
    fn check_inside(&self, f: &File, output: &str, file: &str) -> Result<(), CatalogError> {
        let root = self
            .root
            .canonicalize()
            .map_err(|e| CatalogError::io(&self.root, e))?;
        let fd_link = PathBuf::from(format!("/proc/self/fd/{}", f.as_raw_fd()));
        let real = std::fs::read_link(&fd_link).map_err(|e| CatalogError::io(&fd_link, e))?;
        if real.starts_with(&root) {
            Ok(())
        } else {
            Err(CatalogError::NotRegular(shown(output, file)))
        }
    }

    /// Duration and codecs of `path`, from the cache when its size and time are unchanged.
    fn probe(&self, path: &Path, meta: &Metadata, format: RecordFormat) -> Probe {
        let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = cache
            .get(path)
            .filter(|p| p.len == meta.len() && p.modified == modified)
        {
            return p.clone();
        }
        drop(cache);
        let (duration_s, codecs) = open_no_follow(path)
            .and_then(|f| match format {
                RecordFormat::Mp4 => probe_mp4(&f, meta.len()),
                RecordFormat::Ts => probe_ts(&f, meta.len()),
            })
            .unwrap_or((None, Vec::new()));
        let probe = Probe {
            len: meta.len(),
            modified,
            duration_s,
            codecs,
        };
        cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= MAX_CACHED {
            cache.clear();
        }
        cache.insert(path.to_owned(), probe.clone());
        probe
    }
}

/// `output/file`, as errors name a recording.
fn shown(output: &str, file: &str) -> String {
    format!("{output}/{file}")
}

fn not_found_or(e: io::Error, path: &Path, output: &str, file: &str) -> CatalogError {
    match e.kind() {
        io::ErrorKind::NotFound => CatalogError::NotFound(shown(output, file)),
        // O_NOFOLLOW on a link fails with ELOOP.
        _ if e.raw_os_error() == Some(nix::libc::ELOOP) => {
            CatalogError::NotRegular(shown(output, file))
        }
        _ => CatalogError::io(path, e),
    }
}

fn open_no_follow(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_CLOEXEC)
        .open(path)
}

/// The real folders (not links) in `dir` whose names a folder of ours can have; none
/// when `dir` does not exist.
fn subfolders(dir: &Path) -> Result<Vec<(String, PathBuf)>, CatalogError> {
    let mut out = Vec::new();
    for (name, meta) in entries(dir)? {
        if meta.is_dir() && is_folder_name(&name) {
            out.push((name.clone(), dir.join(name)));
        }
    }
    Ok(out)
}

/// The regular files (not links) in `dir`.
fn recorded_files(dir: &Path) -> Result<Vec<(String, Metadata)>, CatalogError> {
    Ok(entries(dir)?
        .into_iter()
        .filter(|(_, m)| m.is_file())
        .collect())
}

/// Entries of `dir` with UTF-8 names and their own metadata (links not followed).
fn entries(dir: &Path) -> Result<Vec<(String, Metadata)>, CatalogError> {
    let read = match std::fs::read_dir(dir) {
        Ok(r) => r,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(CatalogError::io(dir, e)),
    };
    let mut out = Vec::new();
    for entry in read {
        let entry = entry.map_err(|e| CatalogError::io(dir, e))?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        // `DirEntry::metadata` does not follow links; a file deleted meanwhile is skipped.
        if let Ok(meta) = entry.metadata() {
            out.push((name, meta));
        }
    }
    Ok(out)
}

type Probed = (Option<f64>, Vec<String>);

/// Walks the top-level boxes with positioned reads, reading only `moov` and `moof`
/// bodies; a fragment counts once its `mdat` is whole, and the walk stops at the first
/// incomplete box (the file being written, or one cut by a crash: what a player can still
/// play, as `relevo_media::mp4::complete_len` keeps).
fn probe_mp4(f: &File, len: u64) -> io::Result<Probed> {
    let mut summary = Mp4Summary::default();
    let mut pending_moof: Option<Vec<u8>> = None;
    let mut pos = 0u64;
    let mut head = [0u8; MAX_HEADER_LEN];
    while pos < len {
        let n = usize::try_from((len - pos).min(MAX_HEADER_LEN as u64)).unwrap_or(0);
        f.read_exact_at(&mut head[..n], pos)?;
        let Ok(h) = BoxHeader::parse(&head[..n]) else {
            break;
        };
        let size = h.size.unwrap_or(len - pos);
        if pos.saturating_add(size) > len {
            break;
        }
        let body_len = h.body_len(len - pos);
        let read_body = |limit: u64| -> io::Result<Option<Vec<u8>>> {
            if body_len > limit {
                return Ok(None);
            }
            let mut body = vec![0u8; usize::try_from(body_len).unwrap_or(0)];
            f.read_exact_at(&mut body, pos + u64::from(h.header_len))?;
            Ok(Some(body))
        };
        let fed = match &h.kind {
            b"moov" => match read_body(MAX_MOOV_BYTES)? {
                Some(body) => summary.on_moov(&body).is_ok(),
                None => false,
            },
            b"moof" => {
                pending_moof = read_body(MAX_MOOF_BYTES)?;
                pending_moof.is_some()
            }
            b"mdat" => match pending_moof.take() {
                Some(moof) => summary.on_moof(&moof).is_ok(),
                None => true,
            },
            _ => true,
        };
        if !fed {
            break;
        }
        pos += size;
    }
    Ok((summary.duration_s(), summary.codecs()))
}

/// Reads the head and the tail chunk of a TS file.
fn probe_ts(f: &File, len: u64) -> io::Result<Probed> {
    let head_len = len.min(TS_PROBE_BYTES);
    let mut buf = vec![0u8; usize::try_from(head_len).unwrap_or(0)];
    f.read_exact_at(&mut buf, 0)?;
    let head = probe_head(&buf);
    let codecs = head.codecs();
    let (Some(first), Some(pid)) = (head.first, head.timing_pid) else {
        return Ok((None, codecs));
    };
    let tail_start = len.saturating_sub(TS_PROBE_BYTES);
    if tail_start > 0 {
        f.read_exact_at(&mut buf, tail_start)?;
    }
    let duration = last_time(&buf, pid).map(|last| span_s(first, last));
    Ok((duration, codecs))
}

#[cfg(test)]
mod tests;
