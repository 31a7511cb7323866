//! Finding the machine's PostgreSQL server binaries (`initdb`, `postgres`).
//!
//! Searched in order: every `PATH` entry, then Debian's `/usr/lib/postgresql/<version>/bin`
//! (newest version first), then NixOS's `/run/current-system/sw/bin`. Both binaries must come
//! from the same directory, so that a cluster is never initialised by one major version and
//! served by another. This module does not start anything.

use std::path::{Path, PathBuf};

use super::EmbeddedPgError;

/// Debian and Ubuntu install each major version side by side here.
const DEBIAN_ROOT: &str = "/usr/lib/postgresql";
/// NixOS: `services.postgresql` or `environment.systemPackages` put the binaries here.
const NIXOS_BIN: &str = "/run/current-system/sw/bin";

/// The two server binaries of one PostgreSQL installation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgBinaries {
    pub initdb: PathBuf,
    pub postgres: PathBuf,
}

impl PgBinaries {
    /// Looks in the usual places (see the module documentation).
    pub fn find() -> Result<Self, EmbeddedPgError> {
        Self::find_in(&search_dirs())
    }

    /// Looks only in `dirs`, in order: the first directory holding both binaries wins.
    pub fn find_in(dirs: &[PathBuf]) -> Result<Self, EmbeddedPgError> {
        dirs.iter()
            .find_map(|dir| {
                let initdb = dir.join("initdb");
                let postgres = dir.join("postgres");
                (is_executable(&initdb) && is_executable(&postgres))
                    .then_some(Self { initdb, postgres })
            })
            .ok_or_else(|| EmbeddedPgError::BinariesNotFound {
                searched: dirs.to_vec(),
            })
    }
}

/// `PATH`, then Debian's versioned directories newest first, then NixOS's system profile.
pub fn search_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.extend(debian_dirs(Path::new(DEBIAN_ROOT)));
    dirs.push(PathBuf::from(NIXOS_BIN));
    dirs
}

/// `<root>/<version>/bin` for every numeric version directory, highest version first.
fn debian_dirs(root: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut versions: Vec<(Vec<u32>, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            // "15", "16", or "9.6" for old installations.
            let version: Option<Vec<u32>> = name.split('.').map(|p| p.parse().ok()).collect();
            Some((version?, e.path().join("bin")))
        })
        .collect();
    versions.sort_by(|a, b| b.0.cmp(&a.0));
    versions.into_iter().map(|(_, dir)| dir).collect()
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_versions_sort_newest_first() {
        let root = std::env::temp_dir().join(format!("relevo-pgfind-{}", std::process::id()));
        for v in ["9.6", "15", "16", "common", "13"] {
            std::fs::create_dir_all(root.join(v).join("bin")).expect("mkdir");
        }
        let dirs = debian_dirs(&root);
        let names: Vec<String> = dirs
            .iter()
            .filter_map(|d| d.parent()?.file_name()?.to_str().map(str::to_owned))
            .collect();
        assert_eq!(names, ["16", "15", "13", "9.6"]);
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn nothing_found_names_every_place_searched() {
        let dirs = vec![
            PathBuf::from("/nonexistent/a"),
            PathBuf::from("/nonexistent/b"),
        ];
        match PgBinaries::find_in(&dirs) {
            Err(EmbeddedPgError::BinariesNotFound { searched }) => assert_eq!(searched, dirs),
            other => panic!("expected BinariesNotFound, got {other:?}"),
        }
    }
}
