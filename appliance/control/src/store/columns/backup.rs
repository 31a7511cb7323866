//! An input's backup feed as columns (migration 0025): the main source's column shape with a
//! `backup_` prefix, plus `failover_ms` and `revert_s` (0: back to the main feed only by hand).
//! Empty (all `NULL`) when the input has no backup.

use relevo_engine::spec::{
    BackupSource, BackupSpec, FailoverDelay, RevertDelay, SpecError, StreamKey,
};
use serde_json::{json, Value};

use super::{caller, mask, redacted_url, rtmp_url, SourceKind, SrtCols};

/// The backup columns of an input, ready to bind.
#[derive(Debug, Clone, Default)]
pub(crate) struct BackupCols {
    /// `listen`: a second key on our listeners (`key`); `pull_srt` / `pull_rtmp`: a source
    /// we fetch, in `srt` / `rtmp_url`.
    pub source: Option<SourceKind>,
    pub key: Option<String>,
    pub rtmp_url: Option<String>,
    pub srt: SrtCols,
    pub failover_ms: Option<i32>,
    pub revert_s: Option<i32>,
}

impl BackupCols {
    pub fn of(backup: Option<&BackupSpec>) -> Self {
        let Some(b) = backup else {
            return Self::default();
        };
        let mut cols = Self {
            // At most 30 000 and 600 (FailoverDelay::MAX_MS, RevertDelay::MAX_S).
            failover_ms: Some(b.failover.duration().as_millis() as i32),
            revert_s: Some(b.revert.map_or(0, |r| r.duration().as_secs() as i32)),
            ..Self::default()
        };
        match &b.source {
            BackupSource::Key(key) => {
                cols.source = Some(SourceKind::Listen);
                cols.key = Some(key.expose().to_owned());
            }
            BackupSource::PullSrt(c) => {
                cols.source = Some(SourceKind::PullSrt);
                cols.srt = SrtCols::caller(c);
            }
            BackupSource::PullRtmp(url) => {
                cols.source = Some(SourceKind::PullRtmp);
                cols.rtmp_url = Some(url.to_string());
            }
        }
        cols
    }

    /// Back to the spec value; an error names the column.
    pub fn to_spec(&self) -> Result<Option<BackupSpec>, (&'static str, SpecError)> {
        let Some(kind) = self.source else {
            return Ok(None);
        };
        let source = match kind {
            SourceKind::Listen => BackupSource::Key(
                StreamKey::new(self.key.clone().unwrap_or_default())
                    .map_err(|e| ("backup_key", e))?,
            ),
            SourceKind::PullSrt => {
                BackupSource::PullSrt(caller(&self.srt).map_err(|e| ("backup_srt", e))?)
            }
            SourceKind::PullRtmp => BackupSource::PullRtmp(
                rtmp_url(self.rtmp_url.as_deref()).map_err(|e| ("backup_rtmp_url", e))?,
            ),
        };
        let failover = FailoverDelay::from_ms(
            self.failover_ms
                .map_or(0, |ms| u64::try_from(ms).unwrap_or(0)),
        )
        .map_err(|e| ("failover_ms", e))?;
        let revert = match self.revert_s.unwrap_or(0) {
            0 => None,
            s => Some(
                RevertDelay::from_secs(u64::try_from(s).unwrap_or(0))
                    .map_err(|e| ("revert_s", e))?,
            ),
        };
        Ok(Some(BackupSpec {
            source,
            failover,
            revert,
        }))
    }

    /// The audit snapshot's backup fields, secrets masked like the main source's.
    pub fn audit(&self) -> Value {
        let mut v = json!({
            "backup_source": self.source.map(|s| format!("{s:?}")),
            "backup_key": mask(self.key.as_deref()),
            "backup_rtmp_url": redacted_url(self.rtmp_url.as_deref()),
            "failover_ms": self.failover_ms,
            "revert_s": self.revert_s,
        });
        if let (Some(all), Value::Object(srt)) = (v.as_object_mut(), self.srt.audit()) {
            all.extend(srt.into_iter().map(|(k, x)| (format!("backup_{k}"), x)));
        }
        v
    }
}
