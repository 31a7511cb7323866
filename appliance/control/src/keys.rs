//! Keys kept outside the database: the access-token signing key and the key that encrypts
//! TOTP secrets (issue 14, finding 6).
//!
//! A `pg_dump` backup is copied to places an attacker may reach. With the signing key in the
//! database, a backup could mint admin tokens; with TOTP secrets in clear, it would give away
//! every second factor. So both keys live as files in `<state_dir>/keys/` (0700, files 0600,
//! owned by the service user), which database backups do not contain.
//!
//! - `jwt.key`: 64 random bytes, the HS256 key access tokens are signed with. It is replaced
//!   after [`JWT_ROTATE_AFTER`]; the replaced key becomes `jwt.previous` and is still accepted
//!   for one access-token lifetime, so no signed-in client notices. Losing it costs nothing
//!   but a refresh (refresh tokens live in the database, hashed).
//! - `totp.key`: 32 random bytes, the AES-256-GCM key of [`TotpKek`]. Losing it disables the
//!   TOTP secrets of every enrolled user: they sign in with a recovery code (hashed in the
//!   database, unaffected) and enrol again, or an admin resets their 2FA.
//!
//! Each file is made on first use, written to a temporary name and renamed, so that a crash
//! never leaves half a key.

use std::fmt;
use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use rand::rngs::OsRng;
use rand::RngCore;

use crate::auth::token;

/// Bytes of the JWT key: HS256's block size, above the 32 RFC 7518 §3.2 asks for.
pub const JWT_KEY_LEN: usize = 64;
/// Bytes of the TOTP key-encryption key (AES-256).
pub const TOTP_KEY_LEN: usize = 32;
/// Age after which the signing key is replaced. Monthly keeps the exposure of one key short
/// without any cost: the previous key stays valid for the tokens it signed.
pub const JWT_ROTATE_AFTER: Duration = Duration::from_secs(30 * 24 * 3600);

const DIR: &str = "keys";
const JWT_CURRENT: &str = "jwt.key";
const JWT_PREVIOUS: &str = "jwt.previous";
const TOTP: &str = "totp.key";

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} holds {len} bytes, not the {expected} of a key: restore it from its backup or delete it to make a new one", path.display())]
    Length {
        path: PathBuf,
        len: usize,
        expected: usize,
    },
    /// A stored TOTP secret does not open with this key: another appliance's key, a database
    /// restored without its `totp.key`, or tampering.
    #[error("a stored TOTP secret cannot be decrypted with keys/totp.key")]
    Decrypt,
}

/// The directory of key files.
#[derive(Debug, Clone)]
pub struct KeyDir {
    dir: PathBuf,
}

/// The signing keys in force: the current one and, for one access-token lifetime after a
/// rotation, the previous one.
pub struct JwtKeySet {
    pub current: Vec<u8>,
    /// The previous key and until when tokens it signed are accepted.
    pub previous: Option<(Vec<u8>, SystemTime)>,
}

impl fmt::Debug for JwtKeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtKeySet")
            .field("previous_until", &self.previous.as_ref().map(|p| p.1))
            .finish_non_exhaustive()
    }
}

impl KeyDir {
    /// `<state_dir>/keys`, made 0700 if missing (and set to 0700 if it was not).
    pub fn open(state_dir: &Path) -> Result<Self, KeyError> {
        let dir = state_dir.join(DIR);
        let io = |what| {
            let path = dir.clone();
            move |source| KeyError::Io { what, path, source }
        };
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(io("creating"))?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
            .map_err(io("setting the mode of"))?;
        Ok(Self { dir })
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The TOTP key-encryption key, made on first use.
    pub fn totp_kek(&self) -> Result<TotpKek, KeyError> {
        let key = self.read_or_create(TOTP, TOTP_KEY_LEN)?;
        Ok(TotpKek(Aes256Gcm::new_from_slice(&key).map_err(|_| {
            KeyError::Length {
                path: self.dir.join(TOTP),
                len: key.len(),
                expected: TOTP_KEY_LEN,
            }
        })?))
    }

    /// The signing keys, rotated first if the current one is older than [`JWT_ROTATE_AFTER`].
    /// `access_ttl` is how long a replaced key stays accepted.
    pub fn jwt(&self, access_ttl: Duration) -> Result<JwtKeySet, KeyError> {
        let current = self.read_or_create(JWT_CURRENT, JWT_KEY_LEN)?;
        let age = modified(&self.dir.join(JWT_CURRENT))?
            .elapsed()
            .unwrap_or_default();
        if age >= JWT_ROTATE_AFTER {
            self.rotate_jwt()?;
            return self.jwt(access_ttl);
        }
        let previous_path = self.dir.join(JWT_PREVIOUS);
        let previous = match read_key(&previous_path, JWT_KEY_LEN) {
            Ok(key) => {
                let until = modified(&previous_path)? + access_ttl;
                (SystemTime::now() < until).then_some((key, until))
            }
            Err(KeyError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                None
            }
            Err(e) => return Err(e),
        };
        Ok(JwtKeySet { current, previous })
    }

    /// Replaces the signing key: the current one becomes `jwt.previous` (its time of
    /// retirement is the file's modification time), a new one becomes `jwt.key`.
    pub fn rotate_jwt(&self) -> Result<(), KeyError> {
        let current = self.dir.join(JWT_CURRENT);
        let previous = self.dir.join(JWT_PREVIOUS);
        let fresh = self.write_new_tmp(JWT_CURRENT, &token::random_bytes::<JWT_KEY_LEN>())?;
        std::fs::rename(&current, &previous).map_err(|source| KeyError::Io {
            what: "retiring",
            path: current.clone(),
            source,
        })?;
        File::options()
            .write(true)
            .open(&previous)
            .and_then(|f| f.set_modified(SystemTime::now()))
            .map_err(|source| KeyError::Io {
                what: "dating",
                path: previous.clone(),
                source,
            })?;
        std::fs::rename(&fresh, &current).map_err(|source| KeyError::Io {
            what: "installing",
            path: current,
            source,
        })?;
        tracing::info!("access-token signing key rotated");
        Ok(())
    }

    fn read_or_create(&self, name: &str, len: usize) -> Result<Vec<u8>, KeyError> {
        let path = self.dir.join(name);
        match read_key(&path, len) {
            Err(KeyError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                let mut key = vec![0; len];
                OsRng.fill_bytes(&mut key);
                let tmp = self.write_new_tmp(name, &key)?;
                // Two services starting on one state directory: the first link wins, and the
                // other reads what it made.
                match std::fs::hard_link(&tmp, &path) {
                    Ok(()) => {
                        let _ = std::fs::remove_file(&tmp);
                        tracing::info!(file = %path.display(), "key made");
                        Ok(key)
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        let _ = std::fs::remove_file(&tmp);
                        read_key(&path, len)
                    }
                    Err(source) => Err(KeyError::Io {
                        what: "installing",
                        path,
                        source,
                    }),
                }
            }
            other => other,
        }
    }

    /// Writes `key` to a fresh temporary file beside `name`, 0600, synced.
    fn write_new_tmp(&self, name: &str, key: &[u8]) -> Result<PathBuf, KeyError> {
        let nonce = data_encoding::HEXLOWER.encode(&token::random_bytes::<6>());
        let tmp = self.dir.join(format!(".{name}.{nonce}.tmp"));
        let io = |what| {
            let path = tmp.clone();
            move |source| KeyError::Io { what, path, source }
        };
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(nix::libc::O_NOFOLLOW)
            .open(&tmp)
            .map_err(io("creating"))?;
        f.write_all(key).map_err(io("writing"))?;
        f.sync_all().map_err(io("syncing"))?;
        Ok(tmp)
    }
}

fn read_key(path: &Path, len: usize) -> Result<Vec<u8>, KeyError> {
    let io = |what| {
        let path = path.to_owned();
        move |source| KeyError::Io { what, path, source }
    };
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(path)
        .map_err(io("reading"))?;
    let mut key = Vec::with_capacity(len);
    // One byte more than a key: a longer file is an error, not a key cut short.
    f.take(len as u64 + 1)
        .read_to_end(&mut key)
        .map_err(io("reading"))?;
    if key.len() != len {
        return Err(KeyError::Length {
            path: path.to_owned(),
            len: key.len(),
            expected: len,
        });
    }
    Ok(key)
}

fn modified(path: &Path) -> Result<SystemTime, KeyError> {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .map_err(|source| KeyError::Io {
            what: "reading the date of",
            path: path.to_owned(),
            source,
        })
}

/// Encrypts TOTP secrets for the database: AES-256-GCM with a random 96-bit nonce, bound to
/// the user's id (associated data), so a sealed secret copied to another account's row does
/// not open. Stored as `enc1:` and base64 of nonce ‖ ciphertext ‖ tag.
pub struct TotpKek(Aes256Gcm);

impl fmt::Debug for TotpKek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpKek(***)")
    }
}

/// Marks a sealed value; anything else in the column is a secret stored in clear by an older
/// Relevo, sealed at start ([`crate::store::totp::seal_clear_secrets`]).
pub const SEALED_PREFIX: &str = "enc1:";
const NONCE_LEN: usize = 12;

impl TotpKek {
    /// A key from raw bytes (tests; the service reads [`KeyDir::totp_kek`]).
    pub fn from_bytes(key: &[u8; TOTP_KEY_LEN]) -> Self {
        Self(Aes256Gcm::new(key.into()))
    }

    pub fn seal(&self, user_id: i64, secret: &str) -> String {
        let nonce = token::random_bytes::<NONCE_LEN>();
        let aad = aad(user_id);
        // Encryption with a valid key and nonce cannot fail (aes-gcm only errs on lengths
        // beyond 64 GiB).
        let sealed = self
            .0
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: secret.as_bytes(),
                    aad: &aad,
                },
            )
            .unwrap_or_default();
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        format!("{SEALED_PREFIX}{}", data_encoding::BASE64.encode(&bytes))
    }

    pub fn open(&self, user_id: i64, stored: &str) -> Result<String, KeyError> {
        let bytes = stored
            .strip_prefix(SEALED_PREFIX)
            .and_then(|b64| data_encoding::BASE64.decode(b64.as_bytes()).ok())
            .filter(|b| b.len() > NONCE_LEN)
            .ok_or(KeyError::Decrypt)?;
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let plain = self
            .0
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: &aad(user_id),
                },
            )
            .map_err(|_| KeyError::Decrypt)?;
        String::from_utf8(plain).map_err(|_| KeyError::Decrypt)
    }
}

fn aad(user_id: i64) -> Vec<u8> {
    format!("relevo totp user {user_id}").into_bytes()
}

#[cfg(test)]
mod tests;
