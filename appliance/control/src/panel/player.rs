//! `GET /play/{key}`: the embeddable player of a `pull_hls` output, a page any site may put
//! in an `<iframe>`. A full-window muted `<video>` played by hls.js (served by Relevo,
//! `/assets/hls.light.min.js`) or by the browser's own HLS (`/assets/player.js` chooses),
//! in the customer's colour, with a message while the stream is offline.
//!
//! Unlike the panel's pages it is mounted outside the panel's layers: it sets no cookie
//! (no CSRF cookie: nothing here is a form), and its security headers allow framing by any
//! site (`frame-ancestors *`, no `X-Frame-Options`) while scripts still come only from
//! Relevo itself.

use askama::Template;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::web::{lang_of, render};
use crate::api::error::ApiError;
use crate::api::hls::valid_key;
use crate::api::ApiState;
use crate::store::settings;

/// The player page's policy: our scripts only (no inline script), media from our origin
/// and from `blob:` (hls.js hands the video to the element through Media Source
/// Extensions), workers from `blob:` (hls.js runs its transmuxer in one), and any site may
/// frame it.
pub const PLAYER_CSP: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self' 'unsafe-inline'; img-src 'self' data:; media-src 'self' blob:; \
    worker-src 'self' blob:; connect-src 'self'; frame-ancestors *; base-uri 'none'; \
    form-action 'none'";

#[derive(Template)]
#[template(path = "player.html")]
struct PlayerPage {
    lang: &'static str,
    words: &'static super::i18n::Words,
    product: String,
    colour: String,
    key: String,
}

impl PlayerPage {
    fn t<'a>(&'a self, key: &'a str) -> &'a str {
        self.words.get(key)
    }
}

/// `GET /play/{key}`. Unknown key, disabled output or input: 404 (one answer for all).
pub async fn page(
    State(s): State<ApiState>,
    key: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Response {
    let lang = lang_of(&headers);
    let key = match key {
        Ok(Path(k)) if valid_key(&k) && s.control.engine().hls_exists(&k) => k,
        _ => return with_headers(not_found()),
    };
    let brand = match settings::get(s.control.pool()).await {
        Ok(b) => b,
        Err(e) => return with_headers(ApiError::from(e).into_response()),
    };
    let page = PlayerPage {
        lang: lang.code(),
        words: lang.words(),
        product: brand.product_name,
        colour: brand.primary_color,
        key,
    };
    with_headers(render(&page))
}

/// One 404 for every key that leads nowhere.
fn not_found() -> Response {
    let e = ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such stream");
    super::web::PanelError::Api(e).into_response()
}

/// This page's own headers (see the module's doc); the page shows nothing secret and
/// changes only with the branding, so a browser revalidates it each time.
fn with_headers(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PLAYER_CSP),
    );
    h.remove(header::X_FRAME_OPTIONS);
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("strict-origin-when-cross-origin"),
    );
    res
}
