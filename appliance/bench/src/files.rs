//! A recording measured as one connection: the bytes a server writes under a directory
//! (every file in it, however it splits them), polled, so a recorder is judged by the same
//! window, rate and CPU/memory figures as a player or a push output.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::measure::{run, Plan, Slots};

/// How often the directory is summed: fine enough for a 6–15 s window.
const POLL: Duration = Duration::from_millis(100);

pub async fn watch(dir: PathBuf, plan: Plan) -> anyhow::Result<serde_json::Value> {
    anyhow::ensure!(dir.is_dir(), "{} is not a directory", dir.display());
    let slots = Arc::new(Slots::with_count(1));
    let slot = slots.get(0).ok_or_else(|| anyhow::anyhow!("no slot"))?;
    let poll = tokio::spawn(async move {
        let started = Instant::now();
        let mut seen = 0u64;
        loop {
            let total = tokio::task::spawn_blocking({
                let dir = dir.clone();
                move || size_under(&dir)
            })
            .await
            .unwrap_or(0);
            if total > seen {
                slot.add(usize::try_from(total - seen).unwrap_or(usize::MAX), started);
                seen = total;
            }
            tokio::time::sleep(POLL).await;
        }
    });
    let report = run(&plan, &slots).await;
    poll.abort();
    Ok(report)
}

/// Bytes of every regular file under `dir`, recursively.
fn size_under(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => size_under(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map_or(0, |m| m.len()),
            _ => 0,
        })
        .sum()
}
