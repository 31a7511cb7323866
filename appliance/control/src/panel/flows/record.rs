//! The record output's form fields that are not the document's own: the file duration is
//! asked in minutes (an operator thinks "one file an hour", not "3600 s"), the document
//! keeps seconds. Everything else (format, retention) goes through [`OutputDoc`] as is.
//!
//! [`OutputDoc`]: crate::flow_doc::OutputDoc

use crate::api::error::ApiError;

/// Seconds as minutes for the form: whole minutes when exact (`60`), else up to two
/// decimals (`0.17` for 10 s, `1.5` for 90 s) so an API-set value shows and saves back.
pub fn minutes(segment_s: u64) -> String {
    if segment_s.is_multiple_of(60) {
        return (segment_s / 60).to_string();
    }
    let text = format!("{:.2}", segment_s as f64 / 60.0);
    text.trim_end_matches('0').to_owned()
}

/// The document's `segment_s` from the form's minutes (a decimal comma is accepted, as
/// Spanish keyboards type it); empty keeps the default. The range is the document's to
/// check, so that the refusal is the same as through the API.
pub fn segment_s(text: &str) -> Result<Option<u64>, ApiError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let bad = || {
        ApiError::invalid(
            "segment_min",
            format!("{text:?} is not a number of minutes"),
        )
    };
    let m: f64 = text.replace(',', ".").parse().map_err(|_| bad())?;
    if !m.is_finite() || m < 0.0 {
        return Err(bad());
    }
    // Saturates far above SegmentDuration::MAX_S, which the document then refuses.
    Ok(Some((m * 60.0).round() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minutes_round_trip_through_the_form() {
        for s in [10, 60, 90, 600, 3600, 86_400, 3_601] {
            assert_eq!(segment_s(&minutes(s)).expect("a number"), Some(s), "{s} s");
        }
        assert_eq!(minutes(3600), "60");
        assert_eq!(minutes(90), "1.5");
        assert_eq!(segment_s("1,5").expect("comma"), Some(90));
        assert_eq!(segment_s(" ").expect("empty"), None);
        for bad in ["una hora", "-5", "inf", "NaN"] {
            let e = segment_s(bad).expect_err(bad);
            assert_eq!(e.field.as_deref(), Some("segment_min"), "{bad}");
        }
    }
}
