//! The embedded PostgreSQL: a private cluster under Relevo's state directory, for the
//! default "no database URL configured" case and for tests (DESIGN.md §3).
//!
//! On first start it runs `initdb` (superuser `relevo`, UTF8, `trust` on the local socket
//! only, TCP rejected) into `<state_dir>/postgres`; each start runs `postgres` listening on a
//! Unix socket in `<state_dir>/run` only (`listen_addresses=''`, socket mode 0700), waits
//! until it accepts connections, and creates the `relevo` database if missing. The server
//! stops with a fast shutdown (SIGINT) on [`EmbeddedPg::shutdown`] or on drop. Its log goes
//! to `<state_dir>/postgres.log`. A server left running by a Relevo that was killed is
//! stopped at the next start ([`orphan`]).
//!
//! Security rests on the socket: only its owner (and root) can reach it, so `trust` is safe.
//! When Relevo runs as root the server runs as the `relevo` system user (see [`run_as`]).
//!
//! It is not a general PostgreSQL manager: one cluster, one database, one socket.

mod find;
mod orphan;
mod run_as;

use std::fs::{DirBuilder, File, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection};

pub use find::{search_dirs, PgBinaries};
pub use run_as::{chown, for_current_process as service_user_if_root, RunAs, SERVICE_USER};

/// The database Relevo's tables live in.
pub const DATABASE: &str = "relevo";
/// The cluster's superuser, whoever the OS user is (`initdb -U`).
pub const DB_USER: &str = "relevo";
/// How long a start may take before we give up: a cold start on a slow SD card with crash
/// recovery takes seconds, not minutes.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a fast shutdown may take before the server is told to quit at once (SIGQUIT).
pub const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// Server settings for one small appliance (issue #19, point 5), passed with `-c` at every
/// start so that they also apply to a cluster made by an older Relevo. PostgreSQL's defaults
/// size a shared server; `bench/memory.sh` measures what these save (the figures are in the
/// README) and `bench/api.sh` that the control plane is no slower. Each one, and why:
/// - `wal_buffers` 1 MB instead of 4 MB (1/32 of the 128 MB `shared_buffers`): the
///   control plane's transactions are small, and each buffer page ends up touched.
/// - `huge_pages` off: the segment is small, and must not take huge pages reserved for
///   something else.
/// - `max_worker_processes` 0: no parallel query (two cores, small tables) and no logical
///   replication launcher (one idle process less).
/// - `max_wal_senders`, `max_replication_slots` 0: nobody replicates this private cluster
///   (backups are `pg_dump`), so no shared memory is kept for it.
/// - `jit` off: a history query over many rows crosses the JIT cost threshold and loads LLVM
///   into that backend (several MiB that stay until the connection closes) to save less time
///   than compiling costs on queries of this size.
///
/// `shared_buffers` stays at its 128 MB: with 16 MB the cluster starts 6 MiB smaller and
/// stops growing there, but a week of one input's history read 1.3 to 1.7 times slower
/// (`bench/api.sh`, 20 inputs, 7 days), so the buffers stay sized for the history tables.
pub const SMALL_APPLIANCE: &[(&str, &str)] = &[
    ("wal_buffers", "1MB"),
    ("huge_pages", "off"),
    ("max_worker_processes", "0"),
    ("max_wal_senders", "0"),
    ("max_replication_slots", "0"),
    ("jit", "off"),
];

/// Why the embedded PostgreSQL could not be started.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedPgError {
    #[error(
        "no PostgreSQL server binaries (initdb and postgres) found; install PostgreSQL 15 or \
         newer (Debian: apt-get install postgresql) or configure a database URL. Searched: {}",
        searched.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    BinariesNotFound { searched: Vec<PathBuf> },
    #[error("system user {user:?} for PostgreSQL: {reason}")]
    ServiceUser { user: String, reason: String },
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("initdb failed ({status}){hint}: {output}")]
    InitDb {
        status: std::process::ExitStatus,
        output: String,
        hint: &'static str,
    },
    #[error("postgres exited during start-up ({status}); its log ends with: {log_tail}")]
    Exited {
        status: std::process::ExitStatus,
        log_tail: String,
    },
    #[error("postgres did not accept connections within {timeout:?}: {last_error}")]
    Timeout {
        timeout: Duration,
        last_error: String,
    },
    #[error("creating the {DATABASE} database: {0}")]
    CreateDatabase(sqlx::Error),
    #[error(
        "{} is in use by another Relevo (its PostgreSQL has PID {pid}): stop it first, or give \
         this one another state directory",
        data_dir.display()
    )]
    InUse { data_dir: PathBuf, pid: i32 },
}

/// A running private PostgreSQL server; stopped when dropped.
#[derive(Debug)]
pub struct EmbeddedPg {
    child: Option<Child>,
    data_dir: PathBuf,
    socket_dir: PathBuf,
}

impl EmbeddedPg {
    /// Finds the binaries ([`PgBinaries::find`]) and starts the cluster under `state_dir`.
    pub async fn start(state_dir: &Path) -> Result<Self, EmbeddedPgError> {
        Self::start_with(&PgBinaries::find()?, state_dir).await
    }

    /// Starts the cluster under `state_dir` with the given binaries, initialising it first
    /// if it does not exist yet.
    pub async fn start_with(bins: &PgBinaries, state_dir: &Path) -> Result<Self, EmbeddedPgError> {
        let run_as = run_as::for_current_process()?;
        let data_dir = state_dir.join("postgres");
        let socket_dir = state_dir.join("run");
        // 0700: the directory holds the server's log and Relevo's key files; nobody but the
        // service account has anything to read there.
        private_dir(state_dir, run_as.as_ref(), 0o700)?;
        private_dir(&data_dir, run_as.as_ref(), 0o700)?;
        private_dir(&socket_dir, run_as.as_ref(), 0o700)?;
        if !data_dir.join("PG_VERSION").exists() {
            initdb(bins, &data_dir, run_as.as_ref())?;
        }
        orphan::reclaim(&data_dir)?;
        let log_path = state_dir.join("postgres.log");
        let log = open_log(&log_path, run_as.as_ref())?;
        let child = spawn_postgres(bins, &data_dir, &socket_dir, log, run_as.as_ref())?;
        let mut pg = Self {
            child: Some(child),
            data_dir,
            socket_dir,
        };
        pg.wait_ready(&log_path).await?;
        pg.create_database().await?;
        tracing::info!(data_dir = %pg.data_dir.display(), "embedded PostgreSQL running");
        Ok(pg)
    }

    /// `postgresql:///relevo?host=<socket_dir>&user=relevo`.
    pub fn url(&self) -> String {
        self.url_for(DATABASE)
    }

    /// The URL of another database of this cluster (tests create one per test).
    pub fn url_for(&self, database: &str) -> String {
        let host: String =
            url::form_urlencoded::byte_serialize(self.socket_dir.as_os_str().as_encoded_bytes())
                .collect();
        format!("postgresql:///{database}?host={host}&user={DB_USER}")
    }

    /// Connection options for `database`, without going through a URL.
    pub fn connect_options(&self, database: &str) -> PgConnectOptions {
        PgConnectOptions::new()
            .socket(&self.socket_dir)
            .username(DB_USER)
            .database(database)
    }

    pub fn socket_dir(&self) -> &Path {
        &self.socket_dir
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Stops the server (fast shutdown) and waits for it, off the async threads.
    pub async fn shutdown(mut self) {
        if let Some(child) = self.child.take() {
            let _ = tokio::task::spawn_blocking(move || stop(child)).await;
        }
    }

    async fn wait_ready(&mut self, log_path: &Path) -> Result<(), EmbeddedPgError> {
        let deadline = Instant::now() + START_TIMEOUT;
        let options = self.connect_options("postgres").disable_statement_logging();
        loop {
            match sqlx::PgConnection::connect_with(&options).await {
                Ok(conn) => {
                    let _ = conn.close().await;
                    return Ok(());
                }
                Err(e) => {
                    if let Some(status) = self.exited()? {
                        return Err(EmbeddedPgError::Exited {
                            status,
                            log_tail: log_tail(log_path),
                        });
                    }
                    if Instant::now() >= deadline {
                        return Err(EmbeddedPgError::Timeout {
                            timeout: START_TIMEOUT,
                            last_error: e.to_string(),
                        });
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn exited(&mut self) -> Result<Option<std::process::ExitStatus>, EmbeddedPgError> {
        match self.child.as_mut().map(Child::try_wait) {
            Some(Ok(status)) => Ok(status),
            Some(Err(source)) => Err(EmbeddedPgError::Io {
                what: "watching postgres".to_owned(),
                source,
            }),
            None => Ok(None),
        }
    }

    async fn create_database(&self) -> Result<(), EmbeddedPgError> {
        let mut conn = sqlx::PgConnection::connect_with(&self.connect_options("postgres"))
            .await
            .map_err(EmbeddedPgError::CreateDatabase)?;
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                .bind(DATABASE)
                .fetch_one(&mut conn)
                .await
                .map_err(EmbeddedPgError::CreateDatabase)?;
        if !exists {
            // A constant identifier: nothing to quote.
            sqlx::query(&format!("CREATE DATABASE {DATABASE}"))
                .execute(&mut conn)
                .await
                .map_err(EmbeddedPgError::CreateDatabase)?;
        }
        let _ = conn.close().await;
        Ok(())
    }
}

impl Drop for EmbeddedPg {
    fn drop(&mut self) {
        if let Some(child) = self.child.take() {
            stop(child);
        }
    }
}

/// Creates `dir` with `mode` if missing, sets `mode` if it exists (a state directory made by
/// an older Relevo was 0755) and, when running as root, gives it to the service user.
/// PostgreSQL insists on 0700 (or 0750) for its data directory.
fn private_dir(dir: &Path, run_as: Option<&RunAs>, mode: u32) -> Result<(), EmbeddedPgError> {
    let io_err = |what: &str| {
        let what = format!("{what} {}", dir.display());
        move |source| EmbeddedPgError::Io { what, source }
    };
    DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(dir)
        .map_err(io_err("creating"))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))
        .map_err(io_err("setting the mode of"))?;
    match run_as {
        Some(user) => run_as::chown(dir, user),
        None => Ok(()),
    }
}

/// A command that runs as the service user when we are root, from a directory it can read.
fn command(program: &Path, cwd: &Path, run_as: Option<&RunAs>) -> Command {
    let mut cmd = Command::new(program);
    cmd.current_dir(cwd)
        .env_remove("PGDATA")
        .stdin(Stdio::null());
    if let Some(user) = run_as {
        // std clears the supplementary groups (setgroups(0)) when root switches uid.
        cmd.uid(user.uid.as_raw()).gid(user.gid.as_raw());
    }
    cmd
}

fn initdb(
    bins: &PgBinaries,
    data_dir: &Path,
    run_as: Option<&RunAs>,
) -> Result<(), EmbeddedPgError> {
    tracing::info!(data_dir = %data_dir.display(), "initialising the embedded PostgreSQL cluster");
    let out = command(&bins.initdb, data_dir, run_as)
        .arg("--pgdata")
        .arg(data_dir)
        .args(["--username", DB_USER, "--encoding", "UTF8", "--locale", "C"])
        .args([
            "--auth-local",
            "trust",
            "--auth-host",
            "reject",
            "--no-instructions",
        ])
        .output()
        .map_err(|source| EmbeddedPgError::Io {
            what: format!("running {}", bins.initdb.display()),
            source,
        })?;
    if out.status.success() {
        return Ok(());
    }
    let mut output = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    if output.is_empty() {
        output = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    }
    Err(EmbeddedPgError::InitDb {
        status: out.status,
        output,
        hint: if run_as.is_some() {
            " (running as root: the state directory and its parents must be traversable by the relevo user)"
        } else {
            ""
        },
    })
}

/// The server's log, 0600 (also when an older Relevo made it 0644) and owned by whoever
/// runs the server.
fn open_log(path: &Path, run_as: Option<&RunAs>) -> Result<File, EmbeddedPgError> {
    let io_err = |what: &str| {
        let what = format!("{what} {}", path.display());
        move |source| EmbeddedPgError::Io { what, source }
    };
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(path)
        .map_err(io_err("opening"))?;
    log.set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(io_err("setting the mode of"))?;
    if let Some(user) = run_as {
        run_as::chown(path, user)?;
    }
    Ok(log)
}

/// Starts `postgres` on the Unix socket only. Its log must never hold a secret: errors are
/// logged without DETAIL/CONTEXT (a unique or CHECK violation's DETAIL quotes the row, keys
/// and passphrases included) and without the failing statement.
fn spawn_postgres(
    bins: &PgBinaries,
    data_dir: &Path,
    socket_dir: &Path,
    log: File,
    run_as: Option<&RunAs>,
) -> Result<Child, EmbeddedPgError> {
    let io_err = |what: String| move |source| EmbeddedPgError::Io { what, source };
    let log2 = log
        .try_clone()
        .map_err(io_err("duplicating the log file".to_owned()))?;
    command(&bins.postgres, data_dir, run_as)
        .arg("-D")
        .arg(data_dir)
        .arg("-k")
        .arg(socket_dir)
        .args([
            "-c",
            "listen_addresses=",
            "-c",
            "unix_socket_permissions=0700",
            "-c",
            "log_error_verbosity=terse",
            "-c",
            "log_min_error_statement=panic",
        ])
        .args(
            SMALL_APPLIANCE
                .iter()
                .flat_map(|(name, value)| ["-c".to_owned(), format!("{name}={value}")]),
        )
        .stdout(log)
        .stderr(log2)
        .spawn()
        .map_err(io_err(format!("running {}", bins.postgres.display())))
}

/// Fast shutdown (SIGINT: roll back open transactions, checkpoint, exit); if that takes too
/// long, immediate shutdown (SIGQUIT); if even that hangs, SIGKILL.
fn stop(mut child: Child) {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    let Ok(raw) = i32::try_from(child.id()) else {
        let _ = child.kill();
        let _ = child.wait();
        return;
    };
    let pid = Pid::from_raw(raw);
    for (signal, timeout) in [
        (Signal::SIGINT, STOP_TIMEOUT),
        (Signal::SIGQUIT, Duration::from_secs(5)),
    ] {
        if kill(pid, signal).is_err() {
            break;
        }
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            match child.try_wait() {
                Ok(Some(_)) | Err(_) => return,
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// The last lines of the server log, for an error message.
fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(10)..].join("\n")
}
