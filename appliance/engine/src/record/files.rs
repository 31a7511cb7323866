//! Where a recording's files go and what they are called.
//!
//! `<recording dir>/<input dir>/<output dir>/<UTC start>_<seq>.<ext>`, for example
//! `estudio-a/grabacion/2026-12-07T10-00-00Z_0001.mp4`. The start is the file's first
//! frame in UTC (colons would trouble Windows shares and some editors, so `-`); `<seq>`
//! keeps counting across restarts so two files never share a name even when the clock
//! steps back. Folders are 0750 and files 0640: the service's group (a backup or a file
//! share) may read recordings, nobody else.
use std::fs::{DirBuilder, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

use crate::spec::{Name, RecordFormat};

/// Mode of the folders we create (owner all, group read/enter).
pub const DIR_MODE: u32 = 0o750;
/// Mode of the files we create (owner read/write, group read).
pub const FILE_MODE: u32 = 0o640;
/// `<seq>` is written with at least this many digits, so names sort by number within the
/// first 9999 files of a folder.
const SEQ_DIGITS: usize = 4;

/// The folder name for an input or output name.
///
/// A name of only `[A-Za-z0-9._-]` that does not start with `.` is used as it is. Any other
/// name has each other character (and a leading `.`) replaced by `_`, followed by `-` and 8
/// hex digits of a hash of the whole name, so `a b` and `a/b` get different folders and
/// `..`, `.` or `/` can never be a path component. The result is never empty, and at most
/// 109 bytes ([`Name::MAX_LEN`] characters, `-` and the hash), within any filesystem's 255.
/// Two names could only meet if one were typed as the other's sanitised form plus its
/// 32-bit hash: a deliberate act, not an accident.
pub fn dir_name(name: &Name) -> String {
    let s = name.as_str();
    if is_plain(s) {
        return s.to_owned();
    }
    let mut out: String = s
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if is_allowed(c) && !(i == 0 && c == '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    out.push('-');
    out.push_str(&format!("{:08x}", fold32(fnv1a64(s.as_bytes()))));
    out
}

fn is_allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

fn is_plain(s: &str) -> bool {
    !s.is_empty() && !s.starts_with('.') && s.chars().all(is_allowed)
}

/// FNV-1a, 64 bit: stable across versions and platforms (unlike `DefaultHasher`), which
/// matters because the folder must be the same after an upgrade.
fn fnv1a64(bytes: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes
        .iter()
        .fold(OFFSET, |h, &b| (h ^ u64::from(b)).wrapping_mul(PRIME))
}

fn fold32(h: u64) -> u32 {
    // Truncation intended: both halves folded into the 8 hex digits of the folder name.
    ((h >> 32) ^ (h & 0xffff_ffff)) as u32
}

/// The folder of one record output.
pub fn output_dir(root: &Path, input: &Name, output: &Name) -> PathBuf {
    root.join(dir_name(input)).join(dir_name(output))
}

/// `2026-12-07T10-00-00Z_0001.mp4`: the start in UTC to the second, the sequence number.
pub fn file_name(start: SystemTime, seq: u32, format: RecordFormat) -> String {
    let t = OffsetDateTime::from(start);
    format!(
        "{:04}-{:02}-{:02}T{:02}-{:02}-{:02}Z_{:0width$}.{}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        seq,
        format.as_str(),
        width = SEQ_DIGITS,
    )
}

/// The start, sequence number and format of a name [`file_name`] wrote; `None` for any
/// other file (left alone by retention and by the sequence count).
pub fn parse_file_name(name: &str) -> Option<(SystemTime, u32, RecordFormat)> {
    let (stem, ext) = name.rsplit_once('.')?;
    let format = RecordFormat::parse(ext).ok()?;
    let (stamp, seq) = stem.split_once('_')?;
    if seq.len() < SEQ_DIGITS || !seq.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let seq: u32 = seq.parse().ok()?;
    // YYYY-MM-DDTHH-MM-SSZ
    let b = stamp.as_bytes();
    if b.len() != 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b'-'
        || b[16] != b'-'
        || b[19] != b'Z'
    {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<u16> {
        let part = stamp.get(from..to)?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    let year = i32::from(num(0, 4)?);
    let month = Month::try_from(u8::try_from(num(5, 7)?).ok()?).ok()?;
    let day = u8::try_from(num(8, 10)?).ok()?;
    let hour = u8::try_from(num(11, 13)?).ok()?;
    let minute = u8::try_from(num(14, 16)?).ok()?;
    let second = u8::try_from(num(17, 19)?).ok()?;
    let date = Date::from_calendar_date(year, month, day).ok()?;
    let time = Time::from_hms(hour, minute, second).ok()?;
    let start = PrimitiveDateTime::new(date, time).assume_utc();
    Some((SystemTime::from(start), seq, format))
}

/// The sequence number for the next file in `dir`: one above the highest of the files
/// [`parse_file_name`] accepts, 1 when there is none (or no folder yet).
pub fn next_seq(dir: &Path) -> io::Result<u32> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(1),
        Err(e) => return Err(e),
    };
    let mut highest = 0u32;
    for entry in entries {
        let entry = entry?;
        if let Some((_, seq, _)) = entry.file_name().to_str().and_then(parse_file_name) {
            highest = highest.max(seq);
        }
    }
    highest.checked_add(1).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: file sequence number exhausted", dir.display()),
        )
    })
}

/// Creates `path` and any missing parents with mode 0750 (less what the umask removes).
pub fn create_dir(path: &Path) -> io::Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(path)
}

/// Creates a new file, mode 0640, for writing. Fails if the name exists, so a file is
/// never overwritten (and a symlink planted at the name is never followed).
pub fn create_file(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(path)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::os::unix::fs::PermissionsExt;
    use std::time::Duration;

    use super::*;

    fn name(s: &str) -> Name {
        Name::new(s).expect("valid name")
    }

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    /// The process's umask, read (not set: it is shared by the tests running in parallel).
    fn umask() -> u32 {
        let status = std::fs::read_to_string("/proc/self/status").expect("status");
        let line = status
            .lines()
            .find_map(|l| l.strip_prefix("Umask:"))
            .expect("Umask line");
        u32::from_str_radix(line.trim(), 8).expect("octal")
    }

    #[test]
    fn plain_names_are_kept() {
        for s in ["estudio-a", "grabacion", "A.b_c-9", "x", "a..b"] {
            assert_eq!(dir_name(&name(s)), s);
        }
    }

    #[test]
    fn other_names_are_sanitised_with_a_hash() {
        let d = dir_name(&name("Estudio A/B"));
        assert!(d.starts_with("Estudio_A_B-"), "{d}");
        assert_eq!(d.len(), "Estudio_A_B-".len() + 8);
        assert!(d["Estudio_A_B-".len()..]
            .bytes()
            .all(|b| b.is_ascii_hexdigit()));
        // Stable: the same name always gives the same folder.
        assert_eq!(d, dir_name(&name("Estudio A/B")));
        // Non-ASCII characters become one `_` each.
        assert!(dir_name(&name("cámara")).starts_with("c_mara-"));
    }

    #[test]
    fn the_longest_name_fits_a_file_name() {
        let longest = "é".repeat(Name::MAX_LEN);
        assert_eq!(dir_name(&name(&longest)).len(), Name::MAX_LEN + 9);
        let plain = "a".repeat(Name::MAX_LEN);
        assert_eq!(dir_name(&name(&plain)), plain);
    }

    #[test]
    fn dangerous_names_never_escape_the_folder() {
        for s in [".", "..", "../x", "/", "a/../../b", ".hidden", " ", "\u{0}"] {
            let Ok(n) = Name::new(s) else { continue };
            let d = dir_name(&n);
            assert!(!d.is_empty());
            assert!(!d.starts_with('.'), "{s:?} -> {d}");
            assert!(!d.contains('/'), "{s:?} -> {d}");
            assert!(d
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')));
        }
    }

    #[test]
    fn names_that_sanitise_alike_get_different_folders() {
        let names = ["a b", "a/b", "a:b", "a_b", "a\tb", "a\u{e9}b", ".ab", "_ab"];
        let dirs: HashSet<String> = names.iter().map(|s| dir_name(&name(s))).collect();
        assert_eq!(dirs.len(), names.len(), "{dirs:?}");
    }

    #[test]
    fn output_dir_nests_input_then_output() {
        let p = output_dir(Path::new("/r"), &name("estudio-a"), &name("grabacion"));
        assert_eq!(p, Path::new("/r/estudio-a/grabacion"));
    }

    #[test]
    fn file_names_are_utc_start_and_sequence() {
        // 2026-12-07T10:00:00Z
        let t = at(1_796_637_600);
        assert_eq!(
            file_name(t, 1, RecordFormat::Mp4),
            "2026-12-07T10-00-00Z_0001.mp4"
        );
        assert_eq!(
            file_name(t + Duration::from_millis(59_999), 12345, RecordFormat::Ts),
            "2026-12-07T10-00-59Z_12345.ts"
        );
    }

    #[test]
    fn parse_reverses_file_name() {
        for (secs, seq, f) in [
            (1_796_637_600, 1, RecordFormat::Mp4),
            (0, 9999, RecordFormat::Ts),
            (951_782_400, 10_000, RecordFormat::Mp4), // 2000-02-29
            (1_796_637_600, u32::MAX, RecordFormat::Ts),
        ] {
            let n = file_name(at(secs), seq, f);
            assert_eq!(parse_file_name(&n), Some((at(secs), seq, f)), "{n}");
        }
    }

    #[test]
    fn parse_refuses_other_names() {
        for n in [
            "",
            "notes.txt",
            "2026-12-07T10-00-00Z_0001.mkv",
            "2026-12-07T10-00-00Z_001.mp4",
            "2026-12-07T10-00-00Z_+001.mp4",
            "2026-12-07T10-00-00Z_99999999999.mp4",
            "2026-12-07T10-00-00Z.mp4",
            "2026-12-07T10:00:00Z_0001.mp4",
            "2026-13-07T10-00-00Z_0001.mp4",
            "2026-02-30T10-00-00Z_0001.mp4",
            "2026-12-07T24-00-00Z_0001.mp4",
            "2026-12-07T10-00-00_0001.mp4",
            "2026-12-07T10-00-00Z_0001.mp4.part",
            "+026-12-07T10-00-00Z_0001.mp4",
        ] {
            assert_eq!(parse_file_name(n), None, "{n}");
        }
    }

    #[test]
    fn next_seq_continues_after_the_highest() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("missing");
        assert_eq!(next_seq(&missing).expect("missing dir"), 1);
        assert_eq!(next_seq(dir.path()).expect("empty"), 1);
        for n in [
            file_name(at(100), 3, RecordFormat::Mp4),
            file_name(at(50), 41, RecordFormat::Ts),
            file_name(at(200), 7, RecordFormat::Mp4),
            "2026-12-07T10-00-00Z_0999.txt".to_owned(),
            "other_99999".to_owned(),
        ] {
            std::fs::write(dir.path().join(n), b"x").expect("write");
        }
        assert_eq!(next_seq(dir.path()).expect("seq"), 42);
    }

    #[test]
    fn next_seq_refuses_to_wrap() {
        let dir = tempfile::tempdir().expect("tempdir");
        let n = file_name(at(0), u32::MAX, RecordFormat::Mp4);
        std::fs::write(dir.path().join(n), b"x").expect("write");
        assert!(next_seq(dir.path()).is_err());
    }

    #[test]
    fn folders_and_files_get_their_modes() {
        let root = tempfile::tempdir().expect("tempdir");
        let dir = output_dir(root.path(), &name("in put"), &name("out"));
        create_dir(&dir).expect("create dir");
        create_dir(&dir).expect("create dir again is fine");
        let file = dir.join(file_name(at(0), 1, RecordFormat::Ts));
        create_file(&file).expect("create file");
        let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        let umask = umask();
        assert_eq!(mode(&dir), DIR_MODE & !umask);
        assert_eq!(mode(dir.parent().expect("parent")), DIR_MODE & !umask);
        assert_eq!(mode(&file), FILE_MODE & !umask);
        assert_eq!(
            create_file(&file).expect_err("exists").kind(),
            io::ErrorKind::AlreadyExists
        );
    }
}
