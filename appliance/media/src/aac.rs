//! AAC framing: ADTS headers (ISO/IEC 13818-7 §6.2 / 14496-3 §1.A.2) and the
//! AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1).
//!
//! MPEG-TS carries AAC as ADTS, often several frames per PES; FLV carries the raw frames
//! plus one AudioSpecificConfig. This module converts between the two. It does not decode.

use crate::bits::BitReader;
use crate::frame::AudioConfig;
use bytes::Bytes;
use thiserror::Error;

/// Samples per AAC frame (1024 for AAC-LC and the core of HE-AAC; the 960-sample variant
/// is not used in broadcast and is not supported).
pub const SAMPLES_PER_FRAME: u32 = 1024;

/// ADTS header length without CRC (ISO/IEC 14496-3 Table 1.A.5/1.A.6).
pub const ADTS_HEADER_LEN: usize = 7;

/// Largest ADTS frame: `aac_frame_length` is a 13-bit field.
pub const MAX_ADTS_FRAME_LEN: usize = (1 << 13) - 1;

/// Sampling frequencies by samplingFrequencyIndex (ISO/IEC 14496-3 Table 1.18).
const SAMPLE_RATES: [u32; 13] = [
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];

/// Samples per frame, a function for symmetry with the timing code.
pub fn samples_per_frame() -> u32 {
    SAMPLES_PER_FRAME
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AacError {
    #[error("ADTS syncword missing at offset {offset} (found {found:#05x})")]
    AdtsSync { offset: usize, found: u16 },
    #[error("ADTS layer is {0}, must be 0")]
    AdtsLayer(u8),
    #[error("ADTS aac_frame_length {frame_length} is shorter than its {header_len}-byte header")]
    AdtsFrameLength {
        frame_length: usize,
        header_len: usize,
    },
    #[error("ADTS frame of {frame_length} bytes at offset {offset} runs past the {available} bytes left")]
    AdtsTruncated {
        offset: usize,
        frame_length: usize,
        available: usize,
    },
    #[error("ADTS number_of_raw_data_blocks_in_frame {0} > 0 is not supported")]
    AdtsRawBlocks(u8),
    #[error("sampling_frequency_index {0} is reserved")]
    SampleRateIndex(u8),
    #[error("AudioSpecificConfig is truncated ({0} bytes)")]
    AscTruncated(usize),
    #[error("audio object type {0} cannot be carried in ADTS")]
    AdtsObjectType(u8),
}

/// The fields of an AudioSpecificConfig needed for framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AscInfo {
    /// Core audio object type (2 = AAC-LC; for HE-AAC the core type, not 5/29).
    pub object_type: u8,
    /// Core samplingFrequencyIndex (15 = explicit rate).
    pub sample_rate_index: u8,
    pub sample_rate: u32,
    pub channel_config: u8,
}

fn channels_for(config: u8) -> u8 {
    // ISO/IEC 14496-3 Table 1.19 (+ 23003-3 additions 11..=14).
    match config {
        7 => 8,
        11 => 7,
        12 | 14 => 8,
        13 => 24,
        c => c,
    }
}

fn sample_rate_for(index: u8) -> Result<u32, AacError> {
    SAMPLE_RATES
        .get(usize::from(index))
        .copied()
        .ok_or(AacError::SampleRateIndex(index))
}

fn read_object_type(r: &mut BitReader<'_>, len: usize) -> Result<u8, AacError> {
    let t = r.bits(5).ok_or(AacError::AscTruncated(len))?;
    let t = if t == 31 {
        32 + r.bits(6).ok_or(AacError::AscTruncated(len))?
    } else {
        t
    };
    // At most 31 + 63, fits in u8.
    Ok(u8::try_from(t).unwrap_or(u8::MAX))
}

fn read_sample_rate(r: &mut BitReader<'_>, len: usize) -> Result<(u8, u32), AacError> {
    let idx = r.bits(4).ok_or(AacError::AscTruncated(len))? as u8;
    if idx == 15 {
        let rate = r.bits(24).ok_or(AacError::AscTruncated(len))?;
        Ok((idx, rate))
    } else {
        Ok((idx, sample_rate_for(idx)?))
    }
}

/// Reads the framing fields of an AudioSpecificConfig.
pub fn parse_asc_info(asc: &[u8]) -> Result<AscInfo, AacError> {
    let len = asc.len();
    let mut r = BitReader::new(asc);
    let mut object_type = read_object_type(&mut r, len)?;
    let (sample_rate_index, sample_rate) = read_sample_rate(&mut r, len)?;
    let channel_config = r.bits(4).ok_or(AacError::AscTruncated(len))? as u8;
    // Explicit SBR/PS signalling (§1.6.2.1): extension rate, then the core object type.
    if object_type == 5 || object_type == 29 {
        read_sample_rate(&mut r, len)?;
        object_type = read_object_type(&mut r, len)?;
    }
    Ok(AscInfo {
        object_type,
        sample_rate_index,
        sample_rate,
        channel_config,
    })
}

/// Parses an AudioSpecificConfig into an [`AudioConfig`] (keeping the bytes as given).
pub fn parse_asc(asc: &[u8]) -> Result<AudioConfig, AacError> {
    let info = parse_asc_info(asc)?;
    Ok(AudioConfig {
        asc: Bytes::copy_from_slice(asc),
        sample_rate: info.sample_rate,
        channels: channels_for(info.channel_config),
    })
}

/// Builds the 2-byte AudioSpecificConfig for an ADTS profile/rate/channel triple.
fn asc_from_adts(profile: u8, freq_index: u8, channel_config: u8) -> [u8; 2] {
    let object_type = profile + 1;
    [
        (object_type << 3) | (freq_index >> 1),
        ((freq_index & 1) << 7) | (channel_config << 3),
    ]
}

/// Iterator over the ADTS frames of a buffer; see [`split_adts`].
///
/// Yields `(config, raw_frame)` per frame. After a framing error (lost sync, truncation)
/// it yields that error once and stops; a frame with an unsupported field is reported and
/// skipped.
#[derive(Debug, Clone)]
pub struct AdtsFrames<'a> {
    data: &'a [u8],
    pos: usize,
    done: bool,
}

/// Splits a buffer holding one or more ADTS frames (e.g. one PES payload).
pub fn split_adts(data: &[u8]) -> AdtsFrames<'_> {
    AdtsFrames {
        data,
        pos: 0,
        done: false,
    }
}

impl<'a> AdtsFrames<'a> {
    /// Byte offset of the next frame within the input.
    pub fn offset(&self) -> usize {
        self.pos
    }

    fn fail(&mut self, e: AacError) -> Option<Result<(AudioConfig, &'a [u8]), AacError>> {
        self.done = true;
        Some(Err(e))
    }
}

impl<'a> Iterator for AdtsFrames<'a> {
    type Item = Result<(AudioConfig, &'a [u8]), AacError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let offset = self.pos;
        let rest = self.data.get(offset..)?;
        if rest.is_empty() {
            return None;
        }
        let Some(h) = rest.get(..ADTS_HEADER_LEN) else {
            return self.fail(AacError::AdtsTruncated {
                offset,
                frame_length: ADTS_HEADER_LEN,
                available: rest.len(),
            });
        };
        let sync = (u16::from(h[0]) << 4) | u16::from(h[1] >> 4);
        if sync != 0xFFF {
            return self.fail(AacError::AdtsSync {
                offset,
                found: sync,
            });
        }
        let layer = (h[1] >> 1) & 0x3;
        let protection_absent = h[1] & 1 == 1;
        let profile = h[2] >> 6;
        let freq_index = (h[2] >> 2) & 0xF;
        let channel_config = ((h[2] & 1) << 2) | (h[3] >> 6);
        let frame_length =
            (usize::from(h[3] & 0x3) << 11) | (usize::from(h[4]) << 3) | usize::from(h[5] >> 5);
        let raw_blocks = h[6] & 0x3;
        let header_len = if protection_absent { 7 } else { 9 };
        if frame_length < header_len {
            return self.fail(AacError::AdtsFrameLength {
                frame_length,
                header_len,
            });
        }
        let Some(frame) = rest.get(..frame_length) else {
            return self.fail(AacError::AdtsTruncated {
                offset,
                frame_length,
                available: rest.len(),
            });
        };
        self.pos = offset + frame_length;
        if layer != 0 {
            return Some(Err(AacError::AdtsLayer(layer)));
        }
        if raw_blocks != 0 {
            return Some(Err(AacError::AdtsRawBlocks(raw_blocks)));
        }
        let sample_rate = match sample_rate_for(freq_index) {
            Ok(r) => r,
            Err(e) => return Some(Err(e)),
        };
        let config = AudioConfig {
            asc: Bytes::copy_from_slice(&asc_from_adts(profile, freq_index, channel_config)),
            sample_rate,
            channels: channels_for(channel_config),
        };
        Some(Ok((config, frame.get(header_len..).unwrap_or_default())))
    }
}

fn sample_rate_index_of(rate: u32) -> u8 {
    SAMPLE_RATES
        .iter()
        .position(|&r| r == rate)
        .map_or(4 /* 44100 */, |i| i as u8)
}

/// An ADTS header (no CRC) for a raw frame of `raw_len` bytes.
///
/// Object type, rate index and channels come from `cfg.asc` (HE-AAC is written as its
/// AAC-LC core, which is how ADTS signals implicit SBR); if the ASC is unreadable they come
/// from `sample_rate`/`channels` with AAC-LC. A length past the 13-bit field is saturated;
/// callers should skip frames longer than [`MAX_ADTS_FRAME_LEN`] - 7.
pub fn adts_header(cfg: &AudioConfig, raw_len: usize) -> [u8; 7] {
    let (profile, freq_index, channel_config) = match parse_asc_info(&cfg.asc) {
        Ok(i) if (1..=4).contains(&i.object_type) && i.sample_rate_index < 13 => (
            i.object_type - 1,
            i.sample_rate_index,
            i.channel_config & 0x7,
        ),
        _ => (
            1,
            sample_rate_index_of(cfg.sample_rate),
            cfg.channels.min(7),
        ),
    };
    let len = raw_len
        .saturating_add(ADTS_HEADER_LEN)
        .min(MAX_ADTS_FRAME_LEN);
    let buffer_fullness: usize = 0x7FF; // VBR
    [
        0xFF,
        0xF1, // MPEG-4, layer 0, no CRC
        (profile << 6) | (freq_index << 2) | (channel_config >> 2),
        ((channel_config & 0x3) << 6) | ((len >> 11) & 0x3) as u8,
        ((len >> 3) & 0xFF) as u8,
        (((len & 0x7) << 5) | (buffer_fullness >> 6)) as u8,
        (((buffer_fullness & 0x3F) << 2) as u8), // one raw data block
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lc_48k_stereo() -> AudioConfig {
        parse_asc(&[0x11, 0x90]).expect("valid asc")
    }

    #[test]
    fn asc_lc_and_he() {
        let c = lc_48k_stereo();
        assert_eq!((c.sample_rate, c.channels), (48000, 2));
        // HE-AAC explicit: aot 5, 24 kHz core, stereo, ext 48 kHz, core aot 2.
        let info = parse_asc_info(&[0x2B, 0x11, 0x88, 0x00]).expect("he-aac");
        assert_eq!(info.object_type, 2);
        assert_eq!(info.sample_rate, 24000);
        assert_eq!(parse_asc(&[0x12]), Err(AacError::AscTruncated(1)));
        assert_eq!(parse_asc(&[0x16, 0x90]), Err(AacError::SampleRateIndex(13)));
    }

    #[test]
    fn split_several_frames() {
        let cfg = lc_48k_stereo();
        let mut pes = Vec::new();
        for (i, len) in [10usize, 200, 3].into_iter().enumerate() {
            pes.extend_from_slice(&adts_header(&cfg, len));
            pes.extend(std::iter::repeat_n(i as u8, len));
        }
        let frames: Vec<_> = split_adts(&pes).collect::<Result<_, _>>().expect("frames");
        assert_eq!(frames.len(), 3);
        assert_eq!(frames[1].1, &[1u8; 200][..]);
        assert_eq!(frames[0].0, cfg);
        assert_eq!(frames[2].1.len(), 3);
    }

    #[test]
    fn split_errors() {
        let cfg = lc_48k_stereo();
        let mut pes = adts_header(&cfg, 4).to_vec();
        pes.extend_from_slice(&[1, 2, 3, 4, 0xAB, 0xCD]);
        let items: Vec<_> = split_adts(&pes).collect();
        assert_eq!(items.len(), 2);
        assert!(items[0].is_ok());
        assert_eq!(
            items[1],
            Err(AacError::AdtsTruncated {
                offset: 11,
                frame_length: 7,
                available: 2
            })
        );
        let mut bad = adts_header(&cfg, 4).to_vec();
        bad[0] = 0x12;
        assert!(matches!(
            split_adts(&bad).next(),
            Some(Err(AacError::AdtsSync { offset: 0, .. }))
        ));
        let mut short = adts_header(&cfg, 0).to_vec();
        short[4] = 0;
        short[5] &= 0x1F; // frame_length 0
        assert!(matches!(
            split_adts(&short).next(),
            Some(Err(AacError::AdtsFrameLength {
                frame_length: 0,
                ..
            }))
        ));
    }

    #[test]
    fn header_at_length_limit() {
        let cfg = lc_48k_stereo();
        let max_raw = MAX_ADTS_FRAME_LEN - ADTS_HEADER_LEN;
        let mut f = adts_header(&cfg, max_raw).to_vec();
        f.resize(MAX_ADTS_FRAME_LEN, 0);
        let (_, raw) = split_adts(&f).next().expect("one").expect("valid");
        assert_eq!(raw.len(), max_raw);
    }
}
