//! Crash recovery of a fragmented MP4 file: the length of its longest prefix made of whole
//! top-level boxes ending with a complete fragment (ISO/IEC 14496-12 §4.2 box headers).
//!
//! A power loss or a kill can leave the last fragment half-written. A cut inside its
//! `mdat` still opens in ffmpeg, but a cut inside its `moof` makes ffmpeg's reader fail
//! the whole file ("corrupted TRUN atom"), since it indexes every `moof` while opening.
//! Truncating the file to [`complete_len`] before reusing it (the caller does the I/O:
//! positioned reads of box headers for [`complete_len_by`], then `set_len`) keeps exactly
//! the complete fragments.

use super::probe::{BoxHeader, MAX_HEADER_LEN};

/// Length of the prefix of `file` that ends after the last complete `mdat` that follows a
/// complete `moof` (or after the `moov` when no fragment is complete). 0 when even the
/// init segment is incomplete.
pub fn complete_len(file: &[u8]) -> usize {
    let len = complete_len_by(file.len() as u64, |pos, buf| {
        let rest = usize::try_from(pos)
            .ok()
            .and_then(|p| file.get(p..))
            .unwrap_or_default();
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        n
    });
    usize::try_from(len).unwrap_or(file.len())
}

/// [`complete_len`] of a file of `len` bytes that is never held whole: only box headers
/// are read, through `read_at(pos, buf)`, which fills `buf` (up to [`MAX_HEADER_LEN`]
/// bytes) from offset `pos` and returns how many bytes it read (fewer at the end of the
/// file or on an error, which ends the walk there). A one-hour recording is a few
/// thousand boxes, so a few thousand small reads.
pub fn complete_len_by(len: u64, mut read_at: impl FnMut(u64, &mut [u8]) -> usize) -> u64 {
    let mut pos = 0u64;
    let mut good = 0u64;
    let mut seen_moov = false;
    let mut moof_pending = false;
    let mut header = [0u8; MAX_HEADER_LEN];
    loop {
        let want = usize::try_from(len.saturating_sub(pos))
            .unwrap_or(MAX_HEADER_LEN)
            .min(MAX_HEADER_LEN);
        let got = read_at(pos, &mut header[..want]).min(want);
        // Size 0 ("to the end of the file") cannot be known complete.
        let Ok(BoxHeader {
            kind,
            size: Some(size),
            ..
        }) = BoxHeader::parse(&header[..got])
        else {
            break;
        };
        let end = match pos.checked_add(size) {
            Some(end) if end <= len => end,
            _ => break,
        };
        match &kind {
            b"moov" => {
                seen_moov = true;
                good = end;
            }
            b"moof" => moof_pending = true,
            b"mdat" if moof_pending => {
                moof_pending = false;
                if seen_moov {
                    good = end;
                }
            }
            _ => {}
        }
        pos = end;
    }
    good
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(kind: &[u8; 4], body: usize) -> Vec<u8> {
        let mut v = u32::try_from(body + 8)
            .expect("small")
            .to_be_bytes()
            .to_vec();
        v.extend_from_slice(kind);
        v.resize(body + 8, 0);
        v
    }

    #[test]
    fn keeps_whole_fragments_only() {
        let init = [b(b"ftyp", 8), b(b"moov", 20)].concat();
        let frag = [b(b"moof", 30), b(b"mdat", 50)].concat();
        let file = [init.clone(), frag.clone(), frag.clone()].concat();
        assert_eq!(complete_len(&file), file.len());
        for cut in 1..frag.len() {
            let f = &file[..init.len() + frag.len() + cut];
            assert_eq!(complete_len(f), init.len() + frag.len(), "cut {cut}");
        }
        assert_eq!(complete_len(&init), init.len());
        assert_eq!(complete_len(&init[..init.len() - 1]), 0);
        assert_eq!(complete_len(&[]), 0);
        // A bad size (< header) stops the walk.
        let mut bad = file.clone();
        bad[init.len()..init.len() + 4].copy_from_slice(&3u32.to_be_bytes());
        assert_eq!(complete_len(&bad), init.len());
    }

    #[test]
    fn large_sizes_are_read_and_a_torn_large_header_stops_the_walk() {
        let init = [b(b"ftyp", 8), b(b"moov", 20)].concat();
        let mut mdat = 1u32.to_be_bytes().to_vec();
        mdat.extend_from_slice(b"mdat");
        mdat.extend_from_slice(&40u64.to_be_bytes());
        mdat.resize(40, 0);
        let file = [init.clone(), b(b"moof", 30), mdat].concat();
        assert_eq!(complete_len(&file), file.len());
        let torn = init.len() + 38 + 12;
        assert_eq!(complete_len(&file[..torn]), init.len());
    }
}
