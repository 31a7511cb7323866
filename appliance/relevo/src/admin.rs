//! `relevo migrate`, `user add`, `token add`, `config export|import`: one-shot
//! administration of the database, and the database `serve` opens.
//!
//! Without `--database-url` these commands start the embedded PostgreSQL under `--state-dir` for the
//! duration of the command (see `relevo_control::embedded_pg`), so they must not run while
//! `relevo serve` holds the same cluster. Passwords come from standard input only and are
//! never logged or echoed.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use relevo_control::domain::{Email, Password, Role};
use relevo_control::store::{self, api_tokens, export, users, Actor};
use relevo_control::{EmbeddedPg, StoreError};
use secrecy::{ExposeSecret, SecretString};
use sqlx::PgPool;

/// Where the database is.
#[derive(Debug, clap::Args)]
pub struct DbArgs {
    /// PostgreSQL URL. Without it, Relevo's own cluster under --state-dir is used.
    #[arg(long, env = "RELEVO_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// Relevo's state directory (holds the embedded cluster).
    #[arg(long, env = "RELEVO_STATE_DIR", default_value = "/var/lib/relevo")]
    state_dir: PathBuf,
}

/// A pool on the configured database, and the embedded server if we started one.
pub struct Database {
    pub pool: PgPool,
    embedded: Option<EmbeddedPg>,
}

impl Database {
    /// Connects to `url`, or starts the embedded PostgreSQL under `state_dir`; then applies
    /// the migrations not applied yet.
    pub async fn open(url: Option<&str>, state_dir: &Path) -> anyhow::Result<Self> {
        let (url, embedded) = match url {
            Some(url) => (url.to_owned(), None),
            None => {
                let pg = EmbeddedPg::start(state_dir)
                    .await
                    .context("starting the embedded PostgreSQL")?;
                (pg.url(), Some(pg))
            }
        };
        let pool = store::connect(&url)
            .await
            .context("connecting to the database")?;
        store::migrate(&pool)
            .await
            .context("applying the database migrations")?;
        Ok(Self { pool, embedded })
    }

    async fn from_args(args: &DbArgs) -> anyhow::Result<Self> {
        Self::open(args.database_url.as_deref(), &args.state_dir).await
    }

    pub async fn close(self) {
        self.pool.close().await;
        if let Some(pg) = self.embedded {
            pg.shutdown().await;
        }
    }
}

/// Runs one command on a fresh runtime and turns its error into an exit code.
pub fn run(task: impl std::future::Future<Output = anyhow::Result<()>>) -> ExitCode {
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("relevo: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(task) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("relevo: {e:#}");
            ExitCode::FAILURE
        }
    }
}

pub async fn migrate(args: DbArgs) -> anyhow::Result<()> {
    let db = Database::from_args(&args).await?;
    println!("database schema is up to date");
    db.close().await;
    Ok(())
}

pub async fn user_add(args: DbArgs, email: String, role: Role) -> anyhow::Result<()> {
    let email = Email::new(&email).context("--email")?;
    let password = read_password().context("the password on standard input")?;
    let db = Database::from_args(&args).await?;
    let result = users::create(&db.pool, &Actor::cli(), &email, &password, role).await;
    db.close().await;
    match result {
        Ok(user) => {
            println!(
                "user {} ({}) created with id {}",
                user.email, user.role, user.id
            );
            Ok(())
        }
        Err(StoreError::Conflict { .. }) => {
            anyhow::bail!("a user with email {email} already exists")
        }
        Err(e) => Err(e.into()),
    }
}

/// One line from standard input, without its line ending.
fn read_password() -> anyhow::Result<Password> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let trimmed = line.trim_end_matches(['\r', '\n']).to_owned();
    Ok(Password::new(SecretString::from(trimmed))?)
}

pub async fn token_add(args: DbArgs, name: String, role: Role) -> anyhow::Result<()> {
    let db = Database::from_args(&args).await?;
    let result = api_tokens::create(&db.pool, &Actor::cli(), name.trim(), role).await;
    db.close().await;
    match result {
        Ok((token, secret)) => {
            eprintln!(
                "API token {:?} ({}) created with id {}; it is shown once:",
                token.name, token.role, token.id
            );
            println!("{}", secret.expose_secret());
            Ok(())
        }
        Err(StoreError::Conflict { .. }) => {
            anyhow::bail!("an API token named {name:?} already exists")
        }
        Err(e) => Err(e.into()),
    }
}

/// Writes the export to `output`, or to standard output.
pub async fn config_export(args: DbArgs, output: Option<PathBuf>) -> anyhow::Result<()> {
    let db = Database::from_args(&args).await?;
    let doc = export::export(&db.pool).await;
    db.close().await;
    let text = serde_json::to_string_pretty(&doc?)?;
    match output {
        Some(path) => {
            write_private(&path, text.as_bytes())
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("configuration exported to {}", path.display());
        }
        None => println!("{text}"),
    }
    Ok(())
}

/// Writes a file that holds secrets (the export has stream keys and passphrases): mode 0600
/// also when the file already existed with another mode (set before anything is written),
/// never through a symbolic link (a planted link would send the secrets elsewhere), and only
/// to a regular file.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .mode(0o600)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(path)?;
    if !f.metadata()?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    f.set_len(0)?;
    f.write_all(bytes)?;
    f.sync_all()
}

pub async fn config_import(args: DbArgs, file: PathBuf, replace: bool) -> anyhow::Result<()> {
    let text = std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
    let doc: export::ConfigExport = relevo_control::api::json::parse(&text).map_err(|e| {
        anyhow::anyhow!(
            "{}: {}{}",
            file.display(),
            e.field.map(|f| format!("{f}: ")).unwrap_or_default(),
            e.message
        )
    })?;
    let mode = if replace {
        export::ImportMode::Replace
    } else {
        export::ImportMode::Empty
    };
    let db = Database::from_args(&args).await?;
    let result = export::import(&db.pool, &Actor::cli(), &doc, mode).await;
    db.close().await;
    result.with_context(|| format!("importing {}", file.display()))?;
    eprintln!("configuration imported from {}", file.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::write_private;

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("relevo-admin-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("test setup");
        dir
    }

    #[test]
    fn an_existing_export_file_becomes_private_and_is_replaced() {
        let dir = scratch("mode");
        let file = dir.join("export.json");
        std::fs::write(&file, "old content that is longer than the new one").expect("test setup");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644))
            .expect("test setup");
        write_private(&file, b"{}").expect("test setup");
        let mode = std::fs::metadata(&file)
            .expect("test setup")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(std::fs::read(&file).expect("test setup"), b"{}");
        std::fs::remove_dir_all(dir).expect("test setup");
    }

    #[test]
    fn an_export_is_never_written_through_a_symbolic_link() {
        let dir = scratch("link");
        let target = dir.join("elsewhere");
        std::fs::write(&target, "untouched").expect("test setup");
        let link = dir.join("export.json");
        std::os::unix::fs::symlink(&target, &link).expect("test setup");
        let err = write_private(&link, b"secrets").expect_err("an error");
        assert_eq!(err.raw_os_error(), Some(nix::libc::ELOOP), "{err}");
        assert_eq!(
            std::fs::read_to_string(&target).expect("test setup"),
            "untouched"
        );
        std::fs::remove_dir_all(dir).expect("test setup");
    }
}
