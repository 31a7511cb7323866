//! Display size from an H.264 or H.265 SPS, for the `tkhd` and the visual sample entry
//! (ISO/IEC 14496-12 §8.3.2 and §12.1.3 want the cropped picture size).
//!
//! Only the syntax up to the cropping window is read: H.264 §7.3.2.1.1 and H.265
//! §7.3.2.2.1. Anything unreadable gives `None`; the caller then writes 0x0, which
//! players accept because decoders take the size from the SPS itself.

use crate::bits::{rbsp, BitReader};
use crate::frame::Codec;

/// H.264 profiles whose SPS carries chroma_format_idc and the scaling matrices
/// (H.264 §7.3.2.1.1, the `profile_idc == 100 || ...` condition).
const H264_HIGH_PROFILES: [u32; 12] = [100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134];

/// Cropped width and height in luma samples.
pub(crate) fn dimensions(codec: Codec, sps: &[u8]) -> Option<(u16, u16)> {
    let (w, h) = match codec {
        Codec::H264 => h264(sps)?,
        Codec::H265 => h265(sps)?,
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

fn h264(sps: &[u8]) -> Option<(u32, u32)> {
    // Skip the 1-byte NAL header; profile_idc, constraint flags and level_idc follow.
    let data = rbsp(sps.get(1..)?);
    let mut r = BitReader::new(&data);
    let profile = r.bits(8)?;
    r.skip(16)?;
    r.ue()?; // seq_parameter_set_id
    let mut chroma_format = 1;
    if H264_HIGH_PROFILES.contains(&profile) {
        chroma_format = r.ue()?;
        if chroma_format == 3 {
            r.bit()?; // separate_colour_plane_flag
        }
        r.ue()?; // bit_depth_luma_minus8
        r.ue()?; // bit_depth_chroma_minus8
        r.bit()?; // qpprime_y_zero_transform_bypass_flag
        if r.bit()? == 1 {
            let lists = if chroma_format == 3 { 12 } else { 8 };
            for i in 0..lists {
                if r.bit()? == 1 {
                    skip_scaling_list(&mut r, if i < 6 { 16 } else { 64 })?;
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
            se(&mut r)?;
            se(&mut r)?;
            for _ in 0..r.ue()? {
                se(&mut r)?;
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
        // CropUnitX/Y, H.264 equations 7-19..7-22 (4:2:0 and 4:2:2 halve horizontally,
        // 4:2:0 halves vertically; field coding doubles the vertical unit).
        let (sub_w, sub_h) = match chroma_format {
            1 => (2, 2),
            2 => (2, 1),
            _ => (1, 1),
        };
        let unit_y = sub_h * (2 - frame_mbs_only);
        crop_x = sub_w * left.checked_add(right)?;
        crop_y = unit_y * top.checked_add(bottom)?;
    }
    let width = width_mbs.checked_mul(16)?.checked_sub(crop_x)?;
    let height = (2 - frame_mbs_only)
        .checked_mul(height_units)?
        .checked_mul(16)?
        .checked_sub(crop_y)?;
    Some((width, height))
}

fn h265(sps: &[u8]) -> Option<(u32, u32)> {
    // Skip the 2-byte NAL header.
    let data = rbsp(sps.get(2..)?);
    let mut r = BitReader::new(&data);
    r.bits(4)?; // sps_video_parameter_set_id
    let max_sub_layers_minus1 = r.bits(3)? as usize;
    r.bit()?; // sps_temporal_id_nesting_flag
              // profile_tier_level(1, max_sub_layers_minus1), H.265 §7.3.3: 96 bits of general
              // profile/tier/level, then per-sub-layer presence flags and fields.
    r.skip(96)?;
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
    let width = r.ue()?;
    let height = r.ue()?;
    if r.bit()? == 1 {
        // conformance_window offsets in chroma units, H.265 Table 6-1 SubWidthC/SubHeightC.
        let (left, right, top, bottom) = (r.ue()?, r.ue()?, r.ue()?, r.ue()?);
        let (sub_w, sub_h) = match chroma_format {
            1 => (2, 2),
            2 => (2, 1),
            _ => (1, 1),
        };
        let w = width.checked_sub(sub_w * left.checked_add(right)?)?;
        let h = height.checked_sub(sub_h * top.checked_add(bottom)?)?;
        return Some((w, h));
    }
    Some((width, height))
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
        // The same picture in 4:4:4 (High 4:4:4 Predictive): crop unit 1x1.
        let sps = [
            0x67, 0xF4, 0x00, 0x28, 0x91, 0x9B, 0x28, 0x0F, 0x00, 0x44, 0xFC, 0x4E, 0x02, 0x20,
            0x00, 0x00, 0x03, 0x00, 0x20, 0x00, 0x00, 0x06, 0x41, 0xE3, 0x06, 0x32, 0xC0,
        ];
        assert_eq!(dimensions(Codec::H264, &sps), Some((1920, 1080)));
    }

    #[test]
    fn garbage_gives_none() {
        assert_eq!(dimensions(Codec::H264, &[0x67]), None);
        assert_eq!(dimensions(Codec::H265, &[0x42, 0x01, 0x01]), None);
        assert_eq!(dimensions(Codec::Aac, &[]), None);
    }
}
