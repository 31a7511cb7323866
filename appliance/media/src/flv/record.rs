//! Decoder configuration records of ISO/IEC 14496-15: AVCDecoderConfigurationRecord
//! (§5.3.3.1) and HEVCDecoderConfigurationRecord (§8.3.3.1), built from and parsed to
//! [`VideoConfig`]. The HEVC profile/tier/level fields come from the SPS (H.265 §7.3.2.2).

use super::FlvError;
use crate::annexb::{nal, nal_type};
use crate::frame::{Codec, VideoConfig};
use crate::sps;
use bytes::{Buf, BufMut, Bytes, BytesMut};

/// lengthSizeMinusOne written and required (4-byte NAL lengths).
const LENGTH_SIZE_MINUS_ONE: u8 = 3;

fn put_nal16(b: &mut BytesMut, n: &[u8]) {
    let len = u16::try_from(n.len()).unwrap_or(u16::MAX);
    b.put_u16(len);
    b.put_slice(n.get(..usize::from(len)).unwrap_or_default());
}

/// Profiles whose record carries the chroma/bit-depth extension (14496-15 §5.3.3.1.2).
const AVC_HIGH_PROFILES: [u8; 4] = [100, 110, 122, 144];

/// AVCDecoderConfigurationRecord with one SPS and one PPS; profile, compatibility and
/// level are copied from SPS bytes 1..4, and High profiles get the chroma/bit-depth
/// extension (4:2:0 8-bit if the SPS cannot be read), as ffmpeg writes it.
pub fn avc_decoder_config(cfg: &VideoConfig) -> Bytes {
    let ptl = |i: usize| cfg.sps.get(i).copied().unwrap_or(0);
    let mut b = BytesMut::with_capacity(15 + cfg.sps.len() + cfg.pps.len());
    b.put_slice(&[
        1,
        ptl(1),
        ptl(2),
        ptl(3),
        0xFC | LENGTH_SIZE_MINUS_ONE,
        0xE1,
    ]);
    put_nal16(&mut b, &cfg.sps);
    b.put_u8(1);
    put_nal16(&mut b, &cfg.pps);
    if AVC_HIGH_PROFILES.contains(&ptl(1)) {
        let (chroma, luma, chroma_depth) = sps::avc(&cfg.sps).map_or((1, 0, 0), |s| {
            (
                s.chroma_format,
                s.bit_depth_luma_minus8,
                s.bit_depth_chroma_minus8,
            )
        });
        b.put_slice(&[0xFC | chroma, 0xF8 | luma, 0xF8 | chroma_depth, 0]);
    }
    b.freeze()
}

fn take_nal16(rec: &mut &[u8]) -> Option<Bytes> {
    if rec.remaining() < 2 {
        return None;
    }
    let len = usize::from(rec.get_u16());
    let n = rec.get(..len)?;
    let out = Bytes::copy_from_slice(n);
    rec.advance(len);
    Some(out)
}

fn truncated() -> FlvError {
    FlvError::ConfigRecord("truncated")
}

/// The first SPS and PPS of an AVCDecoderConfigurationRecord.
pub fn parse_avc_config(mut rec: &[u8]) -> Result<VideoConfig, FlvError> {
    let head = rec.get(..6).ok_or_else(truncated)?;
    if head[0] != 1 {
        return Err(FlvError::ConfigRecord("configurationVersion is not 1"));
    }
    if head[4] & 0x3 != LENGTH_SIZE_MINUS_ONE {
        return Err(FlvError::ConfigRecord("lengthSizeMinusOne is not 3"));
    }
    let num_sps = head[5] & 0x1F;
    rec.advance(6);
    let mut sps = None;
    for _ in 0..num_sps {
        let n = take_nal16(&mut rec).ok_or_else(truncated)?;
        sps.get_or_insert(n);
    }
    let num_pps = *rec.first().ok_or_else(truncated)?;
    rec.advance(1);
    let mut pps = None;
    for _ in 0..num_pps {
        let n = take_nal16(&mut rec).ok_or_else(truncated)?;
        pps.get_or_insert(n);
    }
    Ok(VideoConfig {
        codec: Codec::H264,
        vps: None,
        sps: sps.ok_or(FlvError::ConfigRecord("no SPS"))?,
        pps: pps.ok_or(FlvError::ConfigRecord("no PPS"))?,
    })
}

/// HEVCDecoderConfigurationRecord with one VPS, SPS and PPS array. Profile, tier, level,
/// chroma format and bit depths come from the SPS; an unreadable SPS gives Main 4:2:0
/// 8-bit defaults with the level left 0.
pub fn hevc_decoder_config(cfg: &VideoConfig) -> Bytes {
    let info = sps::hevc(&cfg.sps).unwrap_or(sps::HevcSps {
        ptl: [0x01, 0x60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        max_sub_layers: 1,
        temporal_id_nested: true,
        chroma_format: 1,
        bit_depth_luma_minus8: 0,
        bit_depth_chroma_minus8: 0,
        size: (0, 0),
    });
    let mut b = BytesMut::with_capacity(64 + cfg.sps.len() + cfg.pps.len());
    b.put_u8(1);
    b.put_slice(&info.ptl);
    b.put_u16(0xF000); // min_spatial_segmentation_idc 0
    b.put_u8(0xFC); // parallelismType 0
    b.put_u8(0xFC | info.chroma_format);
    b.put_u8(0xF8 | info.bit_depth_luma_minus8);
    b.put_u8(0xF8 | info.bit_depth_chroma_minus8);
    b.put_u16(0); // avgFrameRate unknown
    b.put_u8(
        ((info.max_sub_layers & 0x7) << 3)
            | (u8::from(info.temporal_id_nested) << 2)
            | LENGTH_SIZE_MINUS_ONE,
    );
    let arrays: Vec<(u8, &Bytes)> = cfg
        .vps
        .iter()
        .map(|v| (nal::H265_VPS, v))
        .chain([(nal::H265_SPS, &cfg.sps), (nal::H265_PPS, &cfg.pps)])
        .collect();
    b.put_u8(arrays.len() as u8);
    for (t, n) in arrays {
        b.put_u8(0x80 | t); // array_completeness 1
        b.put_u16(1);
        put_nal16(&mut b, n);
    }
    b.freeze()
}

/// The first VPS, SPS and PPS of an HEVCDecoderConfigurationRecord.
pub fn parse_hevc_config(rec: &[u8]) -> Result<VideoConfig, FlvError> {
    let head = rec.get(..23).ok_or_else(truncated)?;
    if head[0] != 1 {
        return Err(FlvError::ConfigRecord("configurationVersion is not 1"));
    }
    if head[21] & 0x3 != LENGTH_SIZE_MINUS_ONE {
        return Err(FlvError::ConfigRecord("lengthSizeMinusOne is not 3"));
    }
    let num_arrays = head[22];
    let mut rest = rec.get(23..).unwrap_or_default();
    let (mut vps, mut sps, mut pps) = (None, None, None);
    for _ in 0..num_arrays {
        if rest.remaining() < 3 {
            return Err(truncated());
        }
        let declared = rest.get_u8() & 0x3F;
        let count = rest.get_u16();
        for _ in 0..count {
            let n = take_nal16(&mut rest).ok_or_else(truncated)?;
            let slot = match nal_type(Codec::H265, &n).unwrap_or(declared) {
                nal::H265_VPS => &mut vps,
                nal::H265_SPS => &mut sps,
                nal::H265_PPS => &mut pps,
                _ => continue,
            };
            slot.get_or_insert(n);
        }
    }
    Ok(VideoConfig {
        codec: Codec::H265,
        vps: Some(vps.ok_or(FlvError::ConfigRecord("no VPS"))?),
        sps: sps.ok_or(FlvError::ConfigRecord("no SPS"))?,
        pps: pps.ok_or(FlvError::ConfigRecord("no PPS"))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// x265 160x120 Main SPS/VPS/PPS (from tests/fixtures/h265_aac.ts).
    pub(crate) fn x265_config() -> VideoConfig {
        VideoConfig {
            codec: Codec::H265,
            vps: Some(Bytes::from_static(&[
                0x40, 0x01, 0x0C, 0x01, 0xFF, 0xFF, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00,
                0x00, 0x03, 0x00, 0x00, 0x03, 0x00, 0x1E, 0x95, 0x98, 0x09,
            ])),
            sps: Bytes::from_static(&[
                0x42, 0x01, 0x01, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00,
                0x00, 0x03, 0x00, 0x1E, 0xA0, 0x14, 0x20, 0x79, 0x65, 0x95, 0x9A, 0x49, 0x32, 0xBC,
                0x05, 0xA0, 0x20, 0x00, 0x00, 0x03, 0x00, 0x20, 0x00, 0x00, 0x03, 0x03, 0x21,
            ]),
            pps: Bytes::from_static(&[0x44, 0x01, 0xC1, 0x72, 0xB4, 0x62, 0x40]),
        }
    }

    #[test]
    fn hevc_sps_fields() {
        let info = crate::sps::hevc(&x265_config().sps).expect("parses");
        assert_eq!(info.ptl[0], 0x01); // Main profile, tier 0
        assert_eq!(info.ptl[11], 0x1E); // level 1 (30)
        assert_eq!(info.chroma_format, 1);
        assert_eq!(info.bit_depth_luma_minus8, 0);
        assert_eq!(info.max_sub_layers, 1);
    }

    #[test]
    fn hevc_record_round_trip() {
        let cfg = x265_config();
        let rec = hevc_decoder_config(&cfg);
        assert_eq!(rec[0], 1);
        assert_eq!(rec[12], 0x1E);
        assert_eq!(parse_hevc_config(&rec), Ok(cfg));
    }

    #[test]
    fn avc_record_round_trip_and_errors() {
        let cfg = VideoConfig {
            codec: Codec::H264,
            vps: None,
            sps: Bytes::from_static(&[0x67, 0x64, 0x00, 0x0C, 0xAC, 0xD9]),
            pps: Bytes::from_static(&[0x68, 0xEB, 0xE3, 0xCB]),
        };
        let rec = avc_decoder_config(&cfg);
        assert_eq!(&rec[..6], &[1, 0x64, 0x00, 0x0C, 0xFF, 0xE1]);
        assert_eq!(&rec[rec.len() - 4..], &[0xFD, 0xF8, 0xF8, 0]); // High: 4:2:0, 8-bit
        assert_eq!(parse_avc_config(&rec), Ok(cfg));
        assert_eq!(parse_avc_config(&rec[..9]), Err(truncated()));
        let mut two_byte = rec.to_vec();
        two_byte[4] = 0xFD;
        assert!(parse_avc_config(&two_byte).is_err());
    }
}
