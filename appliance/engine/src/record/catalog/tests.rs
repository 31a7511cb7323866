//! The catalogue on temporary folders: files made by the media crate's own muxers, links
//! and names that try to leave the recordings folder.

use std::path::Path;
use std::time::{Duration, SystemTime};

use bytes::{Bytes, BytesMut};
use relevo_media::mp4::{Fmp4Muxer, Fmp4Options, TrackConfig};
use relevo_media::ts::TsMuxer;
use relevo_media::{AudioConfig, Codec, Frame};

use super::*;

/// 2026-12-07T10:00:00Z
const START_S: u64 = 1_796_637_600;

fn name(s: &str) -> Name {
    Name::new(s).expect("name")
}

fn aac(i: i64) -> Frame {
    // 1024 samples at 48 kHz in 90 kHz ticks.
    Frame {
        codec: Codec::Aac,
        pts: i * 1920,
        dts: i * 1920,
        keyframe: true,
        data: Bytes::from_static(&[1; 8]),
    }
}

fn audio_config() -> AudioConfig {
    AudioConfig {
        sample_rate: 48_000,
        channels: 2,
        asc: Bytes::from_static(&[0x11, 0x90]),
    }
}

/// `frames` AAC frames as fragmented MP4.
fn mp4_file(frames: i64) -> Vec<u8> {
    let mut mux = Fmp4Muxer::new(
        vec![TrackConfig::Audio(audio_config())],
        Fmp4Options::default(),
    )
    .expect("muxer");
    let mut file = mux.init_segment().expect("init").to_vec();
    let mut out = Vec::new();
    for i in 0..frames {
        mux.push(0, &aac(i), &mut out).expect("push");
    }
    mux.flush(&mut out).expect("flush");
    for f in out {
        file.extend_from_slice(&f.data);
    }
    file
}

/// `frames` AAC frames as MPEG-TS.
fn ts_file(frames: i64) -> Vec<u8> {
    let mut mux = TsMuxer::new(None, Some(Codec::Aac));
    mux.set_audio_config(audio_config());
    let mut out = BytesMut::new();
    for i in 0..frames {
        mux.mux(&aac(i), &mut out);
    }
    out.to_vec()
}

fn file_name(offset_s: u64, seq: u32, f: RecordFormat) -> String {
    files::file_name(
        SystemTime::UNIX_EPOCH + Duration::from_secs(START_S + offset_s),
        seq,
        f,
    )
}

/// A recordings root with input `estudio-a`, output `grabacion`, one MP4 and one TS file.
struct Fixture {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    outside: PathBuf,
    dir: PathBuf,
    mp4: String,
    ts: String,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("recordings");
    let dir = root.join("estudio-a").join("grabacion");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let outside = tmp.path().join("secret.mp4");
    std::fs::write(&outside, b"not a recording").expect("write");
    let mp4 = file_name(0, 1, RecordFormat::Mp4);
    let ts = file_name(60, 2, RecordFormat::Ts);
    // 10 s and 5 s of audio.
    std::fs::write(dir.join(&mp4), mp4_file(469)).expect("write");
    std::fs::write(dir.join(&ts), ts_file(235)).expect("write");
    Fixture {
        root,
        outside,
        dir,
        mp4,
        ts,
        _tmp: tmp,
    }
}

#[test]
fn lists_files_newest_first_with_duration_and_codecs() {
    let fx = fixture();
    std::fs::write(fx.dir.join("notes.txt"), b"x").expect("write");
    let cat = Recordings::new(&fx.root);
    let list = cat.list(&name("estudio-a")).expect("list");
    let names: Vec<&str> = list.iter().map(|f| f.file.as_str()).collect();
    assert_eq!(names, vec![fx.ts.as_str(), fx.mp4.as_str()]);
    let (ts, mp4) = (&list[0], &list[1]);
    assert_eq!(mp4.output, "grabacion");
    assert_eq!(
        mp4.start,
        SystemTime::UNIX_EPOCH + Duration::from_secs(START_S)
    );
    assert_eq!(mp4.format, RecordFormat::Mp4);
    assert_eq!(mp4.codecs, vec!["aac".to_owned()]);
    let d = mp4.duration_s.expect("mp4 duration");
    assert!((d - 469.0 * 1024.0 / 48_000.0).abs() < 0.001, "{d}");
    assert_eq!(
        mp4.size_bytes,
        std::fs::metadata(fx.dir.join(&fx.mp4)).expect("meta").len()
    );
    assert_eq!(ts.codecs, vec!["aac".to_owned()]);
    // First to last PES start: 234 frames of 1920 ticks (a PES may carry several).
    let d = ts.duration_s.expect("ts duration");
    assert!(d > 4.5 && d <= 234.0 * 1920.0 / 90_000.0 + 1e-9, "{d}");
    // The cache answers the same; an input that never recorded has nothing.
    assert_eq!(cat.list(&name("estudio-a")).expect("again"), list);
    assert!(cat.list(&name("otra")).expect("none").is_empty());
}

#[test]
fn names_with_other_characters_use_their_folder() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let input = name("Estudio A/../b");
    let dir = tmp
        .path()
        .join(files::dir_name(&input))
        .join(files::dir_name(&name("copia 1")));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let f = file_name(0, 1, RecordFormat::Ts);
    std::fs::write(dir.join(&f), ts_file(50)).expect("write");
    let cat = Recordings::new(tmp.path());
    let list = cat.list(&input).expect("list");
    assert_eq!(list.len(), 1);
    let opened = cat.open(&input, &list[0].output, &f).expect("open");
    assert_eq!(opened.len, list[0].size_bytes);
}

#[test]
fn a_cut_mp4_counts_its_complete_fragments() {
    let fx = fixture();
    let whole = mp4_file(469);
    let cut = fx.dir.join(file_name(120, 3, RecordFormat::Mp4));
    std::fs::write(&cut, &whole[..whole.len() - 100]).expect("write");
    let list = Recordings::new(&fx.root)
        .list(&name("estudio-a"))
        .expect("list");
    let d = list[0].duration_s.expect("duration");
    assert!(d > 5.0 && d < 469.0 * 1024.0 / 48_000.0, "{d}");
    // An empty file is listed without a duration.
    std::fs::write(fx.dir.join(file_name(180, 4, RecordFormat::Mp4)), b"").expect("write");
    let list = Recordings::new(&fx.root)
        .list(&name("estudio-a"))
        .expect("list");
    assert_eq!((list[0].duration_s, list[0].codecs.len()), (None, 0));
}

#[test]
fn opens_only_recorded_files_inside_the_folder() {
    let fx = fixture();
    let cat = Recordings::new(&fx.root);
    let input = name("estudio-a");
    let opened = cat.open(&input, "grabacion", &fx.mp4).expect("open");
    assert_eq!(opened.format, RecordFormat::Mp4);
    assert_eq!(opened.len, mp4_file(469).len() as u64);

    for (output, file) in [
        ("..", fx.mp4.as_str()),
        ("../estudio-a/grabacion", fx.mp4.as_str()),
        ("grabacion", "../../secret.mp4"),
        ("grabacion", "/etc/passwd"),
        (".", fx.mp4.as_str()),
        ("", fx.mp4.as_str()),
        ("/tmp", fx.mp4.as_str()),
        ("grabacion", "notes.txt"),
        ("grabacion/..", fx.mp4.as_str()),
    ] {
        match cat.open(&input, output, file) {
            Err(CatalogError::BadFolder(_) | CatalogError::BadFileName(_)) => {}
            other => panic!("{output}/{file}: {other:?}"),
        }
    }
    // The input is named, not a path: `..` is a folder name of its own.
    assert!(matches!(
        cat.open(&name(".."), "grabacion", &fx.mp4),
        Err(CatalogError::NotFound(_))
    ));
    assert!(matches!(
        cat.open(&input, "grabacion", &file_name(5, 9, RecordFormat::Mp4)),
        Err(CatalogError::NotFound(_))
    ));
}

#[test]
fn links_are_neither_listed_served_nor_deleted() {
    let fx = fixture();
    let cat = Recordings::new(&fx.root);
    let input = name("estudio-a");
    // A link named like a recording, pointing outside.
    let link = file_name(300, 7, RecordFormat::Mp4);
    std::os::unix::fs::symlink(&fx.outside, fx.dir.join(&link)).expect("symlink");
    // An output folder that is a link to a folder outside holding a "recording".
    let elsewhere = fx.outside.with_file_name("elsewhere");
    std::fs::create_dir(&elsewhere).expect("mkdir");
    let planted = file_name(400, 8, RecordFormat::Mp4);
    std::fs::write(elsewhere.join(&planted), mp4_file(10)).expect("write");
    std::os::unix::fs::symlink(&elsewhere, fx.root.join("estudio-a").join("copia")).expect("link");
    // An input folder that is a link.
    std::os::unix::fs::symlink(fx.root.join("estudio-a"), fx.root.join("alias")).expect("link");

    let list = cat.list(&input).expect("list");
    assert_eq!(list.len(), 2, "{list:?}");
    assert!(matches!(
        cat.list(&name("alias")),
        Err(CatalogError::NotRegular(_))
    ));
    for (i, output, file) in [
        (&input, "grabacion", link.as_str()),
        (&input, "copia", planted.as_str()),
        (&name("alias"), "grabacion", fx.mp4.as_str()),
    ] {
        assert!(
            matches!(cat.open(i, output, file), Err(CatalogError::NotRegular(_))),
            "open {i}/{output}/{file}"
        );
        assert!(
            matches!(
                cat.delete(i, output, file),
                Err(CatalogError::NotRegular(_))
            ),
            "delete {i}/{output}/{file}"
        );
    }
    assert!(fx.outside.exists() && elsewhere.join(&planted).exists());
    assert!(fx.dir.join(&fx.mp4).exists());
    // Links count for nothing in the total either.
    let total = cat.total_bytes().expect("total");
    let real: u64 = list.iter().map(|f| f.size_bytes).sum();
    assert_eq!(total, real);
}

#[test]
fn deletes_a_recorded_file_and_nothing_else() {
    let fx = fixture();
    let cat = Recordings::new(&fx.root);
    let input = name("estudio-a");
    let size = std::fs::metadata(fx.dir.join(&fx.ts)).expect("meta").len();
    assert!(matches!(
        cat.delete(&input, "grabacion", "../../secret.mp4"),
        Err(CatalogError::BadFileName(_))
    ));
    assert!(matches!(
        cat.delete(&input, "..", &fx.ts),
        Err(CatalogError::BadFolder(_))
    ));
    assert_eq!(
        cat.delete(&input, "grabacion", &fx.ts).expect("delete"),
        size
    );
    assert!(!fx.dir.join(&fx.ts).exists());
    assert!(fx.outside.exists());
    assert!(matches!(
        cat.delete(&input, "grabacion", &fx.ts),
        Err(CatalogError::NotFound(_))
    ));
    let list = cat.list(&input).expect("list");
    assert_eq!(list.len(), 1);
    assert_eq!(cat.total_bytes().expect("total"), list[0].size_bytes);
}

#[test]
fn disk_figures_before_the_folder_exists() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let cat = Recordings::new(tmp.path().join("not").join("yet"));
    let d = cat.disk().expect("disk");
    assert!(d.total_bytes > 0 && d.free_bytes <= d.total_bytes);
    assert_eq!(cat.total_bytes().expect("total"), 0);
    assert!(cat.list(&name("x")).expect("list").is_empty());
}

#[test]
fn folder_names() {
    for ok in ["estudio-a", "a.b_c-1", "x"] {
        assert!(is_folder_name(ok), "{ok}");
    }
    for bad in ["", ".", "..", ".hidden", "a/b", "a b", "/abs", "ñ"] {
        assert!(!is_folder_name(bad), "{bad}");
    }
    assert!(Path::new("a").is_relative());
}
