//! An input's backup feed as a document (`[input.backup]` in the configuration file,
//! `"backup": {…}` in the API and the export): either `key` (a second key on our listeners,
//! for inputs that listen; the input's passphrase and latency apply) or `pull` (a source we
//! fetch, with its own SRT fields), plus `failover_ms` and `revert_s`.
//!
//! Errors name the field inside the backup (`key`, `failover_ms`); the input puts them
//! under `backup`.

use relevo_engine::spec::{
    BackupSource, BackupSpec, FailoverDelay, InputSource, RevertDelay, SpecError,
};
use serde::{Deserialize, Serialize};

use super::{
    no_srt_fields, rtmp_url, security_fields, srt_caller, srt_url, stream_key, FieldError,
    SrtFields,
};

/// A backup feed. `failover_ms` and `revert_s` are always written (the values in force).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupDoc {
    /// A second stream key on our SRT/RTMP(S) listeners (listening inputs only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// `srt://host:port` or `rtmp(s)://host[:port]/app/key`: Relevo fetches the backup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passphrase: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_length: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_id: Option<String>,
    /// Milliseconds without data from the main feed before the backup takes over
    /// (500–30000, default 2000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failover_ms: Option<u64>,
    /// Seconds the main feed must be stable before it returns (1–600, default 10); 0: it
    /// returns only by hand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revert_s: Option<u64>,
}

impl BackupDoc {
    fn srt(&self) -> SrtFields<'_> {
        SrtFields {
            passphrase: self.passphrase.as_deref(),
            key_length: self.key_length,
            latency_ms: self.latency_ms,
            stream_id: self.stream_id.as_deref(),
        }
    }

    /// The document of a configured backup (secrets included).
    pub fn from_spec(spec: &BackupSpec) -> Self {
        let mut doc = BackupDoc {
            key: None,
            pull: None,
            passphrase: None,
            key_length: None,
            latency_ms: None,
            stream_id: None,
            failover_ms: Some(spec.failover.duration().as_millis() as u64),
            revert_s: Some(spec.revert.map_or(0, |r| r.duration().as_secs())),
        };
        match &spec.source {
            BackupSource::Key(key) => doc.key = Some(key.expose().to_owned()),
            BackupSource::PullSrt(c) => {
                doc.pull = Some(srt_url(c));
                doc.stream_id = c.stream_id.clone();
                (doc.passphrase, doc.key_length) = security_fields(c.security.as_ref());
                doc.latency_ms = Some(c.latency.ms());
            }
            BackupSource::PullRtmp(url) => doc.pull = Some(url.to_string()),
        }
        doc
    }

    /// Validates the backup of an input whose main feed is `main`.
    pub fn to_spec(&self, main: &InputSource) -> Result<BackupSpec, FieldError> {
        let srt = self.srt();
        let source = match (&self.key, &self.pull) {
            (Some(key), None) => {
                let InputSource::Listen { key: main_key, .. } = main else {
                    return Err(FieldError::new(
                        "key",
                        "a backup key needs an input that listens (key); this input pulls: give the backup a pull source",
                    ));
                };
                no_srt_fields(
                    &srt,
                    "a backup key uses the input's own passphrase, key length and latency",
                )?;
                let key = stream_key(key)?;
                if key == *main_key {
                    return Err(FieldError::new(
                        "key",
                        "the backup key must differ from the input's key",
                    ));
                }
                BackupSource::Key(key)
            }
            (None, Some(url)) if url.starts_with("srt://") => {
                BackupSource::PullSrt(srt_caller("pull", url, &srt)?)
            }
            (None, Some(url)) => {
                no_srt_fields(&srt, "not used by an RTMP pull source")?;
                BackupSource::PullRtmp(rtmp_url("pull", url)?)
            }
            (Some(_), Some(_)) => return Err(FieldError::new(
                "pull",
                "a backup is either a key (an encoder publishes to us) or a pull source, not both",
            )),
            (None, None) => return Err(FieldError::new(
                "key",
                "missing: set key (a second encoder publishes to us) or pull (we fetch the backup)",
            )),
        };
        let failover = match self.failover_ms {
            Some(ms) => {
                FailoverDelay::from_ms(ms).map_err(|e| FieldError::new("failover_ms", e))?
            }
            None => FailoverDelay::DEFAULT,
        };
        let revert = match self.revert_s {
            Some(0) => None,
            Some(s) => Some(RevertDelay::from_secs(s).map_err(|e| FieldError::new("revert_s", e))?),
            None => Some(RevertDelay::DEFAULT),
        };
        Ok(BackupSpec {
            source,
            failover,
            revert,
        })
    }
}

/// Why an input's own SRT port is refused, if it is: only inputs that listen have one, it
/// needs a passphrase, and it must be an unprivileged port.
pub(super) fn own_srt_port(
    port: Option<u32>,
    listens: bool,
    passphrase: bool,
) -> Result<Option<u16>, FieldError> {
    let Some(port) = port else {
        return Ok(None);
    };
    if !listens {
        return Err(FieldError::new(
            "srt_port",
            "only for inputs that listen (key): a pull input's port is in its pull URL",
        ));
    }
    if !passphrase {
        return Err(FieldError::new(
            "srt_port",
            "an input's own SRT port needs a passphrase: without one, anyone who finds the port could publish",
        ));
    }
    relevo_engine::spec::own_srt_port(port)
        .map(Some)
        .map_err(|e: SpecError| FieldError::new("srt_port", e))
}

#[cfg(test)]
mod tests;
