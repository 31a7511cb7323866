//! `relevo migrate` and `relevo user add`: one-shot administration of the database.
//!
//! Without `--database-url` both start the embedded PostgreSQL under `--state-dir` for the
//! duration of the command (see `relevo_control::embedded_pg`), so they must not run while
//! `relevo serve` holds the same cluster. Passwords come from standard input only and are
//! never logged or echoed.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use relevo_control::domain::{Email, Password, Role};
use relevo_control::store::{self, users, Actor};
use relevo_control::{EmbeddedPg, StoreError};
use secrecy::SecretString;
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
struct Database {
    pool: PgPool,
    embedded: Option<EmbeddedPg>,
}

impl Database {
    async fn open(args: &DbArgs) -> anyhow::Result<Self> {
        let (url, embedded) = match &args.database_url {
            Some(url) => (url.clone(), None),
            None => {
                let pg = EmbeddedPg::start(&args.state_dir)
                    .await
                    .context("starting the embedded PostgreSQL")?;
                (pg.url(), Some(pg))
            }
        };
        let pool = store::connect(&url)
            .await
            .context("connecting to the database")?;
        store::migrate(&pool).await?;
        Ok(Self { pool, embedded })
    }

    async fn close(self) {
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
    let db = Database::open(&args).await?;
    println!("database schema is up to date");
    db.close().await;
    Ok(())
}

pub async fn user_add(args: DbArgs, email: String, role: Role) -> anyhow::Result<()> {
    let email = Email::new(&email).context("--email")?;
    let password = read_password().context("the password on standard input")?;
    let db = Database::open(&args).await?;
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
