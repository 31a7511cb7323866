//! Flows as documents: the one textual shape of an input and of an output, shared by the
//! configuration file (TOML), the REST API (JSON) and the configuration export.
//!
//! The fields are the operator's vocabulary (`key`, `pull = "srt://host:port"`,
//! `passphrase`, `latency_ms`, `record = "mp4"`…), not the database's columns. Parsing is strict: unknown
//! fields are refused by serde, and [`InputDoc::to_def`] / [`OutputDoc::to_spec`] refuse
//! fields that would be silently ignored, naming the field. Single values are checked by
//! `relevo_engine::spec`'s newtypes, so the file, the API and an import obey the same rules.
//! Documents carry secrets (keys, passphrases, URLs with keys): callers decide who sees them.

use relevo_engine::rtmp::RtmpUrl;
use relevo_engine::spec::{
    self, GracePeriod, InputSource, Latency, Name, OutputKind, OutputSpec, Passphrase, Platform,
    RecordFormat, RecordSpec, Retention, SegmentDuration, SpecError, SrtCaller, SrtSecurity,
    StreamKey,
};
use serde::{Deserialize, Serialize};

use crate::store::InputDef;

mod backup;

pub use backup::BackupDoc;

/// A refused field: its path inside the document (`latency_ms`, `output[2].push`) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct FieldError {
    pub field: String,
    pub reason: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, reason: impl ToString) -> Self {
        Self {
            field: field.into(),
            reason: reason.to_string(),
        }
    }

    /// The same error, located under `prefix` (`input[0]` + `name` → `input[0].name`).
    pub fn under(self, prefix: &str) -> Self {
        Self {
            field: format!("{prefix}.{}", self.field),
            reason: self.reason,
        }
    }
}

/// An input: either `key` (encoders publish to us) or `pull` (we fetch the stream).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputDoc {
    pub name: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// `srt://host:port` or `rtmp(s)://host[:port]/app/key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passphrase: Option<String>,
    /// AES key length in bytes: 16, 24 or 32 (16 when only a passphrase is given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_length: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_id: Option<String>,
    /// Seconds outputs wait for a dropped publisher (0–300, default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_period_s: Option<u64>,
    /// Listening inputs: an SRT port of the input's own (1024–65535, passphrase required)
    /// for encoders that send no stream id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub srt_port: Option<u32>,
    /// A redundant feed of the same programme (`[input.backup]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<BackupDoc>,
}

/// An output: `push` (a URL we send to), `pull` (`"srt"` or `"rtmp"`: readers fetch it from
/// us with the output's own `key`) or `record` (`"mp4"` or `"ts"`: files on this machine).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputDoc {
    pub name: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passphrase: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_length: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_id: Option<String>,
    /// Push RTMP(S) only: the destination accepts Enhanced RTMP (H.265).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enhanced_rtmp: Option<bool>,
    /// Push RTMP(S) only: `"youtube"`, `"twitch"` or `"facebook"`, whose ingest rules the
    /// codec pre-flight applies; unset: found from the URL's host, else generic RTMP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// The recording's container: `"mp4"` (fragmented MP4) or `"ts"` (MPEG-TS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
    /// Record only: seconds one file lasts (10–86400, default 3600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment_s: Option<u64>,
    /// Record only: files older than this many days are removed (at least 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_days: Option<u32>,
    /// Record only: the oldest files are removed past this many GiB (at least 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_gib: Option<u32>,
    /// Record only: the oldest files are removed past this many files (at least 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_files: Option<u32>,
}

fn yes() -> bool {
    true
}

/// The SRT fields inputs and outputs share.
#[derive(Debug, Default)]
struct SrtFields<'a> {
    passphrase: Option<&'a str>,
    key_length: Option<u32>,
    latency_ms: Option<u32>,
    stream_id: Option<&'a str>,
}

impl InputDoc {
    fn srt(&self) -> SrtFields<'_> {
        SrtFields {
            passphrase: self.passphrase.as_deref(),
            key_length: self.key_length,
            latency_ms: self.latency_ms,
            stream_id: self.stream_id.as_deref(),
        }
    }

    /// The document of a stored or configured input (secrets included).
    pub fn from_def(def: &InputDef) -> Self {
        let mut doc = InputDoc {
            name: def.name.as_str().to_owned(),
            enabled: def.enabled,
            key: None,
            pull: None,
            passphrase: None,
            key_length: None,
            latency_ms: None,
            stream_id: None,
            grace_period_s: (def.grace != GracePeriod::DEFAULT)
                .then(|| def.grace.duration().as_secs()),
            srt_port: None,
            backup: def.backup.as_ref().map(BackupDoc::from_spec),
        };
        match &def.source {
            InputSource::Listen {
                key,
                security,
                latency,
                srt_port,
            } => {
                doc.srt_port = srt_port.map(u32::from);
                doc.key = Some(key.expose().to_owned());
                (doc.passphrase, doc.key_length) = security_fields(security.as_ref());
                doc.latency_ms = Some(latency.ms());
            }
            InputSource::PullSrt(c) => {
                doc.pull = Some(srt_url(c));
                doc.stream_id = c.stream_id.clone();
                (doc.passphrase, doc.key_length) = security_fields(c.security.as_ref());
                doc.latency_ms = Some(c.latency.ms());
            }
            InputSource::PullRtmp(url) => doc.pull = Some(url.to_string()),
        }
        doc
    }

    /// Validates the document into an input definition.
    pub fn to_def(&self) -> Result<InputDef, FieldError> {
        let name = Name::new(self.name.clone()).map_err(|e| FieldError::new("name", e))?;
        let srt = self.srt();
        let source = match (&self.key, &self.pull) {
            (Some(key), None) => {
                if srt.stream_id.is_some() {
                    return Err(FieldError::new(
                        "stream_id",
                        "a listening input is chosen by its key; stream_id is for pull inputs",
                    ));
                }
                let security = security(&srt)?;
                InputSource::Listen {
                    key: stream_key(key)?,
                    srt_port: backup::own_srt_port(self.srt_port, true, security.is_some())?,
                    security,
                    latency: latency(&srt)?,
                }
            }
            (None, Some(url)) if url.starts_with("srt://") => {
                backup::own_srt_port(self.srt_port, false, false)?;
                InputSource::PullSrt(srt_caller("pull", url, &srt)?)
            }
            (None, Some(url)) => {
                backup::own_srt_port(self.srt_port, false, false)?;
                no_srt_fields(&srt, "not used by an RTMP pull input")?;
                InputSource::PullRtmp(rtmp_url("pull", url)?)
            }
            (Some(_), Some(_)) => {
                return Err(FieldError::new(
                    "pull",
                    "an input either listens (key) or pulls (pull), not both",
                ))
            }
            (None, None) => {
                return Err(FieldError::new(
                    "key",
                    "missing: set key (encoders publish to us) or pull (we fetch the stream)",
                ))
            }
        };
        let grace = match self.grace_period_s {
            Some(s) => {
                GracePeriod::from_secs(s).map_err(|e| FieldError::new("grace_period_s", e))?
            }
            None => GracePeriod::DEFAULT,
        };
        let backup = self
            .backup
            .as_ref()
            .map(|b| b.to_spec(&source).map_err(|e| e.under("backup")))
            .transpose()?;
        Ok(InputDef {
            name,
            enabled: self.enabled,
            source,
            grace,
            backup,
        })
    }
}

impl OutputDoc {
    fn srt(&self) -> SrtFields<'_> {
        SrtFields {
            passphrase: self.passphrase.as_deref(),
            key_length: self.key_length,
            latency_ms: self.latency_ms,
            stream_id: self.stream_id.as_deref(),
        }
    }

    /// The document of a stored or configured output (secrets included).
    pub fn from_spec(spec: &OutputSpec) -> Self {
        let mut doc = OutputDoc {
            name: spec.name.as_str().to_owned(),
            enabled: spec.enabled,
            push: None,
            pull: None,
            key: None,
            passphrase: None,
            key_length: None,
            latency_ms: None,
            stream_id: None,
            enhanced_rtmp: None,
            platform: None,
            record: None,
            segment_s: None,
            keep_days: None,
            keep_gib: None,
            keep_files: None,
        };
        match &spec.kind {
            OutputKind::PushSrt(c) => {
                doc.push = Some(srt_url(c));
                doc.stream_id = c.stream_id.clone();
                (doc.passphrase, doc.key_length) = security_fields(c.security.as_ref());
                doc.latency_ms = Some(c.latency.ms());
            }
            OutputKind::PushRtmp {
                url,
                enhanced,
                platform,
            } => {
                doc.push = Some(url.to_string());
                doc.enhanced_rtmp = enhanced.then_some(true);
                doc.platform = platform.map(|p| p.as_str().to_owned());
            }
            OutputKind::PullSrt {
                key,
                security,
                latency,
            } => {
                doc.pull = Some("srt".to_owned());
                doc.key = Some(key.expose().to_owned());
                (doc.passphrase, doc.key_length) = security_fields(security.as_ref());
                doc.latency_ms = Some(latency.ms());
            }
            OutputKind::PullRtmp { key } => {
                doc.pull = Some("rtmp".to_owned());
                doc.key = Some(key.expose().to_owned());
            }
            OutputKind::PullHls { key } => {
                doc.pull = Some("hls".to_owned());
                doc.key = Some(key.expose().to_owned());
            }
            OutputKind::Record(r) => {
                doc.record = Some(r.format.as_str().to_owned());
                // Written even at the default: an export says how long its files are.
                doc.segment_s = Some(r.segment.duration().as_secs());
                doc.keep_days = r.retention.max_days;
                doc.keep_gib = r.retention.max_gib;
                doc.keep_files = r.retention.max_files;
            }
        }
        doc
    }

    /// Validates the document into an output spec.
    pub fn to_spec(&self) -> Result<OutputSpec, FieldError> {
        let name = Name::new(self.name.clone()).map_err(|e| FieldError::new("name", e))?;
        let kind = match &self.record {
            Some(format) => OutputKind::Record(self.record_spec(format)?),
            None => {
                self.no_record_fields()?;
                self.stream_kind()?
            }
        };
        Ok(OutputSpec {
            name,
            enabled: self.enabled,
            kind,
        })
    }

    /// A recording: only the record fields may be set, every other one would be ignored.
    fn record_spec(&self, format: &str) -> Result<RecordSpec, FieldError> {
        const WHY: &str = "not used by a record output (it writes files on this machine)";
        let others = [
            ("push", self.push.is_some()),
            ("pull", self.pull.is_some()),
            ("key", self.key.is_some()),
            ("enhanced_rtmp", self.enhanced_rtmp.is_some()),
            ("platform", self.platform.is_some()),
        ];
        if let Some((f, _)) = others.iter().find(|(_, set)| *set) {
            return Err(FieldError::new(*f, WHY));
        }
        no_srt_fields(&self.srt(), WHY)?;
        let format = RecordFormat::parse(format).map_err(|e| FieldError::new("record", e))?;
        let segment = match self.segment_s {
            Some(s) => {
                SegmentDuration::from_secs(s).map_err(|e| FieldError::new("segment_s", e))?
            }
            None => SegmentDuration::DEFAULT,
        };
        // Checked one by one so that the error names the field at fault.
        Retention::new(self.keep_days, None, None).map_err(|e| FieldError::new("keep_days", e))?;
        Retention::new(None, self.keep_gib, None).map_err(|e| FieldError::new("keep_gib", e))?;
        let retention = Retention::new(self.keep_days, self.keep_gib, self.keep_files)
            .map_err(|e| FieldError::new("keep_files", e))?;
        Ok(RecordSpec {
            format,
            segment,
            retention,
        })
    }

    /// Refuses the record fields on a push or pull output, where they would be ignored.
    fn no_record_fields(&self) -> Result<(), FieldError> {
        let fields = [
            ("segment_s", self.segment_s.is_some()),
            ("keep_days", self.keep_days.is_some()),
            ("keep_gib", self.keep_gib.is_some()),
            ("keep_files", self.keep_files.is_some()),
        ];
        match fields.iter().find(|(_, set)| *set) {
            Some((f, _)) => Err(FieldError::new(
                *f,
                "only for record outputs (record = \"mp4\"|\"ts\")",
            )),
            None => Ok(()),
        }
    }

    /// A push or pull output.
    fn stream_kind(&self) -> Result<OutputKind, FieldError> {
        let srt = self.srt();
        let kind = match (&self.push, &self.pull) {
            (Some(url), None) => {
                if self.key.is_some() {
                    return Err(FieldError::new(
                        "key",
                        "a push output carries its stream key in its URL",
                    ));
                }
                if url.starts_with("srt://") {
                    if self.enhanced_rtmp.is_some() {
                        return Err(FieldError::new(
                            "enhanced_rtmp",
                            "only for push RTMP(S) outputs; SRT carries H.265 as is",
                        ));
                    }
                    if self.platform.is_some() {
                        return Err(FieldError::new(
                            "platform",
                            "only for push RTMP(S) outputs; SRT carries any codec",
                        ));
                    }
                    OutputKind::PushSrt(srt_caller("push", url, &srt)?)
                } else {
                    no_srt_fields(&srt, "not used by an RTMP push output")?;
                    OutputKind::PushRtmp {
                        url: rtmp_url("push", url)?,
                        enhanced: self.enhanced_rtmp.unwrap_or(false),
                        platform: self
                            .platform
                            .as_deref()
                            .map(Platform::parse)
                            .transpose()
                            .map_err(|e| FieldError::new("platform", e))?,
                    }
                }
            }
            (None, Some(proto)) => {
                if self.platform.is_some() {
                    return Err(FieldError::new(
                        "platform",
                        "only for push RTMP(S) outputs: the platform is where Relevo pushes to",
                    ));
                }
                if self.enhanced_rtmp.is_some() {
                    return Err(FieldError::new(
                        "enhanced_rtmp",
                        "only for push RTMP(S) outputs; players of a pull output get Enhanced RTMP when the input is H.265",
                    ));
                }
                let key = self.key.as_deref().ok_or_else(|| {
                    FieldError::new("key", "missing: a pull output needs its own key for readers")
                })?;
                let key = stream_key(key)?;
                match proto.as_str() {
                    "srt" => {
                        if srt.stream_id.is_some() {
                            return Err(FieldError::new(
                                "stream_id",
                                "readers are chosen by key (read:KEY); stream_id is for push outputs",
                            ));
                        }
                        OutputKind::PullSrt {
                            key,
                            security: security(&srt)?,
                            latency: latency(&srt)?,
                        }
                    }
                    "rtmp" => {
                        no_srt_fields(&srt, "not used by an RTMP pull output")?;
                        OutputKind::PullRtmp { key }
                    }
                    "hls" => {
                        no_srt_fields(&srt, "not used by an HLS output")?;
                        OutputKind::PullHls { key }
                    }
                    other => {
                        return Err(FieldError::new(
                            "pull",
                            format!(
                                "{other:?} is not a protocol: use \"srt\", \"rtmp\" or \"hls\""
                            ),
                        ))
                    }
                }
            }
            (Some(_), Some(_)) => {
                return Err(FieldError::new(
                    "pull",
                    "an output either pushes (push = URL) or is pulled (pull = \"srt\"|\"rtmp\"|\"hls\"), not both",
                ))
            }
            (None, None) => {
                return Err(FieldError::new(
                    "push",
                    "missing: set push = URL, pull = \"srt\"|\"rtmp\"|\"hls\" or record = \"mp4\"|\"ts\"",
                ))
            }
        };
        Ok(kind)
    }
}

fn security_fields(sec: Option<&SrtSecurity>) -> (Option<String>, Option<u32>) {
    match sec {
        Some(s) => (
            Some(s.passphrase.expose().to_owned()),
            Some(s.key_len.bytes().unsigned_abs()),
        ),
        None => (None, None),
    }
}

/// `srt://host:port`, IPv6 hosts in brackets.
fn srt_url(c: &SrtCaller) -> String {
    if c.host.contains(':') {
        format!("srt://[{}]:{}", c.host, c.port)
    } else {
        format!("srt://{}:{}", c.host, c.port)
    }
}

fn security(srt: &SrtFields) -> Result<Option<SrtSecurity>, FieldError> {
    match (srt.passphrase, srt.key_length) {
        (None, None) => Ok(None),
        (None, Some(_)) => Err(FieldError::new(
            "key_length",
            SpecError::KeyLengthWithoutPassphrase,
        )),
        (Some(p), len) => Ok(Some(SrtSecurity {
            passphrase: Passphrase::new(p).map_err(|e| FieldError::new("passphrase", e))?,
            // AES-128 is libsrt's and most encoders' default when only a passphrase is set.
            key_len: spec::key_len(len.unwrap_or(16))
                .map_err(|e| FieldError::new("key_length", e))?,
        })),
    }
}

fn latency(srt: &SrtFields) -> Result<Latency, FieldError> {
    srt.latency_ms.map_or(Ok(Latency::DEFAULT), |ms| {
        Latency::new(ms).map_err(|e| FieldError::new("latency_ms", e))
    })
}

fn stream_key(key: &str) -> Result<StreamKey, FieldError> {
    StreamKey::new(key).map_err(|e| FieldError::new("key", e))
}

/// Refuses SRT-only fields where they would be silently ignored.
fn no_srt_fields(srt: &SrtFields, why: &str) -> Result<(), FieldError> {
    let fields = [
        ("passphrase", srt.passphrase.is_some()),
        ("key_length", srt.key_length.is_some()),
        ("latency_ms", srt.latency_ms.is_some()),
        ("stream_id", srt.stream_id.is_some()),
    ];
    match fields.iter().find(|(_, set)| *set) {
        Some((f, _)) => Err(FieldError::new(*f, why)),
        None => Ok(()),
    }
}

fn stream_id(srt: &SrtFields) -> Result<Option<String>, FieldError> {
    match srt.stream_id {
        // SRT caps the streamid at 512 bytes (SRTO_STREAMID).
        Some(s) if s.is_empty() || s.len() > 512 => Err(FieldError::new(
            "stream_id",
            "a streamid must be 1–512 bytes",
        )),
        other => Ok(other.map(str::to_owned)),
    }
}

/// `srt://host:port`, nothing else: options are fields, not query parameters, because the
/// units of `latency` differ between tools (ms in srt-live-transmit, µs in ffmpeg).
fn srt_caller(field: &str, url: &str, srt: &SrtFields) -> Result<SrtCaller, FieldError> {
    let bad = |reason: &str| {
        FieldError::new(
            field,
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
        stream_id: stream_id(srt)?,
        security: security(srt)?,
        latency: latency(srt)?,
        // A document does not say where it came from: the reconciler sets the policy.
        allow_private: true,
    })
}

fn rtmp_url(field: &str, url: &str) -> Result<RtmpUrl, FieldError> {
    RtmpUrl::parse(url).map_err(|e| {
        FieldError::new(
            field,
            SpecError::Url {
                url: url.to_owned(),
                reason: e.to_string(),
            },
        )
    })
}

#[cfg(test)]
mod tests;
