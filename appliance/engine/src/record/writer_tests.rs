//! The two writers fed a captured ffmpeg stream (the media crate's 2 s H.264/AAC fixture,
//! two GOPs) the way the hub hands it out, into a sink that keeps files in memory.

use bytes::Bytes;
use relevo_media::ts::{DemuxEvent, TsDemuxer, PACKET_SIZE};

use super::mp4_writer::Mp4Writer;
use super::ts_time::{pat_pmt_pids, pes_dts, pid};
use super::ts_writer::TsWriter;
use super::{RecordError, Sink};
use crate::unit::TsChunk;

const FIXTURE: &[u8] = include_bytes!("../../../media/tests/fixtures/h264_aac.ts");
/// A file never ends in these tests.
const NO_SPLIT: i64 = i64::MAX;

#[derive(Default)]
struct MemSink {
    files: Vec<Vec<u8>>,
    open: bool,
    /// `media_90k` of every write, in order, per file.
    media: Vec<Vec<i64>>,
}

impl Sink for MemSink {
    fn open(&mut self) -> Result<(), RecordError> {
        assert!(!self.open, "a file opened over another");
        self.open = true;
        self.files.push(Vec::new());
        self.media.push(Vec::new());
        Ok(())
    }
    fn write(&mut self, data: &[u8], media_90k: i64) -> Result<(), RecordError> {
        assert!(self.open, "a write outside a file");
        self.files.last_mut().expect("file").extend_from_slice(data);
        self.media.last_mut().expect("file").push(media_90k);
        Ok(())
    }
    fn close(&mut self) -> Result<(), RecordError> {
        assert!(self.open, "a close outside a file");
        self.open = false;
        Ok(())
    }
}

/// The fixture as the hub cuts it: SRT-sized chunks of 7 packets, cut again where a
/// keyframe PES starts.
fn chunks() -> Vec<TsChunk> {
    let mut demux = TsDemuxer::new();
    let mut out = Vec::new();
    for msg in FIXTURE.chunks(7 * PACKET_SIZE) {
        let mut events = Vec::new();
        let _ = demux.push(msg, &mut events);
        let mut start = 0;
        let mut key = false;
        for ev in &events {
            if let DemuxEvent::KeyframeStart { offset } = ev {
                if *offset > start {
                    out.push(chunk(&msg[start..*offset], key));
                }
                start = *offset;
                key = true;
            }
        }
        out.push(chunk(&msg[start..], key));
    }
    out
}

fn chunk(data: &[u8], keyframe: bool) -> TsChunk {
    TsChunk {
        data: Bytes::copy_from_slice(data),
        keyframe,
        arrived: None,
    }
}

/// The stream from its first keyframe, as a subscriber gets it: the PAT and PMT first.
fn from_keyframe() -> Vec<TsChunk> {
    let packets = || FIXTURE.chunks_exact(PACKET_SIZE);
    let pat = packets().find(|p| pid(p) == Some(0)).expect("PAT");
    let pmt_pid = pat_pmt_pids(pat)[0];
    let pmt = packets().find(|p| pid(p) == Some(pmt_pid)).expect("PMT");
    let all = chunks();
    let first = all.iter().position(|c| c.keyframe).expect("a keyframe");
    let mut v = vec![chunk(pat, false), chunk(pmt, false)];
    v.extend_from_slice(&all[first..]);
    v
}

fn mp4_of(segment_90k: i64, publications: usize) -> MemSink {
    let mut sink = MemSink::default();
    let mut w = Mp4Writer::new(segment_90k);
    for n in 0..publications {
        if n > 0 {
            w.resume(&mut sink).expect("resume");
        }
        for c in from_keyframe() {
            w.push(&c.data, &mut sink).expect("push");
        }
    }
    w.finish(&mut sink).expect("finish");
    sink
}

#[test]
fn mp4_one_publication_is_one_whole_file() {
    let sink = mp4_of(NO_SPLIT, 1);
    assert_eq!(sink.files.len(), 1);
    let file = &sink.files[0];
    assert_eq!(&file[4..8], b"ftyp");
    assert_eq!(relevo_media::mp4::complete_len(file), file.len());
    let end = *sink.media[0].last().expect("writes");
    // 2 s of video; the last frame's duration is the one before it.
    assert!((179_000..=182_000).contains(&end), "{end}");
}

#[test]
fn mp4_a_returning_publisher_continues_the_file_after_the_last_frame() {
    let sink = mp4_of(NO_SPLIT, 2);
    assert_eq!(sink.files.len(), 1, "one file through the blip");
    let media = &sink.media[0];
    assert!(media.windows(2).all(|w| w[0] <= w[1]), "{media:?}");
    let end = *media.last().expect("writes");
    // Both publications back to back (2 s each): the second's first keyframe one frame
    // after the first's last video frame (its audio from before that keyframe let go), so
    // 4 s of video with no hole.
    assert!((358_200..=363_600).contains(&end), "{end}");
}

#[test]
fn mp4_files_split_at_the_first_keyframe_after_the_segment() {
    // 1 s segments over two 1 s GOPs: the second GOP starts the second file.
    let sink = mp4_of(90_000, 1);
    assert_eq!(sink.files.len(), 2);
    for f in &sink.files {
        assert_eq!(&f[4..8], b"ftyp", "each file has its init segment");
        assert_eq!(relevo_media::mp4::complete_len(f), f.len());
    }
}

fn ts_of(segment_90k: i64, publications: usize) -> MemSink {
    let mut sink = MemSink::default();
    let mut w = TsWriter::new(segment_90k);
    for n in 0..publications {
        if n > 0 {
            w.resume();
        }
        for c in from_keyframe() {
            w.push(&c, &mut sink).expect("push");
        }
    }
    w.finish(&mut sink).expect("finish");
    sink
}

/// PES DTS per PID, in file order.
fn dts_by_pid(file: &[u8]) -> std::collections::BTreeMap<u16, Vec<u64>> {
    let mut m = std::collections::BTreeMap::<u16, Vec<u64>>::new();
    for p in file.chunks_exact(PACKET_SIZE) {
        if let (Some(id), Some(d)) = (pid(p), pes_dts(p)) {
            m.entry(id).or_default().push(d);
        }
    }
    m
}

#[test]
fn ts_a_returning_publisher_continues_the_file_with_increasing_timestamps() {
    let sink = ts_of(NO_SPLIT, 2);
    assert_eq!(sink.files.len(), 1);
    let file = &sink.files[0];
    assert_eq!(file.len() % PACKET_SIZE, 0);
    assert_eq!(pid(&file[..PACKET_SIZE]), Some(0), "PAT first");
    let once = ts_of(NO_SPLIT, 1).files[0].len();
    assert_eq!(file.len(), 2 * once, "every packet of both publications");
    for (id, dts) in dts_by_pid(file) {
        assert!(
            dts.windows(2).all(|w| w[0] < w[1]),
            "PID {id:#x} goes back: {dts:?}"
        );
    }
}

#[test]
fn ts_files_split_at_a_keyframe_and_start_with_the_tables() {
    let sink = ts_of(90_000, 1);
    assert_eq!(sink.files.len(), 2);
    let whole = ts_of(NO_SPLIT, 1).files.remove(0);
    let second = &sink.files[1];
    assert_eq!(pid(&second[..PACKET_SIZE]), Some(0), "PAT first");
    // The tables repeated, then the rest of the stream as it came.
    let tables = second.len() + sink.files[0].len() - whole.len();
    assert!(tables >= 2 * PACKET_SIZE, "{tables}");
    assert_eq!(&second[tables..], &whole[sink.files[0].len()..]);
}
