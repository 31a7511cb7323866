//! 90 kHz timestamp helpers and the unwrapper for 33-bit MPEG-TS timestamps.
//!
//! PTS/DTS/PCR base in ISO/IEC 13818-1 §2.4.3.7 are 33-bit counters at 90 kHz that wrap
//! every ~26.5 hours; Relevo carries unwrapped `i64` ticks everywhere else.

/// Period of a 33-bit MPEG timestamp (ISO/IEC 13818-1 §2.4.3.7).
pub const TS_WRAP: i64 = 1 << 33;

/// Mask for the low 33 bits.
pub const TS_MASK: u64 = (1 << 33) - 1;

/// Turns successive 33-bit timestamps into a continuous `i64` timeline.
///
/// Each value is placed at the distance from the previous one that is shortest modulo
/// 2^33, so a forward wrap adds 2^33 and a small backward jump (B-frames, PTS vs DTS,
/// audio vs video) stays a small backward jump instead of a false wrap. The first value
/// is returned unchanged.
#[derive(Debug, Clone, Default)]
pub struct Unwrapper33 {
    last: Option<i64>,
}

impl Unwrapper33 {
    pub fn new() -> Self {
        Self { last: None }
    }

    /// Unwraps one raw timestamp (bits above 33 are ignored).
    pub fn unwrap(&mut self, raw33: u64) -> i64 {
        // Masked to 33 bits, so the cast cannot overflow.
        let raw = (raw33 & TS_MASK) as i64;
        let value = match self.last {
            None => raw,
            Some(last) => {
                let mut diff = (raw - last.rem_euclid(TS_WRAP)).rem_euclid(TS_WRAP);
                if diff >= TS_WRAP / 2 {
                    diff -= TS_WRAP;
                }
                last.saturating_add(diff)
            }
        };
        self.last = Some(value);
        value
    }

    /// Forgets the history: the next value is taken as is.
    pub fn reset(&mut self) {
        self.last = None;
    }
}

/// Milliseconds to 90 kHz ticks (saturating).
pub fn ms_to_90k(ms: i64) -> i64 {
    ms.saturating_mul(90)
}

/// 90 kHz ticks to milliseconds, rounded towards minus infinity.
pub fn ticks_to_ms(t90k: i64) -> i64 {
    t90k.div_euclid(90)
}

/// Low 33 bits of an unwrapped timestamp, as written into PES headers and PCR.
pub fn to_33(t90k: i64) -> u64 {
    // rem_euclid is in 0..2^33, so the cast is lossless.
    t90k.rem_euclid(TS_WRAP) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_value_is_unchanged() {
        let mut u = Unwrapper33::new();
        assert_eq!(u.unwrap(12345), 12345);
    }

    #[test]
    fn forward_wrap_keeps_counting() {
        let mut u = Unwrapper33::new();
        let start = TS_WRAP - 3000;
        let mut expected = start;
        assert_eq!(u.unwrap(start as u64), start);
        for _ in 0..10 {
            expected += 1500;
            assert_eq!(u.unwrap(to_33(expected)), expected);
        }
        assert!(expected > TS_WRAP);
        // A second wrap.
        let far = 2 * TS_WRAP + 10;
        let mut t = expected;
        while t < far {
            t += 1 << 30;
            assert_eq!(u.unwrap(to_33(t)), t);
        }
    }

    #[test]
    fn small_backward_jumps_are_not_wraps() {
        let mut u = Unwrapper33::new();
        assert_eq!(u.unwrap(100_000), 100_000);
        assert_eq!(u.unwrap(97_000), 97_000);
        // Backward across the wrap point: B-frame PTS before the wrap after a DTS after it.
        let mut u = Unwrapper33::new();
        assert_eq!(u.unwrap(10), 10);
        assert_eq!(u.unwrap((TS_WRAP - 3000) as u64), -3000);
        assert_eq!(u.unwrap(3010), 3010);
    }

    #[test]
    fn upper_bits_are_ignored() {
        let mut u = Unwrapper33::new();
        assert_eq!(u.unwrap((1 << 40) | 5), 5);
    }

    #[test]
    fn ms_conversions() {
        assert_eq!(ms_to_90k(1000), 90_000);
        assert_eq!(ticks_to_ms(90_000), 1000);
        assert_eq!(ticks_to_ms(89), 0);
        assert_eq!(ticks_to_ms(-1), -1);
        assert_eq!(ms_to_90k(i64::MAX), i64::MAX);
        assert_eq!(to_33(-1), TS_MASK);
    }
}
