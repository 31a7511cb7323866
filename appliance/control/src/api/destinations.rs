//! The save-time half of the private-destination rule (`relevo_engine::destination` is the
//! connect-time half): unless the admin allows it (`allow_private_destinations` in the
//! settings), a push output or a pull input created or changed through the API (or the
//! panel) may not name a loopback, private or link-local address. A literal IP is refused
//! at once; a host name is resolved and each address checked. The engine checks again at
//! every connection attempt, so a name that resolves elsewhere later is refused then.

use std::net::IpAddr;
use std::time::Duration;

use axum::http::StatusCode;
use relevo_engine::destination::is_private;
use relevo_engine::spec::{BackupSource, InputSource, OutputKind, OutputSpec};

use super::error::{ApiError, ApiResult};
use super::ApiState;
use crate::store::{settings, InputDef};

/// How long a save waits for the host name to resolve. A name that does not resolve in time
/// is let through: the engine checks again when it connects.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(3);

/// Refuses an input whose pull source, or its backup's, is private, unless allowed.
pub async fn check_input(s: &ApiState, def: &InputDef) -> ApiResult<()> {
    let main = match &def.source {
        InputSource::PullSrt(c) => Some((c.host.as_str(), c.port)),
        InputSource::PullRtmp(url) => Some((url.host(), url.port())),
        InputSource::Listen { .. } => None,
    };
    if let Some((host, port)) = main {
        check(s, "pull", host, port).await?;
    }
    let backup = match def.backup.as_ref().map(|b| &b.source) {
        Some(BackupSource::PullSrt(c)) => Some((c.host.as_str(), c.port)),
        Some(BackupSource::PullRtmp(url)) => Some((url.host(), url.port())),
        Some(BackupSource::Key(_)) | None => None,
    };
    if let Some((host, port)) = backup {
        check(s, "backup.pull", host, port).await?;
    }
    Ok(())
}

/// Refuses an output whose push destination is private, unless allowed.
pub async fn check_output(s: &ApiState, spec: &OutputSpec) -> ApiResult<()> {
    let (host, port) = match &spec.kind {
        OutputKind::PushSrt(c) => (c.host.as_str(), c.port),
        OutputKind::PushRtmp { url, .. } => (url.host(), url.port()),
        OutputKind::PullSrt { .. }
        | OutputKind::PullRtmp { .. }
        | OutputKind::PullHls { .. }
        | OutputKind::Record(_) => return Ok(()),
    };
    check(s, "push", host, port).await
}

async fn check(s: &ApiState, field: &str, host: &str, port: u16) -> ApiResult<()> {
    if settings::private_destinations_allowed(s.control.pool()).await? {
        return Ok(());
    }
    // What a name resolves to is not said: a técnico is not to learn the internal DNS.
    let refuse = |what: &str| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "private_destination",
            format!(
                "{host} {what} a loopback, private or link-local address; an admin can allow \
                 private destinations in the settings (allow_private_destinations)"
            ),
        )
        .field(field)
    };
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = literal.parse::<IpAddr>() {
        return if is_private(ip) {
            Err(refuse("is"))
        } else {
            Ok(())
        };
    }
    let resolved = tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((host, port)));
    if let Ok(Ok(mut addrs)) = resolved.await {
        if addrs.any(|a| is_private(a.ip())) {
            return Err(refuse("resolves to"));
        }
    }
    Ok(())
}
