//! Transport packet header and adaptation field, ISO/IEC 13818-1 §2.4.3.2–§2.4.3.5.

use super::{TsError, PACKET_SIZE, SYNC_BYTE};

/// A parsed 188-byte packet borrowing its payload.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Packet<'a> {
    pub pid: u16,
    pub pusi: bool,
    pub cc: u8,
    pub has_payload: bool,
    pub discontinuity: bool,
    pub random_access: bool,
    pub payload: &'a [u8],
}

impl<'a> Packet<'a> {
    /// Parses one packet; `data` must be exactly [`PACKET_SIZE`] bytes starting with 0x47.
    pub(crate) fn parse(data: &'a [u8]) -> Result<Self, TsError> {
        let (Some(&b1), Some(&b2), Some(&b3)) = (data.get(1), data.get(2), data.get(3)) else {
            return Err(TsError::PartialPacket(data.len()));
        };
        if data.len() != PACKET_SIZE || data.first() != Some(&SYNC_BYTE) {
            return Err(TsError::PartialPacket(data.len()));
        }
        let pid = (u16::from(b1 & 0x1F) << 8) | u16::from(b2);
        if b1 & 0x80 != 0 {
            return Err(TsError::TransportError(pid));
        }
        let afc = (b3 >> 4) & 0x3;
        let mut packet = Packet {
            pid,
            pusi: b1 & 0x40 != 0,
            cc: b3 & 0xF,
            has_payload: afc & 0x1 != 0,
            discontinuity: false,
            random_access: false,
            payload: &[],
        };
        let mut start = 4;
        if afc & 0x2 != 0 {
            let length = data.get(4).copied().unwrap_or(0);
            let end = 5 + usize::from(length);
            // With a payload the field is at most 182 bytes, without one exactly 183.
            if end > PACKET_SIZE {
                return Err(TsError::AdaptationFieldLength { pid, length });
            }
            if length > 0 {
                let flags = data.get(5).copied().unwrap_or(0);
                packet.discontinuity = flags & 0x80 != 0;
                packet.random_access = flags & 0x40 != 0;
            }
            start = end;
        }
        if packet.has_payload {
            packet.payload = data.get(start..).unwrap_or_default();
        }
        Ok(packet)
    }
}

/// Adaptation-field options for [`write_packet`].
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct AdaptationOptions {
    /// 33-bit PCR base (extension 0).
    pub pcr: Option<u64>,
    pub random_access: bool,
}

/// Appends one packet carrying as much of `payload` as fits; stuffs the rest with an
/// adaptation field. Returns the number of payload bytes consumed.
pub(crate) fn write_packet(
    out: &mut bytes::BytesMut,
    pid: u16,
    pusi: bool,
    cc: u8,
    af: AdaptationOptions,
    payload: &[u8],
) -> usize {
    use bytes::BufMut;
    let needs_flags = af.pcr.is_some() || af.random_access;
    let base_af = if needs_flags {
        2 + if af.pcr.is_some() { 6 } else { 0 }
    } else {
        0
    };
    let room = PACKET_SIZE - 4 - base_af;
    let take = payload.len().min(room);
    let af_total = PACKET_SIZE - 4 - take;
    let afc = if af_total > 0 { 0x30 } else { 0x10 };
    out.put_u8(SYNC_BYTE);
    out.put_u8((if pusi { 0x40 } else { 0 }) | ((pid >> 8) as u8 & 0x1F));
    out.put_u8((pid & 0xFF) as u8);
    out.put_u8(afc | (cc & 0xF));
    if af_total > 0 {
        out.put_u8((af_total - 1) as u8);
        let mut written = 1;
        if af_total > 1 {
            let mut flags = 0u8;
            if af.random_access {
                flags |= 0x40;
            }
            if af.pcr.is_some() {
                flags |= 0x10;
            }
            out.put_u8(flags);
            written += 1;
            if let Some(base) = af.pcr {
                out.put_u8((base >> 25) as u8);
                out.put_u8((base >> 17) as u8);
                out.put_u8((base >> 9) as u8);
                out.put_u8((base >> 1) as u8);
                out.put_u8((((base & 1) as u8) << 7) | 0x7E);
                out.put_u8(0);
                written += 6;
            }
        }
        out.put_bytes(0xFF, af_total - written);
    }
    out.put_slice(payload.get(..take).unwrap_or_default());
    take
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;

    #[test]
    fn write_then_parse() {
        for len in [0usize, 1, 2, 50, 175, 176, 183, 184, 300] {
            for af in [
                AdaptationOptions::default(),
                AdaptationOptions {
                    pcr: Some(0x1_2345_6789),
                    random_access: true,
                },
            ] {
                let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
                let mut out = BytesMut::new();
                let took = write_packet(&mut out, 0x100, true, 5, af, &payload);
                assert_eq!(out.len(), PACKET_SIZE, "len {len}");
                let p = Packet::parse(&out).expect("valid");
                assert_eq!(p.payload, &payload[..took]);
                assert_eq!((p.pid, p.pusi, p.cc), (0x100, true, 5));
                assert_eq!(p.random_access, af.random_access);
            }
        }
    }

    #[test]
    fn rejects_bad_adaptation_length() {
        let mut pkt = [0xFFu8; PACKET_SIZE];
        pkt[..5].copy_from_slice(&[0x47, 0x01, 0x00, 0x30, 184]);
        assert!(matches!(
            Packet::parse(&pkt),
            Err(TsError::AdaptationFieldLength { length: 184, .. })
        ));
        pkt[4] = 183;
        assert!(Packet::parse(&pkt).is_ok());
    }
}
