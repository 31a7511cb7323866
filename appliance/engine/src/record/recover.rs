//! At a record output's start: the last file a previous run left (a crash or a power loss
//! may have cut it inside a unit) is cut back to its last whole unit so that it opens.
//!
//! An fMP4 file is cut to [`relevo_media::mp4::complete_len`] (ffmpeg refuses a file whose
//! last `moof` is torn); a TS file to whole 188-byte packets. A file with not even a whole
//! init segment holds nothing playable and is removed.

use std::fs::OpenOptions;
use std::io;
use std::path::{Path, PathBuf};

use relevo_media::ts::PACKET_SIZE;

use super::files;
use crate::spec::RecordFormat;

/// What [`recover_last`] did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Recovered {
    /// Nothing to do: no file, or the last one is whole.
    Whole,
    Truncated {
        path: PathBuf,
        from: u64,
        to: u64,
    },
    Removed(PathBuf),
}

/// Cuts the newest recording file of `dir` (highest sequence) back to whole units.
pub(crate) fn recover_last(dir: &Path) -> io::Result<Recovered> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Recovered::Whole),
        Err(e) => return Err(e),
    };
    let mut last: Option<(u32, PathBuf, RecordFormat)> = None;
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some((_, seq, format)) = name.to_str().and_then(files::parse_file_name) else {
            continue;
        };
        if last.as_ref().is_none_or(|(s, _, _)| seq > *s) {
            last = Some((seq, entry.path(), format));
        }
    }
    let Some((_, path, format)) = last else {
        return Ok(Recovered::Whole);
    };
    let meta = std::fs::symlink_metadata(&path)?;
    if !meta.is_file() {
        return Ok(Recovered::Whole);
    }
    let len = meta.len();
    let whole = match format {
        RecordFormat::Ts => len - len % PACKET_SIZE as u64,
        // Only the box headers are read: a day-long file is never held in memory.
        RecordFormat::Mp4 => {
            let file = std::fs::File::open(&path)?;
            let mut failed = None;
            let whole = relevo_media::mp4::complete_len_by(len, |pos, buf| {
                read_fully_at(&file, pos, buf).unwrap_or_else(|e| {
                    failed = Some(e);
                    0
                })
            });
            // A read error is not a torn file: cut nothing.
            if let Some(e) = failed {
                return Err(e);
            }
            whole
        }
    };
    if whole == len {
        return Ok(Recovered::Whole);
    }
    if whole == 0 {
        std::fs::remove_file(&path)?;
        return Ok(Recovered::Removed(path));
    }
    let file = OpenOptions::new().write(true).open(&path)?;
    file.set_len(whole)?;
    file.sync_all()?;
    Ok(Recovered::Truncated {
        path,
        from: len,
        to: whole,
    })
}

/// Fills `buf` from `pos` as far as the file goes.
fn read_fully_at(file: &std::fs::File, pos: u64, buf: &mut [u8]) -> io::Result<usize> {
    use std::os::unix::fs::FileExt;
    let mut n = 0;
    while n < buf.len() {
        match file.read_at(&mut buf[n..], pos + n as u64) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boxed(kind: &[u8; 4], body: usize) -> Vec<u8> {
        let mut b = ((8 + body) as u32).to_be_bytes().to_vec();
        b.extend_from_slice(kind);
        b.resize(8 + body, 0);
        b
    }

    #[test]
    fn the_newest_mp4_is_cut_to_its_last_whole_fragment() {
        let dir = tempfile::tempdir().expect("tempdir");
        let at = std::time::SystemTime::UNIX_EPOCH;
        let old = dir.path().join(files::file_name(at, 1, RecordFormat::Mp4));
        let new = dir.path().join(files::file_name(at, 2, RecordFormat::Mp4));
        let mut whole = boxed(b"ftyp", 8);
        whole.extend(boxed(b"moov", 20));
        whole.extend(boxed(b"moof", 30));
        whole.extend(boxed(b"mdat", 100));
        let mut torn = whole.clone();
        torn.extend(&boxed(b"moof", 30)[..20]);
        std::fs::write(&old, &torn).expect("write");
        std::fs::write(&new, &torn).expect("write");
        let r = recover_last(dir.path()).expect("recover");
        assert_eq!(
            r,
            Recovered::Truncated {
                path: new.clone(),
                from: torn.len() as u64,
                to: whole.len() as u64
            }
        );
        assert_eq!(std::fs::read(&new).expect("read"), whole);
        // Only the newest is touched, and a second run finds it whole.
        assert_eq!(std::fs::read(&old).expect("read"), torn);
        assert_eq!(recover_last(dir.path()).expect("again"), Recovered::Whole);
    }

    #[test]
    fn a_ts_file_keeps_whole_packets_and_an_empty_mp4_goes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let at = std::time::SystemTime::UNIX_EPOCH;
        let ts = dir.path().join(files::file_name(at, 1, RecordFormat::Ts));
        std::fs::write(&ts, vec![0x47; 188 * 3 + 50]).expect("write");
        recover_last(dir.path()).expect("recover");
        assert_eq!(std::fs::metadata(&ts).expect("meta").len(), 188 * 3);
        let mp4 = dir.path().join(files::file_name(at, 2, RecordFormat::Mp4));
        std::fs::write(&mp4, &boxed(b"ftyp", 8)[..10]).expect("write");
        assert_eq!(
            recover_last(dir.path()).expect("recover"),
            Recovered::Removed(mp4.clone())
        );
        assert!(!mp4.exists());
    }
}
