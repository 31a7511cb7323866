//! Crash recovery of a fragmented MP4 file: the length of its longest prefix made of whole
//! top-level boxes ending with a complete fragment (ISO/IEC 14496-12 §4.2 box headers).
//!
//! A power loss or a kill can leave the last fragment half-written. A cut inside its
//! `mdat` still opens in ffmpeg, but a cut inside its `moof` makes ffmpeg's reader fail
//! the whole file ("corrupted TRUN atom"), since it indexes every `moof` while opening.
//! Truncating the file to [`complete_len`] before reusing it (the caller does the I/O:
//! read the file, `set_len`) keeps exactly the complete fragments.

/// Box header: 32-bit size and type (§4.2); size 1 announces a 64-bit size after the type.
const HEADER_LEN: usize = 8;
const LARGE_HEADER_LEN: usize = 16;

/// Length of the prefix of `file` that ends after the last complete `mdat` that follows a
/// complete `moof` (or after the `moov` when no fragment is complete). 0 when even the
/// init segment is incomplete.
pub fn complete_len(file: &[u8]) -> usize {
    let mut pos = 0usize;
    let mut good = 0usize;
    let mut seen_moov = false;
    let mut moof_pending = false;
    while let Some((kind, len)) = box_at(file, pos) {
        let end = match pos.checked_add(len) {
            Some(end) if end <= file.len() => end,
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

/// Type and total size of the box at `pos`, if its header is whole.
fn box_at(file: &[u8], pos: usize) -> Option<([u8; 4], usize)> {
    let h = file.get(pos..pos.checked_add(HEADER_LEN)?)?;
    let size = u32::from_be_bytes([h[0], h[1], h[2], h[3]]);
    let kind = [h[4], h[5], h[6], h[7]];
    let len = match size {
        // Size 0 ("to the end of the file") cannot be known complete.
        0 => return None,
        1 => {
            let l = file.get(pos + HEADER_LEN..pos.checked_add(LARGE_HEADER_LEN)?)?;
            usize::try_from(u64::from_be_bytes(l.try_into().ok()?)).ok()?
        }
        n => usize::try_from(n).ok()?,
    };
    (len >= HEADER_LEN).then_some((kind, len))
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
}
