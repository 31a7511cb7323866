//! The store against a real PostgreSQL: one embedded cluster for this test binary (started
//! by the first test that needs it, stopped when the last one running lets go), one fresh
//! database per test. Run as root, this also exercises the switch to the `relevo` user.

mod alerts;
mod api_tokens;
mod audit;
mod audit_query;
mod backups;
mod common;
mod embedded;
mod export;
mod flows;
mod history;
mod hls_outputs;
mod migrations;
mod panel_sessions;
mod pg_log;
mod record_outputs;
mod sessions;
mod settings;
mod setup;
mod totp;
mod users;
mod users_admin;
