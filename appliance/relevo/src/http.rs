//! The HTTP listener: the control plane's router (`/api/v1`, `/metrics`, `/healthz`) served
//! with each connection's peer address, which the API uses for rate limits and the audit
//! log.

use std::future::Future;
use std::net::SocketAddr;

use anyhow::Context;
use relevo_control::api::ApiState;
use tokio::net::TcpListener;

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
    api: ApiState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let app = relevo_control::app(api).into_make_service_with_connect_info::<SocketAddr>();
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
    {
        tracing::error!("HTTP server failed: {e}");
    }
}
