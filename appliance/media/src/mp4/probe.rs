//! Reading what a recordings catalogue shows from an MP4 file without loading it: box
//! headers (so the caller can seek from box to box), the tracks of the `moov` (codec from
//! the `stsd` entry, timescale, handler) and the sample durations of each `moof`
//! (ISO/IEC 14496-12 §4.2, §8.3–8.8). Sans-IO: the caller reads one header, then the body
//! of a `moov` or `moof` only, and skips every `mdat`.
//!
//! The few fields needed are read by hand rather than by decoding whole boxes with
//! `mp4-atom`: a file written by another tool (ffmpeg, an editor's export) may carry boxes
//! a strict decoder refuses, and a catalogue must still show its duration.
//!
//! A file is fragmented (our recorder's, ffmpeg's `frag_keyframe`) or not: the duration is
//! the sum of the fragments' sample durations, else the `mdhd` duration of a plain file.

use thiserror::Error;

/// A box header is 8 bytes, or 16 with a 64-bit size (§4.2).
pub const MAX_HEADER_LEN: usize = 16;

/// Errors reading the boxes of an MP4 file.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProbeError {
    #[error("box header truncated ({0} bytes)")]
    HeaderTruncated(usize),
    #[error("box '{kind}' declares {size} bytes, less than its header")]
    BoxSize { kind: String, size: u64 },
    #[error("box '{kind}' ({size} bytes) overruns its parent")]
    Overrun { kind: String, size: u64 },
    #[error("'{kind}' is truncated: {len} bytes, {need} needed")]
    Truncated {
        kind: &'static str,
        len: usize,
        need: usize,
    },
    #[error("trun of {count} samples does not fit its {len} bytes")]
    TrunCount { count: u32, len: usize },
}

/// A box's type and sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoxHeader {
    pub kind: [u8; 4],
    /// 8 or 16.
    pub header_len: u8,
    /// Whole box, header included; `None` when the size field is 0 ("to the end of the
    /// file", allowed only for the last top-level box).
    pub size: Option<u64>,
}

impl BoxHeader {
    /// Parses the header at the start of `buf` (at least [`MAX_HEADER_LEN`] bytes unless
    /// the file ends sooner).
    pub fn parse(buf: &[u8]) -> Result<BoxHeader, ProbeError> {
        let h = buf.get(..8).ok_or(ProbeError::HeaderTruncated(buf.len()))?;
        let kind = [h[4], h[5], h[6], h[7]];
        let (header_len, size) = match u32::from_be_bytes([h[0], h[1], h[2], h[3]]) {
            0 => (8, None),
            1 => {
                let l = buf
                    .get(8..16)
                    .ok_or(ProbeError::HeaderTruncated(buf.len()))?;
                let mut b = [0u8; 8];
                b.copy_from_slice(l);
                (16, Some(u64::from_be_bytes(b)))
            }
            n => (8, Some(u64::from(n))),
        };
        if let Some(size) = size.filter(|&s| s < u64::from(header_len)) {
            return Err(ProbeError::BoxSize {
                kind: fourcc(kind),
                size,
            });
        }
        Ok(BoxHeader {
            kind,
            header_len,
            size,
        })
    }

    /// Body length, given the bytes left in the file (for size 0).
    pub fn body_len(&self, left_in_file: u64) -> u64 {
        self.size.unwrap_or(left_in_file) - u64::from(self.header_len)
    }
}

fn fourcc(kind: [u8; 4]) -> String {
    kind.iter()
        .map(|&b| if b.is_ascii_graphic() { b as char } else { '?' })
        .collect()
}

/// The child boxes of a container body, as (type, body).
fn children(body: &[u8]) -> impl Iterator<Item = Result<([u8; 4], &[u8]), ProbeError>> {
    let mut rest = body;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let item = BoxHeader::parse(rest).and_then(|h| {
            let size = h.size.unwrap_or(rest.len() as u64);
            let end = usize::try_from(size)
                .ok()
                .filter(|&e| e <= rest.len())
                .ok_or(ProbeError::Overrun {
                    kind: fourcc(h.kind),
                    size,
                })?;
            let child = (h.kind, &rest[usize::from(h.header_len)..end]);
            rest = &rest[end..];
            Ok(child)
        });
        if item.is_err() {
            rest = &[];
        }
        Some(item)
    })
}

/// The first child of type `kind`.
fn child<'a>(body: &'a [u8], kind: &[u8; 4]) -> Result<Option<&'a [u8]>, ProbeError> {
    for c in children(body) {
        let (k, b) = c?;
        if &k == kind {
            return Ok(Some(b));
        }
    }
    Ok(None)
}

fn be32(b: &[u8], at: usize, kind: &'static str) -> Result<u32, ProbeError> {
    let s = b.get(at..at + 4).ok_or(ProbeError::Truncated {
        kind,
        len: b.len(),
        need: at + 4,
    })?;
    Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

fn be64(b: &[u8], at: usize, kind: &'static str) -> Result<u64, ProbeError> {
    Ok(u64::from(be32(b, at, kind)?) << 32 | u64::from(be32(b, at + 4, kind)?))
}

/// Version and flags of a full box (§4.2).
fn full(b: &[u8], kind: &'static str) -> Result<(u8, u32), ProbeError> {
    let vf = be32(b, 0, kind)?;
    Ok(((vf >> 24) as u8, vf & 0x00ff_ffff))
}

/// One track of the `moov`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackInfo {
    pub track_id: u32,
    pub timescale: u32,
    /// `hdlr` handler type: `vide`, `soun`, …
    pub handler: [u8; 4],
    /// Types of the `stsd` entries (`avc1`, `hvc1`, `mp4a`, …).
    pub sample_entries: Vec<[u8; 4]>,
    /// `mdhd` duration (0 in a fragmented file's init segment).
    pub duration: u64,
    /// `trex` default sample duration (fragmented files).
    pub default_sample_duration: u32,
}

impl TrackInfo {
    /// Codec names as ffprobe prints them (`h264`, `hevc`, `aac`), else the entry type.
    pub fn codecs(&self) -> impl Iterator<Item = String> + '_ {
        self.sample_entries.iter().map(|e| match e {
            b"avc1" | b"avc3" => "h264".to_owned(),
            b"hvc1" | b"hev1" => "hevc".to_owned(),
            b"mp4a" => "aac".to_owned(),
            b"Opus" => "opus".to_owned(),
            b"ac-3" => "ac3".to_owned(),
            b"ec-3" => "eac3".to_owned(),
            other => fourcc(*other),
        })
    }
}

/// The tracks of a `moov` body.
pub fn parse_moov(moov: &[u8]) -> Result<Vec<TrackInfo>, ProbeError> {
    let mut tracks = Vec::new();
    let mut trex = Vec::new();
    for c in children(moov) {
        match c? {
            (k, trak) if &k == b"trak" => tracks.push(parse_trak(trak)?),
            (k, mvex) if &k == b"mvex" => {
                for c in children(mvex) {
                    let (k, b) = c?;
                    if &k == b"trex" {
                        // version/flags, track_ID, description index, duration (§8.8.3).
                        trex.push((be32(b, 4, "trex")?, be32(b, 12, "trex")?));
                    }
                }
            }
            _ => {}
        }
    }
    for t in &mut tracks {
        if let Some(&(_, d)) = trex.iter().find(|(id, _)| *id == t.track_id) {
            t.default_sample_duration = d;
        }
    }
    Ok(tracks)
}

fn parse_trak(trak: &[u8]) -> Result<TrackInfo, ProbeError> {
    let mut t = TrackInfo {
        track_id: 0,
        timescale: 0,
        handler: [0; 4],
        sample_entries: Vec::new(),
        duration: 0,
        default_sample_duration: 0,
    };
    if let Some(tkhd) = child(trak, b"tkhd")? {
        // v1: creation and modification times are 64-bit (§8.3.2).
        let at = if full(tkhd, "tkhd")?.0 == 1 { 20 } else { 12 };
        t.track_id = be32(tkhd, at, "tkhd")?;
    }
    let Some(mdia) = child(trak, b"mdia")? else {
        return Ok(t);
    };
    if let Some(mdhd) = child(mdia, b"mdhd")? {
        // §8.4.2: v1 has 64-bit times and duration.
        if full(mdhd, "mdhd")?.0 == 1 {
            t.timescale = be32(mdhd, 20, "mdhd")?;
            t.duration = be64(mdhd, 24, "mdhd")?;
        } else {
            t.timescale = be32(mdhd, 12, "mdhd")?;
            t.duration = u64::from(be32(mdhd, 16, "mdhd")?);
        }
    }
    if let Some(hdlr) = child(mdia, b"hdlr")? {
        t.handler = be32(hdlr, 8, "hdlr")?.to_be_bytes();
    }
    let stsd = match child(mdia, b"minf")? {
        Some(minf) => match child(minf, b"stbl")? {
            Some(stbl) => child(stbl, b"stsd")?,
            None => None,
        },
        None => None,
    };
    if let Some(stsd) = stsd {
        // version/flags, entry_count, then the entries as boxes (§8.5.2).
        let entries = stsd.get(8..).unwrap_or_default();
        for c in children(entries) {
            t.sample_entries.push(c?.0);
        }
    }
    Ok(t)
}

/// The summed sample durations of one track in one fragment, in its timescale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrackRun {
    pub track_id: u32,
    /// `tfdt` base media decode time, when present.
    pub base_decode_time: Option<u64>,
    pub duration: u64,
    pub samples: u64,
}

/// tfhd flags (§8.8.7).
const TFHD_BASE_DATA_OFFSET: u32 = 0x01;
const TFHD_SAMPLE_DESCRIPTION: u32 = 0x02;
const TFHD_DEFAULT_DURATION: u32 = 0x08;
/// trun flags (§8.8.8).
const TRUN_DATA_OFFSET: u32 = 0x01;
const TRUN_FIRST_FLAGS: u32 = 0x04;
const TRUN_DURATION: u32 = 0x100;
const TRUN_SIZE: u32 = 0x200;
const TRUN_FLAGS: u32 = 0x400;
const TRUN_CTO: u32 = 0x800;

/// Each track's run in a `moof` body; `tracks` gives the `trex` defaults.
pub fn parse_moof(moof: &[u8], tracks: &[TrackInfo]) -> Result<Vec<TrackRun>, ProbeError> {
    let mut runs = Vec::new();
    for c in children(moof) {
        let (k, traf) = c?;
        if &k != b"traf" {
            continue;
        }
        let Some(tfhd) = child(traf, b"tfhd")? else {
            continue;
        };
        let (_, flags) = full(tfhd, "tfhd")?;
        let track_id = be32(tfhd, 4, "tfhd")?;
        let mut at = 8;
        if flags & TFHD_BASE_DATA_OFFSET != 0 {
            at += 8;
        }
        if flags & TFHD_SAMPLE_DESCRIPTION != 0 {
            at += 4;
        }
        let default = if flags & TFHD_DEFAULT_DURATION != 0 {
            be32(tfhd, at, "tfhd")?
        } else {
            tracks
                .iter()
                .find(|t| t.track_id == track_id)
                .map_or(0, |t| t.default_sample_duration)
        };
        let base_decode_time = match child(traf, b"tfdt")? {
            Some(tfdt) if full(tfdt, "tfdt")?.0 == 1 => Some(be64(tfdt, 4, "tfdt")?),
            Some(tfdt) => Some(u64::from(be32(tfdt, 4, "tfdt")?)),
            None => None,
        };
        let mut run = TrackRun {
            track_id,
            base_decode_time,
            duration: 0,
            samples: 0,
        };
        for c in children(traf) {
            let (k, trun) = c?;
            if &k == b"trun" {
                let (d, n) = trun_duration(trun, default)?;
                run.duration += d;
                run.samples += n;
            }
        }
        runs.push(run);
    }
    Ok(runs)
}

/// Summed duration and sample count of one `trun` body.
fn trun_duration(trun: &[u8], default: u32) -> Result<(u64, u64), ProbeError> {
    let (_, flags) = full(trun, "trun")?;
    let count = be32(trun, 4, "trun")?;
    let mut at = 8;
    if flags & TRUN_DATA_OFFSET != 0 {
        at += 4;
    }
    if flags & TRUN_FIRST_FLAGS != 0 {
        at += 4;
    }
    let per_sample = [TRUN_DURATION, TRUN_SIZE, TRUN_FLAGS, TRUN_CTO]
        .iter()
        .filter(|&&f| flags & f != 0)
        .count()
        * 4;
    let table = trun.get(at..).unwrap_or_default();
    let need = usize::try_from(count)
        .ok()
        .and_then(|c| c.checked_mul(per_sample));
    if need.is_none_or(|n| n > table.len()) {
        return Err(ProbeError::TrunCount {
            count,
            len: table.len(),
        });
    }
    if flags & TRUN_DURATION == 0 {
        return Ok((u64::from(count) * u64::from(default), u64::from(count)));
    }
    let total = table
        .chunks_exact(per_sample.max(4))
        .take(count as usize)
        .map(|s| u64::from(u32::from_be_bytes([s[0], s[1], s[2], s[3]])))
        .sum();
    Ok((total, u64::from(count)))
}

/// What a walk over a file's boxes adds up: feed it every `moov` and `moof` body.
#[derive(Debug, Clone, Default)]
pub struct Mp4Summary {
    pub tracks: Vec<TrackInfo>,
    /// Per track id: summed fragment durations in its timescale.
    fragmented: Vec<(u32, u64)>,
    pub fragments: u64,
}

impl Mp4Summary {
    pub fn on_moov(&mut self, moov: &[u8]) -> Result<(), ProbeError> {
        self.tracks = parse_moov(moov)?;
        Ok(())
    }

    pub fn on_moof(&mut self, moof: &[u8]) -> Result<(), ProbeError> {
        for run in parse_moof(moof, &self.tracks)? {
            match self
                .fragmented
                .iter_mut()
                .find(|(id, _)| *id == run.track_id)
            {
                Some((_, d)) => *d += run.duration,
                None => self.fragmented.push((run.track_id, run.duration)),
            }
        }
        self.fragments += 1;
        Ok(())
    }

    /// Codec names of every track, in track order.
    pub fn codecs(&self) -> Vec<String> {
        self.tracks.iter().flat_map(TrackInfo::codecs).collect()
    }

    /// The longest track's duration in seconds: summed fragments in a fragmented file,
    /// `mdhd` otherwise. `None` without a track with a timescale.
    pub fn duration_s(&self) -> Option<f64> {
        self.tracks
            .iter()
            .filter(|t| t.timescale > 0)
            .map(|t| {
                let ticks = if self.fragments > 0 {
                    self.fragmented
                        .iter()
                        .find(|(id, _)| *id == t.track_id)
                        .map_or(0, |(_, d)| *d)
                } else {
                    t.duration
                };
                ticks as f64 / f64::from(t.timescale)
            })
            .reduce(f64::max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{AudioConfig, Codec, Frame};
    use crate::mp4::{Fmp4Muxer, Fmp4Options, TrackConfig};
    use bytes::Bytes;

    fn bx(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut v = u32::try_from(body.len() + 8)
            .expect("small")
            .to_be_bytes()
            .to_vec();
        v.extend_from_slice(kind);
        v.extend_from_slice(body);
        v
    }

    /// Walks `file` as the catalogue does (header, then body of moov/moof only).
    fn summarize(file: &[u8]) -> Mp4Summary {
        let mut s = Mp4Summary::default();
        let mut pos = 0usize;
        while pos < file.len() {
            let h = BoxHeader::parse(&file[pos..]).expect("header");
            let size = h.size.map_or(file.len() - pos, |s| s as usize);
            if pos + size > file.len() {
                break;
            }
            let body = &file[pos + usize::from(h.header_len)..pos + size];
            match &h.kind {
                b"moov" => s.on_moov(body).expect("moov"),
                b"moof" => s.on_moof(body).expect("moof"),
                _ => {}
            }
            pos += size;
        }
        s
    }

    #[test]
    fn headers_small_large_and_to_the_end() {
        let h = BoxHeader::parse(&bx(b"free", &[0; 4])).expect("header");
        assert_eq!((h.kind, h.header_len, h.size), (*b"free", 8, Some(12)));
        let mut large = 1u32.to_be_bytes().to_vec();
        large.extend_from_slice(b"mdat");
        large.extend_from_slice(&(1u64 << 33).to_be_bytes());
        let h = BoxHeader::parse(&large).expect("large");
        assert_eq!((h.header_len, h.size), (16, Some(1 << 33)));
        assert_eq!(h.body_len(0), (1 << 33) - 16);
        let mut open = 0u32.to_be_bytes().to_vec();
        open.extend_from_slice(b"mdat");
        let h = BoxHeader::parse(&open).expect("to the end");
        assert_eq!((h.size, h.body_len(100)), (None, 92));
        assert_eq!(
            BoxHeader::parse(&large[..12]),
            Err(ProbeError::HeaderTruncated(12))
        );
        let mut tiny = 7u32.to_be_bytes().to_vec();
        tiny.extend_from_slice(b"moof");
        assert!(matches!(
            BoxHeader::parse(&tiny),
            Err(ProbeError::BoxSize { size: 7, .. })
        ));
    }

    #[test]
    fn overrunning_children_and_short_truns_are_errors() {
        let mut bad = bx(b"traf", &[]);
        bad[3] = 200;
        assert!(matches!(
            parse_moof(&bad, &[]),
            Err(ProbeError::Overrun { .. })
        ));
        // trun: flags duration, 1000 samples, 8 bytes of table.
        let mut trun = 0x100u32.to_be_bytes().to_vec();
        trun.extend_from_slice(&1000u32.to_be_bytes());
        trun.extend_from_slice(&[0; 8]);
        let mut tfhd = 0u32.to_be_bytes().to_vec();
        tfhd.extend_from_slice(&1u32.to_be_bytes());
        let traf = bx(b"traf", &[bx(b"tfhd", &tfhd), bx(b"trun", &trun)].concat());
        assert_eq!(
            parse_moof(&traf, &[]),
            Err(ProbeError::TrunCount {
                count: 1000,
                len: 8
            })
        );
    }

    #[test]
    fn default_durations_come_from_tfhd_then_trex() {
        let track = TrackInfo {
            track_id: 2,
            timescale: 48_000,
            handler: *b"soun",
            sample_entries: vec![*b"mp4a"],
            duration: 0,
            default_sample_duration: 1024,
        };
        // trun without durations: 10 samples.
        let mut trun = 0u32.to_be_bytes().to_vec();
        trun.extend_from_slice(&10u32.to_be_bytes());
        let tfhd_of = |flags: u32, extra: &[u8]| {
            let mut v = flags.to_be_bytes().to_vec();
            v.extend_from_slice(&2u32.to_be_bytes());
            v.extend_from_slice(extra);
            bx(b"tfhd", &v)
        };
        let mut tfdt = 0x0100_0000u32.to_be_bytes().to_vec();
        tfdt.extend_from_slice(&7u64.to_be_bytes());
        let moof = bx(
            b"traf",
            &[tfhd_of(0, &[]), bx(b"tfdt", &tfdt), bx(b"trun", &trun)].concat(),
        );
        let runs = parse_moof(&moof, std::slice::from_ref(&track)).expect("moof");
        assert_eq!(
            runs,
            vec![TrackRun {
                track_id: 2,
                base_decode_time: Some(7),
                duration: 10_240,
                samples: 10
            }]
        );
        let own = [0u8; 8]
            .iter()
            .copied()
            .chain(960u32.to_be_bytes())
            .collect::<Vec<_>>();
        // base data offset (8 bytes) then default duration 960.
        let moof = bx(b"traf", &[tfhd_of(0x09, &own), bx(b"trun", &trun)].concat());
        let runs = parse_moof(&moof, &[track]).expect("moof");
        assert_eq!((runs[0].duration, runs[0].base_decode_time), (9_600, None));
    }

    /// The muxer's own files: durations add up to the frames fed, codecs from the init.
    #[test]
    fn reads_what_the_muxer_writes() {
        let audio = AudioConfig {
            sample_rate: 48_000,
            channels: 2,
            // AAC-LC, 48 kHz, stereo.
            asc: Bytes::from_static(&[0x11, 0x90]),
        };
        let mut mux =
            Fmp4Muxer::new(vec![TrackConfig::Audio(audio)], Fmp4Options::default()).expect("muxer");
        let mut file = mux.init_segment().expect("init").to_vec();
        let mut out = Vec::new();
        // 10 s of 1024-sample frames at 48 kHz (in 90 kHz ticks: 1920 each).
        for i in 0..469i64 {
            let f = Frame {
                codec: Codec::Aac,
                pts: i * 1920,
                dts: i * 1920,
                keyframe: true,
                data: Bytes::from_static(&[1; 8]),
            };
            mux.push(0, &f, &mut out).expect("push");
        }
        mux.flush(&mut out).expect("flush");
        for frag in out {
            file.extend_from_slice(&frag.data);
        }
        let s = summarize(&file);
        assert_eq!(s.codecs(), vec!["aac".to_owned()]);
        assert!(s.fragments >= 4, "{}", s.fragments);
        let d = s.duration_s().expect("duration");
        assert!((d - 469.0 * 1024.0 / 48_000.0).abs() < 0.001, "{d}");
    }

    #[test]
    fn a_plain_file_uses_mdhd() {
        let mut mdhd = vec![0u8; 4 + 8];
        mdhd.extend_from_slice(&1000u32.to_be_bytes());
        mdhd.extend_from_slice(&12_500u32.to_be_bytes());
        mdhd.extend_from_slice(&[0; 4]);
        let mut hdlr = vec![0u8; 8];
        hdlr.extend_from_slice(b"vide");
        let mut stsd = vec![0, 0, 0, 0, 0, 0, 0, 1];
        stsd.extend_from_slice(&bx(b"hvc1", &[0; 8]));
        let minf = bx(b"minf", &bx(b"stbl", &bx(b"stsd", &stsd)));
        let mdia = bx(
            b"mdia",
            &[bx(b"mdhd", &mdhd), bx(b"hdlr", &hdlr), minf].concat(),
        );
        let mut tkhd = vec![0u8; 12];
        tkhd.extend_from_slice(&1u32.to_be_bytes());
        let moov = bx(b"moov", &bx(b"trak", &[bx(b"tkhd", &tkhd), mdia].concat()));
        let file = [bx(b"ftyp", b"isom"), moov, bx(b"mdat", &[0; 32])].concat();
        let s = summarize(&file);
        assert_eq!(s.codecs(), vec!["hevc".to_owned()]);
        assert_eq!(s.tracks[0].handler, *b"vide");
        assert_eq!(s.duration_s(), Some(12.5));
    }
}
