//! Flow rows ⇄ `relevo_engine::spec` values. Writing flattens a spec value into columns;
//! reading rebuilds it through the spec's newtypes, so a stored flow obeys exactly the rules
//! of the configuration file. Also the masked JSON snapshots written to the audit log.

use relevo_engine::rtmp::RtmpUrl;
use relevo_engine::spec::{
    self, GracePeriod, InputSource, Latency, Name, OutputKind, OutputSpec, Passphrase, Platform,
    RecordFormat, RecordSpec, Retention, SegmentDuration, SpecError, SrtCaller, SrtSecurity,
    StreamKey,
};
use serde_json::{json, Value};
use time::OffsetDateTime;

use super::audit::{mask, MASK};
use super::inputs::InputDef;
use super::StoreError;

mod backup;

pub(crate) use backup::BackupCols;

/// The PostgreSQL enum `input_source`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "input_source", rename_all = "snake_case")]
pub(crate) enum SourceKind {
    Listen,
    PullSrt,
    PullRtmp,
}

/// The PostgreSQL enum `output_kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "output_kind", rename_all = "snake_case")]
pub(crate) enum OutputKindDb {
    PushSrt,
    PushRtmp,
    PullSrt,
    PullRtmp,
    PullHls,
    Record,
}

/// SRT columns common to inputs and outputs.
#[derive(Debug, Clone, Default)]
pub(crate) struct SrtCols {
    pub srt_host: Option<String>,
    pub srt_port: Option<i32>,
    pub stream_id: Option<String>,
    pub passphrase: Option<String>,
    pub key_length: Option<i16>,
    pub latency_ms: Option<i32>,
}

impl SrtCols {
    fn security(sec: Option<&SrtSecurity>, latency: Latency) -> Self {
        Self {
            passphrase: sec.map(|s| s.passphrase.expose().to_owned()),
            key_length: sec.map(|s| s.key_len.bytes() as i16),
            latency_ms: Some(latency.ms() as i32),
            ..Self::default()
        }
    }

    fn caller(c: &SrtCaller) -> Self {
        Self {
            srt_host: Some(c.host.clone()),
            srt_port: Some(i32::from(c.port)),
            stream_id: c.stream_id.clone(),
            ..Self::security(c.security.as_ref(), c.latency)
        }
    }

    fn audit(&self) -> Value {
        json!({
            "srt_host": self.srt_host,
            "srt_port": self.srt_port,
            // A stream id often carries credentials (`#!::r=…,u=…`): masked like a key.
            "stream_id": mask(self.stream_id.as_deref()),
            "passphrase": mask(self.passphrase.as_deref()),
            "key_length": self.key_length,
            "latency_ms": self.latency_ms,
        })
    }
}

/// The columns of a record output (migration 0023); empty for every other kind.
#[derive(Debug, Clone, Default)]
pub(crate) struct RecordCols {
    pub record_format: Option<String>,
    pub segment_s: Option<i32>,
    pub keep_days: Option<i64>,
    pub keep_gib: Option<i64>,
    pub keep_files: Option<i64>,
}

impl RecordCols {
    fn of(r: &RecordSpec) -> Self {
        Self {
            record_format: Some(r.format.as_str().to_owned()),
            // At most 86 400 (SegmentDuration::MAX_S).
            segment_s: Some(r.segment.duration().as_secs() as i32),
            keep_days: r.retention.max_days.map(i64::from),
            keep_gib: r.retention.max_gib.map(i64::from),
            keep_files: r.retention.max_files.map(i64::from),
        }
    }

    /// Back to the spec value; an error names the column.
    fn to_spec(&self) -> Result<RecordSpec, (&'static str, SpecError)> {
        let format = RecordFormat::parse(self.record_format.as_deref().unwrap_or_default())
            .map_err(|e| ("record_format", e))?;
        let segment =
            SegmentDuration::from_secs(self.segment_s.map_or(0, |s| u64::try_from(s).unwrap_or(0)))
                .map_err(|e| ("segment_s", e))?;
        // A limit outside u32 (negative, or written by hand past it) reads as 0, which
        // `Retention` refuses.
        let limit = |v: Option<i64>| v.map(|v| u32::try_from(v).unwrap_or(0));
        let (days, gib, files) = (
            limit(self.keep_days),
            limit(self.keep_gib),
            limit(self.keep_files),
        );
        Retention::new(days, None, None).map_err(|e| ("keep_days", e))?;
        Retention::new(None, gib, None).map_err(|e| ("keep_gib", e))?;
        let retention = Retention::new(days, gib, files).map_err(|e| ("keep_files", e))?;
        Ok(RecordSpec {
            format,
            segment,
            retention,
        })
    }

    fn audit(&self) -> Value {
        json!({
            "record_format": self.record_format,
            "segment_s": self.segment_s,
            "keep_days": self.keep_days,
            "keep_gib": self.keep_gib,
            "keep_files": self.keep_files,
        })
    }
}

/// An input's columns, ready to bind.
#[derive(Debug, Clone)]
pub(crate) struct InputCols {
    pub name: String,
    pub enabled: bool,
    pub source: SourceKind,
    pub key: Option<String>,
    pub rtmp_url: Option<String>,
    /// For a listening input, `srt.srt_port` is its own SRT port (migration 0025).
    pub srt: SrtCols,
    pub grace_period_s: i32,
    pub backup: BackupCols,
}

impl InputCols {
    pub fn from_def(def: &InputDef) -> Self {
        let (source, key, rtmp_url, srt) = match &def.source {
            InputSource::Listen {
                key,
                security,
                latency,
                srt_port,
            } => (
                SourceKind::Listen,
                Some(key.expose().to_owned()),
                None,
                SrtCols {
                    srt_port: srt_port.map(i32::from),
                    ..SrtCols::security(security.as_ref(), *latency)
                },
            ),
            InputSource::PullSrt(c) => (SourceKind::PullSrt, None, None, SrtCols::caller(c)),
            InputSource::PullRtmp(url) => (
                SourceKind::PullRtmp,
                None,
                Some(url.to_string()),
                SrtCols::default(),
            ),
        };
        Self {
            name: def.name.as_str().to_owned(),
            enabled: def.enabled,
            source,
            key,
            rtmp_url,
            srt,
            grace_period_s: def.grace.duration().as_secs() as i32,
            backup: BackupCols::of(def.backup.as_ref()),
        }
    }

    /// Back to the spec value through its newtypes; an error names input `id` and the column.
    fn to_def(&self, id: i64) -> Result<InputDef, StoreError> {
        let bad = |field: &'static str| {
            move |reason: SpecError| StoreError::Invalid {
                what: "input",
                id,
                field,
                reason,
            }
        };
        let srt = &self.srt;
        let source = match self.source {
            SourceKind::Listen => InputSource::Listen {
                key: StreamKey::new(self.key.clone().unwrap_or_default()).map_err(bad("key"))?,
                security: security(srt).map_err(bad("passphrase"))?,
                latency: latency(srt.latency_ms).map_err(bad("latency_ms"))?,
                srt_port: srt
                    .srt_port
                    .map(|p| spec::own_srt_port(u32::try_from(p).unwrap_or(0)))
                    .transpose()
                    .map_err(bad("srt_port"))?,
            },
            SourceKind::PullSrt => InputSource::PullSrt(caller(srt).map_err(bad("srt"))?),
            SourceKind::PullRtmp => {
                InputSource::PullRtmp(rtmp_url(self.rtmp_url.as_deref()).map_err(bad("rtmp_url"))?)
            }
        };
        Ok(InputDef {
            name: Name::new(self.name.clone()).map_err(bad("name"))?,
            enabled: self.enabled,
            source,
            grace: GracePeriod::from_secs(u64::try_from(self.grace_period_s).unwrap_or(u64::MAX))
                .map_err(bad("grace_period_s"))?,
            backup: self
                .backup
                .to_spec()
                .map_err(|(field, reason)| bad(field)(reason))?,
        })
    }

    /// The snapshot written to the audit log, secrets masked.
    pub fn audit(&self) -> Value {
        let mut v = json!({
            "name": self.name,
            "enabled": self.enabled,
            "source": format!("{:?}", self.source),
            "key": mask(self.key.as_deref()),
            "rtmp_url": redacted_url(self.rtmp_url.as_deref()),
            "grace_period_s": self.grace_period_s,
        });
        merge(&mut v, self.srt.audit());
        merge(&mut v, self.backup.audit());
        v
    }
}

/// An input as stored.
#[derive(Debug, Clone)]
pub(crate) struct InputRow {
    pub id: i64,
    pub name: String,
    pub enabled: bool,
    pub source: SourceKind,
    pub key: Option<String>,
    pub srt_host: Option<String>,
    pub srt_port: Option<i32>,
    pub stream_id: Option<String>,
    pub rtmp_url: Option<String>,
    pub passphrase: Option<String>,
    pub key_length: Option<i16>,
    pub latency_ms: Option<i32>,
    pub grace_period_s: i32,
    pub backup_source: Option<SourceKind>,
    pub backup_key: Option<String>,
    pub backup_srt_host: Option<String>,
    pub backup_srt_port: Option<i32>,
    pub backup_stream_id: Option<String>,
    pub backup_rtmp_url: Option<String>,
    pub backup_passphrase: Option<String>,
    pub backup_key_length: Option<i16>,
    pub backup_latency_ms: Option<i32>,
    pub failover_ms: Option<i32>,
    pub revert_s: Option<i32>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

impl InputRow {
    pub fn cols(&self) -> InputCols {
        InputCols {
            name: self.name.clone(),
            enabled: self.enabled,
            source: self.source,
            key: self.key.clone(),
            rtmp_url: self.rtmp_url.clone(),
            srt: SrtCols {
                srt_host: self.srt_host.clone(),
                srt_port: self.srt_port,
                stream_id: self.stream_id.clone(),
                passphrase: self.passphrase.clone(),
                key_length: self.key_length,
                latency_ms: self.latency_ms,
            },
            grace_period_s: self.grace_period_s,
            backup: BackupCols {
                source: self.backup_source,
                key: self.backup_key.clone(),
                rtmp_url: self.backup_rtmp_url.clone(),
                srt: SrtCols {
                    srt_host: self.backup_srt_host.clone(),
                    srt_port: self.backup_srt_port,
                    stream_id: self.backup_stream_id.clone(),
                    passphrase: self.backup_passphrase.clone(),
                    key_length: self.backup_key_length,
                    latency_ms: self.backup_latency_ms,
                },
                failover_ms: self.failover_ms,
                revert_s: self.revert_s,
            },
        }
    }

    /// Rebuilds the spec value, naming the column that no longer validates.
    pub fn to_def(&self) -> Result<InputDef, StoreError> {
        self.cols().to_def(self.id)
    }
}

/// An output's columns, ready to bind.
#[derive(Debug, Clone)]
pub(crate) struct OutputCols {
    pub name: String,
    pub enabled: bool,
    pub kind: OutputKindDb,
    pub key: Option<String>,
    pub rtmp_url: Option<String>,
    pub enhanced_rtmp: bool,
    /// `Platform::as_str` of an RTMP push, when set.
    pub platform: Option<String>,
    pub srt: SrtCols,
    pub record: RecordCols,
}

impl OutputCols {
    pub fn from_spec(spec: &OutputSpec) -> Self {
        let (kind, key, rtmp_url, enhanced_rtmp, srt) = match &spec.kind {
            OutputKind::PushSrt(c) => {
                (OutputKindDb::PushSrt, None, None, false, SrtCols::caller(c))
            }
            OutputKind::PushRtmp { url, enhanced, .. } => (
                OutputKindDb::PushRtmp,
                None,
                Some(url.to_string()),
                *enhanced,
                SrtCols::default(),
            ),
            OutputKind::PullSrt {
                key,
                security,
                latency,
            } => (
                OutputKindDb::PullSrt,
                Some(key.expose().to_owned()),
                None,
                false,
                SrtCols::security(security.as_ref(), *latency),
            ),
            OutputKind::PullRtmp { key } => (
                OutputKindDb::PullRtmp,
                Some(key.expose().to_owned()),
                None,
                false,
                SrtCols::default(),
            ),
            OutputKind::PullHls { key } => (
                OutputKindDb::PullHls,
                Some(key.expose().to_owned()),
                None,
                false,
                SrtCols::default(),
            ),
            OutputKind::Record(_) => (OutputKindDb::Record, None, None, false, SrtCols::default()),
        };
        let record = match &spec.kind {
            OutputKind::Record(r) => RecordCols::of(r),
            _ => RecordCols::default(),
        };
        let platform = match &spec.kind {
            OutputKind::PushRtmp { platform, .. } => platform.map(|p| p.as_str().to_owned()),
            _ => None,
        };
        Self {
            name: spec.name.as_str().to_owned(),
            enabled: spec.enabled,
            kind,
            key,
            rtmp_url,
            enhanced_rtmp,
            platform,
            srt,
            record,
        }
    }

    /// Back to the spec value through its newtypes; an error names output `id` and the column.
    fn to_spec(&self, id: i64) -> Result<OutputSpec, StoreError> {
        let bad = |field: &'static str| {
            move |reason: SpecError| StoreError::Invalid {
                what: "output",
                id,
                field,
                reason,
            }
        };
        let srt = &self.srt;
        let key = || StreamKey::new(self.key.clone().unwrap_or_default()).map_err(bad("key"));
        let kind = match self.kind {
            OutputKindDb::PushSrt => OutputKind::PushSrt(caller(srt).map_err(bad("srt"))?),
            OutputKindDb::PushRtmp => OutputKind::PushRtmp {
                url: rtmp_url(self.rtmp_url.as_deref()).map_err(bad("rtmp_url"))?,
                enhanced: self.enhanced_rtmp,
                platform: self
                    .platform
                    .as_deref()
                    .map(Platform::parse)
                    .transpose()
                    .map_err(bad("platform"))?,
            },
            OutputKindDb::PullSrt => OutputKind::PullSrt {
                key: key()?,
                security: security(srt).map_err(bad("passphrase"))?,
                latency: latency(srt.latency_ms).map_err(bad("latency_ms"))?,
            },
            OutputKindDb::PullRtmp => OutputKind::PullRtmp { key: key()? },
            OutputKindDb::PullHls => OutputKind::PullHls { key: key()? },
            OutputKindDb::Record => OutputKind::Record(
                self.record
                    .to_spec()
                    .map_err(|(field, reason)| bad(field)(reason))?,
            ),
        };
        Ok(OutputSpec {
            name: Name::new(self.name.clone()).map_err(bad("name"))?,
            enabled: self.enabled,
            kind,
        })
    }

    /// The snapshot written to the audit log, secrets masked.
    pub fn audit(&self, input_id: i64) -> Value {
        let mut v = json!({
            "input_id": input_id,
            "name": self.name,
            "enabled": self.enabled,
            "kind": format!("{:?}", self.kind),
            "key": mask(self.key.as_deref()),
            "rtmp_url": redacted_url(self.rtmp_url.as_deref()),
            "enhanced_rtmp": self.enhanced_rtmp,
            "platform": self.platform,
        });
        merge(&mut v, self.srt.audit());
        merge(&mut v, self.record.audit());
        v
    }
}

/// An output as stored.
#[derive(Debug, Clone)]
pub(crate) struct OutputRow {
    pub id: i64,
    pub input_id: i64,
    pub name: String,
    pub enabled: bool,
    pub kind: OutputKindDb,
    pub key: Option<String>,
    pub srt_host: Option<String>,
    pub srt_port: Option<i32>,
    pub stream_id: Option<String>,
    pub rtmp_url: Option<String>,
    pub enhanced_rtmp: bool,
    pub platform: Option<String>,
    pub passphrase: Option<String>,
    pub key_length: Option<i16>,
    pub latency_ms: Option<i32>,
    pub record_format: Option<String>,
    pub segment_s: Option<i32>,
    pub keep_days: Option<i64>,
    pub keep_gib: Option<i64>,
    pub keep_files: Option<i64>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

impl OutputRow {
    pub fn cols(&self) -> OutputCols {
        OutputCols {
            name: self.name.clone(),
            enabled: self.enabled,
            kind: self.kind,
            key: self.key.clone(),
            rtmp_url: self.rtmp_url.clone(),
            enhanced_rtmp: self.enhanced_rtmp,
            platform: self.platform.clone(),
            srt: SrtCols {
                srt_host: self.srt_host.clone(),
                srt_port: self.srt_port,
                stream_id: self.stream_id.clone(),
                passphrase: self.passphrase.clone(),
                key_length: self.key_length,
                latency_ms: self.latency_ms,
            },
            record: RecordCols {
                record_format: self.record_format.clone(),
                segment_s: self.segment_s,
                keep_days: self.keep_days,
                keep_gib: self.keep_gib,
                keep_files: self.keep_files,
            },
        }
    }

    /// Rebuilds the spec value, naming the column that no longer validates.
    pub fn to_spec(&self) -> Result<OutputSpec, StoreError> {
        self.cols().to_spec(self.id)
    }
}

fn security(srt: &SrtCols) -> Result<Option<SrtSecurity>, SpecError> {
    match (&srt.passphrase, srt.key_length) {
        (None, None) => Ok(None),
        (None, Some(_)) => Err(SpecError::KeyLengthWithoutPassphrase),
        (Some(p), len) => Ok(Some(SrtSecurity {
            passphrase: Passphrase::new(p.clone())?,
            key_len: spec::key_len(len.map_or(16, |l| u32::try_from(l).unwrap_or(0)))?,
        })),
    }
}

fn latency(ms: Option<i32>) -> Result<Latency, SpecError> {
    Latency::new(ms.map_or(0, |ms| u32::try_from(ms).unwrap_or(0)))
}

fn caller(srt: &SrtCols) -> Result<SrtCaller, SpecError> {
    let host = srt.srt_host.clone().unwrap_or_default();
    let port = srt
        .srt_port
        .and_then(|p| u16::try_from(p).ok())
        .unwrap_or(0);
    if host.is_empty() || port == 0 {
        return Err(SpecError::Url {
            url: format!("srt://{host}:{port}"),
            reason: "host and port 1–65535 are required".to_owned(),
        });
    }
    Ok(SrtCaller {
        host,
        port,
        stream_id: srt.stream_id.clone(),
        security: security(srt)?,
        latency: latency(srt.latency_ms)?,
        // The policy for private addresses is the reconciler's to set (it knows the origin).
        allow_private: true,
    })
}

fn rtmp_url(url: Option<&str>) -> Result<RtmpUrl, SpecError> {
    let url = url.unwrap_or_default();
    RtmpUrl::parse(url).map_err(|e| SpecError::Url {
        // Never echo the stream key in an error.
        url: redacted_url(Some(url)).as_str().unwrap_or(MASK).to_owned(),
        reason: e.to_string(),
    })
}

/// An RTMP URL with its key replaced by `****`; `null` when absent.
fn redacted_url(url: Option<&str>) -> Value {
    url.map_or(Value::Null, |u| {
        Value::String(
            RtmpUrl::parse(u).map_or_else(|_| MASK.to_owned(), |u| u.redacted().to_string()),
        )
    })
}

fn merge(into: &mut Value, from: Value) {
    if let (Value::Object(a), Value::Object(b)) = (into, from) {
        a.extend(b);
    }
}
