//! The panel's live preview of an input: `GET /preview/{input_id}/{file}`, the same
//! Low-Latency HLS files as an HLS output (`/hls/KEY/…`) but reached with the panel session
//! instead of a public key, for every role (a Visor may watch). The engine muxes an input
//! for the preview only while someone fetches it, so a closed page costs nothing.
//!
//! Not signed in gets 401 (a player cannot follow the sign-in redirect of a page), never a
//! byte of the stream. The HTTP side (status codes, validators, ranges) is the public
//! route's ([`crate::api::hls::respond`]), with private caching.

use std::net::{IpAddr, Ipv4Addr};

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use axum::Json;
use relevo_engine::hls::HlsReader;

use super::web::{Session, ToSignIn};
use crate::api::auth::{Can, READ};
use crate::api::error::ApiError;
use crate::api::flows::{get_input, InputView};
use crate::api::ApiState;

/// `GET|HEAD /preview/{input_id}/{file}`.
pub async fn serve(
    State(s): State<ApiState>,
    session: Result<Session, ToSignIn>,
    Path((input_id, file)): Path<(i64, String)>,
    RawQuery(query): RawQuery,
    method: Method,
    headers: HeaderMap,
) -> Response {
    let session = match session {
        Ok(session) => session,
        Err(to) => {
            let res = to.into_response();
            // A redirect to the sign-in page is for pages; a player gets a plain refusal.
            if !res.status().is_redirection() {
                return res;
            }
            return ApiError::unauthenticated("sign in to the panel to watch the preview")
                .into_response();
        }
    };
    let can = Can::<READ>(session.principal.clone());
    let input: InputView = match get_input(State(s.clone()), can, Path(input_id)).await {
        Ok(Json(view)) => view,
        Err(e) => return e.into_response(),
    };
    let client = session
        .visitor
        .addr
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    crate::api::hls::respond(
        &s,
        HlsReader::Preview(&input.doc.name),
        &file,
        query.as_deref(),
        &method,
        &headers,
        client,
        true,
    )
    .await
}
