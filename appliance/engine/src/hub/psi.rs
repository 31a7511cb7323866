//! Just enough PSI reading to keep the latest PAT and PMT for joining SRT outputs
//! (ISO/IEC 13818-1 §2.4.4.3 program_association_section). Full demuxing is in
//! `relevo-media`; this only needs the PMT PIDs, per packet, without buffering.

use relevo_media::ts::PACKET_SIZE;

/// PID of a packet, or None if it is not a TS packet.
pub fn pid(packet: &[u8]) -> Option<u16> {
    if packet.len() < 4 || packet[0] != 0x47 {
        return None;
    }
    Some(u16::from(packet[1] & 0x1f) << 8 | u16::from(packet[2]))
}

/// PMT PIDs listed in a single-packet PAT (the only kind encoders send for one program).
pub fn pat_pmt_pids(packet: &[u8]) -> Vec<u16> {
    let mut pids = Vec::new();
    if packet.len() != PACKET_SIZE || pid(packet) != Some(0) || packet[1] & 0x40 == 0 {
        return pids;
    }
    let mut pos = 4;
    if packet[3] & 0x20 != 0 {
        pos += 1 + usize::from(packet[4]);
    }
    let Some(&pointer) = packet.get(pos) else {
        return pids;
    };
    let table = pos + 1 + usize::from(pointer);
    let (Some(&table_id), Some(&hi), Some(&lo)) = (
        packet.get(table),
        packet.get(table + 1),
        packet.get(table + 2),
    ) else {
        return pids;
    };
    if table_id != 0 {
        return pids;
    }
    let section_len = usize::from(hi & 0x0f) << 8 | usize::from(lo);
    // After section_length: 5 bytes of header, programs of 4 bytes, 4 bytes of CRC.
    let start = table + 3 + 5;
    let end = (table + 3 + section_len).saturating_sub(4).min(PACKET_SIZE);
    let mut p = start;
    while p + 4 <= end {
        let program = u16::from(packet[p]) << 8 | u16::from(packet[p + 1]);
        let pid = u16::from(packet[p + 2] & 0x1f) << 8 | u16::from(packet[p + 3]);
        if program != 0 {
            pids.push(pid);
        }
        p += 4;
    }
    pids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_pmt_pid_from_ffmpeg_pat() {
        // PAT as written by ffmpeg's mpegts muxer: program 1 → PMT PID 0x1000.
        let mut pkt = vec![
            0x47, 0x40, 0x00, 0x10, 0x00, 0x00, 0xb0, 0x0d, 0x00, 0x01, 0xc1, 0x00, 0x00, 0x00,
            0x01, 0xf0, 0x00, 0x2a, 0xb1, 0x04, 0xb2,
        ];
        pkt.resize(PACKET_SIZE, 0xff);
        assert_eq!(pid(&pkt), Some(0));
        assert_eq!(pat_pmt_pids(&pkt), vec![0x1000]);
    }

    #[test]
    fn ignores_garbage() {
        assert!(pat_pmt_pids(&[0u8; 188]).is_empty());
        assert!(pat_pmt_pids(&[0x47, 0x40]).is_empty());
        let mut pkt = vec![0x47, 0x40, 0x00, 0x10, 0xff];
        pkt.resize(PACKET_SIZE, 0xff);
        assert!(pat_pmt_pids(&pkt).is_empty());
    }
}
