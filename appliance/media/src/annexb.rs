//! H.264/H.265 NAL unit framing: Annex B byte streams (H.264 Annex B, H.265 Annex B) and
//! the 4-byte length-prefixed form of ISO/IEC 14496-15 (AVCC/HVCC) used by FLV.
//!
//! Only NAL headers are looked at here; parameter-set contents are read in [`crate::flv`].

use crate::frame::{Codec, VideoConfig};
use bytes::{BufMut, Bytes, BytesMut};
use thiserror::Error;

/// Start code written by this crate.
pub const START_CODE: [u8; 4] = [0, 0, 0, 1];

/// Length of the NAL size field written and read by this crate (lengthSizeMinusOne = 3).
pub const NAL_LENGTH_SIZE: usize = 4;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AnnexbError {
    #[error("NAL length {declared} at offset {offset} exceeds the {available} bytes left")]
    NalLengthOverrun {
        offset: usize,
        declared: usize,
        available: usize,
    },
    #[error("{0} trailing bytes are too short for a NAL length field")]
    TruncatedLength(usize),
}

/// NAL unit type numbers (H.264 Table 7-1, H.265 Table 7-1).
pub mod nal {
    pub const H264_IDR: u8 = 5;
    pub const H264_SPS: u8 = 7;
    pub const H264_PPS: u8 = 8;
    pub const H264_AUD: u8 = 9;
    pub const H265_IRAP_FIRST: u8 = 16;
    pub const H265_IRAP_LAST: u8 = 23;
    pub const H265_VPS: u8 = 32;
    pub const H265_SPS: u8 = 33;
    pub const H265_PPS: u8 = 34;
    pub const H265_AUD: u8 = 35;
}

/// The NAL unit type of `nal` for `codec` (`None` for an empty NAL or audio).
pub fn nal_type(codec: Codec, nal: &[u8]) -> Option<u8> {
    let b0 = *nal.first()?;
    match codec {
        Codec::H264 => Some(b0 & 0x1F),
        Codec::H265 => Some((b0 >> 1) & 0x3F),
        Codec::Aac => None,
    }
}

/// Iterator over the NAL units of an Annex B buffer; see [`nal_units`].
#[derive(Debug, Clone)]
pub struct NalUnits<'a> {
    rest: &'a [u8],
}

/// Position just after the next 3-byte start code at or after `from`, and its start.
fn find_start_code(data: &[u8], from: usize) -> Option<(usize, usize)> {
    let tail = data.get(from..)?;
    tail.windows(3)
        .position(|w| w == [0, 0, 1])
        .map(|p| (from + p, from + p + 3))
}

impl<'a> Iterator for NalUnits<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        loop {
            let (_, begin) = find_start_code(self.rest, 0)?;
            let after = self.rest.get(begin..)?;
            let (nal, rest) = match find_start_code(after, 0) {
                Some((end, _)) => (after.get(..end)?, after.get(end..)?),
                None => (after, &[][..]),
            };
            self.rest = rest;
            // trailing_zero_8bits and the first zero of a 4-byte start code.
            let len = nal.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1);
            let nal = nal.get(..len)?;
            if !nal.is_empty() {
                return Some(nal);
            }
        }
    }
}

/// Splits an Annex B buffer on 3- or 4-byte start codes and yields the NAL payloads
/// without start codes. Bytes before the first start code and empty NALs are skipped.
pub fn nal_units(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    NalUnits { rest: data }
}

fn is_keyframe_type(codec: Codec, t: u8) -> bool {
    match codec {
        Codec::H264 => t == nal::H264_IDR,
        Codec::H265 => (nal::H265_IRAP_FIRST..=nal::H265_IRAP_LAST).contains(&t),
        Codec::Aac => false,
    }
}

/// True if the access unit holds an H.264 IDR slice or an H.265 IRAP picture (16..=23).
pub fn is_keyframe(codec: Codec, au: &[u8]) -> bool {
    nal_units(au).any(|n| nal_type(codec, n).is_some_and(|t| is_keyframe_type(codec, t)))
}

/// True if a decoder can start at this (possibly partial) Annex B data: it holds an
/// IDR/IRAP slice or a parameter set (SPS, or VPS for H.265).
pub fn is_random_access(codec: Codec, data: &[u8]) -> bool {
    nal_units(data).any(|n| {
        nal_type(codec, n).is_some_and(|t| {
            is_keyframe_type(codec, t)
                || match codec {
                    Codec::H264 => t == nal::H264_SPS,
                    Codec::H265 => t == nal::H265_VPS || t == nal::H265_SPS,
                    Codec::Aac => false,
                }
        })
    })
}

/// True if `nal` is an access unit delimiter of `codec`.
pub fn is_aud(codec: Codec, nal: &[u8]) -> bool {
    let t = nal_type(codec, nal);
    match codec {
        Codec::H264 => t == Some(nal::H264_AUD),
        Codec::H265 => t == Some(nal::H265_AUD),
        Codec::Aac => false,
    }
}

/// The first SPS and PPS (and VPS for H.265) carried in-band in `au`, if all are present.
pub fn extract_config(codec: Codec, au: &[u8]) -> Option<VideoConfig> {
    let (mut vps, mut sps, mut pps) = (None, None, None);
    for n in nal_units(au) {
        let slot = match (codec, nal_type(codec, n)?) {
            (Codec::H264, nal::H264_SPS) | (Codec::H265, nal::H265_SPS) => &mut sps,
            (Codec::H264, nal::H264_PPS) | (Codec::H265, nal::H265_PPS) => &mut pps,
            (Codec::H265, nal::H265_VPS) => &mut vps,
            _ => continue,
        };
        if slot.is_none() {
            *slot = Some(Bytes::copy_from_slice(n));
        }
    }
    match codec {
        Codec::H264 => Some(VideoConfig {
            codec,
            vps: None,
            sps: sps?,
            pps: pps?,
        }),
        Codec::H265 => Some(VideoConfig {
            codec,
            vps: Some(vps?),
            sps: sps?,
            pps: pps?,
        }),
        Codec::Aac => None,
    }
}

/// Access unit delimiter of either codec, recognised without knowing the codec: an H.264
/// AUD is 2 bytes with first byte 0x09 (nal_ref_idc 0, type 9); an H.265 AUD is 3 bytes of
/// type 35 with nuh_layer_id 0. Neither pattern is a valid NAL of the other codec.
fn is_any_aud(nal: &[u8]) -> bool {
    match nal {
        [0x09, _] => true,
        [b0, b1, _] => (b0 >> 1) & 0x3F == nal::H265_AUD && b0 & 1 == 0 && b1 >> 3 == 0,
        _ => false,
    }
}

/// Converts an Annex B access unit to 4-byte length-prefixed NAL units, dropping AUDs.
pub fn to_length_prefixed(au: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(au.len() + 16);
    for n in nal_units(au).filter(|n| !is_any_aud(n)) {
        // A NAL longer than 4 GiB cannot come from a buffered PES; skip rather than wrap.
        let Ok(len) = u32::try_from(n.len()) else {
            continue;
        };
        out.put_u32(len);
        out.put_slice(n);
    }
    out.freeze()
}

/// Converts 4-byte length-prefixed NAL units to Annex B with 4-byte start codes.
/// Zero-length NALs are skipped.
pub fn from_length_prefixed(data: &[u8]) -> Result<Bytes, AnnexbError> {
    let mut out = BytesMut::with_capacity(data.len() + 16);
    let mut pos = 0usize;
    while pos < data.len() {
        let Some(len_bytes) = data.get(pos..pos + NAL_LENGTH_SIZE) else {
            return Err(AnnexbError::TruncatedLength(data.len() - pos));
        };
        let mut be = [0u8; 4];
        be.copy_from_slice(len_bytes);
        let declared = u32::from_be_bytes(be) as usize;
        let start = pos + NAL_LENGTH_SIZE;
        let available = data.len() - start;
        let Some(nal) = data.get(start..start.saturating_add(declared)) else {
            return Err(AnnexbError::NalLengthOverrun {
                offset: pos,
                declared,
                available,
            });
        };
        if !nal.is_empty() {
            out.put_slice(&START_CODE);
            out.put_slice(nal);
        }
        pos = start + declared;
    }
    Ok(out.freeze())
}

/// Joins NAL units into Annex B with 4-byte start codes.
pub fn join<'a>(nals: impl IntoIterator<Item = &'a [u8]>) -> Bytes {
    let mut out = BytesMut::new();
    for n in nals {
        out.put_slice(&START_CODE);
        out.put_slice(n);
    }
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPS: &[u8] = &[0x67, 0x64, 0x00, 0x1F, 0xAC];
    const PPS: &[u8] = &[0x68, 0xEE, 0x3C, 0x80];
    const IDR: &[u8] = &[0x65, 0x88, 0x84, 0x00, 0x00, 0x03, 0x01];
    const AUD: &[u8] = &[0x09, 0xF0];

    #[test]
    fn splits_three_and_four_byte_start_codes() {
        let mut au = vec![0xAA, 0, 0, 0, 1];
        au.extend_from_slice(SPS);
        au.extend_from_slice(&[0, 0, 1]);
        au.extend_from_slice(PPS);
        au.extend_from_slice(&[0, 0, 0, 0, 1]);
        au.extend_from_slice(IDR);
        au.extend_from_slice(&[0, 0]);
        let nals: Vec<_> = nal_units(&au).collect();
        assert_eq!(nals, vec![SPS, PPS, IDR]);
    }

    #[test]
    fn empty_and_garbage() {
        assert_eq!(nal_units(&[]).count(), 0);
        assert_eq!(nal_units(&[1, 2, 3]).count(), 0);
        assert_eq!(nal_units(&[0, 0, 1, 0, 0, 1]).count(), 0);
    }

    #[test]
    fn keyframe_and_config() {
        let au = join([AUD, SPS, PPS, IDR]);
        assert!(is_keyframe(Codec::H264, &au));
        assert!(!is_keyframe(Codec::H264, &join([AUD, &[0x41, 0x9A][..]])));
        let cfg = extract_config(Codec::H264, &au).expect("config");
        assert_eq!(&cfg.sps[..], SPS);
        assert_eq!(&cfg.pps[..], PPS);
        assert_eq!(cfg.vps, None);
        assert_eq!(extract_config(Codec::H264, &join([SPS, IDR])), None);
        // H.265: IRAP (CRA = 21) and VPS/SPS/PPS.
        let (vps, sps, pps, cra) = (
            [0x40, 1, 0xC],
            [0x42, 1, 1],
            [0x44, 1, 0xC1],
            [0x2A, 1, 0xAF],
        );
        let au = join([&vps[..], &sps, &pps, &cra]);
        assert!(is_keyframe(Codec::H265, &au));
        let cfg = extract_config(Codec::H265, &au).expect("config");
        assert_eq!(cfg.vps.as_deref(), Some(&vps[..]));
        assert!(!is_keyframe(Codec::H265, &join([&[0x02u8, 1, 0xD0][..]])));
    }

    #[test]
    fn length_prefixed_round_trip_drops_aud() {
        let au = join([AUD, SPS, PPS, IDR]);
        let lp = to_length_prefixed(&au);
        assert_eq!(&lp[..4], &[0, 0, 0, 5]);
        assert_eq!(lp.len(), 3 * 4 + SPS.len() + PPS.len() + IDR.len());
        let back = from_length_prefixed(&lp).expect("valid");
        assert_eq!(back, join([SPS, PPS, IDR]));
        // H.265 AUD is dropped too.
        let h265 = join([&[0x46u8, 0x01, 0x50][..], &[0x26, 0x01, 0xAF]]);
        assert_eq!(
            to_length_prefixed(&h265),
            Bytes::from_static(&[0, 0, 0, 3, 0x26, 1, 0xAF])
        );
    }

    #[test]
    fn length_prefixed_errors() {
        assert_eq!(
            from_length_prefixed(&[0, 0, 0, 9, 1, 2]),
            Err(AnnexbError::NalLengthOverrun {
                offset: 0,
                declared: 9,
                available: 2
            })
        );
        assert_eq!(
            from_length_prefixed(&[0, 0, 0, 1, 7, 0, 0]),
            Err(AnnexbError::TruncatedLength(2))
        );
        assert_eq!(
            from_length_prefixed(&[0xFF, 0xFF, 0xFF, 0xFF]),
            Err(AnnexbError::NalLengthOverrun {
                offset: 0,
                declared: 0xFFFF_FFFF,
                available: 0
            })
        );
        assert_eq!(from_length_prefixed(&[0, 0, 0, 0]), Ok(Bytes::new()));
    }
}
