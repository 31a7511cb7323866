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
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

/// The schema's migrations, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

/// Applies the migrations not applied yet; running it again is a no-op.
pub async fn migrate(pool: &PgPool) -> Result<(), StoreError> {
    MIGRATOR.run(pool).await?;
    Ok(())
}

/// At most this many connections: a burst of API requests on two cores is served as fast
/// by 8 as by more (the server runs two queries at a time), and a connection is only opened
/// when that many are busy at once.
pub const POOL_MAX_CONNECTIONS: u32 = 8;
/// A connection unused this long is closed.
pub const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Every connection is closed (after its current use) this long after it was opened, and
/// opened again only if needed. The pool hands out its idle connections in turn, so the
/// background tasks' steady queries (every second or so) keep each one it ever opened from
/// being idle for [`POOL_IDLE_TIMEOUT`]: the connections of a start-up burst stayed for
/// good, each a server process of 3 to 10 MiB (`bench/memory.sh`, issue #19). Renewing
/// them shrinks the pool to what is used at once; a new connection costs a few
/// milliseconds of the server's time every few minutes.
pub const POOL_MAX_LIFETIME: Duration = Duration::from_secs(300);

/// A connection pool for `url` (a few connections are plenty for one appliance). Server
/// notices below WARNING (such as "relation already exists, skipping") are not sent.
pub async fn connect(url: &str) -> Result<PgPool, StoreError> {
    let options = PgConnectOptions::from_str(url)?.options([("client_min_messages", "warning")]);
    Ok(pool_options().connect_with(options).await?)
}

/// The pool's sizing (see the constants above); `min_connections` stays 0, so nothing keeps
/// a connection open that nobody uses.
pub fn pool_options() -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(POOL_MAX_CONNECTIONS)
        .min_connections(0)
        .idle_timeout(POOL_IDLE_TIMEOUT)
        .max_lifetime(POOL_MAX_LIFETIME)
}
