//! All SQL of the control plane. Every query is compile-checked (`sqlx::query!`) against
//! the schema in `migrations/`; the offline data in `.sqlx/` lets the build run without a
//! database. Every change is written in one transaction together with its audit row.
//!
//! - `error`: [`StoreError`], with unique violations mapped to `Conflict { field }`;
//! - `audit`: who did what ([`Actor`]), secret masking, reading the log;
//! - `users`: accounts and password verification; `totp`: their second factor;
//! - `panel_sessions`: the panel's cookie sign-ins;
//! - `sessions`, `api_tokens`, `setup`: refresh tokens, automation tokens, the first-run
//!   token (the service's own keys are files: `crate::keys`);
//! - `columns`: flow rows ⇄ `relevo_engine::spec` values, through the spec's newtypes;
//! - `inputs`, `outputs`: CRUD of flows;
//! - `desired`: [`load_desired_state`] for the engine;
//! - `settings`: the customer's branding (name, colour, logo);
//! - `alerts`: alert rules, channels and settings; `alert_deliveries`: the alerts' message
//!   queue and its record;
//! - `history`: per-minute rows and events of every flow (the collector is `crate::history`);
//! - `export`: the whole configuration as one JSON document (backup, import);

pub mod alert_deliveries;
pub mod alerts;
pub mod api_tokens;
pub mod audit;
mod columns;
mod desired;
mod error;
pub mod export;
pub mod history;
pub mod inputs;
pub mod outputs;
pub mod panel_sessions;
pub mod sessions;
pub mod settings;
pub mod setup;
mod totp;
pub mod users;

pub use audit::{Actor, AuditEntry, AuditFilter, AuditPage};
pub use desired::load_desired_state;
pub use error::StoreError;
pub use inputs::{InputDef, StoredInput};
pub use outputs::StoredOutput;

use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

/// The schema's migrations, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

/// Applies the migrations not applied yet; running it again is a no-op.
pub async fn migrate(pool: &PgPool) -> Result<(), StoreError> {
    MIGRATOR.run(pool).await?;
    Ok(())
}

/// A connection pool for `url` (a few connections are plenty for one appliance). Server
/// notices below WARNING (such as "relation already exists, skipping") are not sent.
pub async fn connect(url: &str) -> Result<PgPool, StoreError> {
    let options = PgConnectOptions::from_str(url)?.options([("client_min_messages", "warning")]);
    Ok(PgPoolOptions::new()
        .max_connections(8)
        .connect_with(options)
        .await?)
}
