//! The commands. `main.rs` calls [`main`]; each command lives in its own module and
//! returns an exit code or a [`CliError`] that says what failed and what to do.
//!
//! Exit codes: 0 ok, 1 degraded, 2 down, 3 unknown (status and poll, after the
//! monitoring-plugin convention); 64 usage, 66 no config file, 69 a source unreachable,
//! 70 internal error, 74 I/O error, 78 invalid config.

mod check;
mod poll;
mod text;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

use crate::config::{self, Config, ConfigOrigin};

pub const EXIT_USAGE: u8 = 64;
pub const EXIT_NO_CONFIG: u8 = 66;
pub const EXIT_UNAVAILABLE: u8 = 69;
pub const EXIT_INTERNAL: u8 = 70;
pub const EXIT_IO: u8 = 74;
pub const EXIT_CONFIG: u8 = 78;

/// A status page for data products, in the terminal.
///
/// tablestat reads Airflow (is the DAG there, unpaused, did its dbt task succeed) and dbt
/// (which test failed, on which table) and shows, for each table, whether it can be
/// trusted right now: availability, freshness, correctness, uniqueness, completeness.
#[derive(Debug, Parser)]
#[command(name = "tablestat", version, about, long_about)]
#[command(
    after_help = "Config is read from --config, else $TABLESTAT_CONFIG, else ~/.config/tablestat/config.toml.\n\
Exit codes: 0 ok, 1 degraded, 2 down, 3 unknown; 64 usage, 66 no config, 69 source unreachable, 74 I/O, 78 bad config."
)]
pub struct Cli {
    /// Config file (TOML).
    #[arg(long, short = 'c', global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Poll Airflow and dbt and print every product's state.
    Poll(poll::PollArgs),
    /// Check the config file, and reach each source to say what it found.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions { shell: clap_complete::Shell },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the config; reach Airflow and dbt and report what they hold.
    Check(check::CheckArgs),
}

/// A command's failure: one line for people, and the exit code for scripts.
#[derive(Debug)]
pub struct CliError {
    pub code: u8,
    pub message: String,
}

impl CliError {
    pub fn new(code: u8, message: impl Into<String>) -> CliError {
        CliError {
            code,
            message: message.into(),
        }
    }
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tablestat: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_INTERNAL);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("tablestat: {}", e.message);
            ExitCode::from(e.code)
        }
    }
}

async fn run(cli: Cli) -> Result<u8, CliError> {
    match cli.command {
        Command::Poll(args) => poll::run(&load_config(cli.config.as_deref())?, args).await,
        Command::Config(ConfigCommand::Check(args)) => {
            check::run(cli.config.as_deref(), args).await
        }
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "tablestat",
                &mut std::io::stdout(),
            );
            Ok(0)
        }
    }
}

/// Finds and loads the config, printing its warnings to stderr.
pub fn load_config(flag: Option<&Path>) -> Result<Config, CliError> {
    let Some((path, origin)) = config::locate(flag) else {
        return Err(CliError::new(
            EXIT_NO_CONFIG,
            "cannot tell where the config lives (no home directory): pass --config PATH",
        ));
    };
    if !path.exists() {
        let how = match origin {
            ConfigOrigin::Flag => "given with --config",
            ConfigOrigin::EnvVar => "named by TABLESTAT_CONFIG",
            ConfigOrigin::Default => "the default location",
        };
        return Err(CliError::new(
            EXIT_NO_CONFIG,
            format!(
                "no config file at {} ({how}): write one (examples in the repository's config/ folder), \
                 or pass --config PATH",
                path.display()
            ),
        ));
    }
    let config = Config::load(&path).map_err(|e| CliError::new(EXIT_CONFIG, e.to_string()))?;
    for warning in &config.warnings {
        eprintln!("tablestat: warning: {warning}");
    }
    Ok(config)
}

/// Logs go to stderr for headless commands, filtered by `TABLESTAT_LOG` (default: warnings).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TABLESTAT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
