//! Annex B access units to MP4 samples: 4-byte length-prefixed NAL units (ISO/IEC 14496-15
//! §5.3.2 for AVC, §8.3.2 for HEVC, `lengthSizeMinusOne` = 3).
//!
//! Access unit delimiters are dropped: they carry nothing a sample boundary does not
//! already say, and 14496-15 §5.3.2 recommends against them. Parameter sets are dropped too,
//! because the sample entries are `avc1`/`hvc1`, whose configuration record holds every
//! parameter set the stream uses (14496-15 §5.3.2 and §8.3.2; `avc3`/`hev1` would be the
//! in-band variants, which Apple's HLS does not accept for HEVC). An in-band set that
//! differs from the record is an error, so the caller starts a new init segment rather
//! than write samples the record cannot decode. Other NAL units (SEI, slices) are kept.

use super::Mp4Error;
use crate::annexb::{nal, nal_type, nal_units};
use crate::frame::{Codec, VideoConfig};
use bytes::{BufMut, BytesMut};

/// What a NAL unit is to the sample writer.
enum Role {
    Aud,
    ParameterSet(&'static str),
    Payload,
}

fn role(codec: Codec, t: u8) -> Role {
    match (codec, t) {
        (Codec::H264, nal::H264_AUD) | (Codec::H265, nal::H265_AUD) => Role::Aud,
        (Codec::H264, nal::H264_SPS) | (Codec::H265, nal::H265_SPS) => Role::ParameterSet("SPS"),
        (Codec::H264, nal::H264_PPS) | (Codec::H265, nal::H265_PPS) => Role::ParameterSet("PPS"),
        (Codec::H265, nal::H265_VPS) => Role::ParameterSet("VPS"),
        _ => Role::Payload,
    }
}

fn same_as_config(config: &VideoConfig, what: &str, n: &[u8]) -> bool {
    match what {
        "SPS" => config.sps.as_ref() == n,
        "PPS" => config.pps.as_ref() == n,
        _ => config.vps.as_deref() == Some(n),
    }
}

/// Appends the AVCC form of the Annex B access unit `au` to `out`; returns the bytes added.
/// On an error nothing is appended.
pub(crate) fn append_avcc(
    track: usize,
    config: &VideoConfig,
    au: &[u8],
    out: &mut BytesMut,
) -> Result<usize, Mp4Error> {
    let start = out.len();
    for n in nal_units(au) {
        let Some(t) = nal_type(config.codec, n) else {
            continue;
        };
        match role(config.codec, t) {
            Role::Aud => {}
            Role::ParameterSet(what) => {
                if !same_as_config(config, what, n) {
                    out.truncate(start);
                    return Err(Mp4Error::ParameterSetsChanged { track, what });
                }
            }
            Role::Payload => {
                // A NAL is at most one PES (crate::ts::MAX_PES_SIZE) long, far below 4 GiB.
                let Ok(len) = u32::try_from(n.len()) else {
                    continue;
                };
                out.put_u32(len);
                out.put_slice(n);
            }
        }
    }
    Ok(out.len() - start)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn h264_config() -> VideoConfig {
        VideoConfig {
            codec: Codec::H264,
            vps: None,
            sps: Bytes::from_static(&[0x67, 0x42, 0x00, 0x1E]),
            pps: Bytes::from_static(&[0x68, 0xCE]),
        }
    }

    #[test]
    fn aud_and_repeated_parameter_sets_are_dropped() {
        let au = [
            0, 0, 0, 1, 0x09, 0xF0, // AUD
            0, 0, 0, 1, 0x67, 0x42, 0x00, 0x1E, // SPS, same as the record
            0, 0, 1, 0x68, 0xCE, // PPS, same
            0, 0, 1, 0x06, 0x05, 0x01, // SEI
            0, 0, 1, 0x65, 0x88, 0x84, // IDR slice
        ];
        let mut out = BytesMut::new();
        let n = append_avcc(0, &h264_config(), &au, &mut out).expect("converts");
        assert_eq!(n, out.len());
        assert_eq!(
            out.as_ref(),
            &[0, 0, 0, 3, 0x06, 0x05, 0x01, 0, 0, 0, 3, 0x65, 0x88, 0x84]
        );
    }

    #[test]
    fn a_different_in_band_sps_is_an_error_and_appends_nothing() {
        let au = [0, 0, 1, 0x65, 0x88, 0, 0, 1, 0x67, 0x4D, 0x00, 0x28];
        let mut out = BytesMut::from(&b"kept"[..]);
        assert_eq!(
            append_avcc(2, &h264_config(), &au, &mut out),
            Err(Mp4Error::ParameterSetsChanged {
                track: 2,
                what: "SPS"
            })
        );
        assert_eq!(out.as_ref(), b"kept");
    }
}
