//! Inputs and outputs in the panel: forms, the input's own page with the connection
//! details an operator copies into an encoder or hands to a partner, start/stop, new keys.
//!
//! Every change goes through the API's handler ([`api::flows`]), so the rules, the audit
//! rows and the engine's reconciliation are the API's; the form only turns fields into an
//! [`InputDoc`] / [`OutputDoc`] and shows a refusal next to the field it names.
//!
//! - `inputs`: the input form and its actions; `outputs`: the output form, presets and
//!   actions; `record`: the recording's file duration in minutes; `details`: the input's
//!   page with the connection details; `feed`: the main/backup switch buttons.
//!
//! [`InputDoc`]: crate::flow_doc::InputDoc
//! [`OutputDoc`]: crate::flow_doc::OutputDoc
//! [`api::flows`]: crate::api::flows

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::{Form, Json};
use data_encoding::BASE32_NOPAD;
use serde::Deserialize;

use super::dashboard::{card, output_kind, script_words, FlowCard};
use super::form_errors::FormErrors;
use super::web::{done, render, render_status, Notice, Page, PanelError, PanelResult, Session};
use crate::api::auth::{Can, Permission, OPERATE, READ};
use crate::api::error::ApiError;
use crate::api::flows::{self as api, InputView, OutputView};
use crate::api::json::Body;
use crate::api::ApiState;
use crate::auth::token::random_bytes;
use crate::flow_doc::{InputDoc, OutputDoc};

mod details;
mod feed;
mod inputs;
mod outputs;
mod record;

pub use details::input_page;
pub use feed::{switch_declared_feed, switch_feed};
pub use inputs::{
    create_input, delete_input, edit_input, new_input, new_input_key, switch_input, update_input,
};
pub use outputs::{
    create_output, delete_output, edit_output, new_output, new_output_key, switch_output,
    update_output, PRESETS,
};

/// A new random stream key: 20 characters of a–z and 2–7 (100 bits).
pub fn new_key() -> String {
    BASE32_NOPAD
        .encode(&random_bytes::<13>())
        .to_ascii_lowercase()
        .chars()
        .take(20)
        .collect()
}

fn opt(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

fn number<T: std::str::FromStr>(field: &str, s: &str) -> Result<Option<T>, ApiError> {
    match opt(s) {
        None => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|_| ApiError::invalid(field, format!("{v:?} is not a number"))),
    }
}

/// Operating rights, checked before a form is even shown.
fn operator(session: &Session) -> PanelResult<Can<OPERATE>> {
    session.principal.require(Permission::Operate)?;
    Ok(Can(session.principal.clone()))
}

fn reader(session: &Session) -> Can<READ> {
    Can(session.principal.clone())
}

/// The round trip of a live SRT link: an input's publisher, or an output's first SRT peer.
fn live_rtt(s: &ApiState, input: &str, output: Option<&str>) -> Option<f64> {
    let snap = s.control.engine().subscribe().borrow().clone();
    let input = snap.input(input)?;
    match output {
        None => input.srt.map(|l| l.rtt_ms),
        Some(name) => input
            .output(name)?
            .connections
            .iter()
            .find_map(|c| c.srt.map(|l| l.rtt_ms)),
    }
}

/// "Measured RTT now: 35 ms; advised latency: 140 ms or more", in the page's words: four
/// times the RTT, rounded up to 10 ms, within SRT's 80–1000 ms.
fn rtt_advice(page: &Page, rtt_ms: Option<f64>) -> Option<String> {
    let rtt = rtt_ms?;
    let advised = ((rtt * 4.0 / 10.0).ceil() * 10.0).clamp(80.0, 1000.0);
    Some(
        page.t("flows.latency_rtt")
            .replace("{rtt}", &format!("{rtt:.0}"))
            .replace("{advised}", &format!("{advised:.0}")),
    )
}

/// Where a start/stop button goes back to: the page it was pressed on.
fn back(headers: &axum::http::HeaderMap, fallback: &str) -> String {
    headers
        .get(axum::http::header::REFERER)
        .and_then(|r| r.to_str().ok())
        .and_then(|r| url::Url::parse(r).ok())
        .map(|u| u.path().to_owned())
        .filter(|p| p.starts_with('/') && !p.starts_with("//"))
        .unwrap_or_else(|| fallback.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::panel::i18n::Lang;
    use crate::store::settings::Branding;

    fn page(lang: Lang) -> Page {
        Page {
            lang,
            words: lang.words(),
            brand: Branding {
                product_name: "Relevo".into(),
                primary_color: "#0b6bcb".into(),
                has_logo: false,
                updated_at: time::OffsetDateTime::UNIX_EPOCH,
            },
            user: None,
            csrf: String::new(),
            nav: "dashboard",
            notice: None,
            alert: None,
        }
    }

    #[test]
    fn latency_advice_is_four_rtts_within_srts_range() {
        let es = page(Lang::Es);
        assert_eq!(rtt_advice(&es, None), None);
        assert_eq!(
            rtt_advice(&es, Some(34.2)).as_deref(),
            Some("RTT medido ahora: 34 ms; latencia recomendada: 140 ms o más.")
        );
        let en = page(Lang::En);
        let advice = |rtt| rtt_advice(&en, Some(rtt)).unwrap_or_default();
        assert!(
            advice(3.0).contains("advised latency: 80 ms"),
            "{}",
            advice(3.0)
        );
        assert!(
            advice(400.0).contains("advised latency: 1000 ms"),
            "{}",
            advice(400.0)
        );
    }

    #[test]
    fn keys_are_valid_stream_keys() {
        let k = new_key();
        assert_eq!(k.len(), 20);
        assert!(
            relevo_engine::spec::StreamKey::new(k.clone()).is_ok(),
            "{k}"
        );
        assert_ne!(k, new_key());
    }
}
