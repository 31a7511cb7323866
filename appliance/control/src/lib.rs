//! Relevo's control plane: where the configuration lives (PostgreSQL) and who may change it.
//!
//! The schema (`migrations/` at the repository root), the store that reads and writes it,
//! the embedded PostgreSQL used when no database URL is configured, authentication, and the
//! REST/WebSocket API. It drives a running [`relevo_engine::Engine`] through desired states
//! and reads its snapshots; it knows no media and opens no listener (the binary does).
//!
//! Layout:
//! - `api/`: the HTTP routes, one table of who may call what ([`api::routes::ROUTES`]);
//! - `panel/`: the web panel, server-rendered over the API's own handlers;
//! - `auth/`: JWT access tokens, opaque tokens, TOTP, login and API rate limits;
//! - `reconcile`: database flows + configuration-file flows → the engine, by difference;
//! - `embedded_pg`: a private PostgreSQL cluster on a Unix socket (initdb, start, stop);
//! - `keys`: the key files kept outside the database (token signing, TOTP encryption);
//! - `flow_doc`: the textual shape of inputs and outputs (config file, API, export);
//! - `history`: per-second (memory) and per-minute (PostgreSQL) figures and events of
//!   every flow, availability;
//! - `alerts`: conditions on flows, messages by webhook and email when they start and end;
//! - `feed_switch`: the manual switch between an input's main and backup feeds (API, panel);
//! - `domain`: validated values the store accepts (email, password, role);
//! - `password`: Argon2id hashing and constant-time-ish verification;
//! - `store/`: all SQL: users and their 2FA, sessions (refresh tokens), API tokens, flows
//!   with their audit rows, settings, the audit log, export/import, and
//!   [`store::load_desired_state`] for the engine.
pub mod alerts;
pub mod api;
pub mod auth;
pub mod domain;
pub mod embedded_pg;
pub mod feed_switch;
pub mod flow_doc;
pub mod history;
pub mod keys;
pub mod panel;
pub mod password;
pub mod reconcile;
pub mod store;

pub use embedded_pg::{EmbeddedPg, EmbeddedPgError, PgBinaries};
pub use store::StoreError;

/// The whole HTTP surface: the API and the panel. Unknown paths under `/api/` get the
/// API's JSON 404; others the panel's page. Every answer, 404s and assets included, says
/// `nosniff`: a browser never guesses another type than the one we send (a logo served as
/// an image must not run as a script or a page).
pub fn app(state: api::ApiState) -> axum::Router {
    api::router(state.clone())
        .merge(panel::router(state))
        .fallback(panel::not_found)
        .layer(axum::middleware::map_response(nosniff))
}

async fn nosniff(mut res: axum::response::Response) -> axum::response::Response {
    res.headers_mut().insert(
        axum::http::header::X_CONTENT_TYPE_OPTIONS,
        axum::http::HeaderValue::from_static("nosniff"),
    );
    res
}
