//! One fragment: `moof` (`mfhd`, then per track `traf` with `tfhd`, `tfdt`, `trun`) and
//! the `mdat` holding the samples in the same order (ISO/IEC 14496-12 §8.8.4–8.8.12,
//! §8.1.1).
//!
//! `tfhd` sets default-base-is-moof and `trun.data_offset` counts from the start of the
//! `moof`, as CMAF requires (ISO/IEC 23000-19 §7.3.2.3), so a fragment is self-contained
//! and can be served alone as an HLS part.

use super::Mp4Error;
use bytes::{BufMut, Bytes, BytesMut};
use mp4_atom::{Encode, Mfhd, Moof, Tfdt, Tfhd, Traf, Trun, TrunEntry};

/// sample_flags of a sync sample: sample_depends_on = 2 (depends on no other sample),
/// sample_is_non_sync_sample = 0 (ISO/IEC 14496-12 §8.8.3.1).
pub(crate) const FLAGS_SYNC: u32 = 0x0200_0000;

/// sample_flags of a non-sync sample: sample_depends_on = 1, sample_is_non_sync_sample = 1.
pub(crate) const FLAGS_NON_SYNC: u32 = 0x0101_0000;

/// Box header of an `mdat` with a 32-bit size (§4.2).
const MDAT_HEADER_LEN: usize = 8;

/// One sample's `trun` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SampleEntry {
    pub(crate) duration: u32,
    pub(crate) size: u32,
    pub(crate) flags: u32,
    /// PTS - DTS in the track timescale (`trun` version 1, signed).
    pub(crate) cto: i32,
}

/// The samples of one track in one fragment.
#[derive(Debug, Default)]
pub(crate) struct TrackRun {
    pub(crate) track_id: u32,
    /// `tfdt.baseMediaDecodeTime` (version 1, 64-bit) in the track timescale.
    pub(crate) base_decode_time: u64,
    pub(crate) samples: Vec<SampleEntry>,
    /// The samples' bytes, back to back.
    pub(crate) data: BytesMut,
}

fn traf(run: &TrackRun, data_offset: i32) -> Traf {
    let entries: Vec<TrunEntry> = run
        .samples
        .iter()
        .map(|s| TrunEntry {
            duration: Some(s.duration),
            size: Some(s.size),
            flags: Some(s.flags),
            cts: Some(i64::from(s.cto)),
        })
        .collect();
    Traf {
        tfhd: Tfhd {
            track_id: run.track_id,
            default_base_is_moof: true,
            ..Default::default()
        },
        tfdt: Some(Tfdt {
            base_media_decode_time: run.base_decode_time,
        }),
        trun: vec![Trun {
            data_offset: Some(data_offset),
            samples: entries.into(),
        }],
        ..Default::default()
    }
}

fn moof(sequence: u32, runs: &[TrackRun], offsets: &[i32]) -> Moof {
    Moof {
        mfhd: Mfhd {
            sequence_number: sequence,
        },
        traf: runs
            .iter()
            .zip(offsets)
            .map(|(run, off)| traf(run, *off))
            .collect(),
    }
}

/// `moof` + `mdat` for the non-empty `runs`. The caller keeps the total data under
/// [`super::MAX_FRAGMENT_BYTES`].
pub(crate) fn write_fragment(sequence: u32, runs: &[TrackRun]) -> Result<Bytes, Mp4Error> {
    // The moof's size does not depend on the offsets' values (data_offset is always
    // present), so encode once to measure, then again with the real offsets.
    let mut sizing = BytesMut::new();
    moof(sequence, runs, &vec![0; runs.len()]).encode(&mut sizing)?;
    let moof_len = sizing.len();
    let data_len: usize = runs.iter().map(|r| r.data.len()).sum();
    let mut offsets = Vec::with_capacity(runs.len());
    let mut at = moof_len + MDAT_HEADER_LEN;
    for run in runs {
        offsets.push(i32::try_from(at).map_err(|_| too_big(at))?);
        at += run.data.len();
    }
    let mdat_len = u32::try_from(MDAT_HEADER_LEN + data_len).map_err(|_| too_big(at))?;
    let mut out = BytesMut::with_capacity(at);
    moof(sequence, runs, &offsets).encode(&mut out)?;
    out.put_u32(mdat_len);
    out.put_slice(b"mdat");
    for run in runs {
        out.put_slice(&run.data);
    }
    Ok(out.freeze())
}

fn too_big(len: usize) -> Mp4Error {
    Mp4Error::Encode(format!("fragment of {len} bytes exceeds 32-bit offsets"))
}
