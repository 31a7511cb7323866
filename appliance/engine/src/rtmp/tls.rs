//! TLS for RTMPS: the server certificate, reloaded from disk when it is renewed, and the trust
//! roots of outgoing `rtmps://` links.
//!
//! The certificate and key are PEM files (the appliance shares nginx's ACME certificate). The
//! files are checked at most every [`RELOAD_CHECK_INTERVAL`] when a connection asks for the
//! acceptor; a change of modification time or length triggers a reload. A renewal that does not
//! parse (for example the key written before the certificate) is logged and the previous
//! certificate keeps serving until the files change again.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore, ServerConfig};
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// How often the certificate files are checked for a renewal: often enough that a renewed
/// certificate is served within seconds, rarely enough that a connection flood does not turn
/// into a flood of `stat` calls.
pub const RELOAD_CHECK_INTERVAL: Duration = Duration::from_secs(2);

/// Why certificate or trust material could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no PEM certificate in {0}")]
    NoCertificate(PathBuf),
    #[error("no PEM private key in {0}")]
    NoPrivateKey(PathBuf),
    #[error("invalid PEM in {path}: {source}")]
    Pem {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("certificate {cert} and key {key} rejected: {source}")]
    Rustls {
        cert: PathBuf,
        key: PathBuf,
        source: rustls::Error,
    },
    #[error("CA certificate in {path} rejected: {source}")]
    Root {
        path: PathBuf,
        source: rustls::Error,
    },
}

/// A server certificate that follows its files on disk. Shared by every RTMPS connection.
pub struct CertReloader {
    cert: PathBuf,
    key: PathBuf,
    check_interval: Duration,
    state: Mutex<State>,
}

impl std::fmt::Debug for CertReloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertReloader")
            .field("cert", &self.cert)
            .field("key", &self.key)
            .field("check_interval", &self.check_interval)
            .finish_non_exhaustive()
    }
}

struct State {
    acceptor: TlsAcceptor,
    /// Stamp of the files last loaded or last found invalid, so a bad renewal is logged once.
    seen: FileStamp,
    checked: Instant,
}

/// What identifies a version of the two files without reading them.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileStamp(Option<(SystemTime, u64)>, Option<(SystemTime, u64)>);

impl FileStamp {
    fn of(cert: &Path, key: &Path) -> Self {
        let stamp = |p: &Path| {
            let m = std::fs::metadata(p).ok()?;
            Some((m.modified().ok()?, m.len()))
        };
        Self(stamp(cert), stamp(key))
    }
}

impl CertReloader {
    /// Loads the certificate chain and private key; fails if either is missing or invalid.
    pub fn new(cert: PathBuf, key: PathBuf) -> Result<Self, TlsError> {
        let seen = FileStamp::of(&cert, &key);
        let acceptor = load_acceptor(&cert, &key)?;
        Ok(Self {
            cert,
            key,
            check_interval: RELOAD_CHECK_INTERVAL,
            state: Mutex::new(State {
                acceptor,
                seen,
                checked: Instant::now(),
            }),
        })
    }

    /// Overrides [`RELOAD_CHECK_INTERVAL`] (tests use a short one).
    pub fn with_check_interval(mut self, interval: Duration) -> Self {
        self.check_interval = interval;
        self
    }

    /// The acceptor for a new connection, reloading the files first if they changed.
    pub fn acceptor(&self) -> TlsAcceptor {
        let mut state = match self.state.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if state.checked.elapsed() >= self.check_interval {
            state.checked = Instant::now();
            let stamp = FileStamp::of(&self.cert, &self.key);
            if stamp != state.seen {
                state.seen = stamp;
                match load_acceptor(&self.cert, &self.key) {
                    Ok(acceptor) => {
                        tracing::info!(cert = %self.cert.display(), "RTMPS certificate reloaded");
                        state.acceptor = acceptor;
                    }
                    Err(e) => tracing::error!(
                        "RTMPS certificate not reloaded, still serving the previous one: {e}"
                    ),
                }
            }
        }
        state.acceptor.clone()
    }
}

fn crypto_provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn load_acceptor(cert_path: &Path, key_path: &Path) -> Result<TlsAcceptor, TlsError> {
    let certs = read_certs(cert_path)?;
    let key = read_key(key_path)?;
    let rustls_err = |source| TlsError::Rustls {
        cert: cert_path.to_owned(),
        key: key_path.to_owned(),
        source,
    };
    let config = ServerConfig::builder_with_provider(crypto_provider())
        .with_safe_default_protocol_versions()
        .map_err(rustls_err)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(rustls_err)?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

fn read_file(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_owned(),
        source,
    })
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read_file(path)?;
    let certs = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsError::Pem {
            path: path.to_owned(),
            source,
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate(path.to_owned()));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = read_file(path)?;
    rustls_pemfile::private_key(&mut pem.as_slice())
        .map_err(|source| TlsError::Pem {
            path: path.to_owned(),
            source,
        })?
        .ok_or_else(|| TlsError::NoPrivateKey(path.to_owned()))
}

/// Trust roots for outgoing `rtmps://` links: the Mozilla roots from `webpki-roots` (what
/// YouTube, Facebook and Twitch certificates chain to), plus any extra CA the operator adds.
#[derive(Clone)]
pub struct ClientTls {
    connector: TlsConnector,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls").finish_non_exhaustive()
    }
}

impl Default for ClientTls {
    fn default() -> Self {
        Self::new()
    }
}

impl ClientTls {
    /// Trusts the webpki (Mozilla) roots only.
    pub fn new() -> Self {
        Self::from_roots(webpki_store())
    }

    /// Trusts the webpki roots and every CA certificate in the PEM file `pem` (a private CA or
    /// a test certificate authority).
    pub fn with_extra_roots(pem: &Path) -> Result<Self, TlsError> {
        let mut roots = webpki_store();
        for cert in read_certs(pem)? {
            roots.add(cert).map_err(|source| TlsError::Root {
                path: pem.to_owned(),
                source,
            })?;
        }
        Ok(Self::from_roots(roots))
    }

    /// The connector for one connection; the caller passes the URL's host as server name.
    pub fn connector(&self) -> TlsConnector {
        self.connector.clone()
    }

    fn from_roots(roots: RootCertStore) -> Self {
        let config = ClientConfig::builder_with_provider(crypto_provider())
            .with_safe_default_protocol_versions()
            // The ring provider implements every default protocol version: this cannot fail.
            .expect("ring supports the default TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        Self {
            connector: TlsConnector::from(Arc::new(config)),
        }
    }
}

fn webpki_store() -> RootCertStore {
    RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    }
}
