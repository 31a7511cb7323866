//! Time-based one-time passwords, RFC 6238 with the parameters every authenticator app
//! understands: HMAC-SHA-1, 6 digits, 30-second steps from the Unix epoch. A code is
//! accepted one step early or late (clock drift); the caller stores the matched step to
//! refuse replays. Also the `otpauth://` URI (Google Authenticator's Key Uri Format) and
//! its QR code as SVG for enrolment.

use std::fmt::Write as _;

use data_encoding::BASE32_NOPAD;
use hmac::{Hmac, Mac};
use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};
use secrecy::{ExposeSecret, SecretSlice};
use sha1::Sha1;

use super::token;

/// Seconds per time step (RFC 6238 §4.1, X).
pub const STEP_SECS: u64 = 30;
/// Digits of a code.
pub const DIGITS: u32 = 6;
/// Bytes of a generated secret: 160 bits, the HMAC-SHA-1 output size RFC 4226 §4 asks for.
pub const SECRET_LEN: usize = 20;
/// Shortest secret accepted from outside (RFC 4226 §4: at least 128 bits).
const MIN_SECRET_LEN: usize = 16;
/// Longest secret accepted from outside: a bound, not a security limit.
const MAX_SECRET_LEN: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TotpError {
    #[error("a TOTP secret must be base32 of {min}–{max} bytes", min = MIN_SECRET_LEN, max = MAX_SECRET_LEN)]
    Secret,
    #[error("the otpauth URI is too long for a QR code")]
    QrTooLong,
}

/// A shared TOTP secret. Never printed; zeroed when dropped.
#[derive(Debug, Clone)]
pub struct Secret(SecretSlice<u8>);

impl Secret {
    /// A new random secret.
    pub fn generate() -> Self {
        Self(SecretSlice::from(
            token::random_bytes::<SECRET_LEN>().to_vec(),
        ))
    }

    /// Parses base32 (RFC 4648) ignoring case, spaces and padding, as apps display it.
    pub fn from_base32(s: &str) -> Result<Self, TotpError> {
        let clean: String = s
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '=')
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let bytes = BASE32_NOPAD
            .decode(clean.as_bytes())
            .map_err(|_| TotpError::Secret)?;
        if (MIN_SECRET_LEN..=MAX_SECRET_LEN).contains(&bytes.len()) {
            Ok(Self(SecretSlice::from(bytes)))
        } else {
            Err(TotpError::Secret)
        }
    }

    /// Unpadded upper-case base32, for storage and manual entry. This IS the secret: show it
    /// only to its owner during enrolment, never log it.
    pub fn to_base32(&self) -> String {
        BASE32_NOPAD.encode(self.0.expose_secret())
    }
}

/// The code for the time step containing `unix_secs`.
pub fn code_at(secret: &Secret, unix_secs: u64) -> String {
    hotp(secret.0.expose_secret(), unix_secs / STEP_SECS, DIGITS)
}

/// The time step `code` is valid for, trying the step of `unix_secs` and one on each side;
/// `None` if it matches none (or is not 6 digits). Every candidate is compared in constant
/// time and all three are always computed.
pub fn verify(secret: &Secret, code: &str, unix_secs: u64) -> Option<u64> {
    let code = code.trim();
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = unix_secs / STEP_SECS;
    let mut matched = None;
    for step in [now.saturating_sub(1), now, now.saturating_add(1)] {
        let expected = hotp(secret.0.expose_secret(), step, DIGITS);
        if ct_eq(expected.as_bytes(), code.as_bytes()) && matched.is_none() {
            matched = Some(step);
        }
    }
    matched
}

/// HOTP (RFC 4226 §5.3): HMAC-SHA-1 of the counter, dynamic truncation, `digits` digits.
fn hotp(key: &[u8], counter: u64, digits: u32) -> String {
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(key) else {
        unreachable!("HMAC accepts keys of any length")
    };
    mac.update(&counter.to_be_bytes());
    let hs = mac.finalize().into_bytes();
    let offset = usize::from(hs[19] & 0x0f);
    let bin = u32::from_be_bytes([hs[offset], hs[offset + 1], hs[offset + 2], hs[offset + 3]])
        & 0x7fff_ffff;
    let value = u64::from(bin) % 10u64.pow(digits);
    format!("{value:0width$}", width = digits as usize)
}

/// Equality that does not stop at the first difference.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The enrolment URI: `otpauth://totp/Issuer:account?secret=…&issuer=…` with label and
/// issuer percent-encoded. Contains the secret.
pub fn otpauth_uri(secret: &Secret, issuer: &str, account: &str) -> String {
    let issuer = percent_encode(issuer);
    format!(
        "otpauth://totp/{issuer}:{account}?secret={secret}&issuer={issuer}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        account = percent_encode(account),
        secret = secret.to_base32(),
    )
}

/// RFC 3986 percent-encoding of everything but the unreserved characters.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// `uri` as a QR code in SVG (error correction M, as authenticator apps expect to scan it
/// from a screen). A URI too long for a QR code (over ~2 KB: a huge issuer name) gives a
/// small SVG saying to type the secret in instead, so enrolment still works.
pub fn qr_svg(uri: &str) -> String {
    try_qr_svg(uri).unwrap_or_else(|_| {
        concat!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="200" height="40">"#,
            r#"<text x="4" y="24" font-size="12">Enter the key by hand</text></svg>"#
        )
        .to_owned()
    })
}

/// [`qr_svg`], failing for URIs longer than a QR code holds.
pub fn try_qr_svg(uri: &str) -> Result<String, TotpError> {
    let code = QrCode::with_error_correction_level(uri.as_bytes(), EcLevel::M)
        .map_err(|_| TotpError::QrTooLong)?;
    Ok(code
        .render::<svg::Color<'_>>()
        .min_dimensions(200, 200)
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B's SHA-1 key: "12345678901234567890".
    fn rfc_key() -> Secret {
        Secret(SecretSlice::from(b"12345678901234567890".to_vec()))
    }

    #[test]
    fn rfc6238_appendix_b_sha1_vectors() {
        let cases = [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ];
        let key = rfc_key();
        for (t, expected) in cases {
            assert_eq!(
                hotp(key.0.expose_secret(), t / STEP_SECS, 8),
                expected,
                "T={t}"
            );
            // The 6-digit code is the same value modulo 10^6.
            assert_eq!(code_at(&key, t), expected[2..], "T={t}");
        }
    }

    #[test]
    fn verify_accepts_one_step_of_drift_and_returns_the_step() {
        let key = rfc_key();
        let t = 1_111_111_111;
        let step = t / STEP_SECS;
        assert_eq!(verify(&key, &code_at(&key, t), t), Some(step));
        assert_eq!(verify(&key, &code_at(&key, t - 30), t), Some(step - 1));
        assert_eq!(verify(&key, &code_at(&key, t + 30), t), Some(step + 1));
        assert_eq!(verify(&key, &code_at(&key, t - 60), t), None);
        assert_eq!(verify(&key, &code_at(&key, t + 60), t), None);
        assert_eq!(
            verify(&key, &format!(" {} ", code_at(&key, t)), t),
            Some(step)
        );
        assert_eq!(verify(&key, "12345", t), None);
        assert_eq!(verify(&key, "12345a", t), None);
        assert_eq!(verify(&key, "", 0), None);
    }

    #[test]
    fn base32_round_trip_and_bounds() {
        let s = Secret::generate();
        let b32 = s.to_base32();
        assert_eq!(b32.len(), 32, "20 bytes in unpadded base32");
        let back = Secret::from_base32(&b32.to_lowercase()).expect("parses");
        assert_eq!(back.to_base32(), b32);
        let spaced = "GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ";
        assert_eq!(
            Secret::from_base32(spaced).map(|s| s.to_base32()),
            Ok("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ".to_owned())
        );
        assert!(Secret::from_base32("GEZDGNBV").is_err(), "too short");
        assert!(Secret::from_base32("not base32!").is_err());
        assert!(!format!("{s:?}").contains(&b32));
    }

    #[test]
    fn otpauth_uri_encodes_the_label() {
        let key = rfc_key();
        let uri = otpauth_uri(&key, "Relevo Canal 5", "ana+ops@example.org");
        assert_eq!(
            uri,
            "otpauth://totp/Relevo%20Canal%205:ana%2Bops%40example.org?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Relevo%20Canal%205&algorithm=SHA1&digits=6&period=30"
        );
    }

    #[test]
    fn qr_svg_renders_and_degrades_for_oversized_input() {
        let svg = qr_svg("otpauth://totp/Relevo:ana%40example.org?secret=GEZDGNBV");
        assert!(
            svg.starts_with("<?xml") && svg.contains("<svg"),
            "{svg:.80}"
        );
        let too_long = "x".repeat(5000);
        assert_eq!(try_qr_svg(&too_long), Err(TotpError::QrTooLong));
        assert!(qr_svg(&too_long).contains("by hand"));
    }
}
