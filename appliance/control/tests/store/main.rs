//! The store against a real PostgreSQL: one embedded cluster for this test binary (started
//! by the first test that needs it, stopped when the last one running lets go), one fresh
//! database per test. Run as root, this also exercises the switch to the `relevo` user.

mod audit;
mod common;
mod embedded;
mod flows;
mod migrations;
mod users;
