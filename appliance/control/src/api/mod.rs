//! The REST and WebSocket API under `/api/v1`, plus `/healthz` and `/metrics`.
//!
//! - `routes`: the table of every route and who may call it (router, OpenAPI, tests);
//! - `schemas`: JSON Schemas of the request bodies, for the OpenAPI document;
//! - `auth`: bearer tokens → [`auth::Principal`], and the role → permission matrix;
//! - `destinations`: no private push/pull addresses from the API unless an admin allows;
//! - `edge`: trusted proxies and the HTTP server's connection limits;
//! - `error`, `json`: JSON errors with stable codes, strict bodies that name the field;
//! - `session`: sign-in, refresh, logout, first admin, one's own account and 2FA;
//! - `flows`: inputs and outputs; `events`: status, metrics, WebSocket;
//! - `history`: a flow's past (per-second and per-minute figures, availability, events;
//!   JSON or CSV);
//! - `recordings`: recorded files (list, download with ranges, delete) and their disk use;
//! - `hls`: `/hls/{key}/{file}` for players (public, CORS, cached by CDNs), and the
//!   answer the panel's preview reuses;
//! - `admin`: users, API tokens, settings, audit log, configuration export/import;
//! - `alerts`: alert rules, channels (test message) and settings, admin only.
//! - `alert_deliveries`: the alert messages sent and failed, admin only.

pub mod admin;
pub mod alert_deliveries;
pub mod alerts;
pub mod auth;
pub mod destinations;
pub mod edge;
pub mod error;
pub mod events;
pub mod flows;
pub mod history;
pub mod hls;
pub mod json;
pub mod recordings;
pub mod routes;
pub mod schemas;
pub mod session;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderValue};
use axum::routing::{get, post};
use axum::{Json, Router};

use crate::auth::jwt::JwtKeys;
use crate::auth::limiter::{ApiLimiter, LoginLimiter};
use crate::keys::TotpKek;
use crate::reconcile::Control;
use crate::store::panel_sessions;

/// Token lifetimes and limits.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Access tokens are short: a stolen one is worth minutes.
    pub access_ttl: Duration,
    /// Refresh tokens rotate on every use; an unused session ends after this.
    pub refresh_ttl: time::Duration,
    /// Requests per second per user or token, and the burst allowed above it.
    pub api_rate: f64,
    pub api_burst: f64,
    /// The panel's cookie sessions.
    pub panel: panel_sessions::Lifetimes,
    /// The ports encoders and players use, for the connection URLs the panel shows.
    pub endpoints: Endpoints,
    /// Failed sign-ins (rows anyone can add) are deleted from the audit log after this.
    pub failed_sign_in_retention: time::Duration,
    /// Trusted proxies and connection limits (`[http]`).
    pub edge: edge::EdgeConfig,
    /// `[hls]`: which web pages may read HLS streams from a script (CORS).
    pub hls: hls::HlsHttpConfig,
    /// `[history]`: how long flow history and events are kept.
    pub history: crate::history::HistoryConfig,
    /// What the alerts watch besides flows (certificate files).
    pub alerts: crate::alerts::AlertsConfig,
}

/// The media listeners' ports (`None`: that listener is off).
#[derive(Debug, Clone, Copy, Default)]
pub struct Endpoints {
    pub srt: Option<u16>,
    pub rtmp: Option<u16>,
    pub rtmps: Option<u16>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            access_ttl: Duration::from_secs(15 * 60),
            refresh_ttl: time::Duration::days(30),
            api_rate: 50.0,
            api_burst: 200.0,
            panel: panel_sessions::Lifetimes::default(),
            endpoints: Endpoints::default(),
            failed_sign_in_retention: time::Duration::days(90),
            edge: edge::EdgeConfig::default(),
            hls: hls::HlsHttpConfig::default(),
            history: crate::history::HistoryConfig::default(),
            alerts: crate::alerts::AlertsConfig::default(),
        }
    }
}

/// What every handler gets.
#[derive(Debug, Clone)]
pub struct ApiState {
    pub control: Control,
    pub jwt: Arc<JwtKeys>,
    /// Seals and opens the TOTP secrets kept in the database.
    pub totp_kek: Arc<TotpKek>,
    pub login_limiter: Arc<LoginLimiter>,
    pub api_limiter: Arc<ApiLimiter>,
    pub config: Arc<ApiConfig>,
    /// The WebSockets' shared snapshot feed and per-principal counts.
    pub events: Arc<events::EventHub>,
    /// The recorded files in the engine's recordings folder.
    pub recordings: Arc<relevo_engine::record::catalog::Recordings>,
    /// Every flow's past: seconds in memory, minutes and events in PostgreSQL.
    pub history: crate::history::History,
    /// Alert rules evaluated on the live state, and their messages.
    pub alerts: crate::alerts::Alerts,
}

impl ApiState {
    /// The state of a service whose keys were read from the key directory
    /// ([`crate::keys::KeyDir`]).
    pub fn new(control: Control, config: ApiConfig, jwt: JwtKeys, totp_kek: TotpKek) -> Self {
        let history = crate::history::History::start(
            control.pool().clone(),
            control.engine().clone(),
            config.history.clone(),
        );
        let alerts = crate::alerts::Alerts::start(
            control.pool().clone(),
            control.engine().clone(),
            config.alerts.clone(),
        );
        Self {
            history,
            alerts,
            jwt: Arc::new(jwt),
            totp_kek: Arc::new(totp_kek),
            login_limiter: Arc::new(LoginLimiter::new()),
            api_limiter: Arc::new(ApiLimiter::new(config.api_rate, config.api_burst)),
            config: Arc::new(config),
            events: Arc::default(),
            recordings: Arc::new(relevo_engine::record::catalog::Recordings::new(
                control.engine().recording_root(),
            )),
            control,
        }
    }
}

/// Every route of [`routes::ROUTES`], wired to its handler.
pub fn router(state: ApiState) -> Router {
    use admin as a;
    use flows as f;
    use session as s;
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/api/v1/openapi.json",
            get(|| async { Json(routes::openapi()) }),
        )
        .route("/api/v1/branding", get(a::branding))
        .route("/api/v1/branding/logo", get(a::branding_logo))
        .route("/api/v1/setup", post(s::first_admin))
        .route("/api/v1/auth/login", post(s::login))
        .route("/api/v1/auth/refresh", post(s::refresh))
        .route("/api/v1/auth/logout", post(s::logout))
        .route("/api/v1/me", get(s::me))
        .route("/api/v1/me/password", post(s::change_password))
        .route("/api/v1/me/totp/begin", post(s::totp_begin))
        .route("/api/v1/me/totp/confirm", post(s::totp_confirm))
        .route("/api/v1/me/totp/disable", post(s::totp_disable))
        .route("/metrics", get(events::metrics))
        .route("/api/v1/status", get(events::status))
        .route("/api/v1/events", get(history::events_or_socket))
        .route("/api/v1/history/{input}", get(history::input_history))
        .route(
            "/api/v1/history/{input}/{output}",
            get(history::output_history),
        )
        .route(
            "/api/v1/availability/{input}",
            get(history::input_availability),
        )
        .route(
            "/api/v1/availability/{input}/{output}",
            get(history::output_availability),
        )
        .route("/api/v1/inputs", get(f::list_inputs).post(f::create_input))
        .route(
            "/api/v1/inputs/{id}",
            get(f::get_input)
                .put(f::update_input)
                .delete(f::delete_input),
        )
        .route("/api/v1/inputs/{id}/start", post(f::switch_input::<true>))
        .route("/api/v1/inputs/{id}/stop", post(f::switch_input::<false>))
        .route("/api/v1/inputs/{id}/status", get(f::input_status))
        .route("/api/v1/inputs/{id}/switch", post(f::switch_feed))
        .route("/api/v1/feeds/{input}", post(f::switch_feed_by_name))
        .route("/api/v1/inputs/{id}/outputs", post(f::create_output))
        .route(
            "/api/v1/outputs/{id}",
            get(f::get_output)
                .put(f::update_output)
                .delete(f::delete_output),
        )
        .route("/api/v1/outputs/{id}/start", post(f::switch_output::<true>))
        .route("/api/v1/outputs/{id}/stop", post(f::switch_output::<false>))
        .route("/api/v1/recordings", get(recordings::usage))
        .route("/api/v1/recordings/{input}", get(recordings::list))
        .route(
            "/api/v1/recordings/{input}/{output}/{file}",
            get(recordings::download).delete(recordings::delete),
        )
        .route("/api/v1/audit", get(a::audit_log))
        .route("/api/v1/users", get(a::list_users).post(a::create_user))
        .route(
            "/api/v1/users/{id}",
            get(a::get_user)
                .patch(a::update_user)
                .delete(a::delete_user),
        )
        .route("/api/v1/users/{id}/password", post(a::set_user_password))
        .route("/api/v1/users/{id}/totp/reset", post(a::reset_user_totp))
        .route("/api/v1/tokens", get(a::list_tokens).post(a::create_token))
        .route(
            "/api/v1/tokens/{id}",
            axum::routing::delete(a::revoke_token),
        )
        .route(
            "/api/v1/settings",
            get(a::get_settings).patch(a::update_settings),
        )
        .route(
            "/api/v1/settings/logo",
            axum::routing::put(a::set_logo).delete(a::clear_logo),
        )
        .route(
            "/api/v1/alerts/rules",
            get(alerts::list_rules).post(alerts::create_rule),
        )
        .route(
            "/api/v1/alerts/rules/{id}",
            get(alerts::get_rule)
                .put(alerts::update_rule)
                .delete(alerts::delete_rule),
        )
        .route(
            "/api/v1/alerts/channels",
            get(alerts::list_channels).post(alerts::create_channel),
        )
        .route(
            "/api/v1/alerts/channels/{id}",
            get(alerts::get_channel)
                .put(alerts::update_channel)
                .delete(alerts::delete_channel),
        )
        .route(
            "/api/v1/alerts/channels/{id}/test",
            post(alerts::test_channel),
        )
        .route("/api/v1/alerts/deliveries", get(alert_deliveries::list))
        .route(
            "/api/v1/alerts/settings",
            get(alerts::get_settings).patch(alerts::update_settings),
        )
        .route("/api/v1/config/export", get(a::export_config))
        .route("/api/v1/config/import", post(a::import_config))
        .layer(DefaultBodyLimit::max(json::MAX_BODY))
        .layer(axum::middleware::map_response(no_store))
        // After the layers: HLS answers set their own Cache-Control (CDNs keep segments).
        .route("/hls/{key}/{file}", get(hls::serve).options(hls::serve))
        .with_state(state)
}

/// API answers carry credentials and live state: never cached by a browser or a proxy.
async fn no_store(mut res: axum::response::Response) -> axum::response::Response {
    res.headers_mut()
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    res
}
