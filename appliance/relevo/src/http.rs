//! The HTTP server: `/healthz`, `/metrics` (Prometheus text format) and a read-only JSON
//! view of the live state at `/api/v1/status`.
//!
//! Every route reads the snapshot the engine's sampler publishes once a second
//! ([`Engine::subscribe`]), the same one the future WebSocket and panel will follow. There is
//! no authentication yet, which is why the default address is loopback; the control plane
//! will put its auth in front of `/api/v1`. Nothing served here carries a secret: flows are
//! named by their names and peers by their addresses.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use relevo_engine::metrics::Snapshot;
use relevo_engine::{prometheus, Engine};
use tokio::net::TcpListener;
use tokio::sync::watch;

type Snapshots = watch::Receiver<Arc<Snapshot>>;

/// The routes, over the engine's snapshot subscription.
pub fn router(snapshots: Snapshots) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/api/v1/status", get(status))
        .with_state(snapshots)
}

/// Binds `addr`; a failure is fatal at start like any other listener's.
pub async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    let l = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen for HTTP on {addr}"))?;
    tracing::info!(addr = %l.local_addr().unwrap_or(addr), "HTTP listening");
    Ok(l)
}

/// Serves until `shutdown` completes, then lets requests in flight finish.
pub async fn serve(
    listener: TcpListener,
    engine: &Engine,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let app = router(engine.subscribe());
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
    {
        tracing::error!("HTTP server failed: {e}");
    }
}

async fn healthz() -> &'static str {
    "ok"
}

async fn metrics(State(snapshots): State<Snapshots>) -> Response {
    let snap = snapshots.borrow().clone();
    (
        [(header::CONTENT_TYPE, prometheus::CONTENT_TYPE)],
        prometheus::render(&snap),
    )
        .into_response()
}

async fn status(State(snapshots): State<Snapshots>) -> Response {
    let snap = snapshots.borrow().clone();
    match serde_json::to_string(&*snap) {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => {
            tracing::error!("cannot serialise the status: {e}");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
