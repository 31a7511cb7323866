//! Relevo's control plane: where the configuration lives (PostgreSQL) and who may change it.
//!
//! This crate is the foundation of the API and the panel: the schema (`migrations/` at the
//! repository root), the store that reads and writes it, and the embedded PostgreSQL used
//! when no database URL is configured. It reaches the engine only through its plain-data
//! spec types ([`relevo_engine::spec`]); it starts no relay and serves no HTTP (yet).
//!
//! Layout:
//! - `embedded_pg`: a private PostgreSQL cluster on a Unix socket (initdb, start, stop);
//! - `domain`: validated values the store accepts (email, password, role);
//! - `password`: Argon2id hashing and constant-time-ish verification;
//! - `store/`: all SQL: migrations, users, inputs and outputs with their audit rows, the
//!   audit log, and [`store::load_desired_state`] for the engine.
pub mod domain;
pub mod embedded_pg;
pub mod password;
pub mod store;

pub use embedded_pg::{EmbeddedPg, EmbeddedPgError, PgBinaries};
pub use store::StoreError;
