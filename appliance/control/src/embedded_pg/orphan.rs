//! A server left behind. If Relevo is killed without a chance to stop its PostgreSQL
//! (SIGKILL, OOM killer; under systemd the unit's cgroup takes both down, elsewhere it does
//! not), the server keeps running, holds `postmaster.pid`, and the next start would fail.
//! Before starting, the server named in `postmaster.pid` is examined: still a child of a
//! running Relevo means the state directory is in use (refused); orphaned means it is ours,
//! left behind: it is stopped the usual way (fast shutdown) and the start goes on.

use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::{EmbeddedPgError, STOP_TIMEOUT};

/// What `postmaster.pid` says about the data directory.
#[derive(Debug, PartialEq, Eq)]
enum Holder {
    /// No server runs on it (or the file is stale: postgres removes that itself).
    Free,
    /// A server whose parent is a running Relevo: another instance uses this directory.
    InUse { pid: i32 },
    /// A server whose Relevo is gone.
    Orphan { pid: i32 },
}

fn holder(data_dir: &Path) -> Holder {
    let Some(pid) = std::fs::read_to_string(data_dir.join("postmaster.pid"))
        .ok()
        .and_then(|t| t.lines().next().and_then(|l| l.trim().parse::<i32>().ok()))
    else {
        return Holder::Free;
    };
    match proc_stat(pid) {
        // The PID was reused by something else, or nothing runs: not ours to touch.
        Some((comm, _)) if comm != "postgres" => Holder::Free,
        None => Holder::Free,
        Some((_, ppid)) => match proc_stat(ppid) {
            Some((parent, _)) if parent == "relevo" => Holder::InUse { pid },
            _ => Holder::Orphan { pid },
        },
    }
}

/// `(comm, ppid)` of a running process, from `/proc/PID/stat`.
fn proc_stat(pid: i32) -> Option<(String, i32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "PID (comm) state ppid …": comm may hold spaces and parentheses.
    let (head, rest) = stat.rsplit_once(')')?;
    let comm = head.split_once('(')?.1.to_owned();
    let ppid = rest.split_whitespace().nth(1)?.parse().ok()?;
    Some((comm, ppid))
}

/// Makes sure no server holds `data_dir`: stops an orphan, refuses one still in use.
pub(super) fn reclaim(data_dir: &Path) -> Result<(), EmbeddedPgError> {
    match holder(data_dir) {
        Holder::Free => Ok(()),
        Holder::InUse { pid } => Err(EmbeddedPgError::InUse {
            data_dir: data_dir.to_owned(),
            pid,
        }),
        Holder::Orphan { pid } => {
            tracing::warn!(
                pid,
                data_dir = %data_dir.display(),
                "stopping the embedded PostgreSQL of a Relevo that did not exit cleanly"
            );
            for (signal, limit) in [
                (Signal::SIGINT, STOP_TIMEOUT),
                (Signal::SIGQUIT, Duration::from_secs(5)),
                (Signal::SIGKILL, Duration::from_secs(5)),
            ] {
                if kill(Pid::from_raw(pid), signal).is_err() {
                    return Ok(());
                }
                let deadline = Instant::now() + limit;
                while Instant::now() < deadline {
                    if proc_stat(pid).is_none() {
                        return Ok(());
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            Err(EmbeddedPgError::InUse {
                data_dir: data_dir.to_owned(),
                pid,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_is_read() {
        let me = i32::try_from(std::process::id()).expect("a pid");
        let (_, ppid) = proc_stat(me).expect("our own /proc entry");
        assert!(ppid > 0);
    }

    #[test]
    fn missing_or_foreign_pid_files_are_free() {
        let dir = tempfile::tempdir().expect("temp dir");
        assert_eq!(holder(dir.path()), Holder::Free);
        // Our own PID: a running process that is not postgres.
        std::fs::write(
            dir.path().join("postmaster.pid"),
            format!("{}\n/data\n", std::process::id()),
        )
        .expect("write");
        assert_eq!(holder(dir.path()), Holder::Free);
        std::fs::write(dir.path().join("postmaster.pid"), "not a pid\n").expect("write");
        assert_eq!(holder(dir.path()), Holder::Free);
    }
}
