//! The text of a window's media playlist (RFC 8216bis §4, with the LL-HLS tags).
//!
//! Layout, in the order of the spec's examples:
//! header tags, then per segment `#EXT-X-DISCONTINUITY` / `#EXT-X-MAP` when its init
//! changes, `#EXT-X-PROGRAM-DATE-TIME`, its `#EXT-X-PART`s when recent, `#EXTINF` and
//! its URI; then the parts of the segment in progress, `#EXT-X-PRELOAD-HINT` for the next
//! part while live, or `#EXT-X-ENDLIST`.

use super::name;
use super::window::{HlsWindow, Segment};
use std::fmt::Write;
use std::time::{SystemTime, UNIX_EPOCH};

/// `#EXT-X-VERSION`. RFC 8216bis (Protocol Version Compatibility) asks for 6 when a media
/// playlist uses `EXT-X-MAP` without `EXT-X-I-FRAMES-ONLY` (fMP4 segments), which covers
/// the decimal EXTINF (3) as well. The LL-HLS tags (`EXT-X-PART`, `-PART-INF`,
/// `-SERVER-CONTROL`, `-PRELOAD-HINT`) need no version; 9 would only be needed for
/// `EXT-X-SKIP` (delta updates), not used.
pub const VERSION: u32 = 6;

/// Parts are listed for segments that start at most this many target durations before
/// the end of the playlist (RFC 8216bis, Live Playlists: Partial Segments SHOULD be
/// removed once they are more than three Target Durations from the end).
const PART_SEGMENTS_TARGETS: u64 = 3;

/// PART-HOLD-BACK in part targets (EXT-X-SERVER-CONTROL: at least twice, SHOULD be three times).
const PART_HOLD_BACK_PARTS: i64 = 3;

/// Renders `w`'s playlist.
pub(super) fn render(w: &HlsWindow) -> String {
    let mut out = String::with_capacity(256 + 128 * (w.segments.len() + 1) * 8);
    let part_target = w.config.part_target_90k;
    lines(
        &mut out,
        format_args!(
            "#EXTM3U\n#EXT-X-VERSION:{VERSION}\n#EXT-X-TARGETDURATION:{}\n\
             #EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK={}\n\
             #EXT-X-PART-INF:PART-TARGET={}\n#EXT-X-MEDIA-SEQUENCE:{}",
            w.target_duration_s,
            seconds(part_target.saturating_mul(PART_HOLD_BACK_PARTS), 5, true),
            seconds(part_target, 5, false),
            w.first_msn(),
        ),
    );
    if w.discontinuity_sequence > 0 {
        lines(
            &mut out,
            format_args!("#EXT-X-DISCONTINUITY-SEQUENCE:{}", w.discontinuity_sequence),
        );
    }
    lines(&mut out, format_args!("#EXT-X-INDEPENDENT-SEGMENTS"));

    // Which closed segments list their parts: walking back from the end of the playlist.
    let horizon = i128::from(w.target_duration_s) * i128::from(PART_SEGMENTS_TARGETS) * 90_000;
    let mut tail = w.current.as_ref().map_or(0, |s| i128::from(s.duration_90k));
    let mut with_parts = vec![false; w.segments.len()];
    for (i, s) in w.segments.iter().enumerate().rev() {
        tail += i128::from(s.duration_90k);
        if tail > horizon {
            break;
        }
        with_parts[i] = true;
    }

    let mut init = None;
    for (s, parts) in w.segments.iter().zip(with_parts) {
        segment(&mut out, &w.epoch36, s, &mut init, parts, true);
    }
    if let Some(s) = &w.current {
        segment(&mut out, &w.epoch36, s, &mut init, true, false);
    }
    if w.ended {
        lines(&mut out, format_args!("#EXT-X-ENDLIST"));
    } else if let Some(uri) = w.preload_hint() {
        lines(
            &mut out,
            format_args!("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"{uri}\""),
        );
    }
    out
}

/// One segment's lines; `init` is the init of the segment before (a new one brings
/// `#EXT-X-MAP`).
fn segment(
    out: &mut String,
    epoch36: &str,
    s: &Segment,
    init: &mut Option<u64>,
    parts: bool,
    closed: bool,
) {
    if s.discontinuity {
        lines(out, format_args!("#EXT-X-DISCONTINUITY"));
    }
    if let Some(n) = s.init.filter(|n| *init != Some(*n)) {
        let uri = name::init(epoch36, n);
        lines(out, format_args!("#EXT-X-MAP:URI=\"{uri}\""));
        *init = Some(n);
    }
    lines(
        out,
        format_args!("#EXT-X-PROGRAM-DATE-TIME:{}", iso8601(s.program_date)),
    );
    if parts {
        for (p, part) in s.parts.iter().enumerate() {
            let uri = name::part(epoch36, s.msn, u32::try_from(p).unwrap_or(u32::MAX));
            let independent = if part.independent {
                ",INDEPENDENT=YES"
            } else {
                ""
            };
            lines(
                out,
                format_args!(
                    "#EXT-X-PART:DURATION={},URI=\"{uri}\"{independent}",
                    seconds(part.duration_90k, 5, false)
                ),
            );
        }
    }
    if closed {
        let uri = name::segment(epoch36, s.msn);
        lines(
            out,
            format_args!("#EXTINF:{},\n{uri}", seconds(s.duration_90k, 3, false)),
        );
    }
}

/// Appends formatted text and a newline (writing to a `String` cannot fail).
fn lines(out: &mut String, text: std::fmt::Arguments<'_>) {
    let _ = out.write_fmt(text);
    out.push('\n');
}

/// `ticks` of 90 kHz as seconds with `decimals` (3 or 5) decimals, rounded to nearest or
/// up; negative values as 0.
fn seconds(ticks: i64, decimals: u32, up: bool) -> String {
    let scale = 10_i128.pow(decimals);
    let num = i128::from(ticks.max(0)) * scale;
    let units = if up {
        (num + 89_999) / 90_000
    } else {
        (num + 45_000) / 90_000
    };
    format!(
        "{}.{:0width$}",
        units / scale,
        units % scale,
        width = decimals as usize
    )
}

/// `2026-12-07T15:04:05.123Z` (ISO 8601 / RFC 3339 in UTC, milliseconds, as
/// EXT-X-PROGRAM-DATE-TIME wants); times before 1970 as 1970.
pub(super) fn iso8601(t: SystemTime) -> String {
    let ms = t
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis().min(i64::MAX as u128) as i64);
    let (days, ms_of_day) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    let (y, m, d) = civil_from_days(days);
    let s = ms_of_day / 1000;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        s / 3600,
        s / 60 % 60,
        s % 60,
        ms_of_day % 1000
    )
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, exact for every `i64` day count we can get from a `SystemTime`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}
