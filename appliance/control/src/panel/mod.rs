//! The web panel: server-rendered pages (askama templates in `templates/`) over the same
//! rules as the API. Every form handler calls the API's own handler function with the
//! signed-in user as its principal, so the panel validates, authorises and audits exactly
//! as the API does, and shows the API's error next to the field it names.
//!
//! - `web`: cookies, CSRF, the session extractor, the page context, rendering;
//! - `form_errors`: a refused form's error, on its field or above the form;
//! - `i18n`: the words, one file per language (`i18n/*.toml`);
//! - `local_path`: the check on every redirect target a visitor chooses (`next`, `Referer`);
//! - `sign_in`: sign-in with 2FA, sign-out, the first admin's page;
//! - `dashboard`: every flow live (the browser follows `/api/v1/events` with its cookie);
//! - `feeds`: an input's main and backup feeds, the one on air and the last switch;
//! - `compat`: codec names and an output's codec pre-flight problems in words;
//! - `preview`: an input's live picture (LL-HLS) for signed-in users of every role;
//! - `flows`: input and output forms, connection details, presets;
//! - `recordings`: recorded files (download, delete) and their disk use;
//! - `history`: an input's past (charts, availability, events), by name;
//! - `account`: one's password and 2FA; `admin/`: users, API tokens, audit log, settings;
//! - `assets`: the stylesheet and script, served by Relevo (no CDN: the appliance may be
//!   offline);
//! - `player`: `/play/{key}`, the embeddable HLS player (public, frameable, no cookie).

pub mod account;
pub mod admin;
pub mod assets;
pub mod compat;
pub mod dashboard;
pub mod feeds;
pub mod flows;
pub mod form_errors;
pub mod history;
pub mod i18n;
pub mod local_path;
pub mod player;
pub mod preview;
pub mod recordings;
pub mod sign_in;
pub mod web;

use axum::routing::{get, post};
use axum::Router;

use crate::api::ApiState;

/// The panel's routes. Every state-changing request passes [`web::csrf_layer`].
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/", get(dashboard::page))
        .route("/login", get(sign_in::login_page).post(sign_in::login))
        .route("/login/code", get(sign_in::code_page).post(sign_in::code))
        .route("/logout", post(sign_in::logout))
        .route("/setup", get(sign_in::setup_page).post(sign_in::setup))
        .route("/lang/{code}", get(web::set_lang))
        .route(
            "/inputs/new",
            get(flows::new_input).post(flows::create_input),
        )
        .route("/inputs/{id}", get(flows::input_page))
        .route(
            "/inputs/{id}/edit",
            get(flows::edit_input).post(flows::update_input),
        )
        .route("/inputs/{id}/delete", post(flows::delete_input))
        .route("/inputs/{id}/start", post(flows::switch_input::<true>))
        .route("/inputs/{id}/stop", post(flows::switch_input::<false>))
        .route("/inputs/{id}/new-key", post(flows::new_input_key))
        .route("/inputs/{id}/feed/{feed}", post(flows::switch_feed))
        .route("/feeds/{name}/{feed}", post(flows::switch_declared_feed))
        .route(
            "/inputs/{id}/outputs/new",
            get(flows::new_output).post(flows::create_output),
        )
        .route(
            "/outputs/{id}/edit",
            get(flows::edit_output).post(flows::update_output),
        )
        .route("/outputs/{id}/delete", post(flows::delete_output))
        .route("/outputs/{id}/start", post(flows::switch_output::<true>))
        .route("/outputs/{id}/stop", post(flows::switch_output::<false>))
        .route("/outputs/{id}/new-key", post(flows::new_output_key))
        .route("/preview/{input_id}/{file}", get(preview::serve))
        .route("/history/{name}", get(history::page))
        .route("/recordings", get(recordings::page))
        .route(
            "/recordings/{input}/{output}/{file}/delete",
            post(recordings::delete),
        )
        .route("/account", get(account::page))
        .route("/account/password", post(account::change_password))
        .route("/account/totp/begin", post(account::totp_begin))
        .route("/account/totp/confirm", post(account::totp_confirm))
        .route("/account/totp/disable", post(account::totp_disable))
        .route("/users", get(admin::users_page).post(admin::create_user))
        .route("/users/{id}", post(admin::update_user))
        .route("/users/{id}/password", post(admin::set_user_password))
        .route("/users/{id}/totp-reset", post(admin::reset_user_totp))
        .route("/users/{id}/delete", post(admin::delete_user))
        .route("/tokens", get(admin::tokens_page).post(admin::create_token))
        .route("/tokens/{id}/revoke", post(admin::revoke_token))
        .route("/audit", get(admin::audit_page))
        .route(
            "/settings",
            get(admin::settings_page).post(admin::update_settings),
        )
        .route("/settings/logo", post(admin::upload_logo))
        .route("/settings/destinations", post(admin::update_destinations))
        .route("/settings/logo/delete", post(admin::clear_logo))
        .route("/alerts", get(admin::alerts_page))
        .route("/alerts/rules", post(admin::create_alert_rule))
        .route("/alerts/rules/{id}", post(admin::update_alert_rule))
        .route("/alerts/rules/{id}/delete", post(admin::delete_alert_rule))
        .route("/alerts/channels", post(admin::create_alert_channel))
        .route("/alerts/channels/{id}", post(admin::update_alert_channel))
        .route(
            "/alerts/channels/{id}/delete",
            post(admin::delete_alert_channel),
        )
        .route(
            "/alerts/channels/{id}/test",
            post(admin::test_alert_channel),
        )
        .route("/alerts/settings", post(admin::update_alert_settings))
        .route("/assets/{file}", get(assets::serve))
        .route("/favicon.ico", get(assets::favicon))
        .layer(axum::middleware::from_fn(web::csrf_layer))
        .layer(axum::middleware::from_fn(web::localize_errors))
        .layer(axum::middleware::map_response(security_headers))
        // After the layers: the player sets no cookie and may be framed by any site.
        .route("/play/{key}", get(player::page))
        .with_state(state)
}

/// No route: the API's JSON 404 under `/api/` and for `/metrics`, a page elsewhere. The
/// fallback of the whole application (see [`crate::app`]), so it lives on the panel's side:
/// the panel uses the API, never the other way round.
pub async fn not_found(
    method: axum::http::Method,
    uri: axum::http::Uri,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let e = crate::api::error::ApiError::new(
        axum::http::StatusCode::NOT_FOUND,
        "no_route",
        format!("no such route for {method}"),
    );
    if uri.path().starts_with("/api/") || uri.path() == "/metrics" {
        e.into_response()
    } else {
        web::PanelError::Api(e).into_response()
    }
}

/// Pages are never framed (clickjacking), never cached (they show live state and
/// secrets), and run only our own scripts. Media may come from `blob:`: that is how a
/// player (hls.js, on Media Source Extensions) hands the preview's video to the element.
async fn security_headers(mut res: axum::response::Response) -> axum::response::Response {
    use axum::http::{header, HeaderValue};
    let h = res.headers_mut();
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; \
             script-src 'self'; connect-src 'self'; media-src 'self' blob:; frame-ancestors 'none'; form-action 'self'; \
             base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    res
}
