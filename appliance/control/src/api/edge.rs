//! The HTTP edge's settings: which peers are trusted proxies, and the connection limits the
//! binary's server enforces (`[http]` in the configuration file). The control plane only
//! reads the per-request marker [`ViaTrustedProxy`]; the server sets it.

use std::net::IpAddr;
use std::time::Duration;

/// A client that sends no complete request head within this time is cut off (slowloris).
/// Browsers send a whole request head at once; 10 s is generous for a slow mobile link.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// A connection on which no byte moves either way for this long is closed (a stalled body
/// upload or a reader that stopped reading). WebSockets are exempt: they have their own.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Open HTTP connections at once; beyond it new ones wait in the kernel's queue. Far above
/// a panel's needs (a browser opens about 6 plus one WebSocket), far below the 65 536 file
/// descriptors the appliance's unit allows, which the media listeners share.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// Open HTTP connections from one address (a trusted proxy excepted: it carries everyone);
/// beyond it new ones are closed at once. A few browsers behind one NAT fit easily.
pub const DEFAULT_MAX_CONNECTIONS_PER_ADDRESS: usize = 64;

/// How the HTTP server treats its peers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeConfig {
    /// Peers whose `X-Forwarded-For`, `X-Real-IP`, `X-Forwarded-Proto` and
    /// `X-Forwarded-Host` are believed (the appliance's nginx). Empty by default: without a
    /// proxy configured, a forwarded header is just text any client can send.
    pub trusted_proxies: Vec<IpAddr>,
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
    pub max_connections_per_address: usize,
}

impl Default for EdgeConfig {
    fn default() -> Self {
        Self {
            trusted_proxies: Vec::new(),
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_connections_per_address: DEFAULT_MAX_CONNECTIONS_PER_ADDRESS,
        }
    }
}

impl EdgeConfig {
    pub fn trusts(&self, peer: IpAddr) -> bool {
        let peer = peer.to_canonical();
        self.trusted_proxies
            .iter()
            .any(|p| p.to_canonical() == peer)
    }
}

/// A request extension: the request came from one of [`EdgeConfig::trusted_proxies`], so its
/// forwarded headers tell the client's address and scheme.
#[derive(Debug, Clone, Copy)]
pub struct ViaTrustedProxy;

/// Whether the request came through a trusted proxy.
pub fn via_trusted_proxy(parts: &axum::http::request::Parts) -> bool {
    parts.extensions.get::<ViaTrustedProxy>().is_some()
}
