//! The panel's stylesheet and scripts, the player's script and the vendored hls.js,
//! compiled into the binary and served by Relevo itself: an appliance may have no
//! internet, so nothing comes from a CDN. Browsers revalidate with
//! the ETag (a hash of the content), so an update is picked up at once. Also `/favicon.ico`,
//! which every browser asks for: the customer's logo, else a default icon.

use std::sync::OnceLock;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

struct Asset {
    name: &'static str,
    mime: &'static str,
    body: &'static str,
}

const ASSETS: &[Asset] = &[
    Asset {
        name: "panel.css",
        mime: "text/css; charset=utf-8",
        body: include_str!("../../assets/panel.css"),
    },
    Asset {
        name: "favicon.svg",
        mime: "image/svg+xml",
        body: include_str!("../../assets/favicon.svg"),
    },
    Asset {
        name: "panel.js",
        mime: "text/javascript; charset=utf-8",
        body: include_str!("../../assets/panel.js"),
    },
    Asset {
        name: "player.js",
        mime: "text/javascript; charset=utf-8",
        body: include_str!("../../assets/player.js"),
    },
    Asset {
        name: "history.js",
        mime: "text/javascript; charset=utf-8",
        body: include_str!("../../assets/history.js"),
    },
    // hls.js (Apache-2.0), pinned in e2e/package.json; see assets/vendor/README.md.
    Asset {
        name: "hls.light.min.js",
        mime: "text/javascript; charset=utf-8",
        body: include_str!("../../assets/vendor/hls.light.min.js"),
    },
];

fn etags() -> &'static [String] {
    static TAGS: OnceLock<Vec<String>> = OnceLock::new();
    TAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| {
                let h = Sha256::digest(a.body.as_bytes());
                format!("\"{}\"", data_encoding::HEXLOWER.encode(&h[..8]))
            })
            .collect()
    })
}

/// `GET /assets/{file}`.
pub async fn serve(Path(file): Path<String>, headers: HeaderMap) -> Response {
    let Some(i) = ASSETS.iter().position(|a| a.name == file) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let (asset, etag) = (&ASSETS[i], &etags()[i]);
    let cache = [
        (header::ETAG, HeaderValue::from_str(etag).expect("hex")),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
    ];
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == etag);
    if fresh {
        return (StatusCode::NOT_MODIFIED, cache).into_response();
    }
    (
        cache,
        [(header::CONTENT_TYPE, HeaderValue::from_static(asset.mime))],
        asset.body,
    )
        .into_response()
}

/// `GET /favicon.ico`: the branding's logo when there is one, else the default icon. The
/// browser asks for it on every first visit; a 404 there is a console error on every page.
pub async fn favicon(State(s): State<crate::api::ApiState>, headers: HeaderMap) -> Response {
    match crate::store::settings::logo(s.control.pool()).await {
        Ok(Some((bytes, mime))) => (
            [
                (header::CONTENT_TYPE, mime),
                // An SVG logo must not run script in our origin when opened directly.
                (
                    header::CONTENT_SECURITY_POLICY,
                    "default-src 'none'; style-src 'unsafe-inline'; sandbox".to_owned(),
                ),
                (header::CACHE_CONTROL, "no-cache".to_owned()),
            ],
            bytes,
        )
            .into_response(),
        Ok(None) => serve(Path("favicon.svg".to_owned()), headers).await,
        Err(e) => crate::api::error::ApiError::from(e).into_response(),
    }
}
