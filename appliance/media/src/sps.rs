//! What containers repeat from an H.264 or H.265 sequence parameter set: the chroma format
//! and bit depths (the FLV/MP4 decoder configuration records, ISO/IEC 14496-15), profile,
//! tier and level (the HEVC record), and the cropped picture size (the MP4 `tkhd` and
//! visual sample entry, ISO/IEC 14496-12 §8.3.2 and §12.1.3).
//!
//! Only the syntax up to those fields is read: H.264 §7.3.2.1.1 up to `frame_cropping`,
//! H.265 §7.3.2.2.1 up to `bit_depth_chroma_minus8`. Anything unreadable gives `None` (or
//! no size), and each caller has its documented default.

use crate::bits::{rbsp, BitReader};
use crate::frame::Codec;

/// H.264 profiles whose SPS carries chroma_format_idc, the bit depths and the scaling
/// matrices (H.264 §7.3.2.1.1, the `profile_idc == 100 || ...` condition), plus 144, the
/// High 4:4:4 profile of the 2005 edition (since removed), whose SPS has the same fields.
const H264_HIGH_PROFILES: [u32; 14] = [
    100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135, 144,
];

/// The fields of an H.264 SPS that containers repeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AvcSps {
    pub chroma_format: u8,
    pub bit_depth_luma_minus8: u8,
    pub bit_depth_chroma_minus8: u8,
    /// Cropped width and height in luma samples, when the SPS reads that far.
    pub size: Option<(u32, u32)>,
}

/// The fields of an H.265 SPS that containers repeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HevcSps {
    /// general_profile_space .. general_level_idc: 12 bytes as in the HEVC record.
    pub ptl: [u8; 12],
    pub max_sub_layers: u8,
    pub temporal_id_nested: bool,
    pub chroma_format: u8,
    pub bit_depth_luma_minus8: u8,
    pub bit_depth_chroma_minus8: u8,
    /// Cropped width and height in luma samples (conformance window applied).
    pub size: (u32, u32),
}

/// Cropped width and height in luma samples of a video SPS.
pub(crate) fn dimensions(codec: Codec, sps: &[u8]) -> Option<(u16, u16)> {
    let (w, h) = match codec {
        Codec::H264 => avc(sps)?.size?,
        Codec::H265 => hevc(sps)?.size,
        Codec::Aac => return None,
    };
    Some((u16::try_from(w).ok()?, u16::try_from(h).ok()?))
}

/// Signed Exp-Golomb, H.264 §9.1.1.
fn se(r: &mut BitReader<'_>) -> Option<i64> {
    let k = i64::from(r.ue()?);
    Some(if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) })
}

/// Skips one scaling_list() of `size` coefficients (H.264 §7.3.2.1.1.1).
fn skip_scaling_list(r: &mut BitReader<'_>, size: usize) -> Option<()> {
    let (mut last, mut next) = (8i64, 8i64);
    for _ in 0..size {
        if next != 0 {
            let delta = se(r)?;
            next = (last + delta + 256).rem_euclid(256);
        }
        if next != 0 {
            last = next;
        }
    }
    Some(())
}

/// (SubWidthC, SubHeightC) of a chroma_format_idc, H.264 Table 6-1 / H.265 Table 6-1.
fn chroma_subsampling(chroma_format: u32) -> (u32, u32) {
    match chroma_format {
        1 => (2, 2),
        2 => (2, 1),
        _ => (1, 1),
    }
}

/// An H.264 SPS NAL unit (with its 1-byte header). Every field is network input: all
/// arithmetic is checked (a fuzzed cropping window once overflowed a multiplication).
pub(crate) fn avc(sps: &[u8]) -> Option<AvcSps> {
    let data = rbsp(sps.get(1..)?);
    let mut r = BitReader::new(&data);
    let profile = r.bits(8)?;
    r.skip(16)?; // constraint flags, level_idc
    r.ue()?; // seq_parameter_set_id
    let (mut chroma_format, mut luma, mut chroma) = (1, 0, 0);
    if H264_HIGH_PROFILES.contains(&profile) {
        chroma_format = r.ue()?;
        if chroma_format == 3 {
            r.bit()?; // separate_colour_plane_flag
        }
        luma = r.ue()?;
        chroma = r.ue()?;
    }
    Some(AvcSps {
        chroma_format: (chroma_format & 3) as u8,
        bit_depth_luma_minus8: (luma & 7) as u8,
        bit_depth_chroma_minus8: (chroma & 7) as u8,
        size: avc_size(&mut r, H264_HIGH_PROFILES.contains(&profile), chroma_format),
    })
}

/// From qpprime_y_zero_transform_bypass_flag (High profiles) or log2_max_frame_num_minus4
/// to the cropping window.
fn avc_size(r: &mut BitReader<'_>, high: bool, chroma_format: u32) -> Option<(u32, u32)> {
    if high {
        r.bit()?; // qpprime_y_zero_transform_bypass_flag
        if r.bit()? == 1 {
            let lists = if chroma_format == 3 { 12 } else { 8 };
            for i in 0..lists {
                if r.bit()? == 1 {
                    skip_scaling_list(r, if i < 6 { 16 } else { 64 })?;
                }
            }
        }
    }
    r.ue()?; // log2_max_frame_num_minus4
    match r.ue()? {
        0 => {
            r.ue()?; // log2_max_pic_order_cnt_lsb_minus4
        }
        1 => {
            r.bit()?; // delta_pic_order_always_zero_flag
            se(r)?;
            se(r)?;
            for _ in 0..r.ue()? {
                se(r)?;
            }
        }
        _ => {}
    }
    r.ue()?; // max_num_ref_frames
    r.bit()?; // gaps_in_frame_num_value_allowed_flag
    let width_mbs = r.ue()?.checked_add(1)?;
    let height_units = r.ue()?.checked_add(1)?;
    let frame_mbs_only = r.bit()?;
    if frame_mbs_only == 0 {
        r.bit()?; // mb_adaptive_frame_field_flag
    }
    r.bit()?; // direct_8x8_inference_flag
    let (mut crop_x, mut crop_y) = (0, 0);
    if r.bit()? == 1 {
        let (left, right, top, bottom) = (r.ue()?, r.ue()?, r.ue()?, r.ue()?);
        // CropUnitX/Y, H.264 equations 7-19..7-22; field coding doubles the vertical unit.
        let (sub_w, sub_h) = chroma_subsampling(chroma_format);
        crop_x = left.checked_add(right)?.checked_mul(sub_w)?;
        crop_y = top
            .checked_add(bottom)?
            .checked_mul(sub_h * (2 - frame_mbs_only))?;
    }
    let width = width_mbs.checked_mul(16)?.checked_sub(crop_x)?;
    let height = (2 - frame_mbs_only)
        .checked_mul(height_units)?
        .checked_mul(16)?
        .checked_sub(crop_y)?;
    Some((width, height))
}

/// An H.265 SPS NAL unit (with its 2-byte header).
pub(crate) fn hevc(sps: &[u8]) -> Option<HevcSps> {
    let data = rbsp(sps.get(2..)?);
    let mut r = BitReader::new(&data);
    r.bits(4)?; // sps_video_parameter_set_id
    let max_sub_layers_minus1 = r.bits(3)? as usize;
    let nested = r.bit()? == 1;
    // profile_tier_level(1, max_sub_layers_minus1), H.265 §7.3.3: 96 bits of general
    // profile, tier and level, then per-sub-layer presence flags and fields.
    let mut ptl = [0u8; 12];
    for b in ptl.iter_mut() {
        *b = r.bits(8)? as u8;
    }
    let mut present = [(false, false); 8];
    for p in present.iter_mut().take(max_sub_layers_minus1) {
        *p = (r.bit()? == 1, r.bit()? == 1);
    }
    if max_sub_layers_minus1 > 0 {
        r.skip(2 * (8 - max_sub_layers_minus1))?;
    }
    for (profile, level) in present.iter().take(max_sub_layers_minus1) {
        if *profile {
            r.skip(88)?;
        }
        if *level {
            r.skip(8)?;
        }
    }
    r.ue()?; // sps_seq_parameter_set_id
    let chroma_format = r.ue()?;
    if chroma_format == 3 {
        r.bit()?; // separate_colour_plane_flag
    }
    let (mut width, mut height) = (r.ue()?, r.ue()?);
    if r.bit()? == 1 {
        // conformance_window offsets, in chroma units.
        let (left, right, top, bottom) = (r.ue()?, r.ue()?, r.ue()?, r.ue()?);
        let (sub_w, sub_h) = chroma_subsampling(chroma_format);
        width = width.checked_sub(left.checked_add(right)?.checked_mul(sub_w)?)?;
        height = height.checked_sub(top.checked_add(bottom)?.checked_mul(sub_h)?)?;
    }
    let luma = r.ue()?;
    let chroma = r.ue()?;
    Some(HevcSps {
        ptl,
        max_sub_layers: max_sub_layers_minus1 as u8 + 1,
        temporal_id_nested: nested,
        chroma_format: (chroma_format & 3) as u8,
        bit_depth_luma_minus8: (luma & 7) as u8,
        bit_depth_chroma_minus8: (chroma & 7) as u8,
        size: (width, height),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn h264_high_sps_gives_cropped_size() {
        // x264 1920x1080 High profile 4:2:0 SPS (Debian ffmpeg) (1088 coded rows, 8 cropped).
        let sps = [
            0x67, 0x64, 0x00, 0x28, 0xAC, 0xD9, 0x40, 0x78, 0x02, 0x27, 0xE5, 0xC0, 0x44, 0x00,
            0x00, 0x03, 0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0xC8, 0x3C, 0x60, 0xC6, 0x58,
        ];
        assert_eq!(dimensions(Codec::H264, &sps), Some((1920, 1080)));
        let info = avc(&sps).expect("readable");
        assert_eq!(
            (info.chroma_format, info.bit_depth_luma_minus8),
            (1, 0),
            "4:2:0, 8 bits"
        );
        // The same picture in 4:4:4 (High 4:4:4 Predictive): crop unit 1x1.
        let sps = [
            0x67, 0xF4, 0x00, 0x28, 0x91, 0x9B, 0x28, 0x0F, 0x00, 0x44, 0xFC, 0x4E, 0x02, 0x20,
            0x00, 0x00, 0x03, 0x00, 0x20, 0x00, 0x00, 0x06, 0x41, 0xE3, 0x06, 0x32, 0xC0,
        ];
        assert_eq!(dimensions(Codec::H264, &sps), Some((1920, 1080)));
        assert_eq!(avc(&sps).expect("readable").chroma_format, 3);
    }

    #[test]
    fn garbage_gives_none() {
        assert_eq!(dimensions(Codec::H264, &[0x67]), None);
        assert_eq!(dimensions(Codec::H265, &[0x42, 0x01, 0x01]), None);
        assert_eq!(dimensions(Codec::Aac, &[]), None);
    }
}
