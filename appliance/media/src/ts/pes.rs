//! PES packet header (ISO/IEC 13818-1 §2.4.3.6–§2.4.3.7): parse and write.

use super::TsError;
use bytes::{BufMut, BytesMut};

/// stream_id values (Table 2-22) used here.
pub(crate) const STREAM_ID_VIDEO: u8 = 0xE0;
pub(crate) const STREAM_ID_AUDIO: u8 = 0xC0;

/// A parsed PES header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PesHeader {
    /// PES_packet_length (0 = unbounded, video only).
    pub packet_length: u16,
    pub pts: Option<u64>,
    pub dts: Option<u64>,
    /// Offset of the elementary-stream data within the PES.
    pub payload_offset: usize,
}

/// Stream ids without the optional PES header (§2.4.3.7, the first `if` of Table 2-21).
fn has_optional_header(stream_id: u8) -> bool {
    !matches!(
        stream_id,
        0xBC | 0xBE | 0xBF | 0xF0 | 0xF1 | 0xF2 | 0xF8 | 0xFF
    )
}

fn read_timestamp(b: &[u8]) -> Option<u64> {
    let b = b.get(..5)?;
    Some(
        (u64::from(b[0] >> 1) & 0x7) << 30
            | u64::from(b[1]) << 22
            | u64::from(b[2] >> 1) << 15
            | u64::from(b[3]) << 7
            | u64::from(b[4] >> 1),
    )
}

/// Parses the header at the start of `pes`.
pub(crate) fn parse_header(pid: u16, pes: &[u8]) -> Result<PesHeader, TsError> {
    let truncated = || TsError::PesHeaderTruncated {
        pid,
        len: pes.len(),
    };
    let start = pes.get(..6).ok_or_else(truncated)?;
    if start[..3] != [0, 0, 1] {
        return Err(TsError::PesStartCode {
            pid,
            found: [start[0], start[1], start[2]],
        });
    }
    let packet_length = u16::from_be_bytes([start[4], start[5]]);
    if !has_optional_header(start[3]) {
        return Ok(PesHeader {
            packet_length,
            pts: None,
            dts: None,
            payload_offset: 6,
        });
    }
    let opt = pes.get(6..9).ok_or_else(truncated)?;
    let flags = opt[1] >> 6;
    let header_len = usize::from(opt[2]);
    let fields = pes.get(9..9 + header_len).ok_or_else(truncated)?;
    let pts = if flags & 0x2 != 0 {
        Some(read_timestamp(fields).ok_or_else(truncated)?)
    } else {
        None
    };
    let dts = if flags == 0x3 {
        Some(read_timestamp(fields.get(5..).unwrap_or_default()).ok_or_else(truncated)?)
    } else {
        None
    };
    Ok(PesHeader {
        packet_length,
        pts,
        dts,
        payload_offset: 9 + header_len,
    })
}

fn put_timestamp(out: &mut BytesMut, prefix: u8, ts: u64) {
    out.put_u8((prefix << 4) | (((ts >> 29) as u8) & 0x0E) | 1);
    out.put_u8((ts >> 22) as u8);
    out.put_u8((((ts >> 14) as u8) & 0xFE) | 1);
    out.put_u8((ts >> 7) as u8);
    out.put_u8((((ts << 1) as u8) & 0xFE) | 1);
}

/// Writes a PES header for `payload_len` bytes of data. `pts`/`dts` are 33-bit values;
/// DTS is written only when it differs from PTS. A length that does not fit 16 bits, or
/// `unbounded`, writes PES_packet_length 0.
pub(crate) fn write_header(
    out: &mut BytesMut,
    stream_id: u8,
    pts: u64,
    dts: u64,
    payload_len: usize,
    unbounded: bool,
) {
    let with_dts = dts != pts;
    let header_len: u8 = if with_dts { 10 } else { 5 };
    let len = 3 + usize::from(header_len) + payload_len;
    let packet_length = if unbounded {
        0
    } else {
        u16::try_from(len).unwrap_or(0)
    };
    out.put_slice(&[0, 0, 1, stream_id]);
    out.put_u16(packet_length);
    out.put_u8(0x84); // '10', data_alignment_indicator
    out.put_u8(if with_dts { 0xC0 } else { 0x80 });
    out.put_u8(header_len);
    if with_dts {
        put_timestamp(out, 0x3, pts);
        put_timestamp(out, 0x1, dts);
    } else {
        put_timestamp(out, 0x2, pts);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip() {
        let max = (1u64 << 33) - 1;
        for (pts, dts) in [(0, 0), (max, max - 3000), (0x1_2345_6789, 0x1_2345_6789)] {
            let mut out = BytesMut::new();
            write_header(&mut out, STREAM_ID_VIDEO, pts, dts, 10, true);
            let h = parse_header(0x100, &out).expect("valid");
            assert_eq!(h.pts, Some(pts));
            assert_eq!(h.dts, (pts != dts).then_some(dts));
            assert_eq!(h.payload_offset, out.len());
            assert_eq!(h.packet_length, 0);
        }
        let mut out = BytesMut::new();
        write_header(&mut out, STREAM_ID_AUDIO, 1, 1, 100, false);
        assert_eq!(parse_header(0x101, &out).expect("valid").packet_length, 108);
    }

    #[test]
    fn header_errors() {
        assert!(matches!(
            parse_header(1, &[0, 0, 1, 0xE0, 0, 0, 0x80, 0x80, 5, 0x21]),
            Err(TsError::PesHeaderTruncated { .. })
        ));
        assert!(matches!(
            parse_header(1, &[0, 0, 2, 0xE0, 0, 0]),
            Err(TsError::PesStartCode {
                found: [0, 0, 2],
                ..
            })
        ));
    }
}
