//! The init segment: `ftyp` + `moov` with one `trak` per track and `mvex`/`trex`
//! (ISO/IEC 14496-12 §8.2–8.8), no samples (every sample lives in a fragment).

use super::{Mp4Error, TrackConfig};
use crate::flv::{avc_decoder_config, hevc_decoder_config};
use crate::frame::{AudioConfig, Codec, VideoConfig};
use crate::sps::dimensions;
use bytes::{Bytes, BytesMut};
use mp4_atom::esds::{DecoderConfig, DecoderSpecific, EsDescriptor};
use mp4_atom::{
    Atom, Audio, Avc1, Avcc, Codec as SampleEntry, Dinf, Dref, DrefEntry, Encode, Esds, FixedPoint,
    FourCC, Ftyp, Hdlr, Hvc1, Hvcc, Mdhd, Mdia, Minf, Moov, Mp4a, Mvex, Mvhd, Smhd, Stbl, Stco,
    Stsd, Tkhd, Trak, Trex, Url, Visual, Vmhd,
};

/// Video timescale: the 90 kHz clock of the input, so no timestamp is rounded.
pub(crate) const VIDEO_TIMESCALE: u32 = 90_000;

/// Movie timescale of `mvhd` (only durations would use it, and they are 0 here).
const MOVIE_TIMESCALE: u32 = 1000;

/// MPEG-4 Audio objectTypeIndication (ISO/IEC 14496-1 Table 5, 0x40 = ISO/IEC 14496-3).
const OTI_MPEG4_AUDIO: u8 = 0x40;

/// streamType AudioStream (ISO/IEC 14496-1 Table 6).
const STREAM_TYPE_AUDIO: u8 = 0x05;

/// The brands: `iso6` for signed trun offsets (v1) and `tfdt`, `iso5` for
/// default-base-is-moof, `mp41` for older readers (ISO/IEC 14496-12 §E.3–E.6).
const BRANDS: [&[u8; 4]; 3] = [b"iso6", b"iso5", b"mp41"];

/// The track timescale of `config`.
pub(crate) fn timescale(config: &TrackConfig) -> u32 {
    match config {
        TrackConfig::Video(_) => VIDEO_TIMESCALE,
        TrackConfig::Audio(a) => a.sample_rate,
    }
}

/// `ftyp` + `moov` for `tracks`; track ids are 1-based positions.
pub(crate) fn init_segment(tracks: &[TrackConfig]) -> Result<Bytes, Mp4Error> {
    let ftyp = Ftyp {
        major_brand: FourCC::new(BRANDS[0]),
        minor_version: 0,
        compatible_brands: BRANDS.iter().map(|b| FourCC::new(b)).collect(),
    };
    let mut trak = Vec::with_capacity(tracks.len());
    let mut trex = Vec::with_capacity(tracks.len());
    for (i, config) in tracks.iter().enumerate() {
        let track_id = track_id(i);
        trak.push(track(track_id, config)?);
        trex.push(Trex {
            track_id,
            default_sample_description_index: 1,
            ..Default::default()
        });
    }
    let moov = Moov {
        mvhd: Mvhd {
            timescale: MOVIE_TIMESCALE,
            next_track_id: track_id(tracks.len()),
            ..Default::default()
        },
        mvex: Some(Mvex { mehd: None, trex }),
        trak,
        ..Default::default()
    };
    let mut out = BytesMut::new();
    ftyp.encode(&mut out)?;
    moov.encode(&mut out)?;
    Ok(out.freeze())
}

/// Track id of the track at `index` (ids start at 1, ISO/IEC 14496-12 §8.3.2.3).
pub(crate) fn track_id(index: usize) -> u32 {
    u32::try_from(index).map_or(u32::MAX, |i| i.saturating_add(1))
}

fn track(track_id: u32, config: &TrackConfig) -> Result<Trak, Mp4Error> {
    let (entry, handler, name, width, height) = match config {
        TrackConfig::Video(v) => {
            let (w, h) = dimensions(v.codec, &v.sps).unwrap_or((0, 0));
            (video_entry(v, w, h)?, b"vide", "Relevo video", w, h)
        }
        TrackConfig::Audio(a) => (audio_entry(a), b"soun", "Relevo audio", 0, 0),
    };
    let is_audio = matches!(config, TrackConfig::Audio(_));
    let minf = Minf {
        vmhd: (!is_audio).then(Vmhd::default),
        smhd: is_audio.then(Smhd::default),
        dinf: Dinf {
            dref: Dref {
                entries: vec![DrefEntry::Url(Url::default())],
            },
        },
        stbl: Stbl {
            stsd: Stsd {
                codecs: vec![entry],
            },
            stco: Some(Stco::default()),
            ..Default::default()
        },
        ..Default::default()
    };
    Ok(Trak {
        tkhd: Tkhd {
            track_id,
            enabled: true,
            in_movie: true,
            volume: if is_audio {
                FixedPoint::new(1, 0)
            } else {
                FixedPoint::new(0, 0)
            },
            // Only audio tracks of the same kind are alternatives; video stands alone.
            alternate_group: u16::from(is_audio),
            width: FixedPoint::new(width, 0),
            height: FixedPoint::new(height, 0),
            ..Default::default()
        },
        mdia: Mdia {
            mdhd: Mdhd {
                timescale: super::init::timescale(config),
                language: "und".into(),
                ..Default::default()
            },
            hdlr: Hdlr {
                handler: FourCC::new(handler),
                name: name.into(),
            },
            minf,
        },
        ..Default::default()
    })
}

/// `avc1`+`avcC` or `hvc1`+`hvcC`. The configuration records are the ones the FLV side
/// already builds (14496-15 §5.3.3.1 / §8.3.3.1), decoded into mp4-atom's types.
fn video_entry(v: &VideoConfig, width: u16, height: u16) -> Result<SampleEntry, Mp4Error> {
    let visual = Visual {
        data_reference_index: 1,
        width,
        height,
        ..Default::default()
    };
    match v.codec {
        Codec::H265 => {
            let record = hevc_decoder_config(v);
            let hvcc = Hvcc::decode_body(&mut record.as_ref())?;
            Ok(SampleEntry::Hvc1(Hvc1 {
                visual,
                hvcc,
                ..Default::default()
            }))
        }
        _ => {
            let record = avc_decoder_config(v);
            let avcc = Avcc::decode_body(&mut record.as_ref())?;
            Ok(SampleEntry::Avc1(Avc1 {
                visual,
                avcc,
                ..Default::default()
            }))
        }
    }
}

/// `mp4a`+`esds` with the AudioSpecificConfig as DecoderSpecificInfo (ISO/IEC 14496-14
/// §5.6, 14496-1 §7.2.6.5–7.2.6.7).
fn audio_entry(a: &AudioConfig) -> SampleEntry {
    SampleEntry::Mp4a(Mp4a {
        audio: Audio {
            data_reference_index: 1,
            channel_count: u16::from(if a.channels == 0 { 2 } else { a.channels }),
            sample_size: 16,
            // 16.16 fixed point: rates above 65535 Hz do not fit and are written as 0;
            // decoders take the rate from the AudioSpecificConfig anyway.
            sample_rate: FixedPoint::new(u16::try_from(a.sample_rate).unwrap_or(0), 0),
        },
        esds: Esds {
            es_desc: EsDescriptor {
                es_id: 0,
                dec_config: DecoderConfig {
                    object_type_indication: OTI_MPEG4_AUDIO,
                    stream_type: STREAM_TYPE_AUDIO,
                    up_stream: 0,
                    buffer_size_db: Default::default(),
                    max_bitrate: 0,
                    avg_bitrate: 0,
                    dec_specific: Some(DecoderSpecific {
                        raw: a.asc.to_vec(),
                        ..Default::default()
                    }),
                },
                ..Default::default()
            },
        },
        btrt: None,
        taic: None,
    })
}
