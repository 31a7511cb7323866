//! The unprivileged account PostgreSQL runs under when Relevo itself runs as root.
//!
//! `initdb` and `postgres` refuse to run as root. Under systemd the NixOS module runs the
//! whole service as the `relevo` user and none of this applies. When Relevo is started as
//! root anyway (a container, CI, `sudo relevo migrate`), the server binaries are started
//! with the uid/gid of the system user [`SERVICE_USER`], created with `useradd --system` if
//! it does not exist, and the cluster's directories are owned by it. The state directory
//! and its parents must then be traversable by that user.

use std::path::Path;

use nix::unistd::{Gid, Uid, User};

use super::EmbeddedPgError;

/// The system account that owns the embedded cluster when Relevo runs as root.
pub const SERVICE_USER: &str = "relevo";

/// Whom to run the server binaries as: `None` means "as ourselves".
#[derive(Debug, Clone)]
pub struct RunAs {
    pub name: String,
    pub uid: Uid,
    pub gid: Gid,
}

/// `None` when not root; otherwise the service user, created if missing.
pub fn for_current_process() -> Result<Option<RunAs>, EmbeddedPgError> {
    if !Uid::effective().is_root() {
        return Ok(None);
    }
    if let Some(user) = lookup(SERVICE_USER)? {
        return Ok(Some(user));
    }
    create_system_user(SERVICE_USER)?;
    lookup(SERVICE_USER)?
        .map(Some)
        .ok_or_else(|| EmbeddedPgError::ServiceUser {
            user: SERVICE_USER.to_owned(),
            reason: "useradd succeeded but the user cannot be found".to_owned(),
        })
}

fn lookup(name: &str) -> Result<Option<RunAs>, EmbeddedPgError> {
    let user = User::from_name(name).map_err(|e| EmbeddedPgError::ServiceUser {
        user: name.to_owned(),
        reason: format!("looking it up: {e}"),
    })?;
    Ok(user.map(|u| RunAs {
        name: u.name,
        uid: u.uid,
        gid: u.gid,
    }))
}

fn create_system_user(name: &str) -> Result<(), EmbeddedPgError> {
    tracing::info!(
        user = name,
        "creating the system user for the embedded PostgreSQL"
    );
    let out = std::process::Command::new("useradd")
        .args(["--system", "--user-group", "--no-create-home"])
        .args(["--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin"])
        .arg(name)
        .output()
        .map_err(|e| EmbeddedPgError::ServiceUser {
            user: name.to_owned(),
            reason: format!("cannot run useradd: {e}"),
        })?;
    // 9: the name was taken meanwhile (another process won the race).
    if out.status.success() || out.status.code() == Some(9) {
        Ok(())
    } else {
        Err(EmbeddedPgError::ServiceUser {
            user: name.to_owned(),
            reason: format!(
                "useradd failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        })
    }
}

/// Makes `dir` belong to the service user (only the directory itself: what the server
/// creates inside is already its own).
pub fn chown(dir: &Path, run_as: &RunAs) -> Result<(), EmbeddedPgError> {
    std::os::unix::fs::chown(dir, Some(run_as.uid.as_raw()), Some(run_as.gid.as_raw())).map_err(
        |source| EmbeddedPgError::Io {
            what: format!("giving {} to user {}", dir.display(), run_as.name),
            source,
        },
    )
}
