//! Relevo's relay engine: ingest endpoints, hubs, outputs, remux glue and live metrics.
//!
//! It knows nothing of HTTP or SQL. The control plane (or the `relevo serve --config` file
//! loader) hands it a [`spec::DesiredState`]; [`Engine::apply`] applies only the difference.
//!
//! Layout:
//! - `spec`: validated, plain-data description of inputs and outputs (the desired state);
//! - `unit`: what hubs carry (TS chunks, FLV tags);
//! - `hub/`: one per input: fan-out with bounded per-output queues and a GOP cache;
//! - `remux`: TS ⇄ FLV conversion shared by all outputs of the other protocol;
//! - `rtmp/`, `srt/`: protocol endpoints (listeners, push, pull) and how each sends and
//!   receives; `rtmp::routes` answers RTMP publishers and players from the registry;
//! - `engine`: the registry and reconciliation; `input`: pull inputs; `output`: push
//!   outputs (wait for the input, connect, retry with `backoff`); `destination`: which
//!   addresses a push or pull may reach;
//! - `preflight`: the input's codecs and what each destination accepts of them;
//! - `hls/`: HLS outputs and the panel's preview, muxed on demand and kept in memory;
//! - `record/`: record outputs (files, disk floor, retention) and the recordings catalogue;
//! - `metrics`: counters and the shared snapshot; `live`: the task that samples them each
//!   second; `prometheus`: the snapshot in Prometheus text format; `log_limit`: a cap on
//!   repetitive log lines.
pub mod backoff;
pub mod destination;
mod engine;
pub mod error;
pub mod hls;
pub mod hub;
mod input;
mod live;
mod log_limit;
pub mod metrics;
mod output;
pub mod preflight;
pub mod prometheus;
pub mod record;
pub mod remux;
pub mod rtmp;
pub mod spec;
mod srt;
pub mod unit;

pub use engine::{BoundAddrs, Engine, EngineConfig, StartError, SwitchError, TlsFiles};
