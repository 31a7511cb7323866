//! When the watched certificates expire: each PEM file's first certificate (the leaf, as
//! RTMPS and nginx serve it) is read and its `notAfter` kept. Read at start, after a reload
//! and every [`RECHECK`] (a renewal replaces the file; an hour is plenty for a threshold in
//! days).

use std::path::{Path, PathBuf};
use std::time::Duration;

use time::OffsetDateTime;
use x509_cert::der::Decode;

/// How often the files are read again.
pub const RECHECK: Duration = Duration::from_secs(3600);

/// Why a certificate file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("{path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: no certificate in the PEM file")]
    Empty { path: String },
    #[error("{path}: not an X.509 certificate: {reason}")]
    Parse { path: String, reason: String },
}

/// The expiry of each watched file.
#[derive(Debug, Default, Clone)]
pub struct CertStatus {
    /// (file, its leaf's notAfter); unreadable files are left out (and logged).
    pub expiries: Vec<(PathBuf, OffsetDateTime)>,
}

impl CertStatus {
    /// Reads every file; one that cannot be read is logged and skipped.
    pub fn read(paths: &[PathBuf]) -> Self {
        let expiries = paths
            .iter()
            .filter_map(|path| match not_after(path) {
                Ok(at) => Some((path.clone(), at)),
                Err(e) => {
                    tracing::warn!("alerts: certificate expiry unknown: {e}");
                    None
                }
            })
            .collect();
        Self { expiries }
    }

    /// Days until the earliest expiry (negative once expired); `None` with no certificate.
    pub fn earliest_days(&self) -> Option<f64> {
        self.earliest_days_at(OffsetDateTime::now_utc())
    }

    pub fn earliest_days_at(&self, now: OffsetDateTime) -> Option<f64> {
        self.expiries
            .iter()
            .map(|(_, at)| (*at - now).as_seconds_f64() / 86_400.0)
            .min_by(f64::total_cmp)
    }

    /// The file that expires first.
    pub fn earliest_path(&self) -> Option<&Path> {
        self.expiries
            .iter()
            .min_by_key(|(_, at)| *at)
            .map(|(p, _)| p.as_path())
    }
}

/// The `notAfter` of the first certificate in a PEM file.
pub fn not_after(path: &Path) -> Result<OffsetDateTime, CertError> {
    let name = path.display().to_string();
    let pem = std::fs::read(path).map_err(|source| CertError::Read {
        path: name.clone(),
        source,
    })?;
    let der = rustls_pemfile::certs(&mut pem.as_slice())
        .next()
        .ok_or_else(|| CertError::Empty { path: name.clone() })?
        .map_err(|e| CertError::Parse {
            path: name.clone(),
            reason: e.to_string(),
        })?;
    let cert = x509_cert::Certificate::from_der(der.as_ref()).map_err(|e| CertError::Parse {
        path: name.clone(),
        reason: e.to_string(),
    })?;
    let secs = cert
        .tbs_certificate
        .validity
        .not_after
        .to_unix_duration()
        .as_secs();
    OffsetDateTime::from_unix_timestamp(i64::try_from(secs).unwrap_or(i64::MAX)).map_err(|e| {
        CertError::Parse {
            path: name,
            reason: e.to_string(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed certificate valid for `days`, made by openssl (a real peer).
    fn make_cert(dir: &Path, days: u32) -> PathBuf {
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        let status = std::process::Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
            .arg("ec_paramgen_curve:P-256")
            .args(["-nodes", "-subj", "/CN=relay.test", "-days"])
            .arg(days.to_string())
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stderr(std::process::Stdio::null())
            .status()
            .expect("openssl runs");
        assert!(status.success());
        cert
    }

    #[test]
    fn reads_the_expiry_of_a_pem_certificate() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = make_cert(dir.path(), 10);
        let status = CertStatus::read(std::slice::from_ref(&path));
        let days = status.earliest_days().expect("one certificate");
        assert!((9.9..=10.01).contains(&days), "{days}");
        assert_eq!(status.earliest_path(), Some(path.as_path()));
    }

    #[test]
    fn an_unreadable_file_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().expect("tempdir");
        let junk = dir.path().join("junk.pem");
        std::fs::write(
            &junk,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .expect("write");
        assert!(matches!(not_after(&junk), Err(CertError::Parse { .. })));
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "nothing").expect("write");
        assert!(matches!(not_after(&empty), Err(CertError::Empty { .. })));
        assert!(matches!(
            not_after(&dir.path().join("missing.pem")),
            Err(CertError::Read { .. })
        ));
        assert_eq!(CertStatus::read(&[junk, empty]).earliest_days(), None);
    }
}
