//! Program-specific information: PAT and PMT sections (ISO/IEC 13818-1 §2.4.4), their
//! reassembly across packets and the MPEG-2 CRC_32 (Annex A).

use super::{TrackInfo, TsError, MAX_SECTION_SIZE};
use crate::frame::Codec;
use bytes::{BufMut, BytesMut};

/// stream_type code points (§2.4.4.9 Table 2-34 and its amendments); open set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StreamType(pub u8);

impl StreamType {
    pub const ADTS_AAC: StreamType = StreamType(0x0F);
    pub const H264: StreamType = StreamType(0x1B);
    pub const H265: StreamType = StreamType(0x24);

    /// The codec Relevo reassembles for this stream type, if any.
    pub fn codec(self) -> Option<Codec> {
        match self {
            Self::ADTS_AAC => Some(Codec::Aac),
            Self::H264 => Some(Codec::H264),
            Self::H265 => Some(Codec::H265),
            _ => None,
        }
    }

    pub fn for_codec(codec: Codec) -> Self {
        match codec {
            Codec::H264 => Self::H264,
            Codec::H265 => Self::H265,
            Codec::Aac => Self::ADTS_AAC,
        }
    }
}

pub(crate) const TABLE_PAT: u8 = 0x00;
pub(crate) const TABLE_PMT: u8 = 0x02;

const fn crc_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = (i as u32) << 24;
        let mut k = 0;
        while k < 8 {
            c = if c & 0x8000_0000 != 0 {
                (c << 1) ^ 0x04C1_1DB7
            } else {
                c << 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
}

static CRC_TABLE: [u32; 256] = crc_table();

/// CRC_32 of ISO/IEC 13818-1 Annex A (polynomial 0x04C11DB7, init all ones, no reflection).
pub fn crc32_mpeg2(data: &[u8]) -> u32 {
    data.iter().fold(0xFFFF_FFFF, |crc, &b| {
        (crc << 8) ^ CRC_TABLE[(((crc >> 24) as u8) ^ b) as usize]
    })
}

/// Collects one section across packets (pointer_field handling, §2.4.4.2).
#[derive(Debug, Default)]
pub(crate) struct SectionBuffer {
    buf: Vec<u8>,
    active: bool,
}

impl SectionBuffer {
    /// Feeds a packet payload; returns a complete section when one is available.
    pub(crate) fn push(&mut self, pusi: bool, payload: &[u8]) -> Option<Vec<u8>> {
        let data = if pusi {
            let pointer = usize::from(*payload.first()?);
            let data = payload.get(1 + pointer..)?;
            self.buf.clear();
            self.active = true;
            data
        } else if self.active {
            payload
        } else {
            return None;
        };
        let room = MAX_SECTION_SIZE.saturating_sub(self.buf.len());
        self.buf
            .extend_from_slice(data.get(..room.min(data.len())).unwrap_or_default());
        let total = section_total_len(&self.buf)?;
        if self.buf.len() >= total {
            self.active = false;
            let mut section = std::mem::take(&mut self.buf);
            section.truncate(total);
            return Some(section);
        }
        if self.buf.len() >= MAX_SECTION_SIZE {
            self.active = false;
            self.buf.clear();
        }
        None
    }
}

fn section_total_len(buf: &[u8]) -> Option<usize> {
    let (b1, b2) = (*buf.get(1)?, *buf.get(2)?);
    Some(3 + ((usize::from(b1 & 0x0F) << 8) | usize::from(b2)))
}

/// Checks table_id, length and CRC; returns the section body between the 8-byte long
/// header and the CRC, and the current_next_indicator.
fn check_section(pid: u16, section: &[u8], table_id: u8) -> Result<(&[u8], bool), TsError> {
    let found = section.first().copied().unwrap_or(0xFF);
    if found == 0xFF {
        // Stuffing only.
        return Err(TsError::SectionLength(0));
    }
    if found != table_id {
        return Err(TsError::TableId {
            pid,
            expected: table_id,
            found,
        });
    }
    let total = section_total_len(section).ok_or(TsError::SectionLength(section.len()))?;
    if !(12..=MAX_SECTION_SIZE).contains(&total) || total > section.len() {
        return Err(TsError::SectionLength(total));
    }
    let (body, crc) = section.split_at(total - 4);
    let mut carried = [0u8; 4];
    carried.copy_from_slice(crc.get(..4).unwrap_or(&[0; 4]));
    let carried = u32::from_be_bytes(carried);
    let computed = crc32_mpeg2(body);
    if carried != computed {
        return Err(TsError::Crc {
            table_id,
            carried,
            computed,
        });
    }
    let current = body.get(5).is_some_and(|b| b & 1 == 1);
    Ok((body.get(8..).unwrap_or_default(), current))
}

/// PMT PID of the first program in a PAT (program_number 0 is the network PID).
pub(crate) fn parse_pat(section: &[u8]) -> Result<Option<u16>, TsError> {
    let (body, current) = check_section(0, section, TABLE_PAT)?;
    if !current {
        return Ok(None);
    }
    Ok(body.chunks_exact(4).find_map(|p| {
        let program = u16::from_be_bytes([p[0], p[1]]);
        (program != 0).then(|| (u16::from(p[2] & 0x1F) << 8) | u16::from(p[3]))
    }))
}

/// The elementary streams of a PMT, in order.
pub(crate) fn parse_pmt(pid: u16, section: &[u8]) -> Result<Option<Vec<TrackInfo>>, TsError> {
    let (body, current) = check_section(pid, section, TABLE_PMT)?;
    if !current {
        return Ok(None);
    }
    let info_len = body
        .get(2..4)
        .map(|b| (usize::from(b[0] & 0x0F) << 8) | usize::from(b[1]))
        .ok_or(TsError::PmtLength(body.len()))?;
    let mut es = body
        .get(4 + info_len..)
        .ok_or(TsError::PmtLength(info_len))?;
    let mut tracks = Vec::new();
    while let Some(h) = es.get(..5) {
        let stream_type = h[0];
        let es_pid = (u16::from(h[1] & 0x1F) << 8) | u16::from(h[2]);
        let es_info_len = (usize::from(h[3] & 0x0F) << 8) | usize::from(h[4]);
        let info = es
            .get(5..5 + es_info_len)
            .ok_or(TsError::PmtLength(es_info_len))?;
        es = es.get(5 + es_info_len..).unwrap_or_default();
        let (registration, descriptor_tags) = es_descriptors(info);
        tracks.push(TrackInfo {
            pid: es_pid,
            stream_type,
            codec: StreamType(stream_type).codec(),
            registration,
            descriptor_tags,
        });
    }
    Ok(Some(tracks))
}

/// Tag of the registration descriptor (§2.6.8).
const REGISTRATION_DESCRIPTOR: u8 = 0x05;

/// The registration descriptor's format_identifier and the other descriptors' tags of
/// one ES_info loop (§2.6: tag, length, body). A descriptor that overruns the loop ends it.
fn es_descriptors(mut info: &[u8]) -> (Option<[u8; 4]>, Vec<u8>) {
    let mut registration = None;
    let mut tags = Vec::new();
    while let [tag, len, rest @ ..] = info {
        let Some(body) = rest.get(..usize::from(*len)) else {
            break;
        };
        match (*tag, body) {
            (REGISTRATION_DESCRIPTOR, [a, b, c, d, ..]) if registration.is_none() => {
                registration = Some([*a, *b, *c, *d]);
            }
            _ => tags.push(*tag),
        }
        info = rest.get(usize::from(*len)..).unwrap_or_default();
    }
    (registration, tags)
}

fn finish_section(mut s: BytesMut) -> BytesMut {
    // section_length counts everything after itself, CRC included.
    let len = s.len() - 3 + 4;
    s[1] = 0xB0 | ((len >> 8) as u8 & 0x0F);
    s[2] = (len & 0xFF) as u8;
    let crc = crc32_mpeg2(&s);
    s.put_u32(crc);
    s
}

/// A PAT section with one program.
pub(crate) fn build_pat(program: u16, pmt_pid: u16) -> BytesMut {
    let mut s = BytesMut::with_capacity(16);
    s.put_u8(TABLE_PAT);
    s.put_u16(0); // length, patched
    s.put_u16(1); // transport_stream_id
    s.put_u8(0xC1); // version 0, current
    s.put_u16(0); // section_number, last_section_number
    s.put_u16(program);
    s.put_u16(0xE000 | pmt_pid);
    finish_section(s)
}

/// A PMT section listing `streams` as (stream_type, pid).
pub(crate) fn build_pmt(program: u16, pcr_pid: u16, streams: &[(StreamType, u16)]) -> BytesMut {
    let mut s = BytesMut::with_capacity(32);
    s.put_u8(TABLE_PMT);
    s.put_u16(0);
    s.put_u16(program);
    s.put_u8(0xC1);
    s.put_u16(0);
    s.put_u16(0xE000 | pcr_pid);
    s.put_u16(0xF000); // program_info_length 0
    for (t, pid) in streams {
        s.put_u8(t.0);
        s.put_u16(0xE000 | pid);
        s.put_u16(0xF000);
    }
    finish_section(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_known_value() {
        // The standard PAT ffmpeg writes (tsid 1, program 1 -> PID 0x1000).
        let pat = [
            0x00, 0xB0, 0x0D, 0x00, 0x01, 0xC1, 0x00, 0x00, 0x00, 0x01, 0xF0, 0x00,
        ];
        assert_eq!(crc32_mpeg2(&pat), 0x2AB1_04B2);
        assert_eq!(&build_pat(1, 0x1000)[..12], &pat);
    }

    #[test]
    fn pmt_round_trip_and_crc_error() {
        let s = build_pmt(
            1,
            0x100,
            &[(StreamType::H264, 0x100), (StreamType(0x06), 0x102)],
        );
        let tracks = parse_pmt(0x1000, &s).expect("valid").expect("current");
        assert_eq!(tracks.len(), 2);
        assert_eq!(tracks[0].codec, Some(Codec::H264));
        assert_eq!(tracks[1].codec, None);
        let mut bad = s.to_vec();
        bad[13] ^= 1;
        assert!(matches!(parse_pmt(0x1000, &bad), Err(TsError::Crc { .. })));
        assert!(matches!(
            parse_pat(&s),
            Err(TsError::TableId { found: 2, .. })
        ));
    }

    /// A PMT with one stream of `stream_type` and the ES_info loop `info`.
    fn pmt_with_info(stream_type: u8, info: &[u8]) -> Vec<u8> {
        let mut s = BytesMut::new();
        s.put_u8(TABLE_PMT);
        s.put_u16(0);
        s.put_u16(1);
        s.put_u8(0xC1);
        s.put_u16(0);
        s.put_u16(0xE100);
        s.put_u16(0xF000);
        s.put_u8(stream_type);
        s.put_u16(0xE101);
        s.put_u16(0xF000 | info.len() as u16);
        s.put_slice(info);
        finish_section(s).to_vec()
    }

    #[test]
    fn pmt_reads_the_registration_and_descriptor_tags_of_private_streams() {
        // ffmpeg's Opus in TS: registration "Opus", then the DVB extension descriptor.
        let opus = pmt_with_info(
            0x06,
            &[0x05, 4, b'O', b'p', b'u', b's', 0x7F, 2, 0x80, 0x02],
        );
        let t = &parse_pmt(0x1000, &opus).expect("valid").expect("current")[0];
        assert_eq!((t.stream_type, t.codec), (0x06, None));
        assert_eq!(t.registration, Some(*b"Opus"));
        assert_eq!(t.descriptor_tags, vec![0x7F]);
        // DVB AC-3 (ffmpeg's `-mpegts_flags system_b`): the AC-3 descriptor, no registration.
        let ac3 = pmt_with_info(0x06, &[0x6A, 1, 0x00]);
        let t = &parse_pmt(0x1000, &ac3).expect("valid").expect("current")[0];
        assert_eq!(
            (t.registration, t.descriptor_tags.clone()),
            (None, vec![0x6A])
        );
        // A descriptor longer than the loop ends it without an error.
        let cut = pmt_with_info(0x06, &[0x6A, 1, 0x00, 0x05, 9, b'A']);
        let t = &parse_pmt(0x1000, &cut).expect("valid").expect("current")[0];
        assert_eq!(
            (t.registration, t.descriptor_tags.clone()),
            (None, vec![0x6A])
        );
        // An ES_info loop longer than the section is refused as before.
        let mut bad = pmt_with_info(0x06, &[0x6A, 1, 0x00]);
        bad[16] = 0x20; // es_info_length low byte: 32
        let body_len = bad.len() - 4;
        let crc = crc32_mpeg2(&bad[..body_len]);
        bad[body_len..].copy_from_slice(&crc.to_be_bytes());
        assert!(matches!(
            parse_pmt(0x1000, &bad),
            Err(TsError::PmtLength(32))
        ));
    }

    #[test]
    fn section_buffer_spans_packets() {
        let s = build_pmt(1, 0x100, &[(StreamType::H264, 0x100)]);
        let mut b = SectionBuffer::default();
        let mut first = vec![0u8];
        first.extend_from_slice(&s[..10]);
        assert_eq!(b.push(true, &first), None);
        let mut rest = s[10..].to_vec();
        rest.extend_from_slice(&[0xFF; 20]);
        assert_eq!(b.push(false, &rest).as_deref(), Some(&s[..]));
    }
}
