//! The open-file limit. Every RTMP connection, SRT socket, HTTP connection and push output
//! is a descriptor, and nothing in the relay caps outputs, so the usual soft limit of 1024
//! (a shell, `./scripts/run`) would refuse connections long before the relay's own limits
//! apply. The soft limit is raised to the hard one at start; under systemd the module sets
//! both (`LimitNOFILE`) and this changes nothing.

use nix::sys::resource::{getrlimit, setrlimit, Resource};

pub fn raise_to_hard_limit() {
    let (soft, hard) = match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok(limits) => limits,
        Err(e) => {
            tracing::warn!("cannot read the open-file limit: {e}");
            return;
        }
    };
    if soft >= hard {
        return;
    }
    match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
        Ok(()) => tracing::info!(from = soft, to = hard, "open-file limit raised"),
        Err(e) => tracing::warn!(soft, hard, "cannot raise the open-file limit: {e}"),
    }
}
