//! Giving up root once the listeners are bound (issue 14, finding 7).
//!
//! Under systemd the NixOS module starts `relevo` as its own user and none of this applies.
//! Started as root (`./scripts/run`, a container), the process binds its ports and starts
//! the embedded PostgreSQL as root, then becomes the `relevo` system user for good, before
//! any flow starts: libsrt, the RTMP parser and the HTTP server never face the network as
//! root. The switch is process-wide (glibc applies `setuid` to every thread) and is checked:
//! if root could be taken back, `serve` stops.

use std::os::unix::fs::DirBuilderExt;

use anyhow::{bail, Context};
use nix::unistd::{setgid, setgroups, setuid, Uid};
use relevo_control::embedded_pg::{self, RunAs};

/// Becomes the service user if running as root; does nothing otherwise. The recordings
/// directory, created by the engine at start (as root here), is given to that user when
/// root owns it, since the recordings are written after the switch.
pub fn drop_root(state_dir: &std::path::Path, recordings: &std::path::Path) -> anyhow::Result<()> {
    let Some(user) = embedded_pg::service_user_if_root().context("finding the relevo user")? else {
        return Ok(());
    };
    // The key files and the embedded cluster live there: the service user must own it (it
    // exists already with the embedded cluster; with an external database it may not).
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(state_dir)
        .with_context(|| format!("creating {}", state_dir.display()))?;
    embedded_pg::chown(state_dir, &user)?;
    let owner = std::fs::metadata(recordings)
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
        .with_context(|| format!("reading {}", recordings.display()))?;
    if owner == 0 {
        embedded_pg::chown(recordings, &user)?;
    }
    become_user(&user)?;
    tracing::info!(
        user = %user.name,
        uid = user.uid.as_raw(),
        "started as root: now running as the service user"
    );
    Ok(())
}

fn become_user(user: &RunAs) -> anyhow::Result<()> {
    // Order matters: groups and gid while still root, the uid last.
    setgroups(&[user.gid]).context("dropping supplementary groups")?;
    setgid(user.gid).context("setting the group id")?;
    setuid(user.uid).context("setting the user id")?;
    if setuid(Uid::from_raw(0)).is_ok() || Uid::effective().is_root() {
        bail!("still able to become root after switching to {}", user.name);
    }
    Ok(())
}
