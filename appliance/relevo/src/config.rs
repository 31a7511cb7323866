//! The configuration file: Relevo's own language for listeners and flows.
//!
//! Parsing is strict (unknown fields are errors) and every error names the file, the field
//! and the reason. The file is turned into the engine's [`DesiredState`] and
//! [`EngineConfig`]; the rules for single values live in `relevo_engine::spec` so that the
//! API will enforce exactly the same ones.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use relevo_engine::rtmp::{ClientTls, RtmpUrl};
use relevo_engine::spec::{
    self, DesiredState, GracePeriod, InputSource, InputSpec, Latency, Name, OutputKind, OutputSpec,
    Passphrase, SpecError, SrtCaller, SrtSecurity, StreamKey,
};
use relevo_engine::{EngineConfig, TlsFiles};
use serde::Deserialize;

pub const DEFAULT_SRT: &str = "0.0.0.0:8890";
pub const DEFAULT_RTMP: &str = "0.0.0.0:1935";
pub const DEFAULT_RTMPS: &str = "0.0.0.0:1936";
/// Loopback only by default: `/metrics` and the status API have no authentication yet.
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
    input: Vec<RawInput>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawListen {
    srt: Option<String>,
    rtmp: Option<String>,
    rtmps: Option<String>,
    /// HTTP: `/metrics`, `/healthz`, `/api/v1/status`.
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
    #[serde(default)]
    output: Vec<RawOutput>,
}

/// SRT fields shared by inputs and outputs (serde cannot flatten them into a struct that
/// denies unknown fields, so they are copied here).
#[derive(Debug, Default)]
struct RawSrtFlat {
    passphrase: Option<String>,
    key_length: Option<u32>,
    latency_ms: Option<u32>,
    stream_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutput {
    name: String,
    #[serde(default = "yes")]
    enabled: bool,
    push: Option<String>,
    pull: Option<String>,
    key: Option<String>,
    passphrase: Option<String>,
    key_length: Option<u32>,
    latency_ms: Option<u32>,
    stream_id: Option<String>,
    /// Push RTMP(S) only: the destination accepts Enhanced RTMP (H.265).
    enhanced_rtmp: Option<bool>,
}

macro_rules! srt_fields {
    ($raw:expr) => {
        RawSrtFlat {
            passphrase: $raw.passphrase.clone(),
            key_length: $raw.key_length,
            latency_ms: $raw.latency_ms,
            stream_id: $raw.stream_id.clone(),
        }
    };
}

fn yes() -> bool {
    true
}

/// A parsed and validated configuration file.
#[derive(Debug)]
pub struct Config {
    pub engine: EngineConfig,
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
    Ok(Config {
        engine,
        http,
        desired,
    })
}

fn addr(ctx: &Ctx, field: &str, v: Option<&str>, default: &str) -> Result<SocketAddr, ConfigError> {
    let s = v.unwrap_or(default);
    s.parse()
        .map_err(|_| ctx.err(field, format!("{s:?} is not an address like 0.0.0.0:8890")))
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
    })
}

fn name(ctx: &Ctx, at: &str, s: &str) -> Result<Name, ConfigError> {
    Name::new(s).map_err(|e| ctx.err(format!("{at}.name"), e))
}

fn security(ctx: &Ctx, at: &str, srt: &RawSrtFlat) -> Result<Option<SrtSecurity>, ConfigError> {
    match (&srt.passphrase, srt.key_length) {
        (None, None) => Ok(None),
        (None, Some(_)) => Err(ctx.err(
            format!("{at}.key_length"),
            SpecError::KeyLengthWithoutPassphrase,
        )),
        (Some(p), len) => Ok(Some(SrtSecurity {
            passphrase: Passphrase::new(p.clone())
                .map_err(|e| ctx.err(format!("{at}.passphrase"), e))?,
            // AES-128 is libsrt's and most encoders' default when only a passphrase is set.
            key_len: spec::key_len(len.unwrap_or(16))
                .map_err(|e| ctx.err(format!("{at}.key_length"), e))?,
        })),
    }
}

fn latency(ctx: &Ctx, at: &str, srt: &RawSrtFlat) -> Result<Latency, ConfigError> {
    srt.latency_ms.map_or(Ok(Latency::DEFAULT), |ms| {
        Latency::new(ms).map_err(|e| ctx.err(format!("{at}.latency_ms"), e))
    })
}

fn stream_key(ctx: &Ctx, at: &str, key: &str) -> Result<StreamKey, ConfigError> {
    StreamKey::new(key).map_err(|e| ctx.err(format!("{at}.key"), e))
}

/// Refuses SRT-only fields where they would be silently ignored.
fn no_srt_fields(ctx: &Ctx, at: &str, srt: &RawSrtFlat, why: &str) -> Result<(), ConfigError> {
    let fields = [
        ("passphrase", srt.passphrase.is_some()),
        ("key_length", srt.key_length.is_some()),
        ("latency_ms", srt.latency_ms.is_some()),
        ("stream_id", srt.stream_id.is_some()),
    ];
    match fields.iter().find(|(_, set)| *set) {
        Some((f, _)) => Err(ctx.err(format!("{at}.{f}"), why)),
        None => Ok(()),
    }
}

fn stream_id(ctx: &Ctx, at: &str, srt: &RawSrtFlat) -> Result<Option<String>, ConfigError> {
    match &srt.stream_id {
        // SRT caps the streamid at 512 bytes (SRTO_STREAMID).
        Some(s) if s.is_empty() || s.len() > 512 => {
            Err(ctx.err(format!("{at}.stream_id"), "a streamid must be 1–512 bytes"))
        }
        other => Ok(other.clone()),
    }
}

/// `srt://host:port`, nothing else: options are fields, not query parameters, because the
/// units of `latency` differ between tools (ms in srt-live-transmit, µs in ffmpeg).
fn srt_caller(
    ctx: &Ctx,
    at: &str,
    field: &str,
    url: &str,
    srt: &RawSrtFlat,
) -> Result<SrtCaller, ConfigError> {
    let bad = |reason: &str| {
        ctx.err(
            format!("{at}.{field}"),
            SpecError::Url {
                url: url.to_owned(),
                reason: reason.to_owned(),
            },
        )
    };
    let rest = url
        .strip_prefix("srt://")
        .ok_or_else(|| bad("expected srt://host:port"))?;
    if rest.contains(['/', '?', '#', '@']) {
        return Err(bad(
            "only srt://host:port is accepted; give stream_id, passphrase, key_length and latency_ms as fields",
        ));
    }
    let (host, port) = rest
        .rsplit_once(':')
        .ok_or_else(|| bad("the port is missing"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port: u16 = port
        .parse()
        .map_err(|_| bad("the port is not a number 1–65535"))?;
    if host.is_empty() || port == 0 {
        return Err(bad("host and port 1–65535 are required"));
    }
    Ok(SrtCaller {
        host: host.to_owned(),
        port,
        stream_id: stream_id(ctx, at, srt)?,
        security: security(ctx, at, srt)?,
        latency: latency(ctx, at, srt)?,
    })
}

fn rtmp_url(ctx: &Ctx, at: &str, field: &str, url: &str) -> Result<RtmpUrl, ConfigError> {
    RtmpUrl::parse(url).map_err(|e| {
        ctx.err(
            format!("{at}.{field}"),
            SpecError::Url {
                url: url.to_owned(),
                reason: e.to_string(),
            },
        )
    })
}

fn input_spec(ctx: &Ctx, at: &str, raw: &RawInput) -> Result<InputSpec, ConfigError> {
    let name = name(ctx, at, &raw.name)?;
    let at = format!("{at} ({})", raw.name);
    let srt = srt_fields!(raw);
    let source = match (&raw.key, &raw.pull) {
        (Some(key), None) => {
            if srt.stream_id.is_some() {
                return Err(ctx.err(
                    format!("{at}.stream_id"),
                    "a listening input is chosen by its key; stream_id is for pull inputs",
                ));
            }
            InputSource::Listen {
                key: stream_key(ctx, &at, key)?,
                security: security(ctx, &at, &srt)?,
                latency: latency(ctx, &at, &srt)?,
            }
        }
        (None, Some(url)) if url.starts_with("srt://") => {
            InputSource::PullSrt(srt_caller(ctx, &at, "pull", url, &srt)?)
        }
        (None, Some(url)) => {
            no_srt_fields(ctx, &at, &srt, "not used by an RTMP pull input")?;
            InputSource::PullRtmp(rtmp_url(ctx, &at, "pull", url)?)
        }
        (Some(_), Some(_)) => {
            return Err(ctx.err(
                format!("{at}.pull"),
                "an input either listens (key) or pulls (pull), not both",
            ))
        }
        (None, None) => {
            return Err(ctx.err(
                format!("{at}.key"),
                "missing: set key (encoders publish to us) or pull (we fetch the stream)",
            ))
        }
    };
    let mut outputs = Vec::with_capacity(raw.output.len());
    for (j, out) in raw.output.iter().enumerate() {
        outputs.push(output_spec(ctx, &format!("{at}.output[{j}]"), out)?);
    }
    let grace = match raw.grace_period_s {
        Some(s) => {
            GracePeriod::from_secs(s).map_err(|e| ctx.err(format!("{at}.grace_period_s"), e))?
        }
        None => GracePeriod::DEFAULT,
    };
    Ok(InputSpec {
        name,
        enabled: raw.enabled,
        source,
        grace,
        outputs,
    })
}

fn output_spec(ctx: &Ctx, at: &str, raw: &RawOutput) -> Result<OutputSpec, ConfigError> {
    let name = name(ctx, at, &raw.name)?;
    let at = format!("{at} ({})", raw.name);
    let srt = srt_fields!(raw);
    let kind = match (&raw.push, &raw.pull) {
        (Some(url), None) => {
            if raw.key.is_some() {
                return Err(ctx.err(
                    format!("{at}.key"),
                    "a push output carries its stream key in its URL",
                ));
            }
            if url.starts_with("srt://") {
                if raw.enhanced_rtmp.is_some() {
                    return Err(ctx.err(
                        format!("{at}.enhanced_rtmp"),
                        "only for push RTMP(S) outputs; SRT carries H.265 as is",
                    ));
                }
                OutputKind::PushSrt(srt_caller(ctx, &at, "push", url, &srt)?)
            } else {
                no_srt_fields(ctx, &at, &srt, "not used by an RTMP push output")?;
                OutputKind::PushRtmp {
                    url: rtmp_url(ctx, &at, "push", url)?,
                    enhanced: raw.enhanced_rtmp.unwrap_or(false),
                }
            }
        }
        (None, Some(proto)) => {
            if raw.enhanced_rtmp.is_some() {
                return Err(ctx.err(
                    format!("{at}.enhanced_rtmp"),
                    "only for push RTMP(S) outputs; players of a pull output get Enhanced RTMP when the input is H.265",
                ));
            }
            let key = raw.key.as_deref().ok_or_else(|| {
                ctx.err(
                    format!("{at}.key"),
                    "missing: a pull output needs its own key for readers",
                )
            })?;
            let key = stream_key(ctx, &at, key)?;
            match proto.as_str() {
                "srt" => {
                    if srt.stream_id.is_some() {
                        return Err(ctx.err(
                            format!("{at}.stream_id"),
                            "readers are chosen by key (read:KEY); stream_id is for push outputs",
                        ));
                    }
                    OutputKind::PullSrt {
                        key,
                        security: security(ctx, &at, &srt)?,
                        latency: latency(ctx, &at, &srt)?,
                    }
                }
                "rtmp" => {
                    no_srt_fields(ctx, &at, &srt, "not used by an RTMP pull output")?;
                    OutputKind::PullRtmp { key }
                }
                other => {
                    return Err(ctx.err(
                        format!("{at}.pull"),
                        format!("{other:?} is not a protocol: use \"srt\" or \"rtmp\""),
                    ))
                }
            }
        }
        (Some(_), Some(_)) => return Err(ctx.err(
            format!("{at}.pull"),
            "an output either pushes (push = URL) or is pulled (pull = \"srt\"|\"rtmp\"), not both",
        )),
        (None, None) => {
            return Err(ctx.err(
                format!("{at}.push"),
                "missing: set push = URL or pull = \"srt\"|\"rtmp\"",
            ))
        }
    };
    Ok(OutputSpec {
        name,
        enabled: raw.enabled,
        kind,
    })
}

#[cfg(test)]
mod tests;
