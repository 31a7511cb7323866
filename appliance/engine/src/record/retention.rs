//! Retention of one record output's folder: files past `keep_days` go, then the oldest
//! until the folder is within `keep_gib`, then the oldest until at most `keep_files` remain.
//!
//! Only files whose names [`files::parse_file_name`] accepts are counted or removed, so an
//! operator's notes or an exported clip in the folder are never touched. Age is by the
//! start written in the name (not the modification time, which a copy or `touch` changes).
//! The file being written is counted in the size and the number of files but never removed;
//! given before it is created, it is counted (empty) all the same, so a folder at its
//! `keep_files` makes room before the new file appears rather than after.
//!
//! Retention does not run to make room when the disk floor is reached: the floor stops the
//! recording instead (see [`super::disk`]).
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::disk::GIB;
use super::files;
use crate::spec::Retention;

/// Seconds in a retention day.
const DAY: Duration = Duration::from_secs(86_400);

struct Recorded {
    path: PathBuf,
    start: SystemTime,
    seq: u32,
    len: u64,
    writing: bool,
}

/// Applies `retention` to `dir` as of `now` and returns the files removed, oldest first.
/// A missing folder has nothing to remove.
pub fn enforce(
    dir: &Path,
    retention: &Retention,
    now: SystemTime,
    writing: Option<&Path>,
) -> io::Result<Vec<PathBuf>> {
    if retention.max_days.is_none() && retention.max_gib.is_none() && retention.max_files.is_none()
    {
        return Ok(Vec::new());
    }
    let mut recorded = list(dir, writing)?;
    // Oldest first; the sequence number orders files that started in the same second
    // (or after the clock stepped back).
    recorded.sort_by_key(|r| (r.start, r.seq));

    let mut removed = Vec::new();
    if let Some(days) = retention.max_days {
        let max_age = DAY * days;
        for r in recorded.iter_mut().filter(|r| !r.writing) {
            let old = now.duration_since(r.start).is_ok_and(|age| age > max_age);
            if old {
                remove(&r.path)?;
                removed.push(std::mem::take(&mut r.path));
            }
        }
        recorded.retain(|r| !r.path.as_os_str().is_empty());
    }
    if let Some(gib) = retention.max_gib {
        let limit = u64::from(gib).saturating_mul(GIB);
        let mut total: u64 = recorded.iter().map(|r| r.len).sum();
        for r in recorded.iter_mut().filter(|r| !r.writing) {
            if total <= limit {
                break;
            }
            remove(&r.path)?;
            total -= r.len;
            removed.push(std::mem::take(&mut r.path));
        }
        recorded.retain(|r| !r.path.as_os_str().is_empty());
    }
    if let Some(files) = retention.max_files {
        let limit = usize::try_from(files).unwrap_or(usize::MAX);
        let mut count = recorded.len();
        for r in recorded.iter().filter(|r| !r.writing) {
            if count <= limit {
                break;
            }
            remove(&r.path)?;
            count -= 1;
            removed.push(r.path.clone());
        }
    }
    Ok(removed)
}

/// The recorded files of `dir` with their sizes; only regular files.
fn list(dir: &Path, writing: Option<&Path>) -> io::Result<Vec<Recorded>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let writing_name = writing.and_then(Path::file_name);
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some((start, seq, _)) = name.to_str().and_then(files::parse_file_name) else {
            continue;
        };
        // Not following symlinks: a link is not a recording of ours.
        let meta = match entry.metadata() {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        if !meta.is_file() {
            continue;
        }
        out.push(Recorded {
            path: entry.path(),
            start,
            seq,
            len: meta.len(),
            writing: writing_name == Some(name.as_os_str()),
        });
    }
    // The file about to be created.
    if let Some(path) = writing.filter(|_| !out.iter().any(|r| r.writing)) {
        if let Some((start, seq, _)) = writing_name
            .and_then(|n| n.to_str())
            .and_then(files::parse_file_name)
        {
            out.push(Recorded {
                path: path.to_owned(),
                start,
                seq,
                len: 0,
                writing: true,
            });
        }
    }
    Ok(out)
}

/// Removes one file; one already gone (an operator deleted it) is not an error.
fn remove(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::RecordFormat;

    /// 2026-12-07T10:00:00Z
    const NOW_S: u64 = 1_796_637_600;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    /// Writes a recorded file `age_s` before now, of `len` bytes (sparse: no disk used).
    fn put(dir: &Path, age_s: u64, seq: u32, len: u64) -> PathBuf {
        let p = dir.join(files::file_name(at(NOW_S - age_s), seq, RecordFormat::Mp4));
        let f = std::fs::File::create(&p).expect("create");
        f.set_len(len).expect("set_len");
        p
    }

    fn names(paths: &[PathBuf]) -> Vec<String> {
        paths
            .iter()
            .map(|p| p.file_name().expect("name").to_string_lossy().into_owned())
            .collect()
    }

    fn left(dir: &Path) -> usize {
        std::fs::read_dir(dir).expect("read_dir").count()
    }

    #[test]
    fn no_limits_remove_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        put(dir.path(), 400 * 86_400, 1, 5 * GIB);
        let removed = enforce(dir.path(), &Retention::default(), at(NOW_S), None).expect("ok");
        assert!(removed.is_empty());
        assert_eq!(left(dir.path()), 1);
    }

    #[test]
    fn files_past_the_days_go_by_the_start_in_their_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let old2 = put(dir.path(), 3 * 86_400 + 1, 2, 10);
        let old1 = put(dir.path(), 9 * 86_400, 1, 10);
        let kept = put(dir.path(), 3 * 86_400 - 1, 3, 10);
        let fresh = put(dir.path(), 60, 4, 10);
        let r = Retention::new(Some(3), None, None).expect("retention");
        let removed = enforce(dir.path(), &r, at(NOW_S), None).expect("ok");
        assert_eq!(names(&removed), names(&[old1, old2]));
        assert!(kept.exists() && fresh.exists());
    }

    #[test]
    fn the_oldest_go_until_the_folder_fits_the_size() {
        let dir = tempfile::tempdir().expect("tempdir");
        // 4 files of 0.4 GiB = 1.6 GiB; 1 GiB allowed: the two oldest go (0.8 GiB left).
        let part = 2 * GIB / 5;
        let a = put(dir.path(), 4000, 1, part);
        let b = put(dir.path(), 3000, 2, part);
        let c = put(dir.path(), 2000, 3, part);
        let d = put(dir.path(), 1000, 4, part);
        let r = Retention::new(None, Some(1), None).expect("retention");
        let removed = enforce(dir.path(), &r, at(NOW_S), None).expect("ok");
        assert_eq!(names(&removed), names(&[a, b]));
        assert!(c.exists() && d.exists());
        // Within the limit now: a second pass removes nothing.
        assert!(enforce(dir.path(), &r, at(NOW_S), None)
            .expect("ok")
            .is_empty());
    }

    #[test]
    fn the_sequence_orders_files_of_the_same_second() {
        let dir = tempfile::tempdir().expect("tempdir");
        let second = put(dir.path(), 100, 12, GIB);
        let first = put(dir.path(), 100, 11, GIB);
        let r = Retention::new(None, Some(1), None).expect("retention");
        let removed = enforce(dir.path(), &r, at(NOW_S), None).expect("ok");
        assert_eq!(names(&removed), names(&[first]));
        assert!(second.exists());
    }

    #[test]
    fn the_file_being_written_is_counted_but_never_removed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let writing = put(dir.path(), 10 * 86_400, 1, 2 * GIB);
        let other = put(dir.path(), 20 * 86_400, 2, 10);
        let r = Retention::new(Some(1), Some(1), None).expect("retention");
        let removed = enforce(dir.path(), &r, at(NOW_S), Some(&writing)).expect("ok");
        assert_eq!(names(&removed), names(&[other]));
        assert!(writing.exists());
        // Size alone: the only other file goes (though newer), the one being written stays over the limit.
        let newer = put(dir.path(), 30, 3, 10);
        let r = Retention::new(None, Some(1), None).expect("retention");
        let removed = enforce(dir.path(), &r, at(NOW_S), Some(&writing)).expect("ok");
        assert_eq!(names(&removed), names(&[newer]));
        assert!(writing.exists());
    }

    #[test]
    fn the_oldest_go_until_at_most_the_files_remain() {
        let dir = tempfile::tempdir().expect("tempdir");
        let b = put(dir.path(), 3000, 2, 10);
        let a = put(dir.path(), 4000, 1, 10);
        let c = put(dir.path(), 2000, 3, 10);
        let d = put(dir.path(), 1000, 4, 10);
        let r = Retention::new(None, None, Some(2)).expect("retention");
        let removed = enforce(dir.path(), &r, at(NOW_S), None).expect("ok");
        assert_eq!(names(&removed), names(&[a, b]));
        assert!(c.exists() && d.exists());
        assert_eq!(left(dir.path()), 2);
        // Exactly at the limit: a second pass removes nothing.
        assert!(enforce(dir.path(), &r, at(NOW_S), None)
            .expect("ok")
            .is_empty());
    }

    #[test]
    fn the_count_applies_after_age_and_size_and_counts_the_file_being_written() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ancient = put(dir.path(), 5 * 86_400, 1, 10);
        let big = put(dir.path(), 4000, 2, GIB);
        let c = put(dir.path(), 3000, 3, 10);
        let d = put(dir.path(), 2000, 4, 10);
        let e = put(dir.path(), 1000, 5, 10);
        // The one being written is the oldest of what is left: it counts, but `d` goes instead.
        let writing = put(dir.path(), 6 * 86_400, 6, 10);
        let r = Retention::new(Some(2), Some(1), Some(2)).expect("retention");
        let removed = enforce(dir.path(), &r, at(NOW_S), Some(&writing)).expect("ok");
        // Age removes `ancient` (the one being written stays), size `big`, the count `c` and `d`.
        assert_eq!(names(&removed), names(&[ancient, big, c, d]));
        assert!(writing.exists() && e.exists());
        assert_eq!(left(dir.path()), 2);
        // A limit of one file keeps only the one being written.
        let r = Retention::new(None, None, Some(1)).expect("retention");
        let removed = enforce(dir.path(), &r, at(NOW_S), Some(&writing)).expect("ok");
        assert_eq!(names(&removed), names(&[e]));
        assert_eq!(left(dir.path()), 1);
        assert!(writing.exists());
    }

    #[test]
    fn a_file_about_to_be_created_counts_toward_the_limit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = put(dir.path(), 2000, 1, 10);
        let b = put(dir.path(), 1000, 2, 10);
        let next = dir
            .path()
            .join(files::file_name(at(NOW_S), 3, RecordFormat::Ts));
        let r = Retention::new(None, None, Some(2)).expect("retention");
        let removed = enforce(dir.path(), &r, at(NOW_S), Some(&next)).expect("ok");
        assert_eq!(names(&removed), names(&[a]));
        assert!(b.exists() && !next.exists());
    }

    #[test]
    fn other_files_are_left_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let notes = dir.path().join("notes.txt");
        std::fs::write(&notes, b"x").expect("write");
        let clip = dir.path().join("2020-01-01T00-00-00Z_0001.mkv");
        std::fs::File::create(&clip)
            .expect("create")
            .set_len(3 * GIB)
            .expect("len");
        let sub = dir.path().join("2020-01-01T00-00-00Z_0002.mp4");
        std::fs::create_dir(&sub).expect("dir");
        let target = put(dir.path(), 100, 3, 10);
        let link = dir.path().join("2020-01-01T00-00-00Z_0004.mp4");
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        let r = Retention::new(Some(1), Some(1), Some(1)).expect("retention");
        let removed = enforce(dir.path(), &r, at(NOW_S), None).expect("ok");
        assert!(removed.is_empty(), "{removed:?}");
        assert_eq!(left(dir.path()), 5);
    }

    #[test]
    fn future_files_and_a_missing_folder_are_fine() {
        let dir = tempfile::tempdir().expect("tempdir");
        let future = dir
            .path()
            .join(files::file_name(at(NOW_S + 86_400), 1, RecordFormat::Ts));
        std::fs::write(&future, b"x").expect("write");
        let r = Retention::new(Some(1), None, None).expect("retention");
        assert!(enforce(dir.path(), &r, at(NOW_S), None)
            .expect("ok")
            .is_empty());
        let missing = dir.path().join("missing");
        assert!(enforce(&missing, &r, at(NOW_S), None)
            .expect("ok")
            .is_empty());
    }
}
