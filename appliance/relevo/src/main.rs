//! `relevo`: the appliance's one binary. Thin: it parses the command line and the
//! configuration file, sets up logging, opens the database (its own PostgreSQL when no URL
//! is configured), starts the engine and serves the control plane's API. One-shot
//! database commands are in `admin`.

mod admin;
mod config;
mod http;
mod open_files;
mod privileges;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use relevo_control::api::{ApiConfig, ApiState};
use relevo_control::auth::jwt::JwtKeys;
use relevo_control::keys::KeyDir;
use relevo_control::reconcile::Control;
use relevo_engine::Engine;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

/// How long SIGTERM waits for connections to close.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// How often expired sessions are deleted.
const HOUSEKEEPING: Duration = Duration::from_secs(3600);
/// How long the first-admin link printed at start stays valid.
const SETUP_TOKEN_TTL: time::Duration = time::Duration::hours(24);

#[derive(Debug, Parser)]
#[command(name = "relevo", version, about = "SRT/RTMP relay appliance")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the relay.
    Serve {
        /// The configuration file (TOML).
        #[arg(long, short, env = "RELEVO_CONFIG")]
        config: PathBuf,
    },
    /// Configuration file tools.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Apply the database migrations not applied yet (safe to run again).
    Migrate {
        #[command(flatten)]
        db: admin::DbArgs,
    },
    /// User accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// API tokens for automation (Prometheus, scripts).
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create an API token tied to a role; the token is printed once on standard output.
    Add {
        #[arg(long)]
        name: String,
        /// admin, tecnico or visor.
        #[arg(long)]
        role: relevo_control::domain::Role,
        #[command(flatten)]
        db: admin::DbArgs,
    },
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create a user; the password is read from standard input (one line).
    Add {
        #[arg(long)]
        email: String,
        /// admin, tecnico or visor.
        #[arg(long)]
        role: relevo_control::domain::Role,
        /// Read the password from standard input (required: passwords never go in arguments).
        #[arg(long, required = true)]
        password_stdin: bool,
        #[command(flatten)]
        db: admin::DbArgs,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Check a configuration file and summarise it, without starting anything.
    Check { file: PathBuf },
    /// Export the inputs, outputs and settings kept in the database as JSON (secrets
    /// included: it is a backup).
    Export {
        /// Write here (mode 0600) instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
        #[command(flatten)]
        db: admin::DbArgs,
    },
    /// Import an export: into an empty database, or replacing every flow with --replace.
    Import {
        file: PathBuf,
        #[arg(long)]
        replace: bool,
        #[command(flatten)]
        db: admin::DbArgs,
    },
}

fn init_logging() {
    let filter = EnvFilter::try_from_env("RELEVO_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,libsrt=error"));
    let registry = tracing_subscriber::registry().with(filter);
    // Under systemd, stdout/stderr are a journal stream: log natively with fields.
    if std::env::var_os("JOURNAL_STREAM").is_some() {
        if let Ok(journald) = tracing_journald::layer() {
            registry.with(journald).init();
            return;
        }
    }
    registry
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::stderr().is_terminal()),
        )
        .init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    match cli.command {
        Command::Config {
            command: ConfigCommand::Check { file },
        } => match config::load(&file) {
            Ok(cfg) => {
                let outputs: usize = cfg.desired.inputs.iter().map(|i| i.outputs.len()).sum();
                println!(
                    "{}: OK, {} inputs, {} outputs",
                    file.display(),
                    cfg.desired.inputs.len(),
                    outputs
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(2)
            }
        },
        Command::Config {
            command: ConfigCommand::Export { output, db },
        } => admin::run(admin::config_export(db, output)),
        Command::Config {
            command: ConfigCommand::Import { file, replace, db },
        } => admin::run(admin::config_import(db, file, replace)),
        Command::Token {
            command: TokenCommand::Add { name, role, db },
        } => admin::run(admin::token_add(db, name, role)),
        Command::Migrate { db } => admin::run(admin::migrate(db)),
        Command::User {
            command: UserCommand::Add {
                email, role, db, ..
            },
        } => admin::run(admin::user_add(db, email, role)),
        Command::Serve { config } => match config::load(&config) {
            Ok(cfg) => admin::run(serve(config, cfg)),
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(2)
            }
        },
    }
}

async fn serve(path: PathBuf, cfg: config::Config) -> anyhow::Result<()> {
    open_files::raise_to_hard_limit();
    let db = admin::Database::open(cfg.database.url.as_deref(), &cfg.database.state_dir)
        .await
        .context("opening the database")?;
    let result = serve_with(&path, cfg, &db.pool).await;
    db.close().await;
    result
}

async fn serve_with(
    path: &std::path::Path,
    cfg: config::Config,
    pool: &sqlx::PgPool,
) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let recordings = cfg.engine.recording.dir.clone();
    let engine = Engine::start(cfg.engine)
        .await
        .context("starting the relay")?;
    let control = Control::new(pool.clone(), engine.clone(), cfg.desired);
    let retention = cfg.api.failed_sign_in_retention;
    let started = async {
        let listener = http::bind(cfg.http).await?;
        // Every port is bound and the database is up: nothing more needs root.
        privileges::drop_root(&cfg.database.state_dir, &recordings)?;
        let keys = KeyDir::open(&cfg.database.state_dir).context("opening the key directory")?;
        let api = api_state(control.clone(), cfg.api, &keys, pool).await?;
        first_admin_hint(pool, cfg.http).await;
        control
            .reconcile()
            .await
            .context("applying the flows of the database and the configuration file")?;
        anyhow::Ok((api, listener, keys))
    }
    .await;
    let (api, listener, keys) = match started {
        Ok(v) => v,
        Err(e) => {
            engine.shutdown(SHUTDOWN_GRACE).await;
            return Err(e);
        }
    };
    let (stop_http, http_stopped) = tokio::sync::oneshot::channel::<()>();
    let (jwt, access_ttl) = (api.jwt.clone(), api.config.access_ttl);
    let history = api.history.clone();
    let http = tokio::spawn(http::serve(listener, api, async {
        let _ = http_stopped.await;
    }));
    let flows = control.desired().await.map(|d| d.inputs.len()).unwrap_or(0);
    tracing::info!(inputs = flows, "relevo running");
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut hup = signal(SignalKind::hangup()).context("installing the SIGHUP handler")?;
    let mut housekeeping = tokio::time::interval(HOUSEKEEPING);
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
            _ = hup.recv() => {
                reload(&control, path).await;
                reload_signing_keys(&keys, &jwt, access_ttl);
            }
            _ = housekeeping.tick() => {
                forget_expired_sessions(pool).await;
                forget_old_failed_sign_ins(pool, retention).await;
                reload_signing_keys(&keys, &jwt, access_ttl);
            }
        }
    }
    tracing::info!("shutting down");
    let _ = stop_http.send(());
    engine.shutdown(SHUTDOWN_GRACE).await;
    // The minute being counted is written: a restart loses no history.
    history.flush().await;
    if tokio::time::timeout(SHUTDOWN_GRACE, http).await.is_err() {
        tracing::warn!("HTTP connections did not close within {SHUTDOWN_GRACE:?}");
    }
    Ok(())
}

/// The API's state with the keys of the key directory. TOTP secrets that an older Relevo
/// stored in clear are sealed first, before anyone can sign in.
async fn api_state(
    control: Control,
    config: ApiConfig,
    keys: &KeyDir,
    pool: &sqlx::PgPool,
) -> anyhow::Result<ApiState> {
    let jwt = keys
        .jwt(config.access_ttl)
        .context("reading the token signing key")?;
    let kek = keys.totp_kek().context("reading the TOTP key")?;
    let sealed = relevo_control::store::users::seal_clear_secrets(pool, &kek)
        .await
        .context("sealing the TOTP secrets stored in clear")?;
    if sealed > 0 {
        tracing::info!(
            users = sealed,
            "TOTP secrets stored in clear are now sealed"
        );
    }
    Ok(ApiState::new(control, config, JwtKeys::from_set(&jwt), kek))
}

/// Puts the signing keys in force again: the monthly rotation when it is due, or a key file
/// replaced by hand (deleting `keys/jwt.key` and sending SIGHUP ends every access token).
fn reload_signing_keys(keys: &KeyDir, jwt: &JwtKeys, access_ttl: Duration) {
    match keys.jwt(access_ttl) {
        Ok(set) => jwt.replace(&set),
        Err(e) => tracing::error!("signing keys not reloaded, the old ones stay in force: {e}"),
    }
}

/// With no account yet, logs a one-time link to create the first admin (there is no
/// default password). `relevo user add --role admin` is the other way.
async fn first_admin_hint(pool: &sqlx::PgPool, http: std::net::SocketAddr) {
    match relevo_control::store::setup::create_token(pool, SETUP_TOKEN_TTL).await {
        Ok(Some(token)) => tracing::warn!(
            "no account exists yet: create the first admin within {} hours at \
             http://{http}/setup#token={} (or POST /api/v1/setup), or run \
             `relevo user add --role admin --email … --password-stdin`",
            SETUP_TOKEN_TTL.whole_hours(),
            secrecy::ExposeSecret::expose_secret(&token)
        ),
        Ok(None) => {}
        Err(e) => tracing::error!("cannot create the first-admin setup token: {e}"),
    }
}

/// Deletes refresh tokens that expired a week ago or more (kept that long so that a late
/// replay of a rotated token is still recognised as reuse) and ended panel sessions, so
/// the tables do not grow.
async fn forget_expired_sessions(pool: &sqlx::PgPool) {
    match relevo_control::store::sessions::delete_expired(pool, time::Duration::days(7)).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(sessions = n, "expired refresh tokens deleted"),
        Err(e) => tracing::warn!("cannot delete expired refresh tokens: {e}"),
    }
    match relevo_control::store::panel_sessions::delete_expired(pool).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(sessions = n, "expired panel sessions deleted"),
        Err(e) => tracing::warn!("cannot delete expired panel sessions: {e}"),
    }
}

/// Deletes failed sign-ins older than `retention` from the audit log: anyone can add them,
/// so they must not grow it without bound (every other row stays).
async fn forget_old_failed_sign_ins(pool: &sqlx::PgPool, retention: time::Duration) {
    match relevo_control::store::audit::delete_failed_sign_ins(pool, retention).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(rows = n, "old failed sign-ins deleted from the audit log"),
        Err(e) => tracing::warn!("cannot delete old failed sign-ins from the audit log: {e}"),
    }
}

/// SIGHUP: re-reads the flows of the configuration file and applies only the difference.
/// A file with an error is refused as a whole and the running flows stay as they are.
/// Listener addresses, certificate paths and the database are read at start only.
async fn reload(control: &Control, path: &std::path::Path) {
    match config::load(path) {
        Ok(cfg) => {
            let inputs = cfg.desired.inputs.len();
            match control.set_file_flows(cfg.desired).await {
                Ok(()) => tracing::info!(inputs, "configuration reloaded"),
                Err(e) => tracing::error!("configuration not reloaded: {e}"),
            }
        }
        Err(e) => tracing::error!("configuration not reloaded: {e}"),
    }
}
