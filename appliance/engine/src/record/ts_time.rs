//! Timestamps inside MPEG-TS packets, read and shifted in place (ISO/IEC 13818-1 §2.4.3.4
//! adaptation field PCR, §2.4.3.7 PES PTS/DTS), and the PMT PIDs a PAT names (§2.4.4.3).
//!
//! A `ts` recording keeps the packets as they arrived; only when a new publisher continues
//! a file inside the grace period are its timestamps moved to follow the last written ones,
//! so the file has one timeline. Packets that do not parse are left untouched.

use relevo_media::timestamp::TS_MASK;
use relevo_media::ts::{PACKET_SIZE, SYNC_BYTE};

/// PES stream ids without the optional header that carries PTS/DTS (§2.4.3.7 Table 2-22:
/// program_stream_map, padding, private_stream_2, ECM, EMM, directory, DSMCC, H.222.1 E).
const NO_PES_HEADER: [u8; 8] = [0xBC, 0xBE, 0xBF, 0xF0, 0xF1, 0xFF, 0xF2, 0xF8];

/// Where the payload of a packet starts, if it has one.
fn payload_start(p: &[u8]) -> Option<usize> {
    if p.len() != PACKET_SIZE || p[0] != SYNC_BYTE {
        return None;
    }
    let afc = (p[3] >> 4) & 0b11;
    let start = match afc {
        0b01 => 4,
        0b11 => 5 + usize::from(p[4]),
        _ => return None,
    };
    (start < PACKET_SIZE).then_some(start)
}

/// The PID of a packet (13 bits).
pub(crate) fn pid(p: &[u8]) -> Option<u16> {
    (p.len() == PACKET_SIZE && p[0] == SYNC_BYTE)
        .then(|| u16::from(p[1] & 0x1F) << 8 | u16::from(p[2]))
}

fn pusi(p: &[u8]) -> bool {
    p.len() > 1 && p[1] & 0x40 != 0
}

/// Offset of the 5-byte PTS and of the DTS (if any) of the PES header starting this packet.
fn pes_stamps(p: &[u8]) -> Option<(usize, Option<usize>)> {
    if !pusi(p) {
        return None;
    }
    let s = payload_start(p)?;
    let h = p.get(s..s + 9)?;
    if h[..3] != [0, 0, 1] || NO_PES_HEADER.contains(&h[3]) || h[6] & 0xC0 != 0x80 {
        return None;
    }
    let pts = s + 9;
    p.get(pts..pts + 5)?;
    match h[7] >> 6 {
        0b10 => Some((pts, None)),
        0b11 => p.get(pts + 5..pts + 10).map(|_| (pts, Some(pts + 5))),
        _ => None,
    }
}

fn read_stamp(b: &[u8]) -> u64 {
    (u64::from(b[0] >> 1) & 0x07) << 30
        | u64::from(b[1]) << 22
        | (u64::from(b[2]) >> 1) << 15
        | u64::from(b[3]) << 7
        | u64::from(b[4]) >> 1
}

fn write_stamp(b: &mut [u8], v: u64) {
    // The 4-bit prefix ('0010', '0011' or '0001') and the marker bits are kept.
    b[0] = (b[0] & 0xF1) | (((v >> 30) & 0x07) as u8) << 1;
    b[1] = (v >> 22) as u8;
    b[2] = ((((v >> 15) & 0x7F) as u8) << 1) | 1;
    b[3] = (v >> 7) as u8;
    b[4] = (((v & 0x7F) as u8) << 1) | 1;
}

/// Offset of the PCR of this packet's adaptation field, if it carries one.
fn pcr_at(p: &[u8]) -> Option<usize> {
    if p.len() != PACKET_SIZE || p[0] != SYNC_BYTE || (p[3] >> 4) & 0b10 == 0 {
        return None;
    }
    let len = usize::from(p[4]);
    (len >= 7 && p[5] & 0x10 != 0).then_some(6)
}

/// The DTS (else the PTS) of the PES that starts in this packet, 33-bit raw.
pub(crate) fn pes_dts(p: &[u8]) -> Option<u64> {
    let (pts, dts) = pes_stamps(p)?;
    Some(read_stamp(&p[dts.unwrap_or(pts)..]))
}

/// Adds `offset` (90 kHz, modulo 2^33) to the PCR, PTS and DTS of one packet.
pub(crate) fn shift(p: &mut [u8], offset: i64) {
    let add = |v: u64| (v as i64).wrapping_add(offset).rem_euclid(1 << 33) as u64 & TS_MASK;
    if let Some(at) = pcr_at(p) {
        let b = &mut p[at..at + 6];
        let base = u64::from(b[0]) << 25
            | u64::from(b[1]) << 17
            | u64::from(b[2]) << 9
            | u64::from(b[3]) << 1
            | u64::from(b[4]) >> 7;
        let base = add(base);
        b[0] = (base >> 25) as u8;
        b[1] = (base >> 17) as u8;
        b[2] = (base >> 9) as u8;
        b[3] = (base >> 1) as u8;
        b[4] = (b[4] & 0x7F) | (((base & 1) as u8) << 7);
    }
    if let Some((pts, dts)) = pes_stamps(p) {
        for at in std::iter::once(pts).chain(dts) {
            let v = add(read_stamp(&p[at..]));
            write_stamp(&mut p[at..at + 5], v);
        }
    }
}

/// Continuity counters (§2.4.3.3) kept continuous across a publisher change: the new
/// publisher's packets are numbered after the last written ones of their PID, or a reader
/// (ffmpeg) takes the splice for lost packets and flags the frames around it corrupt.
#[derive(Debug)]
pub(crate) struct Continuity {
    /// Last counter written per PID; `NONE` when the PID has not been seen.
    last: Vec<u8>,
    /// Renumbering since the first publisher change; before it packets pass untouched.
    renumber: bool,
}

impl Continuity {
    const NONE: u8 = 0xFF;

    pub fn new() -> Self {
        Self {
            last: vec![Self::NONE; 1 << 13],
            renumber: false,
        }
    }

    /// From now on every packet continues its PID's count.
    pub fn renumber(&mut self) {
        self.renumber = true;
    }

    /// Notes (and after a publisher change, rewrites) the counter of one packet.
    pub fn apply(&mut self, p: &mut [u8]) {
        let Some(id) = pid(p) else { return };
        let Some(last) = self.last.get_mut(usize::from(id)) else {
            return;
        };
        // A packet without payload does not advance the counter (§2.4.3.3).
        let has_payload = p[3] & 0x10 != 0;
        if self.renumber && *last != Self::NONE {
            let cc = if has_payload {
                (*last + 1) & 0x0F
            } else {
                *last
            };
            p[3] = (p[3] & 0xF0) | cc;
        }
        *last = p[3] & 0x0F;
    }
}

/// The PMT PIDs named by a PAT section that starts in this packet (program 0, the NIT,
/// left out). Only single-packet PATs are read: a PAT of up to 42 programs fits one.
pub(crate) fn pat_pmt_pids(p: &[u8]) -> Vec<u16> {
    let mut pids = Vec::new();
    if !pusi(p) || pid(p) != Some(0) {
        return pids;
    }
    let Some(s) = payload_start(p) else {
        return pids;
    };
    let Some(sec) = p.get(s + 1 + usize::from(p[s])..) else {
        return pids;
    };
    if sec.len() < 8 || sec[0] != 0 {
        return pids;
    }
    let section_len = usize::from(sec[1] & 0x0F) << 8 | usize::from(sec[2]);
    // Programs run from byte 8 to the CRC (4 bytes before the section's end).
    let end = (3 + section_len).saturating_sub(4).min(sec.len());
    let mut at = 8;
    while at + 4 <= end {
        let program = u16::from(sec[at]) << 8 | u16::from(sec[at + 1]);
        if program != 0 {
            pids.push(u16::from(sec[at + 2] & 0x1F) << 8 | u16::from(sec[at + 3]));
        }
        at += 4;
    }
    pids
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A video packet: adaptation field with a PCR, then a PES header with PTS and DTS.
    fn packet(pcr: u64, pts: u64, dts: u64) -> Vec<u8> {
        let mut p = vec![SYNC_BYTE, 0x41, 0x00, 0x30, 7, 0x10];
        p.extend_from_slice(&[
            (pcr >> 25) as u8,
            (pcr >> 17) as u8,
            (pcr >> 9) as u8,
            (pcr >> 1) as u8,
            ((pcr & 1) as u8) << 7 | 0x7E,
            0,
        ]);
        p.extend_from_slice(&[0, 0, 1, 0xE0, 0, 0, 0x80, 0xC0, 10]);
        let mut t = [0x31, 0, 1, 0, 1];
        write_stamp(&mut t, pts);
        p.extend_from_slice(&t);
        let mut t = [0x11, 0, 1, 0, 1];
        write_stamp(&mut t, dts);
        p.extend_from_slice(&t);
        p.resize(PACKET_SIZE, 0xFF);
        p
    }

    #[test]
    fn shifting_moves_pcr_pts_and_dts() {
        let mut p = packet(1000, 9000, 6000);
        assert_eq!(pid(&p), Some(0x100));
        assert_eq!(pes_dts(&p), Some(6000));
        shift(&mut p, 90_000);
        assert_eq!(pes_dts(&p), Some(96_000));
        assert_eq!(p, packet(91_000, 99_000, 96_000));
        // Backwards across zero wraps modulo 2^33.
        shift(&mut p, -100_000);
        assert_eq!(p, packet(TS_MASK - 8_999, TS_MASK - 999, TS_MASK - 3_999));
    }

    #[test]
    fn counters_continue_across_a_renumbering() {
        fn cc_of(c: &mut Continuity, cc: u8, payload: bool) -> u8 {
            let mut p = packet(0, 0, 0);
            p[3] = if payload { 0x30 } else { 0x20 } | cc;
            c.apply(&mut p);
            p[3] & 0x0F
        }
        let mut c = Continuity::new();
        assert_eq!(cc_of(&mut c, 14, true), 14, "untouched before");
        assert_eq!(cc_of(&mut c, 15, true), 15);
        c.renumber();
        assert_eq!(cc_of(&mut c, 3, true), 0, "continues after 15");
        assert_eq!(cc_of(&mut c, 4, false), 0, "no payload, no step");
        assert_eq!(cc_of(&mut c, 5, true), 1);
    }

    #[test]
    fn pat_names_its_pmts() {
        // PAT: program 1 -> PID 0x1000, program 0 (NIT) -> 0x10, CRC not checked.
        let mut p = vec![SYNC_BYTE, 0x40, 0x00, 0x10, 0x00];
        p.extend_from_slice(&[0x00, 0xB0, 17, 0, 1, 0xC1, 0, 0]);
        p.extend_from_slice(&[0, 1, 0xF0, 0x00, 0, 0, 0xE0, 0x10, 1, 2, 3, 4]);
        p.resize(PACKET_SIZE, 0xFF);
        assert_eq!(pat_pmt_pids(&p), vec![0x1000]);
        assert!(pat_pmt_pids(&p[..100]).is_empty());
    }
}
