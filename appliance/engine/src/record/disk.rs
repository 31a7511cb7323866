//! Free space of the recordings filesystem, and the floor recording stops at.
//!
//! The floor is the smaller of a share of the disk and a fixed amount (journald's
//! `SystemKeepFree` rule): a 20 GiB disk keeps 1 GiB free, a 2 TB one 2 GiB. Free space is
//! what an unprivileged process may still use (`f_bavail`), not what root could: the
//! blocks ext4 reserves for root are not ours to fill.
//!
//! Reaching the floor stops that recording (state "disk full") and nothing else: it does
//! not make retention delete older files early. An operator who wants recordings to make
//! room for themselves sets `keep_days`/`keep_gib`; deleting what was not asked to be
//! deleted would surprise more than a stopped recording, which says why it stopped.
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Bytes in one MiB, for messages.
const MIB: u64 = 1 << 20;
/// Bytes in one GiB.
pub const GIB: u64 = 1 << 30;

/// How long [`SpaceCheck`] trusts one `statvfs`: writers ask before every write (many a
/// second), and one second of writing at any rate we relay is far below the floor.
pub const SPACE_CHECK_TTL: Duration = Duration::from_secs(1);

/// Size and free space of a filesystem, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskUsage {
    /// Available to unprivileged processes (`f_bavail`).
    pub free_bytes: u64,
    pub total_bytes: u64,
}

/// Figures of the filesystem holding `path`.
pub fn usage(path: &Path) -> io::Result<DiskUsage> {
    let st = nix::sys::statvfs::statvfs(path).map_err(io::Error::from)?;
    // `c_ulong` and `fsblkcnt_t` are u64 on the 64-bit targets we build for; a 32-bit
    // build would not compile here rather than truncate.
    let frag: u64 = st.fragment_size();
    let free_bytes = st.blocks_available().saturating_mul(frag);
    let total_bytes = st.blocks().saturating_mul(frag);
    Ok(DiskUsage {
        free_bytes,
        total_bytes,
    })
}

/// The free space recording leaves alone: the smaller of `percent` of the disk and `gib`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskFloor {
    pub percent: u8,
    pub gib: u32,
}

impl DiskFloor {
    /// journald's `SystemKeepFree` default share.
    pub const DEFAULT_PERCENT: u8 = 5;
    /// Enough for a few minutes of the operating system's own logs and updates.
    pub const DEFAULT_GIB: u32 = 2;

    /// The floor in bytes on a filesystem of `total` bytes.
    pub fn floor_bytes(&self, total: u64) -> u64 {
        let share = u128::from(total) * u128::from(self.percent.min(100)) / 100;
        // At most `total`, so it fits.
        let share = u64::try_from(share).unwrap_or(u64::MAX);
        share.min(u64::from(self.gib).saturating_mul(GIB))
    }
}

impl Default for DiskFloor {
    fn default() -> Self {
        Self {
            percent: Self::DEFAULT_PERCENT,
            gib: Self::DEFAULT_GIB,
        }
    }
}

/// A write would go below the floor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("disk full: {} MiB free, floor {} MiB", .free_bytes / MIB, .floor_bytes / MIB)]
pub struct DiskFull {
    pub free_bytes: u64,
    pub floor_bytes: u64,
}

/// One answer to "may I write N more bytes?" shared by the writers of a recordings
/// filesystem, with `statvfs` called at most once per [`SPACE_CHECK_TTL`].
#[derive(Debug)]
pub struct SpaceCheck {
    dir: PathBuf,
    floor: DiskFloor,
    cached: Mutex<Option<Cached>>,
}

#[derive(Debug, Clone, Copy)]
struct Cached {
    at: Instant,
    usage: DiskUsage,
}

impl SpaceCheck {
    pub fn new(dir: impl Into<PathBuf>, floor: DiskFloor) -> Self {
        Self {
            dir: dir.into(),
            floor,
            cached: Mutex::new(None),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn floor(&self) -> DiskFloor {
        self.floor
    }

    /// Whether `next_write_len` more bytes keep the filesystem above the floor. Bytes
    /// allowed are taken off the cached figure, so many writes within one second are
    /// counted together. If `statvfs` fails the write is allowed: the write then fails
    /// with the filesystem's own, more precise, error.
    pub fn ok(&self, next_write_len: u64) -> Result<(), DiskFull> {
        self.ok_at(Instant::now(), next_write_len, || usage(&self.dir))
    }

    /// [`Self::ok`] at a given time with a given way to read the figures (tests).
    fn ok_at(
        &self,
        now: Instant,
        next_write_len: u64,
        read: impl FnOnce() -> io::Result<DiskUsage>,
    ) -> Result<(), DiskFull> {
        let mut cached = self.cached.lock().unwrap_or_else(|e| e.into_inner());
        let fresh = cached.filter(|c| now.saturating_duration_since(c.at) < SPACE_CHECK_TTL);
        let mut c = match fresh {
            Some(c) => c,
            None => match read() {
                Ok(usage) => Cached { at: now, usage },
                Err(_) => {
                    *cached = None;
                    return Ok(());
                }
            },
        };
        let floor_bytes = self.floor.floor_bytes(c.usage.total_bytes);
        let free_bytes = c.usage.free_bytes;
        let result = match free_bytes.checked_sub(next_write_len) {
            Some(left) if left >= floor_bytes => {
                c.usage.free_bytes = left;
                Ok(())
            }
            _ => Err(DiskFull {
                free_bytes,
                floor_bytes,
            }),
        };
        *cached = Some(c);
        result
    }

    /// Reads the figures now (the metrics sampler, once a second) and keeps them for the
    /// writers' next checks.
    pub fn refresh(&self) -> io::Result<DiskUsage> {
        let usage = usage(&self.dir)?;
        let mut cached = self.cached.lock().unwrap_or_else(|e| e.into_inner());
        *cached = Some(Cached {
            at: Instant::now(),
            usage,
        });
        Ok(usage)
    }

    /// The last figures read (for the metrics), without calling `statvfs`.
    pub fn last(&self) -> Option<DiskUsage> {
        self.cached
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .map(|c| c.usage)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floor_is_the_smaller_of_share_and_amount() {
        let f = DiskFloor::default();
        assert_eq!(f.floor_bytes(20 * GIB), GIB);
        assert_eq!(f.floor_bytes(2000 * GIB), 2 * GIB);
        assert_eq!(f.floor_bytes(0), 0);
        assert_eq!(f.floor_bytes(u64::MAX), 2 * GIB);
        let none = DiskFloor { percent: 0, gib: 7 };
        assert_eq!(none.floor_bytes(100 * GIB), 0);
        let all = DiskFloor {
            percent: 200,
            gib: u32::MAX,
        };
        assert_eq!(all.floor_bytes(100), 100);
    }

    #[test]
    fn usage_reads_the_filesystem() {
        let dir = tempfile::tempdir().expect("tempdir");
        let u = usage(dir.path()).expect("statvfs");
        assert!(u.total_bytes > 0);
        assert!(u.free_bytes <= u.total_bytes);
        assert!(usage(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn the_message_is_in_mib() {
        let e = DiskFull {
            free_bytes: 3 * MIB + 5,
            floor_bytes: 2 * GIB,
        };
        assert_eq!(e.to_string(), "disk full: 3 MiB free, floor 2048 MiB");
    }

    #[test]
    fn space_check_allows_above_the_floor_and_refuses_below() {
        let dir = tempfile::tempdir().expect("tempdir");
        let free = SpaceCheck::new(dir.path(), DiskFloor { percent: 0, gib: 0 });
        assert_eq!(free.ok(1), Ok(()));
        let last = free.last().expect("cached");
        // A write larger than all the free space is refused even with no floor.
        assert!(free.ok(last.free_bytes + 1).is_err());

        // A floor of the whole disk: nothing may be written.
        let full = SpaceCheck::new(
            dir.path(),
            DiskFloor {
                percent: 100,
                gib: u32::MAX,
            },
        );
        let e = full.ok(1).expect_err("below the floor");
        assert_eq!(e.floor_bytes, full.last().expect("cached").total_bytes);
    }

    #[test]
    fn space_check_counts_writes_within_the_cache() {
        let check = SpaceCheck::new("/unused", DiskFloor { percent: 5, gib: 2 });
        let t0 = Instant::now();
        let disk = |free_mib: u64| {
            move || {
                Ok(DiskUsage {
                    free_bytes: free_mib * MIB,
                    total_bytes: 100 * MIB,
                })
            }
        };
        let unread = || -> io::Result<DiskUsage> { panic!("read within the cache time") };
        // 100 MiB disk: floor 5 MiB. 10 MiB free: 3 MiB fit, 3 more would leave 4.
        assert_eq!(check.ok_at(t0, 3 * MIB, disk(10)), Ok(()));
        assert_eq!(
            check.ok_at(t0 + Duration::from_millis(500), 3 * MIB, unread),
            Err(DiskFull {
                free_bytes: 7 * MIB,
                floor_bytes: 5 * MIB
            })
        );
        assert_eq!(check.ok_at(t0, 2 * MIB, unread), Ok(()));
        assert_eq!(check.last().map(|u| u.free_bytes), Some(5 * MIB));
        // Once the cache is old the disk is read again (files were deleted meanwhile).
        assert_eq!(check.ok_at(t0 + SPACE_CHECK_TTL, 3 * MIB, disk(50)), Ok(()));
        assert_eq!(check.last().map(|u| u.free_bytes), Some(47 * MIB));
    }

    #[test]
    fn refresh_reads_the_disk_and_feeds_the_cache() {
        let dir = tempfile::tempdir().expect("tempdir");
        let check = SpaceCheck::new(dir.path(), DiskFloor::default());
        assert_eq!(check.last(), None);
        let u = check.refresh().expect("statvfs");
        assert_eq!(check.last(), Some(u));
        assert_eq!(
            u.total_bytes,
            usage(dir.path()).expect("statvfs").total_bytes
        );
        let gone = SpaceCheck::new(dir.path().join("missing"), DiskFloor::default());
        assert!(gone.refresh().is_err());
    }

    #[test]
    fn space_check_lets_writes_through_when_statvfs_fails() {
        let check = SpaceCheck::new("/nonexistent/relevo/recordings", DiskFloor::default());
        assert_eq!(check.ok(1 << 40), Ok(()));
        assert_eq!(check.last(), None);
    }
}
