//! `relevo`: the appliance's one binary. Thin: it parses the command line and the
//! configuration file, sets up logging and hands the engine its desired state. `migrate`
//! and `user` are in `admin`.

mod admin;
mod config;
mod http;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use relevo_engine::Engine;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

/// How long SIGTERM waits for connections to close.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

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
        Command::Migrate { db } => {
            init_logging();
            admin::run(admin::migrate(db))
        }
        Command::User {
            command: UserCommand::Add {
                email, role, db, ..
            },
        } => {
            init_logging();
            admin::run(admin::user_add(db, email, role))
        }
        Command::Serve { config } => {
            init_logging();
            let cfg = match config::load(&config) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(2);
                }
            };
            let rt = match tokio::runtime::Runtime::new() {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("cannot start the async runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match rt.block_on(serve(config, cfg)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e:#}");
                    eprintln!("relevo: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

async fn serve(path: PathBuf, cfg: config::Config) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let engine = Engine::start(cfg.engine)
        .await
        .context("starting the relay")?;
    let http = match http::bind(cfg.http).await {
        Ok(l) => l,
        Err(e) => {
            engine.shutdown(SHUTDOWN_GRACE).await;
            return Err(e);
        }
    };
    let (stop_http, http_stopped) = tokio::sync::oneshot::channel::<()>();
    let http = tokio::spawn({
        let engine = engine.clone();
        async move {
            http::serve(http, &engine, async {
                let _ = http_stopped.await;
            })
            .await;
        }
    });
    engine
        .apply(&cfg.desired)
        .context("applying the configuration")?;
    let inputs = cfg.desired.inputs.len();
    tracing::info!(inputs, "relevo running");
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut hup = signal(SignalKind::hangup()).context("installing the SIGHUP handler")?;
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
            _ = hup.recv() => reload(&engine, &path),
        }
    }
    tracing::info!("shutting down");
    let _ = stop_http.send(());
    engine.shutdown(SHUTDOWN_GRACE).await;
    if tokio::time::timeout(SHUTDOWN_GRACE, http).await.is_err() {
        tracing::warn!("HTTP connections did not close within {SHUTDOWN_GRACE:?}");
    }
    Ok(())
}

/// SIGHUP: re-reads the flows of the configuration file and applies only the difference.
/// A file with an error is refused as a whole and the running flows stay as they are.
/// Listener addresses and certificates paths are read at start only.
fn reload(engine: &Engine, path: &std::path::Path) {
    match config::load(path) {
        Ok(cfg) => match engine.apply(&cfg.desired) {
            Ok(()) => tracing::info!(inputs = cfg.desired.inputs.len(), "configuration reloaded"),
            Err(e) => tracing::error!("configuration not reloaded: {e}"),
        },
        Err(e) => tracing::error!("configuration not reloaded: {e}"),
    }
}
