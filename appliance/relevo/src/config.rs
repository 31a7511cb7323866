//! The configuration file: Relevo's own language for listeners and flows.
//!
//! Parsing is strict (unknown fields are errors) and every error names the file, the field
//! and the reason. The file is turned into the engine's [`DesiredState`] and
//! [`EngineConfig`]; the rules for single values live in `relevo_engine::spec` so that the
//! API will enforce exactly the same ones.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use relevo_control::flow_doc::{FieldError, InputDoc, OutputDoc};
use relevo_engine::record::disk::DiskFloor;
use relevo_engine::record::RecordingConfig;
use relevo_engine::rtmp::{ClientTls, RtmpLimits};
use relevo_engine::spec::{DesiredState, InputSpec, Name, OutputSpec};
use relevo_engine::{EngineConfig, TlsFiles};
use serde::Deserialize;

pub const DEFAULT_SRT: &str = "0.0.0.0:8890";
pub const DEFAULT_RTMP: &str = "0.0.0.0:1935";
pub const DEFAULT_RTMPS: &str = "0.0.0.0:1936";
/// Loopback only by default: the appliance's nginx terminates HTTPS in front of it.
pub const DEFAULT_HTTP: &str = "127.0.0.1:8080";

/// A configuration error, located.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: cannot read: {source}")]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{file}: {message}")]
    Syntax { file: PathBuf, message: String },
    #[error("{file}: {field}: {reason}")]
    Field {
        file: PathBuf,
        field: String,
        reason: String,
    },
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    listen: RawListen,
    tls: Option<RawTls>,
    #[serde(default)]
    database: RawDatabase,
    #[serde(default)]
    api: RawApi,
    #[serde(default)]
    http: RawHttp,
    #[serde(default)]
    rtmp: RawRtmp,
    #[serde(default)]
    recording: RawRecording,
    #[serde(default)]
    hls: RawHls,
    #[serde(default)]
    history: RawHistory,
    #[serde(default)]
    alerts: RawAlerts,
    #[serde(default)]
    input: Vec<RawInput>,
}

/// `[alerts]`: how hard a message is tried, and certificates to watch besides `[tls]`'s.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawAlerts {
    /// Attempts of one alert delivery before it is `failed`: default 6 (about 21 minutes of
    /// backoff), 1–20.
    delivery_attempts: Option<u32>,
    /// More PEM certificate files for `cert_expiry` rules (the HTTPS certificate when
    /// nginx's is another file); `[tls] certificate` is always watched.
    #[serde(default)]
    certificates: Vec<PathBuf>,
}

/// `[history]`: how long flow history (minute rows, events) is kept.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawHistory {
    /// Default 30 days; 1–3650.
    retention_days: Option<u32>,
}

/// `[recording]`: where record outputs write and the free space they leave (the floor is
/// the smaller of the two, see `relevo_engine::record::disk`).
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRecording {
    /// Default `<state_dir>/recordings`.
    dir: Option<PathBuf>,
    min_free_percent: Option<u8>,
    min_free_gib: Option<u32>,
}

/// `[hls]`: HLS outputs' timing and window (every session of the engine) and who may read
/// them from a web page (CORS).
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawHls {
    /// `"*"` (any page, the default) or origins like `"https://example.com"`.
    allowed_origins: Option<Vec<String>>,
    /// Target segment duration (default 2000 ms, 1000–10000).
    segment_ms: Option<u64>,
    /// LL-HLS part target (default 333 ms, 100–1000, below `segment_ms`).
    part_ms: Option<u64>,
    /// Segments in the playlist (default 6, 3–30).
    window: Option<usize>,
}

/// `[rtmp]`: connection limits of the RTMP and RTMPS listeners together (see
/// `relevo_engine::rtmp::server::admission` for the defaults and where they come from).
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRtmp {
    max_connections: Option<usize>,
    /// Connections that have not yet published or played.
    max_unauthenticated: Option<usize>,
    max_unauthenticated_per_address: Option<usize>,
    /// From accept to an accepted publish or play.
    setup_timeout_s: Option<u64>,
    /// What all unauthenticated connections together may make the relay buffer.
    max_unauthenticated_buffer_mib: Option<usize>,
}

/// `[http]`: who the HTTP server trusts and how many connections it keeps (see
/// `relevo_control::api::edge` for the defaults and where they come from).
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    /// Proxies whose `X-Forwarded-*` headers are believed (default: none).
    trusted_proxies: Option<Vec<String>>,
    header_read_timeout_s: Option<u64>,
    idle_timeout_s: Option<u64>,
    max_connections: Option<usize>,
    max_connections_per_address: Option<usize>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawApi {
    /// Lifetime of access tokens (default 900 s).
    access_token_ttl_s: Option<u64>,
    /// Lifetime of an unused refresh token (default 30 days).
    refresh_token_ttl_s: Option<u64>,
    /// Days failed sign-ins stay in the audit log (default 90).
    failed_sign_in_retention_days: Option<u32>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawDatabase {
    /// `postgres://…`; without it Relevo runs its own PostgreSQL under `state_dir`.
    url: Option<String>,
    /// Where the embedded PostgreSQL lives (default /var/lib/relevo).
    state_dir: Option<PathBuf>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawListen {
    srt: Option<String>,
    rtmp: Option<String>,
    rtmps: Option<String>,
    /// HTTP: the API, `/metrics`, `/healthz`.
    http: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    certificate: PathBuf,
    key: PathBuf,
    /// Extra CA certificates trusted by RTMPS push outputs and pull inputs.
    extra_roots: Option<PathBuf>,
}

/// An `[[input]]` table: [`InputDoc`]'s fields plus its `[[input.output]]` tables. The fields
/// are repeated because serde ignores `deny_unknown_fields` inside a flattened struct.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInput {
    name: String,
    #[serde(default = "yes")]
    enabled: bool,
    key: Option<String>,
    pull: Option<String>,
    passphrase: Option<String>,
    key_length: Option<u32>,
    latency_ms: Option<u32>,
    stream_id: Option<String>,
    /// Seconds outputs wait for a dropped publisher (0–300, default 10).
    grace_period_s: Option<u64>,
    /// The input's own SRT port (issue #18).
    srt_port: Option<u32>,
    /// `[input.backup]` (issue #18).
    backup: Option<relevo_control::flow_doc::BackupDoc>,
    #[serde(default)]
    output: Vec<OutputDoc>,
}

fn yes() -> bool {
    true
}

pub const DEFAULT_STATE_DIR: &str = "/var/lib/relevo";

/// Where the control plane's database is. `RELEVO_DATABASE_URL` and `RELEVO_STATE_DIR`
/// override the file (so a URL with a password can come from a systemd credential).
#[derive(Clone)]
pub struct DatabaseConfig {
    pub url: Option<String>,
    pub state_dir: PathBuf,
}

impl std::fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold a password.
        f.debug_struct("DatabaseConfig")
            .field("url", &self.url.as_ref().map(|_| "***"))
            .field("state_dir", &self.state_dir)
            .finish()
    }
}

/// A parsed and validated configuration file.
#[derive(Debug)]
pub struct Config {
    pub engine: EngineConfig,
    pub database: DatabaseConfig,
    pub api: relevo_control::api::ApiConfig,
    /// Where the HTTP server listens.
    pub http: SocketAddr,
    pub desired: DesiredState,
}

/// Collects the location of the field being checked.
struct Ctx<'a> {
    file: &'a Path,
}

impl Ctx<'_> {
    fn err(&self, field: impl Into<String>, reason: impl ToString) -> ConfigError {
        ConfigError::Field {
            file: self.file.to_owned(),
            field: field.into(),
            reason: reason.to_string(),
        }
    }

    fn field(&self, e: FieldError) -> ConfigError {
        ConfigError::Field {
            file: self.file.to_owned(),
            field: e.field,
            reason: e.reason,
        }
    }
}

pub fn load(file: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(file).map_err(|source| ConfigError::Read {
        file: file.to_owned(),
        source,
    })?;
    parse(file, &text)
}

pub fn parse(file: &Path, text: &str) -> Result<Config, ConfigError> {
    let raw: RawFile = toml::from_str(text).map_err(|e| ConfigError::Syntax {
        file: file.to_owned(),
        message: e.to_string().trim_end().to_owned(),
    })?;
    let ctx = Ctx { file };
    let engine = engine_config(&ctx, &raw)?;
    let http = addr(
        &ctx,
        "listen.http",
        raw.listen.http.as_deref(),
        DEFAULT_HTTP,
    )?;
    let mut inputs = Vec::with_capacity(raw.input.len());
    for (i, input) in raw.input.iter().enumerate() {
        inputs.push(input_spec(&ctx, &format!("input[{i}]"), input)?);
    }
    let desired = DesiredState { inputs };
    desired.validate().map_err(|e| ctx.err("input", e))?;
    own_srt_ports_free(&ctx, &desired, engine.srt.map(|a| a.port()))?;
    let database = DatabaseConfig {
        url: std::env::var("RELEVO_DATABASE_URL")
            .ok()
            .filter(|u| !u.is_empty())
            .or(raw.database.url.clone()),
        state_dir: state_dir(&raw),
    };
    let mut api = relevo_control::api::ApiConfig::default();
    api.endpoints = relevo_control::api::Endpoints {
        srt: engine.srt.map(|a| a.port()),
        rtmp: engine.rtmp.map(|a| a.port()),
        rtmps: engine.rtmps.map(|a| a.port()),
    };
    match raw.api.access_token_ttl_s {
        Some(s @ 1..=86_400) => api.access_ttl = std::time::Duration::from_secs(s),
        Some(_) => return Err(ctx.err("api.access_token_ttl_s", "must be 1–86400 seconds")),
        None => {}
    }
    match raw.api.refresh_token_ttl_s {
        Some(s @ 60..=31_536_000) => api.refresh_ttl = time::Duration::seconds(s as i64),
        Some(_) => return Err(ctx.err("api.refresh_token_ttl_s", "must be 60 s to 1 year")),
        None => {}
    }
    api.edge = edge_config(&ctx, &raw.http)?;
    api.hls = hls_http_config(&ctx, &raw.hls)?;
    match raw.history.retention_days {
        Some(d @ 1..=3650) => api.history.retention = time::Duration::days(d.into()),
        Some(_) => return Err(ctx.err("history.retention_days", "must be 1–3650 days")),
        None => {}
    }
    match raw.alerts.delivery_attempts {
        Some(n @ 1..=20) => api.alerts.delivery_attempts = n,
        Some(_) => return Err(ctx.err("alerts.delivery_attempts", "must be 1–20")),
        None => {}
    }
    api.alerts.certificates = raw
        .tls
        .iter()
        .map(|t| t.certificate.clone())
        .chain(raw.alerts.certificates.iter().cloned())
        .collect();
    match raw.api.failed_sign_in_retention_days {
        Some(d @ 1..=3650) => api.failed_sign_in_retention = time::Duration::days(d.into()),
        Some(_) => {
            let field = "api.failed_sign_in_retention_days";
            return Err(ctx.err(field, "must be 1–3650 days"));
        }
        None => {}
    }
    Ok(Config {
        engine,
        database,
        api,
        http,
        desired,
    })
}

fn edge_config(
    ctx: &Ctx,
    raw: &RawHttp,
) -> Result<relevo_control::api::edge::EdgeConfig, ConfigError> {
    use std::time::Duration;
    let mut edge = relevo_control::api::edge::EdgeConfig::default();
    for (i, p) in raw.trusted_proxies.iter().flatten().enumerate() {
        let ip = p.parse().map_err(|_| {
            ctx.err(
                format!("http.trusted_proxies[{i}]"),
                format!("{p:?} is not an IP address like 127.0.0.1"),
            )
        })?;
        edge.trusted_proxies.push(ip);
    }
    let secs = |field: &str, v: Option<u64>, default: Duration| match v {
        None => Ok(default),
        Some(s @ 1..=3600) => Ok(Duration::from_secs(s)),
        Some(_) => Err(ctx.err(field, "must be 1–3600 seconds")),
    };
    edge.header_read_timeout = secs(
        "http.header_read_timeout_s",
        raw.header_read_timeout_s,
        edge.header_read_timeout,
    )?;
    edge.idle_timeout = secs("http.idle_timeout_s", raw.idle_timeout_s, edge.idle_timeout)?;
    let count = |field: &str, v: Option<usize>, default: usize| match v {
        None => Ok(default),
        Some(n @ 1..=1_000_000) => Ok(n),
        Some(_) => Err(ctx.err(field, "must be 1–1000000")),
    };
    edge.max_connections = count(
        "http.max_connections",
        raw.max_connections,
        edge.max_connections,
    )?;
    edge.max_connections_per_address = count(
        "http.max_connections_per_address",
        raw.max_connections_per_address,
        edge.max_connections_per_address,
    )?;
    Ok(edge)
}

fn addr(ctx: &Ctx, field: &str, v: Option<&str>, default: &str) -> Result<SocketAddr, ConfigError> {
    let s = v.unwrap_or(default);
    s.parse()
        .map_err(|_| ctx.err(field, format!("{s:?} is not an address like 0.0.0.0:8890")))
}

/// `RELEVO_STATE_DIR`, else `[database] state_dir`, else [`DEFAULT_STATE_DIR`].
fn state_dir(raw: &RawFile) -> PathBuf {
    std::env::var_os("RELEVO_STATE_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| raw.database.state_dir.clone())
        .unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIR))
}

/// `[hls] allowed_origins`.
fn hls_http_config(
    ctx: &Ctx,
    raw: &RawHls,
) -> Result<relevo_control::api::hls::HlsHttpConfig, ConfigError> {
    use relevo_control::api::hls::{AllowedOrigins, HlsHttpConfig};
    let allowed_origins = match &raw.allowed_origins {
        None => AllowedOrigins::Any,
        Some(list) => AllowedOrigins::from_list(list)
            .map_err(|(i, e)| ctx.err(format!("hls.allowed_origins[{i}]"), e))?,
    };
    Ok(HlsHttpConfig { allowed_origins })
}

/// `[hls]` timing: segment, part and window of every HLS session.
fn hls_config(ctx: &Ctx, raw: &RawHls) -> Result<relevo_engine::hls::HlsConfig, ConfigError> {
    use std::time::Duration;
    let mut c = relevo_engine::hls::HlsConfig::default();
    // Apple's authoring spec asks for 6 s segments; LL-HLS origins use 1–4 s. Below 1 s a
    // GOP rarely fits; above 10 s the live edge is far behind.
    match raw.segment_ms {
        None => {}
        Some(ms @ 1000..=10_000) => c.segment = Duration::from_millis(ms),
        Some(_) => return Err(ctx.err("hls.segment_ms", "must be 1000–10000 ms")),
    }
    // LL-HLS parts are typically 200–500 ms; 100 ms bounds the number of parts (and
    // requests) per segment.
    match raw.part_ms {
        None => {}
        Some(ms @ 100..=1000) => c.part = Duration::from_millis(ms),
        Some(_) => return Err(ctx.err("hls.part_ms", "must be 100–1000 ms")),
    }
    if c.part >= c.segment {
        return Err(ctx.err("hls.part_ms", "must be shorter than hls.segment_ms"));
    }
    // RFC 8216 §6.2.2: a live playlist holds at least three target durations; 30 segments
    // bound the memory each session keeps.
    match raw.window {
        None => {}
        Some(n @ 3..=30) => c.window = n,
        Some(_) => return Err(ctx.err("hls.window", "must be 3–30 segments")),
    }
    Ok(c)
}

fn recording_config(ctx: &Ctx, raw: &RawFile) -> Result<RecordingConfig, ConfigError> {
    let r = &raw.recording;
    let dir = match &r.dir {
        Some(d) if d.as_os_str().is_empty() => {
            return Err(ctx.err("recording.dir", "must not be empty"))
        }
        Some(d) => d.clone(),
        None => state_dir(raw).join("recordings"),
    };
    let percent = match r.min_free_percent {
        None => DiskFloor::DEFAULT_PERCENT,
        Some(p @ 0..=100) => p,
        Some(_) => return Err(ctx.err("recording.min_free_percent", "must be 0–100")),
    };
    let gib = match r.min_free_gib {
        None => DiskFloor::DEFAULT_GIB,
        Some(g @ 0..=1_000_000) => g,
        Some(_) => return Err(ctx.err("recording.min_free_gib", "must be 0–1000000")),
    };
    Ok(RecordingConfig {
        dir,
        floor: DiskFloor { percent, gib },
    })
}

fn engine_config(ctx: &Ctx, raw: &RawFile) -> Result<EngineConfig, ConfigError> {
    let srt = Some(addr(
        ctx,
        "listen.srt",
        raw.listen.srt.as_deref(),
        DEFAULT_SRT,
    )?);
    let rtmp = Some(addr(
        ctx,
        "listen.rtmp",
        raw.listen.rtmp.as_deref(),
        DEFAULT_RTMP,
    )?);
    let (rtmps, tls, client_tls) = match &raw.tls {
        Some(t) => {
            let client = match &t.extra_roots {
                Some(p) => {
                    ClientTls::with_extra_roots(p).map_err(|e| ctx.err("tls.extra_roots", e))?
                }
                None => ClientTls::new(),
            };
            (
                Some(addr(
                    ctx,
                    "listen.rtmps",
                    raw.listen.rtmps.as_deref(),
                    DEFAULT_RTMPS,
                )?),
                Some(TlsFiles {
                    cert: t.certificate.clone(),
                    key: t.key.clone(),
                }),
                client,
            )
        }
        None if raw.listen.rtmps.is_some() => {
            return Err(ctx.err(
                "listen.rtmps",
                "RTMPS needs a [tls] section with certificate and key",
            ))
        }
        None => (None, None, ClientTls::new()),
    };
    Ok(EngineConfig {
        srt,
        rtmp,
        rtmps,
        tls,
        client_tls,
        rtmp_limits: rtmp_limits(ctx, &raw.rtmp)?,
        recording: recording_config(ctx, raw)?,
        hls: hls_config(ctx, &raw.hls)?,
    })
}

fn rtmp_limits(ctx: &Ctx, raw: &RawRtmp) -> Result<RtmpLimits, ConfigError> {
    let d = RtmpLimits::default();
    let within = |field: &str, v: Option<usize>, default: usize, max: usize| match v {
        None => Ok(default),
        Some(n) if (1..=max).contains(&n) => Ok(n),
        Some(_) => Err(ctx.err(field, format!("must be 1–{max}"))),
    };
    let total = within(
        "rtmp.max_connections",
        raw.max_connections,
        d.max_connections,
        1_000_000,
    )?;
    // At least one place stays for publishers and players.
    let unauth_max = total.saturating_sub(1).max(1);
    let field = "rtmp.max_unauthenticated";
    let unauth = within(
        field,
        raw.max_unauthenticated,
        d.max_unauthenticated.min(unauth_max),
        unauth_max,
    )?;
    let field = "rtmp.max_unauthenticated_per_address";
    let per_address = raw.max_unauthenticated_per_address;
    let per_address = within(field, per_address, d.max_per_address.min(unauth), unauth)?;
    let setup_timeout = match raw.setup_timeout_s {
        None => d.setup_timeout,
        Some(s @ 1..=300) => std::time::Duration::from_secs(s),
        Some(_) => return Err(ctx.err("rtmp.setup_timeout_s", "must be 1–300 seconds")),
    };
    let field = "rtmp.max_unauthenticated_buffer_mib";
    let mib = raw.max_unauthenticated_buffer_mib;
    let mib = within(field, mib, d.max_unauthenticated_bytes >> 20, 4096)?;
    Ok(RtmpLimits {
        max_connections: total,
        max_unauthenticated: unauth,
        max_per_address: per_address,
        setup_timeout,
        max_unauthenticated_bytes: mib << 20,
    })
}

fn input_spec(ctx: &Ctx, at: &str, raw: &RawInput) -> Result<InputSpec, ConfigError> {
    let doc = InputDoc {
        name: raw.name.clone(),
        enabled: raw.enabled,
        key: raw.key.clone(),
        pull: raw.pull.clone(),
        passphrase: raw.passphrase.clone(),
        key_length: raw.key_length,
        latency_ms: raw.latency_ms,
        stream_id: raw.stream_id.clone(),
        grace_period_s: raw.grace_period_s,
        srt_port: raw.srt_port,
        backup: raw.backup.clone(),
    };
    if let Err(e) = Name::new(raw.name.clone()) {
        return Err(ctx.err(format!("{at}.name"), e));
    }
    let at = format!("{at} ({})", raw.name);
    let def = doc.to_def().map_err(|e| ctx.field(e.under(&at)))?;
    let mut outputs = Vec::with_capacity(raw.output.len());
    for (j, out) in raw.output.iter().enumerate() {
        outputs.push(output_spec(ctx, &format!("{at}.output[{j}]"), out)?);
    }
    Ok(def.into_spec(outputs))
}

/// An input's own SRT port may not be the shared SRT listener's: the input could never bind
/// it (issue #18).
fn own_srt_ports_free(
    ctx: &Ctx,
    desired: &DesiredState,
    shared: Option<u16>,
) -> Result<(), ConfigError> {
    for (i, input) in desired.inputs.iter().enumerate() {
        if let relevo_engine::spec::InputSource::Listen {
            srt_port: Some(port),
            ..
        } = &input.source
        {
            if shared == Some(*port) {
                let field = format!("input[{i}] ({}).srt_port", input.name.as_str());
                return Err(ctx.err(field, format!("{port} is the shared SRT port (listen.srt)")));
            }
        }
    }
    Ok(())
}

fn output_spec(ctx: &Ctx, at: &str, doc: &OutputDoc) -> Result<OutputSpec, ConfigError> {
    if let Err(e) = Name::new(doc.name.clone()) {
        return Err(ctx.err(format!("{at}.name"), e));
    }
    let at = format!("{at} ({})", doc.name);
    doc.to_spec().map_err(|e| ctx.field(e.under(&at)))
}

#[cfg(test)]
mod tests;
