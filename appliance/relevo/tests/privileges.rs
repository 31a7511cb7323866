//! Started as root, `relevo serve` gives up root once its ports are bound (issue 14, finding
//! 7): the process that runs libsrt, the RTMP parser and HTTP is the `relevo` user's, and its
//! state directory (keys, embedded cluster) is that user's alone. CI runs as root, so this
//! is the case it checks; run as another user it checks that nothing changed identity.
#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::Command;

use common::*;

fn id(args: &[&str]) -> u32 {
    let out = Command::new("id").args(args).output().expect("id");
    assert!(out.status.success(), "id {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("a number")
}

/// The four ids (real, effective, saved, filesystem) of a `/proc/PID/status` line.
fn ids(status: &str, field: &str) -> Vec<u32> {
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .unwrap_or_else(|| panic!("no {field} in:\n{status}"));
    line[field.len()..]
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect()
}

#[test]
fn serve_started_as_root_runs_as_the_relevo_user() {
    let me = id(&["-u"]);
    let relevo = Relevo::start("privileges", "", &input_toml("In", "priv-key"));
    let (uid, gid) = if me == 0 {
        (id(&["-u", "relevo"]), id(&["-g", "relevo"]))
    } else {
        (me, id(&["-g"]))
    };
    assert_ne!(uid, 0, "the relevo user must not be root");

    let status =
        std::fs::read_to_string(format!("/proc/{}/status", relevo.proc.child.id())).unwrap();
    assert_eq!(ids(&status, "Uid:"), vec![uid; 4], "{status}");
    assert_eq!(ids(&status, "Gid:"), vec![gid; 4], "{status}");
    if me == 0 {
        assert!(
            relevo
                .log_text()
                .contains("now running as the service user"),
            "{}",
            relevo.log_text()
        );
    }
    let state = std::fs::metadata(relevo.dir.path("state")).unwrap();
    assert_eq!(state.uid(), uid);
    assert_eq!(state.permissions().mode() & 0o777, 0o700);

    // The open-file limit is raised to the hard one (every connection is a descriptor).
    let limits =
        std::fs::read_to_string(format!("/proc/{}/limits", relevo.proc.child.id())).unwrap();
    let open_files: Vec<&str> = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap()
        .split_whitespace()
        .skip(3)
        .take(2)
        .collect();
    assert_eq!(open_files[0], open_files[1], "soft = hard:\n{limits}");

    // Still working after the switch: the API answers from the database.
    let (code, _) = relevo.api("GET", "/api/v1/inputs", None);
    assert_eq!(code, 200);
}
