//! File names of a window and their strict parser.
//!
//! `init<E>-<n>.mp4`, `seg<E>-<msn>.m4s`, `part<E>-<msn>.<p>.m4s` and `index.m3u8`, where
//! `<E>` is the base36 (lowercase) of the session's start in Unix milliseconds, so a name
//! never comes back in a later session and a CDN may keep it forever. Numbers are plain
//! decimal, without sign or leading zeros, so each file has exactly one name.

use super::PLAYLIST_NAME;

/// Longest name the parser looks at. The longest name made is a part's: 4 + 13 (a `u64`
/// in base36) + 1 + 20 (a `u64`) + 1 + 10 (a `u32`) + 4 = 53 bytes; anything longer is
/// not ours and is refused before any work.
pub(super) const MAX_NAME_LEN: usize = 64;

/// A parsed name of this window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Name {
    Playlist,
    Init(u64),
    Segment(u64),
    Part { msn: u64, part: u32 },
}

/// Lowercase base36 of `v` (`0` for zero).
pub fn base36(mut v: u64) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(v % 36) as usize]);
        v /= 36;
        if v == 0 {
            break;
        }
    }
    out.reverse();
    out.into_iter().map(char::from).collect()
}

pub(super) fn init(epoch36: &str, n: u64) -> String {
    format!("init{epoch36}-{n}.mp4")
}

pub(super) fn segment(epoch36: &str, msn: u64) -> String {
    format!("seg{epoch36}-{msn}.m4s")
}

pub(super) fn part(epoch36: &str, msn: u64, part: u32) -> String {
    format!("part{epoch36}-{msn}.{part}.m4s")
}

/// Parses `name` as one of this window's (`epoch36`); `None` for anything else.
pub(super) fn parse(name: &str, epoch36: &str) -> Option<Name> {
    if name.len() > MAX_NAME_LEN || !name.is_ascii() {
        return None;
    }
    if name == PLAYLIST_NAME {
        return Some(Name::Playlist);
    }
    let ours = |prefix: &str| {
        name.strip_prefix(prefix)?
            .strip_prefix(epoch36)?
            .strip_prefix('-')
    };
    if let Some(rest) = ours("init") {
        return number(rest.strip_suffix(".mp4")?).map(Name::Init);
    }
    if let Some(rest) = ours("seg") {
        return number(rest.strip_suffix(".m4s")?).map(Name::Segment);
    }
    let rest = ours("part")?.strip_suffix(".m4s")?;
    let (msn, part) = rest.split_once('.')?;
    Some(Name::Part {
        msn: number(msn)?,
        part: u32::try_from(number(part)?).ok()?,
    })
}

/// A canonical decimal `u64`: digits only, no leading zero (but `0` itself), no overflow.
fn number(s: &str) -> Option<u64> {
    let canonical =
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    if canonical {
        s.parse().ok()
    } else {
        None
    }
}
