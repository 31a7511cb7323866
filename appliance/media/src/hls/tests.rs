//! Tests of the LL-HLS window: playlist text, scrolling, discontinuities, readiness,
//! lookups, bounds, and parts from the real fMP4 muxer.
#![allow(clippy::unwrap_used)]

use super::name::{self, Name};
use super::*;
use std::time::{Duration, UNIX_EPOCH};

/// 2026-01-01T00:00:00Z in Unix ms; base36 `mjuohs00`.
const EPOCH: u64 = 1_767_225_600_000;
const E: &str = "mjuohs00";
/// 0.5 s parts, 4 per 2 s segment.
const PART: i64 = 45_000;

fn config() -> WindowConfig {
    WindowConfig {
        segment_target_90k: 180_000,
        part_target_90k: PART,
        max_segments: 3,
        max_bytes: 1 << 20,
    }
}

fn at_ms(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(EPOCH + ms)
}

/// Part `i` of a stream with a keyframe every `gop` parts: 100 bytes of value `i`, made
/// at `i` × 500 ms.
fn part(i: u64, gop: u64) -> Part {
    Part {
        data: Bytes::from(vec![i as u8; 100]),
        duration_90k: PART,
        independent: i.is_multiple_of(gop),
        wall_clock: at_ms(i * 500),
    }
}

/// A window with an init and parts `0..n` (keyframe every 4 parts).
fn window(n: u64) -> HlsWindow {
    let mut w = HlsWindow::new(config(), EPOCH);
    w.set_init(Bytes::from_static(b"init-0"));
    for i in 0..n {
        w.push_part(part(i, 4));
    }
    w
}

fn text(w: &HlsWindow) -> String {
    String::from_utf8(w.playlist().to_vec()).unwrap()
}

fn header(media_sequence: u64, target: u64) -> String {
    format!(
        "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:{target}\n\
         #EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.50000\n\
         #EXT-X-PART-INF:PART-TARGET=0.50000\n#EXT-X-MEDIA-SEQUENCE:{media_sequence}\n"
    )
}

fn parts_lines(msn: u64, range: std::ops::Range<u32>) -> String {
    range
        .map(|p| {
            let independent = if p == 0 { ",INDEPENDENT=YES" } else { "" };
            format!("#EXT-X-PART:DURATION=0.50000,URI=\"part{E}-{msn}.{p}.m4s\"{independent}\n")
        })
        .collect()
}

/// Every URI a playlist names: `URI="…"` attributes, then segment lines.
fn uris(playlist: &str) -> Vec<&str> {
    playlist
        .lines()
        .filter_map(|l| l.split("URI=\"").nth(1))
        .map(|rest| rest.split('"').next().unwrap())
        .chain(playlist.lines().filter(|l| !l.starts_with('#')))
        .collect()
}

#[test]
fn playlist_of_three_segments_with_parts() {
    let w = window(14);
    let expected = format!(
        "{}#EXT-X-INDEPENDENT-SEGMENTS\n\
         #EXT-X-MAP:URI=\"init{E}-0.mp4\"\n\
         #EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:00.000Z\n\
         #EXTINF:2.000,\nseg{E}-0.m4s\n\
         #EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:02.000Z\n{}\
         #EXTINF:2.000,\nseg{E}-1.m4s\n\
         #EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:04.000Z\n{}\
         #EXTINF:2.000,\nseg{E}-2.m4s\n\
         #EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:06.000Z\n{}\
         #EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part{E}-3.2.m4s\"\n",
        header(0, 2),
        parts_lines(1, 0..4),
        parts_lines(2, 0..4),
        parts_lines(3, 0..2),
    );
    // Segment 0 starts 6.5 s before the end (more than 3 × 2 s): no parts listed for it.
    assert_eq!(text(&w), expected);
    assert!(w.has_segment());
    let seg = w.lookup(&format!("seg{E}-1.m4s")).unwrap();
    assert_eq!(seg.kind, FileKind::Segment);
    let concatenated: Vec<u8> = (4..8).flat_map(|i| vec![i as u8; 100]).collect();
    assert_eq!(seg.data.as_ref(), &concatenated[..]);
    assert_eq!(seg.made, at_ms(8 * 500), "closed by part 8");
}

#[test]
fn empty_window_renders_a_playlist_without_segments() {
    let w = HlsWindow::new(config(), EPOCH);
    assert_eq!(
        text(&w),
        format!("{}#EXT-X-INDEPENDENT-SEGMENTS\n", header(0, 2))
    );
    assert!(!w.has_segment());
    assert_eq!(w.bytes(), 0);
    let first = w.version();
    let w = window(1);
    assert!(!w.has_segment(), "one part is not a whole segment");
    assert!(w.version() > first);
}

#[test]
fn old_segments_scroll_out_and_media_sequence_follows() {
    let mut w = window(14);
    let v = w.version();
    w.push_part(part(14, 4));
    assert!(w.version() > v, "every part changes the playlist");
    for i in 15..21 {
        w.push_part(part(i, 4));
    }
    // Parts 0..21: segments 0..4 closed (4 parts each), segment 5 in progress (part 20).
    let t = text(&w);
    assert!(t.contains("#EXT-X-MEDIA-SEQUENCE:2\n"), "{t}");
    assert!(!t.contains(&format!("seg{E}-1.m4s")));
    assert!(t.contains(&format!("seg{E}-4.m4s")));
    assert_eq!(t.matches("#EXTINF:").count(), 3);
    assert!(t.contains(&format!("#EXT-X-MAP:URI=\"init{E}-0.mp4\"\n")));
    assert_eq!(
        w.lookup(&format!("seg{E}-1.m4s")),
        Err(LookupError::Expired)
    );
    assert_eq!(
        w.lookup(&format!("part{E}-0.3.m4s")),
        Err(LookupError::Expired)
    );
    assert!(w.lookup(&format!("seg{E}-2.m4s")).is_ok());
    assert!(w.lookup(&format!("init{E}-0.mp4")).is_ok(), "still used");
    assert_eq!(w.stats().dropped_segments, 2);
}

#[test]
fn a_new_init_brings_a_discontinuity_and_its_sequence_counts_once_it_scrolls_out() {
    let mut w = window(6); // segment 0 closed, segment 1 has parts 4 and 5
    w.set_init(Bytes::from_static(b"init-1"));
    // The segment in progress closed at once: its parts belong to the old init.
    assert!(text(&w).contains(&format!("#EXTINF:1.000,\nseg{E}-1.m4s\n")));
    for i in 0..4 {
        w.push_part(part(i + 100, 4));
    }
    let t = text(&w);
    let expected_tail = format!(
        "seg{E}-1.m4s\n#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"init{E}-1.mp4\"\n\
         #EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:50.000Z\n{}\
         #EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part{E}-2.4.m4s\"\n",
        parts_lines(2, 0..4)
    );
    assert!(t.ends_with(&expected_tail), "{t}");
    assert!(!t.contains("#EXT-X-DISCONTINUITY-SEQUENCE"));
    // Three more segments: 0 and 1 leave, then 2 (the one after the discontinuity).
    for i in 4..16 {
        w.push_part(part(i + 100, 4));
    }
    w.push_part(part(200, 4));
    let t = text(&w);
    assert!(t.contains("#EXT-X-MEDIA-SEQUENCE:3\n"), "{t}");
    assert!(t.contains("#EXT-X-DISCONTINUITY-SEQUENCE:1\n"), "{t}");
    assert!(!t.contains("#EXT-X-DISCONTINUITY\n"), "{t}");
    assert_eq!(t.matches("#EXT-X-MAP:").count(), 1);
    assert!(t.contains(&format!("#EXT-X-MAP:URI=\"init{E}-1.mp4\"\n")));
    assert_eq!(
        w.lookup(&format!("init{E}-0.mp4")),
        Err(LookupError::Expired)
    );
    assert_eq!(
        w.lookup(&format!("init{E}-1.mp4")).unwrap().data,
        Bytes::from_static(b"init-1")
    );
    assert_eq!(
        w.lookup(&format!("init{E}-2.mp4")),
        Err(LookupError::Unknown)
    );
}

#[test]
fn a_long_gop_raises_the_target_duration_for_good() {
    let mut w = HlsWindow::new(config(), EPOCH);
    w.set_init(Bytes::from_static(b"init"));
    // One 3.5 s GOP (7 parts), then 2 s GOPs.
    for i in 0..7 {
        w.push_part(part(i, 7));
    }
    for i in 7..9u64 {
        w.push_part(Part {
            independent: (i - 7).is_multiple_of(4),
            ..part(i, 1)
        });
    }
    let t = text(&w);
    assert!(t.contains("#EXT-X-TARGETDURATION:4\n"), "{t}");
    assert!(
        t.contains(&format!("#EXTINF:3.500,\nseg{E}-0.m4s\n")),
        "{t}"
    );
    for i in 9..40u64 {
        w.push_part(Part {
            independent: (i - 7).is_multiple_of(4),
            ..part(i, 1)
        });
    }
    let t = text(&w);
    assert!(!t.contains("#EXTINF:3.500"), "the long segment left: {t}");
    assert!(
        t.contains("#EXT-X-TARGETDURATION:4\n"),
        "it never goes down: {t}"
    );
}

#[test]
fn a_gop_a_millisecond_short_still_closes_the_segment() {
    // 2 s GOPs whose timestamps give 1.999 s: 4 parts make 179 888 ticks. With a strict
    // "≥ 2 s" every segment would span two GOPs (4 s).
    let mut w = HlsWindow::new(config(), EPOCH);
    w.set_init(Bytes::from_static(b"init"));
    for i in 0..13 {
        w.push_part(Part {
            duration_90k: 44_978 - i64::from(i % 4 == 3) * 24,
            ..part(i, 4)
        });
    }
    let t = text(&w);
    assert_eq!(t.matches("#EXTINF:1.999,\n").count(), 3, "{t}");
    assert!(!t.contains("#EXT-X-TARGETDURATION:4"));
    assert!(t.contains("#EXT-X-TARGETDURATION:2\n"));
}

#[test]
fn segments_cut_only_at_independent_parts() {
    let mut w = HlsWindow::new(config(), EPOCH);
    w.set_init(Bytes::from_static(b"init"));
    // A keyframe every 6 parts (3 s): segments of 3 s, never 2 s.
    for i in 0..19 {
        w.push_part(part(i, 6));
    }
    let t = text(&w);
    assert_eq!(t.matches("#EXTINF:3.000,\n").count(), 3, "{t}");
    for msn in 0..4u64 {
        let first = w.lookup(&format!("part{E}-{msn}.0.m4s")).unwrap();
        assert_eq!(
            first.data[0] as u64,
            msn * 6,
            "segment {msn} starts at a keyframe"
        );
    }
}

#[test]
fn overlong_parts_are_listed_as_they_are_and_counted() {
    let mut w = window(2);
    w.push_part(Part {
        duration_90k: PART + 900,
        ..part(2, 4)
    });
    let t = text(&w);
    assert!(t.contains("#EXT-X-PART-INF:PART-TARGET=0.50000\n"));
    assert!(t.contains(&format!(
        "#EXT-X-PART:DURATION=0.51000,URI=\"part{E}-0.2.m4s\"\n"
    )));
    assert_eq!(w.stats().overlong_parts, 1);
}

#[test]
fn extreme_durations_and_settings_do_not_panic() {
    let mut w = HlsWindow::new(
        WindowConfig {
            segment_target_90k: i64::MIN,
            part_target_90k: 0,
            max_segments: 0,
            max_bytes: 0,
        },
        u64::MAX,
    );
    w.set_init(Bytes::new());
    for (i, d) in [i64::MAX, i64::MIN, 0, i64::MAX, -1, i64::MAX]
        .into_iter()
        .enumerate()
    {
        w.push_part(Part {
            duration_90k: d,
            wall_clock: UNIX_EPOCH,
            ..part(i as u64, 2)
        });
    }
    let t = text(&w);
    assert!(t.contains("#EXT-X-PART-INF:PART-TARGET=0.00001\n"), "{t}");
    assert!(t.contains("#EXT-X-PROGRAM-DATE-TIME:1970-01-01T00:00:00.000Z\n"));
    assert!(w.has_segment());
    let hint = w.preload_hint().unwrap();
    assert!(hint.starts_with("part3w5e11264sgsf-"), "{hint}");
    assert_eq!(w.ready(u64::MAX, Some(u32::MAX)), Readiness::TooFar);
    // A keyframe every 2 parts and a 1-tick target: a segment per keyframe; the byte bound
    // of 0 keeps only the newest whole one (1) and the one in progress (2).
    assert_eq!(
        w.lookup("part3w5e11264sgsf-0.0.m4s"),
        Err(LookupError::Expired)
    );
    assert!(w.lookup("seg3w5e11264sgsf-1.m4s").is_ok());
    assert_eq!(w.bytes(), 400);
    w.end();
    assert!(text(&w).ends_with("#EXT-X-ENDLIST\n"));
}

#[test]
fn readiness_of_blocking_reloads() {
    let empty = HlsWindow::new(config(), EPOCH);
    assert_eq!(empty.ready(0, None), Readiness::Wait);
    assert_eq!(empty.ready(0, Some(0)), Readiness::Wait);
    assert_eq!(empty.ready(2, None), Readiness::Wait);
    assert_eq!(empty.ready(3, None), Readiness::TooFar);

    let w = window(5); // segment 0 closed (parts 0..4), segment 1 has part 0
    assert_eq!(w.ready(0, None), Readiness::Ready);
    assert_eq!(w.ready(0, Some(3)), Readiness::Ready);
    // Past the last part of a closed segment: part 0 of the next (RFC 8216bis, Blocking
    // Playlist Reload).
    assert_eq!(w.ready(0, Some(4)), Readiness::Ready);
    assert_eq!(w.ready(0, Some(u32::MAX)), Readiness::Ready);
    assert_eq!(w.ready(1, Some(0)), Readiness::Ready);
    assert_eq!(w.ready(1, Some(1)), Readiness::Wait);
    assert_eq!(w.ready(1, None), Readiness::Wait);
    assert_eq!(w.ready(3, Some(9)), Readiness::Wait);
    assert_eq!(w.ready(4, None), Readiness::TooFar);
    assert_eq!(w.ready(u64::MAX, Some(0)), Readiness::TooFar);

    // A closed segment whose next one has not started (just after set_init).
    let mut w = window(6);
    w.set_init(Bytes::from_static(b"init-1"));
    assert_eq!(w.ready(1, Some(1)), Readiness::Ready);
    assert_eq!(w.ready(1, Some(2)), Readiness::Wait);

    // Scrolled out long ago: the playlist has later segments, answer now.
    let w = window(40);
    assert_eq!(w.ready(0, Some(0)), Readiness::Ready);

    let mut w = window(5);
    w.end();
    assert_eq!(w.ready(1, None), Readiness::Ready);
    assert_eq!(w.ready(99, Some(3)), Readiness::Ready);
}

#[test]
fn lookups_find_each_file_of_the_playlist() {
    let w = window(14);
    let playlist = w.lookup("index.m3u8").unwrap();
    assert_eq!(playlist.kind, FileKind::Playlist);
    assert_eq!(playlist.data, w.playlist());
    assert_eq!(playlist.made, at_ms(13 * 500));
    let init = w.lookup(&format!("init{E}-0.mp4")).unwrap();
    assert_eq!(
        (init.kind, init.data),
        (FileKind::Init, Bytes::from_static(b"init-0"))
    );
    // Every URI the playlist names is found.
    let t = text(&w);
    let uris = uris(&t);
    assert_eq!(uris.len(), 1 + 10 + 1 + 3, "{uris:?}");
    for uri in &uris {
        if uri.contains("-3.2.") {
            assert_eq!(
                w.lookup(uri),
                Err(LookupError::Unknown),
                "the hint: not yet"
            );
        } else {
            assert!(w.lookup(uri).is_ok(), "{uri}");
        }
    }
    let p = w.lookup(&format!("part{E}-3.1.m4s")).unwrap();
    assert_eq!(
        (p.kind, p.data.as_ref(), p.made),
        (FileKind::Part, &[13u8; 100][..], at_ms(13 * 500))
    );
    // A closed segment's parts are slices of the segment.
    let seg = w.lookup(&format!("seg{E}-0.m4s")).unwrap();
    let p = w.lookup(&format!("part{E}-0.2.m4s")).unwrap();
    assert_eq!(p.data, seg.data.slice(200..300));
    // Not made yet: the segment in progress and what comes after.
    for name in [
        format!("seg{E}-3.m4s"),
        format!("seg{E}-4.m4s"),
        format!("part{E}-4.0.m4s"),
        format!("init{E}-1.mp4"),
    ] {
        assert_eq!(w.lookup(&name), Err(LookupError::Unknown), "{name}");
    }
}

#[test]
fn the_hinted_part_name_is_found_when_that_part_starts_a_new_segment() {
    let mut w = window(4);
    let t = text(&w);
    assert!(t.contains(&format!("PRELOAD-HINT:TYPE=PART,URI=\"part{E}-0.4.m4s\"")));
    assert!(w.is_hinted(&format!("part{E}-0.4.m4s")));
    assert!(!w.is_hinted(&format!("part{E}-0.3.m4s")));
    assert!(!w.is_hinted(&format!("part{E}-1.0.m4s")));
    w.push_part(part(4, 4)); // independent: starts segment 1
    let hinted = w.lookup(&format!("part{E}-0.4.m4s")).unwrap();
    let listed = w.lookup(&format!("part{E}-1.0.m4s")).unwrap();
    assert_eq!(hinted, listed);
    assert_eq!(
        w.lookup(&format!("part{E}-0.5.m4s")),
        Err(LookupError::Unknown)
    );
    assert_eq!(w.preload_hint(), Some(format!("part{E}-1.1.m4s")));
    w.end();
    assert_eq!(w.preload_hint(), None);
    assert!(!w.is_hinted(&format!("part{E}-1.1.m4s")));
    assert_eq!(HlsWindow::new(config(), EPOCH).preload_hint(), None);
}

#[test]
fn a_tiny_window_still_lists_three_target_durations() {
    let mut w = HlsWindow::new(
        WindowConfig {
            max_segments: 1,
            ..config()
        },
        EPOCH,
    );
    w.set_init(Bytes::from_static(b"init-0"));
    for i in 0..25 {
        w.push_part(part(i, 4));
    }
    // Six segments closed: three of 2 s are the 6 s a live playlist may not go under.
    let t = text(&w);
    assert_eq!(t.matches("#EXTINF:").count(), 3, "{t}");
    assert!(t.contains("#EXT-X-MEDIA-SEQUENCE:3\n"), "{t}");
    // After end() nothing more is dropped or added.
    w.end();
    assert_eq!(text(&w).matches("#EXTINF:").count(), 4);
}

#[test]
fn another_sessions_names_are_unknown_and_weird_names_do_not_panic() {
    let w = window(14);
    let other = name::base36(EPOCH + 1);
    let long = "9".repeat(10_000);
    let names = [
        String::new(),
        ".".into(),
        "..".into(),
        "../index.m3u8".into(),
        "index.m3u8/".into(),
        "INDEX.M3U8".into(),
        "index.m3u8\0".into(),
        "seg".into(),
        format!("seg{E}"),
        format!("seg{E}-"),
        format!("seg{E}-.m4s"),
        format!("seg{E}-01.m4s"),
        format!("seg{E}-+1.m4s"),
        format!("seg{E}--1.m4s"),
        format!("seg{E}-1.m4s.m4s"),
        format!("seg{E}-1.mp4"),
        format!("seg{E}-18446744073709551616.m4s"),
        format!("seg{E}-{long}.m4s"),
        format!("seg{}-1.m4s", E.to_uppercase()),
        format!("seg{other}-1.m4s"),
        format!("seg0{E}-1.m4s"),
        format!("part{E}-1.4294967296.m4s"),
        format!("part{E}-1..m4s"),
        format!("part{E}-1.0.0.m4s"),
        format!("part{E}-1.m4s"),
        format!("part{E}-.0.m4s"),
        format!("part{E}-1.00.m4s"),
        format!("init{E}-0.mp4x"),
        format!("init{E}-0.m4s"),
        format!("init{E}-0"),
        format!("seg{E}-1.m4s ").replace(' ', "\u{a0}"),
        format!("ség{E}-1.m4s"),
        format!("seg{E}-١.m4s"),
        "\u{FEFF}index.m3u8".into(),
        long.clone(),
    ];
    for name in &names {
        assert_eq!(w.lookup(name), Err(LookupError::Unknown), "{name:?}");
    }
    assert_eq!(
        w.lookup(&format!("seg{E}-1.m4s")).map(|f| f.kind),
        Ok(FileKind::Segment)
    );
}

/// Every prefix and every one-byte change of real names: no panic, and whatever parses
/// is canonical (it prints back to the same name), so one file has one name.
#[test]
fn names_parse_strictly_and_canonically() {
    let print = |n: Name| match n {
        Name::Playlist => PLAYLIST_NAME.to_string(),
        Name::Init(n) => name::init(E, n),
        Name::Segment(msn) => name::segment(E, msn),
        Name::Part { msn, part } => name::part(E, msn, part),
    };
    let seeds = [
        PLAYLIST_NAME.to_string(),
        name::init(E, 0),
        name::segment(E, 12),
        name::part(E, 18_446_744_073_709_551_615, 4_294_967_295),
        name::part(E, 7, 0),
    ];
    let alphabet: Vec<u8> = b"0189az-./\\ %\0AZsegpartinitmp4m3u8"
        .iter()
        .copied()
        .chain([0x80, 0xC3, 0xFF])
        .collect();
    let mut parsed = 0;
    let mut tried = 0;
    for seed in &seeds {
        assert_eq!(name::parse(seed, E).map(print).as_deref(), Some(&seed[..]));
        assert!(seed.len() <= name::MAX_NAME_LEN);
        let bytes = seed.as_bytes();
        for cut in 0..bytes.len() {
            let s = String::from_utf8_lossy(&bytes[..cut]);
            assert_eq!(name::parse(&s, E), None, "{s:?}");
        }
        for at in 0..bytes.len() {
            for &b in &alphabet {
                let mut v = bytes.to_vec();
                v[at] = b;
                let s = String::from_utf8_lossy(&v).into_owned();
                tried += 1;
                if let Some(n) = name::parse(&s, E) {
                    parsed += 1;
                    assert_eq!(print(n), s, "not canonical");
                }
            }
        }
    }
    assert!(tried > 1000 && parsed > 0, "{tried} {parsed}");
    assert_eq!(name::base36(0), "0");
    assert_eq!(name::base36(35), "z");
    assert_eq!(name::base36(36), "10");
    assert_eq!(name::base36(u64::MAX), "3w5e11264sgsf");
    assert_eq!(name::base36(EPOCH), E);
}

#[test]
fn the_byte_bound_drops_the_oldest_segments_but_keeps_the_newest_and_the_current() {
    let mut w = HlsWindow::new(
        WindowConfig {
            max_segments: 10,
            max_bytes: 1_000,
            ..config()
        },
        EPOCH,
    );
    w.set_init(Bytes::from_static(b"init-0")); // 6 bytes
    for i in 0..9 {
        w.push_part(part(i, 4));
    }
    // Segments 0 and 1 (400 bytes each) and part 8: 906 bytes, all kept.
    assert_eq!(w.bytes(), 906);
    assert!(text(&w).contains("#EXT-X-MEDIA-SEQUENCE:0\n"));
    w.push_part(part(9, 4)); // 1006 > 1000: segment 0 goes
    assert_eq!(w.bytes(), 606);
    assert!(text(&w).contains("#EXT-X-MEDIA-SEQUENCE:1\n"));
    assert_eq!(
        w.lookup(&format!("seg{E}-0.m4s")),
        Err(LookupError::Expired)
    );
    // A window smaller than one segment keeps the newest whole one and the current.
    let mut w = HlsWindow::new(
        WindowConfig {
            max_bytes: 10,
            ..config()
        },
        EPOCH,
    );
    w.set_init(Bytes::from_static(b"init-0"));
    for i in 0..14 {
        w.push_part(part(i, 4));
    }
    assert_eq!(w.bytes(), 6 + 400 + 200);
    let t = text(&w);
    assert_eq!(t.matches("#EXTINF").count(), 1);
    assert!(t.contains(&format!("seg{E}-2.m4s")));
}

#[test]
fn end_closes_the_last_segment_and_ends_the_list() {
    let mut w = window(6);
    w.end();
    let t = text(&w);
    assert!(
        t.ends_with(&format!("#EXTINF:1.000,\nseg{E}-1.m4s\n#EXT-X-ENDLIST\n")),
        "{t}"
    );
    assert!(!t.contains("PRELOAD-HINT"));
    assert!(w.is_ended());
    let v = w.version();
    w.push_part(part(6, 4));
    w.set_init(Bytes::from_static(b"late"));
    w.end();
    assert_eq!(w.version(), v, "nothing changes after end");
    assert_eq!(w.stats().after_end, 1);
    assert_eq!(text(&w), t);
}

#[test]
fn program_date_time_is_iso8601_utc_with_milliseconds() {
    let t = |ms: u64| playlist::iso8601(UNIX_EPOCH + Duration::from_millis(ms));
    assert_eq!(t(0), "1970-01-01T00:00:00.000Z");
    assert_eq!(t(EPOCH + 1_234), "2026-01-01T00:00:01.234Z");
    assert_eq!(t(951_782_400_000 - 1), "2000-02-28T23:59:59.999Z");
    assert_eq!(t(951_782_400_000 + 86_400_000), "2000-03-01T00:00:00.000Z");
    assert_eq!(t(4_102_444_800_000), "2100-01-01T00:00:00.000Z");
    assert_eq!(
        playlist::iso8601(UNIX_EPOCH - Duration::from_secs(5)),
        "1970-01-01T00:00:00.000Z"
    );
}

mod muxed {
    //! Parts from the real fMP4 muxer (synthetic H.264 + AAC frames).
    use super::*;
    use crate::mp4::{Fmp4Muxer, Fmp4Options, TrackConfig};
    use crate::ts::{DemuxEvent, TsDemuxer};
    use crate::{AudioConfig, Codec, Frame, VideoConfig};

    fn h264_config() -> VideoConfig {
        let data = include_bytes!("../../tests/fixtures/h264_aac.ts");
        let mut demuxer = TsDemuxer::new();
        let mut events = Vec::new();
        demuxer.push(data, &mut events).unwrap();
        events
            .into_iter()
            .find_map(|e| match e {
                DemuxEvent::VideoConfig(c) => Some(c),
                _ => None,
            })
            .unwrap()
    }

    fn video(n: i64) -> Frame {
        let keyframe = n % 50 == 0; // 2 s GOP at 25 fps
        let mut data = vec![0, 0, 0, 1, if keyframe { 0x65 } else { 0x41 }];
        data.resize(200 + (n % 7) as usize, 0x5A);
        Frame {
            codec: Codec::H264,
            pts: n * 3600,
            dts: n * 3600,
            keyframe,
            data: Bytes::from(data),
        }
    }

    fn audio(n: i64) -> Frame {
        Frame {
            codec: Codec::Aac,
            pts: n * 1920,
            dts: n * 1920,
            keyframe: true,
            data: Bytes::from(vec![0x21; 20]),
        }
    }

    #[test]
    fn segments_are_their_parts_and_start_independent() {
        let tracks = vec![
            TrackConfig::Video(h264_config()),
            TrackConfig::Audio(AudioConfig {
                asc: Bytes::from_static(&[0x11, 0x90]),
                sample_rate: 48_000,
                channels: 2,
            }),
        ];
        // PART-TARGET 1/3 s; the muxer cuts at 8 frames (0.32 s) so no part is longer.
        let part_target = 30_000;
        let options = Fmp4Options {
            part_duration_90k: Some(part_target - 3600 + 1),
            ..Default::default()
        };
        let mut muxer = Fmp4Muxer::new(tracks, options).unwrap();
        let mut w = HlsWindow::new(
            WindowConfig {
                segment_target_90k: 180_000,
                part_target_90k: part_target,
                max_segments: 100,
                max_bytes: 64 << 20,
            },
            EPOCH,
        );
        let init = muxer.init_segment().unwrap();
        w.set_init(init.clone());
        let mut fragments = Vec::new();
        // 10.4 s of video, audio interleaved by DTS.
        let (mut v, mut a) = (0, 0);
        while v < 260 {
            if audio(a).dts < video(v).dts {
                muxer.push(1, &audio(a), &mut fragments).unwrap();
                a += 1;
            } else {
                muxer.push(0, &video(v), &mut fragments).unwrap();
                v += 1;
            }
        }
        muxer.flush(&mut fragments).unwrap();
        let mut parts = Vec::new();
        for f in &fragments {
            parts.push(f.data.clone());
            let made = at_ms(u64::try_from(f.start_90k / 90).unwrap());
            w.push_part(Part::from_fragment(f, made));
        }
        w.end();
        assert_eq!(w.stats().overlong_parts, 0);
        assert_eq!(w.stats().forced_cuts, 0);
        let t = text(&w);
        // 260 frames at 25 fps with 2 s GOPs: 5 segments of 2 s and one of 0.4 s.
        assert_eq!(t.matches("#EXTINF:2.000,\n").count(), 5, "{t}");
        assert!(
            t.contains(&format!("#EXTINF:0.400,\nseg{E}-5.m4s\n")),
            "{t}"
        );
        let mut next = 0;
        let mut file = init.to_vec();
        for msn in 0..6u64 {
            let seg = w.lookup(&name::segment(E, msn)).unwrap().data;
            let mut joined = Vec::new();
            let mut p = 0;
            while let Ok(part) = w.lookup(&name::part(E, msn, p)) {
                if msn < 5 && p == 7 {
                    break; // the hint alias of part 0 of the next segment
                }
                if p == 0 {
                    let start = &fragments[next];
                    assert!(start.independent, "segment {msn} starts with a keyframe");
                }
                assert_eq!(part.data, parts[next], "segment {msn} part {p}");
                joined.extend_from_slice(&part.data);
                next += 1;
                p += 1;
            }
            assert_eq!(p, if msn < 5 { 7 } else { 2 }, "8+8+8+8+8+8+2 frames");
            assert_eq!(seg.as_ref(), &joined[..], "segment {msn}");
            file.extend_from_slice(&seg);
        }
        assert_eq!(next, fragments.len());
        // The init and the segments make a file ffprobe reads whole.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hls.mp4");
        std::fs::write(&path, &file).unwrap();
        let expected = format!("h264,260\naac,{a}\n");
        assert_eq!(ffprobe_counts(&path), expected);
        // And ffmpeg's HLS reader plays the playlist with every file it names.
        let index = write_files(&w, dir.path());
        // (The HLS reader lists the streams twice: in its program, and alone.)
        assert_eq!(ffprobe_counts(&index), format!("{expected}\n{expected}"));
    }

    #[test]
    fn a_new_init_mid_stream_plays_through_the_discontinuity() {
        let mut w = HlsWindow::new(
            WindowConfig {
                segment_target_90k: 180_000,
                part_target_90k: 30_000,
                max_segments: 100,
                max_bytes: 64 << 20,
            },
            EPOCH,
        );
        // Two muxers one after the other (a publisher blip): decode times restart at 0.
        for run in 0..2 {
            let options = Fmp4Options {
                part_duration_90k: Some(30_000 - 3600 + 1),
                ..Default::default()
            };
            let video_only = vec![TrackConfig::Video(h264_config())];
            let mut muxer = Fmp4Muxer::new(video_only, options).unwrap();
            w.set_init(muxer.init_segment().unwrap());
            let mut fragments = Vec::new();
            for n in 0..100 {
                muxer
                    .push(0, &video(run * 100 + n), &mut fragments)
                    .unwrap();
            }
            muxer.flush(&mut fragments).unwrap();
            for f in &fragments {
                w.push_part(Part {
                    data: f.data.clone(),
                    duration_90k: f.duration_90k,
                    independent: f.independent,
                    wall_clock: at_ms(u64::try_from(run * 4000 + f.start_90k / 90).unwrap()),
                });
            }
        }
        w.end();
        let t = text(&w);
        assert_eq!(t.matches("#EXT-X-DISCONTINUITY\n").count(), 1, "{t}");
        assert_eq!(t.matches("#EXT-X-MAP:").count(), 2, "{t}");
        assert_eq!(t.matches("#EXTINF:2.000,\n").count(), 4, "{t}");
        let dir = tempfile::tempdir().unwrap();
        let index = write_files(&w, dir.path());
        assert_eq!(ffprobe_counts(&index), "h264,200\n\nh264,200\n");
    }

    /// Writes the playlist and every file it names into `dir`; the playlist's path.
    fn write_files(w: &HlsWindow, dir: &std::path::Path) -> std::path::PathBuf {
        let t = text(w);
        for uri in uris(&t) {
            let found = w.lookup(uri).unwrap();
            std::fs::write(dir.join(uri), &found.data).unwrap();
        }
        let index = dir.join(PLAYLIST_NAME);
        std::fs::write(&index, w.lookup(PLAYLIST_NAME).unwrap().data).unwrap();
        index
    }

    /// `codec,packets` per stream, as ffprobe counts them.
    fn ffprobe_counts(path: &std::path::Path) -> String {
        let out = std::process::Command::new("ffprobe")
            .args(["-v", "error", "-count_packets", "-show_entries"])
            .args(["stream=codec_name,nb_read_packets", "-of", "csv=p=0"])
            .arg(path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

#[test]
fn a_cut_starts_a_segment_at_the_next_independent_part_without_a_discontinuity() {
    let mut w = window(2); // 1 s of the first segment
    w.cut();
    w.push_part(part(3, 4)); // not independent: no cut there
    w.push_part(Part {
        independent: true,
        ..part(4, 4)
    });
    let t = text(&w);
    assert!(
        t.contains(&format!("#EXTINF:1.500,\nseg{E}-0.m4s\n")),
        "{t}"
    );
    assert!(
        t.contains(&format!("URI=\"part{E}-1.0.m4s\",INDEPENDENT=YES")),
        "{t}"
    );
    assert!(!t.contains("#EXT-X-DISCONTINUITY"), "{t}");
    // Once: the next segment is cut by its duration again.
    for i in 5..8 {
        w.push_part(Part {
            independent: true,
            ..part(i, 1)
        });
    }
    assert!(!text(&w).contains(&format!("seg{E}-1.m4s")), "{}", text(&w));
}
